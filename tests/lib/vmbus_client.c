/*
 * Guest-side VMBus client (vmbus_client.h), written from the protocol.
 * The fake SynIC: host messages queue here, host events set bits in one
 * event-flag page per VP in guest memory (SINT 2's 256-byte slot).
 */
#include "vmbus_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE	  4096u
#define MSG_QUEUE 4096u
#define MAX_VPS	  64u

struct msg {
	unsigned vp;
	uint32_t len;
	uint8_t data[VMBUS_MESSAGE_MAX_SIZE];
};

struct vmbus_client {
	struct vmbus_client_config cfg;
	struct guest_memory *mem;
	struct vmbus_server *server;
	uint64_t next_free;	      /* bump allocator in guest RAM */
	uint64_t event_page[MAX_VPS]; /* GPA of each VP's event-flag page */
	uint32_t next_gpadl;
	uint32_t version;
	uint32_t msg_conn_id;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct msg *queue; /* MSG_QUEUE entries, ring */
	unsigned head, count;
	unsigned last_vp;
	uint64_t interrupts, messages;
	_Atomic uint64_t signals_sent;
};

struct vmbus_client_channel {
	struct vmbus_client *c;
	uint32_t relid, conn_id, gpadl;
	uint64_t send_gpa, recv_gpa;   /* ring headers */
	uint32_t send_size, recv_size; /* data bytes */
	struct vmbus_ring_header *send_hdr, *recv_hdr;
	uint8_t *send_data, *recv_data;
};

/* --- Fake SynIC --- */

static int fake_post(void *opaque, unsigned vp, unsigned sint, uint32_t type, const void *payload,
		     size_t len)
{
	struct vmbus_client *c = opaque;
	struct msg *m;

	if (sint != VMBUS_MESSAGE_SINT || type != VMBUS_SYNIC_MESSAGE_TYPE ||
	    len > VMBUS_MESSAGE_MAX_SIZE || vp >= c->cfg.vcpus)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	if (c->count == MSG_QUEUE) {
		pthread_mutex_unlock(&c->lock);
		return -ENOBUFS;
	}
	m = &c->queue[(c->head + c->count) % MSG_QUEUE];
	m->vp = vp;
	m->len = (uint32_t)len;
	memcpy(m->data, payload, len);
	c->count++;
	c->messages++;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static int fake_signal(void *opaque, unsigned vp, unsigned sint, unsigned flag)
{
	struct vmbus_client *c = opaque;
	uint8_t *page;

	if (vp >= c->cfg.vcpus || sint >= 16 || flag >= 2048)
		return -EINVAL;
	page = guest_memory_ptr(c->mem, c->event_page[vp], PAGE);
	__atomic_fetch_or(page + sint * 256 + flag / 8, (uint8_t)(1u << (flag % 8)),
			  __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&c->lock);
	c->interrupts++;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static const struct vmbus_synic_ops fake_synic = {
	.post_message = fake_post,
	.signal_event = fake_signal,
};

/* --- Set-up --- */

uint64_t vmbus_client_alloc(struct vmbus_client *c, unsigned npages)
{
	uint64_t gpa = c->next_free;

	c->next_free += (uint64_t)npages * PAGE;
	if (guest_memory_fill(c->mem, gpa, 0, (size_t)npages * PAGE) < 0)
		abort(); /* test set-up error: the tests' RAM is too small */
	return gpa;
}

int vmbus_client_new(const struct vmbus_client_config *cfg, struct vmbus_client **ret)
{
	struct vmbus_client *c;
	unsigned i;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	if (!c->cfg.vcpus)
		c->cfg.vcpus = 1;
	if (c->cfg.vcpus > MAX_VPS)
		c->cfg.vcpus = MAX_VPS;
	if (!c->cfg.ram_size)
		c->cfg.ram_size = 64 * MiB;
	if (!c->cfg.timeout_ms)
		c->cfg.timeout_ms = 5000;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->queue = calloc(MSG_QUEUE, sizeof(*c->queue));
	r = c->queue ? guest_memory_new(c->cfg.ram_size, &c->mem) : -ENOMEM;
	if (r < 0)
		goto fail;
	c->next_free = 1 * MiB;
	c->next_gpadl = 0xE1E10;
	for (i = 0; i < c->cfg.vcpus; i++)
		c->event_page[i] = vmbus_client_alloc(c, 1);
	r = vmbus_client_attach_new_server(c);
	if (r < 0)
		goto fail;
	*ret = c;
	return 0;
fail:
	vmbus_client_free(c);
	return r;
}

struct vmbus_server *vmbus_client_detach_server(struct vmbus_client *c)
{
	struct vmbus_server *s = c->server;

	c->server = NULL;
	return s;
}

int vmbus_client_attach_new_server(struct vmbus_client *c)
{
	struct vmbus_server_config scfg = {
		.mem = c->mem,
		.vcpus = c->cfg.vcpus,
		.synic = &fake_synic,
		.synic_opaque = c,
		.max_version = c->cfg.max_version,
		.manual_dispatch = c->cfg.manual_dispatch,
		.channel_poll_ns = c->cfg.channel_poll_ns,
	};

	if (c->server)
		return -EBUSY;
	return vmbus_server_new(&scfg, &c->server);
}

void vmbus_client_free(struct vmbus_client *c)
{
	if (!c)
		return;
	vmbus_server_free(c->server);
	guest_memory_free(c->mem);
	free(c->queue);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

struct vmbus_server *vmbus_client_server(struct vmbus_client *c)
{
	return c->server;
}

struct guest_memory *vmbus_client_memory(struct vmbus_client *c)
{
	return c->mem;
}

/* --- Messages --- */

enum vmbus_post_result vmbus_client_post(struct vmbus_client *c, uint32_t connection_id,
					 const void *msg, size_t len)
{
	enum vmbus_post_result r =
		vmbus_server_handle_message(c->server, 0, connection_id, msg, len);

	if (c->cfg.manual_dispatch)
		vmbus_server_dispatch(c->server);
	return r;
}

static void deadline_after(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

int vmbus_client_recv_msg(struct vmbus_client *c, void *buf, size_t *len, unsigned timeout_ms)
{
	struct timespec ts;
	struct msg *m;

	deadline_after(&ts, timeout_ms);
	pthread_mutex_lock(&c->lock);
	while (c->count == 0)
		if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) == ETIMEDOUT && c->count == 0) {
			pthread_mutex_unlock(&c->lock);
			return -ETIMEDOUT;
		}
	m = &c->queue[c->head];
	memcpy(buf, m->data, m->len);
	*len = m->len;
	c->last_vp = m->vp;
	c->head = (c->head + 1) % MSG_QUEUE;
	c->count--;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

int vmbus_client_expect(struct vmbus_client *c, uint32_t msgtype, void *buf, size_t *len,
			unsigned timeout_ms)
{
	struct vmbus_msg_header h;
	int r = vmbus_client_recv_msg(c, buf, len, timeout_ms);

	if (r < 0)
		return r;
	if (*len < sizeof(h))
		return -EPROTO;
	memcpy(&h, buf, sizeof(h));
	return h.msgtype == msgtype ? 0 : -EPROTO;
}

unsigned vmbus_client_pending_msgs(struct vmbus_client *c)
{
	unsigned n;

	pthread_mutex_lock(&c->lock);
	n = c->count;
	pthread_mutex_unlock(&c->lock);
	return n;
}

unsigned vmbus_client_last_msg_vp(struct vmbus_client *c)
{
	return c->last_vp;
}

int vmbus_client_connect(struct vmbus_client *c, uint32_t version)
{
	struct vmbus_msg_initiate_contact m = {.header.msgtype = VMBUS_MSG_INITIATE_CONTACT};
	struct vmbus_msg_version_response resp;
	uint8_t buf[VMBUS_MESSAGE_MAX_SIZE];
	size_t len;
	uint32_t conn = version >= VMBUS_VERSION_WIN10_V5 ? VMBUS_MESSAGE_CONNECTION_ID_4
							  : VMBUS_MESSAGE_CONNECTION_ID;
	int r;

	m.vmbus_version_requested = version;
	m.target_vcpu = 0;
	m.interrupt_page_or_sint =
		version >= VMBUS_VERSION_WIN10_V5 ? VMBUS_MESSAGE_SINT : vmbus_client_alloc(c, 1);
	m.monitor_page1 = vmbus_client_alloc(c, 1);
	m.monitor_page2 = vmbus_client_alloc(c, 1);
	if (vmbus_client_post(c, conn, &m, sizeof(m)) != VMBUS_POST_OK)
		return -EIO;
	r = vmbus_client_expect(c, VMBUS_MSG_VERSION_RESPONSE, buf, &len, c->cfg.timeout_ms);
	if (r < 0)
		return r;
	if (len < sizeof(resp))
		return -EPROTO;
	memcpy(&resp, buf, sizeof(resp));
	if (!resp.version_supported)
		return 0;
	c->version = version;
	c->msg_conn_id =
		version >= VMBUS_VERSION_WIN10_V5 ? resp.msg_conn_id : VMBUS_MESSAGE_CONNECTION_ID;
	return 1;
}

static enum vmbus_post_result post(struct vmbus_client *c, const void *msg, size_t len)
{
	return vmbus_client_post(c, c->msg_conn_id ? c->msg_conn_id : VMBUS_MESSAGE_CONNECTION_ID,
				 msg, len);
}

int vmbus_client_request_offers(struct vmbus_client *c, struct vmbus_msg_offer_channel *offers,
				unsigned max)
{
	struct vmbus_msg_header h = {.msgtype = VMBUS_MSG_REQUESTOFFERS};
	uint8_t buf[VMBUS_MESSAGE_MAX_SIZE];
	unsigned n = 0;

	if (post(c, &h, sizeof(h)) != VMBUS_POST_OK)
		return -EIO;
	for (;;) {
		size_t len;
		int r = vmbus_client_recv_msg(c, buf, &len, c->cfg.timeout_ms);

		if (r < 0)
			return r;
		memcpy(&h, buf, sizeof(h));
		if (h.msgtype == VMBUS_MSG_ALLOFFERS_DELIVERED)
			return (int)n;
		if (h.msgtype != VMBUS_MSG_OFFERCHANNEL || len != sizeof(*offers))
			return -EPROTO;
		if (n < max)
			memcpy(&offers[n], buf, sizeof(*offers));
		n++;
	}
}

int vmbus_client_unload(struct vmbus_client *c)
{
	struct vmbus_msg_header h = {.msgtype = VMBUS_MSG_UNLOAD};
	uint8_t buf[VMBUS_MESSAGE_MAX_SIZE];
	size_t len;

	if (post(c, &h, sizeof(h)) != VMBUS_POST_OK)
		return -EIO;
	c->msg_conn_id = 0;
	return vmbus_client_expect(c, VMBUS_MSG_UNLOAD_RESPONSE, buf, &len, c->cfg.timeout_ms);
}

/* PFNs per message as a Linux guest packs them: 26 in the header, 28 per body. */
#define HEADER_PFNS ((VMBUS_MESSAGE_MAX_SIZE - 20 - 8) / 8)
#define BODY_PFNS   ((VMBUS_MESSAGE_MAX_SIZE - 16) / 8)

int vmbus_client_gpadl_create(struct vmbus_client *c, uint32_t relid, uint64_t gpa, unsigned npages,
			      uint32_t *ret_id)
{
	uint8_t buf[VMBUS_MESSAGE_MAX_SIZE];
	struct vmbus_msg_gpadl_header h = {.header.msgtype = VMBUS_MSG_GPADL_HEADER};
	struct vmbus_gpa_range range = {.byte_count = npages * PAGE, .byte_offset = 0};
	struct vmbus_msg_gpadl_created created;
	unsigned done, n, i;
	size_t len;
	int r;

	h.child_relid = relid;
	h.gpadl = c->next_gpadl++;
	h.rangecount = 1;
	h.range_buflen = (uint16_t)(sizeof(range) + npages * 8u);
	n = MIN(npages, HEADER_PFNS);
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), &range, sizeof(range));
	for (i = 0; i < n; i++) {
		uint64_t pfn = gpa / PAGE + i;

		memcpy(buf + sizeof(h) + sizeof(range) + i * 8, &pfn, 8);
	}
	if (post(c, buf, sizeof(h) + sizeof(range) + n * 8) != VMBUS_POST_OK)
		return -EIO;
	for (done = n; done < npages; done += n) {
		struct vmbus_msg_gpadl_body b = {.header.msgtype = VMBUS_MSG_GPADL_BODY,
						 .gpadl = h.gpadl};

		n = MIN(npages - done, BODY_PFNS);
		memcpy(buf, &b, sizeof(b));
		for (i = 0; i < n; i++) {
			uint64_t pfn = gpa / PAGE + done + i;

			memcpy(buf + sizeof(b) + i * 8, &pfn, 8);
		}
		while (post(c, buf, sizeof(b) + n * 8) == VMBUS_POST_RETRY)
			;
	}
	r = vmbus_client_expect(c, VMBUS_MSG_GPADL_CREATED, buf, &len, c->cfg.timeout_ms);
	if (r < 0)
		return r;
	memcpy(&created, buf, sizeof(created));
	if (created.gpadl != h.gpadl)
		return -EPROTO;
	*ret_id = h.gpadl;
	return (int)created.creation_status;
}

int vmbus_client_gpadl_teardown(struct vmbus_client *c, uint32_t relid, uint32_t id, bool wait)
{
	struct vmbus_msg_gpadl_teardown m = {
		.header.msgtype = VMBUS_MSG_GPADL_TEARDOWN, .child_relid = relid, .gpadl = id};
	struct vmbus_msg_gpadl_torndown done;
	uint8_t buf[VMBUS_MESSAGE_MAX_SIZE];
	size_t len;
	int r;

	if (post(c, &m, sizeof(m)) != VMBUS_POST_OK)
		return -EIO;
	if (!wait)
		return 0;
	r = vmbus_client_expect(c, VMBUS_MSG_GPADL_TORNDOWN, buf, &len, c->cfg.timeout_ms);
	if (r < 0)
		return r;
	memcpy(&done, buf, sizeof(done));
	return done.gpadl == id ? 0 : -EPROTO;
}

int vmbus_client_open(struct vmbus_client *c, const struct vmbus_msg_offer_channel *offer,
		      unsigned send_pages, unsigned recv_pages, unsigned target_vp,
		      struct vmbus_client_channel **ret)
{
	struct vmbus_msg_open_channel m = {.header.msgtype = VMBUS_MSG_OPENCHANNEL};
	struct vmbus_msg_open_result res;
	struct vmbus_client_channel *ch;
	uint8_t buf[VMBUS_MESSAGE_MAX_SIZE];
	size_t len;
	uint64_t gpa;
	int r;

	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	ch->c = c;
	ch->relid = offer->child_relid;
	ch->conn_id = offer->connection_id;
	gpa = vmbus_client_alloc(c, send_pages + recv_pages);
	ch->send_gpa = gpa;
	ch->recv_gpa = gpa + (uint64_t)send_pages * PAGE;
	ch->send_size = (send_pages - 1) * PAGE;
	ch->recv_size = (recv_pages - 1) * PAGE;
	ch->send_hdr = guest_memory_ptr(c->mem, ch->send_gpa, (size_t)send_pages * PAGE);
	ch->recv_hdr = guest_memory_ptr(c->mem, ch->recv_gpa, (size_t)recv_pages * PAGE);
	ch->send_data = (uint8_t *)ch->send_hdr + PAGE;
	ch->recv_data = (uint8_t *)ch->recv_hdr + PAGE;
	/* Like a Linux guest: both feature bits set, indices zero. */
	ch->send_hdr->feature_bits = VMBUS_RING_FEAT_PENDING_SEND_SZ;
	ch->recv_hdr->feature_bits = VMBUS_RING_FEAT_PENDING_SEND_SZ;
	r = vmbus_client_gpadl_create(c, ch->relid, gpa, send_pages + recv_pages, &ch->gpadl);
	if (r != 0) {
		free(ch);
		return r < 0 ? r : -EIO;
	}
	m.child_relid = ch->relid;
	m.openid = ch->relid;
	m.ringbuffer_gpadlhandle = ch->gpadl;
	m.target_vp = target_vp;
	m.downstream_ringbuffer_pageoffset = send_pages;
	if (post(c, &m, sizeof(m)) != VMBUS_POST_OK) {
		free(ch);
		return -EIO;
	}
	r = vmbus_client_expect(c, VMBUS_MSG_OPENCHANNEL_RESULT, buf, &len, c->cfg.timeout_ms);
	if (r < 0) {
		free(ch);
		return r;
	}
	memcpy(&res, buf, sizeof(res));
	if (res.status != 0) {
		vmbus_client_gpadl_teardown(c, ch->relid, ch->gpadl, true);
		free(ch);
		return (int)res.status;
	}
	*ret = ch;
	return 0;
}

int vmbus_client_close(struct vmbus_client_channel *ch)
{
	struct vmbus_msg_relid m = {.header.msgtype = VMBUS_MSG_CLOSECHANNEL,
				    .child_relid = ch->relid};
	int r;

	if (post(ch->c, &m, sizeof(m)) != VMBUS_POST_OK)
		return -EIO;
	r = vmbus_client_gpadl_teardown(ch->c, ch->relid, ch->gpadl, true);
	free(ch);
	return r;
}

void vmbus_client_channel_forget(struct vmbus_client_channel *ch)
{
	free(ch);
}

uint32_t vmbus_client_channel_relid(const struct vmbus_client_channel *ch)
{
	return ch->relid;
}

uint32_t vmbus_client_channel_gpadl(const struct vmbus_client_channel *ch)
{
	return ch->gpadl;
}

uint64_t vmbus_client_channel_send_ring(const struct vmbus_client_channel *ch)
{
	return ch->send_gpa;
}

uint64_t vmbus_client_channel_recv_ring(const struct vmbus_client_channel *ch)
{
	return ch->recv_gpa;
}

/* --- Guest-side rings --- */

static uint32_t ld(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void signal_host(struct vmbus_client_channel *ch)
{
	atomic_fetch_add(&ch->c->signals_sent, 1);
	vmbus_server_handle_signal(ch->c->server, ch->conn_id);
}

static uint32_t ring_copy_in(uint8_t *data, uint32_t size, uint32_t off, const void *src, size_t n)
{
	size_t first = MIN(n, (size_t)(size - off));

	memcpy(data + off, src, first);
	memcpy(data, (const uint8_t *)src + first, n - first);
	return (uint32_t)((off + n) % size);
}

static void ring_copy_out(const uint8_t *data, uint32_t size, uint32_t off, void *dst, size_t n)
{
	size_t first = MIN(n, (size_t)(size - off));

	memcpy(dst, data + off, first);
	memcpy((uint8_t *)dst + first, data, n - first);
}

/* Writes hdr (descriptor first, hlen a multiple of 8) then data padded to 8, then the trailer. */
static int send_parts(struct vmbus_client_channel *ch, void *hdr, size_t hlen, const void *data,
		      size_t len)
{
	static const uint8_t zeros[8];
	struct vmbus_ring_header *h = ch->send_hdr;
	struct vmbus_packet_desc *d = hdr;
	size_t padded = ALIGN_UP(len, (size_t)8);
	uint32_t w, rd, space, old;
	uint64_t trailer;
	size_t total = hlen + padded + 8;

	d->offset8 = (uint16_t)(hlen / 8);
	d->len8 = (uint16_t)((hlen + padded) / 8);
	w = h->write_index;
	rd = ld(&h->read_index);
	/* Tests write these fields as another guest CPU could: never trust them for a copy. */
	if (w >= ch->send_size || rd >= ch->send_size || w % 8 || rd % 8)
		return -EPROTO;
	old = w;
	trailer = (uint64_t)w << 32;
	space = w >= rd ? ch->send_size - (w - rd) : rd - w;
	if (space <= total)
		return -EAGAIN;
	w = ring_copy_in(ch->send_data, ch->send_size, w, hdr, hlen);
	w = ring_copy_in(ch->send_data, ch->send_size, w, data, len);
	w = ring_copy_in(ch->send_data, ch->send_size, w, zeros, padded - len);
	w = ring_copy_in(ch->send_data, ch->send_size, w, &trailer, sizeof(trailer));
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&h->write_index, w, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!ld(&h->interrupt_mask) && ld(&h->read_index) == old)
		signal_host(ch);
	return 0;
}

int vmbus_client_send(struct vmbus_client_channel *ch, uint16_t type, uint16_t flags,
		      uint64_t trans_id, const void *data, size_t len)
{
	struct vmbus_packet_desc d = {
		.type = type,
		.flags = flags,
		.trans_id = trans_id,
	};

	return send_parts(ch, &d, sizeof(d), data, len);
}

int vmbus_client_send_gpa_direct(struct vmbus_client_channel *ch, uint16_t flags, uint64_t trans_id,
				 uint32_t byte_offset, uint32_t byte_count, const uint64_t *pfns,
				 unsigned npfn, const void *data, size_t len)
{
	uint8_t hdr[16 + 8 + 8 + 8 * 512];
	struct vmbus_packet_desc d = {
		.type = VMBUS_PKT_DATA_USING_GPA_DIRECT,
		.flags = flags,
		.trans_id = trans_id,
	};
	struct vmbus_gpa_direct_header g = {.range_cnt = 1};
	size_t hlen = 32 + 8 * (size_t)npfn;

	if (npfn > 512)
		return -EINVAL;
	memcpy(hdr, &d, sizeof(d));
	memcpy(hdr + 16, &g, sizeof(g));
	memcpy(hdr + 24, &byte_count, 4);
	memcpy(hdr + 28, &byte_offset, 4);
	memcpy(hdr + 32, pfns, 8 * (size_t)npfn);
	return send_parts(ch, hdr, hlen, data, len);
}

int vmbus_client_send_raw(struct vmbus_client_channel *ch, void *hdr, size_t hlen, const void *data,
			  size_t len)
{
	if (hlen < sizeof(struct vmbus_packet_desc) || hlen % 8)
		return -EINVAL;
	return send_parts(ch, hdr, hlen, data, len);
}

static int recv_packet(struct vmbus_client_channel *ch, struct vmbus_packet_desc *desc, void *data,
		       size_t *len, bool raw)
{
	struct vmbus_ring_header *h = ch->recv_hdr;
	uint32_t r = h->read_index, w = ld(&h->write_index), avail, plen, off, start = r;
	uint32_t pending, space, freed;

	if (r >= ch->recv_size || w >= ch->recv_size || r % 8 || w % 8)
		return -EPROTO;
	avail = w >= r ? w - r : ch->recv_size - r + w;
	if (avail == 0)
		return -EAGAIN;
	if (avail < 24)
		return -EPROTO;
	ring_copy_out(ch->recv_data, ch->recv_size, r, desc, sizeof(*desc));
	plen = desc->len8 * 8u;
	off = desc->offset8 * 8u;
	if (plen < 16 || off < 16 || off > plen || plen + 8 > avail)
		return -EPROTO;
	if (raw)
		off = 0; /* the whole packet, descriptor first */
	if (plen - off > *len)
		return -EMSGSIZE;
	ring_copy_out(ch->recv_data, ch->recv_size, (r + off) % ch->recv_size, data, plen - off);
	*len = plen - off;
	r = (r + plen + 8) % ch->recv_size;
	__atomic_store_n(&h->read_index, r, __ATOMIC_RELEASE);
	/* The host may wait for room (pending_send_sz): signal on the transition. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	pending = ld(&h->pending_send_sz);
	if (pending) {
		w = ld(&h->write_index);
		space = ch->recv_size - (w >= r ? w - r : ch->recv_size - r + w);
		freed = plen + 8;
		if (space - freed <= pending && space > pending)
			signal_host(ch);
	}
	(void)start;
	return 0;
}

int vmbus_client_recv(struct vmbus_client_channel *ch, struct vmbus_packet_desc *desc, void *data,
		      size_t *len)
{
	return recv_packet(ch, desc, data, len, false);
}

int vmbus_client_recv_raw(struct vmbus_client_channel *ch, struct vmbus_packet_desc *desc,
			  void *data, size_t *len)
{
	return recv_packet(ch, desc, data, len, true);
}

/* Test-and-clear of this channel's flag in any VP's event page. */
static bool take_event(struct vmbus_client_channel *ch)
{
	struct vmbus_client *c = ch->c;
	unsigned vp;

	for (vp = 0; vp < c->cfg.vcpus; vp++) {
		uint8_t *p =
			guest_memory_ptr(c->mem, c->event_page[vp] + 2 * 256 + ch->relid / 8, 1);
		uint8_t bit = (uint8_t)(1u << (ch->relid % 8));

		if (__atomic_fetch_and(p, (uint8_t)~bit, __ATOMIC_SEQ_CST) & bit)
			return true;
	}
	return false;
}

int vmbus_client_wait_event(struct vmbus_client_channel *ch, unsigned timeout_ms)
{
	struct vmbus_client *c = ch->c;
	struct timespec ts;

	deadline_after(&ts, timeout_ms);
	pthread_mutex_lock(&c->lock);
	while (!take_event(ch))
		if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) == ETIMEDOUT) {
			bool got = take_event(ch);

			pthread_mutex_unlock(&c->lock);
			return got ? 0 : -ETIMEDOUT;
		}
	pthread_mutex_unlock(&c->lock);
	return 0;
}

int vmbus_client_recv_wait(struct vmbus_client_channel *ch, struct vmbus_packet_desc *desc,
			   void *data, size_t *len, unsigned timeout_ms)
{
	size_t max = *len;

	for (;;) {
		int r;

		*len = max;
		r = vmbus_client_recv(ch, desc, data, len);
		if (r != -EAGAIN)
			return r;
		r = vmbus_client_wait_event(ch, timeout_ms);
		if (r < 0) {
			*len = max;
			return vmbus_client_recv(ch, desc, data, len) == 0 ? 0 : -ETIMEDOUT;
		}
	}
}

void vmbus_client_set_interrupt_mask(struct vmbus_client_channel *ch, bool masked)
{
	__atomic_store_n(&ch->recv_hdr->interrupt_mask, masked ? 1u : 0u, __ATOMIC_SEQ_CST);
}

void vmbus_client_set_pending_send(struct vmbus_client_channel *ch, uint32_t bytes)
{
	__atomic_store_n(&ch->send_hdr->pending_send_sz, bytes, __ATOMIC_SEQ_CST);
}

void vmbus_client_get_stats(struct vmbus_client *c, struct vmbus_client_stats *stats)
{
	pthread_mutex_lock(&c->lock);
	stats->interrupts = c->interrupts;
	stats->messages = c->messages;
	pthread_mutex_unlock(&c->lock);
	stats->signals_sent = atomic_load(&c->signals_sent);
}

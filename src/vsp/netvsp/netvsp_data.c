/*
 * The data path of the synthetic NIC (netvsp.h), on each channel's loop:
 *
 *  - guest -> host: a SEND_RNDIS_PKT names a send-buffer section (index
 *    and bytes used) and/or GPA-direct ranges; together, section first,
 *    they are one stream of RNDIS messages (A.5, "partial copy"). The
 *    stream is copied out of guest memory before anything is parsed; each
 *    PACKET becomes one TAP write with a virtio-net header (offload.c);
 *    a control message goes to rndis.c and its answer into a receive
 *    section. One completion per SEND_RNDIS_PKT, into reserved room.
 *  - host -> guest: each frame read from the channel's TAP queue is
 *    written (RNDIS PACKET header, checksum PPI, frame) into a free
 *    receive section and announced by a one-range xfer-page packet whose
 *    transaction id names the section; the guest's completion frees it.
 *    With no free section or no ring room the frame waits and the TAP
 *    queue leaves the loop (the kernel queues, then drops, behind it)
 *    until a completion or ring room brings it back.
 *
 *    Once the guest has set an RSS indirection table, a frame goes to
 *    the channel the table gives for its Toeplitz hash (rss.h): the
 *    TAP's own queue choice is the kernel's, the table is the guest's.
 *    A frame read on another channel's queue is copied into the target's
 *    handoff queue and the target's loop is woken to deliver it.
 *
 * Receive sections are shared by every channel of the adapter (rx_lock);
 * NV_RX_CONTROL_RESERVE of them are kept for control replies.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vsp/netvsp/netvsp_internal.h"
#include "vsp/netvsp/offload.h"
#include "vsp/netvsp/rss.h"

#define PAGE	 4096u
#define ETH_HLEN 14u
/* An xfer-page packet of one range carrying a SEND_RNDIS_PKT: its payload after the descriptor. */
#define XFER1_LEN (sizeof(struct vmbus_xfer_page_header) + 8u + NVSP_MESSAGE_SIZE)
/* Frames read from a TAP queue per wake-up before the loop looks at its ring again. */
#define RX_BUDGET 64u

/* --- Guest buffers (read lock held) --- */

static void buf_copy(const struct nv_buffer *b, uint64_t off, void *dst, const void *src,
		     size_t len)
{
	while (len) {
		size_t pg = (size_t)(off / PAGE), in = (size_t)(off % PAGE);
		size_t n = MIN(len, (size_t)PAGE - in);
		uint8_t *page = b->map.pages[pg];

		if (dst) {
			memcpy(dst, page + in, n);
			dst = (uint8_t *)dst + n;
		} else {
			memcpy(page + in, src, n);
			src = (const uint8_t *)src + n;
		}
		off += n;
		len -= n;
	}
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/* --- Receive sections --- */

int nv_rx_sections_init(struct netvsp *nv, uint32_t count)
{
	uint8_t *owner = calloc(count, 1);
	uint32_t *stack = malloc((size_t)count * sizeof(*stack));
	uint32_t *next = malloc((size_t)count * sizeof(*next));
	uint32_t i;

	if (!owner || !stack || !next) {
		free(owner);
		free(stack);
		free(next);
		return -ENOMEM;
	}
	pthread_mutex_lock(&nv->rx_lock);
	free(nv->rx_owner);
	free(nv->rx_free);
	free(nv->rx_next);
	nv->rx_owner = owner;
	nv->rx_free = stack;
	nv->rx_next = next;
	/* Popped from the end: section 0 first. */
	for (i = 0; i < count; i++) {
		stack[i] = count - 1 - i;
		next[i] = NV_RX_END;
	}
	nv->rx_nfree = count;
	nv->rx_count = count;
	pthread_mutex_unlock(&nv->rx_lock);
	return 0;
}

void nv_rx_sections_fini(struct netvsp *nv)
{
	uint32_t i, lost = 0;

	pthread_mutex_lock(&nv->rx_lock);
	for (i = 0; nv->rx_owner && i < nv->rx_count; i++)
		lost += nv->rx_owner[i] != NV_RX_FREE;
	free(nv->rx_owner);
	free(nv->rx_free);
	free(nv->rx_next);
	nv->rx_owner = NULL;
	nv->rx_free = NULL;
	nv->rx_next = NULL;
	nv->rx_nfree = 0;
	nv->rx_count = 0;
	pthread_mutex_unlock(&nv->rx_lock);
	/* Sections the guest still held when it took the buffer back. */
	atomic_fetch_add(&nv->unreleased, lost);
}

/*
 * n free sections for channel c, chained as one packet (rx_next) whose first section is
 * returned; or -1 (c waits: woken at the next release). All or none.
 */
static int64_t rx_alloc(struct nv_channel *c, bool control, uint32_t n)
{
	struct netvsp *nv = c->nv;
	int64_t s = -1;

	pthread_mutex_lock(&nv->rx_lock);
	if (nv->rx_free && nv->rx_nfree >= n + (control ? 0u : NV_RX_CONTROL_RESERVE)) {
		uint32_t i, prev = NV_RX_END;

		for (i = 0; i < n; i++) {
			uint32_t x = nv->rx_free[--nv->rx_nfree];

			nv->rx_owner[x] = (uint8_t)((c->index + 1) | (i ? NV_RX_MEMBER : 0));
			nv->rx_next[x] = NV_RX_END;
			if (i)
				nv->rx_next[prev] = x;
			else
				s = x;
			prev = x;
		}
	} else {
		nv->rx_waiters |= UINT64_C(1) << c->index;
	}
	pthread_mutex_unlock(&nv->rx_lock);
	return s;
}

static void wake_waiters(struct netvsp *nv, uint64_t waiters)
{
	unsigned i;

	if (!waiters)
		return;
	pthread_mutex_lock(&nv->lock);
	for (i = 0; i < nv->nchans; i++)
		if (waiters & (UINT64_C(1) << i))
			vmbus_channel_wake(nv->chans[i]->ch);
	pthread_mutex_unlock(&nv->lock);
}

/*
 * Gives back the packet whose first section is s, with the sections chained to it; false
 * if channel c does not hold such a packet (a member section is not a packet's name).
 */
static bool rx_release(struct nv_channel *c, uint64_t s)
{
	struct netvsp *nv = c->nv;
	uint64_t waiters = 0;
	bool ok;

	pthread_mutex_lock(&nv->rx_lock);
	ok = nv->rx_owner && s < nv->rx_count && nv->rx_owner[s] == c->index + 1;
	if (ok) {
		uint32_t x = (uint32_t)s;

		while (x != NV_RX_END) {
			uint32_t nx = nv->rx_next[x];

			nv->rx_owner[x] = NV_RX_FREE;
			nv->rx_next[x] = NV_RX_END;
			nv->rx_free[nv->rx_nfree++] = x;
			x = nx;
		}
		waiters = nv->rx_waiters;
		nv->rx_waiters = 0;
	}
	pthread_mutex_unlock(&nv->rx_lock);
	wake_waiters(nv, waiters);
	return ok;
}

void nv_data_rx_complete(struct nv_channel *c, uint64_t trans_id)
{
	/* Our transaction ids are section + 1; anything else was never sent or is done. */
	if (trans_id == 0 || !rx_release(c, trans_id - 1)) {
		atomic_fetch_add(&c->nv->bad_releases, 1);
		nv_guest_error(c->nv,
			       "receive completion %#llx names no section in flight on "
			       "channel %u",
			       (unsigned long long)trans_id, c->index);
	}
}

/* Writes msg (len <= section size) into section s and announces it. Read lock held. */
static int rx_send_section(struct nv_channel *c, int64_t s, const struct iovec *parts,
			   unsigned nparts, bool reserved, bool control)
{
	struct netvsp *nv = c->nv;
	struct nvsp_send_rndis_pkt m = {
		.msg_type = NVSP_MSG1_TYPE_SEND_RNDIS_PKT,
		.channel_type = control ? NVSP_RNDIS_CHANNEL_CONTROL : NVSP_RNDIS_CHANNEL_DATA,
		.send_buf_section_index = NVSP_INVALID_SECTION_INDEX,
	};
	uint8_t msg[NVSP_MESSAGE_SIZE] = {0};
	struct vmbus_xfer_range range = {.byte_offset = (uint32_t)s * nv->recv.section_size};
	uint64_t off = range.byte_offset;
	unsigned i;

	for (i = 0; i < nparts; i++) {
		buf_copy(&nv->recv, off, NULL, parts[i].iov_base, parts[i].iov_len);
		off += parts[i].iov_len;
	}
	range.byte_count = (uint32_t)(off - range.byte_offset);
	memcpy(msg, &m, sizeof(m));
	return vmbus_channel_send_xfer_pages(c->ch, VMBUS_PKT_FLAG_COMPLETION_REQUESTED,
					     (uint64_t)s + 1, nv->recv.id, &range, 1, msg,
					     sizeof(msg), reserved);
}

/* A control reply or indication: one section (from the reserve), one packet. */
static int send_control(struct nv_channel *c, const void *msg, size_t len, bool reserved)
{
	struct netvsp *nv = c->nv;
	struct iovec part = {.iov_base = (void *)msg, .iov_len = len};
	int64_t s;
	int e;

	pthread_rwlock_rdlock(&nv->buf_lock);
	if (!nv->recv.map.pages || len > nv->recv.section_size) {
		pthread_rwlock_unlock(&nv->buf_lock);
		return -ENOTCONN;
	}
	s = rx_alloc(c, true, 1);
	if (s < 0) {
		pthread_rwlock_unlock(&nv->buf_lock);
		return -ENOBUFS;
	}
	e = rx_send_section(c, s, &part, 1, reserved, true);
	pthread_rwlock_unlock(&nv->buf_lock);
	if (e < 0)
		rx_release(c, (uint64_t)s);
	return e;
}

int nv_data_send_control(struct nv_channel *c, const void *msg, size_t len)
{
	return send_control(c, msg, len, false);
}

/* --- RSC --- */

void nv_rsc_apply(struct netvsp *nv, unsigned want)
{
	unsigned offloads = TAP_OFFLOAD_CSUM;
	int e;

	if (atomic_exchange(&nv->rsc, want) == want)
		return;
	/*
	 * The TAP is one device for all its queues: with TSO4/6 accepted, the kernel sends the
	 * host stack's TCP to it unsegmented (GRO'd forwarded frames, local TSO), up to 64 KiB;
	 * without, it segments them itself (include/uapi/linux/if_tun.h, tun.c set_offload).
	 */
	if (want & NV_RSC_V4)
		offloads |= TAP_OFFLOAD_TSO4;
	if (want & NV_RSC_V6)
		offloads |= TAP_OFFLOAD_TSO6;
	e = tap_queue_offload(nv->tap_fds[0], offloads);
	if (e < 0) {
		/* The guest toggles this at will: rate-limited. */
		static struct ratelimit rl = RATELIMIT_INIT(1000, 5);

		pv_log_ratelimited(&rl, LOG_WARN,
				   "%s: TUNSETOFFLOAD %#x: %s (receive frames stay MTU-sized)",
				   nv->name, offloads, strerror(-e));
	}
}

/* --- Guest -> host --- */

static bool tx_frame_allowed(struct nv_channel *c, const uint8_t *frame)
{
	struct netvsp *nv = c->nv;

	if (!atomic_load(&nv->connected)) {
		atomic_fetch_add(&nv->drop_tx_link_down, 1);
		return false;
	}
	/* The source MAC must be the adapter's unless spoofing is allowed (Hyper-V's port option).
	 */
	if (!atomic_load(&nv->mac_spoofing) && memcmp(frame + 6, nv->cfg.mac, 6) != 0) {
		atomic_fetch_add(&nv->drop_spoofed, 1);
		return false;
	}
	return true;
}

/* Pieces of a frame's tail (past the copied headers) taken straight from guest memory. */
#define TX_TAIL_IOV 64u
/*
 * Bytes of each RNDIS message copied before anything is parsed: its header, the PPIs and
 * the frame's headers (Ethernet, IP, TCP as Linux sends them). The rest of the frame goes
 * to the TAP from the guest's pages: the kernel copies it once, as it must anyway.
 */
#define NV_TX_HEAD 256u
/* tx_frame_out: the frame's headers are not all in the copy; copy the whole message. */
#define TX_NEED_COPY UINT32_MAX

/*
 * One frame to the TAP: its first fhead bytes (frame, our copy: checked and patched here)
 * then the ntail pieces of guest memory that complete it to frame_len bytes. The NVSP status,
 * or TX_NEED_COPY when may_retry and the offload headers reach past the copy.
 */
static uint32_t tx_frame_out(struct nv_channel *c, const struct rndis_tx_info *info, uint8_t *frame,
			     size_t fhead, const struct iovec *tail, unsigned ntail, bool may_retry)
{
	struct netvsp *nv = c->nv;
	struct tap_vnet_hdr h;
	uint8_t tag[4];
	struct iovec iov[4 + TX_TAIL_IOV];
	unsigned n = 0;
	ssize_t w;

	if (!tx_frame_allowed(c, frame))
		return NVSP_STAT_SUCCESS; /* dropped, as a switch port drops: not the guest's error
					   */
	if (nv_offload_tx_head(info, frame, fhead, info->frame_len, &h) < 0) {
		if (may_retry)
			return TX_NEED_COPY;
		atomic_fetch_add(&nv->bad_packets, 1);
		nv_guest_error(nv, "offload PPIs that do not fit their frame on channel %u",
			       c->index);
		return NVSP_STAT_INVALID_RNDIS_PKT;
	}
	iov[n++] = (struct iovec){.iov_base = &h, .iov_len = sizeof(h)};
	if (info->has_vlan) {
		/* The tag travels only in the PPI (B.5): put it back in the frame for the TAP. */
		uint16_t tci = (uint16_t)(NDIS_8021Q_PRIORITY(info->vlan) << 13 |
					  NDIS_8021Q_VLAN_ID(info->vlan));

		tag[0] = 0x81;
		tag[1] = 0x00;
		tag[2] = (uint8_t)(tci >> 8);
		tag[3] = (uint8_t)tci;
		if (h.flags & TAP_VNET_F_NEEDS_CSUM) {
			h.csum_start = (uint16_t)(h.csum_start + 4);
			if (h.hdr_len)
				h.hdr_len = (uint16_t)(h.hdr_len + 4);
		}
		iov[n++] = (struct iovec){.iov_base = frame, .iov_len = 12};
		iov[n++] = (struct iovec){.iov_base = tag, .iov_len = 4};
		iov[n++] = (struct iovec){.iov_base = frame + 12, .iov_len = fhead - 12};
	} else {
		iov[n++] = (struct iovec){.iov_base = frame, .iov_len = fhead};
	}
	if (ntail)
		memcpy(iov + n, tail, ntail * sizeof(*tail));
	w = writev(c->tap_fd, iov, (int)(n + ntail));
	if (w < 0) {
		atomic_fetch_add(&nv->drop_tx_error, 1);
		return NVSP_STAT_SUCCESS;
	}
	atomic_fetch_add(&c->tx_packets, 1);
	atomic_fetch_add(&c->tx_bytes, info->frame_len);
	return NVSP_STAT_SUCCESS;
}

static uint32_t tx_malformed(struct nv_channel *c, size_t len)
{
	atomic_fetch_add(&c->nv->bad_packets, 1);
	nv_guest_error(c->nv, "malformed RNDIS PACKET (%zu bytes) on channel %u", len, c->index);
	return NVSP_STAT_INVALID_RNDIS_PKT;
}

/* One PACKET of the stream (msg: len bytes, our copy). The NVSP status for it. */
static uint32_t tx_packet(struct nv_channel *c, uint8_t *msg, size_t len)
{
	struct rndis_tx_info info;

	if (rndis_packet_parse(msg, len, &info) < 0 || info.frame_len < ETH_HLEN)
		return tx_malformed(c, len);
	return tx_frame_out(c, &info, msg + info.frame_offset, info.frame_len, NULL, 0, false);
}

/*
 * The RNDIS stream of one SEND_RNDIS_PKT where the guest wrote it: the send section's
 * bytes, then the GPA-direct ranges (A.5, "partial copy"). Read lock held while in use.
 */
struct tx_stream {
	struct nv_channel *c;
	const struct nvsp_parsed *p;
	uint64_t sec_off; /* of the section in the send buffer */
	size_t sec, len;  /* section bytes; the whole stream's */
};

/* Copies stream bytes [off, off + n) (inside the stream) to dst. */
static int stream_read(const struct tx_stream *st, size_t off, void *dst, size_t n)
{
	struct netvsp *nv = st->c->nv;
	size_t k = off < st->sec ? MIN(n, st->sec - off) : 0;

	if (k)
		buf_copy(&nv->send, st->sec_off + off, dst, NULL, k);
	if (n > k && nvsp_ranges_read(nv->cfg.mem, st->p, off + k - st->sec, (uint8_t *)dst + k,
				      n - k) < 0) {
		atomic_fetch_add(&nv->bad_packets, 1);
		nv_guest_error(nv, "GPA ranges outside guest RAM");
		return -EFAULT;
	}
	return 0;
}

/* Stream bytes [off, off + n) as iovecs into guest memory: the count, or -errno. */
static int stream_iov(const struct tx_stream *st, size_t off, size_t n, struct iovec *iov,
		      unsigned max)
{
	struct netvsp *nv = st->c->nv;
	unsigned cnt = 0;
	int r;

	while (n && off < st->sec) {
		uint64_t o = st->sec_off + off;
		size_t in = (size_t)(o % PAGE), k = MIN(MIN(n, (size_t)PAGE - in), st->sec - off);
		uint8_t *host = (uint8_t *)nv->send.map.pages[o / PAGE] + in;

		if (cnt && (uint8_t *)iov[cnt - 1].iov_base + iov[cnt - 1].iov_len == host) {
			iov[cnt - 1].iov_len += k;
		} else {
			if (cnt == max)
				return -E2BIG;
			iov[cnt++] = (struct iovec){.iov_base = host, .iov_len = k};
		}
		off += k;
		n -= k;
	}
	if (!n)
		return (int)cnt;
	r = nvsp_ranges_iov(nv->cfg.mem, st->p, off - st->sec, n, iov + cnt, max - cnt);
	return r < 0 ? r : (int)cnt + r;
}

/*
 * The PACKET at stream offset pos (mlen bytes) without copying its frame: the message's
 * first NV_TX_HEAD bytes are copied and parsed, the frame's headers checked and patched in
 * that copy, and the rest of the frame written from guest memory. Anything the copy does not
 * hold (PPIs or offload headers further in, too many pieces) takes the whole-copy path.
 */
static uint32_t tx_packet_direct(struct nv_channel *c, const struct tx_stream *st, size_t pos,
				 size_t mlen)
{
	struct rndis_tx_info info;
	struct iovec tail[TX_TAIL_IOV];
	size_t head = MIN(mlen, (size_t)NV_TX_HEAD), fhead;
	uint8_t *msg = c->txbuf;
	uint32_t r;
	int n;

	if (stream_read(st, pos, msg, head) < 0)
		return NVSP_STAT_FAIL;
	/* The PPIs lie before the frame (rndis_packet_parse), so all of them are in the copy. */
	if (RNDIS_HEADER_SIZE + (uint64_t)get32(msg + RNDIS_HEADER_SIZE) + ETH_HLEN > head)
		goto copy;
	if (rndis_packet_parse(msg, mlen, &info) < 0 || info.frame_len < ETH_HLEN)
		return tx_malformed(c, mlen);
	fhead = MIN((size_t)info.frame_len, head - info.frame_offset);
	n = stream_iov(st, pos + info.frame_offset + fhead, info.frame_len - fhead, tail,
		       TX_TAIL_IOV);
	if (n < 0)
		goto copy;
	r = tx_frame_out(c, &info, msg + info.frame_offset, fhead, tail, (unsigned)n, true);
	if (r != TX_NEED_COPY)
		return r;
copy:
	if (stream_read(st, pos, msg, mlen) < 0)
		return NVSP_STAT_FAIL;
	return tx_packet(c, msg, mlen);
}

/* The packet's stream: its section checked; 0, or -errno (counted, the guest told). */
static int tx_stream_open(struct nv_channel *c, const struct nvsp_parsed *p, struct tx_stream *st)
{
	struct netvsp *nv = c->nv;
	struct nvsp_send_rndis_pkt m;

	memcpy(&m, &p->msg, sizeof(m));
	*st = (struct tx_stream){.c = c, .p = p};
	if (m.send_buf_section_index != NVSP_INVALID_SECTION_INDEX) {
		if (!nv->send.map.pages || m.send_buf_section_index >= nv->send.sections ||
		    m.send_buf_section_size > nv->send.section_size) {
			atomic_fetch_add(&nv->bad_sections, 1);
			nv_guest_error(nv, "send section %u (%u bytes) outside the send buffer",
				       m.send_buf_section_index, m.send_buf_section_size);
			return -ERANGE;
		}
		st->sec = m.send_buf_section_size;
		st->sec_off = (uint64_t)m.send_buf_section_index * nv->send.section_size;
	}
	if (p->range_bytes > NV_TX_STREAM_MAX - st->sec) {
		atomic_fetch_add(&nv->bad_packets, 1);
		nv_guest_error(nv, "RNDIS stream of %llu bytes",
			       (unsigned long long)(st->sec + p->range_bytes));
		return -E2BIG;
	}
	st->len = st->sec + (size_t)p->range_bytes;
	return 0;
}

/* One control message of the stream; room for its reply's packet and a section are held. */
static void tx_control(struct nv_channel *c, const uint8_t *msg, size_t len)
{
	struct netvsp *nv = c->nv;
	uint8_t reply[RNDIS_REPLY_MAX];
	int n;

	pthread_mutex_lock(&nv->ctl_lock);
	n = rndis_control(&nv->rndis, msg, len, reply);
	atomic_store(&nv->packet_filter, nv->rndis.packet_filter);
	atomic_store(&nv->rss_on, nv->rndis.rss_entries > 0);
	nv_rsc_apply(nv, (nv->rndis.rsc_v4 ? NV_RSC_V4 : 0u) | (nv->rndis.rsc_v6 ? NV_RSC_V6 : 0u));
	if (nv->rndis.initialized && atomic_load(&nv->state) == NETVSP_NEGOTIATING)
		atomic_store(&nv->state, NETVSP_READY);
	if (!nv->rndis.initialized && atomic_load(&nv->state) == NETVSP_READY)
		atomic_store(&nv->state, NETVSP_NEGOTIATING);
	pthread_mutex_unlock(&nv->ctl_lock);
	if (n < 0) {
		atomic_fetch_add(&nv->bad_packets, 1);
		nv_guest_error(nv, "malformed RNDIS control message (%zu bytes)", len);
	}
	if (n <= 0) {
		vmbus_channel_unreserve(c->ch, XFER1_LEN);
		return;
	}
	if (send_control(c, reply, (size_t)n, true) < 0)
		nv_guest_error(nv, "cannot answer an RNDIS request (no receive buffer)");
}

int nv_data_send_rndis(struct nv_channel *c, const struct nvsp_parsed *p, uint64_t trans_id)
{
	struct netvsp *nv = c->nv;
	struct nvsp_send_rndis_pkt_complete done = {
		.msg_type = NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE, .status = NVSP_STAT_SUCCESS};
	bool control_done = false, reserved_ctl = false, direct;
	struct tx_stream st;
	size_t pos = 0;
	uint8_t first[RNDIS_HEADER_SIZE];

	/* The answer's room first: the completion, and for a control request its reply. */
	if (trans_id && vmbus_channel_reserve(c->ch, NVSP_MESSAGE_SIZE) < 0)
		return VMBUS_PACKET_BUSY;
	pthread_rwlock_rdlock(&nv->buf_lock);
	if (tx_stream_open(c, p, &st) < 0 ||
	    (st.len >= RNDIS_HEADER_SIZE && stream_read(&st, 0, first, RNDIS_HEADER_SIZE) < 0)) {
		pthread_rwlock_unlock(&nv->buf_lock);
		done.status = NVSP_STAT_FAIL;
		goto complete;
	}
	/*
	 * Frames (Linux's data path) go out from guest memory, their headers copied; a control
	 * message, or a stream small enough, is copied whole first (the control protocol
	 * answers through the receive buffer and takes the lock itself).
	 */
	direct = st.len > NV_TX_HEAD && get32(first) == RNDIS_MSG_PACKET;
	if (!direct) {
		if (stream_read(&st, 0, c->txbuf, st.len) < 0) {
			pthread_rwlock_unlock(&nv->buf_lock);
			done.status = NVSP_STAT_FAIL;
			goto complete;
		}
		pthread_rwlock_unlock(&nv->buf_lock);
	}
	if (!direct && st.len >= RNDIS_HEADER_SIZE && get32(c->txbuf) != RNDIS_MSG_PACKET) {
		if (vmbus_channel_reserve(c->ch, XFER1_LEN) < 0) {
			if (trans_id)
				vmbus_channel_unreserve(c->ch, NVSP_MESSAGE_SIZE);
			return VMBUS_PACKET_BUSY;
		}
		reserved_ctl = true;
	}
	while (st.len - pos >= RNDIS_HEADER_SIZE) {
		uint32_t type, mlen;

		if (direct) {
			if (stream_read(&st, pos, first, RNDIS_HEADER_SIZE) < 0) {
				done.status = NVSP_STAT_FAIL;
				break;
			}
			type = get32(first);
			mlen = get32(first + 4);
		} else {
			type = get32(c->txbuf + pos);
			mlen = get32(c->txbuf + pos + 4);
		}
		if (mlen < RNDIS_HEADER_SIZE || mlen > st.len - pos) {
			atomic_fetch_add(&nv->bad_packets, 1);
			nv_guest_error(nv, "RNDIS message length %u in a %zu-byte stream", mlen,
				       st.len - pos);
			done.status = NVSP_STAT_INVALID_RNDIS_PKT;
			break;
		}
		if (type == RNDIS_MSG_PACKET) {
			uint32_t r = direct ? tx_packet_direct(c, &st, pos, mlen)
					    : tx_packet(c, c->txbuf + pos, mlen);

			if (r != NVSP_STAT_SUCCESS)
				done.status = r;
		} else if (reserved_ctl && !control_done) {
			tx_control(c, c->txbuf + pos, mlen);
			control_done = true;
		} else {
			atomic_fetch_add(&nv->bad_packets, 1);
			nv_guest_error(nv, "RNDIS message %#x after the stream's first", type);
			done.status = NVSP_STAT_INVALID_RNDIS_PKT;
		}
		pos += mlen;
	}
	if (direct)
		pthread_rwlock_unlock(&nv->buf_lock);
	if (reserved_ctl && !control_done)
		vmbus_channel_unreserve(c->ch, XFER1_LEN);
complete:
	if (trans_id && nv_complete(c, trans_id, &done, sizeof(done)) < 0) {
		/* closed or broken: the guest is going away */
	}
	return VMBUS_PACKET_DONE;
}

/* --- Host -> guest --- */

static bool rx_filter_passes(struct netvsp *nv, const uint8_t *frame)
{
	uint32_t f = atomic_load(&nv->packet_filter);

	if (f & RNDIS_PACKET_TYPE_PROMISCUOUS)
		return true;
	if (frame[0] & 1) {
		static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

		if (!memcmp(frame, bcast, 6))
			return f & RNDIS_PACKET_TYPE_BROADCAST;
		return f & (RNDIS_PACKET_TYPE_ALL_MULTICAST | RNDIS_PACKET_TYPE_MULTICAST);
	}
	return (f & RNDIS_PACKET_TYPE_DIRECTED) && !memcmp(frame, nv->cfg.mac, 6);
}

/*
 * A large TCP frame (GSO vnet header) as one RSC receive (docs/network.md "RSC"): the frame
 * is cut into pieces, each an RNDIS PACKET in its own receive section with the checksum PPI
 * and an RNDIS_PKTINFO_ID PPI (SUBALLOC; first and last piece marked), announced together
 * by one xfer-page packet of as many ranges, in order: Linux's netvsc_receive walks the
 * ranges and rsc_add_data concatenates the pieces into one skb (rndis_filter.c). Each range
 * fits a section (netvsc_receive drops a range larger than recv_section_size). Read lock
 * held. 0, -ENOBUFS (waits for sections), -EAGAIN (waits for ring room), -ECANCELED
 * (dropped, counted in drop_rx_gso), -EPROTO.
 */
static int rx_deliver_rsc(struct nv_channel *c, const struct tap_vnet_hdr *h, uint8_t *frame,
			  size_t flen)
{
	struct netvsp *nv = c->nv;
	unsigned want =
		(h->gso_type & ~TAP_VNET_GSO_ECN) == TAP_VNET_GSO_TCPV6 ? NV_RSC_V6 : NV_RSC_V4;
	static _Thread_local struct vmbus_xfer_range ranges[NVSP_RSC_MAX];
	uint8_t msg[NVSP_MESSAGE_SIZE] = {0};
	struct nvsp_send_rndis_pkt m = {
		.msg_type = NVSP_MSG1_TYPE_SEND_RNDIS_PKT,
		.channel_type = NVSP_RNDIS_CHANNEL_DATA,
		.send_buf_section_index = NVSP_INVALID_SECTION_INDEX,
	};
	uint8_t hdr[NV_RX_HEADROOM];
	uint32_t csum, segments, hl, chunk, n, i, x;
	size_t pos = 0;
	int64_t s;
	int e;

	/*
	 * The guest turned RSC off (or never on) while the TAP still handed over a large
	 * frame (the switch back to segments is not instantaneous): dropped; TCP resends.
	 */
	if (!(atomic_load(&nv->rsc) & want) ||
	    nv_offload_rx_rsc(h, frame, flen, &csum, &segments) < 0) {
		atomic_fetch_add(&nv->drop_rx_gso, 1);
		return -ECANCELED;
	}
	hl = (uint32_t)rndis_rsc_header_len(csum);
	chunk = nv->recv.section_size > hl ? nv->recv.section_size - hl : 0;
	n = chunk ? (uint32_t)((flen + chunk - 1) / chunk) : UINT32_MAX;
	/* More pieces than Linux reassembles, or than the buffer has outside its reserve. */
	if (n > NVSP_RSC_MAX || n + NV_RX_CONTROL_RESERVE > nv->recv.sections) {
		atomic_fetch_add(&nv->drop_rx_gso, 1);
		return -ECANCELED;
	}
	s = rx_alloc(c, false, n);
	if (s < 0)
		return -ENOBUFS;
	pthread_mutex_lock(&nv->rx_lock);
	for (i = 0, x = (uint32_t)s; i < n; i++, x = nv->rx_next[x])
		ranges[i].byte_offset = x * nv->recv.section_size;
	pthread_mutex_unlock(&nv->rx_lock);
	for (i = 0; i < n; i++) {
		uint32_t piece = (uint32_t)MIN((size_t)chunk, flen - pos);
		uint8_t flag = RNDIS_PKTINFO_SUBALLOC;

		if (i == 0)
			flag |= RNDIS_PKTINFO_1ST_FRAG;
		if (i == n - 1)
			flag |= RNDIS_PKTINFO_LAST_FRAG;
		rndis_build_rsc_header(hdr, hl, piece, csum, flag, c->rsc_id);
		buf_copy(&nv->recv, ranges[i].byte_offset, NULL, hdr, hl);
		buf_copy(&nv->recv, ranges[i].byte_offset + hl, NULL, frame + pos, piece);
		ranges[i].byte_count = hl + piece;
		pos += piece;
	}
	memcpy(msg, &m, sizeof(m));
	e = vmbus_channel_send_xfer_pages(c->ch, VMBUS_PKT_FLAG_COMPLETION_REQUESTED,
					  (uint64_t)s + 1, nv->recv.id, ranges, n, msg, sizeof(msg),
					  false);
	if (e < 0) {
		rx_release(c, (uint64_t)s);
		return e == -EAGAIN ? -EAGAIN : -EPROTO;
	}
	c->rsc_id++;
	atomic_fetch_add(&nv->rx_rsc, 1);
	atomic_fetch_add(&nv->rx_rsc_segments, segments);
	return 0;
}

/*
 * Delivers c->rxframe: 0, or -ENOBUFS / -EAGAIN (it waits), -ECANCELED (dropped and
 * counted), or -EPROTO (dropped).
 */
static int rx_deliver(struct nv_channel *c)
{
	struct netvsp *nv = c->nv;
	struct tap_vnet_hdr h;
	uint8_t *frame = c->rxframe + sizeof(h);
	size_t flen = c->rx_len - sizeof(h);
	size_t max = atomic_load(&nv->mtu) + ETH_HLEN + 4u;
	uint8_t hdr[NV_RX_HEADROOM];
	uint32_t csum;
	struct iovec parts[2];
	int64_t s;
	int e;

	memcpy(&h, c->rxframe, sizeof(h));
	if (flen > max && (h.gso_type & ~TAP_VNET_GSO_ECN) != TAP_VNET_GSO_NONE) {
		pthread_rwlock_rdlock(&nv->buf_lock);
		e = nv->recv.map.pages ? rx_deliver_rsc(c, &h, frame, flen) : -EPROTO;
		pthread_rwlock_unlock(&nv->buf_lock);
		if (e == 0) {
			atomic_fetch_add(&c->rx_packets, 1);
			atomic_fetch_add(&c->rx_bytes, flen);
		}
		return e;
	}
	if (flen > max || nv_offload_rx(&h, frame, flen, &csum) < 0)
		return -EPROTO;
	pthread_rwlock_rdlock(&nv->buf_lock);
	if (!nv->recv.map.pages || NV_RX_HEADROOM + flen > nv->recv.section_size) {
		pthread_rwlock_unlock(&nv->buf_lock);
		return -EPROTO;
	}
	s = rx_alloc(c, false, 1);
	if (s < 0) {
		pthread_rwlock_unlock(&nv->buf_lock);
		return -ENOBUFS;
	}
	rndis_build_rx_header(hdr, (uint32_t)rndis_rx_header_len(csum), (uint32_t)flen, csum);
	parts[0] = (struct iovec){.iov_base = hdr, .iov_len = rndis_rx_header_len(csum)};
	parts[1] = (struct iovec){.iov_base = frame, .iov_len = flen};
	e = rx_send_section(c, s, parts, 2, false, false);
	pthread_rwlock_unlock(&nv->buf_lock);
	if (e < 0) {
		rx_release(c, (uint64_t)s);
		return e == -EAGAIN ? -EAGAIN : -EPROTO;
	}
	atomic_fetch_add(&c->rx_packets, 1);
	atomic_fetch_add(&c->rx_bytes, flen);
	return 0;
}

static void rx_stop_polling(struct nv_channel *c)
{
	if (c->tap_handle >= 0)
		vmbus_channel_remove_fd(c->ch, c->tap_handle);
	c->tap_handle = -1;
}

/*
 * The channel the guest's RSS table gives for the frame in c->rxframe, or c's own index
 * (no table, nothing to hash). A table entry is a channel number (rndis_filter.c
 * rndis_set_rss_param_msg); the index is the hash's low bits (NDIS: modulo the table size).
 */
static unsigned rss_target(struct nv_channel *c)
{
	struct netvsp *nv = c->nv;
	const uint8_t *frame = c->rxframe + sizeof(struct tap_vnet_hdr);
	size_t len = c->rx_len - sizeof(struct tap_vnet_hdr);
	unsigned target = c->index;
	uint32_t hash;

	if (!atomic_load(&nv->rss_on))
		return target;
	pthread_mutex_lock(&nv->ctl_lock);
	if (nv->rndis.rss_entries && rss_frame_hash(nv->rndis.rss_hashinfo, nv->rndis.rss_key,
						    nv->rndis.rss_key_size, frame, len, &hash) == 0)
		target = nv->rndis.rss_table[hash % nv->rndis.rss_entries];
	pthread_mutex_unlock(&nv->ctl_lock);
	return target;
}

/*
 * Moves c->rxframe to channel t's handoff queue and wakes t's loop. False when t is not an
 * open channel (c delivers the frame itself). A full queue drops the frame (counted).
 */
static bool rx_hand_off(struct nv_channel *c, unsigned t)
{
	struct netvsp *nv = c->nv;
	struct nv_channel *to;
	bool moved = false;

	pthread_mutex_lock(&nv->lock);
	to = t < nv->nchans ? nv->chans[t] : NULL;
	if (to && !to->stale) {
		pthread_mutex_lock(&to->handoff_lock);
		if (to->handoff_open) {
			uint8_t *copy = to->handoff_n < NV_HANDOFF_MAX ? malloc(c->rx_len) : NULL;

			moved = true;
			if (copy) {
				unsigned slot = (to->handoff_head + to->handoff_n) % NV_HANDOFF_MAX;

				memcpy(copy, c->rxframe, c->rx_len);
				to->handoff_frame[slot] = copy;
				to->handoff_len[slot] = c->rx_len;
				to->handoff_n++;
				atomic_fetch_add(&nv->rx_steered, 1);
			} else {
				atomic_fetch_add(&nv->drop_rx_steer, 1);
			}
		}
		pthread_mutex_unlock(&to->handoff_lock);
		if (moved)
			vmbus_channel_wake(to->ch);
	}
	pthread_mutex_unlock(&nv->lock);
	return moved;
}

/* True when the frame just read into c->rxframe belongs to (and went to) another channel. */
static bool nv_rx_steer(struct nv_channel *c)
{
	unsigned t = rss_target(c);

	return t != c->index && rx_hand_off(c, t);
}

/* The frame in rxframe: delivered or dropped (true), or left waiting (false). */
static bool rx_one(struct nv_channel *c)
{
	struct netvsp *nv = c->nv;
	int e;

	if (!atomic_load(&nv->connected) || atomic_load(&nv->state) != NETVSP_READY ||
	    !rx_filter_passes(nv, c->rxframe + sizeof(struct tap_vnet_hdr))) {
		atomic_fetch_add(&nv->drop_rx_filtered, 1);
		return true;
	}
	e = rx_deliver(c);
	if (e == -ENOBUFS || e == -EAGAIN)
		return false;
	if (e < 0 && e != -ECANCELED)
		atomic_fetch_add(&nv->drop_rx_no_buffer, 1);
	return true;
}

void nv_data_rx_ready(void *opaque, struct vmbus_channel *ch)
{
	struct nv_channel *c = opaque;
	unsigned i;

	for (i = 0; i < RX_BUDGET; i++) {
		ssize_t n;

		if (!c->rx_pending) {
			n = read(c->tap_fd, c->rxframe,
				 sizeof(struct tap_vnet_hdr) + NV_RX_FRAME_MAX);
			if (n < 0)
				return; /* EAGAIN: the queue is empty */
			if ((size_t)n < sizeof(struct tap_vnet_hdr) + ETH_HLEN)
				continue;
			c->rx_len = (size_t)n;
			if (nv_rx_steer(c))
				continue;
		}
		c->rx_pending = !rx_one(c);
		if (c->rx_pending) {
			/* Back when a section or the ring's room comes (nv_data_wake). */
			rx_stop_polling(c);
			return;
		}
	}
	/* Budget spent: more may wait; the fd is level-triggered, so the loop comes back. */
}

/*
 * Delivers the frames other channels handed to c, oldest first, into c->rxframe one by
 * one. False when one is left waiting (rx_pending) for a section or ring room.
 */
static bool rx_drain_handoff(struct nv_channel *c)
{
	for (;;) {
		uint8_t *f;

		pthread_mutex_lock(&c->handoff_lock);
		if (!c->handoff_n) {
			pthread_mutex_unlock(&c->handoff_lock);
			return true;
		}
		f = c->handoff_frame[c->handoff_head];
		c->rx_len = c->handoff_len[c->handoff_head];
		c->handoff_head = (c->handoff_head + 1) % NV_HANDOFF_MAX;
		c->handoff_n--;
		pthread_mutex_unlock(&c->handoff_lock);
		memcpy(c->rxframe, f, c->rx_len);
		free(f);
		c->rx_pending = !rx_one(c);
		if (c->rx_pending)
			return false;
	}
}

void nv_data_wake(struct nv_channel *c)
{
	int h;

	if (!c->open)
		return;
	if (c->rx_pending) {
		c->rx_pending = !rx_one(c);
		if (c->rx_pending)
			return;
	}
	if (!rx_drain_handoff(c)) {
		rx_stop_polling(c);
		return;
	}
	if (c->tap_handle >= 0)
		return;
	h = vmbus_channel_add_fd(c->ch, c->tap_fd, nv_data_rx_ready, c);
	if (h >= 0)
		c->tap_handle = h;
}

int nv_data_channel_open(struct nv_channel *c)
{
	int h;

	if (!c->txbuf)
		c->txbuf = malloc(NV_TX_STREAM_MAX);
	if (!c->rxframe)
		c->rxframe = malloc(sizeof(struct tap_vnet_hdr) + NV_RX_FRAME_MAX);
	if (!c->txbuf || !c->rxframe)
		return -ENOMEM;
	if (c->nv->cfg.ntap > 1 && tap_queue_attach(c->tap_fd, true) < 0) {
		/* already attached (the first open of this queue) */
	}
	h = vmbus_channel_add_fd(c->ch, c->tap_fd, nv_data_rx_ready, c);
	if (h < 0)
		return h;
	c->tap_handle = h;
	c->rx_pending = false;
	c->open = true;
	pthread_mutex_lock(&c->handoff_lock);
	c->handoff_open = true;
	pthread_mutex_unlock(&c->handoff_lock);
	return 0;
}

void nv_data_channel_closed(struct nv_channel *c)
{
	struct netvsp *nv = c->nv;
	uint32_t i, lost = 0;

	c->open = false;
	c->tap_handle = -1; /* the loop dropped its fds */
	c->rx_pending = false;
	/* Frames handed to it and not delivered: the guest closed the channel, they are lost. */
	pthread_mutex_lock(&c->handoff_lock);
	c->handoff_open = false;
	while (c->handoff_n) {
		free(c->handoff_frame[c->handoff_head]);
		c->handoff_head = (c->handoff_head + 1) % NV_HANDOFF_MAX;
		c->handoff_n--;
		atomic_fetch_add(&nv->drop_rx_steer, 1);
	}
	pthread_mutex_unlock(&c->handoff_lock);
	/* Sub-channel queues leave the TAP, so the kernel does not steer frames to them. */
	if (c->index && nv->cfg.ntap > 1 && tap_queue_attach(c->tap_fd, false) < 0) {
		/* not attached */
	}
	/* Sections this channel's guest side never completed: it cannot any more. */
	pthread_mutex_lock(&nv->rx_lock);
	for (i = 0; nv->rx_owner && i < nv->rx_count; i++)
		if (NV_RX_OWNER(nv->rx_owner[i]) == c->index + 1) {
			nv->rx_owner[i] = NV_RX_FREE;
			nv->rx_next[i] = NV_RX_END;
			nv->rx_free[nv->rx_nfree++] = i;
			lost++;
		}
	pthread_mutex_unlock(&nv->rx_lock);
	atomic_fetch_add(&nv->unreleased, lost);
}

/* The guest-side netvsc for tests and benchmarks (netvsc_client.h). */
#include "netvsc_client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/compiler.h"

#define PAGE 4096u
/* Transaction id spaces (per channel): what a host completion answers. */
#define TID_CONTROL (UINT64_C(1) << 40)
#define TID_SECTION (UINT64_C(2) << 40)
#define TID_SLOT    (UINT64_C(3) << 40)
#define TID_INIT    (UINT64_MAX - 2) /* Linux's VMBUS_RQST_INIT */
#define TID_KIND(t) ((t) & ~((UINT64_C(1) << 40) - 1))
#define SLOTS	    16u
#define SLOT_PAGES  (NETVSC_CLIENT_MAX_FRAME / PAGE + 2)
#define KEPT	    64u
#define HELD_MAX    4096u

static const uint32_t linux_versions[] = {
	NVSP_PROTOCOL_VERSION_61, NVSP_PROTOCOL_VERSION_6, NVSP_PROTOCOL_VERSION_5,
	NVSP_PROTOCOL_VERSION_4,  NVSP_PROTOCOL_VERSION_2, NVSP_PROTOCOL_VERSION_1,
};

struct nc_chan {
	struct netvsc_client *nc;
	unsigned index;
	struct vmbus_client_channel *vch;
	uint64_t slot_gpa[SLOTS];
	bool slot_busy[SLOTS];
	unsigned inflight;
	/* The last completion of a raw or init request. */
	uint64_t want_tid;
	bool got;
	uint8_t comp[64];
	size_t comp_len;
	/* The coalesced frame being reassembled (Linux's struct nvsc_rsc). */
	uint8_t *rsc_buf; /* NETVSC_CLIENT_MAX_FRAME */
	size_t rsc_len;
	uint32_t rsc_cnt, rsc_csum;
	bool rsc_is_last; /* the range being parsed is the packet's last */
};

struct kept_frame {
	size_t len;
	uint32_t csum;
	uint8_t data[NETVSC_CLIENT_MAX_FRAME];
};

struct netvsc_client {
	struct vmbus_client *vc;
	struct netvsc_client_config cfg;
	struct vmbus_msg_offer_channel offer;
	uint32_t version;
	uint8_t mac[6];
	struct ndis_offload hwcaps;
	unsigned nch;
	struct nc_chan ch[NETVSC_CLIENT_MAX_CHANNELS];
	/* Buffers. */
	uint64_t recv_gpa, send_gpa;
	uint32_t recv_gpadl, send_gpadl, relid;
	uint32_t recv_size, send_size;
	uint32_t recv_section, send_section, send_count;
	bool *send_busy;
	/* RNDIS control (primary only). */
	uint64_t ctl_gpa;
	uint32_t req_id;
	bool reply_got;
	uint8_t reply[4096];
	size_t reply_len;
	uint32_t reply_req;
	/* Received frames kept, and held receive packets. */
	struct kept_frame *kept;
	unsigned kept_head, kept_n;
	uint64_t held[HELD_MAX];
	unsigned held_chan[HELD_MAX];
	unsigned nheld;
	uint8_t *pkt; /* one host packet */
	struct netvsc_client_stats st;
};

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/* --- Receiving --- */

static void rx_rndis(struct netvsc_client *nc, unsigned chan, const uint8_t *m, uint32_t len)
{
	uint32_t type = get32(m), mlen = get32(m + 4);

	if (mlen < 8 || mlen > len) {
		nc->st.bad++;
		return;
	}
	switch (type) {
	case RNDIS_MSG_PACKET: {
		struct rndis_packet p;
		uint32_t csum = 0, off, pos, idflag = 0;
		bool has_csum = false, has_id = false, more = false;
		struct nc_chan *c = &nc->ch[chan];

		if (mlen < 8 + sizeof(p)) {
			nc->st.bad++;
			return;
		}
		memcpy(&p, m + 8, sizeof(p));
		/* The checks rndis_filter_receive_data makes. */
		if (p.data_offset >= mlen - 8 || mlen - 8 - p.data_offset < p.data_len) {
			nc->st.bad++;
			return;
		}
		for (pos = 0; pos + 12 <= p.per_pkt_info_len; pos += get32(m + 8 + off)) {
			uint32_t ptype, poff;

			off = p.per_pkt_info_offset + pos;
			if (off + 12 > mlen - 8 || get32(m + 8 + off) < 12) {
				nc->st.bad++;
				return;
			}
			ptype = get32(m + 8 + off + 4);
			poff = get32(m + 8 + off + 8);
			/* rndis_get_ppi: the payload lies inside the PPI and the message. */
			if (poff > get32(m + 8 + off) || get32(m + 8 + off) - poff < 4 ||
			    off + poff + 4 > mlen - 8)
				continue;
			if (ptype == NDIS_PPI_TCPIP_CHKSUM) {
				csum = get32(m + 8 + off + poff);
				has_csum = true;
			} else if (ptype == NDIS_PPI_RNDIS_PKTINFO_ID) {
				idflag = m[8 + off + poff + 1];
				has_id = true;
			}
		}
		/* rndis_filter_receive_data: identify RSC pieces, drop broken sequences. */
		if (has_id && (idflag & RNDIS_PKTINFO_SUBALLOC)) {
			if (idflag & RNDIS_PKTINFO_1ST_FRAG)
				c->rsc_cnt = 0;
			else if (c->rsc_cnt == 0)
				goto drop;
			more = !(idflag & RNDIS_PKTINFO_LAST_FRAG);
			if (more && c->rsc_is_last)
				goto drop;
		} else {
			c->rsc_cnt = 0;
		}
		if (!c->rsc_buf || c->rsc_cnt >= NVSP_RSC_MAX ||
		    (c->rsc_cnt && c->rsc_len + p.data_len > NETVSC_CLIENT_MAX_FRAME) ||
		    p.data_len > NETVSC_CLIENT_MAX_FRAME)
			goto drop;
		/* rsc_add_data: the first piece's checksum info stands for the frame. */
		if (c->rsc_cnt == 0) {
			c->rsc_len = 0;
			c->rsc_csum = has_csum ? csum : 0;
		}
		memcpy(c->rsc_buf + c->rsc_len, m + 8 + p.data_offset, p.data_len);
		c->rsc_len += p.data_len;
		c->rsc_cnt++;
		if (more)
			return;
		if (c->rsc_cnt > 1) {
			nc->st.rx_rsc++;
			nc->st.rx_rsc_pieces += c->rsc_cnt;
		}
		c->rsc_cnt = 0;
		nc->st.rx_frames++;
		if (nc->cfg.on_frame) {
			nc->cfg.on_frame(nc->cfg.opaque, chan, c->rsc_buf, c->rsc_len, c->rsc_csum);
		} else if (nc->kept_n < KEPT && c->rsc_len <= sizeof(nc->kept[0].data)) {
			struct kept_frame *k = &nc->kept[(nc->kept_head + nc->kept_n++) % KEPT];

			k->len = c->rsc_len;
			k->csum = c->rsc_csum;
			memcpy(k->data, c->rsc_buf, c->rsc_len);
		} else {
			nc->st.rx_dropped++;
		}
		return;
	drop:
		/* A Linux guest drops it too and answers the packet with NVSP_STAT_FAIL. */
		c->rsc_cnt = 0;
		nc->st.bad++;
		nc->st.rx_dropped++;
		return;
	}
	case RNDIS_MSG_INIT_C:
	case RNDIS_MSG_QUERY_C:
	case RNDIS_MSG_SET_C:
	case RNDIS_MSG_KEEPALIVE_C:
		if (mlen < 12 || mlen > sizeof(nc->reply)) {
			nc->st.bad++;
			return;
		}
		memcpy(nc->reply, m, mlen);
		nc->reply_len = mlen;
		nc->reply_req = get32(m + 8);
		nc->reply_got = true;
		return;
	case RNDIS_MSG_INDICATE:
		nc->st.indications++;
		if (mlen >= 12 && get32(m + 8) == RNDIS_STATUS_MEDIA_CONNECT)
			nc->st.link_up++;
		if (mlen >= 12 && get32(m + 8) == RNDIS_STATUS_MEDIA_DISCONNECT)
			nc->st.link_down++;
		return;
	default: nc->st.bad++; return;
	}
}

static int complete_rx(struct nc_chan *c, uint64_t tid)
{
	uint8_t m[8] = {0};
	uint32_t t = NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE, st = NVSP_STAT_SUCCESS;

	memcpy(m, &t, 4);
	memcpy(m + 4, &st, 4);
	return vmbus_client_send(c->vch, VMBUS_PKT_COMP, 0, tid, m, sizeof(m));
}

static void rx_xfer(struct nc_chan *c, const struct vmbus_packet_desc *d, const uint8_t *raw,
		    size_t len)
{
	struct netvsc_client *nc = c->nc;
	struct vmbus_xfer_page_header h;
	size_t off = d->offset8 * 8u;
	uint32_t i;

	if (off < 24 || off > len || len - off < 4 ||
	    get32(raw + off) != NVSP_MSG1_TYPE_SEND_RNDIS_PKT) {
		nc->st.bad++;
		return;
	}
	memcpy(&h, raw + 16, sizeof(h));
	if (h.xfer_pageset_id != NETVSC_RECEIVE_BUFFER_ID || 24 + 8 * (size_t)h.range_cnt > off) {
		nc->st.bad++;
		return;
	}
	nc->st.rx_packets++;
	for (i = 0; i < h.range_cnt; i++) {
		uint32_t cnt = get32(raw + 24 + 8 * i), boff = get32(raw + 28 + 8 * i);
		uint8_t *m;

		if (boff > nc->recv_size || cnt > nc->recv_size - boff || cnt > nc->recv_section ||
		    cnt < 8) {
			nc->st.bad++;
			continue;
		}
		m = guest_memory_ptr(vmbus_client_memory(nc->vc), nc->recv_gpa + boff, cnt);
		c->rsc_is_last = i == h.range_cnt - 1u;
		if (m)
			rx_rndis(nc, c->index, m, cnt);
	}
	if (nc->cfg.hold_rx && nc->nheld < HELD_MAX) {
		nc->held_chan[nc->nheld] = c->index;
		nc->held[nc->nheld++] = d->trans_id;
		return;
	}
	while (complete_rx(c, d->trans_id) == -EAGAIN)
		; /* the host drains its side on its own thread */
}

static void on_completion(struct nc_chan *c, uint64_t tid, const uint8_t *data, size_t len)
{
	struct netvsc_client *nc = c->nc;
	uint64_t kind = TID_KIND(tid), n = tid - kind;

	if ((kind == TID_SECTION || kind == TID_SLOT) && c->inflight) {
		if (kind == TID_SECTION && n < nc->send_count)
			nc->send_busy[n] = false;
		if (kind == TID_SLOT && n < SLOTS)
			c->slot_busy[n] = false;
		c->inflight--;
		nc->st.tx_completed++;
		if (len < 8 || get32(data + 4) != NVSP_STAT_SUCCESS)
			nc->st.tx_failed++;
		if (c->want_tid != tid)
			return;
	}
	if (tid == c->want_tid) {
		c->got = true;
		c->comp_len = MIN(len, sizeof(c->comp));
		memcpy(c->comp, data, c->comp_len);
	}
}

static void on_inband(struct nc_chan *c, const uint8_t *data, size_t len)
{
	struct netvsc_client *nc = c->nc;
	uint32_t cnt, off;

	if (len < 12 || get32(data) != NVSP_MSG5_TYPE_SEND_INDIRECTION_TABLE) {
		nc->st.bad++;
		return;
	}
	cnt = get32(data + 4);
	off = get32(data + 8);
	if (cnt != NVSP_SEND_INDIRECTION_TABLE_ENTRIES || off > len || len - off < 4 * cnt) {
		nc->st.bad++;
		return;
	}
	memcpy(nc->st.send_table, data + off, 4 * cnt);
	nc->st.tables++;
}

static int handle_one(struct nc_chan *c)
{
	struct netvsc_client *nc = c->nc;
	struct vmbus_packet_desc d;
	size_t len = 65536;
	int r = vmbus_client_recv_raw(c->vch, &d, nc->pkt, &len);
	size_t off;

	if (r < 0)
		return r;
	off = d.offset8 * 8u;
	switch (d.type) {
	case VMBUS_PKT_COMP: on_completion(c, d.trans_id, nc->pkt + off, len - off); break;
	case VMBUS_PKT_DATA_USING_XFER_PAGES: rx_xfer(c, &d, nc->pkt, len); break;
	case VMBUS_PKT_DATA_INBAND: on_inband(c, nc->pkt + off, len - off); break;
	default: nc->st.bad++; break;
	}
	return 0;
}

int netvsc_client_poll(struct netvsc_client *nc, unsigned chan, unsigned timeout_ms)
{
	struct nc_chan *c;
	int n = 0, r;

	if (chan >= nc->nch)
		return -EINVAL;
	c = &nc->ch[chan];
	for (;;) {
		r = handle_one(c);
		if (r == 0) {
			n++;
			continue;
		}
		if (r != -EAGAIN)
			return r;
		if (n || timeout_ms == 0)
			return n;
		if (vmbus_client_wait_event(c->vch, timeout_ms) < 0)
			return 0;
		timeout_ms = 0; /* drain what the signal announced, then return */
	}
}

/* Polls chan until *flag or the timeout. */
static int wait_for(struct netvsc_client *nc, unsigned chan, bool *flag, unsigned timeout_ms)
{
	unsigned waited = 0;

	while (!*flag) {
		int r = netvsc_client_poll(nc, chan, 10);

		if (r < 0)
			return r;
		if (r == 0 && (waited += 10) >= timeout_ms)
			return -ETIMEDOUT;
	}
	return 0;
}

int netvsc_client_send_nvsp(struct netvsc_client *nc, unsigned chan, const void *msg, size_t len,
			    uint64_t trans_id)
{
	if (chan >= nc->nch)
		return -EINVAL;
	nc->ch[chan].want_tid = trans_id;
	nc->ch[chan].got = false;
	return vmbus_client_send(nc->ch[chan].vch, VMBUS_PKT_DATA_INBAND,
				 trans_id ? VMBUS_PKT_FLAG_COMPLETION_REQUESTED : 0, trans_id, msg,
				 len);
}

int netvsc_client_wait_completion(struct netvsc_client *nc, unsigned chan, uint64_t trans_id,
				  void *buf, size_t *len, unsigned timeout_ms)
{
	struct nc_chan *c = &nc->ch[chan];
	int r;

	c->want_tid = trans_id;
	r = wait_for(nc, chan, &c->got, timeout_ms);
	if (r < 0)
		return r;
	c->got = false;
	if (buf) {
		*len = MIN(*len, c->comp_len);
		memcpy(buf, c->comp, *len);
	}
	return 0;
}

/* An NVSP request on the primary and its completion (40 bytes back into msg). */
static int nvsp_call(struct netvsc_client *nc, unsigned chan, void *msg, size_t len)
{
	size_t n = NVSP_MESSAGE_SIZE;
	uint8_t out[NVSP_MESSAGE_SIZE] = {0};
	int r = netvsc_client_send_nvsp(nc, chan, msg, len, TID_INIT);

	if (r < 0)
		return r;
	r = netvsc_client_wait_completion(nc, chan, TID_INIT, out, &n, nc->cfg.timeout_ms);
	if (r == 0)
		memcpy(msg, out, MIN(n, (size_t)NVSP_MESSAGE_SIZE));
	return r;
}

/* --- RNDIS control --- */

int netvsc_client_control_raw(struct netvsc_client *nc, const void *msg, size_t len,
			      bool want_reply, void *reply, size_t *reply_len)
{
	struct nc_chan *c = &nc->ch[0];
	struct nvsp_send_rndis_pkt m = {
		.msg_type = NVSP_MSG1_TYPE_SEND_RNDIS_PKT,
		.channel_type = NVSP_RNDIS_CHANNEL_CONTROL,
		.send_buf_section_index = NVSP_INVALID_SECTION_INDEX,
	};
	uint64_t pfn = nc->ctl_gpa / PAGE, tid = TID_CONTROL | ++nc->req_id;
	int r;

	if (len > PAGE || len < 8)
		return -EINVAL;
	if (guest_memory_write(vmbus_client_memory(nc->vc), nc->ctl_gpa, msg, len) < 0)
		return -EFAULT;
	nc->reply_got = false;
	c->want_tid = tid;
	c->got = false;
	r = vmbus_client_send_gpa_direct(c->vch, VMBUS_PKT_FLAG_COMPLETION_REQUESTED, tid, 0,
					 (uint32_t)len, &pfn, 1, &m, sizeof(m));
	if (r < 0)
		return r;
	r = wait_for(nc, 0, &c->got, nc->cfg.timeout_ms);
	if (r == 0 && want_reply)
		r = wait_for(nc, 0, &nc->reply_got, nc->cfg.timeout_ms);
	if (r == 0 && want_reply && reply) {
		*reply_len = MIN(*reply_len, nc->reply_len);
		memcpy(reply, nc->reply, *reply_len);
	}
	return r;
}

static int rndis_request(struct netvsc_client *nc, uint32_t type, uint32_t oid, const void *data,
			 size_t dlen, uint8_t *reply, size_t *rlen)
{
	/* Linux's largest SET: RSS parameters with a 128-entry table and the key (620 bytes). */
	uint8_t msg[1024] = {0};
	uint32_t hdr[2], body[5];
	size_t len = 8 + sizeof(body) + dlen;
	uint32_t id = nc->req_id + 1;
	int r;

	if (len > sizeof(msg))
		return -EINVAL;
	hdr[0] = type;
	hdr[1] = (uint32_t)len;
	body[0] = id;
	body[1] = oid;
	body[2] = (uint32_t)dlen;
	body[3] = dlen ? (uint32_t)sizeof(body) : 0;
	body[4] = 0;
	memcpy(msg, hdr, 8);
	memcpy(msg + 8, body, sizeof(body));
	if (dlen)
		memcpy(msg + 8 + sizeof(body), data, dlen);
	r = netvsc_client_control_raw(nc, msg, len, true, reply, rlen);
	if (r == 0 && (*rlen < 16 || get32(reply + 8) != id))
		return -EPROTO;
	return r;
}

int netvsc_client_query(struct netvsc_client *nc, uint32_t oid, void *buf, size_t *len,
			uint32_t *status)
{
	uint8_t reply[4096];
	size_t rlen = sizeof(reply);
	uint32_t blen, boff;
	int r = rndis_request(nc, RNDIS_MSG_QUERY, oid, NULL, 0, reply, &rlen);

	if (r < 0)
		return r;
	if (rlen < 24 || get32(reply) != RNDIS_MSG_QUERY_C)
		return -EPROTO;
	*status = get32(reply + 12);
	blen = get32(reply + 16);
	boff = get32(reply + 20);
	/* The checks rndis_filter_query_device makes. */
	if (blen > *len || boff < 16 || rlen - 8 < boff || rlen - 8 - boff < blen)
		return -EPROTO;
	memcpy(buf, reply + 8 + boff, blen);
	*len = blen;
	return 0;
}

int netvsc_client_set(struct netvsc_client *nc, uint32_t oid, const void *buf, size_t len,
		      uint32_t *status)
{
	uint8_t reply[256];
	size_t rlen = sizeof(reply);
	int r = rndis_request(nc, RNDIS_MSG_SET, oid, buf, len, reply, &rlen);

	if (r < 0)
		return r;
	if (rlen < 16 || get32(reply) != RNDIS_MSG_SET_C)
		return -EPROTO;
	*status = get32(reply + 12);
	return 0;
}

/* --- Handshake --- */

static int nvsp_init(struct netvsc_client *nc)
{
	const uint32_t *v = nc->cfg.versions ? nc->cfg.versions : linux_versions;
	unsigned n = nc->cfg.versions ? nc->cfg.nversions : ARRAY_SIZE(linux_versions), i;

	for (i = 0; i < n; i++) {
		struct nvsp_init m = {NVSP_MSG_TYPE_INIT, v[i], v[i]};
		uint8_t buf[NVSP_MESSAGE_SIZE] = {0};
		struct nvsp_init_complete c;
		int r;

		memcpy(buf, &m, sizeof(m));
		r = nvsp_call(nc, 0, buf, sizeof(buf));
		if (r < 0)
			return r;
		memcpy(&c, buf, sizeof(c));
		if (c.msg_type == NVSP_MSG_TYPE_INIT_COMPLETE && c.status == NVSP_STAT_SUCCESS) {
			nc->version = v[i];
			return 0;
		}
	}
	return -EPROTO;
}

static int send_config(struct netvsc_client *nc)
{
	struct nvsp_send_ndis_ver ver = {NVSP_MSG1_TYPE_SEND_NDIS_VER, 6,
					 nc->version > NVSP_PROTOCOL_VERSION_4 ? 30u : 1u};
	uint8_t buf[NVSP_MESSAGE_SIZE] = {0};
	int r;

	if (nc->version >= NVSP_PROTOCOL_VERSION_2) {
		struct nvsp_send_ndis_config cfg = {.msg_type = NVSP_MSG2_TYPE_SEND_NDIS_CONFIG,
						    .mtu = nc->cfg.mtu + 14};

		cfg.capability[0] = NDIS_CONFIG_CAP_8021Q;
		if (nc->version >= NVSP_PROTOCOL_VERSION_5)
			cfg.capability[0] |= NDIS_CONFIG_CAP_TEAMING;
		memcpy(buf, &cfg, sizeof(cfg));
		r = netvsc_client_send_nvsp(nc, 0, buf, sizeof(buf), 0);
		if (r < 0)
			return r;
	}
	memset(buf, 0, sizeof(buf));
	memcpy(buf, &ver, sizeof(ver));
	return netvsc_client_send_nvsp(nc, 0, buf, sizeof(buf), 0);
}

static int buffers(struct netvsc_client *nc)
{
	uint32_t relid = nc->relid = vmbus_client_channel_relid(nc->ch[0].vch);
	struct nvsp_send_buf m = {.msg_type = NVSP_MSG1_TYPE_SEND_RECV_BUF,
				  .id = NETVSC_RECEIVE_BUFFER_ID};
	struct nvsp_send_recv_buf_complete rc;
	struct nvsp_send_send_buf_complete sc;
	uint8_t buf[NVSP_MESSAGE_SIZE];
	int r;

	nc->recv_size = nc->cfg.recv_buf_pages * PAGE;
	nc->recv_gpa = vmbus_client_alloc(nc->vc, nc->cfg.recv_buf_pages);
	r = vmbus_client_gpadl_create(nc->vc, relid, nc->recv_gpa, nc->cfg.recv_buf_pages,
				      &nc->recv_gpadl);
	if (r != 0)
		return r < 0 ? r : -EPROTO;
	m.gpadl_handle = nc->recv_gpadl;
	memset(buf, 0, sizeof(buf));
	memcpy(buf, &m, sizeof(m));
	r = nvsp_call(nc, 0, buf, sizeof(buf));
	if (r < 0)
		return r;
	memcpy(&rc, buf, sizeof(rc));
	/* The checks netvsc_init_buf makes. */
	if (rc.status != NVSP_STAT_SUCCESS || rc.num_sections != 1 || rc.section.offset != 0 ||
	    rc.section.sub_alloc_size < 68 ||
	    (uint64_t)rc.section.sub_alloc_size * rc.section.num_sub_allocs > nc->recv_size)
		return -EPROTO;
	nc->recv_section = rc.section.sub_alloc_size;

	nc->send_size = nc->cfg.send_buf_pages * PAGE;
	nc->send_gpa = vmbus_client_alloc(nc->vc, nc->cfg.send_buf_pages);
	r = vmbus_client_gpadl_create(nc->vc, relid, nc->send_gpa, nc->cfg.send_buf_pages,
				      &nc->send_gpadl);
	if (r != 0)
		return r < 0 ? r : -EPROTO;
	m.msg_type = NVSP_MSG1_TYPE_SEND_SEND_BUF;
	m.gpadl_handle = nc->send_gpadl;
	m.id = NETVSC_SEND_BUFFER_ID;
	memset(buf, 0, sizeof(buf));
	memcpy(buf, &m, sizeof(m));
	r = nvsp_call(nc, 0, buf, sizeof(buf));
	if (r < 0)
		return r;
	memcpy(&sc, buf, sizeof(sc));
	if (sc.status != NVSP_STAT_SUCCESS || sc.section_size < 68)
		return -EPROTO;
	nc->send_section = sc.section_size;
	nc->send_count = nc->send_size / sc.section_size;
	nc->send_busy = calloc(nc->send_count, sizeof(bool));
	return nc->send_busy ? 0 : -ENOMEM;
}

static int rndis_setup(struct netvsc_client *nc)
{
	struct {
		uint32_t type, len, req_id, major, minor, max_xfer;
	} init = {RNDIS_MSG_INIT, 24, ++nc->req_id + 0, 1, 0, 0x4000};
	uint8_t reply[256];
	size_t rlen = sizeof(reply), n;
	struct ndis_offload_params op = {0};
	uint32_t st, filter, link;
	int r;

	nc->req_id--; /* control_raw takes the next id for the transaction */
	init.req_id = nc->req_id + 1;
	r = netvsc_client_control_raw(nc, &init, sizeof(init), true, reply, &rlen);
	if (r < 0)
		return r;
	if (rlen < 8 + sizeof(struct rndis_initialize_complete) ||
	    get32(reply) != RNDIS_MSG_INIT_C || get32(reply + 12) != RNDIS_STATUS_SUCCESS)
		return -EPROTO;
	n = 6;
	r = netvsc_client_query(nc, RNDIS_OID_802_3_PERMANENT_ADDRESS, nc->mac, &n, &st);
	if (r < 0 || st != RNDIS_STATUS_SUCCESS || n != 6)
		return r < 0 ? r : -EPROTO;
	n = sizeof(nc->hwcaps);
	r = netvsc_client_query(nc, OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES, &nc->hwcaps, &n, &st);
	/* rndis_filter_query_hwcaps's checks. */
	if (r < 0 || st != RNDIS_STATUS_SUCCESS || nc->hwcaps.header.type != 0xA7 ||
	    nc->hwcaps.header.size > n || nc->hwcaps.header.size < NDIS_OFFLOAD_SIZE_6_0)
		return r < 0 ? r : -EPROTO;
	op.header.type = NDIS_OBJECT_TYPE_DEFAULT;
	op.header.revision = 3;
	op.header.size = sizeof(op);
	op.ip_v4_csum = NDIS_OFFLOAD_PARAM_TX_RX_ENABLED;
	op.tcp_ip_v4_csum = op.udp_ip_v4_csum = NDIS_OFFLOAD_PARAM_TX_RX_ENABLED;
	op.lso_v2_ipv4 = NDIS_OFFLOAD_PARAM_LSOV2_ENABLED;
	/* rndis_netdev_set_hwcaps: RSC only when offered for both, on unless LRO is off. */
	if (nc->hwcaps.header.size > offsetof(struct ndis_offload, rsc_ip6) && nc->hwcaps.rsc_ip4 &&
	    nc->hwcaps.rsc_ip6) {
		nc->st.rsc = !nc->cfg.no_rsc;
		op.rsc_ip_v4 = op.rsc_ip_v6 = nc->st.rsc ? NDIS_OFFLOAD_PARAM_RSC_ENABLED
							 : NDIS_OFFLOAD_PARAM_RSC_DISABLED;
	}
	r = netvsc_client_set(nc, OID_TCP_OFFLOAD_PARAMETERS, &op,
			      nc->version >= NVSP_PROTOCOL_VERSION_5 ? sizeof(op)
								     : NDIS_OFFLOAD_PARAMS_SIZE_V4,
			      &st);
	if (r < 0 || st != RNDIS_STATUS_SUCCESS)
		return r < 0 ? r : -EPROTO;
	n = 4;
	r = netvsc_client_query(nc, RNDIS_OID_GEN_MEDIA_CONNECT_STATUS, &link, &n, &st);
	if (r < 0)
		return r;
	filter = RNDIS_PACKET_TYPE_DIRECTED | RNDIS_PACKET_TYPE_BROADCAST |
		 RNDIS_PACKET_TYPE_ALL_MULTICAST;
	r = netvsc_client_set(nc, RNDIS_OID_GEN_CURRENT_PACKET_FILTER, &filter, 4, &st);
	return r < 0 ? r : 0;
}

static int open_subchannels(struct netvsc_client *nc)
{
	struct nvsp_subchannel_request m = {NVSP_MSG5_TYPE_SUBCHANNEL, NVSP_SUBCHANNEL_ALLOCATE,
					    nc->cfg.subchannels};
	struct nvsp_subchannel_complete c;
	struct vmbus_msg_offer_channel o[NETVSC_CLIENT_MAX_CHANNELS];
	uint8_t buf[NVSP_MESSAGE_SIZE] = {0};
	unsigned i, n;
	int r;

	memcpy(buf, &m, sizeof(m));
	r = nvsp_call(nc, 0, buf, sizeof(buf));
	if (r < 0)
		return r;
	memcpy(&c, buf, sizeof(c));
	if (c.status != NVSP_STAT_SUCCESS || c.num_subchannels > nc->cfg.subchannels)
		return -EPROTO;
	n = MIN(c.num_subchannels, (uint32_t)NETVSC_CLIENT_MAX_CHANNELS - 1);
	/* Every offer first: the open sequences' own messages come after them. */
	for (i = 0; i < n; i++) {
		size_t len = sizeof(o[i]);

		r = vmbus_client_expect(nc->vc, VMBUS_MSG_OFFERCHANNEL, &o[i], &len,
					nc->cfg.timeout_ms);
		if (r < 0)
			return r;
		if (!guid_equal(&o[i].offer.if_instance, &nc->offer.offer.if_instance) ||
		    !o[i].offer.sub_channel_index)
			return -EPROTO;
	}
	for (i = 0; i < n; i++) {
		r = vmbus_client_open(nc->vc, &o[i], nc->cfg.ring_pages, nc->cfg.ring_pages, 0,
				      &nc->ch[nc->nch].vch);
		if (r != 0)
			return r < 0 ? r : -EPROTO;
		nc->nch++;
	}
	return 0;
}

static int chan_init(struct netvsc_client *nc, unsigned i)
{
	struct nc_chan *c = &nc->ch[i];
	unsigned s;

	c->nc = nc;
	c->index = i;
	for (s = 0; s < SLOTS; s++)
		c->slot_gpa[s] = vmbus_client_alloc(nc->vc, SLOT_PAGES);
	if (!c->rsc_buf)
		c->rsc_buf = malloc(NETVSC_CLIENT_MAX_FRAME);
	return c->rsc_buf ? 0 : -ENOMEM;
}

int netvsc_client_open(struct vmbus_client *vc, const struct vmbus_msg_offer_channel *offer,
		       const struct netvsc_client_config *cfg, struct netvsc_client **ret)
{
	struct netvsc_client *nc = calloc(1, sizeof(*nc));
	unsigned i;
	int r;

	if (!nc)
		return -ENOMEM;
	nc->vc = vc;
	nc->offer = *offer;
	nc->cfg = cfg ? *cfg : (struct netvsc_client_config){0};
	if (!nc->cfg.ring_pages)
		nc->cfg.ring_pages = 32;
	if (!nc->cfg.mtu)
		nc->cfg.mtu = 1500;
	if (!nc->cfg.recv_buf_pages)
		nc->cfg.recv_buf_pages = 1024;
	if (!nc->cfg.send_buf_pages)
		nc->cfg.send_buf_pages = 255;
	if (!nc->cfg.timeout_ms)
		nc->cfg.timeout_ms = 5000;
	nc->pkt = malloc(65536);
	nc->kept = calloc(KEPT, sizeof(*nc->kept));
	if (!nc->pkt || !nc->kept) {
		r = -ENOMEM;
		goto fail;
	}
	nc->ctl_gpa = vmbus_client_alloc(vc, 1);
	r = vmbus_client_open(vc, offer, nc->cfg.ring_pages, nc->cfg.ring_pages, 0, &nc->ch[0].vch);
	if (r != 0) {
		r = r < 0 ? r : -EPROTO;
		goto fail;
	}
	nc->nch = 1;
	r = chan_init(nc, 0);
	if (r == 0)
		r = nvsp_init(nc);
	if (r == 0)
		r = send_config(nc);
	if (r == 0)
		r = buffers(nc);
	if (r == 0)
		r = rndis_setup(nc);
	if (r == 0 && nc->cfg.subchannels && nc->version >= NVSP_PROTOCOL_VERSION_5)
		r = open_subchannels(nc);
	for (i = 1; r == 0 && i < nc->nch; i++)
		r = chan_init(nc, i);
	if (r < 0)
		goto fail;
	*ret = nc;
	return 0;
fail:
	netvsc_client_close(nc);
	return r;
}

void netvsc_client_close(struct netvsc_client *nc)
{
	unsigned i;

	if (!nc)
		return;
	if (nc->nch) {
		struct nvsp_revoke_buf rv = {NVSP_MSG1_TYPE_REVOKE_RECV_BUF,
					     NETVSC_RECEIVE_BUFFER_ID, 0};
		uint8_t buf[NVSP_MESSAGE_SIZE] = {0};

		memcpy(buf, &rv, sizeof(rv));
		if (nc->recv_gpadl && netvsc_client_send_nvsp(nc, 0, buf, sizeof(buf), 0) < 0) {
			/* the host is gone */
		}
		rv.msg_type = NVSP_MSG1_TYPE_REVOKE_SEND_BUF;
		rv.id = 0;
		memcpy(buf, &rv, sizeof(rv));
		if (nc->send_gpadl && netvsc_client_send_nvsp(nc, 0, buf, sizeof(buf), 0) < 0) {
			/* as above */
		}
	}
	for (i = nc->nch; i-- > 0;)
		if (nc->ch[i].vch && vmbus_client_close(nc->ch[i].vch) < 0) {
			/* timed out: the host is gone */
		}
	/* Linux (VMBus >= WIN10) tears the buffers' GPADLs down after closing the channel. */
	if (nc->recv_gpadl &&
	    vmbus_client_gpadl_teardown(nc->vc, nc->relid, nc->recv_gpadl, true) < 0) {
		/* as above */
	}
	if (nc->send_gpadl &&
	    vmbus_client_gpadl_teardown(nc->vc, nc->relid, nc->send_gpadl, true) < 0) {
		/* as above */
	}
	for (i = 0; i < NETVSC_CLIENT_MAX_CHANNELS; i++)
		free(nc->ch[i].rsc_buf);
	free(nc->send_busy);
	free(nc->kept);
	free(nc->pkt);
	free(nc);
}

/* --- Frames --- */

static size_t build_rndis(uint8_t *out, const struct netvsc_tx *tx)
{
	struct rndis_packet p = {0};
	size_t ppi = 0, pos = 8 + sizeof(p);
	uint32_t hdr[2];
	struct {
		uint32_t kind, val;
	} ppis[2] = {{NDIS_PPI_TCPIP_CHKSUM, tx->csum_ppi}, {NDIS_PPI_TCP_LARGESEND, tx->lso_ppi}};
	unsigned i;

	for (i = 0; i < 2; i++) {
		struct rndis_ppi h = {16, ppis[i].kind, 12};

		if (!ppis[i].val)
			continue;
		memcpy(out + pos, &h, sizeof(h));
		memcpy(out + pos + 12, &ppis[i].val, 4);
		pos += 16;
		ppi += 16;
	}
	p.per_pkt_info_offset = ppi ? sizeof(p) : 0;
	p.per_pkt_info_len = (uint32_t)ppi;
	p.data_offset = (uint32_t)(sizeof(p) + ppi);
	p.data_len = (uint32_t)tx->len;
	memcpy(out + 8, &p, sizeof(p));
	hdr[0] = RNDIS_MSG_PACKET;
	hdr[1] = (uint32_t)(pos + tx->len);
	memcpy(out, hdr, 8);
	return pos;
}

static int send_section(struct nc_chan *c, const struct netvsc_tx *tx)
{
	struct netvsc_client *nc = c->nc;
	uint8_t hdr[96];
	size_t hl = build_rndis(hdr, tx), total = hl + tx->len;
	struct nvsp_send_rndis_pkt m = {NVSP_MSG1_TYPE_SEND_RNDIS_PKT, NVSP_RNDIS_CHANNEL_DATA, 0,
					(uint32_t)total};
	struct guest_memory *mem = vmbus_client_memory(nc->vc);
	uint8_t buf[NVSP_MESSAGE_SIZE] = {0};
	uint32_t i;
	int r;

	for (i = 0; i < nc->send_count && nc->send_busy[i]; i++)
		;
	if (i == nc->send_count)
		return -EAGAIN;
	m.send_buf_section_index = i;
	if (guest_memory_write(mem, nc->send_gpa + (uint64_t)i * nc->send_section, hdr, hl) < 0 ||
	    guest_memory_write(mem, nc->send_gpa + (uint64_t)i * nc->send_section + hl, tx->frame,
			       tx->len) < 0)
		return -EFAULT;
	memcpy(buf, &m, sizeof(m));
	r = vmbus_client_send(c->vch, VMBUS_PKT_DATA_INBAND, VMBUS_PKT_FLAG_COMPLETION_REQUESTED,
			      TID_SECTION | i, buf, sizeof(buf));
	if (r == 0) {
		nc->send_busy[i] = true;
		c->inflight++;
	}
	return r;
}

static int send_gpa(struct nc_chan *c, const struct netvsc_tx *tx)
{
	struct netvsc_client *nc = c->nc;
	struct nvsp_send_rndis_pkt m = {NVSP_MSG1_TYPE_SEND_RNDIS_PKT, NVSP_RNDIS_CHANNEL_DATA,
					NVSP_INVALID_SECTION_INDEX, 0};
	uint8_t hdr[16 + 8 + 16 * (SLOT_PAGES + 2)], body[96];
	struct guest_memory *mem = vmbus_client_memory(nc->vc);
	struct vmbus_packet_desc d = {.type = VMBUS_PKT_DATA_USING_GPA_DIRECT,
				      .flags = VMBUS_PKT_FLAG_COMPLETION_REQUESTED};
	struct vmbus_gpa_direct_header g = {0};
	uint8_t buf[NVSP_MESSAGE_SIZE] = {0};
	size_t hl = build_rndis(body, tx), total = hl + tx->len, pos = 24, done;
	unsigned s;
	int r;

	for (s = 0; s < SLOTS && c->slot_busy[s]; s++)
		;
	if (s == SLOTS)
		return -EAGAIN;
	if (guest_memory_write(mem, c->slot_gpa[s], body, hl) < 0 ||
	    guest_memory_write(mem, c->slot_gpa[s] + hl, tx->frame, tx->len) < 0)
		return -EFAULT;
	/* One page-buffer range per page, as Linux's vmbus_sendpacket_pagebuffer. */
	for (done = 0; done < total; done += PAGE) {
		uint32_t cnt = (uint32_t)MIN((size_t)PAGE, total - done), off = 0;
		uint64_t pfn = (c->slot_gpa[s] + done) / PAGE;

		memcpy(hdr + pos, &cnt, 4);
		memcpy(hdr + pos + 4, &off, 4);
		memcpy(hdr + pos + 8, &pfn, 8);
		pos += 16;
		g.range_cnt++;
	}
	d.trans_id = TID_SLOT | s;
	memcpy(hdr, &d, sizeof(d));
	memcpy(hdr + 16, &g, sizeof(g));
	memcpy(buf, &m, sizeof(m));
	r = vmbus_client_send_raw(c->vch, hdr, pos, buf, sizeof(buf));
	if (r == 0) {
		c->slot_busy[s] = true;
		c->inflight++;
	}
	return r;
}

int netvsc_client_send(struct netvsc_client *nc, unsigned chan, const struct netvsc_tx *tx)
{
	struct nc_chan *c;
	int r;

	if (chan >= nc->nch || tx->len > NETVSC_CLIENT_MAX_FRAME - 128)
		return -EINVAL;
	c = &nc->ch[chan];
	if (!tx->gpa_direct && tx->len + 96 <= nc->send_section)
		r = send_section(c, tx);
	else
		r = send_gpa(c, tx);
	if (r == 0)
		nc->st.tx_sent++;
	return r;
}

int netvsc_client_flush(struct netvsc_client *nc, unsigned chan, unsigned timeout_ms)
{
	unsigned waited = 0;

	while (nc->ch[chan].inflight) {
		int r = netvsc_client_poll(nc, chan, 10);

		if (r < 0)
			return r;
		if (r == 0 && (waited += 10) >= timeout_ms)
			return -ETIMEDOUT;
	}
	return 0;
}

int netvsc_client_recv_frame(struct netvsc_client *nc, void *buf, size_t *len, uint32_t *csum)
{
	struct kept_frame *k;

	if (!nc->kept_n)
		return -EAGAIN;
	k = &nc->kept[nc->kept_head];
	nc->kept_head = (nc->kept_head + 1) % KEPT;
	nc->kept_n--;
	*len = MIN(*len, k->len);
	memcpy(buf, k->data, *len);
	if (csum)
		*csum = k->csum;
	return 0;
}

int netvsc_client_complete_rx(struct netvsc_client *nc, unsigned chan, uint64_t trans_id)
{
	if (chan >= nc->nch)
		return -EINVAL;
	return complete_rx(&nc->ch[chan], trans_id);
}

unsigned netvsc_client_held_rx(struct netvsc_client *nc, uint64_t *ids, unsigned max)
{
	unsigned n = MIN(max, nc->nheld);

	memcpy(ids, nc->held, n * sizeof(*ids));
	return n;
}

int netvsc_client_fill_section(struct netvsc_client *nc, uint32_t i, const void *data, size_t len)
{
	if (i >= nc->send_count || len > nc->send_section)
		return -EINVAL;
	return guest_memory_write(vmbus_client_memory(nc->vc),
				  nc->send_gpa + (uint64_t)i * nc->send_section, data, len);
}

uint32_t netvsc_client_version(const struct netvsc_client *nc)
{
	return nc->version;
}

const uint8_t *netvsc_client_mac(const struct netvsc_client *nc)
{
	return nc->mac;
}

unsigned netvsc_client_channels(const struct netvsc_client *nc)
{
	return nc->nch;
}

struct vmbus_client_channel *netvsc_client_vmbus(struct netvsc_client *nc, unsigned chan)
{
	return chan < nc->nch ? nc->ch[chan].vch : NULL;
}

const struct ndis_offload *netvsc_client_hwcaps(const struct netvsc_client *nc)
{
	return &nc->hwcaps;
}

uint32_t netvsc_client_recv_section_size(const struct netvsc_client *nc)
{
	return nc->recv_section;
}

uint32_t netvsc_client_send_sections(const struct netvsc_client *nc)
{
	return nc->send_count;
}

void netvsc_client_get_stats(struct netvsc_client *nc, struct netvsc_client_stats *st)
{
	*st = nc->st;
}

/*
 * RNDIS over NVSP (rndis.h): the guest's PACKET messages and the control
 * protocol, as Linux 6.1's rndis_filter.c sends them and checks the
 * answers (shared/research/NETWORK-PROTOCOLS.md B.1-B.5). Every offset in
 * a message body counts from the byte after the 8-byte header; every one
 * is checked against the message before it is used. The bytes are a
 * private copy: nothing here can change under us.
 */
#include <errno.h>
#include <string.h>

#include "base/compiler.h"
#include "vsp/netvsp/rndis.h"

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* [off, off + len) inside [0, total)? */
static bool inside(uint64_t off, uint64_t len, uint64_t total)
{
	return off <= total && len <= total - off;
}

/* --- PACKET --- */

static int take_ppi(struct rndis_tx_info *out, uint32_t type, const uint8_t *payload, uint32_t plen)
{
	struct {
		uint32_t type;
		bool *has;
		uint32_t *val;
	} known[] = {
		{NDIS_PPI_TCPIP_CHKSUM, &out->has_csum, &out->csum},
		{NDIS_PPI_TCP_LARGESEND, &out->has_lso, &out->lso},
		{NDIS_PPI_IEEE_8021Q, &out->has_vlan, &out->vlan},
		{NDIS_PPI_NBL_HASH_VALUE, &out->has_hash, &out->hash},
	};
	unsigned i;

	out->ppis++;
	for (i = 0; i < ARRAY_SIZE(known); i++) {
		if (known[i].type != type)
			continue;
		if (plen < 4)
			return -EPROTO;
		*known[i].has = true;
		*known[i].val = get32(payload);
		return 0;
	}
	return 0; /* other kinds (hash info, cancel id): nothing to do with them */
}

static int parse_ppis(const uint8_t *area, uint32_t len, struct rndis_tx_info *out)
{
	uint32_t pos = 0;

	while (pos < len) {
		struct rndis_ppi h;
		int r;

		if (len - pos < sizeof(h))
			return -EPROTO;
		memcpy(&h, area + pos, sizeof(h));
		/* Size 0 or an offset past the PPI: Linux itself would loop for ever (B.5). */
		if (h.size < sizeof(h) || h.size > len - pos || h.ppi_offset < sizeof(h) ||
		    h.ppi_offset > h.size)
			return -EPROTO;
		r = take_ppi(out, h.type, area + pos + h.ppi_offset, h.size - h.ppi_offset);
		if (r < 0)
			return r;
		pos += h.size;
	}
	return 0;
}

int rndis_packet_parse(const uint8_t *msg, size_t len, struct rndis_tx_info *out)
{
	struct rndis_packet p;
	uint64_t blen;

	memset(out, 0, sizeof(*out));
	if (len < RNDIS_HEADER_SIZE + sizeof(p) || len > UINT32_MAX)
		return -EPROTO;
	blen = len - RNDIS_HEADER_SIZE;
	memcpy(&p, msg + RNDIS_HEADER_SIZE, sizeof(p));
	if (p.num_oob_data_elements || p.oob_data_len)
		return -EPROTO;
	if (p.data_offset < sizeof(p) || p.data_len == 0 ||
	    !inside(p.data_offset, p.data_len, blen))
		return -EPROTO;
	if (p.per_pkt_info_len) {
		/* The PPIs lie between the fixed body and the frame, as Linux puts them. */
		if (p.per_pkt_info_offset < sizeof(p) ||
		    !inside(p.per_pkt_info_offset, p.per_pkt_info_len, p.data_offset))
			return -EPROTO;
		if (parse_ppis(msg + RNDIS_HEADER_SIZE + p.per_pkt_info_offset, p.per_pkt_info_len,
			       out) < 0)
			return -EPROTO;
	}
	out->frame_offset = RNDIS_HEADER_SIZE + p.data_offset;
	out->frame_len = p.data_len;
	return 0;
}

/* --- Control --- */

/* Writes the reply header: type and length. */
static int reply_header(uint8_t *reply, uint32_t type, uint32_t len)
{
	put32(reply, type);
	put32(reply + 4, len);
	return (int)len;
}

static int init_complete(struct rndis_device *d, uint32_t req_id, bool ok, uint8_t *reply)
{
	struct rndis_initialize_complete c = {
		.req_id = req_id,
		.status = ok ? RNDIS_STATUS_SUCCESS : RNDIS_STATUS_INVALID_DATA,
		.major_ver = 1,
		.minor_ver = 0,
		.dev_flags = RNDIS_DF_CONNECTIONLESS,
		.medium = RNDIS_MEDIUM_802_3,
		/* Linux batches this many frames in one send section (netvsc_send). */
		.max_pkt_per_msg = 8,
		.max_xfer_size = 0xEFFFFFFFu,
		.pkt_alignment_factor = 3, /* 8-byte aligned messages */
	};

	if (ok)
		d->initialized = true;
	memcpy(reply + RNDIS_HEADER_SIZE, &c, sizeof(c));
	return reply_header(reply, RNDIS_MSG_INIT_C, RNDIS_HEADER_SIZE + sizeof(c));
}

/* The offload object's revision and size follow the NVSP version (rndis_filter_query_hwcaps). */
static uint32_t fill_offload(const struct rndis_device *d, uint8_t *buf)
{
	struct ndis_offload o = {0};
	uint32_t csum =
		NDIS_CSUM_CAP_IP4 | NDIS_CSUM_CAP_TCP_OPT | NDIS_CSUM_CAP_TCP | NDIS_CSUM_CAP_UDP;

	o.header.type = NDIS_OBJECT_TYPE_OFFLOAD;
	if (d->nvsp_version >= NVSP_PROTOCOL_VERSION_5) {
		o.header.revision = NDIS_OFFLOAD_REVISION_3;
		o.header.size = NDIS_OFFLOAD_SIZE;
	} else if (d->nvsp_version >= NVSP_PROTOCOL_VERSION_4) {
		o.header.revision = 2;
		o.header.size = NDIS_OFFLOAD_SIZE_6_30;
	} else {
		o.header.revision = NDIS_OFFLOAD_REVISION_1;
		o.header.size = NDIS_OFFLOAD_SIZE_6_0;
	}
	/* Checksums both ways for TCP and UDP over IPv4 and IPv6 (the TAP's vnet header). */
	o.ip4_txenc = o.ip4_rxenc = o.ip6_txenc = o.ip6_rxenc = NDIS_OFFLOAD_ENCAP_8023;
	o.ip4_txcsum = o.ip4_rxcsum = o.ip6_txcsum = o.ip6_rxcsum = csum;
	/* LSO v2: the TAP segments (virtio GSO); the size OpenVMM advertises. */
	o.lsov2_ip4_encap = o.lsov2_ip6_encap = NDIS_OFFLOAD_ENCAP_8023;
	o.lsov2_ip4_maxsz = o.lsov2_ip6_maxsz = 62780;
	o.lsov2_ip4_minsg = o.lsov2_ip6_minsg = 2;
	o.lsov2_ip6_opts = NDIS_LSOV2_IP6_OPTS;
	/*
	 * RSC both ways or not at all: Linux turns LRO on only with both (rndis_filter.c
	 * rndis_netdev_set_hwcaps). The TAP hands over the host stack's large TCP frames
	 * (TUN_F_TSO4/6) and netvsp splits each over receive sections (netvsp_data.c).
	 */
	if (rndis_rsc_offered(d->nvsp_version))
		o.rsc_ip4 = o.rsc_ip6 = 1;
	memcpy(buf, &o, o.header.size);
	return o.header.size;
}

static uint32_t fill_rss_caps(const struct rndis_device *d, uint8_t *buf)
{
	struct ndis_recv_scale_cap c = {0};
	uint32_t q = d->max_queues;
	uint16_t tab = 128;

	c.hdr.type = NDIS_OBJECT_TYPE_RSS_CAPABILITIES;
	c.hdr.revision = NDIS_RSS_CAPS_REVISION_2;
	c.hdr.size = sizeof(c);
	memcpy(c.num_int_msg, &q, 4);
	memcpy(c.num_recv_que, &q, 4);
	memcpy(c.num_indirect_tabent, &tab, 2);
	memcpy(buf, &c, sizeof(c));
	return sizeof(c);
}

/* A QUERY's answer into data (room for RNDIS_REPLY_MAX - 24 bytes); returns its length or -1. */
static int query_oid(const struct rndis_device *d, uint32_t oid, uint8_t *data)
{
	switch (oid) {
	case RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE: put32(data, d->mtu); return 4;
	case RNDIS_OID_GEN_MAXIMUM_TOTAL_SIZE: put32(data, d->mtu + 14); return 4;
	case RNDIS_OID_GEN_LINK_SPEED:
		put32(data, (uint32_t)MIN(d->link_speed, (uint64_t)UINT32_MAX));
		return 4;
	case RNDIS_OID_GEN_MEDIA_CONNECT_STATUS: put32(data, d->connected ? 0 : 1); return 4;
	case RNDIS_OID_GEN_CURRENT_PACKET_FILTER: put32(data, d->packet_filter); return 4;
	case RNDIS_OID_802_3_MAXIMUM_LIST_SIZE: put32(data, 32); return 4;
	case RNDIS_OID_802_3_PERMANENT_ADDRESS:
	case RNDIS_OID_802_3_CURRENT_ADDRESS: memcpy(data, d->mac, 6); return 6;
	case OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES: return (int)fill_offload(d, data);
	case RNDIS_OID_GEN_RECEIVE_SCALE_CAPABILITIES:
		/* One queue: no RSS (the guest then asks for no sub-channels). */
		if (d->max_queues < 2 || d->nvsp_version < NVSP_PROTOCOL_VERSION_5)
			return -1;
		return (int)fill_rss_caps(d, data);
	default: return -1;
	}
}

static uint32_t set_rss(struct rndis_device *d, const uint8_t *data, uint32_t len)
{
	struct ndis_recv_scale_param p;
	unsigned i, n;

	if (len < sizeof(p))
		return RNDIS_STATUS_INVALID_DATA;
	memcpy(&p, data, sizeof(p));
	n = p.indirect_tabsize / 4u;
	if (p.hdr.type != NDIS_OBJECT_TYPE_RSS_PARAMETERS || n > NDIS_RSS_MAX_TABLE_ENTRIES ||
	    !inside(p.indirect_taboffset, (uint64_t)n * 4, len) ||
	    p.hashkey_size > NDIS_RSS_MAX_KEY_SIZE ||
	    !inside(p.hashkey_offset, p.hashkey_size, len))
		return RNDIS_STATUS_INVALID_DATA;
	for (i = 0; i < n; i++)
		d->rss_table[i] = get32(data + p.indirect_taboffset + 4 * i);
	memcpy(d->rss_key, data + p.hashkey_offset, p.hashkey_size);
	d->rss_key_size = p.hashkey_size;
	d->rss_hashinfo = p.hashinfo;
	/* NDIS_RSS_PARAM_FLAG_DISABLE_RSS: the guest turns RSS off (no table to use). */
	d->rss_entries = (p.flag & NDIS_RSS_PARAM_FLAG_DISABLE_RSS) ? 0 : n;
	return RNDIS_STATUS_SUCCESS;
}

static uint32_t set_oid(struct rndis_device *d, uint32_t oid, const uint8_t *data, uint32_t len)
{
	switch (oid) {
	case RNDIS_OID_GEN_CURRENT_PACKET_FILTER:
		if (len < 4)
			return RNDIS_STATUS_INVALID_DATA;
		d->packet_filter = get32(data);
		return RNDIS_STATUS_SUCCESS;
	case OID_TCP_OFFLOAD_PARAMETERS:
		/* 22 bytes from NVSP <= 4 guests, 28 from newer (rndis_filter_set_offload_params).
		 */
		if (len < NDIS_OFFLOAD_PARAMS_SIZE_V4 || data[0] != NDIS_OBJECT_TYPE_DEFAULT)
			return RNDIS_STATUS_INVALID_DATA;
		memset(&d->offload, 0, sizeof(d->offload));
		memcpy(&d->offload, data, MIN(len, (uint32_t)sizeof(d->offload)));
		/* RSC: 1 off, 2 on, 0 (or a short message) no change; only where offered. */
		if (len >= NDIS_OFFLOAD_PARAMS_RSC_END && rndis_rsc_offered(d->nvsp_version)) {
			if (d->offload.rsc_ip_v4)
				d->rsc_v4 = d->offload.rsc_ip_v4 == NDIS_OFFLOAD_PARAM_RSC_ENABLED;
			if (d->offload.rsc_ip_v6)
				d->rsc_v6 = d->offload.rsc_ip_v6 == NDIS_OFFLOAD_PARAM_RSC_ENABLED;
		}
		return RNDIS_STATUS_SUCCESS;
	case RNDIS_OID_GEN_RECEIVE_SCALE_PARAMETERS: return set_rss(d, data, len);
	case RNDIS_OID_802_3_MULTICAST_LIST:
		/* Multicast frames are passed per the filter's ALL_MULTICAST bit, as Linux uses it.
		 */
		return len % 6 ? RNDIS_STATUS_INVALID_DATA : RNDIS_STATUS_SUCCESS;
	default: return RNDIS_STATUS_NOT_SUPPORTED;
	}
}

/* QUERY and SET bodies: req_id, oid, info_buflen, info_buf_offset, dev_vc_handle. */
static int query_or_set(struct rndis_device *d, uint32_t type, const uint8_t *body, size_t blen,
			uint8_t *reply)
{
	struct rndis_query_request q;
	bool ok;

	if (blen < sizeof(q)) {
		d->malformed++;
		memset(&q, 0, sizeof(q));
		q.req_id = get32(body);
		ok = false;
	} else {
		memcpy(&q, body, sizeof(q));
		/* The data the request carries (SET) lies inside the body. */
		ok = q.info_buflen == 0 || inside(q.info_buf_offset, q.info_buflen, blen);
		if (!ok)
			d->malformed++;
	}
	if (type == RNDIS_MSG_QUERY) {
		struct rndis_query_complete c = {.req_id = q.req_id};
		int n = ok ? query_oid(d, q.oid, reply + RNDIS_HEADER_SIZE + sizeof(c)) : -1;

		c.status = !ok	   ? RNDIS_STATUS_INVALID_DATA
			   : n < 0 ? RNDIS_STATUS_NOT_SUPPORTED
				   : RNDIS_STATUS_SUCCESS;
		if (ok && n < 0)
			d->unsupported++;
		c.info_buflen = n < 0 ? 0 : (uint32_t)n;
		c.info_buf_offset = sizeof(c); /* Linux requires >= 16, counted from req_id */
		memcpy(reply + RNDIS_HEADER_SIZE, &c, sizeof(c));
		return reply_header(reply, RNDIS_MSG_QUERY_C,
				    RNDIS_HEADER_SIZE + sizeof(c) + c.info_buflen);
	} else {
		struct rndis_set_complete c = {.req_id = q.req_id};

		const uint8_t *data = ok && q.info_buflen ? body + q.info_buf_offset : body;

		c.status = ok ? set_oid(d, q.oid, data, q.info_buflen) : RNDIS_STATUS_INVALID_DATA;
		if (c.status == RNDIS_STATUS_NOT_SUPPORTED)
			d->unsupported++;
		memcpy(reply + RNDIS_HEADER_SIZE, &c, sizeof(c));
		return reply_header(reply, RNDIS_MSG_SET_C, RNDIS_HEADER_SIZE + sizeof(c));
	}
}

int rndis_control(struct rndis_device *d, const uint8_t *msg, size_t len, uint8_t *reply)
{
	const uint8_t *body = msg + RNDIS_HEADER_SIZE;
	size_t blen;
	uint32_t type;

	d->requests++;
	if (len < RNDIS_HEADER_SIZE + 4) {
		d->malformed++;
		return -EPROTO;
	}
	type = get32(msg);
	blen = len - RNDIS_HEADER_SIZE;
	memset(reply, 0, RNDIS_REPLY_MAX);
	switch (type) {
	case RNDIS_MSG_INIT:
		if (blen < sizeof(struct rndis_initialize_request))
			d->malformed++;
		return init_complete(d, get32(body),
				     blen >= sizeof(struct rndis_initialize_request), reply);
	case RNDIS_MSG_QUERY:
	case RNDIS_MSG_SET: return query_or_set(d, type, body, blen, reply);
	case RNDIS_MSG_HALT:
		/* No answer (rndis_filter_halt_device does not wait for one). */
		d->initialized = false;
		d->packet_filter = 0;
		return 0;
	case RNDIS_MSG_KEEPALIVE: {
		struct rndis_set_complete c = {.req_id = get32(body),
					       .status = RNDIS_STATUS_SUCCESS};

		memcpy(reply + RNDIS_HEADER_SIZE, &c, sizeof(c));
		return reply_header(reply, RNDIS_MSG_KEEPALIVE_C, RNDIS_HEADER_SIZE + sizeof(c));
	}
	case RNDIS_MSG_RESET:
		/* RESET_C: status, addressing_reset (no request id). */
		d->packet_filter = 0;
		return reply_header(reply, RNDIS_MSG_RESET_C, RNDIS_HEADER_SIZE + 8);
	default: d->malformed++; return -EPROTO;
	}
}

/* --- What the host sends --- */

size_t rndis_build_indicate(uint32_t status, uint8_t *buf)
{
	struct rndis_indicate_status s = {.status = status, .status_buf_offset = sizeof(s)};

	memset(buf, 0, RNDIS_HEADER_SIZE + sizeof(s));
	memcpy(buf + RNDIS_HEADER_SIZE, &s, sizeof(s));
	return (size_t)reply_header(buf, RNDIS_MSG_INDICATE, RNDIS_HEADER_SIZE + sizeof(s));
}

bool rndis_rsc_offered(uint32_t nvsp_version)
{
	return nvsp_version >= NVSP_PROTOCOL_VERSION_61;
}

size_t rndis_rx_header_len(uint32_t csum)
{
	return RNDIS_HEADER_SIZE + sizeof(struct rndis_packet) +
	       (csum ? sizeof(struct rndis_ppi) + 4 : 0);
}

size_t rndis_rsc_header_len(uint32_t csum)
{
	return rndis_rx_header_len(csum) + sizeof(struct rndis_ppi) +
	       sizeof(struct rndis_pktinfo_id);
}

/* Appends a 4-byte PPI at body offset *pos (never size 0: B.5, fact 9). */
static void put_ppi(uint8_t *body, uint32_t *pos, uint32_t type, const void *val)
{
	struct rndis_ppi h = {.size = sizeof(h) + 4, .type = type, .ppi_offset = sizeof(h)};

	memcpy(body + *pos, &h, sizeof(h));
	memcpy(body + *pos + sizeof(h), val, 4);
	*pos += h.size;
}

static void build_rx(uint8_t *buf, uint32_t frame_offset, uint32_t frame_len, uint32_t csum,
		     const struct rndis_pktinfo_id *id)
{
	struct rndis_packet p = {
		.data_offset = frame_offset - RNDIS_HEADER_SIZE,
		.data_len = frame_len,
		.per_pkt_info_offset = sizeof(p),
	};
	uint8_t *body = buf + RNDIS_HEADER_SIZE;
	uint32_t pos = sizeof(p);

	memset(buf, 0, frame_offset);
	if (csum)
		put_ppi(body, &pos, NDIS_PPI_TCPIP_CHKSUM, &csum);
	if (id)
		put_ppi(body, &pos, NDIS_PPI_RNDIS_PKTINFO_ID, id);
	p.per_pkt_info_len = pos - (uint32_t)sizeof(p);
	if (!p.per_pkt_info_len)
		p.per_pkt_info_offset = 0;
	memcpy(body, &p, sizeof(p));
	reply_header(buf, RNDIS_MSG_PACKET, frame_offset + frame_len);
}

void rndis_build_rx_header(uint8_t *buf, uint32_t frame_offset, uint32_t frame_len, uint32_t csum)
{
	build_rx(buf, frame_offset, frame_len, csum, NULL);
}

void rndis_build_rsc_header(uint8_t *buf, uint32_t frame_offset, uint32_t frame_len, uint32_t csum,
			    uint8_t flag, uint16_t pkt_id)
{
	struct rndis_pktinfo_id id = {.ver = RNDIS_PKTINFO_ID_V1, .flag = flag, .pkt_id = pkt_id};

	build_rx(buf, frame_offset, frame_len, csum, &id);
}

/*
 * NVSP, the Network VSP protocol, on the adapter's channels (netvsp.h):
 * version negotiation (every version Linux 6.1 offers, 1 to 6.1, one INIT
 * each, newest first), NDIS version and configuration, the receive and
 * send buffers (GPADLs mapped through vmbus_channel_map_gpadl), revokes,
 * sub-channel allocation. SEND_RNDIS_PKT goes to the data path
 * (netvsp_data.c). Runs on the loop of the channel the packet came on;
 * everything but SEND_RNDIS_PKT and completions only on the primary.
 * Replies are completions of the guest's packet, sent only when it asked
 * for one (NETWORK-PROTOCOLS.md fact 3), always a full 40-byte message,
 * into room reserved before the message has any effect.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vsp/netvsp/netvsp_internal.h"

static const uint32_t versions[] = {
	NVSP_PROTOCOL_VERSION_61, NVSP_PROTOCOL_VERSION_6, NVSP_PROTOCOL_VERSION_5,
	NVSP_PROTOCOL_VERSION_4,  NVSP_PROTOCOL_VERSION_2, NVSP_PROTOCOL_VERSION_1,
};

int nv_complete(struct nv_channel *c, uint64_t trans_id, const void *msg, size_t len)
{
	uint8_t out[NVSP_MESSAGE_SIZE] = {0};

	memcpy(out, msg, MIN(len, sizeof(out)));
	return vmbus_channel_send_reserved(c->ch, VMBUS_PKT_COMP, 0, trans_id, out, sizeof(out));
}

struct nvsp_req {
	struct nv_channel *c;
	const struct nvsp_parsed *p;
	uint64_t trans_id;
	bool want;     /* the guest asked for a completion: room for it is reserved */
	bool answered; /* that room was used (or given back) */
};

static void answer(struct nvsp_req *rq, const void *msg, size_t len)
{
	if (!rq->want || rq->answered)
		return;
	rq->answered = true;
	if (nv_complete(rq->c, rq->trans_id, msg, len) < 0) {
		/* closed or broken ring: the guest is going away */
	}
}

static int on_init(struct nvsp_req *rq)
{
	struct netvsp *nv = rq->c->nv;
	struct nvsp_init in;
	struct nvsp_init_complete out = {.msg_type = NVSP_MSG_TYPE_INIT_COMPLETE,
					 .status = NVSP_STAT_FAIL};
	unsigned i;

	memcpy(&in, &rq->p->msg, sizeof(in));
	/* The newest version we know inside the guest's [min, max]. */
	for (i = 0; i < ARRAY_SIZE(versions); i++)
		if (versions[i] >= in.min_protocol_ver && versions[i] <= in.max_protocol_ver)
			break;
	if (i < ARRAY_SIZE(versions)) {
		out.status = NVSP_STAT_SUCCESS;
		out.negotiated_protocol_ver = versions[i];
		out.max_mdl_chain_len = 34; /* as OpenVMM */
		atomic_store(&nv->nvsp_version, versions[i]);
		pthread_mutex_lock(&nv->ctl_lock);
		nv->rndis.nvsp_version = versions[i];
		pthread_mutex_unlock(&nv->ctl_lock);
		atomic_store(&nv->state, NETVSP_NEGOTIATING);
	}
	/* A refusal is not an error: Linux tries its next version. */
	answer(rq, &out, sizeof(out));
	return VMBUS_PACKET_DONE;
}

static int on_ndis_ver(struct nvsp_req *rq)
{
	struct nvsp_send_ndis_ver in;

	memcpy(&in, &rq->p->msg, sizeof(in));
	atomic_store(&rq->c->nv->ndis_major, in.ndis_major_ver);
	atomic_store(&rq->c->nv->ndis_minor, in.ndis_minor_ver);
	return VMBUS_PACKET_DONE;
}

static int on_ndis_config(struct nvsp_req *rq)
{
	struct netvsp *nv = rq->c->nv;
	struct nvsp_send_ndis_config in;
	uint32_t mtu = 1500;

	memcpy(&in, &rq->p->msg, sizeof(in));
	/* The guest's frame size (dev->mtu + ETH_HLEN); out of range: the default (OpenVMM). */
	if (in.mtu >= NETVSP_MIN_MTU + 14 && in.mtu <= NETVSP_MAX_MTU + 14)
		mtu = in.mtu - 14;
	else
		nv_guest_error(nv, "NDIS_CONFIG with frame size %u: using 1514", in.mtu);
	atomic_store(&nv->mtu, mtu);
	pthread_mutex_lock(&nv->ctl_lock);
	nv->rndis.mtu = mtu;
	pthread_mutex_unlock(&nv->ctl_lock);
	return VMBUS_PACKET_DONE;
}

/* Maps a buffer GPADL into b (write lock held). */
static int map_buffer(struct nv_channel *c, struct nv_buffer *b, uint32_t gpadl, uint16_t id)
{
	int e;

	if (b->map.pages)
		vmbus_channel_unmap_gpadl(c->ch, &b->map);
	e = vmbus_channel_map_gpadl(c->ch, gpadl, &b->map);
	if (e < 0)
		return e;
	b->id = id;
	return 0;
}

static void unmap_buffer(struct nv_channel *c, struct nv_buffer *b)
{
	vmbus_channel_unmap_gpadl(c->ch, &b->map);
	*b = (struct nv_buffer){0};
}

static int on_recv_buf(struct nvsp_req *rq)
{
	struct netvsp *nv = rq->c->nv;
	struct nvsp_send_buf in;
	struct nvsp_send_recv_buf_complete out = {.msg_type = NVSP_MSG1_TYPE_SEND_RECV_BUF_COMPLETE,
						  .status = NVSP_STAT_FAIL};
	/* Room for the RNDIS header, PPIs, the largest frame and a VLAN tag (OpenVMM: 1806). */
	uint32_t size = ALIGN_UP(NV_RX_HEADROOM + atomic_load(&nv->mtu) + 14u + 4u, 64u);
	int e = -EPROTO;

	memcpy(&in, &rq->p->msg, sizeof(in));
	pthread_rwlock_wrlock(&nv->buf_lock);
	if (atomic_load(&nv->nvsp_version))
		e = map_buffer(rq->c, &nv->recv, in.gpadl_handle, in.id);
	if (e == 0) {
		uint64_t n = nv->recv.map.len / size;

		if (n <= NV_RX_CONTROL_RESERVE || n > 65536)
			e = -EINVAL;
		else
			e = nv_rx_sections_init(nv, (uint32_t)n);
		if (e == 0) {
			nv->recv.section_size = size;
			nv->recv.sections = (uint32_t)n;
			out.status = NVSP_STAT_SUCCESS;
			out.num_sections = 1;
			out.section = (struct nvsp_recv_section){
				.offset = 0,
				.sub_alloc_size = size,
				.num_sub_allocs = (uint32_t)n,
				.end_offset = (uint32_t)(n * size),
			};
		} else {
			unmap_buffer(rq->c, &nv->recv);
		}
	}
	pthread_rwlock_unlock(&nv->buf_lock);
	if (e < 0)
		nv_guest_error(nv, "SEND_RECV_BUF with GPADL %#x refused (%s)", in.gpadl_handle,
			       strerror(-e));
	answer(rq, &out, sizeof(out));
	return VMBUS_PACKET_DONE;
}

static int on_send_buf(struct nvsp_req *rq)
{
	struct netvsp *nv = rq->c->nv;
	struct nvsp_send_buf in;
	struct nvsp_send_send_buf_complete out = {.msg_type = NVSP_MSG1_TYPE_SEND_SEND_BUF_COMPLETE,
						  .status = NVSP_STAT_FAIL};
	int e = -EPROTO;

	memcpy(&in, &rq->p->msg, sizeof(in));
	pthread_rwlock_wrlock(&nv->buf_lock);
	if (atomic_load(&nv->nvsp_version))
		e = map_buffer(rq->c, &nv->send, in.gpadl_handle, in.id);
	if (e == 0 && nv->send.map.len < NV_SEND_SECTION_SIZE) {
		unmap_buffer(rq->c, &nv->send);
		e = -EINVAL;
	}
	if (e == 0) {
		nv->send.section_size = NV_SEND_SECTION_SIZE;
		nv->send.sections = (uint32_t)(nv->send.map.len / NV_SEND_SECTION_SIZE);
		out.status = NVSP_STAT_SUCCESS;
		out.section_size = NV_SEND_SECTION_SIZE;
	}
	pthread_rwlock_unlock(&nv->buf_lock);
	if (e < 0)
		nv_guest_error(nv, "SEND_SEND_BUF with GPADL %#x refused (%s)", in.gpadl_handle,
			       strerror(-e));
	answer(rq, &out, sizeof(out));
	return VMBUS_PACKET_DONE;
}

static int on_revoke(struct nvsp_req *rq)
{
	struct netvsp *nv = rq->c->nv;
	bool recv = rq->p->msg.msg_type == NVSP_MSG1_TYPE_REVOKE_RECV_BUF;
	struct nv_buffer *b = recv ? &nv->recv : &nv->send;

	/* From here on the host does not touch the buffer (netvsc_revoke_*_buf). */
	pthread_rwlock_wrlock(&nv->buf_lock);
	if (!b->map.pages) {
		nv_guest_error(nv, "revoke of a %s buffer never given", recv ? "receive" : "send");
	} else {
		if (recv)
			nv_rx_sections_fini(nv);
		unmap_buffer(rq->c, b);
	}
	pthread_rwlock_unlock(&nv->buf_lock);
	return VMBUS_PACKET_DONE;
}

static int on_subchannel(struct nvsp_req *rq)
{
	struct netvsp *nv = rq->c->nv;
	struct nvsp_subchannel_request in;
	struct nvsp_subchannel_complete out = {.msg_type = NVSP_MSG5_TYPE_SUBCHANNEL,
					       .status = NVSP_STAT_FAIL};

	memcpy(&in, &rq->p->msg, sizeof(in));
	if (in.op == NVSP_SUBCHANNEL_ALLOCATE && in.num_subchannels > 0 &&
	    atomic_load(&nv->nvsp_version) >= NVSP_PROTOCOL_VERSION_5) {
		out.num_subchannels = nv_create_subchannels(nv, in.num_subchannels);
		out.status = NVSP_STAT_SUCCESS;
	} else {
		nv_guest_error(nv, "SUBCHANNEL op %u for %u refused", in.op, in.num_subchannels);
	}
	answer(rq, &out, sizeof(out));
	return VMBUS_PACKET_DONE;
}

static int on_switch_data_path(struct nvsp_req *rq)
{
	/* Sent only with a VF, which we never offer; it waits for an empty completion. */
	if (rq->want) {
		vmbus_channel_unreserve(rq->c->ch, NVSP_MESSAGE_SIZE);
		rq->answered = true;
		if (vmbus_channel_send(rq->c->ch, VMBUS_PKT_COMP, 0, rq->trans_id, NULL, 0) < 0) {
			/* the ring had room reserved a moment ago; closed or broken */
		}
	}
	return VMBUS_PACKET_DONE;
}

static int on_rndis(struct nvsp_req *rq)
{
	if (rq->want)
		vmbus_channel_unreserve(rq->c->ch, NVSP_MESSAGE_SIZE); /* the data path reserves */
	rq->answered = true;
	return nv_data_send_rndis(rq->c, rq->p, rq->want ? rq->trans_id : 0);
}

static int on_ignored(struct nvsp_req *rq)
{
	/* VF association from a guest: we have no VF; the guest needs no answer. */
	return VMBUS_PACKET_DONE;
}

static const struct {
	uint32_t type;
	bool any_channel;
	int (*fn)(struct nvsp_req *rq);
} handlers[] = {
	{NVSP_MSG_TYPE_INIT, false, on_init},
	{NVSP_MSG1_TYPE_SEND_NDIS_VER, false, on_ndis_ver},
	{NVSP_MSG2_TYPE_SEND_NDIS_CONFIG, false, on_ndis_config},
	{NVSP_MSG1_TYPE_SEND_RECV_BUF, false, on_recv_buf},
	{NVSP_MSG1_TYPE_SEND_SEND_BUF, false, on_send_buf},
	{NVSP_MSG1_TYPE_REVOKE_RECV_BUF, false, on_revoke},
	{NVSP_MSG1_TYPE_REVOKE_SEND_BUF, false, on_revoke},
	{NVSP_MSG5_TYPE_SUBCHANNEL, false, on_subchannel},
	{NVSP_MSG4_TYPE_SWITCH_DATA_PATH, false, on_switch_data_path},
	{NVSP_MSG4_TYPE_SEND_VF_ASSOCIATION, false, on_ignored},
	{NVSP_MSG1_TYPE_SEND_RNDIS_PKT, true, on_rndis},
};

int nv_nvsp_packet(struct nv_channel *c, const struct vmbus_packet *pkt)
{
	struct netvsp *nv = c->nv;
	struct nvsp_parsed *p = &c->parsed;
	struct nvsp_req rq = {.c = c, .p = p, .trans_id = pkt->trans_id};
	unsigned i;
	int e = nvsp_packet_parse(pkt, p), r = VMBUS_PACKET_DONE;

	if (pkt->type == VMBUS_PKT_COMP) {
		/* The guest gives back the receive sections of one of our xfer-page packets. */
		nv_data_rx_complete(c, pkt->trans_id);
		goto out;
	}
	rq.want = (pkt->flags & VMBUS_PKT_FLAG_COMPLETION_REQUESTED) != 0;
	if (rq.want && vmbus_channel_reserve(c->ch, NVSP_MESSAGE_SIZE) < 0) {
		r = VMBUS_PACKET_BUSY;
		goto out;
	}
	for (i = 0; e == 0 && i < ARRAY_SIZE(handlers); i++)
		if (handlers[i].type == p->msg.msg_type)
			break;
	if (e < 0 || i == ARRAY_SIZE(handlers) || (!handlers[i].any_channel && c->index != 0)) {
		struct nvsp_send_rndis_pkt_complete out = {.msg_type = p->msg.msg_type,
							   .status = NVSP_STAT_FAIL};

		atomic_fetch_add(&nv->bad_packets, 1);
		nv_guest_error(nv,
			       "bad NVSP message (packet type %u, %zu bytes, message %u) on "
			       "channel %u",
			       pkt->type, pkt->len, p->msg.msg_type, c->index);
		if (rq.want && rq.p->msg.msg_type == NVSP_MSG1_TYPE_SEND_RNDIS_PKT)
			out.msg_type = NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE;
		answer(&rq, &out, sizeof(out));
		goto out;
	}
	r = handlers[i].fn(&rq);
	/* Handlers of messages without an answer (NDIS_VER, revokes) give the room back. */
	if (rq.want && !rq.answered)
		vmbus_channel_unreserve(c->ch, NVSP_MESSAGE_SIZE);
out:
	return r;
}

void nv_guest_error(struct netvsp *nv, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	guest_error_report(&nv->errlog, "%s", buf);
}

/*
 * Fuzz target: whole VMBus sessions against the real server with the
 * four integration services (heartbeat, shutdown, time sync, KVP), as a
 * hostile guest could run them: connect, offers, GPADLs (well-formed or
 * naming the MMIO hole, the last page of RAM, PFNs above 2^52), opens
 * (through the client or raw, at any page offset), ring traffic, ring
 * headers changed under the host, closes, teardowns, UNLOAD, in any order.
 * Single messages (fuzz_vmbus_messages) cannot reach the states where a
 * GPADL meets an OPENCHANNEL; these sequences do (issue 12, item 1).
 *
 * The input is a sequence of operations: one byte (the operation, modulo
 * the table below) and its arguments, read as bytes that are zero once
 * the input runs out. Seeds in corpus/vmbus_session, written by
 * make_session_corpus.py, reach an open channel of every IC.
 *
 * The server runs with manual dispatch (each message processed when
 * posted) and the client waits at most 2 ms for an answer, so an input
 * that expects an answer which never comes costs milliseconds. At most
 * MAX_OPS operations per input, so that the rings and pages the client
 * allocates (it never frees) fit in RAM.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "hvdef/ic_proto.h"
#include "vid/pc_layout.h"
#include "vmbus_client.h"
#include "vsp/ic/heartbeat.h"
#include "vsp/ic/kvp.h"
#include "vsp/ic/shutdown.h"
#include "vsp/ic/timesync.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM	   (16 * MiB)
#define POOL_PAGES 64
#define MAX_OFFERS 8
#define MAX_GPADLS 16
#define MAX_OPS	   96
#define PAGE	   4096u

enum op {
	OP_CONNECT,
	OP_REQUEST_OFFERS,
	OP_OPEN,
	OP_SEND,
	OP_RECV,
	OP_CLOSE,
	OP_GPADL,
	OP_OPEN_RAW,
	OP_TEARDOWN,
	OP_UNLOAD,
	OP_RAW_MESSAGE,
	OP_SIGNAL,
	OP_RING_HEADER,
	OP_HOST,
	OP_SETTLE,
	OP_COUNT
};

struct input {
	const uint8_t *p;
	size_t left;
};

static uint8_t u8(struct input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

static uint32_t u32(struct input *in)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v |= (uint32_t)u8(in) << (8 * i);
	return v;
}

struct session {
	struct vmbus_client *c;
	struct vmbus_msg_offer_channel offers[MAX_OFFERS];
	unsigned noffers;
	struct vmbus_client_channel *chs[MAX_OFFERS];
	uint32_t gpadls[MAX_GPADLS]; /* handles made by OP_GPADL (successful or not) */
	unsigned ngpadls;
	uint32_t next_gpadl;
	uint64_t pool; /* POOL_PAGES pages of RAM for OP_GPADL (opens allocate their own rings) */
	struct ic_msg_header last[MAX_OFFERS]; /* the host's latest IC request per channel */
	struct ic_heartbeat *hb;
	struct ic_shutdown *sd;
	struct ic_timesync *ts;
	struct ic_kvp *kvp;
	bool trace; /* PARVIS_FUZZ_TRACE set: one line per operation on stderr (seed writing) */
};

static void quiet(void *opaque, enum log_level level, const char *line)
{
}

/* Host messages are not checked here (the unit tests do); keep the fake SynIC's queue short. */
static void drain_messages(struct session *s)
{
	uint8_t buf[VMBUS_MESSAGE_MAX_SIZE];
	size_t len;

	while (vmbus_client_pending_msgs(s->c) > 0)
		if (vmbus_client_recv_msg(s->c, buf, &len, 0) < 0)
			break;
}

static void forget_channels(struct session *s)
{
	for (unsigned i = 0; i < MAX_OFFERS; i++) {
		if (s->chs[i])
			vmbus_client_channel_forget(s->chs[i]);
		s->chs[i] = NULL;
	}
}

static uint32_t relid_arg(struct session *s, struct input *in)
{
	uint8_t sel = u8(in);

	if (sel < 0xF0 && s->noffers)
		return s->offers[sel % s->noffers].child_relid;
	return sel == 0xFF ? u32(in) : sel & 0xF;
}

/* A PFN as a hostile guest may pick one: RAM it owns, the MMIO hole, RAM's last page, beyond. */
static uint64_t pfn_arg(struct session *s, struct input *in, uint64_t base, unsigned i)
{
	uint8_t sel = u8(in);

	switch (sel % 8) {
	case 0: return PC_MMIO_HOLE_START / PAGE + (sel >> 3);
	case 1: return RAM / PAGE - 1;
	case 2: return RAM / PAGE + (sel >> 3);
	case 3: return (UINT64_C(1) << 52) + (sel >> 3);
	case 4: return UINT64_MAX - (sel >> 3);
	default: return base / PAGE + i;
	}
}

/*
 * A GPADL described by raw HEADER/BODY messages: one or two ranges, byte offset and count
 * from the input, each PFN picked by pfn_arg.
 */
static void op_gpadl(struct session *s, struct input *in)
{
	uint8_t msg[VMBUS_MESSAGE_MAX_SIZE];
	struct vmbus_msg_gpadl_header h = {.header.msgtype = VMBUS_MSG_GPADL_HEADER};
	struct vmbus_gpa_range range;
	unsigned npages = 1 + u8(in) % 40, done = 0, at;
	uint64_t base = s->pool + (u8(in) % (POOL_PAGES - 40)) * (uint64_t)PAGE;
	uint8_t flags = u8(in);
	uint64_t pfns[40];

	h.child_relid = relid_arg(s, in);
	h.gpadl = flags & 0x80 && s->ngpadls ? s->gpadls[u8(in) % s->ngpadls] : s->next_gpadl++;
	h.rangecount = flags & 1 ? 2 : 1;
	range.byte_offset = flags & 2 ? u8(in) * 16u : 0;
	range.byte_count = flags & 4 ? u32(in) : npages * PAGE - range.byte_offset;
	h.range_buflen = (uint16_t)(sizeof(range) + npages * 8u);
	if (flags & 8)
		h.range_buflen = (uint16_t)u32(in);
	for (unsigned i = 0; i < npages; i++)
		pfns[i] = flags & 0x10 ? pfn_arg(s, in, base, i) : base / PAGE + i;
	if (s->ngpadls < MAX_GPADLS)
		s->gpadls[s->ngpadls++] = h.gpadl;
	memcpy(msg, &h, sizeof(h));
	memcpy(msg + sizeof(h), &range, sizeof(range));
	at = sizeof(h) + sizeof(range);
	while (done < npages && at + 8 <= sizeof(msg)) {
		memcpy(msg + at, &pfns[done++], 8);
		at += 8;
	}
	vmbus_client_post(s->c, 1, msg, at);
	drain_messages(s);
	while (done < npages) {
		struct vmbus_msg_gpadl_body b = {.header.msgtype = VMBUS_MSG_GPADL_BODY,
						 .gpadl = h.gpadl};

		memcpy(msg, &b, sizeof(b));
		at = sizeof(b);
		while (done < npages && at + 8 <= sizeof(msg)) {
			memcpy(msg + at, &pfns[done++], 8);
			at += 8;
		}
		vmbus_client_post(s->c, 1, msg, at);
		drain_messages(s);
	}
}

static void op_open_raw(struct session *s, struct input *in)
{
	struct vmbus_msg_open_channel m = {.header.msgtype = VMBUS_MSG_OPENCHANNEL};
	uint8_t sel;

	m.child_relid = relid_arg(s, in);
	m.openid = m.child_relid;
	sel = u8(in);
	m.ringbuffer_gpadlhandle = s->ngpadls && sel < 0xF0 ? s->gpadls[sel % s->ngpadls] : u32(in);
	sel = u8(in);
	/* Offsets around a GPADL's length and a few far beyond. */
	m.downstream_ringbuffer_pageoffset = sel < 0xF0 ? sel % 48 : u32(in);
	m.target_vp = u8(in) % 3;
	vmbus_client_post(s->c, 1, &m, sizeof(m));
	drain_messages(s);
}

/* An IC packet: raw bytes, or an answer to the host's latest request on that channel. */
static void op_send(struct session *s, struct input *in, unsigned idx)
{
	uint8_t pkt[4096], flags;
	size_t len = u8(in);
	uint16_t type = VMBUS_PKT_DATA_INBAND;
	uint32_t trans_id;

	len = (len | (size_t)u8(in) << 8) % sizeof(pkt);
	flags = u8(in);
	for (size_t i = 0; i < len; i++)
		pkt[i] = u8(in);
	if (flags & 2)
		type = u8(in);
	trans_id = u32(in);
	if ((flags & 1) && len >= IC_PREFIX_SIZE) {
		struct ic_msg_header h;

		memcpy(&h, pkt + 8, sizeof(h));
		h.icmsgtype = s->last[idx].icmsgtype;
		h.ictransaction_id = s->last[idx].ictransaction_id;
		h.icflags |= IC_FLAG_RESPONSE;
		memcpy(pkt + 8, &h, sizeof(h));
	}
	if (vmbus_client_send(s->chs[idx], type, (uint16_t)(flags >> 4), trans_id, pkt, len) < 0) {
		/* a full ring is the guest's problem */
	}
}

static void op_recv(struct session *s, unsigned idx)
{
	struct vmbus_packet_desc d;
	uint8_t host[8192];

	for (int i = 0; i < 64; i++) {
		size_t got = sizeof(host);

		if (vmbus_client_recv(s->chs[idx], &d, host, &got) < 0)
			break;
		if (got >= IC_PREFIX_SIZE)
			memcpy(&s->last[idx], host + 8, sizeof(s->last[idx]));
	}
}

/* A field of a ring header written as another guest CPU could, while the host reads it. */
static void op_ring_header(struct session *s, struct input *in, unsigned idx)
{
	uint8_t which = u8(in);
	uint64_t ring = which & 1 ? vmbus_client_channel_recv_ring(s->chs[idx])
				  : vmbus_client_channel_send_ring(s->chs[idx]);
	uint32_t v = u32(in);

	if (guest_memory_write(vmbus_client_memory(s->c), ring + ((which >> 1) % 16) * 4, &v, 4) <
	    0) {
		/* the ring is the client's, inside RAM */
	}
	vmbus_server_handle_signal(vmbus_client_server(s->c), s->offers[idx].connection_id);
}

/* What the host side does on its own: KVP writes, shutdown requests, a time sync. */
static void op_host(struct session *s, struct input *in)
{
	char key[8] = "k0", value[8] = "v";

	switch (u8(in) % 3) {
	case 0:
		key[1] = (char)('0' + u8(in) % 10);
		if (ic_kvp_set(s->kvp, u8(in) % 5, key, value) < 0) {
			/* a full queue or a bad pool: refused, as it must be */
		}
		break;
	case 1:
		if (ic_shutdown_ready(s->sd) &&
		    ic_shutdown_request(s->sd, IC_SHUTDOWN_RESTART, true, "fuzz") < 0) {
			/* one in flight */
		}
		break;
	default: ic_timesync_sync_now(s->ts); break;
	}
}

static void run(struct session *s, struct input *in)
{
	static const uint32_t versions[] = {VMBUS_VERSION_WIN10_V5_3, VMBUS_VERSION_WIN10_V5_2,
					    VMBUS_VERSION_WIN10_V5,   VMBUS_VERSION_WIN10,
					    VMBUS_VERSION_WIN8_1,     VMBUS_VERSION_WIN8,
					    VMBUS_VERSION(1, 1)};
	static const uint32_t conn[] = {1, 4, 2, 0x2001};

	for (unsigned n = 0; n < MAX_OPS && in->left; n++) {
		enum op op = u8(in) % OP_COUNT;
		uint8_t sel = u8(in);
		unsigned idx = s->noffers ? sel % s->noffers : 0;
		bool open = s->noffers && s->chs[idx];

		switch (op) {
		case OP_CONNECT:
			if (vmbus_client_connect(s->c, versions[u8(in) % ARRAY_SIZE(versions)]) <
			    0) {
				/* refused or unanswered */
			}
			break;
		case OP_REQUEST_OFFERS: {
			int r = vmbus_client_request_offers(s->c, s->offers, MAX_OFFERS);

			if (r >= 0)
				s->noffers = MIN((unsigned)r, MAX_OFFERS);
			break;
		}
		case OP_OPEN: {
			unsigned send_pages = 2 + u8(in) % 4, recv_pages = 2 + u8(in) % 4;
			unsigned vp = u8(in) % 2;

			if (s->noffers && !s->chs[idx] &&
			    vmbus_client_open(s->c, &s->offers[idx], send_pages, recv_pages, vp,
					      &s->chs[idx]) != 0)
				s->chs[idx] = NULL;
			break;
		}
		case OP_SEND:
			if (open)
				op_send(s, in, idx);
			break;
		case OP_RECV:
			if (open)
				op_recv(s, idx);
			break;
		case OP_CLOSE:
			if (open) {
				if (vmbus_client_close(s->chs[idx]) < 0) {
					/* teardown unanswered */
				}
				s->chs[idx] = NULL;
			}
			break;
		case OP_GPADL: op_gpadl(s, in); break;
		case OP_OPEN_RAW: op_open_raw(s, in); break;
		case OP_TEARDOWN: {
			uint32_t relid = relid_arg(s, in), gsel = u8(in), id;

			/* High bit: the GPADL holding an open channel's rings. */
			if (gsel & 0x80 && open)
				id = vmbus_client_channel_gpadl(s->chs[idx]);
			else if (s->ngpadls)
				id = s->gpadls[gsel % s->ngpadls];
			else
				break;
			if (vmbus_client_gpadl_teardown(s->c, relid, id, false) < 0) {
				/* not connected */
			}
			break;
		}
		case OP_UNLOAD:
			if (vmbus_client_unload(s->c) < 0) {
				/* not connected */
			}
			forget_channels(s);
			s->noffers = 0;
			break;
		case OP_RAW_MESSAGE: {
			uint8_t msg[VMBUS_MESSAGE_MAX_SIZE];
			uint32_t id = conn[u8(in) % ARRAY_SIZE(conn)];
			size_t len = u8(in) % (sizeof(msg) + 1);

			for (size_t i = 0; i < len; i++)
				msg[i] = u8(in);
			vmbus_client_post(s->c, id, msg, len);
			break;
		}
		case OP_SIGNAL:
			vmbus_server_handle_signal(vmbus_client_server(s->c),
						   s->noffers ? s->offers[idx].connection_id
							      : u32(in));
			break;
		case OP_RING_HEADER:
			if (open)
				op_ring_header(s, in, idx);
			break;
		case OP_HOST: op_host(s, in); break;
		case OP_SETTLE: usleep(50u * (u8(in) % 8)); break;
		case OP_COUNT: break;
		}
		drain_messages(s);
		if (s->trace)
			fprintf(stderr, "op %d on %u: %u offers, channel %s\n", op, idx, s->noffers,
				s->noffers && s->chs[idx] ? "open" : "-");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmbus_client_config cfg = {
		.vcpus = 2, .ram_size = RAM, .manual_dispatch = true, .timeout_ms = 2};
	struct session s = {.next_gpadl = 0x1000, .trace = getenv("PARVIS_FUZZ_TRACE") != NULL};
	struct input in = {data, size};
	struct vmbus_server *srv;

	log_set_sink(quiet, NULL);
	if (vmbus_client_new(&cfg, &s.c) < 0)
		return 0;
	srv = vmbus_client_server(s.c);
	s.pool = vmbus_client_alloc(s.c, POOL_PAGES);
	if (ic_heartbeat_new(srv, 1000000, &s.hb) < 0 || ic_shutdown_new(srv, &s.sd) < 0 ||
	    ic_timesync_new(srv, NULL, &s.ts) < 0 || ic_kvp_new(srv, 1000000, &s.kvp) < 0)
		goto out;
	run(&s, &in);
out:
	ic_heartbeat_free(s.hb);
	ic_shutdown_free(s.sd);
	ic_timesync_free(s.ts);
	ic_kvp_free(s.kvp);
	forget_channels(&s);
	vmbus_client_free(s.c);
	return 0;
}

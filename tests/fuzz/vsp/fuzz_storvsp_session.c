/*
 * Fuzz target: storvsp through an open channel, as a hostile storvsc
 * could drive it. The controller (two raw disks: LUN 0 writable, LUN 1
 * read-only) is opened and initialized by the guest-side storvsc
 * (tests/lib/storvsc_client.c) over the real VMBus server, then the input
 * runs requests through the channel: SRBs with any CDB, buffers at any
 * byte offset and length (crossing pages and the end of the buffer),
 * GPA-direct packets whose ranges name pages that are not RAM, raw
 * in-band packets, control packets, guest buffer contents (UNMAP
 * parameter lists longer than their buffer, say), ring header fields
 * written under the host, hot-added disks, close and reopen.
 *
 * The input: byte 0 picks the protocol versions offered; then operations,
 * one byte (the operation, modulo the table) and its arguments, read as
 * bytes that are zero once the input runs out. Seeds in
 * corpus/storvsp_session (make_storvsp_session_corpus.py).
 *
 * The guest reads its completions at the end, so that the host's requests
 * in flight finish before the controller is freed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "fuzz_common_disk.h"
#include "storvsc_client.h"
#include "vsp/storvsp/storvsp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM	  (16 * MiB)
#define BUF_PAGES 80 /* the guest's data buffers */
#define PAGE	  4096u
#define DISK_SIZE (1u << 20)
#define MAX_OPS	  128
#define WAIT_MS	  2

enum op {
	OP_SRB,
	OP_READ_WRITE,
	OP_GPA_DIRECT,
	OP_INBAND,
	OP_POLL,
	OP_CONTROL,
	OP_FILL,
	OP_RING_HEADER,
	OP_HOT_ADD,
	OP_REOPEN,
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

static uint16_t u16(struct input *in)
{
	uint16_t v = u8(in);

	return (uint16_t)(v | u8(in) << 8);
}

static uint32_t u32(struct input *in)
{
	uint32_t v = u16(in);

	return v | (uint32_t)u16(in) << 16;
}

struct session {
	struct vmbus_client *vc;
	struct storvsp *sp;
	struct storvsc_client *sc;
	struct vmbus_msg_offer_channel offer;
	struct storvsc_client_config cfg;
	uint64_t buf; /* BUF_PAGES pages of guest RAM */
	uint64_t tag;
	bool hot_added;
	unsigned completions, good; /* received, and of those with SRB_STATUS_SUCCESS */
};

static void quiet(void *opaque, enum log_level level, const char *line)
{
}

static struct storvsc_channel *primary(struct session *s)
{
	return s->sc ? storvsc_client_channel(s->sc, 0) : NULL;
}

static void poll_all(struct session *s, unsigned timeout_ms)
{
	struct storvsc_completion c[32];

	int n;

	while (primary(s) && (n = storvsc_channel_poll(primary(s), c, 32, timeout_ms)) > 0)
		for (int i = 0; i < n; i++) {
			s->completions++;
			s->good += c[i].srb_status == SRB_STATUS_SUCCESS;
		}
}

/* A buffer in the guest's pages: any byte offset, and lengths that may run past them. */
static void buffer_arg(struct session *s, struct input *in, uint64_t *gpa, uint32_t *len)
{
	uint32_t off = u16(in) % ((BUF_PAGES - 2) * PAGE);

	*gpa = s->buf + off;
	*len = u32(in) % (256 * 1024 + 1);
	if (*len > (BUF_PAGES * PAGE) - off)
		*len = (BUF_PAGES * PAGE) - off; /* the client builds its PFN list from RAM */
}

static void op_srb(struct session *s, struct input *in)
{
	struct storvsc_request rq = {0};
	uint8_t flags = u8(in);

	rq.path = flags & 1 ? u8(in) : 0;
	rq.target = flags & 2 ? u8(in) : 0;
	rq.lun = u8(in) % 4;
	for (int i = 0; i < 16; i++)
		rq.cdb[i] = u8(in);
	rq.cdb_len = 6 + u8(in) % 11;
	if (flags & 4)
		buffer_arg(s, in, &rq.buf_gpa, &rq.len);
	rq.data_in = flags & 8;
	rq.tag = s->tag++;
	if (storvsc_channel_submit(primary(s), &rq) < 0) {
		/* a full ring: the guest waits, or polls */
	}
}

static void op_read_write(struct session *s, struct input *in)
{
	uint8_t flags = u8(in);
	uint64_t lba = u32(in) % (DISK_SIZE / 512 + 8); /* up to past the end */
	uint32_t sectors = u8(in) % 65, len;
	uint64_t gpa;

	buffer_arg(s, in, &gpa, &len);
	if (sectors * 512u > BUF_PAGES * PAGE - (gpa - s->buf))
		sectors = (uint32_t)((BUF_PAGES * PAGE - (gpa - s->buf)) / 512);
	if ((flags & 1 ? storvsc_channel_submit_write(primary(s), flags & 2, lba, sectors, gpa,
						      s->tag++, flags & 4)
		       : storvsc_channel_submit_read(primary(s), flags & 2, lba, sectors, gpa,
						     s->tag++)) < 0) {
		/* full ring or a refused size */
	}
}

/* A PFN: the guest's buffer pages, or the MMIO hole, RAM's last page, past RAM, past 2^52. */
static uint64_t pfn_arg(struct session *s, struct input *in)
{
	uint8_t sel = u8(in);

	switch (sel % 8) {
	case 0: return 0xC0000000u / PAGE + (sel >> 3);
	case 1: return RAM / PAGE - 1;
	case 2: return RAM / PAGE + (sel >> 3);
	case 3: return (UINT64_C(1) << 52) + (sel >> 3);
	default: return s->buf / PAGE + (sel >> 3) % BUF_PAGES;
	}
}

/* A GPA-direct packet built here: any byte offset and count, any PFNs, any vstor packet. */
static void op_gpa_direct(struct session *s, struct input *in)
{
	uint8_t pkt[sizeof(struct vstor_packet)];
	uint64_t pfns[32];
	unsigned npfn = 1 + u8(in) % 32;
	uint32_t byte_offset = u16(in), byte_count = u32(in);

	for (unsigned i = 0; i < npfn; i++)
		pfns[i] = pfn_arg(s, in);
	for (size_t i = 0; i < sizeof(pkt); i++)
		pkt[i] = u8(in);
	if (vmbus_client_send_gpa_direct(storvsc_channel_vmbus(primary(s)),
					 VMBUS_PKT_FLAG_COMPLETION_REQUESTED, s->tag++, byte_offset,
					 byte_count, pfns, npfn, pkt, sizeof(pkt)) < 0) {
		/* full ring */
	}
}

static void op_inband(struct session *s, struct input *in)
{
	uint8_t pkt[512];
	size_t len = u16(in) % sizeof(pkt);
	uint16_t type = u8(in) & 1 ? u8(in) : VMBUS_PKT_DATA_INBAND;

	for (size_t i = 0; i < len; i++)
		pkt[i] = u8(in);
	if (vmbus_client_send(storvsc_channel_vmbus(primary(s)), type,
			      VMBUS_PKT_FLAG_COMPLETION_REQUESTED, s->tag++, pkt, len) < 0) {
		/* full ring */
	}
}

static void op_control(struct session *s, struct input *in)
{
	struct vstor_packet p;
	uint8_t *b = (uint8_t *)&p;

	for (size_t i = 0; i < sizeof(p); i++)
		b[i] = u8(in);
	if (storvsc_channel_control(primary(s), &p, WAIT_MS) < 0) {
		/* refused or not answered at once */
	}
}

/* Guest buffer contents: SCSI parameter lists (UNMAP descriptors, MODE SELECT pages). */
static void op_fill(struct session *s, struct input *in)
{
	uint32_t off = u16(in) % (BUF_PAGES * PAGE - 64);
	uint8_t b[64];

	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = u8(in);
	if (guest_memory_write(vmbus_client_memory(s->vc), s->buf + off, b, sizeof(b)) < 0)
		abort(); /* the buffer is the client's, inside RAM */
}

static void op_ring_header(struct session *s, struct input *in)
{
	struct vmbus_client_channel *ch = storvsc_channel_vmbus(primary(s));
	uint8_t which = u8(in);
	uint64_t ring =
		which & 1 ? vmbus_client_channel_recv_ring(ch) : vmbus_client_channel_send_ring(ch);
	uint32_t v = u32(in);

	if (guest_memory_write(vmbus_client_memory(s->vc), ring + ((which >> 1) % 16) * 4, &v, 4) <
	    0)
		abort();
}

static void op_reopen(struct session *s)
{
	poll_all(s, WAIT_MS);
	storvsc_client_close(s->sc);
	s->sc = NULL;
	if (storvsc_client_open(s->vc, &s->offer, &s->cfg, &s->sc) < 0)
		s->sc = NULL;
}

static void run(struct session *s, struct input *in)
{
	for (unsigned n = 0; n < MAX_OPS && in->left && primary(s); n++) {
		switch ((enum op)(u8(in) % OP_COUNT)) {
		case OP_SRB: op_srb(s, in); break;
		case OP_READ_WRITE: op_read_write(s, in); break;
		case OP_GPA_DIRECT: op_gpa_direct(s, in); break;
		case OP_INBAND: op_inband(s, in); break;
		case OP_POLL: poll_all(s, u8(in) % 3); break;
		case OP_CONTROL: op_control(s, in); break;
		case OP_FILL: op_fill(s, in); break;
		case OP_RING_HEADER: op_ring_header(s, in); break;
		case OP_HOT_ADD:
			if (!s->hot_added &&
			    storvsp_add_disk(s->sp, 2 + u8(in) % 8, fuzz_raw_disk(DISK_SIZE, false),
					     false) == 0)
				s->hot_added = true;
			break;
		case OP_REOPEN: op_reopen(s); break;
		case OP_SETTLE: usleep(50u * (u8(in) % 8)); break;
		case OP_COUNT: break;
		}
	}
}

/* The controller's offer (its class), after connecting. */
static int find_offer(struct session *s)
{
	struct vmbus_msg_offer_channel o[4];
	struct guid want;
	int n;

	if (guid_parse(STORVSP_SCSI_CLASS_GUID, &want) < 0 ||
	    vmbus_client_connect(s->vc, VMBUS_VERSION_WIN10_V5_2) != 1)
		return -1;
	n = vmbus_client_request_offers(s->vc, o, 4);
	for (int i = 0; i < n && i < 4; i++)
		if (guid_equal(&o[i].offer.if_type, &want)) {
			s->offer = o[i];
			return 0;
		}
	return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t versions[][3] = {
		{VMSTOR_PROTO_VERSION_WIN10, VMSTOR_PROTO_VERSION_WIN8_1,
		 VMSTOR_PROTO_VERSION_WIN8},
		{VMSTOR_PROTO_VERSION_WIN8, 0, 0},
		{0x0101, VMSTOR_PROTO_VERSION_WIN10, 0},
		{0xFFFF, 0x0001, VMSTOR_PROTO_VERSION_WIN8_1},
	};
	struct vmbus_client_config vcfg = {
		.vcpus = 2, .ram_size = RAM, .manual_dispatch = true, .timeout_ms = 1000};
	struct storvsp_config scfg = {.vcpus = 1, .queue_depth = 8};
	struct session s = {0};
	struct input in = {data, size};
	unsigned v = u8(&in) % 4;

	log_set_sink(quiet, NULL);
	if (vmbus_client_new(&vcfg, &s.vc) < 0)
		return 0;
	scfg.server = vmbus_client_server(s.vc);
	scfg.mem = vmbus_client_memory(s.vc);
	if (storvsp_new(&scfg, &s.sp) < 0)
		goto out;
	if (storvsp_add_disk(s.sp, 0, fuzz_raw_disk(DISK_SIZE, false), false) < 0 ||
	    storvsp_add_disk(s.sp, 1, fuzz_raw_disk(DISK_SIZE, true), true) < 0)
		goto out;
	s.buf = vmbus_client_alloc(s.vc, BUF_PAGES);
	s.cfg = (struct storvsc_client_config){.ring_pages = 8,
					       .versions = versions[v],
					       .nversions = versions[v][2]   ? 3
							    : versions[v][1] ? 2
									     : 1,
					       .timeout_ms = 1000};
	if (find_offer(&s) < 0 || storvsc_client_open(s.vc, &s.offer, &s.cfg, &s.sc) < 0) {
		s.sc = NULL;
		goto out;
	}
	run(&s, &in);
	poll_all(&s, 20);
	/* PARVIS_FUZZ_TRACE: what the input reached (for writing seeds). */
	if (getenv("PARVIS_FUZZ_TRACE"))
		fprintf(stderr, "version %#x, %u completions, %u successful, channel %s\n",
			storvsc_client_version(s.sc), s.completions, s.good,
			primary(&s) ? "open" : "closed");
out:
	storvsc_client_close(s.sc);
	storvsp_free(s.sp);
	vmbus_client_free(s.vc);
	return 0;
}

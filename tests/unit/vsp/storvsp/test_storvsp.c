/*
 * The synthetic SCSI controller against a guest played by the test: the
 * guest-side storvsc client (tests/lib/storvsc_client.c) negotiates as
 * Linux's storvsc does, opens sub-channels and sends SCSI requests with
 * GPA-direct buffers in guest memory; raw packets check every refusal.
 * Disks are raw files on tmpfs/tmp through the real disk back end.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/log.h"
#include "hvdef/scsi_proto.h"
#include "storvsc_client.h"
#include "storvsp_test_util.h"
#include "vsp/storvsp/storvsp.h"
#include "test_util.h"

#define VCPUS 4

#define DISK_SIZE (16 * 1024 * 1024)
#define TMO	  5000

struct fx {
	struct vmbus_client *vc;
	struct storvsp *sp;
	struct vmbus_msg_offer_channel offer;
	struct storvsc_client *sc;
	uint64_t buf;	/* 64 pages of guest RAM */
	unsigned depth; /* of the disk queues, 0 default */
};

static void quiet(void *opaque, enum log_level level, const char *line)
{
}

static void offers(struct fx *f)
{
	struct vmbus_msg_offer_channel o[8];
	struct guid want;
	int n, i;

	assert_int_equal(guid_parse(STORVSP_SCSI_CLASS_GUID, &want), 0);
	assert_int_equal(vmbus_client_connect(f->vc, VMBUS_VERSION_WIN10_V5_2), 1);
	n = vmbus_client_request_offers(f->vc, o, 8);
	for (i = 0; i < n; i++)
		if (guid_equal(&o[i].offer.if_type, &want))
			break;
	assert_true(i < n);
	assert_int_equal(o[i].offer.sub_channel_index, 0);
	f->offer = o[i];
}

static unsigned queue_depth;  /* 0: storvsp's default */
static unsigned max_requests; /* 0: storvsp's default */

static int setup_bare(void **state)
{
	struct vmbus_client_config cfg = {.vcpus = VCPUS, .ram_size = 64 << 20};
	struct storvsp_config sc = {.controller = 0,
				    .vcpus = VCPUS,
				    .queue_depth = queue_depth,
				    .max_requests = max_requests};
	struct fx *f = calloc(1, sizeof(*f));

	log_set_sink(quiet, NULL);
	assert_int_equal(vmbus_client_new(&cfg, &f->vc), 0);
	sc.server = vmbus_client_server(f->vc);
	sc.mem = vmbus_client_memory(f->vc);
	assert_int_equal(storvsp_new(&sc, &f->sp), 0);
	f->depth = queue_depth;
	assert_int_equal(storvsp_add_disk(f->sp, 0, test_raw_disk(DISK_SIZE, false), false), 0);
	assert_int_equal(storvsp_add_disk(f->sp, 1, test_raw_disk(DISK_SIZE, false), true), 0);
	f->buf = vmbus_client_alloc(f->vc, 64);
	offers(f);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	struct storvsc_client_config cfg = {.subchannels = VCPUS - 1};
	struct fx *f;

	setup_bare(state);
	f = *state;
	assert_int_equal(storvsc_client_open(f->vc, &f->offer, &cfg, &f->sc), 0);
	return 0;
}

/* Disk queues of depth 2: most submissions find the queue full and wait. */
static int setup_small_queues(void **state)
{
	int r;

	queue_depth = 2;
	r = setup(state);
	queue_depth = 0;
	return r;
}

/* A pool of 8 requests per channel: a guest that sends more is held back. */
static int setup_small_pool(void **state)
{
	int r;

	max_requests = 8;
	r = setup(state);
	max_requests = 0;
	return r;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	storvsc_client_close(f->sc);
	storvsp_free(f->sp);
	vmbus_client_free(f->vc);
	free(f);
	return 0;
}

static struct storvsc_channel *primary(struct fx *f)
{
	return storvsc_client_channel(f->sc, 0);
}

static struct storvsc_completion scsi(struct fx *f, struct storvsc_channel *ch, uint8_t lun,
				      const uint8_t *cdb, unsigned cdb_len, uint64_t gpa,
				      uint32_t len, bool data_in)
{
	static uint64_t tag = 1000;
	struct storvsc_request rq = {.lun = lun,
				     .cdb_len = cdb_len,
				     .buf_gpa = gpa,
				     .len = len,
				     .data_in = data_in,
				     .tag = tag++};
	struct storvsc_completion c;

	memcpy(rq.cdb, cdb, cdb_len);
	assert_int_equal(storvsc_channel_scsi(ch, &rq, &c, TMO), 0);
	return c;
}

static uint8_t *host(struct fx *f, uint64_t gpa, size_t len)
{
	return guest_memory_ptr(vmbus_client_memory(f->vc), gpa, len);
}

/* --- Negotiation --- */

static void test_handshake(void **state)
{
	struct fx *f = *state;
	const struct vmstorage_channel_properties *p = storvsc_client_properties(f->sc);
	struct storvsp_stats st;
	struct storvsp_channel_stats cs;
	unsigned i;

	assert_int_equal(storvsc_client_version(f->sc), VMSTOR_PROTO_VERSION_WIN10);
	assert_int_equal(storvsp_version(f->sp), VMSTOR_PROTO_VERSION_WIN10);
	assert_int_equal(p->max_channel_cnt, VCPUS - 1);
	assert_int_equal(p->flags & STORAGE_CHANNEL_SUPPORTS_MULTI_CHANNEL, 1);
	assert_int_equal(p->max_transfer_bytes, 1 << 20);
	assert_int_equal(storvsc_client_channel_count(f->sc), VCPUS);
	storvsp_get_stats(f->sp, &st);
	assert_int_equal(st.channels, VCPUS);
	assert_int_equal(st.protocol_errors, 0);
	for (i = 0; i < VCPUS; i++) {
		assert_true(storvsp_get_channel_stats(f->sp, i, &cs));
		assert_int_equal(cs.subchannel_index, i);
		assert_int_equal(cs.state, VMBUS_CHANNEL_OPEN);
	}
}

static void test_versions(void **state)
{
	struct fx *f = *state;
	static const uint16_t old_first[] = {0x0700, 0x0603, VMSTOR_PROTO_VERSION_WIN7};
	struct storvsc_client_config cfg = {
		.versions = old_first, .nversions = 3, .subchannels = 2};
	struct storvsp_stats st;

	/* Unknown versions are refused (the guest tries the next), WIN7 is accepted. */
	assert_int_equal(storvsc_client_open(f->vc, &f->offer, &cfg, &f->sc), 0);
	assert_int_equal(storvsc_client_version(f->sc), VMSTOR_PROTO_VERSION_WIN7);
	/* No multi-channel before Win8. */
	assert_int_equal(storvsc_client_properties(f->sc)->flags, 0);
	assert_int_equal(storvsc_client_channel_count(f->sc), 1);
	storvsp_get_stats(f->sp, &st);
	assert_int_equal(st.protocol_errors, 0);
	storvsc_client_close(f->sc);
	f->sc = NULL;
}

static void test_no_known_version(void **state)
{
	struct fx *f = *state;
	static const uint16_t none[] = {0x0100, 0x0603};
	struct storvsc_client_config cfg = {.versions = none, .nversions = 2};

	assert_int_equal(storvsc_client_open(f->vc, &f->offer, &cfg, &f->sc), -EPROTO);
	f->sc = NULL;
}

/* A control packet on a raw channel: returns the reply's status. */
static uint32_t ctl(struct vmbus_client_channel *ch, uint32_t op, uint16_t arg)
{
	struct vstor_packet p = {.operation = op, .flags = 1};
	struct vmbus_packet_desc d;
	size_t len = sizeof(p);

	if (op == VSTOR_OPERATION_QUERY_PROTOCOL_VERSION)
		p.version.major_minor = arg;
	else
		p.sub_channel_count = arg;
	assert_int_equal(vmbus_client_send(ch, VMBUS_PKT_DATA_INBAND, 1, 77, &p, sizeof(p)), 0);
	assert_int_equal(vmbus_client_recv_wait(ch, &d, &p, &len, TMO), 0);
	assert_int_equal(d.type, VMBUS_PKT_COMP);
	assert_int_equal(d.trans_id, 77);
	assert_int_equal(len, 64);
	assert_int_equal(p.operation, VSTOR_OPERATION_COMPLETE_IO);
	return p.status;
}

static void test_protocol_order(void **state)
{
	struct fx *f = *state;
	struct vmbus_client_channel *ch;
	struct storvsp_stats st;

	assert_int_equal(vmbus_client_open(f->vc, &f->offer, 8, 8, 0, &ch), 0);
	/* Everything but BEGIN is out of order at first. */
	assert_int_equal(ctl(ch, VSTOR_OPERATION_EXECUTE_SRB, 0),
			 VSTOR_STATUS_INVALID_DEVICE_STATE);
	assert_int_equal(ctl(ch, VSTOR_OPERATION_QUERY_PROTOCOL_VERSION, 0x0602),
			 VSTOR_STATUS_INVALID_DEVICE_STATE);
	assert_int_equal(ctl(ch, VSTOR_OPERATION_END_INITIALIZATION, 0),
			 VSTOR_STATUS_INVALID_DEVICE_STATE);
	assert_int_equal(ctl(ch, VSTOR_OPERATION_BEGIN_INITIALIZATION, 0), 0);
	assert_int_equal(ctl(ch, VSTOR_OPERATION_QUERY_PROPERTIES, 0),
			 VSTOR_STATUS_INVALID_DEVICE_STATE);
	assert_int_equal(ctl(ch, VSTOR_OPERATION_QUERY_PROTOCOL_VERSION, 0x0605),
			 VSTOR_STATUS_REVISION_MISMATCH);
	assert_int_equal(ctl(ch, VSTOR_OPERATION_QUERY_PROTOCOL_VERSION, 0x0600), 0);
	assert_int_equal(storvsp_version(f->sp), 0x0600);
	assert_int_equal(ctl(ch, VSTOR_OPERATION_QUERY_PROPERTIES, 0), 0);
	assert_int_equal(ctl(ch, 99, 0), VSTOR_STATUS_INVALID_PARAMETER);
	assert_int_equal(ctl(ch, VSTOR_OPERATION_END_INITIALIZATION, 0), 0);
	/* More sub-channels than vCPUs - 1, or none. */
	assert_int_equal(ctl(ch, VSTOR_OPERATION_CREATE_SUB_CHANNELS, VCPUS),
			 VSTOR_STATUS_INVALID_PARAMETER);
	assert_int_equal(ctl(ch, VSTOR_OPERATION_CREATE_SUB_CHANNELS, 0),
			 VSTOR_STATUS_INVALID_PARAMETER);
	assert_int_equal(ctl(ch, VSTOR_OPERATION_RESET_BUS, 0), 0);
	storvsp_get_stats(f->sp, &st);
	assert_int_equal(st.protocol_errors, 7);
	assert_int_equal(st.channels, 1);
	assert_int_equal(vmbus_client_close(ch), 0);
}

/* --- SCSI through the channel --- */

static void test_scsi_commands(void **state)
{
	struct fx *f = *state;
	struct storvsc_channel *ch = primary(f);
	uint8_t inq[6] = {SCSI_INQUIRY, 0, 0, 0, 255}, tur[6] = {0};
	uint8_t rc16[16] = {SCSI_SERVICE_ACTION_IN16, 0x10, [13] = 32};
	uint8_t rl[12] = {SCSI_REPORT_LUNS, [9] = 255};
	uint8_t wr[10] = {SCSI_WRITE_10, 0, 0, 0, 0, 0, 0, 0, 1};
	uint8_t *b = host(f, f->buf, 4096);
	struct storvsc_completion c;

	c = scsi(f, ch, 0, inq, 6, f->buf, 255, true);
	assert_int_equal(c.srb_status, SRB_STATUS_SUCCESS);
	assert_int_equal(c.scsi_status, 0);
	assert_int_equal(c.transferred, 36); /* the residual is the rest */
	assert_int_equal(b[0], 0);
	assert_memory_equal(b + 8, "Msft    ", 8);
	/* Absent LUN: INQUIRY answers "no logical unit", other commands INVALID_LUN. */
	c = scsi(f, ch, 5, inq, 6, f->buf, 255, true);
	assert_int_equal(c.srb_status, SRB_STATUS_SUCCESS);
	assert_int_equal(b[0], 0x7F);
	c = scsi(f, ch, 5, tur, 6, 0, 0, false);
	assert_int_equal(c.srb_status, SRB_STATUS_INVALID_LUN);
	c = scsi(f, ch, 200, tur, 6, 0, 0, false);
	assert_int_equal(c.srb_status, SRB_STATUS_INVALID_LUN);
	c = scsi(f, ch, 0, rl, 12, f->buf, 255, true);
	assert_int_equal(c.srb_status, SRB_STATUS_SUCCESS);
	assert_int_equal(c.transferred, 8 + 16);
	assert_int_equal(b[3], 16);
	assert_int_equal(b[17], 1);
	/* Another target: no LUNs at all. */
	{
		struct storvsc_request rq = {.target = 1,
					     .cdb_len = 12,
					     .buf_gpa = f->buf,
					     .len = 255,
					     .data_in = true,
					     .tag = 5};

		memcpy(rq.cdb, rl, 12);
		assert_int_equal(storvsc_channel_scsi(ch, &rq, &c, TMO), 0);
		assert_int_equal(c.srb_status, SRB_STATUS_SUCCESS);
		assert_int_equal(c.transferred, 8);
		assert_int_equal(b[3], 0);
	}
	/* A buffer smaller than the answer: DATA_OVERRUN with what was moved. */
	c = scsi(f, ch, 0, rc16, 16, f->buf, 16, true);
	assert_int_equal(c.srb_status, SRB_STATUS_DATA_OVERRUN);
	assert_int_equal(c.transferred, 16);
	/* Errors come with autosense. */
	c = scsi(f, ch, 1, wr, 10, f->buf, 512, false);
	assert_int_equal(c.srb_status, SRB_STATUS_ERROR | SRB_STATUS_AUTOSENSE_VALID);
	assert_int_equal(c.scsi_status, SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(c.sense_len, 18);
	assert_int_equal(c.sense[2], SCSI_SENSE_DATA_PROTECT);
	assert_int_equal(c.sense[12], 0x27);
	assert_int_equal(c.transferred, 0);
	wr[2] = 0x10; /* LBA 0x10000000: past the end */
	c = scsi(f, ch, 0, wr, 10, f->buf, 512, false);
	assert_int_equal(c.srb_status, SRB_STATUS_INVALID_REQUEST | SRB_STATUS_AUTOSENSE_VALID);
	assert_int_equal(c.sense[2], SCSI_SENSE_ILLEGAL_REQUEST);
	assert_int_equal(c.sense[12], 0x21);
	{
		struct scsi_lun_stats ls;

		assert_true(storvsp_get_disk_stats(f->sp, 1, &ls, NULL, NULL));
		assert_int_equal(ls.errors_write_protect, 1);
		assert_false(storvsp_get_disk_stats(f->sp, 5, &ls, NULL, NULL));
	}
}

static void test_data_unaligned(void **state)
{
	struct fx *f = *state;
	struct storvsc_channel *ch = primary(f);
	/* 3 sectors starting 512 bytes before a page boundary: spans two pages. */
	uint64_t gpa = f->buf + 4096 - 512;
	uint8_t *b = host(f, gpa, 1536);
	uint8_t copy[1536];
	struct storvsc_completion c;
	unsigned i;

	for (i = 0; i < sizeof(copy); i++)
		b[i] = copy[i] = (uint8_t)(i * 13 + 1);
	assert_int_equal(storvsc_channel_submit_write(ch, 0, 7, 3, gpa, 1, true), 0);
	assert_int_equal(storvsc_channel_poll(ch, &c, 1, TMO), 1);
	assert_int_equal(c.tag, 1);
	assert_int_equal(c.srb_status, SRB_STATUS_SUCCESS);
	assert_int_equal(c.transferred, 1536);
	memset(b, 0, sizeof(copy));
	assert_int_equal(storvsc_channel_submit_read(ch, 0, 7, 3, gpa, 2), 0);
	assert_int_equal(storvsc_channel_poll(ch, &c, 1, TMO), 1);
	assert_int_equal(c.srb_status, SRB_STATUS_SUCCESS);
	assert_memory_equal(b, copy, sizeof(copy));
	/* READ(16) form, above 2^32 blocks is out of range here. */
	assert_int_equal(storvsc_channel_submit_read(ch, 0, UINT64_C(1) << 33, 1, gpa, 3), 0);
	assert_int_equal(storvsc_channel_poll(ch, &c, 1, TMO), 1);
	assert_int_equal(c.srb_status, SRB_STATUS_INVALID_REQUEST | SRB_STATUS_AUTOSENSE_VALID);
}

/* --- Bad packets --- */

static void expect_reply(struct storvsc_channel *ch, uint64_t trans_id, uint8_t srb_status)
{
	struct storvsc_completion c;

	assert_int_equal(storvsc_channel_poll(ch, &c, 1, TMO), 1);
	assert_int_equal(c.tag + 1, trans_id);
	assert_int_equal(c.srb_status, srb_status);
	assert_int_not_equal(c.status, 0);
}

static void test_bad_packets(void **state)
{
	struct fx *f = *state;
	struct storvsc_channel *ch = primary(f);
	struct vmbus_client_channel *v = storvsc_channel_vmbus(ch);
	struct vstor_packet p = {.operation = VSTOR_OPERATION_EXECUTE_SRB, .flags = 1};
	uint64_t pfns[2] = {f->buf / 4096, (UINT64_C(1) << 40)};
	uint8_t hdr[64] = {0};
	uint8_t inq[6] = {SCSI_INQUIRY, 0, 0, 0, 36};
	struct storvsp_stats st;
	struct storvsp_channel_stats cs;
	struct storvsc_completion c;

	p.srb.cdb_length = 6;
	memcpy(p.srb.cdb_or_sense, inq, 6);
	p.srb.data_in = VSTOR_READ_TYPE;
	p.srb.sense_info_length = 20;
	/* A page beyond guest RAM. */
	p.srb.data_transfer_length = 8192;
	assert_int_equal(vmbus_client_send_gpa_direct(v, 1, 11, 0, 8192, pfns, 2, &p, sizeof(p)),
			 0);
	expect_reply(ch, 11, SRB_STATUS_INVALID_REQUEST);
	/* A range shorter than the SRB's transfer length. */
	p.srb.data_transfer_length = 4096;
	assert_int_equal(vmbus_client_send_gpa_direct(v, 1, 12, 0, 512, pfns, 1, &p, sizeof(p)), 0);
	expect_reply(ch, 12, SRB_STATUS_INVALID_REQUEST);
	/* A CDB longer than 16 bytes. */
	p.srb.cdb_length = 17;
	assert_int_equal(vmbus_client_send_gpa_direct(v, 1, 13, 0, 4096, pfns, 1, &p, sizeof(p)),
			 0);
	expect_reply(ch, 13, SRB_STATUS_INVALID_REQUEST);
	p.srb.cdb_length = 6;
	/* Two ranges; PFN count larger than the header room; offset past a page. */
	{
		struct vmbus_packet_desc d = {
			.type = VMBUS_PKT_DATA_USING_GPA_DIRECT, .flags = 1, .trans_id = 14};
		uint32_t two = 2, cnt = 4096, off = 0;

		memcpy(hdr, &d, 16);
		memcpy(hdr + 20, &two, 4);
		memcpy(hdr + 24, &cnt, 4);
		memcpy(hdr + 28, &off, 4);
		memcpy(hdr + 32, pfns, 8);
		assert_int_equal(vmbus_client_send_raw(v, hdr, 40, &p, sizeof(p)), 0);
		expect_reply(ch, 14, SRB_STATUS_INVALID_REQUEST);
		d.trans_id = 15;
		memcpy(hdr, &d, 16);
		two = 1;
		cnt = 3 * 4096; /* needs 3 PFNs, the header has 1 */
		memcpy(hdr + 20, &two, 4);
		memcpy(hdr + 24, &cnt, 4);
		assert_int_equal(vmbus_client_send_raw(v, hdr, 40, &p, sizeof(p)), 0);
		expect_reply(ch, 15, SRB_STATUS_INVALID_REQUEST);
		d.trans_id = 16;
		memcpy(hdr, &d, 16);
		cnt = 16;
		off = 4096;
		memcpy(hdr + 24, &cnt, 4);
		memcpy(hdr + 28, &off, 4);
		assert_int_equal(vmbus_client_send_raw(v, hdr, 40, &p, sizeof(p)), 0);
		expect_reply(ch, 16, SRB_STATUS_INVALID_REQUEST);
		/* A transfer-page packet: not a storvsc packet type. */
		d.type = VMBUS_PKT_DATA_USING_XFER_PAGES;
		d.trans_id = 17;
		memcpy(hdr, &d, 16);
		assert_int_equal(vmbus_client_send_raw(v, hdr, 24, &p, sizeof(p)), 0);
		expect_reply(ch, 17, SRB_STATUS_INVALID_REQUEST);
	}
	/* A vstor packet shorter than its header. */
	assert_int_equal(vmbus_client_send(v, VMBUS_PKT_DATA_INBAND, 1, 18, &p, 8), 0);
	expect_reply(ch, 18, SRB_STATUS_INVALID_REQUEST);
	/* The channel still works. */
	c = scsi(f, ch, 0, inq, 6, f->buf, 36, true);
	assert_int_equal(c.srb_status, SRB_STATUS_SUCCESS);
	storvsp_get_stats(f->sp, &st);
	assert_int_equal(st.bad_packets, 5);
	assert_true(storvsp_get_channel_stats(f->sp, 0, &cs));
	assert_int_equal(cs.bad_packets, 5 + 3);
}

/* --- Many requests in flight, on every channel at once --- */

struct worker {
	struct fx *f;
	struct storvsc_channel *ch;
	unsigned index;
	uint64_t gpa; /* 32 buffers of 4 KiB */
	int failures;
	unsigned foreign; /* completions of another channel's requests */
};

#define QD	 32
#define ROUNDS	 8
#define PER_CHAN (DISK_SIZE / 4096 / VCPUS) /* 4 KiB blocks owned by each channel */

static void fill(uint8_t *b, unsigned ch, unsigned blk, unsigned round)
{
	unsigned i;

	for (i = 0; i < 4096; i++)
		b[i] = (uint8_t)(ch * 31 + blk * 7 + round * 3 + i / 16);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct storvsc_completion c[QD];
	unsigned round, i, done;

	for (round = 0; round < ROUNDS && !w->failures; round++) {
		bool reading = round % 2 == 1;

		/* QD requests at once: blocks w->index*PER_CHAN + round*QD/2 + i. */
		for (i = 0; i < QD; i++) {
			unsigned blk = (round / 2) * QD + i;
			uint64_t lba = ((uint64_t)w->index * PER_CHAN + blk) * 8;
			uint64_t gpa = w->gpa + 4096 * (uint64_t)i;
			int r;

			if (!reading)
				fill(host(w->f, gpa, 4096), w->index, blk, round / 2);
			else
				memset(host(w->f, gpa, 4096), 0, 4096);
			do {
				r = reading ? storvsc_channel_submit_read(w->ch, 0, lba, 8, gpa, i)
					    : storvsc_channel_submit_write(w->ch, 0, lba, 8, gpa, i,
									   i % 5 == 0);
				if (r == -EAGAIN)
					usleep(100);
			} while (r == -EAGAIN);
			if (r < 0)
				w->failures++;
		}
		for (done = 0; done < QD;) {
			int n = storvsc_channel_poll(w->ch, c, QD, TMO);

			if (n <= 0) {
				w->failures++;
				break;
			}
			for (i = 0; i < (unsigned)n; i++) {
				uint8_t want[4096];
				unsigned blk = (round / 2) * QD + (unsigned)c[i].tag;

				if (c[i].tag >= QD) {
					w->foreign++;
					continue;
				}
				if (c[i].srb_status != SRB_STATUS_SUCCESS ||
				    c[i].transferred != 4096)
					w->failures++;
				if (reading) {
					fill(want, w->index, blk, round / 2);
					if (memcmp(want, host(w->f, w->gpa + 4096 * c[i].tag, 4096),
						   4096))
						w->failures++;
				}
			}
			done += (unsigned)n;
		}
	}
	return NULL;
}

static void test_parallel_channels(void **state)
{
	struct fx *f = *state;
	struct worker w[VCPUS];
	pthread_t t[VCPUS];
	struct storvsp_channel_stats cs;
	struct scsi_lun_stats ls;
	uint8_t sync[10] = {SCSI_SYNCHRONIZE_CACHE};
	unsigned i;

	assert_int_equal(storvsc_client_channel_count(f->sc), VCPUS);
	for (i = 0; i < VCPUS; i++) {
		w[i] = (struct worker){.f = f,
				       .ch = storvsc_client_channel(f->sc, i),
				       .index = i,
				       .gpa = vmbus_client_alloc(f->vc, QD)};
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (i = 0; i < VCPUS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failures, 0);
		assert_int_equal(w[i].foreign, 0);
		/* The completion counter moves just after the send the guest already saw. */
		assert_true(WAIT_FOR(storvsp_get_channel_stats(f->sp, i, &cs) &&
				     cs.completions == QD * ROUNDS));
		assert_int_equal(cs.requests, QD * ROUNDS);
		if (f->depth)
			assert_true(cs.queue_full > 0); /* the waiting path was taken */
		assert_true(cs.signals_in >= 1);
		assert_true(cs.interrupts_out >= 1);
	}
	assert_int_equal(scsi(f, primary(f), 0, sync, 10, 0, 0, false).srb_status,
			 SRB_STATUS_SUCCESS);
	assert_true(storvsp_get_disk_stats(f->sp, 0, &ls, NULL, NULL));
	assert_int_equal(ls.writes, VCPUS * QD * ROUNDS / 2);
	assert_int_equal(ls.reads, VCPUS * QD * ROUNDS / 2);
	assert_int_equal(ls.bytes_read, (uint64_t)VCPUS * QD * ROUNDS / 2 * 4096);
	assert_int_equal(ls.flushes, 1);
	assert_int_equal(ls.errors_io, 0);
}

/* Records completions: each tag once, every one successful. */
static unsigned take_completions(struct storvsc_channel *ch, bool *seen, unsigned n, unsigned tmo)
{
	struct storvsc_completion c[64];
	int got = storvsc_channel_poll(ch, c, 64, tmo), k;

	for (k = 0; k < got; k++) {
		assert_true(c[k].tag < n);
		assert_false(seen[c[k].tag]);
		seen[c[k].tag] = true;
		assert_int_equal(c[k].srb_status, SRB_STATUS_SUCCESS);
	}
	return (unsigned)MAX(got, 0);
}

/*
 * A small ring the guest does not read: the host takes a request only
 * with room reserved for its completion, so once the host->guest ring is
 * spoken for, packets stay in the guest->host ring (backpressure), and no
 * completion is lost when the guest reads again.
 */
static void test_ring_full(void **state)
{
	struct fx *f = *state;
	struct storvsc_client_config cfg = {.ring_pages = 2};
	struct storvsp_channel_stats cs;
	struct storvsc_channel *ch;
	bool seen[200] = {false};
	unsigned i = 0, got = 0, tries = 0;

	storvsc_client_close(f->sc);
	f->sc = NULL;
	assert_int_equal(storvsc_client_open(f->vc, &f->offer, &cfg, &f->sc), 0);
	ch = primary(f);
	/* Without reading: until the guest's own ring stays full. */
	while (i < 200 && tries < 200) {
		if (storvsc_channel_submit_read(ch, 0, i, 1, f->buf, i) == 0) {
			i++;
			tries = 0;
		} else {
			tries++;
			usleep(1000);
		}
	}
	assert_true(i < 200); /* the host stopped taking them */
	assert_true(storvsp_get_channel_stats(f->sp, 0, &cs));
	assert_true(cs.ring_full > 0);
	assert_true(cs.requests < i); /* some wait in the guest->host ring */
	/* Reading again lets the host take the rest; every completion arrives once. */
	while (got < 200) {
		while (i < 200 && storvsc_channel_submit_read(ch, 0, i, 1, f->buf, i) == 0)
			i++;
		got += take_completions(ch, seen, 200, TMO);
		assert_true(got > 0);
	}
	assert_true(WAIT_FOR(storvsp_get_channel_stats(f->sp, 0, &cs) && cs.completions == 200));
	assert_int_equal(cs.requests, 200);
}

/* --- Hot add and remove --- */

static void test_hot_add_remove(void **state)
{
	struct fx *f = *state;
	struct storvsc_channel *ch = primary(f);
	uint8_t rl[12] = {SCSI_REPORT_LUNS, [9] = 255}, tur[6] = {0};
	uint8_t *b = host(f, f->buf, 4096);
	struct storvsc_completion c[40];
	struct storvsp_stats st;
	unsigned i, got = 0, ok = 0, gone = 0;

	assert_int_equal(storvsp_free_lun(f->sp), 2);
	assert_int_equal(storvsp_add_disk(f->sp, 2, test_raw_disk(DISK_SIZE, false), false), 0);
	{
		struct disk *extra = test_raw_disk(DISK_SIZE, false);

		/* On an error the caller keeps the disk. */
		assert_int_equal(storvsp_add_disk(f->sp, 2, extra, false), -EEXIST);
		disk_close(extra);
	}
	/* The rescan notification arrives before the next completion. */
	assert_int_equal(scsi(f, ch, 0, rl, 12, f->buf, 255, true).srb_status, SRB_STATUS_SUCCESS);
	assert_int_equal(storvsc_channel_rescans(ch), 1);
	assert_int_equal(b[3], 24);
	assert_int_equal(b[8 + 16 + 1], 2);
	assert_int_equal(scsi(f, ch, 2, tur, 6, 0, 0, false).srb_status, SRB_STATUS_SUCCESS);
	/* Requests in flight while the disk goes: each completes exactly once. */
	for (i = 0; i < 32; i++)
		assert_int_equal(
			storvsc_channel_submit_read(ch, 2, i, 8, f->buf + 4096 * (i % 8), i), 0);
	assert_int_equal(storvsp_remove_disk(f->sp, 2), 0);
	assert_int_equal(storvsp_remove_disk(f->sp, 2), -ENOENT);
	while (got < 32) {
		int n = storvsc_channel_poll(ch, c, 40, TMO), k;

		assert_true(n > 0);
		for (k = 0; k < n; k++) {
			if (c[k].srb_status == SRB_STATUS_SUCCESS)
				ok++;
			else if (c[k].srb_status == SRB_STATUS_INVALID_LUN)
				gone++;
			else
				fail();
		}
		got += (unsigned)n;
	}
	assert_int_equal(ok + gone, 32);
	assert_int_equal(scsi(f, ch, 2, tur, 6, 0, 0, false).srb_status, SRB_STATUS_INVALID_LUN);
	assert_int_equal(storvsc_channel_rescans(ch), 2);
	storvsp_get_stats(f->sp, &st);
	assert_int_equal(st.rescans, 2);
	assert_false(storvsp_has_disk(f->sp, 2));
}

/* The VM is torn down with the channels open and requests in flight: the controller goes cleanly.
 */
static void test_free_while_busy(void **state)
{
	struct fx *f = *state;
	unsigned i, k;

	for (i = 0; i < storvsc_client_channel_count(f->sc); i++)
		for (k = 0; k < 16; k++)
			assert_int_equal(
				storvsc_channel_submit_read(storvsc_client_channel(f->sc, i), 0,
							    k * 64, 64, f->buf, k),
				0);
	f->sp = storvsp_free(f->sp);
	storvsc_client_forget(f->sc);
	f->sc = NULL;
}

/*
 * A guest that ignores its queue depth: 2000 reads at once on a channel
 * whose pool holds 8. The host never has more than 8 in flight (its
 * memory for them is the preallocated pool), leaves the rest in the ring
 * (counted as busy), and completes every one.
 */
static void test_flood(void **state)
{
	enum { N = 2000 };
	struct fx *f = *state;
	struct storvsc_channel *ch = primary(f);
	struct storvsp_channel_stats cs;
	bool *seen = calloc(N, sizeof(*seen));
	unsigned sent = 0, got = 0;

	assert_non_null(seen);
	while (got < N) {
		/* As many as the guest's ring takes, then whatever came back. */
		while (sent < N &&
		       storvsc_channel_submit_read(ch, 0, sent % 1024, 1,
						   f->buf + 4096 * (sent % 64), sent) == 0)
			sent++;
		got += take_completions(ch, seen, N, TMO);
	}
	assert_true(WAIT_FOR(storvsp_get_channel_stats(f->sp, 0, &cs) && cs.completions == N));
	assert_int_equal(cs.requests, N);
	assert_int_equal(cs.max_requests, 8);
	assert_true(cs.inflight_max <= 8);
	assert_true(cs.inflight_max >= 1);
	assert_true(cs.busy > 0); /* the flood was held back, and counted */
	assert_int_equal(cs.aborted, 0);
	free(seen);
}

/* CLOSECHANNEL (after a GPADL_TEARDOWN if early) and waits for TORNDOWN. 0 or -ETIMEDOUT. */
static int raw_close(struct fx *f, struct vmbus_client_channel *ch, bool teardown_first)
{
	struct vmbus_msg_relid m = {.header.msgtype = VMBUS_MSG_CLOSECHANNEL,
				    .child_relid = vmbus_client_channel_relid(ch)};
	uint8_t buf[VMBUS_MESSAGE_MAX_SIZE];
	size_t len;

	if (teardown_first)
		assert_int_equal(vmbus_client_gpadl_teardown(f->vc, m.child_relid,
							     vmbus_client_channel_gpadl(ch), false),
				 0);
	assert_int_equal(vmbus_client_post(f->vc, 1, &m, sizeof(m)), VMBUS_POST_OK);
	if (!teardown_first)
		assert_int_equal(vmbus_client_gpadl_teardown(f->vc, m.child_relid,
							     vmbus_client_channel_gpadl(ch), false),
				 0);
	for (;;) {
		struct vmbus_msg_gpadl_torndown t;
		int e = vmbus_client_recv_msg(f->vc, buf, &len, TMO);

		if (e < 0)
			return e;
		memcpy(&t, buf, sizeof(t));
		if (t.header.msgtype == VMBUS_MSG_GPADL_TORNDOWN &&
		    t.gpadl == vmbus_client_channel_gpadl(ch))
			return 0;
	}
}

/*
 * Channels closed, GPADLs torn down and the controller removed (rescind)
 * with full rings and every request of the pools in flight: each request
 * taken is answered or counted aborted before the close is acknowledged,
 * nothing is written into the guest's buffers after it (a pattern put
 * there at TORNDOWN survives), and nothing is used after free (ASan).
 */
static void test_close_under_load(void **state)
{
	struct fx *f = *state;
	unsigned n = storvsc_client_channel_count(f->sc), i, k;
	uint64_t bufs[VCPUS];

	assert_int_equal(n, VCPUS);
	for (i = 0; i < n; i++) {
		struct storvsc_channel *ch = storvsc_client_channel(f->sc, i);

		bufs[i] = vmbus_client_alloc(f->vc, 16);
		/* Fill the guest's ring: 8-sector reads cycling through 16 pages. */
		for (k = 0; storvsc_channel_submit_read(ch, 0, k * 8, 8, bufs[i] + 4096 * (k % 16),
							k) == 0;
		     k++)
			;
		assert_true(k > 100);
	}
	/* Sub-channel 1 closes; sub-channel 2 tears its ring GPADL down first, then closes. */
	for (i = 1; i <= 2; i++) {
		struct storvsp_channel_stats cs;

		/* Closed while the host works on the ring: wait until its loop has taken some. */
		for (k = 0; k < 5000; k++) {
			assert_true(storvsp_get_channel_stats(f->sp, i, &cs));
			if (cs.requests > 0)
				break;
			usleep(1000);
		}
		assert_int_equal(raw_close(f,
					   storvsc_channel_vmbus(storvsc_client_channel(f->sc, i)),
					   i == 2),
				 0);
		/* Acknowledged: nothing of this channel is in flight any more. */
		assert_true(storvsp_get_channel_stats(f->sp, i, &cs));
		assert_int_equal(cs.requests, cs.completions + cs.aborted);
		assert_true(cs.requests > 0);
		memset(host(f, bufs[i], 16 * 4096), 0xA5, 16 * 4096);
	}
	/* The controller goes with the primary and sub-channel 3 open and busy: rescinds. */
	f->sp = storvsp_free(f->sp);
	storvsc_client_forget(f->sc);
	f->sc = NULL;
	for (i = 1; i <= 2; i++) {
		const uint8_t *b = host(f, bufs[i], 16 * 4096);

		for (k = 0; k < 16 * 4096; k++)
			assert_int_equal(b[k], 0xA5);
	}
}

/* One handshake step on a raw channel: the completion's status. */
static uint32_t raw_step(struct vmbus_client_channel *ch, uint32_t op, uint16_t arg)
{
	struct vstor_packet p = {.operation = op, .flags = VSTOR_REQUEST_COMPLETION_FLAG};
	struct vmbus_packet_desc d;
	size_t len = sizeof(p);

	if (op == VSTOR_OPERATION_QUERY_PROTOCOL_VERSION)
		p.version.major_minor = arg;
	assert_int_equal(vmbus_client_send(ch, VMBUS_PKT_DATA_INBAND,
					   VMBUS_PKT_FLAG_COMPLETION_REQUESTED, 1, &p, sizeof(p)),
			 0);
	assert_int_equal(vmbus_client_recv_wait(ch, &d, &p, &len, TMO), 0);
	return p.status;
}

/*
 * CLOSECHANNEL and the ring GPADL's teardown, then the host's messages up
 * to GPADL_TORNDOWN (which comes only after the close): sub-channel offers
 * are ignored, rescinded relids released as Linux does. 0 or -ETIMEDOUT.
 */
static int close_and_release(struct fx *f, struct vmbus_client_channel *ch)
{
	struct vmbus_msg_relid m = {.header.msgtype = VMBUS_MSG_CLOSECHANNEL,
				    .child_relid = vmbus_client_channel_relid(ch)};
	uint8_t buf[VMBUS_MESSAGE_MAX_SIZE];
	size_t len;

	assert_int_equal(vmbus_client_post(f->vc, 1, &m, sizeof(m)), VMBUS_POST_OK);
	assert_int_equal(vmbus_client_gpadl_teardown(f->vc, m.child_relid,
						     vmbus_client_channel_gpadl(ch), false),
			 0);
	vmbus_client_channel_forget(ch);
	for (;;) {
		struct vmbus_msg_relid r;
		int e = vmbus_client_recv_msg(f->vc, buf, &len, TMO);

		if (e < 0)
			return e;
		memcpy(&r, buf, sizeof(r));
		if (r.header.msgtype == VMBUS_MSG_GPADL_TORNDOWN)
			return 0;
		if (r.header.msgtype != VMBUS_MSG_RESCIND_CHANNELOFFER)
			continue;
		r.header.msgtype = VMBUS_MSG_RELID_RELEASED;
		assert_int_equal(vmbus_client_post(f->vc, 1, &r, sizeof(r)), VMBUS_POST_OK);
	}
}

/*
 * A guest that asks for sub-channels and closes the primary at once,
 * 1000 times: the bus's message thread closes the primary while the
 * primary's thread creates sub-channels, which takes the bus lock. The
 * close must not hold it (no deadlock: every CLOSECHANNEL's GPADL teardown
 * is answered), nothing leaks (ASan), and the controller works afterwards.
 */
static void test_subchannels_then_close(void **state)
{
	struct fx *f = *state;
	struct storvsc_client_config cfg = {.subchannels = VCPUS - 1};
	struct storvsp_stats st;
	uint8_t tur[6] = {0};
	unsigned i;

	for (i = 0; i < 1000; i++) {
		struct vstor_packet p = {.operation = VSTOR_OPERATION_CREATE_SUB_CHANNELS,
					 .flags = VSTOR_REQUEST_COMPLETION_FLAG,
					 .sub_channel_count = VCPUS - 1};
		struct vmbus_client_channel *ch;

		assert_int_equal(vmbus_client_open(f->vc, &f->offer, 4, 4, 0, &ch), 0);
		assert_int_equal(raw_step(ch, VSTOR_OPERATION_BEGIN_INITIALIZATION, 0), 0);
		assert_int_equal(raw_step(ch, VSTOR_OPERATION_QUERY_PROTOCOL_VERSION,
					  VMSTOR_PROTO_VERSION_WIN10),
				 0);
		assert_int_equal(raw_step(ch, VSTOR_OPERATION_QUERY_PROPERTIES, 0), 0);
		assert_int_equal(raw_step(ch, VSTOR_OPERATION_END_INITIALIZATION, 0), 0);
		assert_int_equal(vmbus_client_send(ch, VMBUS_PKT_DATA_INBAND,
						   VMBUS_PKT_FLAG_COMPLETION_REQUESTED, 2, &p,
						   sizeof(p)),
				 0);
		assert_int_equal(close_and_release(f, ch), 0);
	}
	/* Still controllable: a normal open with sub-channels, a command, counters. */
	assert_int_equal(storvsc_client_open(f->vc, &f->offer, &cfg, &f->sc), 0);
	assert_int_equal(storvsc_client_channel_count(f->sc), VCPUS);
	assert_int_equal(scsi(f, storvsc_client_channel(f->sc, VCPUS - 1), 0, tur, 6, 0, 0, false)
				 .srb_status,
			 SRB_STATUS_SUCCESS);
	storvsp_get_stats(f->sp, &st);
	assert_int_equal(st.channels, VCPUS);
}

/*
 * 16 vCPUs and 4 controllers, a sub-channel per vCPU, behind 4 channels
 * standing for the worker's integration services: 68 relids. Every
 * channel's doorbell rings its own channel (per-channel signal counters)
 * and every channel completes its request.
 */
static void test_many_controllers(void **state)
{
	static const struct vmbus_channel_ops none = {0};
	enum { CPUS = 16, CONTROLLERS = 4, STANDINS = 4 };
	struct vmbus_client_config vcfg = {.vcpus = CPUS, .ram_size = 64 << 20};
	struct storvsc_client_config ccfg = {.subchannels = CPUS - 1, .ring_pages = 4};
	struct vmbus_msg_offer_channel o[STANDINS + CONTROLLERS];
	struct vmbus_channel *standin[STANDINS];
	struct storvsp *sp[CONTROLLERS];
	struct storvsc_client *sc[CONTROLLERS];
	struct vmbus_client *vc;
	uint32_t max_relid = 0;
	uint64_t buf;
	unsigned i, k;
	int n;

	log_set_sink(quiet, NULL);
	assert_int_equal(vmbus_client_new(&vcfg, &vc), 0);
	for (i = 0; i < STANDINS; i++) {
		struct vmbus_channel_params p = {
			.name = "ic", .instance_id = GUID_INIT(i, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)};

		assert_int_equal(
			vmbus_channel_new(vmbus_client_server(vc), &p, &none, NULL, &standin[i]),
			0);
	}
	for (i = 0; i < CONTROLLERS; i++) {
		struct storvsp_config cfg = {.controller = i,
					     .vcpus = CPUS,
					     .server = vmbus_client_server(vc),
					     .mem = vmbus_client_memory(vc)};

		assert_int_equal(storvsp_new(&cfg, &sp[i]), 0);
		assert_int_equal(storvsp_add_disk(sp[i], 0, test_raw_disk(DISK_SIZE, false), false),
				 0);
	}
	buf = vmbus_client_alloc(vc, 1);
	assert_int_equal(vmbus_client_connect(vc, VMBUS_VERSION_WIN10_V5_2), 1);
	n = vmbus_client_request_offers(vc, o, STANDINS + CONTROLLERS);
	assert_int_equal(n, STANDINS + CONTROLLERS);
	for (i = 0; i < CONTROLLERS; i++)
		assert_int_equal(storvsc_client_open(vc, &o[STANDINS + i], &ccfg, &sc[i]), 0);
	for (i = 0; i < CONTROLLERS; i++) {
		assert_int_equal(storvsc_client_channel_count(sc[i]), CPUS);
		for (k = 0; k < CPUS; k++) {
			struct storvsc_channel *ch = storvsc_client_channel(sc[i], k);
			struct storvsc_completion c;
			struct storvsp_channel_stats cs;

			assert_int_equal(storvsc_channel_submit_read(ch, 0, k, 1, buf, k), 0);
			assert_int_equal(storvsc_channel_poll(ch, &c, 1, TMO), 1);
			assert_int_equal(c.srb_status, SRB_STATUS_SUCCESS);
			assert_true(storvsp_get_channel_stats(sp[i], k, &cs));
			assert_true(cs.signals_in >= 1);
			assert_int_equal(cs.requests, 1);
			max_relid = MAX(max_relid, cs.relid);
		}
	}
	/* Past the 64 relids the worker used to register. */
	assert_int_equal(max_relid, STANDINS + CONTROLLERS * CPUS);
	for (i = 0; i < CONTROLLERS; i++) {
		storvsc_client_close(sc[i]);
		storvsp_free(sp[i]);
	}
	for (i = 0; i < STANDINS; i++)
		vmbus_channel_free(standin[i]);
	vmbus_client_free(vc);
}

/* The guest closes and reopens the controller (driver rebind): new sub-channels. */
/*
 * Generation 1's IDE disk over VMBus: Hyper-V's IDE device class, the place in the instance
 * GUID (channel in bytes 0-3, unit in 4-5: storvsc_probe's target), the disk at path 0,
 * target unit, LUN 0 only, no sub-channels.
 */
static void test_ide_offer(void **state)
{
	struct vmbus_client_config cfg = {.vcpus = VCPUS, .ram_size = 64 << 20};
	struct storvsp_config bad = {.ide = true, .ide_channel = 2};
	struct storvsp_config sc = {.vcpus = VCPUS, .ide = true, .ide_channel = 1, .ide_unit = 1};
	struct storvsc_client_config ccfg = {.subchannels = VCPUS - 1};
	uint8_t tur[6] = {0}, inq[6] = {SCSI_INQUIRY, 0, 0, 0, 255};
	struct vmbus_msg_offer_channel o[8];
	struct storvsc_completion c;
	struct storvsc_client *cl;
	struct vmbus_client *vc;
	struct storvsp *sp;
	struct guid want, inst;
	struct storvsc_request rq = {.cdb_len = 6, .tag = 1};
	uint64_t buf;
	int n, i;

	(void)state;
	log_set_sink(quiet, NULL);
	assert_int_equal(vmbus_client_new(&cfg, &vc), 0);
	sc.server = bad.server = vmbus_client_server(vc);
	sc.mem = bad.mem = vmbus_client_memory(vc);
	assert_int_equal(storvsp_new(&bad, &sp), -EINVAL);
	assert_int_equal(storvsp_new(&sc, &sp), 0);
	assert_int_equal(storvsp_add_disk(sp, 0, test_raw_disk(DISK_SIZE, false), false), 0);
	buf = vmbus_client_alloc(vc, 4);
	assert_int_equal(guid_parse(STORVSP_IDE_CLASS_GUID, &want), 0);
	assert_int_equal(vmbus_client_connect(vc, VMBUS_VERSION_WIN10_V5_2), 1);
	n = vmbus_client_request_offers(vc, o, 8);
	for (i = 0; i < n && !guid_equal(&o[i].offer.if_type, &want); i++)
		;
	assert_true(i < n);
	storvsp_ide_instance_guid(1, 1, &inst);
	assert_true(guid_equal(&o[i].offer.if_instance, &inst));
	assert_int_equal(inst.bytes[0] | inst.bytes[1] << 8 | inst.bytes[2] << 16, 1); /* path */
	assert_int_equal(inst.bytes[5] << 8 | inst.bytes[4], 1);		       /* target */
	assert_int_equal(storvsc_client_open(vc, &o[i], &ccfg, &cl), 0);
	assert_null(storvsc_client_channel(cl, 1)); /* no sub-channels */
	/* Target 1 (the unit), LUN 0: the disk. */
	rq.target = 1;
	memcpy(rq.cdb, tur, 6);
	assert_int_equal(storvsc_channel_scsi(storvsc_client_channel(cl, 0), &rq, &c, TMO), 0);
	assert_int_equal(c.srb_status, SRB_STATUS_SUCCESS);
	/* Target 0 is not this disk (a SCSI controller's place): INQUIRY says no unit. */
	rq.target = 0;
	rq.tag = 2;
	memcpy(rq.cdb, inq, 6);
	rq.buf_gpa = buf;
	rq.len = 255;
	rq.data_in = true;
	assert_int_equal(storvsc_channel_scsi(storvsc_client_channel(cl, 0), &rq, &c, TMO), 0);
	assert_int_equal(((uint8_t *)guest_memory_ptr(vmbus_client_memory(vc), buf, 1))[0], 0x7F);
	storvsc_client_close(cl);
	storvsp_free(sp);
	vmbus_client_free(vc);
}

static void test_reopen(void **state)
{
	struct fx *f = *state;
	struct storvsc_client_config cfg = {.subchannels = 2};
	struct storvsp_stats st;
	uint8_t tur[6] = {0};

	storvsc_client_close(f->sc);
	f->sc = NULL;
	assert_int_equal(storvsp_version(f->sp), 0);
	/* Rescinds of the old sub-channels come when the new ones are created. */
	assert_int_equal(
		storvsc_client_open(f->vc, &f->offer, &(struct storvsc_client_config){0}, &f->sc),
		0);
	assert_int_equal(scsi(f, primary(f), 0, tur, 6, 0, 0, false).srb_status,
			 SRB_STATUS_SUCCESS);
	storvsp_get_stats(f->sp, &st);
	assert_int_equal(st.channels, VCPUS);
	storvsc_client_close(f->sc);
	f->sc = NULL;
	/* A third session asks for 2 sub-channels: the host creates them anew, each works. */
	assert_int_equal(storvsc_client_open(f->vc, &f->offer, &cfg, &f->sc), 0);
	assert_int_equal(storvsc_client_channel_count(f->sc), 1 + cfg.subchannels);
	for (unsigned i = 0; i < 1 + cfg.subchannels; i++)
		assert_int_equal(scsi(f, storvsc_client_channel(f->sc, i), 0, tur, 6, 0, 0, false)
					 .srb_status,
				 SRB_STATUS_SUCCESS);
	storvsp_get_stats(f->sp, &st);
	assert_int_equal(st.channels, 1 + cfg.subchannels);
	storvsc_client_close(f->sc);
	f->sc = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_handshake, setup, teardown),
		cmocka_unit_test_setup_teardown(test_versions, setup_bare, teardown),
		cmocka_unit_test_setup_teardown(test_no_known_version, setup_bare, teardown),
		cmocka_unit_test_setup_teardown(test_protocol_order, setup_bare, teardown),
		cmocka_unit_test_setup_teardown(test_scsi_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_unaligned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_packets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parallel_channels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parallel_channels, setup_small_queues,
						teardown),
		cmocka_unit_test_setup_teardown(test_ring_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hot_add_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_while_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subchannels_then_close, setup_bare, teardown),
		cmocka_unit_test_setup_teardown(test_flood, setup_small_pool, teardown),
		cmocka_unit_test_setup_teardown(test_close_under_load, setup, teardown),
		cmocka_unit_test(test_many_controllers),
		cmocka_unit_test(test_ide_offer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

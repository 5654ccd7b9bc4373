/*
 * The hostile-guest suite, storage part (issue 12): a storvsc that sends
 * what Linux never would, through an open channel of the real storvsp
 * over the real VMBus server (tests/lib/storvsc_client.c for the
 * handshake and well-formed requests, raw packets for the rest). Every
 * case checks that the controller answers afterwards, that no byte of
 * guest memory outside the request's buffer changed (sentinels), that the
 * disk holds what it must, and a resident-memory bound; under ASan,
 * nothing outside guest RAM is touched.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "../unit/vsp/storvsp/storvsp_test_util.h"
#include "base/log.h"
#include "hostile.h"
#include "hvdef/scsi_proto.h"
#include "storvsc_client.h"
#include "vid/pc_layout.h"
#include "vsp/storvsp/storvsp.h"

#define RAM	  (32 * MiB)
#define DISK_SIZE (4 * MiB)
#define BUF_PAGES 16
#define TMO	  5000

struct fx {
	struct vmbus_client *vc;
	struct storvsp *sp;
	struct storvsc_client *sc;
	struct storvsc_channel *ch;
	uint64_t buf; /* BUF_PAGES pages, with a sentinel page on each side */
	uint64_t rss0;
};

static void quiet(void *opaque, enum log_level level, const char *line)
{
}

static int setup(void **state)
{
	struct vmbus_client_config cfg = {.vcpus = 2, .ram_size = RAM};
	struct storvsp_config sc = {.vcpus = 1};
	struct storvsc_client_config ccfg = {0};
	static struct fx f;
	struct vmbus_msg_offer_channel o[4];
	struct guid want;
	int n, i;

	log_set_sink(quiet, NULL);
	memset(&f, 0, sizeof(f));
	f.rss0 = hostile_resident_bytes();
	assert_int_equal(vmbus_client_new(&cfg, &f.vc), 0);
	sc.server = vmbus_client_server(f.vc);
	sc.mem = vmbus_client_memory(f.vc);
	assert_int_equal(storvsp_new(&sc, &f.sp), 0);
	assert_int_equal(storvsp_add_disk(f.sp, 0, test_raw_disk(DISK_SIZE, false), false), 0);
	f.buf = vmbus_client_alloc(f.vc, BUF_PAGES + 2) + 4096;
	assert_int_equal(guest_memory_fill(sc.mem, f.buf - 4096, 0xEE, 4096), 0);
	assert_int_equal(guest_memory_fill(sc.mem, f.buf + BUF_PAGES * 4096, 0xEE, 4096), 0);
	assert_int_equal(guid_parse(STORVSP_SCSI_CLASS_GUID, &want), 0);
	assert_int_equal(vmbus_client_connect(f.vc, VMBUS_VERSION_WIN10_V5_2), 1);
	n = vmbus_client_request_offers(f.vc, o, 4);
	for (i = 0; i < n && !guid_equal(&o[i].offer.if_type, &want); i++)
		;
	assert_true(i < n);
	assert_int_equal(storvsc_client_open(f.vc, &o[i], &ccfg, &f.sc), 0);
	f.ch = storvsc_client_channel(f.sc, 0);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	storvsc_client_close(f->sc);
	storvsp_free(f->sp);
	vmbus_client_free(f->vc);
	return 0;
}

static uint8_t *host(struct fx *f, uint64_t gpa, size_t len)
{
	return guest_memory_ptr(vmbus_client_memory(f->vc), gpa, len);
}

/* The pages around the buffer are as setup left them. */
static void assert_sentinels(struct fx *f)
{
	const uint8_t *lo = host(f, f->buf - 4096, 4096),
		      *hi = host(f, f->buf + BUF_PAGES * 4096, 4096);

	for (unsigned i = 0; i < 4096; i++) {
		assert_int_equal(lo[i], 0xEE);
		assert_int_equal(hi[i], 0xEE);
	}
}

static struct storvsc_completion scsi(struct fx *f, const uint8_t *cdb, unsigned cdb_len,
				      uint64_t gpa, uint32_t len, bool data_in)
{
	static uint64_t tag = 100;
	struct storvsc_request rq = {
		.cdb_len = cdb_len, .buf_gpa = gpa, .len = len, .data_in = data_in, .tag = tag++};
	struct storvsc_completion c;

	memcpy(rq.cdb, cdb, cdb_len);
	assert_int_equal(storvsc_channel_scsi(f->ch, &rq, &c, TMO), 0);
	return c;
}

static void rw10(uint8_t *cdb, bool write, uint32_t lba, uint16_t blocks)
{
	memset(cdb, 0, 10);
	cdb[0] = write ? 0x2A : 0x28;
	cdb[2] = (uint8_t)(lba >> 24);
	cdb[3] = (uint8_t)(lba >> 16);
	cdb[4] = (uint8_t)(lba >> 8);
	cdb[5] = (uint8_t)lba;
	cdb[7] = (uint8_t)(blocks >> 8);
	cdb[8] = (uint8_t)blocks;
}

/* The controller still answers a well-formed request. */
static void assert_alive(struct fx *f)
{
	static const uint8_t inquiry[6] = {0x12, 0, 0, 0, 36, 0};
	struct storvsc_completion c = scsi(f, inquiry, 6, f->buf, 36, true);

	assert_int_equal(c.srb_status & 0x3F, SRB_STATUS_SUCCESS);
	assert_sentinels(f);
}

/*
 * SRBs whose buffers start at odd byte offsets and cross pages: data lands exactly where the
 * page list says, byte for byte, and nowhere else.
 */
static void test_srb_crossing_pages(void **state)
{
	struct fx *f = *state;
	uint8_t cdb[10], *src = host(f, f->buf + 4000, 8192), *dst;
	struct storvsc_completion c;

	for (unsigned i = 0; i < 8192; i++)
		src[i] = (uint8_t)(i * 7 + 3);
	rw10(cdb, true, 5, 16);
	c = scsi(f, cdb, 10, f->buf + 4000, 8192, false);
	assert_int_equal(c.srb_status & 0x3F, SRB_STATUS_SUCCESS);
	assert_int_equal(c.transferred, 8192);
	/* Back into the buffer's last bytes: offset 4095 of a page, up to its very end. */
	uint64_t at = f->buf + BUF_PAGES * 4096 - 8192;
	memset(host(f, at - 1, 8193), 0, 8193);
	rw10(cdb, false, 5, 16);
	c = scsi(f, cdb, 10, at, 8192, true);
	assert_int_equal(c.srb_status & 0x3F, SRB_STATUS_SUCCESS);
	dst = host(f, at, 8192);
	assert_memory_equal(dst, src, 8192);
	assert_int_equal(*host(f, at - 1, 1), 0);
	/* A CDB asking for more than the buffer holds: no byte past the buffer's 512. */
	memset(host(f, f->buf + 4095, 1024), 0xC3, 1024);
	rw10(cdb, false, 5, 2);
	c = scsi(f, cdb, 10, f->buf + 4095, 512, true);
	assert_true(c.transferred <= 512);
	for (unsigned i = 512; i < 1024; i++)
		assert_int_equal(*host(f, f->buf + 4095 + i, 1), 0xC3);
	rw10(cdb, false, DISK_SIZE / 512 - 1, 4); /* past the disk's end */
	c = scsi(f, cdb, 10, f->buf + 100, 2048, true);
	assert_int_not_equal(c.srb_status & 0x3F, SRB_STATUS_SUCCESS);
	assert_alive(f);
	hostile_assert_growth(f->rss0, 64 * MiB);
}

/* A raw GPA-direct request (one range over npfn PFNs) and its completion's SRB status. */
static int raw_request(struct fx *f, uint32_t byte_offset, uint32_t byte_count,
		       const uint64_t *pfns, unsigned npfn, uint32_t lba, uint16_t blocks,
		       bool data_in, uint8_t *ret_srb_status)
{
	struct vmbus_client_channel *vch = storvsc_channel_vmbus(f->ch);
	static uint64_t trans = 0x5000;
	struct vstor_packet p = {.operation = VSTOR_OPERATION_EXECUTE_SRB,
				 .flags = VSTOR_REQUEST_COMPLETION_FLAG};
	struct vmbus_packet_desc d;
	uint8_t buf[256];
	size_t len;
	uint64_t id = trans++;

	p.srb.length = sizeof(p.srb);
	p.srb.cdb_length = 10;
	p.srb.sense_info_length = VSTOR_SENSE_LEN;
	p.srb.data_in = data_in ? VSTOR_READ_TYPE : VSTOR_WRITE_TYPE;
	p.srb.data_transfer_length = byte_count;
	rw10(p.srb.cdb_or_sense, !data_in, lba, blocks);
	assert_int_equal(vmbus_client_send_gpa_direct(vch, VMBUS_PKT_FLAG_COMPLETION_REQUESTED, id,
						      byte_offset, byte_count, pfns, npfn, &p,
						      sizeof(p)),
			 0);
	for (;;) {
		len = sizeof(buf);
		int r = vmbus_client_recv_wait(vch, &d, buf, &len, 1000);

		if (r < 0)
			return r; /* no answer */
		if (d.trans_id != id || len < sizeof(struct vstor_packet) - sizeof(p.srb) + 3)
			continue;
		memcpy(&p, buf, MIN(len, sizeof(p)));
		*ret_srb_status = p.srb.srb_status;
		return 0;
	}
}

/*
 * GPA-direct ranges that do not hold what they claim: a byte count larger than the page
 * list, PFNs in the MMIO hole, one past RAM, at 2^52 and beyond. Refused (an error status,
 * or the packet dropped as a protocol error), nothing outside the listed pages written.
 */
static void test_gpa_direct_hostile(void **state)
{
	struct fx *f = *state;
	uint64_t page = f->buf / 4096;
	const uint64_t bad_pfns[][2] = {
		{PC_MMIO_HOLE_START / 4096, page},
		{page, RAM / 4096},
		{UINT64_C(1) << 52, page},
		{page, UINT64_MAX},
	};
	uint8_t st = 0;

	/* Three pages claimed, one listed: the parser must not read PFNs past the list. */
	int r = raw_request(f, 0, 3 * 4096, &page, 1, 0, 24, true, &st);
	assert_true(r == -ETIMEDOUT || (st & 0x3F) != SRB_STATUS_SUCCESS);
	for (unsigned i = 0; i < ARRAY_SIZE(bad_pfns); i++) {
		st = 0;
		r = raw_request(f, 100, 8192 - 200, bad_pfns[i], 2, 0, 15, true, &st);
		assert_true(r == -ETIMEDOUT || (st & 0x3F) != SRB_STATUS_SUCCESS);
		/* As a write, too: nothing read from outside RAM. */
		r = raw_request(f, 100, 8192 - 200, bad_pfns[i], 2, 0, 15, false, &st);
		assert_true(r == -ETIMEDOUT || (st & 0x3F) != SRB_STATUS_SUCCESS);
	}
	/* A byte offset past the first page. */
	r = raw_request(f, 4096, 512, &page, 1, 0, 1, true, &st);
	assert_true(r == -ETIMEDOUT || (st & 0x3F) != SRB_STATUS_SUCCESS);
	assert_alive(f);
	hostile_assert_growth(f->rss0, 64 * MiB);
}

/*
 * UNMAP whose parameter list is longer than its buffer: the CDB's parameter list length and
 * the list's own lengths claim more than the 24 bytes sent. Refused; the disk's data is
 * intact.
 */
static void test_unmap_longer_than_buffer(void **state)
{
	struct fx *f = *state;
	uint8_t cdb[10] = {0x42}, *b = host(f, f->buf, 4096), *data;
	struct storvsc_completion c;

	/* Known data in LBAs 0..7. */
	for (unsigned i = 0; i < 4096; i++)
		b[i] = (uint8_t)(i ^ 0x5A);
	rw10(cdb, true, 0, 8);
	c = scsi(f, cdb, 10, f->buf, 4096, false);
	assert_int_equal(c.srb_status & 0x3F, SRB_STATUS_SUCCESS);
	/* Header: data length 0xFFFF, block descriptor data length 16 descriptors; one given. */
	memset(b, 0, 24);
	b[0] = 0xFF;
	b[1] = 0xFF;
	b[2] = 0x01;
	b[3] = 0x00;
	b[8 + 11] = 8; /* LBA 0, 8 blocks */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0x42;
	cdb[7] = 0xFF; /* parameter list length 0xFFFF */
	cdb[8] = 0xFF;
	c = scsi(f, cdb, 10, f->buf, 24, false);
	assert_int_not_equal(c.srb_status & 0x3F, SRB_STATUS_SUCCESS);
	cdb[7] = 0;
	cdb[8] = 24; /* the right list length, but the list's own lengths still claim more */
	c = scsi(f, cdb, 10, f->buf, 24, false);
	assert_int_not_equal(c.srb_status & 0x3F, SRB_STATUS_SUCCESS);
	/* The data is still there. */
	memset(cdb, 0, sizeof(cdb));
	rw10(cdb, false, 0, 8);
	c = scsi(f, cdb, 10, f->buf + 8192, 4096, true);
	assert_int_equal(c.srb_status & 0x3F, SRB_STATUS_SUCCESS);
	data = host(f, f->buf + 8192, 4096);
	for (unsigned i = 0; i < 4096; i++)
		assert_int_equal(data[i], (uint8_t)(i ^ 0x5A));
	assert_alive(f);
	hostile_assert_growth(f->rss0, 64 * MiB);
}

/* The jail's filters are on: a device thread's forbidden call kills with SIGSYS
 * (seccomp_threads.c). */
static void test_seccomp_is_on(void **state)
{
	int status;

	(void)state;
	if (!hostile_filters_on())
		skip(); /* ThreadSanitizer's build */
	status = hostile_filtered_syscall_status();
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seccomp_is_on),
		cmocka_unit_test_setup_teardown(test_srb_crossing_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gpa_direct_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmap_longer_than_buffer, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

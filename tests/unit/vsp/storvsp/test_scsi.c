/*
 * The SCSI command model (vsp/storvsp/scsi.c) alone, against raw disks on
 * temporary files: every command, its data and its sense, without VMBus.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "storvsp_test_util.h"
#include "vsp/storvsp/scsi.h"

#define DISK_SIZE (8 * 1024 * 1024) /* 16384 blocks */
#define NBLOCKS	  (DISK_SIZE / 512)

struct fx {
	struct disk *disk, *ro_disk;
	struct scsi_lun *lun, *ro;
	uint8_t buf[131072];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->disk = test_raw_disk(DISK_SIZE, false);
	f->ro_disk = test_raw_disk(DISK_SIZE, true);
	assert_int_equal(scsi_lun_new(f->disk, false, &f->lun), 0);
	assert_int_equal(scsi_lun_new(f->ro_disk, false, &f->ro), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	scsi_lun_free(f->lun);
	scsi_lun_free(f->ro);
	disk_close(f->disk);
	disk_close(f->ro_disk);
	free(f);
	return 0;
}

/* Runs a CDB with a buffer of len bytes (data_out: the buffer goes to the device). */
static struct scsi_cmd run(struct scsi_lun *l, const uint8_t *cdb, unsigned cdb_len, void *buf,
			   size_t len, bool data_out)
{
	static const uint16_t luns[] = {0, 3};
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct scsi_cmd c = {0};

	memcpy(c.cdb, cdb, cdb_len);
	c.cdb_len = cdb_len;
	c.iov = &iov;
	c.iovcnt = len ? 1 : 0;
	c.buf_len = len;
	c.data_out = data_out;
	scsi_lun_execute_sync(l, &c, luns, 2);
	return c;
}

static void assert_sense(const struct scsi_cmd *c, uint8_t key, uint16_t asc)
{
	assert_int_equal(c->status, SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(c->sense_len, 18);
	assert_int_equal(c->sense[0], 0x70);
	assert_int_equal(c->sense[2], key);
	assert_int_equal(c->sense[7], 10);
	assert_int_equal(c->sense[12] << 8 | c->sense[13], asc);
	assert_int_equal(c->transferred, 0);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void test_inquiry_standard(void **state)
{
	struct fx *f = *state;
	uint8_t cdb[6] = {SCSI_INQUIRY, 0, 0, 0, 96, 0};
	struct scsi_cmd c = run(f->lun, cdb, 6, f->buf, 255, false);

	assert_int_equal(c.status, SCSI_STATUS_GOOD);
	assert_int_equal(c.transferred, 36);
	assert_int_equal(f->buf[0], 0x00);
	assert_int_equal(f->buf[2], 5);
	assert_int_equal(f->buf[4], 31);
	assert_true(f->buf[7] & 0x02);
	assert_memory_equal(f->buf + 8, "Msft    Virtual Disk    ", 24);
	/* Allocation length smaller than the answer. */
	cdb[4] = 5;
	c = run(f->lun, cdb, 6, f->buf, 255, false);
	assert_int_equal(c.transferred, 5);
	assert_false(c.overrun);
	/* Buffer smaller than the answer: truncated, flagged. */
	cdb[4] = 36;
	c = run(f->lun, cdb, 6, f->buf, 8, false);
	assert_int_equal(c.transferred, 8);
	assert_true(c.overrun);
	/* A page code without EVPD. */
	cdb[2] = 0x80;
	c = run(f->lun, cdb, 6, f->buf, 255, false);
	assert_sense(&c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB);
}

static struct scsi_cmd vpd(struct fx *f, struct scsi_lun *l, uint8_t page)
{
	uint8_t cdb[6] = {SCSI_INQUIRY, 1, page, 0, 255, 0};

	memset(f->buf, 0xAA, 256);
	return run(l, cdb, 6, f->buf, 255, false);
}

static void test_inquiry_vpd(void **state)
{
	struct fx *f = *state;
	struct scsi_cmd c = vpd(f, f->lun, 0x00);
	static const uint8_t pages[] = {0x00, 0x80, 0x83, 0xB0, 0xB1, 0xB2};
	unsigned i;

	assert_int_equal(c.status, SCSI_STATUS_GOOD);
	assert_int_equal(f->buf[3], sizeof(pages));
	assert_memory_equal(f->buf + 4, pages, sizeof(pages));
	c = vpd(f, f->lun, 0x80);
	assert_int_equal(f->buf[1], 0x80);
	assert_int_equal(f->buf[3], 32);
	for (i = 0; i < 32; i++)
		assert_non_null(strchr("0123456789abcdef", f->buf[4 + i]));
	c = vpd(f, f->lun, 0x83);
	assert_int_equal(c.status, SCSI_STATUS_GOOD);
	/* T10 designator (ASCII, type 1) then NAA (binary, type 3, NAA 6). */
	assert_int_equal(f->buf[4], 0x02);
	assert_int_equal(f->buf[5], 0x01);
	assert_memory_equal(f->buf + 8, "Msft    ", 8);
	assert_int_equal(f->buf[4 + 44], 0x01);
	assert_int_equal(f->buf[4 + 44 + 1], 0x03);
	assert_int_equal(f->buf[4 + 44 + 3], 16);
	assert_int_equal(f->buf[4 + 44 + 4] >> 4, 6);
	assert_int_equal(c.transferred, 4 + 44 + 20);
	c = vpd(f, f->lun, 0xB0);
	assert_int_equal(c.transferred, 64);
	assert_int_equal(f->buf[3], 0x3C);
	assert_int_equal(be32(f->buf + 8), SCSI_MAX_TRANSFER_BYTES / 512);
	assert_int_equal(be32(f->buf + 20), 0xFFFFFFFFu);
	assert_int_equal(be32(f->buf + 24), SCSI_MAX_DISK_OPS);
	assert_int_equal(be32(f->buf + 28), 8); /* 4 KiB granularity */
	c = vpd(f, f->lun, 0xB1);
	assert_int_equal(f->buf[4] << 8 | f->buf[5], 1);
	c = vpd(f, f->lun, 0xB2);
	assert_int_equal(f->buf[5], 0x80);
	/* Read-only: no unmap. */
	c = vpd(f, f->ro, 0xB2);
	assert_int_equal(f->buf[5], 0);
	c = vpd(f, f->ro, 0xB0);
	assert_int_equal(be32(f->buf + 20), 0);
	c = vpd(f, f->lun, 0x89);
	assert_sense(&c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB);
}

static void test_read_capacity(void **state)
{
	struct fx *f = *state;
	uint8_t rc10[10] = {SCSI_READ_CAPACITY_10};
	uint8_t rc16[16] = {SCSI_SERVICE_ACTION_IN16, 0x10, [13] = 32};
	struct scsi_cmd c = run(f->lun, rc10, 10, f->buf, 8, false);

	assert_int_equal(c.status, SCSI_STATUS_GOOD);
	assert_int_equal(be32(f->buf), NBLOCKS - 1);
	assert_int_equal(be32(f->buf + 4), 512);
	c = run(f->lun, rc16, 16, f->buf, 32, false);
	assert_int_equal(c.transferred, 32);
	assert_int_equal(be32(f->buf), 0);
	assert_int_equal(be32(f->buf + 4), NBLOCKS - 1);
	assert_int_equal(be32(f->buf + 8), 512);
	assert_int_equal(f->buf[14] & 0x80, 0x80); /* LBPME */
	c = run(f->ro, rc16, 16, f->buf, 32, false);
	assert_int_equal(f->buf[14] & 0x80, 0);
	rc16[1] = 0x11;
	c = run(f->lun, rc16, 16, f->buf, 32, false);
	assert_sense(&c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB);
}

static void test_mode_sense(void **state)
{
	struct fx *f = *state;
	uint8_t ms6[6] = {SCSI_MODE_SENSE_6, 0x08, 0x3F, 0, 255, 0};
	uint8_t ms10[10] = {SCSI_MODE_SENSE_10, 0x08, 0x08, 0, 0, 0, 0, 0, 255, 0};
	struct scsi_cmd c = run(f->lun, ms6, 6, f->buf, 255, false);

	assert_int_equal(c.status, SCSI_STATUS_GOOD);
	assert_int_equal(c.transferred, 4 + 20 + 12);
	assert_int_equal(f->buf[0], c.transferred - 1);
	assert_int_equal(f->buf[2] & 0x80, 0); /* writable */
	assert_int_equal(f->buf[3], 0);	       /* DBD: no block descriptor */
	assert_int_equal(f->buf[4], 0x08);
	assert_int_equal(f->buf[5], 0x12);
	assert_int_equal(f->buf[6] & 0x04, 0x04); /* WCE */
	assert_int_equal(f->buf[24], 0x0A);
	/* Header only (what sd asks first). */
	ms6[4] = 4;
	c = run(f->lun, ms6, 6, f->buf, 255, false);
	assert_int_equal(c.transferred, 4);
	/* Read-only: WP. With a block descriptor. */
	ms6[1] = 0;
	ms6[4] = 255;
	c = run(f->ro, ms6, 6, f->buf, 255, false);
	assert_int_equal(f->buf[2] & 0x80, 0x80);
	assert_int_equal(f->buf[3], 8);
	assert_int_equal(be32(f->buf + 4), NBLOCKS);
	assert_int_equal(be32(f->buf + 8) & 0xFFFFFF, 512);
	c = run(f->lun, ms10, 10, f->buf, 255, false);
	assert_int_equal(c.transferred, 8 + 20);
	assert_int_equal(f->buf[0] << 8 | f->buf[1], 8 + 20 - 2);
	assert_int_equal(f->buf[8], 0x08);
	/* Saved values, unknown page, bad subpage. */
	ms6[2] = 0xC8;
	c = run(f->lun, ms6, 6, f->buf, 255, false);
	assert_sense(&c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB);
	ms6[2] = 0x1C;
	c = run(f->lun, ms6, 6, f->buf, 255, false);
	assert_sense(&c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB);
	ms6[2] = 0x08;
	ms6[3] = 1;
	c = run(f->lun, ms6, 6, f->buf, 255, false);
	assert_sense(&c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB);
}

static void test_simple_commands(void **state)
{
	struct fx *f = *state;
	uint8_t tur[6] = {SCSI_TEST_UNIT_READY}, ssu[6] = {SCSI_START_STOP_UNIT, 0, 0, 0, 1};
	uint8_t rs[6] = {SCSI_REQUEST_SENSE, 0, 0, 0, 18}, rl[12] = {SCSI_REPORT_LUNS, [9] = 64};
	struct scsi_cmd c = run(f->lun, tur, 6, NULL, 0, false);

	assert_int_equal(c.status, SCSI_STATUS_GOOD);
	c = run(f->lun, ssu, 6, NULL, 0, false);
	assert_int_equal(c.status, SCSI_STATUS_GOOD);
	c = run(f->lun, rs, 6, f->buf, 18, false);
	assert_int_equal(c.status, SCSI_STATUS_GOOD);
	assert_int_equal(c.transferred, 18);
	assert_int_equal(f->buf[0], 0x70);
	assert_int_equal(f->buf[2], 0);
	c = run(f->lun, rl, 12, f->buf, 64, false);
	assert_int_equal(c.transferred, 8 + 16);
	assert_int_equal(be32(f->buf), 16);
	assert_int_equal(f->buf[9], 0);
	assert_int_equal(f->buf[17], 3);
	rl[9] = 8;
	c = run(f->lun, rl, 12, f->buf, 64, false);
	assert_sense(&c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB);
}

static void test_unsupported(void **state)
{
	struct fx *f = *state;
	static const uint8_t ops[] = {0x41, 0x93, 0xA3, 0x15, 0xFF, 0x04, 0xC0};
	uint8_t cdb[16] = {0};
	struct scsi_cmd c;
	unsigned i;

	for (i = 0; i < sizeof(ops); i++) {
		cdb[0] = ops[i];
		c = run(f->lun, cdb, 16, f->buf, 512, false);
		assert_sense(&c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_OPCODE);
	}
	/* No CDB; a CDB shorter than its group. */
	c = run(f->lun, cdb, 0, f->buf, 512, false);
	assert_sense(&c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_OPCODE);
	cdb[0] = SCSI_READ_16;
	c = run(f->lun, cdb, 10, f->buf, 512, false);
	assert_sense(&c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB);
	/* The absent-LUN model: INQUIRY says "no LU", other commands fail. */
	memset(&c, 0, sizeof(c));
	{
		static const uint16_t luns[] = {1};
		struct iovec iov = {.iov_base = f->buf, .iov_len = 64};

		c.cdb[0] = SCSI_INQUIRY;
		c.cdb[4] = 36;
		c.cdb_len = 6;
		c.iov = &iov;
		c.iovcnt = 1;
		c.buf_len = 64;
		scsi_absent_execute(&c, luns, 1);
		assert_int_equal(c.status, SCSI_STATUS_GOOD);
		assert_int_equal(f->buf[0], 0x7F);
		c.cdb[0] = SCSI_READ_10;
		scsi_absent_execute(&c, luns, 1);
		assert_sense(&c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LUN_NOT_SUPPORTED);
	}
}

static void rw_cdb(uint8_t *cdb, unsigned len, uint8_t op, uint64_t lba, uint32_t n)
{
	unsigned i;

	memset(cdb, 0, 16);
	cdb[0] = op;
	switch (len) {
	case 6:
		cdb[1] = (uint8_t)(lba >> 16) & 0x1f;
		cdb[2] = (uint8_t)(lba >> 8);
		cdb[3] = (uint8_t)lba;
		cdb[4] = (uint8_t)n;
		break;
	case 10:
		for (i = 0; i < 4; i++)
			cdb[2 + i] = (uint8_t)(lba >> (24 - 8 * i));
		cdb[7] = (uint8_t)(n >> 8);
		cdb[8] = (uint8_t)n;
		break;
	case 12:
		for (i = 0; i < 4; i++) {
			cdb[2 + i] = (uint8_t)(lba >> (24 - 8 * i));
			cdb[6 + i] = (uint8_t)(n >> (24 - 8 * i));
		}
		break;
	default:
		for (i = 0; i < 8; i++)
			cdb[2 + i] = (uint8_t)(lba >> (56 - 8 * i));
		for (i = 0; i < 4; i++)
			cdb[10 + i] = (uint8_t)(n >> (24 - 8 * i));
	}
}

static void test_read_write(void **state)
{
	struct fx *f = *state;
	static const struct {
		unsigned len;
		uint8_t rd, wr;
	} forms[] = {{6, 0x08, 0x0A}, {10, 0x28, 0x2A}, {12, 0xA8, 0xAA}, {16, 0x88, 0x8A}};
	uint8_t cdb[16], back[4096];
	struct scsi_cmd c;
	struct scsi_lun_stats st;
	unsigned i, k;

	for (i = 0; i < 4; i++) {
		uint64_t lba = 100 + 10 * i;

		for (k = 0; k < 4096; k++)
			f->buf[k] = (uint8_t)(k * 7 + i);
		rw_cdb(cdb, forms[i].len, forms[i].wr, lba, 8);
		c = run(f->lun, cdb, forms[i].len, f->buf, 4096, true);
		assert_int_equal(c.status, SCSI_STATUS_GOOD);
		assert_int_equal(c.transferred, 4096);
		assert_int_equal(disk_read(f->disk, lba * 512, back, 4096), 0);
		assert_memory_equal(back, f->buf, 4096);
		memset(f->buf, 0, 4096);
		rw_cdb(cdb, forms[i].len, forms[i].rd, lba, 8);
		c = run(f->lun, cdb, forms[i].len, f->buf, 4096, false);
		assert_int_equal(c.status, SCSI_STATUS_GOOD);
		assert_memory_equal(back, f->buf, 4096);
	}
	/* A larger buffer than the transfer: only the transfer moves. */
	rw_cdb(cdb, 10, 0x28, 100, 1);
	c = run(f->lun, cdb, 10, f->buf, 4096, false);
	assert_int_equal(c.transferred, 512);
	/* FUA asks for a flush after the write. */
	rw_cdb(cdb, 10, 0x2A, 0, 1);
	cdb[1] = SCSI_CDB_FUA;
	{
		struct iovec iov = {.iov_base = f->buf, .iov_len = 512};
		struct scsi_cmd x = {
			.cdb_len = 10, .iov = &iov, .iovcnt = 1, .buf_len = 512, .data_out = true};

		memcpy(x.cdb, cdb, 10);
		assert_int_equal(scsi_lun_execute(f->lun, &x, NULL, 0), SCSI_CMD_DISK_IO);
		assert_true(x.flush_after);
		assert_int_equal(x.nops, 1);
		assert_int_equal(x.ops[0].op, DISK_OP_WRITE);
		assert_int_equal(x.ops[0].len, 512);
		/* A failure of the back end is a MEDIUM ERROR. */
		scsi_cmd_finish(f->lun, &x, -EIO);
		assert_sense(&x, SCSI_SENSE_MEDIUM_ERROR, SCSI_ASC_WRITE_ERROR);
	}
	/* Zero blocks: nothing to do. */
	rw_cdb(cdb, 10, 0x28, 5, 0);
	c = run(f->lun, cdb, 10, NULL, 0, false);
	assert_int_equal(c.status, SCSI_STATUS_GOOD);
	/* READ(6) with length 0 means 256 blocks. */
	rw_cdb(cdb, 6, 0x08, 0, 0);
	c = run(f->lun, cdb, 6, f->buf, 131072, false);
	assert_int_equal(c.transferred, 256 * 512);
	scsi_lun_get_stats(f->lun, &st);
	assert_int_equal(st.writes, 5);
	assert_int_equal(st.bytes_written, 4 * 4096);
}

static void test_read_write_errors(void **state)
{
	struct fx *f = *state;
	uint8_t cdb[16];
	struct scsi_cmd c;
	struct scsi_lun_stats st;

	/* Past the end, and straddling the end. */
	rw_cdb(cdb, 16, 0x88, NBLOCKS, 1);
	c = run(f->lun, cdb, 16, f->buf, 512, false);
	assert_sense(&c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	rw_cdb(cdb, 16, 0x8A, NBLOCKS - 1, 2);
	c = run(f->lun, cdb, 16, f->buf, 1024, true);
	assert_sense(&c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	rw_cdb(cdb, 16, 0x88, UINT64_MAX, 2);
	c = run(f->lun, cdb, 16, f->buf, 1024, false);
	assert_sense(&c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	/* Buffer too small for the transfer; wrong direction; too large a transfer. */
	rw_cdb(cdb, 10, 0x28, 0, 8);
	c = run(f->lun, cdb, 10, f->buf, 512, false);
	assert_sense(&c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB);
	rw_cdb(cdb, 10, 0x2A, 0, 1);
	c = run(f->lun, cdb, 10, f->buf, 512, false);
	assert_sense(&c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB);
	rw_cdb(cdb, 10, 0x28, 0, 4096);
	c = run(f->lun, cdb, 10, f->buf, sizeof(f->buf), false);
	assert_sense(&c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB);
	/* Read-only. */
	rw_cdb(cdb, 10, 0x2A, 0, 1);
	c = run(f->ro, cdb, 10, f->buf, 512, true);
	assert_sense(&c, SCSI_SENSE_DATA_PROTECT, SCSI_ASC_WRITE_PROTECTED);
	rw_cdb(cdb, 10, 0x28, 0, 1);
	c = run(f->ro, cdb, 10, f->buf, 512, false);
	assert_int_equal(c.status, SCSI_STATUS_GOOD);
	scsi_lun_get_stats(f->ro, &st);
	assert_int_equal(st.errors_write_protect, 1);
	scsi_lun_get_stats(f->lun, &st);
	assert_int_equal(st.errors_illegal_request, 6);
}

static void test_sync_and_unmap(void **state)
{
	struct fx *f = *state;
	uint8_t sc10[10] = {SCSI_SYNCHRONIZE_CACHE}, sc16[16] = {SCSI_SYNCHRONIZE_CACHE16};
	uint8_t um[10] = {SCSI_UNMAP, [8] = 8 + 32};
	uint8_t p[40] = {0, 38, 0, 32};
	uint8_t data[4096];
	struct scsi_cmd c;
	struct scsi_lun_stats st;

	c = run(f->lun, sc10, 10, NULL, 0, false);
	assert_int_equal(c.status, SCSI_STATUS_GOOD);
	c = run(f->lun, sc16, 16, NULL, 0, false);
	assert_int_equal(c.status, SCSI_STATUS_GOOD);
	c = run(f->ro, sc10, 10, NULL, 0, false);
	assert_int_equal(c.status, SCSI_STATUS_GOOD);
	/* Write data at blocks 64..71, unmap 64..71 and 200..207 (LBA 64 count 8, LBA 200 count 8).
	 */
	memset(data, 0x5A, sizeof(data));
	assert_int_equal(disk_write(f->disk, 64 * 512, data, 4096), 0);
	p[8 + 7] = 64;
	p[8 + 11] = 8;
	p[24 + 7] = 200;
	p[24 + 11] = 8;
	memcpy(f->buf, p, sizeof(p));
	c = run(f->lun, um, 10, f->buf, sizeof(p), true);
	assert_int_equal(c.status, SCSI_STATUS_GOOD);
	assert_int_equal(disk_read(f->disk, 64 * 512, data, 4096), 0);
	assert_int_equal(data[0], 0);
	assert_int_equal(data[4095], 0);
	/* Descriptor length not a multiple of 16; past the list; LBA out of range. */
	p[3] = 20;
	memcpy(f->buf, p, sizeof(p));
	c = run(f->lun, um, 10, f->buf, sizeof(p), true);
	assert_sense(&c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_PARAM);
	p[3] = 48;
	memcpy(f->buf, p, sizeof(p));
	c = run(f->lun, um, 10, f->buf, sizeof(p), true);
	assert_sense(&c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_PARAM);
	p[3] = 32;
	p[24 + 2] = 0x10;
	memcpy(f->buf, p, sizeof(p));
	c = run(f->lun, um, 10, f->buf, sizeof(p), true);
	assert_sense(&c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	/* Parameter list longer than the buffer. */
	c = run(f->lun, um, 10, f->buf, 16, true);
	assert_sense(&c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_PARAMETER_LIST_LENGTH);
	/* Read-only disks do not unmap. */
	c = run(f->ro, um, 10, f->buf, sizeof(p), true);
	assert_sense(&c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_OPCODE);
	scsi_lun_get_stats(f->lun, &st);
	assert_int_equal(st.flushes, 2);
	assert_true(st.unmaps >= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_inquiry_standard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inquiry_vpd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_capacity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mode_sense, setup, teardown),
		cmocka_unit_test_setup_teardown(test_simple_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsupported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_write_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_and_unmap, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

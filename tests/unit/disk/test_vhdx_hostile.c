/*
 * Hostile VHDX images (issue 12): images built to make an open slow, big
 * or write where it should not. Each case asserts on the work the open did
 * (a counter, not a clock), on what it refused, and that it did not touch
 * what it must not.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "base/compiler.h"
#include "disk/crc32c.h"
#include "disk/disk.h"
#include "disk/vhdx.h"
#include "disk/vhdx/vhdx_internal.h"
#include "disk_test_util.h"

static char err[512];

static const struct guid log_guid = {{9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6}};

static char *make_vhdx(uint64_t size, uint32_t block)
{
	char *name = disk_test_tmpname(".vhdx");
	struct vhdx_create_params p = {.size = size, .block_size = block};

	if (vhdx_create(name, &p, err, sizeof(err)) != 0)
		fail_msg("create: %s", err);
	return name;
}

/* Rewrites both headers with fields changed by edit (then the checksum). */
static void edit_headers(int fd, void (*edit)(struct vhdx_header *, void *), void *opaque)
{
	for (int i = 0; i < 2; i++) {
		off_t at = i ? VHDX_HEADER2_OFFSET : VHDX_HEADER1_OFFSET;
		struct vhdx_header h;

		assert_int_equal(pread(fd, &h, sizeof(h), at), sizeof(h));
		edit(&h, opaque);
		h.checksum = 0;
		h.checksum = crc32c(0, &h, sizeof(h));
		assert_int_equal(pwrite(fd, &h, sizeof(h), at), sizeof(h));
	}
}

struct log_place {
	uint64_t offset;
	uint32_t length;
};

static void set_log(struct vhdx_header *h, void *opaque)
{
	const struct log_place *p = opaque;

	h->log_offset = p->offset;
	h->log_length = p->length;
	h->log_guid = log_guid;
}

/* Moves the log to the end of the file, log_len bytes, filled by fill(sector index). */
static char *image_with_log(uint32_t log_len, void (*fill)(uint8_t *, uint32_t, uint32_t))
{
	char *name = make_vhdx(8 << 20, 1 << 20);
	int fd = open(name, O_RDWR);
	struct log_place p;
	uint8_t *log = calloc(1, log_len);

	assert_true(fd >= 0 && log);
	p.offset = ALIGN_UP((uint64_t)lseek(fd, 0, SEEK_END), (uint64_t)VHDX_MiB);
	p.length = log_len;
	for (uint32_t i = 0; i < log_len / 4096; i++)
		fill(log + (size_t)i * 4096, i, log_len);
	assert_int_equal(pwrite(fd, log, log_len, (off_t)p.offset), (ssize_t)log_len);
	edit_headers(fd, set_log, &p);
	close(fd);
	free(log);
	return name;
}

/* Every sector an entry header claiming the whole log, with as many descriptors as fit. */
static void fill_long_headers(uint8_t *sector, uint32_t i, uint32_t log_len)
{
	struct vhdx_log_entry_header h = {.signature = VHDX_LOG_ENTRY_SIGNATURE,
					  .entry_length = log_len,
					  .tail = 0,
					  .sequence_number = i + 1,
					  .descriptor_count = (log_len - 64) / 32,
					  .log_guid = log_guid,
					  .flushed_file_offset = 4 << 20,
					  .last_file_offset = 4 << 20};

	memcpy(sector, &h, sizeof(h));
}

/* Every sector a valid one-sector entry (no descriptors), sequence numbers consecutive. */
static void fill_valid_entries(uint8_t *sector, uint32_t i, uint32_t log_len)
{
	struct vhdx_log_entry_header h = {.signature = VHDX_LOG_ENTRY_SIGNATURE,
					  .entry_length = 4096,
					  .tail = i * 4096,
					  .sequence_number = i + 1,
					  .log_guid = log_guid,
					  .flushed_file_offset = 4 << 20,
					  .last_file_offset = 4 << 20};

	memcpy(sector, &h, sizeof(h));
	h.checksum = crc32c(0, sector, 4096);
	memcpy(sector + 4, &h.checksum, 4);
}

/*
 * Opens read-write (LogGuid is cleared); the log scans' work in sectors. A read-write open
 * scans twice: to decide, then to replay.
 */
static uint64_t open_scan_work(const char *name)
{
	struct vhdx *v = NULL;
	uint64_t work;

	if (vhdx_open_file(name, 0, &v, err, sizeof(err)) != 0)
		fail_msg("open: %s", err);
	work = v->stats.log_scan_sectors;
	vhdx_free(v);
	return work;
}

/*
 * Issue 12, item 4: a log region full of entry headers, each claiming the
 * whole log, made the scan quadratic (64 MiB of log opened in 149 s). The
 * scan now looks at each sector a bounded number of times: at most 4 per
 * sector of log and scan, for 4 MiB as for 64 MiB.
 */
static void test_log_full_of_headers(void **state)
{
	static const uint32_t sizes[] = {4u << 20, 64u << 20};

	for (unsigned k = 0; k < ARRAY_SIZE(sizes); k++) {
		char *name = image_with_log(sizes[k], fill_long_headers);
		uint64_t sectors = sizes[k] / 4096, work = open_scan_work(name);

		if (work > 2 * 4 * sectors)
			fail_msg("log of %llu sectors: %llu sectors examined",
				 (unsigned long long)sectors, (unsigned long long)work);
		assert_true(work >= 2 * sectors); /* every sector was looked at */
		unlink(name);
		free(name);
	}
}

/*
 * The other extreme: every sector a valid entry and one chain through all
 * of them (each entry is checked, CRC'd and walked): still linear, and the
 * newest entry is the one found.
 */
static void test_log_full_of_entries(void **state)
{
	uint32_t log_len = 16u << 20;
	char *name = image_with_log(log_len, fill_valid_entries);
	uint64_t sectors = log_len / 4096, work = open_scan_work(name);

	if (work > 2 * 4 * sectors)
		fail_msg("log of %llu sectors: %llu sectors examined", (unsigned long long)sectors,
			 (unsigned long long)work);
	assert_true(work >= 2 * 2 * sectors); /* checked and CRC'd: they were all valid */
	unlink(name);
	free(name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_full_of_headers),
		cmocka_unit_test(test_log_full_of_entries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

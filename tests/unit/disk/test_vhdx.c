/* Unit tests of the VHDX back end (src/disk/vhdx/): create, read/write, fixed, 4K sectors,
 * differencing, discard, the queue, log replay. Interop with qemu-img: test_vhdx_interop.py. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "base/compiler.h"
#include "disk/vhdx.h"
#include "disk/vhdx/vhdx_format.h"
#include "queue_test_common.h"

static char err[512];

static char *make_vhdx(uint64_t size, uint32_t block, uint32_t lss, bool fixed, const char *parent)
{
	char *name = disk_test_tmpname(".vhdx");
	struct vhdx_create_params p = {.size = size,
				       .block_size = block,
				       .logical_sector_size = lss,
				       .fixed = fixed,
				       .parent = parent};

	if (vhdx_create(name, &p, err, sizeof(err)) != 0)
		fail_msg("create: %s", err);
	return name;
}

static struct disk *open_ok(const char *name, unsigned flags)
{
	struct disk *d = NULL;

	if (disk_open(name, flags, &d, err, sizeof(err)) != 0)
		fail_msg("open: %s", err);
	return d;
}

/* The current header (larger sequence number) straight from the file. */
static void read_header(const char *name, struct vhdx_header *h)
{
	struct vhdx_header a, b;
	int fd = open(name, O_RDONLY);

	assert_int_equal(pread(fd, &a, sizeof(a), VHDX_HEADER1_OFFSET), sizeof(a));
	assert_int_equal(pread(fd, &b, sizeof(b), VHDX_HEADER2_OFFSET), sizeof(b));
	close(fd);
	*h = a.sequence_number > b.sequence_number ? a : b;
}

static void check_pattern(struct disk *d, uint64_t off, size_t len, uint32_t seed)
{
	uint8_t *want = malloc(len), *got = malloc(len);

	if (seed)
		disk_test_fill(want, len, off, seed);
	else
		memset(want, 0, len);
	assert_int_equal(disk_read(d, off, got, len), 0);
	assert_memory_equal(want, got, len);
	free(want);
	free(got);
}

static void write_pattern(struct disk *d, uint64_t off, size_t len, uint32_t seed)
{
	uint8_t *buf = malloc(len);

	disk_test_fill(buf, len, off, seed);
	assert_int_equal(disk_write(d, off, buf, len), 0);
	free(buf);
}

static void test_dynamic_rw(void **state)
{
	char *name = make_vhdx(64 << 20, 1 << 20, 0, false, NULL);
	struct disk *d = open_ok(name, 0);
	struct disk_info info;
	struct vhdx_header h;

	disk_get_info(d, &info);
	assert_int_equal(info.format, DISK_FORMAT_VHDX);
	assert_int_equal(info.size, 64 << 20);
	assert_int_equal(info.logical_sector_size, 512);
	assert_int_equal(info.discard_granularity, 1 << 20);
	check_pattern(d, 0, 1 << 20, 0);
	/* Across block boundaries, unaligned to blocks, sector-sized. */
	write_pattern(d, (1 << 20) - 4096, 8192, 7);
	write_pattern(d, 10 << 20, 3 << 20, 8);
	write_pattern(d, (64 << 20) - 512, 512, 9);
	assert_int_equal(disk_flush(d), 0);
	check_pattern(d, (1 << 20) - 4096, 8192, 7);
	check_pattern(d, 10 << 20, 3 << 20, 8);
	check_pattern(d, (1 << 20) + 4096, 4096, 0);
	read_header(name, &h);
	assert_false(guid_is_null(&h.log_guid)); /* a session with metadata changes */
	disk_close(d);
	read_header(name, &h);
	assert_true(guid_is_null(&h.log_guid)); /* a clean close */
	d = open_ok(name, DISK_OPEN_READ_ONLY);
	check_pattern(d, (1 << 20) - 4096, 8192, 7);
	check_pattern(d, 10 << 20, 3 << 20, 8);
	check_pattern(d, (64 << 20) - 512, 512, 9);
	check_pattern(d, 20 << 20, 1 << 20, 0);
	disk_close(d);
	unlink(name);
	free(name);
}

static void test_fixed_and_4k(void **state)
{
	char *name = make_vhdx(16 << 20, 1 << 20, 0, true, NULL);
	char *name4k = make_vhdx(32 << 20, 2 << 20, 4096, false, NULL);
	struct disk *d = open_ok(name, 0), *d4 = open_ok(name4k, 0);
	struct disk_info info;
	struct stat st;
	uint8_t buf[512];

	stat(name, &st);
	assert_true(st.st_size >= 16 << 20);
	write_pattern(d, 5 << 20, 1 << 20, 3);
	check_pattern(d, 5 << 20, 1 << 20, 3);
	disk_get_info(d4, &info);
	assert_int_equal(info.logical_sector_size, 4096);
	assert_int_equal(disk_write(d4, 512, buf, 512), -EINVAL);
	write_pattern(d4, 8192, 16384, 4);
	disk_close(d);
	disk_close(d4);
	stat(name, &st);
	assert_true(st.st_size <
		    (16 << 20) + (8 << 20)); /* no block allocated beyond the fixed ones */
	d = open_ok(name, 0);
	d4 = open_ok(name4k, 0);
	check_pattern(d, 5 << 20, 1 << 20, 3);
	check_pattern(d4, 8192, 16384, 4);
	disk_close(d);
	disk_close(d4);
	unlink(name);
	unlink(name4k);
	free(name);
	free(name4k);
}

static void test_queue_on_vhdx(void **state)
{
	char *name = make_vhdx(24 << 20, 1 << 20, 0, false, NULL);
	struct disk *d = open_ok(name, 0);

	qt_exercise(d, 12 << 20, 11); /* allocates (sync path) */
	qt_exercise(d, 12 << 20, 12); /* rewrites allocated blocks (io_uring) */
	disk_close(d);
	d = open_ok(name, DISK_OPEN_READ_ONLY);
	uint8_t *buf = malloc(12 << 20), *want = malloc(12 << 20);
	for (unsigned s = 0; s < (12 << 20) / 12288; s++)
		disk_test_fill(want + (size_t)s * 12288, 12288, (uint64_t)s * 12288, 12);
	assert_int_equal(disk_read(d, 0, buf, (12 << 20) / 12288 * 12288), 0);
	assert_memory_equal(buf, want, (12 << 20) / 12288 * 12288);
	free(buf);
	free(want);
	disk_close(d);
	unlink(name);
	free(name);
}

static void test_differencing(void **state)
{
	char *parent = make_vhdx(16 << 20, 1 << 20, 0, false, NULL);
	struct disk *p = open_ok(parent, 0), *c;
	char *child;

	write_pattern(p, 0, 4 << 20, 21);
	disk_close(p);
	child = make_vhdx(0, 0, 0, false, parent);
	c = open_ok(child, 0);
	check_pattern(c, 0, 4 << 20, 21); /* through to the parent */
	check_pattern(c, 8 << 20, 1 << 20, 0);
	write_pattern(c, (1 << 20) + 4096, 8192, 22); /* copy-on-write of block 1 */
	write_pattern(c, 9 << 20, 4096, 23);
	assert_int_equal(disk_discard(c, 2 << 20, 2 << 20),
			 0); /* hides the parent's block 1 (2 MiB blocks) */
	disk_close(c);
	c = open_ok(child, 0);
	check_pattern(c, 1 << 20, 4096, 21);
	check_pattern(c, (1 << 20) + 4096, 8192, 22);
	check_pattern(c, (1 << 20) + 12288, (1 << 20) - 12288, 21);
	check_pattern(c, 0, 1 << 20, 21);
	check_pattern(c, 2 << 20, 2 << 20, 0);
	check_pattern(c, 9 << 20, 4096, 23);
	disk_close(c);
	/* The parent did not change. */
	p = open_ok(parent, DISK_OPEN_READ_ONLY);
	check_pattern(p, 0, 4 << 20, 21);
	check_pattern(p, 9 << 20, 4096, 0);
	disk_close(p);
	/* A parent written after the child was made no longer matches. */
	p = open_ok(parent, 0);
	write_pattern(p, 0, 512, 24);
	disk_close(p);
	assert_int_equal(disk_open(child, 0, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "does not match"));
	/* A missing parent. */
	unlink(parent);
	assert_int_equal(disk_open(child, 0, &c, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "missing"));
	unlink(child);
	free(parent);
	free(child);
}

static void test_discard_dynamic(void **state)
{
	char *name = make_vhdx(16 << 20, 1 << 20, 0, false, NULL);
	struct disk *d = open_ok(name, 0);
	struct stat before, after;

	write_pattern(d, 0, 8 << 20, 31);
	assert_int_equal(disk_flush(d), 0);
	stat(name, &before);
	assert_int_equal(disk_discard(d, 1 << 20, 4 << 20), 0);
	assert_int_equal(disk_discard(d, 6 << 20, 4096), 0); /* part of a block: punched */
	check_pattern(d, 0, 1 << 20, 31);
	check_pattern(d, 1 << 20, 4 << 20, 0);
	check_pattern(d, 5 << 20, 1 << 20, 31);
	check_pattern(d, 6 << 20, 4096, 0);
	check_pattern(d, (6 << 20) + 4096, 4096, 31);
	stat(name, &after);
	assert_true(after.st_blocks < before.st_blocks); /* host space freed */
	disk_close(d);
	d = open_ok(name, 0);
	check_pattern(d, 1 << 20, 4 << 20, 0);
	write_pattern(d, 2 << 20, 4096, 32); /* a discarded block is allocated again */
	check_pattern(d, 2 << 20, 4096, 32);
	check_pattern(d, (2 << 20) + 4096, 4096, 0);
	disk_close(d);
	unlink(name);
	free(name);
}

/*
 * A crash between the log write and the in-place update: a child writes (allocating blocks)
 * and dies without closing; the BAT page in place is then put back as it was before. The
 * next read-write open replays the log; a read-only one refuses, naming the log.
 */
static void test_log_replay(void **state)
{
	char *name = make_vhdx(16 << 20, 1 << 20, 0, false, NULL);
	struct vhdx_header h;
	uint8_t zero_page[4096] = {0};
	struct disk *d;
	pid_t pid = fork();

	if (pid == 0) {
		struct disk *w;

		if (disk_open(name, 0, &w, NULL, 0) != 0)
			_exit(1);
		uint8_t *buf = malloc(1 << 20);
		disk_test_fill(buf, 1 << 20, 3 << 20, 41);
		if (disk_write(w, 3 << 20, buf, 1 << 20) != 0 || disk_flush(w) != 0)
			_exit(2);
		_exit(0); /* no close: LogGuid stays set */
	}
	int status;
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	read_header(name, &h);
	assert_false(guid_is_null(&h.log_guid));
	/* Undo the in-place BAT update (BAT at 2 MiB in files we create). */
	int fd = open(name, O_RDWR);
	assert_int_equal(pwrite(fd, zero_page, 4096, 2 << 20), 4096);
	close(fd);
	assert_int_equal(disk_open(name, DISK_OPEN_READ_ONLY, &d, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "log needs replay"));
	d = open_ok(name, 0);
	check_pattern(d, 3 << 20, 1 << 20, 41);
	disk_close(d);
	read_header(name, &h);
	assert_true(guid_is_null(&h.log_guid));
	d = open_ok(name, DISK_OPEN_READ_ONLY);
	check_pattern(d, 3 << 20, 1 << 20, 41);
	disk_close(d);
	unlink(name);
	free(name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dynamic_rw),	cmocka_unit_test(test_fixed_and_4k),
		cmocka_unit_test(test_queue_on_vhdx),	cmocka_unit_test(test_differencing),
		cmocka_unit_test(test_discard_dynamic), cmocka_unit_test(test_log_replay),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

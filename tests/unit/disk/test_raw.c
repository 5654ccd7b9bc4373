/* Unit tests of the raw back end and format detection (src/disk/raw.c, disk.c). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "disk/disk.h"
#include "disk_test_util.h"

static void test_rw(void **state)
{
	char *name = disk_test_make_raw(1 << 20);
	char err[256];
	struct disk *d;
	struct disk_info info;
	static uint8_t buf[65536], back[65536];

	assert_int_equal(disk_open(name, 0, &d, err, sizeof(err)), 0);
	disk_get_info(d, &info);
	assert_int_equal(info.format, DISK_FORMAT_RAW);
	assert_string_equal(disk_format_name(info.format), "raw");
	assert_int_equal(info.size, 1 << 20);
	assert_int_equal(info.logical_sector_size, 512);
	assert_false(info.read_only);
	assert_true(info.can_discard);
	disk_test_fill(buf, sizeof(buf), 4096, 1);
	assert_int_equal(disk_write(d, 4096, buf, sizeof(buf)), 0);
	assert_int_equal(disk_flush(d), 0);
	assert_int_equal(disk_read(d, 4096, back, sizeof(back)), 0);
	assert_memory_equal(buf, back, sizeof(buf));
	/* Range and alignment checks. */
	assert_int_equal(disk_read(d, 100, back, 512), -EINVAL);
	assert_int_equal(disk_read(d, 0, back, 100), -EINVAL);
	assert_int_equal(disk_read(d, (1 << 20) - 512, back, 1024), -EINVAL);
	assert_int_equal(disk_write(d, 1 << 20, buf, 512), -EINVAL);
	/* Discard: zeroes after, and the space is freed. */
	assert_int_equal(disk_discard(d, 4096, 65536), 0);
	assert_int_equal(disk_read(d, 4096, back, sizeof(back)), 0);
	memset(buf, 0, sizeof(buf));
	assert_memory_equal(buf, back, sizeof(back));
	d = disk_close(d);
	assert_null(d);
	unlink(name);
	free(name);
}

static void test_identity_and_readonly(void **state)
{
	char *name = disk_test_make_raw(8192 + 100); /* a partial last sector is not addressable */
	struct disk *a, *b;
	struct disk_info ia, ib;
	char err[256];
	uint8_t buf[512] = {0};

	assert_int_equal(disk_open(name, 0, &a, err, sizeof(err)), 0);
	disk_get_info(a, &ia);
	/* A writer excludes every other open of the file (it is attached elsewhere). */
	assert_int_equal(disk_open(name, 0, &b, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "in use"));
	assert_int_equal(disk_open(name, DISK_OPEN_READ_ONLY, &b, err, sizeof(err)), -EBUSY);
	disk_close(a);
	assert_int_equal(disk_open(name, DISK_OPEN_READ_ONLY, &b, err, sizeof(err)), 0);
	assert_int_equal(disk_open(name, DISK_OPEN_READ_ONLY, &a, err, sizeof(err)), 0);
	assert_int_equal(disk_open(name, 0, &a, err, sizeof(err)), -EBUSY); /* readers share */
	disk_get_info(b, &ib);
	assert_int_equal(ia.size, 8192);
	assert_true(guid_equal(&ia.disk_id, &ib.disk_id));
	assert_false(guid_is_null(&ia.disk_id));
	assert_true(ib.read_only);
	assert_false(ib.can_discard);
	assert_int_equal(disk_write(b, 0, buf, 512), -EROFS);
	assert_int_equal(disk_discard(b, 0, 512), -EROFS);
	disk_close(a);
	disk_close(b);
	/* A file that is not writable opens read-only (when not root, chmod matters). */
	chmod(name, 0444);
	if (geteuid() != 0) {
		assert_int_equal(disk_open(name, 0, &a, err, sizeof(err)), 0);
		disk_get_info(a, &ia);
		assert_true(ia.read_only);
		disk_close(a);
	}
	unlink(name);
	free(name);
}

static void test_missing(void **state)
{
	struct disk *d = NULL;
	char err[256];

	assert_int_equal(disk_open("/nonexistent/x.raw", 0, &d, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/x.raw"));
	assert_null(d);
	assert_null(disk_close(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rw),
		cmocka_unit_test(test_identity_and_readonly),
		cmocka_unit_test(test_missing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Corrupt VHDX images fail to open with one line naming the problem, and
 * nothing is written to them (each case is opened read-write and the file
 * compared byte for byte afterwards).
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
#include "disk/vhdx/vhdx_format.h"
#include "disk_test_util.h"

#define BAT_OFF	 (2u << 20) /* where vhdx_create puts them for small disks */
#define META_OFF (3u << 20)

static char *name;
static uint8_t *image;
static size_t image_size;

static int setup(void **state)
{
	struct vhdx_create_params p = {.size = 8 << 20, .block_size = 1 << 20};
	char err[256];
	struct disk *d;
	uint8_t buf[4096];
	int fd;

	name = disk_test_tmpname(".vhdx");
	assert_int_equal(vhdx_create(name, &p, err, sizeof(err)), 0);
	assert_int_equal(disk_open(name, 0, &d, err, sizeof(err)), 0);
	memset(buf, 0x77, sizeof(buf));
	assert_int_equal(disk_write(d, 0, buf, sizeof(buf)), 0); /* one allocated block */
	disk_close(d);
	fd = open(name, O_RDONLY);
	image_size = (size_t)lseek(fd, 0, SEEK_END);
	image = malloc(image_size);
	assert_int_equal(pread(fd, image, image_size, 0), (ssize_t)image_size);
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	unlink(name);
	free(name);
	free(image);
	return 0;
}

static void put32(uint8_t *img, size_t off, uint32_t v)
{
	memcpy(img + off, &v, 4);
}

static void put64(uint8_t *img, size_t off, uint64_t v)
{
	memcpy(img + off, &v, 8);
}

static void fix_region_crcs(uint8_t *img)
{
	for (int i = 0; i < 2; i++) {
		uint8_t *t = img + (i ? VHDX_REGION2_OFFSET : VHDX_REGION1_OFFSET);

		put32(t, 4, 0);
		put32(t, 4, crc32c(0, t, VHDX_REGION_TABLE_SIZE));
	}
}

/* Writes the mutated image to a file, opens it read-write, expects failure naming `what`. */
static void expect_refused(uint8_t *img, size_t size, const char *what)
{
	char *path = disk_test_tmpname(".vhdx"), err[512] = "";
	struct disk *d = NULL;
	uint8_t *after = malloc(size);
	int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0644);

	assert_int_equal(pwrite(fd, img, size, 0), (ssize_t)size);
	close(fd);
	int r = disk_open(path, 0, &d, err, sizeof(err));
	if (r == 0)
		fail_msg("opened an image with %s", what);
	assert_null(d);
	if (!strstr(err, what))
		fail_msg("error \"%s\" does not name \"%s\"", err, what);
	assert_null(strchr(err, '\n'));
	fd = open(path, O_RDONLY);
	assert_int_equal(lseek(fd, 0, SEEK_END), (off_t)size);
	assert_int_equal(pread(fd, after, size, 0), (ssize_t)size);
	close(fd);
	assert_memory_equal(img, after, size); /* nothing written */
	unlink(path);
	free(path);
	free(after);
}

static uint8_t *copy(void)
{
	uint8_t *c = malloc(image_size);

	memcpy(c, image, image_size);
	return c;
}

static void test_headers(void **state)
{
	uint8_t *c = copy();

	c[VHDX_HEADER1_OFFSET + 100] ^= 1;
	c[VHDX_HEADER2_OFFSET + 100] ^= 1;
	expect_refused(c, image_size, "CRC-32C mismatch");
	memcpy(c, image, image_size);
	c[VHDX_HEADER1_OFFSET] = 'x';
	c[VHDX_HEADER2_OFFSET] = 'x';
	expect_refused(c, image_size, "bad signature");
	free(c);
}

static void test_one_bad_header_is_fine(void **state)
{
	char *path = disk_test_tmpname(".vhdx");
	uint8_t *c = copy();
	struct disk *d;
	uint8_t buf[4096];
	int fd;

	c[VHDX_HEADER1_OFFSET + 100] ^= 1;
	c[VHDX_REGION1_OFFSET + 100] ^= 1;
	fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0644);
	assert_int_equal(pwrite(fd, c, image_size, 0), (ssize_t)image_size);
	close(fd);
	assert_int_equal(disk_open(path, DISK_OPEN_READ_ONLY, &d, NULL, 0), 0);
	assert_int_equal(disk_read(d, 0, buf, sizeof(buf)), 0);
	assert_int_equal(buf[0], 0x77);
	disk_close(d);
	unlink(path);
	free(path);
	free(c);
}

static void test_regions(void **state)
{
	uint8_t *c = copy();
	size_t e0 = VHDX_REGION1_OFFSET + 16; /* first entry: the BAT */

	c[VHDX_REGION1_OFFSET + 100] ^= 1;
	c[VHDX_REGION2_OFFSET + 100] ^= 1;
	expect_refused(c, image_size, "region table");
	memcpy(c, image, image_size);
	put64(c, e0 + 16, image_size + (1 << 20)); /* BAT past the end */
	memcpy(c + VHDX_REGION2_OFFSET, c + VHDX_REGION1_OFFSET, VHDX_REGION_TABLE_SIZE);
	fix_region_crcs(c);
	expect_refused(c, image_size, "past the end of the file");
	memcpy(c, image, image_size);
	put64(c, e0 + 16, META_OFF); /* BAT on top of the metadata */
	memcpy(c + VHDX_REGION2_OFFSET, c + VHDX_REGION1_OFFSET, VHDX_REGION_TABLE_SIZE);
	fix_region_crcs(c);
	expect_refused(c, image_size, "overlaps");
	memcpy(c, image, image_size);
	put64(c, e0 + 16, 1 << 20); /* BAT on top of the log */
	memcpy(c + VHDX_REGION2_OFFSET, c + VHDX_REGION1_OFFSET, VHDX_REGION_TABLE_SIZE);
	fix_region_crcs(c);
	expect_refused(c, image_size, "overlaps");
	memcpy(c, image, image_size);
	c[e0] ^= 0x55; /* the BAT's GUID becomes unknown, still Required */
	memcpy(c + VHDX_REGION2_OFFSET, c + VHDX_REGION1_OFFSET, VHDX_REGION_TABLE_SIZE);
	fix_region_crcs(c);
	expect_refused(c, image_size, "unknown required VHDX region");
	free(c);
}

static void test_metadata(void **state)
{
	uint8_t *c = copy();
	size_t item0 = META_OFF + 32; /* first table entry: file parameters at +64 KiB */
	uint32_t params_off, size_off;

	memcpy(&params_off, c + item0 + 16, 4);
	memcpy(&size_off, c + item0 + 32 + 16, 4);
	put32(c, META_OFF + params_off, 3u << 20); /* block size 3 MiB */
	expect_refused(c, image_size, "not a power of two");
	memcpy(c, image, image_size);
	put32(c, META_OFF + params_off, 512u << 20);
	expect_refused(c, image_size, "not a power of two");
	memcpy(c, image, image_size);
	put64(c, META_OFF + size_off, UINT64_C(65) << 40); /* 65 TiB */
	expect_refused(c, image_size, "over 64 TiB");
	memcpy(c, image, image_size);
	c[item0] ^= 0x55; /* the file parameters' GUID becomes unknown, still IsRequired */
	expect_refused(c, image_size, "unknown required VHDX metadata");
	memcpy(c, image, image_size);
	c[META_OFF] = 'x';
	expect_refused(c, image_size, "metadata table: bad signature");
	memcpy(c, image, image_size);
	put32(c, item0 + 20, 2u << 20); /* item length over 1 MiB */
	expect_refused(c, image_size, "out of bounds");
	free(c);
}

static void test_bat(void **state)
{
	uint8_t *c = copy();
	uint64_t e = ((uint64_t)(image_size + (4 << 20)) >> 20 << 20) | 6;

	put64(c, BAT_OFF, e);
	expect_refused(c, image_size, "points past the end of the file");
	put64(c, BAT_OFF, (UINT64_C(2) << 20) | 6); /* a block on top of the BAT itself */
	expect_refused(c, image_size, "overlaps");
	put64(c, BAT_OFF, 4); /* reserved state */
	expect_refused(c, image_size, "invalid state");
	put64(c, BAT_OFF, 7); /* partially present outside a differencing disk */
	expect_refused(c, image_size, "invalid state");
	free(c);
}

static void test_small_and_truncated(void **state)
{
	expect_refused(image, 4096, "too small");
	/* The file cut where the metadata region would be. */
	expect_refused(image, 3 << 20, "past the end of the file");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_headers), cmocka_unit_test(test_one_bad_header_is_fine),
		cmocka_unit_test(test_regions), cmocka_unit_test(test_metadata),
		cmocka_unit_test(test_bat),	cmocka_unit_test(test_small_and_truncated),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

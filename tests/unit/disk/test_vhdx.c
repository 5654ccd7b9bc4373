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
#include "disk/crc32c.h"
#include "disk/disk_tool.h"
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
	struct disk *other;
	assert_int_equal(disk_open(name, 0, &other, err, sizeof(err)),
			 -EBUSY); /* a reader holds it */
	assert_non_null(strstr(err, "in use"));
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

/* Several queues on one disk, each with its own submitting thread (storvsp's sub-channels),
 * allocating blocks concurrently (the same BAT pages, the same log). */
struct qt_thread {
	struct disk *d;
	uint64_t base;
	uint32_t seed;
};

static void *qt_thread_main(void *opaque)
{
	struct qt_thread *t = opaque;

	qt_exercise_at(t->d, t->base, 6 << 20, t->seed);
	return NULL;
}

static void test_queues_in_parallel(void **state)
{
	char *name = make_vhdx(24 << 20, 1 << 20, 0, false, NULL);
	struct disk *d = open_ok(name, 0);
	struct qt_thread t[3] = {{d, 0, 101}, {d, 6 << 20, 102}, {d, 12 << 20, 103}};
	pthread_t th[3];

	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&th[i], NULL, qt_thread_main, &t[i]), 0);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	disk_close(d);
	d = open_ok(name, DISK_OPEN_READ_ONLY);
	for (int i = 0; i < 3; i++)
		check_pattern(d, t[i].base, 12288 * 16, t[i].seed);
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

/*
 * A PARTIALLY_PRESENT block as Hyper-V writes them (Parvis itself writes whole blocks): made
 * by hand in a child of a 16 MiB parent with 1 MiB blocks (BAT at 2 MiB; chunk ratio 4096,
 * so the sector bitmap entry is BAT[4096]). Sectors 8..15 and 1024..1025 are the child's.
 */
static void test_partially_present(void **state)
{
	char *parent = make_vhdx(16 << 20, 1 << 20, 0, false, NULL);
	struct disk *p = open_ok(parent, 0), *c;
	uint8_t *want = malloc(1 << 20), *got = malloc(1 << 20), bits[512] = {0};
	uint64_t pay = 5 << 20, sb = 6 << 20;
	char *child;
	int fd;

	write_pattern(p, 0, 2 << 20, 61);
	disk_close(p);
	struct vhdx_create_params cp = {.parent = parent, .block_size = 1 << 20};
	child = disk_test_tmpname(".vhdx");
	assert_int_equal(vhdx_create(child, &cp, err, sizeof(err)), 0);
	fd = open(child, O_RDWR);
	assert_int_equal(ftruncate(fd, 7 << 20), 0);
	disk_test_fill(want, 1 << 20, 0, 62); /* the child's own data for block 0 */
	assert_int_equal(pwrite(fd, want, 1 << 20, pay), 1 << 20);
	bits[1] = 0xff;	  /* sectors 8..15 */
	bits[128] = 0x03; /* sectors 1024, 1025 */
	assert_int_equal(pwrite(fd, bits, sizeof(bits), sb), sizeof(bits));
	uint64_t e0 = pay | VHDX_BAT_PARTIALLY_PRESENT, esb = sb | VHDX_SB_PRESENT;
	assert_int_equal(pwrite(fd, &e0, 8, 2 << 20), 8);
	assert_int_equal(pwrite(fd, &esb, 8, (2 << 20) + 4096 * 8), 8);
	close(fd);

	/* The expected view: parent data, except the child's sectors. */
	disk_test_fill(want, 1 << 20, 0, 61);
	uint8_t *own = malloc(1 << 20);
	disk_test_fill(own, 1 << 20, 0, 62);
	memcpy(want + 8 * 512, own + 8 * 512, 8 * 512);
	memcpy(want + 1024 * 512, own + 1024 * 512, 2 * 512);
	c = open_ok(child, DISK_OPEN_READ_ONLY);
	assert_int_equal(disk_read(c, 0, got, 1 << 20), 0);
	assert_memory_equal(want, got, 1 << 20);
	disk_close(c);
	/* A write into it: the block becomes the child's, whole, with the same view around. */
	c = open_ok(child, 0);
	disk_test_fill(want + 4096 * 100, 4096, 4096 * 100, 63);
	assert_int_equal(disk_write(c, 4096 * 100, want + 4096 * 100, 4096), 0);
	disk_close(c);
	c = open_ok(child, DISK_OPEN_READ_ONLY);
	assert_int_equal(disk_read(c, 0, got, 1 << 20), 0);
	assert_memory_equal(want, got, 1 << 20);
	disk_close(c);
	unlink(child);
	unlink(parent);
	free(child);
	free(parent);
	free(want);
	free(got);
	free(own);
}

/* Merge with data: what the child holds (written, discarded) lands in the parent. */
static void test_merge(void **state)
{
	char *parent = make_vhdx(16 << 20, 1 << 20, 0, false, NULL), *child;
	struct disk *p = open_ok(parent, 0), *c;

	write_pattern(p, 0, 8 << 20, 71);
	disk_close(p);
	child = make_vhdx(0, 0, 0, false, parent); /* 2 MiB blocks over the parent's 1 MiB */
	c = open_ok(child, 0);
	write_pattern(c, 4096, 8192, 72);
	write_pattern(c, 10 << 20, 1 << 20, 73);
	assert_int_equal(disk_discard(c, 4 << 20, 2 << 20), 0);
	disk_close(c);
	assert_int_equal(disk_image_merge(child, NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(access(child, F_OK), -1);
	p = open_ok(parent, DISK_OPEN_READ_ONLY);
	check_pattern(p, 0, 4096, 71);
	check_pattern(p, 4096, 8192, 72);
	check_pattern(p, 12288, (4 << 20) - 12288, 71);
	check_pattern(p, 4 << 20, 2 << 20, 0);
	check_pattern(p, 6 << 20, 2 << 20, 71);
	check_pattern(p, 10 << 20, 1 << 20, 73);
	check_pattern(p, 11 << 20, 1 << 20, 0);
	disk_close(p);
	unlink(parent);
	free(parent);
	free(child);
}

/* The parent of a differencing disk with a log to replay: replayed when the child is opened
 * read-write (DataWriteGuid kept, the chain still matches), refused when read-only. */
static void test_parent_log_replay(void **state)
{
	char *parent = make_vhdx(8 << 20, 1 << 20, 0, false, NULL);
	char *copy = disk_test_tmpname(".vhdx"), *child = disk_test_tmpname(".vhdx");
	struct disk *c;
	char cmd[1024];
	pid_t pid = fork();

	if (pid == 0) {
		struct disk *w;
		uint8_t buf[4096];

		if (disk_open(parent, 0, &w, NULL, 0) != 0)
			_exit(1);
		disk_test_fill(buf, sizeof(buf), 8192, 81);
		if (disk_write(w, 8192, buf, sizeof(buf)) != 0 || disk_flush(w) != 0)
			_exit(2);
		_exit(0); /* dirty */
	}
	int status;
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* A child made against a replayed copy, then the dirty original put in the copy's place. */
	snprintf(cmd, sizeof(cmd), "cp --sparse=always %s %s", parent, copy);
	assert_int_equal(system(cmd), 0);
	c = open_ok(copy, 0); /* replays the copy */
	disk_close(c);
	struct vhdx_create_params cp = {.parent = copy};
	assert_int_equal(vhdx_create(child, &cp, err, sizeof(err)), 0);
	assert_int_equal(rename(parent, copy), 0);
	assert_int_equal(disk_open(child, DISK_OPEN_READ_ONLY, &c, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "log needs replay"));
	c = open_ok(child, 0);
	check_pattern(c, 8192, 4096, 81);
	disk_close(c);
	c = open_ok(child, DISK_OPEN_READ_ONLY); /* the parent is clean now */
	check_pattern(c, 8192, 4096, 81);
	disk_close(c);
	unlink(copy);
	unlink(child);
	free(parent);
	free(copy);
	free(child);
}

/* One log entry: a data descriptor per page (4 KiB images) and one zero descriptor. */
static void put_entry(int fd, uint32_t pos, uint64_t seq, uint32_t tail, const struct guid *g,
		      const uint64_t *targets, uint8_t (*pages)[4096], unsigned n, uint64_t zero_at)
{
	uint32_t len = 4096 * (1 + n);
	uint8_t *e = calloc(1, len);
	struct vhdx_log_entry_header h = {.signature = VHDX_LOG_ENTRY_SIGNATURE,
					  .entry_length = len,
					  .tail = tail,
					  .sequence_number = seq,
					  .descriptor_count = n + 1,
					  .log_guid = *g,
					  .flushed_file_offset = 7 << 20,
					  .last_file_offset = 7 << 20};

	for (unsigned i = 0; i < n; i++) {
		struct vhdx_log_descriptor d = {.signature = VHDX_LOG_DESC_SIGNATURE,
						.file_offset = targets[i],
						.sequence_number = seq};
		struct vhdx_log_data_sector ds = {.signature = VHDX_LOG_DATA_SIGNATURE,
						  .sequence_high = (uint32_t)(seq >> 32),
						  .sequence_low = (uint32_t)seq};

		memcpy(&d.leading_bytes, pages[i], 8);
		memcpy(&d.trailing_bytes, pages[i] + 4092, 4);
		memcpy(ds.data, pages[i] + 8, sizeof(ds.data));
		memcpy(e + 64 + 32 * i, &d, sizeof(d));
		memcpy(e + 4096 * (1 + i), &ds, sizeof(ds));
	}
	struct vhdx_log_descriptor z = {.signature = VHDX_LOG_ZERO_SIGNATURE,
					.leading_bytes = 4096,
					.file_offset = zero_at,
					.sequence_number = seq};
	memcpy(e + 64 + 32 * n, &z, sizeof(z));
	memcpy(e, &h, sizeof(h));
	h.checksum = crc32c(0, e, len);
	memcpy(e + 4, &h.checksum, 4);
	assert_int_equal(pwrite(fd, e, len, (1 << 20) + pos), (ssize_t)len);
	free(e);
}

/*
 * A log as other writers leave it: a sequence of two entries (the second's Tail pointing at
 * the first), a stale entry with an older sequence number after them, zero descriptors. The
 * replay applies exactly the active sequence.
 */
static void test_log_sequence(void **state)
{
	char *name = make_vhdx(16 << 20, 1 << 20, 0, false, NULL);
	uint8_t pages[2][4096] = {{0}}, *blk = malloc(1 << 20);
	struct vhdx_header h[2];
	struct guid g = {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}};
	uint64_t bat = 2 << 20, *e = (uint64_t *)pages[0];
	int fd = open(name, O_RDWR);
	struct disk *d;

	assert_int_equal(ftruncate(fd, 7 << 20), 0);
	disk_test_fill(blk, 1 << 20, 0, 91);
	assert_int_equal(pwrite(fd, blk, 1 << 20, 5 << 20), 1 << 20);
	disk_test_fill(blk, 1 << 20, 1 << 20, 92);
	assert_int_equal(pwrite(fd, blk, 1 << 20, 6 << 20), 1 << 20);
	/* seq 10 at 0: block 0 mapped, 4 KiB of it zeroed. */
	e[0] = (UINT64_C(5) << 20) | VHDX_BAT_FULLY_PRESENT;
	put_entry(fd, 0, 10, 0, &g, &bat, pages, 1, (5 << 20) + 4096);
	/* seq 11 at 8 KiB, tail 0: blocks 0 and 1 mapped, another 4 KiB zeroed. */
	e[1] = (UINT64_C(6) << 20) | VHDX_BAT_FULLY_PRESENT;
	put_entry(fd, 8192, 11, 0, &g, &bat, pages, 1, (6 << 20) + 8192);
	/* seq 4 at 16 KiB (stale): would map block 2 onto block 0's data. */
	e[2] = (UINT64_C(5) << 20) | VHDX_BAT_FULLY_PRESENT;
	put_entry(fd, 16384, 4, 16384, &g, &bat, pages, 1, 6 << 20);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(
			pread(fd, &h[i], 4096, i ? VHDX_HEADER2_OFFSET : VHDX_HEADER1_OFFSET),
			4096);
		h[i].log_guid = g;
		h[i].checksum = 0;
		h[i].checksum = crc32c(0, &h[i], 4096);
		assert_int_equal(
			pwrite(fd, &h[i], 4096, i ? VHDX_HEADER2_OFFSET : VHDX_HEADER1_OFFSET),
			4096);
	}
	close(fd);
	d = open_ok(name, 0);
	check_pattern(d, 0, 4096, 91);
	check_pattern(d, 4096, 4096, 0); /* seq 10's zero descriptor */
	check_pattern(d, 8192, (1 << 20) - 8192, 91);
	check_pattern(d, 1 << 20, 8192, 92);
	check_pattern(d, (1 << 20) + 8192, 4096, 0); /* seq 11's */
	check_pattern(d, (1 << 20) + 12288, (1 << 20) - 12288, 92);
	check_pattern(d, 2 << 20, 1 << 20, 0); /* the stale entry was not applied */
	disk_close(d);
	unlink(name);
	free(name);
	free(blk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dynamic_rw),	   cmocka_unit_test(test_fixed_and_4k),
		cmocka_unit_test(test_queue_on_vhdx),	   cmocka_unit_test(test_differencing),
		cmocka_unit_test(test_discard_dynamic),	   cmocka_unit_test(test_log_replay),
		cmocka_unit_test(test_partially_present),  cmocka_unit_test(test_merge),
		cmocka_unit_test(test_parent_log_replay),  cmocka_unit_test(test_log_sequence),
		cmocka_unit_test(test_queues_in_parallel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

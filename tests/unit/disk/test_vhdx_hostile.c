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
#include <sys/inotify.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "base/compiler.h"
#include "disk/crc32c.h"
#include "disk/disk.h"
#include "disk/vhdx.h"
#include "disk/vhdx/vhdx_internal.h"
#include "disk_test_util.h"

static char err[512];

#define BAT_OFF_LOG (2u << 20) /* the BAT, where vhdx_create puts it for small disks */

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
static void install_log(const char *name, uint32_t log_len,
			void (*fill)(uint8_t *, uint32_t, uint32_t))
{
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
}

static char *image_with_log(uint32_t log_len, void (*fill)(uint8_t *, uint32_t, uint32_t))
{
	char *name = make_vhdx(8 << 20, 1 << 20);

	install_log(name, log_len, fill);
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

/* What fill_zero_entry puts in sector 0: one entry with one zero descriptor. */
static struct {
	uint64_t zero_at, zero_len, last;
} zero_entry;

static void fill_zero_entry(uint8_t *sector, uint32_t i, uint32_t log_len)
{
	struct vhdx_log_entry_header h = {.signature = VHDX_LOG_ENTRY_SIGNATURE,
					  .entry_length = 4096,
					  .sequence_number = 1,
					  .descriptor_count = 1,
					  .log_guid = log_guid,
					  .flushed_file_offset = 4 << 20,
					  .last_file_offset = zero_entry.last};
	struct vhdx_log_descriptor z = {.signature = VHDX_LOG_ZERO_SIGNATURE,
					.leading_bytes = zero_entry.zero_len,
					.file_offset = zero_entry.zero_at,
					.sequence_number = 1};

	if (i)
		return;
	memcpy(sector, &h, sizeof(h));
	memcpy(sector + 64, &z, sizeof(z));
	h.checksum = crc32c(0, sector, 4096);
	memcpy(sector + 4, &h.checksum, 4);
}

static off_t size_of(const char *name)
{
	struct stat st;

	assert_int_equal(stat(name, &st), 0);
	return st.st_size;
}

/*
 * Issue 12, item 8: a log entry whose LastFileOffset is 48 TiB (with a 40 TiB zero
 * descriptor) was replayed: the file grown to 48 TiB, the zeroes written sector by sector
 * where punch-hole is missing. Such an entry is not valid (a VHDX of 8 MiB cannot be that
 * big): nothing is replayed, the file keeps its size. A zero descriptor within the bounds
 * is still replayed.
 */
static void test_log_huge_offsets(void **state)
{
	char *name = make_vhdx(8 << 20, 1 << 20);
	uint8_t buf[4096], back[4096];
	struct disk *d;
	uint64_t e;
	off_t before;
	int fd;

	assert_int_equal(disk_open(name, 0, &d, err, sizeof(err)), 0);
	memset(buf, 0x5A, sizeof(buf));
	assert_int_equal(disk_write(d, 0, buf, sizeof(buf)), 0);
	disk_close(d);
	fd = open(name, O_RDONLY);
	assert_int_equal(pread(fd, &e, 8, BAT_OFF_LOG), 8);
	close(fd);
	zero_entry.zero_at = vhdx_bat_offset(e);
	zero_entry.zero_len = UINT64_C(40) << 40;
	zero_entry.last = UINT64_C(48) << 40;
	install_log(name, 1 << 20, fill_zero_entry);
	before = size_of(name);
	assert_int_equal(disk_open(name, 0, &d, err, sizeof(err)), 0);
	assert_int_equal(disk_read(d, 0, back, sizeof(back)), 0);
	assert_memory_equal(buf, back, sizeof(buf)); /* not replayed */
	disk_close(d);
	assert_int_equal(size_of(name), before);
	/* In bounds: the first 4 KiB of block 0 zeroed by the replay. */
	zero_entry.zero_len = 4096;
	zero_entry.last = (uint64_t)before;
	install_log(name, 1 << 20, fill_zero_entry);
	assert_int_equal(disk_open(name, 0, &d, err, sizeof(err)), 0);
	assert_int_equal(disk_read(d, 0, back, sizeof(back)), 0);
	memset(buf, 0, sizeof(buf));
	assert_memory_equal(buf, back, sizeof(buf));
	disk_close(d);
	unlink(name);
	free(name);
}

/* --- The BAT (issue 12, item 8) --- */

#define BAT_OFF (2u << 20) /* where vhdx_create puts it for small disks */

/* Opens read-write expecting a refusal naming `what`; the file is unchanged. */
static void expect_refused(const char *name, const char *what)
{
	struct disk *d = NULL;
	struct stat before, after;

	assert_int_equal(stat(name, &before), 0);
	err[0] = '\0';
	if (disk_open(name, 0, &d, err, sizeof(err)) == 0)
		fail_msg("opened an image with %s", what);
	if (!strstr(err, what))
		fail_msg("error \"%s\" does not name \"%s\"", err, what);
	assert_int_equal(stat(name, &after), 0);
	assert_int_equal(before.st_size, after.st_size);
	assert_int_equal(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
	assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
}

/* Two payload blocks written, then BAT entry `to` made to map what entry `from` maps. */
static void test_bat_aliasing(void **state)
{
	char *name = make_vhdx(8 << 20, 1 << 20);
	uint8_t buf[4096];
	struct disk *d;
	uint64_t e[2], meta;
	int fd;

	assert_int_equal(disk_open(name, 0, &d, err, sizeof(err)), 0);
	memset(buf, 0x11, sizeof(buf));
	assert_int_equal(disk_write(d, 0, buf, sizeof(buf)), 0);
	assert_int_equal(disk_write(d, 1 << 20, buf, sizeof(buf)), 0);
	disk_close(d);
	fd = open(name, O_RDWR);
	assert_int_equal(pread(fd, e, sizeof(e), BAT_OFF), sizeof(e));
	assert_int_equal(vhdx_bat_state(e[0]), VHDX_BAT_FULLY_PRESENT);
	assert_int_equal(vhdx_bat_state(e[1]), VHDX_BAT_FULLY_PRESENT);
	assert_int_not_equal(vhdx_bat_offset(e[0]), vhdx_bat_offset(e[1]));
	/* Block 1 onto block 0's data: a write to one would change the other. */
	assert_int_equal(pwrite(fd, &e[0], 8, BAT_OFF + 8), 8);
	close(fd);
	expect_refused(name, "another entry maps");
	/* Block 1 onto the metadata region (3 MiB in the files vhdx_create makes). */
	meta = vhdx_bat_make(VHDX_BAT_FULLY_PRESENT, 3 << 20);
	fd = open(name, O_RDWR);
	assert_int_equal(pwrite(fd, &meta, 8, BAT_OFF + 8), 8);
	close(fd);
	expect_refused(name, "overlaps");
	unlink(name);
	free(name);
}

static uint64_t resident_bytes(void)
{
	unsigned long size, resident;
	FILE *f = fopen("/proc/self/statm", "r");

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%lu %lu", &size, &resident), 2);
	fclose(f);
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/*
 * 64 TiB with 1 MiB blocks: a 512 MiB BAT in a sparse file. The open costs what the file
 * holds (a few MiB), not the BAT's size: at most 32 MiB more resident memory (stated bound).
 * On a small file the same size is refused: its BAT region cannot be there.
 */
static void test_64tib_sparse(void **state)
{
	char *name = make_vhdx(UINT64_C(64) << 40, 1 << 20);
	struct disk_info info;
	uint8_t buf[4096], back[4096];
	uint64_t before, grown;
	struct disk *d;

	before = resident_bytes();
	assert_int_equal(disk_open(name, 0, &d, err, sizeof(err)), 0);
	grown = resident_bytes() - before;
	if (grown > (32u << 20))
		fail_msg("opening a sparse 64 TiB VHDX made the worker %llu KiB bigger",
			 (unsigned long long)(grown >> 10));
	disk_get_info(d, &info);
	assert_int_equal(info.size, UINT64_C(64) << 40);
	/* Still a working disk: a block near the end, allocated and read back. */
	memset(buf, 0x64, sizeof(buf));
	assert_int_equal(disk_write(d, (UINT64_C(64) << 40) - 4096, buf, sizeof(buf)), 0);
	assert_int_equal(disk_read(d, (UINT64_C(64) << 40) - 4096, back, sizeof(back)), 0);
	assert_memory_equal(buf, back, sizeof(buf));
	disk_close(d);
	/* The same image cut to 8 MiB: the BAT region is past the end of the file. */
	assert_int_equal(truncate(name, 8 << 20), 0);
	expect_refused(name, "region");
	unlink(name);
	free(name);
}

/* --- Parent locators (issue 12, item 7) --- */

#define PARENT_NAME "parent-with-a-rather-long-name-for-locator-tests.vhdx"

struct family {
	char dir[64]; /* a fresh directory holding both */
	char parent[128], child[128];
};

static void family_make(struct family *f)
{
	struct vhdx_create_params p = {.size = 8 << 20, .block_size = 1 << 20};
	struct vhdx_create_params c = {0};
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(f->dir, sizeof(f->dir), "%s/parvis-hostile-XXXXXX", tmp);
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->parent, sizeof(f->parent), "%s/%s", f->dir, PARENT_NAME);
	snprintf(f->child, sizeof(f->child), "%s/child.vhdx", f->dir);
	if (vhdx_create(f->parent, &p, err, sizeof(err)) != 0)
		fail_msg("create: %s", err);
	c.parent = f->parent;
	if (vhdx_create(f->child, &c, err, sizeof(err)) != 0)
		fail_msg("create child: %s", err);
}

static void family_free(struct family *f)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
}

static void *read_file(const char *path, size_t *ret_size)
{
	int fd = open(path, O_RDONLY);
	off_t n = lseek(fd, 0, SEEK_END);
	uint8_t *b = malloc((size_t)n);

	assert_true(fd >= 0 && b);
	assert_int_equal(pread(fd, b, (size_t)n, 0), n);
	close(fd);
	*ret_size = (size_t)n;
	return b;
}

/*
 * Replaces the child's relative_path value (UTF-16LE, in place: no longer than the name it was
 * made with, PARENT_NAME), found through the locator's own table.
 */
static void set_locator_path(const char *child, const char *path)
{
	static const struct guid type = VHDX_PARENT_LOCATOR_TYPE_VHDX;
	struct vhdx_parent_locator_header h;
	size_t size, base = SIZE_MAX, cap = 2 * strlen(PARENT_NAME), m = strlen(path);
	uint8_t *b = read_file(child, &size);
	int fd = open(child, O_RDWR), done = 0;

	assert_true(m * 2 <= cap);
	for (size_t i = 0; i + sizeof(type) <= size && base == SIZE_MAX; i += 8)
		if (!memcmp(b + i, &type, sizeof(type)))
			base = i;
	assert_true(base != SIZE_MAX);
	memcpy(&h, b + base, sizeof(h));
	for (unsigned k = 0; k < h.key_value_count; k++) {
		struct vhdx_parent_locator_entry e;
		size_t at = base + sizeof(h) + 12 * k;

		memcpy(&e, b + at, sizeof(e));
		if (e.key_length != 26 ||
		    memcmp(b + base + e.key_offset, "r\0e\0l\0a\0t\0i\0v\0e", 15))
			continue;
		memset(b + base + e.value_offset, 0, cap);
		for (size_t i = 0; i < m; i++)
			b[base + e.value_offset + 2 * i] = (uint8_t)path[i];
		e.value_length = (uint16_t)(2 * m);
		memcpy(b + at, &e, sizeof(e));
		done = 1;
	}
	assert_true(done);
	assert_int_equal(pwrite(fd, b, size, 0), (ssize_t)size);
	close(fd);
	free(b);
}

/* Opens the child (read-write, then read-only) expecting a refusal naming `what`. */
static void expect_child_refused(const char *child, const char *const *dirs, const char *what)
{
	for (int ro = 0; ro < 2; ro++) {
		struct disk *d = NULL;

		err[0] = '\0';
		if (disk_open_in(child, ro ? DISK_OPEN_READ_ONLY : 0, dirs, &d, err, sizeof(err)) ==
		    0)
			fail_msg("opened a child whose parent is %s", what);
		assert_null(d);
		if (!strstr(err, what))
			fail_msg("error \"%s\" does not name \"%s\"", err, what);
	}
}

/* A watch for IN_OPEN on path: nothing may open it. */
static int watch_opens(const char *path)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	assert_true(fd >= 0);
	assert_true(inotify_add_watch(fd, path, IN_OPEN) >= 0);
	return fd;
}

static void assert_never_opened(int ifd)
{
	char buf[4096];

	assert_int_equal(read(ifd, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	close(ifd);
}

static void test_parent_fifo(void **state)
{
	struct family f;
	char real[160];
	int w;

	family_make(&f);
	snprintf(real, sizeof(real), "%s.real", f.parent);
	assert_int_equal(rename(f.parent, real), 0);
	assert_int_equal(mkfifo(f.parent, 0600), 0);
	w = watch_opens(f.parent);
	expect_child_refused(f.child, NULL, "a FIFO");
	assert_never_opened(w);
	family_free(&f);
}

static void test_parent_device(void **state)
{
	const char *const dev[] = {"/dev", NULL};
	struct family f;
	int w;

	family_make(&f);
	/* A device node in the child's own directory (when this test may make one). */
	assert_int_equal(unlink(f.parent), 0);
	if (mknod(f.parent, S_IFCHR | 0600, makedev(1, 3)) == 0) {
		w = watch_opens(f.parent);
		expect_child_refused(f.child, NULL, "a device");
		assert_never_opened(w);
	}
	/* The host's own devices: outside the directories, and a device even when allowed. */
	set_locator_path(f.child, "/dev/null");
	expect_child_refused(f.child, NULL, "outside");
	expect_child_refused(f.child, dev, "a device");
	set_locator_path(f.child, "../../../../../../../../dev/zero");
	expect_child_refused(f.child, NULL, "outside");
	family_free(&f);
}

static void test_parent_proc(void **state)
{
	const char *const proc[] = {"/proc", NULL};
	struct family f;

	family_make(&f);
	set_locator_path(f.child, "/proc/self/environ");
	expect_child_refused(f.child, NULL, "outside");
	expect_child_refused(f.child, proc, "not a disk file");
	set_locator_path(f.child, "/sys/kernel/notes");
	expect_child_refused(f.child, (const char *const[]){"/sys", NULL}, "not a disk file");
	family_free(&f);
}

/* A symlink in the child's directory, to a real parent: not followed. */
static void test_parent_symlink(void **state)
{
	struct family f;
	char real[160];

	family_make(&f);
	snprintf(real, sizeof(real), "%s.real", f.parent);
	assert_int_equal(rename(f.parent, real), 0);
	assert_int_equal(symlink(real, f.parent), 0);
	expect_child_refused(f.child, NULL, "a symbolic link");
	family_free(&f);
}

/* A parent elsewhere ("../"): found only through the storage directories it is in. */
static void test_parent_storage_dirs(void **state)
{
	struct vhdx_create_params c = {0};
	struct family f;
	char sub[96], child[160], storage[80];
	struct disk *d = NULL;

	family_make(&f);
	snprintf(sub, sizeof(sub), "%s/vms", f.dir);
	snprintf(child, sizeof(child), "%s/child.vhdx", sub);
	assert_int_equal(mkdir(sub, 0700), 0);
	c.parent = f.parent;
	if (vhdx_create(child, &c, err, sizeof(err)) != 0) /* relative_path "../PARENT_NAME" */
		fail_msg("create child: %s", err);
	expect_child_refused(child, NULL, "outside");
	snprintf(storage, sizeof(storage), "%s/", f.dir);
	const char *const dirs[] = {"/nonexistent", storage, NULL};
	if (disk_open_in(child, 0, dirs, &d, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	disk_close(d);
	/* The child's own directory and below it need no configuration. */
	if (disk_open_in(f.child, 0, NULL, &d, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	disk_close(d);
	family_free(&f);
}

/*
 * A parent written to after the child was made (DataWriteGuid changed), left with a log to
 * replay: the child's read-write open refuses it before replaying anything, and the
 * parent's file is exactly as it was.
 */
static void test_parent_unlinked_dirty_log(void **state)
{
	struct family f;
	size_t before_size, after_size;
	uint8_t *before, *after;
	int status;
	pid_t pid;

	family_make(&f);
	pid = fork();
	if (pid == 0) {
		struct disk *w;
		static uint8_t buf[4096];

		if (disk_open(f.parent, 0, &w, NULL, 0) != 0)
			_exit(1);
		memset(buf, 0x5A, sizeof(buf));
		if (disk_write(w, 1 << 20, buf, sizeof(buf)) != 0 || disk_flush(w) != 0)
			_exit(2);
		_exit(0); /* no close: LogGuid stays set, the log needs replay */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	before = read_file(f.parent, &before_size);
	expect_child_refused(f.child, NULL, "does not match");
	after = read_file(f.parent, &after_size);
	assert_int_equal(before_size, after_size);
	assert_memory_equal(before, after, before_size);
	free(before);
	free(after);
	family_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_full_of_headers),
		cmocka_unit_test(test_log_full_of_entries),
		cmocka_unit_test(test_log_huge_offsets),
		cmocka_unit_test(test_bat_aliasing),
		cmocka_unit_test(test_64tib_sparse),
		cmocka_unit_test(test_parent_fifo),
		cmocka_unit_test(test_parent_device),
		cmocka_unit_test(test_parent_proc),
		cmocka_unit_test(test_parent_symlink),
		cmocka_unit_test(test_parent_storage_dirs),
		cmocka_unit_test(test_parent_unlinked_dirty_log),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

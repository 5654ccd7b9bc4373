/*
 * VHDX interoperability with QEMU's qemu-img (Debian qemu-utils), and the
 * crash test. Suite 'disk'; skipped when qemu-img is not installed.
 *  - images qemu-img makes (dynamic, fixed, several block sizes) open and
 *    read/write in Parvis; afterwards `qemu-img check` is clean and
 *    `qemu-img compare` against the expected raw contents is identical;
 *  - images Parvis makes (dynamic, fixed, 4 KiB sectors) pass the same;
 *  - kill -9 of a writer at random moments: the image opens (log replayed),
 *    every write completed before the last successful flush reads back, and
 *    qemu-img check is clean.
 * QEMU opens only 512-byte logical sectors (4 KiB images: Parvis checks its own reads), and
 * does not create or open differencing VHDX (HasParent is ENOTSUP in
 * block/vhdx.c), so chains are tested within Parvis (test_vhdx.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <cmocka.h>

#include "base/compiler.h"
#include "disk/vhdx.h"
#include "queue_test_common.h"

static char err[512];

static int run(const char *fmt, ...) printf_like(1, 2);
static int run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The expected contents beside the image, kept in a raw file for qemu-img compare. */
struct model {
	char *image, *raw;
	uint8_t *data;
	uint64_t size;
};

static void model_init(struct model *m, const char *image, uint64_t size)
{
	m->image = strdup(image);
	m->raw = disk_test_tmpname(".raw");
	m->size = size;
	m->data = calloc(1, size);
}

static void model_write(struct model *m, struct disk *d, uint64_t off, size_t len, uint32_t seed)
{
	disk_test_fill(m->data + off, len, off, seed);
	assert_int_equal(disk_write(d, off, m->data + off, len), 0);
}

/*
 * Parvis reads back what was written, and qemu-img agrees: check is clean, compare says
 * identical. (QEMU opens only 512-byte logical sectors: 4 KiB images are checked by Parvis.)
 */
static void model_verify(struct model *m)
{
	struct disk *d;
	struct disk_info info;
	uint8_t *back = malloc(m->size);

	assert_int_equal(disk_open(m->image, DISK_OPEN_READ_ONLY, &d, err, sizeof(err)), 0);
	assert_int_equal(disk_read(d, 0, back, m->size), 0);
	assert_memory_equal(back, m->data, m->size);
	disk_get_info(d, &info);
	disk_close(d);
	free(back);
	if (info.logical_sector_size != 512)
		return;
	int fd = open(m->raw, O_CREAT | O_TRUNC | O_RDWR, 0644);

	assert_int_equal(pwrite(fd, m->data, m->size, 0), (ssize_t)m->size);
	close(fd);
	assert_int_equal(run("qemu-img check -q %s", m->image), 0);
	assert_int_equal(run("qemu-img compare -q -f vhdx -F raw %s %s", m->image, m->raw), 0);
	if (m->size > (128 << 20))
		return;
	/* And literally: qemu-img convert -O raw gives the bytes written. */
	char *conv = disk_test_tmpname(".raw");
	uint8_t *bytes = malloc(m->size);
	assert_int_equal(run("qemu-img convert -O raw %s %s", m->image, conv), 0);
	fd = open(conv, O_RDONLY);
	assert_int_equal(lseek(fd, 0, SEEK_END), (off_t)m->size);
	assert_int_equal(pread(fd, bytes, m->size, 0), (ssize_t)m->size);
	close(fd);
	assert_memory_equal(bytes, m->data, m->size);
	unlink(conv);
	free(conv);
	free(bytes);
}

static void model_fini(struct model *m)
{
	unlink(m->image);
	unlink(m->raw);
	free(m->image);
	free(m->raw);
	free(m->data);
}

static struct disk *open_ok(const char *name, unsigned flags)
{
	struct disk *d = NULL;

	if (disk_open(name, flags, &d, err, sizeof(err)) != 0)
		fail_msg("open: %s", err);
	return d;
}

/* Writes in several places (inside a block, across blocks, the last sector), checks reads. */
static void exercise(struct model *m, uint32_t block)
{
	struct disk *d = open_ok(m->image, 0);
	uint8_t *buf = malloc(4 << 20);
	struct disk_info info;

	disk_get_info(d, &info);
	assert_int_equal(info.size, m->size);
	assert_int_equal(disk_read(d, 0, buf, 1 << 20), 0);
	assert_memory_equal(buf, m->data, 1 << 20);
	model_write(m, d, 4096, 8192, 1);
	model_write(m, d, block - 4096, 8192 + info.logical_sector_size, 2);
	model_write(m, d, MIN(3 * (uint64_t)block, m->size - (2 << 20)) + 4096, 1 << 20, 3);
	model_write(m, d, m->size - 4096, 4096, 4);
	assert_int_equal(disk_flush(d), 0);
	model_write(m, d, 4096, 4096, 5); /* a rewrite of an allocated block */
	assert_int_equal(disk_read(d, block - 8192, buf, 4 << 20), 0);
	assert_memory_equal(buf, m->data + block - 8192, 4 << 20);
	disk_close(d);
	free(buf);
	model_verify(m);
}

static void from_qemu(const char *opts, uint64_t size, uint32_t block)
{
	char *name = disk_test_tmpname(".vhdx");
	struct model m;

	assert_int_equal(
		run("qemu-img create -q -f vhdx %s %s %llu", opts, name, (unsigned long long)size),
		0);
	model_init(&m, name, size);
	exercise(&m, block);
	/* Open again and write more: the headers and log of a second session. */
	exercise(&m, block);
	model_fini(&m);
	free(name);
}

static void test_qemu_dynamic(void **state)
{
	from_qemu("", 64 << 20, 8 << 20); /* qemu's default: 8 MiB blocks under 1 GiB */
}

static void test_qemu_fixed(void **state)
{
	from_qemu("-o subformat=fixed,block_size=1M", 16 << 20, 1 << 20);
}

static void test_qemu_block_sizes(void **state)
{
	from_qemu("-o block_size=1M", 40 << 20, 1 << 20);
	from_qemu("-o block_size=32M", 128 << 20, 32 << 20);
	from_qemu("-o block_size=256M,block_state_zero=off", 600 << 20, 256 << 20);
}

static void test_qemu_image_queue(void **state)
{
	char *name = disk_test_tmpname(".vhdx");
	struct disk *d;

	assert_int_equal(run("qemu-img create -q -f vhdx -o block_size=1M %s 16M", name), 0);
	d = open_ok(name, 0);
	qt_exercise(d, 12 << 20, 51);
	qt_exercise(d, 12 << 20, 52);
	disk_close(d);
	assert_int_equal(run("qemu-img check -q %s", name), 0);
	unlink(name);
	free(name);
}

static void from_parvis(const struct vhdx_create_params *p)
{
	char *name = disk_test_tmpname(".vhdx");
	struct model m;

	assert_int_equal(vhdx_create(name, p, err, sizeof(err)), 0);
	if (p->logical_sector_size != 4096)
		assert_int_equal(run("qemu-img check -q %s", name), 0);
	model_init(&m, name, p->size);
	exercise(&m, p->block_size);
	/* Discard whole blocks: qemu sees zeroes there. */
	struct disk *d = open_ok(name, 0);
	assert_int_equal(disk_discard(d, 0, p->block_size), 0);
	memset(m.data, 0, p->block_size);
	disk_close(d);
	model_verify(&m);
	model_fini(&m);
	free(name);
}

static void test_parvis_images(void **state)
{
	struct vhdx_create_params dyn = {.size = 48 << 20, .block_size = 2 << 20};
	struct vhdx_create_params fixed = {.size = 24 << 20, .block_size = 1 << 20, .fixed = true};
	struct vhdx_create_params k4 = {
		.size = 32 << 20, .block_size = 4 << 20, .logical_sector_size = 4096};

	from_parvis(&dyn);
	from_parvis(&fixed);
	from_parvis(&k4);
}

/*
 * The writer: slot i (64 KiB, slots spread over blocks in a scrambled order) gets pattern i;
 * after every flush, the number of slots written so far goes down the pipe.
 */
#define SLOT	   (64u << 10)
#define SLOTS	   1024u
#define CRASH_DISK (SLOT * (uint64_t)SLOTS * 4) /* 256 MiB: one slot in four is used */

static uint64_t slot_offset(unsigned i)
{
	return (uint64_t)((i * 613u) % (SLOTS * 4)) * SLOT;
}

static void writer(const char *name, int out)
{
	struct disk *d;
	uint8_t *buf = malloc(SLOT);

	if (disk_open(name, 0, &d, NULL, 0) != 0)
		_exit(1);
	for (unsigned i = 0; i < SLOTS; i++) {
		disk_test_fill(buf, SLOT, slot_offset(i), i + 1);
		if (disk_write(d, slot_offset(i), buf, SLOT) != 0)
			_exit(2);
		if (i % 4 == 3) {
			unsigned done = i + 1;

			if (disk_flush(d) != 0 || write(out, &done, sizeof(done)) != sizeof(done))
				_exit(3);
		}
	}
	/* Done before the kill: wait for it without closing, so the log stays to replay. */
	for (;;)
		pause();
}

/*
 * disk_open, waiting (up to 5 s) while the file is "in use": the killed writer's OFD lock
 * goes with its last file reference, which its io_uring may drop a moment after the
 * process is reaped. Any other result, or a lock held longer, is returned as is.
 */
static int open_after_kill(const char *path, unsigned flags, struct disk **d, char *err,
			   size_t err_size)
{
	int r;

	for (int i = 0; i < 500; i++) {
		r = disk_open(path, flags, d, err, err_size);
		if (r != -EBUSY || !strstr(err, "in use"))
			return r;
		usleep(10000);
	}
	return r;
}

static void test_crash(void **state)
{
	char *name = disk_test_tmpname(".vhdx");
	struct vhdx_create_params p = {.size = CRASH_DISK, .block_size = 1 << 20};
	uint8_t *want = malloc(SLOT), *got = malloc(SLOT);
	unsigned total = 0, replays = 0;

	srand((unsigned)time(NULL));
	assert_int_equal(vhdx_create(name, &p, err, sizeof(err)), 0);
	for (int round = 0; round < 8; round++) {
		int fds[2];
		unsigned done = 0, n;
		struct disk *d;

		/* Each round starts from a fresh image so that the slots are unambiguous. */
		unlink(name);
		assert_int_equal(vhdx_create(name, &p, err, sizeof(err)), 0);
		assert_int_equal(pipe(fds), 0);
		pid_t pid = fork();
		if (pid == 0) {
			close(fds[0]);
			writer(name, fds[1]);
		}
		close(fds[1]);
		struct timespec ts = {0, (long)(5 + rand() % 300) * 1000000L};
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int status, r;

		assert_int_equal(waitpid(pid, &status, 0), pid);
		/* Our SIGKILL, nothing else: an exit status (1-3 above) or a crash fails. */
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
			fail_msg("round %d: the writer %s %d, not by SIGKILL", round,
				 WIFSIGNALED(status) ? "died of signal" : "exited with status",
				 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		while (read(fds[0], &n, sizeof(n)) == sizeof(n))
			done = n;
		close(fds[0]);
		total += done;
		/*
		 * Left with a log to replay? The writer's first write allocated a block through
		 * the log, and only a clean close clears LogGuid: once it reported a flush, the
		 * read-only open must refuse (-EBUSY) until a read-write open replays.
		 */
		d = NULL;
		r = open_after_kill(name, DISK_OPEN_READ_ONLY, &d, err, sizeof(err));
		if (r == -EBUSY && strstr(err, "needs replay"))
			replays++;
		else if (r == 0)
			disk_close(d);
		else
			fail_msg("round %d: read-only open: %s", round, err);
		if (done && !(r == -EBUSY && strstr(err, "needs replay")))
			fail_msg("round %d: %u slots flushed, but no log left to replay", round,
				 done);
		if (open_after_kill(name, 0, &d, err, sizeof(err)) != 0) /* replays */
			fail_msg("round %d: reopen: %s", round, err);
		for (unsigned i = 0; i < done; i++) {
			disk_test_fill(want, SLOT, slot_offset(i), i + 1);
			assert_int_equal(disk_read(d, slot_offset(i), got, SLOT), 0);
			if (memcmp(want, got, SLOT))
				fail_msg("round %d: slot %u of %u flushed slots lost", round, i,
					 done);
		}
		disk_close(d);
		assert_int_equal(run("qemu-img check -q %s", name), 0);
	}
	fprintf(stderr, "# crash test: %u flushed slots verified in 8 rounds, %u rounds replayed\n",
		total, replays);
	assert_true(total > 0);
	assert_true(replays > 0);
	unlink(name);
	free(name);
	free(want);
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qemu_dynamic),	 cmocka_unit_test(test_qemu_fixed),
		cmocka_unit_test(test_qemu_block_sizes), cmocka_unit_test(test_qemu_image_queue),
		cmocka_unit_test(test_parvis_images),	 cmocka_unit_test(test_crash),
	};
	/* Without qemu-img, a skip (a failing group setup would count as an error). */
	if (run("qemu-img --version >/dev/null 2>&1") != 0) {
		printf("1..0 # SKIP qemu-img is not installed (Debian qemu-utils)\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}

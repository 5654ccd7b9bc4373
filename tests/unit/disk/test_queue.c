/* Unit tests of the io_uring queue (src/disk/queue.c) over raw files. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/compiler.h"
#include "queue_test_common.h"

static void test_depth32_verify(void **state)
{
	char *name = disk_test_make_raw(16 << 20);
	struct disk *d;

	assert_int_equal(disk_open(name, 0, &d, NULL, 0), 0);
	qt_exercise(d, 16 << 20, 42);
	disk_close(d);
	unlink(name);
	free(name);
}

struct sync_done {
	int result, count;
};

static void on_done(struct disk_request *req, int result)
{
	struct sync_done *sd = req->opaque;

	__atomic_store_n(&sd->result, result, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&sd->count, 1, __ATOMIC_SEQ_CST);
}

/* One request through the queue, waiting for its callback; returns its result. */
static int queue_one(struct disk_queue *q, enum disk_op op, uint64_t off, void *buf, size_t len)
{
	struct sync_done sd = {0};
	struct iovec iov = {buf, len};
	struct disk_request req = {.op = op,
				   .offset = off,
				   .iov = &iov,
				   .iovcnt = 1,
				   .complete = on_done,
				   .opaque = &sd};

	assert_int_equal(disk_queue_submit(q, &req), 0);
	disk_queue_commit(q);
	while (!__atomic_load_n(&sd.count, __ATOMIC_SEQ_CST))
		assert_true(disk_queue_wait(q) > 0);
	return sd.result;
}

/*
 * Direct I/O (the default where the file system has it): page-aligned
 * requests bypass the page cache, others go through it, and both see each
 * other's data; DISK_OPEN_CACHED keeps everything buffered.
 */
static void test_direct_and_buffered(void **state)
{
	char *name = disk_test_make_raw(1 << 20);
	void *mem = NULL;
	struct disk_queue *q;
	struct disk_info info;
	struct disk *d;
	uint8_t *page, *odd;

	assert_int_equal(posix_memalign(&mem, 4096, 3 * 4096), 0);
	page = mem;
	odd = page + 512;
	assert_int_equal(disk_open(name, DISK_OPEN_CACHED, &d, NULL, 0), 0);
	disk_get_info(d, &info);
	assert_false(info.direct);
	disk_close(d);

	assert_int_equal(disk_open(name, 0, &d, NULL, 0), 0);
	disk_get_info(d, &info);
	if (!info.direct) {
		disk_close(d);
		unlink(name);
		free(name);
		free(page);
		skip(); /* TMPDIR on a file system without O_DIRECT */
	}
	assert_int_equal(disk_queue_new(d, 4, &q), 0);
	memset(page, 0xA5, 4096);
	assert_int_equal(queue_one(q, DISK_OP_WRITE, 8192, page, 4096), 0); /* direct */
	memset(odd, 0x5A, 1024);
	assert_int_equal(queue_one(q, DISK_OP_WRITE, 8192 + 1024, odd, 1024), 0); /* buffered */
	memset(page, 0, 4096);
	assert_int_equal(queue_one(q, DISK_OP_READ, 8192, page, 4096), 0); /* direct again */
	for (unsigned i = 0; i < 4096; i++)
		assert_int_equal(page[i], i >= 1024 && i < 2048 ? 0x5A : 0xA5);
	assert_int_equal(queue_one(q, DISK_OP_FLUSH, 0, NULL, 0), 0);
	disk_queue_free(q);
	disk_close(d);
	unlink(name);
	free(name);
	free(page);
}

static void test_bad_requests(void **state)
{
	char *name = disk_test_make_raw(1 << 20), *ro_name = disk_test_make_raw(1 << 20);
	struct disk *d, *ro;
	struct disk_queue *q, *qro;
	static uint8_t buf[4096];
	struct iovec iov = {buf, 4096}, odd = {buf, 100};
	struct disk_request req = {.op = DISK_OP_READ, .iov = &iov, .iovcnt = 1};

	assert_int_equal(disk_open(name, 0, &d, NULL, 0), 0);
	assert_int_equal(disk_open(ro_name, DISK_OPEN_READ_ONLY, &ro, NULL, 0), 0);
	assert_int_equal(disk_queue_new(d, 0, &q), -EINVAL);
	assert_int_equal(disk_queue_new(d, 4, &q), 0);
	assert_int_equal(disk_queue_new(ro, 4, &qro), 0);
	req.offset = 1 << 20; /* past the end */
	assert_int_equal(disk_queue_submit(q, &req), -EINVAL);
	req.offset = 100; /* unaligned */
	assert_int_equal(disk_queue_submit(q, &req), -EINVAL);
	req.offset = 0;
	req.iov = &odd; /* length not a sector multiple */
	assert_int_equal(disk_queue_submit(q, &req), -EINVAL);
	req.iov = &iov;
	req.iovcnt = 0;
	assert_int_equal(disk_queue_submit(q, &req), -EINVAL);
	req.iovcnt = 1;
	req.op = DISK_OP_WRITE;
	assert_int_equal(disk_queue_submit(qro, &req), -EROFS);
	req.op = DISK_OP_DISCARD;
	req.len = 4096;
	assert_int_equal(disk_queue_submit(qro, &req), -EROFS);
	req.op = 77;
	assert_int_equal(disk_queue_submit(q, &req), -EINVAL);
	disk_queue_free(qro);
	disk_queue_free(q);
	assert_null(disk_queue_free(NULL));
	disk_close(ro);
	disk_close(d);
	unlink(name);
	unlink(ro_name);
	free(name);
	free(ro_name);
}

/* Depth is enforced: the depth+1-th request before any completion gets -EAGAIN. */
static void test_eagain_and_discard(void **state)
{
	char *name = disk_test_make_raw(1 << 20);
	struct disk *d;
	struct disk_queue *q;
	struct qt qt = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	struct qt_req reqs[3] = {0};
	static uint8_t buf[3][4096], back[8192];
	int r;

	assert_int_equal(disk_open(name, 0, &d, NULL, 0), 0);
	memset(buf, 0xab, sizeof(buf));
	assert_int_equal(disk_write(d, 0, buf, 8192), 0);
	assert_int_equal(disk_queue_new(d, 2, &q), 0);
	for (int i = 0; i < 3; i++) {
		reqs[i].iov[0] = (struct iovec){buf[i], 4096};
		reqs[i].req = (struct disk_request){.op = DISK_OP_READ,
						    .offset = 0,
						    .iov = reqs[i].iov,
						    .iovcnt = 1,
						    .complete = qt_complete,
						    .opaque = &qt};
	}
	assert_int_equal(disk_queue_submit(q, &reqs[0].req), 0);
	assert_int_equal(disk_queue_submit(q, &reqs[1].req), 0);
	/* Not committed yet, so nothing can have completed: the third must wait. */
	r = disk_queue_submit(q, &reqs[2].req);
	assert_int_equal(r, -EAGAIN);
	disk_queue_commit(q);
	while (qt.completed < 2)
		assert_true(disk_queue_wait(q) > 0);
	/* Discard through the queue punches a hole: zeroes read back. */
	reqs[0].req = (struct disk_request){.op = DISK_OP_DISCARD,
					    .offset = 0,
					    .len = 8192,
					    .complete = qt_complete,
					    .opaque = &qt};
	qt_run(q, &qt, reqs, 1, 1);
	assert_int_equal(reqs[0].result, 0);
	assert_int_equal(disk_read(d, 0, back, sizeof(back)), 0);
	for (size_t i = 0; i < sizeof(back); i++)
		assert_int_equal(back[i], 0);
	disk_queue_free(q);
	disk_close(d);
	unlink(name);
	free(name);
}

/* A file that shrank under the queue: the read past EOF is finished as zeroes, not lost. */
static void test_short_read(void **state)
{
	char *name = disk_test_make_raw(1 << 20);
	struct disk *d;
	struct disk_queue *q;
	struct qt qt = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	struct qt_req r = {0};
	static uint8_t buf[8192];

	assert_int_equal(disk_open(name, 0, &d, NULL, 0), 0);
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(disk_write(d, (1 << 20) - 8192, buf, 8192), 0);
	assert_int_equal(truncate(name, (1 << 20) - 4096), 0);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(disk_queue_new(d, 4, &q), 0);
	r.iov[0] = (struct iovec){buf, 8192};
	r.req = (struct disk_request){
		.op = DISK_OP_READ, .offset = (1 << 20) - 8192, .iov = r.iov, .iovcnt = 1};
	qt_run(q, &qt, &r, 1, 1);
	assert_int_equal(r.result, 0);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(buf[i], 0x5a);
	for (int i = 4096; i < 8192; i++)
		assert_int_equal(buf[i], 0);
	disk_queue_free(q);
	disk_close(d);
	unlink(name);
	free(name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_depth32_verify), cmocka_unit_test(test_direct_and_buffered),
		cmocka_unit_test(test_bad_requests),   cmocka_unit_test(test_eagain_and_discard),
		cmocka_unit_test(test_short_read),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

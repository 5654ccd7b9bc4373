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
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <liburing.h>

#include "base/compiler.h"
#include "disk/disk_internal.h"
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

/* One SQE of opcode on fd; its CQE's result. */
static int ring_try(struct io_uring *ring, uint8_t opcode, int fd, void *buf, unsigned len)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	int r;

	assert_non_null(sqe);
	io_uring_prep_rw(opcode, sqe, fd, buf, len, 0);
	assert_int_equal(io_uring_submit(ring), 1);
	assert_int_equal(io_uring_wait_cqe(ring, &cqe), 0);
	r = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return r;
}

/*
 * The queue's rings take only what the disk back end submits (docs/security.md): an
 * IORING_OP_OPENAT or IORING_OP_SOCKET completes with -EACCES instead of running past
 * seccomp, an SQE flag is refused, and so is any further io_uring_register(); a read still
 * works. Without the restriction the same openat opens /dev/null (checked first).
 */
static void test_ring_restrictions(void **state)
{
	struct io_uring ring;
	char *name = disk_test_make_raw(4096);
	char path[] = "/dev/null", buf[512];
	struct iovec iov = {buf, sizeof(buf)};
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int fd = open(name, O_RDONLY), efd, r;

	assert_true(fd >= 0);
	/* Unrestricted: IORING_OP_OPENAT opens a file. */
	assert_int_equal(io_uring_queue_init(4, &ring, 0), 0);
	r = ring_try(&ring, IORING_OP_OPENAT, AT_FDCWD, path, 0);
	assert_true(r >= 0);
	close(r);
	io_uring_queue_exit(&ring);

	assert_int_equal(io_uring_queue_init(4, &ring, IORING_SETUP_R_DISABLED), 0);
	assert_int_equal(disk_ring_restrict(&ring), 0);
	assert_int_equal(ring_try(&ring, IORING_OP_OPENAT, AT_FDCWD, path, 0), -EACCES);
	assert_int_equal(ring_try(&ring, IORING_OP_SOCKET, 2 /* AF_INET */, NULL, 1), -EACCES);
	assert_int_equal(ring_try(&ring, IORING_OP_CONNECT, fd, NULL, 0), -EACCES);
	assert_int_equal(ring_try(&ring, IORING_OP_READ, fd, buf, sizeof(buf)), -EACCES);
	assert_int_equal(ring_try(&ring, IORING_OP_READV, fd, &iov, 1), (int)sizeof(buf));
	/* An allowed operation with a flag (a link, a fixed file) is refused too. */
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_readv(sqe, fd, &iov, 1, 0);
	io_uring_sqe_set_flags(sqe, IOSQE_IO_DRAIN);
	assert_int_equal(io_uring_submit(&ring), 1);
	assert_int_equal(io_uring_wait_cqe(&ring, &cqe), 0);
	assert_int_equal(cqe->res, -EACCES);
	io_uring_cqe_seen(&ring, cqe);
	/* No more registrations: files, buffers, another eventfd. */
	assert_int_equal(io_uring_register_files(&ring, &fd, 1), -EACCES);
	efd = eventfd(0, 0);
	assert_int_equal(io_uring_register_eventfd(&ring, efd), -EACCES);
	close(efd);
	io_uring_queue_exit(&ring);
	close(fd);
	unlink(name);
	free(name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_depth32_verify), cmocka_unit_test(test_direct_and_buffered),
		cmocka_unit_test(test_bad_requests),   cmocka_unit_test(test_eagain_and_discard),
		cmocka_unit_test(test_short_read),     cmocka_unit_test(test_ring_restrictions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

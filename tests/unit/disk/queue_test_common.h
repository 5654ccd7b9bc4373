/*
 * The queue exercise shared by the raw and VHDX tests: many concurrent
 * requests at depth 32 with data verification. Include once per test file.
 */
#pragma once

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "disk/disk.h"
#include "disk_test_util.h"

struct qt_req {
	struct disk_request req;
	struct iovec iov[3];
	int result;
	bool done;
	pthread_t thread;
};

struct qt {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned completed;
};

static void qt_complete(struct disk_request *req, int result)
{
	struct qt_req *r = container_of(req, struct qt_req, req);
	struct qt *qt = req->opaque;

	r->result = result;
	r->thread = pthread_self();
	pthread_mutex_lock(&qt->lock);
	r->done = true;
	qt->completed++;
	pthread_cond_broadcast(&qt->cond);
	pthread_mutex_unlock(&qt->lock);
}

/* Submits reqs[0..n) keeping up to the queue's depth in flight; waits for all of them. */
static void qt_run(struct disk_queue *q, struct qt *qt, struct qt_req *reqs, unsigned n,
		   unsigned batch)
{
	unsigned next = 0, in_batch = 0;

	pthread_mutex_lock(&qt->lock);
	qt->completed = 0;
	pthread_mutex_unlock(&qt->lock);
	while (next < n) {
		reqs[next].req.complete = qt_complete;
		reqs[next].req.opaque = qt;
		reqs[next].done = false;
		int r = disk_queue_submit(q, &reqs[next].req);

		if (r == -EAGAIN) {
			/* The callbacks run here, on the queue's owner thread. */
			disk_queue_commit(q);
			in_batch = 0;
			disk_queue_wait(q);
			continue;
		}
		if (r != 0)
			fail_msg("submit %u: %d", next, r);
		next++;
		if (++in_batch == batch) {
			disk_queue_commit(q);
			in_batch = 0;
		}
	}
	disk_queue_commit(q);
	while (qt->completed < n)
		assert_true(disk_queue_wait(q) > 0);
}

/*
 * Writes every 4 KiB..12 KiB slot of the first `span` bytes once in a scrambled order (three
 * iovecs each, many in flight), flushes, reads them all back through the queue and checks them.
 */
static void qt_exercise_at(struct disk *d, uint64_t base, uint64_t span, uint32_t seed)
{
	const unsigned slot = 12288;
	unsigned n = (unsigned)(span / slot);
	struct qt_req *reqs = calloc(n + 1, sizeof(*reqs));
	uint8_t *data = malloc((size_t)n * slot), *back = calloc(n, slot);
	struct disk_queue *q;
	struct disk_queue_stats st;
	struct qt qt = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

	assert_int_equal(disk_queue_new(d, 32, &q), 0);
	for (unsigned i = 0; i < n; i++) {
		unsigned s =
			(unsigned)((i * 7919ull) % n); /* scrambled: n not a multiple of 7919 */
		uint8_t *p = data + (size_t)s * slot;

		disk_test_fill(p, slot, base + (uint64_t)s * slot, seed);
		reqs[i].req.op = DISK_OP_WRITE;
		reqs[i].req.offset = base + (uint64_t)s * slot;
		reqs[i].iov[0] = (struct iovec){p, 512};
		reqs[i].iov[1] = (struct iovec){p + 512, 4096 + 3584};
		reqs[i].iov[2] = (struct iovec){p + 8192, 4096};
		reqs[i].req.iov = reqs[i].iov;
		reqs[i].req.iovcnt = 3;
	}
	qt_run(q, &qt, reqs, n, 8);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(reqs[i].result, 0);
		/* No thread of the queue's own: callbacks run on the reaping thread. */
		assert_true(pthread_equal(reqs[i].thread, pthread_self()));
	}
	reqs[0] = (struct qt_req){.req = {.op = DISK_OP_FLUSH}};
	qt_run(q, &qt, reqs, 1, 1);
	assert_int_equal(reqs[0].result, 0);
	for (unsigned i = 0; i < n; i++) {
		unsigned s = (unsigned)((i * 104729ull) % n);

		reqs[i] = (struct qt_req){.req = {.op = DISK_OP_READ,
						  .offset = base + (uint64_t)s * slot,
						  .iovcnt = 1}};
		reqs[i].iov[0] = (struct iovec){back + (size_t)s * slot, slot};
		reqs[i].req.iov = reqs[i].iov;
	}
	qt_run(q, &qt, reqs, n, 32);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(reqs[i].result, 0);
	assert_memory_equal(data, back, (size_t)n * slot);
	disk_queue_get_stats(q, &st);
	assert_int_equal(st.submitted, 2 * n + 1);
	assert_int_equal(st.completed, 2 * n + 1);
	assert_int_equal(st.errors, 0);
	assert_true(st.commits < st.submitted); /* batched */
	/* What the queue wrote, the synchronous path reads. */
	memset(back, 0, (size_t)n * slot);
	assert_int_equal(disk_read(d, base, back, (size_t)n * slot), 0);
	assert_memory_equal(data, back, (size_t)n * slot);
	disk_queue_free(q);
	free(reqs);
	free(data);
	free(back);
}

static void qt_exercise(struct disk *d, uint64_t span, uint32_t seed)
{
	qt_exercise_at(d, 0, span, seed);
}

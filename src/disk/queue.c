/*
 * Asynchronous disk queues over io_uring (liburing).
 *
 * The queue's owner thread (one per queue) prepares SQEs in
 * disk_queue_submit(), hands the batch to the kernel with one
 * io_uring_submit() in disk_queue_commit(), and runs the callbacks when it
 * reaps CQEs (disk_queue_complete(), disk_queue_reap(), disk_queue_wait()):
 * there is no thread of the queue's own. An eventfd registered with the
 * ring (disk_queue_fd()) tells the owner's poll loop that CQEs are there. Requests the format can
 * map onto the file (raw files, VHDX reads and writes inside one allocated block) go to the kernel
 * as readv / writev / fsync(DATASYNC) / fallocate(PUNCH_HOLE); the others (VHDX block allocation,
 * reads of unallocated or partial blocks, VHDX discard) are done synchronously in submit, and a NOP
 * carries their result to the reaper, so the callback never runs inside disk_queue_submit().
 *
 * Hot path: no malloc, no lock (the raw map is a pure function; VHDX takes its
 * metadata lock in map only). Short transfers (a file that shrank, a VHDX
 * block past EOF) finish synchronously when reaped.
 */
#include <errno.h>
#include <limits.h>
#include <liburing.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "disk/disk_internal.h"

/* req->priv[] use */
enum { PRIV_KIND, PRIV_RESULT, PRIV_FILE_OFF, PRIV_LEN };
enum { KIND_IO, KIND_DONE, KIND_IO_DIRECT };

/*
 * Direct I/O needs the file offset, the length and every buffer aligned to
 * the file system's direct-I/O granularity. 4 KiB covers every host file
 * system and device; guests' block I/O is page-based, so nearly every
 * request qualifies. The others go through the page cache, and a direct
 * request the kernel still refuses (EINVAL) is redone buffered.
 */
#define DIRECT_ALIGN 4096u

static bool direct_ok(const struct disk_request *req, uint64_t file_off, uint64_t len)
{
	unsigned i;

	if ((file_off | len) & (DIRECT_ALIGN - 1))
		return false;
	for (i = 0; i < req->iovcnt; i++)
		if (((uintptr_t)req->iov[i].iov_base | req->iov[i].iov_len) & (DIRECT_ALIGN - 1))
			return false;
	return true;
}

/* Everything but the counters belongs to the owner thread. */
struct disk_queue {
	struct disk *disk;
	struct io_uring ring;
	int efd; /* eventfd the kernel signals on each CQE */
	unsigned depth;
	unsigned prepared;  /* SQEs prepared since the last commit */
	unsigned in_flight; /* requests accepted and not yet completed */
	atomic_uint_fast64_t submitted, completed, errors, commits;
};

static struct io_uring_sqe *get_sqe(struct disk_queue *q)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);

	if (!sqe) {
		/* The SQ ring is full of prepared entries: hand them over, then retry. */
		disk_queue_commit(q);
		sqe = io_uring_get_sqe(&q->ring);
	}
	return sqe;
}

/* Finishes a short read or write synchronously (rare: EOF inside a mapped range). */
static int finish_short(struct disk_queue *q, struct disk_request *req, size_t done)
{
	uint64_t off = req->priv[PRIV_FILE_OFF] + done;
	size_t len = req->priv[PRIV_LEN] - done;
	struct iovec small[8], *v = small;
	int n, r;

	if (req->iovcnt > ARRAY_SIZE(small)) {
		v = malloc(sizeof(*v) * req->iovcnt);
		if (!v)
			return -ENOMEM;
	}
	n = disk_iov_slice(req->iov, req->iovcnt, done, len, v, req->iovcnt);
	if (n < 0)
		r = n;
	else if (req->op == DISK_OP_READ)
		r = disk_file_preadv(q->disk->fd, v, (unsigned)n, off, len);
	else
		r = disk_file_pwritev(q->disk->fd, v, (unsigned)n, off, len);
	if (v != small)
		free(v);
	return r;
}

static void complete(struct disk_queue *q, struct disk_request *req, int res)
{
	int r;

	/* Pairs with the release in disk_queue_submit(): the kernel orders them too, but this
	 * makes it visible to the C memory model (and ThreadSanitizer). */
	uint64_t kind = __atomic_load_n(&req->priv[PRIV_KIND], __ATOMIC_ACQUIRE);

	if (kind == KIND_DONE) {
		r = (int)(int64_t)req->priv[PRIV_RESULT];
	} else if (res == -EINVAL && kind == KIND_IO_DIRECT) {
		r = finish_short(q, req, 0); /* refused as direct I/O: redo it buffered */
	} else if (res < 0) {
		r = res;
	} else if ((req->op == DISK_OP_READ || req->op == DISK_OP_WRITE) &&
		   (uint64_t)res < req->priv[PRIV_LEN]) {
		r = finish_short(q, req, (size_t)res);
	} else {
		r = 0;
	}
	atomic_fetch_add(&q->completed, 1);
	if (r < 0)
		atomic_fetch_add(&q->errors, 1);
	q->in_flight--;
	req->complete(req, r);
}

unsigned disk_queue_reap(struct disk_queue *q)
{
	unsigned n = 0;

	for (;;) {
		struct io_uring_cqe *cqe;
		void *tag;
		int res;

		/* No system call: the CQ ring is shared memory. */
		if (io_uring_peek_cqe(&q->ring, &cqe) != 0)
			return n;
		tag = io_uring_cqe_get_data(cqe);
		res = cqe->res;
		io_uring_cqe_seen(&q->ring, cqe);
		complete(q, tag, res);
		n++;
	}
}

unsigned disk_queue_complete(struct disk_queue *q)
{
	uint64_t v;

	/* Cleared first: a CQE posted after this read signals it again. */
	if (read(q->efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing signalled since the last read */
	}
	return disk_queue_reap(q);
}

unsigned disk_queue_wait(struct disk_queue *q)
{
	struct io_uring_cqe *cqe;
	unsigned n;
	int r;

	n = disk_queue_reap(q);
	if (n || !q->in_flight)
		return n;
	disk_queue_commit(q);
	do {
		r = io_uring_wait_cqe(&q->ring, &cqe);
	} while (r == -EINTR || r == -EAGAIN);
	if (r < 0)
		return 0; /* the ring is unusable: nothing more can complete */
	return disk_queue_reap(q);
}

int disk_queue_fd(const struct disk_queue *q)
{
	return q->efd;
}

unsigned disk_queue_in_flight(const struct disk_queue *q)
{
	return q->in_flight;
}

/* The synchronous path: do the work now, let a NOP carry the result to the reaper. */
static int submit_sync(struct disk_queue *q, struct disk_request *req, struct io_uring_sqe *sqe)
{
	struct disk *d = q->disk;
	size_t len = req->priv[PRIV_LEN];
	int r;

	switch (req->op) {
	case DISK_OP_READ: r = d->ops->readv(d, req->iov, req->iovcnt, req->offset, len); break;
	case DISK_OP_WRITE: r = d->ops->writev(d, req->iov, req->iovcnt, req->offset, len); break;
	case DISK_OP_DISCARD: r = d->ops->discard(d, req->offset, req->len); break;
	default: r = d->ops->flush(d); break;
	}
	req->priv[PRIV_KIND] = KIND_DONE;
	req->priv[PRIV_RESULT] = (uint64_t)(int64_t)r;
	io_uring_prep_nop(sqe);
	return 0;
}

/* A request the disk can take: its length in *len (0 for a flush). */
static int request_check(const struct disk_queue *q, const struct disk_request *req, int64_t *len)
{
	const struct disk *d = q->disk;

	switch (req->op) {
	case DISK_OP_READ:
	case DISK_OP_WRITE:
		if (!req->iovcnt || req->iovcnt > IOV_MAX || !req->iov)
			return -EINVAL;
		*len = disk_iov_length(req->iov, req->iovcnt);
		if (*len <= 0)
			return -EINVAL;
		break;
	case DISK_OP_DISCARD: *len = (int64_t)req->len; break;
	case DISK_OP_FLUSH: *len = 0; break;
	default: return -EINVAL;
	}
	if (req->op != DISK_OP_FLUSH && disk_check_request(d, req->offset, (uint64_t)*len) < 0)
		return -EINVAL;
	if (req->op != DISK_OP_READ && d->info.read_only)
		return -EROFS;
	return 0;
}

/* Whether the kernel can do the request at *file_off in the disk's file (1), the format must
 * do it synchronously (0), or the map failed (-errno). */
static int request_map(struct disk *d, const struct disk_request *req, int64_t len,
		       uint64_t *file_off)
{
	*file_off = 0;
	if (req->op == DISK_OP_FLUSH)
		return 1;
	/* Raw files punch holes in the kernel; formats with metadata go the sync way. */
	if (req->op == DISK_OP_DISCARD)
		return d->info.format == DISK_FORMAT_RAW;
	return d->ops->map(d, req->op, req->offset, (uint64_t)len, file_off);
}

/* The kernel's part of a mapped request, into sqe. */
static void prep_kernel(struct disk_queue *q, struct disk_request *req, struct io_uring_sqe *sqe,
			uint64_t file_off, int64_t len)
{
	struct disk *d = q->disk;
	int fd = d->fd;

	switch (req->op) {
	case DISK_OP_READ:
	case DISK_OP_WRITE:
		if (d->info.direct && direct_ok(req, file_off, (uint64_t)len)) {
			fd = d->direct_fd;
			req->priv[PRIV_KIND] = KIND_IO_DIRECT;
		}
		if (req->op == DISK_OP_READ)
			io_uring_prep_readv(sqe, fd, req->iov, req->iovcnt, file_off);
		else
			io_uring_prep_writev(sqe, fd, req->iov, req->iovcnt, file_off);
		break;
	case DISK_OP_FLUSH: io_uring_prep_fsync(sqe, d->fd, IORING_FSYNC_DATASYNC); break;
	case DISK_OP_DISCARD:
		if (d->info.can_discard)
			io_uring_prep_fallocate(sqe, d->fd,
						FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
						req->offset, req->len);
		else
			submit_sync(q, req, sqe);
		break;
	}
}

int disk_queue_submit(struct disk_queue *q, struct disk_request *req)
{
	struct io_uring_sqe *sqe;
	uint64_t file_off;
	int64_t len = 0;
	int r = request_check(q, req, &len), mapped;

	if (r < 0)
		return r;
	if (q->in_flight >= q->depth)
		return -EAGAIN;
	sqe = get_sqe(q);
	if (!sqe)
		return -EAGAIN;
	req->priv[PRIV_KIND] = KIND_IO;
	req->priv[PRIV_LEN] = (uint64_t)len;
	mapped = request_map(q->disk, req, len, &file_off);
	req->priv[PRIV_FILE_OFF] = file_off;
	if (mapped < 0) {
		/* The map failed (metadata I/O error): report it through the callback. */
		req->priv[PRIV_KIND] = KIND_DONE;
		req->priv[PRIV_RESULT] = (uint64_t)(int64_t)mapped;
		io_uring_prep_nop(sqe);
	} else if (!mapped) {
		r = submit_sync(q, req, sqe);
		if (r < 0)
			return r;
	} else {
		prep_kernel(q, req, sqe, file_off, len);
	}
	/* Last write to req before the kernel has it (see complete()). */
	__atomic_store_n(&req->priv[PRIV_KIND], req->priv[PRIV_KIND], __ATOMIC_RELEASE);
	io_uring_sqe_set_data(sqe, req);
	q->in_flight++;
	atomic_fetch_add(&q->submitted, 1);
	q->prepared++;
	return 0;
}

void disk_queue_commit(struct disk_queue *q)
{
	int r;

	if (!q->prepared)
		return;
	do {
		r = io_uring_submit(&q->ring);
	} while (r == -EINTR || r == -EAGAIN || r == -EBUSY);
	q->prepared = 0;
	atomic_fetch_add(&q->commits, 1);
}

void disk_queue_get_stats(struct disk_queue *q, struct disk_queue_stats *stats)
{
	stats->submitted = atomic_load(&q->submitted);
	stats->completed = atomic_load(&q->completed);
	stats->errors = atomic_load(&q->errors);
	stats->commits = atomic_load(&q->commits);
}

/*
 * io_uring operations are not system calls: seccomp never sees an IORING_OP_OPENAT or
 * IORING_OP_SOCKET submitted on a ring. Each ring is therefore created disabled and
 * restricted (IORING_REGISTER_RESTRICTIONS, Linux 5.10) to the operations submit()
 * prepares, with no SQE flags and no further io_uring_register() operation (the eventfd is
 * registered before), then enabled; any other SQE completes with -EACCES
 * (docs/security.md, "The system calls each thread may make").
 */
static const uint8_t ring_ops[] = {
	IORING_OP_NOP, IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC, IORING_OP_FALLOCATE,
};

int disk_ring_restrict(struct io_uring *ring)
{
	struct io_uring_restriction res[ARRAY_SIZE(ring_ops)];
	unsigned i;
	int r;

	memset(res, 0, sizeof(res));
	for (i = 0; i < ARRAY_SIZE(ring_ops); i++) {
		res[i].opcode = IORING_RESTRICTION_SQE_OP;
		res[i].sqe_op = ring_ops[i];
	}
	/* Debian's liburing 2.3 does not export its wrappers of these two: the system call. */
	r = (int)syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_RESTRICTIONS, res,
			 ARRAY_SIZE(res));
	if (r == 0)
		r = (int)syscall(__NR_io_uring_register, ring->ring_fd,
				 IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	return r < 0 ? -errno : 0;
}

int disk_queue_new(struct disk *d, unsigned depth, struct disk_queue **ret)
{
	struct disk_queue *q;
	int r;

	if (!depth || depth > 4096)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->disk = d;
	q->depth = depth;
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->efd < 0) {
		r = -errno;
		free(q);
		return r;
	}
	/* Disabled until restricted: no SQE can run before the allow-list is in place. */
	r = io_uring_queue_init(depth, &q->ring, IORING_SETUP_R_DISABLED);
	if (r == 0) {
		r = io_uring_register_eventfd(&q->ring, q->efd);
		if (r == 0)
			r = disk_ring_restrict(&q->ring);
		if (r < 0)
			io_uring_queue_exit(&q->ring);
	}
	if (r < 0) {
		close(q->efd);
		free(q);
		return r;
	}
	*ret = q;
	return 0;
}

struct disk_queue *disk_queue_free(struct disk_queue *q)
{
	if (!q)
		return NULL;
	disk_queue_commit(q);
	while (q->in_flight)
		if (!disk_queue_wait(q) && q->in_flight)
			break; /* the ring failed: what is left never completes */
	io_uring_queue_exit(&q->ring);
	close(q->efd);
	free(q);
	return NULL;
}

/*
 * Virtual disks: one interface for every format (raw files, VHDX fixed,
 * dynamic and differencing). The format is detected from the file's
 * contents, never from its name. Everything here works in bytes; offsets
 * and lengths of guest I/O are multiples of the logical sector size.
 *
 * Two ways to do I/O:
 *   - synchronous (disk_read/disk_write/disk_flush/disk_discard), for the
 *     disk tool and for tests;
 *   - asynchronous queues (struct disk_queue, io_uring underneath), one per
 *     storage channel and disk, many requests in flight, owned by one thread
 *     (the channel's loop). Requests are prepared with disk_queue_submit()
 *     and handed to the kernel in one batch by disk_queue_commit(); their
 *     completion callbacks run on the owner's thread when it reaps them
 *     (disk_queue_complete() when disk_queue_fd() is readable).
 *
 * Library code: nothing here prints. Errors are negative errno values;
 * disk_open() also fills a caller's buffer with one line naming what is
 * wrong with the image ("VHDX header 1: CRC-32C mismatch").
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/compiler.h"
#include "base/guid.h"

struct disk;
struct disk_queue;

enum disk_format {
	DISK_FORMAT_RAW,
	DISK_FORMAT_VHDX,
};
const char *disk_format_name(enum disk_format format);

/* disk_open() flags */
#define DISK_OPEN_READ_ONLY (1u << 0) /* never write the file (not even the log or headers) */
/*
 * Guest data through the host's page cache. Without it, the queues move
 * guest data with direct I/O (O_DIRECT) where the file system allows it, as
 * Hyper-V opens virtual disks unbuffered: no second copy of the guest's
 * data in host memory, and a guest's flush costs one device flush.
 */
#define DISK_OPEN_CACHED (1u << 1)

struct disk_info {
	enum disk_format format;
	uint64_t size;		      /* virtual size in bytes, a multiple of logical_sector_size */
	uint32_t logical_sector_size; /* 512 or 4096 */
	uint32_t physical_sector_size; /* 512 or 4096 */
	bool read_only;		       /* opened read-only, or the file is not writable */
	bool can_discard;	       /* disk_discard frees space (punches holes / unallocates) */
	uint32_t discard_granularity;  /* bytes; discards smaller or unaligned may do nothing */
	struct guid disk_id;	       /* stable identity (VHDX Page83Data; raw: from the inode) */
	bool direct; /* the queues move aligned guest data with O_DIRECT (see DISK_OPEN_CACHED) */
};

/*
 * Opens the disk at path (and, for a differencing VHDX, its parent chain).
 * On failure returns -errno and, if err is not NULL, writes one line
 * naming the problem into err (err_size bytes). A disk that fails to open
 * was not written to.
 */
int disk_open(const char *path, unsigned flags, struct disk **ret, char *err,
	      size_t err_size) must_check;
/*
 * disk_open, with the directories where a differencing disk's parents may
 * be (NULL-terminated; NULL for none). A parent is only ever looked for in
 * the child's own directory (or below it) and in those (or below them): a
 * locator naming anything else (an absolute path elsewhere, "..", /proc,
 * a symlink, a device, a FIFO) is refused before anything opens it.
 */
int disk_open_in(const char *path, unsigned flags, const char *const *parent_dirs,
		 struct disk **ret, char *err, size_t err_size) must_check;
/* The deepest parent chain a differencing disk may have. */
#define DISK_MAX_PARENTS 32

/* A differencing disk's parent opened by someone else: its path (for messages) and file. */
struct disk_parent_file {
	const char *path;
	int fd; /* opened read-only; duplicated by disk_open_fd, the caller keeps its own */
};

/*
 * disk_open_in on a file already open, for a process that can no longer open host paths
 * (the worker in its jail): fd is the disk's file (read-only if it was opened so), direct_fd
 * the same file opened again with O_DIRECT, or -1 for buffered I/O only. name is the path,
 * for messages. A differencing disk's parents are never opened by path: they are parents[]
 * (nparents of them, the nearest first), each checked as a parent found by path would be
 * (its DataWriteGuid against the child's linkage, its size), and the chain must use exactly
 * all of them. Every descriptor is duplicated (the caller keeps and closes its own).
 */
int disk_open_fd(const char *name, int fd, int direct_fd, unsigned flags,
		 const struct disk_parent_file *parents, unsigned nparents, struct disk **ret,
		 char *err, size_t err_size) must_check;

/* What a differencing VHDX says of its parent (MS-VHDX 2.6.2.6.3), unchecked. */
struct disk_parent_locator {
	bool differencing; /* false: no parent (raw, or a VHDX that is not differencing) */
	char *relative_path, *absolute_path; /* either may be NULL */
	char *linkage;			     /* "{guid}": the parent's DataWriteGuid */
};

/*
 * Reads the parent locator of the disk open at fd (name for messages), parsing no further
 * than the metadata, taking no lock, writing nothing. For the service, which resolves and
 * opens the parents of a jailed worker's disks itself: the parsing runs in a process of
 * its own (parvis-vmwp --disk-parent), never in the service. 0 or -errno with a message.
 */
int disk_read_parent_locator(const char *name, int fd, struct disk_parent_locator *ret, char *err,
			     size_t err_size) must_check;
void disk_parent_locator_fini(struct disk_parent_locator *l);

/*
 * Drops a reference; the last one flushes, marks a VHDX closed cleanly and closes the files.
 * NULL is a no-op. Returns NULL.
 */
struct disk *disk_close(struct disk *d);
/*
 * One more reference to d, dropped by its own disk_close(): a worker whose disks were opened
 * before its jail keeps them across reboots while each boot's controller closes its own.
 * Returns d.
 */
struct disk *disk_ref(struct disk *d);
void disk_get_info(const struct disk *d, struct disk_info *info);

/* Synchronous I/O. 0 or -errno (-EINVAL unaligned or past the end, -EROFS, -EIO, -ENOSPC). */
int disk_read(struct disk *d, uint64_t offset, void *buf, size_t len) must_check;
int disk_write(struct disk *d, uint64_t offset, const void *buf, size_t len) must_check;
/* Makes every completed write durable (fdatasync of the file(s), after the VHDX log). */
int disk_flush(struct disk *d) must_check;
/* Frees the range where the format can (raw: punch hole; VHDX: unallocate whole blocks). Reads of
 * a discarded range return zeroes. */
int disk_discard(struct disk *d, uint64_t offset, uint64_t len) must_check;

/* ---------------------------------------------------------------------- */
/* Asynchronous queues. */

enum disk_op {
	DISK_OP_READ,
	DISK_OP_WRITE,
	DISK_OP_FLUSH,
	DISK_OP_DISCARD,
};

struct disk_request {
	/* Filled by the caller. */
	enum disk_op op;
	uint64_t offset;	 /* bytes; READ/WRITE/DISCARD */
	uint64_t len;		 /* DISCARD only (READ/WRITE: the sum of the iovecs) */
	const struct iovec *iov; /* READ/WRITE; host addresses, valid until completion */
	unsigned iovcnt;
	/* Runs on the queue's owner thread when reaped: result 0 or -errno. */
	void (*complete)(struct disk_request *req, int result);
	void *opaque;
	/* Private to the queue. */
	uint64_t priv[4];
};

/*
 * A queue of at most depth (1..4096) requests in flight. It has no thread:
 * every call below is made by one owner thread at a time.
 */
int disk_queue_new(struct disk *d, unsigned depth, struct disk_queue **ret) must_check;
/*
 * Commits, then waits for every request in flight to complete (their
 * callbacks run on the caller), then frees. NULL ok.
 */
struct disk_queue *disk_queue_free(struct disk_queue *q);
/*
 * Prepares req. 0: its complete callback will run exactly once, when the
 * owner reaps it after disk_queue_commit(). -EAGAIN: depth requests
 * already in flight (try again after a completion); -EINVAL: bad offset,
 * length or iovecs; -EROFS: a write to a read-only disk. On an error the
 * callback never runs.
 */
int disk_queue_submit(struct disk_queue *q, struct disk_request *req) must_check;
/* Hands every prepared request to the kernel (one system call for the batch). */
void disk_queue_commit(struct disk_queue *q);
/*
 * An eventfd that becomes readable when completions are waiting: put it in
 * the owner's poll loop and call disk_queue_complete() when it is.
 */
int disk_queue_fd(const struct disk_queue *q);
/* Clears the eventfd and runs the callbacks of every completion there is: how many. */
unsigned disk_queue_complete(struct disk_queue *q);
/* Runs the callbacks of the completions there are, without a system call: how many. */
unsigned disk_queue_reap(struct disk_queue *q);
/* Like reap, but sleeps for at least one if requests are in flight (commits first). */
unsigned disk_queue_wait(struct disk_queue *q);
/* Requests accepted and not completed yet. */
unsigned disk_queue_in_flight(const struct disk_queue *q);

struct disk_queue_stats {
	uint64_t submitted, completed, errors;
	uint64_t commits; /* batches handed to the kernel */
};
void disk_queue_get_stats(struct disk_queue *q, struct disk_queue_stats *stats);

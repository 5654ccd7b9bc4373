/*
 * What every format back end provides (one const ops table per format,
 * kvmtool style) and the iovec helpers they share. Private to src/disk/.
 */
#pragma once

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/compiler.h"
#include "disk/disk.h"

struct disk_ops {
	/* Vectored I/O of len bytes (the sum of the iovecs) at a virtual offset already checked. */
	int (*readv)(struct disk *d, const struct iovec *iov, unsigned iovcnt, uint64_t off,
		     size_t len);
	int (*writev)(struct disk *d, const struct iovec *iov, unsigned iovcnt, uint64_t off,
		      size_t len);
	int (*flush)(struct disk *d);
	int (*discard)(struct disk *d, uint64_t off, uint64_t len);
	/*
	 * For the queue: 1 and *file_off when [off, off+len) lies contiguously in d->fd at
	 * *file_off and may go to the kernel as is (for a write: the headers are already updated);
	 * 0 when the request must take the synchronous path; -errno on failure.
	 */
	int (*map)(struct disk *d, enum disk_op op, uint64_t off, uint64_t len, uint64_t *file_off);
	/* Frees everything, d included. Returns 0 or the first error of the last flush. */
	int (*close)(struct disk *d);
};

struct disk {
	const struct disk_ops *ops;
	struct disk_info info;
	int fd;			/* the file holding the data of mapped requests */
	int direct_fd;		/* the same file opened O_DIRECT; valid only if info.direct */
	uint32_t io_align;	/* required offset/length alignment of guest I/O (logical sector) */
	void *priv;		/* the format's state */
	atomic_uint extra_refs; /* disk_ref()s not yet dropped by a disk_close() */
};

/* fd: the file already open (duplicated; read-only if it was opened so), or -1 to open path. */
int disk_raw_open(const char *path, int fd, unsigned flags, struct disk **ret, char *err,
		  size_t err_size) must_check;
int disk_vhdx_open(const char *path, int fd, unsigned flags, const char *const *parent_dirs,
		   const struct disk_parent_file *parents, unsigned nparents, struct disk **ret,
		   char *err, size_t err_size) must_check;
int disk_vhdx_read_locator(const char *name, int fd, struct disk_parent_locator *ret, char *err,
			   size_t err_size) must_check;

/*
 * Locks a disk file against conflicting users (open file description locks, released on
 * close): writers exclusively, readers shared. 0, or -EBUSY when another open holds a
 * conflicting lock (the disk is attached elsewhere).
 */
int disk_file_lock(int fd, bool write) must_check;

/*
 * Restricts a ring made with IORING_SETUP_R_DISABLED to the operations the queue submits
 * (no SQE flags, no more io_uring_register() calls), then enables it. 0 or -errno.
 */
struct io_uring;
int disk_ring_restrict(struct io_uring *ring) must_check;

/* The range checks of disk_read() and friends, for the queue: 0 or -EINVAL. */
int disk_check_request(const struct disk *d, uint64_t offset, uint64_t len);

/* Writes one line into err (if not NULL). Returns r, for "return disk_error(...)". */
int disk_error(char *err, size_t err_size, int r, const char *fmt, ...) printf_like(4, 5);

/* Total length of an iovec array; -EINVAL if it overflows. */
int64_t disk_iov_length(const struct iovec *iov, unsigned iovcnt);
/*
 * A cursor over an iovec array: disk_iov_slice() fills out[] (at most max entries) with the
 * bytes [skip, skip+len) of iov. Returns the count, or -EINVAL if it does not fit in max.
 */
int disk_iov_slice(const struct iovec *iov, unsigned iovcnt, uint64_t skip, size_t len,
		   struct iovec *out, unsigned max);
/* Copies between a flat buffer and bytes [skip, skip+len) of an iovec array. */
void disk_iov_from_buf(const struct iovec *iov, unsigned iovcnt, uint64_t skip, const void *buf,
		       size_t len);
void disk_iov_to_buf(const struct iovec *iov, unsigned iovcnt, uint64_t skip, void *buf,
		     size_t len);
void disk_iov_zero(const struct iovec *iov, unsigned iovcnt, uint64_t skip, size_t len);

/* Full preadv/pwritev at an offset (loops on short transfers; reads past EOF give zeroes). */
int disk_file_preadv(int fd, const struct iovec *iov, unsigned iovcnt, uint64_t off,
		     size_t len) must_check;
int disk_file_pwritev(int fd, const struct iovec *iov, unsigned iovcnt, uint64_t off,
		      size_t len) must_check;
int disk_file_pread(int fd, void *buf, size_t len, uint64_t off) must_check;
int disk_file_pwrite(int fd, const void *buf, size_t len, uint64_t off) must_check;

/* iovec helpers and full-length file I/O shared by the format back ends. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "disk/disk_internal.h"

int64_t disk_iov_length(const struct iovec *iov, unsigned iovcnt)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > (uint64_t)INT64_MAX - total)
			return -EINVAL;
		total += iov[i].iov_len;
	}
	return (int64_t)total;
}

int disk_iov_slice(const struct iovec *iov, unsigned iovcnt, uint64_t skip, size_t len,
		   struct iovec *out, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < iovcnt && len; i++) {
		size_t l = iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		if (n == max)
			return -EINVAL;
		out[n].iov_base = (char *)iov[i].iov_base + skip;
		out[n].iov_len = MIN(l - skip, len);
		len -= out[n].iov_len;
		skip = 0;
		n++;
	}
	return len ? -EINVAL : (int)n;
}

static void iov_copy(const struct iovec *iov, unsigned iovcnt, uint64_t skip, void *buf,
		     const void *src, size_t len)
{
	for (unsigned i = 0; i < iovcnt && len; i++) {
		size_t l = iov[i].iov_len, n;
		char *p;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		p = (char *)iov[i].iov_base + skip;
		n = MIN(l - skip, len);
		if (buf) {
			memcpy(buf, p, n);
			buf = (char *)buf + n;
		} else if (src) {
			memcpy(p, src, n);
			src = (const char *)src + n;
		} else {
			memset(p, 0, n);
		}
		len -= n;
		skip = 0;
	}
}

void disk_iov_from_buf(const struct iovec *iov, unsigned iovcnt, uint64_t skip, const void *buf,
		       size_t len)
{
	iov_copy(iov, iovcnt, skip, NULL, buf, len);
}

void disk_iov_to_buf(const struct iovec *iov, unsigned iovcnt, uint64_t skip, void *buf, size_t len)
{
	iov_copy(iov, iovcnt, skip, buf, NULL, len);
}

void disk_iov_zero(const struct iovec *iov, unsigned iovcnt, uint64_t skip, size_t len)
{
	iov_copy(iov, iovcnt, skip, NULL, NULL, len);
}

static int file_iov(int fd, const struct iovec *iov, unsigned iovcnt, uint64_t off, size_t len,
		    bool write)
{
	struct iovec small[16], *v = small;
	size_t done = 0;
	int r = 0;

	if (iovcnt > ARRAY_SIZE(small)) {
		v = malloc(sizeof(*v) * iovcnt);
		if (!v)
			return -ENOMEM;
	}
	while (done < len) {
		int n = disk_iov_slice(iov, iovcnt, done, len - done, v, iovcnt);
		ssize_t k;

		if (n < 0) {
			r = n;
			break;
		}
		k = write ? pwritev(fd, v, MIN(n, IOV_MAX), (off_t)(off + done))
			  : preadv(fd, v, MIN(n, IOV_MAX), (off_t)(off + done));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			break;
		}
		if (k == 0) {
			if (write) {
				r = -EIO;
				break;
			}
			/* Past the end of the file: zeroes (sparse tails, short final blocks). */
			disk_iov_zero(iov, iovcnt, done, len - done);
			break;
		}
		done += (size_t)k;
	}
	if (v != small)
		free(v);
	return r;
}

int disk_file_preadv(int fd, const struct iovec *iov, unsigned iovcnt, uint64_t off, size_t len)
{
	return file_iov(fd, iov, iovcnt, off, len, false);
}

int disk_file_pwritev(int fd, const struct iovec *iov, unsigned iovcnt, uint64_t off, size_t len)
{
	return file_iov(fd, iov, iovcnt, off, len, true);
}

int disk_file_pread(int fd, void *buf, size_t len, uint64_t off)
{
	struct iovec v = {buf, len};

	return file_iov(fd, &v, 1, off, len, false);
}

int disk_file_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	struct iovec v = {(void *)buf, len};

	return file_iov(fd, &v, 1, off, len, true);
}

int disk_file_lock(int fd, bool write)
{
	struct flock fl = {.l_type = write ? F_WRLCK : F_RDLCK, .l_whence = SEEK_SET};

	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	if (errno == EAGAIN || errno == EACCES)
		return -EBUSY;
	return errno == EINVAL || errno == ENOLCK ? 0 : -errno; /* no locks here: go on */
}

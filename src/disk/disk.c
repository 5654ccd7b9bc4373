/*
 * The one interface over every disk format: detection by content (the
 * "vhdxfile" signature at offset 0 means VHDX, anything else is raw), range
 * checks, and dispatch through the format's ops table.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "disk/disk_internal.h"

const char *disk_format_name(enum disk_format format)
{
	switch (format) {
	case DISK_FORMAT_RAW: return "raw";
	case DISK_FORMAT_VHDX: return "vhdx";
	}
	return "unknown";
}

int disk_error(char *err, size_t err_size, int r, const char *fmt, ...)
{
	va_list ap;

	if (err && err_size) {
		va_start(ap, fmt);
		vsnprintf(err, err_size, fmt, ap);
		va_end(ap);
	}
	return r;
}

/*
 * A second descriptor for the data file, with O_DIRECT, through /proc/self/fd
 * so that it is the very file already opened (and locked), with the same
 * access mode. File systems without direct I/O (or a /proc-less sandbox)
 * leave the disk on buffered I/O, which is correct, only costlier.
 */
static void open_direct(struct disk *d)
{
	char path[64];
	int flags = fcntl(d->fd, F_GETFL);
	int fd;

	d->info.direct = false;
	if (flags < 0)
		return;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", d->fd);
	fd = open(path, (flags & O_ACCMODE) | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		return;
	d->direct_fd = fd;
	d->info.direct = true;
}

int disk_open(const char *path, unsigned flags, struct disk **ret, char *err, size_t err_size)
{
	return disk_open_in(path, flags, NULL, ret, err, err_size);
}

static int open_common(const char *path, int fd, int direct_fd, unsigned flags,
		       const char *const *parent_dirs, const struct disk_parent_file *parents,
		       unsigned nparents, struct disk **ret, char *err, size_t err_size)
{
	char sig[8];
	ssize_t n;
	int probe = fd, r;

	if (err && err_size)
		err[0] = '\0';
	if (fd < 0) {
		probe = open(path, O_RDONLY | O_CLOEXEC);
		if (probe < 0)
			return disk_error(err, err_size, -errno, "%s: %s", path, strerror(errno));
	}
	n = pread(probe, sig, sizeof(sig), 0);
	r = n < 0 ? -errno : 0;
	if (fd < 0)
		close(probe);
	if (r < 0)
		return disk_error(err, err_size, r, "%s: %s", path, strerror(-r));
	if (n == sizeof(sig) && memcmp(sig, "vhdxfile", 8) == 0)
		r = disk_vhdx_open(path, fd, flags, parent_dirs, parents, nparents, ret, err,
				   err_size);
	else if (nparents)
		r = disk_error(err, err_size, -EINVAL,
			       "%s: %u parent(s) were passed with a raw disk, which has none", path,
			       nparents);
	else
		r = disk_raw_open(path, fd, flags, ret, err, err_size);
	if (r < 0 || (flags & DISK_OPEN_CACHED))
		return r;
	if (fd < 0) {
		open_direct(*ret);
	} else if (direct_fd >= 0 && (fcntl(direct_fd, F_GETFL) & O_DIRECT)) {
		(*ret)->direct_fd = fcntl(direct_fd, F_DUPFD_CLOEXEC, 3);
		(*ret)->info.direct = (*ret)->direct_fd >= 0;
	}
	return r;
}

int disk_open_in(const char *path, unsigned flags, const char *const *parent_dirs,
		 struct disk **ret, char *err, size_t err_size)
{
	return open_common(path, -1, -1, flags, parent_dirs, NULL, 0, ret, err, err_size);
}

int disk_open_fd(const char *name, int fd, int direct_fd, unsigned flags,
		 const struct disk_parent_file *parents, unsigned nparents, struct disk **ret,
		 char *err, size_t err_size)
{
	/* An empty parents[] still means "never by path": a chain needing one fails. */
	static const struct disk_parent_file none[1] = {{.path = NULL, .fd = -1}};

	if (fd < 0)
		return disk_error(err, err_size, -EBADF, "%s: no file descriptor", name);
	if (nparents > DISK_MAX_PARENTS)
		return disk_error(err, err_size, -E2BIG, "%s: more than %d parents", name,
				  DISK_MAX_PARENTS);
	return open_common(name, fd, direct_fd, flags, NULL, parents ? parents : none, nparents,
			   ret, err, err_size);
}

int disk_read_parent_locator(const char *name, int fd, struct disk_parent_locator *ret, char *err,
			     size_t err_size)
{
	char sig[8];
	ssize_t n = pread(fd, sig, sizeof(sig), 0);

	if (err && err_size)
		err[0] = '\0';
	if (n < 0)
		return disk_error(err, err_size, -errno, "%s: %s", name, strerror(errno));
	if (n == sizeof(sig) && memcmp(sig, "vhdxfile", 8) == 0)
		return disk_vhdx_read_locator(name, fd, ret, err, err_size);
	*ret = (struct disk_parent_locator){.differencing = false};
	return 0;
}

void disk_parent_locator_fini(struct disk_parent_locator *l)
{
	free(l->relative_path);
	free(l->absolute_path);
	free(l->linkage);
	*l = (struct disk_parent_locator){.differencing = false};
}

struct disk *disk_ref(struct disk *d)
{
	atomic_fetch_add(&d->extra_refs, 1);
	return d;
}

struct disk *disk_close(struct disk *d)
{
	unsigned refs;

	if (!d)
		return NULL;
	/* Not the last reference: only the count goes down. */
	refs = atomic_load(&d->extra_refs);
	while (refs > 0)
		if (atomic_compare_exchange_weak(&d->extra_refs, &refs, refs - 1))
			return NULL;
	if (d->info.direct)
		close(d->direct_fd);
	(void)d->ops->close(d);
	return NULL;
}

void disk_get_info(const struct disk *d, struct disk_info *info)
{
	*info = d->info;
}

static int check_range(const struct disk *d, uint64_t offset, uint64_t len)
{
	if (!IS_ALIGNED(offset, d->io_align) || !IS_ALIGNED(len, d->io_align))
		return -EINVAL;
	if (offset > d->info.size || len > d->info.size - offset)
		return -EINVAL;
	return 0;
}

int disk_read(struct disk *d, uint64_t offset, void *buf, size_t len)
{
	struct iovec v = {buf, len};
	int r = check_range(d, offset, len);

	if (r < 0)
		return r;
	return len ? d->ops->readv(d, &v, 1, offset, len) : 0;
}

int disk_write(struct disk *d, uint64_t offset, const void *buf, size_t len)
{
	struct iovec v = {(void *)buf, len};
	int r = check_range(d, offset, len);

	if (r < 0)
		return r;
	if (d->info.read_only)
		return -EROFS;
	return len ? d->ops->writev(d, &v, 1, offset, len) : 0;
}

int disk_flush(struct disk *d)
{
	if (d->info.read_only)
		return 0;
	return d->ops->flush(d);
}

int disk_discard(struct disk *d, uint64_t offset, uint64_t len)
{
	int r = check_range(d, offset, len);

	if (r < 0)
		return r;
	if (d->info.read_only)
		return -EROFS;
	return len ? d->ops->discard(d, offset, len) : 0;
}

int disk_check_request(const struct disk *d, uint64_t offset, uint64_t len)
{
	return check_range(d, offset, len);
}

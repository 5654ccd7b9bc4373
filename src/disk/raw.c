/*
 * Raw disk images: the file (or block device) is the disk, byte for byte.
 * Discard punches holes (fallocate PUNCH_HOLE|KEEP_SIZE); the identity is
 * derived from the file's st_dev/st_ino so it stays the same across opens.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk/disk_internal.h"

static int raw_readv(struct disk *d, const struct iovec *iov, unsigned iovcnt, uint64_t off,
		     size_t len)
{
	return disk_file_preadv(d->fd, iov, iovcnt, off, len);
}

static int raw_writev(struct disk *d, const struct iovec *iov, unsigned iovcnt, uint64_t off,
		      size_t len)
{
	return disk_file_pwritev(d->fd, iov, iovcnt, off, len);
}

static int raw_flush(struct disk *d)
{
	return fdatasync(d->fd) < 0 ? -errno : 0;
}

static int raw_discard(struct disk *d, uint64_t off, uint64_t len)
{
	if (!d->info.can_discard)
		return 0;
	if (fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) <
	    0) {
		if (errno == EOPNOTSUPP)
			return 0; /* discard is advisory */
		return -errno;
	}
	return 0;
}

static int raw_map(struct disk *d, enum disk_op op, uint64_t off, uint64_t len, uint64_t *file_off)
{
	*file_off = off;
	return 1;
}

static int raw_close(struct disk *d)
{
	int r = 0;

	if (!d->info.read_only && fdatasync(d->fd) < 0)
		r = -errno;
	close(d->fd);
	free(d);
	return r;
}

static const struct disk_ops raw_ops = {
	.readv = raw_readv,
	.writev = raw_writev,
	.flush = raw_flush,
	.discard = raw_discard,
	.map = raw_map,
	.close = raw_close,
};

/* A stable GUID from the inode: FNV-1a over (st_dev, st_ino), version 4/variant bits set. */
static void raw_disk_id(const struct stat *st, struct guid *id)
{
	uint64_t h[2] = {UINT64_C(0xcbf29ce484222325), UINT64_C(0x84222325cbf29ce4)};
	uint64_t in[2] = {(uint64_t)st->st_dev, (uint64_t)st->st_ino};

	for (int k = 0; k < 2; k++)
		for (int i = 0; i < 2; i++)
			for (int b = 0; b < 8; b++) {
				h[k] ^= (in[i] >> (8 * b)) & 0xff;
				h[k] *= UINT64_C(0x100000001b3);
			}
	memcpy(id->bytes, h, 16);
	id->bytes[7] = (uint8_t)((id->bytes[7] & 0x0f) | 0x40);
	id->bytes[8] = (uint8_t)((id->bytes[8] & 0x3f) | 0x80);
}

int disk_raw_open(const char *path, int given_fd, unsigned flags, struct disk **ret, char *err,
		  size_t err_size)
{
	bool ro = flags & DISK_OPEN_READ_ONLY;
	struct disk *d;
	struct stat st;
	uint64_t size;
	int fd;

	if (given_fd >= 0) {
		ro = ro || (fcntl(given_fd, F_GETFL) & O_ACCMODE) == O_RDONLY;
		fd = fcntl(given_fd, F_DUPFD_CLOEXEC, 3);
	} else {
		fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (fd < 0 && !ro && (errno == EACCES || errno == EROFS || errno == EPERM)) {
			ro = true;
			fd = open(path, O_RDONLY | O_CLOEXEC);
		}
	}
	if (fd < 0)
		return disk_error(err, err_size, -errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		goto fail_errno;
	if (disk_file_lock(fd, !ro) < 0) {
		close(fd);
		return disk_error(err, err_size, -EBUSY, "%s: in use (another open holds it%s)",
				  path, ro ? " for writing" : "");
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &size) < 0)
			goto fail_errno;
	} else if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else {
		close(fd);
		return disk_error(err, err_size, -EINVAL, "%s: not a regular file or block device",
				  path);
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		close(fd);
		return disk_error(err, err_size, -ENOMEM, "%s: out of memory", path);
	}
	d->ops = &raw_ops;
	d->fd = fd;
	d->io_align = 512;
	d->info.format = DISK_FORMAT_RAW;
	d->info.size = ALIGN_DOWN(size, 512); /* a partial last sector is not addressable */
	d->info.logical_sector_size = 512;
	d->info.physical_sector_size = 512;
	d->info.read_only = ro;
	d->info.can_discard = S_ISREG(st.st_mode) && !ro;
	d->info.discard_granularity = 4096;
	raw_disk_id(&st, &d->info.disk_id);
	*ret = d;
	return 0;

fail_errno : {
	int r = -errno;

	close(fd);
	return disk_error(err, err_size, r, "%s: %s", path, strerror(-r));
}
}

/*
 * Whole-image operations for `parvis vhd`: inspect, raw creation, resize,
 * convert, merge. Format-specific parts are in vhdx/tool.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk/disk_internal.h"
#include "disk/disk_tool.h"
#include "disk/vhdx.h"
#include "disk/vhdx/vhdx_internal.h"

struct disk_image_info *disk_image_info_free(struct disk_image_info *info)
{
	while (info) {
		struct disk_image_info *parent = info->parent;

		free(info->path);
		free(info->parent_linkage);
		free(info);
		info = parent;
	}
	return NULL;
}

int disk_image_inspect(const char *path, struct disk_image_info **ret, char *err, size_t err_size)
{
	struct disk_image_info *info = calloc(1, sizeof(*info));
	char sig[8] = {0};
	struct stat st;
	int fd, r;

	if (!info)
		return disk_error(err, err_size, -ENOMEM, "%s: out of memory", path);
	info->path = strdup(path);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = disk_error(err, err_size, -errno, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	info->file_size = (uint64_t)st.st_size;
	info->allocated_size = (uint64_t)st.st_blocks * 512;
	if (pread(fd, sig, sizeof(sig), 0) < 0)
		memset(sig, 0, sizeof(sig));
	close(fd);
	if (memcmp(sig, "vhdxfile", 8) == 0) {
		r = vhdx_tool_inspect(path, info, err, err_size);
		if (r < 0)
			goto fail;
	} else {
		struct disk *d;

		r = disk_open(path, DISK_OPEN_READ_ONLY, &d, err, err_size);
		if (r < 0)
			goto fail;
		info->format = DISK_FORMAT_RAW;
		info->virtual_size = d->info.size;
		info->logical_sector_size = d->info.logical_sector_size;
		info->physical_sector_size = d->info.physical_sector_size;
		info->disk_id = d->info.disk_id;
		disk_close(d);
	}
	*ret = info;
	return 0;
fail:
	disk_image_info_free(info);
	return r;
}

int disk_raw_create(const char *path, uint64_t size, char *err, size_t err_size)
{
	int fd;

	if (!size || size % 512)
		return disk_error(err, err_size, -EINVAL,
				  "%s: size must be a non-zero multiple of 512 bytes", path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return disk_error(err, err_size, -errno, "%s: %s", path, strerror(errno));
	if (ftruncate(fd, (off_t)size) < 0) {
		int r = -errno;

		close(fd);
		unlink(path);
		return disk_error(err, err_size, r, "%s: %s", path, strerror(-r));
	}
	close(fd);
	return 0;
}

static int raw_resize(const char *path, uint64_t new_size, char *err, size_t err_size)
{
	struct stat st;
	int fd, r = 0;

	if (!new_size || new_size % 512)
		return disk_error(err, err_size, -EINVAL,
				  "%s: the new size must be a non-zero multiple of 512 bytes",
				  path);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = disk_error(err, err_size, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (new_size < (uint64_t)st.st_size) {
		/* Shrinking: only if no extent holds data past the new end. */
		off_t data = lseek(fd, (off_t)new_size, SEEK_DATA);

		if (data >= 0 && data < st.st_size) {
			r = disk_error(
				err, err_size, -ENOTEMPTY,
				"%s: cannot shrink: data is allocated at byte %lld, past the "
				"new end",
				path, (long long)data);
			goto out;
		}
	}
	if (ftruncate(fd, (off_t)new_size) < 0 || fsync(fd) < 0)
		r = disk_error(err, err_size, -errno, "%s: %s", path, strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	return r;
}

int disk_image_resize(const char *path, uint64_t new_size, char *err, size_t err_size)
{
	struct disk_image_info *info;
	int r = disk_image_inspect(path, &info, err, err_size);

	if (r < 0)
		return r;
	enum disk_format f = info->format;
	bool dirty = info->log_needs_replay;
	disk_image_info_free(info);
	(void)dirty; /* a read-write open replays first */
	if (f == DISK_FORMAT_RAW)
		return raw_resize(path, new_size, err, err_size);
	return vhdx_tool_resize(path, new_size, err, err_size);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

int disk_image_convert(const char *src, const char *dst, const struct disk_convert_params *p,
		       char *err, size_t err_size)
{
	struct disk *in = NULL, *out = NULL;
	struct disk_info info;
	const size_t chunk = 1 << 20;
	uint8_t *buf = NULL;
	bool created = false;
	int r;

	r = disk_open(src, DISK_OPEN_READ_ONLY, &in, err, err_size);
	if (r < 0)
		return r;
	disk_get_info(in, &info);
	if (p->format == DISK_FORMAT_VHDX) {
		struct vhdx_create_params cp = {
			.size = info.size,
			.block_size = p->block_size,
			.logical_sector_size = p->logical_sector_size ? p->logical_sector_size
								      : info.logical_sector_size,
			.physical_sector_size =
				MAX(info.physical_sector_size, p->logical_sector_size),
			.fixed = p->fixed,
		};
		r = vhdx_create(dst, &cp, err, err_size);
	} else {
		r = disk_raw_create(dst, info.size, err, err_size);
	}
	if (r < 0)
		goto out;
	created = true;
	r = disk_open(dst, 0, &out, err, err_size);
	if (r < 0)
		goto out;
	buf = malloc(chunk);
	if (!buf) {
		r = disk_error(err, err_size, -ENOMEM, "out of memory");
		goto out;
	}
	for (uint64_t off = 0; off < info.size; off += chunk) {
		size_t n = (size_t)MIN((uint64_t)chunk, info.size - off);

		r = disk_read(in, off, buf, n);
		if (r < 0) {
			disk_error(err, err_size, r, "%s: reading at %llu: %s", src,
				   (unsigned long long)off, strerror(-r));
			goto out;
		}
		if (!all_zero(buf, n)) {
			r = disk_write(out, off, buf, n);
			if (r < 0) {
				disk_error(err, err_size, r, "%s: writing at %llu: %s", dst,
					   (unsigned long long)off, strerror(-r));
				goto out;
			}
		}
		if (p->progress)
			p->progress(p->opaque, off + n, info.size);
	}
	r = disk_flush(out);
	if (r < 0)
		disk_error(err, err_size, r, "%s: flushing: %s", dst, strerror(-r));
out:
	disk_close(in);
	disk_close(out);
	free(buf);
	if (r < 0 && created)
		unlink(dst);
	return r;
}

int disk_image_merge(const char *child, disk_progress_fn progress, void *opaque, char *err,
		     size_t err_size)
{
	struct disk_image_info *info;
	int r = disk_image_inspect(child, &info, err, err_size);

	if (r < 0)
		return r;
	bool diff = info->differencing;
	disk_image_info_free(info);
	if (!diff)
		return disk_error(err, err_size, -EINVAL, "%s: not a differencing disk", child);
	return vhdx_tool_merge(child, progress, opaque, err, err_size);
}

int disk_image_merge_replace(const char *child, const volatile int *cancel,
			     disk_progress_fn progress, void *opaque, char *err, size_t err_size)
{
	struct disk_image_info *info;
	int r = disk_image_inspect(child, &info, err, err_size);

	if (r < 0)
		return r;
	bool diff = info->differencing;
	disk_image_info_free(info);
	if (!diff)
		return disk_error(err, err_size, -EINVAL, "%s: not a differencing disk", child);
	return vhdx_tool_merge_ex(child, true, cancel, progress, opaque, err, err_size);
}

/*
 * Opening a VHDX: file identifier, headers, region table, metadata, log
 * replay (read-write opens), BAT, and the parent chain of a differencing disk
 * (each parent read-only, its DataWriteGuid checked against the child's
 * parent_linkage). Every check runs before anything is written; the only
 * write an open can do is the replay of a log left by a crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk/vhdx.h"
#include "disk/vhdx/vhdx_internal.h"

#define MAX_CHAIN_DEPTH 32

static void free_metadata(struct vhdx *v)
{
	free(v->bat);
	free(v->parent_linkage);
	free(v->parent_linkage2);
	free(v->parent_relative_path);
	free(v->parent_absolute_path);
	free(v->parent_volume_path);
	v->bat = NULL;
	v->parent_linkage = v->parent_linkage2 = NULL;
	v->parent_relative_path = v->parent_absolute_path = v->parent_volume_path = NULL;
}

void vhdx_free(struct vhdx *v)
{
	if (!v)
		return;
	disk_close(v->parent);
	free_metadata(v);
	if (v->fd >= 0)
		close(v->fd);
	pthread_mutex_destroy(&v->lock);
	free(v->path);
	free(v);
}

static int file_size(struct vhdx *v, uint64_t *size, char *err, size_t err_size)
{
	struct stat st;

	if (fstat(v->fd, &st) < 0)
		return disk_error(err, err_size, -errno, "%s: %s", v->path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return disk_error(err, err_size, -EINVAL, "%s: not a regular file", v->path);
	*size = (uint64_t)st.st_size;
	return 0;
}

/* The parent's path from the locator (2.6.2.6.3): relative_path first, then the absolute one. */
static char *parent_path(const struct vhdx *v)
{
	const char *cands[2] = {v->parent_relative_path, v->parent_absolute_path};

	for (int i = 0; i < 2; i++) {
		const char *c = cands[i];
		char *p, *dir, *dup, *full;

		if (!c)
			continue;
		p = strdup(c);
		if (!p)
			return NULL;
		for (char *s = p; *s; s++)
			if (*s == '\\')
				*s = '/';
		if (i == 0 && p[0] != '/') {
			const char *rel = strncmp(p, "./", 2) == 0 ? p + 2 : p;

			dup = strdup(v->path);
			dir = dup ? dirname(dup) : NULL;
			full = dir ? malloc(strlen(dir) + strlen(rel) + 2) : NULL;
			if (full)
				sprintf(full, "%s/%s", dir, rel);
			free(dup);
			free(p);
			p = full;
		}
		if (p && access(p, F_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

static int open_depth(const char *path, unsigned flags, unsigned depth, struct vhdx **ret,
		      char *err, size_t err_size);

static int open_parent(struct vhdx *v, unsigned flags, unsigned depth, char *err, size_t err_size)
{
	char *path = parent_path(v), linkage[GUID_STRING_LEN + 2], g[GUID_STRING_LEN];
	struct vhdx *p;
	int r;

	if (!path)
		return disk_error(err, err_size, -ENOENT, "%s: the parent disk \"%s\" is missing",
				  v->path,
				  v->parent_relative_path ? v->parent_relative_path
							  : v->parent_absolute_path);
	if (depth >= MAX_CHAIN_DEPTH) {
		free(path);
		return disk_error(err, err_size, -ELOOP, "%s: parent chain deeper than %d", v->path,
				  MAX_CHAIN_DEPTH);
	}
	r = open_depth(path, DISK_OPEN_READ_ONLY | (flags & VHDX_OPEN_INSPECT), depth + 1, &p, err,
		       err_size);
	if (r == -EBUSY && !(flags & DISK_OPEN_READ_ONLY)) {
		/*
		 * The parent's log needs replay and the child is opened read-write: replay it
		 * (a read-write open and close; DataWriteGuid is kept, so the chain still
		 * matches), then open it read-only as usual.
		 */
		r = open_depth(path, 0, depth + 1, &p, err, err_size);
		if (r == 0) {
			vhdx_free(p);
			r = open_depth(path, DISK_OPEN_READ_ONLY, depth + 1, &p, err, err_size);
		}
	}
	free(path);
	if (r < 0)
		return r;
	snprintf(linkage, sizeof(linkage), "{%s}", guid_format(&p->header.data_write_guid, g));
	if (strcasecmp(linkage, v->parent_linkage) &&
	    (!v->parent_linkage2 || strcasecmp(linkage, v->parent_linkage2))) {
		r = disk_error(err, err_size, -EINVAL,
			       "%s: the parent %s does not match (its DataWriteGuid %s, expected "
			       "%s): it changed after this disk was made",
			       v->path, p->path, linkage, v->parent_linkage);
		vhdx_free(p);
		return r;
	}
	if (p->size != v->size || p->logical_sector_size != v->logical_sector_size) {
		r = disk_error(err, err_size, -EINVAL,
			       "%s: the parent %s has a different size or sector size", v->path,
			       p->path);
		vhdx_free(p);
		return r;
	}
	v->parent = &p->disk;
	return 0;
}

static int open_depth(const char *path, unsigned flags, unsigned depth, struct vhdx **ret,
		      char *err, size_t err_size)
{
	bool ro = flags & DISK_OPEN_READ_ONLY;
	struct vhdx *v;
	uint64_t size, sig = 0;
	int r;

	v = calloc(1, sizeof(*v));
	if (!v || !(v->path = strdup(path))) {
		free(v);
		return disk_error(err, err_size, -ENOMEM, "%s: out of memory", path);
	}
	pthread_mutex_init(&v->lock, NULL);
	/* O_NONBLOCK: a parent path naming a FIFO must not hang the open (checked below). */
	v->fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK);
	if (v->fd < 0 && !ro && (errno == EACCES || errno == EROFS || errno == EPERM)) {
		ro = true;
		v->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	}
	if (v->fd < 0) {
		r = disk_error(err, err_size, -errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	v->read_only = ro;
	r = file_size(v, &size, err, err_size);
	if (r < 0)
		goto fail;
	/* Writers exclusive, readers shared (parents are shared by their children); inspect
	 * takes no lock, so it works on disks in use. */
	if (!(flags & VHDX_OPEN_INSPECT) && disk_file_lock(v->fd, !ro) < 0) {
		r = disk_error(err, err_size, -EBUSY, "%s: in use (another open holds it%s)", path,
			       ro ? " for writing" : "");
		goto fail;
	}
	if (size < VHDX_MiB) {
		r = disk_error(err, err_size, -EINVAL, "%s: too small for a VHDX (%llu bytes)",
			       path, (unsigned long long)size);
		goto fail;
	}
	r = disk_file_pread(v->fd, &sig, sizeof(sig), 0);
	if (r == 0 && sig != VHDX_FILE_SIGNATURE)
		r = disk_error(err, err_size, -EINVAL, "%s: no VHDX file signature", path);
	if (r == 0)
		r = vhdx_headers_load(v, err, err_size);
	if (r == 0)
		r = vhdx_regions_load(v, size, err, err_size);
	if (r == 0)
		r = vhdx_metadata_load(v, err, err_size);
	if (r < 0)
		goto fail;
	if (!guid_is_null(&v->header.log_guid)) {
		bool found = false;

		r = vhdx_log_find(v, size, &found);
		if (r < 0) {
			disk_error(err, err_size, r, "%s: reading the VHDX log: %s", path,
				   strerror(-r));
			goto fail;
		}
		if (found && ro && !(flags & VHDX_OPEN_INSPECT)) {
			r = disk_error(
				err, err_size, -EBUSY,
				"%s: the VHDX log needs replay (the disk is in use by a "
				"writer, or was not closed cleanly); open it read-write once "
				"to replay it",
				path);
			goto fail;
		}
		if (found && ro) {
			v->log_dirty = true;
		} else if (!ro) {
			r = vhdx_log_replay(v, size, err, err_size);
			if (r < 0)
				goto fail;
			/* The log may have rewritten any metadata: read it all again. */
			free_metadata(v);
			r = file_size(v, &size, err, err_size);
			if (r == 0)
				r = vhdx_regions_load(v, size, err, err_size);
			if (r == 0)
				r = vhdx_metadata_load(v, err, err_size);
			if (r < 0)
				goto fail;
		}
	}
	if (!ro && !v->header.log_length) {
		r = disk_error(err, err_size, -EINVAL,
			       "%s: VHDX without a log: only read-only opens are possible", path);
		goto fail;
	}
	r = vhdx_bat_load(v, size, err, err_size);
	if (r < 0)
		goto fail;
	if (v->has_parent) {
		r = open_parent(v, flags, depth, err, err_size);
		if (r < 0)
			goto fail;
	}
	v->disk.ops = &vhdx_ops;
	v->disk.priv = v;
	v->disk.fd = v->fd;
	v->disk.io_align = v->logical_sector_size;
	v->disk.info = (struct disk_info){
		.format = DISK_FORMAT_VHDX,
		.size = v->size,
		.logical_sector_size = v->logical_sector_size,
		.physical_sector_size = v->physical_sector_size,
		.read_only = ro,
		.can_discard = !ro,
		.discard_granularity = v->block_size,
		.disk_id = v->page83,
	};
	*ret = v;
	return 0;
fail:
	vhdx_free(v);
	return r;
}

int vhdx_open_file(const char *path, unsigned flags, struct vhdx **ret, char *err, size_t err_size)
{
	return open_depth(path, flags, 0, ret, err, err_size);
}

int disk_vhdx_open(const char *path, unsigned flags, struct disk **ret, char *err, size_t err_size)
{
	struct vhdx *v;
	int r = vhdx_open_file(path, flags & DISK_OPEN_READ_ONLY, &v, err, err_size);

	if (r == 0)
		*ret = &v->disk;
	return r;
}

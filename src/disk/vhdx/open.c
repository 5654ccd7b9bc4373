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
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "disk/vhdx.h"
#include "disk/vhdx/vhdx_internal.h"

#define MAX_CHAIN_DEPTH 32

static void free_metadata(struct vhdx *v)
{
	vhdx_bat_unmap(v);
	free(v->parent_linkage);
	free(v->parent_linkage2);
	free(v->parent_relative_path);
	free(v->parent_absolute_path);
	free(v->parent_volume_path);
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

/*
 * What an open of a parent must hold to: the directories it may be in (besides the child's
 * own), the linkage its DataWriteGuid must match (checked right after its headers are read,
 * before its log is replayed or anything else is written), and the file it was checked to
 * be (a regular file, by lstat, before it was opened).
 */
struct open_ctx {
	const char *child;	 /* the child's path, for messages */
	const char *const *dirs; /* NULL-terminated, may be NULL */
	const char *linkage, *linkage2;
	dev_t dev;
	ino_t ino;
};

/* dir (a canonical path) is root or below it. */
static bool dir_within(const char *dir, const char *root)
{
	size_t n = strlen(root);

	if (n > 1 && root[n - 1] == '/')
		n--;
	return !strncmp(dir, root, n) && (dir[n] == '\0' || dir[n] == '/' || n == 1);
}

static bool dir_allowed(const char *rdir, const char *child_dir, const char *const *dirs)
{
	char *r;
	bool ok;

	r = realpath(child_dir, NULL);
	ok = r && dir_within(rdir, r);
	free(r);
	for (unsigned i = 0; !ok && dirs && dirs[i]; i++) {
		r = realpath(dirs[i], NULL);
		ok = r && dir_within(rdir, r);
		free(r);
	}
	return ok;
}

/*
 * One candidate from the locator: its directory made canonical (no symlinks, no ".."),
 * which must be the child's directory, one of ctx's or below them, on a file system that
 * holds files (not /proc or /sys); then the last component, by lstat, a regular file (not
 * a symlink, a device or a FIFO: those are refused before anything opens them). 0 with
 * *ret_path, -ENOENT if it does not exist, another -errno with a message.
 */
static int parent_candidate(const struct vhdx *v, const char *cand, bool relative,
			    struct open_ctx *ctx, char **ret_path, char *err, size_t err_size)
{
	char *p = NULL, *dup = NULL, *rdir = NULL, *full = NULL, *slash, *base;
	const char *child_dir;
	struct statfs sfs;
	struct stat st;
	int r;

	dup = strdup(v->path);
	p = malloc(strlen(v->path) + strlen(cand) + 3);
	if (!dup || !p) {
		r = disk_error(err, err_size, -ENOMEM, "%s: out of memory", v->path);
		goto out;
	}
	child_dir = dirname(dup);
	if (relative && cand[0] != '/' && cand[0] != '\\')
		sprintf(p, "%s/%s", child_dir, cand);
	else
		strcpy(p, cand);
	for (char *c = p; *c; c++)
		if (*c == '\\')
			*c = '/';
	slash = strrchr(p, '/');
	base = slash ? slash + 1 : p;
	if (!slash || !*base || !strcmp(base, ".") || !strcmp(base, "..")) {
		r = disk_error(err, err_size, -EINVAL,
			       "%s: the parent locator \"%s\" names no file", v->path, cand);
		goto out;
	}
	*slash = '\0';
	rdir = realpath(*p ? p : "/", NULL);
	if (!rdir) {
		r = errno == ENOMEM
			    ? disk_error(err, err_size, -ENOMEM, "%s: out of memory", v->path)
			    : -ENOENT;
		goto out;
	}
	if (!dir_allowed(rdir, child_dir, ctx->dirs)) {
		r = disk_error(err, err_size, -EPERM,
			       "%s: the parent \"%s\" is outside the disk's directory and the "
			       "storage directories",
			       v->path, cand);
		goto out;
	}
	if (statfs(rdir, &sfs) == 0 &&
	    (sfs.f_type == PROC_SUPER_MAGIC || sfs.f_type == SYSFS_MAGIC ||
	     sfs.f_type == DEVPTS_SUPER_MAGIC)) {
		r = disk_error(err, err_size, -EPERM, "%s: the parent \"%s\" is not a disk file",
			       v->path, cand);
		goto out;
	}
	full = malloc(strlen(rdir) + strlen(base) + 2);
	if (!full) {
		r = disk_error(err, err_size, -ENOMEM, "%s: out of memory", v->path);
		goto out;
	}
	sprintf(full, "%s/%s", strcmp(rdir, "/") ? rdir : "", base);
	if (lstat(full, &st) < 0) {
		r = errno == ENOENT ? -ENOENT
				    : disk_error(err, err_size, -errno, "%s: the parent %s: %s",
						 v->path, full, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = disk_error(err, err_size, -EPERM,
			       "%s: the parent %s is not a regular file (%s)", v->path, full,
			       S_ISLNK(st.st_mode)			    ? "a symbolic link"
			       : S_ISDIR(st.st_mode)			    ? "a directory"
			       : S_ISFIFO(st.st_mode)			    ? "a FIFO"
			       : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
									    : "a special file");
		goto out;
	}
	ctx->dev = st.st_dev;
	ctx->ino = st.st_ino;
	*ret_path = full;
	full = NULL;
	r = 0;
out:
	free(full);
	free(rdir);
	free(p);
	free(dup);
	return r;
}

/* The parent's path from the locator (2.6.2.6.3): relative_path first, then the absolute one. */
static int parent_path(const struct vhdx *v, struct open_ctx *ctx, char **ret_path, char *err,
		       size_t err_size)
{
	const char *cands[2] = {v->parent_relative_path, v->parent_absolute_path};
	int r = -ENOENT;

	for (int i = 0; i < 2 && r == -ENOENT; i++)
		if (cands[i])
			r = parent_candidate(v, cands[i], i == 0, ctx, ret_path, err, err_size);
	if (r == -ENOENT)
		r = disk_error(err, err_size, -ENOENT, "%s: the parent disk \"%s\" is missing",
			       v->path,
			       v->parent_relative_path ? v->parent_relative_path
						       : v->parent_absolute_path);
	return r;
}

static int open_depth(const char *path, int given_fd, unsigned flags, unsigned depth,
		      const struct open_ctx *ctx, const char *const *dirs, struct vhdx **ret,
		      char *err, size_t err_size);

/* Does the DataWriteGuid of p's header match what the child's locator says? */
static bool linked(const struct vhdx *p, const struct open_ctx *ctx)
{
	char linkage[GUID_STRING_LEN + 2], g[GUID_STRING_LEN];

	snprintf(linkage, sizeof(linkage), "{%s}", guid_format(&p->header.data_write_guid, g));
	return !strcasecmp(linkage, ctx->linkage) ||
	       (ctx->linkage2 && !strcasecmp(linkage, ctx->linkage2));
}

static int open_parent(struct vhdx *v, unsigned flags, unsigned depth, const char *const *dirs,
		       char *err, size_t err_size)
{
	struct open_ctx ctx = {.child = v->path,
			       .dirs = dirs,
			       .linkage = v->parent_linkage,
			       .linkage2 = v->parent_linkage2};
	char *path = NULL;
	struct vhdx *p;
	int r;

	if (depth >= MAX_CHAIN_DEPTH)
		return disk_error(err, err_size, -ELOOP, "%s: parent chain deeper than %d", v->path,
				  MAX_CHAIN_DEPTH);
	r = parent_path(v, &ctx, &path, err, err_size);
	if (r < 0)
		return r;
	r = open_depth(path, -1, DISK_OPEN_READ_ONLY | (flags & VHDX_OPEN_INSPECT), depth + 1, &ctx,
		       dirs, &p, err, err_size);
	if (r == -EBUSY && !(flags & DISK_OPEN_READ_ONLY)) {
		/*
		 * The parent's log needs replay and the child is opened read-write: replay it
		 * (a read-write open and close, its linkage checked before the replay;
		 * DataWriteGuid is kept, so the chain still matches), then open it read-only
		 * as usual.
		 */
		r = open_depth(path, -1, 0, depth + 1, &ctx, dirs, &p, err, err_size);
		if (r == 0) {
			vhdx_free(p);
			r = open_depth(path, -1, DISK_OPEN_READ_ONLY, depth + 1, &ctx, dirs, &p,
				       err, err_size);
		}
	}
	free(path);
	if (r < 0)
		return r;
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

/*
 * ctx: NULL for the disk named by the caller; for a parent, what it must be (the file that
 * was checked, opened without following a symlink, and linked to its child). given_fd: the
 * caller's disk already open (duplicated, read-only if it was opened so), or -1.
 */
static int open_depth(const char *path, int given_fd, unsigned flags, unsigned depth,
		      const struct open_ctx *ctx, const char *const *dirs, struct vhdx **ret,
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
	/* O_NOFOLLOW for parents: the locator's path was checked with lstat. */
	int nofollow = ctx ? O_NOFOLLOW : 0;
	/* O_NONBLOCK: a parent path naming a FIFO must not hang the open (checked below). */
	if (given_fd >= 0) {
		ro = ro || (fcntl(given_fd, F_GETFL) & O_ACCMODE) == O_RDONLY;
		v->fd = fcntl(given_fd, F_DUPFD_CLOEXEC, 3);
	} else {
		v->fd = open(path, (ro ? O_RDONLY : O_RDWR) | nofollow | O_CLOEXEC | O_NONBLOCK);
	}
	if (v->fd < 0 && given_fd < 0 && !ro &&
	    (errno == EACCES || errno == EROFS || errno == EPERM)) {
		ro = true;
		v->fd = open(path, O_RDONLY | nofollow | O_CLOEXEC | O_NONBLOCK);
	}
	if (v->fd < 0) {
		r = disk_error(err, err_size, -errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	v->read_only = ro;
	r = file_size(v, &size, err, err_size);
	if (r < 0)
		goto fail;
	if (ctx) {
		struct stat st;

		/* The file checked before the open, not one put in its place since. */
		if (fstat(v->fd, &st) < 0 || st.st_dev != ctx->dev || st.st_ino != ctx->ino) {
			r = disk_error(err, err_size, -EAGAIN, "%s: changed while it was opened",
				       path);
			goto fail;
		}
	}
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
	if (r == 0 && ctx && !linked(v, ctx)) {
		char g[GUID_STRING_LEN];

		/* Before the log is looked at: a parent that is not ours is never written. */
		r = disk_error(err, err_size, -EINVAL,
			       "%s: the parent %s does not match (its DataWriteGuid {%s}, expected "
			       "%s): it changed after the child was made",
			       ctx->child, path, guid_format(&v->header.data_write_guid, g),
			       ctx->linkage);
	}
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
		r = open_parent(v, flags, depth, dirs, err, err_size);
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
	return open_depth(path, -1, flags, 0, NULL, NULL, ret, err, err_size);
}

int disk_vhdx_open(const char *path, int fd, unsigned flags, const char *const *parent_dirs,
		   struct disk **ret, char *err, size_t err_size)
{
	struct vhdx *v;
	int r = open_depth(path, fd, flags & DISK_OPEN_READ_ONLY, 0, NULL, parent_dirs, &v, err,
			   err_size);

	if (r == 0)
		*ret = &v->disk;
	return r;
}

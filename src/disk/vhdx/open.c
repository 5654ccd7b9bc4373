/*
 * Opening a VHDX: file identifier, headers, region table, metadata, log
 * replay (read-write opens), BAT, and the parent chain of a differencing disk
 * (each parent read-only, its DataWriteGuid checked against the child's
 * parent_linkage). Every check runs before anything is written; the only
 * write an open can do is the replay of a log left by a crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/confined_path.h"
#include "disk/vhdx.h"
#include "disk/vhdx/vhdx_internal.h"

#define MAX_CHAIN_DEPTH DISK_MAX_PARENTS
/* open_depth: stop before the parent (disk_vhdx_read_locator). */
#define OPEN_NO_PARENT (1u << 29)

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
 * What an open of a parent must hold to: the linkage its DataWriteGuid must match (checked
 * right after its headers are read, before its log is replayed or anything else is written),
 * and, for a parent found by path, the file it was checked to be (a regular file, by lstat,
 * before it was opened).
 */
struct open_ctx {
	const char *child; /* the child's path, for messages */
	const char *linkage, *linkage2;
	bool check_inode;
	dev_t dev;
	ino_t ino;
};

/*
 * How a chain's parents are found: by path from each locator, in the child's directory and
 * in dirs (NULL-terminated, may be NULL); or, when given is not NULL, taken from given[]
 * (the chain's parents opened by someone else, nearest first), never by path.
 */
struct chain {
	const char *const *dirs;
	const struct disk_parent_file *given;
	unsigned ngiven;
	unsigned used; /* given[] taken so far */
};

/* One candidate from the locator, under the rules of base/confined_path.h. */
static int parent_candidate(const struct vhdx *v, const char *cand, bool relative,
			    const struct chain *chain, struct open_ctx *ctx, char **ret_path,
			    char *err, size_t err_size)
{
	struct stat st;
	int r = confined_path_resolve(v->path, cand, relative, chain->dirs, ret_path, &st, err,
				      err_size);

	if (r == 0) {
		ctx->check_inode = true;
		ctx->dev = st.st_dev;
		ctx->ino = st.st_ino;
	}
	return r;
}

/* The parent's path from the locator (2.6.2.6.3): relative_path first, then the absolute one. */
static int parent_path(const struct vhdx *v, const struct chain *chain, struct open_ctx *ctx,
		       char **ret_path, char *err, size_t err_size)
{
	const char *cands[2] = {v->parent_relative_path, v->parent_absolute_path};
	int r = -ENOENT;

	for (int i = 0; i < 2 && r == -ENOENT; i++)
		if (cands[i])
			r = parent_candidate(v, cands[i], i == 0, chain, ctx, ret_path, err,
					     err_size);
	if (r == -ENOENT)
		r = disk_error(err, err_size, -ENOENT, "%s: the parent disk \"%s\" is missing",
			       v->path,
			       v->parent_relative_path ? v->parent_relative_path
						       : v->parent_absolute_path);
	return r;
}

static int open_depth(const char *path, int given_fd, unsigned flags, unsigned depth,
		      const struct open_ctx *ctx, struct chain *chain, struct vhdx **ret, char *err,
		      size_t err_size);

/* Does the DataWriteGuid of p's header match what the child's locator says? */
static bool linked(const struct vhdx *p, const struct open_ctx *ctx)
{
	char linkage[GUID_STRING_LEN + 2], g[GUID_STRING_LEN];

	snprintf(linkage, sizeof(linkage), "{%s}", guid_format(&p->header.data_write_guid, g));
	return !strcasecmp(linkage, ctx->linkage) ||
	       (ctx->linkage2 && !strcasecmp(linkage, ctx->linkage2));
}

/* The next of the parents given with the disk (struct chain), checked as one found by path. */
static int open_given_parent(struct vhdx *v, unsigned flags, unsigned depth, struct chain *chain,
			     struct open_ctx *ctx, struct vhdx **p, char *err, size_t err_size)
{
	const struct disk_parent_file *g;

	if (chain->used == chain->ngiven)
		return disk_error(
			err, err_size, -ENOENT,
			"%s: its parent \"%s\" was not passed with it (a disk opened from "
			"a descriptor gets its parents as descriptors too)",
			v->path,
			v->parent_relative_path ? v->parent_relative_path
						: v->parent_absolute_path);
	g = &chain->given[chain->used++];
	if (g->fd < 0)
		return disk_error(err, err_size, -EBADF, "%s: no descriptor for its parent %s",
				  v->path, g->path);
	return open_depth(g->path, g->fd, DISK_OPEN_READ_ONLY | (flags & VHDX_OPEN_INSPECT),
			  depth + 1, ctx, chain, p, err, err_size);
}

static int open_parent(struct vhdx *v, unsigned flags, unsigned depth, struct chain *chain,
		       char *err, size_t err_size)
{
	struct open_ctx ctx = {
		.child = v->path, .linkage = v->parent_linkage, .linkage2 = v->parent_linkage2};
	char *path = NULL;
	struct vhdx *p;
	int r;

	if (depth >= MAX_CHAIN_DEPTH)
		return disk_error(err, err_size, -ELOOP, "%s: parent chain deeper than %d", v->path,
				  MAX_CHAIN_DEPTH);
	if (chain->given) {
		r = open_given_parent(v, flags, depth, chain, &ctx, &p, err, err_size);
		if (r < 0)
			return r;
		goto opened;
	}
	r = parent_path(v, chain, &ctx, &path, err, err_size);
	if (r < 0)
		return r;
	r = open_depth(path, -1, DISK_OPEN_READ_ONLY | (flags & VHDX_OPEN_INSPECT), depth + 1, &ctx,
		       chain, &p, err, err_size);
	if (r == -EBUSY && !(flags & DISK_OPEN_READ_ONLY)) {
		/*
		 * The parent's log needs replay and the child is opened read-write: replay it
		 * (a read-write open and close, its linkage checked before the replay;
		 * DataWriteGuid is kept, so the chain still matches), then open it read-only
		 * as usual.
		 */
		r = open_depth(path, -1, 0, depth + 1, &ctx, chain, &p, err, err_size);
		if (r == 0) {
			vhdx_free(p);
			r = open_depth(path, -1, DISK_OPEN_READ_ONLY, depth + 1, &ctx, chain, &p,
				       err, err_size);
		}
	}
	free(path);
	if (r < 0)
		return r;
opened:
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

/* v->fd: the caller's descriptor duplicated, or path opened (read-only where the file
 * cannot be written); then its size, its identity for a parent, its lock. *ro may turn
 * true. */
static int file_open(struct vhdx *v, const char *path, int given_fd, unsigned flags,
		     const struct open_ctx *ctx, bool *ro, uint64_t *size, char *err,
		     size_t err_size)
{
	/* O_NOFOLLOW for parents: the locator's path was checked with lstat. */
	int nofollow = ctx ? O_NOFOLLOW : 0, r;

	/* O_NONBLOCK: a parent path naming a FIFO must not hang the open (checked below). */
	if (given_fd >= 0) {
		*ro = *ro || (fcntl(given_fd, F_GETFL) & O_ACCMODE) == O_RDONLY;
		v->fd = fcntl(given_fd, F_DUPFD_CLOEXEC, 3);
	} else {
		v->fd = open(path, (*ro ? O_RDONLY : O_RDWR) | nofollow | O_CLOEXEC | O_NONBLOCK);
	}
	if (v->fd < 0 && given_fd < 0 && !*ro &&
	    (errno == EACCES || errno == EROFS || errno == EPERM)) {
		*ro = true;
		v->fd = open(path, O_RDONLY | nofollow | O_CLOEXEC | O_NONBLOCK);
	}
	if (v->fd < 0)
		return disk_error(err, err_size, -errno, "%s: %s", path, strerror(errno));
	v->read_only = *ro;
	r = file_size(v, size, err, err_size);
	if (r < 0)
		return r;
	if (ctx && ctx->check_inode) {
		struct stat st;

		/* The file checked before the open, not one put in its place since. */
		if (fstat(v->fd, &st) < 0 || st.st_dev != ctx->dev || st.st_ino != ctx->ino)
			return disk_error(err, err_size, -EAGAIN, "%s: changed while it was opened",
					  path);
	}
	/* Writers exclusive, readers shared (parents are shared by their children); inspect
	 * takes no lock, so it works on disks in use. */
	if (!(flags & VHDX_OPEN_INSPECT) && disk_file_lock(v->fd, !*ro) < 0)
		return disk_error(err, err_size, -EBUSY, "%s: in use (another open holds it%s)",
				  path, *ro ? " for writing" : "");
	if (*size < VHDX_MiB)
		return disk_error(err, err_size, -EINVAL, "%s: too small for a VHDX (%llu bytes)",
				  path, (unsigned long long)*size);
	return 0;
}

/* The signature, the headers, the parent linkage, the regions and the metadata. */
static int structures_load(struct vhdx *v, const char *path, uint64_t size,
			   const struct open_ctx *ctx, char *err, size_t err_size)
{
	uint64_t sig = 0;
	int r = disk_file_pread(v->fd, &sig, sizeof(sig), 0);

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
	return r;
}

/* A log with entries (2.3): replayed by a read-write open, which then reads the metadata
 * the log may have rewritten; refused by a read-only open, which must not write; only
 * noted by an inspection. */
static int log_settle(struct vhdx *v, const char *path, unsigned flags, bool ro, uint64_t *size,
		      char *err, size_t err_size)
{
	bool found = false;
	int r;

	if (guid_is_null(&v->header.log_guid))
		return 0;
	r = vhdx_log_find(v, *size, &found);
	if (r < 0)
		return disk_error(err, err_size, r, "%s: reading the VHDX log: %s", path,
				  strerror(-r));
	if (found && ro && !(flags & VHDX_OPEN_INSPECT))
		return disk_error(err, err_size, -EBUSY,
				  "%s: the VHDX log needs replay (the disk is in use by a "
				  "writer, or was not closed cleanly); open it read-write once "
				  "to replay it",
				  path);
	if (found && ro) {
		v->log_dirty = true;
		return 0;
	}
	if (ro)
		return 0;
	r = vhdx_log_replay(v, *size, err, err_size);
	if (r < 0)
		return r;
	/* The log may have rewritten any metadata: read it all again. */
	free_metadata(v);
	r = file_size(v, size, err, err_size);
	if (r == 0)
		r = vhdx_regions_load(v, *size, err, err_size);
	return r < 0 ? r : vhdx_metadata_load(v, err, err_size);
}

static void disk_publish(struct vhdx *v, bool ro)
{
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
}

/*
 * ctx: NULL for the disk named by the caller; for a parent, what it must be (the file that
 * was checked, opened without following a symlink, and linked to its child). given_fd: the
 * caller's disk already open (duplicated, read-only if it was opened so), or -1.
 */
static int open_depth(const char *path, int given_fd, unsigned flags, unsigned depth,
		      const struct open_ctx *ctx, struct chain *chain, struct vhdx **ret, char *err,
		      size_t err_size)
{
	bool ro = flags & DISK_OPEN_READ_ONLY;
	struct vhdx *v;
	uint64_t size;
	int r;

	v = calloc(1, sizeof(*v));
	if (!v || !(v->path = strdup(path))) {
		free(v);
		return disk_error(err, err_size, -ENOMEM, "%s: out of memory", path);
	}
	pthread_mutex_init(&v->lock, NULL);
	r = file_open(v, path, given_fd, flags, ctx, &ro, &size, err, err_size);
	if (r == 0)
		r = structures_load(v, path, size, ctx, err, err_size);
	if (r == 0)
		r = log_settle(v, path, flags, ro, &size, err, err_size);
	if (r == 0 && !ro && !v->header.log_length)
		r = disk_error(err, err_size, -EINVAL,
			       "%s: VHDX without a log: only read-only opens are possible", path);
	if (r == 0)
		r = vhdx_bat_load(v, size, err, err_size);
	if (r == 0 && v->has_parent && !(flags & OPEN_NO_PARENT))
		r = open_parent(v, flags, depth, chain, err, err_size);
	if (r < 0) {
		vhdx_free(v);
		return r;
	}
	disk_publish(v, ro);
	*ret = v;
	return 0;
}

int vhdx_open_file(const char *path, unsigned flags, struct vhdx **ret, char *err, size_t err_size)
{
	struct chain chain = {0};

	return open_depth(path, -1, flags, 0, NULL, &chain, ret, err, err_size);
}

int disk_vhdx_open(const char *path, int fd, unsigned flags, const char *const *parent_dirs,
		   const struct disk_parent_file *parents, unsigned nparents, struct disk **ret,
		   char *err, size_t err_size)
{
	struct chain chain = {.dirs = parent_dirs, .given = parents, .ngiven = nparents};
	struct vhdx *v;
	int r = open_depth(path, fd, flags & DISK_OPEN_READ_ONLY, 0, NULL, &chain, &v, err,
			   err_size);

	if (r == 0 && chain.used != chain.ngiven) {
		r = disk_error(err, err_size, -EINVAL,
			       "%s: %u parent(s) were passed with it, its chain has %u", path,
			       chain.ngiven, chain.used);
		vhdx_free(v);
	}
	if (r == 0)
		*ret = &v->disk;
	return r;
}

int disk_vhdx_read_locator(const char *name, int fd, struct disk_parent_locator *ret, char *err,
			   size_t err_size)
{
	struct chain chain = {0};
	struct vhdx *v;
	int r = open_depth(name, fd, DISK_OPEN_READ_ONLY | VHDX_OPEN_INSPECT | OPEN_NO_PARENT, 0,
			   NULL, &chain, &v, err, err_size);

	if (r < 0)
		return r;
	*ret = (struct disk_parent_locator){.differencing = v->has_parent};
	if (v->has_parent) {
		ret->relative_path =
			v->parent_relative_path ? strdup(v->parent_relative_path) : NULL;
		ret->absolute_path =
			v->parent_absolute_path ? strdup(v->parent_absolute_path) : NULL;
		ret->linkage = v->parent_linkage ? strdup(v->parent_linkage) : NULL;
	}
	vhdx_free(v);
	return 0;
}

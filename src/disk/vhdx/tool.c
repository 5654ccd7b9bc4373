/*
 * The disk tool's VHDX operations, which need the format's internals:
 * inspect (no writes, no replay), resize (BAT and the Virtual Disk Size item
 * through the log), merge of a differencing disk into its parent (copying
 * only what the child holds: whole blocks, or the sectors its bitmap marks).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "disk/disk_tool.h"
#include "disk/vhdx.h"
#include "disk/vhdx/vhdx_internal.h"

int vhdx_tool_inspect(const char *path, struct disk_image_info *info, char *err, size_t err_size)
{
	struct vhdx *v;
	int r = vhdx_open_file(path, DISK_OPEN_READ_ONLY | VHDX_OPEN_INSPECT, &v, err, err_size);

	if (r < 0)
		return r;
	info->format = DISK_FORMAT_VHDX;
	info->virtual_size = v->size;
	info->block_size = v->block_size;
	info->logical_sector_size = v->logical_sector_size;
	info->physical_sector_size = v->physical_sector_size;
	info->disk_id = v->page83;
	info->fixed = v->leave_blocks_allocated;
	info->differencing = v->has_parent;
	info->blocks = v->data_blocks;
	info->log_needs_replay = v->log_dirty;
	info->data_write_guid = v->header.data_write_guid;
	for (uint64_t b = 0; b < v->data_blocks; b++) {
		unsigned st = vhdx_bat_state(v->bat[vhdx_bat_payload_index(v, b)]);

		info->blocks_allocated +=
			st == VHDX_BAT_FULLY_PRESENT || st == VHDX_BAT_PARTIALLY_PRESENT;
	}
	if (v->has_parent) {
		info->parent_linkage = strdup(v->parent_linkage);
		r = disk_image_inspect(vhdx_of(v->parent)->path, &info->parent, err, err_size);
	}
	vhdx_free(v);
	return r;
}

/* What a resize to new_size may do (3.1 limits; the BAT region is not relocated; a shrink
 * drops no data); *entries: the BAT entries it needs. */
static int resize_check(struct vhdx *v, uint64_t new_size, uint64_t *entries, char *err,
			size_t err_size)
{
	uint64_t blocks = (new_size + v->block_size - 1) / v->block_size;

	if (v->read_only)
		return disk_error(err, err_size, -EROFS, "%s: not writable", v->path);
	if (v->has_parent)
		return disk_error(err, err_size, -EINVAL,
				  "%s: a differencing disk keeps its parent's size", v->path);
	if (!new_size || new_size > VHDX_MAX_DISK_SIZE || new_size % v->logical_sector_size)
		return disk_error(err, err_size, -EINVAL,
				  "%s: the new size must be a non-zero multiple of %u bytes, at "
				  "most 64 TiB",
				  v->path, v->logical_sector_size);
	*entries = blocks + (blocks - 1) / v->chunk_ratio;
	if (*entries > v->bat_region.length / 8)
		return disk_error(err, err_size, -ENOSPC,
				  "%s: the BAT region holds %u entries, %llu are needed for this "
				  "size (relocating the BAT is not supported)",
				  v->path, v->bat_region.length / 8, (unsigned long long)*entries);
	for (uint64_t b = new_size / v->block_size; b < v->data_blocks; b++) {
		unsigned st = vhdx_bat_state(v->bat[vhdx_bat_payload_index(v, b)]);

		if ((b + 1) * v->block_size > new_size &&
		    (st == VHDX_BAT_FULLY_PRESENT || st == VHDX_BAT_PARTIALLY_PRESENT))
			return disk_error(err, err_size, -ENOTEMPTY,
					  "%s: cannot shrink to %llu bytes: block %llu past the "
					  "new end holds data",
					  v->path, (unsigned long long)new_size,
					  (unsigned long long)b);
	}
	return 0;
}

/* Growing the BAT to new_entries, through the log: the new entries NOT_PRESENT, or, for a
 * fixed disk, new blocks at the end of the file (allocated, best effort, like create). The
 * BAT's mapping covers the whole region (bat.c), checked to hold them. Returns 0 or -errno. */
static int resize_bat(struct vhdx *v, uint64_t new_entries)
{
	uint64_t old_entries = v->bat_entries, n = 0;
	uint64_t *idx = malloc(MAX(new_entries, 1) * 8), *ent = malloc(MAX(new_entries, 1) * 8);
	int r = idx && ent ? 0 : -ENOMEM;

	for (uint64_t i = old_entries; r == 0 && i < new_entries; i++)
		v->bat[i] = 0;
	if (r == 0)
		r = vhdx_session_start(v);
	if (r == 0 && v->file_end && ftruncate(v->fd, (off_t)v->file_end) < 0)
		r = -errno;
	for (uint64_t i = old_entries; r == 0 && i < new_entries; i++) {
		uint64_t e = 0;

		if (v->leave_blocks_allocated && i % (v->chunk_ratio + 1) != v->chunk_ratio) {
			e = vhdx_bat_make(VHDX_BAT_FULLY_PRESENT, v->file_end);
			v->file_end += v->block_size;
		}
		idx[n] = i;
		ent[n++] = e;
	}
	if (r == 0 && v->leave_blocks_allocated) {
		struct stat st;

		if (fstat(v->fd, &st) < 0 || ftruncate(v->fd, (off_t)v->file_end) < 0)
			r = -errno;
		else if (v->file_end > (uint64_t)st.st_size)
			(void)fallocate(v->fd, 0, st.st_size, (off_t)v->file_end - st.st_size);
	}
	v->bat_entries = MAX(old_entries, new_entries);
	if (r == 0 && n)
		r = vhdx_bat_update(v, idx, ent, (unsigned)n);
	free(idx);
	free(ent);
	return r;
}

/* The Virtual Disk Size item (2.6.2.2), through the log. */
static int size_item_write(struct vhdx *v, uint64_t new_size)
{
	uint64_t page_off = v->metadata_region.offset + ALIGN_DOWN(v->size_item_offset, 4096u);
	uint8_t page[4096];
	struct vhdx_log_page lp = {page_off, page};
	int r = disk_file_pread(v->fd, page, sizeof(page), page_off);

	if (r < 0)
		return r;
	memcpy(page + v->size_item_offset % 4096, &new_size, 8);
	return vhdx_log_write(v, &lp, 1);
}

int vhdx_tool_resize(const char *path, uint64_t new_size, char *err, size_t err_size)
{
	uint64_t new_entries = 0;
	struct vhdx *v;
	int r = vhdx_open_file(path, 0, &v, err, err_size);

	if (r < 0)
		return r;
	r = resize_check(v, new_size, &new_entries, err, err_size);
	if (r == 0) {
		r = resize_bat(v, new_entries);
		if (r == 0)
			r = size_item_write(v, new_size);
		if (r < 0)
			disk_error(err, err_size, r, "%s: resizing: %s", path, strerror(-r));
	}
	if (r == 0) {
		v->size = new_size;
		v->data_blocks = (new_size + v->block_size - 1) / v->block_size;
		v->bat_entries = new_entries;
	}
	if (v->session_started || v->log_active) {
		int rc = fdatasync(v->fd) < 0 ? -errno : vhdx_log_close(v);

		if (r == 0 && rc < 0)
			r = disk_error(err, err_size, rc, "%s: closing: %s", path, strerror(-rc));
	}
	vhdx_free(v);
	return r;
}

/* Copies [off, off+len) of the child's view held in its own file at file_off into parent. */
static int copy_range(struct vhdx *c, uint64_t file_off, struct disk *parent, uint64_t off,
		      uint64_t len, uint8_t *buf, bool zeros)
{
	for (uint64_t done = 0; done < len;) {
		size_t n = (size_t)MIN(len - done, (uint64_t)VHDX_MiB);
		int r = 0;

		if (zeros)
			memset(buf, 0, n);
		else
			r = disk_file_pread(c->fd, buf, n, file_off + done);
		if (r == 0)
			r = disk_write(parent, off + done, buf, n);
		if (r < 0)
			return r;
		done += n;
	}
	return 0;
}

/*
 * The parent's session, for a merge that gives the parent the child's place: a new
 * FileWriteGuid, the DataWriteGuid kept (2.2.2: it changes when the data does, but every
 * write of the merge puts there what the child already shows, so the child's view does not
 * change, and its linkage must keep matching until the merge is done).
 */
static int keep_data_guid_session(struct vhdx *p)
{
	struct vhdx_header h = p->header;
	int r;

	vhdx_random_guid(&h.file_write_guid);
	r = vhdx_header_write(p, &h);
	if (r == 0)
		r = vhdx_header_write(p, &h);
	if (r == 0)
		__atomic_store_n(&p->session_started, true, __ATOMIC_RELEASE);
	return r;
}

/* The merged parent becomes the child: its DataWriteGuid, then the child's path. */
static int take_child_place(struct vhdx *p, const struct guid *child_data, const char *parent_path,
			    const char *child, char *err, size_t err_size)
{
	struct vhdx_header h = p->header;
	int r;

	h.data_write_guid = *child_data;
	r = vhdx_header_write(p, &h);
	if (r == 0)
		r = vhdx_header_write(p, &h);
	if (r < 0)
		return disk_error(err, err_size, r, "%s: writing its header: %s", parent_path,
				  strerror(-r));
	if (rename(parent_path, child) < 0)
		return disk_error(err, err_size, -errno,
				  "%s: merged, but renaming it to %s failed: %s", parent_path,
				  child, strerror(errno));
	return 0;
}

int vhdx_tool_merge(const char *child, void (*progress)(void *, uint64_t, uint64_t), void *opaque,
		    char *err, size_t err_size)
{
	return vhdx_tool_merge_ex(child, false, NULL, progress, opaque, err, err_size);
}

/* The parent of differencing disk c, opened writable through its own handle. */
static int merge_open_parent(struct vhdx *c, const char *child, bool replace, struct disk **parent,
			     char **parent_path, char *err, size_t err_size)
{
	struct disk_info pinfo;
	int r;

	*parent_path = strdup(vhdx_of(c->parent)->path);
	c->parent = disk_close(c->parent); /* the parent is written through its own handle */
	if (!*parent_path)
		return disk_error(err, err_size, -ENOMEM, "%s: out of memory", child);
	r = disk_open(*parent_path, 0, parent, err, err_size);
	if (r < 0)
		return r;
	disk_get_info(*parent, &pinfo);
	if (pinfo.read_only)
		return disk_error(err, err_size, -EROFS, "%s: the parent is not writable",
				  *parent_path);
	if (!replace)
		return 0;
	if (vhdx_of(*parent) == NULL || (*parent)->ops != c->disk.ops)
		return disk_error(err, err_size, -EINVAL, "%s: the parent is not a VHDX",
				  *parent_path);
	r = keep_data_guid_session(vhdx_of(*parent));
	if (r < 0)
		return disk_error(err, err_size, r, "%s: writing its header: %s", *parent_path,
				  strerror(-r));
	return 0;
}

/* A partially present block: only the sectors the child holds (its bitmap), in runs. */
static int merge_partial_block(struct vhdx *c, uint64_t e, struct disk *parent, uint64_t base,
			       uint64_t len, uint8_t *buf, uint8_t **bits)
{
	uint32_t lss = c->logical_sector_size;
	uint64_t sector = base / lss, count = len / lss;
	uint64_t sb =
		vhdx_bat_offset(c->bat[vhdx_bat_bitmap_index(c, sector / VHDX_SECTORS_PER_BITMAP)]);
	uint64_t bit0 = sector % VHDX_SECTORS_PER_BITMAP;
	uint8_t *bm;
	int r;

	free(*bits);
	*bits = bm = malloc(count / 8 + 2);
	r = bm ? disk_file_pread(c->fd, bm, (bit0 + count + 7) / 8 - bit0 / 8, sb + bit0 / 8)
	       : -ENOMEM;
	for (uint64_t i = 0; r == 0 && i < count;) {
		uint64_t k = bit0 % 8 + i, run = 0;
		bool present = bm[k / 8] >> (k % 8) & 1;

		while (i + run < count &&
		       (bool)(bm[(k + run) / 8] >> ((k + run) % 8) & 1) == present)
			run++;
		if (present)
			r = copy_range(c, vhdx_bat_offset(e) + i * lss, parent, base + i * lss,
				       run * lss, buf, false);
		i += run;
	}
	return r;
}

/* One data block of the child into the parent, as the child shows it. */
static int merge_block(struct vhdx *c, uint64_t b, struct disk *parent, uint8_t *buf,
		       uint8_t **bits)
{
	uint64_t e = c->bat[vhdx_bat_payload_index(c, b)], base = b * c->block_size;
	uint64_t len = MIN((uint64_t)c->block_size, c->size - base);

	switch (vhdx_bat_state(e)) {
	case VHDX_BAT_FULLY_PRESENT:
		return copy_range(c, vhdx_bat_offset(e), parent, base, len, buf, false);
	case VHDX_BAT_PARTIALLY_PRESENT:
		return merge_partial_block(c, e, parent, base, len, buf, bits);
	case VHDX_BAT_NOT_PRESENT: return 0; /* the parent's own data shows through */
	default: /* ZERO, UNMAPPED, UNDEFINED: the child shows zeroes there */
		return copy_range(c, 0, parent, base, len, buf, true);
	}
}

/*
 * After the copy: with replace, the parent takes the child's place (renamed over it);
 * otherwise the child, which can never open again (its parent's DataWriteGuid changed), goes.
 */
static int merge_finish(struct disk **parent, const char *parent_path, const struct vhdx *c,
			const char *child, bool replace, char *err, size_t err_size)
{
	int r = disk_flush(*parent);

	if (r < 0)
		return disk_error(err, err_size, r, "%s: flushing: %s", parent_path, strerror(-r));
	if (replace) {
		r = take_child_place(vhdx_of(*parent), &c->header.data_write_guid, parent_path,
				     child, err, err_size);
		*parent = disk_close(*parent);
		return r;
	}
	*parent = disk_close(*parent);
	if (unlink(child) < 0)
		return disk_error(err, err_size, -errno, "%s: merged, but removing it failed: %s",
				  child, strerror(errno));
	return 0;
}

int vhdx_tool_merge_ex(const char *child, bool replace, const volatile int *cancel,
		       void (*progress)(void *, uint64_t, uint64_t), void *opaque, char *err,
		       size_t err_size)
{
	struct vhdx *c;
	struct disk *parent = NULL;
	char *parent_path = NULL;
	uint8_t *buf = NULL, *bits = NULL;
	int r = vhdx_open_file(child, DISK_OPEN_READ_ONLY, &c, err, err_size);

	if (r < 0)
		return r;
	if (!c->has_parent) {
		r = disk_error(err, err_size, -EINVAL, "%s: not a differencing disk", child);
		goto out;
	}
	r = merge_open_parent(c, child, replace, &parent, &parent_path, err, err_size);
	buf = r == 0 ? malloc(VHDX_MiB) : NULL;
	if (r == 0 && !buf)
		r = disk_error(err, err_size, -ENOMEM, "%s: out of memory", child);
	for (uint64_t b = 0; r == 0 && b < c->data_blocks; b++) {
		uint64_t end = MIN((b + 1) * c->block_size, c->size);

		r = merge_block(c, b, parent, buf, &bits);
		if (r < 0) {
			disk_error(err, err_size, r, "%s: merging block %llu into %s: %s", child,
				   (unsigned long long)b, parent_path, strerror(-r));
			break;
		}
		if (progress)
			progress(opaque, end, c->size);
		/* Cancelled: the parent is closed cleanly below, the child still shows the same. */
		if (cancel && *cancel)
			r = disk_error(err, err_size, -ECANCELED, "%s: merge cancelled", child);
	}
	if (r == 0)
		r = merge_finish(&parent, parent_path, c, child, replace, err, err_size);
out:
	disk_close(parent);
	free(parent_path);
	free(buf);
	free(bits);
	vhdx_free(c);
	return r;
}

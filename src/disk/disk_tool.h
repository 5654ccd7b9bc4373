/*
 * Whole-image operations behind `parvis vhd` (Hyper-V's New-VHD, Get-VHD,
 * Resize-VHD, Convert-VHD, Merge-VHD): inspect, resize, convert, merge.
 * Creation is vhdx_create() (disk/vhdx.h) or a sparse raw file.
 * Library code: nothing printed; long work reports through a callback;
 * errors are -errno plus one line in err naming the file and the problem.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/guid.h"
#include "disk/disk.h"

/* Called now and then with the work done so far (bytes of done out of total). */
typedef void (*disk_progress_fn)(void *opaque, uint64_t done, uint64_t total);

struct disk_image_info {
	char *path;
	enum disk_format format;
	uint64_t virtual_size;
	uint64_t file_size;	 /* st_size */
	uint64_t allocated_size; /* host space used (st_blocks * 512) */
	uint32_t block_size;	 /* VHDX; 0 for raw */
	uint32_t logical_sector_size, physical_sector_size;
	struct guid disk_id;
	bool fixed, differencing;
	uint64_t blocks, blocks_allocated; /* VHDX payload blocks; FULLY/PARTIALLY_PRESENT ones */
	bool log_needs_replay;		   /* VHDX not closed cleanly (inspect does not replay) */
	struct guid data_write_guid;	   /* VHDX: what children record as parent_linkage */
	char *parent_linkage;		   /* differencing: the parent's expected DataWriteGuid */
	struct disk_image_info *parent;	   /* differencing: the parent's info (chain) */
};

/* Reads an image's description without writing to it (no log replay). */
int disk_image_inspect(const char *path, struct disk_image_info **ret, char *err,
		       size_t err_size) must_check;
struct disk_image_info *disk_image_info_free(struct disk_image_info *info);

/* A sparse raw image of size bytes (a new file). */
int disk_raw_create(const char *path, uint64_t size, char *err, size_t err_size) must_check;

/*
 * Changes the virtual size. Growing: always (VHDX: within the BAT region's capacity; fixed
 * disks allocate the new blocks). Shrinking: only when no data lies past the new end (raw:
 * no allocated extent there; VHDX: no allocated block there) — otherwise -ENOTEMPTY.
 * Differencing disks keep their parent's size: -EINVAL.
 */
int disk_image_resize(const char *path, uint64_t new_size, char *err, size_t err_size) must_check;

struct disk_convert_params {
	enum disk_format format;      /* of the output */
	bool fixed;		      /* VHDX output: fixed rather than dynamic */
	uint32_t block_size;	      /* VHDX output: 0 = default */
	uint32_t logical_sector_size; /* VHDX output: 512 or 4096; 0 = the source's */
	disk_progress_fn progress;
	void *opaque;
};
/* Copies src (any format, the chain of a differencing disk flattened) into a new file dst.
 * Zero ranges are not written: they stay unallocated in dynamic VHDX and sparse raw files. */
int disk_image_convert(const char *src, const char *dst, const struct disk_convert_params *p,
		       char *err, size_t err_size) must_check;

/*
 * Merges a differencing VHDX into its parent: every block the child holds is written into the
 * parent (sectors the child does not hold are left alone), then the parent is closed cleanly
 * and the child, which no longer matches its parent, is deleted.
 */
int disk_image_merge(const char *child, disk_progress_fn progress, void *opaque, char *err,
		     size_t err_size) must_check;
/*
 * A checkpoint's merge (parvis remove-vmsnapshot): merges a differencing VHDX into its parent,
 * which then takes the child's place: the parent gets the child's DataWriteGuid and is renamed
 * over the child's path, so that the child's own children (which name it by path and by that
 * GUID) open on the merged file. Until the rename the child still opens on its parent and shows
 * the same data (the parent keeps its DataWriteGuid while the blocks are copied): an
 * interrupted merge can be run again. *cancel (if not NULL) becoming non-zero stops it between
 * blocks with -ECANCELED, the parent closed cleanly. The parent's old path is gone afterwards.
 */
int disk_image_merge_replace(const char *child, const volatile int *cancel,
			     disk_progress_fn progress, void *opaque, char *err,
			     size_t err_size) must_check;

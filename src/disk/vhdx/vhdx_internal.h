/*
 * The VHDX back end's state and the functions its files share. Private to
 * src/disk/vhdx/. One struct vhdx per open file; a differencing disk holds
 * its parent (opened read-only) as a struct disk.
 *
 * Locking: `lock` guards the in-memory BAT, the allocation point, the log
 * and the headers. Data I/O to allocated blocks does not take it.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "disk/disk_internal.h"
#include "disk/vhdx/vhdx_format.h"

struct vhdx_region {
	uint64_t offset;
	uint32_t length;
};

struct vhdx {
	struct disk disk; /* disk.priv == this */
	char *path;
	int fd;
	bool read_only;
	pthread_mutex_t lock;

	/* Headers (2.2.2): the current one and its slot (0: header 1, 1: header 2). */
	struct vhdx_header header;
	unsigned header_slot;
	bool session_started; /* GUIDs renewed in this session; set under lock, read atomically */

	/* Regions (2.2.3). */
	struct vhdx_region bat_region, metadata_region;
	struct vhdx_region regions[VHDX_REGION_MAX_ENTRIES]; /* every entry, for overlap checks */
	unsigned region_count;

	/* Metadata (2.6.2). */
	uint32_t block_size;
	bool leave_blocks_allocated; /* "fixed" */
	bool has_parent;	     /* differencing */
	uint64_t size;
	uint32_t logical_sector_size, physical_sector_size;
	struct guid page83;
	uint32_t size_item_offset; /* of the Virtual Disk Size item, in the metadata region */
	char *parent_linkage, *parent_linkage2; /* "{guid}" text, differencing only */
	char *parent_relative_path, *parent_absolute_path, *parent_volume_path;

	/* The BAT (2.4), all of it in memory. */
	uint64_t chunk_ratio; /* payload blocks per sector bitmap block */
	uint64_t data_blocks, bitmap_blocks, bat_entries;
	uint64_t *bat; /* a mapping of bat_map_size bytes (bat.c), NULL before load */
	uint64_t bat_map_size;
	uint64_t file_end; /* allocation point: 1 MiB aligned, past every structure */

	/* The log (2.3). */
	bool log_dirty;	   /* LogGuid was set at open: replay needed (read-only inspect) */
	bool log_active;   /* LogGuid set in the headers by this session */
	uint32_t log_head; /* where the next entry goes */
	uint64_t log_sequence;

	struct disk *parent;
	struct vhdx_stats {
		uint64_t blocks_allocated, log_entries, blocks_unmapped;
		uint64_t log_scan_sectors; /* sectors the log scans looked at (linear in the log) */
	} stats;
};

static inline struct vhdx *vhdx_of(struct disk *d)
{
	return d->priv;
}

/* header.c */
int vhdx_headers_load(struct vhdx *v, char *err, size_t err_size) must_check;
/* Writes a new header (sequence+1) into the other slot and flushes. */
int vhdx_header_write(struct vhdx *v, const struct vhdx_header *h) must_check;
/* Before the first change in a session: new FileWriteGuid and DataWriteGuid, both slots. */
int vhdx_session_start(struct vhdx *v) must_check;
void vhdx_header_init_checksum(struct vhdx_header *h);
void vhdx_random_guid(struct guid *g);

/* region.c */
int vhdx_regions_load(struct vhdx *v, uint64_t file_size, char *err, size_t err_size) must_check;
bool vhdx_range_overlaps_structures(const struct vhdx *v, uint64_t off, uint64_t len);

/* metadata.c */
int vhdx_metadata_load(struct vhdx *v, char *err, size_t err_size) must_check;

/* bat.c */
int vhdx_bat_load(struct vhdx *v, uint64_t file_size, char *err, size_t err_size) must_check;
void vhdx_bat_unmap(struct vhdx *v);
/*
 * The largest a VHDX file of this disk can be (after metadata_load): every structure, every
 * payload block and every sector bitmap block. Log entries claiming more are not valid.
 */
uint64_t vhdx_max_file_size(const struct vhdx *v);
uint64_t vhdx_bat_payload_index(const struct vhdx *v, uint64_t block);
uint64_t vhdx_bat_bitmap_index(const struct vhdx *v, uint64_t chunk);
/*
 * BAT entries are read without the lock on the I/O paths (an aligned 64-bit atomic load) and
 * written under it (atomic stores): the hot path of allocated blocks takes no lock.
 */
static inline uint64_t vhdx_bat_get(const struct vhdx *v, uint64_t i)
{
	return __atomic_load_n(&v->bat[i], __ATOMIC_ACQUIRE);
}
static inline void vhdx_bat_set(struct vhdx *v, uint64_t i, uint64_t e)
{
	__atomic_store_n(&v->bat[i], e, __ATOMIC_RELEASE);
}
static inline unsigned vhdx_bat_state(uint64_t e)
{
	return (unsigned)(e & VHDX_BAT_STATE_MASK);
}
static inline uint64_t vhdx_bat_offset(uint64_t e)
{
	return (e >> VHDX_BAT_OFFSET_SHIFT) << 20;
}
static inline uint64_t vhdx_bat_make(unsigned state, uint64_t file_offset)
{
	return (uint64_t)state | ((file_offset >> 20) << VHDX_BAT_OFFSET_SHIFT);
}
/* Sets BAT entries in memory and logs the 4 KiB pages holding them (one log entry). */
int vhdx_bat_update(struct vhdx *v, const uint64_t *index, const uint64_t *entry,
		    unsigned count) must_check;

/* log.c */
struct vhdx_log_page {
	uint64_t file_offset; /* 4 KiB aligned */
	const uint8_t *data;  /* 4 KiB */
};
/*
 * Makes pages durable through the log (2.3): flush data, write an entry, flush, set LogGuid
 * in the headers on the first entry, write the pages in place, flush.
 */
int vhdx_log_write(struct vhdx *v, const struct vhdx_log_page *pages, unsigned count) must_check;
/* Replays the active log sequence (v->header.log_guid != 0). Writes; read-write opens only. */
int vhdx_log_replay(struct vhdx *v, uint64_t file_size, char *err, size_t err_size) must_check;
/* Is there a sequence to replay? (for read-only checks and inspect; no writes) */
int vhdx_log_find(struct vhdx *v, uint64_t file_size, bool *found) must_check;
/* On close: LogGuid back to zero. */
int vhdx_log_close(struct vhdx *v) must_check;
/* The most descriptors one entry carries (one descriptor sector). */
#define VHDX_LOG_MAX_PAGES 126u

/* io.c */
extern const struct disk_ops vhdx_ops;

/* tool.c: the disk tool's VHDX parts (disk_tool.c dispatches here). */
struct disk_image_info;
int vhdx_tool_inspect(const char *path, struct disk_image_info *info, char *err,
		      size_t err_size) must_check;
int vhdx_tool_resize(const char *path, uint64_t new_size, char *err, size_t err_size) must_check;
int vhdx_tool_merge(const char *child, void (*progress)(void *, uint64_t, uint64_t), void *opaque,
		    char *err, size_t err_size) must_check;
int vhdx_tool_merge_ex(const char *child, bool replace, const volatile int *cancel,
		       void (*progress)(void *, uint64_t, uint64_t), void *opaque, char *err,
		       size_t err_size) must_check;

/* open.c */
int vhdx_open_file(const char *path, unsigned flags, struct vhdx **ret, char *err,
		   size_t err_size) must_check;
void vhdx_free(struct vhdx *v);

/*
 * The VHDX Block Allocation Table (MS-VHDX 2.4, 2.5): payload block entries
 * interleaved with one sector bitmap entry per chunk. Loaded at open and
 * checked (states, offsets inside the file, clear of the other structures
 * and of each other); every change goes through the log (log.c).
 *
 * Memory: the in-memory BAT is an anonymous mapping the size of the BAT
 * region, reserved but not committed, into which only the parts of the
 * region that hold data in the file are read (SEEK_DATA). A 64 TiB disk
 * with 1 MiB blocks has a 512 MiB BAT; in a sparse file that is mostly
 * holes, it costs the worker what the file really holds, not 512 MiB.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "disk/vhdx/vhdx_internal.h"

uint64_t vhdx_bat_payload_index(const struct vhdx *v, uint64_t block)
{
	return block + block / v->chunk_ratio;
}

uint64_t vhdx_bat_bitmap_index(const struct vhdx *v, uint64_t chunk)
{
	return chunk * (v->chunk_ratio + 1) + v->chunk_ratio;
}

static bool is_bitmap_slot(const struct vhdx *v, uint64_t i)
{
	return i % (v->chunk_ratio + 1) == v->chunk_ratio;
}

uint64_t vhdx_max_file_size(const struct vhdx *v)
{
	uint64_t end = VHDX_HEADER_SECTION_END, blocks, chunks, ratio;

	for (unsigned i = 0; i < v->region_count; i++)
		end = MAX(end, v->regions[i].offset + v->regions[i].length);
	if (v->header.log_length)
		end = MAX(end, v->header.log_offset + v->header.log_length);
	ratio = (VHDX_SECTORS_PER_BITMAP * (uint64_t)v->logical_sector_size) / v->block_size;
	blocks = (v->size + v->block_size - 1) / v->block_size;
	chunks = (blocks + ratio - 1) / ratio;
	return ALIGN_UP(end, (uint64_t)VHDX_MiB) + blocks * v->block_size + chunks * VHDX_MiB;
}

void vhdx_bat_unmap(struct vhdx *v)
{
	if (v->bat)
		munmap(v->bat, v->bat_map_size);
	v->bat = NULL;
	v->bat_map_size = 0;
}

/* Reads bytes [0, len) of the BAT region into the mapping, skipping the file's holes. */
static int read_bat(struct vhdx *v, uint64_t len)
{
	uint64_t base = v->bat_region.offset, pos = 0;

	while (pos < len) {
		off_t data = lseek(v->fd, (off_t)(base + pos), SEEK_DATA), hole;

		if (data < 0 && errno == ENXIO)
			return 0; /* only holes from here: zeroes, as the mapping is */
		if (data < 0)	  /* no SEEK_DATA here: read it all */
			return disk_file_pread(v->fd, (uint8_t *)v->bat + pos, len - pos,
					       base + pos);
		if ((uint64_t)data >= base + len)
			return 0;
		if ((uint64_t)data > base + pos)
			pos = (uint64_t)data - base;
		hole = lseek(v->fd, (off_t)(base + pos), SEEK_HOLE);
		uint64_t n = hole < 0 ? len - pos : MIN(len - pos, (uint64_t)hole - base - pos);
		int r = disk_file_pread(v->fd, (uint8_t *)v->bat + pos, n, base + pos);
		if (r < 0)
			return r;
		pos += n;
	}
	return 0;
}

/* Marks the 1 MiB units [off, off + len) of the file as used; false if one already was. */
static bool claim(uint64_t *used, uint64_t units, uint64_t off, uint64_t len)
{
	for (uint64_t u = off / VHDX_MiB; u < (off + len) / VHDX_MiB && u < units; u++) {
		if (used[u / 64] & (UINT64_C(1) << (u % 64)))
			return false;
		used[u / 64] |= UINT64_C(1) << (u % 64);
	}
	return true;
}

/* 2.4: ChunkRatio = 2^23 * LogicalSectorSize / BlockSize (an integer: sizes are powers of
 * 2), and the BAT's length: a sector-bitmap entry after every chunk_ratio payload entries,
 * only the ones a differencing disk needs. */
static int geometry_set(struct vhdx *v, char *err, size_t err_size)
{
	v->chunk_ratio = (VHDX_SECTORS_PER_BITMAP * v->logical_sector_size) / v->block_size;
	v->data_blocks = (v->size + v->block_size - 1) / v->block_size;
	v->bitmap_blocks = (v->data_blocks + v->chunk_ratio - 1) / v->chunk_ratio;
	if (v->has_parent)
		v->bat_entries = v->bitmap_blocks * (v->chunk_ratio + 1);
	else
		v->bat_entries = v->data_blocks + (v->data_blocks - 1) / v->chunk_ratio;
	if (v->bat_entries > v->bat_region.length / 8)
		return disk_error(err, err_size, -EINVAL,
				  "%s: VHDX BAT region (%u bytes) too small for %llu entries",
				  v->path, v->bat_region.length,
				  (unsigned long long)v->bat_entries);
	return 0;
}

/* The whole region mapped, so that a resize within it needs no new mapping (tool.c). */
static int bat_map_read(struct vhdx *v, char *err, size_t err_size)
{
	void *map;
	int r;

	v->bat_map_size = ALIGN_UP((uint64_t)v->bat_region.length, (uint64_t)4096);
	map = mmap(NULL, v->bat_map_size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED) {
		v->bat_map_size = 0;
		return disk_error(err, err_size, -ENOMEM, "%s: out of memory for the BAT", v->path);
	}
	v->bat = map;
	r = read_bat(v, v->bat_entries * 8);
	return r < 0 ? disk_error(err, err_size, r, "%s: reading the VHDX BAT: %s", v->path,
				  strerror(-r))
		     : 0;
}

/* Entry i (2.5.1): a valid state for its kind, and what it maps inside the file, clear of
 * the structures and of every other entry's bytes (used: one bit per MiB). *end grows to
 * cover it. */
static int entry_check(struct vhdx *v, uint64_t i, uint64_t file_size, uint64_t *used,
		       uint64_t units, uint64_t *end, char *err, size_t err_size)
{
	uint64_t e = v->bat[i], off = vhdx_bat_offset(e);
	unsigned st = vhdx_bat_state(e);
	bool sb = is_bitmap_slot(v, i);
	uint64_t len = sb ? VHDX_MiB : v->block_size;

	if (sb && !v->has_parent)
		return 0; /* unused in fixed/dynamic disks; old QEMU left garbage here */
	if (sb ? (st != VHDX_SB_NOT_PRESENT && st != VHDX_SB_PRESENT)
	       : (st == 4 || (st == VHDX_BAT_PARTIALLY_PRESENT && !v->has_parent)))
		return disk_error(err, err_size, -EINVAL,
				  "%s: VHDX BAT entry %llu has invalid state %u", v->path,
				  (unsigned long long)i, st);
	if (st != VHDX_BAT_FULLY_PRESENT && st != VHDX_BAT_PARTIALLY_PRESENT)
		return 0; /* (SB_PRESENT == FULLY_PRESENT == 6) */
	if (off >= file_size)
		return disk_error(err, err_size, -EINVAL,
				  "%s: VHDX BAT entry %llu points past the end of the file",
				  v->path, (unsigned long long)i);
	if (vhdx_range_overlaps_structures(v, off, len))
		return disk_error(err, err_size, -EINVAL,
				  "%s: VHDX BAT entry %llu overlaps the headers, log or a region",
				  v->path, (unsigned long long)i);
	if (!claim(used, units, off, len))
		return disk_error(err, err_size, -EINVAL,
				  "%s: VHDX BAT entry %llu maps file bytes another entry maps",
				  v->path, (unsigned long long)i);
	*end = MAX(*end, off + len);
	return 0;
}

/* Every entry checked; *end: one past the last byte an entry maps (at least 1 MiB). */
static int entries_check(struct vhdx *v, uint64_t file_size, uint64_t *end, char *err,
			 size_t err_size)
{
	uint64_t units = ALIGN_UP(file_size, (uint64_t)VHDX_MiB) / VHDX_MiB;
	uint64_t *used = calloc(ALIGN_UP(units, (uint64_t)64) / 64 + 1, 8);
	int r = 0;

	if (!used)
		return disk_error(err, err_size, -ENOMEM, "%s: out of memory", v->path);
	*end = VHDX_MiB;
	for (uint64_t i = 0; r == 0 && i < v->bat_entries; i++)
		r = entry_check(v, i, file_size, used, units, end, err, err_size);
	free(used);
	return r;
}

/* A partially present block needs its chunk's sector bitmap (2.5.1.1). */
static int bitmaps_check(struct vhdx *v, char *err, size_t err_size)
{
	for (uint64_t b = 0; v->has_parent && b < v->data_blocks; b++)
		if (vhdx_bat_state(v->bat[vhdx_bat_payload_index(v, b)]) ==
			    VHDX_BAT_PARTIALLY_PRESENT &&
		    vhdx_bat_state(v->bat[vhdx_bat_bitmap_index(v, b / v->chunk_ratio)]) !=
			    VHDX_SB_PRESENT)
			return disk_error(err, err_size, -EINVAL,
					  "%s: VHDX block %llu is partially present but its sector "
					  "bitmap is not",
					  v->path, (unsigned long long)b);
	return 0;
}

int vhdx_bat_load(struct vhdx *v, uint64_t file_size, char *err, size_t err_size)
{
	uint64_t end = 0;
	int r = geometry_set(v, err, err_size);

	if (r == 0)
		r = bat_map_read(v, err, err_size);
	if (r == 0)
		r = entries_check(v, file_size, &end, err, err_size);
	if (r == 0)
		r = bitmaps_check(v, err, err_size);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < v->region_count; i++)
		end = MAX(end, v->regions[i].offset + v->regions[i].length);
	if (v->header.log_length)
		end = MAX(end, v->header.log_offset + v->header.log_length);
	v->file_end = ALIGN_UP(MAX(end, file_size), (uint64_t)VHDX_MiB);
	return 0;
}

int vhdx_bat_update(struct vhdx *v, const uint64_t *index, const uint64_t *entry, unsigned count)
{
	struct vhdx_log_page pages[VHDX_LOG_MAX_PAGES];
	uint64_t small[16], *saved = small; /* a batch may hold many entries per page */
	unsigned npages = 0, done = 0;
	int r = 0;

	if (count > ARRAY_SIZE(small)) {
		saved = malloc(sizeof(*saved) * count);
		if (!saved)
			return -ENOMEM;
	}

	/* Batches of at most VHDX_LOG_MAX_PAGES distinct pages, each batch one log entry. */
	while (done < count) {
		unsigned first = done;

		npages = 0;
		while (done < count) {
			uint64_t page = v->bat_region.offset + ALIGN_DOWN(index[done] * 8, 4096);
			bool have = false;

			for (unsigned k = 0; k < npages && !have; k++)
				have = pages[k].file_offset == page;
			if (!have) {
				if (npages == VHDX_LOG_MAX_PAGES)
					break;
				pages[npages].file_offset = page;
				pages[npages].data =
					(const uint8_t *)v->bat + (page - v->bat_region.offset);
				npages++;
			}
			saved[done] = v->bat[index[done]];
			vhdx_bat_set(v, index[done], entry[done]);
			done++;
		}
		/*
		 * Pages point into the in-memory BAT; its length is entries*8, so a last
		 * partial page must be padded: copy those.
		 */
		uint8_t *pad[VHDX_LOG_MAX_PAGES] = {0};
		for (unsigned k = 0; k < npages; k++) {
			uint64_t rel = pages[k].file_offset - v->bat_region.offset;

			if (rel + 4096 > v->bat_entries * 8) {
				pad[k] = calloc(1, 4096);
				if (!pad[k]) {
					r = -ENOMEM;
					break;
				}
				memcpy(pad[k], (uint8_t *)v->bat + rel, v->bat_entries * 8 - rel);
				pages[k].data = pad[k];
			}
		}
		if (r == 0)
			r = vhdx_log_write(v, pages, npages);
		for (unsigned k = 0; k < npages; k++)
			free(pad[k]);
		if (r < 0) {
			/* Not logged: the file still has the old entries; so must memory. */
			for (unsigned k = done; k-- > first;)
				vhdx_bat_set(v, index[k], saved[k]);
			break;
		}
	}
	if (saved != small)
		free(saved);
	return r;
}

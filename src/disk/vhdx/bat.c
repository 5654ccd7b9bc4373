/*
 * The VHDX Block Allocation Table (MS-VHDX 2.4, 2.5): payload block entries
 * interleaved with one sector bitmap entry per chunk. Loaded whole at open
 * and checked (states, offsets inside the file and clear of the other
 * structures); every change goes through the log (log.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

int vhdx_bat_load(struct vhdx *v, uint64_t file_size, char *err, size_t err_size)
{
	uint64_t end = VHDX_MiB;
	int r;

	/* 2.4: ChunkRatio = 2^23 * LogicalSectorSize / BlockSize (an integer: sizes are powers of
	 * 2). */
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
	v->bat = malloc(v->bat_entries * 8);
	if (!v->bat)
		return disk_error(err, err_size, -ENOMEM, "%s: out of memory for the BAT", v->path);
	r = disk_file_pread(v->fd, v->bat, v->bat_entries * 8, v->bat_region.offset);
	if (r < 0)
		return disk_error(err, err_size, r, "%s: reading the VHDX BAT: %s", v->path,
				  strerror(-r));
	for (uint64_t i = 0; i < v->bat_entries; i++) {
		uint64_t e = v->bat[i], off = vhdx_bat_offset(e);
		unsigned st = vhdx_bat_state(e);
		bool sb = is_bitmap_slot(v, i);
		uint64_t len = sb ? VHDX_MiB : v->block_size;

		if (sb && !v->has_parent)
			continue; /* unused in fixed/dynamic disks; old QEMU left garbage here */
		if (sb ? (st != VHDX_SB_NOT_PRESENT && st != VHDX_SB_PRESENT)
		       : (st == 4 || (st == VHDX_BAT_PARTIALLY_PRESENT && !v->has_parent)))
			return disk_error(err, err_size, -EINVAL,
					  "%s: VHDX BAT entry %llu has invalid state %u", v->path,
					  (unsigned long long)i, st);
		if (st != VHDX_BAT_FULLY_PRESENT && st != VHDX_BAT_PARTIALLY_PRESENT)
			continue; /* (SB_PRESENT == FULLY_PRESENT == 6) */
		if (off >= file_size)
			return disk_error(err, err_size, -EINVAL,
					  "%s: VHDX BAT entry %llu points past the end of the file",
					  v->path, (unsigned long long)i);
		if (vhdx_range_overlaps_structures(v, off, len))
			return disk_error(err, err_size, -EINVAL,
					  "%s: VHDX BAT entry %llu overlaps the headers, log or a "
					  "region",
					  v->path, (unsigned long long)i);
		end = MAX(end, off + len);
	}
	/* A partially present block needs its chunk's sector bitmap (2.5.1.1). */
	for (uint64_t b = 0; v->has_parent && b < v->data_blocks; b++)
		if (vhdx_bat_state(v->bat[vhdx_bat_payload_index(v, b)]) ==
			    VHDX_BAT_PARTIALLY_PRESENT &&
		    vhdx_bat_state(v->bat[vhdx_bat_bitmap_index(v, b / v->chunk_ratio)]) !=
			    VHDX_SB_PRESENT)
			return disk_error(err, err_size, -EINVAL,
					  "%s: VHDX block %llu is partially present but its sector "
					  "bitmap is not",
					  v->path, (unsigned long long)b);
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

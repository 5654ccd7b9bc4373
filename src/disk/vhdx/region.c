/*
 * VHDX region tables (MS-VHDX 2.2.3): two identical 64 KiB copies; the first
 * valid one is used. Every region must be 1 MiB aligned, inside the file,
 * clear of the header section, the log and the other regions; an unknown
 * region marked Required refuses the open.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "disk/crc32c.h"
#include "disk/vhdx/vhdx_internal.h"

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

bool vhdx_range_overlaps_structures(const struct vhdx *v, uint64_t off, uint64_t len)
{
	if (overlap(off, len, 0, VHDX_HEADER_SECTION_END))
		return true;
	if (v->header.log_length && overlap(off, len, v->header.log_offset, v->header.log_length))
		return true;
	for (unsigned i = 0; i < v->region_count; i++)
		if (overlap(off, len, v->regions[i].offset, v->regions[i].length))
			return true;
	return false;
}

static const char *table_problem(const uint8_t *buf)
{
	struct vhdx_region_table_header h;
	uint8_t *copy;
	uint32_t crc;

	memcpy(&h, buf, sizeof(h));
	if (h.signature != VHDX_REGION_SIGNATURE)
		return "bad signature";
	copy = malloc(VHDX_REGION_TABLE_SIZE);
	if (!copy)
		return "out of memory";
	memcpy(copy, buf, VHDX_REGION_TABLE_SIZE);
	memset(copy + 4, 0, 4);
	crc = crc32c(0, copy, VHDX_REGION_TABLE_SIZE);
	free(copy);
	if (crc != h.checksum)
		return "CRC-32C mismatch";
	if (h.entry_count > VHDX_REGION_MAX_ENTRIES)
		return "too many entries";
	return NULL;
}

/* The first of the two copies that is valid, into buf (2.2.3: either may be torn). */
static int table_read(struct vhdx *v, uint8_t *buf, char *err, size_t err_size)
{
	const char *problem[2] = {0};

	for (int i = 0; i < 2; i++) {
		int r = disk_file_pread(v->fd, buf, VHDX_REGION_TABLE_SIZE,
					i ? VHDX_REGION2_OFFSET : VHDX_REGION1_OFFSET);

		if (r < 0)
			return disk_error(err, err_size, r, "%s: reading the VHDX region table: %s",
					  v->path, strerror(-r));
		problem[i] = table_problem(buf);
		if (!problem[i])
			return 0;
	}
	return disk_error(err, err_size, -EINVAL,
			  "%s: no valid VHDX region table (table 1: %s; table 2: %s)", v->path,
			  problem[0], problem[1]);
}

/* One entry (2.2.3.2): aligned, inside the file, clear of everything else; the BAT and the
 * metadata region once each; any other region only if it is not Required. */
static int region_take(struct vhdx *v, const struct vhdx_region_table_entry *e, uint64_t file_size,
		       char *err, size_t err_size)
{
	static const struct guid bat_guid = VHDX_REGION_BAT, meta_guid = VHDX_REGION_METADATA;
	char g[GUID_STRING_LEN];
	bool bat = guid_equal(&e->guid, &bat_guid), meta = guid_equal(&e->guid, &meta_guid);

	guid_format(&e->guid, g);
	if (e->file_offset % VHDX_MiB || e->length % VHDX_MiB || !e->length ||
	    e->file_offset < VHDX_MiB)
		return disk_error(err, err_size, -EINVAL, "%s: VHDX region %s: not 1 MiB aligned",
				  v->path, g);
	if (e->file_offset > file_size || e->length > file_size - e->file_offset)
		return disk_error(err, err_size, -EINVAL,
				  "%s: VHDX region %s: past the end of the file", v->path, g);
	if (vhdx_range_overlaps_structures(v, e->file_offset, e->length))
		return disk_error(err, err_size, -EINVAL,
				  "%s: VHDX region %s overlaps the log or another region", v->path,
				  g);
	if (bat || meta) {
		struct vhdx_region *known = bat ? &v->bat_region : &v->metadata_region;

		if (known->length)
			return disk_error(err, err_size, -EINVAL, "%s: VHDX region %s listed twice",
					  v->path, g);
		known->offset = e->file_offset;
		known->length = e->length;
	} else if (e->flags & VHDX_REGION_FLAG_REQUIRED) {
		return disk_error(err, err_size, -EINVAL, "%s: unknown required VHDX region %s",
				  v->path, g);
	}
	v->regions[v->region_count++] = (struct vhdx_region){e->file_offset, e->length};
	return 0;
}

int vhdx_regions_load(struct vhdx *v, uint64_t file_size, char *err, size_t err_size)
{
	uint8_t *buf = malloc(VHDX_REGION_TABLE_SIZE);
	struct vhdx_region_table_header h;
	int r;

	if (!buf)
		return disk_error(err, err_size, -ENOMEM, "%s: out of memory", v->path);
	r = table_read(v, buf, err, err_size);
	memcpy(&h, buf, sizeof(h));
	if (r == 0 && v->header.log_length &&
	    (v->header.log_offset > file_size ||
	     v->header.log_length > file_size - v->header.log_offset))
		r = disk_error(err, err_size, -EINVAL, "%s: VHDX log past the end of the file",
			       v->path);
	v->region_count = 0;
	v->bat_region.length = v->metadata_region.length = 0;
	for (uint32_t i = 0; r == 0 && i < h.entry_count; i++) {
		struct vhdx_region_table_entry e;

		memcpy(&e, buf + sizeof(h) + i * sizeof(e), sizeof(e));
		r = region_take(v, &e, file_size, err, err_size);
	}
	free(buf);
	if (r == 0 && !v->bat_region.length)
		r = disk_error(err, err_size, -EINVAL, "%s: VHDX has no BAT region", v->path);
	if (r == 0 && !v->metadata_region.length)
		r = disk_error(err, err_size, -EINVAL, "%s: VHDX has no metadata region", v->path);
	return r;
}

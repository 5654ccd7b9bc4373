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

int vhdx_regions_load(struct vhdx *v, uint64_t file_size, char *err, size_t err_size)
{
	static const struct guid bat_guid = VHDX_REGION_BAT, meta_guid = VHDX_REGION_METADATA;
	uint8_t *buf = malloc(VHDX_REGION_TABLE_SIZE);
	const char *problem[2] = {0};
	struct vhdx_region_table_header h;
	int r = 0, which = -1;
	char g[GUID_STRING_LEN];

	if (!buf)
		return disk_error(err, err_size, -ENOMEM, "%s: out of memory", v->path);
	for (int i = 0; i < 2 && which < 0; i++) {
		r = disk_file_pread(v->fd, buf, VHDX_REGION_TABLE_SIZE,
				    i ? VHDX_REGION2_OFFSET : VHDX_REGION1_OFFSET);
		if (r < 0) {
			disk_error(err, err_size, r, "%s: reading the VHDX region table: %s",
				   v->path, strerror(-r));
			goto out;
		}
		problem[i] = table_problem(buf);
		if (!problem[i])
			which = i;
	}
	if (which < 0) {
		r = disk_error(err, err_size, -EINVAL,
			       "%s: no valid VHDX region table (table 1: %s; table 2: %s)", v->path,
			       problem[0], problem[1]);
		goto out;
	}
	memcpy(&h, buf, sizeof(h));
	if (v->header.log_length && (v->header.log_offset > file_size ||
				     v->header.log_length > file_size - v->header.log_offset)) {
		r = disk_error(err, err_size, -EINVAL, "%s: VHDX log past the end of the file",
			       v->path);
		goto out;
	}
	v->region_count = 0;
	v->bat_region.length = v->metadata_region.length = 0;
	for (uint32_t i = 0; i < h.entry_count; i++) {
		struct vhdx_region_table_entry e;

		memcpy(&e, buf + sizeof(h) + i * sizeof(e), sizeof(e));
		guid_format(&e.guid, g);
		r = -EINVAL;
		if (e.file_offset % VHDX_MiB || e.length % VHDX_MiB || !e.length ||
		    e.file_offset < VHDX_MiB) {
			disk_error(err, err_size, r, "%s: VHDX region %s: not 1 MiB aligned",
				   v->path, g);
			goto out;
		}
		if (e.file_offset > file_size || e.length > file_size - e.file_offset) {
			disk_error(err, err_size, r, "%s: VHDX region %s: past the end of the file",
				   v->path, g);
			goto out;
		}
		if (vhdx_range_overlaps_structures(v, e.file_offset, e.length)) {
			disk_error(err, err_size, r,
				   "%s: VHDX region %s overlaps the log or another region", v->path,
				   g);
			goto out;
		}
		if (guid_equal(&e.guid, &bat_guid) || guid_equal(&e.guid, &meta_guid)) {
			struct vhdx_region *known = guid_equal(&e.guid, &bat_guid)
							    ? &v->bat_region
							    : &v->metadata_region;

			if (known->length) {
				disk_error(err, err_size, r, "%s: VHDX region %s listed twice",
					   v->path, g);
				goto out;
			}
			known->offset = e.file_offset;
			known->length = e.length;
		} else if (e.flags & VHDX_REGION_FLAG_REQUIRED) {
			disk_error(err, err_size, r, "%s: unknown required VHDX region %s", v->path,
				   g);
			goto out;
		}
		v->regions[v->region_count++] = (struct vhdx_region){e.file_offset, e.length};
	}
	r = -EINVAL;
	if (!v->bat_region.length) {
		disk_error(err, err_size, r, "%s: VHDX has no BAT region", v->path);
		goto out;
	}
	if (!v->metadata_region.length) {
		disk_error(err, err_size, r, "%s: VHDX has no metadata region", v->path);
		goto out;
	}
	r = 0;
out:
	free(buf);
	return r;
}

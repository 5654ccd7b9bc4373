/*
 * VHDX metadata region (MS-VHDX 2.6): the table at its start, the system
 * items (file parameters, virtual disk size, page 83 data, sector sizes)
 * and the parent locator of differencing disks (2.6.2.6). An unknown item
 * marked IsRequired refuses the open; sizes are checked against the limits
 * of 2.6.2.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "disk/vhdx/vhdx_internal.h"

struct item {
	const struct guid id;
	uint32_t min_len, max_len;
	bool required;
	uint32_t offset, length; /* found */
	bool found;
};

enum { IT_PARAMS, IT_SIZE, IT_PAGE83, IT_LSS, IT_PSS, IT_LOCATOR, IT_COUNT };

/* UTF-16LE (no terminator) to ASCII/UTF-8; NULL if it is not a plain BMP string. */
static char *utf16_to_utf8(const uint8_t *p, size_t len)
{
	char *s = malloc(len / 2 * 3 + 1), *o = s;

	if (!s || len % 2) {
		free(s);
		return NULL;
	}
	for (size_t i = 0; i < len; i += 2) {
		unsigned c = p[i] | (unsigned)p[i + 1] << 8;

		if (c == 0 || (c >= 0xD800 && c < 0xE000)) {
			free(s);
			return NULL;
		}
		if (c < 0x80) {
			*o++ = (char)c;
		} else if (c < 0x800) {
			*o++ = (char)(0xC0 | c >> 6);
			*o++ = (char)(0x80 | (c & 0x3F));
		} else {
			*o++ = (char)(0xE0 | c >> 12);
			*o++ = (char)(0x80 | ((c >> 6) & 0x3F));
			*o++ = (char)(0x80 | (c & 0x3F));
		}
	}
	*o = '\0';
	return s;
}

static int parse_locator(struct vhdx *v, const uint8_t *p, uint32_t len, char *err, size_t err_size)
{
	static const struct guid vhdx_type = VHDX_PARENT_LOCATOR_TYPE_VHDX;
	struct vhdx_parent_locator_header h;

	if (len < sizeof(h))
		return disk_error(err, err_size, -EINVAL, "%s: VHDX parent locator too short",
				  v->path);
	memcpy(&h, p, sizeof(h));
	if (!guid_equal(&h.locator_type, &vhdx_type))
		return disk_error(err, err_size, -EINVAL, "%s: unknown VHDX parent locator type",
				  v->path);
	if (h.key_value_count > 256 || sizeof(h) + h.key_value_count * 12u > len)
		return disk_error(err, err_size, -EINVAL,
				  "%s: VHDX parent locator: bad key/value count", v->path);
	for (unsigned i = 0; i < h.key_value_count; i++) {
		struct vhdx_parent_locator_entry e;
		char *key, *value, **slot = NULL;

		memcpy(&e, p + sizeof(h) + i * sizeof(e), sizeof(e));
		if (!e.key_length || !e.value_length || e.key_offset > len ||
		    e.key_length > len - e.key_offset || e.value_offset > len ||
		    e.value_length > len - e.value_offset)
			return disk_error(err, err_size, -EINVAL,
					  "%s: VHDX parent locator entry %u out of bounds", v->path,
					  i);
		key = utf16_to_utf8(p + e.key_offset, e.key_length);
		value = utf16_to_utf8(p + e.value_offset, e.value_length);
		if (!key || !value) {
			free(key);
			free(value);
			return disk_error(err, err_size, -EINVAL,
					  "%s: VHDX parent locator entry %u is not UTF-16 text",
					  v->path, i);
		}
		if (!strcmp(key, "parent_linkage"))
			slot = &v->parent_linkage;
		else if (!strcmp(key, "parent_linkage2"))
			slot = &v->parent_linkage2;
		else if (!strcmp(key, "relative_path"))
			slot = &v->parent_relative_path;
		else if (!strcmp(key, "absolute_win32_path"))
			slot = &v->parent_absolute_path;
		else if (!strcmp(key, "volume_path"))
			slot = &v->parent_volume_path;
		free(key);
		if (slot && !*slot)
			*slot = value;
		else
			free(value); /* unknown keys are allowed; duplicates: the first wins */
	}
	if (!v->parent_linkage)
		return disk_error(err, err_size, -EINVAL,
				  "%s: VHDX parent locator has no parent_linkage", v->path);
	if (!v->parent_relative_path && !v->parent_absolute_path && !v->parent_volume_path)
		return disk_error(err, err_size, -EINVAL,
				  "%s: VHDX parent locator names no parent path", v->path);
	return 0;
}

int vhdx_metadata_load(struct vhdx *v, char *err, size_t err_size)
{
	struct item items[IT_COUNT] = {
		[IT_PARAMS] = {.id = VHDX_META_FILE_PARAMETERS,
			       .min_len = 8,
			       .max_len = 8,
			       .required = true},
		[IT_SIZE] = {.id = VHDX_META_VIRTUAL_DISK_SIZE,
			     .min_len = 8,
			     .max_len = 8,
			     .required = true},
		[IT_PAGE83] = {.id = VHDX_META_PAGE83_DATA,
			       .min_len = 16,
			       .max_len = 16,
			       .required = true},
		[IT_LSS] = {.id = VHDX_META_LOGICAL_SECTOR_SIZE,
			    .min_len = 4,
			    .max_len = 4,
			    .required = true},
		[IT_PSS] = {.id = VHDX_META_PHYSICAL_SECTOR_SIZE,
			    .min_len = 4,
			    .max_len = 4,
			    .required = true},
		[IT_LOCATOR] = {.id = VHDX_META_PARENT_LOCATOR,
				.min_len = 20,
				.max_len = VHDX_METADATA_MAX_ITEM,
				.required = false},
	};
	uint32_t rlen = v->metadata_region.length;
	struct vhdx_metadata_table_header h;
	struct vhdx_file_parameters fp;
	char g[GUID_STRING_LEN];
	uint8_t *table, *item = NULL;
	int r;

	table = malloc(VHDX_METADATA_TABLE_SIZE);
	if (!table)
		return disk_error(err, err_size, -ENOMEM, "%s: out of memory", v->path);
	r = disk_file_pread(v->fd, table, VHDX_METADATA_TABLE_SIZE, v->metadata_region.offset);
	if (r < 0) {
		disk_error(err, err_size, r, "%s: reading VHDX metadata: %s", v->path,
			   strerror(-r));
		goto out;
	}
	memcpy(&h, table, sizeof(h));
	r = -EINVAL;
	if (h.signature != VHDX_METADATA_SIGNATURE) {
		disk_error(err, err_size, r, "%s: VHDX metadata table: bad signature", v->path);
		goto out;
	}
	if (h.entry_count > VHDX_METADATA_MAX_ENTRIES) {
		disk_error(err, err_size, r, "%s: VHDX metadata table: too many entries", v->path);
		goto out;
	}
	for (unsigned i = 0; i < h.entry_count; i++) {
		struct vhdx_metadata_table_entry e;
		struct item *it = NULL;

		memcpy(&e, table + sizeof(h) + i * sizeof(e), sizeof(e));
		guid_format(&e.item_id, g);
		if (e.length > VHDX_METADATA_MAX_ITEM || e.offset > rlen ||
		    e.length > rlen - e.offset ||
		    (e.length && e.offset < VHDX_METADATA_TABLE_SIZE)) {
			disk_error(err, err_size, r, "%s: VHDX metadata item %s out of bounds",
				   v->path, g);
			goto out;
		}
		for (unsigned k = 0; k < IT_COUNT && !(e.flags & VHDX_META_IS_USER); k++)
			if (guid_equal(&items[k].id, &e.item_id))
				it = &items[k];
		if (!it) {
			if (e.flags & VHDX_META_IS_REQUIRED) {
				disk_error(err, err_size, r,
					   "%s: unknown required VHDX metadata item %s", v->path,
					   g);
				goto out;
			}
			continue;
		}
		if (it->found) {
			disk_error(err, err_size, r, "%s: VHDX metadata item %s listed twice",
				   v->path, g);
			goto out;
		}
		if (e.length < it->min_len || e.length > it->max_len) {
			disk_error(err, err_size, r, "%s: VHDX metadata item %s: bad length %u",
				   v->path, g, e.length);
			goto out;
		}
		it->found = true;
		it->offset = e.offset;
		it->length = e.length;
	}
	for (unsigned k = 0; k < IT_COUNT; k++)
		if (items[k].required && !items[k].found) {
			disk_error(err, err_size, r,
				   "%s: VHDX metadata item %s (required) is missing", v->path,
				   guid_format(&items[k].id, g));
			goto out;
		}
	item = malloc(VHDX_METADATA_MAX_ITEM);
	if (!item) {
		r = disk_error(err, err_size, -ENOMEM, "%s: out of memory", v->path);
		goto out;
	}
#define READ_ITEM(k, dst)                                                                          \
	do {                                                                                       \
		int rr = disk_file_pread(v->fd, dst, items[k].length,                              \
					 v->metadata_region.offset + items[k].offset);             \
		if (rr < 0) {                                                                      \
			r = disk_error(err, err_size, rr, "%s: reading VHDX metadata: %s",         \
				       v->path, strerror(-rr));                                    \
			goto out;                                                                  \
		}                                                                                  \
	} while (0)
	READ_ITEM(IT_PARAMS, &fp);
	READ_ITEM(IT_SIZE, &v->size);
	v->size_item_offset = items[IT_SIZE].offset;
	READ_ITEM(IT_PAGE83, &v->page83);
	READ_ITEM(IT_LSS, &v->logical_sector_size);
	READ_ITEM(IT_PSS, &v->physical_sector_size);
	r = -EINVAL;
	v->block_size = fp.block_size;
	v->leave_blocks_allocated = fp.flags & VHDX_PARAM_LEAVE_BLOCKS_ALLOCATED;
	v->has_parent = fp.flags & VHDX_PARAM_HAS_PARENT;
	if (v->block_size < VHDX_MIN_BLOCK_SIZE || v->block_size > VHDX_MAX_BLOCK_SIZE ||
	    (v->block_size & (v->block_size - 1))) {
		disk_error(err, err_size, r,
			   "%s: VHDX block size %u is not a power of two from 1 MiB to 256 MiB",
			   v->path, v->block_size);
		goto out;
	}
	if (v->logical_sector_size != 512 && v->logical_sector_size != 4096) {
		disk_error(err, err_size, r, "%s: VHDX logical sector size %u is not 512 or 4096",
			   v->path, v->logical_sector_size);
		goto out;
	}
	if (v->physical_sector_size != 512 && v->physical_sector_size != 4096) {
		disk_error(err, err_size, r, "%s: VHDX physical sector size %u is not 512 or 4096",
			   v->path, v->physical_sector_size);
		goto out;
	}
	if (!v->size || v->size > VHDX_MAX_DISK_SIZE || v->size % v->logical_sector_size) {
		disk_error(err, err_size, r,
			   "%s: VHDX virtual size %llu is zero, over 64 TiB or not a multiple of "
			   "the sector size",
			   v->path, (unsigned long long)v->size);
		goto out;
	}
	if (v->has_parent != items[IT_LOCATOR].found) {
		disk_error(err, err_size, r,
			   v->has_parent ? "%s: VHDX differencing disk without a parent locator"
					 : "%s: VHDX parent locator in a disk without a parent",
			   v->path);
		goto out;
	}
	if (v->has_parent) {
		READ_ITEM(IT_LOCATOR, item);
		r = parse_locator(v, item, items[IT_LOCATOR].length, err, err_size);
		if (r < 0)
			goto out;
	}
#undef READ_ITEM
	r = 0;
out:
	free(item);
	free(table);
	return r;
}

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

/* One entry of the table (2.6.1.2) matched against the items this reader knows. */
static int table_entry_take(struct vhdx *v, const struct vhdx_metadata_table_entry *e,
			    struct item *items, char *err, size_t err_size)
{
	uint32_t rlen = v->metadata_region.length;
	struct item *it = NULL;
	char g[GUID_STRING_LEN];

	guid_format(&e->item_id, g);
	if (e->length > VHDX_METADATA_MAX_ITEM || e->offset > rlen ||
	    e->length > rlen - e->offset || (e->length && e->offset < VHDX_METADATA_TABLE_SIZE))
		return disk_error(err, err_size, -EINVAL, "%s: VHDX metadata item %s out of bounds",
				  v->path, g);
	for (unsigned k = 0; k < IT_COUNT && !(e->flags & VHDX_META_IS_USER); k++)
		if (guid_equal(&items[k].id, &e->item_id))
			it = &items[k];
	if (!it)
		return (e->flags & VHDX_META_IS_REQUIRED)
			       ? disk_error(err, err_size, -EINVAL,
					    "%s: unknown required VHDX metadata item %s", v->path,
					    g)
			       : 0;
	if (it->found)
		return disk_error(err, err_size, -EINVAL, "%s: VHDX metadata item %s listed twice",
				  v->path, g);
	if (e->length < it->min_len || e->length > it->max_len)
		return disk_error(err, err_size, -EINVAL,
				  "%s: VHDX metadata item %s: bad length %u", v->path, g,
				  e->length);
	it->found = true;
	it->offset = e->offset;
	it->length = e->length;
	return 0;
}

/* The table at the region's start (2.6.1): where each known item is; every required one
 * must be there. */
static int table_load(struct vhdx *v, struct item *items, char *err, size_t err_size)
{
	struct vhdx_metadata_table_header h;
	char g[GUID_STRING_LEN];
	uint8_t *table = malloc(VHDX_METADATA_TABLE_SIZE);
	int r;

	if (!table)
		return disk_error(err, err_size, -ENOMEM, "%s: out of memory", v->path);
	r = disk_file_pread(v->fd, table, VHDX_METADATA_TABLE_SIZE, v->metadata_region.offset);
	if (r < 0)
		r = disk_error(err, err_size, r, "%s: reading VHDX metadata: %s", v->path,
			       strerror(-r));
	memcpy(&h, table, sizeof(h));
	if (r == 0 && h.signature != VHDX_METADATA_SIGNATURE)
		r = disk_error(err, err_size, -EINVAL, "%s: VHDX metadata table: bad signature",
			       v->path);
	if (r == 0 && h.entry_count > VHDX_METADATA_MAX_ENTRIES)
		r = disk_error(err, err_size, -EINVAL, "%s: VHDX metadata table: too many entries",
			       v->path);
	for (unsigned i = 0; r == 0 && i < h.entry_count; i++) {
		struct vhdx_metadata_table_entry e;

		memcpy(&e, table + sizeof(h) + i * sizeof(e), sizeof(e));
		r = table_entry_take(v, &e, items, err, err_size);
	}
	free(table);
	for (unsigned k = 0; r == 0 && k < IT_COUNT; k++)
		if (items[k].required && !items[k].found)
			r = disk_error(err, err_size, -EINVAL,
				       "%s: VHDX metadata item %s (required) is missing", v->path,
				       guid_format(&items[k].id, g));
	return r;
}

static int item_read(struct vhdx *v, const struct item *it, void *dst, char *err, size_t err_size)
{
	int r = disk_file_pread(v->fd, dst, it->length, v->metadata_region.offset + it->offset);

	return r < 0 ? disk_error(err, err_size, r, "%s: reading VHDX metadata: %s", v->path,
				  strerror(-r))
		     : 0;
}

/* The limits of 2.6.2.1-2.6.2.5 on what the system items say. */
static int values_check(struct vhdx *v, bool has_locator, char *err, size_t err_size)
{
	if (v->block_size < VHDX_MIN_BLOCK_SIZE || v->block_size > VHDX_MAX_BLOCK_SIZE ||
	    (v->block_size & (v->block_size - 1)))
		return disk_error(err, err_size, -EINVAL,
				  "%s: VHDX block size %u is not a power of two from 1 MiB to "
				  "256 MiB",
				  v->path, v->block_size);
	if (v->logical_sector_size != 512 && v->logical_sector_size != 4096)
		return disk_error(err, err_size, -EINVAL,
				  "%s: VHDX logical sector size %u is not 512 or 4096", v->path,
				  v->logical_sector_size);
	if (v->physical_sector_size != 512 && v->physical_sector_size != 4096)
		return disk_error(err, err_size, -EINVAL,
				  "%s: VHDX physical sector size %u is not 512 or 4096", v->path,
				  v->physical_sector_size);
	if (!v->size || v->size > VHDX_MAX_DISK_SIZE || v->size % v->logical_sector_size)
		return disk_error(err, err_size, -EINVAL,
				  "%s: VHDX virtual size %llu is zero, over 64 TiB or not a "
				  "multiple of the sector size",
				  v->path, (unsigned long long)v->size);
	if (v->has_parent != has_locator)
		return disk_error(err, err_size, -EINVAL,
				  v->has_parent
					  ? "%s: VHDX differencing disk without a parent locator"
					  : "%s: VHDX parent locator in a disk without a parent",
				  v->path);
	return 0;
}

static int locator_load(struct vhdx *v, const struct item *it, char *err, size_t err_size)
{
	uint8_t *item = malloc(VHDX_METADATA_MAX_ITEM);
	int r;

	if (!item)
		return disk_error(err, err_size, -ENOMEM, "%s: out of memory", v->path);
	r = item_read(v, it, item, err, err_size);
	if (r == 0)
		r = parse_locator(v, item, it->length, err, err_size);
	free(item);
	return r;
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
	struct vhdx_file_parameters fp;
	int r = table_load(v, items, err, err_size);

	if (r == 0)
		r = item_read(v, &items[IT_PARAMS], &fp, err, err_size);
	if (r == 0)
		r = item_read(v, &items[IT_SIZE], &v->size, err, err_size);
	if (r == 0)
		r = item_read(v, &items[IT_PAGE83], &v->page83, err, err_size);
	if (r == 0)
		r = item_read(v, &items[IT_LSS], &v->logical_sector_size, err, err_size);
	if (r == 0)
		r = item_read(v, &items[IT_PSS], &v->physical_sector_size, err, err_size);
	if (r < 0)
		return r;
	v->size_item_offset = items[IT_SIZE].offset;
	v->block_size = fp.block_size;
	v->leave_blocks_allocated = fp.flags & VHDX_PARAM_LEAVE_BLOCKS_ALLOCATED;
	v->has_parent = fp.flags & VHDX_PARAM_HAS_PARENT;
	r = values_check(v, items[IT_LOCATOR].found, err, err_size);
	if (r == 0 && v->has_parent)
		r = locator_load(v, &items[IT_LOCATOR], err, err_size);
	return r;
}

/*
 * Creating VHDX files (MS-VHDX 2.2-2.6). Layout, as QEMU and Hyper-V do it:
 * header section (1 MiB), log (1 MiB at 1 MiB), BAT at 2 MiB, metadata region
 * (1 MiB) after it, then payload blocks. Fixed disks get every block
 * FULLY_PRESENT, laid out contiguously and allocated (fallocate); dynamic and
 * differencing disks start with an all-NOT_PRESENT BAT. A differencing disk
 * records its parent's DataWriteGuid (parent_linkage) and its path relative
 * to the child's directory (relative_path, with Windows separators).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "disk/crc32c.h"
#include "disk/vhdx.h"
#include "disk/vhdx/vhdx_internal.h"

#define LOG_OFFSET VHDX_MiB
#define LOG_LENGTH VHDX_MiB
#define BAT_OFFSET (2 * VHDX_MiB)

/* The parent's path relative to the child's directory ("..\\dir\\p.vhdx"). */
static char *relative_path(const char *child, const char *parent)
{
	char *cdup = strdup(child), *cdir, *rp = NULL, *rc = NULL, *out = NULL;
	size_t common = 0, ups = 0;

	if (!cdup)
		return NULL;
	cdir = dirname(cdup);
	rp = realpath(parent, NULL);
	rc = realpath(cdir, NULL);
	if (!rp || !rc)
		goto done;
	/* Longest common directory prefix. */
	for (size_t i = 0; rc[i] && rc[i] == rp[i]; i++)
		if (rc[i] == '/')
			common = i + 1;
	if (rc[strlen(rc)] == '\0' && strncmp(rp, rc, strlen(rc)) == 0 && rp[strlen(rc)] == '/')
		common = strlen(rc) + 1;
	/* One ".." per component of the child's directory after the common prefix. */
	if (strcmp(rc, "/") != 0 && common <= strlen(rc)) {
		ups = 1;
		for (const char *s = rc + common; *s; s++)
			if (*s == '/' && s[1])
				ups++;
	}
	out = malloc(ups * 3 + strlen(rp) + 1);
	if (!out)
		goto done;
	out[0] = '\0';
	for (size_t i = 0; i < ups; i++)
		strcat(out, "../");
	strcat(out, rp + common);
	for (char *s = out; *s; s++)
		if (*s == '/')
			*s = '\\';
done:
	free(cdup);
	free(rp);
	free(rc);
	return out;
}

static size_t put_utf16(uint8_t *p, const char *s)
{
	size_t n = 0;

	for (; *s; s++, n += 2) {
		p[n] = (uint8_t)*s; /* paths and GUID text: ASCII is enough here */
		p[n + 1] = 0;
	}
	return n;
}

/* The parent locator item (2.6.2.6) into p; returns its length. */
static size_t build_locator(uint8_t *p, const char *linkage, const char *rel)
{
	static const struct guid type = VHDX_PARENT_LOCATOR_TYPE_VHDX;
	const char *kv[2][2] = {{"parent_linkage", linkage}, {"relative_path", rel}};
	struct vhdx_parent_locator_header h = {.locator_type = type, .key_value_count = 2};
	size_t at = sizeof(h) + 2 * sizeof(struct vhdx_parent_locator_entry);

	memcpy(p, &h, sizeof(h));
	for (int i = 0; i < 2; i++) {
		struct vhdx_parent_locator_entry e;

		e.key_offset = (uint32_t)at;
		e.key_length = (uint16_t)put_utf16(p + at, kv[i][0]);
		at += e.key_length;
		e.value_offset = (uint32_t)at;
		e.value_length = (uint16_t)put_utf16(p + at, kv[i][1]);
		at += e.value_length;
		memcpy(p + sizeof(h) + i * sizeof(e), &e, sizeof(e));
	}
	return at;
}

int vhdx_create(const char *path, const struct vhdx_create_params *cp, char *err, size_t err_size)
{
	static const struct guid bat_guid = VHDX_REGION_BAT, meta_guid = VHDX_REGION_METADATA;
	struct vhdx_create_params p = *cp;
	struct guid data_guid, parent_guid;
	char linkage[GUID_STRING_LEN + 2], g[GUID_STRING_LEN], *rel = NULL;
	uint8_t *buf = NULL;
	uint64_t chunk_ratio, data_blocks, entries, bat_len, meta_off, data_off, end;
	int fd = -1, r;

	if (p.parent) {
		struct vhdx *par;

		r = vhdx_open_file(p.parent, DISK_OPEN_READ_ONLY, &par, err, err_size);
		if (r < 0)
			return r;
		p.size = par->size;
		p.logical_sector_size = par->logical_sector_size;
		if (!p.physical_sector_size)
			p.physical_sector_size = par->physical_sector_size;
		parent_guid = par->header.data_write_guid;
		vhdx_free(par);
		rel = relative_path(path, p.parent);
		if (!rel)
			return disk_error(err, err_size, -EINVAL,
					  "%s: cannot express the parent's path %s", path,
					  p.parent);
		snprintf(linkage, sizeof(linkage), "{%s}", guid_format(&parent_guid, g));
		p.fixed = false;
	}
	if (!p.block_size)
		p.block_size = p.parent ? 2 * VHDX_MiB : 32 * VHDX_MiB;
	if (!p.logical_sector_size)
		p.logical_sector_size = 512;
	if (!p.physical_sector_size)
		p.physical_sector_size = 4096;
	r = -EINVAL;
	if (p.block_size < VHDX_MIN_BLOCK_SIZE || p.block_size > VHDX_MAX_BLOCK_SIZE ||
	    (p.block_size & (p.block_size - 1))) {
		disk_error(err, err_size, r,
			   "%s: block size %u is not a power of two from 1 MiB to 256 MiB", path,
			   p.block_size);
		goto out;
	}
	if ((p.logical_sector_size != 512 && p.logical_sector_size != 4096) ||
	    (p.physical_sector_size != 512 && p.physical_sector_size != 4096)) {
		disk_error(err, err_size, r, "%s: sector sizes must be 512 or 4096", path);
		goto out;
	}
	if (!p.size || p.size > VHDX_MAX_DISK_SIZE || p.size % p.logical_sector_size) {
		disk_error(err, err_size, r,
			   "%s: size must be a non-zero multiple of %u bytes, at most 64 TiB", path,
			   p.logical_sector_size);
		goto out;
	}
	chunk_ratio = (VHDX_SECTORS_PER_BITMAP * p.logical_sector_size) / p.block_size;
	data_blocks = (p.size + p.block_size - 1) / p.block_size;
	if (p.parent)
		entries = ((data_blocks + chunk_ratio - 1) / chunk_ratio) * (chunk_ratio + 1);
	else
		entries = data_blocks + (data_blocks - 1) / chunk_ratio;
	bat_len = ALIGN_UP(entries * 8, (uint64_t)VHDX_MiB);
	meta_off = BAT_OFFSET + bat_len;
	data_off = meta_off + VHDX_MiB;
	end = p.fixed ? data_off + data_blocks * p.block_size : data_off;

	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = disk_error(err, err_size, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	buf = calloc(1, VHDX_MiB);
	if (!buf) {
		r = disk_error(err, err_size, -ENOMEM, "%s: out of memory", path);
		goto out;
	}
	/* Header section: identifier, two headers, two region tables. */
	struct vhdx_file_identifier id = {.signature = VHDX_FILE_SIGNATURE};
	const char *creator = "Parvis";
	for (int i = 0; creator[i]; i++)
		id.creator[i] = (uint16_t)creator[i];
	memcpy(buf, &id, sizeof(id));
	struct vhdx_header h = {
		.signature = VHDX_HEADER_SIGNATURE,
		.version = 1,
		.log_length = LOG_LENGTH,
		.log_offset = LOG_OFFSET,
	};
	vhdx_random_guid(&h.file_write_guid);
	vhdx_random_guid(&data_guid);
	h.data_write_guid = data_guid;
	for (int i = 0; i < 2; i++) {
		h.sequence_number = (uint64_t)i + 1;
		vhdx_header_init_checksum(&h);
		memcpy(buf + (i ? VHDX_HEADER2_OFFSET : VHDX_HEADER1_OFFSET), &h, sizeof(h));
	}
	uint8_t *rt = buf + VHDX_REGION1_OFFSET;
	struct vhdx_region_table_header rh = {.signature = VHDX_REGION_SIGNATURE, .entry_count = 2};
	struct vhdx_region_table_entry re[2] = {
		{bat_guid, BAT_OFFSET, (uint32_t)bat_len, VHDX_REGION_FLAG_REQUIRED},
		{meta_guid, meta_off, VHDX_MiB, VHDX_REGION_FLAG_REQUIRED},
	};
	memcpy(rt, &rh, sizeof(rh));
	memcpy(rt + sizeof(rh), re, sizeof(re));
	rh.checksum = crc32c(0, rt, VHDX_REGION_TABLE_SIZE);
	memcpy(rt + 4, &rh.checksum, 4);
	memcpy(buf + VHDX_REGION2_OFFSET, rt, VHDX_REGION_TABLE_SIZE);
	r = disk_file_pwrite(fd, buf, VHDX_MiB, 0);
	if (r < 0)
		goto io_error;

	/* Metadata region. */
	memset(buf, 0, VHDX_MiB);
	struct {
		struct guid id;
		uint32_t len, flags;
		const void *data;
	} items[6];
	struct vhdx_file_parameters fp = {p.block_size,
					  (p.fixed ? VHDX_PARAM_LEAVE_BLOCKS_ALLOCATED : 0) |
						  (p.parent ? VHDX_PARAM_HAS_PARENT : 0)};
	struct guid page83;
	uint8_t locator[4096];
	unsigned nitems = 0;
	const uint32_t req = VHDX_META_IS_REQUIRED, vd = VHDX_META_IS_VIRTUAL_DISK;
	vhdx_random_guid(&page83);
#define ITEM(guid_init, l, f, d)                                                                   \
	items[nitems++] = (typeof(items[0])){guid_init, (uint32_t)(l), (f), (d)}
	ITEM(VHDX_META_FILE_PARAMETERS, 8, req, &fp);
	ITEM(VHDX_META_VIRTUAL_DISK_SIZE, 8, req | vd, &p.size);
	ITEM(VHDX_META_PAGE83_DATA, 16, req | vd, &page83);
	ITEM(VHDX_META_LOGICAL_SECTOR_SIZE, 4, req | vd, &p.logical_sector_size);
	ITEM(VHDX_META_PHYSICAL_SECTOR_SIZE, 4, req | vd, &p.physical_sector_size);
	if (p.parent)
		ITEM(VHDX_META_PARENT_LOCATOR, build_locator(locator, linkage, rel), req | vd,
		     locator);
#undef ITEM
	struct vhdx_metadata_table_header mh = {.signature = VHDX_METADATA_SIGNATURE,
						.entry_count = (uint16_t)nitems};
	uint32_t at = VHDX_METADATA_TABLE_SIZE;
	memcpy(buf, &mh, sizeof(mh));
	for (unsigned i = 0; i < nitems; i++) {
		struct vhdx_metadata_table_entry e = {items[i].id, at, items[i].len, items[i].flags,
						      0};

		memcpy(buf + sizeof(mh) + i * sizeof(e), &e, sizeof(e));
		memcpy(buf + at, items[i].data, items[i].len);
		at += ALIGN_UP(items[i].len, 8u);
	}
	r = disk_file_pwrite(fd, buf, VHDX_MiB, meta_off);
	if (r < 0)
		goto io_error;

	/* BAT: fixed disks map every payload block in order; the others are all NOT_PRESENT. */
	if (p.fixed) {
		uint64_t *bat = (uint64_t *)buf, per = VHDX_MiB / 8;

		for (uint64_t first = 0; first < entries; first += per) {
			memset(buf, 0, VHDX_MiB);
			for (uint64_t i = first; i < MIN(entries, first + per); i++) {
				if (i % (chunk_ratio + 1) == chunk_ratio)
					continue;
				uint64_t block = i - i / (chunk_ratio + 1);
				bat[i - first] = vhdx_bat_make(VHDX_BAT_FULLY_PRESENT,
							       data_off + block * p.block_size);
			}
			r = disk_file_pwrite(fd, buf, VHDX_MiB, BAT_OFFSET + first * 8);
			if (r < 0)
				goto io_error;
		}
	}
	if (ftruncate(fd, (off_t)end) < 0)
		goto errno_error;
	if (p.fixed && fallocate(fd, 0, (off_t)data_off, (off_t)(end - data_off)) < 0 &&
	    errno != EOPNOTSUPP)
		goto errno_error;
	if (fsync(fd) < 0)
		goto errno_error;
	r = 0;
	goto out;
errno_error:
	r = -errno;
io_error:
	disk_error(err, err_size, r, "%s: %s", path, strerror(-r));
	unlink(path);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	free(rel);
	return r;
}

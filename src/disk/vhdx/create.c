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

/* Where everything goes in a new file (the header comment's layout). */
struct create_layout {
	uint64_t chunk_ratio, data_blocks, entries, bat_len, meta_off, data_off, end;
};

/* A differencing disk takes its size and sector sizes from its parent and records the
 * parent's DataWriteGuid and relative path (2.6.2.6). *rel is the caller's to free. */
static int params_from_parent(const char *path, struct vhdx_create_params *p, char *linkage,
			      char **rel, char *err, size_t err_size)
{
	char g[GUID_STRING_LEN];
	struct guid parent_guid;
	struct vhdx *par;
	int r = vhdx_open_file(p->parent, DISK_OPEN_READ_ONLY, &par, err, err_size);

	if (r < 0)
		return r;
	p->size = par->size;
	p->logical_sector_size = par->logical_sector_size;
	if (!p->physical_sector_size)
		p->physical_sector_size = par->physical_sector_size;
	parent_guid = par->header.data_write_guid;
	vhdx_free(par);
	*rel = relative_path(path, p->parent);
	if (!*rel)
		return disk_error(err, err_size, -EINVAL, "%s: cannot express the parent's path %s",
				  path, p->parent);
	snprintf(linkage, GUID_STRING_LEN + 2, "{%s}", guid_format(&parent_guid, g));
	p->fixed = false;
	return 0;
}

/* Defaults (QEMU's and Hyper-V's), then the limits of 2.2.2 and 3.1. */
static int params_check(const char *path, struct vhdx_create_params *p, char *err, size_t err_size)
{
	if (!p->block_size)
		p->block_size = p->parent ? 2 * VHDX_MiB : 32 * VHDX_MiB;
	if (!p->logical_sector_size)
		p->logical_sector_size = 512;
	if (!p->physical_sector_size)
		p->physical_sector_size = 4096;
	if (p->block_size < VHDX_MIN_BLOCK_SIZE || p->block_size > VHDX_MAX_BLOCK_SIZE ||
	    (p->block_size & (p->block_size - 1)))
		return disk_error(err, err_size, -EINVAL,
				  "%s: block size %u is not a power of two from 1 MiB to 256 MiB",
				  path, p->block_size);
	if ((p->logical_sector_size != 512 && p->logical_sector_size != 4096) ||
	    (p->physical_sector_size != 512 && p->physical_sector_size != 4096))
		return disk_error(err, err_size, -EINVAL, "%s: sector sizes must be 512 or 4096",
				  path);
	if (!p->size || p->size > VHDX_MAX_DISK_SIZE || p->size % p->logical_sector_size)
		return disk_error(
			err, err_size, -EINVAL,
			"%s: size must be a non-zero multiple of %u bytes, at most 64 TiB", path,
			p->logical_sector_size);
	return 0;
}

/* The BAT interleaves a sector-bitmap entry after every chunk_ratio payload entries
 * (2.5.1); a differencing disk needs every bitmap entry, the others none after the last
 * payload block. */
static struct create_layout layout_of(const struct vhdx_create_params *p)
{
	struct create_layout l;

	l.chunk_ratio = (VHDX_SECTORS_PER_BITMAP * p->logical_sector_size) / p->block_size;
	l.data_blocks = (p->size + p->block_size - 1) / p->block_size;
	if (p->parent)
		l.entries =
			((l.data_blocks + l.chunk_ratio - 1) / l.chunk_ratio) * (l.chunk_ratio + 1);
	else
		l.entries = l.data_blocks + (l.data_blocks - 1) / l.chunk_ratio;
	l.bat_len = ALIGN_UP(l.entries * 8, (uint64_t)VHDX_MiB);
	l.meta_off = BAT_OFFSET + l.bat_len;
	l.data_off = l.meta_off + VHDX_MiB;
	l.end = p->fixed ? l.data_off + l.data_blocks * p->block_size : l.data_off;
	return l;
}

/* The header section (2.2): identifier, two headers, two region tables, into buf (1 MiB). */
static void build_header_section(uint8_t *buf, const struct create_layout *l)
{
	static const struct guid bat_guid = VHDX_REGION_BAT, meta_guid = VHDX_REGION_METADATA;
	struct vhdx_file_identifier id = {.signature = VHDX_FILE_SIGNATURE};
	const char *creator = "Parvis";
	struct vhdx_header h = {
		.signature = VHDX_HEADER_SIGNATURE,
		.version = 1,
		.log_length = LOG_LENGTH,
		.log_offset = LOG_OFFSET,
	};
	uint8_t *rt = buf + VHDX_REGION1_OFFSET;
	struct vhdx_region_table_header rh = {.signature = VHDX_REGION_SIGNATURE, .entry_count = 2};
	struct vhdx_region_table_entry re[2] = {
		{bat_guid, BAT_OFFSET, (uint32_t)l->bat_len, VHDX_REGION_FLAG_REQUIRED},
		{meta_guid, l->meta_off, VHDX_MiB, VHDX_REGION_FLAG_REQUIRED},
	};

	memset(buf, 0, VHDX_MiB);
	for (int i = 0; creator[i]; i++)
		id.creator[i] = (uint16_t)creator[i];
	memcpy(buf, &id, sizeof(id));
	vhdx_random_guid(&h.file_write_guid);
	vhdx_random_guid(&h.data_write_guid);
	for (int i = 0; i < 2; i++) {
		h.sequence_number = (uint64_t)i + 1;
		vhdx_header_init_checksum(&h);
		memcpy(buf + (i ? VHDX_HEADER2_OFFSET : VHDX_HEADER1_OFFSET), &h, sizeof(h));
	}
	memcpy(rt, &rh, sizeof(rh));
	memcpy(rt + sizeof(rh), re, sizeof(re));
	rh.checksum = crc32c(0, rt, VHDX_REGION_TABLE_SIZE);
	memcpy(rt + 4, &rh.checksum, 4);
	memcpy(buf + VHDX_REGION2_OFFSET, rt, VHDX_REGION_TABLE_SIZE);
}

/* The metadata region (2.6): its table and the items every disk has, plus the parent
 * locator of a differencing disk, into buf (1 MiB). */
static void build_metadata_region(uint8_t *buf, const struct vhdx_create_params *p,
				  const char *linkage, const char *rel)
{
	struct {
		struct guid id;
		uint32_t len, flags;
		const void *data;
	} items[6];
	struct vhdx_file_parameters fp = {p->block_size,
					  (p->fixed ? VHDX_PARAM_LEAVE_BLOCKS_ALLOCATED : 0) |
						  (p->parent ? VHDX_PARAM_HAS_PARENT : 0)};
	struct guid page83;
	uint8_t locator[4096];
	unsigned nitems = 0;
	const uint32_t req = VHDX_META_IS_REQUIRED, vd = VHDX_META_IS_VIRTUAL_DISK;

	memset(buf, 0, VHDX_MiB);
	vhdx_random_guid(&page83);
#define ITEM(guid_init, l, f, d)                                                                   \
	items[nitems++] = (typeof(items[0])){guid_init, (uint32_t)(l), (f), (d)}
	ITEM(VHDX_META_FILE_PARAMETERS, 8, req, &fp);
	ITEM(VHDX_META_VIRTUAL_DISK_SIZE, 8, req | vd, &p->size);
	ITEM(VHDX_META_PAGE83_DATA, 16, req | vd, &page83);
	ITEM(VHDX_META_LOGICAL_SECTOR_SIZE, 4, req | vd, &p->logical_sector_size);
	ITEM(VHDX_META_PHYSICAL_SECTOR_SIZE, 4, req | vd, &p->physical_sector_size);
	if (p->parent)
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
}

/* A fixed disk's BAT maps every payload block in order, skipping the bitmap entries;
 * the other kinds keep the all-zero (NOT_PRESENT) BAT that ftruncate gives them. */
static int write_fixed_bat(int fd, uint8_t *buf, const struct vhdx_create_params *p,
			   const struct create_layout *l)
{
	uint64_t *bat = (uint64_t *)buf, per = VHDX_MiB / 8;

	for (uint64_t first = 0; first < l->entries; first += per) {
		memset(buf, 0, VHDX_MiB);
		for (uint64_t i = first; i < MIN(l->entries, first + per); i++) {
			if (i % (l->chunk_ratio + 1) == l->chunk_ratio)
				continue;
			uint64_t block = i - i / (l->chunk_ratio + 1);
			bat[i - first] = vhdx_bat_make(VHDX_BAT_FULLY_PRESENT,
						       l->data_off + block * p->block_size);
		}
		int r = disk_file_pwrite(fd, buf, VHDX_MiB, BAT_OFFSET + first * 8);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Everything after the file is opened: the regions, the size, and a fixed disk's
 * allocation, made durable. Returns 0 or -errno. */
static int write_new_file(int fd, const struct vhdx_create_params *p, const char *linkage,
			  const char *rel)
{
	struct create_layout l = layout_of(p);
	uint8_t *buf = malloc(VHDX_MiB);
	int r;

	if (!buf)
		return -ENOMEM;
	build_header_section(buf, &l);
	r = disk_file_pwrite(fd, buf, VHDX_MiB, 0);
	if (r == 0) {
		build_metadata_region(buf, p, linkage, rel);
		r = disk_file_pwrite(fd, buf, VHDX_MiB, l.meta_off);
	}
	if (r == 0 && p->fixed)
		r = write_fixed_bat(fd, buf, p, &l);
	free(buf);
	if (r < 0)
		return r;
	if (ftruncate(fd, (off_t)l.end) < 0)
		return -errno;
	if (p->fixed && fallocate(fd, 0, (off_t)l.data_off, (off_t)(l.end - l.data_off)) < 0 &&
	    errno != EOPNOTSUPP)
		return -errno;
	return fsync(fd) < 0 ? -errno : 0;
}

int vhdx_create(const char *path, const struct vhdx_create_params *cp, char *err, size_t err_size)
{
	struct vhdx_create_params p = *cp;
	char linkage[GUID_STRING_LEN + 2] = "", *rel = NULL;
	int fd, r = 0;

	if (p.parent)
		r = params_from_parent(path, &p, linkage, &rel, err, err_size);
	if (r == 0)
		r = params_check(path, &p, err, err_size);
	if (r < 0)
		goto out;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = disk_error(err, err_size, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	r = write_new_file(fd, &p, linkage, rel);
	close(fd);
	if (r < 0) {
		disk_error(err, err_size, r, "%s: %s", path, strerror(-r));
		unlink(path);
	}
out:
	free(rel);
	return r;
}

/*
 * Writes a saved-state file (layout in state_format.h): sections appended
 * in order, then the section table, then the header at offset 0. Until the
 * header is written the file starts with zeros and the reader refuses it
 * ("not a saved-state file"), so an interrupted save is never mistaken for
 * a complete one; the caller writes to a temporary name and renames.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state/state.h"

struct state_writer {
	int fd;
	uint64_t pos; /* end of what has been written */
	uint8_t digest[STATE_CONFIG_DIGEST_BYTES];
	uint64_t memory_bytes;
	struct state_section_entry *table; /* little-endian, as on disk */
	unsigned count, cap;
	bool ram_written;
	state_writer_progress_fn progress;
	void *progress_opaque;
};

/* Pages written by one pwrite at most: runs of non-zero pages go out together. */
#define RUN_MAX (4u << 20)
/* How often (bytes of guest RAM looked at) the progress callback hears of it. */
#define PROGRESS_STEP (64ull << 20)

void state_writer_set_progress(struct state_writer *w, state_writer_progress_fn fn, void *opaque)
{
	w->progress = fn;
	w->progress_opaque = opaque;
}

static int write_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = pwrite(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int state_writer_new(int fd, const uint8_t digest[STATE_CONFIG_DIGEST_BYTES], uint64_t memory_bytes,
		     struct state_writer **ret)
{
	struct state_file_header zero = {0};
	struct state_writer *w;
	int r;

	if (ftruncate(fd, 0) < 0)
		return -errno;
	/* The placeholder header: zero until state_writer_finish. */
	r = write_all(fd, &zero, sizeof(zero), 0);
	if (r < 0)
		return r;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->pos = sizeof(zero);
	memcpy(w->digest, digest, STATE_CONFIG_DIGEST_BYTES);
	w->memory_bytes = memory_bytes;
	*ret = w;
	return 0;
}

struct state_writer *state_writer_free(struct state_writer *w)
{
	if (!w)
		return NULL;
	free(w->table);
	free(w);
	return NULL;
}

static bool name_valid(const char *name)
{
	size_t i, len = strlen(name);

	if (len == 0 || len >= STATE_SECTION_NAME_LEN)
		return false;
	for (i = 0; i < len; i++)
		if (name[i] <= ' ' || name[i] > '~')
			return false;
	return true;
}

static bool name_taken(const struct state_writer *w, const char *name)
{
	unsigned i;

	for (i = 0; i < w->count; i++)
		if (strncmp(w->table[i].name, name, STATE_SECTION_NAME_LEN) == 0)
			return true;
	return false;
}

/* Records a section whose payload is already at [offset, offset + length). */
static int add_entry(struct state_writer *w, const char *name, uint32_t version, uint64_t offset,
		     uint64_t length)
{
	struct state_section_entry *e;
	unsigned cap;

	if (!name_valid(name) || version == 0)
		return -EINVAL;
	if (name_taken(w, name))
		return -EEXIST;
	if (w->count == STATE_SECTIONS_MAX)
		return -E2BIG;
	if (w->count == w->cap) {
		cap = w->cap ? w->cap * 2 : 16;
		e = realloc(w->table, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		w->table = e;
		w->cap = cap;
	}
	e = &w->table[w->count++];
	memset(e, 0, sizeof(*e));
	memcpy(e->name, name, strlen(name));
	e->version = htole32(version);
	e->offset = htole64(offset);
	e->length = htole64(length);
	return 0;
}

int state_writer_section(struct state_writer *w, const char *name, uint32_t version,
			 const void *data, size_t len)
{
	int r;

	if (!name_valid(name) || version == 0)
		return -EINVAL;
	if (name_taken(w, name))
		return -EEXIST;
	if (len > STATE_SECTION_MAX)
		return -EFBIG;
	r = write_all(w->fd, data, len, w->pos);
	if (r < 0)
		return r;
	r = add_entry(w, name, version, w->pos, len);
	if (r < 0)
		return r;
	w->pos += len;
	return 0;
}

int state_writer_section_out(struct state_writer *w, const char *name, uint32_t version,
			     const struct state_out *out)
{
	if (out->error)
		return out->error;
	return state_writer_section(w, name, version, out->buf, out->len);
}

static bool page_is_zero(const uint8_t *page)
{
	const uint64_t *q = (const uint64_t *)page;
	unsigned i;

	for (i = 0; i < STATE_RAM_PAGE / sizeof(*q); i++)
		if (q[i])
			return false;
	return true;
}

/* Grows the extent list by one run, or extends the last run if it is adjacent. */
static int add_extent(struct state_ram_extent **list, size_t *count, size_t *cap,
		      uint64_t ram_offset, uint64_t file_offset)
{
	struct state_ram_extent *e;
	size_t ncap;

	if (*count) {
		e = &(*list)[*count - 1];
		if (e->ram_offset + e->length == ram_offset &&
		    e->file_offset + e->length == file_offset) {
			e->length += STATE_RAM_PAGE;
			return 0;
		}
	}
	if (*count == STATE_RAM_EXTENTS_MAX)
		return -E2BIG;
	if (*count == *cap) {
		ncap = *cap ? *cap * 2 : 64;
		e = realloc(*list, ncap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		*list = e;
		*cap = ncap;
	}
	(*list)[(*count)++] = (struct state_ram_extent){ram_offset, STATE_RAM_PAGE, file_offset};
	return 0;
}

/* The next data range of the memfd at or after off: [*start, *end); false at the end. */
static bool next_data(int fd, uint64_t off, uint64_t size, uint64_t *start, uint64_t *end)
{
	off_t d, h;

	if (off >= size)
		return false;
	if (fd < 0) {
		*start = off;
		*end = size;
		return true;
	}
	d = lseek(fd, (off_t)off, SEEK_DATA);
	if (d < 0) /* ENXIO: only holes from here; any other error: read everything */
		return errno == ENXIO ? false : (*start = off, *end = size, true);
	h = lseek(fd, d, SEEK_HOLE);
	if (h < 0 || (uint64_t)h > size)
		h = (off_t)size;
	*start = ALIGN_DOWN((uint64_t)d, (uint64_t)STATE_RAM_PAGE);
	*end = MIN(ALIGN_UP((uint64_t)h, (uint64_t)STATE_RAM_PAGE), size);
	return *start < *end;
}

int state_writer_ram(struct state_writer *w, const void *ram, int ram_fd)
{
	const uint8_t *base = ram;
	struct state_ram_extent *list = NULL;
	size_t count = 0, cap = 0, i;
	uint64_t start, end, off, data_start, pos, run_off = 0, run_len = 0, run_pos = 0;
	uint64_t next_report = PROGRESS_STEP;
	int r = w->progress ? w->progress(w->progress_opaque, 0, w->memory_bytes) : 0;

	if (w->ram_written || !IS_ALIGNED(w->memory_bytes, (uint64_t)STATE_RAM_PAGE))
		return -EINVAL;
	if (r < 0)
		return r;
	/* The pages start on a page boundary of the file so that they can be mapped from it. */
	data_start = ALIGN_UP(w->pos, (uint64_t)STATE_RAM_PAGE);
	pos = data_start;
	off = 0;
	while (next_data(ram_fd, off, w->memory_bytes, &start, &end)) {
		for (off = start; off < end; off += STATE_RAM_PAGE) {
			if (w->progress && off >= next_report) {
				r = w->progress(w->progress_opaque, off, w->memory_bytes);
				if (r < 0)
					goto out;
				next_report = off + PROGRESS_STEP;
			}
			if (page_is_zero(base + off))
				continue;
			/* A page that does not continue the run: the run goes out first. */
			if (run_len && (run_off + run_len != off || run_len == RUN_MAX)) {
				r = write_all(w->fd, base + run_off, run_len, run_pos);
				if (r < 0)
					goto out;
				run_len = 0;
			}
			if (!run_len) {
				run_off = off;
				run_pos = pos;
			}
			run_len += STATE_RAM_PAGE;
			r = add_extent(&list, &count, &cap, off, pos);
			if (r < 0)
				goto out;
			pos += STATE_RAM_PAGE;
		}
	}
	if (run_len) {
		r = write_all(w->fd, base + run_off, run_len, run_pos);
		if (r < 0)
			goto out;
	}
	if (w->progress) {
		r = w->progress(w->progress_opaque, w->memory_bytes, w->memory_bytes);
		if (r < 0)
			goto out;
	}
	r = add_entry(w, STATE_SECTION_RAM, 1, data_start, pos - data_start);
	if (r < 0)
		goto out;
	w->pos = pos;
	for (i = 0; i < count; i++) {
		list[i].ram_offset = htole64(list[i].ram_offset);
		list[i].length = htole64(list[i].length);
		list[i].file_offset = htole64(list[i].file_offset);
	}
	r = write_all(w->fd, list, count * sizeof(*list), w->pos);
	if (r < 0)
		goto out;
	r = add_entry(w, STATE_SECTION_RAM_INDEX, 1, w->pos, count * sizeof(*list));
	if (r < 0)
		goto out;
	w->pos += count * sizeof(*list);
	w->ram_written = true;
out:
	free(list);
	return r;
}

int state_writer_finish(struct state_writer *w)
{
	struct state_file_header h = {0};
	size_t table_len = (size_t)w->count * sizeof(*w->table);
	int r;

	r = write_all(w->fd, w->table, table_len, w->pos);
	if (r < 0)
		return r;
	memcpy(h.magic, STATE_FILE_MAGIC, sizeof(h.magic));
	h.format_version = htole32(STATE_FILE_VERSION);
	h.header_size = htole32(sizeof(h));
	memcpy(h.config_digest, w->digest, sizeof(h.config_digest));
	h.memory_bytes = htole64(w->memory_bytes);
	h.table_offset = htole64(w->pos);
	h.section_count = htole32(w->count);
	h.file_size = htole64(w->pos + table_len);
	/* Everything before the header reaches the disk first: a crash leaves a zero header. */
	if (fdatasync(w->fd) < 0 && errno != EINVAL)
		return -errno;
	r = write_all(w->fd, &h, sizeof(h), 0);
	if (r < 0)
		return r;
	if (fdatasync(w->fd) < 0 && errno != EINVAL)
		return -errno;
	return 0;
}

int state_save_device(struct state_writer *w, const struct state_section_ops *ops, void *opaque)
{
	struct state_out out;
	int r;

	state_out_init(&out);
	r = ops->save(opaque, &out);
	if (r == 0)
		r = state_writer_section_out(w, ops->name, ops->version, &out);
	state_out_fini(&out);
	return r;
}

/*
 * Reads a saved-state file (state_format.h). Everything in the file is
 * untrusted: the header, the table and the RAM index are checked against
 * the file's real size before any of it is used, sections are read only
 * within their checked bounds and never larger than STATE_SECTION_MAX, and
 * every refusal names the field that is wrong.
 */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state/state.h"

struct section {
	char name[STATE_SECTION_NAME_LEN];
	uint32_t version;
	uint64_t offset, length;
};

struct state_reader {
	int fd;
	uint64_t file_size;
	struct state_file_info info;
	struct section *sections;	  /* info.section_count, checked */
	struct state_ram_extent *extents; /* host order, once checked (state_reader_check_ram) */
	size_t nextents;
	bool ram_checked;
};

static int fail(char *errbuf, size_t errlen, int r, const char *fmt, ...) printf_like(4, 5);
static int fail(char *errbuf, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	if (errlen) {
		va_start(ap, fmt);
		vsnprintf(errbuf, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

static int read_exact(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = pread(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ENODATA;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* A name field: printable, NUL-terminated inside the field, NUL-padded after. */
static bool name_field_valid(const char *f)
{
	size_t len = strnlen(f, STATE_SECTION_NAME_LEN), i;

	if (len == 0 || len == STATE_SECTION_NAME_LEN)
		return false;
	for (i = 0; i < len; i++)
		if (f[i] <= ' ' || f[i] > '~')
			return false;
	for (; i < STATE_SECTION_NAME_LEN; i++)
		if (f[i])
			return false;
	return true;
}

static int check_header(const struct state_file_header *h, uint64_t file_size,
			struct state_file_info *info, uint64_t *table_offset, char *errbuf,
			size_t errlen)
{
	uint64_t table_len;
	uint32_t count;

	if (memcmp(h->magic, STATE_FILE_MAGIC, sizeof(h->magic)) != 0)
		return fail(errbuf, errlen, -EBADMSG,
			    "not a saved-state file (or an unfinished save): bad magic");
	if (le32toh(h->format_version) != STATE_FILE_VERSION)
		return fail(errbuf, errlen, -EPROTONOSUPPORT,
			    "saved-state format version %u is not supported (this build reads %u)",
			    le32toh(h->format_version), STATE_FILE_VERSION);
	if (le32toh(h->header_size) != sizeof(*h))
		return fail(errbuf, errlen, -EBADMSG, "header size %u, expected %zu",
			    le32toh(h->header_size), sizeof(*h));
	if (le32toh(h->flags) != 0)
		return fail(errbuf, errlen, -EBADMSG, "unknown header flags 0x%x",
			    le32toh(h->flags));
	if (le64toh(h->file_size) != file_size)
		return fail(errbuf, errlen, -EBADMSG,
			    "file is %llu bytes but its header says %llu (truncated or appended)",
			    (unsigned long long)file_size,
			    (unsigned long long)le64toh(h->file_size));
	count = le32toh(h->section_count);
	if (count > STATE_SECTIONS_MAX)
		return fail(errbuf, errlen, -EBADMSG, "%u sections (at most %u)", count,
			    STATE_SECTIONS_MAX);
	*table_offset = le64toh(h->table_offset);
	table_len = (uint64_t)count * sizeof(struct state_section_entry);
	if (*table_offset < sizeof(*h) || *table_offset > file_size ||
	    table_len != file_size - *table_offset)
		return fail(errbuf, errlen, -EBADMSG,
			    "section table at %llu (%u entries) does not end the file",
			    (unsigned long long)*table_offset, count);
	info->format_version = le32toh(h->format_version);
	memcpy(info->config_digest, h->config_digest, sizeof(info->config_digest));
	info->memory_bytes = le64toh(h->memory_bytes);
	info->section_count = count;
	return 0;
}

static int check_table(struct state_reader *r, const struct state_section_entry *t,
		       uint64_t table_offset, char *errbuf, size_t errlen)
{
	struct section *s;
	unsigned i, j;

	for (i = 0; i < r->info.section_count; i++) {
		s = &r->sections[i];
		if (!name_field_valid(t[i].name))
			return fail(errbuf, errlen, -EBADMSG, "section %u has an invalid name", i);
		memcpy(s->name, t[i].name, sizeof(s->name));
		s->version = le32toh(t[i].version);
		s->offset = le64toh(t[i].offset);
		s->length = le64toh(t[i].length);
		if (s->version == 0 || le32toh(t[i].reserved) != 0)
			return fail(errbuf, errlen, -EBADMSG,
				    "section '%s': version 0 or reserved field set", s->name);
		if (s->offset < sizeof(struct state_file_header) || s->offset > table_offset ||
		    s->length > table_offset - s->offset)
			return fail(
				errbuf, errlen, -EBADMSG,
				"section '%s' (%llu bytes at %llu) lies outside the file's data",
				s->name, (unsigned long long)s->length,
				(unsigned long long)s->offset);
		for (j = 0; j < i; j++)
			if (strcmp(r->sections[j].name, s->name) == 0)
				return fail(errbuf, errlen, -EBADMSG, "section '%s' appears twice",
					    s->name);
	}
	return 0;
}

int state_reader_new(int fd, struct state_reader **ret, char *errbuf, size_t errlen)
{
	struct state_section_entry *table = NULL;
	struct state_file_header h;
	struct state_reader *r;
	uint64_t table_offset = 0;
	struct stat st;
	int err;

	if (fstat(fd, &st) < 0)
		return fail(errbuf, errlen, -errno, "cannot stat the saved-state file");
	if (!S_ISREG(st.st_mode))
		return fail(errbuf, errlen, -EINVAL, "the saved state is not a regular file");
	if ((uint64_t)st.st_size < sizeof(h))
		return fail(errbuf, errlen, -EBADMSG,
			    "file is %lld bytes, shorter than the %zu-byte header",
			    (long long)st.st_size, sizeof(h));
	err = read_exact(fd, &h, sizeof(h), 0);
	if (err < 0)
		return fail(errbuf, errlen, err, "cannot read the header");
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->fd = fd;
	r->file_size = (uint64_t)st.st_size;
	err = check_header(&h, r->file_size, &r->info, &table_offset, errbuf, errlen);
	if (err < 0)
		goto fail;
	err = -ENOMEM;
	r->sections = calloc(r->info.section_count + 1, sizeof(*r->sections));
	table = calloc(r->info.section_count + 1, sizeof(*table));
	if (!r->sections || !table)
		goto fail;
	err = read_exact(fd, table, r->info.section_count * sizeof(*table), table_offset);
	if (err < 0) {
		fail(errbuf, errlen, err, "cannot read the section table");
		goto fail;
	}
	err = check_table(r, table, table_offset, errbuf, errlen);
	if (err < 0)
		goto fail;
	free(table);
	*ret = r;
	return 0;
fail:
	free(table);
	state_reader_free(r);
	return err;
}

struct state_reader *state_reader_free(struct state_reader *r)
{
	if (!r)
		return NULL;
	free(r->sections);
	free(r->extents);
	free(r);
	return NULL;
}

const struct state_file_info *state_reader_info(const struct state_reader *r)
{
	return &r->info;
}

const char *state_reader_section_name(const struct state_reader *r, unsigned i, uint32_t *version,
				      uint64_t *length)
{
	if (i >= r->info.section_count)
		return NULL;
	if (version)
		*version = r->sections[i].version;
	if (length)
		*length = r->sections[i].length;
	return r->sections[i].name;
}

static const struct section *find(const struct state_reader *r, const char *name)
{
	unsigned i;

	for (i = 0; i < r->info.section_count; i++)
		if (strcmp(r->sections[i].name, name) == 0)
			return &r->sections[i];
	return NULL;
}

bool state_reader_has(const struct state_reader *r, const char *name)
{
	return find(r, name) != NULL;
}

int state_reader_section(struct state_reader *r, const char *name, uint32_t *version, void **data,
			 size_t *len, char *errbuf, size_t errlen)
{
	const struct section *s = find(r, name);
	void *buf;
	int err;

	if (!s)
		return fail(errbuf, errlen, -ENOENT, "the saved state has no section '%s'", name);
	if (s->length > STATE_SECTION_MAX)
		return fail(errbuf, errlen, -EFBIG, "section '%s' is %llu bytes (at most %u)", name,
			    (unsigned long long)s->length, STATE_SECTION_MAX);
	buf = malloc(s->length ? s->length : 1);
	if (!buf)
		return -ENOMEM;
	err = read_exact(r->fd, buf, s->length, s->offset);
	if (err < 0) {
		free(buf);
		return fail(errbuf, errlen, err, "cannot read section '%s'", name);
	}
	*version = s->version;
	*data = buf;
	*len = s->length;
	return 0;
}

int state_reader_check_ram(struct state_reader *r, uint64_t *ret_pages, char *errbuf, size_t errlen)
{
	const struct section *data = find(r, STATE_SECTION_RAM);
	const struct section *index = find(r, STATE_SECTION_RAM_INDEX);
	struct state_ram_extent *e;
	uint64_t next_ram = 0, next_file, pages = 0;
	size_t i, n;
	int err;

	if (!data || !index)
		return fail(errbuf, errlen, -ENOENT, "the saved state has no guest RAM");
	if (data->version != 1 || index->version != 1)
		return fail(errbuf, errlen, -EPROTONOSUPPORT,
			    "guest RAM sections of version %u/%u are not supported", data->version,
			    index->version);
	if (index->length % sizeof(*e) || index->length / sizeof(*e) > STATE_RAM_EXTENTS_MAX)
		return fail(errbuf, errlen, -EBADMSG,
			    "RAM index is %llu bytes: not a whole number of extents, or too many",
			    (unsigned long long)index->length);
	if (!IS_ALIGNED(data->offset, (uint64_t)STATE_RAM_PAGE))
		return fail(errbuf, errlen, -EBADMSG, "RAM pages do not start on a page boundary");
	n = index->length / sizeof(*e);
	free(r->extents);
	r->extents = NULL;
	r->ram_checked = false;
	e = malloc((n ? n : 1) * sizeof(*e));
	if (!e)
		return -ENOMEM;
	err = read_exact(r->fd, e, n * sizeof(*e), index->offset);
	if (err < 0) {
		free(e);
		return fail(errbuf, errlen, err, "cannot read the RAM index");
	}
	next_file = data->offset;
	for (i = 0; i < n; i++) {
		e[i].ram_offset = le64toh(e[i].ram_offset);
		e[i].length = le64toh(e[i].length);
		e[i].file_offset = le64toh(e[i].file_offset);
		if (e[i].length == 0 || !IS_ALIGNED(e[i].length, (uint64_t)STATE_RAM_PAGE) ||
		    !IS_ALIGNED(e[i].ram_offset, (uint64_t)STATE_RAM_PAGE) ||
		    !IS_ALIGNED(e[i].file_offset, (uint64_t)STATE_RAM_PAGE))
			err = fail(errbuf, errlen, -EBADMSG, "RAM extent %zu is not page aligned",
				   i);
		else if (e[i].ram_offset < next_ram || e[i].ram_offset > r->info.memory_bytes ||
			 e[i].length > r->info.memory_bytes - e[i].ram_offset)
			err = fail(
				errbuf, errlen, -EBADMSG,
				"RAM extent %zu (%llu bytes at %llu) overlaps the previous one or "
				"lies beyond the %llu bytes of guest RAM",
				i, (unsigned long long)e[i].length,
				(unsigned long long)e[i].ram_offset,
				(unsigned long long)r->info.memory_bytes);
		else if (e[i].file_offset < next_file ||
			 e[i].file_offset - data->offset > data->length ||
			 e[i].length > data->length - (e[i].file_offset - data->offset))
			err = fail(errbuf, errlen, -EBADMSG,
				   "RAM extent %zu points outside the 'ram' section, or back into "
				   "pages another extent uses",
				   i);
		if (err < 0) {
			free(e);
			return err;
		}
		next_ram = e[i].ram_offset + e[i].length;
		next_file = e[i].file_offset + e[i].length;
		pages += e[i].length / STATE_RAM_PAGE;
	}
	r->extents = e;
	r->nextents = n;
	r->ram_checked = true;
	if (ret_pages)
		*ret_pages = pages;
	return (int)MIN(n, (size_t)INT32_MAX);
}

int state_reader_load_ram(struct state_reader *r, void *ram, char *errbuf, size_t errlen)
{
	uint8_t *base = ram;
	size_t i;
	int err;

	err = state_reader_check_ram(r, NULL, errbuf, errlen);
	if (err < 0)
		return err;
	for (i = 0; i < r->nextents; i++) {
		err = read_exact(r->fd, base + r->extents[i].ram_offset, r->extents[i].length,
				 r->extents[i].file_offset);
		if (err < 0)
			return fail(errbuf, errlen, err, "cannot read guest RAM extent %zu", i);
	}
	return 0;
}

const struct state_ram_extent *state_reader_ram_extents(const struct state_reader *r, size_t *ret_n)
{
	*ret_n = r->ram_checked ? r->nextents : 0;
	return r->ram_checked ? r->extents : NULL;
}

int state_reader_fd(const struct state_reader *r)
{
	return r->fd;
}

int state_reader_match(const struct state_reader *r,
		       const uint8_t digest[STATE_CONFIG_DIGEST_BYTES], uint64_t memory_bytes,
		       char *errbuf, size_t errlen)
{
	if (r->info.memory_bytes != memory_bytes)
		return fail(errbuf, errlen, -ESTALE,
			    "the saved state has %llu MiB of memory but the VM has %llu MiB",
			    (unsigned long long)(r->info.memory_bytes >> 20),
			    (unsigned long long)(memory_bytes >> 20));
	if (memcmp(r->info.config_digest, digest, STATE_CONFIG_DIGEST_BYTES) != 0)
		return fail(errbuf, errlen, -ESTALE,
			    "the saved state was made with another configuration of this VM "
			    "(configuration digest differs)");
	return 0;
}

int state_load_device(struct state_reader *r, const struct state_section_ops *ops, void *opaque,
		      char *errbuf, size_t errlen)
{
	struct state_in in;
	uint32_t version;
	void *data;
	size_t len;
	int err;

	err = state_reader_section(r, ops->name, &version, &data, &len, errbuf, errlen);
	if (err < 0)
		return err;
	if (version > ops->version) {
		free(data);
		return fail(errbuf, errlen, -EPROTONOSUPPORT,
			    "section '%s' is version %u; this build reads up to %u", ops->name,
			    version, ops->version);
	}
	state_in_init(&in, data, len);
	err = ops->load(opaque, version, &in, errbuf, errlen);
	if (err == 0 && state_in_finish(&in) < 0)
		err = fail(errbuf, errlen, -EBADMSG, "section '%s' is %zu bytes, %s", ops->name,
			   len, in.error ? "too short" : "longer than its fields");
	free(data);
	return err;
}

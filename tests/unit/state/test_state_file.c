/*
 * Unit tests of the saved-state file (src/state/): sections and sparse RAM
 * round trip; truncated, unfinished and corrupt files and mismatched VMs
 * are refused with a message naming what is wrong.
 */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "state/state.h"

#define RAM_BYTES (4 * MiB)

static const uint8_t digest_a[STATE_CONFIG_DIGEST_BYTES] = {1, 2, 3};
static const uint8_t digest_b[STATE_CONFIG_DIGEST_BYTES] = {1, 2, 4};

struct ram {
	int fd;
	uint8_t *base;
};

static struct ram ram_new(void)
{
	struct ram m;

	m.fd = memfd_create("test-ram", MFD_CLOEXEC);
	assert_true(m.fd >= 0);
	assert_int_equal(ftruncate(m.fd, RAM_BYTES), 0);
	m.base = mmap(NULL, RAM_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, m.fd, 0);
	assert_true(m.base != MAP_FAILED);
	return m;
}

static void ram_free(struct ram *m)
{
	munmap(m->base, RAM_BYTES);
	close(m->fd);
}

/* A file with two sections and RAM in which pages 0, 1, 7 and the last are non-zero; page 3 is
 * touched but zero (data in the memfd, still not saved). */
static int make_file(struct ram *m)
{
	struct state_writer *w;
	int fd = memfd_create("test-state", MFD_CLOEXEC);

	assert_true(fd >= 0);
	memset(m->base, 0x11, 4096);
	memset(m->base + 4096, 0x22, 4096);
	m->base[3 * 4096] = 0;
	m->base[7 * 4096 + 100] = 0x77;
	m->base[RAM_BYTES - 1] = 0xff;
	assert_int_equal(state_writer_new(fd, digest_a, RAM_BYTES, &w), 0);
	assert_int_equal(state_writer_section(w, "dev.a", 3, "hello", 5), 0);
	assert_int_equal(state_writer_section(w, "dev.a", 1, "x", 1), -EEXIST);
	assert_int_equal(state_writer_section(w, "bad name", 1, "x", 1), -EINVAL);
	assert_int_equal(state_writer_ram(w, m->base, m->fd), 0);
	assert_int_equal(state_writer_section(w, "dev.empty", 1, "", 0), 0);
	assert_int_equal(state_writer_finish(w), 0);
	state_writer_free(w);
	return fd;
}

static void test_round_trip(void **state)
{
	struct ram m = ram_new(), back = ram_new();
	struct state_reader *r;
	char err[256] = "";
	uint32_t version;
	uint64_t pages;
	void *data;
	size_t len;
	int fd = make_file(&m);

	assert_int_equal(state_reader_new(fd, &r, err, sizeof(err)), 0);
	assert_int_equal(state_reader_info(r)->memory_bytes, RAM_BYTES);
	assert_int_equal(state_reader_info(r)->section_count, 4);
	assert_int_equal(state_reader_match(r, digest_a, RAM_BYTES, err, sizeof(err)), 0);
	assert_int_equal(state_reader_section(r, "dev.a", &version, &data, &len, err, sizeof(err)),
			 0);
	assert_int_equal(version, 3);
	assert_int_equal(len, 5);
	assert_memory_equal(data, "hello", 5);
	free(data);
	assert_int_equal(
		state_reader_section(r, "dev.empty", &version, &data, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 0);
	free(data);
	assert_int_equal(state_reader_section(r, "dev.b", &version, &data, &len, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "dev.b"));
	/* Sparse: three extents (pages 0-1, 7, last), four pages in the file. */
	assert_int_equal(state_reader_check_ram(r, &pages, err, sizeof(err)), 3);
	assert_int_equal(pages, 4);
	assert_int_equal(state_reader_load_ram(r, back.base, err, sizeof(err)), 0);
	assert_memory_equal(back.base, m.base, RAM_BYTES);
	state_reader_free(r);
	close(fd);
	ram_free(&m);
	ram_free(&back);
}

static void expect_refused(int fd, const char *what)
{
	struct state_reader *r = NULL;
	char err[256] = "";

	assert_true(state_reader_new(fd, &r, err, sizeof(err)) < 0);
	assert_null(r);
	if (!strstr(err, what))
		fail_msg("error '%s' does not mention '%s'", err, what);
}

static void test_truncated_refused(void **state)
{
	struct ram m = ram_new();
	int fd = make_file(&m);
	off_t size = lseek(fd, 0, SEEK_END);

	assert_int_equal(ftruncate(fd, size - 1), 0);
	expect_refused(fd, "truncated");
	assert_int_equal(ftruncate(fd, 40), 0);
	expect_refused(fd, "shorter than");
	close(fd);
	ram_free(&m);
}

static void test_unfinished_refused(void **state)
{
	struct ram m = ram_new();
	struct state_writer *w;
	int fd = memfd_create("test-state", MFD_CLOEXEC);

	assert_int_equal(state_writer_new(fd, digest_a, RAM_BYTES, &w), 0);
	assert_int_equal(state_writer_ram(w, m.base, m.fd), 0);
	state_writer_free(w); /* never finished */
	expect_refused(fd, "unfinished");
	close(fd);
	ram_free(&m);
}

static void poke(int fd, off_t off, const void *v, size_t len)
{
	assert_int_equal(pwrite(fd, v, len, off), (ssize_t)len);
}

static void test_corrupt_table_refused(void **state)
{
	struct ram m = ram_new();
	struct state_file_header h;
	uint64_t bad = htole64(UINT64_MAX - 3);
	uint32_t v = htole32(99);
	int fd = make_file(&m);
	off_t entry;

	assert_int_equal(pread(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	entry = (off_t)le64toh(h.table_offset);
	/* The first entry's length runs past the table. */
	poke(fd, entry + offsetof(struct state_section_entry, length), &bad, sizeof(bad));
	expect_refused(fd, "outside the file");
	close(fd);
	fd = make_file(&m);
	poke(fd, entry + offsetof(struct state_section_entry, name), "dev.empty", 10);
	expect_refused(fd, "twice");
	close(fd);
	fd = make_file(&m);
	poke(fd, offsetof(struct state_file_header, format_version), &v, sizeof(v));
	expect_refused(fd, "version 99");
	close(fd);
	ram_free(&m);
}

/* The file offset of a section's payload, read from the table as the reader would. */
static uint64_t section_offset(int fd, const char *name)
{
	struct state_section_entry e;
	struct state_file_header h;
	unsigned i;

	assert_int_equal(pread(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	for (i = 0; i < le32toh(h.section_count); i++) {
		assert_int_equal(
			pread(fd, &e, sizeof(e), (off_t)(le64toh(h.table_offset) + i * sizeof(e))),
			(ssize_t)sizeof(e));
		if (strcmp(e.name, name) == 0)
			return le64toh(e.offset);
	}
	fail_msg("no section %s", name);
	return 0;
}

static void test_corrupt_ram_index_refused(void **state)
{
	struct ram m = ram_new(), back = ram_new();
	struct state_reader *r;
	struct state_ram_extent e;
	char err[256] = "";
	int fd = make_file(&m);
	off_t second = (off_t)(section_offset(fd, "ram.index") + sizeof(e));

	/* Extent 1 now lies beyond RAM. */
	assert_int_equal(pread(fd, &e, sizeof(e), second), (ssize_t)sizeof(e));
	e.ram_offset = htole64(RAM_BYTES);
	poke(fd, second, &e, sizeof(e));
	assert_int_equal(state_reader_new(fd, &r, err, sizeof(err)), 0);
	assert_true(state_reader_load_ram(r, back.base, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "beyond"));
	/* Extent 1 points back into extent 0's pages. */
	e.ram_offset = htole64(7 * 4096);
	e.file_offset = htole64(le64toh(e.file_offset) - 4096);
	poke(fd, second, &e, sizeof(e));
	assert_true(state_reader_load_ram(r, back.base, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "outside the 'ram' section"));
	/* Restored, it loads. */
	e.file_offset = htole64(le64toh(e.file_offset) + 4096);
	poke(fd, second, &e, sizeof(e));
	assert_int_equal(state_reader_load_ram(r, back.base, err, sizeof(err)), 0);
	state_reader_free(r);
	close(fd);
	ram_free(&m);
	ram_free(&back);
}

static void test_mismatch_refused(void **state)
{
	struct ram m = ram_new();
	struct state_reader *r;
	char err[256] = "";
	int fd = make_file(&m);

	assert_int_equal(state_reader_new(fd, &r, err, sizeof(err)), 0);
	assert_int_equal(state_reader_match(r, digest_a, 2 * RAM_BYTES, err, sizeof(err)), -ESTALE);
	assert_non_null(strstr(err, "4 MiB of memory but the VM has 8 MiB"));
	assert_int_equal(state_reader_match(r, digest_b, RAM_BYTES, err, sizeof(err)), -ESTALE);
	assert_non_null(strstr(err, "configuration"));
	state_reader_free(r);
	close(fd);
	ram_free(&m);
}

/* A device of two fields: version 2 added `extra`; version 1 sections still load. */
struct dev {
	uint32_t value;
	uint64_t extra;
};

static int dev_save(void *opaque, struct state_out *out)
{
	struct dev *d = opaque;

	state_out_u32(out, d->value);
	state_out_u64(out, d->extra);
	return 0;
}

static int dev_load(void *opaque, uint32_t version, struct state_in *in, char *errbuf,
		    size_t errlen)
{
	struct dev *d = opaque;

	d->value = state_in_u32(in);
	d->extra = version >= 2 ? state_in_u64(in) : 0;
	return 0;
}

static const struct state_section_ops dev_ops = {
	.name = "dev", .version = 2, .save = dev_save, .load = dev_load};

static void test_device_interface(void **state)
{
	struct ram m = ram_new();
	struct state_section_ops v1 = dev_ops, v3 = dev_ops;
	struct dev a = {7, 9}, b = {0};
	struct state_writer *w;
	struct state_reader *r;
	char err[256] = "";
	int fd = memfd_create("test-state", MFD_CLOEXEC);

	v1.name = "dev.v1";
	v1.version = 1;
	v3.name = "dev.v3";
	v3.version = 3;
	assert_int_equal(state_writer_new(fd, digest_a, RAM_BYTES, &w), 0);
	assert_int_equal(state_save_device(w, &dev_ops, &a), 0);
	/* A version-1 section (one field) and a section from a future version. */
	assert_int_equal(state_writer_section(w, "dev.v1", 1, "\x05\0\0\0", 4), 0);
	assert_int_equal(state_save_device(w, &v3, &a), 0);
	assert_int_equal(state_writer_section(w, "dev.short", 2, "\x05\0", 2), 0);
	assert_int_equal(state_writer_finish(w), 0);
	state_writer_free(w);
	assert_int_equal(state_reader_new(fd, &r, err, sizeof(err)), 0);
	assert_int_equal(state_load_device(r, &dev_ops, &b, err, sizeof(err)), 0);
	assert_int_equal(b.value, 7);
	assert_int_equal(b.extra, 9);
	v1.version = 2;
	assert_int_equal(state_load_device(r, &v1, &b, err, sizeof(err)), 0);
	assert_int_equal(b.value, 5);
	assert_int_equal(b.extra, 0);
	v3.version = 2;
	assert_int_equal(state_load_device(r, &v3, &b, err, sizeof(err)), -EPROTONOSUPPORT);
	assert_non_null(strstr(err, "dev.v3"));
	v3.name = "dev.short";
	assert_int_equal(state_load_device(r, &v3, &b, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "too short"));
	state_reader_free(r);
	close(fd);
	ram_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_truncated_refused),
		cmocka_unit_test(test_unfinished_refused),
		cmocka_unit_test(test_corrupt_table_refused),
		cmocka_unit_test(test_corrupt_ram_index_refused),
		cmocka_unit_test(test_mismatch_refused),
		cmocka_unit_test(test_device_interface),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

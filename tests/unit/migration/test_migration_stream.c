/*
 * Unit tests of the migration stream (src/migration/): pages, zero pages,
 * rounds and the device state round trip; a truncated stream (cut at every
 * record boundary and inside records), a corrupt one, a newer version,
 * pages outside memory, another VM's digest and device state holding RAM
 * are refused with a message naming what is wrong.
 */
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

#include "migration/migration_stream.h"
#include "state/state.h"

#define PAGES	  64u
#define RAM_BYTES (PAGES * MIGRATION_PAGE)

static const uint8_t digest_a[STATE_CONFIG_DIGEST_BYTES] = {1, 2, 3};
static const uint8_t digest_b[STATE_CONFIG_DIGEST_BYTES] = {1, 2, 4};

static int memfd(void)
{
	int fd = memfd_create("test-migration", MFD_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

/* A saved-state image with one device section (and RAM if with_ram). */
static uint8_t *device_image(const uint8_t *digest, bool with_ram, size_t *len)
{
	struct state_writer *w;
	uint8_t *ram = calloc(1, RAM_BYTES), *buf;
	off_t size;
	int fd = memfd();

	assert_int_equal(state_writer_new(fd, digest, RAM_BYTES, &w), 0);
	assert_int_equal(state_writer_section(w, "uart.com1", 1, "abcd", 4), 0);
	if (with_ram)
		assert_int_equal(state_writer_ram(w, ram, -1), 0);
	assert_int_equal(state_writer_finish(w), 0);
	state_writer_free(w);
	size = lseek(fd, 0, SEEK_END);
	assert_true(size > 0);
	buf = malloc((size_t)size);
	assert_int_equal(pread(fd, buf, (size_t)size, 0), size);
	close(fd);
	free(ram);
	*len = (size_t)size;
	return buf;
}

/* A source's RAM: some pages with data, the others zero. */
static uint8_t *source_ram(void)
{
	uint8_t *ram = calloc(1, RAM_BYTES);
	unsigned i;

	for (i = 0; i < PAGES; i += 3)
		memset(ram + i * MIGRATION_PAGE, 0x40 + i, MIGRATION_PAGE);
	return ram;
}

/* Two rounds (all pages, then two re-sent), the devices, the end: the stream in a memfd. */
static int write_stream(const uint8_t *ram, const uint8_t *digest, const void *image, size_t len,
			struct migration_writer *w)
{
	int fd = memfd();

	assert_int_equal(migration_writer_start(w, fd, digest, RAM_BYTES), 0);
	assert_int_equal(migration_writer_pages(w, ram, 0, PAGES), 0);
	assert_int_equal(migration_writer_round_end(w), 0);
	assert_int_equal(migration_writer_pages(w, ram, 5, 2), 0);
	assert_int_equal(migration_writer_round_end(w), 0);
	assert_int_equal(migration_writer_devices(w, image, len), 0);
	assert_int_equal(migration_writer_end(w), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* Reads fd as a destination of RAM_BYTES with digest_a would: 0 or the error. */
static int read_stream(int fd, uint8_t *ram, char *err, size_t errlen)
{
	struct migration_reader *r;
	int ret = migration_reader_new(fd, &r, err, errlen);

	if (ret < 0)
		return ret;
	ret = migration_reader_match(r, digest_a, RAM_BYTES, err, errlen);
	if (ret == 0)
		ret = migration_reader_run(r, ram, err, errlen);
	if (ret == 0)
		assert_true(state_reader_has(migration_reader_devices(r), "uart.com1"));
	migration_reader_free(r);
	return ret;
}

static void test_round_trip(void **st)
{
	struct migration_writer w;
	struct migration_reader *r;
	uint8_t *src = source_ram(), *dst = malloc(RAM_BYTES), *image, *data = NULL;
	size_t len, dlen;
	uint32_t version;
	char err[256];
	int fd;

	(void)st;
	memset(dst, 0, RAM_BYTES); /* a new machine's RAM */
	image = device_image(digest_a, false, &len);
	fd = memfd();
	assert_int_equal(migration_writer_start(&w, fd, digest_a, RAM_BYTES), 0);
	assert_int_equal(migration_writer_pages(&w, src, 0, PAGES), 0);
	assert_int_equal(migration_writer_round_end(&w), 0);
	/* Page 0 was sent with data and is zero now: the zero run must clear it. */
	memset(src, 0, MIGRATION_PAGE);
	assert_int_equal(migration_writer_pages(&w, src, 0, 1), 0);
	assert_int_equal(migration_writer_zero_pages(&w, 1, 1), 0);
	assert_int_equal(migration_writer_round_end(&w), 0);
	assert_int_equal(migration_writer_devices(&w, image, len), 0);
	assert_int_equal(migration_writer_end(&w), 0);
	assert_int_equal(w.rounds, 2);
	assert_int_equal(w.bytes, (uint64_t)lseek(fd, 0, SEEK_END));
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(migration_reader_new(fd, &r, err, sizeof(err)), 0);
	assert_int_equal(migration_reader_match(r, digest_a, RAM_BYTES, err, sizeof(err)), 0);
	assert_int_equal(migration_reader_run(r, dst, err, sizeof(err)), 0);
	assert_memory_equal(src, dst, RAM_BYTES);
	assert_int_equal(migration_reader_stats(r)->rounds, 2);
	assert_int_equal(migration_reader_stats(r)->bytes, w.bytes);
	assert_int_equal(migration_reader_stats(r)->pages + migration_reader_stats(r)->zero_pages,
			 PAGES + 2);
	assert_int_equal(state_reader_section(migration_reader_devices(r), "uart.com1", &version,
					      (void **)&data, &dlen, err, sizeof(err)),
			 0);
	assert_int_equal(dlen, 4);
	assert_memory_equal(data, "abcd", 4);
	free(data);
	migration_reader_free(r);
	close(fd);
	free(image);
	free(src);
	free(dst);
}

/* Cut at every 16th byte and at the last: always refused as truncated. */
static void test_truncated(void **st)
{
	struct migration_writer w;
	uint8_t *src = source_ram(), *dst = malloc(RAM_BYTES), *image, *all;
	size_t len, cut;
	char err[256];
	int fd;

	(void)st;
	image = device_image(digest_a, false, &len);
	fd = write_stream(src, digest_a, image, len, &w);
	all = malloc(w.bytes);
	assert_int_equal(pread(fd, all, w.bytes, 0), (ssize_t)w.bytes);
	close(fd);
	for (cut = 0; cut < w.bytes;
	     cut = cut + 16 < w.bytes || cut == w.bytes - 1 ? cut + 16 : w.bytes - 1) {
		fd = memfd();
		assert_int_equal(write(fd, all, cut), (ssize_t)cut);
		assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
		err[0] = 0;
		assert_int_equal(read_stream(fd, dst, err, sizeof(err)), -EPIPE);
		assert_non_null(strstr(err, "truncated"));
		close(fd);
		if (cut == w.bytes - 1)
			break;
	}
	free(all);
	free(image);
	free(src);
	free(dst);
}

/* Rewrites one field of a good stream and expects the error naming it. */
static void refused_with(size_t offset, const void *bytes, size_t n, int want, const char *says)
{
	struct migration_writer w;
	uint8_t *src = source_ram(), *dst = malloc(RAM_BYTES), *image;
	size_t len;
	char err[256] = "";
	int fd;

	image = device_image(digest_a, false, &len);
	fd = write_stream(src, digest_a, image, len, &w);
	assert_int_equal(pwrite(fd, bytes, n, (off_t)offset), (ssize_t)n);
	assert_int_equal(read_stream(fd, dst, err, sizeof(err)), want);
	print_message("# %s\n", err);
	assert_non_null(strstr(err, says));
	close(fd);
	free(image);
	free(src);
	free(dst);
}

#define FIRST_RECORD sizeof(struct migration_header)

static void test_corrupt(void **st)
{
	uint32_t newer = MIGRATION_VERSION + 1, type = 99;
	uint64_t outside = PAGES, huge = 1ull << 40;

	(void)st;
	refused_with(0, "XXXX", 4, -EBADMSG, "no Parvis migration stream");
	refused_with(offsetof(struct migration_header, format_version), &newer, 4, -EPROTONOSUPPORT,
		     "newer");
	refused_with(FIRST_RECORD, &type, 4, -EBADMSG, "unknown type 99");
	refused_with(FIRST_RECORD + sizeof(struct migration_record), &outside, 8, -ERANGE,
		     "outside the VM");
	refused_with(FIRST_RECORD + sizeof(struct migration_record) + 8, &huge, 8, -ERANGE,
		     "outside the VM");
	refused_with(FIRST_RECORD + 8, &huge, 8, -EBADMSG, "bytes long");
}

static void test_other_vm(void **st)
{
	struct migration_writer w;
	uint8_t *src = source_ram(), *dst = malloc(RAM_BYTES), *image;
	size_t len;
	char err[256] = "";
	int fd;

	(void)st;
	image = device_image(digest_b, false, &len);
	fd = write_stream(src, digest_b, image, len, &w);
	assert_int_equal(read_stream(fd, dst, err, sizeof(err)), -ESTALE);
	assert_non_null(strstr(err, "configuration digest differs"));
	close(fd);
	/* The device state of another VM inside this VM's stream. */
	fd = write_stream(src, digest_a, image, len, &w);
	assert_int_equal(read_stream(fd, dst, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "does not belong to this stream"));
	close(fd);
	free(image);
	/* Device state with RAM in it. */
	image = device_image(digest_a, true, &len);
	fd = write_stream(src, digest_a, image, len, &w);
	assert_int_equal(read_stream(fd, dst, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "holds RAM"));
	close(fd);
	free(image);
	free(src);
	free(dst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_other_vm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

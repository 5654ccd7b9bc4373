/*
 * Unit tests of the VRAM's saved-state sections (src/vmwp/vram_state.c): a
 * VRAM with pictures in some pages goes across chunk by chunk, zero pages
 * not written; every truncation, a page out of order or beyond the chunk,
 * a chunk offset that is not its number's and a VRAM too small are refused,
 * the VRAM left as it was. Through a real file: every chunk of a memory
 * under a prefix (the VGA framebuffer's, the BIOS image's), read back
 * whole over other contents, refused with a chunk missing or one too many;
 * and the BIOS's bookkeeping section (firmware_state.c).
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

#include "state/state.h"
#include "vmwp/firmware_state.h"
#include "vmwp/vram_state.h"

#define VRAM (10u << 20) /* two whole chunks and half of a third */
#define PAGE 4096u

static int load(uint8_t *vram, uint64_t size, unsigned n, const struct state_out *out, size_t len,
		char *err)
{
	struct state_in in;
	int r;

	state_in_init(&in, out->buf, len);
	r = vram_state_load(vram, size, n, VRAM_STATE_VERSION, &in, err, 160);
	if (r == 0 && state_in_finish(&in) < 0)
		r = -EBADMSG;
	return r;
}

static void test_round_trip(void **state)
{
	uint8_t *a = calloc(1, VRAM), *b = calloc(1, VRAM), *c = calloc(1, VRAM);
	struct state_out out;
	char err[160] = "";
	unsigned n, i;

	(void)state;
	assert_int_equal(vram_state_sections(VRAM), 3);
	for (i = 0; i < VRAM; i += 7 * PAGE + 123)
		a[i] = (uint8_t)(i >> 8) | 1;
	memset(a + VRAM - PAGE, 0x5a, PAGE); /* the last page of the half chunk */
	for (n = 0; n < vram_state_sections(VRAM); n++) {
		state_out_init(&out);
		assert_int_equal(vram_state_save(a, VRAM, n, &out), 0);
		/* Sparse: about one page in seven is written. */
		assert_true(out.len < VRAM_STATE_CHUNK / 5);
		assert_int_equal(load(b, VRAM, n, &out, out.len, err), 0);
		/* Refused: every truncation, and the untouched VRAM stays zero. */
		for (size_t len = 0; len < out.len; len += len < 64 ? 1 : 4093)
			assert_int_equal(load(c, VRAM, n, &out, len, err), -EBADMSG);
		/* As another chunk: its offset is not that one's (or beyond the VRAM). */
		assert_int_equal(load(c, VRAM, n + 1, &out, out.len, err), -EBADMSG);
		assert_true(strstr(err, "offset") || strstr(err, "beyond"));
		state_out_fini(&out);
	}
	assert_memory_equal(a, b, VRAM);
	for (i = 0; i < VRAM; i++)
		if (c[i])
			fail_msg("byte %u of a VRAM whose loads were refused changed", i);
	free(a);
	free(b);
	free(c);
}

static void test_refused(void **state)
{
	uint8_t *a = calloc(1, VRAM), *b = calloc(1, VRAM);
	struct state_out out;
	char err[160] = "";

	(void)state;
	a[5 * PAGE] = 1;
	a[9 * PAGE] = 2;
	state_out_init(&out);
	assert_int_equal(vram_state_save(a, VRAM, 0, &out), 0);
	assert_int_equal(out.len, 12 + 2 * (4 + PAGE));
	/* The second page's index before the first's. */
	out.buf[12 + 4 + PAGE] = 4;
	assert_int_equal(load(b, VRAM, 0, &out, out.len, err), -EBADMSG);
	assert_non_null(strstr(err, "out of order"));
	out.buf[12 + 4 + PAGE] = 0xff; /* beyond the chunk */
	out.buf[12 + 4 + PAGE + 1] = 0xff;
	assert_int_equal(load(b, VRAM, 0, &out, out.len, err), -EBADMSG);
	out.buf[12 + 4 + PAGE] = 9;
	out.buf[12 + 4 + PAGE + 1] = 0;
	out.buf[9] = 0x10; /* 4098 pages: more than the chunk has */
	assert_int_equal(load(b, VRAM, 0, &out, out.len, err), -EBADMSG);
	assert_non_null(strstr(err, "pages"));
	out.buf[9] = 0;
	/* A VRAM smaller than the chunk's place: another configuration. */
	assert_int_equal(load(b, VRAM_STATE_CHUNK, 1, &out, out.len, err), -EBADMSG);
	for (unsigned i = 0; i < VRAM; i++)
		assert_int_equal(b[i], 0);
	assert_int_equal(load(b, VRAM, 0, &out, out.len, err), 0);
	assert_int_equal(b[9 * PAGE], 2);
	state_out_fini(&out);
	free(a);
	free(b);
}

/* A finished state file on a memfd with the memory's chunks (and extra sections); its reader. */
static struct state_reader *file_with(const char *prefix, const uint8_t *mem, uint64_t size,
				      const char *extra, const char *skip)
{
	static const uint8_t digest[STATE_CONFIG_DIGEST_BYTES];
	struct state_writer *w;
	struct state_reader *r;
	char err[160] = "";
	int fd = memfd_create("vram-state", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(state_writer_new(fd, digest, 1 << 20, &w), 0);
	assert_int_equal(vram_state_write(w, prefix, mem, size, err, sizeof(err)), 0);
	if (extra)
		assert_int_equal(state_writer_section(w, extra, 1, "x", 1), 0);
	assert_int_equal(state_writer_finish(w), 0);
	state_writer_free(w);
	if (skip) { /* the section renamed: the file lacks it */
		off_t len = lseek(fd, 0, SEEK_END);
		uint8_t *p = malloc((size_t)len);
		size_t n = strlen(skip);

		assert_int_equal(pread(fd, p, (size_t)len, 0), len);
		for (off_t i = len - 48; i >= 0; i--)
			if (!memcmp(p + i, skip, n + 1)) {
				p[i] = 'X';
				break;
			}
		assert_int_equal(pwrite(fd, p, (size_t)len, 0), len);
		free(p);
	}
	assert_int_equal(state_reader_new(fd, &r, err, sizeof(err)), 0);
	return r;
}

static void test_file(void **state)
{
	uint8_t *a = calloc(1, VRAM), *b = malloc(VRAM);
	struct state_reader *r;
	char err[160] = "";

	(void)state;
	a[3] = 1;
	a[VRAM - 1] = 2;
	memset(a + 6 * VRAM_STATE_CHUNK / 4, 0x77, PAGE);
	/* Whole: over other contents (the image a restored BIOS copy starts with). */
	memset(b, 0xEE, VRAM);
	r = file_with("bios.rom.", a, VRAM, NULL, NULL);
	assert_int_equal(vram_state_read(r, "bios.rom.", b, VRAM, true, err, sizeof(err)), 0);
	assert_memory_equal(a, b, VRAM);
	/* Another prefix: nothing of it in the file, a zero memory stays zero. */
	memset(b, 0, VRAM);
	assert_int_equal(vram_state_read(r, "vga.lfb.", b, VRAM, false, err, sizeof(err)), 0);
	assert_int_equal(b[3], 0);
	/* ... but whole, it is refused naming the missing chunk. */
	assert_int_equal(vram_state_read(r, "vga.lfb.", b, VRAM, true, err, sizeof(err)), -ESTALE);
	assert_non_null(strstr(err, "vga.lfb.0"));
	/* A memory smaller than the saved one: a chunk beyond it. */
	assert_int_equal(
		vram_state_read(r, "bios.rom.", b, 2 * VRAM_STATE_CHUNK, true, err, sizeof(err)),
		-ESTALE);
	assert_non_null(strstr(err, "bios.rom.2"));
	state_reader_free(r);
	/* A chunk missing from the file (renamed): whole refuses it, not whole leaves it zero. */
	r = file_with("bios.rom.", a, VRAM, NULL, "bios.rom.1");
	memset(b, 0, VRAM);
	assert_int_equal(vram_state_read(r, "bios.rom.", b, VRAM, true, err, sizeof(err)), -ESTALE);
	assert_non_null(strstr(err, "bios.rom.1"));
	assert_int_equal(vram_state_read(r, "bios.rom.", b, VRAM, false, err, sizeof(err)), 0);
	assert_int_equal(b[3], 1);
	assert_int_equal(b[6 * VRAM_STATE_CHUNK / 4], 0); /* chunk 1's page */
	assert_int_equal(b[VRAM - 1], 2);
	state_reader_free(r);
	free(a);
	free(b);
}

static int load_firmware(const struct firmware_state *ours, const struct state_out *out, size_t len,
			 char *err)
{
	struct state_in in;
	int r;

	state_in_init(&in, out->buf, len);
	r = firmware_state_load(ours, FIRMWARE_STATE_VERSION, &in, err, 160);
	if (r == 0 && state_in_finish(&in) < 0)
		r = -EBADMSG;
	return r;
}

static void test_firmware_state(void **state)
{
	const struct firmware_state ours = {
		.rom_size = 256 << 10, .acpi_area = 0x7FE0000, .vga = true};
	struct firmware_state other;
	struct state_out out;
	char err[160] = "";

	(void)state;
	state_out_init(&out);
	assert_int_equal(firmware_state_save(&ours, &out), 0);
	assert_int_equal(out.len, 17);
	assert_int_equal(load_firmware(&ours, &out, out.len, err), 0);
	for (size_t len = 0; len < out.len; len++)
		assert_int_equal(load_firmware(&ours, &out, len, err), -EBADMSG);
	other = ours;
	other.rom_size = 128 << 10;
	assert_int_equal(load_firmware(&other, &out, out.len, err), -ESTALE);
	assert_non_null(strstr(err, "image"));
	other = ours;
	other.acpi_area = 0xFFE0000;
	assert_int_equal(load_firmware(&other, &out, out.len, err), -ESTALE);
	assert_non_null(strstr(err, "ACPI"));
	other = ours;
	other.vga = false;
	assert_int_equal(load_firmware(&other, &out, out.len, err), -ESTALE);
	assert_non_null(strstr(err, "VGA"));
	out.buf[16] = 2; /* the VGA flag */
	assert_int_equal(load_firmware(&ours, &out, out.len, err), -EBADMSG);
	assert_non_null(strstr(err, "flag"));
	{
		struct state_in in;

		state_in_init(&in, out.buf, out.len);
		assert_int_equal(firmware_state_load(&ours, 2, &in, err, 160), -EBADMSG);
	}
	state_out_fini(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_firmware_state),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

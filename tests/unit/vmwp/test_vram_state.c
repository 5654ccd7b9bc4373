/*
 * Unit tests of the VRAM's saved-state sections (src/vmwp/vram_state.c): a
 * VRAM with pictures in some pages goes across chunk by chunk, zero pages
 * not written; every truncation, a page out of order or beyond the chunk,
 * a chunk offset that is not its number's and a VRAM too small are refused,
 * the VRAM left as it was.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "state/state.h"
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Drives the kernel_image fuzz target (tests/fuzz/boot/fuzz_kernel_image.c)
 * with deterministic mutations of valid hand-made ELF and bzImage files:
 * byte flips in the headers, 16/32/64-bit extreme values at header field
 * offsets, and truncations. A plain test, so the ASan+UBSan build runs it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fake_kernel.h"

#define ITERATIONS 4000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

static void mutate_and_run(const uint8_t *seed, size_t size, size_t header_len)
{
	static const uint64_t extremes[] = {0,
					    1,
					    0x7F,
					    0x80,
					    0xFF,
					    0x100000,
					    0xFFFFFFFF,
					    0x100000000ull,
					    0x7FFFFFFFFFFFFFFFull,
					    UINT64_MAX};
	uint8_t *buf = malloc(size);
	unsigned i, j;

	assert_non_null(buf);
	for (i = 0; i < ITERATIONS; i++) {
		size_t len = size;

		memcpy(buf, seed, size);
		for (j = 0; j < 1 + rng() % 4; j++) {
			size_t off = rng() % header_len;

			switch (rng() % 4) {
			case 0: buf[off] ^= (uint8_t)(1u << (rng() % 8)); break;
			case 1: buf[off] = (uint8_t)rng(); break;
			default:
				/* An extreme value in a field-sized slot, aligned as headers are.
				 */
				off &= ~(size_t)7;
				if (off + 8 <= size)
					fake_put(buf + off + (rng() % 2) * 4, extremes[rng() % 10],
						 1u << (rng() % 3 + 1));
				break;
			}
		}
		if (rng() % 8 == 0)
			len = rng() % (size + 1);
		LLVMFuzzerTestOneInput(buf, len);
	}
	free(buf);
}

static void test_elf_mutations(void **state)
{
	static const struct fake_segment segs[] = {
		{.paddr = 16 << 20, .filesz = 0x800, .memsz = 0x1000},
		{.paddr = 18 << 20, .filesz = 0x400, .memsz = 0x200000},
	};
	size_t size;
	uint8_t *f = fake_elf_new(16 << 20, segs, 2, &size);

	LLVMFuzzerTestOneInput(f, size);
	mutate_and_run(f, size, FAKE_ELF_PHDR(2));
	free(f);
}

static void test_bzimage_mutations(void **state)
{
	struct fake_bz bz = fake_bz_default();
	size_t size;
	uint8_t *f;

	bz.payload_size = 0x2000;
	bz.init_size = 0x400000;
	f = fake_bzimage_new(&bz, &size);
	LLVMFuzzerTestOneInput(f, size);
	mutate_and_run(f, size, 0x280);
	free(f);
}

static void test_edge_inputs(void **state)
{
	static const uint8_t elf_magic[] = {0x7F, 'E', 'L', 'F'};
	uint8_t *zeros = calloc(1, 0x4000);

	LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
	LLVMFuzzerTestOneInput(elf_magic, sizeof(elf_magic));
	LLVMFuzzerTestOneInput(zeros, 0x4000);
	free(zeros);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elf_mutations),
		cmocka_unit_test(test_bzimage_mutations),
		cmocka_unit_test(test_edge_inputs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of kernel_image_parse(): hand-made ELF and bzImage files, good and broken. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "boot/kernel_image.h"
#include "fake_kernel.h"

#define MB (UINT64_C(1) << 20)

static const struct fake_segment two_segs[] = {
	{.paddr = 16 * MB, .filesz = 0x3000, .memsz = 0x3000},
	{.paddr = 20 * MB, .filesz = 0x1000, .memsz = 0x5000},
};

/* Parses and expects failure r with msg containing want. */
static void expect_fail(const uint8_t *f, size_t size, int r, const char *want)
{
	struct boot_error err = {{0}};
	struct kernel_image k;

	assert_int_equal(kernel_image_parse(f, size, &k, &err), r);
	if (!strstr(err.msg, want))
		fail_msg("error \"%s\" does not contain \"%s\"", err.msg, want);
}

static void test_elf_valid(void **state)
{
	/* Program headers deliberately out of address order. */
	struct fake_segment segs[] = {two_segs[1], two_segs[0]};
	struct boot_error err = {{0}};
	struct kernel_image k;
	size_t size;
	uint8_t *f = fake_elf_new(16 * MB + 0x40, segs, 2, &size);

	assert_int_equal(kernel_image_parse(f, size, &k, &err), 0);
	assert_int_equal(k.format, KERNEL_IMAGE_ELF);
	assert_int_equal(k.entry, 16 * MB + 0x40);
	assert_int_equal(k.nsegments, 2);
	assert_int_equal(k.segments[0].gpa, 16 * MB);
	assert_int_equal(k.segments[0].phdr_index, 1);
	assert_int_equal(k.segments[1].gpa, 20 * MB);
	assert_int_equal(k.segments[1].mem_size, 0x5000);
	assert_int_equal(k.initrd_addr_max, 0x37FFFFFF);
	assert_int_equal(k.cmdline_max, 2047);
	assert_ptr_equal(k.data, f);
	assert_string_equal(kernel_image_format_name(k.format), "ELF vmlinux");
	free(f);
}

static void test_elf_header_errors(void **state)
{
	size_t size;
	uint8_t *f = fake_elf_new(16 * MB, two_segs, 2, &size);

	expect_fail(f, 40, -EINVAL, "truncated: ELF header needs 64 bytes, file has 40");
	f[4] = 1;
	expect_fail(f, size, -ENOEXEC, "ELF class 1 is not ELF64");
	f[4] = 2;
	f[5] = 2;
	expect_fail(f, size, -ENOEXEC, "not little-endian");
	f[5] = 1;
	fake_put(f + 18, 3, 2);
	expect_fail(f, size, -ENOEXEC, "ELF machine 3 is not x86-64");
	fake_put(f + 18, 62, 2);
	fake_put(f + 16, 3, 2);
	expect_fail(f, size, -ENOEXEC, "ELF type 3 is not an executable");
	fake_put(f + 16, 2, 2);
	fake_put(f + 54, 32, 2);
	expect_fail(f, size, -EINVAL, "program header size 32");
	fake_put(f + 54, 56, 2);
	fake_put(f + 56, 0, 2);
	expect_fail(f, size, -EINVAL, "no program headers");
	fake_put(f + 56, 65535, 2);
	expect_fail(f, size, -EINVAL, "65535 ELF program headers, at most 64");
	fake_put(f + 56, 2, 2);
	fake_put(f + 32, size - 100, 8);
	expect_fail(f, size, -EINVAL, "truncated: program headers");
	fake_put(f + 32, UINT64_MAX - 8, 8);
	expect_fail(f, size, -EINVAL, "truncated: program headers");
	free(f);
}

static void test_elf_segment_errors(void **state)
{
	size_t size;
	uint8_t *f = fake_elf_new(16 * MB, two_segs, 2, &size);
	uint8_t *ph1 = f + FAKE_ELF_PHDR(1);
	char want[128];

	/* Segment 1's bytes run past the end of the file. */
	fake_put(ph1 + 32, 0x2000, 8);
	fake_put(ph1 + 40, 0x5000, 8);
	snprintf(want, sizeof(want), "truncated: segment 1 ends at %#zx beyond file size %#zx",
		 size + 0x1000, size);
	expect_fail(f, size, -EINVAL, want);
	fake_put(ph1 + 8, UINT64_MAX - 0x10, 8);
	expect_fail(f, size, -EINVAL,
		    "segment 1: offset 0xffffffffffffffef + size 0x2000 overflows");
	fake_put(ph1 + 8, 0x3000, 8);
	fake_put(ph1 + 32, 0x1000, 8);

	fake_put(ph1 + 32, 0x6000, 8);
	expect_fail(f, size, -EINVAL, "segment 1: file size 0x6000 larger than memory size 0x5000");
	fake_put(ph1 + 32, 0x1000, 8);

	fake_put(ph1 + 24, 0x80000, 8);
	expect_fail(f, size, -EINVAL, "segment 1 at 0x80000 is below 1 MiB");
	fake_put(ph1 + 24, 0xFFFFE000, 8);
	expect_fail(f, size, -EINVAL, "reaches beyond 4 GiB");
	fake_put(ph1 + 24, UINT64_MAX - 0x1000, 8);
	expect_fail(f, size, -EINVAL, "reaches beyond 4 GiB");
	fake_put(ph1 + 24, 16 * MB + 0x2000, 8);
	expect_fail(f, size, -EINVAL, "segments 0 and 1 overlap at 0x1002000");
	fake_put(ph1 + 24, 20 * MB, 8);

	/* Entry in zero-filled memory or outside every segment. */
	fake_put(f + 24, 20 * MB + 0x2000, 8);
	expect_fail(f, size, -EINVAL, "entry point 0x1402000 is outside the loaded segments");
	fake_put(f + 24, 16 * MB, 8);

	/* No PT_LOAD at all. */
	fake_put(f + FAKE_ELF_PHDR(0), 4, 4);
	fake_put(ph1, 4, 4);
	expect_fail(f, size, -EINVAL, "no loadable segments");
	free(f);
}

static void test_elf_too_many_segments(void **state)
{
	struct fake_segment segs[17];
	size_t size;
	uint8_t *f;
	unsigned i;

	for (i = 0; i < 17; i++)
		segs[i] = (struct fake_segment){
			.paddr = 16 * MB + i * 0x1000, .filesz = 0x10, .memsz = 0x10};
	f = fake_elf_new(16 * MB, segs, 17, &size);
	expect_fail(f, size, -EINVAL, "more than 16 loadable segments");
	free(f);
}

static void test_bzimage_valid(void **state)
{
	struct fake_bz bz = fake_bz_default();
	struct boot_error err = {{0}};
	struct kernel_image k;
	size_t size;
	uint8_t *f = fake_bzimage_new(&bz, &size);

	assert_int_equal(kernel_image_parse(f, size, &k, &err), 0);
	assert_int_equal(k.format, KERNEL_IMAGE_BZIMAGE);
	assert_int_equal(k.protocol, 0x020F);
	assert_int_equal(k.payload_offset, 5 * 512); /* setup_sects 0 means 4 */
	assert_int_equal(k.payload_size, 0x3000);
	assert_int_equal(k.entry, 0x200);
	assert_int_equal(k.setup_header_len, 0x26C - 0x1F1);
	assert_int_equal(k.pref_address, 16 * MB);
	assert_int_equal(k.kernel_alignment, 2 * MB);
	assert_int_equal(k.init_size, 8 * MB);
	assert_int_equal(k.initrd_addr_max, 0x7FFFFFFF);
	assert_int_equal(k.cmdline_max, 2047);
	assert_true(k.relocatable);
	free(f);

	bz.setup_sects = 30;
	f = fake_bzimage_new(&bz, &size);
	assert_int_equal(kernel_image_parse(f, size, &k, &err), 0);
	assert_int_equal(k.payload_offset, 31 * 512);
	free(f);
}

static void test_bzimage_errors(void **state)
{
	struct fake_bz bz = fake_bz_default();
	size_t size;
	uint8_t *f;

	bz.version = 0x020A;
	f = fake_bzimage_new(&bz, &size);
	expect_fail(f, size, -ENOEXEC, "bzImage boot protocol 2.10 too old, need 2.12+");
	free(f);
	bz = fake_bz_default();
	bz.xloadflags = 0;
	f = fake_bzimage_new(&bz, &size);
	expect_fail(f, size, -ENOEXEC, "no 64-bit entry point");
	free(f);
	bz = fake_bz_default();
	bz.loadflags = 0;
	f = fake_bzimage_new(&bz, &size);
	expect_fail(f, size, -ENOEXEC, "zImage");
	free(f);
	bz = fake_bz_default();
	bz.kernel_alignment = 0x300000;
	f = fake_bzimage_new(&bz, &size);
	expect_fail(f, size, -EINVAL, "kernel_alignment 0x300000 is not a power of two");
	free(f);
	bz = fake_bz_default();
	bz.pref_address = UINT64_C(0x100000000);
	f = fake_bzimage_new(&bz, &size);
	expect_fail(f, size, -EINVAL, "preferred load address 0x100000000 is beyond 4 GiB");
	free(f);
	bz = fake_bz_default();
	bz.relocatable = 0;
	bz.pref_address = 0x10000;
	f = fake_bzimage_new(&bz, &size);
	expect_fail(f, size, -EINVAL, "non-relocatable kernel wants to run at 0x10000");
	free(f);
}

static void test_bzimage_truncated(void **state)
{
	struct fake_bz bz = fake_bz_default();
	size_t size;
	uint8_t *f = fake_bzimage_new(&bz, &size);

	/* Cut inside the header: it says it ends at 0x26C. */
	expect_fail(f, 0x230, -EINVAL,
		    "truncated: setup header ends at 0x26c beyond file size 0x230");
	/* Cut before the protected-mode kernel. */
	expect_fail(f, 0x900, -EINVAL, "truncated: protected-mode kernel at 0xa00");
	/* Cut inside it: syssize says 0x3000 bytes. */
	expect_fail(f, size - 0x100, -EINVAL,
		    "truncated: header says the protected-mode kernel is 0x3000 bytes, file holds "
		    "0x2f00");
	/* A header claiming to run past the room in boot_params. */
	f[0x201] = 0xA0;
	expect_fail(f, size, -EINVAL, "setup header ends at 0x2a2, past 0x290");
	f[0x201] = 0x10;
	expect_fail(f, size, -EINVAL, "protocol 2.12 needs");
	free(f);
}

static void test_not_a_kernel(void **state)
{
	uint8_t junk[4096];
	size_t i;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 13 + 7);
	expect_fail(junk, sizeof(junk), -ENOEXEC,
		    "neither an ELF vmlinux nor a bzImage (bad magic)");
	expect_fail(junk, 100, -ENOEXEC,
		    "neither an ELF vmlinux nor a bzImage (100 bytes is too short)");
	expect_fail(NULL, 0, -ENOEXEC, "(0 bytes is too short)");
	junk[0x1FE] = 0x55;
	junk[0x1FF] = 0xAA;
	expect_fail(junk, sizeof(junk), -ENOEXEC, "boot sector without a Linux setup header");
	expect_fail((const uint8_t *)"\x7f"
				     "ELF",
		    4, -EINVAL, "truncated: ELF header");
}

/* Real kernels, if this machine has any (fake_kernel.h: real_kernels()). */
static void test_real_kernel(void **state)
{
	struct boot_error err = {{0}};
	struct kernel_image k;
	size_t i, size;
	glob_t g;

	if (real_kernels(&g) == 0) {
		globfree(&g);
		print_message("# no real kernel (/boot/vmlinuz-*, PARVIS_TEST_KERNEL): skipped\n");
		skip();
	}
	for (i = 0; i < g.gl_pathc; i++) {
		uint8_t *buf = read_file(g.gl_pathv[i], &size);

		if (!buf) {
			print_message("# %s not readable: skipped\n", g.gl_pathv[i]);
			continue;
		}
		if (kernel_image_parse(buf, size, &k, &err) < 0)
			fail_msg("%s: %s", g.gl_pathv[i], err.msg);
		print_message("# %s: %s\n", g.gl_pathv[i], kernel_image_format_name(k.format));
		if (k.format == KERNEL_IMAGE_BZIMAGE) {
			assert_true(k.protocol >= 0x020C);
			assert_true(k.init_size >= k.payload_size);
			assert_true(k.cmdline_max >= 255);
		}
		free(buf);
	}
	globfree(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elf_valid),
		cmocka_unit_test(test_elf_header_errors),
		cmocka_unit_test(test_elf_segment_errors),
		cmocka_unit_test(test_elf_too_many_segments),
		cmocka_unit_test(test_bzimage_valid),
		cmocka_unit_test(test_bzimage_errors),
		cmocka_unit_test(test_bzimage_truncated),
		cmocka_unit_test(test_not_a_kernel),
		cmocka_unit_test(test_real_kernel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

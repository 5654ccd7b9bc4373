/* Unit tests for the guest page-table walker over real guest memory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vid/x86_mmu.h"

#define P  1u
#define RW 2u
#define PS 0x80u

static void put64(struct guest_memory *mem, uint64_t gpa, uint64_t v)
{
	assert_int_equal(guest_memory_write(mem, gpa, &v, 8), 0);
}

static void put32(struct guest_memory *mem, uint64_t gpa, uint32_t v)
{
	assert_int_equal(guest_memory_write(mem, gpa, &v, 4), 0);
}

static void test_long_mode_4k_2m(void **state)
{
	struct guest_memory *mem;
	struct x86_paging pg = {.cr0 = 0x80000001, .cr3 = 0x10000, .cr4 = 0x20, .efer = 0x500};
	uint64_t gpa, lin = 0xffffffff81234567ull, v = 0x1122334455667788ull, out = 0;

	assert_int_equal(guest_memory_new(8 * MiB, &mem), 0);
	/* Kernel-style mapping: PML4[511] -> PDPT[510] -> PD[9] -> PT[0x34] -> 0x300000. */
	put64(mem, 0x10000 + 511 * 8, 0x11000 | P | RW);
	put64(mem, 0x11000 + 510 * 8, 0x12000 | P | RW);
	put64(mem, 0x12000 + 9 * 8, 0x13000 | P | RW);
	put64(mem, 0x13000 + 0x34 * 8, 0x300000 | P | RW);
	assert_int_equal(x86_mmu_translate(mem, &pg, lin, &gpa), 0);
	assert_int_equal(gpa, 0x300567);
	/* 2 MiB leaf at PD[0] of PML4[0]/PDPT[0]. */
	put64(mem, 0x10000, 0x14000 | P);
	put64(mem, 0x14000, 0x15000 | P);
	put64(mem, 0x15000 + 8, 0x400000 | P | PS);
	assert_int_equal(x86_mmu_translate(mem, &pg, 0x2ABCDE, &gpa), 0);
	assert_int_equal(gpa, 0x4ABCDE);
	/* Not present, and a table pointer outside RAM. */
	assert_int_equal(x86_mmu_translate(mem, &pg, 0x800000, &gpa), -EFAULT);
	put64(mem, 0x15000 + 16, 0x7FFF000000ull | P);
	assert_int_equal(x86_mmu_translate(mem, &pg, 0x400000, &gpa), -EFAULT);
	/* A read that crosses from a mapped page to an unmapped one fails whole. */
	assert_int_equal(guest_memory_write(mem, 0x300567, &v, 8), 0);
	assert_int_equal(x86_mmu_read(mem, &pg, lin, &out, 8), 0);
	assert_int_equal(out, v);
	assert_int_equal(x86_mmu_read(mem, &pg, 0x3FFFFC, &out, 8), -EFAULT);
	guest_memory_free(mem);
}

static void test_no_paging_and_32bit(void **state)
{
	struct guest_memory *mem;
	struct x86_paging pg = {.cr0 = 1};
	uint64_t gpa;

	assert_int_equal(guest_memory_new(8 * MiB, &mem), 0);
	assert_int_equal(x86_mmu_translate(mem, &pg, 0x123456, &gpa), 0);
	assert_int_equal(gpa, 0x123456);
	/* 32-bit paging: PDE[1] 4 MiB page with PSE; PDE[0] -> PT[5] -> 0x7000. */
	pg = (struct x86_paging){.cr0 = 0x80000001, .cr3 = 0x20000, .cr4 = 0x10};
	put32(mem, 0x20000 + 4, 0x400000 | P | PS);
	put32(mem, 0x20000, 0x21000 | P);
	put32(mem, 0x21000 + 5 * 4, 0x7000 | P);
	assert_int_equal(x86_mmu_translate(mem, &pg, 0x401234, &gpa), 0);
	assert_int_equal(gpa, 0x401234);
	assert_int_equal(x86_mmu_translate(mem, &pg, 0x5ABC, &gpa), 0);
	assert_int_equal(gpa, 0x7ABC);
	/* PAE: 4 PDPTEs at CR3, PD with a 2 MiB page. */
	pg = (struct x86_paging){.cr0 = 0x80000001, .cr3 = 0x30000, .cr4 = 0x20};
	put64(mem, 0x30000 + 3 * 8, 0x31000 | P);
	put64(mem, 0x31000 + 511 * 8, 0x600000 | P | PS);
	assert_int_equal(x86_mmu_translate(mem, &pg, 0xFFFFF123, &gpa), 0);
	assert_int_equal(gpa, 0x7FF123);
	guest_memory_free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_long_mode_4k_2m),
		cmocka_unit_test(test_no_paging_and_32bit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

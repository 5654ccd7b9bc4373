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
#define US 4u
#define XD (UINT64_C(1) << 63)

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

/*
 * The checks the worker makes before completing an instruction for the guest (pvm.c, issue
 * 12 item 8): the rights of every level, XD, SMEP, SMAP and CR0.WP, as the guest's CPU.
 */
static void test_access_rights(void **state)
{
	struct guest_memory *mem;
	struct x86_paging pg = {.cr0 = 0x80000001, .cr3 = 0x10000, .cr4 = 0x20, .efer = 0x500};
	const struct x86_access user_read = {.kind = X86_ACCESS_READ, .cpl = 3},
				kernel_read = {.kind = X86_ACCESS_READ, .cpl = 0},
				kernel_read_ac = {.kind = X86_ACCESS_READ, .cpl = 0, .ac = true},
				kernel_fetch = {.kind = X86_ACCESS_FETCH, .cpl = 0},
				user_fetch = {.kind = X86_ACCESS_FETCH, .cpl = 3},
				kernel_write = {.kind = X86_ACCESS_WRITE, .cpl = 0},
				user_write = {.kind = X86_ACCESS_WRITE, .cpl = 3};
	uint64_t gpa, out;

	assert_int_equal(guest_memory_new(8 * MiB, &mem), 0);
	/* 0x0000: user, read-only, XD; 0x1000: kernel only (U clear at the PT level). */
	put64(mem, 0x10000, 0x11000 | P | RW | US);
	put64(mem, 0x11000, 0x12000 | P | RW | US);
	put64(mem, 0x12000, 0x13000 | P | RW | US);
	put64(mem, 0x13000, 0x300000 | P | US | XD);
	put64(mem, 0x13000 + 8, 0x301000 | P | RW);
	/* The raw walk sees both; the checked one as the CPU would. */
	assert_int_equal(x86_mmu_translate(mem, &pg, 0x1000, &gpa), 0);
	assert_int_equal(x86_mmu_translate_access(mem, &pg, &user_read, 0x1000, &gpa), -EACCES);
	assert_int_equal(x86_mmu_read_access(mem, &pg, &user_read, 0x1000, &out, 8), -EACCES);
	assert_int_equal(x86_mmu_translate_access(mem, &pg, &kernel_read, 0x1000, &gpa), 0);
	assert_int_equal(gpa, 0x301000);
	assert_int_equal(x86_mmu_translate_access(mem, &pg, &user_read, 0x0, &gpa), 0);
	/* A read crossing from a user page into a kernel page fails whole. */
	assert_int_equal(x86_mmu_read_access(mem, &pg, &user_read, 0xFFC, &out, 8), -EACCES);
	/* XD only with EFER.NXE. */
	assert_int_equal(x86_mmu_translate_access(mem, &pg, &kernel_fetch, 0x0, &gpa), 0);
	pg.efer |= 0x800;
	assert_int_equal(x86_mmu_translate_access(mem, &pg, &kernel_fetch, 0x0, &gpa), -EACCES);
	assert_int_equal(x86_mmu_translate_access(mem, &pg, &user_fetch, 0x0, &gpa), -EACCES);
	assert_int_equal(x86_mmu_translate_access(mem, &pg, &user_fetch, 0x1000, &gpa), -EACCES);
	assert_int_equal(x86_mmu_translate_access(mem, &pg, &kernel_fetch, 0x1000, &gpa), 0);
	/* SMEP: no supervisor fetch from a user page; SMAP: no supervisor read unless AC. */
	put64(mem, 0x13000, 0x300000 | P | US);
	assert_int_equal(x86_mmu_translate_access(mem, &pg, &kernel_fetch, 0x0, &gpa), 0);
	pg.cr4 |= UINT64_C(1) << 20;
	assert_int_equal(x86_mmu_translate_access(mem, &pg, &kernel_fetch, 0x0, &gpa), -EACCES);
	assert_int_equal(x86_mmu_translate_access(mem, &pg, &kernel_read, 0x0, &gpa), 0);
	pg.cr4 |= UINT64_C(1) << 21;
	assert_int_equal(x86_mmu_translate_access(mem, &pg, &kernel_read, 0x0, &gpa), -EACCES);
	assert_int_equal(x86_mmu_translate_access(mem, &pg, &kernel_read_ac, 0x0, &gpa), 0);
	/* Writes: a read-only page for user mode always, for the kernel with CR0.WP. */
	pg.cr4 &= ~(UINT64_C(3) << 20);
	assert_int_equal(x86_mmu_translate_access(mem, &pg, &user_write, 0x0, &gpa), -EACCES);
	assert_int_equal(x86_mmu_translate_access(mem, &pg, &kernel_write, 0x0, &gpa), 0);
	pg.cr0 |= UINT64_C(1) << 16;
	assert_int_equal(x86_mmu_translate_access(mem, &pg, &kernel_write, 0x0, &gpa), -EACCES);
	assert_int_equal(x86_mmu_translate_access(mem, &pg, &kernel_write, 0x1000, &gpa), 0);
	/* Not mapped stays -EFAULT. */
	assert_int_equal(x86_mmu_translate_access(mem, &pg, &kernel_read, 0x5000, &gpa), -EFAULT);
	/* 32-bit paging: U/S of the PDE and the PTE. */
	pg = (struct x86_paging){.cr0 = 0x80000001, .cr3 = 0x20000};
	put32(mem, 0x20000, 0x21000 | P | RW);
	put32(mem, 0x21000, 0x302000 | P | RW | US);
	assert_int_equal(x86_mmu_translate_access(mem, &pg, &user_read, 0x0, &gpa), -EACCES);
	assert_int_equal(x86_mmu_translate_access(mem, &pg, &kernel_read, 0x0, &gpa), 0);
	assert_int_equal(gpa, 0x302000);
	guest_memory_free(mem);
}

static void test_cpl(void **state)
{
	assert_int_equal(x86_cpl(0, 3, 0), 0);		       /* real mode */
	assert_int_equal(x86_cpl(1, 0, UINT64_C(1) << 17), 3); /* virtual-8086 */
	assert_int_equal(x86_cpl(1, 0, 0), 0);
	assert_int_equal(x86_cpl(0x80000001, 3, 0x202), 3);
	assert_int_equal(x86_cpl(0x80000001, 1, 0x202), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_long_mode_4k_2m),
		cmocka_unit_test(test_no_paging_and_32bit),
		cmocka_unit_test(test_access_rights),
		cmocka_unit_test(test_cpl),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

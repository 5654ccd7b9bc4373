/* Unit tests of the e820 map: RAM below and above the MMIO hole, the reserved BIOS hole, limits. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "boot/e820.h"
#include "vid/pc_layout.h"

static void expect_entry(const struct boot_e820_entry *e, uint64_t addr, uint64_t end,
			 uint32_t type)
{
	assert_int_equal(e->addr, addr);
	assert_int_equal(e->addr + e->size, end);
	assert_int_equal(e->type, type);
}

static void test_below_hole(void **state)
{
	struct guest_memory_region r = {.gpa = 0, .size = 256 * MiB};
	struct boot_e820_entry e[8];

	assert_int_equal(e820_build(&r, 1, e, 8), 3);
	expect_entry(&e[0], 0, PC_EBDA_START, E820_TYPE_RAM);
	expect_entry(&e[1], PC_EBDA_START, PC_BIOS_END, E820_TYPE_RESERVED);
	expect_entry(&e[2], PC_BIOS_END, 256 * MiB, E820_TYPE_RAM);
}

static void test_above_hole(void **state)
{
	struct guest_memory_region r[] = {
		{.gpa = 0, .size = PC_MMIO_HOLE_START},
		{.gpa = PC_MMIO_HOLE_END, .size = 2 * GiB},
	};
	struct boot_e820_entry e[8];

	assert_int_equal(e820_build(r, 2, e, 8), 4);
	expect_entry(&e[0], 0, PC_EBDA_START, E820_TYPE_RAM);
	expect_entry(&e[1], PC_EBDA_START, PC_BIOS_END, E820_TYPE_RESERVED);
	expect_entry(&e[2], PC_BIOS_END, PC_MMIO_HOLE_START, E820_TYPE_RAM);
	expect_entry(&e[3], PC_MMIO_HOLE_END, PC_MMIO_HOLE_END + 2 * GiB, E820_TYPE_RAM);
}

/* Through guest_memory itself: 5 GiB is split around the hole (sparse memfd, costs nothing). */
static void test_guest_memory(void **state)
{
	struct guest_memory *mem;
	struct boot_e820_entry e[8];
	uint64_t ram = 0;
	int i, n;

	assert_int_equal(guest_memory_new(5 * GiB, &mem), 0);
	n = e820_build_for(mem, e, 8);
	assert_int_equal(n, 4);
	for (i = 0; i < n; i++) {
		if (i > 0)
			assert_true(e[i].addr >= e[i - 1].addr + e[i - 1].size);
		if (e[i].type == E820_TYPE_RAM)
			ram += e[i].size;
	}
	/* Everything but the reserved legacy hole is reported as RAM. */
	assert_int_equal(ram, 5 * GiB - (PC_BIOS_END - PC_EBDA_START));
	expect_entry(&e[3], PC_MMIO_HOLE_END, PC_MMIO_HOLE_END + 2 * GiB, E820_TYPE_RAM);
	guest_memory_free(mem);
}

static void test_tiny_and_full(void **state)
{
	struct guest_memory_region tiny = {.gpa = 0, .size = 512 * KiB};
	struct guest_memory_region r = {.gpa = 0, .size = 256 * MiB};
	struct boot_e820_entry e[8];

	/* RAM that ends inside the legacy area: no entry above 1 MiB. */
	assert_int_equal(e820_build(&tiny, 1, e, 8), 2);
	expect_entry(&e[0], 0, 512 * KiB, E820_TYPE_RAM);
	expect_entry(&e[1], PC_EBDA_START, PC_BIOS_END, E820_TYPE_RESERVED);
	assert_int_equal(e820_build(&r, 1, e, 2), -ENOSPC);
	assert_int_equal(e820_build(&r, 1, e, 0), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_below_hole),
		cmocka_unit_test(test_above_hole),
		cmocka_unit_test(test_guest_memory),
		cmocka_unit_test(test_tiny_and_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for guest memory: layout around the MMIO hole and the checked door. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "vid/guest_memory.h"
#include "vid/pc_layout.h"

static void test_small_is_one_region(void **state)
{
	struct guest_memory *mem;

	assert_int_equal(guest_memory_new(64 * MiB, &mem), 0);
	assert_int_equal(guest_memory_region_count(mem), 1);
	assert_int_equal(guest_memory_end(mem), 64 * MiB);
	assert_true(guest_memory_is_ram(mem, 0, 64 * MiB));
	assert_false(guest_memory_is_ram(mem, 64 * MiB - 1, 2));
	assert_false(guest_memory_is_ram(mem, 0, 0));
	guest_memory_free(mem);
}

static void test_large_splits_around_hole(void **state)
{
	struct guest_memory *mem;
	const struct guest_memory_region *r;

	assert_int_equal(guest_memory_new(4 * GiB, &mem), 0);
	assert_int_equal(guest_memory_region_count(mem), 2);
	r = guest_memory_region(mem, 1);
	assert_int_equal(r->gpa, PC_MMIO_HOLE_END);
	assert_int_equal(r->size, 4 * GiB - PC_MMIO_HOLE_START);
	assert_int_equal(guest_memory_end(mem), PC_MMIO_HOLE_END + r->size);
	assert_false(guest_memory_is_ram(mem, PC_MMIO_HOLE_START, 1));
	assert_false(
		guest_memory_is_ram(mem, PC_MMIO_HOLE_START - 8, 16)); /* crosses into the hole */
	assert_true(guest_memory_is_ram(mem, PC_MMIO_HOLE_END, 4096));
	assert_null(guest_memory_region(mem, 2));
	guest_memory_free(mem);
}

static void test_read_write_bounds(void **state)
{
	struct guest_memory *mem;
	uint8_t buf[16] = {1, 2, 3, 4}, out[16];

	assert_int_equal(guest_memory_new(1 * MiB, &mem), 0);
	assert_int_equal(guest_memory_write(mem, 0x1000, buf, sizeof(buf)), 0);
	assert_int_equal(guest_memory_read(mem, 0x1000, out, sizeof(out)), 0);
	assert_memory_equal(buf, out, sizeof(buf));
	assert_int_equal(guest_memory_write(mem, MiB - 8, buf, 16), -EFAULT);
	assert_int_equal(guest_memory_read(mem, UINT64_MAX - 4, out, 16), -EFAULT);
	assert_int_equal(guest_memory_read(mem, 0x1000, out, 0), 0);
	assert_null(guest_memory_ptr(mem, UINT64_MAX, 2));
	assert_non_null(guest_memory_ptr(mem, MiB - 1, 1));
	assert_int_equal(guest_memory_fill(mem, 0, 0xAB, 32), 0);
	assert_int_equal(guest_memory_read(mem, 0, out, 1), 0);
	assert_int_equal(out[0], 0xAB);
	guest_memory_free(mem);
}

static void test_bad_sizes(void **state)
{
	struct guest_memory *mem;

	assert_int_equal(guest_memory_new(0, &mem), -EINVAL);
	assert_int_equal(guest_memory_new(4097, &mem), -EINVAL);
	assert_int_equal(guest_memory_new(UINT64_MAX & ~UINT64_C(4095), &mem), -E2BIG);
	assert_null(guest_memory_free(NULL));
}

static void test_resident_counts_touched(void **state)
{
	struct guest_memory *mem;
	uint64_t before;

	assert_int_equal(guest_memory_new(16 * MiB, &mem), 0);
	before = guest_memory_resident_bytes(mem);
	assert_int_equal(guest_memory_fill(mem, 0, 1, 1 * MiB), 0);
	assert_true(guest_memory_resident_bytes(mem) >= before + 1 * MiB);
	guest_memory_free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_is_one_region),
		cmocka_unit_test(test_large_splits_around_hole),
		cmocka_unit_test(test_read_write_bounds),
		cmocka_unit_test(test_bad_sizes),
		cmocka_unit_test(test_resident_counts_touched),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

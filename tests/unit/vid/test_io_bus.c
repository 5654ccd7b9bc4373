/* Unit tests for the I/O bus: registration, overlap, dispatch, unclaimed accesses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vid/io_bus.h"

struct dev {
	uint64_t last_offset, last_value;
	unsigned last_size, writes;
};

static uint64_t dev_read(void *opaque, uint64_t offset, unsigned size)
{
	return 0x1122334455667788ull + offset;
}

static void dev_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct dev *d = opaque;

	d->last_offset = offset;
	d->last_value = value;
	d->last_size = size;
	d->writes++;
}

static const struct io_ops dev_ops = {.read = dev_read, .write = dev_write};

static void test_dispatch_and_offsets(void **state)
{
	struct io_bus *bus;
	struct dev a = {0}, b = {0};
	uint64_t v;

	assert_int_equal(io_bus_new("t", &bus), 0);
	assert_int_equal(io_bus_register(bus, 0x3F8, 8, &dev_ops, &a, "com1"), 0);
	assert_int_equal(io_bus_register(bus, 0x2F8, 8, &dev_ops, &b, "com2"), 0);
	assert_true(io_bus_write(bus, 0x3FB, 1, 0x80));
	assert_int_equal(a.last_offset, 3);
	assert_int_equal(a.last_value, 0x80);
	assert_int_equal(b.writes, 0);
	assert_true(io_bus_read(bus, 0x2F9, 2, &v));
	assert_int_equal(v, 0x7789); /* truncated to the access size */
	assert_string_equal(io_bus_lookup_name(bus, 0x3FF), "com1");
	assert_null(io_bus_lookup_name(bus, 0x400));
	io_bus_free(bus);
}

/* Accesses are counted per range (reads and writes, unclaimed ones nowhere), in address order. */
static void test_access_counts(void **state)
{
	struct io_bus *bus;
	struct io_bus_count c[4];
	struct dev a = {0}, b = {0};
	uint64_t v;

	assert_int_equal(io_bus_new("t", &bus), 0);
	assert_int_equal(io_bus_register(bus, 0x3F8, 8, &dev_ops, &a, "com1"), 0);
	assert_int_equal(io_bus_register(bus, 0x2F8, 8, &dev_ops, &b, "com2"), 0);
	assert_true(io_bus_write(bus, 0x3F8, 1, 1));
	assert_true(io_bus_read(bus, 0x3FD, 1, &v));
	assert_true(io_bus_read(bus, 0x3FD, 1, &v));
	assert_true(io_bus_write(bus, 0x2F8, 1, 1));
	assert_false(io_bus_write(bus, 0x500, 1, 1));
	assert_int_equal(io_bus_counts(bus, c, 4), 2);
	assert_string_equal(c[0].name, "com2");
	assert_int_equal(c[0].base, 0x2F8);
	assert_int_equal(c[0].accesses, 1);
	assert_string_equal(c[1].name, "com1");
	assert_int_equal(c[1].accesses, 3);
	assert_int_equal(io_bus_counts(bus, c, 1), 1); /* at most max */
	io_bus_free(bus);
}

static void test_unclaimed_reads_all_ones(void **state)
{
	struct io_bus *bus;
	uint64_t v;

	assert_int_equal(io_bus_new("t", &bus), 0);
	assert_false(io_bus_read(bus, 0x1234, 1, &v));
	assert_int_equal(v, 0xFF);
	assert_false(io_bus_read(bus, 0x1234, 4, &v));
	assert_int_equal(v, 0xFFFFFFFF);
	assert_false(io_bus_read(bus, 0xFEBF0000, 8, &v));
	assert_int_equal(v, UINT64_MAX);
	assert_false(io_bus_write(bus, 0x1234, 1, 0));
	io_bus_free(bus);
}

static void test_overlaps_rejected(void **state)
{
	struct io_bus *bus;
	struct dev a = {0};

	assert_int_equal(io_bus_new("t", &bus), 0);
	assert_int_equal(io_bus_register(bus, 0x100, 0x10, &dev_ops, &a, "a"), 0);
	assert_int_equal(io_bus_register(bus, 0x10F, 1, &dev_ops, &a, "b"), -EEXIST);
	assert_int_equal(io_bus_register(bus, 0xF8, 0x10, &dev_ops, &a, "c"), -EEXIST);
	assert_int_equal(io_bus_register(bus, 0x80, 0x200, &dev_ops, &a, "d"), -EEXIST);
	assert_int_equal(io_bus_register(bus, 0x110, 1, &dev_ops, &a, "e"), 0);
	assert_int_equal(io_bus_register(bus, 0xFF, 1, &dev_ops, &a, "f"), 0);
	assert_int_equal(io_bus_register(bus, 0x0, 0, &dev_ops, &a, "empty"), -EINVAL);
	assert_int_equal(io_bus_register(bus, UINT64_MAX, 2, &dev_ops, &a, "wrap"), -EINVAL);
	assert_int_equal(io_bus_unregister(bus, 0x100), 0);
	assert_int_equal(io_bus_unregister(bus, 0x100), -ENOENT);
	assert_int_equal(io_bus_register(bus, 0x100, 0x10, &dev_ops, &a, "a2"), 0);
	io_bus_free(bus);
}

static void test_many_ranges_sorted(void **state)
{
	struct io_bus *bus;
	struct dev d = {0};
	uint64_t v;
	int i;

	assert_int_equal(io_bus_new("t", &bus), 0);
	/* Registered out of order and past the initial capacity. */
	for (i = 63; i >= 0; i--)
		assert_int_equal(io_bus_register(bus, (uint64_t)i * 0x100, 0x10, &dev_ops, &d, "x"),
				 0);
	for (i = 0; i < 64; i++) {
		assert_true(io_bus_read(bus, (uint64_t)i * 0x100 + 0xF, 1, &v));
		assert_false(io_bus_read(bus, (uint64_t)i * 0x100 + 0x10, 1, &v));
	}
	io_bus_free(bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispatch_and_offsets),
		cmocka_unit_test(test_access_counts),
		cmocka_unit_test(test_unclaimed_reads_all_ones),
		cmocka_unit_test(test_overlaps_rejected),
		cmocka_unit_test(test_many_ranges_sorted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

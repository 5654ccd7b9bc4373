/* Unit tests for size_parse(). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/size.h"

static void test_suffixes(void **state)
{
	uint64_t v;

	assert_int_equal(size_parse("4096", 0, &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(size_parse("512M", 0, &v), 0);
	assert_int_equal(v, 512 * MiB);
	assert_int_equal(size_parse("2G", 0, &v), 0);
	assert_int_equal(v, 2 * GiB);
	assert_int_equal(size_parse("1GiB", 0, &v), 0);
	assert_int_equal(v, GiB);
	assert_int_equal(size_parse("64k", 0, &v), 0);
	assert_int_equal(v, 64 * KiB);
	assert_int_equal(size_parse("256", MiB, &v), 0);
	assert_int_equal(v, 256 * MiB);
}

static void test_malformed(void **state)
{
	uint64_t v = 7;

	assert_int_equal(size_parse("", 0, &v), -EINVAL);
	assert_int_equal(size_parse("-1", 0, &v), -EINVAL);
	assert_int_equal(size_parse("12X", 0, &v), -EINVAL);
	assert_int_equal(size_parse("12MBB", 0, &v), -EINVAL);
	assert_int_equal(size_parse(" 12", 0, &v), -EINVAL);
	assert_int_equal(size_parse("99999999999999999999", 0, &v), -ERANGE);
	assert_int_equal(size_parse("99999999999T", 0, &v), -ERANGE);
	assert_int_equal(v, 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_suffixes),
		cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

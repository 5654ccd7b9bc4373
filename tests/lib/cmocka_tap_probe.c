/*
 * A cmocka program with one case that skips and one that passes: what
 * tests/lib/test_cmocka_tap.py runs through meson to show that a skip()
 * counts as a skip, never as a failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static void test_skips(void **state)
{
	skip();
}

static void test_passes(void **state)
{
	assert_int_equal(1 + 1, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_skips),
		cmocka_unit_test(test_passes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

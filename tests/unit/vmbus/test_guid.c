/* GUID text <-> Windows wire order (src/base/guid.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/guid.h"

static void test_roundtrip(void **state)
{
	static const struct guid shutdown = GUID_INIT(0x0e0b6031, 0x5213, 0x4934, 0x81, 0x8b, 0x38,
						      0xd9, 0x0c, 0xed, 0x39, 0xdb);
	static const uint8_t wire[16] = {0x31, 0x60, 0x0b, 0x0e, 0x13, 0x52, 0x34, 0x49,
					 0x81, 0x8b, 0x38, 0xd9, 0x0c, 0xed, 0x39, 0xdb};
	char text[GUID_STRING_LEN];
	struct guid g;

	assert_int_equal(guid_parse("0E0B6031-5213-4934-818B-38D90CED39DB", &g), 0);
	assert_memory_equal(g.bytes, wire, 16);
	assert_true(guid_equal(&g, &shutdown));
	assert_string_equal(guid_format(&g, text), "0e0b6031-5213-4934-818b-38d90ced39db");
	assert_false(guid_is_null(&g));
}

static void test_bad(void **state)
{
	struct guid g;

	assert_int_equal(guid_parse("", &g), -EINVAL);
	assert_int_equal(guid_parse("0e0b6031-5213-4934-818b-38d90ced39d", &g), -EINVAL);
	assert_int_equal(guid_parse("0e0b6031-5213-4934-818b-38d90ced39dbx", &g), -EINVAL);
	assert_int_equal(guid_parse("0e0b6031x5213-4934-818b-38d90ced39db", &g), -EINVAL);
	assert_int_equal(guid_parse("0e0b603g-5213-4934-818b-38d90ced39db", &g), -EINVAL);
	assert_int_equal(guid_parse(NULL, &g), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

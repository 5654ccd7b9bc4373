/* Unit tests for Set-VMBios -StartupOrder parsing (src/vmwp/startup_order.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vmwp/startup_order.h"
#include "vmwp/vm_config.h"

static void test_parse(void **state)
{
	struct startup_order so = {0}, eff;
	char err[256];

	assert_int_equal(startup_order_parse(&so, "CD,IDE", err, sizeof(err)), 0);
	assert_int_equal(so.n, 2);
	assert_int_equal(so.order[0], STARTUP_CD);
	assert_int_equal(so.order[1], STARTUP_IDE);
	assert_int_equal(
		startup_order_parse(&so, "floppy,legacynetworkadapter,cd,ide", err, sizeof(err)),
		0);
	assert_int_equal(so.n, 4);
	assert_int_equal(so.order[1], STARTUP_LEGACY_NETWORK_ADAPTER);
	eff = startup_order_effective(&so);
	assert_int_equal(eff.order[0], STARTUP_FLOPPY);
	/* Refused, leaving the order as it was. */
	const char *bad[] = {"", ",", "IDE,", ",IDE", "IDE,,CD", "IDE,CD,IDE", "SCSI", "IDEX"};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(startup_order_parse(&so, bad[i], err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "startup order"));
		assert_int_equal(so.n, 4);
	}
	assert_string_equal(startup_device_name(STARTUP_LEGACY_NETWORK_ADAPTER),
			    "LegacyNetworkAdapter");
}

static void test_default(void **state)
{
	struct startup_order none = {0}, eff = startup_order_effective(&none);

	assert_int_equal(eff.n, STARTUP_DEVICE_COUNT);
	for (unsigned i = 0; i < STARTUP_DEVICE_COUNT; i++)
		assert_int_equal(eff.order[i], i); /* IDE, CD, LegacyNetworkAdapter, Floppy */
}

static void test_config(void **state)
{
	struct vm_config cfg;
	char err[256];
	const char *json = "{\"generation\": 1, \"startup-order\": \"CD,IDE\", \"bios\": \"/b\"}";

	vm_config_init(&cfg);
	assert_int_equal(vm_config_parse_json(&cfg, json, strlen(json), err, sizeof(err)), 0);
	assert_int_equal(cfg.startup_order.n, 2);
	assert_string_equal(cfg.bios, "/b");
	assert_int_equal(vm_config_validate(&cfg, err, sizeof(err)), 0);
	cfg.kernel = strdup("/vmlinux");
	assert_int_equal(vm_config_validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "without --kernel"));
	vm_config_fini(&cfg);
	vm_config_init(&cfg);
	assert_int_equal(vm_config_validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no kernel"));
	vm_config_fini(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_default),
		cmocka_unit_test(test_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

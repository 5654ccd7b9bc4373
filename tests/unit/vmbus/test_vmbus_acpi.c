/* The VMBus DSDT contributor: the table assembles, names VMBus, and iasl accepts it if present. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "boot/acpi_tables.h"
#include "vmbus/vmbus_acpi.h"

static bool contains(const uint8_t *p, size_t n, const char *s)
{
	size_t k = strlen(s), i;

	for (i = 0; i + k <= n; i++)
		if (memcmp(p + i, s, k) == 0)
			return true;
	return false;
}

/* The window never lands in the MMIO hole that PCI0 decodes, whatever the RAM size. */
static void test_window_outside_pci_hole(void **state)
{
	static const struct {
		uint64_t ram_end, base;
	} cases[] = {
		{512 * MiB, 1 * GiB}, {2 * GiB, 2 * GiB},	  {2 * GiB + 512 * MiB, 4 * GiB},
		{3 * GiB, 4 * GiB},   {5 * GiB + 12345, 6 * GiB},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct vmbus_acpi_config cfg = vmbus_acpi_config_for_ram(cases[i].ram_end);

		assert_int_equal(cfg.mmio_base, cases[i].base);
		assert_true(cfg.mmio_base + cfg.mmio_size <= 0xC0000000u ||
			    cfg.mmio_base >= 4 * GiB);
	}
}

static void test_dsdt(void **state)
{
	struct vmbus_acpi_config cfg = vmbus_acpi_config_for_ram(5 * GiB + 12345);
	struct acpi_dsdt_contributor contrib = {.emit = vmbus_acpi_emit, .opaque = &cfg};
	struct acpi_config acpi = {.vcpus = 2, .contributors = &contrib, .ncontributors = 1};
	struct boot_error err = {{0}};
	const uint8_t *data;
	size_t len;
	struct aml *aml;

	assert_int_equal(cfg.mmio_base, 6 * GiB);
	assert_int_equal(cfg.mmio_size, 512 * MiB);
	assert_int_equal(aml_new(&aml), 0);
	assert_int_equal(acpi_dsdt_build(aml, &acpi, &err), 0);
	assert_int_equal(aml_finish(aml, &data, &len), 0);
	assert_true(contains(data, len, "VMOD"));
	assert_true(contains(data, len, "VMBS"));
	assert_true(contains(data, len, "VMBus"));
	assert_true(contains(data, len, "ACPI0004"));
	assert_true(contains(data, len, "_CRS"));
	aml_free(aml);
}

static void test_no_window(void **state)
{
	struct vmbus_acpi_config cfg = {0};
	struct acpi_dsdt_contributor contrib = {.emit = vmbus_acpi_emit, .opaque = &cfg};
	struct acpi_config acpi = {.vcpus = 1, .contributors = &contrib, .ncontributors = 1};
	struct boot_error err = {{0}};
	struct aml *aml;

	assert_int_equal(aml_new(&aml), 0);
	assert_int_equal(acpi_dsdt_build(aml, &acpi, &err), 0);
	aml_free(aml);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window_outside_pci_hole),
		cmocka_unit_test(test_dsdt),
		cmocka_unit_test(test_no_window),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

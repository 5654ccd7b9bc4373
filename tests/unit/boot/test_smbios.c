/*
 * Unit tests for the SMBIOS builder (boot/smbios.h), read back the way Linux's dmi_scan.c
 * reads them (dmi_present: "_SM_" with its checksum over the entry point's length, "_DMI_"
 * with its checksum over 15 bytes, the table's address, length and count; dmi_decode_table:
 * each structure's formatted area, then its strings up to a double NUL).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "boot/smbios.h"

static const struct smbios_config cfg = {
	.bios_vendor = "Parvis",
	.bios_version = "v1",
	.bios_date = "12/01/2026",
	.manufacturer = "Microsoft Corporation",
	.product = "Virtual Machine",
	.version = "7.0",
	.serial = "S1",
	.uuid = {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}},
};

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* String n (from 1) of the structure at s, or NULL (dmi_string_nosave). */
static const char *string_of(const uint8_t *s, const uint8_t *end, unsigned n)
{
	const char *p = (const char *)s + s[1];

	if (!n)
		return NULL;
	while (--n && p < (const char *)end && *p)
		p += strlen(p) + 1;
	return p < (const char *)end && *p ? p : NULL;
}

static void test_read_back(void **state)
{
	uint8_t ep[SMBIOS_ENTRY_POINT_LEN], t[SMBIOS_TABLES_MAX];
	int len = smbios_build(&cfg, 0xFF020, ep, t, sizeof(t));
	const uint8_t *p = t, *end;
	unsigned count = 0, largest = 0;
	const uint8_t *type1 = NULL, *type0 = NULL;

	(void)state;
	assert_true(len > 0);
	end = t + len;
	assert_memory_equal(ep, "_SM_", 4);
	assert_int_equal(ep[5], SMBIOS_ENTRY_POINT_LEN);
	assert_int_equal(sum(ep, ep[5]), 0);
	assert_int_equal(ep[6], 2);
	assert_int_equal(ep[7], 8);
	assert_memory_equal(ep + 16, "_DMI_", 5);
	assert_int_equal(sum(ep + 16, 15), 0);
	assert_int_equal(ep[22] | ep[23] << 8, len);
	assert_int_equal((uint32_t)ep[24] | (uint32_t)ep[25] << 8 | (uint32_t)ep[26] << 16 |
				 (uint32_t)ep[27] << 24,
			 0xFF020);
	assert_int_equal(ep[30], 0x28);
	while (p + 4 <= end) {
		const uint8_t *s = p;

		assert_true(s[1] >= 4 && s + s[1] <= end);
		assert_int_equal(s[2] | s[3] << 8, count); /* handles 0, 1, ... */
		if (s[0] == 0)
			type0 = s;
		if (s[0] == 1)
			type1 = s;
		p += s[1];
		while (p + 1 < end && (p[0] || p[1]))
			p++;
		p += 2;
		count++;
		if ((unsigned)(p - s) > largest)
			largest = (unsigned)(p - s);
		if (s[0] == 127)
			break;
	}
	assert_ptr_equal(p, end);
	assert_int_equal(ep[28] | ep[29] << 8, count);
	assert_int_equal(count, 4);
	assert_int_equal(ep[8] | ep[9] << 8, largest);
	/* What ata_piix's piix_ignore_devices_quirk matches (DMI_SYS_VENDOR, DMI_PRODUCT_NAME). */
	assert_non_null(type1);
	assert_string_equal(string_of(type1, end, type1[4]), "Microsoft Corporation");
	assert_string_equal(string_of(type1, end, type1[5]), "Virtual Machine");
	assert_string_equal(string_of(type1, end, type1[6]), "7.0");
	assert_memory_equal(type1 + 8, cfg.uuid.bytes, 16);
	assert_non_null(type0);
	assert_string_equal(string_of(type0, end, type0[4]), "Parvis");
	assert_int_equal(type0[0x13] & 0x10, 0x10); /* a virtual machine */
}

static void test_limits(void **state)
{
	uint8_t ep[SMBIOS_ENTRY_POINT_LEN], t[SMBIOS_TABLES_MAX];
	struct smbios_config c = cfg;
	char longs[100];

	(void)state;
	assert_int_equal(smbios_build(&cfg, 0xFF020, ep, t, 40), -ENOSPC);
	assert_int_equal(smbios_build(&cfg, 0xFFFFFFF0u, ep, t, sizeof(t)), -EINVAL);
	memset(longs, 'x', sizeof(longs) - 1);
	longs[sizeof(longs) - 1] = '\0';
	c.product = longs;
	assert_int_equal(smbios_build(&c, 0xFF020, ep, t, sizeof(t)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_back),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for the BIOS boot set-up: the low mirror, the reset state, the BIOS's e820 map. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "boot/acpi_tables.h"
#include "boot/bios_boot.h"
#include "vid/pc_layout.h"

static void test_image_sizes(void **state)
{
	assert_int_equal(bios_image_check(128 * KiB, NULL), 0);
	assert_int_equal(bios_image_check(256 * KiB, NULL), 0);
	assert_int_equal(bios_image_check(1 * MiB, NULL), 0);
	assert_int_equal(bios_image_check(0, NULL), -EINVAL);
	assert_int_equal(bios_image_check(32 * KiB, NULL), -EINVAL);
	assert_int_equal(bios_image_check(128 * KiB + 512, NULL), -EINVAL);
	assert_int_equal(bios_image_check(2 * MiB, NULL), -EINVAL);
	assert_int_equal(bios_image_gpa(256 * KiB), 0xFFFC0000u);
}

static void test_setup(void **state)
{
	struct guest_memory *mem;
	struct x86_boot_regs regs;
	struct boot_error err = {{0}};
	size_t size = 256 * KiB;
	uint8_t *image = malloc(size), low[4];

	for (size_t i = 0; i < size; i++)
		image[i] = (uint8_t)(i * 7 + (i >> 16));
	assert_int_equal(guest_memory_new(16 * MiB, &mem), 0);
	assert_int_equal(bios_boot_setup(mem, image, size, &regs, &err), 0);
	/* The image's last 128 KiB end at 0xFFFFF. */
	assert_int_equal(guest_memory_read(mem, 0xE0000, low, 4), 0);
	assert_memory_equal(low, image + size - 128 * KiB, 4);
	assert_int_equal(guest_memory_read(mem, 0xFFFF0, low, 4), 0);
	assert_memory_equal(low, image + size - 16, 4);
	/* Below the mirror nothing was written. */
	assert_int_equal(guest_memory_read(mem, 0xDFFFC, low, 4), 0);
	assert_memory_equal(low, "\0\0\0\0", 4);
	/* RESET: CS.base + IP = 0xFFFFFFF0, real mode. */
	assert_int_equal(regs.cs.selector, 0xF000);
	assert_int_equal(regs.cs.base + regs.rip, 0xFFFFFFF0u);
	assert_int_equal(regs.cr0 & 1, 0);
	assert_int_equal(regs.rflags, 2);
	assert_int_equal(regs.ss.limit, 0xFFFF);
	/* A 64 KiB image is mirrored whole at 0xF0000. */
	assert_int_equal(bios_boot_setup(mem, image, 64 * KiB, &regs, &err), 0);
	assert_int_equal(guest_memory_read(mem, 0xF0000, low, 4), 0);
	assert_memory_equal(low, image, 4);
	assert_int_equal(bios_boot_setup(mem, image, 100, &regs, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not a BIOS image"));
	guest_memory_free(mem);
	free(image);
}

static void test_e820(void **state)
{
	struct guest_memory *mem;
	struct boot_e820_entry e[8];
	uint64_t area;

	/* 128 MiB: RAM, then the ACPI area reserved at the top. */
	assert_int_equal(guest_memory_new(128 * MiB, &mem), 0);
	area = bios_acpi_area(mem);
	assert_int_equal(area, 128 * MiB - ACPI_AREA_SIZE);
	assert_int_equal(bios_e820_build(mem, area, e, 8), 2);
	assert_int_equal(e[0].addr, 0);
	assert_int_equal(e[0].size, area);
	assert_int_equal(e[0].type, E820_TYPE_RAM);
	assert_int_equal(e[1].addr, area);
	assert_int_equal(e[1].size, ACPI_AREA_SIZE);
	assert_int_equal(e[1].type, E820_TYPE_RESERVED);
	assert_int_equal(bios_e820_build(mem, area, e, 1), -ENOSPC);
	guest_memory_free(mem);

	/* 4 GiB: RAM to the MMIO hole with the area below it, and RAM above 4 GiB. */
	assert_int_equal(guest_memory_new(4 * GiB, &mem), 0);
	area = bios_acpi_area(mem);
	assert_int_equal(area, PC_MMIO_HOLE_START - ACPI_AREA_SIZE);
	assert_int_equal(bios_e820_build(mem, area, e, 8), 3);
	assert_int_equal(e[2].addr, 4 * GiB);
	assert_int_equal(e[2].size, 4 * GiB - PC_MMIO_HOLE_START);
	assert_int_equal(e[2].type, E820_TYPE_RAM);
	guest_memory_free(mem);

	/* Too little RAM below 4 GiB to give the area up. */
	assert_int_equal(guest_memory_new(1 * MiB, &mem), 0);
	assert_int_equal(bios_acpi_area(mem), 0);
	guest_memory_free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_image_sizes),
		cmocka_unit_test(test_setup),
		cmocka_unit_test(test_e820),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

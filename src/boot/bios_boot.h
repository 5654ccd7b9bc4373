/*
 * Booting through a PC BIOS image (SeaBIOS, docs/generation1.md) instead of
 * entering a Linux kernel directly: the image's place in guest memory, the
 * vCPU's reset state, and the memory map and ACPI area the BIOS is told
 * about through fw_cfg. See bios_boot.c.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "boot/boot_error.h"
#include "boot/bootparam_format.h"
#include "vid/guest_memory.h"
#include "vid/x86_boot_regs.h"

/* A BIOS image is 64 KiB to 1 MiB, a multiple of 64 KiB; the top 128 KiB is mirrored low. */
#define BIOS_IMAGE_MIN	    (64 * KiB)
#define BIOS_IMAGE_MAX	    (1 * MiB)
#define BIOS_LOW_MIRROR_MAX (128 * KiB)
#define BIOS_HIGH_END	    UINT64_C(0x100000000) /* the image ends at 4 GiB */

/* Checks a BIOS image's size: 0, or -EINVAL with the reason in err. */
int bios_image_check(size_t size, struct boot_error *err) must_check;

/* Where the image is mapped below 4 GiB (the reset vector is its last 16 bytes). */
static inline uint64_t bios_image_gpa(size_t size)
{
	return BIOS_HIGH_END - size;
}

/*
 * Copies the image's last min(size, 128 KiB) bytes below 1 MiB (ending at
 * 0xFFFFF, as a PC's chipset aliases its BIOS there) and fills *regs with
 * the processor's state after RESET (Intel SDM 3A §9.1.4, Table 9-1): real
 * mode, CS selector 0xF000 with base 0xFFFF0000, IP 0xFFF0, so the first
 * instruction is the image's last paragraph at 0xFFFFFFF0. The high mapping
 * itself is the caller's (a device-memory slot: it is not RAM).
 */
int bios_boot_setup(struct guest_memory *mem, const void *image, size_t size,
		    struct x86_boot_regs *regs, struct boot_error *err) must_check;

/*
 * Where the ACPI tables go for a BIOS boot: the ACPI_AREA_SIZE bytes at the
 * top of RAM below 4 GiB, reserved in bios_e820_build's map. 0 if RAM below
 * 4 GiB is too small to give that up (less than 2 MiB).
 */
uint64_t bios_acpi_area(const struct guest_memory *mem);

/*
 * The RAM map given to the BIOS ("etc/e820", the same 20-byte entries as
 * the zero page's): every RAM region, with the ACPI area at acpi_area
 * (from bios_acpi_area) reserved. The BIOS adds its own holes (EBDA, VGA,
 * ROMs) itself. Returns the number of entries or -ENOSPC beyond max.
 */
int bios_e820_build(const struct guest_memory *mem, uint64_t acpi_area,
		    struct boot_e820_entry *entries, unsigned max) must_check;

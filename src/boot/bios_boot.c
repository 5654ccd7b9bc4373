/*
 * BIOS boot (bios_boot.h). A PC's chipset decodes the top of the 4 GiB
 * space to the BIOS flash and aliases its last 128 KiB at 0xE0000-0xFFFFF
 * until the BIOS shadows itself into RAM (SeaBIOS src/fw/shadow.c copies
 * from 0xFFF00000 + address down to address). Here the low alias is RAM
 * from the start, holding those same bytes: the shadowing copy is a no-op
 * and the PAM registers only need to read back (emu/pci_host.c).
 */
#include "boot/bios_boot.h"

#include <errno.h>
#include <string.h>

#include "boot/acpi_tables.h"
#include "vid/pc_layout.h"

/* RAM below 4 GiB must keep at least this much beside the ACPI area. */
#define LOW_RAM_MIN (2 * MiB)

int bios_image_check(size_t size, struct boot_error *err)
{
	if (size < BIOS_IMAGE_MIN || size > BIOS_IMAGE_MAX || size % (64 * KiB))
		return boot_error_set(err, -EINVAL,
				      "%zu bytes is not a BIOS image (64 KiB to 1 MiB, a multiple "
				      "of 64 KiB)",
				      size);
	return 0;
}

/* A real-mode segment as RESET leaves it (SDM 3A Table 9-1): limit 0xFFFF, present. */
static struct x86_segment real_segment(uint16_t selector, uint64_t base, uint8_t type)
{
	return (struct x86_segment){
		.base = base,
		.limit = 0xFFFF,
		.selector = selector,
		.type = type,
		.present = 1,
		.s = 1,
	};
}

int bios_boot_setup(struct guest_memory *mem, const void *image, size_t size,
		    struct x86_boot_regs *regs, struct boot_error *err)
{
	size_t low = size < BIOS_LOW_MIRROR_MAX ? size : BIOS_LOW_MIRROR_MAX;
	int r = bios_image_check(size, err);

	if (r < 0)
		return r;
	r = guest_memory_write(mem, PC_BIOS_END - low, (const uint8_t *)image + size - low, low);
	if (r < 0)
		return boot_error_set(err, r, "guest RAM does not reach the BIOS area at %#llx",
				      (unsigned long long)(PC_BIOS_END - low));
	*regs = (struct x86_boot_regs){
		.rip = 0xFFF0,
		.rflags = 0x2,
		.cr0 = 0x60000010, /* CD, NW, ET */
		.gdt_limit = 0xFFFF,
		.idt_limit = 0xFFFF,
		.cs = real_segment(0xF000, 0xFFFF0000, 0xB), /* code, readable, accessed */
		.ds = real_segment(0, 0, 0x3),		     /* data, writable, accessed */
		.es = real_segment(0, 0, 0x3),
		.fs = real_segment(0, 0, 0x3),
		.gs = real_segment(0, 0, 0x3),
		.ss = real_segment(0, 0, 0x3),
		.tr = {.limit = 0xFFFF, .type = 0xB, .present = 1},  /* busy 32-bit TSS */
		.ldt = {.limit = 0xFFFF, .type = 0x2, .present = 1}, /* LDT */
	};
	return 0;
}

uint64_t bios_acpi_area(const struct guest_memory *mem)
{
	const struct guest_memory_region *r0 = guest_memory_region(mem, 0);
	uint64_t end;

	if (!r0 || r0->gpa != 0)
		return 0;
	end = MIN(r0->size, PC_MMIO_HOLE_START);
	if (end < LOW_RAM_MIN + ACPI_AREA_SIZE)
		return 0;
	return end - ACPI_AREA_SIZE;
}

static int add(struct boot_e820_entry *entries, unsigned max, unsigned *n, uint64_t start,
	       uint64_t end, uint32_t type)
{
	if (start >= end)
		return 0;
	if (*n == max)
		return -ENOSPC;
	entries[(*n)++] =
		(struct boot_e820_entry){.addr = start, .size = end - start, .type = type};
	return 0;
}

int bios_e820_build(const struct guest_memory *mem, uint64_t acpi_area,
		    struct boot_e820_entry *entries, unsigned max)
{
	uint64_t acpi_end = acpi_area + ACPI_AREA_SIZE;
	unsigned i, n = 0;
	int r = 0;

	for (i = 0; r == 0 && i < guest_memory_region_count(mem); i++) {
		const struct guest_memory_region *g = guest_memory_region(mem, i);
		uint64_t start = g->gpa, end = g->gpa + g->size;

		if (acpi_area && acpi_area >= start && acpi_end <= end) {
			r = add(entries, max, &n, start, acpi_area, E820_TYPE_RAM);
			if (r == 0)
				r = add(entries, max, &n, acpi_area, acpi_end, E820_TYPE_RESERVED);
			if (r == 0)
				r = add(entries, max, &n, acpi_end, end, E820_TYPE_RAM);
		} else {
			r = add(entries, max, &n, start, end, E820_TYPE_RAM);
		}
	}
	return r < 0 ? r : (int)n;
}

/*
 * The e820 map (e820.h). The entry format is the BIOS INT 15h, AX=E820h
 * record (ACPI 6.4 §15.1 "INT 15H, E820H - Query System Address Map");
 * Linux takes it from boot_params (zero-page.rst, e820_table).
 *
 * A PC reports RAM below the EBDA, a reserved range up to 1 MiB (EBDA,
 * VGA memory, option ROMs, BIOS; here also the ACPI tables), and RAM from
 * 1 MiB. Guest memory backs the reserved range too, but the kernel must
 * not use it: the ACPI tables are there.
 */
#include "boot/e820.h"

#include <errno.h>

#include "vid/pc_layout.h"

#define MAX_REGIONS 8

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

int e820_build(const struct guest_memory_region *regions, unsigned nregions,
	       struct boot_e820_entry *entries, unsigned max)
{
	unsigned i, n = 0;
	int r;

	/* RAM below the hole, in region order, then the hole, then RAM above it: sorted throughout.
	 */
	for (i = 0; i < nregions; i++) {
		uint64_t start = regions[i].gpa, end = regions[i].gpa + regions[i].size;

		r = add(entries, max, &n, start, MIN(end, PC_EBDA_START), E820_TYPE_RAM);
		if (r < 0)
			return r;
	}
	r = add(entries, max, &n, PC_EBDA_START, PC_BIOS_END, E820_TYPE_RESERVED);
	if (r < 0)
		return r;
	for (i = 0; i < nregions; i++) {
		uint64_t start = regions[i].gpa, end = regions[i].gpa + regions[i].size;

		r = add(entries, max, &n, MAX(start, PC_BIOS_END), end, E820_TYPE_RAM);
		if (r < 0)
			return r;
	}
	return (int)n;
}

int e820_build_for(const struct guest_memory *mem, struct boot_e820_entry *entries, unsigned max)
{
	struct guest_memory_region regions[MAX_REGIONS];
	unsigned i, n = guest_memory_region_count(mem);

	if (n > MAX_REGIONS)
		return -E2BIG;
	for (i = 0; i < n; i++)
		regions[i] = *guest_memory_region(mem, i);
	return e820_build(regions, n, entries, max);
}

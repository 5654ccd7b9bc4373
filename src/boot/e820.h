/*
 * The e820 memory map a Parvis partition reports to the kernel
 * (boot_params.e820_table): guest RAM, minus the legacy BIOS hole
 * [PC_EBDA_START, PC_BIOS_END) which is reported reserved and holds the
 * ACPI tables. Format: bootparam_format.h (struct boot_e820_entry).
 */
#pragma once

#include "base/compiler.h"
#include "boot/bootparam_format.h"
#include "vid/guest_memory.h"

/*
 * Pure: fills entries[0..max) from the RAM regions (sorted by gpa and
 * disjoint, as guest_memory_region() gives them), sorted by address.
 * Returns the number of entries, or -ENOSPC if more than max are needed.
 */
int e820_build(const struct guest_memory_region *regions, unsigned nregions,
	       struct boot_e820_entry *entries, unsigned max) must_check;

/* e820_build() over the regions of mem. */
int e820_build_for(const struct guest_memory *mem, struct boot_e820_entry *entries,
		   unsigned max) must_check;

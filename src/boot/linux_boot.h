/*
 * Puts a parsed Linux kernel, its initrd and command line into guest
 * memory, writes the zero page (struct boot_params) with the e820 map and
 * the RSDP address, and computes the vCPU state that enters the kernel's
 * 64-bit entry point (boot.rst, "64-bit Boot Protocol"). Where each piece
 * goes: boot_layout.h.
 *
 * The ACPI tables are built separately (acpi_tables.h); pass their RSDP
 * address here. Secondary vCPUs need nothing from this: the kernel starts
 * them with INIT/SIPI through the in-kernel local APIC.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "boot/boot_error.h"
#include "boot/kernel_image.h"
#include "vid/guest_memory.h"
#include "vid/x86_boot_regs.h"

struct linux_boot_config {
	const struct kernel_image *kernel; /* from kernel_image_parse(), its bytes still alive */
	const void *initrd;		   /* NULL or initrd_size == 0: no initrd */
	size_t initrd_size;
	const char *cmdline; /* NULL: empty */
	uint64_t rsdp_gpa;   /* from acpi_tables_build(); 0: none */
};

/* Where things went, for the worker's log and for tests. */
struct linux_boot_info {
	uint64_t kernel_start; /* lowest byte the kernel occupies */
	uint64_t kernel_end; /* one past the highest byte it may use before reading the e820 map */
	uint64_t initrd_gpa; /* 0 if none */
	uint64_t initrd_size;
	unsigned e820_entries;
};

/*
 * Loads cfg->kernel into mem and fills *ret_regs (and *ret_info, if not
 * NULL). Returns 0, or a negative errno with the reason in err:
 * -ENOMEM when guest RAM is too small for the kernel, the initrd or the
 * boot area, -E2BIG for a command line longer than the kernel accepts.
 * May leave mem partly written on failure.
 */
int linux_boot_setup(struct guest_memory *mem, const struct linux_boot_config *cfg,
		     struct x86_boot_regs *ret_regs, struct linux_boot_info *ret_info,
		     struct boot_error *err) must_check;

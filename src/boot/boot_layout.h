/*
 * Where the boot code puts things in guest physical memory before the
 * first vCPU runs. One table, so that nothing overlaps:
 *
 *   GPA range            holds                                  written by
 *   -------------------  -------------------------------------  -------------
 *   0x00000 - 0x00FFF    real-mode IVT and BIOS data area,      (nothing:
 *                        left zero (Linux reads the EBDA         stays zero)
 *                        pointer at 0x40E; zero means none)
 *   0x01000 - 0x01FFF    GDT at 0x1000, 64-bit TSS at 0x1080    x86_entry.c
 *   0x02000 - 0x06FFF    free
 *   0x07000 - 0x07FFF    boot_params, the "zero page"           linux_boot.c
 *   0x08000 - 0x08FFF    boot stack (rsp = 0x9000 at entry)     (nothing)
 *   0x09000 - 0x09FFF    PML4                                   x86_entry.c
 *   0x0A000 - 0x0AFFF    PDPT                                   x86_entry.c
 *   0x0B000 - 0x0EFFF    4 page directories, 2 MiB pages,       x86_entry.c
 *                        identity map of 0 - 4 GiB
 *   0x0F000 - 0x1FFFF    free
 *   0x20000 - 0x2FFFF    kernel command line, NUL-terminated    linux_boot.c
 *   0x30000 - 0x9FBFF    free
 *   0x9FC00 - 0xDFFFF    EBDA, VGA and option ROM holes:        (nothing)
 *                        reserved in the e820 map
 *   0xE0000 - 0xFFFFF    ACPI tables, RSDP at 0xE0000           acpi_tables.c
 *                        (reserved in the e820 map)
 *   0x100000 -           kernel (ELF: its p_paddr, usually      linux_boot.c
 *                        16 MiB; bzImage: pref_address or 1 MiB);
 *                        initrd at the top of RAM below
 *                        min(3 GiB, initrd_addr_max), above the kernel
 *
 * Everything from 0x1000 to the command line is inside the first e820 RAM
 * entry [0, PC_EBDA_START), which Linux (>= 5.13) reserves as a whole.
 */
#pragma once

#include "base/compiler.h"
#include "vid/pc_layout.h"

#define BOOT_GDT_GPA	  UINT64_C(0x1000)
#define BOOT_TSS_GPA	  UINT64_C(0x1080)
#define BOOT_TSS_LIMIT	  0x67 /* 104-byte 64-bit TSS, minus one */
#define BOOT_PARAMS_GPA	  UINT64_C(0x7000)
#define BOOT_STACK_TOP	  UINT64_C(0x9000)
#define BOOT_PML4_GPA	  UINT64_C(0x9000)
#define BOOT_PDPT_GPA	  UINT64_C(0xA000)
#define BOOT_PD_GPA	  UINT64_C(0xB000)
#define BOOT_PD_COUNT	  4 /* one per GiB: 0 - 4 GiB */
#define BOOT_CMDLINE_GPA  UINT64_C(0x20000)
#define BOOT_CMDLINE_SIZE UINT64_C(0x10000) /* terminating NUL included */
/* One past the last byte of the fixed boot area; RAM must reach this far. */
#define BOOT_AREA_END (BOOT_CMDLINE_GPA + BOOT_CMDLINE_SIZE)

#define BOOT_ACPI_START UINT64_C(0xE0000)
#define BOOT_ACPI_END	PC_BIOS_END
#define BOOT_RSDP_GPA	BOOT_ACPI_START
/* Kernels and initrds live at or above this. */
#define BOOT_HIGH_START PC_BIOS_END

_Static_assert(BOOT_TSS_GPA + BOOT_TSS_LIMIT < BOOT_GDT_GPA + 0x1000, "TSS inside the GDT page");
_Static_assert(BOOT_GDT_GPA + 0x1000 <= BOOT_PARAMS_GPA, "GDT page below the zero page");
_Static_assert(BOOT_PARAMS_GPA + 0x1000 <= BOOT_STACK_TOP - 0x1000, "zero page below the stack");
_Static_assert(BOOT_STACK_TOP <= BOOT_PML4_GPA, "stack below the page tables");
_Static_assert(BOOT_PML4_GPA + 0x1000 <= BOOT_PDPT_GPA, "PML4 below the PDPT");
_Static_assert(BOOT_PDPT_GPA + 0x1000 <= BOOT_PD_GPA, "PDPT below the PDs");
_Static_assert(BOOT_PD_GPA + BOOT_PD_COUNT * 0x1000 <= BOOT_CMDLINE_GPA,
	       "PDs below the command line");
_Static_assert(BOOT_AREA_END <= PC_EBDA_START, "boot area below the EBDA");
_Static_assert(PC_EBDA_START <= BOOT_ACPI_START && BOOT_ACPI_END == BOOT_HIGH_START,
	       "ACPI area reserved");

/*
 * The state a vCPU starts a 64-bit Linux kernel in (boot.rst, "64-bit
 * Boot Protocol"): long mode with paging, an identity map of the first
 * 4 GiB, a GDT with __BOOT_CS (0x10) and __BOOT_DS (0x18), interrupts
 * off, %rsi = the zero page. Where the GDT and page tables go: boot_layout.h.
 */
#pragma once

#include <stdint.h>

#include "base/compiler.h"
#include "boot/boot_error.h"
#include "vid/guest_memory.h"
#include "vid/x86_boot_regs.h"

#define X86_BOOT_CS  0x10 /* __BOOT_CS: 64-bit code */
#define X86_BOOT_DS  0x18 /* __BOOT_DS: flat data */
#define X86_BOOT_TSS 0x20 /* __BOOT_TSS: 64-bit TSS, 16-byte descriptor */

/*
 * Writes the GDT, TSS and page tables into mem and fills *ret so that the
 * vCPU starts at entry with %rsi = boot_params_gpa. Returns 0, or -EFAULT
 * if the boot area is not RAM.
 */
int x86_entry_setup(struct guest_memory *mem, uint64_t entry, uint64_t boot_params_gpa,
		    struct x86_boot_regs *ret, struct boot_error *err) must_check;

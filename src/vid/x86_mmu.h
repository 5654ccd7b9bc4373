/*
 * Guest linear -> guest physical translation by walking the guest's own
 * page tables in guest memory, for the rare exits that need instruction
 * bytes or a memory operand (pvm.c). Reads go through guest_memory, so a
 * page table pointing outside RAM is a fault, not a host access.
 * Intel SDM Vol. 3A §4.3 (32-bit), §4.4 (PAE), §4.5 (4- and 5-level).
 */
#pragma once

#include <stdint.h>

#include "base/compiler.h"
#include "vid/guest_memory.h"

struct x86_paging {
	uint64_t cr0, cr3, cr4, efer;
};

/* 0 and *gpa, or -EFAULT (not present, reserved table address, not RAM). */
int x86_mmu_translate(const struct guest_memory *mem, const struct x86_paging *paging,
		      uint64_t linear, uint64_t *gpa) must_check;

/* Reads len bytes at a linear address, page by page. 0 or -EFAULT. */
int x86_mmu_read(const struct guest_memory *mem, const struct x86_paging *paging, uint64_t linear,
		 void *dst, size_t len) must_check;

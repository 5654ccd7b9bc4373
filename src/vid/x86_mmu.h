/*
 * Guest linear -> guest physical translation by walking the guest's own
 * page tables in guest memory, for the rare exits that need instruction
 * bytes or a memory operand (pvm.c). Reads go through guest_memory, so a
 * page table pointing outside RAM is a fault, not a host access.
 * Intel SDM Vol. 3A §4.3 (32-bit), §4.4 (PAE), §4.5 (4- and 5-level).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vid/guest_memory.h"

struct x86_paging {
	uint64_t cr0, cr3, cr4, efer;
};

/* 0 and *gpa, or -EFAULT (not present, reserved table address, not RAM). */
int x86_mmu_translate(const struct guest_memory *mem, const struct x86_paging *paging,
		      uint64_t linear, uint64_t *gpa) must_check;

/*
 * Reads len bytes at a linear address, page by page, with no permission check: for
 * describing a vCPU's state to the administrator, never for completing a guest access.
 * 0 or -EFAULT.
 */
int x86_mmu_read(const struct guest_memory *mem, const struct x86_paging *paging, uint64_t linear,
		 void *dst, size_t len) must_check;

/* An access as the guest's CPU would make it, for the permission checks of SDM Vol. 3A §4.6. */
enum x86_access_kind { X86_ACCESS_READ, X86_ACCESS_WRITE, X86_ACCESS_FETCH };
struct x86_access {
	enum x86_access_kind kind;
	unsigned cpl; /* 0-3; 3 is user mode */
	bool ac;      /* RFLAGS.AC (SMAP lets supervisor data accesses to user pages through) */
};

/*
 * Translates like x86_mmu_translate, then checks the access against the rights the walk
 * gathered (U/S and R/W of every level, XD with EFER.NXE, CR0.WP, CR4.SMEP and SMAP).
 * -EFAULT if the page is not mapped, -EACCES if the access would fault with a protection
 * #PF.
 */
int x86_mmu_translate_access(const struct guest_memory *mem, const struct x86_paging *paging,
			     const struct x86_access *access, uint64_t linear,
			     uint64_t *gpa) must_check;
/* Reads len bytes at a linear address as `access` (READ or FETCH). 0, -EFAULT or -EACCES. */
int x86_mmu_read_access(const struct guest_memory *mem, const struct x86_paging *paging,
			const struct x86_access *access, uint64_t linear, void *dst,
			size_t len) must_check;

/*
 * The current privilege level from the registers KVM reports (SDM Vol. 3A §5.5): 0 in real
 * mode, 3 in virtual-8086 mode, else SS.DPL (which equals CPL; KVM's vmx_get_cpl reads it).
 */
unsigned x86_cpl(uint64_t cr0, unsigned ss_dpl, uint64_t rflags);

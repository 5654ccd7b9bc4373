/*
 * The register state a vCPU starts in, described without KVM types so the
 * boot code (which computes it) and the partition (which applies it with
 * KVM_SET_SREGS / KVM_SET_REGS) stay independent.
 */
#pragma once

#include <stdint.h>

struct x86_segment {
	uint64_t base;
	uint32_t limit; /* byte granular limit as KVM wants it (0xFFFFFFFF for flat) */
	uint16_t selector;
	uint8_t type; /* descriptor type field (4 bits) */
	uint8_t present, dpl, db, s, l, g;
};

struct x86_boot_regs {
	uint64_t rip, rsp, rsi, rflags;
	uint64_t cr0, cr3, cr4, efer;
	uint64_t gdt_base;
	uint16_t gdt_limit;
	uint64_t idt_base;
	uint16_t idt_limit;
	struct x86_segment cs, ds, es, fs, gs, ss, tr, ldt;
};

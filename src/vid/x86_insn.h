/*
 * A decoder for the few x86 instructions the worker completes itself when
 * the host's instruction emulator gives up on them (see pvm.c): int3 and
 * popcnt. Pure functions over bytes the guest controls: every byte is
 * checked against the length given, and anything not understood is
 * refused, never guessed.
 *
 * Encoding reference: Intel SDM Vol. 2, chapter 2 (instruction format,
 * prefixes, REX, ModR/M, SIB) and the POPCNT/INT3 pages.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

#define X86_INSN_MAX_LEN 15

/* General-purpose registers in encoding order (ModR/M reg and rm fields, REX extended). */
enum x86_gpr {
	X86_RAX,
	X86_RCX,
	X86_RDX,
	X86_RBX,
	X86_RSP,
	X86_RBP,
	X86_RSI,
	X86_RDI,
	X86_R8,
	X86_R9,
	X86_R10,
	X86_R11,
	X86_R12,
	X86_R13,
	X86_R14,
	X86_R15,
	X86_NR_GPRS,
	X86_RIP = X86_NR_GPRS, /* only as a memory base: RIP-relative addressing */
	X86_NO_REG = -1,
};

enum x86_seg { X86_ES, X86_CS, X86_SS, X86_DS, X86_FS, X86_GS };

enum x86_insn_op {
	X86_INSN_INT3,	 /* CC */
	X86_INSN_POPCNT, /* F3 [REX] 0F B8 /r */
	X86_INSN_FWAIT,	 /* 9B (Linux's fpu__drop, at every kernel thread's exit) */
};

/* The CPU mode the bytes are decoded in. */
enum x86_cpu_mode {
	X86_MODE_64, /* long mode, CS.L = 1 */
	X86_MODE_32, /* protected or compatibility mode, CS.D = 1 */
	X86_MODE_16, /* real mode or 16-bit protected mode */
};

struct x86_mem_operand {
	int base;	    /* enum x86_gpr, X86_RIP or X86_NO_REG */
	int index;	    /* enum x86_gpr or X86_NO_REG */
	unsigned scale;	    /* 1, 2, 4, 8 */
	int64_t disp;	    /* sign-extended displacement */
	unsigned addr_size; /* 2, 4 or 8 bytes */
	enum x86_seg seg;   /* segment used (default or override) */
};

struct x86_insn {
	enum x86_insn_op op;
	unsigned len;		    /* bytes, including prefixes */
	unsigned op_size;	    /* operand size in bytes: 2, 4, 8 */
	int reg;		    /* ModR/M reg operand (destination) */
	bool rm_is_reg;		    /* the r/m operand is a register ... */
	int rm_reg;		    /* ... this one */
	struct x86_mem_operand mem; /* ... or this memory operand */
};

/*
 * Decodes one instruction of the supported set. Returns 0, -ENODATA if
 * len is too short for what the bytes announce, -EOPNOTSUPP for any
 * instruction or form outside the set (including LOCK on popcnt, which
 * raises #UD on hardware: the caller reports it rather than emulating).
 */
int x86_insn_decode(const uint8_t *bytes, size_t len, enum x86_cpu_mode mode,
		    struct x86_insn *ret) must_check;

/*
 * Effective address (offset within the segment) of a memory operand, given
 * the GPRs in encoding order and the address of the next instruction.
 * Truncated to the address size.
 */
uint64_t x86_insn_effective_address(const struct x86_mem_operand *mem,
				    const uint64_t gprs[X86_NR_GPRS], uint64_t next_rip);

/*
 * POPCNT: result and flags. RFLAGS: CF, PF, AF, SF, OF cleared; ZF set iff
 * source is 0. Returns the new RFLAGS; *result receives the count.
 */
uint64_t x86_popcnt(uint64_t src, unsigned op_size, uint64_t rflags, uint64_t *result);

/* Writes value into a GPR of op_size bytes with x86 semantics (32-bit writes zero-extend). */
uint64_t x86_gpr_merge(uint64_t old, uint64_t value, unsigned op_size);

/*
 * Fuzz target: the decoder of worker-completed instructions, on bytes a
 * guest controls, in every CPU mode; decoded memory operands are run
 * through the effective-address computation.
 */
#include <stddef.h>
#include <stdint.h>

#include "vid/x86_insn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum x86_cpu_mode modes[] = {X86_MODE_64, X86_MODE_32, X86_MODE_16};
	uint64_t gprs[X86_NR_GPRS] = {0}, result;
	struct x86_insn insn;
	unsigned i;

	for (i = 0; i < 3; i++) {
		if (x86_insn_decode(data, size, modes[i], &insn) < 0)
			continue;
		if (insn.len == 0 || insn.len > size || insn.len > X86_INSN_MAX_LEN)
			__builtin_trap();
		if (insn.op == X86_INSN_POPCNT) {
			if (insn.reg < 0 || insn.reg >= X86_NR_GPRS)
				__builtin_trap();
			if (!insn.rm_is_reg)
				(void)x86_insn_effective_address(&insn.mem, gprs, 0x1000);
			x86_popcnt(UINT64_MAX, insn.op_size, 0, &result);
			if (result != insn.op_size * 8)
				__builtin_trap();
		}
	}
	return 0;
}

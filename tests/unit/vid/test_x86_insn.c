/* Unit tests for the decoder of worker-completed instructions (int3, popcnt). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vid/x86_insn.h"

#define DECODE(mode, ...)                                                                          \
	({                                                                                         \
		static const uint8_t b_[] = {__VA_ARGS__};                                         \
		x86_insn_decode(b_, sizeof(b_), mode, &insn);                                      \
	})

static void test_int3(void **state)
{
	struct x86_insn insn;

	assert_int_equal(DECODE(X86_MODE_64, 0xCC), 0);
	assert_int_equal(insn.op, X86_INSN_INT3);
	assert_int_equal(insn.len, 1);
	assert_int_equal(DECODE(X86_MODE_16, 0xCC), 0);
	assert_int_equal(DECODE(X86_MODE_64, 0xF0, 0xCC), -EOPNOTSUPP);
	assert_int_equal(DECODE(X86_MODE_64, 0xCD, 0x03), -EOPNOTSUPP); /* int 3 is not int3 */
}

static void test_fwait(void **state)
{
	struct x86_insn insn;

	/* fwait; mov $0,%gs:... as in Linux's fpu__drop: only the 9b is decoded. */
	assert_int_equal(DECODE(X86_MODE_64, 0x9B, 0x65, 0x48, 0xC7, 0x05), 0);
	assert_int_equal(insn.op, X86_INSN_FWAIT);
	assert_int_equal(insn.len, 1);
	assert_int_equal(DECODE(X86_MODE_64, 0xF0, 0x9B), -EOPNOTSUPP);
}

static void test_popcnt_register_forms(void **state)
{
	struct x86_insn insn;

	/* popcnt %rdi,%rax: f3 48 0f b8 c7 (the form of Linux's __arch_hweight64). */
	assert_int_equal(DECODE(X86_MODE_64, 0xF3, 0x48, 0x0F, 0xB8, 0xC7), 0);
	assert_int_equal(insn.op, X86_INSN_POPCNT);
	assert_int_equal(insn.len, 5);
	assert_int_equal(insn.op_size, 8);
	assert_int_equal(insn.reg, X86_RAX);
	assert_true(insn.rm_is_reg);
	assert_int_equal(insn.rm_reg, X86_RDI);
	/* popcnt %edi,%eax: f3 0f b8 c7 */
	assert_int_equal(DECODE(X86_MODE_64, 0xF3, 0x0F, 0xB8, 0xC7), 0);
	assert_int_equal(insn.op_size, 4);
	/* popcnt %r9w,%r10w: 66 f3 45 0f b8 d1 */
	assert_int_equal(DECODE(X86_MODE_64, 0x66, 0xF3, 0x45, 0x0F, 0xB8, 0xD1), 0);
	assert_int_equal(insn.op_size, 2);
	assert_int_equal(insn.reg, X86_R10);
	assert_int_equal(insn.rm_reg, X86_R9);
}

static void test_popcnt_memory_forms(void **state)
{
	struct x86_insn insn;

	/* popcnt 0x10(%rbx,%rcx,8),%rdx: f3 48 0f b8 54 cb 10 */
	assert_int_equal(DECODE(X86_MODE_64, 0xF3, 0x48, 0x0F, 0xB8, 0x54, 0xCB, 0x10), 0);
	assert_int_equal(insn.len, 7);
	assert_false(insn.rm_is_reg);
	assert_int_equal(insn.reg, X86_RDX);
	assert_int_equal(insn.mem.base, X86_RBX);
	assert_int_equal(insn.mem.index, X86_RCX);
	assert_int_equal(insn.mem.scale, 8);
	assert_int_equal(insn.mem.disp, 0x10);
	assert_int_equal(insn.mem.seg, X86_DS);
	/* popcnt -4(%rip),%eax: f3 0f b8 05 fc ff ff ff */
	assert_int_equal(DECODE(X86_MODE_64, 0xF3, 0x0F, 0xB8, 0x05, 0xFC, 0xFF, 0xFF, 0xFF), 0);
	assert_int_equal(insn.mem.base, X86_RIP);
	assert_int_equal(insn.mem.disp, -4);
	/* popcnt %gs:(%rsp),%eax: 65 f3 0f b8 04 24 */
	assert_int_equal(DECODE(X86_MODE_64, 0x65, 0xF3, 0x0F, 0xB8, 0x04, 0x24), 0);
	assert_int_equal(insn.mem.seg, X86_GS);
	assert_int_equal(insn.mem.base, X86_RSP);
	assert_int_equal(insn.mem.index, X86_NO_REG);
	/* popcnt 0x12345678,%eax with SIB no base: f3 0f b8 04 25 78 56 34 12 */
	assert_int_equal(DECODE(X86_MODE_64, 0xF3, 0x0F, 0xB8, 0x04, 0x25, 0x78, 0x56, 0x34, 0x12),
			 0);
	assert_int_equal(insn.mem.base, X86_NO_REG);
	assert_int_equal(insn.mem.disp, 0x12345678);
	/* 16-bit addressing in real mode: popcnt (%bp,%si),%ax: f3 0f b8 02 -> base bp, ss */
	assert_int_equal(DECODE(X86_MODE_16, 0xF3, 0x0F, 0xB8, 0x02), 0);
	assert_int_equal(insn.mem.addr_size, 2);
	assert_int_equal(insn.mem.base, X86_RBP);
	assert_int_equal(insn.mem.index, X86_RSI);
	assert_int_equal(insn.mem.seg, X86_SS);
}

static void test_truncated_and_unknown(void **state)
{
	struct x86_insn insn;

	assert_int_equal(DECODE(X86_MODE_64, 0xF3, 0x48, 0x0F, 0xB8), -ENODATA);
	assert_int_equal(DECODE(X86_MODE_64, 0xF3, 0x0F, 0xB8, 0x05, 0xFC), -ENODATA);
	assert_int_equal(x86_insn_decode(NULL, 0, X86_MODE_64, &insn), -ENODATA);
	assert_int_equal(DECODE(X86_MODE_64, 0x0F, 0xB8, 0xC7), -EOPNOTSUPP); /* no F3: jmpe */
	assert_int_equal(DECODE(X86_MODE_64, 0xF2, 0x0F, 0xB8, 0xC7), -EOPNOTSUPP); /* F2 wins */
	assert_int_equal(DECODE(X86_MODE_64, 0xF0, 0xF3, 0x0F, 0xB8, 0xC7), -EOPNOTSUPP);
	assert_int_equal(DECODE(X86_MODE_64, 0x0F, 0xC7, 0x0E), -EOPNOTSUPP); /* cmpxchg16b */
	/* 15 prefixes: longer than an instruction may be. */
	assert_int_equal(DECODE(X86_MODE_64, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
				0x66, 0x66, 0x66, 0x66, 0x66, 0xF3, 0x0F, 0xB8, 0xC7),
			 -EOPNOTSUPP);
}

static void test_effective_address(void **state)
{
	struct x86_mem_operand m = {
		.base = X86_RBX, .index = X86_RCX, .scale = 8, .disp = 0x10, .addr_size = 8};
	uint64_t gprs[X86_NR_GPRS] = {0};

	gprs[X86_RBX] = 0x1000;
	gprs[X86_RCX] = 3;
	assert_int_equal(x86_insn_effective_address(&m, gprs, 0), 0x1028);
	m = (struct x86_mem_operand){
		.base = X86_RIP, .index = X86_NO_REG, .scale = 1, .disp = -4, .addr_size = 8};
	assert_int_equal(x86_insn_effective_address(&m, gprs, 0xffffffff81000008ull),
			 0xffffffff81000004ull);
	m = (struct x86_mem_operand){
		.base = X86_RBX, .index = X86_NO_REG, .scale = 1, .disp = -0x2000, .addr_size = 4};
	assert_int_equal(x86_insn_effective_address(&m, gprs, 0),
			 0xFFFFF000u); /* wraps at 32 bits */
}

static void test_popcnt_semantics(void **state)
{
	uint64_t result, flags;

	flags = x86_popcnt(0xF0F0F0F0F0F0F0F0ull, 8, 0x8D5 /* CF PF AF SF OF set */, &result);
	assert_int_equal(result, 32);
	assert_int_equal(flags, 0);
	flags = x86_popcnt(0xFFFF0000ull, 2, 0x2, &result);
	assert_int_equal(result, 0);
	assert_int_equal(flags, 0x2 | 0x40); /* ZF: the 16-bit source is zero */
	x86_popcnt(0x1FFFFFFFFull, 4, 0x2, &result);
	assert_int_equal(result, 32);
	assert_int_equal(x86_gpr_merge(0xFFFFFFFFFFFFFFFFull, 5, 4), 5);
	assert_int_equal(x86_gpr_merge(0xFFFFFFFFFFFFFFFFull, 5, 2), 0xFFFFFFFFFFFF0005ull);
	assert_int_equal(x86_gpr_merge(1, 0x123456789ull, 8), 0x123456789ull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_int3),
		cmocka_unit_test(test_fwait),
		cmocka_unit_test(test_popcnt_register_forms),
		cmocka_unit_test(test_popcnt_memory_forms),
		cmocka_unit_test(test_truncated_and_unknown),
		cmocka_unit_test(test_effective_address),
		cmocka_unit_test(test_popcnt_semantics),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

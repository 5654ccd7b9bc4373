/*
 * Fuzz target: the hypercall decoder and dispatcher (hv/hypercall.c) on
 * guest-controlled registers and input pages. The input is:
 *
 *   bytes 0-1     how many bytes follow as the contents of guest page 1
 *                 (GPA 0x1000, where Linux-like inputs live), at most 4096
 *   that many     the page contents
 *   then records of 25 bytes, one hypercall each:
 *     byte 0      bit 0: 64-bit convention (else 32-bit); bit 1: the input
 *                 GPA is 0x1000 + (value % 8192), often RAM; bit 2: same for
 *                 the output GPA; bit 3: turn the hypercall page off first;
 *                 bit 4: the calling VP; bit 5: from CPL 3; bit 6: from
 *                 real mode (32-bit convention only): both refused with #UD
 *     bytes 1-8   control word (RCX, or EDX:EAX)
 *     bytes 9-16  input (RDX, or EBX:ECX)
 *     bytes 17-24 output (R8, or EDI:ESI)
 *
 * SINT 2 of both VPs is set up as Linux sets it, so handlers answering
 * through hv_synic_post_message and hv_synic_signal_event exercise the
 * SynIC too. Registers other than the result must be left untouched.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RECORD 25

static void setup_guest(struct fuzz_env *e)
{
	unsigned vp;

	(void)hv_msr_write(e->hv, 0, HV_MSR_GUEST_OS_ID, 0x8100000006010000ull);
	(void)hv_msr_write(e->hv, 0, HV_MSR_HYPERCALL, 0x0000 | 1);
	for (vp = 0; vp < 2; vp++) {
		(void)hv_msr_write(e->hv, vp, HV_MSR_SIMP, (0x4000 + vp * 0x2000) | 1);
		(void)hv_msr_write(e->hv, vp, HV_MSR_SIEFP, (0x5000 + vp * 0x2000) | 1);
		(void)hv_msr_write(e->hv, vp, HV_MSR_SINT0 + 2, 0xF3);
		(void)hv_msr_write(e->hv, vp, HV_MSR_SCONTROL, 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_env e;
	size_t page_len, off;

	if (size < 2 || fuzz_env_init(&e, 2, 4) < 0)
		return 0;
	setup_guest(&e);
	page_len = (size_t)(data[0] | data[1] << 8) % 4097;
	if (page_len > size - 2)
		page_len = size - 2;
	if (guest_memory_write(e.mem, 0x1000, data + 2, page_len) < 0)
		__builtin_trap();
	for (off = 2 + page_len; off + RECORD <= size; off += RECORD) {
		const uint8_t *r = data + off;
		uint64_t control = fuzz_le64(r + 1), in = fuzz_le64(r + 9), out = fuzz_le64(r + 17);
		struct vcpu_gprs regs, before;
		struct vcpu_mode mode;
		bool long_mode = r[0] & 1, refused;

		if (r[0] & 2)
			in = 0x1000 + in % 8192;
		if (r[0] & 4)
			out = 0x1000 + out % 8192;
		if (r[0] & 8)
			(void)hv_msr_write(e.hv, 0, HV_MSR_HYPERCALL, in & 1 ? 0x0001 : 0);
		if (long_mode)
			regs = (struct vcpu_gprs){
				.rcx = control, .rdx = in, .r8 = out, .rax = 0x77};
		else
			regs = (struct vcpu_gprs){.rax = control & 0xFFFFFFFF,
						  .rdx = control >> 32,
						  .rcx = in & 0xFFFFFFFF,
						  .rbx = in >> 32,
						  .rsi = out & 0xFFFFFFFF,
						  .rdi = out >> 32};
		before = regs;
		mode = (struct vcpu_mode){.protected_mode = !(r[0] & 0x40) || long_mode,
					  .long_mode = long_mode,
					  .cpl = r[0] & 0x20 ? 3 : 0};
		refused = !hv_hypercall(e.hv, (r[0] >> 4) % 2, &regs, &mode);
		/* Refused (CPL > 0, real mode): #UD, and not one register changed. */
		if (refused != (mode.cpl != 0 || !mode.protected_mode) ||
		    (refused && memcmp(&regs, &before, sizeof(regs))))
			__builtin_trap();
		if (refused)
			continue;
		/* Only the result registers may change; reserved result bits stay clear. */
		if (regs.rbx != before.rbx || regs.rsi != before.rsi || regs.rdi != before.rdi ||
		    regs.rip != before.rip || regs.r8 != before.r8)
			__builtin_trap();
		if (long_mode && (regs.rcx != before.rcx || regs.rdx != before.rdx ||
				  (regs.rax != before.rax && (regs.rax & ~0x00000FFF0000FFFFull))))
			__builtin_trap();
		if (!long_mode && regs.rcx != before.rcx)
			__builtin_trap();
		e.tsc += 1000;
	}
	hv_free(e.hv);
	return 0;
}

/*
 * Completing instructions that KVM's emulator gives up on.
 *
 * On PVM hosts (research/PVM-GROUND.md) guest code at CPL0 is emulated, and
 * the emulator ends KVM_RUN with KVM_EXIT_INTERNAL_ERROR (emulation) on a
 * few instructions Linux runs at boot. Where the result is exactly defined
 * and cheap we finish the instruction here:
 *   - int3: the CPU delivers #BP with RIP after the instruction (SDM Vol. 2A
 *     "INT n/INTO/INT3"); Linux's int3_selftest() depends on it;
 *   - popcnt: register and memory forms, flags as the SDM's POPCNT page;
 *   - fwait: waits for pending unmasked x87 exceptions (SDM Vol. 2A
 *     "WAIT/FWAIT"): with none pending (FSW.ES clear) it does nothing, so
 *     RIP moves past it; Linux runs it in fpu__drop() when any task exits.
 * Anything else is described (decoded bytes) and the caller stops the VM.
 * On hardware virtualization these exits do not happen; the code is the
 * same for both.
 *
 * Only at CPL 0 (the guest kernel, which PVM emulates; user code runs
 * natively and never needs this): an exit at CPL > 0 gets #UD, as from a
 * CPU without the instruction, so that user code can neither make the
 * worker read memory for it nor stop the VM. The worker's own accesses
 * (instruction fetch, popcnt's memory operand) are checked against the
 * page permissions the guest's CPU would check (XD, SMEP, SMAP): a
 * protection fault is not completed either.
 */
#include "vid/partition_internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vid/x86_insn.h"
#include "vid/x86_mmu.h"

#define CR0_PE	  1u
#define EFER_LMA  (1u << 10)
#define RFLAGS_AC (1u << 18)
#define UD_VECTOR 6
#define BP_VECTOR 3

/* Encoding order (enum x86_gpr) -> field of struct kvm_regs. */
static const size_t kvm_gpr_offset[X86_NR_GPRS] = {
	offsetof(struct kvm_regs, rax), offsetof(struct kvm_regs, rcx),
	offsetof(struct kvm_regs, rdx), offsetof(struct kvm_regs, rbx),
	offsetof(struct kvm_regs, rsp), offsetof(struct kvm_regs, rbp),
	offsetof(struct kvm_regs, rsi), offsetof(struct kvm_regs, rdi),
	offsetof(struct kvm_regs, r8),	offsetof(struct kvm_regs, r9),
	offsetof(struct kvm_regs, r10), offsetof(struct kvm_regs, r11),
	offsetof(struct kvm_regs, r12), offsetof(struct kvm_regs, r13),
	offsetof(struct kvm_regs, r14), offsetof(struct kvm_regs, r15),
};

static __u64 *kvm_gpr(struct kvm_regs *regs, int gpr)
{
	return (__u64 *)((char *)regs + kvm_gpr_offset[gpr]);
}

static enum x86_cpu_mode cpu_mode(const struct kvm_sregs *s)
{
	if (!(s->cr0 & CR0_PE))
		return X86_MODE_16;
	if ((s->efer & EFER_LMA) && s->cs.l)
		return X86_MODE_64;
	return s->cs.db ? X86_MODE_32 : X86_MODE_16;
}

static uint64_t segment_base(const struct kvm_sregs *s, enum x86_cpu_mode mode, enum x86_seg seg)
{
	const struct kvm_segment *segs[] = {&s->es, &s->cs, &s->ss, &s->ds, &s->fs, &s->gs};

	/* In 64-bit mode only FS and GS have a base (SDM Vol. 1 §3.4.2.1). */
	if (mode == X86_MODE_64 && seg != X86_FS && seg != X86_GS)
		return 0;
	return segs[seg]->base;
}

/* The instruction bytes: from KVM if it reported them, else fetched through the guest's page
 * tables as its CPU would at CPL 0 (execute permission). */
static size_t fetch_bytes(struct vcpu *v, const struct kvm_sregs *s, uint64_t linear, uint8_t *buf)
{
	const struct x86_paging paging = {s->cr0, s->cr3, s->cr4, s->efer};
	const struct x86_access fetch = {.kind = X86_ACCESS_FETCH, .cpl = 0};
	size_t n = 0;

	if (v->run->emulation_failure.ndata >= 3 &&
	    (v->run->emulation_failure.flags &
	     KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		n = MIN((size_t)v->run->emulation_failure.insn_size, (size_t)X86_INSN_MAX_LEN);
		memcpy(buf, v->run->emulation_failure.insn_bytes, n);
		if (n)
			return n;
	}
	/* Byte by byte, so an instruction at the end of the last mapped page still decodes. */
	for (n = 0; n < X86_INSN_MAX_LEN; n++)
		if (x86_mmu_read_access(v->partition->mem, &paging, &fetch, linear + n, &buf[n],
					1) < 0)
			break;
	return n;
}

static int complete_int3(struct vcpu *v, struct kvm_regs *regs, const struct x86_insn *insn)
{
	struct kvm_vcpu_events events;

	regs->rip += insn->len;
	if (ioctl(v->fd, KVM_SET_REGS, regs) < 0 || ioctl(v->fd, KVM_GET_VCPU_EVENTS, &events) < 0)
		return -errno;
	events.exception.injected = 1;
	events.exception.nr = BP_VECTOR;
	events.exception.has_error_code = 0;
	events.exception.error_code = 0;
	events.flags = 0;
	if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &events) < 0)
		return -errno;
	atomic_fetch_add(&v->partition->exits.completed_int3, 1);
	return 0;
}

static int complete_popcnt(struct vcpu *v, struct kvm_regs *regs, const struct kvm_sregs *s,
			   enum x86_cpu_mode mode, const struct x86_insn *insn, char *detail,
			   size_t dlen)
{
	uint64_t src = 0, result, next_rip = regs->rip + insn->len;
	int r;

	if (insn->rm_is_reg) {
		src = *kvm_gpr(regs, insn->rm_reg);
	} else {
		const struct x86_paging paging = {s->cr0, s->cr3, s->cr4, s->efer};
		const struct x86_access read = {
			.kind = X86_ACCESS_READ, .cpl = 0, .ac = regs->rflags & RFLAGS_AC};
		uint64_t gprs[X86_NR_GPRS], linear;
		int i;

		for (i = 0; i < X86_NR_GPRS; i++)
			gprs[i] = *kvm_gpr(regs, i);
		linear = segment_base(s, mode, insn->mem.seg) +
			 x86_insn_effective_address(&insn->mem, gprs, next_rip);
		if (mode != X86_MODE_64)
			linear &= 0xFFFFFFFF;
		r = x86_mmu_read_access(v->partition->mem, &paging, &read, linear, &src,
					insn->op_size);
		if (r < 0) {
			/* A fault here would need #PF delivery with the right CR2: not worth
			 * guessing. */
			snprintf(detail, dlen, "popcnt source at linear %#llx is %s\n",
				 (unsigned long long)linear,
				 r == -EACCES ? "protected (SMAP)" : "not mapped");
			return -EOPNOTSUPP;
		}
	}
	regs->rflags = x86_popcnt(src, insn->op_size, regs->rflags, &result);
	*kvm_gpr(regs, insn->reg) = x86_gpr_merge(*kvm_gpr(regs, insn->reg), result, insn->op_size);
	regs->rip = next_rip;
	if (mode != X86_MODE_64)
		regs->rip &= 0xFFFFFFFF;
	if (ioctl(v->fd, KVM_SET_REGS, regs) < 0)
		return -errno;
	atomic_fetch_add(&v->partition->exits.completed_popcnt, 1);
	return 0;
}

static int complete_fwait(struct vcpu *v, struct kvm_regs *regs, const struct kvm_sregs *s,
			  const struct x86_insn *insn, char *detail, size_t dlen)
{
	const uint64_t cr0_mp_ts = (1u << 1) | (1u << 3);
	struct kvm_fpu fpu;

	/* CR0.MP and CR0.TS both set: fwait raises #NM; not ours to deliver. */
	if ((s->cr0 & cr0_mp_ts) == cr0_mp_ts) {
		snprintf(detail, dlen, "fwait with CR0.TS and CR0.MP set (#NM)\n");
		return -EOPNOTSUPP;
	}
	if (ioctl(v->fd, KVM_GET_FPU, &fpu) < 0)
		return -errno;
	/* FSW.ES (bit 7): an unmasked exception is pending and fwait would raise #MF. */
	if (fpu.fsw & 0x80) {
		snprintf(detail, dlen, "fwait with a pending x87 exception (FSW %#x)\n", fpu.fsw);
		return -EOPNOTSUPP;
	}
	regs->rip += insn->len;
	if (ioctl(v->fd, KVM_SET_REGS, regs) < 0)
		return -errno;
	return 0;
}

/* CPL > 0: #UD (the instruction is not there, as far as user code can tell), RIP unchanged. */
static int refuse_user(struct vcpu *v)
{
	struct kvm_vcpu_events events;

	if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &events) < 0)
		return -EOPNOTSUPP;
	events.exception.injected = 1;
	events.exception.nr = UD_VECTOR;
	events.exception.has_error_code = 0;
	events.exception.error_code = 0;
	events.flags = 0;
	if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &events) < 0)
		return -EOPNOTSUPP;
	atomic_fetch_add(&v->partition->exits.refused_cpl, 1);
	return 0;
}

int pvm_complete_instruction(struct vcpu *v, char *detail, size_t dlen)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	enum x86_cpu_mode mode;
	uint8_t bytes[X86_INSN_MAX_LEN];
	struct x86_insn insn;
	size_t n;
	int r;

	if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0 || ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0) {
		snprintf(detail, dlen, "cannot read registers: %s\n", strerror(errno));
		return -EOPNOTSUPP;
	}
	if (x86_cpl(sregs.cr0, sregs.ss.dpl, regs.rflags) != 0)
		return refuse_user(v);
	mode = cpu_mode(&sregs);
	n = fetch_bytes(v, &sregs, segment_base(&sregs, mode, X86_CS) + regs.rip, bytes);
	r = x86_insn_decode(bytes, n, mode, &insn);
	if (r < 0) {
		snprintf(detail, dlen, "instruction not completed by the worker (%s)\n",
			 r == -ENODATA ? "bytes not readable" : "not int3, popcnt or fwait");
		return -EOPNOTSUPP;
	}
	if (insn.op == X86_INSN_INT3)
		r = complete_int3(v, &regs, &insn);
	else if (insn.op == X86_INSN_FWAIT)
		r = complete_fwait(v, &regs, &sregs, &insn, detail, dlen);
	else
		r = complete_popcnt(v, &regs, &sregs, mode, &insn, detail, dlen);
	if (r < 0 && r != -EOPNOTSUPP)
		snprintf(detail, dlen, "completing the instruction failed: %s\n", strerror(-r));
	return r < 0 ? -EOPNOTSUPP : 0;
}

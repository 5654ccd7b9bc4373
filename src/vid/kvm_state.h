/*
 * The saved state of KVM's part of a partition, as sections of a saved-
 * state file (src/state/): one "vcpu.N" per vCPU and "kvm.irqchip",
 * "kvm.pit", "kvm.clock" for the VM. Encoding and decoding only (no
 * ioctls), so that the decoder can be fuzzed and unit-tested without
 * /dev/kvm; partition_state.c gets and sets the state.
 *
 * A section is a list of records {u32 tag, u32 length, payload}; each
 * payload is the KVM structure of that tag exactly as KVM_GET_* returns it
 * (the KVM ABI, stable and little-endian on x86). The decoder refuses an
 * unknown tag, a length that is not the structure's, a tag twice, a
 * missing required record, and more than VCPU_STATE_MAX_MSRS MSRs. What
 * the values mean KVM checks when they are set.
 */
#pragma once

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "state/state.h"

#define VCPU_STATE_VERSION   1u
#define KVM_VM_STATE_VERSION 1u
#define VCPU_STATE_MAX_MSRS  256u

struct vcpu_state_msr {
	uint32_t index;
	uint32_t reserved; /* 0 */
	uint64_t value;
};
_Static_assert(sizeof(struct vcpu_state_msr) == 16, "vcpu_state_msr");

/* Which records a vcpu_state holds (bit per tag). */
enum vcpu_state_tag {
	VCPU_TAG_REGS = 1,
	VCPU_TAG_SREGS,
	VCPU_TAG_SREGS2,
	VCPU_TAG_XSAVE,
	VCPU_TAG_XCRS,
	VCPU_TAG_LAPIC,
	VCPU_TAG_EVENTS,
	VCPU_TAG_DEBUGREGS,
	VCPU_TAG_MP_STATE,
	VCPU_TAG_MSRS,
	VCPU_TAG_COUNT,
};

struct vcpu_state {
	uint32_t present; /* 1u << enum vcpu_state_tag */
	struct kvm_regs regs;
	struct kvm_sregs sregs;	  /* when KVM has no SREGS2 */
	struct kvm_sregs2 sregs2; /* preferred: carries the PDPTRs */
	/* struct kvm_xsave, whose flexible tail (KVM_GET_XSAVE2's extra) is not used */
	uint32_t xsave[1024];
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_debugregs debugregs;
	struct kvm_mp_state mp_state;
	unsigned nmsrs;
	struct vcpu_state_msr msrs[VCPU_STATE_MAX_MSRS];
};

_Static_assert(sizeof(struct kvm_xsave) == sizeof(((struct vcpu_state *)0)->xsave), "xsave");

void vcpu_state_encode(const struct vcpu_state *s, struct state_out *out);
/* Decodes a "vcpu.N" section; -EBADMSG with errbuf naming the record that is wrong. */
int vcpu_state_decode(struct state_in *in, struct vcpu_state *s, char *errbuf,
		      size_t errlen) must_check;

/* The VM's in-kernel devices: PIC master, PIC slave, IOAPIC; the PIT; kvmclock. */
struct kvm_vm_state {
	struct kvm_irqchip chips[3]; /* chip_id 0, 1, 2 (KVM_IRQCHIP_PIC_MASTER ...) */
	struct kvm_pit_state2 pit;
	bool have_pit;
	struct kvm_clock_data clock;
};

void kvm_vm_state_encode_irqchip(const struct kvm_vm_state *s, struct state_out *out);
int kvm_vm_state_decode_irqchip(struct state_in *in, struct kvm_vm_state *s, char *errbuf,
				size_t errlen) must_check;
void kvm_vm_state_encode_pit(const struct kvm_vm_state *s, struct state_out *out);
int kvm_vm_state_decode_pit(struct state_in *in, struct kvm_vm_state *s, char *errbuf,
			    size_t errlen) must_check;
void kvm_vm_state_encode_clock(const struct kvm_vm_state *s, struct state_out *out);
int kvm_vm_state_decode_clock(struct state_in *in, struct kvm_vm_state *s, char *errbuf,
			      size_t errlen) must_check;

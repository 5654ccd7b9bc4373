/*
 * Encoding and decoding of KVM's state for saved-state files (kvm_state.h).
 * One table says, per record tag, where the structure lives in struct
 * vcpu_state, how long it is and whether a section must carry it.
 */
#include "vid/kvm_state.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct record_desc {
	const char *name;
	size_t offset, size; /* size 0: the MSR list (variable) */
	bool required;
};

/* clang-format off */
static const struct record_desc records[VCPU_TAG_COUNT] = {
	[VCPU_TAG_REGS]      = {"regs", offsetof(struct vcpu_state, regs), sizeof(struct kvm_regs), true},
	[VCPU_TAG_SREGS]     = {"sregs", offsetof(struct vcpu_state, sregs), sizeof(struct kvm_sregs), false},
	[VCPU_TAG_SREGS2]    = {"sregs2", offsetof(struct vcpu_state, sregs2), sizeof(struct kvm_sregs2), false},
	[VCPU_TAG_XSAVE]     = {"xsave", offsetof(struct vcpu_state, xsave), sizeof(struct kvm_xsave), true},
	[VCPU_TAG_XCRS]      = {"xcrs", offsetof(struct vcpu_state, xcrs), sizeof(struct kvm_xcrs), false},
	[VCPU_TAG_LAPIC]     = {"lapic", offsetof(struct vcpu_state, lapic), sizeof(struct kvm_lapic_state), true},
	[VCPU_TAG_EVENTS]    = {"events", offsetof(struct vcpu_state, events), sizeof(struct kvm_vcpu_events), true},
	[VCPU_TAG_DEBUGREGS] = {"debugregs", offsetof(struct vcpu_state, debugregs), sizeof(struct kvm_debugregs), false},
	[VCPU_TAG_MP_STATE]  = {"mp_state", offsetof(struct vcpu_state, mp_state), sizeof(struct kvm_mp_state), true},
	[VCPU_TAG_MSRS]      = {"msrs", 0, 0, true},
};
/* clang-format on */

static int bad(char *errbuf, size_t errlen, const char *what)
{
	snprintf(errbuf, errlen, "%s", what);
	return -EBADMSG;
}

void vcpu_state_encode(const struct vcpu_state *s, struct state_out *out)
{
	unsigned tag, i;

	for (tag = 1; tag < VCPU_TAG_COUNT; tag++) {
		if (!(s->present & (1u << tag)))
			continue;
		state_out_u32(out, tag);
		if (tag == VCPU_TAG_MSRS) {
			state_out_u32(out, s->nmsrs * (uint32_t)sizeof(struct vcpu_state_msr));
			for (i = 0; i < s->nmsrs; i++) {
				state_out_u32(out, s->msrs[i].index);
				state_out_u32(out, 0);
				state_out_u64(out, s->msrs[i].value);
			}
			continue;
		}
		state_out_u32(out, (uint32_t)records[tag].size);
		state_out_bytes(out, (const uint8_t *)s + records[tag].offset, records[tag].size);
	}
}

static int decode_msrs(struct state_in *in, uint32_t len, struct vcpu_state *s, char *errbuf,
		       size_t errlen)
{
	unsigned i, j;

	if (len % sizeof(struct vcpu_state_msr) ||
	    len / sizeof(struct vcpu_state_msr) > VCPU_STATE_MAX_MSRS)
		return bad(errbuf, errlen, "vCPU record 'msrs': bad length or too many MSRs");
	s->nmsrs = len / sizeof(struct vcpu_state_msr);
	for (i = 0; i < s->nmsrs; i++) {
		s->msrs[i].index = state_in_u32(in);
		s->msrs[i].reserved = state_in_u32(in);
		s->msrs[i].value = state_in_u64(in);
		if (s->msrs[i].reserved)
			return bad(errbuf, errlen, "vCPU record 'msrs': reserved field set");
		for (j = 0; j < i; j++)
			if (s->msrs[j].index == s->msrs[i].index)
				return bad(errbuf, errlen,
					   "vCPU record 'msrs': an MSR appears twice");
	}
	return 0;
}

int vcpu_state_decode(struct state_in *in, struct vcpu_state *s, char *errbuf, size_t errlen)
{
	uint32_t tag, len;
	unsigned t;
	int r;

	memset(s, 0, sizeof(*s));
	while (!in->error && in->pos < in->len) {
		tag = state_in_u32(in);
		len = state_in_u32(in);
		if (in->error)
			return bad(errbuf, errlen, "vCPU section: truncated record header");
		if (tag == 0 || tag >= VCPU_TAG_COUNT) {
			snprintf(errbuf, errlen, "vCPU section: unknown record tag %u", tag);
			return -EBADMSG;
		}
		if (s->present & (1u << tag)) {
			snprintf(errbuf, errlen, "vCPU record '%s' appears twice",
				 records[tag].name);
			return -EBADMSG;
		}
		if (len > in->len - in->pos) {
			snprintf(errbuf, errlen, "vCPU record '%s' runs past the section",
				 records[tag].name);
			return -EBADMSG;
		}
		if (tag == VCPU_TAG_MSRS) {
			r = decode_msrs(in, len, s, errbuf, errlen);
			if (r < 0)
				return r;
		} else if (len != records[tag].size) {
			snprintf(errbuf, errlen, "vCPU record '%s' is %u bytes, expected %zu",
				 records[tag].name, len, records[tag].size);
			return -EBADMSG;
		} else {
			state_in_bytes(in, (uint8_t *)s + records[tag].offset, len);
		}
		s->present |= 1u << tag;
	}
	for (t = 1; t < VCPU_TAG_COUNT; t++)
		if (records[t].required && !(s->present & (1u << t))) {
			snprintf(errbuf, errlen, "vCPU section has no '%s' record",
				 records[t].name);
			return -EBADMSG;
		}
	if (!!(s->present & (1u << VCPU_TAG_SREGS)) == !!(s->present & (1u << VCPU_TAG_SREGS2)))
		return bad(errbuf, errlen,
			   "vCPU section needs exactly one of 'sregs' and 'sregs2'");
	return in->error ? bad(errbuf, errlen, "vCPU section truncated") : 0;
}

void kvm_vm_state_encode_irqchip(const struct kvm_vm_state *s, struct state_out *out)
{
	state_out_bytes(out, s->chips, sizeof(s->chips));
}

int kvm_vm_state_decode_irqchip(struct state_in *in, struct kvm_vm_state *s, char *errbuf,
				size_t errlen)
{
	unsigned i;

	state_in_bytes(in, s->chips, sizeof(s->chips));
	if (in->error)
		return bad(errbuf, errlen, "section 'kvm.irqchip' is too short");
	for (i = 0; i < ARRAY_SIZE(s->chips); i++)
		if (s->chips[i].chip_id != i)
			return bad(errbuf, errlen,
				   "section 'kvm.irqchip': chips not in the order PIC master, PIC "
				   "slave, IOAPIC");
	return 0;
}

void kvm_vm_state_encode_pit(const struct kvm_vm_state *s, struct state_out *out)
{
	state_out_bytes(out, &s->pit, sizeof(s->pit));
}

int kvm_vm_state_decode_pit(struct state_in *in, struct kvm_vm_state *s, char *errbuf,
			    size_t errlen)
{
	state_in_bytes(in, &s->pit, sizeof(s->pit));
	s->have_pit = !in->error;
	return in->error ? bad(errbuf, errlen, "section 'kvm.pit' is too short") : 0;
}

void kvm_vm_state_encode_clock(const struct kvm_vm_state *s, struct state_out *out)
{
	state_out_bytes(out, &s->clock, sizeof(s->clock));
}

int kvm_vm_state_decode_clock(struct state_in *in, struct kvm_vm_state *s, char *errbuf,
			      size_t errlen)
{
	state_in_bytes(in, &s->clock, sizeof(s->clock));
	return in->error ? bad(errbuf, errlen, "section 'kvm.clock' is too short") : 0;
}

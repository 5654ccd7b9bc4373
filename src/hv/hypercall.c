/*
 * The hypercall interface (TLFS: "Hypercall Interface"): the hypercall
 * page, the decoding of the input value and the register conventions,
 * the checks common to every call, and the two calls Parvis implements,
 * HvCallPostMessage (0x005C) and HvCallSignalEvent (0x005D).
 *
 * KVM runs vmcall/vmmcall itself, so the hypercall page holds
 * "out imm8, al; ret" to the hypercall port instead; vid hands the trap
 * to hv_hypercall on the vCPU's thread with its registers. Everything
 * after the register convention is pure over guest memory and the
 * registries (hv_hypercall_dispatch), which the fuzzer drives.
 *
 * Guest input is copied out of guest memory once, then validated.
 */
#include "hv/hv_internal.h"

#include <errno.h>
#include <string.h>

#define X86_OUT_IMM8_AL 0xE6
#define X86_RET		0xC3
#define X86_INT3	0xCC

int hv_hypercall_page_fill(struct hv *hv, uint64_t gpa)
{
	uint8_t page[HV_PAGE_SIZE];

	/*
	 * The same three bytes serve the 64-bit and the 32-bit conventions:
	 * the trap reads the registers of either. The rest is int3, so a
	 * stray jump into the page traps instead of running on (as Hyper-V
	 * and OpenVMM fill it).
	 */
	memset(page, X86_INT3, sizeof(page));
	page[0] = X86_OUT_IMM8_AL;
	page[1] = (uint8_t)hv->hypercall_port;
	page[2] = X86_RET;
	return guest_memory_write(hv->platform.mem, gpa, page, sizeof(page));
}

uint16_t hv_hypercall_decode(uint64_t control, bool rep, struct hv_hypercall_control *out)
{
	*out = (struct hv_hypercall_control){
		.code = (uint16_t)(control & HV_HYPERCALL_CODE_MASK),
		.fast = (control & HV_HYPERCALL_FAST) != 0,
		.var_header_qwords = (uint16_t)((control & HV_HYPERCALL_VARHEAD_MASK) >>
						HV_HYPERCALL_VARHEAD_SHIFT),
		.rep_count = (uint16_t)((control & HV_HYPERCALL_REP_COUNT_MASK) >>
					HV_HYPERCALL_REP_COUNT_SHIFT),
		.rep_start = (uint16_t)((control & HV_HYPERCALL_REP_START_MASK) >>
					HV_HYPERCALL_REP_START_SHIFT),
	};
	/*
	 * TLFS "Hypercall Status Codes": reserved bits set, a rep count on a
	 * simple call or none on a rep call, or a start index not below the
	 * count are HV_STATUS_INVALID_HYPERCALL_INPUT.
	 */
	if (control & HV_HYPERCALL_RESERVED)
		return HV_STATUS_INVALID_HYPERCALL_INPUT;
	if (!rep && (out->rep_count || out->rep_start))
		return HV_STATUS_INVALID_HYPERCALL_INPUT;
	if (rep && (out->rep_count == 0 || out->rep_start >= out->rep_count))
		return HV_STATUS_INVALID_HYPERCALL_INPUT;
	return HV_STATUS_SUCCESS;
}

uint64_t hv_hypercall_result(uint16_t status, uint16_t reps_done)
{
	return status | (((uint64_t)reps_done << HV_HYPERCALL_RESULT_REPS_SHIFT) &
			 HV_HYPERCALL_RESULT_REPS_MASK);
}

/*
 * Copies a memory input block out of the guest: 8-byte aligned, inside
 * one page, inside guest RAM, else HV_STATUS_INVALID_ALIGNMENT (the TLFS
 * lists all three under that status, "not within the bounds of the GPA
 * space" included; the MMIO hole is not RAM and counts as outside).
 */
static uint16_t read_input(struct hv *hv, uint64_t gpa, void *buf, size_t len)
{
	if (gpa % HV_HYPERCALL_ALIGN || (gpa & (HV_PAGE_SIZE - 1)) + len > HV_PAGE_SIZE ||
	    guest_memory_read(hv->platform.mem, gpa, buf, len) < 0)
		return HV_STATUS_INVALID_ALIGNMENT;
	return HV_STATUS_SUCCESS;
}

struct call_input {
	struct hv_hypercall_control c;
	uint64_t input;	 /* GPA, or fast input 1 */
	uint64_t output; /* GPA, or fast input 2 */
};

/* HvCallPostMessage: memory input only (256 bytes do not fit in two registers). */
static uint16_t post_message(struct hv *hv, unsigned vp, const struct call_input *in)
{
	struct hv_input_post_message msg;
	struct hv_handler h;
	uint16_t st;

	HV_COUNT(hv, hypercall_post_message);
	if (in->c.fast)
		return HV_STATUS_INVALID_HYPERCALL_INPUT;
	st = read_input(hv, in->input, &msg, sizeof(msg));
	if (st != HV_STATUS_SUCCESS) {
		hv_guest_error(hv, "HvPostMessage: input at %#llx is not an aligned block of RAM",
			       (unsigned long long)in->input);
		return st;
	}
	if (msg.reserved)
		return HV_STATUS_INVALID_HYPERCALL_INPUT;
	if (msg.message_type == HV_MESSAGE_TYPE_NONE ||
	    (msg.message_type & HV_MESSAGE_TYPE_HYPERVISOR_MASK) ||
	    msg.payload_size > HV_MESSAGE_PAYLOAD_BYTES) {
		hv_guest_error(hv, "HvPostMessage: message type %#x, payload size %u",
			       msg.message_type, msg.payload_size);
		return HV_STATUS_INVALID_PARAMETER;
	}
	if (!hv_registry_lookup(&hv->messages, msg.connection_id, &h))
		return HV_STATUS_INVALID_CONNECTION_ID;
	return ((hv_message_fn)h.fn)(h.opaque, vp, msg.message_type, msg.payload, msg.payload_size);
}

/* HvCallSignalEvent: usually fast (the 8 input bytes in RDX), memory input accepted too. */
static uint16_t signal_event(struct hv *hv, unsigned vp, const struct call_input *in)
{
	struct hv_input_signal_event ev;
	struct hv_handler h;
	uint16_t st;

	HV_COUNT_VP(hv, vp, hypercall_signal_event);
	if (in->c.fast) {
		ev = (struct hv_input_signal_event){
			.connection_id = (uint32_t)in->input,
			.flag_number = (uint16_t)(in->input >> 32),
			.reserved = (uint16_t)(in->input >> 48),
		};
	} else {
		st = read_input(hv, in->input, &ev, sizeof(ev));
		if (st != HV_STATUS_SUCCESS)
			return st;
	}
	if (ev.reserved)
		return HV_STATUS_INVALID_HYPERCALL_INPUT;
	if (!hv_registry_lookup(&hv->events, ev.connection_id, &h))
		return HV_STATUS_INVALID_CONNECTION_ID;
	return ((hv_event_fn)h.fn)(h.opaque, vp, ev.connection_id, ev.flag_number);
}

struct call {
	uint16_t code;
	bool rep;	 /* a rep call: the handler reports reps completed */
	bool var_header; /* takes a variable-size header */
	uint16_t (*fn)(struct hv *hv, unsigned vp, const struct call_input *in);
};

static const struct call calls[] = {
	{.code = HVCALL_POST_MESSAGE, .fn = post_message},
	{.code = HVCALL_SIGNAL_EVENT, .fn = signal_event},
};

uint64_t hv_hypercall_dispatch(struct hv *hv, unsigned vp, uint64_t control, uint64_t input,
			       uint64_t output)
{
	uint16_t code = (uint16_t)(control & HV_HYPERCALL_CODE_MASK);
	const struct call *call = NULL;
	struct call_input in = {.input = input, .output = output};
	uint16_t st;
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(calls); i++)
		if (calls[i].code == code)
			call = &calls[i];
	if (!call) {
		hv_guest_error(hv, "hypercall %#x: unknown call code", code);
		HV_COUNT(hv, hypercall_unknown);
		HV_COUNT(hv, hypercall_failed);
		return hv_hypercall_result(HV_STATUS_INVALID_HYPERCALL_CODE, 0);
	}
	st = hv_hypercall_decode(control, call->rep, &in.c);
	if (st == HV_STATUS_SUCCESS && in.c.var_header_qwords && !call->var_header)
		st = HV_STATUS_INVALID_HYPERCALL_INPUT;
	if (st != HV_STATUS_SUCCESS)
		hv_guest_error(hv, "hypercall %#x: bad input value %#llx", code,
			       (unsigned long long)control);
	else
		st = call->fn(hv, vp, &in);
	if (st != HV_STATUS_SUCCESS)
		HV_COUNT(hv, hypercall_failed);
	/* No rep call exists yet: a simple call completes no reps. */
	return hv_hypercall_result(st, 0);
}

bool hv_hypercall(struct hv *hv, unsigned vp, struct vcpu_gprs *regs, const struct vcpu_mode *mode)
{
	uint64_t control, input, output, result;
	bool enabled, long_mode = mode->long_mode;

	HV_COUNT_VP(hv, vp, hypercalls);
	/* Guest user code (or real mode) never reaches the hypervisor: #UD, nothing done. */
	if (mode->cpl != 0 || !mode->protected_mode) {
		HV_COUNT(hv, hypercall_refused);
		hv_guest_error(hv, "hypercall from %s: #UD",
			       mode->protected_mode ? "CPL > 0" : "real mode");
		return false;
	}
	/* Written under hv->lock (msr.c); one atomic load here: no lock on the hot path. */
	enabled = (__atomic_load_n(&hv->hypercall_msr, __ATOMIC_ACQUIRE) &
		   HV_HYPERCALL_MSR_ENABLE) != 0;
	/*
	 * Without an enabled hypercall page there are no hypercalls: the
	 * trap is an out to an unassigned port, and registers stay as they
	 * are (Hyper-V raises #UD for vmcall then; the guest has no page to
	 * call through anyway).
	 */
	if (!enabled || vp >= hv->platform.vp_count) {
		HV_COUNT(hv, hypercall_disabled);
		return true;
	}
	if (long_mode) {
		control = regs->rcx;
		input = regs->rdx;
		output = regs->r8;
	} else {
		/* 32-bit: EDX:EAX control, EBX:ECX in, EDI:ESI out; upper halves undefined. */
		control = (regs->rdx & 0xFFFFFFFFu) << 32 | (regs->rax & 0xFFFFFFFFu);
		input = (regs->rbx & 0xFFFFFFFFu) << 32 | (regs->rcx & 0xFFFFFFFFu);
		output = (regs->rdi & 0xFFFFFFFFu) << 32 | (regs->rsi & 0xFFFFFFFFu);
	}
	result = hv_hypercall_dispatch(hv, vp, control, input, output);
	if (long_mode) {
		regs->rax = result;
	} else {
		regs->rax = result & 0xFFFFFFFFu;
		regs->rdx = result >> 32;
	}
	return true;
}

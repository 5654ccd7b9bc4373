/*
 * Fuzz target: the synthetic MSR handlers (hv/msr.c, hv/synic.c,
 * hv/ref_time.c) on a guest's sequence of rdmsr/wrmsr, interleaved with
 * what the host and the guest do to the SynIC pages. The input is a
 * sequence of 11-byte operations:
 *
 *   byte 0     bits 0-2: 0 rdmsr, 1 wrmsr, 2 wrmsr with the value's GPA
 *              folded into guest RAM, 3 host posts a message, 4 host
 *              signals an event, 5 the guest frees a message slot (and
 *              writes EOM if the slot asks), 6 the TSC advances, 7 a
 *              hypercall-free SynIC set-up as Linux does it;
 *              bits 3-7: the VP (mod 3)
 *   byte 1     MSR: 0x40000000 + byte, or for 0xF0-0xFF a few MSRs
 *              outside that range
 *   bytes 2-9  value (or SINT, length, flag for host operations)
 *   byte 10    SINT for host operations (mod 17: 16 is invalid)
 *
 * Checked after every operation: VP_INDEX reads the VP, SVERSION reads 1,
 * a successful write of a plain register reads back.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OP  11
#define VPS 3

static const uint32_t outside[] = {0x40000100, 0x40000105, 0x40000118, 0x10, 0x1B, 0xC0000080};

static uint32_t msr_of(uint8_t b)
{
	if (b >= 0xF0)
		return outside[(b - 0xF0) % (sizeof(outside) / sizeof(outside[0]))];
	return 0x40000000u + b;
}

static void check(struct fuzz_env *e, unsigned vp)
{
	uint64_t v;

	if (hv_msr_read(e->hv, vp, HV_MSR_VP_INDEX, &v) < 0 || v != vp)
		__builtin_trap();
	if (hv_msr_read(e->hv, vp, HV_MSR_SVERSION, &v) < 0 || v != 1)
		__builtin_trap();
}

static void guest_free_slot(struct fuzz_env *e, unsigned vp, unsigned sint)
{
	uint64_t simp;
	uint8_t *slot;

	if (hv_msr_read(e->hv, vp, HV_MSR_SIMP, &simp) < 0 || !(simp & 1))
		return;
	slot = guest_memory_ptr(e->mem, (simp & ~0xFFFull) + sint * 256, 256);
	if (!slot)
		__builtin_trap(); /* hv accepted a SIMP outside RAM */
	__atomic_store_n((uint32_t *)slot, 0, __ATOMIC_SEQ_CST);
	if (slot[5] & 1)
		(void)hv_msr_write(e->hv, vp, HV_MSR_EOM, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t payload[250];
	struct fuzz_env e;
	size_t off;

	if (fuzz_env_init(&e, VPS, 2) < 0)
		return 0;
	for (off = 0; off + OP <= size; off += OP) {
		const uint8_t *o = data + off;
		unsigned vp = (o[0] >> 3) % VPS, sint = o[10] % 17;
		uint32_t msr = msr_of(o[1]);
		uint64_t v = fuzz_le64(o + 2), back;

		switch (o[0] & 7) {
		case 0: (void)hv_msr_read(e.hv, vp, msr, &back); break;
		case 2:
			v = (v & 0xFFF) | ((v >> 12) % (FUZZ_RAM_PAGES + 1)) << 12;
			/* fall through */
		case 1:
			if (hv_msr_write(e.hv, vp, msr, v) == 0 &&
			    (msr == HV_MSR_GUEST_OS_ID || msr == HV_MSR_SCONTROL ||
			     (msr >= HV_MSR_SINT0 && msr <= HV_MSR_SINT15)) &&
			    (hv_msr_read(e.hv, vp, msr, &back) < 0 || back != v))
				__builtin_trap();
			break;
		case 3:
			memset(payload, o[2], sizeof(payload));
			fuzz_post(e.hv, vp, sint, (uint32_t)v, payload, (size_t)(v >> 32) % 250);
			break;
		case 4: fuzz_signal(e.hv, vp, sint, (unsigned)(v % 2100)); break;
		case 5: guest_free_slot(&e, vp, sint % 16); break;
		case 6: e.tsc += v % (1ull << 40); break;
		case 7:
			(void)hv_msr_write(e.hv, vp, HV_MSR_SIMP, ((v % FUZZ_RAM_PAGES) << 12) | 1);
			(void)hv_msr_write(e.hv, vp, HV_MSR_SIEFP,
					   (((v >> 8) % FUZZ_RAM_PAGES) << 12) | 1);
			(void)hv_msr_write(e.hv, vp, HV_MSR_SINT0 + sint % 16, 16 + v % 240);
			(void)hv_msr_write(e.hv, vp, HV_MSR_SCONTROL, 1);
			break;
		}
		check(&e, vp);
	}
	hv_free(e.hv);
	return 0;
}

/*
 * Partition reference time (TLFS: "Timers" — the partition reference
 * counter and the reference TSC page): 100 ns ticks since the partition
 * was created.
 *
 * Parvis defines reference time as a function of the guest TSC,
 *
 *     ref(tsc) = ((tsc * scale) >> 64) + offset,   scale = 2^64 * 10^7 / tsc_hz,
 *
 * with scale and offset fixed when hv is created (offset makes ref 0 then).
 * The TSC page publishes exactly these two numbers, and the
 * TIME_REF_COUNT MSR reads the vCPU's TSC and applies the same formula,
 * so the page and the MSR never disagree (Linux falls back from one to the
 * other: hv_read_tsc_page_tsc in include/clocksource/hyperv_timer.h), and
 * both are as monotonic as the TSC itself. A clock derived from host time
 * instead would drift from the TSC by the error of the TSC frequency,
 * and could step back when the guest switches between page and MSR.
 */
#include "hv/hv_internal.h"

#include <errno.h>
#include <string.h>

#include "hvdef/tlfs_ref_tsc.h"

int hv_ref_time_init(struct hv *hv)
{
	uint64_t tsc = 0;

	/* Below 10 MHz the scale would not fit in 64 bits; no x86 TSC runs that slow. */
	if (hv->platform.tsc_hz < HV_REFERENCE_TIME_HZ)
		return -EINVAL;
	hv->ref_scale =
		(uint64_t)(((unsigned __int128)HV_REFERENCE_TIME_HZ << 64) / hv->platform.tsc_hz);
	hv->ref_offset = 0;
	/*
	 * Reference time starts at 0 now. KVM starts a new guest's TSC near 0
	 * too, but not every KVM does (PVM may not): read it. Before the
	 * vCPUs run, reading vCPU 0's TSC from this thread does not block.
	 */
	if (hv->platform.ops->read_tsc(hv->platform.opaque, 0, &tsc) == 0)
		hv->ref_offset = (int64_t)(0 - hv_ref_time_at(hv, tsc)); /* unsigned: no overflow */
	return 0;
}

uint64_t hv_ref_time_at(const struct hv *hv, uint64_t tsc)
{
	uint64_t ticks = (uint64_t)(((unsigned __int128)tsc * hv->ref_scale) >> 64);

	return ticks + (uint64_t)hv->ref_offset; /* the guest adds the signed offset the same way */
}

uint64_t hv_ref_time_read(struct hv *hv, unsigned vp)
{
	uint64_t tsc, now;

	if (hv->platform.ops->read_tsc(hv->platform.opaque, vp, &tsc) < 0) {
		/* A host failure: time stands still rather than jumping. */
		return __atomic_load_n(&hv->ref_last, __ATOMIC_RELAXED);
	}
	now = hv_ref_time_at(hv, tsc);
	__atomic_store_n(&hv->ref_last, now, __ATOMIC_RELAXED);
	return now;
}

int hv_ref_tsc_page_write(struct hv *hv, uint64_t gpa, uint32_t sequence)
{
	struct hv_reference_tsc_page *page;

	page = guest_memory_ptr(hv->platform.mem, gpa, sizeof(*page));
	if (!page)
		return -EFAULT;
	/*
	 * Invalidate first, so that a guest reading the page meanwhile
	 * (another vCPU) retries or falls back to the MSR, never mixes old
	 * and new values; then the values; then the new sequence, last.
	 */
	__atomic_store_n(&page->tsc_sequence, HV_REFERENCE_TSC_SEQUENCE_INVALID, __ATOMIC_SEQ_CST);
	memset(page->reserved2, 0, sizeof(page->reserved2));
	page->reserved1 = 0;
	__atomic_store_n(&page->tsc_scale, hv->ref_scale, __ATOMIC_RELAXED);
	__atomic_store_n(&page->tsc_offset, hv->ref_offset, __ATOMIC_RELAXED);
	__atomic_store_n(&page->tsc_sequence, sequence, __ATOMIC_RELEASE);
	return 0;
}

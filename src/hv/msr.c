/*
 * Synthetic MSRs (TLFS: "Hypercall Interface" — Establishing the
 * Hypercall Interface; "Virtual Processors" — VP index, VP run time, VP
 * assist page; "Timers" — reference counter, reference TSC page,
 * frequency MSRs). The SynIC's MSRs are in synic.c.
 *
 * Runs on the accessing vCPU's thread. A negative return makes the access
 * raise #GP: unknown MSRs, writes to read-only MSRs, reserved bits set,
 * pages outside guest RAM.
 */
#include "hv/hv_internal.h"

#include <errno.h>

#include "hvdef/tlfs_ref_tsc.h"

static struct hv_vp *vp_get(struct hv *hv, unsigned vp)
{
	return vp < hv->platform.vp_count ? &hv->vps[vp] : NULL;
}

static void count_access(struct hv *hv, uint32_t msr, bool write)
{
	uint32_t i = msr - HV_MSR_RANGE_BASE;

	if (i >= HV_MSR_RANGE_COUNT)
		HV_COUNT(hv, msr_other);
	else if (write)
		__atomic_fetch_add(&hv->stats.msr_writes[i], 1, __ATOMIC_RELAXED);
	else
		__atomic_fetch_add(&hv->stats.msr_reads[i], 1, __ATOMIC_RELAXED);
}

static int read_locked(struct hv *hv, const uint64_t *reg, uint64_t *value)
{
	pthread_mutex_lock(&hv->lock);
	*value = *reg;
	pthread_mutex_unlock(&hv->lock);
	return 0;
}

static int msr_read(struct hv *hv, struct hv_vp *vp, uint32_t msr, uint64_t *value)
{
	switch (msr) {
	case HV_MSR_GUEST_OS_ID: return read_locked(hv, &hv->guest_os_id, value);
	case HV_MSR_HYPERCALL:
		/* Linux's hv_is_hyperv_initialized() wants enable = 1 here. */
		return read_locked(hv, &hv->hypercall_msr, value);
	case HV_MSR_VP_INDEX: *value = vp->index; return 0;
	case HV_MSR_VP_RUNTIME:
		*value = hv->platform.ops->vp_runtime_ns(hv->platform.opaque, vp->index) / 100;
		return 0;
	case HV_MSR_TIME_REF_COUNT: *value = hv_ref_time_read(hv, vp->index); return 0;
	case HV_MSR_REFERENCE_TSC: return read_locked(hv, &hv->reference_tsc_msr, value);
	case HV_MSR_TSC_FREQUENCY: *value = hv->platform.tsc_hz; return 0;
	case HV_MSR_APIC_FREQUENCY: *value = HV_APIC_FREQUENCY_HZ; return 0;
	case HV_MSR_VP_ASSIST_PAGE: *value = vp->vp_assist_page; return 0;
	}
	if ((msr >= HV_MSR_SCONTROL && msr <= HV_MSR_EOM) ||
	    (msr >= HV_MSR_SINT0 && msr <= HV_MSR_SINT15))
		return hv_synic_msr_read(hv, vp, msr, value);
	return -ENOENT;
}

/*
 * HV_X64_MSR_GUEST_OS_ID: any value. Clearing it disables the hypercall
 * page (TLFS: "if the guest OS identity is cleared to zero, hypercalls
 * become disabled").
 */
static int write_guest_os_id(struct hv *hv, uint64_t value)
{
	pthread_mutex_lock(&hv->lock);
	hv->guest_os_id = value;
	if (!value)
		__atomic_store_n(&hv->hypercall_msr, hv->hypercall_msr & ~HV_HYPERCALL_MSR_ENABLE,
				 __ATOMIC_RELEASE);
	pthread_mutex_unlock(&hv->lock);
	return 0;
}

/*
 * HV_X64_MSR_HYPERCALL (partition-wide). Enabling writes the hypercall
 * page into the guest page the GPA names; a GPA that is not a page of
 * guest RAM is #GP (TLFS: "beyond the bounds of the GPA space"). Without
 * a guest OS identity the enable bit stays 0 (TLFS). Once locked, the
 * register cannot change until the partition is reset.
 */
static int write_hypercall(struct hv *hv, uint64_t value)
{
	uint64_t gpa = value & HV_MSR_PAGE_GPA_MASK;
	int r = 0;

	pthread_mutex_lock(&hv->lock);
	if (hv->hypercall_msr & HV_HYPERCALL_MSR_LOCKED) {
		hv_guest_error(hv, "HYPERCALL MSR write %#llx: the register is locked",
			       (unsigned long long)value);
		r = -EPERM;
	} else if (value & HV_HYPERCALL_MSR_RESERVED) {
		hv_guest_error(hv, "HYPERCALL MSR write %#llx: reserved bits",
			       (unsigned long long)value);
		r = -EINVAL;
	} else if ((value & HV_HYPERCALL_MSR_ENABLE) && !hv->guest_os_id) {
		hv_guest_error(hv, "hypercall page enabled before GUEST_OS_ID: stays disabled");
		__atomic_store_n(&hv->hypercall_msr, value & ~HV_HYPERCALL_MSR_ENABLE,
				 __ATOMIC_RELEASE);
	} else if (value & HV_HYPERCALL_MSR_ENABLE) {
		if (!hv_gpa_page_is_ram(hv, gpa) || hv_hypercall_page_fill(hv, gpa) < 0) {
			hv_guest_error(hv, "hypercall page at %#llx: not guest RAM",
				       (unsigned long long)gpa);
			r = -EFAULT;
		} else {
			__atomic_store_n(&hv->hypercall_msr, value, __ATOMIC_RELEASE);
		}
	} else {
		__atomic_store_n(&hv->hypercall_msr, value, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&hv->lock);
	return r;
}

/*
 * HV_X64_MSR_REFERENCE_TSC (partition-wide): enabling (re)writes the TSC
 * page with a new sequence number; its scale and offset never change.
 */
static int write_reference_tsc(struct hv *hv, uint64_t value)
{
	uint64_t gpa = value & HV_MSR_PAGE_GPA_MASK;
	int r = 0;

	if (value & HV_PAGE_MSR_RESERVED) {
		hv_guest_error(hv, "REFERENCE_TSC write %#llx: reserved bits",
			       (unsigned long long)value);
		return -EINVAL;
	}
	pthread_mutex_lock(&hv->lock);
	if (value & HV_MSR_PAGE_ENABLE) {
		uint32_t seq = hv->tsc_sequence + 1;

		if (seq == HV_REFERENCE_TSC_SEQUENCE_INVALID || seq == UINT32_MAX)
			seq = 1; /* never 0 (invalid); also skip the old spec's invalid value */
		if (!hv_gpa_page_is_ram(hv, gpa) || hv_ref_tsc_page_write(hv, gpa, seq) < 0) {
			hv_guest_error(hv, "reference TSC page at %#llx: not guest RAM",
				       (unsigned long long)gpa);
			r = -EFAULT;
		} else {
			hv->tsc_sequence = seq;
		}
	}
	if (r == 0)
		hv->reference_tsc_msr = value;
	pthread_mutex_unlock(&hv->lock);
	return r;
}

/*
 * HV_X64_MSR_VP_ASSIST_PAGE. Not advertised (HV_ACCESS_INTR_CTRL_REGS is
 * clear), but Linux 6.1 writes it on every CPU whatever the CPUID says
 * (hv_cpu_init in arch/x86/hyperv/hv_init.c), and a #GP there prints an
 * "unchecked MSR access" splat. It is accepted as a register: the page is
 * zeroed when enabled (an overlay page starts zeroed) and never used,
 * because nothing that would use it is advertised.
 */
static int write_vp_assist(struct hv *hv, struct hv_vp *vp, uint64_t value)
{
	uint64_t gpa = value & HV_MSR_PAGE_GPA_MASK;
	bool moved = !(vp->vp_assist_page & HV_MSR_PAGE_ENABLE) ||
		     (vp->vp_assist_page & HV_MSR_PAGE_GPA_MASK) != gpa;

	if (value & HV_PAGE_MSR_RESERVED) {
		hv_guest_error(hv, "VP_ASSIST_PAGE write %#llx: reserved bits",
			       (unsigned long long)value);
		return -EINVAL;
	}
	if ((value & HV_MSR_PAGE_ENABLE) && moved &&
	    (!hv_gpa_page_is_ram(hv, gpa) ||
	     guest_memory_fill(hv->platform.mem, gpa, 0, HV_PAGE_SIZE) < 0)) {
		hv_guest_error(hv, "VP assist page at %#llx: not guest RAM",
			       (unsigned long long)gpa);
		return -EFAULT;
	}
	vp->vp_assist_page = value;
	return 0;
}

static int msr_write(struct hv *hv, struct hv_vp *vp, uint32_t msr, uint64_t value)
{
	switch (msr) {
	case HV_MSR_GUEST_OS_ID: return write_guest_os_id(hv, value);
	case HV_MSR_HYPERCALL: return write_hypercall(hv, value);
	case HV_MSR_REFERENCE_TSC: return write_reference_tsc(hv, value);
	case HV_MSR_VP_ASSIST_PAGE: return write_vp_assist(hv, vp, value);
	case HV_MSR_VP_INDEX:
	case HV_MSR_VP_RUNTIME:
	case HV_MSR_TIME_REF_COUNT:
	case HV_MSR_TSC_FREQUENCY:
	case HV_MSR_APIC_FREQUENCY:
		hv_guest_error(hv, "write to read-only MSR %#x", msr);
		return -EPERM;
	}
	if ((msr >= HV_MSR_SCONTROL && msr <= HV_MSR_EOM) ||
	    (msr >= HV_MSR_SINT0 && msr <= HV_MSR_SINT15))
		return hv_synic_msr_write(hv, vp, msr, value);
	return -ENOENT;
}

int hv_msr_read(struct hv *hv, unsigned vpi, uint32_t msr, uint64_t *value)
{
	struct hv_vp *vp = vp_get(hv, vpi);
	int r;

	count_access(hv, msr, false);
	r = vp ? msr_read(hv, vp, msr, value) : -EINVAL;
	if (r < 0)
		HV_COUNT(hv, msr_gp);
	return r;
}

int hv_msr_write(struct hv *hv, unsigned vpi, uint32_t msr, uint64_t value)
{
	struct hv_vp *vp = vp_get(hv, vpi);
	int r;

	count_access(hv, msr, true);
	r = vp ? msr_write(hv, vp, msr, value) : -EINVAL;
	if (r < 0)
		HV_COUNT(hv, msr_gp);
	return r;
}

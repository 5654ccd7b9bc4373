/*
 * The hypervisor CPUID leaves 0x40000000-0x40000006 (TLFS: "Feature and
 * Interface Discovery"). Only what hv/ implements is advertised; every
 * bit below names the code that backs it. Linux reads these in
 * arch/x86/kernel/cpu/mshyperv.c (ms_hyperv_platform,
 * ms_hyperv_init_platform). No KVM signature is ever shown (vid strips
 * KVM's own hypervisor leaves): with one, Linux would take the guest for
 * KVM and never load hv_vmbus.
 */
#include "hv/hv_internal.h"

#include <errno.h>

#include "hvdef/tlfs_cpuid.h"

#define HV_MAX_LEAF HV_CPUID_HARDWARE_FEATURES

/*
 * 0x40000003 EAX. Not granted: synthetic timers (not implemented; Linux
 * then keeps the LAPIC timer), the APIC-access MSRs (EOI/ICR/TPR: the
 * in-kernel LAPIC serves the guest), reset, statistics, guest idle,
 * debug, reenlightenment, and TSC invariance: HV_ACCESS_TSC_INVARIANT_CONTROLS
 * promises a TSC that stays invariant across save/restore and migration,
 * which Parvis cannot promise; without it Linux marks the TSC unstable
 * and, as intended, runs on the reference TSC page (clocksource
 * hyperv_clocksource_tsc_page, drivers/clocksource/hyperv_timer.c).
 */
#define HV_PRIVILEGES_LOW                                                                          \
	(HV_ACCESS_VP_RUNTIME_REG |	     /* msr.c: thread CPU time of the vCPU */              \
	 HV_ACCESS_PARTITION_REF_COUNTER |   /* ref_time.c */                                      \
	 HV_ACCESS_SYNIC_REGS |		     /* synic.c */                                         \
	 HV_ACCESS_HYPERCALL_MSRS |	     /* msr.c, hypercall.c */                              \
	 HV_ACCESS_VP_INDEX |		     /* msr.c */                                           \
	 HV_ACCESS_PARTITION_REFERENCE_TSC | /* ref_time.c */                                      \
	 HV_ACCESS_FREQUENCY_REGS)	     /* msr.c: the guest skips TSC/LAPIC calibration */

/* 0x40000003 EBX: the two hypercalls of hypercall.c; nothing that makes a root partition. */
#define HV_PRIVILEGES_HIGH (HV_POST_MESSAGES | HV_SIGNAL_EVENTS)

/* 0x40000003 EDX: the frequency MSRs are there (Linux needs this and HV_ACCESS_FREQUENCY_REGS). */
#define HV_MISC_FEATURES HV_FEATURE_FREQUENCY_MSRS_AVAILABLE

/*
 * 0x40000004 EAX. DEPRECATING_AEOI is mandatory here: SINTs are injected
 * as fixed MSIs into KVM's in-kernel LAPIC, which cannot auto-EOI, so the
 * guest must EOI itself (Linux: sysvec_hyperv_callback in mshyperv.c, and
 * auto_eoi = 0 in drivers/hv/hv.c). RELAXED_TIMING: the vCPUs of a
 * user-space hypervisor can be descheduled, and on hosts where guest
 * kernel code is emulated (PVM) they run ~1500x slower than the guest
 * expects, so guests should not turn timing deviations into watchdog
 * errors (Windows bug-checks on CLOCK_WATCHDOG_TIMEOUT otherwise; Linux
 * ignores the hint). No hint to use hypercalls for TLB flushes or IPIs:
 * those hypercalls are not implemented.
 */
#define HV_HINTS (HV_HINT_DEPRECATING_AEOI | HV_HINT_RELAXED_TIMING)

/*
 * 0x40000002: the version of "Windows Server 2016" (10.0, build 14393),
 * as KVM reports too. Guests only print it (Linux: "Hyper-V: Host Build").
 */
#define HV_VERSION_BUILD       14393u
#define HV_VERSION_MAJOR_MINOR 0x000A0000u

int hv_cpuid(const struct hv *hv, uint32_t function, struct hv_cpuid_leaf *out)
{
	unsigned vps = hv->platform.vp_count;

	switch (function) {
	case HV_CPUID_VENDOR_AND_MAX_FUNCTIONS:
		*out = (struct hv_cpuid_leaf){HV_MAX_LEAF, HV_CPUID_SIGNATURE_EBX,
					      HV_CPUID_SIGNATURE_ECX, HV_CPUID_SIGNATURE_EDX};
		return 0;
	case HV_CPUID_INTERFACE:
		*out = (struct hv_cpuid_leaf){HV_CPUID_INTERFACE_HV1, 0, 0, 0};
		return 0;
	case HV_CPUID_VERSION:
		*out = (struct hv_cpuid_leaf){HV_VERSION_BUILD, HV_VERSION_MAJOR_MINOR, 0, 0};
		return 0;
	case HV_CPUID_FEATURES:
		*out = (struct hv_cpuid_leaf){HV_PRIVILEGES_LOW, HV_PRIVILEGES_HIGH, 0,
					      HV_MISC_FEATURES};
		return 0;
	case HV_CPUID_ENLIGHTENMENT_INFO:
		*out = (struct hv_cpuid_leaf){HV_HINTS, HV_SPINLOCK_RETRIES_NEVER, 0, 0};
		return 0;
	case HV_CPUID_IMPLEMENTATION_LIMITS:
		/* Max virtual processors, max logical processors: the partition's vCPUs. */
		*out = (struct hv_cpuid_leaf){vps, vps, 0, 0};
		return 0;
	case HV_CPUID_HARDWARE_FEATURES:
		/* No hardware virtualization features are reported in use. */
		*out = (struct hv_cpuid_leaf){0, 0, 0, 0};
		return 0;
	}
	return -ENOENT;
}

_Static_assert(HV_MAX_LEAF >= HV_CPUID_MAX_LEAF_MIN, "Linux wants leaves up to 0x40000005");

int hv_cpuid_install(struct hv *hv, struct partition *p)
{
	uint32_t f;

	for (f = HV_CPUID_VENDOR_AND_MAX_FUNCTIONS; f <= HV_MAX_LEAF; f++) {
		struct hv_cpuid_leaf l;
		int r = hv_cpuid(hv, f, &l);

		if (r == 0)
			r = partition_set_cpuid(p, f, 0, l.eax, l.ebx, l.ecx, l.edx);
		if (r < 0)
			return r;
	}
	return 0;
}

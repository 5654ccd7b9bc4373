/*
 * Hyper-V hypervisor CPUID leaves (TLFS: "Feature and Interface
 * Discovery" — Hypervisor CPUID Leaves 0x40000000-0x4000000A).
 *
 * Spec definitions only: which bits Parvis advertises, and why, is
 * decided in hv/cpuid.c. Names follow the TLFS; Linux's spelling is in
 * arch/x86/include/asm/hyperv-tlfs.h and include/asm-generic/hyperv-tlfs.h.
 */
#pragma once

#include <stdint.h>

/* Leaf numbers. */
#define HV_CPUID_VENDOR_AND_MAX_FUNCTIONS 0x40000000u
#define HV_CPUID_INTERFACE		  0x40000001u
#define HV_CPUID_VERSION		  0x40000002u
#define HV_CPUID_FEATURES		  0x40000003u
#define HV_CPUID_ENLIGHTENMENT_INFO	  0x40000004u
#define HV_CPUID_IMPLEMENTATION_LIMITS	  0x40000005u
#define HV_CPUID_HARDWARE_FEATURES	  0x40000006u

/* 0x40000000: EBX, ECX, EDX spell "Microsoft Hv" (little-endian). */
#define HV_CPUID_SIGNATURE_EBX 0x7263694Du /* "Micr" */
#define HV_CPUID_SIGNATURE_ECX 0x666F736Fu /* "osof" */
#define HV_CPUID_SIGNATURE_EDX 0x76482074u /* "t Hv" */
/* Linux accepts a max leaf in [0x40000005, 0x4000FFFF] (mshyperv.c, ms_hyperv_platform). */
#define HV_CPUID_MAX_LEAF_MIN 0x40000005u

/* 0x40000001 EAX: the interface signature "Hv#1" (Windows checks it, Linux does not). */
#define HV_CPUID_INTERFACE_HV1 0x31237648u

/*
 * 0x40000003 EAX: partition privilege mask, low half (HV_PARTITION_PRIVILEGE_MASK
 * bits 0-31). Each bit grants access to a group of synthetic MSRs.
 */
#define HV_ACCESS_VP_RUNTIME_REG	  (1u << 0) /* HV_X64_MSR_VP_RUNTIME */
#define HV_ACCESS_PARTITION_REF_COUNTER	  (1u << 1) /* HV_X64_MSR_TIME_REF_COUNT */
#define HV_ACCESS_SYNIC_REGS		  (1u << 2) /* SCONTROL..SINT15 */
#define HV_ACCESS_SYNTHETIC_TIMER_REGS	  (1u << 3) /* STIMER0-3 */
#define HV_ACCESS_INTR_CTRL_REGS	  (1u << 4) /* APIC EOI/ICR/TPR MSRs, VP assist page */
#define HV_ACCESS_HYPERCALL_MSRS	  (1u << 5) /* GUEST_OS_ID, HYPERCALL */
#define HV_ACCESS_VP_INDEX		  (1u << 6) /* VP_INDEX */
#define HV_ACCESS_RESET_REG		  (1u << 7)
#define HV_ACCESS_STATS_REG		  (1u << 8)
#define HV_ACCESS_PARTITION_REFERENCE_TSC (1u << 9) /* REFERENCE_TSC */
#define HV_ACCESS_GUEST_IDLE_REG	  (1u << 10)
#define HV_ACCESS_FREQUENCY_REGS	  (1u << 11) /* TSC_FREQUENCY, APIC_FREQUENCY */
#define HV_ACCESS_DEBUG_REGS		  (1u << 12)
#define HV_ACCESS_REENLIGHTENMENT_CTRL	  (1u << 13)
#define HV_ACCESS_TSC_INVARIANT_CONTROLS  (1u << 15) /* TSC_INVARIANT_CONTROL */

/* 0x40000003 EBX: partition privilege mask, high half (bits 32-63). */
#define HV_CREATE_PARTITIONS	      (1u << 0)
#define HV_ACCESS_PARTITION_ID	      (1u << 1)
#define HV_ACCESS_MEMORY_POOL	      (1u << 2)
#define HV_POST_MESSAGES	      (1u << 4) /* HvPostMessage */
#define HV_SIGNAL_EVENTS	      (1u << 5) /* HvSignalEvent */
#define HV_CREATE_PORT		      (1u << 6)
#define HV_CONNECT_PORT		      (1u << 7)
#define HV_CPU_MANAGEMENT	      (1u << 12) /* Linux then believes it is the root partition */
#define HV_ENABLE_EXTENDED_HYPERCALLS (1u << 20)
#define HV_ISOLATION		      (1u << 22)

/* 0x40000003 EDX: miscellaneous features. */
#define HV_FEATURE_MWAIT_AVAILABLE	    (1u << 0)
#define HV_FEATURE_GUEST_DEBUGGING	    (1u << 1)
#define HV_FEATURE_PERF_MONITOR		    (1u << 2)
#define HV_FEATURE_XMM_HYPERCALL_INPUT	    (1u << 4)
#define HV_FEATURE_GUEST_IDLE_STATE	    (1u << 5)
#define HV_FEATURE_FREQUENCY_MSRS_AVAILABLE (1u << 8) /* with HV_ACCESS_FREQUENCY_REGS */
#define HV_FEATURE_GUEST_CRASH_MSRS	    (1u << 10)
#define HV_FEATURE_STIMER_DIRECT_MODE	    (1u << 19)

/* 0x40000004 EAX: implementation recommendations ("hints"). */
#define HV_HINT_HYPERCALL_FOR_AS_SWITCH	   (1u << 0)
#define HV_HINT_HYPERCALL_FOR_LOCAL_FLUSH  (1u << 1)
#define HV_HINT_HYPERCALL_FOR_REMOTE_FLUSH (1u << 2)
#define HV_HINT_MSR_FOR_APIC_ACCESS	   (1u << 3)
#define HV_HINT_MSR_FOR_SYSTEM_RESET	   (1u << 4)
#define HV_HINT_RELAXED_TIMING		   (1u << 5)
#define HV_HINT_DEPRECATING_AEOI	   (1u << 9)
#define HV_HINT_CLUSTER_IPI		   (1u << 10)
#define HV_HINT_EX_PROCESSOR_MASKS	   (1u << 11)
#define HV_HINT_ENLIGHTENED_VMCS	   (1u << 14)
/* 0x40000004 EBX: spinlock retries before HvNotifyLongSpinWait; all-ones means never. */
#define HV_SPINLOCK_RETRIES_NEVER 0xFFFFFFFFu

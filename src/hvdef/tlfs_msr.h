/*
 * Hyper-V synthetic MSRs (TLFS: "Virtual Processors", "Hypercall
 * Interface" — Establishing the Hypercall Interface, "Inter-Partition
 * Communication" — SynIC registers, "Timers" — partition reference
 * counter and reference TSC page).
 *
 * Register layouts are given as masks and shifts, never bitfields. In the
 * TLFS, "RsvdP" bits read as zero and must be preserved by the guest;
 * Parvis keeps them zero and refuses (#GP) a write that sets them.
 */
#pragma once

#include <stdint.h>

#define HV_MSR_GUEST_OS_ID	     0x40000000u /* partition-wide, RW */
#define HV_MSR_HYPERCALL	     0x40000001u /* partition-wide, RW */
#define HV_MSR_VP_INDEX		     0x40000002u /* RO */
#define HV_MSR_RESET		     0x40000003u
#define HV_MSR_VP_RUNTIME	     0x40000010u /* RO, 100 ns units */
#define HV_MSR_TIME_REF_COUNT	     0x40000020u /* RO, partition-wide, 100 ns units */
#define HV_MSR_REFERENCE_TSC	     0x40000021u /* partition-wide, RW */
#define HV_MSR_TSC_FREQUENCY	     0x40000022u /* RO, Hz */
#define HV_MSR_APIC_FREQUENCY	     0x40000023u /* RO, Hz */
#define HV_MSR_EOI		     0x40000070u
#define HV_MSR_ICR		     0x40000071u
#define HV_MSR_TPR		     0x40000072u
#define HV_MSR_VP_ASSIST_PAGE	     0x40000073u
#define HV_MSR_SCONTROL		     0x40000080u
#define HV_MSR_SVERSION		     0x40000081u /* RO */
#define HV_MSR_SIEFP		     0x40000082u
#define HV_MSR_SIMP		     0x40000083u
#define HV_MSR_EOM		     0x40000084u /* WO */
#define HV_MSR_SINT0		     0x40000090u
#define HV_MSR_SINT15		     0x4000009Fu
#define HV_MSR_STIMER0_CONFIG	     0x400000B0u
#define HV_MSR_STIMER3_COUNT	     0x400000B7u
#define HV_MSR_CRASH_P0		     0x40000100u
#define HV_MSR_CRASH_CTL	     0x40000105u
#define HV_MSR_TSC_INVARIANT_CONTROL 0x40000118u

/* The range KVM's MSR filter sends to user space (vid/partition.c). */
#define HV_MSR_RANGE_BASE  0x40000000u
#define HV_MSR_RANGE_COUNT 0x100u

/* Page-address registers (HYPERCALL, REFERENCE_TSC, SIMP, SIEFP, VP_ASSIST_PAGE). */
#define HV_PAGE_SHIFT	     12
#define HV_PAGE_SIZE	     4096u
#define HV_MSR_PAGE_ENABLE   (UINT64_C(1) << 0)
#define HV_MSR_PAGE_GPA_MASK (~UINT64_C(0xFFF)) /* bits 63:12: the GPA of the page */

/* HV_X64_MSR_HYPERCALL: bit 0 enable, bit 1 locked (immutable until reset), 11:2 RsvdP. */
#define HV_HYPERCALL_MSR_ENABLE	  (UINT64_C(1) << 0)
#define HV_HYPERCALL_MSR_LOCKED	  (UINT64_C(1) << 1)
#define HV_HYPERCALL_MSR_RESERVED UINT64_C(0xFFC)

/* REFERENCE_TSC, SIMP, SIEFP, VP_ASSIST_PAGE: bit 0 enable, 11:1 RsvdP. */
#define HV_PAGE_MSR_RESERVED UINT64_C(0xFFE)

/* SCONTROL: bit 0 enables the SynIC of this VP; 63:1 RsvdP. */
#define HV_SCONTROL_ENABLE   (UINT64_C(1) << 0)
#define HV_SCONTROL_RESERVED (~UINT64_C(1))

/* SVERSION reads this (HV_SYNIC_VERSION_1 in Linux). */
#define HV_SYNIC_VERSION 1u

/*
 * SINTx: 7:0 vector, 15:8 RsvdP, 16 masked, 17 auto-EOI, 18 polling,
 * 63:19 RsvdP. Vectors 0-15 are invalid for an unmasked SINT. The
 * power-on value is masked (Linux read-modify-writes it: drivers/hv/hv.c).
 */
#define HV_SINT_VECTOR_MASK UINT64_C(0xFF)
#define HV_SINT_MASKED	    (UINT64_C(1) << 16)
#define HV_SINT_AUTO_EOI    (UINT64_C(1) << 17)
#define HV_SINT_POLLING	    (UINT64_C(1) << 18)
#define HV_SINT_RESERVED                                                                           \
	(~(HV_SINT_VECTOR_MASK | HV_SINT_MASKED | HV_SINT_AUTO_EOI | HV_SINT_POLLING))
#define HV_SINT_MIN_VECTOR 16u
#define HV_SINT_COUNT	   16u
#define HV_SINT_POWER_ON   HV_SINT_MASKED

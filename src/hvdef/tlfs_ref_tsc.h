/*
 * The reference TSC page (TLFS: "Timers" — Partition Reference Time
 * Enlightenment, HV_REFERENCE_TSC_PAGE). The guest computes partition
 * reference time in 100 ns units as
 *
 *     ((RDTSC() * tsc_scale) >> 64) + tsc_offset
 *
 * reading tsc_sequence before and after and retrying if it changed. A
 * sequence of 0 means "invalid: read HV_MSR_TIME_REF_COUNT instead" (the
 * published TLFS once said 0xFFFFFFFF; Linux, and Hyper-V, use 0 —
 * include/clocksource/hyperv_timer.h).
 */
#pragma once

#include <stdint.h>

#define HV_REFERENCE_TSC_SEQUENCE_INVALID 0u
/* The partition reference counter ticks at 10 MHz (100 ns). */
#define HV_REFERENCE_TIME_HZ 10000000u

struct hv_reference_tsc_page {
	uint32_t tsc_sequence;
	uint32_t reserved1;
	uint64_t tsc_scale;
	int64_t tsc_offset;
	uint8_t reserved2[4072];
};
_Static_assert(sizeof(struct hv_reference_tsc_page) == 4096, "one 4 KiB page (TLFS)");
_Static_assert(__builtin_offsetof(struct hv_reference_tsc_page, tsc_scale) == 8, "TLFS layout");
_Static_assert(__builtin_offsetof(struct hv_reference_tsc_page, tsc_offset) == 16, "TLFS layout");

/*
 * Unit tests of hv/: the CPUID leaves and the synthetic MSRs that are not
 * the SynIC's (GUEST_OS_ID, HYPERCALL, VP_INDEX, VP_RUNTIME,
 * TIME_REF_COUNT, REFERENCE_TSC, the frequency MSRs, VP_ASSIST_PAGE),
 * over real guest memory and a fake platform.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hv_fakes.h"
#include "hvdef/tlfs_cpuid.h"
#include "hvdef/tlfs_msr.h"
#include "hvdef/tlfs_ref_tsc.h"
#include "vid/pc_layout.h"

#define RAM  (16 * MiB)
#define PAGE 0x200000u

static void test_cpuid_leaves(void **state)
{
	struct fake_platform fp;
	struct hv_cpuid_leaf l;
	struct hv *hv;

	fake_hv_new(&fp, 3, RAM, NULL, &hv);
	assert_int_equal(hv_cpuid(hv, HV_CPUID_VENDOR_AND_MAX_FUNCTIONS, &l), 0);
	assert_int_equal(l.eax, 0x40000006);
	assert_memory_equal(&l.ebx, "Micr", 4);
	assert_memory_equal(&l.ecx, "osof", 4);
	assert_memory_equal(&l.edx, "t Hv", 4);
	assert_int_equal(hv_cpuid(hv, HV_CPUID_INTERFACE, &l), 0);
	assert_memory_equal(&l.eax, "Hv#1", 4);
	assert_int_equal(hv_cpuid(hv, HV_CPUID_FEATURES, &l), 0);
	/* Linux needs these two to detect Hyper-V at all (ms_hyperv_platform). */
	assert_true(l.eax & HV_ACCESS_HYPERCALL_MSRS);
	assert_true(l.eax & HV_ACCESS_VP_INDEX);
	assert_int_equal(l.eax, HV_ACCESS_VP_RUNTIME_REG | HV_ACCESS_PARTITION_REF_COUNTER |
					HV_ACCESS_SYNIC_REGS | HV_ACCESS_HYPERCALL_MSRS |
					HV_ACCESS_VP_INDEX | HV_ACCESS_PARTITION_REFERENCE_TSC |
					HV_ACCESS_FREQUENCY_REGS);
	assert_int_equal(l.ebx, HV_POST_MESSAGES | HV_SIGNAL_EVENTS);
	assert_int_equal(l.edx, HV_FEATURE_FREQUENCY_MSRS_AVAILABLE);
	assert_int_equal(hv_cpuid(hv, HV_CPUID_ENLIGHTENMENT_INFO, &l), 0);
	assert_true(l.eax & HV_HINT_DEPRECATING_AEOI);
	assert_int_equal(l.ebx, 0xFFFFFFFF);
	assert_int_equal(hv_cpuid(hv, HV_CPUID_IMPLEMENTATION_LIMITS, &l), 0);
	assert_int_equal(l.eax, 3);
	assert_int_equal(hv_cpuid(hv, HV_CPUID_HARDWARE_FEATURES, &l), 0);
	assert_int_equal(l.eax | l.ebx | l.ecx | l.edx, 0);
	assert_int_equal(hv_cpuid(hv, 0x40000007, &l), -ENOENT);
	assert_int_equal(hv_cpuid(hv, 0x40000100, &l), -ENOENT);
	fake_hv_free(&fp, hv);
}

static void test_hypercall_msr(void **state)
{
	struct fake_platform fp;
	struct hv *hv;
	uint64_t v;
	uint8_t page[HV_PAGE_SIZE];
	unsigned i;

	fake_hv_new(&fp, 1, RAM, NULL, &hv);
	assert_int_equal(hv_msr_read(hv, 0, HV_MSR_HYPERCALL, &v), 0);
	assert_int_equal(v, 0);
	/* No guest OS id yet: accepted, but the enable bit stays 0 (TLFS). */
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_HYPERCALL, PAGE | 1), 0);
	assert_int_equal(hv_msr_read(hv, 0, HV_MSR_HYPERCALL, &v), 0);
	assert_int_equal(v, PAGE);
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_GUEST_OS_ID, FAKE_OS_ID), 0);
	assert_int_equal(hv_msr_read(hv, 0, HV_MSR_GUEST_OS_ID, &v), 0);
	assert_int_equal(v, FAKE_OS_ID);
	assert_int_equal(guest_memory_fill(fp.mem, PAGE, 0x55, HV_PAGE_SIZE), 0);
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_HYPERCALL, PAGE | 1), 0);
	assert_int_equal(hv_msr_read(hv, 0, HV_MSR_HYPERCALL, &v), 0);
	assert_int_equal(v, PAGE | 1); /* what Linux's hv_is_hyperv_initialized() checks */
	assert_int_equal(guest_memory_read(fp.mem, PAGE, page, sizeof(page)), 0);
	assert_int_equal(page[0], 0xE6); /* out imm8, al */
	assert_int_equal(page[1], PC_PORT_HYPERCALL);
	assert_int_equal(page[2], 0xC3); /* ret */
	for (i = 3; i < sizeof(page); i++)
		assert_int_equal(page[i], 0xCC);
	/* The MSR is partition-wide: another VP reads the same value. */
	fake_hv_free(&fp, hv);

	fake_hv_new(&fp, 2, RAM, NULL, &hv);
	fake_enable_hypercalls(hv, PAGE);
	assert_int_equal(hv_msr_read(hv, 1, HV_MSR_HYPERCALL, &v), 0);
	assert_int_equal(v, PAGE | 1);
	/* Reserved bits 11:2, pages outside RAM or unaligned: #GP, value kept. */
	assert_true(hv_msr_write(hv, 0, HV_MSR_HYPERCALL, PAGE | 1 | 0x4) < 0);
	assert_true(hv_msr_write(hv, 0, HV_MSR_HYPERCALL, RAM | 1) < 0);
	assert_true(hv_msr_write(hv, 0, HV_MSR_HYPERCALL, PC_MMIO_HOLE_START | 1) < 0);
	assert_true(hv_msr_write(hv, 0, HV_MSR_HYPERCALL, UINT64_C(0xFFFFFFFFFFFFF001)) < 0);
	assert_int_equal(hv_msr_read(hv, 0, HV_MSR_HYPERCALL, &v), 0);
	assert_int_equal(v, PAGE | 1);
	/* Disabling is always allowed; clearing the OS id disables too. */
	assert_int_equal(hv_msr_write(hv, 1, HV_MSR_HYPERCALL, PAGE), 0);
	assert_int_equal(hv_msr_write(hv, 1, HV_MSR_HYPERCALL, PAGE | 1), 0);
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_GUEST_OS_ID, 0), 0);
	assert_int_equal(hv_msr_read(hv, 0, HV_MSR_HYPERCALL, &v), 0);
	assert_int_equal(v, PAGE);
	/* Locked: immutable until reset. */
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_GUEST_OS_ID, FAKE_OS_ID), 0);
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_HYPERCALL, PAGE | 3), 0);
	assert_true(hv_msr_write(hv, 0, HV_MSR_HYPERCALL, PAGE) < 0);
	assert_true(hv_msr_write(hv, 0, HV_MSR_HYPERCALL, 2 * PAGE | 1) < 0);
	assert_int_equal(hv_msr_read(hv, 0, HV_MSR_HYPERCALL, &v), 0);
	assert_int_equal(v, PAGE | 3);
	fake_hv_free(&fp, hv);
}

static void test_vp_index_and_frequencies(void **state)
{
	struct fake_platform fp;
	struct hv *hv;
	uint64_t v;

	fake_hv_new(&fp, 4, RAM, NULL, &hv);
	assert_int_equal(hv_msr_read(hv, 3, HV_MSR_VP_INDEX, &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(hv_msr_read(hv, 0, HV_MSR_VP_INDEX, &v), 0);
	assert_int_equal(v, 0);
	assert_true(hv_msr_write(hv, 0, HV_MSR_VP_INDEX, 1) < 0);
	assert_true(hv_msr_read(hv, 4, HV_MSR_VP_INDEX, &v) < 0); /* no such VP */
	assert_int_equal(hv_msr_read(hv, 0, HV_MSR_TSC_FREQUENCY, &v), 0);
	assert_int_equal(v, FAKE_TSC_HZ);
	assert_int_equal(hv_msr_read(hv, 0, HV_MSR_APIC_FREQUENCY, &v), 0);
	assert_int_equal(v, 1000000000); /* KVM's LAPIC timer: 1 GHz */
	assert_true(hv_msr_write(hv, 0, HV_MSR_TSC_FREQUENCY, 1) < 0);
	assert_true(hv_msr_write(hv, 0, HV_MSR_APIC_FREQUENCY, 1) < 0);
	fp.runtime_ns = 123456789;
	assert_int_equal(hv_msr_read(hv, 1, HV_MSR_VP_RUNTIME, &v), 0);
	assert_int_equal(v, 1234567); /* 100 ns units */
	assert_true(hv_msr_write(hv, 0, HV_MSR_VP_RUNTIME, 0) < 0);
	fake_hv_free(&fp, hv);
}

/* What Linux computes from the TSC page (hv_read_tsc_page_tsc). */
static uint64_t guest_time(const struct hv_reference_tsc_page *pg, uint64_t tsc)
{
	return (uint64_t)(((unsigned __int128)tsc * pg->tsc_scale) >> 64) +
	       (uint64_t)pg->tsc_offset;
}

static void test_reference_time(void **state)
{
	struct fake_platform fp;
	struct hv_reference_tsc_page pg;
	struct hv *hv;
	uint64_t v, last = 0;
	uint32_t seq;
	unsigned i;

	fake_hv_new(&fp, 2, RAM, NULL, &hv);
	assert_int_equal(hv_msr_read(hv, 0, HV_MSR_TIME_REF_COUNT, &v), 0);
	assert_int_equal(v, 0);
	fp.tsc = FAKE_TSC_HZ; /* one second later */
	assert_int_equal(hv_msr_read(hv, 1, HV_MSR_TIME_REF_COUNT, &v), 0);
	assert_true(v >= 9999999 && v <= 10000000);
	assert_true(hv_msr_write(hv, 0, HV_MSR_TIME_REF_COUNT, 0) < 0);

	/* The TSC page: written on enable, sequence valid, same numbers as the MSR. */
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_REFERENCE_TSC, PAGE | 1), 0);
	assert_int_equal(hv_msr_read(hv, 1, HV_MSR_REFERENCE_TSC, &v), 0);
	assert_int_equal(v, PAGE | 1);
	assert_int_equal(guest_memory_read(fp.mem, PAGE, &pg, sizeof(pg)), 0);
	assert_int_not_equal(pg.tsc_sequence, HV_REFERENCE_TSC_SEQUENCE_INVALID);
	seq = pg.tsc_sequence;
	for (i = 0; i < 1000; i++) {
		fp.tsc = FAKE_TSC_HZ + (uint64_t)i * i * 977;
		assert_int_equal(hv_msr_read(hv, i % 2, HV_MSR_TIME_REF_COUNT, &v), 0);
		assert_int_equal(guest_time(&pg, fp.tsc), v);
		assert_true(v >= last);
		last = v;
	}
	/* Scale: 10^7 ticks per TSC second, within one tick of rounding over 10 s. */
	v = guest_time(&pg, 11 * FAKE_TSC_HZ) - guest_time(&pg, FAKE_TSC_HZ);
	assert_true(v >= 99999999 && v <= 100000000);
	/* Re-enabling rewrites the page with a new sequence. */
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_REFERENCE_TSC, PAGE), 0);
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_REFERENCE_TSC, PAGE | 1), 0);
	assert_int_equal(guest_memory_read(fp.mem, PAGE, &pg, sizeof(pg)), 0);
	assert_int_not_equal(pg.tsc_sequence, seq);
	assert_int_not_equal(pg.tsc_sequence, 0);
	/* Bad values: #GP and the register unchanged. */
	assert_true(hv_msr_write(hv, 0, HV_MSR_REFERENCE_TSC, PAGE | 1 | 0x10) < 0);
	assert_true(hv_msr_write(hv, 0, HV_MSR_REFERENCE_TSC, RAM | 1) < 0);
	assert_true(hv_msr_write(hv, 0, HV_MSR_REFERENCE_TSC, PC_MMIO_HOLE_START | 1) < 0);
	assert_int_equal(hv_msr_read(hv, 0, HV_MSR_REFERENCE_TSC, &v), 0);
	assert_int_equal(v, PAGE | 1);
	/* A failing TSC read (a host error): time stands still, never jumps back. */
	fp.tsc_fails = true;
	assert_int_equal(hv_msr_read(hv, 0, HV_MSR_TIME_REF_COUNT, &v), 0);
	assert_int_equal(v, last);
	fake_hv_free(&fp, hv);
}

static void test_reference_time_offset(void **state)
{
	struct fake_platform fp;
	struct hv_reference_tsc_page pg;
	struct hv *hv;
	uint64_t v;

	/* A guest TSC that does not start near 0 (PVM may not reset it): reference time does. */
	fake_platform_init(&fp, RAM);
	fp.tsc = UINT64_C(123456789012345);
	assert_int_equal(fake_hv_create(&fp, 1, FAKE_TSC_HZ, NULL, &hv), 0);
	assert_int_equal(hv_msr_read(hv, 0, HV_MSR_TIME_REF_COUNT, &v), 0);
	assert_int_equal(v, 0);
	fp.tsc += FAKE_TSC_HZ / 1000; /* 1 ms */
	assert_int_equal(hv_msr_read(hv, 0, HV_MSR_TIME_REF_COUNT, &v), 0);
	assert_true(v >= 9999 && v <= 10000);
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_REFERENCE_TSC, PAGE | 1), 0);
	assert_int_equal(guest_memory_read(fp.mem, PAGE, &pg, sizeof(pg)), 0);
	assert_true(pg.tsc_offset < 0);
	assert_int_equal(guest_time(&pg, fp.tsc), v);
	fake_hv_free(&fp, hv);
}

static void test_vp_assist_page(void **state)
{
	struct fake_platform fp;
	struct hv *hv;
	uint64_t v;
	uint8_t b;

	fake_hv_new(&fp, 2, RAM, NULL, &hv);
	assert_int_equal(guest_memory_fill(fp.mem, PAGE, 0x77, HV_PAGE_SIZE), 0);
	assert_int_equal(hv_msr_write(hv, 1, HV_MSR_VP_ASSIST_PAGE, PAGE | 1), 0);
	assert_int_equal(hv_msr_read(hv, 1, HV_MSR_VP_ASSIST_PAGE, &v), 0);
	assert_int_equal(v, PAGE | 1);
	assert_int_equal(hv_msr_read(hv, 0, HV_MSR_VP_ASSIST_PAGE, &v), 0);
	assert_int_equal(v, 0); /* per VP */
	assert_int_equal(guest_memory_read(fp.mem, PAGE + 100, &b, 1), 0);
	assert_int_equal(b, 0); /* zeroed on enable */
	assert_true(hv_msr_write(hv, 1, HV_MSR_VP_ASSIST_PAGE, RAM | 1) < 0);
	assert_true(hv_msr_write(hv, 1, HV_MSR_VP_ASSIST_PAGE, PAGE | 3) < 0);
	assert_int_equal(hv_msr_write(hv, 1, HV_MSR_VP_ASSIST_PAGE, 0), 0);
	fake_hv_free(&fp, hv);
}

static void test_unknown_msrs_and_counters(void **state)
{
	static const uint32_t unknown[] = {
		HV_MSR_RESET,
		HV_MSR_EOI,
		HV_MSR_ICR,
		HV_MSR_TPR,
		HV_MSR_STIMER0_CONFIG,
		HV_MSR_STIMER3_COUNT,
		HV_MSR_CRASH_P0,
		HV_MSR_CRASH_CTL,
		HV_MSR_TSC_INVARIANT_CONTROL,
		0x400000FF,
		0x40000004,
		0x10,
		0xC0000080,
	};
	struct fake_platform fp;
	struct hv_stats st;
	struct hv *hv;
	uint64_t v;
	unsigned i;

	fake_hv_new(&fp, 1, RAM, NULL, &hv);
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		assert_true(hv_msr_read(hv, 0, unknown[i], &v) < 0);
		assert_true(hv_msr_write(hv, 0, unknown[i], 0) < 0);
	}
	assert_int_equal(hv_msr_read(hv, 0, HV_MSR_VP_INDEX, &v), 0);
	assert_int_equal(hv_msr_read(hv, 0, HV_MSR_VP_INDEX, &v), 0);
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_GUEST_OS_ID, 1), 0);
	hv_get_stats(hv, &st);
	assert_int_equal(st.msr_gp, 2 * 13);
	assert_int_equal(st.msr_reads[HV_MSR_VP_INDEX - 0x40000000], 2);
	assert_int_equal(st.msr_writes[0], 1);
	/* Outside 0x40000000-0x400000FF: CRASH_P0, CRASH_CTL, 0x40000118, 0x10, 0xC0000080. */
	assert_int_equal(st.msr_other, 2 * 5);
	fake_hv_free(&fp, hv);
}

static void test_stats_add(void **state)
{
	struct hv_stats a = {0}, b = {0};

	a.hypercalls = 2;
	a.msr_reads[5] = 1;
	b.hypercalls = 3;
	b.msr_reads[5] = 4;
	b.guest_errors = 7;
	hv_stats_add(&a, &b);
	assert_int_equal(a.hypercalls, 5);
	assert_int_equal(a.msr_reads[5], 5);
	assert_int_equal(a.guest_errors, 7);
}

static void test_create_rejects_bad_platforms(void **state)
{
	struct fake_platform fp;
	struct hv_platform p;
	struct hv *hv = NULL;

	fake_platform_init(&fp, RAM);
	assert_int_equal(fake_hv_create(&fp, 0, FAKE_TSC_HZ, NULL, &hv), -EINVAL);
	assert_int_equal(fake_hv_create(&fp, 1, 9999999, NULL, &hv), -EINVAL); /* < 10 MHz */
	assert_int_equal(
		fake_hv_create(&fp, 1, FAKE_TSC_HZ, &(struct hv_config){.queue_depth = 257}, &hv),
		-EINVAL);
	assert_int_equal(fake_hv_create(&fp, 1, FAKE_TSC_HZ,
					&(struct hv_config){.hypercall_port = 0x100}, &hv),
			 -EINVAL);
	p = (struct hv_platform){.mem = fp.mem, .vp_count = 1, .tsc_hz = FAKE_TSC_HZ};
	assert_int_equal(hv_create(&p, &(struct hv_config){0}, &hv), -EINVAL);
	assert_null(hv);
	assert_null(hv_free(NULL));
	fake_hv_free(&fp, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpuid_leaves),
		cmocka_unit_test(test_hypercall_msr),
		cmocka_unit_test(test_vp_index_and_frequencies),
		cmocka_unit_test(test_reference_time),
		cmocka_unit_test(test_reference_time_offset),
		cmocka_unit_test(test_vp_assist_page),
		cmocka_unit_test(test_unknown_msrs_and_counters),
		cmocka_unit_test(test_stats_add),
		cmocka_unit_test(test_create_rejects_bad_platforms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

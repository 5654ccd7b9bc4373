/*
 * x86 CPUID feature bits by name, and the rules that tie them together.
 *
 * Spec definitions only: the bit positions are the Intel SDM Vol. 2A
 * "CPUID" tables and AMD's APM Vol. 3 Appendix E; the names are Linux's
 * /proc/cpuinfo spelling (arch/x86/include/asm/cpufeatures.h), which is
 * what administrators compare. Which features a guest gets is decided in
 * cpu_model.c.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

enum cpuid_reg { CPUID_EAX, CPUID_EBX, CPUID_ECX, CPUID_EDX };

/* One feature: a bit of one register of one leaf (and sub-leaf). */
struct cpu_feature {
	const char *name;
	uint32_t function, index;
	uint8_t reg; /* enum cpuid_reg */
	uint8_t bit;
};

/* The features Parvis knows by name, in leaf order. */
extern const struct cpu_feature cpu_features[];
extern const unsigned cpu_feature_count;

/* The feature called name, or NULL. */
const struct cpu_feature *cpu_feature_find(const char *name);

/*
 * "feature needs requirement": a guest must never see a feature without
 * the ones it builds on (as Linux's arch/x86/kernel/cpu/cpuid-deps.c,
 * which clears them in the guest anyway — we clear them first, so that
 * what get-vmprocessor shows is what the guest uses).
 */
struct cpu_feature_dep {
	const char *feature, *requires;
};
extern const struct cpu_feature_dep cpu_feature_deps[];
extern const unsigned cpu_feature_dep_count;

/* Frequently used bits, for code that tests one directly. */
#define CPUID_1_ECX_X2APIC	      (1u << 21)
#define CPUID_1_ECX_XSAVE	      (1u << 26)
#define CPUID_1_ECX_OSXSAVE	      (1u << 27)
#define CPUID_1_ECX_AVX		      (1u << 28)
#define CPUID_1_ECX_HYPERVISOR	      (1u << 31)
#define CPUID_1_EDX_APIC	      (1u << 9)
#define CPUID_1_EDX_HTT		      (1u << 28)
#define CPUID_7_EBX_MPX		      (1u << 14)
#define CPUID_7_EBX_AVX512F	      (1u << 16)
#define CPUID_7_ECX_PKU		      (1u << 3)
#define CPUID_7_ECX_OSPKE	      (1u << 4)
#define CPUID_7_EDX_AMX_TILE	      (1u << 24)
#define CPUID_7_EDX_ARCH_CAPABILITIES (1u << 29)
#define CPUID_80000001_ECX_CMP_LEGACY (1u << 1)
#define CPUID_80000001_ECX_TOPOEXT    (1u << 22)
#define CPUID_80000007_EDX_INVTSC     (1u << 8)
#define CPUID_80000008_EBX_XSAVEERPTR (1u << 2)

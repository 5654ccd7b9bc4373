/*
 * The virtual processor: the CPUID leaves and architectural MSRs a guest
 * sees, built from a named CPU model and what this host's KVM offers.
 *
 * Models (docs/cpu.md):
 *   host            the host's own processor as KVM offers it (the default);
 *   baseline-intel  a fixed, conservative x86-64-v2 processor, identical on
 *   baseline-amd    every host of that vendor: what Hyper-V calls processor
 *                   compatibility for migration. "baseline" picks the host's.
 * Whatever the model, the result is made consistent (cpu_model.c): the
 * hypervisor bit, no KVM signature, features never without what they need,
 * XSAVE leaves that match the features, topology leaves that agree with the
 * vCPU count, TscFreqSel on AMD, and the quirks of PVM hosts (docs/pvm.md).
 *
 * Pure code: no KVM here (vid/ gathers struct cpu_host and applies the
 * result), so models are unit-tested over recorded hosts.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "cpu/cpu_features.h"

#define CPUID_MAX_LEAVES	 256
#define CPU_MODEL_MAX_MSRS	 4
#define CPU_FEATURE_MAX		 256
#define CPU_MODEL_MAX_UNENFORCED 4

/* One CPUID leaf; indexed: the sub-leaf (index) matters (KVM_CPUID_FLAG_SIGNIFCANT_INDEX). */
struct cpuid_leaf {
	uint32_t function, index;
	bool indexed;
	uint32_t reg[4]; /* enum cpuid_reg */
};

struct cpuid_table {
	unsigned n;
	struct cpuid_leaf leaf[CPUID_MAX_LEAVES];
};

/* The leaf (function, index), or NULL. */
struct cpuid_leaf *cpuid_table_find(struct cpuid_table *t, uint32_t function, uint32_t index);
const struct cpuid_leaf *cpuid_table_get(const struct cpuid_table *t, uint32_t function,
					 uint32_t index);
/* Adds (or replaces) a leaf; -ENOSPC when full. */
int cpuid_table_set(struct cpuid_table *t, const struct cpuid_leaf *leaf) must_check;
/*
 * Reads a recorded table: one leaf a line, "FUNCTION INDEX FLAGS EAX EBX ECX
 * EDX" in C notation (FLAGS bit 0: indexed), '#' starts a comment. This is
 * the "kvm-cpuid" of `parvis-vmwp --host-cpu`, one leaf a line.
 */
int cpuid_table_parse(const char *text, struct cpuid_table *t, char *err, size_t errlen) must_check;

enum cpu_vendor { CPU_VENDOR_OTHER, CPU_VENDOR_INTEL, CPU_VENDOR_AMD };

/* What this host offers: the inputs of a build, gathered by vid/ from KVM. */
struct cpu_host {
	struct cpuid_table supported; /* KVM_GET_SUPPORTED_CPUID, as returned */
	bool pvm;		      /* /dev/kvm is PVM (leaf 1 not enforced, docs/pvm.md) */
	/* IA32_ARCH_CAPABILITIES as KVM offers it (KVM_GET_MSRS on /dev/kvm). */
	bool have_arch_capabilities;
	uint64_t arch_capabilities;
	/* What the host CPU itself says for leaves 1, 7.0 and 0xD.1 (guests of PVM hosts see it).
	 */
	struct cpuid_leaf native_leaf1, native_leaf7, native_leafd1;
	char native_brand[49];
};

enum cpu_feature_state {
	CPU_FEATURE_OFF,     /* not in the model */
	CPU_FEATURE_ON,	     /* the guest sees it */
	CPU_FEATURE_HOST,    /* in a leaf KVM cannot set here: the guest sees the host's bit */
	CPU_FEATURE_MISSING, /* in the model, but this host does not offer it: off */
};

struct cpu_msr_value {
	uint32_t index;
	uint64_t value;
};

#define MSR_IA32_ARCH_CAPABILITIES 0x0000010Au
#define MSR_K7_HWCR		   0xC0010015u
#define MSR_K7_HWCR_TSC_FREQ_SEL   (UINT64_C(1) << 24)

/* XSAVE state components (Intel SDM Vol. 1, 13.1). */
#define XFEATURE_X87	   (UINT64_C(1) << 0)
#define XFEATURE_SSE	   (UINT64_C(1) << 1)
#define XFEATURE_YMM	   (UINT64_C(1) << 2)
#define XFEATURE_BNDREGS   (UINT64_C(1) << 3)
#define XFEATURE_BNDCSR	   (UINT64_C(1) << 4)
#define XFEATURE_OPMASK	   (UINT64_C(1) << 5)
#define XFEATURE_ZMM_HI256 (UINT64_C(1) << 6)
#define XFEATURE_HI16_ZMM  (UINT64_C(1) << 7)
#define XFEATURE_PKRU	   (UINT64_C(1) << 9)
#define XFEATURE_XTILECFG  (UINT64_C(1) << 17)
#define XFEATURE_XTILEDATA (UINT64_C(1) << 18)
#define XSAVE_LEGACY_SIZE  576u /* legacy area (512) + XSAVE header (64) */

struct cpu_model {
	char name[24]; /* the model actually built ("baseline" resolved) */
	enum cpu_vendor vendor;
	char vendor_id[13];
	char brand[49];
	unsigned family, model, stepping;
	unsigned vcpus;
	unsigned phys_bits, virt_bits;
	uint64_t xcr0; /* the XSAVE components the guest may enable (0: no XSAVE) */
	/* The CPUID template; cpu_model_vcpu_cpuid() gives each vCPU its own. */
	struct cpuid_table cpuid;
	/* MSRs every vCPU starts with, in this order (KVM_SET_MSRS). */
	struct cpu_msr_value msrs[CPU_MODEL_MAX_MSRS];
	unsigned nmsrs;
	/* The MSRs KVM refused to set (cpu_model_drop_msr), with the values asked for. */
	struct cpu_msr_value refused[CPU_MODEL_MAX_MSRS];
	unsigned nrefused;
	/* Per cpu_features[] entry. */
	uint8_t state[CPU_FEATURE_MAX]; /* enum cpu_feature_state */
	/*
	 * Registers KVM cannot make the guest see here (PVM: leaf 1 ECX/EDX,
	 * leaf 7.0 and 0xD.1 EAX, measured by tests/guest/test_tiny_cpu.c): there the
	 * guest sees the host CPU's own bits.
	 */
	struct cpu_unenforced {
		uint32_t function, index;
		uint8_t regs; /* bit (1 << enum cpuid_reg) */
	} unenforced[CPU_MODEL_MAX_UNENFORCED];
	unsigned nunenforced;
};

/* True if the guest sees the model's value of (function, index, reg). */
bool cpu_model_enforced(const struct cpu_model *m, uint32_t function, uint32_t index,
			enum cpuid_reg reg);

/* The model names accepted by cpu_model_build, NULL-terminated. */
extern const char *const cpu_model_names[];

/*
 * Builds the processor a partition of vcpus vCPUs gets from model name on
 * this host. On failure, err says what is wrong (an unknown name lists the
 * known ones).
 */
int cpu_model_build(const char *name, const struct cpu_host *host, unsigned vcpus,
		    struct cpu_model *out, char *err, size_t errlen) must_check;

/* vCPU vcpu's own leaves: the template with its APIC IDs (leaves 1, 0xB, 0x1F, 0x8000001E). */
void cpu_model_vcpu_cpuid(const struct cpu_model *m, unsigned vcpu, struct cpuid_table *out);

/*
 * KVM refused to set MSR index on a vCPU: the model stops enumerating what
 * needs it, so that it stays consistent. HWCR: KVMs before 6.7 allow only
 * McStatusWrEn, and without TscFreqSel the TSC is not claimed invariant.
 * IA32_ARCH_CAPABILITIES: PVM offers a value it then refuses to set.
 */
void cpu_model_drop_msr(struct cpu_model *m, uint32_t index);

/* The value the model sets for MSR index, if it sets one. */
bool cpu_model_msr(const struct cpu_model *m, uint32_t index, uint64_t *value);

static inline bool cpuid_leaf_bit(const struct cpuid_leaf *l, const struct cpu_feature *f)
{
	return l && (l->reg[f->reg] >> f->bit) & 1;
}

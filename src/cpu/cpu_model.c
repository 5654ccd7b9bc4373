/*
 * Builds a virtual processor from a model and a host (cpu_model.h).
 *
 * A build runs in fixed steps, each a small function:
 *   1. the model's leaves: the host's (host) or a fixed table (baseline-*),
 *      the baseline masked by what KVM offers in every leaf it enforces;
 *   2. the hypervisor bit, no hypervisor leaves of KVM's (hv/ adds ours);
 *   3. feature dependencies to a fixed point (cpu_feature_deps);
 *   4. XSAVE: leaf 0xD rebuilt from the features left (Intel SDM Vol. 1,
 *      13.2 "Enumeration of CPU Support for XSAVE");
 *   5. topology: one package of vcpus cores, one thread each, APIC ID =
 *      vCPU index (leaves 1, 4, 0xB, 0x1F, 0x80000001, 0x80000008,
 *      0x8000001D, 0x8000001E);
 *   6. MSRs: HWCR.TscFreqSel on AMD, IA32_ARCH_CAPABILITIES as enumerated;
 *   7. PVM: leaf 1 reported as the host's, XSAVEERPTR (docs/pvm.md).
 */
#include "cpu/cpu_model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(CPUID_MAX_LEAVES >= 128, "KVM_GET_SUPPORTED_CPUID gives up to ~100 leaves");

const char *const cpu_model_names[] = {"host", "baseline", "baseline-intel", "baseline-amd", NULL};

/* --- the table ------------------------------------------------------------------------------ */

struct cpuid_leaf *cpuid_table_find(struct cpuid_table *t, uint32_t function, uint32_t index)
{
	unsigned i;

	for (i = 0; i < t->n; i++)
		if (t->leaf[i].function == function &&
		    (!t->leaf[i].indexed || t->leaf[i].index == index))
			return &t->leaf[i];
	return NULL;
}

const struct cpuid_leaf *cpuid_table_get(const struct cpuid_table *t, uint32_t function,
					 uint32_t index)
{
	return cpuid_table_find((struct cpuid_table *)t, function, index);
}

int cpuid_table_set(struct cpuid_table *t, const struct cpuid_leaf *leaf)
{
	struct cpuid_leaf *l = cpuid_table_find(t, leaf->function, leaf->index);

	if (!l) {
		if (t->n == CPUID_MAX_LEAVES)
			return -ENOSPC;
		l = &t->leaf[t->n++];
	}
	*l = *leaf;
	return 0;
}

static void table_remove_if(struct cpuid_table *t, bool (*drop)(const struct cpuid_leaf *, void *),
			    void *arg)
{
	unsigned i, n = 0;

	for (i = 0; i < t->n; i++)
		if (!drop(&t->leaf[i], arg))
			t->leaf[n++] = t->leaf[i];
	t->n = n;
}

int cpuid_table_parse(const char *text, struct cpuid_table *t, char *err, size_t errlen)
{
	unsigned line = 0;
	const char *p = text;

	t->n = 0;
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char buf[256];
		unsigned long v[7];
		struct cpuid_leaf l;
		int r;

		line++;
		if (len >= sizeof(buf)) {
			snprintf(err, errlen, "line %u: too long", line);
			return -EINVAL;
		}
		memcpy(buf, p, len);
		buf[len] = 0;
		p += len + (eol ? 1 : 0);
		if (strchr(buf, '#'))
			*strchr(buf, '#') = 0;
		if (strspn(buf, " \t\r") == strlen(buf))
			continue;
		if (sscanf(buf, "%li %li %li %li %li %li %li", (long *)&v[0], (long *)&v[1],
			   (long *)&v[2], (long *)&v[3], (long *)&v[4], (long *)&v[5],
			   (long *)&v[6]) != 7) {
			snprintf(err, errlen, "line %u: want FUNCTION INDEX FLAGS EAX EBX ECX EDX",
				 line);
			return -EINVAL;
		}
		l = (struct cpuid_leaf){
			.function = (uint32_t)v[0],
			.index = (uint32_t)v[1],
			.indexed = v[2] & 1,
			.reg = {(uint32_t)v[3], (uint32_t)v[4], (uint32_t)v[5], (uint32_t)v[6]}};
		r = cpuid_table_set(t, &l);
		if (r < 0) {
			snprintf(err, errlen, "line %u: more than %u leaves", line,
				 CPUID_MAX_LEAVES);
			return r;
		}
	}
	return 0;
}

/* --- features ------------------------------------------------------------------------------- */

_Static_assert(CPU_FEATURE_MAX >= 200, "room for every feature of cpu_features.c");

static unsigned feature_id(const struct cpu_feature *f)
{
	return (unsigned)(f - cpu_features);
}

static bool model_has(const struct cpu_model *m, const struct cpu_feature *f)
{
	return cpuid_leaf_bit(cpuid_table_get(&m->cpuid, f->function, f->index), f);
}

static bool model_has_name(const struct cpu_model *m, const char *name)
{
	const struct cpu_feature *f = cpu_feature_find(name);

	return f && model_has(m, f);
}

static void model_put(struct cpu_model *m, const struct cpu_feature *f, bool on)
{
	struct cpuid_leaf *l = cpuid_table_find(&m->cpuid, f->function, f->index);

	if (!l)
		return;
	if (on)
		l->reg[f->reg] |= 1u << f->bit;
	else
		l->reg[f->reg] &= ~(1u << f->bit);
}

/* Turns a feature off; one the model asked for becomes "missing". */
static void model_clear(struct cpu_model *m, const struct cpu_feature *f)
{
	if (!model_has(m, f))
		return;
	model_put(m, f, false);
	if (m->state[feature_id(f)] == CPU_FEATURE_ON)
		m->state[feature_id(f)] = CPU_FEATURE_MISSING;
}

static void model_clear_name(struct cpu_model *m, const char *name)
{
	const struct cpu_feature *f = cpu_feature_find(name);

	if (f)
		model_clear(m, f);
}

bool cpu_model_enforced(const struct cpu_model *m, uint32_t function, uint32_t index,
			enum cpuid_reg reg)
{
	unsigned i;

	for (i = 0; i < m->nunenforced; i++)
		if (m->unenforced[i].function == function && m->unenforced[i].index == index &&
		    (m->unenforced[i].regs >> reg) & 1)
			return false;
	return true;
}

static bool feature_enforced(const struct cpu_model *m, const struct cpu_feature *f)
{
	return cpu_model_enforced(m, f->function, f->index, f->reg);
}

/* The host CPU's own bit for a feature of an unenforced register. */
static bool native_has(const struct cpu_host *host, const struct cpu_feature *f)
{
	if (f->function == 1)
		return cpuid_leaf_bit(&host->native_leaf1, f);
	if (f->function == 7 && f->index == 0)
		return cpuid_leaf_bit(&host->native_leaf7, f);
	if (f->function == 0xD && f->index == 1)
		return cpuid_leaf_bit(&host->native_leafd1, f);
	return false;
}

/* Whether the guest will see a feature: the model's bit, or the host's where KVM cannot set it. */
static bool guest_sees(const struct cpu_model *m, const struct cpu_host *host, const char *name)
{
	const struct cpu_feature *f = cpu_feature_find(name);

	if (!f)
		return false;
	return feature_enforced(m, f) ? model_has(m, f) : native_has(host, f);
}

/* --- 1. the model's leaves ------------------------------------------------------------------ */

static enum cpu_vendor vendor_of(const char id[13])
{
	if (!strcmp(id, "GenuineIntel"))
		return CPU_VENDOR_INTEL;
	if (!strcmp(id, "AuthenticAMD"))
		return CPU_VENDOR_AMD;
	return CPU_VENDOR_OTHER;
}

static void vendor_id_of(const struct cpuid_leaf *l0, char out[13])
{
	memset(out, 0, 13);
	if (!l0)
		return;
	memcpy(out, &l0->reg[CPUID_EBX], 4);
	memcpy(out + 4, &l0->reg[CPUID_EDX], 4);
	memcpy(out + 8, &l0->reg[CPUID_ECX], 4);
}

/* Leaf 1 EAX (SDM Table 3-8 "Version Information"). */
static uint32_t signature(unsigned family, unsigned model, unsigned stepping)
{
	uint32_t base_family = MIN(family, 0xFu), ext_family = family > 0xF ? family - 0xF : 0;

	return (ext_family << 20) | ((model >> 4) << 16) | (base_family << 8) |
	       ((model & 0xF) << 4) | (stepping & 0xF);
}

static void decode_signature(uint32_t eax, unsigned *family, unsigned *model, unsigned *stepping)
{
	unsigned base_family = (eax >> 8) & 0xF;

	*family = base_family == 0xF ? base_family + ((eax >> 20) & 0xFF) : base_family;
	*model = (eax >> 4) & 0xF;
	if (base_family == 0x6 || base_family == 0xF)
		*model |= ((eax >> 16) & 0xF) << 4;
	*stepping = eax & 0xF;
}

static void brand_of(const struct cpuid_table *t, char out[49])
{
	uint32_t f;

	memset(out, 0, 49);
	for (f = 0; f < 3; f++) {
		const struct cpuid_leaf *l = cpuid_table_get(t, 0x80000002 + f, 0);

		if (l)
			memcpy(out + 16 * f, l->reg, 16);
	}
}

static int put_brand(struct cpuid_table *t, const char *brand)
{
	char buf[48] = {0};
	uint32_t f;

	strncpy(buf, brand, sizeof(buf) - 1);
	for (f = 0; f < 3; f++) {
		struct cpuid_leaf l = {.function = 0x80000002 + f};
		int r;

		memcpy(l.reg, buf + 16 * f, 16);
		r = cpuid_table_set(t, &l);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * A fixed model. Features are named, so the table reads as a list of what
 * the guest gets; everything else is zero. x86-64-v2 (the psABI's level 2:
 * cmpxchg16b, lahf/sahf, popcnt, sse3, sse4.1, sse4.2, ssse3) on a
 * processor of the vendor's, without XSAVE, AVX or TSX: what every x86
 * server of the last 12 years has, so a VM runs and migrates on any of them.
 * The invariant TSC is left out as QEMU's named models do: a guest that
 * trusts it across a move to a host of another TSC frequency goes wrong.
 */
struct model_def {
	const char *name;
	const char *vendor_id;
	unsigned family, model, stepping;
	const char *brand;
	const char *features;
};

#define X86_64_V2_FEATURES                                                                         \
	"fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx "     \
	"fxsr sse sse2 pni ssse3 cx16 sse4_1 sse4_2 x2apic popcnt hypervisor arat "                \
	"lahf_lm syscall nx lm"

static const struct model_def model_defs[] = {
	/* Nehalem's signature (family 6, model 0x1A): the first x86-64-v2 Xeon. */
	{"baseline-intel", "GenuineIntel", 6, 0x1A, 3, "Parvis baseline Intel x86-64-v2",
	 X86_64_V2_FEATURES},
	/* Zen's (family 0x17, model 1): AMD's oldest CPU KVM still runs guests well on. */
	{"baseline-amd", "AuthenticAMD", 0x17, 0x01, 2, "Parvis baseline AMD x86-64-v2",
	 X86_64_V2_FEATURES " xsaveerptr"},
};

#define BASELINE_MAX_BASIC    0x0Bu
#define BASELINE_MAX_EXTENDED 0x80000008u
#define BASELINE_PHYS_BITS    40u /* QEMU's default too: 1 TiB, below every server's limit */
#define BASELINE_VIRT_BITS    48u
/* Leaf 0x80000001 EDX bits AMD mirrors from leaf 1 EDX (AMD APM Vol. 3, E.4.2). */
#define AMD_LEAF1_EDX_ALIASES 0x0183F3FFu

static const struct model_def *model_def_find(const char *name)
{
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(model_defs); i++)
		if (!strcmp(model_defs[i].name, name))
			return &model_defs[i];
	return NULL;
}

static int build_fixed(const struct model_def *def, const struct cpu_host *host,
		       struct cpu_model *m)
{
	struct cpuid_table *t = &m->cpuid;
	struct cpuid_leaf l;
	const char *p;
	uint32_t f;
	int r = 0;

	t->n = 0;
	memcpy(m->vendor_id, def->vendor_id, 12);
	m->vendor = vendor_of(m->vendor_id);
	m->family = def->family;
	m->model = def->model;
	m->stepping = def->stepping;

	/* Every leaf up to the maxima exists (zero unless set below). */
	for (f = 0; f <= BASELINE_MAX_BASIC && r == 0; f++) {
		l = (struct cpuid_leaf){.function = f, .indexed = f == 4 || f == 7 || f == 0xB};
		r = cpuid_table_set(t, &l);
	}
	for (f = 0x80000000; f <= BASELINE_MAX_EXTENDED && r == 0; f++) {
		l = (struct cpuid_leaf){.function = f};
		r = cpuid_table_set(t, &l);
	}
	if (r < 0)
		return r;
	l = (struct cpuid_leaf){.function = 0, .reg = {BASELINE_MAX_BASIC}};
	memcpy(&l.reg[CPUID_EBX], def->vendor_id, 4);
	memcpy(&l.reg[CPUID_EDX], def->vendor_id + 4, 4);
	memcpy(&l.reg[CPUID_ECX], def->vendor_id + 8, 4);
	r = cpuid_table_set(t, &l);
	if (r < 0)
		return r;
	cpuid_table_find(t, 0x80000000, 0)->reg[CPUID_EAX] = BASELINE_MAX_EXTENDED;
	/* AMD repeats the vendor string in 0x80000000 EBX/ECX/EDX; Intel leaves them zero. */
	if (m->vendor == CPU_VENDOR_AMD)
		memcpy(&cpuid_table_find(t, 0x80000000, 0)->reg[CPUID_EBX], &l.reg[CPUID_EBX], 12);
	/* Leaf 1 EBX: CLFLUSH line size 8 quadwords (64 bytes). */
	l = (struct cpuid_leaf){
		.function = 1, .reg = {signature(def->family, def->model, def->stepping), 8u << 8}};
	r = cpuid_table_set(t, &l);
	if (r < 0)
		return r;
	if (m->vendor == CPU_VENDOR_AMD)
		cpuid_table_find(t, 0x80000001, 0)->reg[CPUID_EAX] = l.reg[CPUID_EAX];
	/* Leaf 2: one iteration, no descriptors (Linux then reads no cache sizes from it). */
	cpuid_table_find(t, 2, 0)->reg[CPUID_EAX] = 1;
	m->phys_bits = BASELINE_PHYS_BITS;
	m->virt_bits = BASELINE_VIRT_BITS;
	{
		const struct cpuid_leaf *hs = cpuid_table_get(&host->supported, 0x80000008, 0);

		/* Never more address bits than the host has: the guest would map beyond them. */
		if (hs && (hs->reg[CPUID_EAX] & 0xFF) && (hs->reg[CPUID_EAX] & 0xFF) < m->phys_bits)
			m->phys_bits = hs->reg[CPUID_EAX] & 0xFF;
	}
	cpuid_table_find(t, 0x80000008, 0)->reg[CPUID_EAX] = (m->virt_bits << 8) | m->phys_bits;
	r = put_brand(t, def->brand);
	if (r < 0)
		return r;

	/* The named features, each masked by KVM where KVM decides what the guest sees. */
	for (p = def->features; *p;) {
		size_t len = strcspn(p, " ");
		char name[32];
		const struct cpu_feature *feat;
		const struct cpuid_leaf *hs;

		if (len == 0 || len >= sizeof(name)) {
			p += len ? len : 1;
			continue;
		}
		memcpy(name, p, len);
		name[len] = 0;
		p += len;
		feat = cpu_feature_find(name);
		if (!feat)
			return -EINVAL; /* a typo in model_defs: the unit tests build every model */
		hs = cpuid_table_get(&host->supported, feat->function, feat->index);
		/* KVM_GET_SUPPORTED_CPUID never offers the hypervisor bit: the VMM sets it. */
		if (strcmp(name, "hypervisor") && feature_enforced(m, feat) &&
		    !cpuid_leaf_bit(hs, feat)) {
			m->state[feature_id(feat)] = CPU_FEATURE_MISSING;
			continue;
		}
		m->state[feature_id(feat)] = CPU_FEATURE_ON;
		model_put(m, feat, true);
	}
	if (m->vendor == CPU_VENDOR_AMD) {
		struct cpuid_leaf *e1 = cpuid_table_find(t, 0x80000001, 0);

		e1->reg[CPUID_EDX] |=
			cpuid_table_find(t, 1, 0)->reg[CPUID_EDX] & AMD_LEAF1_EDX_ALIASES;
	}
	snprintf(m->brand, sizeof(m->brand), "%s", def->brand);
	return 0;
}

static bool is_hypervisor_leaf(const struct cpuid_leaf *l, void *arg)
{
	(void)arg;
	return l->function >= 0x40000000 && l->function < 0x50000000;
}

static int build_host(const struct cpu_host *host, struct cpu_model *m)
{
	const struct cpuid_leaf *l1, *e8;
	unsigned i;

	m->cpuid = host->supported;
	vendor_id_of(cpuid_table_get(&m->cpuid, 0, 0), m->vendor_id);
	m->vendor = vendor_of(m->vendor_id);
	l1 = cpuid_table_get(&m->cpuid, 1, 0);
	if (!l1)
		return -EINVAL;
	decode_signature(l1->reg[CPUID_EAX], &m->family, &m->model, &m->stepping);
	brand_of(&m->cpuid, m->brand);
	/* KVMs that pass no brand string (PVM): the host's own, so the guest names its CPU. */
	if (!m->brand[0] && host->native_brand[0] && cpuid_table_get(&m->cpuid, 0x80000004, 0)) {
		int r = put_brand(&m->cpuid, host->native_brand);

		if (r < 0)
			return r;
		snprintf(m->brand, sizeof(m->brand), "%s", host->native_brand);
	}
	e8 = cpuid_table_get(&m->cpuid, 0x80000008, 0);
	m->phys_bits = e8 ? e8->reg[CPUID_EAX] & 0xFF : 36;
	m->virt_bits = e8 ? (e8->reg[CPUID_EAX] >> 8) & 0xFF : 48;
	for (i = 0; i < cpu_feature_count; i++)
		if (model_has(m, &cpu_features[i]))
			m->state[i] = CPU_FEATURE_ON;
	return 0;
}

/* --- 2, 3. the hypervisor bit and dependencies ---------------------------------------------- */

static void apply_hypervisor(struct cpu_model *m)
{
	const struct cpu_feature *hv = cpu_feature_find("hypervisor");

	table_remove_if(&m->cpuid, is_hypervisor_leaf, NULL);
	model_put(m, hv, true);
	m->state[feature_id(hv)] = CPU_FEATURE_ON;
}

static void apply_dependencies(struct cpu_model *m)
{
	bool changed = true;
	unsigned i;

	while (changed) {
		changed = false;
		for (i = 0; i < cpu_feature_dep_count; i++) {
			const struct cpu_feature *f = cpu_feature_find(cpu_feature_deps[i].feature);
			const struct cpu_feature *req =
				cpu_feature_find(cpu_feature_deps[i].requires);

			if (f && req && model_has(m, f) && !model_has(m, req)) {
				model_clear(m, f);
				changed = true;
			}
		}
	}
}

/* --- 4. XSAVE ------------------------------------------------------------------------------- */

/* Which feature each user state component (XCR0 bit) belongs to. */
static const struct {
	uint64_t components;
	const char *feature;
} xsave_users[] = {
	{XFEATURE_YMM, "avx"},
	{XFEATURE_BNDREGS | XFEATURE_BNDCSR, "mpx"},
	{XFEATURE_OPMASK | XFEATURE_ZMM_HI256 | XFEATURE_HI16_ZMM, "avx512f"},
	{XFEATURE_PKRU, "pku"},
	{XFEATURE_XTILECFG | XFEATURE_XTILEDATA, "amx_tile"},
};

static bool drop_xsave_leaf(const struct cpuid_leaf *l, void *arg)
{
	const uint64_t *keep = arg;

	if (l->function != 0xD)
		return false;
	if (!*keep)
		return true;
	return l->index >= 2 && l->index < 64 && !((*keep >> l->index) & 1);
}

static void apply_xsave(struct cpu_model *m, const struct cpu_host *host)
{
	const struct cpuid_leaf *d0 = cpuid_table_get(&m->cpuid, 0xD, 0);
	uint64_t host_xcr0 = d0 ? d0->reg[CPUID_EAX] | (uint64_t)d0->reg[CPUID_EDX] << 32 : 0;
	uint64_t xcr0 = 0, keep;
	uint32_t max_size = XSAVE_LEGACY_SIZE;
	struct cpuid_leaf *l;
	unsigned i;

	/* OS-controlled bits follow CR4 (KVM updates them at run time). */
	model_put(m, &(struct cpu_feature){"osxsave", 1, 0, CPUID_ECX, 27}, false);
	model_put(m, &(struct cpu_feature){"ospke", 7, 0, CPUID_ECX, 4}, false);

	if (guest_sees(m, host, "xsave") &&
	    (host_xcr0 & (XFEATURE_X87 | XFEATURE_SSE)) == (XFEATURE_X87 | XFEATURE_SSE)) {
		xcr0 = XFEATURE_X87 | XFEATURE_SSE;
		for (i = 0; i < ARRAY_SIZE(xsave_users); i++) {
			bool want = guest_sees(m, host, xsave_users[i].feature);
			bool have = (host_xcr0 & xsave_users[i].components) ==
				    xsave_users[i].components;

			if (want && have)
				xcr0 |= xsave_users[i].components;
			else if (want)
				model_clear_name(m, xsave_users[i].feature);
		}
	} else {
		model_clear_name(m, "xsave");
	}
	apply_dependencies(m); /* what needed a component (fma on avx, ...) goes with it */
	m->xcr0 = xcr0;
	keep = xcr0;
	{
		const struct cpuid_leaf *d1 = cpuid_table_get(&m->cpuid, 0xD, 1);

		/* Supervisor components (IA32_XSS) stay as KVM offers them, XSAVES permitting. */
		if (xcr0 && d1 && model_has_name(m, "xsaves"))
			keep |= d1->reg[CPUID_ECX] | (uint64_t)d1->reg[CPUID_EDX] << 32;
	}
	table_remove_if(&m->cpuid, drop_xsave_leaf, &keep);
	if (!xcr0)
		return;
	for (i = 2; i < 64; i++) {
		const struct cpuid_leaf *c = cpuid_table_get(&m->cpuid, 0xD, i);

		/* Sub-leaf i: EAX size, EBX offset in the standard format. */
		if (c && ((xcr0 >> i) & 1) && c->reg[CPUID_EAX] + c->reg[CPUID_EBX] > max_size)
			max_size = c->reg[CPUID_EAX] + c->reg[CPUID_EBX];
	}
	l = cpuid_table_find(&m->cpuid, 0xD, 0);
	l->reg[CPUID_EAX] = (uint32_t)xcr0;
	l->reg[CPUID_EDX] = (uint32_t)(xcr0 >> 32);
	l->reg[CPUID_EBX] = XSAVE_LEGACY_SIZE; /* for XCR0 = x87 at reset; KVM follows XSETBV */
	l->reg[CPUID_ECX] = max_size;
	l = cpuid_table_find(&m->cpuid, 0xD, 1);
	if (l) {
		if (!model_has_name(m, "xsaves"))
			l->reg[CPUID_ECX] = l->reg[CPUID_EDX] = 0;
		l->reg[CPUID_EBX] = XSAVE_LEGACY_SIZE;
	}
}

/* --- 5. topology ---------------------------------------------------------------------------- */

/* Bits of APIC ID that number the cores of the package: ceil(log2(vcpus)). */
static unsigned core_bits(unsigned vcpus)
{
	unsigned b = 0;

	while ((1u << b) < vcpus)
		b++;
	return b;
}

static bool drop_topology_leaf(const struct cpuid_leaf *l, void *arg)
{
	(void)arg;
	/* 0xB and 0x1F are rebuilt whole below: three levels, nothing else. */
	return (l->function == 0xB || l->function == 0x1F) && l->index > 2;
}

static void topology_leaf(struct cpuid_leaf *l, unsigned vcpus)
{
	unsigned level = l->index;

	/* SDM Vol. 2A, leaf 0BH: sub-leaf 0 the SMT level, 1 the core level, 2 invalid. */
	if (level == 0)
		*l = (struct cpuid_leaf){l->function, 0, true, {0, 1, (1u << 8) | 0, 0}};
	else if (level == 1)
		*l = (struct cpuid_leaf){
			l->function, 1, true, {core_bits(vcpus), vcpus, (2u << 8) | 1, 0}};
	else
		*l = (struct cpuid_leaf){l->function, level, true, {0, 0, level, 0}};
}

static int apply_topology(struct cpu_model *m)
{
	unsigned n = m->vcpus, bits = core_bits(n), i;
	struct cpuid_leaf *l;
	uint32_t f;

	l = cpuid_table_find(&m->cpuid, 1, 0);
	l->reg[CPUID_EDX] |= CPUID_1_EDX_HTT; /* the count in EBX[23:16] is valid */
	l->reg[CPUID_EBX] = (l->reg[CPUID_EBX] & 0x0000FFFF) | (MIN(1u << bits, 255u) << 16);
	table_remove_if(&m->cpuid, drop_topology_leaf, NULL);
	for (f = 0xB; f <= 0x1F; f += 0x1F - 0xB) {
		if (!cpuid_table_get(&m->cpuid, f, 0))
			continue;
		for (i = 0; i < 3; i++) {
			struct cpuid_leaf t = {.function = f, .index = i, .indexed = true};
			int r;

			topology_leaf(&t, n);
			r = cpuid_table_set(&m->cpuid, &t);
			if (r < 0)
				return r;
		}
	}
	/* Leaf 4 (Intel caches): EAX[31:26] cores - 1, EAX[25:14] sharers - 1. */
	for (i = 0; i < 16; i++) {
		l = cpuid_table_find(&m->cpuid, 4, i);
		if (!l || !l->indexed || (l->reg[CPUID_EAX] & 0x1F) == 0)
			break;
		l->reg[CPUID_EAX] &= 0x00003FFF;
		l->reg[CPUID_EAX] |= ((1u << bits) - 1) << 26;
		if (((l->reg[CPUID_EAX] >> 5) & 7) >= 3)
			l->reg[CPUID_EAX] |= ((1u << bits) - 1) << 14;
	}
	if (m->vendor != CPU_VENDOR_AMD)
		return 0;
	/* AMD APM Vol. 3, E.4.7: NC = cores - 1, ApicIdSize = core bits; legacy mode off. */
	l = cpuid_table_find(&m->cpuid, 0x80000008, 0);
	if (l)
		l->reg[CPUID_ECX] = (l->reg[CPUID_ECX] & ~0xF0FFu) | (bits << 12) | (n - 1);
	l = cpuid_table_find(&m->cpuid, 0x80000001, 0);
	if (l) {
		if (n > 1)
			l->reg[CPUID_ECX] |= CPUID_80000001_ECX_CMP_LEGACY;
		else
			l->reg[CPUID_ECX] &= ~CPUID_80000001_ECX_CMP_LEGACY;
	}
	/* 0x8000001D (cache topology): L3 shared by the package, the rest per core. */
	for (i = 0; i < 16; i++) {
		l = cpuid_table_find(&m->cpuid, 0x8000001D, i);
		if (!l || !l->indexed || (l->reg[CPUID_EAX] & 0x1F) == 0)
			break;
		l->reg[CPUID_EAX] &= ~(0xFFFu << 14);
		if (((l->reg[CPUID_EAX] >> 5) & 7) >= 3)
			l->reg[CPUID_EAX] |= (n - 1) << 14;
	}
	/* 0x8000001E: one thread per core, one node (APIC ID and core ID per vCPU). */
	l = cpuid_table_find(&m->cpuid, 0x8000001E, 0);
	if (l)
		l->reg[CPUID_EBX] = l->reg[CPUID_ECX] = l->reg[CPUID_EDX] = 0;
	return 0;
}

void cpu_model_vcpu_cpuid(const struct cpu_model *m, unsigned vcpu, struct cpuid_table *out)
{
	unsigned i;

	*out = m->cpuid;
	for (i = 0; i < out->n; i++) {
		struct cpuid_leaf *l = &out->leaf[i];

		switch (l->function) {
		case 1:
			l->reg[CPUID_EBX] =
				(l->reg[CPUID_EBX] & 0x00FFFFFF) | (MIN(vcpu, 255u) << 24);
			break;
		case 0xB:
		case 0x1F: l->reg[CPUID_EDX] = vcpu; break;
		case 0x8000001E:
			l->reg[CPUID_EAX] = vcpu;
			l->reg[CPUID_EBX] = vcpu & 0xFF;
			break;
		}
	}
}

/* --- 6. MSRs -------------------------------------------------------------------------------- */

static void add_msr(struct cpu_model *m, uint32_t index, uint64_t value)
{
	if (m->nmsrs < CPU_MODEL_MAX_MSRS)
		m->msrs[m->nmsrs++] = (struct cpu_msr_value){index, value};
}

static void apply_msrs(struct cpu_model *m, const struct cpu_host *host)
{
	/*
	 * HWCR.TscFreqSel (bit 24) is set on every AMD CPU since family 0x10
	 * model 2 (the TSC counts at P0); Linux warns "[Firmware Bug]: TSC
	 * doesn't count with P0 frequency!" when it sees a constant TSC without
	 * it (arch/x86/kernel/cpu/amd.c, bsp_init_amd). KVM starts HWCR at 0.
	 */
	if (m->vendor == CPU_VENDOR_AMD &&
	    (m->family > 0x10 || (m->family == 0x10 && m->model >= 2)))
		add_msr(m, MSR_K7_HWCR, MSR_K7_HWCR_TSC_FREQ_SEL);
	/* Enumerated means readable: with KVM's value, or not enumerated at all. */
	if (model_has_name(m, "arch_capabilities")) {
		if (host->have_arch_capabilities)
			add_msr(m, MSR_IA32_ARCH_CAPABILITIES, host->arch_capabilities);
		else
			model_clear_name(m, "arch_capabilities");
	}
}

void cpu_model_drop_msr(struct cpu_model *m, uint32_t index)
{
	unsigned i, n = 0;

	for (i = 0; i < m->nmsrs; i++) {
		if (m->msrs[i].index != index)
			m->msrs[n++] = m->msrs[i];
		else if (m->nrefused < CPU_MODEL_MAX_MSRS)
			m->refused[m->nrefused++] = m->msrs[i];
	}
	m->nmsrs = n;
	if (index == MSR_K7_HWCR)
		model_clear_name(m, "invtsc");
	else if (index == MSR_IA32_ARCH_CAPABILITIES)
		model_clear_name(m, "arch_capabilities");
}

bool cpu_model_msr(const struct cpu_model *m, uint32_t index, uint64_t *value)
{
	unsigned i;

	for (i = 0; i < m->nmsrs; i++)
		if (m->msrs[i].index == index) {
			*value = m->msrs[i].value;
			return true;
		}
	return false;
}

/* --- 7. PVM --------------------------------------------------------------------------------- */

/*
 * What the guest of a PVM host sees in a leaf KVM does not enforce is the
 * host's own bit: every feature of such a leaf is reported "host".
 */
static void apply_unenforced(struct cpu_model *m, const struct cpu_host *host)
{
	unsigned i;

	for (i = 0; i < cpu_feature_count; i++) {
		const struct cpu_feature *f = &cpu_features[i];

		if (feature_enforced(m, f))
			continue;
		if (model_has(m, f) || native_has(host, f))
			m->state[i] = CPU_FEATURE_HOST;
		else
			m->state[i] = CPU_FEATURE_OFF;
	}
}

static void apply_pvm(struct cpu_model *m)
{
	const struct cpu_feature *f = cpu_feature_find("xsaveerptr");

	/*
	 * PVM's emulator cannot run the fnclex/emms/fild sequence Linux uses on
	 * AMD CPUs that leak FPU error pointers; XSAVEERPTR says the CPU does not
	 * (research/PVM-GROUND.md). Only where guest kernel code is emulated.
	 */
	if (cpuid_table_get(&m->cpuid, 0x80000008, 0)) {
		model_put(m, f, true);
		m->state[feature_id(f)] = CPU_FEATURE_ON;
	}
}

/* --- the build ------------------------------------------------------------------------------ */

static const char *resolve_name(const char *name, const struct cpu_host *host)
{
	char vendor[13];

	if (strcmp(name, "baseline"))
		return name;
	vendor_id_of(cpuid_table_get(&host->supported, 0, 0), vendor);
	switch (vendor_of(vendor)) {
	case CPU_VENDOR_INTEL: return "baseline-intel";
	case CPU_VENDOR_AMD: return "baseline-amd";
	default: return NULL;
	}
}

int cpu_model_build(const char *name, const struct cpu_host *host, unsigned vcpus,
		    struct cpu_model *m, char *err, size_t errlen)
{
	const char *resolved = resolve_name(name, host);
	const struct model_def *def;
	int r;

	memset(m, 0, sizeof(*m));
	_Static_assert(sizeof(m->state) >= 1, "");
	if (cpu_feature_count > CPU_FEATURE_MAX)
		return -EOVERFLOW;
	if (!resolved) {
		snprintf(err, errlen,
			 "cpu model baseline: this host's CPU is neither Intel nor AMD; "
			 "use the host model");
		return -EINVAL;
	}
	if (vcpus == 0 || vcpus > 255) {
		snprintf(err, errlen, "cpu model %s: %u vCPUs (1..255)", resolved, vcpus);
		return -EINVAL;
	}
	snprintf(m->name, sizeof(m->name), "%s", resolved);
	m->vcpus = vcpus;
	if (host->pvm) {
		/*
		 * PVM runs guest user space natively, without CPUID faulting, so it
		 * gives the guest kernel the host's feature words too: leaf 1 ECX/EDX
		 * (bar the few KVM manages), all of leaf 7.0 (EAX, the highest
		 * sub-leaf, too: 2 on an Intel Xeon host where the model says 0)
		 * and the XSAVE instruction variants of leaf 0xD.1 EAX (docs/pvm.md).
		 */
		m->unenforced[m->nunenforced++] =
			(struct cpu_unenforced){1, 0, (1u << CPUID_ECX) | (1u << CPUID_EDX)};
		m->unenforced[m->nunenforced++] =
			(struct cpu_unenforced){7, 0,
						(1u << CPUID_EAX) | (1u << CPUID_EBX) |
							(1u << CPUID_ECX) | (1u << CPUID_EDX)};
		m->unenforced[m->nunenforced++] = (struct cpu_unenforced){0xD, 1, 1u << CPUID_EAX};
	}
	def = model_def_find(resolved);
	if (def) {
		char host_vendor[13];

		/* A guest must run on its model's vendor: SYSCALL, SYSENTER and VMX/SVM differ. */
		vendor_id_of(cpuid_table_get(&host->supported, 0, 0), host_vendor);
		if (strcmp(host_vendor, def->vendor_id)) {
			snprintf(err, errlen, "cpu model %s needs a %s host; this host is %s",
				 resolved, def->vendor_id,
				 host_vendor[0] ? host_vendor : "unknown");
			return -EINVAL;
		}
	}
	if (def)
		r = build_fixed(def, host, m);
	else if (!strcmp(resolved, "host"))
		r = build_host(host, m);
	else {
		snprintf(err, errlen,
			 "cpu model '%s' is unknown (host, baseline, baseline-intel, "
			 "baseline-amd)",
			 name);
		return -EINVAL;
	}
	if (r < 0) {
		snprintf(err, errlen, "cpu model %s: %s", resolved,
			 r == -ENOSPC ? "too many CPUID leaves" : "the host's CPUID is incomplete");
		return r;
	}
	apply_hypervisor(m);
	apply_dependencies(m);
	apply_xsave(m, host);
	r = apply_topology(m);
	if (r < 0) {
		snprintf(err, errlen, "cpu model %s: too many CPUID leaves", resolved);
		return r;
	}
	if (host->pvm)
		apply_pvm(m);
	apply_msrs(m, host);
	apply_unenforced(m, host);
	return 0;
}

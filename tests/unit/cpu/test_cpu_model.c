/*
 * The CPU model builder over recorded hosts (tests/data/cpuid/): every
 * model builds on every host of its vendor, the result obeys the
 * consistency rules whatever the host, and a baseline model's leaves and
 * MSRs are the same on every host of its vendor — the promise of
 * processor compatibility for migration.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cpu/cpu_model.h"
#include "cpu/cpu_report.h"

#ifndef CPUID_DATA_DIR
#error "CPUID_DATA_DIR: tests/data/cpuid"
#endif

static const char *const hosts[] = {
	"pvm-amd-epyc-family19h", "amd-epyc-rome",	   "amd-epyc-genoa",
	"intel-xeon-haswell-ep",  "intel-xeon-skylake-sp",
};

static struct cpu_host *load_host(const char *name)
{
	char path[512], err[128];
	struct cpu_host *h = calloc(1, sizeof(*h));
	FILE *f;
	char *text;
	long n;

	assert_non_null(h);
	snprintf(path, sizeof(path), "%s/%s.txt", CPUID_DATA_DIR, name);
	f = fopen(path, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	if (cpuid_table_parse(text, &h->supported, err, sizeof(err)) < 0)
		fail_msg("%s: %s", name, err);
	free(text);
	h->pvm = !strncmp(name, "pvm-", 4);
	if (h->pvm) {
		/* What the guest of that host sees in leaves 1 and 7 (its own bits). */
		h->native_leaf1 = (struct cpuid_leaf){
			1, 0, false, {0x00a00f11, 0x00020800, 0xfffa3203, 0x178bfbff}};
		h->native_leaf7 =
			(struct cpuid_leaf){7, 0, true, {0, 0x219c03ab, 0x00000604, 0x88000010}};
	}
	return h;
}

static const char *vendor_of(const struct cpu_host *h)
{
	const struct cpuid_leaf *l = cpuid_table_get(&h->supported, 0, 0);

	return l && l->reg[CPUID_EBX] == 0x68747541 ? "amd" : "intel";
}

static bool has(const struct cpu_model *m, const char *name)
{
	const struct cpu_feature *f = cpu_feature_find(name);

	assert_non_null(f);
	return cpuid_leaf_bit(cpuid_table_get(&m->cpuid, f->function, f->index), f);
}

static const struct cpuid_leaf *leaf(const struct cpuid_table *t, uint32_t f, uint32_t i)
{
	const struct cpuid_leaf *l = cpuid_table_get(t, f, i);

	if (!l)
		fail_msg("leaf %#x.%u missing", f, i);
	return l;
}

/* The rules every model obeys, on any host (cpu_model.h). */
static void check_consistent(const struct cpu_model *m, unsigned vcpus)
{
	struct cpuid_table *t = malloc(sizeof(*t));
	unsigned i, v;
	uint64_t hwcr;

	assert_true(has(m, "hypervisor"));
	for (i = 0; i < m->cpuid.n; i++)
		assert_false(m->cpuid.leaf[i].function >= 0x40000000 &&
			     m->cpuid.leaf[i].function < 0x50000000);
	for (i = 0; i < cpu_feature_dep_count; i++) {
		const struct cpu_feature *f = cpu_feature_find(cpu_feature_deps[i].feature);
		const struct cpu_feature *r = cpu_feature_find(cpu_feature_deps[i].requires);

		assert_non_null(f);
		assert_non_null(r);
		if (cpu_model_enforced(m, f->function, f->index, f->reg) &&
		    cpu_model_enforced(m, r->function, r->index, r->reg) && has(m, f->name) &&
		    !has(m, r->name))
			fail_msg("%s: %s without %s", m->name, f->name, r->name);
	}
	/* XSAVE: leaf 0xD says exactly what the features allow. */
	if (cpu_model_enforced(m, 1, 0, CPUID_ECX)) {
		assert_int_equal(has(m, "xsave"), m->xcr0 != 0);
		if (m->xcr0) {
			assert_int_equal(leaf(&m->cpuid, 0xD, 0)->reg[CPUID_EAX],
					 (uint32_t)m->xcr0);
			assert_int_equal(!!(m->xcr0 & XFEATURE_YMM), has(m, "avx"));
			assert_int_equal(!!(m->xcr0 & XFEATURE_OPMASK), has(m, "avx512f"));
			assert_true(leaf(&m->cpuid, 0xD, 0)->reg[CPUID_ECX] >= XSAVE_LEGACY_SIZE);
		} else {
			assert_null(cpuid_table_get(&m->cpuid, 0xD, 0));
		}
	}
	/* AMD: TscFreqSel with a constant TSC (arch/x86/kernel/cpu/amd.c). */
	if (m->vendor == CPU_VENDOR_AMD && has(m, "invtsc")) {
		assert_true(cpu_model_msr(m, MSR_K7_HWCR, &hwcr));
		assert_true(hwcr & MSR_K7_HWCR_TSC_FREQ_SEL);
	}
	if (has(m, "arch_capabilities"))
		assert_true(cpu_model_msr(m, MSR_IA32_ARCH_CAPABILITIES, &hwcr));
	/* Topology: one package of vcpus cores, APIC ID = vCPU index. */
	for (v = 0; v < vcpus; v++) {
		cpu_model_vcpu_cpuid(m, v, t);
		assert_int_equal(leaf(t, 1, 0)->reg[CPUID_EBX] >> 24, v);
		assert_true(((leaf(t, 1, 0)->reg[CPUID_EBX] >> 16) & 0xFF) >= vcpus);
		if (cpuid_table_get(t, 0xB, 0)) {
			assert_int_equal(leaf(t, 0xB, 0)->reg[CPUID_EBX], 1);
			assert_int_equal(leaf(t, 0xB, 1)->reg[CPUID_EBX], vcpus);
			assert_int_equal(leaf(t, 0xB, 1)->reg[CPUID_ECX] >> 8 & 0xFF, 2);
			assert_true((1u << leaf(t, 0xB, 1)->reg[CPUID_EAX]) >= vcpus);
			assert_int_equal(leaf(t, 0xB, 2)->reg[CPUID_ECX] >> 8 & 0xFF, 0);
			assert_int_equal(leaf(t, 0xB, 0)->reg[CPUID_EDX], v);
			assert_int_equal(leaf(t, 0xB, 1)->reg[CPUID_EDX], v);
		}
		if (m->vendor == CPU_VENDOR_AMD) {
			assert_int_equal(leaf(t, 0x80000008, 0)->reg[CPUID_ECX] & 0xFF, vcpus - 1);
			assert_int_equal(has(m, "cmp_legacy"), vcpus > 1);
			if (cpuid_table_get(t, 0x8000001E, 0)) {
				assert_int_equal(leaf(t, 0x8000001E, 0)->reg[CPUID_EAX], v);
				assert_int_equal(leaf(t, 0x8000001E, 0)->reg[CPUID_EBX], v);
			}
		}
		for (i = 0; i < 8 && cpuid_table_get(t, 4, i); i++) {
			uint32_t a = leaf(t, 4, i)->reg[CPUID_EAX];

			if ((a & 0x1F) == 0)
				break;
			assert_true((a >> 26) + 1 >= vcpus);
		}
	}
	free(t);
}

static void build(const char *model, const struct cpu_host *h, unsigned vcpus, struct cpu_model *m)
{
	char err[256];

	if (cpu_model_build(model, h, vcpus, m, err, sizeof(err)) < 0)
		fail_msg("%s: %s", model, err);
}

static void test_every_model_on_every_host_is_consistent(void **state)
{
	static const char *const models[] = {"host", "baseline"};
	static const unsigned counts[] = {1, 2, 3, 8, 64};
	struct cpu_model *m = malloc(sizeof(*m));
	unsigned h, i, c;

	for (h = 0; h < sizeof(hosts) / sizeof(hosts[0]); h++) {
		struct cpu_host *host = load_host(hosts[h]);

		for (i = 0; i < 2; i++)
			for (c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
				build(models[i], host, counts[c], m);
				check_consistent(m, counts[c]);
			}
		free(host);
	}
	free(m);
}

/* The baseline of a vendor is the same processor on every host of that vendor. */
static void test_baseline_identical_across_hosts(void **state)
{
	struct cpu_model *first[2] = {malloc(sizeof(struct cpu_model)),
				      malloc(sizeof(struct cpu_model))};
	struct cpu_model *m = malloc(sizeof(*m));
	bool seen[2] = {false, false};
	unsigned h, i;

	for (h = 0; h < sizeof(hosts) / sizeof(hosts[0]); h++) {
		struct cpu_host *host = load_host(hosts[h]);
		unsigned v = !strcmp(vendor_of(host), "amd");

		build("baseline", host, 4, m);
		assert_string_equal(m->name, v ? "baseline-amd" : "baseline-intel");
		for (i = 0; i < cpu_feature_count; i++)
			if (m->state[i] == CPU_FEATURE_MISSING)
				fail_msg("%s on %s: %s missing", m->name, hosts[h],
					 cpu_features[i].name);
		if (!seen[v]) {
			*first[v] = *m;
			seen[v] = true;
		} else {
			assert_int_equal(m->cpuid.n, first[v]->cpuid.n);
			for (i = 0; i < m->cpuid.n; i++) {
				const struct cpuid_leaf *a = &m->cpuid.leaf[i];
				const struct cpuid_leaf *b =
					leaf(&first[v]->cpuid, a->function, a->index);

				if (memcmp(a->reg, b->reg, sizeof(a->reg)))
					fail_msg("%s: leaf %#x.%u differs on %s", m->name,
						 a->function, a->index, hosts[h]);
			}
			assert_int_equal(m->nmsrs, first[v]->nmsrs);
			assert_memory_equal(m->msrs, first[v]->msrs, m->nmsrs * sizeof(m->msrs[0]));
		}
		free(host);
	}
	assert_true(seen[0] && seen[1]);
	/* x86-64-v2 and nothing newer. */
	for (h = 0; h < 2; h++) {
		static const char *const v2[] = {"cx16",   "lahf_lm", "popcnt", "pni",
						 "sse4_1", "sse4_2",  "ssse3"};
		static const char *const newer[] = {"avx",     "avx2", "xsave",
						    "avx512f", "rtm",  "invtsc"};

		for (i = 0; i < 7; i++)
			assert_true(has(first[h], v2[i]));
		for (i = 0; i < 6; i++)
			assert_false(has(first[h], newer[i]));
	}
	free(first[0]);
	free(first[1]);
	free(m);
}

static void test_host_model_keeps_what_kvm_offers(void **state)
{
	struct cpu_host *host = load_host("intel-xeon-skylake-sp");
	struct cpu_model *m = malloc(sizeof(*m));

	build("host", host, 2, m);
	assert_true(has(m, "avx512f") && has(m, "avx512vl") && has(m, "avx2") && has(m, "xsaves"));
	assert_int_equal(m->xcr0, 0x2FF);
	assert_int_equal(leaf(&m->cpuid, 0xD, 0)->reg[CPUID_ECX], 2696); /* PKRU's end */
	assert_int_equal(m->family, 6);
	assert_int_equal(m->model, 0x55);
	free(host);

	/* A host whose KVM has AVX-512 but no ZMM state: AVX-512 goes, AVX stays. */
	host = load_host("intel-xeon-skylake-sp");
	{
		struct cpuid_leaf *d0 = cpuid_table_find(&host->supported, 0xD, 0);

		d0->reg[CPUID_EAX] &=
			~(uint32_t)(XFEATURE_OPMASK | XFEATURE_ZMM_HI256 | XFEATURE_HI16_ZMM);
	}
	build("host", host, 2, m);
	assert_false(has(m, "avx512f") || has(m, "avx512vl") || has(m, "avx512bw"));
	assert_true(has(m, "avx2"));
	assert_int_equal(m->state[cpu_feature_find("avx512f") - cpu_features], CPU_FEATURE_MISSING);
	assert_null(cpuid_table_get(&m->cpuid, 0xD, 5));
	free(host);
	free(m);
}

static void test_baseline_masked_by_kvm(void **state)
{
	struct cpu_host *host = load_host("amd-epyc-rome");
	struct cpu_model *m = malloc(sizeof(*m));
	const struct cpu_feature *sse42 = cpu_feature_find("sse4_2");

	cpuid_table_find(&host->supported, 1, 0)->reg[CPUID_ECX] &= ~(1u << sse42->bit);
	build("baseline", host, 1, m);
	assert_false(has(m, "sse4_2"));
	assert_int_equal(m->state[sse42 - cpu_features], CPU_FEATURE_MISSING);
	free(host);
	free(m);
}

static void test_pvm_reports_host_words(void **state)
{
	struct cpu_host *host = load_host("pvm-amd-epyc-family19h");
	struct cpu_model *m = malloc(sizeof(*m));
	struct json_object *o, *hostf;

	build("baseline", host, 2, m);
	assert_false(cpu_model_enforced(m, 1, 0, CPUID_ECX));
	assert_true(cpu_model_enforced(m, 1, 0, CPUID_EAX));
	assert_false(cpu_model_enforced(m, 7, 0, CPUID_EBX));
	/* The baseline's leaf-1 features are "host" there; avx2 the host has is too. */
	assert_int_equal(m->state[cpu_feature_find("sse4_2") - cpu_features], CPU_FEATURE_HOST);
	assert_int_equal(m->state[cpu_feature_find("avx2") - cpu_features], CPU_FEATURE_HOST);
	assert_int_equal(m->state[cpu_feature_find("lahf_lm") - cpu_features], CPU_FEATURE_ON);
	assert_true(has(m, "xsaveerptr"));
	o = cpu_model_report_json(m, true);
	hostf = json_object_object_get(o, "host-features");
	assert_true(json_object_array_length(hostf) > 10);
	assert_non_null(json_object_object_get(o, "cpuid"));
	json_object_put(o);
	/* The host model: KVM's KVMKVMKVM leaves never reach the guest. */
	build("host", host, 1, m);
	assert_null(cpuid_table_get(&m->cpuid, 0x40000000, 0));
	free(host);
	free(m);
}

static void test_refused_msrs_keep_it_consistent(void **state)
{
	struct cpu_host *host = load_host("amd-epyc-genoa");
	struct cpu_model *m = malloc(sizeof(*m));
	uint64_t v;

	build("host", host, 1, m);
	assert_true(has(m, "invtsc"));
	assert_true(cpu_model_msr(m, MSR_K7_HWCR, &v));
	cpu_model_drop_msr(m, MSR_K7_HWCR);
	assert_false(cpu_model_msr(m, MSR_K7_HWCR, &v));
	assert_false(has(m, "invtsc"));
	free(host);

	host = load_host("intel-xeon-haswell-ep");
	build("host", host, 1, m);
	assert_false(has(m, "arch_capabilities")); /* KVM offered no value for it */
	host->have_arch_capabilities = true;
	host->arch_capabilities = 0x69;
	build("host", host, 1, m);
	assert_true(has(m, "arch_capabilities"));
	assert_true(cpu_model_msr(m, MSR_IA32_ARCH_CAPABILITIES, &v) && v == 0x69);
	cpu_model_drop_msr(m, MSR_IA32_ARCH_CAPABILITIES);
	assert_false(has(m, "arch_capabilities"));
	free(host);
	free(m);
}

static void test_bad_names_and_inputs(void **state)
{
	struct cpu_host *host = load_host("intel-xeon-haswell-ep");
	struct cpu_model *m = malloc(sizeof(*m));
	struct cpuid_table *t = malloc(sizeof(*t));
	char err[256];

	assert_int_equal(cpu_model_build("pentium", host, 1, m, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "'pentium' is unknown"));
	assert_non_null(strstr(err, "baseline-amd"));
	assert_int_equal(cpu_model_build("baseline-amd", host, 1, m, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "needs a AuthenticAMD host"));
	assert_int_equal(cpu_model_build("host", host, 0, m, err, sizeof(err)), -EINVAL);
	assert_int_equal(cpu_model_build("host", host, 256, m, err, sizeof(err)), -EINVAL);
	assert_int_equal(cpuid_table_parse("0x1 0 0 1 2 3\n", t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "line 1"));
	assert_int_equal(cpuid_table_parse("# c\n\n0x1 0 0 1 2 3 4 # x\n", t, err, sizeof(err)), 0);
	assert_int_equal(t->n, 1);
	assert_int_equal(t->leaf[0].reg[CPUID_EDX], 4);
	free(t);
	free(host);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_model_on_every_host_is_consistent),
		cmocka_unit_test(test_baseline_identical_across_hosts),
		cmocka_unit_test(test_host_model_keeps_what_kvm_offers),
		cmocka_unit_test(test_baseline_masked_by_kvm),
		cmocka_unit_test(test_pvm_reports_host_words),
		cmocka_unit_test(test_refused_msrs_keep_it_consistent),
		cmocka_unit_test(test_bad_names_and_inputs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The feature table: each row names one CPUID bit (Intel SDM Vol. 2A,
 * "CPUID—CPU Identification", Tables 3-8 to 3-10; AMD APM Vol. 3, Appendix
 * E.3). Names are Linux's (arch/x86/include/asm/cpufeatures.h, the quoted
 * string where it has one), so get-vmprocessor reads like /proc/cpuinfo.
 */
#include "cpu/cpu_features.h"

#include <string.h>

#include "base/compiler.h"

/* One register's bits a line, as in the manuals' tables. */
/* clang-format off */
#define L1C(n, b)  {n, 0x00000001, 0, CPUID_ECX, b}
#define L1D(n, b)  {n, 0x00000001, 0, CPUID_EDX, b}
#define L6A(n, b)  {n, 0x00000006, 0, CPUID_EAX, b}
#define L7B(n, b)  {n, 0x00000007, 0, CPUID_EBX, b}
#define L7C(n, b)  {n, 0x00000007, 0, CPUID_ECX, b}
#define L7D(n, b)  {n, 0x00000007, 0, CPUID_EDX, b}
#define LDA(n, b)  {n, 0x0000000D, 1, CPUID_EAX, b}
#define E1C(n, b)  {n, 0x80000001, 0, CPUID_ECX, b}
#define E1D(n, b)  {n, 0x80000001, 0, CPUID_EDX, b}
#define E7D(n, b)  {n, 0x80000007, 0, CPUID_EDX, b}
#define E8B(n, b)  {n, 0x80000008, 0, CPUID_EBX, b}

const struct cpu_feature cpu_features[] = {
	/* Leaf 1 EDX */
	L1D("fpu", 0), L1D("vme", 1), L1D("de", 2), L1D("pse", 3), L1D("tsc", 4),
	L1D("msr", 5), L1D("pae", 6), L1D("mce", 7), L1D("cx8", 8), L1D("apic", 9),
	L1D("sep", 11), L1D("mtrr", 12), L1D("pge", 13), L1D("mca", 14), L1D("cmov", 15),
	L1D("pat", 16), L1D("pse36", 17), L1D("pn", 18), L1D("clflush", 19), L1D("dts", 21),
	L1D("acpi", 22), L1D("mmx", 23), L1D("fxsr", 24), L1D("sse", 25), L1D("sse2", 26),
	L1D("ss", 27), L1D("ht", 28), L1D("tm", 29), L1D("pbe", 31),
	/* Leaf 1 ECX */
	L1C("pni", 0), L1C("pclmulqdq", 1), L1C("dtes64", 2), L1C("monitor", 3),
	L1C("ds_cpl", 4), L1C("vmx", 5), L1C("smx", 6), L1C("est", 7), L1C("tm2", 8),
	L1C("ssse3", 9), L1C("cid", 10), L1C("sdbg", 11), L1C("fma", 12), L1C("cx16", 13),
	L1C("xtpr", 14), L1C("pdcm", 15), L1C("pcid", 17), L1C("dca", 18), L1C("sse4_1", 19),
	L1C("sse4_2", 20), L1C("x2apic", 21), L1C("movbe", 22), L1C("popcnt", 23),
	L1C("tsc_deadline_timer", 24), L1C("aes", 25), L1C("xsave", 26), L1C("avx", 28),
	L1C("f16c", 29), L1C("rdrand", 30), L1C("hypervisor", 31),
	/* Leaf 6 EAX */
	L6A("arat", 2),
	/* Leaf 7.0 EBX */
	L7B("fsgsbase", 0), L7B("tsc_adjust", 1), L7B("sgx", 2), L7B("bmi1", 3), L7B("hle", 4),
	L7B("avx2", 5), L7B("fdp_excptn_only", 6), L7B("smep", 7), L7B("bmi2", 8),
	L7B("erms", 9), L7B("invpcid", 10), L7B("rtm", 11), L7B("cqm", 12),
	L7B("zero_fcs_fds", 13), L7B("mpx", 14), L7B("rdt_a", 15), L7B("avx512f", 16),
	L7B("avx512dq", 17), L7B("rdseed", 18), L7B("adx", 19), L7B("smap", 20),
	L7B("avx512ifma", 21), L7B("clflushopt", 23), L7B("clwb", 24), L7B("intel_pt", 25),
	L7B("avx512pf", 26), L7B("avx512er", 27), L7B("avx512cd", 28), L7B("sha_ni", 29),
	L7B("avx512bw", 30), L7B("avx512vl", 31),
	/* Leaf 7.0 ECX */
	L7C("avx512vbmi", 1), L7C("umip", 2), L7C("pku", 3), L7C("waitpkg", 5),
	L7C("avx512_vbmi2", 6), L7C("shstk", 7), L7C("gfni", 8), L7C("vaes", 9),
	L7C("vpclmulqdq", 10), L7C("avx512_vnni", 11), L7C("avx512_bitalg", 12),
	L7C("tme", 13), L7C("avx512_vpopcntdq", 14), L7C("la57", 16), L7C("rdpid", 22),
	L7C("bus_lock_detect", 24), L7C("cldemote", 25), L7C("movdiri", 27),
	L7C("movdir64b", 28), L7C("enqcmd", 29), L7C("sgx_lc", 30), L7C("pks", 31),
	/* Leaf 7.0 EDX */
	L7D("avx512_4vnniw", 2), L7D("avx512_4fmaps", 3), L7D("fsrm", 4),
	L7D("avx512_vp2intersect", 8), L7D("md_clear", 10), L7D("serialize", 14),
	L7D("tsxldtrk", 16), L7D("pconfig", 18), L7D("arch_lbr", 19), L7D("ibt", 20),
	L7D("amx_bf16", 22), L7D("avx512_fp16", 23), L7D("amx_tile", 24), L7D("amx_int8", 25),
	L7D("spec_ctrl", 26), L7D("intel_stibp", 27), L7D("flush_l1d", 28),
	L7D("arch_capabilities", 29), L7D("core_capabilities", 30), L7D("spec_ctrl_ssbd", 31),
	/* Leaf 0xD.1 EAX */
	LDA("xsaveopt", 0), LDA("xsavec", 1), LDA("xgetbv1", 2), LDA("xsaves", 3),
	/* Leaf 0x80000001 ECX */
	E1C("lahf_lm", 0), E1C("cmp_legacy", 1), E1C("svm", 2), E1C("extapic", 3),
	E1C("cr8_legacy", 4), E1C("abm", 5), E1C("sse4a", 6), E1C("misalignsse", 7),
	E1C("3dnowprefetch", 8), E1C("osvw", 9), E1C("ibs", 10), E1C("xop", 11),
	E1C("skinit", 12), E1C("wdt", 13), E1C("lwp", 15), E1C("fma4", 16), E1C("tce", 17),
	E1C("nodeid_msr", 19), E1C("tbm", 21), E1C("topoext", 22), E1C("perfctr_core", 23),
	E1C("perfctr_nb", 24), E1C("bpext", 26), E1C("perfctr_llc", 28), E1C("mwaitx", 29),
	/* Leaf 0x80000001 EDX (the bits AMD mirrors from leaf 1 are not repeated) */
	E1D("syscall", 11), E1D("mp", 19), E1D("nx", 20), E1D("mmxext", 22),
	E1D("fxsr_opt", 25), E1D("pdpe1gb", 26), E1D("rdtscp", 27), E1D("lm", 29),
	E1D("3dnowext", 30), E1D("3dnow", 31),
	/* Leaf 0x80000007 EDX: "constant_tsc nonstop_tsc" in Linux's words */
	E7D("invtsc", 8),
	/* Leaf 0x80000008 EBX */
	E8B("clzero", 0), E8B("irperf", 1), E8B("xsaveerptr", 2), E8B("rdpru", 4),
	E8B("wbnoinvd", 9), E8B("amd_ibpb", 12), E8B("amd_ibrs", 14), E8B("amd_stibp", 15),
	E8B("amd_ssbd", 24), E8B("virt_ssbd", 25), E8B("amd_ssb_no", 26),
};
const unsigned cpu_feature_count = ARRAY_SIZE(cpu_features);

/* Linux's arch/x86/kernel/cpu/cpuid-deps.c, for the features above. */
const struct cpu_feature_dep cpu_feature_deps[] = {
	{"fxsr", "fpu"},	   {"sse", "fxsr"},	       {"sse2", "sse"},
	{"pni", "sse2"},	   {"ssse3", "sse2"},	       {"sse4_1", "sse2"},
	{"sse4_2", "sse2"},	   {"pclmulqdq", "sse2"},
	{"aes", "sse2"},	   {"xsave", "fxsr"},	       {"xsaveopt", "xsave"},
	{"xsavec", "xsave"},	   {"xgetbv1", "xsave"},       {"xsaves", "xsave"},
	{"avx", "xsave"},	   {"fma", "avx"},
	{"f16c", "avx"},	   {"avx2", "avx"},	       {"vaes", "avx"},
	{"vaes", "aes"},	   {"vpclmulqdq", "avx"},      {"vpclmulqdq", "pclmulqdq"},
	{"gfni", "sse2"},	   {"avx512f", "avx"},	       {"avx512dq", "avx512f"},
	{"avx512ifma", "avx512f"}, {"avx512pf", "avx512f"},    {"avx512er", "avx512f"},
	{"avx512cd", "avx512f"},   {"avx512bw", "avx512f"},    {"avx512vl", "avx512f"},
	{"avx512vbmi", "avx512f"}, {"avx512_vbmi2", "avx512vl"}, {"avx512_vnni", "avx512vl"},
	{"avx512_bitalg", "avx512vl"}, {"avx512_vpopcntdq", "avx512f"},
	{"avx512_4vnniw", "avx512f"}, {"avx512_4fmaps", "avx512f"},
	{"avx512_vp2intersect", "avx512vl"}, {"avx512_fp16", "avx512bw"},
	{"amx_bf16", "amx_tile"},  {"amx_int8", "amx_tile"},   {"amx_tile", "xsave"},
	{"mpx", "xsave"},	   {"pku", "xsave"},	       {"cx16", "cx8"},
	{"x2apic", "apic"},	   {"tsc_deadline_timer", "apic"}, {"sse4a", "sse2"},
	{"xop", "avx"},		   {"fma4", "avx"},	       {"bmi2", "bmi1"},
	{"rdtscp", "tsc"},	   {"invtsc", "tsc"},	       {"lm", "pae"},
	{"lahf_lm", "lm"},
};
const unsigned cpu_feature_dep_count = ARRAY_SIZE(cpu_feature_deps);
/* clang-format on */

const struct cpu_feature *cpu_feature_find(const char *name)
{
	unsigned i;

	for (i = 0; i < cpu_feature_count; i++)
		if (!strcmp(cpu_features[i].name, name))
			return &cpu_features[i];
	return NULL;
}

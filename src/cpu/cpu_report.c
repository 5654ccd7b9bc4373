/* JSON of a virtual processor and of a host (cpu_report.h). */
#include "cpu/cpu_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct json_object *hex(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)v);
	return json_object_new_string(buf);
}

static struct json_object *features_in(const struct cpu_model *m, enum cpu_feature_state state)
{
	struct json_object *a = json_object_new_array();
	unsigned i;

	for (i = 0; i < cpu_feature_count; i++)
		if (m->state[i] == state)
			json_object_array_add(a, json_object_new_string(cpu_features[i].name));
	return a;
}

static struct json_object *leaves(const struct cpuid_table *t)
{
	struct json_object *a = json_object_new_array();
	unsigned i;

	for (i = 0; i < t->n; i++) {
		const struct cpuid_leaf *l = &t->leaf[i];
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "function", json_object_new_int64(l->function));
		json_object_object_add(o, "index", json_object_new_int64(l->index));
		json_object_object_add(o, "indexed", json_object_new_boolean(l->indexed));
		json_object_object_add(o, "eax", json_object_new_int64(l->reg[CPUID_EAX]));
		json_object_object_add(o, "ebx", json_object_new_int64(l->reg[CPUID_EBX]));
		json_object_object_add(o, "ecx", json_object_new_int64(l->reg[CPUID_ECX]));
		json_object_object_add(o, "edx", json_object_new_int64(l->reg[CPUID_EDX]));
		json_object_array_add(a, o);
	}
	return a;
}

static void add_signature(struct json_object *o, const char *vendor, const char *brand,
			  unsigned family, unsigned model, unsigned stepping)
{
	json_object_object_add(o, "vendor", json_object_new_string(vendor));
	json_object_object_add(o, "brand", json_object_new_string(brand));
	json_object_object_add(o, "family", json_object_new_int(family));
	json_object_object_add(o, "model-number", json_object_new_int(model));
	json_object_object_add(o, "stepping", json_object_new_int(stepping));
}

struct json_object *cpu_model_report_json(const struct cpu_model *m, bool cpuid)
{
	struct json_object *o = json_object_new_object(), *msrs = json_object_new_object();
	struct json_object *unenforced = json_object_new_array();
	unsigned i;

	json_object_object_add(o, "model", json_object_new_string(m->name));
	add_signature(o, m->vendor_id, m->brand, m->family, m->model, m->stepping);
	json_object_object_add(o, "count", json_object_new_int(m->vcpus));
	json_object_object_add(o, "physical-address-bits", json_object_new_int(m->phys_bits));
	json_object_object_add(o, "virtual-address-bits", json_object_new_int(m->virt_bits));
	json_object_object_add(o, "xcr0", hex(m->xcr0));
	json_object_object_add(o, "features", features_in(m, CPU_FEATURE_ON));
	json_object_object_add(o, "host-features", features_in(m, CPU_FEATURE_HOST));
	json_object_object_add(o, "missing", features_in(m, CPU_FEATURE_MISSING));
	for (i = 0; i < m->nunenforced; i++) {
		static const char *const names[4] = {"eax", "ebx", "ecx", "edx"};
		struct json_object *u = json_object_new_object(), *regs = json_object_new_array();
		unsigned r;

		json_object_object_add(u, "function",
				       json_object_new_int64(m->unenforced[i].function));
		json_object_object_add(u, "index", json_object_new_int64(m->unenforced[i].index));
		for (r = 0; r < 4; r++)
			if ((m->unenforced[i].regs >> r) & 1)
				json_object_array_add(regs, json_object_new_string(names[r]));
		json_object_object_add(u, "registers", regs);
		json_object_array_add(unenforced, u);
	}
	json_object_object_add(o, "unenforced", unenforced);
	for (i = 0; i < m->nmsrs; i++) {
		char key[16];

		snprintf(key, sizeof(key), "0x%x", m->msrs[i].index);
		json_object_object_add(msrs, key, hex(m->msrs[i].value));
	}
	json_object_object_add(o, "msrs", msrs);
	msrs = json_object_new_object();
	for (i = 0; i < m->nrefused; i++) {
		char key[16];

		snprintf(key, sizeof(key), "0x%x", m->refused[i].index);
		json_object_object_add(msrs, key, hex(m->refused[i].value));
	}
	json_object_object_add(o, "refused-msrs", msrs);
	if (cpuid) {
		struct cpuid_table *t = malloc(sizeof(*t));

		if (t) {
			cpu_model_vcpu_cpuid(m, 0, t);
			json_object_object_add(o, "cpuid", leaves(t));
			free(t);
		}
	}
	return o;
}

struct json_object *cpu_host_report_json(const struct cpu_host *host)
{
	struct json_object *o = json_object_new_object(), *models = json_object_new_object();
	struct json_object *offered = json_object_new_array();
	struct cpu_model *m = malloc(sizeof(*m));
	unsigned i;

	if (m && cpu_model_build("host", host, 1, m, (char[128]){0}, 128) == 0) {
		add_signature(o, m->vendor_id, m->brand, m->family, m->model, m->stepping);
		json_object_object_add(o, "physical-address-bits",
				       json_object_new_int(m->phys_bits));
	}
	json_object_object_add(o, "pvm", json_object_new_boolean(host->pvm));
	for (i = 0; i < cpu_feature_count; i++)
		if (cpuid_leaf_bit(cpuid_table_get(&host->supported, cpu_features[i].function,
						   cpu_features[i].index),
				   &cpu_features[i]))
			json_object_array_add(offered,
					      json_object_new_string(cpu_features[i].name));
	json_object_object_add(o, "kvm-features", offered);
	for (i = 0; m && cpu_model_names[i]; i++) {
		char err[160];
		struct json_object *entry;

		if (!strcmp(cpu_model_names[i], "baseline"))
			continue;
		if (cpu_model_build(cpu_model_names[i], host, 1, m, err, sizeof(err)) == 0) {
			entry = cpu_model_report_json(m, false);
			json_object_object_add(entry, "available", json_object_new_boolean(true));
		} else {
			entry = json_object_new_object();
			json_object_object_add(entry, "available", json_object_new_boolean(false));
			json_object_object_add(entry, "reason", json_object_new_string(err));
		}
		json_object_object_add(models, cpu_model_names[i], entry);
	}
	json_object_object_add(o, "models", models);
	json_object_object_add(o, "kvm-cpuid", leaves(&host->supported));
	free(m);
	return o;
}

/*
 * The virtual processor as a guest sees it (tests/guest/tiny/cpu_model.S),
 * compared with what get-vmprocessor --json says (cpu_model_report_json,
 * the worker's "cpu" control answer): every leaf the report lists reads
 * back as listed, except in leaves the report says KVM cannot enforce
 * here, where the guest must see the host CPU's own bits; and the MSRs
 * the model sets (HWCR.TscFreqSel on AMD) read back with their values.
 * For each model, on 1 and 3 vCPUs. Needs /dev/kvm.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cpu/cpu_report.h"
#include "tiny/tiny.h"
#include "tiny_guest.h"
#include "vid/partition.h"

#define MAX_LOG	       256
#define RUN_TIMEOUT_MS 30000
#define MSR_GP	       0x6F

static const char *bin_dir;

struct harness {
	struct partition *p;
	pthread_mutex_t lock;
	uint32_t log[MAX_LOG];
	unsigned nlog;
	int exit_status;
};

static uint64_t port_read(void *opaque, uint64_t offset, unsigned size)
{
	return 0;
}

static void port_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct harness *h = opaque;

	pthread_mutex_lock(&h->lock);
	if (offset + TINY_PORT_LOG == TINY_PORT_LOG && h->nlog < MAX_LOG)
		h->log[h->nlog++] = (uint32_t)value;
	if (offset + TINY_PORT_LOG == TINY_PORT_EXIT) {
		h->exit_status = (int)value;
		partition_request_stop(h->p, PARTITION_STOP_POWER_OFF);
	}
	pthread_mutex_unlock(&h->lock);
}

static const struct io_ops port_ops = {.read = port_read, .write = port_write};

static struct json_object *report_leaf(struct json_object *report, uint32_t function,
				       uint32_t index)
{
	struct json_object *leaves = json_object_object_get(report, "cpuid");
	size_t i;

	for (i = 0; i < json_object_array_length(leaves); i++) {
		struct json_object *l = json_object_array_get_idx(leaves, i);

		if (json_object_get_int64(json_object_object_get(l, "function")) == function &&
		    (!json_object_get_boolean(json_object_object_get(l, "indexed")) ||
		     json_object_get_int64(json_object_object_get(l, "index")) == index))
			return l;
	}
	return NULL;
}

/* The report's word for one register: the guest sees the host's bits there. */
static bool unenforced(struct json_object *report, uint32_t function, uint32_t index,
		       const char *reg)
{
	struct json_object *a = json_object_object_get(report, "unenforced");
	size_t i, j;

	for (i = 0; i < json_object_array_length(a); i++) {
		struct json_object *u = json_object_array_get_idx(a, i);
		struct json_object *regs = json_object_object_get(u, "registers");

		if (json_object_get_int64(json_object_object_get(u, "function")) != function ||
		    json_object_get_int64(json_object_object_get(u, "index")) != index)
			continue;
		for (j = 0; j < json_object_array_length(regs); j++)
			if (!strcmp(json_object_get_string(json_object_array_get_idx(regs, j)),
				    reg))
				return true;
	}
	return false;
}

static bool in_list(struct json_object *report, const char *key, const char *name)
{
	struct json_object *a = json_object_object_get(report, key);
	size_t i;

	for (i = 0; i < json_object_array_length(a); i++)
		if (!strcmp(json_object_get_string(json_object_array_get_idx(a, i)), name))
			return true;
	return false;
}

/*
 * A register the report calls unenforced: every named feature bit the
 * guest sees must be reported "host" (never "on", "missing" or absent).
 */
static unsigned check_unenforced(struct json_object *report, uint32_t function, uint32_t index,
				 unsigned reg, uint32_t seen)
{
	unsigned i, bad = 0;

	for (i = 0; i < cpu_feature_count; i++) {
		const struct cpu_feature *f = &cpu_features[i];

		if (f->function != function || f->index != index || f->reg != reg ||
		    !((seen >> f->bit) & 1) || !strcmp(f->name, "hypervisor"))
			continue;
		if (!in_list(report, "host-features", f->name)) {
			print_message("# leaf %#x.%u: the guest sees %s, not reported \"host\"\n",
				      function, index, f->name);
			bad++;
		}
	}
	return bad;
}

static void check_model(const char *model, unsigned vcpus)
{
	static const char *const regs[4] = {"eax", "ebx", "ecx", "edx"};
	struct partition_config cfg = {
		.memory_bytes = 32 * MiB, .vcpus = vcpus, .cpu_model = model};
	struct harness h = {.exit_status = -1};
	struct json_object *report, *msrs;
	unsigned i, compared = 0, mismatches = 0, r;

	pthread_mutex_init(&h.lock, NULL);
	h.p = tiny_guest_partition_config(bin_dir, "cpu_model", &cfg);
	assert_int_equal(
		io_bus_register(partition_pio_bus(h.p), TINY_PORT_LOG, 16, &port_ops, &h, "tiny"),
		0);
	assert_int_equal(partition_start(h.p), 0);
	assert_int_equal(partition_wait_timeout(h.p, RUN_TIMEOUT_MS), PARTITION_STOP_POWER_OFF);
	assert_int_equal(h.exit_status, 0);
	report = cpu_model_report_json(partition_cpu_model(h.p), true);
	print_message("# model %s, %u vCPUs: %s\n", model, vcpus,
		      json_object_get_string(json_object_object_get(report, "model")));

	/* Leaves: 6 words each, up to the MSRs' 2 x 3 at the end. */
	assert_true(h.nlog >= 6 && (h.nlog - 6) % 6 == 0);
	for (i = 0; i + 6 <= h.nlog - 6; i += 6) {
		uint32_t function = h.log[i], index = h.log[i + 1];
		struct json_object *l = report_leaf(report, function, index);
		uint32_t want[4];

		if (!l)
			continue; /* not in the model: KVM's out-of-range rules apply */
		for (r = 0; r < 4; r++)
			want[r] =
				(uint32_t)json_object_get_int64(json_object_object_get(l, regs[r]));
		for (r = 0; r < 4; r++) {
			if (unenforced(report, function, index, regs[r])) {
				mismatches += check_unenforced(report, function, index, r,
							       h.log[i + 2 + r]);
				continue;
			}
			if (h.log[i + 2 + r] != want[r]) {
				print_message("# leaf %#x.%u %s: guest %#x, report %#x\n", function,
					      index, regs[r], h.log[i + 2 + r], want[r]);
				mismatches++;
			}
		}
		compared++;
	}
	assert_int_equal(mismatches, 0);
	assert_true(compared >= 8); /* 0, 1, 7, 0xB x3, 0x80000000/1/2/8 at least */

	/* MSRs: what the report lists, the guest reads. */
	msrs = json_object_object_get(report, "msrs");
	for (i = h.nlog - 6; i < h.nlog; i += 3) {
		char key[16];
		struct json_object *v;

		snprintf(key, sizeof(key), "0x%x", h.log[i]);
		v = json_object_object_get(msrs, key);
		if (!v)
			continue;
		{
			uint64_t want = strtoull(json_object_get_string(v), NULL, 16);

			print_message("# msr %s: guest %#x:%#x, report %#llx\n", key, h.log[i + 2],
				      h.log[i + 1], (unsigned long long)want);
			assert_int_equal(h.log[i + 1], (uint32_t)want);
			assert_int_equal(h.log[i + 2], (uint32_t)(want >> 32));
		}
	}
	json_object_put(report);
	partition_free(h.p);
	pthread_mutex_destroy(&h.lock);
}

static void test_host_model(void **state)
{
	check_model("host", 1);
	check_model("host", 3);
}

static void test_baseline_model(void **state)
{
	check_model("baseline", 1);
	check_model("baseline", 3);
}

static void test_amd_hwcr(void **state)
{
	struct partition_config cfg = {.memory_bytes = 32 * MiB, .vcpus = 1};
	struct partition *p;
	uint64_t v;
	char err[256];

	assert_int_equal(partition_new(&cfg, &p, err, sizeof(err)), 0);
	if (partition_cpu_model(p)->vendor != CPU_VENDOR_AMD) {
		partition_free(p);
		skip();
	}
	/* The consistency rule itself: constant TSC on AMD means TscFreqSel. */
	if (cpu_model_msr(partition_cpu_model(p), MSR_K7_HWCR, &v))
		assert_true(v & MSR_K7_HWCR_TSC_FREQ_SEL);
	else
		assert_int_equal(
			partition_cpu_model(p)->state[cpu_feature_find("invtsc") - cpu_features],
			CPU_FEATURE_MISSING);
	partition_free(p);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_model),
		cmocka_unit_test(test_baseline_model),
		cmocka_unit_test(test_amd_hwcr),
	};

	return tiny_guest_run_tests(argc, argv, "tiny-cpu", tests, ARRAY_SIZE(tests), &bin_dir);
}

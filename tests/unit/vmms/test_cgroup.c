/*
 * The cgroup v2 path of src/vmms/cgroup.c against a fake tree. The machine
 * these tests were written on binds cpu and memory to cgroup v1 and leaves
 * the unified hierarchy empty, so the guest tests (test_vmms_cgroup.py)
 * exercise v1 only; here a directory stands for a cgroup2 mount, with the
 * files the kernel would make in each cgroup made by the test, and a fake
 * /proc/self (mountinfo, cgroup) points the code at it. What this checks:
 * which hierarchy is chosen, where the service's and the VMs' cgroups are,
 * the delegation it asks for (cgroup.subtree_control), and the exact values
 * it writes (cpu.max, cpu.weight, memory.max) and reads back (cpu.stat,
 * memory.current, memory.peak, memory.events). What it cannot check: what
 * a real cgroup2 kernel accepts or refuses (e.g. the no-internal-process
 * rule), and that the limits hold.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmms/cgroup.h"

static char root[64]; /* the fake's top directory (mkdtemp under /tmp) */

static void put(const char *rel, const char *text)
{
	char path[PATH_MAX + 256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *get(const char *rel)
{
	static char buf[4096];
	char path[PATH_MAX + 256];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void dir(const char *rel)
{
	char path[PATH_MAX + 256];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
}

/* A v2 mount at ROOT/unified with controllers, the service in /system.slice/vmms.service. */
static void make_v2(const char *controllers)
{
	char line[PATH_MAX + 128];

	snprintf(root, sizeof(root), "/tmp/pv-cg-XXXXXX");
	assert_non_null(mkdtemp(root));
	dir("proc");
	dir("unified");
	dir("unified/system.slice");
	dir("unified/system.slice/vmms.service");
	snprintf(line, sizeof(line),
		 "25 1 0:23 / / rw - ext4 /dev/root rw\n"
		 "40 25 0:40 / %s/unified rw,nosuid,nodev,noexec - cgroup2 cgroup2 "
		 "rw,nsdelegate\n",
		 root);
	put("proc/mountinfo", line);
	put("proc/cgroup", "0::/system.slice/vmms.service\n");
	put("unified/cgroup.controllers", controllers);
	put("unified/system.slice/vmms.service/cgroup.subtree_control", "");
	/* What the kernel makes in parvis-vmms/ when the code makes it. */
	dir("unified/system.slice/vmms.service/parvis-vmms");
	put("unified/system.slice/vmms.service/parvis-vmms/cgroup.subtree_control", "");
	put("unified/system.slice/vmms.service/parvis-vmms/cpu.weight", "");
}

#define VMS "unified/system.slice/vmms.service/parvis-vmms/vm-abc/"

/* The files of a new VM cgroup, as the kernel would make them. */
static void make_vm_files(void)
{
	static const char *const files[] = {"cgroup.procs", "cpu.max",	    "cpu.weight",
					    "cpu.stat",	    "memory.max",   "memory.current",
					    "memory.peak",  "memory.events"};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char rel[256];

		snprintf(rel, sizeof(rel), VMS "%s", files[i]);
		put(rel, "");
	}
}

static void cleanup(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	assert_int_equal(system(cmd), 0);
}

static struct cgroup_host *host(void)
{
	char proc[PATH_MAX + 8], err[512];
	static char keep[PATH_MAX + 8];
	struct cgroup_host *h = NULL;

	snprintf(proc, sizeof(proc), "%s/proc", root);
	memcpy(keep, proc, sizeof(keep));
	assert_int_equal(cgroup_host_new_at(keep, &h, err, sizeof(err)), 0);
	return h;
}

/* With cpu and memory on the unified hierarchy: v2, under the service's own cgroup. */
static void test_v2_chosen_and_delegated(void **state)
{
	struct cgroup_host *h;
	char want[PATH_MAX + 64];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	(void)state;
	make_v2("cpuset cpu io memory hugetlb pids rdma misc\n");
	h = host();
	assert_int_equal(cgroup_host_version(h), 2);
	snprintf(want, sizeof(want), "v2 (%s/unified/system.slice/vmms.service/parvis-vmms)", root);
	assert_string_equal(cgroup_host_describe(h), want);
	/* The service's cgroup gives cpu and memory to parvis-vmms/, which gives them on. */
	assert_string_equal(get("unified/system.slice/vmms.service/cgroup.subtree_control"),
			    "+cpu +memory");
	assert_string_equal(get("unified/system.slice/vmms.service/parvis-vmms/"
				"cgroup.subtree_control"),
			    "+cpu +memory");
	/* Weighed as one busy process per host CPU. */
	snprintf(want, sizeof(want), "%ld",
		 cpus * 100 > 10000 ? 10000 : (cpus < 1 ? 1 : cpus) * 100);
	assert_string_equal(get("unified/system.slice/vmms.service/parvis-vmms/cpu.weight"), want);
	cgroup_host_free(h);
	cleanup();
}

/* A VM's cgroup: one cgroup.procs, and cpu.max / cpu.weight / memory.max as Hyper-V's. */
static void test_v2_vm_controls(void **state)
{
	struct cgroup_host *h;
	int fds[CGROUP_MAX_FDS];
	unsigned n = 0;

	(void)state;
	make_v2("cpu memory\n");
	h = host();
	assert_int_equal(cgroup_vm_create(h, "abc"), 0);
	make_vm_files();
	assert_int_equal(cgroup_vm_procs_fds(h, "abc", fds, &n), 0);
	assert_int_equal(n, 1); /* v2: one hierarchy */
	assert_int_equal(write(fds[0], "0", 1), 1);
	close(fds[0]);
	assert_string_equal(get(VMS "cgroup.procs"), "0");
	put(VMS "cgroup.procs", "123\n4567\n");
	assert_true(cgroup_vm_has(h, "abc", 4567));
	assert_false(cgroup_vm_has(h, "abc", 456));

	/* 2 vCPUs at 50%: one CPU's worth per period; weight as given. */
	assert_int_equal(cgroup_vm_set_cpu(h, "abc", 2, 50, 300), 0);
	assert_string_equal(get(VMS "cpu.max"), "100000 100000");
	assert_string_equal(get(VMS "cpu.weight"), "300");
	/* 1% of one vCPU is below the kernel's least quota: 1 ms. */
	put(VMS "cpu.max", "");
	put(VMS "cpu.weight", "");
	assert_int_equal(cgroup_vm_set_cpu(h, "abc", 1, 1, 100), 0);
	assert_string_equal(get(VMS "cpu.max"), "1000 100000");
	put(VMS "cpu.max", "");
	put(VMS "cpu.weight", "");
	assert_int_equal(cgroup_vm_set_cpu(h, "abc", 4, 100, 100), 0);
	assert_string_equal(get(VMS "cpu.max"), "max 100000");

	assert_int_equal(cgroup_vm_set_memory(h, "abc", 256ull << 20), 0);
	assert_string_equal(get(VMS "memory.max"), "268435456");
	put(VMS "memory.max", "");
	assert_int_equal(cgroup_vm_set_memory(h, "abc", UINT64_MAX), 0);
	assert_string_equal(get(VMS "memory.max"), "max");

	/* A real cgroup's directory goes with rmdir; the fake's files keep it (-ENOTEMPTY). */
	assert_int_not_equal(cgroup_vm_remove(h, "abc"), 0);
	cgroup_host_free(h);
	cleanup();
}

/* measure-vm's numbers from v2's files. */
static void test_v2_measure(void **state)
{
	struct cgroup_host *h;
	struct cgroup_usage u;

	(void)state;
	make_v2("cpu memory\n");
	h = host();
	assert_int_equal(cgroup_vm_create(h, "abc"), 0);
	make_vm_files();
	put(VMS "cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 7\n"
			    "nr_throttled 3\nthrottled_usec 250\nnr_bursts 0\nburst_usec 0\n");
	put(VMS "cpu.max", "50000 100000\n");
	put(VMS "memory.current", "1048576\n");
	put(VMS "memory.peak", "2097152\n");
	put(VMS "memory.max", "268435456\n");
	put(VMS "memory.events", "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n");
	assert_int_equal(cgroup_vm_measure(h, "abc", &u), 0);
	assert_int_equal(u.cpu_ns, 1500000);
	assert_int_equal(u.nr_periods, 7);
	assert_int_equal(u.nr_throttled, 3);
	assert_int_equal(u.throttled_ns, 250000);
	assert_int_equal(u.quota_us, 50000);
	assert_int_equal(u.period_us, 100000);
	assert_int_equal(u.memory_bytes, 1048576);
	assert_int_equal(u.memory_peak, 2097152);
	assert_int_equal(u.memory_limit, 268435456);
	assert_int_equal(u.memory_failures, 4);
	{
		uint64_t kills = 0;

		assert_int_equal(cgroup_vm_oom_kills(h, "abc", &kills), 0);
		assert_int_equal(kills, 1);
	}
	/* No limits: "max" both ways. */
	put(VMS "cpu.max", "max 100000\n");
	put(VMS "memory.max", "max\n");
	assert_int_equal(cgroup_vm_measure(h, "abc", &u), 0);
	assert_int_equal(u.quota_us, -1);
	assert_true(u.memory_limit == UINT64_MAX);
	cgroup_host_free(h);
	cleanup();
}

/* The unified hierarchy without cpu and memory (this machine): v1, from the v1 mounts. */
static void test_empty_v2_falls_back_to_v1(void **state)
{
	struct cgroup_host *h;
	char line[4 * PATH_MAX], want[4 * PATH_MAX];

	(void)state;
	make_v2("\n");
	dir("cpu");
	dir("cpuacct");
	dir("memory");
	snprintf(line, sizeof(line),
		 "40 25 0:40 / %s/unified rw - cgroup2 cgroup2 rw\n"
		 "41 25 0:41 / %s/cpu rw - cgroup cgroup rw,cpu\n"
		 "42 25 0:42 / %s/cpuacct rw - cgroup cgroup rw,cpuacct\n"
		 "43 25 0:43 / %s/memory rw - cgroup cgroup rw,memory\n",
		 root, root, root, root);
	put("proc/mountinfo", line);
	put("proc/cgroup", "9:memory:/\n8:cpuacct:/\n7:cpu:/\n0::/\n");
	h = host();
	assert_int_equal(cgroup_host_version(h), 1);
	snprintf(want, sizeof(want),
		 "v1 (%s/cpu/parvis-vmms, %s/cpuacct/parvis-vmms, %s/memory/parvis-vmms)", root,
		 root, root);
	assert_string_equal(cgroup_host_describe(h), want);
	cgroup_host_free(h);
	cleanup();
}

/* v2 whose service cgroup cannot delegate: an error saying what to do, not a silent v1. */
static void test_v2_without_delegation(void **state)
{
	char proc[PATH_MAX + 8], err[512] = "", sub[PATH_MAX + 128];
	struct cgroup_host *h = NULL;

	(void)state;
	make_v2("cpu memory\n");
	snprintf(sub, sizeof(sub), "%s/unified/system.slice/vmms.service/cgroup.subtree_control",
		 root);
	assert_int_equal(unlink(sub), 0);
	snprintf(proc, sizeof(proc), "%s/proc", root);
	assert_true(cgroup_host_new_at(proc, &h, err, sizeof(err)) < 0);
	assert_null(h);
	assert_non_null(strstr(err, "Delegate=yes"));
	cleanup();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v2_chosen_and_delegated),
		cmocka_unit_test(test_v2_vm_controls),
		cmocka_unit_test(test_v2_measure),
		cmocka_unit_test(test_empty_v2_falls_back_to_v1),
		cmocka_unit_test(test_v2_without_delegation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

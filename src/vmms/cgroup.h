/*
 * A cgroup per VM (docs/vmms.md, "Resource controls"): its worker, every
 * thread of it and KVM's own kernel task for the VM are charged there, so that
 * Hyper-V's processor maximum, reserve and relative weight and a hard memory
 * limit (guest RAM included) hold for the whole VM, and measure-vm reads its
 * use. cgroup v2 when the unified hierarchy has the cpu and memory controllers,
 * else v1 (cpu, cpuacct, memory), as on hosts whose controllers are bound to v1.
 * Each VM's cgroup is vm-ID under parvis-vmms/ under the service's own cgroup
 * of each hierarchy: VMs stay inside whatever limits the service runs under.
 * Workers enter it before they execute (worker_spawn writes "0" to the
 * cgroup.procs descriptors from cgroup_vm_procs_fds), so no guest instruction
 * runs outside it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"

#define CGROUP_PERIOD_US   100000 /* the CFS period the maximum is a share of */
#define CGROUP_MAX_FDS	   3	  /* cgroup.procs descriptors per VM (v1: cpu, cpuacct, memory) */
#define CGROUP_WEIGHT_DFLT 100	  /* cgroup v2's cpu.weight default; Hyper-V's relative weight */

struct cgroup_host;

struct cgroup_usage {
	uint64_t cpu_ns;       /* CPU time of every task of the VM */
	uint64_t nr_periods;   /* CFS periods with the quota in force */
	uint64_t nr_throttled; /* of those, periods the VM ran out of quota */
	uint64_t throttled_ns; /* time spent throttled */
	int64_t quota_us;      /* per period, -1 for none */
	uint64_t period_us;
	uint64_t memory_bytes;	  /* now */
	uint64_t memory_peak;	  /* highest so far (0 if the kernel does not say) */
	uint64_t memory_limit;	  /* UINT64_MAX for none */
	uint64_t memory_failures; /* times the limit was hit (v1 failcnt, v2 events max) */
};

/*
 * Finds the hierarchies and makes parvis-vmms/ under the service's cgroup in each.
 * -ENOENT with why in err if the host has no usable cpu and memory controllers.
 */
int cgroup_host_new(struct cgroup_host **ret, char *err, size_t errlen) must_check;
/*
 * cgroup_host_new with another process view: proc is the directory holding "mountinfo" and
 * "cgroup" in /proc/self's formats (kept, not copied). For tests of a hierarchy this host
 * does not have (a fake cgroup v2 tree).
 */
int cgroup_host_new_at(const char *proc, struct cgroup_host **ret, char *err,
		       size_t errlen) must_check;
struct cgroup_host *cgroup_host_free(struct cgroup_host *h);
/* 1 or 2. */
int cgroup_host_version(const struct cgroup_host *h);
/* "v1 (/sys/fs/cgroup/cpu/parvis-vmms, ...)" for the service's log. */
const char *cgroup_host_describe(const struct cgroup_host *h);

/* Makes (or finds) the VM's cgroup. */
int cgroup_vm_create(struct cgroup_host *h, const char *id) must_check;
/* Removes it; -EBUSY while a task is in it. */
int cgroup_vm_remove(struct cgroup_host *h, const char *id);
/* Opens the VM's cgroup.procs files for writing (a spawned worker writes "0" to each). */
int cgroup_vm_procs_fds(struct cgroup_host *h, const char *id, int fds[CGROUP_MAX_FDS],
			unsigned *n) must_check;
/* True if pid is in the VM's cgroup (of the cpu hierarchy). */
bool cgroup_vm_has(struct cgroup_host *h, const char *id, int pid);
/*
 * CPU: at most max_pct percent of one CPU per vCPU (100: no limit), and weight (cgroup v2
 * units, 1..10000) against the other VMs when the host is contended.
 */
int cgroup_vm_set_cpu(struct cgroup_host *h, const char *id, unsigned cpus, unsigned max_pct,
		      unsigned weight) must_check;
/* Memory: a hard limit on everything the VM's tasks use (UINT64_MAX: none). */
int cgroup_vm_set_memory(struct cgroup_host *h, const char *id, uint64_t limit) must_check;
int cgroup_vm_measure(struct cgroup_host *h, const char *id, struct cgroup_usage *u) must_check;
/*
 * How many of the VM's tasks the kernel killed for reaching its memory limit ("oom_kill" of
 * v2's memory.events, of v1's memory.oom_control); -errno if the kernel does not say.
 */
int cgroup_vm_oom_kills(struct cgroup_host *h, const char *id, uint64_t *kills) must_check;

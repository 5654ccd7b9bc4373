/*
 * Resource controls per VM, with Hyper-V's verbs (docs/vmms.md, "Resource
 * controls"): the processor maximum, reserve and relative weight
 * (set-vmprocessor, in processor.c, calls here), the memory maximum
 * (set-vmmemory) and measure-vm, all through the VM's cgroup (cgroup.h). A
 * running VM's cgroup changes at once; an Off VM's settings apply at its next
 * start. Under svc->lock, like every call.
 *
 * The reserve: CFS has no floor, so a reserve is kept by admission (the
 * reserves of the running VMs never add up to more than the host's CPUs) and
 * by the weights the VMs' cgroups get: under full contention among VMs, a
 * cgroup gets CPU in proportion to its weight, so each VM's weight is its
 * reserve plus its relative-weight share of what the reserves leave — what
 * Hyper-V's scheduler gives it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "vmms/cgroup.h"
#include "vmms/service_internal.h"
#include "vmms/vm_state.h"

/* The least memory maximum beyond guest RAM: the worker's own heap, threads and KVM's. */
#define MEMORY_MAX_OVERHEAD (32ull << 20)

static bool has_controls(const struct vm_record *r)
{
	return r->cpu_maximum != 100 || r->cpu_reserve || r->cpu_weight != 100 || r->memory_maximum;
}

/* Sum of the reserves of the VMs with a worker other than self, in percent of one CPU. */
static uint64_t reserved_by_others(struct service *svc, const struct vm *self)
{
	uint64_t sum = 0;
	const struct vm *v;

	for (v = svc->vms; v; v = v->next)
		if (v != self && vm_state_has_worker(v->rec.state))
			sum += (uint64_t)v->rec.cpu_reserve * v->rec.cpus;
	return sum;
}

int svc_check_reserve(struct service *svc, const struct vm *vm, unsigned reserve, unsigned cpus,
		      struct api_error *err)
{
	uint64_t others = reserved_by_others(svc, vm), host = (uint64_t)svc->host_cpus * 100;

	if (!reserve || others + (uint64_t)reserve * cpus <= host)
		return 0;
	api_error_set(err, API_ERR_INVALID,
		      "VM '%s': a reserve of %u%% of %u vCPU(s) does not fit: the running VMs "
		      "reserve %llu%% of this host's %ld CPU(s) (%llu%%) already; lower a reserve "
		      "or stop a VM",
		      vm->rec.name, reserve, cpus, (unsigned long long)others, svc->host_cpus,
		      (unsigned long long)host);
	return -ENOSPC;
}

/*
 * Every running VM's cgroup weight from the reserves and relative weights (see the top of
 * the file), in cgroup v2 units (1..10000): weight_i is proportional to
 * r_i + spare * w_i / sum(w), r_i the VM's reserve in percent of a CPU, spare the host's
 * CPU percent the reserves leave.
 */
void svc_cgroup_balance(struct service *svc)
{
	uint64_t host = (uint64_t)svc->host_cpus * 100, reserved = 0, wsum = 0, best = 0;
	struct vm *v;

	if (!svc->cgroups)
		return;
	for (v = svc->vms; v; v = v->next)
		if (vm_state_has_worker(v->rec.state)) {
			reserved += (uint64_t)v->rec.cpu_reserve * v->rec.cpus;
			wsum += v->rec.cpu_weight;
		}
	if (!wsum)
		return;
	for (v = svc->vms; v; v = v->next) {
		uint64_t spare = host > reserved ? host - reserved : 0, share;

		if (!vm_state_has_worker(v->rec.state))
			continue;
		share = (uint64_t)v->rec.cpu_reserve * v->rec.cpus +
			spare * v->rec.cpu_weight / wsum;
		if (share > best)
			best = share;
	}
	for (v = svc->vms; v; v = v->next) {
		uint64_t spare = host > reserved ? host - reserved : 0, share, weight;

		if (!vm_state_has_worker(v->rec.state))
			continue;
		share = (uint64_t)v->rec.cpu_reserve * v->rec.cpus +
			spare * v->rec.cpu_weight / wsum;
		/* Scaled so that the largest share is 10000 (v2's largest weight). */
		weight = best ? share * VM_CPU_WEIGHT_MAX / best : CGROUP_WEIGHT_DFLT;
		if (weight < 1)
			weight = 1;
		if (cgroup_vm_set_cpu(svc->cgroups, v->rec.id, v->rec.cpus, v->rec.cpu_maximum,
				      (unsigned)weight) < 0)
			pv_log(LOG_ERR, "VM '%s': cannot set its cgroup's CPU controls",
			       v->rec.name);
	}
}

int svc_cgroup_prepare(struct service *svc, struct vm *vm, int fds[CGROUP_MAX_FDS], unsigned *n,
		       struct api_error *err)
{
	int r;

	*n = 0;
	if (!svc->cgroups) {
		if (!has_controls(&vm->rec))
			return 0;
		api_error_set(err, API_ERR_HOST,
			      "VM '%s' has processor or memory controls, but this host gives the "
			      "service no cgroups: %s",
			      vm->rec.name, svc->cgroup_error);
		return -ENOENT;
	}
	if (svc_check_reserve(svc, vm, vm->rec.cpu_reserve, vm->rec.cpus, err) < 0)
		return -ENOSPC;
	r = cgroup_vm_create(svc->cgroups, vm->rec.id);
	if (r == 0)
		r = cgroup_vm_set_cpu(svc->cgroups, vm->rec.id, vm->rec.cpus, vm->rec.cpu_maximum,
				      CGROUP_WEIGHT_DFLT);
	if (r == 0)
		r = cgroup_vm_set_memory(svc->cgroups, vm->rec.id,
					 vm->rec.memory_maximum ? vm->rec.memory_maximum
								: UINT64_MAX);
	if (r == 0)
		r = cgroup_vm_procs_fds(svc->cgroups, vm->rec.id, fds, n);
	if (r < 0) {
		api_error_set(err, API_ERR_HOST, "VM '%s': cannot set up its cgroup in %s: %s",
			      vm->rec.name, cgroup_host_describe(svc->cgroups), strerror(-r));
		return r;
	}
	return 0;
}

/*
 * The others' weights are not recomputed when a VM ends: their ratios stay, and the CPU is
 * shared among fewer, so each still gets at least its reserve.
 */
void svc_cgroup_release(struct service *svc, struct vm *vm)
{
	if (svc->cgroups)
		(void)cgroup_vm_remove(svc->cgroups, vm->rec.id);
}

struct json_object *svc_call_set_memory(struct service *svc, const struct api_request *req,
					struct api_error *err)
{
	struct vm *vm = svc_lookup(svc, req, err);
	uint64_t max = 0, had;
	int r;

	if (!vm || api_param_u64(req, "maximum_bytes", true, UINT64_MAX >> 1, &max, err) < 0)
		return NULL;
	if (vm->unreadable) {
		api_error_set(err, API_ERR_STATE,
			      "VM '%s' is unreadable; only remove-vm can act on it", vm->rec.name);
		return NULL;
	}
	if (max < vm->rec.memory_bytes + MEMORY_MAX_OVERHEAD) {
		api_error_set(err, API_ERR_INVALID,
			      "memory maximum: %llu MiB is less than VM '%s''s RAM (%llu MiB) plus "
			      "the %llu MiB its worker needs beyond it",
			      (unsigned long long)(max >> 20), vm->rec.name,
			      (unsigned long long)(vm->rec.memory_bytes >> 20),
			      (unsigned long long)(MEMORY_MAX_OVERHEAD >> 20));
		return NULL;
	}
	if (!svc->cgroups) {
		api_error_set(err, API_ERR_HOST, "this host gives the service no cgroups: %s",
			      svc->cgroup_error);
		return NULL;
	}
	if (vm_state_has_worker(vm->rec.state)) {
		r = cgroup_vm_set_memory(svc->cgroups, vm->rec.id, max);
		if (r < 0) {
			api_error_set(err, API_ERR_HOST,
				      "VM '%s': the kernel refused the memory maximum: %s%s",
				      vm->rec.name, strerror(-r),
				      r == -EBUSY ? " (the VM uses more than that now)" : "");
			return NULL;
		}
	}
	had = vm->rec.memory_maximum;
	vm->rec.memory_maximum = max;
	r = inventory_write(svc->state_dir, &vm->rec);
	if (r < 0) {
		vm->rec.memory_maximum = had;
		api_error_set(err, API_ERR_HOST, "cannot write the VM's file: %s", strerror(-r));
		return NULL;
	}
	return svc_vm_json(vm);
}

struct json_object *svc_call_measure_vm(struct service *svc, const struct api_request *req,
					struct api_error *err)
{
	struct vm *vm = svc_lookup(svc, req, err);
	struct json_object *res;
	struct cgroup_usage u;
	int r;

	if (!vm)
		return NULL;
	if (!vm_state_has_worker(vm->rec.state)) {
		api_error_set(err, API_ERR_STATE,
			      "VM '%s' is %s: measure-vm measures a VM while it runs (parvis "
			      "start-vm %s)",
			      vm->rec.name, vm_state_name(vm->rec.state), vm->rec.name);
		return NULL;
	}
	if (!svc->cgroups) {
		api_error_set(err, API_ERR_HOST, "this host gives the service no cgroups: %s",
			      svc->cgroup_error);
		return NULL;
	}
	r = cgroup_vm_measure(svc->cgroups, vm->rec.id, &u);
	if (r < 0) {
		api_error_set(err, API_ERR_HOST, "VM '%s': cannot read its cgroup: %s",
			      vm->rec.name, strerror(-r));
		return NULL;
	}
	res = json_object_new_object();
	json_object_object_add(res, "name", json_object_new_string(vm->rec.name));
	json_object_object_add(res, "cpus", json_object_new_int((int)vm->rec.cpus));
	json_object_object_add(res, "cpu_time_ns", json_object_new_int64((int64_t)u.cpu_ns));
	json_object_object_add(res, "cpu_periods", json_object_new_int64((int64_t)u.nr_periods));
	json_object_object_add(res, "cpu_throttled_periods",
			       json_object_new_int64((int64_t)u.nr_throttled));
	json_object_object_add(res, "cpu_throttled_ns",
			       json_object_new_int64((int64_t)u.throttled_ns));
	json_object_object_add(res, "cpu_quota_us", json_object_new_int64(u.quota_us));
	json_object_object_add(res, "cpu_period_us", json_object_new_int64((int64_t)u.period_us));
	json_object_object_add(res, "memory_bytes", json_object_new_int64((int64_t)u.memory_bytes));
	json_object_object_add(res, "memory_peak_bytes",
			       json_object_new_int64((int64_t)u.memory_peak));
	json_object_object_add(res, "memory_maximum_bytes",
			       u.memory_limit == UINT64_MAX
				       ? NULL
				       : json_object_new_int64((int64_t)u.memory_limit));
	json_object_object_add(res, "memory_limit_hits",
			       json_object_new_int64((int64_t)u.memory_failures));
	json_object_object_add(res, "time_ms", json_object_new_int64(svc_now_ms()));
	return res;
}

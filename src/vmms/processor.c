/*
 * The VM's processor, as Hyper-V's Set-VMProcessor / Get-VMProcessor and
 * Get-VMHost present it: processor compatibility for migration (the
 * worker's baseline CPU model), the processor a VM gets, and what this
 * host offers. The service never builds CPU models itself (it links no
 * KVM code): a running VM's worker answers "cpu" on its control socket;
 * for a VM that is off, and for the host, the worker binary runs in its
 * report modes (--print-cpu, --host-cpu; docs/cpu.md). Runs under
 * svc->lock, like every call: a report takes milliseconds.
 */
#include "vmms/service_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipc/worker_client.h"
#include "vmms/vm_state.h"

#define REPORT_MAX	  (1024 * 1024)
#define REPORT_TIMEOUT_MS 10000

extern char **environ;

/* Runs the worker binary with args and parses its stdout as one JSON object. */
static int run_report(struct service *svc, const char *const args[], struct json_object **ret)
{
	char *argv[8] = {svc->vmwp};
	posix_spawn_file_actions_t fa;
	struct timespec start;
	char *buf = malloc(REPORT_MAX + 1);
	size_t len = 0;
	int pipefd[2], status, r;
	unsigned i;
	pid_t pid;

	if (!buf)
		return -ENOMEM;
	for (i = 0; args[i] && i + 2 < sizeof(argv) / sizeof(argv[0]); i++)
		argv[i + 1] = (char *)args[i];
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		free(buf);
		return -errno;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	r = -posix_spawn(&pid, svc->vmwp, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (r < 0) {
		close(pipefd[0]);
		free(buf);
		return r;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
		struct timespec now;
		long left;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = REPORT_TIMEOUT_MS - ((now.tv_sec - start.tv_sec) * 1000 +
					    (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
			r = -ETIMEDOUT;
			break;
		}
		n = read(pipefd[0], buf + len, REPORT_MAX - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (len += (size_t)n) == REPORT_MAX)
			break;
	}
	close(pipefd[0]);
	if (r == -ETIMEDOUT)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (r == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
		r = WIFEXITED(status) && WEXITSTATUS(status) == 1 ? -EINVAL : -EIO;
	buf[len] = 0;
	if (r == 0) {
		*ret = json_tokener_parse(buf);
		r = *ret && json_object_is_type(*ret, json_type_object) ? 0 : -EPROTO;
		if (r < 0) {
			json_object_put(*ret);
			*ret = NULL;
		}
	}
	free(buf);
	return r;
}

static struct json_object *report_failed(int r, struct api_error *err)
{
	api_error_set(err, API_ERR_HOST, "the worker could not report its processor: %s%s",
		      strerror(-r), r == -EINVAL ? " (see the service's log)" : "");
	return NULL;
}

/*
 * Set-VMProcessor: compatibility for migration (only while Off: it is the CPU model the
 * guest boots with), and the resource controls, which a running VM's cgroup takes at once
 * (resources.c). At least one is given; every value is checked before any is applied.
 */
struct json_object *svc_call_set_processor(struct service *svc, const struct api_request *req,
					   struct api_error *err)
{
	static const enum vm_state off[] = {VM_STATE_OFF};
	struct vm *vm = svc_lookup(svc, req, err);
	uint64_t maximum, reserve, weight;
	bool compat = false, has_compat;
	struct vm_record had;
	int r;

	if (!vm)
		return NULL;
	maximum = vm->rec.cpu_maximum;
	reserve = vm->rec.cpu_reserve;
	weight = vm->rec.cpu_weight;
	if (api_param_bool(req, "compatibility_for_migration", &compat, err) < 0 ||
	    api_param_u64(req, "maximum", false, 100, &maximum, err) < 0 ||
	    api_param_u64(req, "reserve", false, 100, &reserve, err) < 0 ||
	    api_param_u64(req, "relative_weight", false, VM_CPU_WEIGHT_MAX, &weight, err) < 0)
		return NULL;
	has_compat = json_object_object_get_ex(req->params, "compatibility_for_migration", NULL);
	if (!has_compat && !json_object_object_get_ex(req->params, "maximum", NULL) &&
	    !json_object_object_get_ex(req->params, "reserve", NULL) &&
	    !json_object_object_get_ex(req->params, "relative_weight", NULL)) {
		api_error_set(err, API_ERR_INVALID,
			      "set-vmprocessor needs compatibility_for_migration (on or off), "
			      "maximum, reserve or relative_weight");
		return NULL;
	}
	if (vm->unreadable) {
		api_error_set(err, API_ERR_STATE,
			      "VM '%s' is unreadable; only remove-vm can act on it", vm->rec.name);
		return NULL;
	}
	if (!has_compat)
		compat = vm->rec.processor_compat;
	if (maximum < 1 || weight < 1) {
		api_error_set(err, API_ERR_INVALID,
			      "%s must be at least 1 (maximum: percent of a CPU per vCPU, 1-100; "
			      "relative weight: 1-%d)",
			      maximum < 1 ? "the maximum" : "the relative weight",
			      VM_CPU_WEIGHT_MAX);
		return NULL;
	}
	if (reserve > maximum) {
		api_error_set(err, API_ERR_INVALID,
			      "the reserve (%llu%%) is above the maximum (%llu%%): a VM cannot be "
			      "promised more than it may use",
			      (unsigned long long)reserve, (unsigned long long)maximum);
		return NULL;
	}
	if (compat != vm->rec.processor_compat &&
	    svc_need_state(vm, "set-vmprocessor", off, 1,
			   "the processor's compatibility changes only while the VM is Off",
			   err) < 0)
		return NULL;
	if ((maximum != 100 || reserve || weight != 100) && !svc->cgroups) {
		api_error_set(
			err, API_ERR_HOST,
			"processor maximum, reserve and weight need a cgroup per VM, and this "
			"host gives the service none: %s",
			svc->cgroup_error);
		return NULL;
	}
	if (vm_state_has_worker(vm->rec.state) &&
	    svc_check_reserve(svc, vm, (unsigned)reserve, vm->rec.cpus, err) < 0)
		return NULL;
	had = vm->rec;
	vm->rec.processor_compat = compat;
	vm->rec.cpu_maximum = (unsigned)maximum;
	vm->rec.cpu_reserve = (unsigned)reserve;
	vm->rec.cpu_weight = (unsigned)weight;
	r = inventory_write(svc->state_dir, &vm->rec);
	if (r < 0) {
		vm->rec = had;
		api_error_set(err, API_ERR_HOST, "cannot write the VM's file: %s", strerror(-r));
		return NULL;
	}
	if (vm_state_has_worker(vm->rec.state))
		svc_cgroup_balance(svc);
	return svc_call_get_processor(svc, req, err);
}

struct json_object *svc_call_get_processor(struct service *svc, const struct api_request *req,
					   struct api_error *err)
{
	struct vm *vm = svc_lookup(svc, req, err);
	struct json_object *cpu = NULL, *ans = NULL, *res;
	char cpus[16];
	int r = -ENOENT;

	if (!vm)
		return NULL;
	/* Running: what its worker built, the truth for this boot. */
	if (vm->rec.state == VM_STATE_RUNNING || vm->rec.state == VM_STATE_PAUSED) {
		r = worker_call(vm->paths.control, "cpu", NULL, 2000, &ans);
		if (r == 0 && json_object_object_get_ex(ans, "cpu", &cpu))
			cpu = json_object_get(cpu);
		json_object_put(ans);
		if (!cpu)
			r = -EPROTO;
	}
	if (!cpu) {
		const char *args[] = {"--print-cpu",
				      "--cpus",
				      cpus,
				      "--cpu-model",
				      vm->rec.processor_compat ? "baseline" : "host",
				      NULL};

		snprintf(cpus, sizeof(cpus), "%u", vm->rec.cpus);
		r = run_report(svc, args, &cpu);
		if (r < 0)
			return report_failed(r, err);
	}
	res = json_object_new_object();
	json_object_object_add(res, "name", json_object_new_string(vm->rec.name));
	json_object_object_add(res, "compatibility_for_migration",
			       json_object_new_boolean(vm->rec.processor_compat));
	json_object_object_add(res, "maximum", json_object_new_int((int)vm->rec.cpu_maximum));
	json_object_object_add(res, "reserve", json_object_new_int((int)vm->rec.cpu_reserve));
	json_object_object_add(res, "relative_weight",
			       json_object_new_int((int)vm->rec.cpu_weight));
	json_object_object_add(res, "processor", cpu);
	return res;
}

struct json_object *svc_call_get_host_processor(struct service *svc, const struct api_request *req,
						struct api_error *err)
{
	const char *args[] = {"--host-cpu", NULL};
	struct json_object *host = NULL;
	int r = run_report(svc, args, &host);

	(void)req;
	return r < 0 ? report_failed(r, err) : host;
}

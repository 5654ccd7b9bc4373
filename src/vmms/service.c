/*
 * The management service's core; see service.h. One lock (svc->lock)
 * protects the VM list, every VM's record and runtime fields, and the event
 * sinks. Calls to a worker's control socket are made without it (a worker
 * may be slow); a VM is kept alive across them by its reference count.
 * State changes wake svc->changed, on which long calls (start-vm, stop-vm)
 * wait. The monitor thread is the only one that reaps workers.
 */
#include "vmms/service.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "ipc/jsonline.h"
#include "ipc/worker_client.h"
#include "vmms/inventory.h"
#include "vmms/vm_state.h"
#include "vmms/worker.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define START_TIMEOUT_MS      30000
#define STATUS_TIMEOUT_MS     2000
#define CONTROL_TIMEOUT_MS    10000
#define DEFAULT_STOP_TIMEOUT  120
#define TURN_OFF_GRACE_S      20
#define MAX_EVENT_SINKS	      64
#define WORKER_SHUTDOWN_LIMIT 65535 /* the worker never turns off by itself: we decide */

struct vm {
	struct vm *next;
	struct vm_record rec;
	bool unreadable; /* its file did not parse: only id and name are meaningful */
	bool removed;	 /* off the list, freed when refs drops to 0 */
	unsigned refs;	 /* calls using it while the lock is dropped */
	struct worker_paths paths;

	/* The worker, while vm_state_has_worker(rec.state). */
	pid_t pid;	     /* 0 if none */
	uint64_t start_time; /* /proc start time, against pid reuse */
	int pidfd;	     /* -1 if none */
	bool child;	     /* spawned by this service: waitid gives its status */

	/* From the monitor's last status poll. */
	struct json_object *status;
	uint64_t status_ns; /* CLOCK_MONOTONIC of that poll */
	bool heartbeat_alive;
	uint64_t cpu_ticks, cpu_sample_ns;
	double cpu_usage; /* percent of the host's processors */
};

struct service {
	struct service_config cfg;
	char *state_dir;
	char *vmwp;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct vm *vms;
	int event_fds[MAX_EVENT_SINKS];
	unsigned nevents;
	int wake_fd; /* eventfd: the monitor's pidfd set changed, or stop */
	pthread_t monitor;
	bool monitor_running;
	volatile bool stopping;
	long ticks_per_s;
	long host_cpus;
	uint64_t host_ram;
};

static int64_t now_ms(void)
{
	return (int64_t)(time_realtime_ns() / 1000000);
}

/* --- events ---------------------------------------------------------------------------- */

static void emit(struct service *svc, struct json_object *ev)
{
	const char *s;
	size_t len;
	unsigned i;

	json_object_object_add(ev, "time_ms", json_object_new_int64(now_ms()));
	s = json_object_to_json_string_ext(ev,
					   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	len = strlen(s);
	for (i = 0; i < svc->nevents;) {
		char *line = malloc(len + 1);
		ssize_t n = -1;

		if (line) {
			memcpy(line, s, len);
			line[len] = '\n';
			n = send(svc->event_fds[i], line, len + 1, MSG_DONTWAIT | MSG_NOSIGNAL);
			free(line);
		}
		if (n != (ssize_t)len + 1) {
			/* a subscriber that does not keep up is dropped: its thread sees the end */
			shutdown(svc->event_fds[i], SHUT_RDWR);
			svc->event_fds[i] = svc->event_fds[--svc->nevents];
			continue;
		}
		i++;
	}
	json_object_put(ev);
}

static struct json_object *vm_event(const char *type, const struct vm *vm)
{
	struct json_object *ev = json_object_new_object();

	json_object_object_add(ev, "event", json_object_new_string(type));
	json_object_object_add(ev, "id", json_object_new_string(vm->rec.id));
	json_object_object_add(ev, "name", json_object_new_string(vm->rec.name));
	return ev;
}

void service_unsubscribe(struct service *svc, int fd)
{
	unsigned i;

	pthread_mutex_lock(&svc->lock);
	for (i = 0; i < svc->nevents; i++)
		if (svc->event_fds[i] == fd) {
			svc->event_fds[i] = svc->event_fds[--svc->nevents];
			break;
		}
	pthread_mutex_unlock(&svc->lock);
}

/* --- VMs and transitions ------------------------------------------------------------------ */

static struct vm *vm_find(struct service *svc, const char *name)
{
	struct vm *vm;

	for (vm = svc->vms; vm; vm = vm->next)
		if (!strcmp(vm->rec.name, name))
			return vm;
	for (vm = svc->vms; vm; vm = vm->next)
		if (!strcasecmp(vm->rec.id, name))
			return vm;
	return NULL;
}

static void vm_free(struct vm *vm)
{
	if (vm->pidfd >= 0)
		close(vm->pidfd);
	json_object_put(vm->status);
	vm_record_fini(&vm->rec);
	free(vm);
}

static void vm_put(struct service *svc, struct vm *vm)
{
	(void)svc;
	if (--vm->refs == 0 && vm->removed)
		vm_free(vm);
}

/*
 * Moves vm to state `to`, checked against the table, recorded in its
 * history and its file, announced as an event. Under svc->lock.
 */
static int transition(struct service *svc, struct vm *vm, enum vm_state to, const char *reason)
{
	enum vm_state from = vm->rec.state;
	struct json_object *ev;
	int r;

	if (!vm_state_transition_allowed(from, to)) {
		pv_log(LOG_ERR, "VM '%s': refused transition %s -> %s (%s)", vm->rec.name,
		       vm_state_name(from), vm_state_name(to), reason);
		return -EPERM;
	}
	vm_record_transition(&vm->rec, to, now_ms(), reason);
	pv_log(LOG_INFO, "VM '%s': %s -> %s: %s", vm->rec.name, vm_state_name(from),
	       vm_state_name(to), reason);
	if (!vm->unreadable) {
		r = inventory_write(svc->state_dir, &vm->rec);
		if (r < 0)
			pv_log(LOG_ERR, "VM '%s': cannot write its file: %s", vm->rec.name,
			       strerror(-r));
	}
	if (to == VM_STATE_OFF || to == VM_STATE_CRITICAL) {
		json_object_put(vm->status);
		vm->status = NULL;
		vm->heartbeat_alive = false;
		vm->cpu_usage = 0;
	}
	ev = vm_event("state-changed", vm);
	json_object_object_add(ev, "from", json_object_new_string(vm_state_name(from)));
	json_object_object_add(ev, "to", json_object_new_string(vm_state_name(to)));
	json_object_object_add(ev, "reason", json_object_new_string(reason));
	emit(svc, ev);
	pthread_cond_broadcast(&svc->changed);
	return 0;
}

static void wake_monitor(struct service *svc)
{
	uint64_t one = 1;

	(void)!write(svc->wake_fd, &one, sizeof(one));
}

/* --- workers ------------------------------------------------------------------------------ */

static void forget_worker(struct vm *vm)
{
	if (vm->pidfd >= 0)
		close(vm->pidfd);
	vm->pidfd = -1;
	vm->pid = 0;
	vm->child = false;
	unlink(vm->paths.record);
}

/* The worker of vm ended (its pidfd is readable): reap it and decide the VM's state. */
static void worker_ended(struct service *svc, struct vm *vm)
{
	char reason[VM_REASON_MAX], last[160];
	siginfo_t si = {0};
	int status = -1, sig = 0;
	enum vm_state to;

	if (vm->child && waitid((idtype_t)P_PIDFD, (id_t)vm->pidfd, &si, WEXITED | WNOHANG) == 0 &&
	    si.si_pid) {
		if (si.si_code == CLD_EXITED)
			status = si.si_status;
		else
			sig = si.si_status;
	}
	if (status < 0 && !sig)
		status = worker_exit_status_read(&vm->paths);
	worker_log_last_line(&vm->paths, last, sizeof(last));
	if (sig) {
		snprintf(reason, sizeof(reason), "the worker (pid %d) was killed by signal %d (%s)",
			 (int)vm->pid, sig, strsignal(sig));
		to = VM_STATE_CRITICAL;
	} else if (status == 0 || status == 5) {
		snprintf(reason, sizeof(reason), "%s",
			 status == 0
				 ? (vm->rec.state == VM_STATE_STOPPING ? "the guest shut down"
								       : "the guest powered off")
				 : "turned off");
		to = VM_STATE_OFF;
	} else if (status > 0) {
		snprintf(reason, sizeof(reason), "the worker exited with status %d (%s)%s%s",
			 status, worker_exit_status_name(status), last[0] ? ": " : "", last);
		to = VM_STATE_CRITICAL;
	} else {
		snprintf(reason, sizeof(reason),
			 "the worker (pid %d) ended without leaving an exit status (killed by a "
			 "signal?)",
			 (int)vm->pid);
		to = VM_STATE_CRITICAL;
	}
	forget_worker(vm);
	if (vm->rec.state == to)
		return;
	if (transition(svc, vm, to, reason) < 0 && to == VM_STATE_OFF)
		(void)transition(svc, vm, VM_STATE_CRITICAL, reason);
}

/* The heartbeat "alive" of a status answer. */
static bool status_heartbeat_alive(struct json_object *st)
{
	struct json_object *vmbus, *hb, *alive;

	return st && json_object_object_get_ex(st, "vmbus", &vmbus) &&
	       json_object_object_get_ex(vmbus, "heartbeat", &hb) &&
	       json_object_object_get_ex(hb, "alive", &alive) && json_object_get_boolean(alive);
}

static const char *status_string(struct json_object *st, const char *key)
{
	struct json_object *v;

	return st && json_object_object_get_ex(st, key, &v) &&
			       json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

/* Takes a worker's status answer (taken over) into vm; under the lock. */
static void apply_status(struct service *svc, struct vm *vm, struct json_object *st)
{
	bool alive = status_heartbeat_alive(st);
	const char *state = status_string(st, "state");
	uint64_t ticks, now = time_monotonic_ns();

	if (vm->pid && proc_cpu_ticks(vm->pid, &ticks) == 0) {
		if (vm->cpu_sample_ns && now > vm->cpu_sample_ns && ticks >= vm->cpu_ticks)
			vm->cpu_usage = (double)(ticks - vm->cpu_ticks) / (double)svc->ticks_per_s /
					((double)(now - vm->cpu_sample_ns) / 1e9) /
					(double)svc->host_cpus * 100.0;
		vm->cpu_ticks = ticks;
		vm->cpu_sample_ns = now;
	}
	json_object_put(vm->status);
	vm->status = st;
	vm->status_ns = now;
	if (alive != vm->heartbeat_alive) {
		vm->heartbeat_alive = alive;
		emit(svc, vm_event(alive ? "heartbeat-regained" : "heartbeat-lost", vm));
		pv_log(LOG_INFO, "VM '%s': heartbeat %s", vm->rec.name, alive ? "OK" : "lost");
	}
	/* A worker found running after a restart of the service, or a start-vm that gave up. */
	if (vm->rec.state == VM_STATE_STARTING && state &&
	    (!strcmp(state, "running") || !strcmp(state, "paused")))
		(void)transition(svc, vm, VM_STATE_RUNNING, "the worker is running");
}

static void *monitor_main(void *arg)
{
	struct service *svc = arg;
	uint64_t next_poll = 0;

	pthread_setname_np(pthread_self(), "monitor");
	while (!svc->stopping) {
		struct pollfd fds[256];
		struct vm *vms[256], *vm;
		unsigned n = 1, i;
		uint64_t now = time_monotonic_ns();
		int timeout;

		fds[0] = (struct pollfd){.fd = svc->wake_fd, .events = POLLIN};
		pthread_mutex_lock(&svc->lock);
		for (vm = svc->vms; vm && n < 256; vm = vm->next)
			if (vm->pidfd >= 0) {
				fds[n] = (struct pollfd){.fd = vm->pidfd, .events = POLLIN};
				vms[n++] = vm;
				vm->refs++;
			}
		pthread_mutex_unlock(&svc->lock);
		timeout = next_poll > now ? (int)((next_poll - now) / 1000000) : 0;
		if (poll(fds, n, timeout) > 0 && (fds[0].revents & POLLIN)) {
			uint64_t v;

			(void)!read(svc->wake_fd, &v, sizeof(v));
		}
		pthread_mutex_lock(&svc->lock);
		for (i = 1; i < n; i++) {
			if ((fds[i].revents & POLLIN) && vms[i]->pidfd == fds[i].fd &&
			    !vms[i]->removed)
				worker_ended(svc, vms[i]);
			vm_put(svc, vms[i]);
		}
		pthread_mutex_unlock(&svc->lock);
		if (time_monotonic_ns() < next_poll)
			continue;
		next_poll = time_monotonic_ns() + (uint64_t)svc->cfg.poll_ms * 1000000;

		/* Status of every worker, one at a time, without the lock. */
		pthread_mutex_lock(&svc->lock);
		n = 0;
		for (vm = svc->vms; vm && n < 256; vm = vm->next)
			if (vm->pidfd >= 0) {
				vms[n++] = vm;
				vm->refs++;
			}
		pthread_mutex_unlock(&svc->lock);
		for (i = 0; i < n; i++) {
			struct json_object *st = NULL;
			int r = worker_call(vms[i]->paths.control, "status", NULL,
					    STATUS_TIMEOUT_MS, &st);

			pthread_mutex_lock(&svc->lock);
			if (r == 0 && vms[i]->pidfd >= 0 && !vms[i]->removed)
				apply_status(svc, vms[i], st);
			else
				json_object_put(st);
			vm_put(svc, vms[i]);
			pthread_mutex_unlock(&svc->lock);
		}
	}
	return NULL;
}

/* --- the worker's configuration ------------------------------------------------------------ */

static int write_worker_config(const struct vm *vm)
{
	struct json_object *o = json_object_new_object(), *disks;
	char serial[1400], mem[32], tmp[700];
	unsigned i;
	int r;

	json_object_object_add(o, "kernel", json_object_new_string(vm->rec.kernel));
	if (vm->rec.initrd)
		json_object_object_add(o, "initrd", json_object_new_string(vm->rec.initrd));
	if (vm->rec.cmdline)
		json_object_object_add(o, "cmdline", json_object_new_string(vm->rec.cmdline));
	snprintf(mem, sizeof(mem), "%lluK", (unsigned long long)(vm->rec.memory_bytes >> 10));
	json_object_object_add(o, "memory", json_object_new_string(mem));
	json_object_object_add(o, "cpus", json_object_new_int((int)vm->rec.cpus));
	snprintf(serial, sizeof(serial), "socket:%s,log=%s", vm->paths.console,
		 vm->paths.console_log);
	json_object_object_add(o, "serial", json_object_new_string(serial));
	json_object_object_add(o, "control", json_object_new_string(vm->paths.control));
	json_object_object_add(o, "exit-status-file",
			       json_object_new_string(vm->paths.exit_status));
	json_object_object_add(o, "shutdown-timeout", json_object_new_int(WORKER_SHUTDOWN_LIMIT));
	/* Only when there are disks: a worker without storage support rejects the key. */
	if (vm->rec.ndisks) {
		disks = json_object_new_array();
		for (i = 0; i < vm->rec.ndisks; i++) {
			struct json_object *d = json_object_new_object();

			json_object_object_add(d, "path",
					       json_object_new_string(vm->rec.disks[i].path));
			json_object_object_add(d, "readonly",
					       json_object_new_boolean(vm->rec.disks[i].readonly));
			json_object_object_add(
				d, "controller",
				json_object_new_int((int)vm->rec.disks[i].controller));
			json_object_object_add(d, "lun",
					       json_object_new_int((int)vm->rec.disks[i].lun));
			json_object_array_add(disks, d);
		}
		json_object_object_add(o, "disks", disks);
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", vm->paths.config);
	r = json_object_to_file_ext(tmp, o,
				    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	json_object_put(o);
	if (r < 0 || rename(tmp, vm->paths.config) < 0)
		return -EIO;
	return 0;
}

/* --- the VM as the API shows it ------------------------------------------------------------- */

static const char *heartbeat_text(const struct vm *vm)
{
	struct json_object *vmbus, *hb;
	const char *state;

	if (!vm->status || !json_object_object_get_ex(vm->status, "vmbus", &vmbus) ||
	    !json_object_object_get_ex(vmbus, "heartbeat", &hb))
		return vm_state_has_worker(vm->rec.state) ? "No Contact" : "";
	state = status_string(hb, "state");
	if (vm->heartbeat_alive)
		return "OK";
	return state && !strcmp(state, "ready") ? "Lost Communication" : "No Contact";
}

static double vm_uptime(const struct vm *vm)
{
	struct json_object *v;

	if (!vm->status || !json_object_object_get_ex(vm->status, "uptime_s", &v) ||
	    !vm_state_has_worker(vm->rec.state))
		return 0;
	return json_object_get_double(v) + (double)(time_monotonic_ns() - vm->status_ns) / 1e9;
}

static struct json_object *vm_json(const struct vm *vm)
{
	struct json_object *o = json_object_new_object(), *disks = json_object_new_array();
	bool on = vm_state_has_worker(vm->rec.state);
	unsigned i;

#define STR(k, v) json_object_object_add(o, k, (v) ? json_object_new_string(v) : NULL)
	STR("id", vm->rec.id);
	STR("name", vm->rec.name);
	STR("state", vm_state_name(vm->rec.state));
	STR("status", vm->rec.state == VM_STATE_CRITICAL ? vm->rec.status
		      : vm->rec.state == VM_STATE_OFF	 ? ""
							 : "Operating normally");
	json_object_object_add(o, "cpus", json_object_new_int((int)vm->rec.cpus));
	json_object_object_add(o, "memory_bytes",
			       json_object_new_int64((int64_t)vm->rec.memory_bytes));
	json_object_object_add(o, "memory_assigned_bytes",
			       json_object_new_int64(on ? (int64_t)vm->rec.memory_bytes : 0));
	json_object_object_add(o, "cpu_usage_percent",
			       json_object_new_double(on ? vm->cpu_usage : 0));
	json_object_object_add(o, "uptime_s", json_object_new_double(vm_uptime(vm)));
	STR("heartbeat", heartbeat_text(vm));
	STR("kernel", vm->rec.kernel);
	STR("initrd", vm->rec.initrd);
	STR("cmdline", vm->rec.cmdline);
	STR("boot_disk", vm->rec.boot_disk);
	STR("notes", vm->rec.notes);
	for (i = 0; i < vm->rec.ndisks; i++) {
		struct json_object *d = json_object_new_object();

		json_object_object_add(d, "path", json_object_new_string(vm->rec.disks[i].path));
		json_object_object_add(d, "readonly",
				       json_object_new_boolean(vm->rec.disks[i].readonly));
		json_object_object_add(d, "controller",
				       json_object_new_int((int)vm->rec.disks[i].controller));
		json_object_object_add(d, "lun", json_object_new_int((int)vm->rec.disks[i].lun));
		json_object_array_add(disks, d);
	}
	json_object_object_add(o, "disks", disks);
	json_object_object_add(o, "pid", vm->pid ? json_object_new_int(vm->pid) : NULL);
	STR("console_log", vm->paths.console_log);
	STR("worker_log", vm->paths.log);
#undef STR
	return o;
}

/* --- checks ------------------------------------------------------------------------------ */

static int check_file(const char *what, const char *path, struct api_error *err)
{
	struct stat st;

	if (path[0] != '/') {
		api_error_set(err, API_ERR_INVALID, "%s '%s' is not an absolute path", what, path);
		return -EINVAL;
	}
	if (stat(path, &st) < 0) {
		api_error_set(err, API_ERR_NOT_FOUND,
			      "%s '%s' does not exist or cannot be read: %s", what, path,
			      strerror(errno));
		return -ENOENT;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		api_error_set(err, API_ERR_INVALID, "%s '%s' is not a regular file or block device",
			      what, path);
		return -EINVAL;
	}
	return 0;
}

/* The VM with a worker other than `self` that has path attached, or NULL. */
static struct vm *disk_user(struct service *svc, const struct vm *self, const char *path)
{
	struct vm *vm;
	unsigned i;

	for (vm = svc->vms; vm; vm = vm->next) {
		if (vm == self || !vm_state_has_worker(vm->rec.state))
			continue;
		for (i = 0; i < vm->rec.ndisks; i++)
			if (!strcmp(vm->rec.disks[i].path, path))
				return vm;
		if (vm->rec.boot_disk && !strcmp(vm->rec.boot_disk, path))
			return vm;
	}
	return NULL;
}

static int check_disk(struct service *svc, const struct vm *self, const char *path,
		      struct api_error *err)
{
	struct vm *user;

	if (check_file("disk", path, err) < 0)
		return -EINVAL;
	user = disk_user(svc, self, path);
	if (user) {
		api_error_set(
			err, API_ERR_IN_USE,
			"disk '%s' is attached to VM '%s', which is %s; stop it or detach the "
			"disk first",
			path, user->rec.name, vm_state_name(user->rec.state));
		return -EBUSY;
	}
	return 0;
}

static int check_memory(struct service *svc, uint64_t bytes, struct api_error *err)
{
	if (bytes < VM_MIN_MEMORY || bytes % 4096) {
		api_error_set(err, API_ERR_INVALID,
			      "memory: %llu bytes is not a multiple of 4 KiB of at least 16 MiB",
			      (unsigned long long)bytes);
		return -EINVAL;
	}
	if (bytes > svc->host_ram) {
		api_error_set(err, API_ERR_INVALID,
			      "memory: %llu MiB is more than this host has (%llu MiB)",
			      (unsigned long long)(bytes >> 20),
			      (unsigned long long)(svc->host_ram >> 20));
		return -EINVAL;
	}
	return 0;
}

static int check_cpus(uint64_t cpus, struct api_error *err)
{
	if (cpus == 0 || cpus > VM_MAX_CPUS) {
		api_error_set(err, API_ERR_INVALID,
			      "cpus: %llu is not a number of processors (1 to %d)",
			      (unsigned long long)cpus, VM_MAX_CPUS);
		return -EINVAL;
	}
	return 0;
}

static struct vm *lookup(struct service *svc, const struct api_request *req, struct api_error *err)
{
	const char *name;
	struct vm *vm;

	if (api_param_string(req, "name", true, 256, &name, err) < 0)
		return NULL;
	vm = vm_find(svc, name);
	if (!vm)
		api_error_set(err, API_ERR_NOT_FOUND, "no VM named '%s' (see parvis get-vm)", name);
	return vm;
}

static int need_state(const struct vm *vm, const char *call __attribute__((unused)),
		      const enum vm_state *ok, unsigned n, const char *hint, struct api_error *err)
{
	unsigned i;

	if (vm->unreadable) {
		api_error_set(err, API_ERR_STATE,
			      "VM '%s' is Critical (%s); only remove-vm can act on it",
			      vm->rec.name, vm->rec.status);
		return -EPERM;
	}
	for (i = 0; i < n; i++)
		if (vm->rec.state == ok[i])
			return 0;
	api_error_set(err, API_ERR_STATE, "VM '%s' is %s%s%s", vm->rec.name,
		      vm_state_name(vm->rec.state), hint ? "; " : "", hint ? hint : "");
	return -EPERM;
}

/* --- calls --------------------------------------------------------------------------------- */

static struct json_object *call_new_vm(struct service *svc, const struct api_request *req,
				       struct api_error *err)
{
	const char *name, *kernel = NULL, *initrd = NULL, *cmdline = NULL, *boot_disk = NULL,
			  *notes = NULL;
	uint64_t memory = 512ull << 20, cpus = 1;
	struct json_object *disks = NULL;
	char why[256];
	struct vm *vm;
	size_t i;
	int r;

	if (api_param_string(req, "name", true, 1024, &name, err) < 0 ||
	    api_param_u64(req, "memory_bytes", false, UINT64_MAX >> 1, &memory, err) < 0 ||
	    api_param_u64(req, "cpus", false, 1u << 20, &cpus, err) < 0 ||
	    api_param_string(req, "kernel", false, VM_PATH_MAX, &kernel, err) < 0 ||
	    api_param_string(req, "initrd", false, VM_PATH_MAX, &initrd, err) < 0 ||
	    api_param_string(req, "cmdline", false, VM_CMDLINE_MAX, &cmdline, err) < 0 ||
	    api_param_string(req, "boot_disk", false, VM_PATH_MAX, &boot_disk, err) < 0 ||
	    api_param_string(req, "notes", false, VM_NOTES_MAX, &notes, err) < 0 ||
	    api_param_string_array(req, "disks", VM_MAX_DISKS, VM_PATH_MAX, &disks, err) < 0)
		return NULL;
	if (vm_name_check(name, why, sizeof(why)) < 0) {
		api_error_set(err, API_ERR_INVALID, "%s", why);
		return NULL;
	}
	if (vm_find(svc, name)) {
		api_error_set(
			err, API_ERR_EXISTS,
			"a VM named '%s' already exists (parvis remove-vm %s, or choose another "
			"name)",
			name, name);
		return NULL;
	}
	if (check_memory(svc, memory, err) < 0 || check_cpus(cpus, err) < 0)
		return NULL;
	if (!kernel == !boot_disk) {
		api_error_set(err, API_ERR_INVALID,
			      "give either a kernel (--kernel) or a boot disk "
			      "(--boot-disk), not both and not neither");
		return NULL;
	}
	if (initrd && !kernel) {
		api_error_set(err, API_ERR_INVALID, "an initrd needs a kernel");
		return NULL;
	}
	if ((kernel && check_file("kernel", kernel, err) < 0) ||
	    (initrd && check_file("initrd", initrd, err) < 0) ||
	    (boot_disk && check_disk(svc, NULL, boot_disk, err) < 0))
		return NULL;
	for (i = 0; disks && i < json_object_array_length(disks); i++) {
		const char *d = json_object_get_string(json_object_array_get_idx(disks, i));
		size_t j;

		if (check_disk(svc, NULL, d, err) < 0)
			return NULL;
		for (j = 0; j < i; j++)
			if (!strcmp(d,
				    json_object_get_string(json_object_array_get_idx(disks, j)))) {
				api_error_set(err, API_ERR_INVALID, "disk '%s' is given twice", d);
				return NULL;
			}
	}
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		goto nomem;
	vm->pidfd = -1;
	vm_record_init(&vm->rec);
	if (vm_id_new(vm->rec.id) < 0 ||
	    worker_paths_init(&vm->paths, svc->state_dir, vm->rec.id) < 0)
		goto host;
	vm->rec.name = strdup(name);
	vm->rec.cpus = (unsigned)cpus;
	vm->rec.memory_bytes = memory;
#define DUP(f, v) vm->rec.f = (v) ? strdup(v) : NULL
	DUP(kernel, kernel);
	DUP(initrd, initrd);
	DUP(cmdline, cmdline);
	DUP(boot_disk, boot_disk);
	DUP(notes, notes);
#undef DUP
	for (i = 0; disks && i < json_object_array_length(disks); i++) {
		vm->rec.disks[i].path =
			strdup(json_object_get_string(json_object_array_get_idx(disks, i)));
		vm->rec.disks[i].lun = (unsigned)i;
		vm->rec.ndisks++;
	}
	vm_record_transition(&vm->rec, VM_STATE_OFF, now_ms(), "new-vm");
	r = inventory_write(svc->state_dir, &vm->rec);
	if (r < 0) {
		api_error_set(err, API_ERR_HOST, "cannot write the VM's file in %s/vms: %s",
			      svc->state_dir, strerror(-r));
		vm_free(vm);
		return NULL;
	}
	vm->next = svc->vms;
	svc->vms = vm;
	pv_log(LOG_INFO, "VM '%s' created (%s)", vm->rec.name, vm->rec.id);
	emit(svc, vm_event("vm-created", vm));
	return vm_json(vm);
host:
	vm_free(vm);
	api_error_set(err, API_ERR_HOST, "cannot make an ID or the run directory path is too long");
	return NULL;
nomem:
	api_error_set(err, API_ERR_HOST, "out of memory");
	return NULL;
}

static struct json_object *call_get_vm(struct service *svc, const struct api_request *req,
				       struct api_error *err)
{
	struct json_object *list = json_object_new_array(), *res;
	const char *name = NULL;
	struct vm *vm;

	if (api_param_string(req, "name", false, 256, &name, err) < 0) {
		json_object_put(list);
		return NULL;
	}
	if (name) {
		vm = lookup(svc, req, err);
		if (!vm) {
			json_object_put(list);
			return NULL;
		}
		json_object_array_add(list, vm_json(vm));
	} else {
		for (vm = svc->vms; vm; vm = vm->next)
			json_object_array_add(list, vm_json(vm));
	}
	res = json_object_new_object();
	json_object_object_add(res, "vms", list);
	return res;
}

/* Waits on svc->changed until vm leaves state s or deadline (monotonic ns). */
static void wait_leave(struct service *svc, struct vm *vm, enum vm_state s, uint64_t deadline)
{
	while (vm->rec.state == s && !vm->removed) {
		struct timespec ts;
		uint64_t left, now = time_monotonic_ns();

		if (now >= deadline)
			return;
		left = deadline - now;
		if (left > 200000000)
			left = 200000000;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)(left / 1000000000);
		ts.tv_nsec += (long)(left % 1000000000);
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&svc->changed, &svc->lock, &ts);
	}
}

/* Calls the worker of vm without the lock (held on entry and on return). */
static int call_worker(struct service *svc, struct vm *vm, const char *cmd,
		       struct json_object *extra, int timeout_ms, struct json_object **ret)
{
	char path[sizeof(vm->paths.control)];
	int r;

	memcpy(path, vm->paths.control, sizeof(path));
	vm->refs++;
	pthread_mutex_unlock(&svc->lock);
	r = worker_call(path, cmd, extra, timeout_ms, ret);
	pthread_mutex_lock(&svc->lock);
	vm->refs--;
	return r;
}

static const char *worker_error(struct json_object *ans)
{
	const char *e = status_string(ans, "error");

	return e ? e : "no reason given";
}

static bool worker_ok(struct json_object *ans)
{
	struct json_object *v;

	return ans && json_object_object_get_ex(ans, "ok", &v) && json_object_get_boolean(v);
}

static struct json_object *start_vm(struct service *svc, struct vm *vm, const char *reason,
				    struct api_error *err)
{
	static const enum vm_state ok[] = {VM_STATE_OFF, VM_STATE_CRITICAL};
	uint64_t deadline;
	struct json_object *res = NULL;
	unsigned i;
	pid_t pid;
	int r, fd;

	if (need_state(vm, "start-vm", ok, 2, "stop it first (parvis stop-vm)", err) < 0)
		return NULL;
	if (!vm->rec.kernel) {
		api_error_set(
			err, API_ERR_INVALID,
			"VM '%s' boots from disk '%s', which this worker cannot do yet; give it a "
			"kernel (parvis set-vm is not enough: create it with --kernel)",
			vm->rec.name, vm->rec.boot_disk);
		return NULL;
	}
	if (check_file("kernel", vm->rec.kernel, err) < 0 ||
	    (vm->rec.initrd && check_file("initrd", vm->rec.initrd, err) < 0))
		return NULL;
	for (i = 0; i < vm->rec.ndisks; i++)
		if (check_disk(svc, vm, vm->rec.disks[i].path, err) < 0)
			return NULL;
	if ((mkdir(vm->paths.dir, 0750) < 0 && errno != EEXIST) || write_worker_config(vm) < 0) {
		api_error_set(err, API_ERR_HOST, "cannot write %s: %s", vm->paths.config,
			      strerror(errno));
		return NULL;
	}
	unlink(vm->paths.exit_status);
	if (transition(svc, vm, VM_STATE_STARTING, reason) < 0) {
		api_error_set(err, API_ERR_STATE, "start-vm: VM '%s' cannot start from %s",
			      vm->rec.name, vm_state_name(vm->rec.state));
		return NULL;
	}
	r = worker_spawn(svc->vmwp, &vm->paths, &pid);
	fd = r == 0 ? pidfd_open_pid(pid) : r;
	if (fd < 0) {
		char reason2[VM_REASON_MAX];

		snprintf(reason2, sizeof(reason2), "cannot start the worker %s: %s", svc->vmwp,
			 strerror(-fd));
		(void)transition(svc, vm, VM_STATE_CRITICAL, reason2);
		api_error_set(err, API_ERR_HOST, "%s", reason2);
		return NULL;
	}
	vm->pid = pid;
	vm->pidfd = fd;
	vm->child = true;
	vm->start_time = proc_start_time(pid);
	vm->cpu_sample_ns = 0;
	if (worker_record_write(&vm->paths, pid, vm->start_time) < 0)
		pv_log(LOG_WARN, "VM '%s': cannot write %s: a restarted service would not find it",
		       vm->rec.name, vm->paths.record);
	wake_monitor(svc);

	/* Running once the worker answers with its machine built. */
	deadline = time_monotonic_ns() + (uint64_t)START_TIMEOUT_MS * 1000000;
	vm->refs++;
	while (vm->rec.state == VM_STATE_STARTING && time_monotonic_ns() < deadline) {
		struct json_object *st = NULL;
		const char *state;
		char path[sizeof(vm->paths.control)];

		memcpy(path, vm->paths.control, sizeof(path));
		pthread_mutex_unlock(&svc->lock);
		r = worker_call(path, "status", NULL, 1000, &st);
		if (r < 0)
			usleep(2000);
		pthread_mutex_lock(&svc->lock);
		state = status_string(st, "state");
		if (r == 0 && vm->rec.state == VM_STATE_STARTING && vm->pidfd >= 0 && state &&
		    strcmp(state, "stopped")) {
			apply_status(svc, vm, st);
			st = NULL;
			if (vm->rec.state == VM_STATE_STARTING)
				(void)transition(svc, vm, VM_STATE_RUNNING,
						 "the worker is running");
		}
		json_object_put(st);
	}
	vm->refs--;
	/* Running, or already Off again: a guest that powered off at once did start. */
	if (vm->rec.state == VM_STATE_RUNNING || vm->rec.state == VM_STATE_OFF) {
		res = vm_json(vm);
		json_object_object_add(res, "worker_status", json_object_get(vm->status));
		return res;
	}
	if (vm->rec.state == VM_STATE_STARTING)
		api_error_set(err, API_ERR_TIMEOUT,
			      "VM '%s': the worker (pid %d) did not answer in %d s; see %s",
			      vm->rec.name, (int)vm->pid, START_TIMEOUT_MS / 1000, vm->paths.log);
	else
		api_error_set(err, vm->rec.state == VM_STATE_OFF ? API_ERR_STATE : API_ERR_WORKER,
			      "VM '%s' did not start: it is %s (%s)", vm->rec.name,
			      vm_state_name(vm->rec.state), vm->rec.status);
	return NULL;
}

static struct json_object *call_start_vm(struct service *svc, const struct api_request *req,
					 struct api_error *err)
{
	struct vm *vm = lookup(svc, req, err);

	return vm ? start_vm(svc, vm, "start-vm", err) : NULL;
}

/* Sends the worker's turn-off; if it does not answer, SIGKILL. Lock held. */
static void turn_off_worker(struct service *svc, struct vm *vm)
{
	struct json_object *ans = NULL;
	pid_t pid = vm->pid;
	int fd = vm->pidfd;

	if (call_worker(svc, vm, "turn-off", NULL, CONTROL_TIMEOUT_MS, &ans) < 0 &&
	    vm->pidfd == fd && pid > 0 && proc_start_time(pid) == vm->start_time) {
		pv_log(LOG_WARN, "VM '%s': the worker does not answer: killing it", vm->rec.name);
		kill(pid, SIGKILL);
	}
	json_object_put(ans);
}

static struct json_object *stop_vm(struct service *svc, struct vm *vm, bool force, bool turn_off,
				   uint64_t timeout_s, struct api_error *err)
{
	static const enum vm_state ok[] = {VM_STATE_STARTING, VM_STATE_RUNNING, VM_STATE_PAUSED};
	struct json_object *ans = NULL, *res;
	const char *method = turn_off ? "turn off" : NULL;
	char reason[VM_REASON_MAX];
	uint64_t deadline;
	int r;

	if (!vm->unreadable && vm->rec.state == VM_STATE_CRITICAL && vm->pidfd < 0 && turn_off) {
		(void)transition(svc, vm, VM_STATE_OFF,
				 "stop-vm --turn-off of a VM whose worker died");
		return vm_json(vm);
	}
	if (!vm->unreadable && vm->rec.state == VM_STATE_OFF) {
		api_error_set(err, API_ERR_STATE, "stop-vm: VM '%s' is already Off", vm->rec.name);
		return NULL;
	}
	if (need_state(vm, "stop-vm", ok, 3,
		       vm->rec.state == VM_STATE_CRITICAL ? "use --turn-off to mark it Off"
							  : "wait for the current operation",
		       err) < 0)
		return NULL;
	snprintf(reason, sizeof(reason), "stop-vm%s",
		 turn_off ? " --turn-off"
		 : force  ? " --force"
			  : "");
	if (transition(svc, vm, VM_STATE_STOPPING, reason) < 0) {
		api_error_set(err, API_ERR_STATE, "stop-vm: not allowed from %s",
			      vm_state_name(vm->rec.state));
		return NULL;
	}
	vm->refs++;
	if (turn_off) {
		turn_off_worker(svc, vm);
	} else {
		r = call_worker(svc, vm, "shutdown", NULL, CONTROL_TIMEOUT_MS, &ans);
		method = r == 0 && worker_ok(ans) ? status_string(ans, "method") : NULL;
		if (!method) {
			pv_log(LOG_WARN,
			       "VM '%s': the worker did not take the shutdown request: %s",
			       vm->rec.name, r < 0 ? strerror(-r) : worker_error(ans));
			method = "none (the worker did not answer)";
		}
		method = method ? strdupa(method) : NULL;
	}
	json_object_put(ans);
	deadline = time_monotonic_ns() + timeout_s * 1000000000ull;
	wait_leave(svc, vm, VM_STATE_STOPPING, deadline);
	if (vm->rec.state == VM_STATE_STOPPING && !vm->removed && force && !turn_off) {
		pv_log(LOG_INFO, "VM '%s': the guest did not shut down in %llu s: turning it off",
		       vm->rec.name, (unsigned long long)timeout_s);
		turn_off_worker(svc, vm);
		method = "turned off after the timeout (--force)";
		wait_leave(svc, vm, VM_STATE_STOPPING,
			   time_monotonic_ns() + TURN_OFF_GRACE_S * 1000000000ull);
	}
	if (vm->rec.state == VM_STATE_STOPPING && !vm->removed && turn_off) {
		/* the worker did not end after turn-off: it is stuck */
		if (vm->pid > 0 && proc_start_time(vm->pid) == vm->start_time)
			kill(vm->pid, SIGKILL);
		wait_leave(svc, vm, VM_STATE_STOPPING,
			   time_monotonic_ns() + TURN_OFF_GRACE_S * 1000000000ull);
	}
	vm->refs--;
	if (vm->rec.state == VM_STATE_STOPPING) {
		char why[VM_REASON_MAX];

		snprintf(why, sizeof(why), "the guest did not shut down within %llu s",
			 (unsigned long long)timeout_s);
		(void)transition(svc, vm, VM_STATE_RUNNING, why);
		api_error_set(
			err, API_ERR_TIMEOUT,
			"VM '%s': the guest did not shut down within %llu s (asked via %s); it "
			"is still Running: use --force to turn it off after the timeout, or "
			"--turn-off",
			vm->rec.name, (unsigned long long)timeout_s, method);
		return NULL;
	}
	res = vm_json(vm);
	json_object_object_add(res, "method", json_object_new_string(method ? method : ""));
	return res;
}

static struct json_object *call_stop_vm(struct service *svc, const struct api_request *req,
					struct api_error *err)
{
	uint64_t timeout = DEFAULT_STOP_TIMEOUT;
	bool force = false, turn_off = false;
	struct vm *vm = lookup(svc, req, err);

	if (!vm || api_param_bool(req, "force", &force, err) < 0 ||
	    api_param_bool(req, "turn_off", &turn_off, err) < 0 ||
	    api_param_u64(req, "timeout_s", false, 86400, &timeout, err) < 0)
		return NULL;
	return stop_vm(svc, vm, force, turn_off, timeout, err);
}

static struct json_object *call_restart_vm(struct service *svc, const struct api_request *req,
					   struct api_error *err)
{
	static const enum vm_state ok[] = {VM_STATE_RUNNING};
	struct json_object *ans = NULL;
	struct vm *vm = lookup(svc, req, err);
	bool force = false;
	int r;

	if (!vm || api_param_bool(req, "force", &force, err) < 0 ||
	    need_state(vm, "restart-vm", ok, 1, "start it with parvis start-vm", err) < 0)
		return NULL;
	if (force) {
		if (!stop_vm(svc, vm, false, true, 30, err))
			return NULL;
		return start_vm(svc, vm, "restart-vm --force", err);
	}
	r = call_worker(svc, vm, "restart", NULL, CONTROL_TIMEOUT_MS, &ans);
	if (r < 0 || !worker_ok(ans)) {
		api_error_set(
			err, API_ERR_WORKER,
			"restart-vm: VM '%s': %s; use --force to turn it off and start it again",
			vm->rec.name, r < 0 ? strerror(-r) : worker_error(ans));
		json_object_put(ans);
		return NULL;
	}
	json_object_put(ans);
	vm_record_transition(&vm->rec, vm->rec.state, now_ms(), "restart-vm: the guest restarts");
	if (inventory_write(svc->state_dir, &vm->rec) < 0)
		pv_log(LOG_ERR, "VM '%s': cannot write its file", vm->rec.name);
	return vm_json(vm);
}

static struct json_object *call_pause(struct service *svc, const struct api_request *req,
				      bool pause, struct api_error *err)
{
	enum vm_state from = pause ? VM_STATE_RUNNING : VM_STATE_PAUSED;
	struct json_object *ans = NULL;
	struct vm *vm = lookup(svc, req, err);
	const char *call = pause ? "suspend-vm" : "resume-vm";
	int r;

	if (!vm || need_state(vm, call, &from, 1, NULL, err) < 0)
		return NULL;
	r = call_worker(svc, vm, pause ? "pause" : "resume", NULL, CONTROL_TIMEOUT_MS, &ans);
	if (r < 0 || !worker_ok(ans)) {
		api_error_set(err, API_ERR_WORKER, "%s: VM '%s': the worker refused: %s", call,
			      vm->rec.name, r < 0 ? strerror(-r) : worker_error(ans));
		json_object_put(ans);
		return NULL;
	}
	json_object_put(ans);
	if (vm->rec.state == from)
		(void)transition(svc, vm, pause ? VM_STATE_PAUSED : VM_STATE_RUNNING, call);
	return vm_json(vm);
}

static void remove_run_dir(const struct worker_paths *wp)
{
	unlink(wp->config);
	unlink(wp->console_log);
	unlink(wp->log);
	unlink(wp->exit_status);
	unlink(wp->record);
	unlink(wp->control);
	unlink(wp->console);
	rmdir(wp->dir);
}

static struct json_object *call_remove_vm(struct service *svc, const struct api_request *req,
					  struct api_error *err)
{
	struct vm *vm = lookup(svc, req, err), **pp;
	bool force = false;
	int r;

	if (!vm || api_param_bool(req, "force", &force, err) < 0)
		return NULL;
	if (vm_state_has_worker(vm->rec.state)) {
		if (!force) {
			api_error_set(
				err, API_ERR_STATE,
				"remove-vm: VM '%s' is %s; stop it first (parvis stop-vm %s) or "
				"use --force to turn it off",
				vm->rec.name, vm_state_name(vm->rec.state), vm->rec.name);
			return NULL;
		}
		if (!stop_vm(svc, vm, false, true, 30, err))
			return NULL;
	}
	if (vm->pidfd >= 0 || vm->refs) {
		api_error_set(err, API_ERR_STATE, "remove-vm: VM '%s' is busy; try again",
			      vm->rec.name);
		return NULL;
	}
	r = inventory_remove(svc->state_dir, vm->rec.id);
	if (r < 0) {
		api_error_set(err, API_ERR_HOST, "cannot remove the VM's file: %s", strerror(-r));
		return NULL;
	}
	remove_run_dir(&vm->paths);
	for (pp = &svc->vms; *pp; pp = &(*pp)->next)
		if (*pp == vm) {
			*pp = vm->next;
			break;
		}
	pv_log(LOG_INFO, "VM '%s' removed", vm->rec.name);
	emit(svc, vm_event("vm-removed", vm));
	vm->removed = true;
	pthread_cond_broadcast(&svc->changed);
	vm_free(vm);
	return NULL;
}

static struct json_object *call_set_vm(struct service *svc, const struct api_request *req,
				       struct api_error *err)
{
	static const enum vm_state off[] = {VM_STATE_OFF};
	const char *cmdline = NULL, *notes = NULL, *new_name = NULL;
	uint64_t cpus = 0, memory = 0;
	struct vm *vm = lookup(svc, req, err);
	struct vm_record saved;
	char why[256];
	int r;

	if (!vm || api_param_u64(req, "cpus", false, 1u << 20, &cpus, err) < 0 ||
	    api_param_u64(req, "memory_bytes", false, UINT64_MAX >> 1, &memory, err) < 0 ||
	    api_param_string(req, "cmdline", false, VM_CMDLINE_MAX, &cmdline, err) < 0 ||
	    api_param_string(req, "notes", false, VM_NOTES_MAX, &notes, err) < 0 ||
	    api_param_string(req, "new_name", false, 1024, &new_name, err) < 0)
		return NULL;
	if ((cpus || memory || cmdline || new_name) &&
	    need_state(vm, "set-vm", off, 1,
		       "vCPUs, memory, command line and name change only while Off", err) < 0)
		return NULL;
	if (vm->unreadable) {
		api_error_set(err, API_ERR_STATE,
			      "VM '%s' is unreadable; only remove-vm can act on it", vm->rec.name);
		return NULL;
	}
	if ((json_object_object_get_ex(req->params, "cpus", NULL) && check_cpus(cpus, err) < 0) ||
	    (memory && check_memory(svc, memory, err) < 0))
		return NULL;
	if (new_name) {
		if (vm_name_check(new_name, why, sizeof(why)) < 0) {
			api_error_set(err, API_ERR_INVALID, "%s", why);
			return NULL;
		}
		if (vm_find(svc, new_name) && vm_find(svc, new_name) != vm) {
			api_error_set(err, API_ERR_EXISTS, "a VM named '%s' already exists",
				      new_name);
			return NULL;
		}
	}
	saved = vm->rec; /* shallow: pointers replaced below are freed only on success */
	if (cpus)
		vm->rec.cpus = (unsigned)cpus;
	if (memory)
		vm->rec.memory_bytes = memory;
	if (cmdline)
		vm->rec.cmdline = strdup(cmdline);
	if (notes)
		vm->rec.notes = strdup(notes);
	if (new_name)
		vm->rec.name = strdup(new_name);
	r = inventory_write(svc->state_dir, &vm->rec);
	if (r < 0) {
		if (cmdline)
			free(vm->rec.cmdline);
		if (notes)
			free(vm->rec.notes);
		if (new_name)
			free(vm->rec.name);
		vm->rec = saved;
		api_error_set(err, API_ERR_HOST, "cannot write the VM's file: %s", strerror(-r));
		return NULL;
	}
	if (cmdline)
		free(saved.cmdline);
	if (notes)
		free(saved.notes);
	if (new_name)
		free(saved.name);
	return vm_json(vm);
}

static struct json_object *call_add_disk(struct service *svc, const struct api_request *req,
					 struct api_error *err)
{
	static const enum vm_state ok[] = {VM_STATE_OFF, VM_STATE_RUNNING, VM_STATE_PAUSED,
					   VM_STATE_CRITICAL};
	struct vm *vm = lookup(svc, req, err);
	uint64_t controller = 0, lun = UINT64_MAX;
	struct vm_disk *d;
	bool readonly = false;
	const char *path;
	unsigned i;

	if (!vm || api_param_string(req, "path", true, VM_PATH_MAX, &path, err) < 0 ||
	    api_param_bool(req, "readonly", &readonly, err) < 0 ||
	    api_param_u64(req, "controller", false, 0, &controller, err) < 0 ||
	    api_param_u64(req, "lun", false, 63, &lun, err) < 0 ||
	    need_state(vm, "add-vmharddiskdrive", ok, 4, "wait for it to be Off or Running", err) <
		    0)
		return NULL;
	if (check_disk(svc, vm, path, err) < 0)
		return NULL;
	if (vm->rec.ndisks == VM_MAX_DISKS) {
		api_error_set(err, API_ERR_INVALID, "VM '%s' has %d disks already", vm->rec.name,
			      VM_MAX_DISKS);
		return NULL;
	}
	for (i = 0; i < vm->rec.ndisks; i++) {
		if (!strcmp(vm->rec.disks[i].path, path)) {
			api_error_set(err, API_ERR_EXISTS,
				      "disk '%s' is already attached to VM '%s'", path,
				      vm->rec.name);
			return NULL;
		}
		if (lun != UINT64_MAX && vm->rec.disks[i].lun == lun) {
			api_error_set(err, API_ERR_EXISTS, "LUN %llu of VM '%s' is taken by '%s'",
				      (unsigned long long)lun, vm->rec.name, vm->rec.disks[i].path);
			return NULL;
		}
	}
	if (lun == UINT64_MAX) /* the lowest free LUN */
		for (lun = 0; lun < 64; lun++) {
			for (i = 0; i < vm->rec.ndisks && vm->rec.disks[i].lun != lun; i++)
				;
			if (i == vm->rec.ndisks)
				break;
		}
	if (vm_state_has_worker(vm->rec.state)) {
		struct json_object *extra = json_object_new_object(), *ans = NULL, *v;
		int r;

		json_object_object_add(extra, "path", json_object_new_string(path));
		json_object_object_add(extra, "readonly", json_object_new_boolean(readonly));
		json_object_object_add(extra, "controller", json_object_new_int((int)controller));
		json_object_object_add(extra, "lun", json_object_new_int((int)lun));
		r = call_worker(svc, vm, "disk-add", extra, CONTROL_TIMEOUT_MS, &ans);
		if (r < 0 || !worker_ok(ans)) {
			api_error_set(err, API_ERR_WORKER,
				      "add-vmharddiskdrive: the worker of VM '%s' refused: %s",
				      vm->rec.name, r < 0 ? strerror(-r) : worker_error(ans));
			json_object_put(ans);
			return NULL;
		}
		if (json_object_object_get_ex(ans, "lun", &v) &&
		    json_object_is_type(v, json_type_int))
			lun = (uint64_t)json_object_get_int(v);
		json_object_put(ans);
		if (vm->removed || vm->rec.ndisks == VM_MAX_DISKS) {
			api_error_set(err, API_ERR_STATE, "the VM changed meanwhile");
			return NULL;
		}
	}
	d = &vm->rec.disks[vm->rec.ndisks++];
	d->path = strdup(path);
	d->readonly = readonly;
	d->controller = (unsigned)controller;
	d->lun = (unsigned)lun;
	if (inventory_write(svc->state_dir, &vm->rec) < 0)
		pv_log(LOG_ERR, "VM '%s': cannot write its file", vm->rec.name);
	return vm_json(vm);
}

static struct json_object *call_remove_disk(struct service *svc, const struct api_request *req,
					    struct api_error *err)
{
	static const enum vm_state ok[] = {VM_STATE_OFF, VM_STATE_RUNNING, VM_STATE_PAUSED,
					   VM_STATE_CRITICAL};
	struct vm *vm = lookup(svc, req, err);
	uint64_t lun = UINT64_MAX;
	const char *path = NULL;
	unsigned i;

	if (!vm || api_param_string(req, "path", false, VM_PATH_MAX, &path, err) < 0 ||
	    api_param_u64(req, "lun", false, 63, &lun, err) < 0 ||
	    need_state(vm, "remove-vmharddiskdrive", ok, 4, "wait for it to be Off or Running",
		       err) < 0)
		return NULL;
	if (!path && lun == UINT64_MAX) {
		api_error_set(err, API_ERR_BAD_REQUEST, "give the disk's \"path\" or its \"lun\"");
		return NULL;
	}
	for (i = 0; i < vm->rec.ndisks; i++)
		if (path ? !strcmp(vm->rec.disks[i].path, path) : vm->rec.disks[i].lun == lun)
			break;
	if (i == vm->rec.ndisks) {
		if (path)
			api_error_set(err, API_ERR_NOT_FOUND, "VM '%s' has no disk '%s'",
				      vm->rec.name, path);
		else
			api_error_set(err, API_ERR_NOT_FOUND, "VM '%s' has no disk at LUN %llu",
				      vm->rec.name, (unsigned long long)lun);
		return NULL;
	}
	if (vm_state_has_worker(vm->rec.state)) {
		struct json_object *extra = json_object_new_object(), *ans = NULL;
		char *p = strdupa(vm->rec.disks[i].path);
		int r;

		json_object_object_add(extra, "controller",
				       json_object_new_int((int)vm->rec.disks[i].controller));
		json_object_object_add(extra, "lun",
				       json_object_new_int((int)vm->rec.disks[i].lun));
		r = call_worker(svc, vm, "disk-remove", extra, CONTROL_TIMEOUT_MS, &ans);
		if (r < 0 || !worker_ok(ans)) {
			api_error_set(err, API_ERR_WORKER,
				      "remove-vmharddiskdrive: the worker of VM '%s' refused: %s",
				      vm->rec.name, r < 0 ? strerror(-r) : worker_error(ans));
			json_object_put(ans);
			return NULL;
		}
		json_object_put(ans);
		for (i = 0; i < vm->rec.ndisks && strcmp(vm->rec.disks[i].path, p); i++)
			;
		if (i == vm->rec.ndisks)
			return vm_json(vm);
	}
	free(vm->rec.disks[i].path);
	memmove(&vm->rec.disks[i], &vm->rec.disks[i + 1],
		sizeof(vm->rec.disks[0]) * (vm->rec.ndisks - i - 1));
	vm->rec.ndisks--;
	if (inventory_write(svc->state_dir, &vm->rec) < 0)
		pv_log(LOG_ERR, "VM '%s': cannot write its file", vm->rec.name);
	return vm_json(vm);
}

static struct json_object *ic_entry(const char *name, struct json_object *ic, const char *status)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "enabled", json_object_new_boolean(1));
	json_object_object_add(o, "status", json_object_new_string(status));
	json_object_object_add(o, "detail", json_object_get(ic));
	return o;
}

static struct json_object *call_get_ic(struct service *svc, const struct api_request *req,
				       struct api_error *err)
{
	static const enum vm_state ok[] = {VM_STATE_RUNNING, VM_STATE_PAUSED, VM_STATE_STOPPING};
	struct json_object *st = NULL, *vmbus = NULL, *list, *res, *ic, *items;
	static const char *const ics[][2] = {{"Heartbeat", "heartbeat"},
					     {"Shutdown", "shutdown"},
					     {"Time Synchronization", "timesync"},
					     {"Key-Value Pair Exchange", "kvp"}};
	struct vm *vm = lookup(svc, req, err);
	unsigned i;
	int r;

	if (!vm || need_state(vm, "get-vmintegrationservice", ok, 3, "start it first", err) < 0)
		return NULL;
	r = call_worker(svc, vm, "status", NULL, STATUS_TIMEOUT_MS, &st);
	if (r < 0) {
		api_error_set(err, API_ERR_WORKER, "the worker of VM '%s' does not answer: %s",
			      vm->rec.name, strerror(-r));
		return NULL;
	}
	if (vm->pidfd >= 0 && !vm->removed)
		apply_status(svc, vm, json_object_get(st));
	json_object_object_get_ex(st, "vmbus", &vmbus);
	list = json_object_new_array();
	for (i = 0; i < 4; i++) {
		const char *state, *status;

		ic = NULL;
		if (vmbus)
			json_object_object_get_ex(vmbus, ics[i][1], &ic);
		state = status_string(ic, "state");
		if (!state || strcmp(state, "ready"))
			status = "No Contact";
		else if (i == 0)
			status = status_heartbeat_alive(st) ? "OK" : "Lost Communication";
		else
			status = "OK";
		json_object_array_add(list, ic_entry(ics[i][0], ic, status));
	}
	res = json_object_new_object();
	json_object_object_add(res, "name", json_object_new_string(vm->rec.name));
	json_object_object_add(res, "services", list);
	ic = NULL;
	items = NULL;
	if (vmbus && json_object_object_get_ex(vmbus, "kvp", &ic))
		json_object_object_get_ex(ic, "items", &items);
	json_object_object_add(res, "kvp_items",
			       items ? json_object_get(items) : json_object_new_array());
	json_object_put(st);
	return res;
}

static struct json_object *call_get_console(struct service *svc, const struct api_request *req,
					    struct api_error *err)
{
	struct vm *vm = lookup(svc, req, err);
	struct json_object *res;

	if (!vm)
		return NULL;
	if (!vm_state_has_worker(vm->rec.state)) {
		api_error_set(
			err, API_ERR_STATE,
			"VM '%s' is %s: its console exists while it runs (start it with parvis "
			"start-vm %s; its last output is in %s)",
			vm->rec.name, vm_state_name(vm->rec.state), vm->rec.name,
			vm->paths.console_log);
		return NULL;
	}
	res = json_object_new_object();
	json_object_object_add(res, "socket", json_object_new_string(vm->paths.console));
	json_object_object_add(res, "log", json_object_new_string(vm->paths.console_log));
	return res;
}

static struct json_object *call_get_history(struct service *svc, const struct api_request *req,
					    struct api_error *err)
{
	struct vm *vm = lookup(svc, req, err);
	struct json_object *rec, *res, *h = NULL;

	if (!vm)
		return NULL;
	rec = vm_record_to_json(&vm->rec);
	json_object_object_get_ex(rec, "history", &h);
	res = json_object_new_object();
	json_object_object_add(res, "name", json_object_new_string(vm->rec.name));
	json_object_object_add(res, "history", json_object_get(h));
	json_object_put(rec);
	return res;
}

struct json_object *service_call(struct service *svc, const struct api_request *req, int event_fd,
				 bool *subscribed)
{
	struct api_error err = {0};
	struct json_object *res = NULL;
	bool is_remove = req->call == API_CALL_REMOVE_VM;

	pthread_mutex_lock(&svc->lock);
	switch (req->call) {
	case API_CALL_NEW_VM: res = call_new_vm(svc, req, &err); break;
	case API_CALL_GET_VM: res = call_get_vm(svc, req, &err); break;
	case API_CALL_START_VM: res = call_start_vm(svc, req, &err); break;
	case API_CALL_STOP_VM: res = call_stop_vm(svc, req, &err); break;
	case API_CALL_RESTART_VM: res = call_restart_vm(svc, req, &err); break;
	case API_CALL_SUSPEND_VM: res = call_pause(svc, req, true, &err); break;
	case API_CALL_RESUME_VM: res = call_pause(svc, req, false, &err); break;
	case API_CALL_REMOVE_VM: res = call_remove_vm(svc, req, &err); break;
	case API_CALL_SET_VM: res = call_set_vm(svc, req, &err); break;
	case API_CALL_ADD_VMHARDDISKDRIVE: res = call_add_disk(svc, req, &err); break;
	case API_CALL_REMOVE_VMHARDDISKDRIVE: res = call_remove_disk(svc, req, &err); break;
	case API_CALL_GET_VMINTEGRATIONSERVICE: res = call_get_ic(svc, req, &err); break;
	case API_CALL_GET_VMCONSOLE: res = call_get_console(svc, req, &err); break;
	case API_CALL_GET_VMHISTORY: res = call_get_history(svc, req, &err); break;
	case API_CALL_SUBSCRIBE:
		if (svc->nevents == MAX_EVENT_SINKS) {
			api_error_set(&err, API_ERR_HOST, "too many subscribers (%d)",
				      MAX_EVENT_SINKS);
			break;
		}
		/* Answered here, under the lock, so that no event can overtake the answer. */
		res = api_answer_ok(req, NULL);
		if (res && jsonline_send(event_fd, res) == 0) {
			svc->event_fds[svc->nevents++] = event_fd;
			*subscribed = true;
		}
		json_object_put(res);
		pthread_mutex_unlock(&svc->lock);
		return NULL;
	case API_CALL_VERSION:
		res = json_object_new_object();
		json_object_object_add(res, "api", json_object_new_int(API_VERSION));
		json_object_object_add(res, "service",
				       json_object_new_string("parvis-vmms " PARVIS_VERSION));
		break;
	case API_CALL_COUNT: break;
	}
	pthread_mutex_unlock(&svc->lock);
	if (!res && !err.code && !is_remove)
		api_error_set(&err, API_ERR_HOST, "internal error");
	return err.code ? api_answer_error(req, &err) : api_answer_ok(req, res);
}

/* --- loading and finding workers again ---------------------------------------------------- */

/* A VM whose file says it had a worker: is that worker still there? Under the lock. */
static void find_worker(struct service *svc, struct vm *vm)
{
	pid_t pid;
	uint64_t start;
	int fd;

	if (worker_record_read(&vm->paths, &pid, &start) < 0 || proc_start_time(pid) != start ||
	    proc_is_zombie(pid) || (fd = pidfd_open_pid(pid)) < 0) {
		int status = worker_exit_status_read(&vm->paths);
		char reason[VM_REASON_MAX];

		if (status == 0 || status == 5) {
			(void)transition(svc, vm, VM_STATE_OFF,
					 "the worker ended while the service was down");
		} else {
			if (status > 0)
				snprintf(reason, sizeof(reason),
					 "the worker exited with status %d (%s) while the service "
					 "was down",
					 status, worker_exit_status_name(status));
			else
				snprintf(reason, sizeof(reason),
					 "the worker is gone (it ended while the service was down, "
					 "leaving no exit status)");
			(void)transition(svc, vm, VM_STATE_CRITICAL, reason);
		}
		unlink(vm->paths.record);
		return;
	}
	vm->pid = pid;
	vm->start_time = start;
	vm->pidfd = fd;
	vm->child = false;
	pv_log(LOG_INFO, "VM '%s': found its worker again (pid %d, %s)", vm->rec.name, (int)pid,
	       vm_state_name(vm->rec.state));
	if (vm->rec.state == VM_STATE_STOPPING) /* the stop-vm that waited for it is gone */
		(void)transition(svc, vm, VM_STATE_RUNNING,
				 "the service restarted during a stop; the VM runs on");
}

static void load_one(void *opaque, const char *id, struct vm_record *r, const char *error)
{
	struct service *svc = opaque;
	struct vm *vm = calloc(1, sizeof(*vm));
	char why[VM_REASON_MAX];

	if (!vm) {
		if (r)
			vm_record_fini(r);
		return;
	}
	vm->pidfd = -1;
	if (r) {
		vm->rec = *r;
		if (vm_find(svc, r->name)) {
			pv_log(LOG_ERR, "VM file %s.json: the name '%s' is used twice", id,
			       r->name);
			vm->unreadable = true;
		}
	} else {
		vm_record_init(&vm->rec);
		snprintf(vm->rec.id, sizeof(vm->rec.id), "%.36s", id);
		vm->rec.name = strdup(id);
		vm->unreadable = true;
		snprintf(why, sizeof(why), "configuration unreadable: %s", error);
		vm->rec.state = VM_STATE_CRITICAL;
		snprintf(vm->rec.status, sizeof(vm->rec.status), "%s", why);
		pv_log(LOG_ERR, "VM file %s/vms/%s.json: %s", svc->state_dir, id, why);
	}
	if (worker_paths_init(&vm->paths, svc->state_dir, vm->rec.id) < 0)
		pv_log(LOG_ERR, "VM %s: run directory path too long", id);
	vm->next = svc->vms;
	svc->vms = vm;
	if (!vm->unreadable && vm_state_has_worker(vm->rec.state))
		find_worker(svc, vm);
}

unsigned service_running_count(struct service *svc)
{
	struct vm *vm;
	unsigned n = 0;

	pthread_mutex_lock(&svc->lock);
	for (vm = svc->vms; vm; vm = vm->next)
		n += vm->pidfd >= 0;
	pthread_mutex_unlock(&svc->lock);
	return n;
}

int service_new(const struct service_config *cfg, struct service **ret, char *err, size_t errlen)
{
	struct service *svc = calloc(1, sizeof(*svc));
	int r;

	if (!svc)
		return -ENOMEM;
	svc->cfg = *cfg;
	svc->state_dir = strdup(cfg->state_dir);
	svc->vmwp = strdup(cfg->vmwp);
	svc->cfg.state_dir = svc->state_dir;
	svc->cfg.vmwp = svc->vmwp;
	if (!svc->cfg.poll_ms)
		svc->cfg.poll_ms = 1000;
	pthread_mutex_init(&svc->lock, NULL);
	pthread_cond_init(&svc->changed, NULL);
	svc->ticks_per_s = sysconf(_SC_CLK_TCK);
	svc->host_cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (svc->host_cpus < 1)
		svc->host_cpus = 1;
	svc->host_ram = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
	svc->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!svc->state_dir || !svc->vmwp || svc->wake_fd < 0) {
		snprintf(err, errlen, "out of memory");
		service_free(svc);
		return -ENOMEM;
	}
	pthread_mutex_lock(&svc->lock);
	r = inventory_load(svc->state_dir, load_one, svc);
	pthread_mutex_unlock(&svc->lock);
	if (r < 0) {
		snprintf(err, errlen, "cannot read %s/vms: %s", svc->state_dir, strerror(-r));
		service_free(svc);
		return r;
	}
	r = -pthread_create(&svc->monitor, NULL, monitor_main, svc);
	if (r < 0) {
		snprintf(err, errlen, "cannot start the monitor thread");
		service_free(svc);
		return r;
	}
	svc->monitor_running = true;
	*ret = svc;
	return 0;
}

struct service *service_free(struct service *svc)
{
	struct vm *vm;

	if (!svc)
		return NULL;
	if (svc->monitor_running) {
		svc->stopping = true;
		wake_monitor(svc);
		pthread_join(svc->monitor, NULL);
	}
	while ((vm = svc->vms)) {
		svc->vms = vm->next;
		vm_free(vm);
	}
	if (svc->wake_fd >= 0)
		close(svc->wake_fd);
	free(svc->state_dir);
	free(svc->vmwp);
	free(svc);
	return NULL;
}

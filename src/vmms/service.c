/*
 * The management service's core (service.h): the VMs and their
 * transitions, events, the monitor thread, loading the inventory and
 * finding workers again; the API calls are in power.c and calls.c.
 * One lock (svc->lock) protects the VM list, every VM's record and runtime
 * fields, and the event sinks. Calls to a worker's control socket are made without it (a worker
 * may be slow); a VM is kept alive across them by its reference count.
 * State changes wake svc->changed, on which long calls (start-vm, stop-vm)
 * wait. The monitor thread is the only one that reaps workers.
 */
#include "base/compiler.h"
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
#include "vmms/network.h"
#include "vmms/migration_service.h"
#include "vmms/service_internal.h"
#include "vmms/vm_state.h"
#include "vmms/worker.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

int64_t svc_now_ms(void)
{
	return (int64_t)(time_realtime_ns() / 1000000);
}

/* Per client thread: a call runs on its client's thread from start to end, lock or not. */
static _Thread_local const struct api_caller *current_caller;

void svc_set_caller(const struct api_caller *c)
{
	current_caller = c;
}

const struct api_caller *svc_caller(void)
{
	return current_caller;
}

int64_t svc_caller_uid(void)
{
	return current_caller ? (int64_t)current_caller->uid : VM_BY_SERVICE;
}

/* --- events ---------------------------------------------------------------------------- */

void svc_emit(struct service *svc, struct json_object *ev)
{
	const char *s;
	size_t len;
	unsigned i;

	json_object_object_add(ev, "time_ms", json_object_new_int64(svc_now_ms()));
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

struct json_object *svc_vm_event(const char *type, const struct vm *vm)
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

struct vm *svc_vm_find(struct service *svc, const char *name)
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

void svc_vm_free(struct vm *vm)
{
	if (vm->pidfd >= 0)
		close(vm->pidfd);
	json_object_put(vm->status);
	vm_record_fini(&vm->rec);
	free(vm);
}

void svc_vm_put(struct service *svc, struct vm *vm)
{
	if (--vm->refs == 0) {
		if (vm->removed)
			svc_vm_free(vm);
		else
			pthread_cond_broadcast(&svc->changed); /* remove-vm may wait for this */
	}
}

/*
 * Moves vm to state `to`, checked against the table, recorded in its
 * history and its file, announced as an event. Under svc->lock.
 */
int svc_transition(struct service *svc, struct vm *vm, enum vm_state to, const char *reason)
{
	enum vm_state from = vm->rec.state;
	struct json_object *ev;
	int r;

	if (!vm_state_transition_allowed(from, to)) {
		pv_log(LOG_ERR, "VM '%s': refused transition %s -> %s (%s)", vm->rec.name,
		       vm_state_name(from), vm_state_name(to), reason);
		return -EPERM;
	}
	vm_record_transition(&vm->rec, to, svc_now_ms(), reason, svc_caller_uid());
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
	ev = svc_vm_event("state-changed", vm);
	json_object_object_add(ev, "from", json_object_new_string(vm_state_name(from)));
	json_object_object_add(ev, "to", json_object_new_string(vm_state_name(to)));
	json_object_object_add(ev, "reason", json_object_new_string(reason));
	svc_emit(svc, ev);
	pthread_cond_broadcast(&svc->changed);
	return 0;
}

void svc_wake_monitor(struct service *svc)
{
	uint64_t one = 1;

	IGNORE_RESULT(write(svc->wake_fd, &one, sizeof(one)));
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
		/*
		 * SIGSYS is the jail's seccomp filter: the worker's handler wrote which system
		 * call on which thread as its last log line (src/vmwp/sandbox.c).
		 */
		const char *sc = sig == SIGSYS ? strstr(last, "seccomp: ") : NULL;

		uint64_t kills = 0;
		char oom[160] = "";

		/* SIGKILL from the kernel's memory cgroup: the VM reached its memory maximum. */
		if (sig == SIGKILL && svc->cgroups &&
		    cgroup_vm_oom_kills(svc->cgroups, vm->rec.id, &kills) == 0 && kills)
			snprintf(oom, sizeof(oom),
				 ": the VM reached its memory maximum (%llu MiB; set-vmmemory) and "
				 "the kernel's memory cgroup killed it",
				 (unsigned long long)(vm->rec.memory_maximum >> 20));
		snprintf(reason, sizeof(reason),
			 "the worker (pid %d) was killed by signal %d (%s)%s%s%s", (int)vm->pid,
			 sig, strsignal(sig), sc ? ": " : "", sc ? sc : "", oom);
		to = VM_STATE_CRITICAL;
	} else if (status == 0 && vm->rec.state == VM_STATE_SAVING) {
		snprintf(reason, sizeof(reason), "the worker saved the VM and ended");
		to = VM_STATE_SAVED;
	} else if (status == 0 && vm->migrated) {
		/* move-vm: the destination runs the guest now (migration_move.c removes it here).
		 */
		snprintf(reason, sizeof(reason), "the VM moved to another host (move-vm)");
		to = VM_STATE_OFF;
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
	svc_cgroup_release(svc, vm);
	svc_net_vm_stopped(svc, vm);
	if (vm->rec.state == to)
		return;
	if (svc_transition(svc, vm, to, reason) < 0 && to == VM_STATE_OFF)
		(void)svc_transition(svc, vm, VM_STATE_CRITICAL, reason);
}

/* The heartbeat "alive" of a status answer. */
bool svc_status_heartbeat_alive(struct json_object *st)
{
	struct json_object *vmbus, *hb, *alive;

	return st && json_object_object_get_ex(st, "vmbus", &vmbus) &&
	       json_object_object_get_ex(vmbus, "heartbeat", &hb) &&
	       json_object_object_get_ex(hb, "alive", &alive) && json_object_get_boolean(alive);
}

const char *svc_status_string(struct json_object *st, const char *key)
{
	struct json_object *v;

	return st && json_object_object_get_ex(st, key, &v) &&
			       json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

/* Takes a worker's status answer (taken over) into vm; under the lock. */
void svc_apply_status(struct service *svc, struct vm *vm, struct json_object *st)
{
	bool alive = svc_status_heartbeat_alive(st);
	const char *state = svc_status_string(st, "state");
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
		svc_emit(svc, svc_vm_event(alive ? "heartbeat-regained" : "heartbeat-lost", vm));
		pv_log(LOG_INFO, "VM '%s': heartbeat %s", vm->rec.name, alive ? "OK" : "lost");
	}
	/* A worker found running after a restart of the service, or a start-vm that gave up. */
	if (vm->rec.state == VM_STATE_STARTING && state &&
	    (!strcmp(state, "running") || !strcmp(state, "paused")))
		(void)svc_transition(svc, vm, VM_STATE_RUNNING, "the worker is running");
}

/* Room for n entries; false (and the old room) if memory runs out. */
static bool watch_reserve(struct svc_watch *w, unsigned n)
{
	struct pollfd *fds;
	struct vm **vms;
	unsigned cap = w->cap ? w->cap : 16;

	if (n <= w->cap)
		return true;
	while (cap < n)
		cap *= 2;
	fds = realloc(w->fds, cap * sizeof(*fds));
	if (!fds)
		return false;
	w->fds = fds;
	vms = realloc(w->vms, cap * sizeof(*vms));
	if (!vms)
		return false;
	w->vms = vms;
	w->cap = cap;
	return true;
}

unsigned svc_watch_collect(struct service *svc, struct svc_watch *w, unsigned first)
{
	unsigned n = first, want = first;
	struct vm *vm;

	for (vm = svc->vms; vm; vm = vm->next)
		want += vm->pidfd >= 0;
	if (!watch_reserve(w, want))
		pv_log(LOG_ERR, "monitor: no memory to watch %u workers; watching %u", want - first,
		       w->cap > first ? w->cap - first : 0);
	for (vm = svc->vms; vm && n < w->cap; vm = vm->next)
		if (vm->pidfd >= 0) {
			w->fds[n] = (struct pollfd){.fd = vm->pidfd, .events = POLLIN};
			w->vms[n++] = vm;
			vm->refs++;
		}
	return n;
}

void svc_watch_fini(struct svc_watch *w)
{
	free(w->fds);
	free(w->vms);
	*w = (struct svc_watch){0};
}

static void *monitor_main(void *arg)
{
	struct service *svc = arg;
	struct svc_watch w = {0};
	uint64_t next_poll = 0;

	pthread_setname_np(pthread_self(), "monitor");
	if (!watch_reserve(&w, 16)) {
		pv_log(LOG_ERR, "monitor: no memory");
		return NULL;
	}
	while (!svc->stopping) {
		uint64_t now = time_monotonic_ns();
		unsigned n, i;
		int timeout;

		w.fds[0] = (struct pollfd){.fd = svc->wake_fd, .events = POLLIN};
		pthread_mutex_lock(&svc->lock);
		n = svc_watch_collect(svc, &w, 1);
		pthread_mutex_unlock(&svc->lock);
		timeout = next_poll > now ? (int)((next_poll - now) / 1000000) : 0;
		if (poll(w.fds, n, timeout) > 0 && (w.fds[0].revents & POLLIN)) {
			uint64_t v;

			IGNORE_RESULT(read(svc->wake_fd, &v, sizeof(v)));
		}
		pthread_mutex_lock(&svc->lock);
		for (i = 1; i < n; i++) {
			if ((w.fds[i].revents & POLLIN) && w.vms[i]->pidfd == w.fds[i].fd &&
			    !w.vms[i]->removed)
				worker_ended(svc, w.vms[i]);
			svc_vm_put(svc, w.vms[i]);
		}
		pthread_mutex_unlock(&svc->lock);
		if (time_monotonic_ns() < next_poll)
			continue;
		next_poll = time_monotonic_ns() + (uint64_t)svc->cfg.poll_ms * 1000000;

		/* Status of every worker, one at a time, without the lock. */
		pthread_mutex_lock(&svc->lock);
		n = svc_watch_collect(svc, &w, 0);
		pthread_mutex_unlock(&svc->lock);
		for (i = 0; i < n; i++) {
			struct json_object *st = NULL;
			int r = worker_call(w.vms[i]->paths.control, "status", NULL,
					    STATUS_TIMEOUT_MS, &st);

			pthread_mutex_lock(&svc->lock);
			if (r == 0 && w.vms[i]->pidfd >= 0 && !w.vms[i]->removed)
				svc_apply_status(svc, w.vms[i], st);
			else
				json_object_put(st);
			svc_vm_put(svc, w.vms[i]);
			pthread_mutex_unlock(&svc->lock);
		}
	}
	svc_watch_fini(&w);
	return NULL;
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

		if (status == 0 && vm->rec.state == VM_STATE_SAVING) {
			(void)svc_transition(svc, vm, VM_STATE_SAVED,
					     "the worker saved the VM while the service was down");
		} else if (status == 0 || status == 5) {
			(void)svc_transition(svc, vm, VM_STATE_OFF,
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
			(void)svc_transition(svc, vm, VM_STATE_CRITICAL, reason);
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
		(void)svc_transition(svc, vm, VM_STATE_RUNNING,
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
	vm->incoming_fd = -1;
	if (r) {
		vm->rec = *r;
		if (svc_vm_find(svc, r->name)) {
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
	cond_init_monotonic(&svc->changed);
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
	if (cgroup_host_new(&svc->cgroups, svc->cgroup_error, sizeof(svc->cgroup_error)) < 0)
		pv_log(LOG_WARN, "no per-VM resource controls: %s", svc->cgroup_error);
	else
		pv_log(LOG_INFO, "per-VM cgroups: %s", cgroup_host_describe(svc->cgroups));
	pthread_mutex_lock(&svc->lock);
	/* The switches before the VMs: a VM found running gets its ports back on them. */
	r = svc_net_load(svc, err, errlen);
	if (r < 0) {
		pthread_mutex_unlock(&svc->lock);
		service_free(svc);
		return r;
	}
	r = inventory_load(svc->state_dir, load_one, svc);
	if (r == 0)
		svc_net_resume(svc);
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
	/* The migration listener last: a move arriving finds the VMs and switches loaded. */
	r = svc_migration_load(svc, err, errlen);
	if (r < 0) {
		service_free(svc);
		return r;
	}
	*ret = svc;
	return 0;
}

struct service *service_free(struct service *svc)
{
	struct vm *vm;

	if (!svc)
		return NULL;
	svc_migration_free(svc);
	if (svc->monitor_running) {
		svc->stopping = true;
		svc_wake_monitor(svc);
		pthread_join(svc->monitor, NULL);
	}
	while ((vm = svc->vms)) {
		svc->vms = vm->next;
		svc_vm_free(vm);
	}
	if (svc->wake_fd >= 0)
		close(svc->wake_fd);
	cgroup_host_free(svc->cgroups);
	svc_net_free(svc);
	free(svc->state_dir);
	free(svc->vmwp);
	free(svc);
	return NULL;
}

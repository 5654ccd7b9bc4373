/*
 * The calls that change whether a VM runs: start-vm (writes the worker's
 * configuration, spawns it, waits for it to run), stop-vm (graceful, forced,
 * turn-off), restart-vm, suspend-vm and resume-vm. Called with svc->lock
 * held; calls to the worker drop it (svc_call_worker).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "ipc/jsonline.h"
#include "ipc/worker_client.h"
#include "vmms/console_tcp.h"
#include "vmms/disk_files.h"
#include "vmms/network.h"
#include "vmms/snapshot.h"
#include "vmms/service_internal.h"
#include "vmms/vm_state.h"

/* --- the worker's files and configuration --------------------------------------------------- */

/* What a worker inherits (disk_files.h): opened at its start, closed once it is spawned. */
struct worker_files {
	int kernel_fd, initrd_fd;
	int vnc_tcp_fd; /* the screen's loopback listener (console_tcp.h), or -1 */
	uint16_t vnc_tcp_port;
	struct disk_files disks[VM_MAX_DISKS];
	unsigned ndisks;
	int dvd_fds[VM_IDE_PLACES]; /* each DVD drive's ISO, read-only, or -1 (no media) */
};

static void close_worker_files(struct worker_files *wf)
{
	if (wf->kernel_fd >= 0)
		close(wf->kernel_fd);
	if (wf->initrd_fd >= 0)
		close(wf->initrd_fd);
	if (wf->vnc_tcp_fd >= 0)
		close(wf->vnc_tcp_fd);
	while (wf->ndisks)
		disk_files_close(&wf->disks[--wf->ndisks]);
	for (unsigned i = 0; i < VM_IDE_PLACES; i++)
		if (wf->dvd_fds[i] >= 0)
			close(wf->dvd_fds[i]);
	free(wf);
}

/* The screen's loopback listener and its password file (console_tcp.h). */
static int open_console_tcp(const struct vm *vm, struct worker_files *wf, struct api_error *err)
{
	char why[400];

	if ((mkdir(vm->paths.dir, 0750) < 0 && errno != EEXIST) ||
	    console_tcp_password_ensure(vm->paths.dir, why, sizeof(why)) < 0 ||
	    console_tcp_listen(&wf->vnc_tcp_fd, &wf->vnc_tcp_port, why, sizeof(why)) < 0) {
		api_error_set(err, API_ERR_HOST, "VM '%s': %s", vm->rec.name, why);
		return -1;
	}
	return 0;
}

/* The kernel, initrd and every disk with its chain, checked as they are opened. */
static struct worker_files *open_worker_files(struct service *svc, const struct vm *vm,
					      struct api_error *err)
{
	struct worker_files *wf = calloc(1, sizeof(*wf));
	unsigned i;

	if (!wf) {
		api_error_set(err, API_ERR_HOST, "out of memory");
		return NULL;
	}
	wf->kernel_fd = wf->initrd_fd = -1;
	wf->vnc_tcp_fd = -1;
	for (i = 0; i < VM_IDE_PLACES; i++)
		wf->dvd_fds[i] = -1;
	/* Generation 1 without a kernel boots through its BIOS: no boot files. */
	if (vm->rec.kernel) {
		wf->kernel_fd = boot_file_open(svc, "kernel", vm->rec.kernel, err);
		if (wf->kernel_fd >= 0 && vm->rec.initrd)
			wf->initrd_fd = boot_file_open(svc, "initrd", vm->rec.initrd, err);
		if (wf->kernel_fd < 0 || (vm->rec.initrd && wf->initrd_fd < 0))
			goto fail;
	}
	for (i = 0; i < vm->rec.ndvds; i++)
		if (vm->rec.dvds[i].path &&
		    (wf->dvd_fds[i] = boot_file_open(svc, "ISO", vm->rec.dvds[i].path, err)) < 0)
			goto fail;
	if (vm->rec.console_tcp && !vm->rec.no_video && open_console_tcp(vm, wf, err) < 0)
		goto fail;
	for (i = 0; i < vm->rec.ndisks; i++) {
		if (disk_files_open(svc, vm, NULL, vm->rec.disks[i].path, vm->rec.disks[i].readonly,
				    &wf->disks[i], err) < 0)
			goto fail;
		wf->ndisks++;
	}
	return wf;
fail:
	close_worker_files(wf);
	return NULL;
}

/* Every descriptor of wf, for worker_spawn; how many. */
static unsigned worker_files_list(const struct worker_files *wf, int *fds, unsigned max)
{
	unsigned n = 0, i, k;

#define ADD(fd)                                                                                    \
	do {                                                                                       \
		if ((fd) >= 0 && n < max)                                                          \
			fds[n++] = (fd);                                                           \
	} while (0)
	ADD(wf->kernel_fd);
	ADD(wf->initrd_fd);
	ADD(wf->vnc_tcp_fd);
	for (i = 0; i < VM_IDE_PLACES; i++)
		ADD(wf->dvd_fds[i]);
	for (i = 0; i < wf->ndisks; i++) {
		ADD(wf->disks[i].fd);
		ADD(wf->disks[i].direct_fd);
		for (k = 0; k < wf->disks[i].nparents; k++)
			ADD(wf->disks[i].parent_fd[k]);
	}
#undef ADD
	return n;
}

/* One disk's descriptors in the worker's configuration (docs/vmwp.md, "disks"). */
static void add_disk_fds(struct json_object *d, const struct disk_files *df)
{
	struct json_object *parents = json_object_new_array();
	unsigned k;

	json_object_object_add(d, "fd", json_object_new_int(df->fd));
	if (df->direct_fd >= 0)
		json_object_object_add(d, "direct-fd", json_object_new_int(df->direct_fd));
	for (k = 0; k < df->nparents; k++) {
		struct json_object *p = json_object_new_object();

		json_object_object_add(p, "path", json_object_new_string(df->parent_path[k]));
		json_object_object_add(p, "fd", json_object_new_int(df->parent_fd[k]));
		json_object_array_add(parents, p);
	}
	json_object_object_add(d, "parents", parents);
}

static int write_worker_config(const struct service *svc, const struct vm *vm,
			       const struct worker_files *wf, struct json_object *nics)
{
	struct json_object *o = json_object_new_object(), *disks;
	char serial[1400], mem[32], tmp[700];
	unsigned i;
	int r;

	/* The paths name the files in messages; the worker reads the descriptors. */
	if (vm->rec.kernel) {
		json_object_object_add(o, "kernel", json_object_new_string(vm->rec.kernel));
		json_object_object_add(o, "kernel-fd", json_object_new_int(wf->kernel_fd));
	}
	if (vm->rec.generation != 2)
		json_object_object_add(o, "generation",
				       json_object_new_int((int)vm->rec.generation));
	if (vm->rec.startup_order && !vm->rec.kernel)
		json_object_object_add(o, "startup-order",
				       json_object_new_string(vm->rec.startup_order));
	if (vm->rec.ndvds) {
		struct json_object *dvds = json_object_new_array();

		for (i = 0; i < vm->rec.ndvds; i++) {
			struct json_object *d = json_object_new_object();

			json_object_object_add(
				d, "controller",
				json_object_new_int((int)vm->rec.dvds[i].controller));
			json_object_object_add(d, "lun",
					       json_object_new_int((int)vm->rec.dvds[i].location));
			if (vm->rec.dvds[i].path) {
				json_object_object_add(
					d, "path", json_object_new_string(vm->rec.dvds[i].path));
				json_object_object_add(d, "fd",
						       json_object_new_int(wf->dvd_fds[i]));
			}
			json_object_array_add(dvds, d);
		}
		json_object_object_add(o, "dvds", dvds);
	}
	if (vm->rec.initrd) {
		json_object_object_add(o, "initrd", json_object_new_string(vm->rec.initrd));
		json_object_object_add(o, "initrd-fd", json_object_new_int(wf->initrd_fd));
	}
	if (vm->rec.cmdline)
		json_object_object_add(o, "cmdline", json_object_new_string(vm->rec.cmdline));
	snprintf(mem, sizeof(mem), "%lluK", (unsigned long long)(vm->rec.memory_bytes >> 10));
	json_object_object_add(o, "memory", json_object_new_string(mem));
	json_object_object_add(o, "cpus", json_object_new_int((int)vm->rec.cpus));
	/* Where the disks' parents may be: the service's storage directories (docs/disks.md). */
	if (svc->cfg.nstorage_dirs) {
		struct json_object *dirs = json_object_new_array();

		for (i = 0; i < svc->cfg.nstorage_dirs; i++)
			json_object_array_add(dirs,
					      json_object_new_string(svc->cfg.storage_dirs[i]));
		json_object_object_add(o, "storage-dirs", dirs);
	}
	json_object_object_add(
		o, "cpu-model",
		json_object_new_string(vm->rec.processor_compat ? "baseline" : "host"));
	snprintf(serial, sizeof(serial), "socket:%s,log=%s", vm->paths.console,
		 vm->paths.console_log);
	json_object_object_add(o, "serial", json_object_new_string(serial));
	json_object_object_add(o, "control", json_object_new_string(vm->paths.control));
	/* The screen on a socket in the run directory (root's): the service hands it out. */
	if (vm->rec.no_video)
		json_object_object_add(o, "video", json_object_new_boolean(0));
	else
		json_object_object_add(o, "vnc", json_object_new_string(vm->paths.vnc));
	/* The loopback listener is ours (the worker has no network); the password a file it
	 * reads before its jail. */
	if (wf->vnc_tcp_fd >= 0) {
		char pw[700];

		console_tcp_password_path(vm->paths.dir, pw, sizeof(pw));
		json_object_object_add(o, "vnc-tcp-fd", json_object_new_int(wf->vnc_tcp_fd));
		json_object_object_add(o, "vnc-password-file", json_object_new_string(pw));
	}
	/* A saved VM resumes from its saved state instead of booting (docs/checkpoints.md). */
	if (svc_saved_state_exists(svc, vm)) {
		char saved[VM_PATH_MAX];

		svc_saved_state_path(svc, vm, saved, sizeof(saved));
		json_object_object_add(o, "restore", json_object_new_string(saved));
	}
	/* move-vm's destination: the guest comes from the relayed stream (migration_incoming.c). */
	if (vm->incoming_fd >= 0) {
		char fd[16];

		snprintf(fd, sizeof(fd), "%d", vm->incoming_fd);
		json_object_object_add(o, "incoming", json_object_new_string(fd));
	}
	json_object_object_add(o, "exit-status-file",
			       json_object_new_string(vm->paths.exit_status));
	json_object_object_add(o, "shutdown-timeout", json_object_new_int(WORKER_SHUTDOWN_LIMIT));
	if (svc->cfg.jail) {
		char jail[32];

		snprintf(jail, sizeof(jail), "%u:%u", vm->rec.jail_uid, vm->rec.jail_uid);
		json_object_object_add(o, "jail", json_object_new_string(jail));
		if (svc->cfg.jail_mntns_fd >= 0)
			json_object_object_add(o, "jail-mntns-fd",
					       json_object_new_int(svc->cfg.jail_mntns_fd));
	}
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
			if (vm->rec.disks[i].ide)
				json_object_object_add(d, "ide", json_object_new_boolean(1));
			add_disk_fds(d, &wf->disks[i]);
			json_object_array_add(disks, d);
		}
		json_object_object_add(o, "disks", disks);
	}
	/* Only when there are adapters: their TAP queues are inherited descriptors
	 * (docs/switches.md). */
	if (nics)
		json_object_object_add(o, "nics", json_object_get(nics));
	snprintf(tmp, sizeof(tmp), "%s.tmp", vm->paths.config);
	r = json_object_to_file_ext(tmp, o,
				    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	json_object_put(o);
	if (r < 0 || rename(tmp, vm->paths.config) < 0)
		return -EIO;
	return 0;
}

/*
 * The uid (and gid, the same number) of the VM's jail: the lowest of the service's range
 * that no other VM holds and that is no account or group of this host. Kept in the VM's
 * record until the VM is removed, so never given to two VMs at once.
 */
static int assign_jail_uid(struct service *svc, struct vm *vm, struct api_error *err)
{
	uint32_t first = svc->cfg.jail_uid_first, i;
	char buf[4096];

	if (vm->rec.jail_uid)
		return 0;
	for (i = 0; i < svc->cfg.jail_uid_count; i++) {
		uint32_t uid = first + i;
		struct passwd pw, *pwp = NULL;
		struct group gr, *grp = NULL;
		const struct vm *v;

		for (v = svc->vms; v; v = v->next)
			if (v->rec.jail_uid == uid)
				break;
		if (v)
			continue;
		getpwuid_r(uid, &pw, buf, sizeof(buf), &pwp);
		getgrgid_r(uid, &gr, buf, sizeof(buf), &grp);
		if (pwp || grp)
			continue;
		vm->rec.jail_uid = uid;
		if (inventory_write(svc->state_dir, &vm->rec) < 0) {
			vm->rec.jail_uid = 0;
			api_error_set(err, API_ERR_HOST,
				      "cannot record VM '%s''s jail uid in %s/vms", vm->rec.name,
				      svc->state_dir);
			return -EIO;
		}
		return 0;
	}
	api_error_set(err, API_ERR_HOST,
		      "no free uid for VM '%s''s jail in %u..%u (every one is another VM's or an "
		      "account's): give parvis-vmms a wider --jail-uids range",
		      vm->rec.name, first, first + svc->cfg.jail_uid_count - 1);
	return -ENOSPC;
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
		ts = monotonic_deadline_ns(left);
		pthread_cond_timedwait(&svc->changed, &svc->lock, &ts);
	}
}

/* Calls the worker of vm without the lock (held on entry and on return). */
int svc_call_worker(struct service *svc, struct vm *vm, const char *cmd, struct json_object *extra,
		    int timeout_ms, struct json_object **ret)
{
	return svc_call_worker_fds(svc, vm, cmd, extra, NULL, 0, timeout_ms, ret);
}

int svc_call_worker_fds(struct service *svc, struct vm *vm, const char *cmd,
			struct json_object *extra, const int *fds, unsigned nfds, int timeout_ms,
			struct json_object **ret)
{
	char path[sizeof(vm->paths.control)];
	int r;

	memcpy(path, vm->paths.control, sizeof(path));
	vm->refs++;
	pthread_mutex_unlock(&svc->lock);
	r = worker_call_fds(path, cmd, extra, fds, nfds, timeout_ms, ret);
	pthread_mutex_lock(&svc->lock);
	svc_vm_put(svc, vm);
	return r;
}

const char *svc_worker_error(struct json_object *ans)
{
	const char *e = svc_status_string(ans, "error");

	return e ? e : "no reason given";
}

bool svc_worker_ok(struct json_object *ans)
{
	struct json_object *v;

	return ans && json_object_object_get_ex(ans, "ok", &v) && json_object_get_boolean(v);
}

/* What start-vm checks before anything is opened: the state, the boot and the files. */
static int start_checks(struct service *svc, struct vm *vm, struct api_error *err)
{
	static const enum vm_state ok[] = {VM_STATE_OFF, VM_STATE_CRITICAL, VM_STATE_SAVED};
	unsigned i;

	if (svc_need_state(vm, "start-vm", ok, 3, "stop it first (parvis stop-vm)", err) < 0)
		return -1;
	/* Only a record from before generations could say this (new-vm refuses it now). */
	if (!vm->rec.kernel && vm->rec.generation != 1) {
		api_error_set(err, API_ERR_INVALID,
			      "VM '%s' is generation 2 and has no kernel: generation 2 VMs boot a "
			      "kernel directly (Hyper-V's UEFI, which would boot disk '%s', Parvis "
			      "does not have); make it again with new-vm --generation 1 "
			      "--boot-disk to boot the disk through the BIOS",
			      vm->rec.name, vm->rec.boot_disk ? vm->rec.boot_disk : "(none)");
		return -1;
	}
	for (i = 0; i < vm->rec.ndvds; i++)
		if (vm->rec.dvds[i].path &&
		    (svc_check_file("ISO", vm->rec.dvds[i].path, err) < 0 ||
		     svc_check_stored_path(svc, "ISO", vm->rec.dvds[i].path, err) < 0))
			return -1;
	if (vm->rec.kernel &&
	    (svc_check_file("kernel", vm->rec.kernel, err) < 0 ||
	     svc_check_stored_path(svc, "kernel", vm->rec.kernel, err) < 0 ||
	     (vm->rec.initrd && (svc_check_file("initrd", vm->rec.initrd, err) < 0 ||
				 svc_check_stored_path(svc, "initrd", vm->rec.initrd, err) < 0))))
		return -1;
	for (i = 0; i < vm->rec.ndisks; i++)
		if (svc_check_disk(svc, vm, vm->rec.disks[i].path, err) < 0 ||
		    svc_check_stored_path(svc, "disk", vm->rec.disks[i].path, err) < 0)
			return -1;
	if (svc->cfg.jail && assign_jail_uid(svc, vm, err) < 0)
		return -1;
	return 0;
}

#define SPAWN_REFUSED 1 /* spawn_worker: refused with err set, the VM as it was */

/*
 * Opens what the worker inherits (boot files, screen listener, disks with their chains,
 * TAPs on their switches), writes its configuration, prepares its cgroup, moves the VM to
 * Starting and spawns the worker. 0 with *pid; -errno if the spawn failed (the VM is
 * Starting); SPAWN_REFUSED.
 */
static int spawn_worker(struct service *svc, struct vm *vm, const char *reason, pid_t *pid,
			struct api_error *err)
{
	struct json_object *nics = NULL;
	int cg_fds[CGROUP_MAX_FDS], tap_fds[NET_MAX_VM_ADAPTERS * NET_MAX_QUEUES];
	static __thread int keep[3 + VM_IDE_PLACES + VM_MAX_DISKS * (2 + DISK_FILES_MAX_PARENTS) +
				 NET_MAX_VM_ADAPTERS * NET_MAX_QUEUES + 2];
	struct worker_files *wf;
	unsigned i, ncg = 0, nkeep, ntap = 0;
	int r = SPAWN_REFUSED;

	/* Opened here, checked as opened: the worker opens no host path (disk_files.h). */
	wf = open_worker_files(svc, vm, err);
	if (!wf)
		return SPAWN_REFUSED;
	if (svc_net_prepare_start(svc, vm, tap_fds, sizeof(tap_fds) / sizeof(tap_fds[0]), &ntap,
				  &nics, err) < 0)
		goto out;
	if ((mkdir(vm->paths.dir, 0750) < 0 && errno != EEXIST) ||
	    write_worker_config(svc, vm, wf, nics) < 0) {
		api_error_set(err, API_ERR_HOST, "cannot write %s: %s", vm->paths.config,
			      strerror(errno));
		goto out;
	}
	/* Its cgroup before it exists: a refused reserve leaves the VM as it was. */
	if (svc_cgroup_prepare(svc, vm, cg_fds, &ncg, err) < 0)
		goto out;
	unlink(vm->paths.exit_status);
	if (svc_transition(svc, vm, VM_STATE_STARTING, reason) < 0) {
		api_error_set(err, API_ERR_STATE, "start-vm: VM '%s' cannot start from %s",
			      vm->rec.name, vm_state_name(vm->rec.state));
		goto out;
	}
	nkeep = worker_files_list(wf, keep, sizeof(keep) / sizeof(keep[0]) - 2 - ntap);
	if (vm->incoming_fd >= 0)
		keep[nkeep++] = vm->incoming_fd;
	for (i = 0; i < ntap; i++)
		keep[nkeep++] = tap_fds[i];
	if (svc->cfg.jail && svc->cfg.jail_mntns_fd >= 0)
		keep[nkeep++] = svc->cfg.jail_mntns_fd;
	r = worker_spawn(svc->vmwp, &vm->paths, svc->cfg.jail,
			 svc->cfg.jail && svc->cfg.jail_mntns_fd >= 0, cg_fds, ncg, keep, nkeep,
			 pid);
	vm->console_tcp_port = r == 0 ? wf->vnc_tcp_port : 0;
out:
	while (ncg)
		close(cg_fds[--ncg]);
	close_worker_files(wf);
	/* The worker holds its own copies: the TAPs live as long as it does. */
	while (ntap)
		close(tap_fds[--ntap]);
	json_object_put(nics);
	return r;
}

/* The spawned worker becomes the VM's: its pidfd, cgroup share, adapters and record. */
static void worker_started(struct service *svc, struct vm *vm, pid_t pid, int pidfd)
{
	vm->pid = pid;
	vm->pidfd = pidfd;
	vm->child = true;
	svc_cgroup_balance(svc);
	svc_net_vm_started(svc, vm);
	vm->start_time = proc_start_time(pid);
	vm->cpu_sample_ns = 0;
	if (worker_record_write(&vm->paths, pid, vm->start_time) < 0)
		pv_log(LOG_WARN, "VM '%s': cannot write %s: a restarted service would not find it",
		       vm->rec.name, vm->paths.record);
	svc_wake_monitor(svc);
}

/*
 * Running once the worker answers with its machine built: polls its status (without the
 * service's lock) until then, the VM leaves Starting otherwise, or the deadline passes.
 */
static void wait_worker_running(struct service *svc, struct vm *vm)
{
	/* An incoming worker builds its machine once the whole stream came: minutes on PVM. */
	uint64_t deadline =
		time_monotonic_ns() +
		(uint64_t)(vm->incoming_fd >= 0 ? INCOMING_TIMEOUT_MS : START_TIMEOUT_MS) * 1000000;

	vm->refs++;
	while (vm->rec.state == VM_STATE_STARTING && time_monotonic_ns() < deadline) {
		struct json_object *st = NULL;
		const char *state;
		char path[sizeof(vm->paths.control)];
		int r;

		memcpy(path, vm->paths.control, sizeof(path));
		pthread_mutex_unlock(&svc->lock);
		r = worker_call(path, "status", NULL, 1000, &st);
		if (r < 0)
			usleep(2000);
		pthread_mutex_lock(&svc->lock);
		state = svc_status_string(st, "state");
		if (r == 0 && vm->rec.state == VM_STATE_STARTING && vm->pidfd >= 0 && state &&
		    strcmp(state, "stopped")) {
			svc_apply_status(svc, vm, st);
			st = NULL;
			if (vm->rec.state == VM_STATE_STARTING)
				(void)svc_transition(svc, vm, VM_STATE_RUNNING,
						     "the worker is running");
		}
		json_object_put(st);
	}
	svc_vm_put(svc, vm);
}

/* start-vm's answer once the wait is over. */
static struct json_object *start_answer(struct service *svc, struct vm *vm, struct api_error *err)
{
	struct json_object *res;

	/* Resumed: the saved state is used up (a checkpoint keeps its own link to it). */
	if (vm->rec.state == VM_STATE_RUNNING)
		svc_saved_state_discard(svc, vm);
	/* Running, or already Off again: a guest that powered off at once did start. */
	if (vm->rec.state == VM_STATE_RUNNING || vm->rec.state == VM_STATE_OFF) {
		res = svc_vm_json(vm);
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

struct json_object *svc_start_vm(struct service *svc, struct vm *vm, const char *reason,
				 struct api_error *err)
{
	pid_t pid = 0;
	int r, fd;

	if (start_checks(svc, vm, err) < 0)
		return NULL;
	r = spawn_worker(svc, vm, reason, &pid, err);
	if (r == SPAWN_REFUSED)
		return NULL;
	fd = r == 0 ? pidfd_open_pid(pid) : r;
	if (fd < 0) {
		char reason2[VM_REASON_MAX];

		snprintf(reason2, sizeof(reason2), "cannot start the worker %s: %s", svc->vmwp,
			 strerror(-fd));
		(void)svc_transition(svc, vm, VM_STATE_CRITICAL, reason2);
		api_error_set(err, API_ERR_HOST, "%s", reason2);
		return NULL;
	}
	worker_started(svc, vm, pid, fd);
	wait_worker_running(svc, vm);
	return start_answer(svc, vm, err);
}

struct json_object *svc_call_start_vm(struct service *svc, const struct api_request *req,
				      struct api_error *err)
{
	struct vm *vm = svc_lookup(svc, req, err);

	return vm ? svc_start_vm(svc, vm, "start-vm", err) : NULL;
}

/* Sends the worker's turn-off; if it does not answer, SIGKILL. Lock held. */
static void turn_off_worker(struct service *svc, struct vm *vm)
{
	struct json_object *ans = NULL;
	pid_t pid = vm->pid;
	int fd = vm->pidfd;

	if (svc_call_worker(svc, vm, "turn-off", NULL, CONTROL_TIMEOUT_MS, &ans) < 0 &&
	    vm->pidfd == fd && pid > 0 && proc_start_time(pid) == vm->start_time) {
		pv_log(LOG_WARN, "VM '%s': the worker does not answer: killing it", vm->rec.name);
		kill(pid, SIGKILL);
	}
	json_object_put(ans);
}

/*
 * The states stop-vm settles without a worker: a Critical VM whose worker died (with
 * --turn-off), a Saved VM, an Off one. True when *res (or err) is the answer.
 */
static bool stop_without_worker(struct service *svc, struct vm *vm, bool turn_off,
				struct json_object **res, struct api_error *err)
{
	*res = NULL;
	if (vm->unreadable)
		return false;
	if (vm->rec.state == VM_STATE_CRITICAL && vm->pidfd < 0 && turn_off) {
		(void)svc_transition(svc, vm, VM_STATE_OFF,
				     "stop-vm --turn-off of a VM whose worker died");
		*res = svc_vm_json(vm);
		return true;
	}
	if (vm->rec.state == VM_STATE_SAVED) {
		*res = svc_stop_saved_vm(svc, vm, turn_off, err);
		return true;
	}
	if (vm->rec.state == VM_STATE_OFF) {
		api_error_set(err, API_ERR_STATE, "stop-vm: VM '%s' is already Off", vm->rec.name);
		return true;
	}
	return false;
}

/* Asks the worker to shut the guest down; returns how (a string the caller may keep). */
static const char *ask_shutdown(struct service *svc, struct vm *vm, char *buf, size_t len)
{
	struct json_object *ans = NULL;
	const char *method;
	int r = svc_call_worker(svc, vm, "shutdown", NULL, CONTROL_TIMEOUT_MS, &ans);

	method = r == 0 && svc_worker_ok(ans) ? svc_status_string(ans, "method") : NULL;
	if (!method) {
		pv_log(LOG_WARN, "VM '%s': the worker did not take the shutdown request: %s",
		       vm->rec.name, r < 0 ? strerror(-r) : svc_worker_error(ans));
		method = "none (the worker did not answer)";
	}
	snprintf(buf, len, "%s", method);
	json_object_put(ans);
	return buf;
}

/*
 * After the wait: --force turns off a guest that did not shut down in time, and a worker
 * that did not end after a turn-off is killed. Returns the method, changed if it escalated.
 */
static const char *stop_escalate(struct service *svc, struct vm *vm, bool force, bool turn_off,
				 uint64_t timeout_s, const char *method)
{
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
	return method;
}

struct json_object *svc_stop_vm(struct service *svc, struct vm *vm, bool force, bool turn_off,
				uint64_t timeout_s, struct api_error *err)
{
	static const enum vm_state ok[] = {VM_STATE_STARTING, VM_STATE_RUNNING, VM_STATE_PAUSED};
	struct json_object *res;
	const char *method = turn_off ? "turn off" : NULL;
	char reason[VM_REASON_MAX], how[VM_REASON_MAX];

	if (stop_without_worker(svc, vm, turn_off, &res, err))
		return res;
	if (svc_need_state(vm, "stop-vm", ok, 3,
			   vm->rec.state == VM_STATE_CRITICAL ? "use --turn-off to mark it Off"
							      : "wait for the current operation",
			   err) < 0)
		return NULL;
	snprintf(reason, sizeof(reason), "stop-vm%s",
		 turn_off ? " --turn-off"
		 : force  ? " --force"
			  : "");
	if (svc_transition(svc, vm, VM_STATE_STOPPING, reason) < 0) {
		api_error_set(err, API_ERR_STATE, "stop-vm: not allowed from %s",
			      vm_state_name(vm->rec.state));
		return NULL;
	}
	vm->refs++;
	if (turn_off)
		turn_off_worker(svc, vm);
	else
		method = ask_shutdown(svc, vm, how, sizeof(how));
	wait_leave(svc, vm, VM_STATE_STOPPING, time_monotonic_ns() + timeout_s * 1000000000ull);
	method = stop_escalate(svc, vm, force, turn_off, timeout_s, method);
	svc_vm_put(svc, vm);
	if (vm->rec.state == VM_STATE_STOPPING) {
		char why[VM_REASON_MAX];

		snprintf(why, sizeof(why), "the guest did not shut down within %llu s",
			 (unsigned long long)timeout_s);
		(void)svc_transition(svc, vm, VM_STATE_RUNNING, why);
		api_error_set(
			err, API_ERR_TIMEOUT,
			"VM '%s': the guest did not shut down within %llu s (asked via %s); it "
			"is still Running: use --force to turn it off after the timeout, or "
			"--turn-off",
			vm->rec.name, (unsigned long long)timeout_s, method);
		return NULL;
	}
	res = svc_vm_json(vm);
	json_object_object_add(res, "method", json_object_new_string(method ? method : ""));
	return res;
}

struct json_object *svc_call_stop_vm(struct service *svc, const struct api_request *req,
				     struct api_error *err)
{
	uint64_t timeout = DEFAULT_STOP_TIMEOUT;
	bool force = false, turn_off = false;
	struct vm *vm = svc_lookup(svc, req, err);

	if (!vm || api_param_bool(req, "force", &force, err) < 0 ||
	    api_param_bool(req, "turn_off", &turn_off, err) < 0 ||
	    api_param_u64(req, "timeout_s", false, 86400, &timeout, err) < 0)
		return NULL;
	return svc_stop_vm(svc, vm, force, turn_off, timeout, err);
}

struct json_object *svc_call_restart_vm(struct service *svc, const struct api_request *req,
					struct api_error *err)
{
	static const enum vm_state ok[] = {VM_STATE_RUNNING};
	struct json_object *ans = NULL;
	struct vm *vm = svc_lookup(svc, req, err);
	bool force = false;
	int r;

	if (!vm || api_param_bool(req, "force", &force, err) < 0 ||
	    svc_need_state(vm, "restart-vm", ok, 1, "start it with parvis start-vm", err) < 0)
		return NULL;
	if (force) {
		if (!svc_stop_vm(svc, vm, false, true, 30, err))
			return NULL;
		return svc_start_vm(svc, vm, "restart-vm --force", err);
	}
	r = svc_call_worker(svc, vm, "restart", NULL, CONTROL_TIMEOUT_MS, &ans);
	if (r < 0 || !svc_worker_ok(ans)) {
		api_error_set(
			err, API_ERR_WORKER,
			"restart-vm: VM '%s': %s; use --force to turn it off and start it again",
			vm->rec.name, r < 0 ? strerror(-r) : svc_worker_error(ans));
		json_object_put(ans);
		return NULL;
	}
	json_object_put(ans);
	vm_record_transition(&vm->rec, vm->rec.state, svc_now_ms(),
			     "restart-vm: the guest restarts", svc_caller_uid());
	if (inventory_write(svc->state_dir, &vm->rec) < 0)
		pv_log(LOG_ERR, "VM '%s': cannot write its file", vm->rec.name);
	return svc_vm_json(vm);
}

struct json_object *svc_call_pause(struct service *svc, const struct api_request *req, bool pause,
				   struct api_error *err)
{
	enum vm_state from = pause ? VM_STATE_RUNNING : VM_STATE_PAUSED;
	struct json_object *ans = NULL;
	struct vm *vm = svc_lookup(svc, req, err);
	const char *call = pause ? "suspend-vm" : "resume-vm";
	int r;

	if (!vm || svc_need_state(vm, call, &from, 1, NULL, err) < 0)
		return NULL;
	r = svc_call_worker(svc, vm, pause ? "pause" : "resume", NULL, CONTROL_TIMEOUT_MS, &ans);
	if (r < 0 || !svc_worker_ok(ans)) {
		api_error_set(err, API_ERR_WORKER, "%s: VM '%s': the worker refused: %s", call,
			      vm->rec.name, r < 0 ? strerror(-r) : svc_worker_error(ans));
		json_object_put(ans);
		return NULL;
	}
	json_object_put(ans);
	if (vm->rec.state == from)
		(void)svc_transition(svc, vm, pause ? VM_STATE_PAUSED : VM_STATE_RUNNING, call);
	return svc_vm_json(vm);
}

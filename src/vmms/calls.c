/*
 * The API calls that do not start or stop a VM (new-vm, get-vm, set-vm,
 * remove-vm, disks, integration services, console, history), the checks
 * every call applies, the VM as the API shows it, and the dispatcher
 * (service_call). See docs/api.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "ipc/jsonline.h"
#include "ipc/worker_client.h"
#include "vmms/web_console.h"
#include "vmms/audit.h"
#include "vmms/console_tcp.h"
#include "vmms/disk_files.h"
#include "vmms/network.h"
#include "vmms/migration_service.h"
#include "vmms/snapshot.h"
#include "vmms/service_internal.h"
#include "vmms/vm_state.h"

/* --- the VM as the API shows it ------------------------------------------------------------- */

static const char *heartbeat_text(const struct vm *vm)
{
	struct json_object *vmbus, *hb;
	const char *state;

	if (!vm->status || !json_object_object_get_ex(vm->status, "vmbus", &vmbus) ||
	    !json_object_object_get_ex(vmbus, "heartbeat", &hb))
		return vm_state_has_worker(vm->rec.state) ? "No Contact" : "";
	state = svc_status_string(hb, "state");
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

/* Whether a console (an RFB client) is attached, from the worker's last status. */
static struct json_object *console_json(const struct vm *vm)
{
	struct json_object *c, *s, *v, *o = json_object_new_object();
	int64_t clients = 0;

	if (vm->status && vm_state_has_worker(vm->rec.state) &&
	    json_object_object_get_ex(vm->status, "console", &c) &&
	    json_object_object_get_ex(c, "server", &s) &&
	    json_object_object_get_ex(s, "clients", &v))
		clients = json_object_get_int64(v);
	json_object_object_add(o, "attached", json_object_new_boolean(clients > 0));
	json_object_object_add(o, "clients", json_object_new_int64(clients));
	return o;
}

struct json_object *svc_vm_json(const struct vm *vm)
{
	struct json_object *o = json_object_new_object(), *disks = json_object_new_array();
	bool on = vm_state_has_worker(vm->rec.state);
	unsigned i;

#define STR_IN(obj, k, v) json_object_object_add(obj, k, (v) ? json_object_new_string(v) : NULL)
#define STR(k, v)	  STR_IN(o, k, v)
	STR("id", vm->rec.id);
	STR("name", vm->rec.name);
	json_object_object_add(o, "generation", json_object_new_int((int)vm->rec.generation));
	STR("state", vm_state_name(vm->rec.state));
	STR("status", vm->rec.state == VM_STATE_CRITICAL ? vm->rec.status
		      : vm->rec.state == VM_STATE_OFF	 ? ""
		      : vm->migrating			 ? "Migrating"
							 : "Operating normally");
	json_object_object_add(o, "cpus", json_object_new_int((int)vm->rec.cpus));
	json_object_object_add(o, "processor_compatibility_for_migration",
			       json_object_new_boolean(vm->rec.processor_compat));
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
	STR("boot_disk", vm->rec.boot_disk ? vm->rec.boot_disk : svc_bios_boot_disk(vm));
	STR("notes", vm->rec.notes);
	for (i = 0; i < vm->rec.ndisks; i++) {
		struct json_object *d = json_object_new_object();

		json_object_object_add(d, "path", json_object_new_string(vm->rec.disks[i].path));
		json_object_object_add(d, "readonly",
				       json_object_new_boolean(vm->rec.disks[i].readonly));
		json_object_object_add(d, "controller",
				       json_object_new_int((int)vm->rec.disks[i].controller));
		json_object_object_add(d, "lun", json_object_new_int((int)vm->rec.disks[i].lun));
		json_object_object_add(
			d, "controller_type",
			json_object_new_string(vm->rec.disks[i].ide ? "IDE" : "SCSI"));
		json_object_array_add(disks, d);
	}
	json_object_object_add(o, "disks", disks);
	if (vm->rec.generation == 1) {
		struct json_object *dvds = json_object_new_array();

		for (i = 0; i < vm->rec.ndvds; i++) {
			struct json_object *d = json_object_new_object();

			STR_IN(d, "path", vm->rec.dvds[i].path);
			json_object_object_add(
				d, "controller",
				json_object_new_int((int)vm->rec.dvds[i].controller));
			json_object_object_add(d, "location",
					       json_object_new_int((int)vm->rec.dvds[i].location));
			json_object_array_add(dvds, d);
		}
		json_object_object_add(o, "dvd_drives", dvds);
	}
	json_object_object_add(o, "pid", vm->pid ? json_object_new_int(vm->pid) : NULL);
	STR("console_log", vm->paths.console_log);
	STR("worker_log", vm->paths.log);
	json_object_object_add(o, "video", json_object_new_boolean(!vm->rec.no_video));
	json_object_object_add(o, "console", console_json(vm));
	json_object_object_add(o, "console_tcp", json_object_new_boolean(vm->rec.console_tcp));
#undef STR
#undef STR_IN
	return o;
}

const char *svc_bios_boot_disk(const struct vm *vm)
{
	unsigned i;

	if (vm->rec.generation != 1 || vm->rec.kernel)
		return NULL;
	for (i = 0; i < vm->rec.ndisks; i++)
		if (vm->rec.disks[i].ide && vm->rec.disks[i].controller == 0 &&
		    vm->rec.disks[i].lun == 0)
			return vm->rec.disks[i].path;
	return NULL;
}

/* --- checks ------------------------------------------------------------------------------ */

int svc_check_file(const char *what, const char *path, struct api_error *err)
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

int svc_check_disk(struct service *svc, const struct vm *self, const char *path,
		   struct api_error *err)
{
	struct vm *user;

	if (svc_check_file("disk", path, err) < 0)
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

/* Any VM but self that has path as a disk, whatever its state. */
static struct vm *disk_owner(struct service *svc, const struct vm *self, const char *path)
{
	struct vm *vm;
	unsigned i;

	for (vm = svc->vms; vm; vm = vm->next) {
		if (vm == self)
			continue;
		for (i = 0; i < vm->rec.ndisks; i++)
			if (!strcmp(vm->rec.disks[i].path, path))
				return vm;
		if (vm->rec.boot_disk && !strcmp(vm->rec.boot_disk, path))
			return vm;
	}
	return NULL;
}

int svc_check_named_path(struct service *svc, const struct vm *self, const char *what,
			 const char *path, bool write, char *resolved, struct api_error *err)
{
	const struct api_caller *c = svc_caller();
	static const struct api_caller service = {.uid = 0, .user = "root"};
	bool disk = !strcmp(what, "disk");
	struct vm *owner;
	int r;

	r = access_check_path(c ? c : &service, svc->cfg.storage_dirs, svc->cfg.nstorage_dirs, what,
			      path, write, resolved, err);
	if (r < 0)
		return r;
	if (disk ? svc_check_disk(svc, self, resolved, err) < 0
		 : svc_check_file(what, resolved, err) < 0)
		return -EINVAL;
	if (disk && c && c->uid != 0 && (owner = disk_owner(svc, self, resolved))) {
		api_error_set(err, API_ERR_DENIED,
			      "disk '%s' belongs to VM '%s': only root may give one VM another's "
			      "disk",
			      path, owner->rec.name);
		return -EACCES;
	}
	return 0;
}

int svc_check_stored_path(struct service *svc, const char *what, const char *path,
			  struct api_error *err)
{
	char resolved[PATH_MAX];
	struct stat st;

	if (!access_path_in_dirs(path, svc->cfg.storage_dirs, svc->cfg.nstorage_dirs))
		return 0;
	if (!realpath(path, resolved) || strcmp(resolved, path) || lstat(path, &st) < 0 ||
	    !S_ISREG(st.st_mode)) {
		api_error_set(err, API_ERR_DENIED,
			      "%s '%s' is no longer the regular file it was when it was attached "
			      "(a symlink or another kind of file now stands there); put the file "
			      "back or detach it",
			      what, path);
		return -EACCES;
	}
	return 0;
}

int svc_check_memory(struct service *svc, uint64_t bytes, struct api_error *err)
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

int svc_check_cpus(uint64_t cpus, struct api_error *err)
{
	if (cpus == 0 || cpus > VM_MAX_CPUS) {
		api_error_set(err, API_ERR_INVALID,
			      "cpus: %llu is not a number of processors (1 to %d)",
			      (unsigned long long)cpus, VM_MAX_CPUS);
		return -EINVAL;
	}
	return 0;
}

struct vm *svc_lookup(struct service *svc, const struct api_request *req, struct api_error *err)
{
	const char *name;
	struct vm *vm;

	if (api_param_string(req, "name", true, 256, &name, err) < 0)
		return NULL;
	vm = svc_vm_find(svc, name);
	if (!vm) {
		char moved[400];

		/* A VM that move-vm took to another host says where it went. */
		if (svc_migration_moved(svc, name, moved, sizeof(moved)))
			api_error_set(err, API_ERR_NOT_FOUND, "no VM named '%s' here: %s", name,
				      moved);
		else
			api_error_set(err, API_ERR_NOT_FOUND,
				      "no VM named '%s' (see parvis get-vm)", name);
	}
	return vm;
}

int svc_need_state(const struct vm *vm, const char *call __attribute__((unused)),
		   const enum vm_state *ok, unsigned n, const char *hint, struct api_error *err)
{
	unsigned i;

	if (vm->unreadable) {
		api_error_set(err, API_ERR_STATE,
			      "VM '%s' is Critical (%s); only remove-vm can act on it",
			      vm->rec.name, vm->rec.status);
		return -EPERM;
	}
	if (vm->busy) {
		api_error_set(err, API_ERR_STATE, "VM '%s' is busy: %s runs on it; wait for it",
			      vm->rec.name, vm->busy);
		return -EBUSY;
	}
	for (i = 0; i < n; i++)
		if (vm->rec.state == ok[i])
			return 0;
	api_error_set(err, API_ERR_STATE, "VM '%s' is %s%s%s", vm->rec.name,
		      vm_state_name(vm->rec.state), hint ? "; " : "", hint ? hint : "");
	return -EPERM;
}

/* --- calls --------------------------------------------------------------------------------- */

/* new-vm's parameters, and the paths they resolve to (on the heap: a client thread's stack
 * is 256 KiB). */
struct new_vm_params {
	const char *name, *kernel, *initrd, *cmdline, *boot_disk, *notes;
	uint64_t memory, cpus, generation;
	struct json_object *disks;
	size_t ndisks;
	bool video;
	char rkernel[PATH_MAX], rinitrd[PATH_MAX], rboot[PATH_MAX];
	char rdisks[VM_MAX_DISKS][PATH_MAX];
};

static int new_vm_read_params(const struct api_request *req, struct new_vm_params *p,
			      struct api_error *err)
{
	p->memory = 512ull << 20;
	p->cpus = 1;
	p->generation = 2;
	p->video = true;
	if (api_param_string(req, "name", true, 1024, &p->name, err) < 0 ||
	    api_param_u64(req, "memory_bytes", false, UINT64_MAX >> 1, &p->memory, err) < 0 ||
	    api_param_u64(req, "cpus", false, 1u << 20, &p->cpus, err) < 0 ||
	    api_param_string(req, "kernel", false, VM_PATH_MAX, &p->kernel, err) < 0 ||
	    api_param_string(req, "initrd", false, VM_PATH_MAX, &p->initrd, err) < 0 ||
	    api_param_string(req, "cmdline", false, VM_CMDLINE_MAX, &p->cmdline, err) < 0 ||
	    api_param_string(req, "boot_disk", false, VM_PATH_MAX, &p->boot_disk, err) < 0 ||
	    api_param_string(req, "notes", false, VM_NOTES_MAX, &p->notes, err) < 0 ||
	    api_param_u64(req, "generation", false, 1000, &p->generation, err) < 0 ||
	    api_param_string_array(req, "disks", VM_MAX_DISKS, VM_PATH_MAX, &p->disks, err) < 0 ||
	    api_param_bool(req, "video", &p->video, err) < 0)
		return -1;
	p->ndisks = p->disks ? json_object_array_length(p->disks) : 0;
	return 0;
}

/* The name (valid, not taken), memory, processors and generation. */
static int new_vm_check_machine(struct service *svc, const struct new_vm_params *p,
				struct api_error *err)
{
	char why[256];

	if (vm_name_check(p->name, why, sizeof(why)) < 0) {
		api_error_set(err, API_ERR_INVALID, "%s", why);
		return -1;
	}
	if (svc_vm_find(svc, p->name)) {
		api_error_set(
			err, API_ERR_EXISTS,
			"a VM named '%s' already exists (parvis remove-vm %s, or choose another "
			"name)",
			p->name, p->name);
		return -1;
	}
	if (svc_check_memory(svc, p->memory, err) < 0 || svc_check_cpus(p->cpus, err) < 0)
		return -1;
	if (p->generation != 1 && p->generation != 2) {
		api_error_set(err, API_ERR_INVALID,
			      "generation: %llu is not a VM generation (1: a PC with IDE, DVD, "
			      "legacy network adapters and a BIOS; 2: synthetic devices only)",
			      (unsigned long long)p->generation);
		return -1;
	}
	return 0;
}

/* How it boots: a kernel (with its initrd and command line) or a boot disk, resolved. */
static int new_vm_check_boot(struct service *svc, struct new_vm_params *p, struct api_error *err)
{
	if (p->kernel && p->boot_disk) {
		api_error_set(err, API_ERR_INVALID,
			      "give either a kernel (--kernel) or a boot disk (--boot-disk), not "
			      "both");
		return -1;
	}
	/*
	 * Hyper-V boots generation 2 through UEFI, which Parvis does not have: its generation 2
	 * VMs boot a kernel directly. A disk image with a boot loader needs generation 1's BIOS.
	 */
	if (p->generation == 2 && p->boot_disk) {
		api_error_set(err, API_ERR_INVALID,
			      "boot_disk: a generation 2 VM cannot boot from a disk: Hyper-V boots "
			      "generation 2 through UEFI, which Parvis does not have, and its "
			      "generation 2 VMs boot only a kernel directly (--kernel); for a disk "
			      "image with a BIOS boot loader use --generation 1");
		return -1;
	}
	if (p->generation == 2 && !p->kernel) {
		api_error_set(err, API_ERR_INVALID,
			      "kernel: a generation 2 VM boots a kernel directly: give --kernel "
			      "(or make a generation 1 VM with a boot disk, booted by its BIOS: "
			      "--generation 1 --boot-disk FILE)");
		return -1;
	}
	if (p->initrd && !p->kernel) {
		api_error_set(err, API_ERR_INVALID, "an initrd needs a kernel");
		return -1;
	}
	if (p->cmdline && !p->kernel) {
		api_error_set(err, API_ERR_INVALID,
			      "cmdline: a command line needs a kernel (--kernel); a VM that boots "
			      "its disk through the BIOS gets its command line from its boot "
			      "loader");
		return -1;
	}
	if ((p->kernel &&
	     svc_check_named_path(svc, NULL, "kernel", p->kernel, false, p->rkernel, err) < 0) ||
	    (p->initrd &&
	     svc_check_named_path(svc, NULL, "initrd", p->initrd, false, p->rinitrd, err) < 0) ||
	    (p->boot_disk &&
	     svc_check_named_path(svc, NULL, "disk", p->boot_disk, true, p->rboot, err) < 0))
		return -1;
	return 0;
}

/* The disks, resolved: none twice, none the boot disk again, as many as fit. */
static int new_vm_check_disks(struct service *svc, struct new_vm_params *p, struct api_error *err)
{
	for (size_t i = 0; i < p->ndisks; i++) {
		const char *d = json_object_get_string(json_object_array_get_idx(p->disks, i));

		if (svc_check_named_path(svc, NULL, "disk", d, true, p->rdisks[i], err) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(p->rdisks[i], p->rdisks[j])) {
				api_error_set(err, API_ERR_INVALID, "disk '%s' is given twice", d);
				return -1;
			}
		if (p->boot_disk && !strcmp(p->rdisks[i], p->rboot)) {
			api_error_set(err, API_ERR_INVALID,
				      "disk '%s' is the boot disk already (--boot-disk)", d);
			return -1;
		}
	}
	if (p->boot_disk && p->ndisks == VM_MAX_DISKS) {
		api_error_set(err, API_ERR_INVALID, "at most %d disks, the boot disk included",
			      VM_MAX_DISKS);
		return -1;
	}
	return 0;
}

/*
 * The disks into the record. Generation 1, as Hyper-V's New-VM -Generation 1 -VHDPath: the
 * boot disk (else the first --disk) on IDE 0:0, where the BIOS boots it; the others on SCSI.
 */
static void new_vm_place_disks(struct vm_record *rec, const struct new_vm_params *p)
{
	if (p->boot_disk) {
		rec->disks[0] = (struct vm_disk){.path = strdup(p->rboot), .ide = true};
		rec->ndisks++;
	}
	for (size_t i = 0; i < p->ndisks; i++) {
		struct vm_disk *d = &rec->disks[rec->ndisks];

		d->path = strdup(p->rdisks[i]);
		if (p->generation == 1 && rec->ndisks == 0)
			d->ide = true;
		else
			d->lun = (unsigned)(rec->ndisks - (p->generation == 1));
		rec->ndisks++;
	}
}

/* The new VM, Off, from checked parameters; NULL with err set. */
static struct vm *new_vm_make(struct service *svc, const struct new_vm_params *p,
			      struct api_error *err)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	if (!vm) {
		api_error_set(err, API_ERR_HOST, "out of memory");
		return NULL;
	}
	vm->pidfd = -1;
	vm->incoming_fd = -1;
	vm_record_init(&vm->rec);
	if (vm_id_new(vm->rec.id) < 0 ||
	    worker_paths_init(&vm->paths, svc->state_dir, vm->rec.id) < 0) {
		svc_vm_free(vm);
		api_error_set(err, API_ERR_HOST,
			      "cannot make an ID or the run directory path is too long");
		return NULL;
	}
	vm->rec.name = strdup(p->name);
	vm->rec.generation = (unsigned)p->generation;
	vm->rec.cpus = (unsigned)p->cpus;
	vm->rec.memory_bytes = p->memory;
	vm->rec.no_video = !p->video;
	vm->rec.kernel = p->kernel ? strdup(p->rkernel) : NULL;
	vm->rec.initrd = p->initrd ? strdup(p->rinitrd) : NULL;
	vm->rec.cmdline = p->cmdline ? strdup(p->cmdline) : NULL;
	vm->rec.notes = p->notes ? strdup(p->notes) : NULL;
	new_vm_place_disks(&vm->rec, p);
	vm_record_transition(&vm->rec, VM_STATE_OFF, svc_now_ms(), "new-vm", svc_caller_uid());
	return vm;
}

/* Written to the inventory, then known to the service. */
static int new_vm_register(struct service *svc, struct vm *vm, struct api_error *err)
{
	int r = inventory_write(svc->state_dir, &vm->rec);

	if (r < 0) {
		api_error_set(err, API_ERR_HOST, "cannot write the VM's file in %s/vms: %s",
			      svc->state_dir, strerror(-r));
		return r;
	}
	vm->next = svc->vms;
	svc->vms = vm;
	pv_log(LOG_INFO, "VM '%s' created (%s)", vm->rec.name, vm->rec.id);
	svc_emit(svc, svc_vm_event("vm-created", vm));
	return 0;
}

static struct json_object *call_new_vm(struct service *svc, const struct api_request *req,
				       struct api_error *err)
{
	struct new_vm_params *p = calloc(1, sizeof(*p));
	struct json_object *res = NULL;
	struct vm *vm;

	if (!p) {
		api_error_set(err, API_ERR_HOST, "out of memory");
		return NULL;
	}
	if (new_vm_read_params(req, p, err) == 0 && new_vm_check_machine(svc, p, err) == 0 &&
	    new_vm_check_boot(svc, p, err) == 0 && new_vm_check_disks(svc, p, err) == 0) {
		vm = new_vm_make(svc, p, err);
		if (vm && new_vm_register(svc, vm, err) < 0) {
			svc_vm_free(vm);
			vm = NULL;
		}
		res = vm ? svc_vm_json(vm) : NULL;
	}
	free(p);
	return res;
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
		vm = svc_lookup(svc, req, err);
		if (!vm) {
			json_object_put(list);
			return NULL;
		}
		json_object_array_add(list, svc_vm_json(vm));
	} else {
		for (vm = svc->vms; vm; vm = vm->next)
			json_object_array_add(list, svc_vm_json(vm));
	}
	res = json_object_new_object();
	json_object_object_add(res, "vms", list);
	return res;
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
	unlink(wp->vnc);
	rmdir(wp->dir);
}

static struct json_object *call_remove_vm(struct service *svc, const struct api_request *req,
					  struct api_error *err)
{
	struct vm *vm = svc_lookup(svc, req, err);
	char id[GUID_STRING_LEN];
	uint64_t deadline;
	bool force = false;

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
		if (!svc_stop_vm(svc, vm, false, true, 30, err))
			return NULL;
	}
	/* Another call or the monitor may still be talking to its worker: a moment. */
	snprintf(id, sizeof(id), "%s", vm->rec.id);
	deadline = time_monotonic_ns() + 15000000000ull;
	while ((vm->pidfd >= 0 || vm->refs) && time_monotonic_ns() < deadline) {
		struct timespec ts = monotonic_deadline_ns(100000000);

		pthread_cond_timedwait(&svc->changed, &svc->lock, &ts);
		vm = svc_vm_find(svc, id); /* a concurrent remove-vm may have taken it */
		if (!vm) {
			api_error_set(err, API_ERR_NOT_FOUND, "VM %s was removed meanwhile", id);
			return NULL;
		}
	}
	if (vm->pidfd >= 0 || vm->refs) {
		api_error_set(err, API_ERR_STATE, "remove-vm: VM '%s' is busy; try again",
			      vm->rec.name);
		return NULL;
	}
	if (svc_vm_unregister(svc, vm, "removed", err) < 0)
		return NULL;
	return NULL;
}

int svc_vm_unregister(struct service *svc, struct vm *vm, const char *why, struct api_error *err)
{
	struct vm **pp;
	int r;

	r = inventory_remove(svc->state_dir, vm->rec.id);
	if (r < 0) {
		api_error_set(err, API_ERR_HOST, "cannot remove the VM's file: %s", strerror(-r));
		return r;
	}
	remove_run_dir(&vm->paths);
	svc_net_vm_removed(svc, vm);
	for (pp = &svc->vms; *pp; pp = &(*pp)->next)
		if (*pp == vm) {
			*pp = vm->next;
			break;
		}
	pv_log(LOG_INFO, "VM '%s' %s", vm->rec.name, why);
	svc_emit(svc, svc_vm_event("vm-removed", vm));
	vm->removed = true;
	pthread_cond_broadcast(&svc->changed);
	if (!vm->refs)
		svc_vm_free(vm);
	return 0;
}

static struct json_object *call_set_vm(struct service *svc, const struct api_request *req,
				       struct api_error *err)
{
	static const enum vm_state off[] = {VM_STATE_OFF};
	const char *cmdline = NULL, *notes = NULL, *new_name = NULL;
	uint64_t cpus = 0, memory = 0;
	struct vm *vm = svc_lookup(svc, req, err);
	struct vm_record saved;
	bool video = false, has_video = json_object_object_get_ex(req->params, "video", NULL);
	bool tcp = false, has_tcp = json_object_object_get_ex(req->params, "console_tcp", NULL);
	char why[256];
	int r;

	if (!vm || (has_video && api_param_bool(req, "video", &video, err) < 0) ||
	    (has_tcp && api_param_bool(req, "console_tcp", &tcp, err) < 0) ||
	    api_param_u64(req, "cpus", false, 1u << 20, &cpus, err) < 0 ||
	    api_param_u64(req, "memory_bytes", false, UINT64_MAX >> 1, &memory, err) < 0 ||
	    api_param_string(req, "cmdline", false, VM_CMDLINE_MAX, &cmdline, err) < 0 ||
	    api_param_string(req, "notes", false, VM_NOTES_MAX, &notes, err) < 0 ||
	    api_param_string(req, "new_name", false, 1024, &new_name, err) < 0)
		return NULL;
	if ((cpus || memory || cmdline || new_name || has_video || has_tcp) &&
	    svc_need_state(vm, "set-vm", off, 1,
			   "vCPUs, memory, command line, video, TCP console and name change only "
			   "while Off",
			   err) < 0)
		return NULL;
	if (vm->unreadable) {
		api_error_set(err, API_ERR_STATE,
			      "VM '%s' is unreadable; only remove-vm can act on it", vm->rec.name);
		return NULL;
	}
	if ((json_object_object_get_ex(req->params, "cpus", NULL) &&
	     svc_check_cpus(cpus, err) < 0) ||
	    (memory && svc_check_memory(svc, memory, err) < 0))
		return NULL;
	if (new_name) {
		if (vm_name_check(new_name, why, sizeof(why)) < 0) {
			api_error_set(err, API_ERR_INVALID, "%s", why);
			return NULL;
		}
		if (svc_vm_find(svc, new_name) && svc_vm_find(svc, new_name) != vm) {
			api_error_set(err, API_ERR_EXISTS, "a VM named '%s' already exists",
				      new_name);
			return NULL;
		}
	}
	saved = vm->rec; /* shallow: pointers replaced below are freed only on success */
	if (cpus)
		vm->rec.cpus = (unsigned)cpus;
	if (has_video)
		vm->rec.no_video = !video;
	if (has_tcp)
		vm->rec.console_tcp = tcp;
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
	return svc_vm_json(vm);
}

static struct json_object *call_add_disk(struct service *svc, const struct api_request *req,
					 struct api_error *err)
{
	static const enum vm_state ok[] = {VM_STATE_OFF, VM_STATE_RUNNING, VM_STATE_PAUSED,
					   VM_STATE_CRITICAL};
	struct vm *vm = svc_lookup(svc, req, err);
	uint64_t controller = 0, lun = UINT64_MAX;
	struct vm_disk *d;
	bool readonly = false, ide = false;
	char rpath[PATH_MAX];
	const char *path, *type = NULL;
	unsigned i, ide_c = 0, ide_l = 0;

	if (!vm || api_param_string(req, "path", true, VM_PATH_MAX, &path, err) < 0 ||
	    api_param_bool(req, "readonly", &readonly, err) < 0 ||
	    api_param_string(req, "controller_type", false, 16, &type, err) < 0)
		return NULL;
	if (type && strcasecmp(type, "scsi") && strcasecmp(type, "ide")) {
		api_error_set(err, API_ERR_INVALID,
			      "controller_type: '%s' is not a controller type (IDE or SCSI)", type);
		return NULL;
	}
	ide = type && !strcasecmp(type, "ide");
	if (ide) {
		static const enum vm_state off[] = {VM_STATE_OFF};

		/* IDE has no hot plug (Hyper-V too adds IDE disks only while the VM is Off). */
		if (svc_ide_place(svc, vm, req, "add-vmharddiskdrive", false, &ide_c, &ide_l, err) <
			    0 ||
		    svc_need_state(vm, "add-vmharddiskdrive", off, 1,
				   "IDE disks are added while it is Off (a running VM takes SCSI "
				   "disks: --controller-type scsi)",
				   err) < 0)
			return NULL;
		controller = ide_c;
		lun = ide_l;
	} else if (api_param_u64(req, "controller", false, VM_MAX_SCSI - 1, &controller, err) < 0 ||
		   api_param_u64(req, "lun", false, 63, &lun, err) < 0 ||
		   svc_need_state(vm, "add-vmharddiskdrive", ok, 4,
				  "wait for it to be Off or Running", err) < 0) {
		return NULL;
	}
	if (svc_check_named_path(svc, vm, "disk", path, !readonly, rpath, err) < 0)
		return NULL;
	path = rpath; /* the record keeps the resolved path */
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
		if (!ide && !vm->rec.disks[i].ide && lun != UINT64_MAX &&
		    vm->rec.disks[i].controller == controller && vm->rec.disks[i].lun == lun) {
			api_error_set(err, API_ERR_EXISTS,
				      "LUN %llu of controller %llu of VM '%s' is taken by '%s'",
				      (unsigned long long)lun, (unsigned long long)controller,
				      vm->rec.name, vm->rec.disks[i].path);
			return NULL;
		}
	}
	if (lun == UINT64_MAX) /* the lowest free LUN of that controller */
		for (lun = 0; lun < 64; lun++) {
			for (i = 0;
			     i < vm->rec.ndisks &&
			     (vm->rec.disks[i].ide || vm->rec.disks[i].controller != controller ||
			      vm->rec.disks[i].lun != lun);
			     i++)
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
		/*
		 * The worker opens no host path: the disk, its O_DIRECT twin and its parents
		 * are opened here, each checked as it is (disk_files.h), and passed with the
		 * request (SCM_RIGHTS).
		 */
		struct disk_files df;
		int fds[2 + DISK_FILES_MAX_PARENTS];
		struct json_object *parents = json_object_new_array();
		unsigned nfds = 0, k;

		if (disk_files_open(svc, vm, svc_caller(), path, readonly, &df, err) < 0) {
			json_object_put(parents);
			json_object_put(extra);
			return NULL;
		}
		fds[nfds++] = df.fd;
		if (df.direct_fd >= 0)
			fds[nfds++] = df.direct_fd;
		for (k = 0; k < df.nparents; k++) {
			fds[nfds++] = df.parent_fd[k];
			json_object_array_add(parents, json_object_new_string(df.parent_path[k]));
		}
		json_object_object_add(extra, "direct", json_object_new_boolean(df.direct_fd >= 0));
		json_object_object_add(extra, "parents", parents);
		r = svc_call_worker_fds(svc, vm, "disk-add", extra, fds, nfds, CONTROL_TIMEOUT_MS,
					&ans);
		disk_files_close(&df);
		if (r < 0 || !svc_worker_ok(ans)) {
			api_error_set(err, API_ERR_WORKER,
				      "add-vmharddiskdrive: the worker of VM '%s' refused: %s",
				      vm->rec.name, r < 0 ? strerror(-r) : svc_worker_error(ans));
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
	d->ide = ide;
	d->controller = (unsigned)controller;
	d->lun = (unsigned)lun;
	if (inventory_write(svc->state_dir, &vm->rec) < 0)
		pv_log(LOG_ERR, "VM '%s': cannot write its file", vm->rec.name);
	return svc_vm_json(vm);
}

static struct json_object *call_remove_disk(struct service *svc, const struct api_request *req,
					    struct api_error *err)
{
	static const enum vm_state ok[] = {VM_STATE_OFF, VM_STATE_RUNNING, VM_STATE_PAUSED,
					   VM_STATE_CRITICAL};
	struct vm *vm = svc_lookup(svc, req, err);
	uint64_t lun = UINT64_MAX, controller = 0;
	const char *path = NULL, *type = NULL;
	bool ide;
	unsigned i;

	if (!vm || api_param_string(req, "path", false, VM_PATH_MAX, &path, err) < 0 ||
	    api_param_string(req, "controller_type", false, 16, &type, err) < 0 ||
	    api_param_u64(req, "controller", false, VM_MAX_SCSI - 1, &controller, err) < 0 ||
	    api_param_u64(req, "lun", false, 63, &lun, err) < 0 ||
	    svc_need_state(vm, "remove-vmharddiskdrive", ok, 4, "wait for it to be Off or Running",
			   err) < 0)
		return NULL;
	if (!path && lun == UINT64_MAX) {
		api_error_set(err, API_ERR_BAD_REQUEST, "give the disk's \"path\" or its \"lun\"");
		return NULL;
	}
	ide = type && !strcasecmp(type, "ide");
	for (i = 0; i < vm->rec.ndisks; i++)
		if (path ? !strcmp(vm->rec.disks[i].path, path)
			 : vm->rec.disks[i].ide == ide &&
				    vm->rec.disks[i].controller == controller &&
				    vm->rec.disks[i].lun == lun)
			break;
	if (i == vm->rec.ndisks) {
		if (path)
			api_error_set(err, API_ERR_NOT_FOUND, "VM '%s' has no disk '%s'",
				      vm->rec.name, path);
		else
			api_error_set(err, API_ERR_NOT_FOUND,
				      "VM '%s' has no disk at %s %llu of %s controller %llu",
				      vm->rec.name, ide ? "location" : "LUN",
				      (unsigned long long)lun, ide ? "IDE" : "SCSI",
				      (unsigned long long)controller);
		return NULL;
	}
	if (vm->rec.disks[i].ide && vm_state_has_worker(vm->rec.state)) {
		api_error_set(err, API_ERR_STATE,
			      "remove-vmharddiskdrive: disk '%s' is on IDE, which has no hot "
			      "removal: stop VM '%s' first",
			      vm->rec.disks[i].path, vm->rec.name);
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
		r = svc_call_worker(svc, vm, "disk-remove", extra, CONTROL_TIMEOUT_MS, &ans);
		if (r < 0 || !svc_worker_ok(ans)) {
			api_error_set(err, API_ERR_WORKER,
				      "remove-vmharddiskdrive: the worker of VM '%s' refused: %s",
				      vm->rec.name, r < 0 ? strerror(-r) : svc_worker_error(ans));
			json_object_put(ans);
			return NULL;
		}
		json_object_put(ans);
		for (i = 0; i < vm->rec.ndisks && strcmp(vm->rec.disks[i].path, p); i++)
			;
		if (i == vm->rec.ndisks)
			return svc_vm_json(vm);
	}
	free(vm->rec.disks[i].path);
	memmove(&vm->rec.disks[i], &vm->rec.disks[i + 1],
		sizeof(vm->rec.disks[0]) * (vm->rec.ndisks - i - 1));
	vm->rec.ndisks--;
	if (inventory_write(svc->state_dir, &vm->rec) < 0)
		pv_log(LOG_ERR, "VM '%s': cannot write its file", vm->rec.name);
	return svc_vm_json(vm);
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
	struct vm *vm = svc_lookup(svc, req, err);
	unsigned i;
	int r;

	if (!vm || svc_need_state(vm, "get-vmintegrationservice", ok, 3, "start it first", err) < 0)
		return NULL;
	r = svc_call_worker(svc, vm, "status", NULL, STATUS_TIMEOUT_MS, &st);
	if (r < 0) {
		api_error_set(err, API_ERR_WORKER, "the worker of VM '%s' does not answer: %s",
			      vm->rec.name, strerror(-r));
		return NULL;
	}
	if (vm->pidfd >= 0 && !vm->removed)
		svc_apply_status(svc, vm, json_object_get(st));
	json_object_object_get_ex(st, "vmbus", &vmbus);
	list = json_object_new_array();
	for (i = 0; i < 4; i++) {
		const char *state, *status;

		ic = NULL;
		if (vmbus)
			json_object_object_get_ex(vmbus, ics[i][1], &ic);
		state = svc_status_string(ic, "state");
		if (!state || strcmp(state, "ready"))
			status = "No Contact";
		else if (i == 0)
			status = svc_status_heartbeat_alive(st) ? "OK" : "Lost Communication";
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

/*
 * The console's socket and log; with "connect", the service connects to the socket itself
 * and passes the connected descriptor with the answer (SCM_RIGHTS, *ret_fd): the state
 * directory is root's, and an operator may use a console it could not open.
 */
static struct json_object *call_get_console(struct service *svc, const struct api_request *req,
					    int *ret_fd, struct api_error *err)
{
	struct vm *vm = svc_lookup(svc, req, err);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct json_object *res;
	bool connect_it = false;
	int fd;

	if (!vm || api_param_bool(req, "connect", &connect_it, err) < 0)
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
	if (connect_it) {
		/* worker_paths_init made sure that it fits */
		memcpy(addr.sun_path, vm->paths.console,
		       strnlen(vm->paths.console, sizeof(addr.sun_path) - 1));
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
			api_error_set(err, API_ERR_WORKER,
				      "VM '%s': cannot connect to its console %s: %s", vm->rec.name,
				      vm->paths.console, strerror(errno));
			if (fd >= 0)
				close(fd);
			return NULL;
		}
		*ret_fd = fd;
	}
	res = json_object_new_object();
	json_object_object_add(res, "socket", json_object_new_string(vm->paths.console));
	json_object_object_add(res, "log", json_object_new_string(vm->paths.console_log));
	json_object_object_add(res, "passed", json_object_new_boolean(connect_it));
	return res;
}

/*
 * connect-vm (parvis connect): the VM's screen. Its RFB socket's path; with "connect", a
 * connection to it passed with the answer (the run directory is root's: an operator gets the
 * screen without reading the directory); with "web", a URL of the web console with a token
 * for this VM (web_console.h).
 */
static struct json_object *call_connect_vm(struct service *svc, const struct api_request *req,
					   int *ret_fd, struct api_error *err)
{
	struct vm *vm = svc_lookup(svc, req, err);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	bool connect_it = false, web = false, tcp = false;
	struct json_object *res;
	char url[256], pw[CONSOLE_TCP_PASSWORD_LEN + 8];
	int fd;

	if (!vm || api_param_bool(req, "connect", &connect_it, err) < 0 ||
	    api_param_bool(req, "web", &web, err) < 0 || api_param_bool(req, "tcp", &tcp, err) < 0)
		return NULL;
	if (vm->rec.no_video) {
		api_error_set(err, API_ERR_STATE,
			      "VM '%s' has no video (parvis set-vm %s --video on, while it is Off)",
			      vm->rec.name, vm->rec.name);
		return NULL;
	}
	if (!vm_state_has_worker(vm->rec.state)) {
		api_error_set(err, API_ERR_STATE,
			      "VM '%s' is %s: its screen exists while it runs (parvis start-vm %s)",
			      vm->rec.name, vm_state_name(vm->rec.state), vm->rec.name);
		return NULL;
	}
	if (tcp && !vm->console_tcp_port) {
		api_error_set(
			err, API_ERR_STATE,
			vm->rec.console_tcp
				? "VM '%s' was started without its TCP console: restart it"
				: "VM '%s' has no TCP console (parvis set-vm %s --console-tcp on, "
				  "while it is Off)",
			vm->rec.name, vm->rec.name);
		return NULL;
	}
	if (web && !svc->cfg.web) {
		api_error_set(err, API_ERR_STATE,
			      "the service has no web console: start parvis-vmms with --web PORT");
		return NULL;
	}
	if (web && web_console_issue(svc->cfg.web, vm->paths.vnc, url, sizeof(url)) < 0) {
		api_error_set(err, API_ERR_HOST, "cannot make a web console token");
		return NULL;
	}
	if (connect_it) {
		memcpy(addr.sun_path, vm->paths.vnc,
		       strnlen(vm->paths.vnc, sizeof(addr.sun_path) - 1));
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
			api_error_set(err, API_ERR_WORKER,
				      "VM '%s': cannot connect to its screen %s: %s", vm->rec.name,
				      vm->paths.vnc, strerror(errno));
			if (fd >= 0)
				close(fd);
			return NULL;
		}
		*ret_fd = fd;
	}
	res = json_object_new_object();
	json_object_object_add(res, "socket", json_object_new_string(vm->paths.vnc));
	json_object_object_add(res, "passed", json_object_new_boolean(connect_it));
	if (tcp) {
		char hp[32];

		snprintf(hp, sizeof(hp), "127.0.0.1:%u", vm->console_tcp_port);
		json_object_object_add(res, "tcp", json_object_new_string(hp));
		/* The password is an admin's to hand out (operators use the Unix socket). */
		if (svc_caller() && svc_caller()->role == ACCESS_ADMIN &&
		    console_tcp_password_read(vm->paths.dir, pw, sizeof(pw)) == 0) {
			json_object_object_add(res, "password", json_object_new_string(pw));
			explicit_bzero(pw, sizeof(pw));
		}
	}
	if (web) {
		json_object_object_add(res, "web_port",
				       json_object_new_int((int)web_console_port(svc->cfg.web)));
		json_object_object_add(res, "web_path", json_object_new_string(url));
	}
	return res;
}

static struct json_object *call_get_history(struct service *svc, const struct api_request *req,
					    struct api_error *err)
{
	struct vm *vm = svc_lookup(svc, req, err);
	struct json_object *rec, *res, *h = NULL;
	size_t i;

	if (!vm)
		return NULL;
	rec = vm_record_to_json(&vm->rec);
	json_object_object_get_ex(rec, "history", &h);
	/* Who: the caller's account name beside its uid (the file keeps the uid only). */
	for (i = 0; h && i < json_object_array_length(h); i++) {
		struct json_object *e = json_object_array_get_idx(h, i), *u;
		struct passwd pw, *pwp = NULL;
		char buf[1024], num[16];

		if (!json_object_object_get_ex(e, "uid", &u))
			continue;
		getpwuid_r((uid_t)json_object_get_int64(u), &pw, buf, sizeof(buf), &pwp);
		snprintf(num, sizeof(num), "%lld", (long long)json_object_get_int64(u));
		json_object_object_add(e, "user", json_object_new_string(pwp ? pwp->pw_name : num));
	}
	res = json_object_new_object();
	json_object_object_add(res, "name", json_object_new_string(vm->rec.name));
	json_object_object_add(res, "history", json_object_get(h));
	json_object_put(rec);
	return res;
}

void service_audit_refused(struct service *svc, const struct api_caller *caller, const char *why)
{
	audit_record(svc->cfg.audit, caller, "connect", NULL, false, why);
}

struct json_object *service_call(struct service *svc, const struct api_caller *caller,
				 const struct api_request *req, int event_fd, bool *subscribed,
				 int *ret_fd)
{
	struct api_error err = {0};
	struct json_object *res = NULL, *ans;
	bool is_remove = req->call == API_CALL_REMOVE_VM;
	const char *vm_name = NULL;

	if (api_param_string(req, "name", false, 1024, &vm_name, &err) < 0)
		vm_name = NULL;
	err = (struct api_error){0};
	if (access_check_call(&svc->cfg.access, caller, req->call, &err) < 0) {
		audit_record(svc->cfg.audit, caller, api_call_name(req->call), vm_name, false,
			     err.message);
		return api_answer_error(req, &err);
	}
	svc_set_caller(caller);
	pthread_mutex_lock(&svc->lock);
	switch (req->call) {
	case API_CALL_NEW_VM: res = call_new_vm(svc, req, &err); break;
	case API_CALL_GET_VM: res = call_get_vm(svc, req, &err); break;
	case API_CALL_START_VM: res = svc_call_start_vm(svc, req, &err); break;
	case API_CALL_STOP_VM: res = svc_call_stop_vm(svc, req, &err); break;
	case API_CALL_RESTART_VM: res = svc_call_restart_vm(svc, req, &err); break;
	case API_CALL_SUSPEND_VM: res = svc_call_pause(svc, req, true, &err); break;
	case API_CALL_RESUME_VM: res = svc_call_pause(svc, req, false, &err); break;
	case API_CALL_REMOVE_VM: res = call_remove_vm(svc, req, &err); break;
	case API_CALL_SET_VM: res = call_set_vm(svc, req, &err); break;
	case API_CALL_ADD_VMHARDDISKDRIVE: res = call_add_disk(svc, req, &err); break;
	case API_CALL_REMOVE_VMHARDDISKDRIVE: res = call_remove_disk(svc, req, &err); break;
	case API_CALL_GET_VMINTEGRATIONSERVICE: res = call_get_ic(svc, req, &err); break;
	case API_CALL_GET_VMCONSOLE: res = call_get_console(svc, req, ret_fd, &err); break;
	case API_CALL_CONNECT_VM: res = call_connect_vm(svc, req, ret_fd, &err); break;
	case API_CALL_GET_VMHISTORY: res = call_get_history(svc, req, &err); break;
	case API_CALL_SET_VMPROCESSOR: res = svc_call_set_processor(svc, req, &err); break;
	case API_CALL_GET_VMPROCESSOR: res = svc_call_get_processor(svc, req, &err); break;
	case API_CALL_GET_VMHOSTPROCESSOR: res = svc_call_get_host_processor(svc, req, &err); break;
	case API_CALL_SET_VMMEMORY: res = svc_call_set_memory(svc, req, &err); break;
	case API_CALL_MEASURE_VM: res = svc_call_measure_vm(svc, req, &err); break;
	case API_CALL_NEW_VMSWITCH: res = svc_call_new_switch(svc, req, &err); break;
	case API_CALL_GET_VMSWITCH: res = svc_call_get_switch(svc, req, &err); break;
	case API_CALL_SET_VMSWITCH: res = svc_call_set_switch(svc, req, &err); break;
	case API_CALL_REMOVE_VMSWITCH: res = svc_call_remove_switch(svc, req, &err); break;
	case API_CALL_ADD_VMNETWORKADAPTER: res = svc_call_add_adapter(svc, req, &err); break;
	case API_CALL_GET_VMNETWORKADAPTER: res = svc_call_get_adapter(svc, req, &err); break;
	case API_CALL_CONNECT_VMNETWORKADAPTER:
	case API_CALL_DISCONNECT_VMNETWORKADAPTER:
		res = svc_call_connect_adapter(
			svc, req, req->call == API_CALL_CONNECT_VMNETWORKADAPTER, &err);
		break;
	case API_CALL_SET_VMNETWORKADAPTER: res = svc_call_set_adapter(svc, req, &err); break;
	case API_CALL_REMOVE_VMNETWORKADAPTER: res = svc_call_remove_adapter(svc, req, &err); break;
	case API_CALL_ADD_VMNETWORKADAPTERACL:
	case API_CALL_GET_VMNETWORKADAPTERACL:
	case API_CALL_REMOVE_VMNETWORKADAPTERACL:
		res = svc_call_acl(svc, req, req->call, &err);
		break;
	case API_CALL_SAVE_VM: res = svc_call_save_vm(svc, req, event_fd, &err); break;
	case API_CALL_ADD_VMDVDDRIVE: res = svc_call_add_dvd(svc, req, &err); break;
	case API_CALL_GET_VMDVDDRIVE: res = svc_call_get_dvd(svc, req, &err); break;
	case API_CALL_SET_VMDVDDRIVE: res = svc_call_set_dvd(svc, req, &err); break;
	case API_CALL_REMOVE_VMDVDDRIVE: res = svc_call_remove_dvd(svc, req, &err); break;
	case API_CALL_SET_VMBIOS: res = svc_call_set_bios(svc, req, &err); break;
	case API_CALL_GET_VMBIOS: res = svc_call_get_bios(svc, req, &err); break;
	case API_CALL_CHECKPOINT_VM: res = svc_call_checkpoint_vm(svc, req, &err); break;
	case API_CALL_GET_VMSNAPSHOT: res = svc_call_get_snapshot(svc, req, &err); break;
	case API_CALL_RESTORE_VMSNAPSHOT: res = svc_call_restore_snapshot(svc, req, &err); break;
	case API_CALL_REMOVE_VMSNAPSHOT:
		res = svc_call_remove_snapshot(svc, req, event_fd, &err);
		break;
	case API_CALL_EXPORT_VM: res = svc_call_export_vm(svc, req, event_fd, &err); break;
	case API_CALL_IMPORT_VM: res = svc_call_import_vm(svc, req, event_fd, &err); break;
	case API_CALL_ENABLE_VMMIGRATION: res = svc_call_enable_migration(svc, req, &err); break;
	case API_CALL_DISABLE_VMMIGRATION: res = svc_call_disable_migration(svc, req, &err); break;
	case API_CALL_GET_VMHOST: res = svc_call_get_vmhost(svc, req, &err); break;
	case API_CALL_MOVE_VM: res = svc_call_move_vm(svc, req, event_fd, &err); break;
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
		svc_set_caller(NULL);
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
	svc_set_caller(NULL);
	if (!res && !err.code && !is_remove)
		api_error_set(&err, API_ERR_HOST, "internal error");
	if (access_call_changes(req->call))
		audit_record(svc->cfg.audit, caller, api_call_name(req->call), vm_name, !err.code,
			     err.code ? err.message : NULL);
	ans = err.code ? api_answer_error(req, &err) : api_answer_ok(req, res);
	if (err.code && *ret_fd >= 0) {
		close(*ret_fd);
		*ret_fd = -1;
	}
	return ans;
}

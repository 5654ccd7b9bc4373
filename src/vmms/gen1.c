/*
 * Generation 1 calls (docs/generation1.md): the DVD drives on the emulated IDE
 * (add/get/set/remove-vmdvddrive, media change on a running VM through the worker's
 * "dvd-set"), the BIOS's startup order (set/get-vmbios), and the IDE places shared by
 * hard disks and DVD drives (2 channels x 2 locations, as Hyper-V's two IDE controllers).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/log.h"
#include "vmms/disk_files.h"
#include "vmms/service_internal.h"
#include "vmms/vm_state.h"

/* Set-VMBios -StartupOrder's names, as Hyper-V spells them (the worker's startup_order.c). */
static const char *const startup_names[] = {"IDE", "CD", "LegacyNetworkAdapter", "Floppy"};
#define NSTARTUP	(sizeof(startup_names) / sizeof(startup_names[0]))
#define STARTUP_DEFAULT "IDE,CD,LegacyNetworkAdapter,Floppy"

const char *svc_ide_place_user(const struct vm *vm, unsigned controller, unsigned location)
{
	unsigned i;

	for (i = 0; i < vm->rec.ndisks; i++)
		if (vm->rec.disks[i].ide && vm->rec.disks[i].controller == controller &&
		    vm->rec.disks[i].lun == location)
			return vm->rec.disks[i].path;
	for (i = 0; i < vm->rec.ndvds; i++)
		if (vm->rec.dvds[i].controller == controller &&
		    vm->rec.dvds[i].location == location)
			return vm->rec.dvds[i].path ? vm->rec.dvds[i].path : "an empty DVD drive";
	return NULL;
}

int svc_ide_place(struct service *svc, const struct vm *vm, const struct api_request *req,
		  const char *call, bool dvd, unsigned *controller, unsigned *location,
		  struct api_error *err)
{
	uint64_t c = UINT64_MAX, l = UINT64_MAX;
	const char *user;
	unsigned ci, li;

	(void)svc;
	if (api_param_u64(req, "controller", false, 1000, &c, err) < 0 ||
	    api_param_u64(req, "lun", false, 1000, &l, err) < 0)
		return -EINVAL;
	if (vm->rec.generation != 1) {
		api_error_set(err, API_ERR_INVALID,
			      "%s: VM '%s' is generation 2, which has no IDE (its disks are on "
			      "synthetic SCSI: --controller-type scsi); IDE and DVD drives are "
			      "generation 1's (new-vm --generation 1)",
			      call, vm->rec.name);
		return -EINVAL;
	}
	if ((c != UINT64_MAX && c >= VM_IDE_CHANNELS) || (l != UINT64_MAX && l > 1)) {
		api_error_set(err, API_ERR_INVALID,
			      "%s: IDE controller %llu, location %llu does not exist: a generation "
			      "1 VM has IDE controllers 0 and 1 with locations 0 and 1",
			      call, (unsigned long long)(c == UINT64_MAX ? 0 : c),
			      (unsigned long long)(l == UINT64_MAX ? 0 : l));
		return -EINVAL;
	}
	if (c != UINT64_MAX && l != UINT64_MAX) {
		user = svc_ide_place_user(vm, (unsigned)c, (unsigned)l);
		if (user) {
			api_error_set(err, API_ERR_EXISTS,
				      "%s: IDE %llu:%llu of VM '%s' is taken by %s (choose another "
				      "--controller-number/--controller-location, or remove it)",
				      call, (unsigned long long)c, (unsigned long long)l,
				      vm->rec.name, user);
			return -EEXIST;
		}
		*controller = (unsigned)c;
		*location = (unsigned)l;
		return 0;
	}
	/*
	 * The first free place, of the controller given or of either: hard disks from
	 * controller 0, DVD drives from controller 1 (where Hyper-V's New-VM puts its DVD
	 * drive, IDE 1:0).
	 */
	for (unsigned n = 0; n < VM_IDE_CHANNELS; n++) {
		ci = dvd ? VM_IDE_CHANNELS - 1 - n : n;
		for (li = 0; li < 2; li++)
			if ((c == UINT64_MAX || c == ci) && (l == UINT64_MAX || l == li) &&
			    !svc_ide_place_user(vm, ci, li)) {
				*controller = ci;
				*location = li;
				return 0;
			}
	}
	api_error_set(err, API_ERR_INVALID,
		      "%s: VM '%s' has no free IDE location%s (2 controllers x 2 locations, "
		      "hard disks and DVD drives together): remove a drive, or use SCSI for a "
		      "disk",
		      call, vm->rec.name, c != UINT64_MAX ? " on that controller" : "");
	return -ENOSPC;
}

static struct json_object *dvd_json(const struct vm *vm, const struct vm_dvd *d)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "vm", json_object_new_string(vm->rec.name));
	json_object_object_add(o, "controller_type", json_object_new_string("IDE"));
	json_object_object_add(o, "controller_number", json_object_new_int((int)d->controller));
	json_object_object_add(o, "controller_location", json_object_new_int((int)d->location));
	json_object_object_add(o, "path", d->path ? json_object_new_string(d->path) : NULL);
	json_object_object_add(o, "media", json_object_new_string(d->path ? "ISO" : "None"));
	return o;
}

static struct json_object *dvd_list(const struct vm *vm)
{
	struct json_object *list = json_object_new_array(), *res = json_object_new_object();
	unsigned i;

	for (i = 0; i < vm->rec.ndvds; i++)
		json_object_array_add(list, dvd_json(vm, &vm->rec.dvds[i]));
	json_object_object_add(res, "dvd_drives", list);
	return res;
}

/* The drive named by "controller"/"lun", or the only one; NULL with err. */
static struct vm_dvd *find_dvd(struct vm *vm, const struct api_request *req, const char *call,
			       struct api_error *err)
{
	uint64_t c = UINT64_MAX, l = UINT64_MAX;
	unsigned i;

	if (api_param_u64(req, "controller", false, 1000, &c, err) < 0 ||
	    api_param_u64(req, "lun", false, 1000, &l, err) < 0)
		return NULL;
	if (vm->rec.generation != 1 || !vm->rec.ndvds) {
		api_error_set(err, API_ERR_NOT_FOUND, "%s: VM '%s' has no DVD drive%s", call,
			      vm->rec.name,
			      vm->rec.generation != 1 ? " (DVD drives are generation 1's, on IDE)"
						      : " (parvis add-vmdvddrive)");
		return NULL;
	}
	if (c == UINT64_MAX && l == UINT64_MAX) {
		if (vm->rec.ndvds == 1)
			return &vm->rec.dvds[0];
		api_error_set(err, API_ERR_INVALID,
			      "%s: VM '%s' has %u DVD drives: say which with "
			      "--controller-number and --controller-location",
			      call, vm->rec.name, vm->rec.ndvds);
		return NULL;
	}
	for (i = 0; i < vm->rec.ndvds; i++)
		if ((c == UINT64_MAX || vm->rec.dvds[i].controller == c) &&
		    (l == UINT64_MAX || vm->rec.dvds[i].location == l))
			return &vm->rec.dvds[i];
	api_error_set(err, API_ERR_NOT_FOUND,
		      "%s: VM '%s' has no DVD drive at IDE %s:%s (parvis get-vmdvddrive %s)", call,
		      vm->rec.name, c == UINT64_MAX ? "*" : (c ? "1" : "0"),
		      l == UINT64_MAX ? "*" : (l ? "1" : "0"), vm->rec.name);
	return NULL;
}

/* A DVD's ISO: an absolute path the caller may name, a regular file, read-only. */
static int check_iso(struct service *svc, struct vm *vm, const char *path, char *resolved,
		     struct api_error *err)
{
	return svc_check_named_path(svc, vm, "ISO", path, false, resolved, err);
}

static int save_record(struct service *svc, struct vm *vm, struct api_error *err)
{
	int r = inventory_write(svc->state_dir, &vm->rec);

	if (r < 0)
		api_error_set(err, API_ERR_HOST, "cannot write VM '%s''s file in %s/vms: %s",
			      vm->rec.name, svc->state_dir, strerror(-r));
	return r;
}

struct json_object *svc_call_add_dvd(struct service *svc, const struct api_request *req,
				     struct api_error *err)
{
	static const enum vm_state off[] = {VM_STATE_OFF};
	struct vm *vm = svc_lookup(svc, req, err);
	char resolved[PATH_MAX];
	const char *path = NULL;
	unsigned c, l;
	struct vm_dvd *d;

	if (!vm || api_param_string(req, "path", false, VM_PATH_MAX, &path, err) < 0)
		return NULL;
	if (vm->rec.generation != 1) {
		api_error_set(err, API_ERR_INVALID,
			      "add-vmdvddrive: VM '%s' is generation 2: a DVD drive is on the "
			      "emulated IDE of generation 1 VMs (new-vm --generation 1); give a "
			      "generation 2 VM the image as a read-only disk "
			      "(add-vmharddiskdrive --readonly)",
			      vm->rec.name);
		return NULL;
	}
	/* An IDE device is wired at start (Hyper-V, too, adds IDE drives only while Off). */
	if (svc_need_state(vm, "add-vmdvddrive", off, 1,
			   "DVD drives are added while it is Off (its media change while it runs: "
			   "set-vmdvddrive)",
			   err) < 0 ||
	    svc_ide_place(svc, vm, req, "add-vmdvddrive", true, &c, &l, err) < 0)
		return NULL;
	if (path && check_iso(svc, vm, path, resolved, err) < 0)
		return NULL;
	d = &vm->rec.dvds[vm->rec.ndvds++];
	d->path = path ? strdup(resolved) : NULL;
	d->controller = c;
	d->location = l;
	if (save_record(svc, vm, err) < 0) {
		free(d->path);
		vm->rec.ndvds--;
		return NULL;
	}
	pv_log(LOG_INFO, "VM '%s': DVD drive added on IDE %u:%u", vm->rec.name, c, l);
	return dvd_json(vm, d);
}

struct json_object *svc_call_get_dvd(struct service *svc, const struct api_request *req,
				     struct api_error *err)
{
	struct vm *vm = svc_lookup(svc, req, err);

	(void)svc;
	return vm ? dvd_list(vm) : NULL;
}

struct json_object *svc_call_set_dvd(struct service *svc, const struct api_request *req,
				     struct api_error *err)
{
	/* Not Saved: its saved IDE state holds the media it had. */
	static const enum vm_state ok[] = {VM_STATE_OFF, VM_STATE_RUNNING, VM_STATE_PAUSED};
	struct vm *vm = svc_lookup(svc, req, err);
	char resolved[PATH_MAX], *newpath = NULL;
	const char *path = NULL;
	bool no_media = false, force = false;
	struct vm_dvd *d;
	unsigned c, l, i;

	if (!vm || api_param_string(req, "path", false, VM_PATH_MAX, &path, err) < 0 ||
	    api_param_bool(req, "no_media", &no_media, err) < 0 ||
	    api_param_bool(req, "force", &force, err) < 0)
		return NULL;
	if (!path == !no_media) {
		api_error_set(err, API_ERR_INVALID,
			      "set-vmdvddrive: give the new media (--path FILE.iso) or eject it "
			      "(--no-media), one of them");
		return NULL;
	}
	d = find_dvd(vm, req, "set-vmdvddrive", err);
	if (!d ||
	    svc_need_state(vm, "set-vmdvddrive", ok, 3,
			   "its media change while it is Off or Running (start a Saved VM first)",
			   err) < 0)
		return NULL;
	if (path) {
		if (check_iso(svc, vm, path, resolved, err) < 0)
			return NULL;
		newpath = strdup(resolved);
		if (!newpath) {
			api_error_set(err, API_ERR_HOST, "out of memory");
			return NULL;
		}
	}
	c = d->controller;
	l = d->location;
	if (vm->rec.state == VM_STATE_RUNNING || vm->rec.state == VM_STATE_PAUSED) {
		/* The worker opens no host path: the ISO goes along with the request. */
		struct json_object *extra = json_object_new_object(), *ans = NULL;
		int fd = -1, r;

		json_object_object_add(extra, "controller", json_object_new_int((int)c));
		json_object_object_add(extra, "lun", json_object_new_int((int)l));
		json_object_object_add(extra, "force", json_object_new_boolean(force));
		if (newpath) {
			fd = boot_file_open(svc, "ISO", newpath, err);
			if (fd < 0) {
				json_object_put(extra);
				free(newpath);
				return NULL;
			}
			json_object_object_add(extra, "path", json_object_new_string(newpath));
		}
		r = svc_call_worker_fds(svc, vm, "dvd-set", extra, &fd, fd >= 0 ? 1 : 0,
					CONTROL_TIMEOUT_MS, &ans);
		if (fd >= 0)
			close(fd);
		if (r < 0 || !svc_worker_ok(ans)) {
			api_error_set(err, API_ERR_WORKER,
				      "set-vmdvddrive: the worker of VM '%s' refused: %s",
				      vm->rec.name, r < 0 ? strerror(-r) : svc_worker_error(ans));
			json_object_put(ans);
			free(newpath);
			return NULL;
		}
		json_object_put(ans);
		/* The lock was dropped: find the drive again. */
		for (i = 0, d = NULL; !vm->removed && i < vm->rec.ndvds; i++)
			if (vm->rec.dvds[i].controller == c && vm->rec.dvds[i].location == l)
				d = &vm->rec.dvds[i];
		if (!d) {
			api_error_set(err, API_ERR_STATE, "the VM changed meanwhile");
			free(newpath);
			return NULL;
		}
	}
	free(d->path);
	d->path = newpath;
	if (save_record(svc, vm, err) < 0)
		return NULL;
	pv_log(LOG_INFO, "VM '%s': IDE %u:%u %s", vm->rec.name, c, l,
	       d->path ? "media changed" : "media ejected");
	return dvd_json(vm, d);
}

struct json_object *svc_call_remove_dvd(struct service *svc, const struct api_request *req,
					struct api_error *err)
{
	static const enum vm_state off[] = {VM_STATE_OFF};
	struct vm *vm = svc_lookup(svc, req, err);
	struct vm_dvd *d, saved;
	unsigned i;

	if (!vm)
		return NULL;
	d = find_dvd(vm, req, "remove-vmdvddrive", err);
	if (!d || svc_need_state(vm, "remove-vmdvddrive", off, 1,
				 "DVD drives are removed while it is Off (eject its media while "
				 "it runs: set-vmdvddrive --no-media)",
				 err) < 0)
		return NULL;
	i = (unsigned)(d - vm->rec.dvds);
	saved = *d;
	memmove(d, d + 1, sizeof(*d) * (vm->rec.ndvds - i - 1));
	vm->rec.ndvds--;
	if (save_record(svc, vm, err) < 0) {
		memmove(&vm->rec.dvds[i + 1], &vm->rec.dvds[i], sizeof(*d) * (vm->rec.ndvds - i));
		vm->rec.dvds[i] = saved;
		vm->rec.ndvds++;
		return NULL;
	}
	free(saved.path);
	return dvd_list(vm);
}

static struct json_object *bios_json(const struct vm *vm)
{
	struct json_object *o = json_object_new_object(), *order = json_object_new_array();
	char *copy = strdup(vm->rec.startup_order ? vm->rec.startup_order : STARTUP_DEFAULT);
	char *tok, *save = NULL;

	for (tok = copy ? strtok_r(copy, ",", &save) : NULL; tok; tok = strtok_r(NULL, ",", &save))
		json_object_array_add(order, json_object_new_string(tok));
	free(copy);
	json_object_object_add(o, "vm", json_object_new_string(vm->rec.name));
	json_object_object_add(o, "startup_order", order);
	json_object_object_add(o, "firmware", json_object_new_string("SeaBIOS"));
	return o;
}

/*
 * s as a startup order: names from startup_names (any case), each at most once, written back
 * in Hyper-V's spelling into out. 0, or -EINVAL with err.
 */
static int parse_startup_order(const char *s, char *out, size_t outlen, struct api_error *err)
{
	bool seen[NSTARTUP] = {0};
	size_t o = 0, n;
	const char *p = s;
	unsigned k;

	out[0] = '\0';
	while (*p) {
		n = strcspn(p, ",");
		for (k = 0; k < NSTARTUP; k++)
			if (strlen(startup_names[k]) == n && !strncasecmp(p, startup_names[k], n))
				break;
		if (k == NSTARTUP || seen[k]) {
			api_error_set(err, API_ERR_INVALID,
				      "startup_order: '%.*s' is %s (the devices are IDE, CD, "
				      "LegacyNetworkAdapter and Floppy, each at most once)",
				      (int)(n > 64 ? 64 : n), p,
				      k == NSTARTUP ? "not a device" : "named twice");
			return -EINVAL;
		}
		seen[k] = true;
		o += (size_t)snprintf(out + o, outlen - o, "%s%s", o ? "," : "", startup_names[k]);
		p += n;
		if (*p == ',' && *++p == '\0')
			break;
	}
	if (!o) {
		api_error_set(
			err, API_ERR_INVALID,
			"startup_order: empty (give e.g. IDE,CD,LegacyNetworkAdapter,Floppy)");
		return -EINVAL;
	}
	return 0;
}

struct json_object *svc_call_set_bios(struct service *svc, const struct api_request *req,
				      struct api_error *err)
{
	static const enum vm_state off[] = {VM_STATE_OFF};
	struct vm *vm = svc_lookup(svc, req, err);
	const char *order;
	char norm[128], *copy, *old;

	if (!vm || api_param_string(req, "startup_order", true, 256, &order, err) < 0)
		return NULL;
	if (vm->rec.generation != 1) {
		api_error_set(err, API_ERR_INVALID,
			      "set-vmbios: VM '%s' is generation 2, which has no BIOS (Hyper-V "
			      "gives generation 2 UEFI, set with Set-VMFirmware; Parvis boots its "
			      "kernel directly)",
			      vm->rec.name);
		return NULL;
	}
	if (svc_need_state(vm, "set-vmbios", off, 1, "the BIOS is set while it is Off", err) < 0 ||
	    parse_startup_order(order, norm, sizeof(norm), err) < 0)
		return NULL;
	copy = strdup(norm);
	if (!copy) {
		api_error_set(err, API_ERR_HOST, "out of memory");
		return NULL;
	}
	old = vm->rec.startup_order;
	vm->rec.startup_order = copy;
	if (save_record(svc, vm, err) < 0) {
		vm->rec.startup_order = old;
		free(copy);
		return NULL;
	}
	free(old);
	return bios_json(vm);
}

struct json_object *svc_call_get_bios(struct service *svc, const struct api_request *req,
				      struct api_error *err)
{
	struct vm *vm = svc_lookup(svc, req, err);

	(void)svc;
	if (!vm)
		return NULL;
	if (vm->rec.generation != 1) {
		api_error_set(err, API_ERR_INVALID,
			      "get-vmbios: VM '%s' is generation 2, which has no BIOS (it boots "
			      "its kernel directly)",
			      vm->rec.name);
		return NULL;
	}
	return bios_json(vm);
}

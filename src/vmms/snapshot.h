/*
 * Checkpoints, saved state, export and import as the service does them (docs/checkpoints.md):
 * the calls (snapshot.c: checkpoint-vm, get-vmsnapshot, restore-vmsnapshot, remove-vmsnapshot,
 * save-vm; vm_export.c: export-vm, import-vm) and what they share. Called with svc->lock
 * held; long work (a merge, a copy) drops it while the VM is marked busy (struct vm.busy), so
 * that other calls on it are refused and calls on other VMs go on.
 *
 * The disk work runs in parvis-vmdisk (src/vmdisk/), one process per operation: the service
 * parses no image. Progress goes to the caller's connection as lines {"progress":{...}} before
 * the answer when the call asks for it ("progress": true); the caller's hang-up (a ^C of the
 * CLI) cancels the work, leaving the VM as it was.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "ipc/api.h"
#include "vmms/service_internal.h"

/* A long operation's caller: its connection (-1: none) and whether it wants progress lines. */
struct snap_caller {
	int fd;
	bool progress;
	bool cancelled; /* its connection went away */
};

/*
 * Runs parvis-vmdisk with args (NULL-terminated, the operation first). With vm, the lock is
 * dropped meanwhile (vm->busy says what runs) and progress lines go to c. 0 with *ret (its
 * answer, the caller's), or -errno with err naming the file (the helper's message).
 */
int snap_vmdisk(struct service *svc, struct vm *vm, const char *const *args, struct snap_caller *c,
		const char *what, struct json_object **ret, struct api_error *err) must_check;

/* One progress line to the caller (if it asked): {"progress":{"operation","file","done","total"}}.
 */
void snap_progress(struct snap_caller *c, const char *what, const char *file, uint64_t done,
		   uint64_t total);
/* Whether the caller hung up (polls its connection, no wait). */
bool snap_caller_gone(struct snap_caller *c);

/* A deep copy of a VM record (history dropped): 0 or -ENOMEM. */
int snap_record_copy(const struct vm_record *src, struct vm_record *dst) must_check;

/* Saved state (save-vm): DIR/saved/<id>/vm.vmrs; start-vm resumes from it when it exists. */
void svc_saved_state_path(const struct service *svc, const struct vm *vm, char *buf, size_t len);
bool svc_saved_state_exists(const struct service *svc, const struct vm *vm);
void svc_saved_state_discard(const struct service *svc, const struct vm *vm);
/* DIR/saved/<id>/, made if needed (the jailed worker's to write in): its descriptor, or -1. */
struct api_error;
int svc_saved_state_dir_open(struct service *svc, const struct vm *vm, struct api_error *err);
/* stop-vm of a Saved VM: --turn-off discards the saved state (Off); without, refused. */
struct json_object *svc_stop_saved_vm(struct service *svc, struct vm *vm, bool turn_off,
				      struct api_error *err);
struct json_object *svc_call_save_vm(struct service *svc, const struct api_request *req,
				     int client_fd, struct api_error *err);

struct json_object *svc_call_checkpoint_vm(struct service *svc, const struct api_request *req,
					   struct api_error *err);
struct json_object *svc_call_get_snapshot(struct service *svc, const struct api_request *req,
					  struct api_error *err);
struct json_object *svc_call_restore_snapshot(struct service *svc, const struct api_request *req,
					      struct api_error *err);
struct json_object *svc_call_remove_snapshot(struct service *svc, const struct api_request *req,
					     int client_fd, struct api_error *err);
struct json_object *svc_call_export_vm(struct service *svc, const struct api_request *req,
				       int client_fd, struct api_error *err);
struct json_object *svc_call_import_vm(struct service *svc, const struct api_request *req,
				       int client_fd, struct api_error *err);

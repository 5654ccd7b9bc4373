/*
 * The inventory: one JSON file per VM, DIR/vms/<id>.json, holding the VM's
 * settings, its last state and its transition history. Files are replaced
 * atomically (temporary file, fsync, rename, fsync of the directory): a
 * crash at any moment leaves the old file or the new one. The record
 * parser reads files anyone with write access to the state directory may
 * have edited: it is fuzzed (tests/fuzz/vmms, target vm_record).
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/guid.h"
#include "vmms/vm_state.h"

#define VM_NAME_MAX	  100 /* bytes, as Hyper-V's VM names */
#define VM_PATH_MAX	  1024
#define VM_CMDLINE_MAX	  4095
#define VM_NOTES_MAX	  4096
#define VM_MAX_DISKS	  64
#define VM_MAX_SCSI	  4 /* SCSI controllers 0..3, as the worker has them (docs/storage.md) */
#define VM_MAX_CPUS	  240
#define VM_MIN_MEMORY	  (16ull << 20)
#define VM_HISTORY_MAX	  64 /* transitions kept per VM, oldest dropped first */
#define VM_REASON_MAX	  256
#define VM_CPU_WEIGHT_MAX 10000

struct vm_disk {
	char *path;
	bool readonly;
	/*
	 * ide (generation 1): on the emulated IDE, channel `controller` (0, 1) and location
	 * `lun` (0, 1); else synthetic SCSI controller `controller` (0..3), LUN `lun`.
	 */
	bool ide;
	unsigned controller, lun;
};

#define VM_IDE_CHANNELS 2
#define VM_IDE_PLACES	4 /* 2 channels x 2 locations, shared by disks and DVD drives */

/* A generation 1 VM's DVD drive on IDE (add-vmdvddrive): path NULL when it has no media. */
struct vm_dvd {
	char *path;
	unsigned controller, location;
};

struct vm_history_entry {
	int64_t time_ms; /* wall clock, ms since the epoch */
	enum vm_state from, to;
	char reason[VM_REASON_MAX];
	int64_t uid; /* the API caller who caused it; VM_BY_SERVICE for the service or the guest */
};

#define VM_BY_SERVICE (-1)

struct vm_record {
	char id[GUID_STRING_LEN];
	char *name;
	/*
	 * Hyper-V's VM generation (new-vm --generation): 2, the synthetic-only machine booting
	 * its kernel directly, or 1, a PC with IDE, DVD drives, legacy network adapters and a
	 * BIOS (docs/generation1.md). Files without it are generation 2.
	 */
	unsigned generation;
	struct vm_dvd dvds[VM_IDE_PLACES];
	unsigned ndvds;
	/* set-vmbios --startup-order (generation 1), as the worker takes it; NULL: default. */
	char *startup_order;
	unsigned cpus;
	/* Hyper-V's processor compatibility for migration: the baseline CPU model (docs/cpu.md). */
	bool processor_compat;
	/*
	 * No synthetic video, keyboard and mouse (new-vm --no-video, set-vm --video off): every
	 * VM has them by default, as on Hyper-V (docs/console.md).
	 */
	bool no_video;
	/* The screen also on a loopback TCP port with a VNC password (set-vm --console-tcp). */
	bool console_tcp;
	uint64_t memory_bytes;
	/*
	 * Resource controls (the VM's cgroup, cgroup.h), as Hyper-V's Set-VMProcessor and
	 * Set-VMMemory: at most cpu_maximum percent of one CPU per vCPU (100: no limit), at
	 * least cpu_reserve percent, cpu_weight against other VMs (1..10000, 100 by default),
	 * and memory_maximum bytes for the worker as a whole, guest RAM included (0: none).
	 */
	unsigned cpu_maximum, cpu_reserve, cpu_weight;
	uint64_t memory_maximum;
	char *kernel, *initrd, *cmdline, *boot_disk, *notes; /* NULL when unset */
	struct vm_disk disks[VM_MAX_DISKS];
	unsigned ndisks;
	/*
	 * The uid and gid of the VM's jailed worker: given at its first start, kept until the VM
	 * is removed, never another VM's (docs/security.md). 0 until then.
	 */
	uint32_t jail_uid;
	enum vm_state state; /* the last state recorded */
	char status[VM_REASON_MAX];
	struct vm_history_entry history[VM_HISTORY_MAX]; /* oldest first */
	unsigned nhistory;
};

void vm_record_init(struct vm_record *r);
void vm_record_fini(struct vm_record *r);

/*
 * Checks a VM name: 1..VM_NAME_MAX bytes, no '/', no control characters,
 * no leading or trailing blank. 0, or -EINVAL with why in err.
 */
int vm_name_check(const char *name, char *err, size_t errlen) must_check;

/*
 * Appends a transition to the history (dropping the oldest when full) and sets state; uid
 * is the API caller's who caused it, or VM_BY_SERVICE.
 */
void vm_record_transition(struct vm_record *r, enum vm_state to, int64_t time_ms,
			  const char *reason, int64_t uid);

/* The record as the file holds it (a new object). */
struct json_object *vm_record_to_json(const struct vm_record *r);
/* Parses a file's text. 0, or -EINVAL with what is wrong in err. */
int vm_record_parse(const char *text, size_t len, struct vm_record *r, char *err,
		    size_t errlen) must_check;

/* Creates DIR/vms (and DIR/run) if missing. */
int inventory_prepare(const char *state_dir, char *err, size_t errlen) must_check;
/* Writes DIR/vms/<id>.json atomically. */
int inventory_write(const char *state_dir, const struct vm_record *r) must_check;
/* Removes DIR/vms/<id>.json (and syncs the directory). */
int inventory_remove(const char *state_dir, const char *id) must_check;

/*
 * Calls fn for every DIR/vms/<*>.json in name order: with the record when
 * it parses (fn takes it over), or with NULL and the error when not, in
 * which case id is the file name without ".json".
 */
typedef void (*inventory_load_fn)(void *opaque, const char *id, struct vm_record *r,
				  const char *error);
int inventory_load(const char *state_dir, inventory_load_fn fn, void *opaque) must_check;

/* A new random (version 4) GUID as text. */
int vm_id_new(char id[GUID_STRING_LEN]) must_check;

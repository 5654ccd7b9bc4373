/*
 * A VM's checkpoints (docs/checkpoints.md): the tree, DIR/snapshots/<vm id>.json, written
 * atomically as the inventory's files are. Each checkpoint keeps the VM's configuration as it
 * was (a vm_record) and its disk files, frozen; the VM runs on differencing children of the
 * current checkpoint's files ("leaves"). Every file the service made records its parent file,
 * so that the files form the same tree as the checkpoints and a merge knows who depends on
 * whom. The parser reads a file anyone with write access to the state directory may have
 * edited: it is fuzzed (tests/fuzz/vmms/fuzz_snapshot_tree.c).
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vmms/inventory.h"

#define SNAP_MAX      64 /* checkpoints per VM (Hyper-V allows 50) */
#define SNAP_NAME_MAX 100

/* One disk file and the file it is a differencing child of (NULL: not one the service made). */
struct snap_file {
	char *path, *parent;
};

struct snapshot {
	char id[GUID_STRING_LEN];
	char *name;
	int parent; /* index in the tree, or -1 for a root */
	int64_t created_ms;
	bool removing; /* a remove-vmsnapshot was interrupted: its merge must be run again */
	struct vm_record config;
	struct snap_file files[VM_MAX_DISKS];
	unsigned nfiles;
	char *saved_state; /* the memory and devices, when the VM was running; or NULL */
};

struct snap_tree {
	struct snapshot snaps[SNAP_MAX];
	unsigned n;
	int current; /* the checkpoint the VM's state descends from, or -1 */
	struct snap_file leaves[VM_MAX_DISKS]; /* the VM's disks the service made */
	unsigned nleaves;
};

void snap_tree_init(struct snap_tree *t);
void snap_tree_fini(struct snap_tree *t);
void snap_file_set(struct snap_file *f, const char *path, const char *parent);
void snap_file_fini(struct snap_file *f);
/* Removes snapshot i (its children's parent indexes, current, are fixed by the caller first). */
void snap_tree_delete(struct snap_tree *t, unsigned i);

struct json_object *snap_tree_to_json(const struct snap_tree *t);
/* Parses a file's text: 0, or -EINVAL with what is wrong in err. */
int snap_tree_parse(const char *text, size_t len, struct snap_tree *t, char *err,
		    size_t errlen) must_check;

/* DIR/snapshots/<id>.json: 0 with *t (an empty tree if there is no file), or -errno with err. */
int snap_tree_load(const char *state_dir, const char *vm_id, struct snap_tree *t, char *err,
		   size_t errlen) must_check;
int snap_tree_write(const char *state_dir, const char *vm_id, const struct snap_tree *t) must_check;
int snap_tree_remove(const char *state_dir, const char *vm_id);

/* The index of the checkpoint named (or with that id), or -1. */
int snap_tree_find(const struct snap_tree *t, const char *name);

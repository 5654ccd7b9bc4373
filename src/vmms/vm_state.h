/*
 * A VM's states as Hyper-V names them, and the transitions the service
 * allows between them (vm_state.c has the table). Every transition is
 * checked against it and recorded with its time and reason (inventory.h).
 */
#pragma once

#include <stdbool.h>

enum vm_state {
	VM_STATE_OFF,
	VM_STATE_STARTING, /* the worker is spawned, not yet answering */
	VM_STATE_RUNNING,
	VM_STATE_PAUSED,   /* vCPUs held (suspend-vm) */
	VM_STATE_STOPPING, /* a shutdown or turn-off is under way */
	VM_STATE_CRITICAL, /* the worker died, or the VM's files are missing or unreadable */
	VM_STATE_SAVING,   /* save-vm: the worker writes the saved state, then ends */
	VM_STATE_SAVED,	   /* no worker; start-vm resumes from the saved state (snapshot.h) */
	VM_STATE_COUNT,
};

/* "Off", "Starting", ... as in Get-VM. */
const char *vm_state_name(enum vm_state s);
/* -1 if name is not a state name. */
int vm_state_from_name(const char *name);
/* Whether the table allows from -> to. */
bool vm_state_transition_allowed(enum vm_state from, enum vm_state to);
/* States in which a worker process exists (or may). */
bool vm_state_has_worker(enum vm_state s);

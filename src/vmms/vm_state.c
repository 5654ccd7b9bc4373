/* VM states and the transition table; see vm_state.h and docs/vmms.md. */
#include "vmms/vm_state.h"

#include <string.h>

static const char *const names[VM_STATE_COUNT] = {
	[VM_STATE_OFF] = "Off",		  [VM_STATE_STARTING] = "Starting",
	[VM_STATE_RUNNING] = "Running",	  [VM_STATE_PAUSED] = "Paused",
	[VM_STATE_STOPPING] = "Stopping", [VM_STATE_CRITICAL] = "Critical",
	[VM_STATE_SAVING] = "Saving",	  [VM_STATE_SAVED] = "Saved",
};

/*
 * allowed[from][to]. Why each is there:
 *   Off -> Starting             start-vm
 *   Starting -> Running         the worker answers with its machine running
 *   Starting -> Off             the guest powered off before the worker was seen running
 *   Starting -> Stopping        stop-vm during the start
 *   Starting -> Critical        the worker failed to start or died
 *   Running -> Paused           suspend-vm
 *   Running -> Stopping         stop-vm, remove-vm --force
 *   Running -> Off              the guest powered itself off
 *   Running -> Critical         the worker died
 *   Paused -> Running           resume-vm
 *   Paused -> Stopping          stop-vm (the worker resumes the guest to shut it down)
 *   Paused -> Critical          the worker died
 *   Stopping -> Off             the worker exited (guest powered off, or turned off)
 *   Stopping -> Running         the guest did not shut down in time and no --force
 *   Stopping -> Critical        the worker died or failed while stopping
 *   Critical -> Starting        start-vm again (only a VM whose files are readable)
 *   Critical -> Off             stop-vm --turn-off acknowledges a dead worker
 *   Running, Paused -> Saving   save-vm (or checkpoint-vm of a running VM)
 *   Saving -> Saved             the worker wrote the saved state and ended
 *   Saving -> Running, Paused   the save failed: the worker resumed what it paused
 *   Saving -> Critical          the worker died while saving
 *   Saved -> Starting           start-vm resumes from the saved state
 *   Saved -> Off                stop-vm --turn-off discards it; restore-vmsnapshot of a
 *                               checkpoint without one
 *   Off -> Saved                restore-vmsnapshot of a checkpoint with a saved state
 * Memory, vCPUs and the command line change only in Off (set-vm checks).
 */
static const bool allowed[VM_STATE_COUNT][VM_STATE_COUNT] = {
	[VM_STATE_OFF] = {[VM_STATE_STARTING] = true, [VM_STATE_SAVED] = true},
	[VM_STATE_STARTING] = {[VM_STATE_RUNNING] = true,
			       [VM_STATE_OFF] = true,
			       [VM_STATE_STOPPING] = true,
			       [VM_STATE_CRITICAL] = true},
	[VM_STATE_RUNNING] = {[VM_STATE_PAUSED] = true,
			      [VM_STATE_STOPPING] = true,
			      [VM_STATE_SAVING] = true,
			      [VM_STATE_OFF] = true,
			      [VM_STATE_CRITICAL] = true},
	[VM_STATE_PAUSED] = {[VM_STATE_RUNNING] = true,
			     [VM_STATE_STOPPING] = true,
			     [VM_STATE_SAVING] = true,
			     [VM_STATE_CRITICAL] = true},
	[VM_STATE_STOPPING] =
		{[VM_STATE_OFF] = true, [VM_STATE_RUNNING] = true, [VM_STATE_CRITICAL] = true},
	[VM_STATE_CRITICAL] = {[VM_STATE_STARTING] = true, [VM_STATE_OFF] = true},
	[VM_STATE_SAVING] = {[VM_STATE_SAVED] = true,
			     [VM_STATE_RUNNING] = true,
			     [VM_STATE_PAUSED] = true,
			     [VM_STATE_CRITICAL] = true},
	[VM_STATE_SAVED] = {[VM_STATE_STARTING] = true, [VM_STATE_OFF] = true},
};

const char *vm_state_name(enum vm_state s)
{
	return (unsigned)s < VM_STATE_COUNT ? names[s] : "Unknown";
}

int vm_state_from_name(const char *name)
{
	int i;

	if (!name) /* a JSON null */
		return -1;
	for (i = 0; i < VM_STATE_COUNT; i++)
		if (!strcmp(names[i], name))
			return i;
	return -1;
}

bool vm_state_transition_allowed(enum vm_state from, enum vm_state to)
{
	return (unsigned)from < VM_STATE_COUNT && (unsigned)to < VM_STATE_COUNT &&
	       allowed[from][to];
}

bool vm_state_has_worker(enum vm_state s)
{
	return s == VM_STATE_STARTING || s == VM_STATE_RUNNING || s == VM_STATE_PAUSED ||
	       s == VM_STATE_STOPPING || s == VM_STATE_SAVING;
}

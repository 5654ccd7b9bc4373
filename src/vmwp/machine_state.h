/*
 * Saving a whole machine into a saved-state file and building a machine
 * from one (docs/saved-state.md): KVM's state and RAM (vid/), every
 * emulated device, the Hyper-V interface (hv/) and the hardware
 * configuration, each as a section of the file (src/state/).
 *
 * Threads: machine_save runs on the control thread with the worker's lock
 * held and the machine's vCPUs paused (partition_pause); device threads
 * (console, RTC, VMBus) keep running and take their devices' own locks,
 * as the devices' save functions expect. machine_restore_new runs on the
 * main thread before any vCPU exists.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vmwp/machine.h"

struct state_reader;

/* What a save wrote. */
struct machine_save_result {
	uint64_t bytes; /* the file's size */
	uint64_t ms;	/* from the start of the save to the rename */
};

/*
 * Saves m (paused) as path: writes path.tmp, syncs it, renames it to path
 * and syncs the directory. dirfd is the directory path lies in, opened by
 * the caller (a jailed worker reaches no path; path then only names the
 * file: its last component is the name in dirfd), or AT_FDCWD. Refuses a
 * machine whose guest has talked to VMBus (its state is not saved yet) or
 * one with the IDE controller of generation 1. On failure path.tmp is
 * removed and nothing else changed: the caller resumes the VM. err names
 * what failed.
 */
int machine_save(struct machine *m, const struct vm_config *cfg, int dirfd, const char *path,
		 struct machine_save_result *res, char *err, size_t errlen) must_check;

/*
 * Builds a machine from cfg (as machine_new, without loading a kernel) and
 * loads the saved state r into it: the file must match the configuration
 * (memory size, hardware digest; a mismatch names what differs). The
 * machine is then ready for partition_start, which resumes the guest where
 * it was saved. *config_error as machine_new's.
 */
int machine_restore_new(const struct vm_config *cfg, struct boot_files *files,
			struct state_reader *r, struct console *com1, struct console *com2,
			struct rfb_server *screen, struct machine **ret, bool *config_error,
			char *err, size_t errlen) must_check;

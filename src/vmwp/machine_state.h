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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vmwp/machine.h"

struct state_reader;
struct migration_reader;

/* What a save wrote. */
struct machine_save_result {
	uint64_t bytes; /* the file's size */
	uint64_t ms;	/* from the start of the save to the rename */
};

/*
 * While guest RAM is written (every 64 MiB looked at, and at the end): done and total bytes.
 * A negative return stops the save with that error (the VM goes on as before).
 */
struct machine_save_progress {
	int (*fn)(void *opaque, uint64_t done, uint64_t total);
	void *opaque;
};

/*
 * Saves m (paused) as path: writes path.tmp, syncs it, renames it to path
 * and syncs the directory. dirfd is the directory path lies in, opened by
 * the caller (a jailed worker reaches no path; path then only names the
 * file: its last component is the name in dirfd), or AT_FDCWD. Once the
 * guest has contacted VMBus the bus is quiesced first (storvsp's disk I/O
 * completes and is answered) and saved last; a VSP without save would be
 * refused by name, as is a generation 1 VM started from its BIOS. The legacy
 * network adapters' I/O threads stop between two frames before RAM is
 * written. On failure path.tmp is removed and VMBus and the adapters
 * unquiesced: nothing else changed, the caller resumes the VM. err names
 * what failed.
 */
int machine_save(struct machine *m, const struct vm_config *cfg, int dirfd, const char *path,
		 const struct machine_save_progress *progress, struct machine_save_result *res,
		 char *err, size_t errlen) must_check;

/*
 * Builds a machine from cfg (as machine_new, without loading a kernel) and
 * loads the saved state r into it: the file must match the configuration
 * (memory size, hardware digest; a mismatch names what differs). The
 * machine is then ready for partition_start, which resumes the guest where
 * it was saved. *config_error as machine_new's. uffd >= 0 (taken, closed
 * on failure too): RAM comes lazily through it (partition_load_state_lazy);
 * -1: RAM is read now.
 */
int machine_restore_new(const struct vm_config *cfg, struct boot_files *files,
			struct state_reader *r, int uffd, struct console *com1,
			struct console *com2, struct rfb_server *screen, struct machine **ret,
			bool *config_error, char *err, size_t errlen) must_check;

/*
 * Once partition_start of a restored machine has set the vCPUs' saved state: the
 * interrupts signalled before that go to the guest again (hv_synic_resume_interrupts);
 * the legacy network adapters drive their INTA# and take frames again.
 */
void machine_restore_started(struct machine *m);

/*
 * Live migration (docs/migration.md). machine_save_devices writes to fd
 * (empty, seekable) a saved-state image of m (paused) without RAM: the
 * same sections as machine_save's. VMBus is quiesced first (*quiesced
 * says so), then the legacy network adapters' I/O threads; on failure both
 * are unquiesced again. machine_unquiesce undoes a
 * quiesce when the migration fails after it (the VM goes on here).
 */
int machine_save_devices(struct machine *m, const struct vm_config *cfg, int fd, bool *quiesced,
			 char *err, size_t errlen) must_check;
void machine_unquiesce(struct machine *m, bool quiesced);

/*
 * As machine_restore_new, from a migration stream whose header was read:
 * the header must match cfg, RAM and the device state are read from the
 * stream into the new machine; any error frees it (nothing runs).
 */
int machine_incoming_new(const struct vm_config *cfg, struct boot_files *files,
			 struct migration_reader *in, struct console *com1, struct console *com2,
			 struct rfb_server *screen, struct machine **ret, bool *config_error,
			 char *err, size_t errlen) must_check;

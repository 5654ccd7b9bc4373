/*
 * The worker process's own state (main.c), shared with its control commands
 * (worker_control.c). Private to src/vmwp/.
 *
 * Threads: main.c's boot loop creates and frees w->machine; the control thread
 * (control.c) runs worker_control_handler; the signal thread asks for shutdowns.
 * All three take w->lock around w->machine and the flags beside it.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/log.h"
#include "vmwp/machine.h"
#include "vmwp/migration_send.h"
#include "vmwp/saved_state.h"
#include "vmwp/vm_config.h"

struct json_object;

enum exit_status {
	EXIT_POWERED_OFF = 0,
	EXIT_BAD_CONFIG = 1,
	EXIT_HOST_ERROR = 2,
	EXIT_TRIPLE_FAULT = 3,
	EXIT_EMULATION_FAILURE = 4,
	EXIT_TURNED_OFF = 5,
};

struct worker {
	struct vm_config cfg;
	struct boot_files files;
	struct console *com1, *com2;
	uint64_t start_ns;

	pthread_mutex_t lock;	 /* protects machine and shutdown_requested */
	struct machine *machine; /* the running machine, or NULL between boots */
	bool shutdown_requested; /* a SIGTERM arrived: do not restart the guest */
	bool turn_off_requested; /* and it was a turn-off (exit 5), not a graceful shutdown */
	/*
	 * A long command (save, migrate-send) runs without w->lock, holding the machine: the
	 * boot loop frees a machine only once machine_users is 0 (machine_idle), and a
	 * graceful shutdown asked meanwhile waits in deferred_shutdown until the command ends
	 * (it must not resume a guest paused for its save).
	 */
	unsigned machine_users;
	pthread_cond_t machine_idle;
	const char *long_command;   /* "save" or "migrate-send" while one runs, else NULL */
	char deferred_shutdown[64]; /* the reason of a shutdown asked meanwhile, or "" */
	uint64_t shutdown_deadline_ns;
	unsigned boots;		      /* machines started so far */
	bool paused;		      /* the running machine's vCPUs are held (control "pause") */
	uint64_t boot_start_ns;	      /* CLOCK_MONOTONIC when the current machine was started */
	uint64_t first_run_ns;	      /* CLOCK_MONOTONIC of the first KVM_RUN of the first boot */
	uint64_t first_run_cpu_ns;    /* the process\'s CPU time by then */
	struct control *control;      /* --control socket, or NULL */
	int exit_status_fd;	      /* --exit-status-file, opened at start; -1 if none */
	int stats_fd, proc_status_fd; /* --exit-stats (exit_stats_open), opened at start; -1 */
	uint16_t nic_tag; /* default MACs: 00:15:5D, this, the adapter's index (nic_config.h) */
	struct rfb_server *screen;	/* --vnc / --vnc-tcp console server, or NULL */
	struct saved_state_files state; /* --restore, --state-dir, and whether "save" ended it */
	bool restore_ram_lazy;		/* the restore's RAM came through userfaultfd */
	int incoming_fd;		/* --incoming's socket until the destination runs, or -1 */
	bool migrated;			/* "migrate-send" succeeded: the worker ends */
	struct migration_progress migration; /* the last "migrate-send" */
	/* A guest that resets for ever must not fill the log: a few lines a minute. */
	struct ratelimit reset_rl;
};

/* Turns the running machine off (control turn-off, Ctrl-A x, a second signal, the timeout). */
void worker_turn_off(struct worker *w);

/*
 * For a long command, under w->lock: the machine, held (the boot loop will not free it) with
 * the lock then dropped by the caller; worker_release_machine(), under w->lock again, lets
 * it go and runs a shutdown asked meanwhile unless the command ended the VM.
 */
struct machine *worker_hold_machine(struct worker *w, const char *command);
void worker_release_machine(struct worker *w, bool vm_ended);

/* Starts a graceful shutdown with the configured timeout (SIGTERM, control "shutdown"). */
const char *worker_shutdown(struct worker *w, const char *reason);

/*
 * The control socket's commands (docs/control.md), the handler control_new() takes: runs on
 * the control thread, each command under w->lock unless its table entry says otherwise.
 */
struct json_object *worker_control_handler(void *opaque, struct json_object *req, const int *fds,
					   unsigned nfds);

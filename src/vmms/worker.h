/*
 * Worker processes as the service sees them: spawning parvis-vmwp in its
 * own session (so it outlives a restart of the service), the runtime record
 * that lets a restarted service find it again (pid + the process's start
 * time, so a reused pid is not mistaken for it), and how it ended.
 * Everything here reads /proc and files the service wrote; nothing the
 * guest controls.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/compiler.h"

/* The files of a running VM, under DIR/run/<id>/. */
struct worker_paths {
	char dir[512];
	char config[600];      /* vm.json: the worker's --config */
	char control[600];     /* control.sock */
	char console[600];     /* console.sock */
	char console_log[600]; /* console.log: everything the guest wrote to COM1 */
	char vnc[600];	       /* vnc.sock: the screen over RFB (docs/console.md) */
	char log[600];	       /* worker.log: the worker's stderr */
	char exit_status[600]; /* exit-status: written by the worker before it exits */
	char record[600];      /* worker.json: pid and start time */
};

/* Fills paths; -ENAMETOOLONG if a socket path would not fit in sun_path. */
int worker_paths_init(struct worker_paths *wp, const char *state_dir, const char *id) must_check;

/*
 * Starts `vmwp --config paths->config` in a new session, stdin from
 * /dev/null, stdout and stderr appended to paths->log. The child is ours
 * (the caller reaps it through its pidfd) but survives our exit. With jail,
 * it starts as PID 1 of new PID, mount, IPC, UTS and network namespaces
 * (its configuration's "jail" does the rest); with mntns_template (it
 * inherits worker_jail_mntns_new's namespace) in ours, until it enters that. Before it executes it
 * writes "0" to each of the ncg cgroup.procs descriptors cg_fds (cgroup.h): it runs nothing outside
 * its VM's cgroups (exit status 126 if it cannot join). The nkeep descriptors keep_fds (opened
 * close-on-exec by the caller: the files of disk_files.h, named by number in its configuration) are
 * inherited; no other descriptor of the service is.
 */
/*
 * The jailed workers' mount namespace template: an empty read-only tmpfs as its root (one
 * directory, "r"), made once by a child process (the pivot_root and the unmount of the host's
 * tree, whose RCU grace period costs milliseconds, happen here, not at each start). Each
 * jailed worker enters it (setns), makes a private copy (unshare) and mounts its own root on
 * /r (sandbox.c), so that no worker start unmounts anything. An fd of the namespace, or
 * -errno.
 */
int worker_jail_mntns_new(void) must_check;

int worker_spawn(const char *vmwp, const struct worker_paths *wp, bool jail, bool mntns_template,
		 const int *cg_fds, unsigned ncg, const int *keep_fds, unsigned nkeep,
		 pid_t *pid) must_check;

/* The start time of a process (/proc/PID/stat field 22, clock ticks since boot); 0 if gone. */
uint64_t proc_start_time(pid_t pid);
/* utime + stime of a process in clock ticks; -errno if gone. */
int proc_cpu_ticks(pid_t pid, uint64_t *ticks) must_check;
/* True if the process is a zombie (exited, not yet reaped). */
bool proc_is_zombie(pid_t pid);

int pidfd_open_pid(pid_t pid);

/* worker.json: written when the worker is spawned, removed when it is reaped. */
int worker_record_write(const struct worker_paths *wp, pid_t pid, uint64_t start_time) must_check;
int worker_record_read(const struct worker_paths *wp, pid_t *pid, uint64_t *start_time) must_check;

/* The worker's exit status file: 0..255, or -ENOENT if it left none. */
int worker_exit_status_read(const struct worker_paths *wp);
/* What an exit status means (docs/vmwp.md). */
const char *worker_exit_status_name(int status);
/* The last non-empty line of the worker's log (its error, if it failed), into buf. */
void worker_log_last_line(const struct worker_paths *wp, char *buf, size_t len);

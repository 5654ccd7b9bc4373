/*
 * The worker's jail (docs/security.md), modelled on Firecracker's jailer:
 * its own PID, mount, IPC, UTS and (empty) network namespaces, a root of
 * its own holding nothing but /dev/kvm, an unprivileged uid and gid of the
 * VM's own with no supplementary groups and no capabilities, no_new_privs,
 * resource limits, and seccomp-bpf allow-lists: one for the process and a
 * tighter one that each vCPU thread stacks on it before its first KVM_RUN.
 *
 * Everything the worker reads or writes on the host (kernel, initrd,
 * disks, console socket and log, control socket, exit-status file) is
 * opened before sandbox_enter(); afterwards no host path is reachable.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/compiler.h"

struct sandbox_config {
	uid_t uid; /* the VM's own uid and gid, never 0 */
	gid_t gid;
	uint64_t memory_bytes; /* guest RAM: the address-space limit is set above it */
	uint64_t mapped_bytes; /* other large mappings (boot files) the worker will make */
	unsigned vcpus;	       /* threads: the process-count limit is set above them */
	/*
	 * parvis-vmms's mount namespace template (an empty read-only tmpfs holding the
	 * directory "r"), or -1. With it, the worker enters it, makes a private copy, mounts its
	 * root on /r and chroots there: no unmount of the host's tree (whose RCU grace period
	 * costs milliseconds) at each start. Without it (the standalone --jail), pivot_root.
	 * Closed by sandbox_enter.
	 */
	int mntns_fd;
};

/*
 * For the standalone worker's --jail: new PID, mount, IPC, UTS and network
 * namespaces, then a fork. Returns 0 in the child (PID 1 of the new PID
 * namespace), which goes on to sandbox_enter(); the parent stays outside,
 * passes SIGTERM/SIGINT/SIGHUP on to the child and exits as the child did
 * (never returns). A worker spawned by parvis-vmms is already PID 1 of its
 * own namespaces (the service clones it there) and does not call this.
 */
int sandbox_unshare(char *err, size_t errlen) must_check;

/*
 * Enters the jail: pivot_root into an empty read-only tmpfs holding
 * /dev/kvm, resource limits, the VM's uid/gid, no capabilities,
 * no_new_privs, and the process's seccomp filter on every thread. Must run
 * as root, as PID 1 of a PID namespace of its own (sandbox_unshare or the
 * service). -errno with a message naming the step that failed.
 */
int sandbox_enter(const struct sandbox_config *cfg, char *err, size_t errlen) must_check;

/*
 * partition_config.vcpu_thread_init: stacks the vCPU threads' own filter
 * on the calling thread (no thread creation, no file opening, ioctls only
 * on KVM's own descriptors). opaque is unused.
 */
int sandbox_vcpu_thread_init(void *opaque, unsigned index);

/*
 * For the report modes that parse a file for the service (--disk-parent): no_new_privs and
 * a filter allowing reading and memory only (no open, no socket, no exec), on the calling
 * (only) thread. Needs no privilege. -errno.
 */
int sandbox_enter_parser(void) must_check;

/*
 * For the hostile-guest suites (tests/hostile/): the calling thread under the filters it
 * would have in the worker, without the rest of the jail — no_new_privs, the SIGSYS report
 * (which kills the process), the process filter, and with vcpu the vCPU filter (as vCPU
 * index) on top. Only this thread and those it creates from now on are filtered. -errno.
 */
int sandbox_thread_filters(bool vcpu, unsigned index) must_check;

/*
 * For the test suite (built with -Dtest_hooks=true): makes a system call
 * that no filter allows, so that the worker dies with SIGSYS the way an
 * exploited device model would.
 */
void sandbox_test_forbidden_syscall(void);

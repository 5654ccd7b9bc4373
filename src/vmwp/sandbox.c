/*
 * The worker's jail; see sandbox.h and docs/security.md. The order is the
 * one measured in /work/shared/research/JAIL-AND-NET-GROUND.md §1: every
 * namespace and mount step while still root, then resource limits, the
 * bounding set, ids, capabilities, no_new_privs, and seccomp last.
 *
 * Runs on the main thread. Threads made earlier (console, control) get
 * the ids through glibc's set*id broadcast, lose their capabilities with
 * the move off uid 0, and get no_new_privs and the filter through
 * SECCOMP_FILTER_FLAG_TSYNC.
 */
#include "base/compiler.h"
#include "vmwp/sandbox.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <linux/capability.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

/* Any existing directory would do: the tmpfs is mounted in our own mount namespace and the
 * old tree is detached right after pivot_root. */
#define JAIL_MOUNT_POINT "/tmp"
#define JAIL_TMPFS_SIZE	 "size=64k,nr_inodes=16,mode=0755"
#define KVM_IOCTL_TYPE	 0xAE /* KVMIO, linux/kvm.h: every /dev/kvm, VM and vCPU ioctl */

/* Names of system calls for the SIGSYS report, resolved before the filter is loaded. */
#define MAX_SYSCALL_NR 512
static const char *syscall_names[MAX_SYSCALL_NR];
/* The calling thread's name for the report (vCPU threads set it; others ask prctl). */
static __thread char thread_name[16];

static int fail(char *err, size_t errlen, int r, const char *step)
{
	snprintf(err, errlen, "jail: %s: %s", step, strerror(-r));
	return r;
}

int sandbox_unshare(char *err, size_t errlen)
{
	sigset_t set, old;
	pid_t child;
	int status;

	if (unshare(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET) < 0)
		return fail(err, errlen, -errno, "new namespaces (unshare; --jail needs root)");
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &old);
	child = fork();
	if (child < 0)
		return fail(err, errlen, -errno, "fork into the new PID namespace");
	if (child == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		return 0;
	}
	/*
	 * The child is PID 1 of its namespace: a signal from here reaches it only if it
	 * handles or waits for it, which the worker's signal thread does.
	 */
	for (;;) {
		siginfo_t si;

		if (sigwaitinfo(&set, &si) < 0)
			continue;
		if (si.si_signo != SIGCHLD) {
			kill(child, si.si_signo);
			continue;
		}
		if (waitpid(child, &status, WNOHANG) != child)
			continue;
		if (WIFEXITED(status))
			_exit(WEXITSTATUS(status));
		signal(WTERMSIG(status), SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		raise(WTERMSIG(status));
		_exit(128 + WTERMSIG(status));
	}
}

/* An empty read-only tmpfs as /, holding only /dev/kvm (ours alone) and one marker of /sys. */
/*
 * Into a private copy of the service's template (sandbox_config.mntns_fd): its root is an
 * empty read-only tmpfs holding "r", where our own tmpfs goes. No host mount is in the copy.
 */
static int enter_template(int mntns_fd, char *err, size_t errlen)
{
	int r = setns(mntns_fd, CLONE_NEWNS) < 0 ? -errno : 0;

	close(mntns_fd);
	if (r < 0)
		return fail(err, errlen, r, "entering the jail's mount namespace template (setns)");
	if (unshare(CLONE_NEWNS) < 0)
		return fail(err, errlen, -errno, "a private copy of the template (unshare)");
	if (mount("parvis-jail", "/r", "tmpfs", MS_NOSUID | MS_NOEXEC, JAIL_TMPFS_SIZE) < 0)
		return fail(err, errlen, -errno, "tmpfs for the new root on /r");
	if (chdir("/r") < 0)
		return fail(err, errlen, -errno, "chdir into the new root");
	return 0;
}

static int make_root(const struct sandbox_config *cfg, char *err, size_t errlen)
{
	bool pvm = access("/sys/module/kvm_pvm", F_OK) == 0;
	struct stat kvm;
	int r;

	if (stat("/dev/kvm", &kvm) < 0 || !S_ISCHR(kvm.st_mode))
		return fail(err, errlen, errno ? -errno : -ENODEV, "/dev/kvm");
	if (cfg->mntns_fd >= 0) {
		r = enter_template(cfg->mntns_fd, err, errlen);
		if (r < 0)
			return r;
		goto populate;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return fail(err, errlen, -errno, "making the mount tree private");
	if (mount("parvis-jail", JAIL_MOUNT_POINT, "tmpfs", MS_NOSUID | MS_NOEXEC,
		  JAIL_TMPFS_SIZE) < 0)
		return fail(err, errlen, -errno, "tmpfs for the new root on " JAIL_MOUNT_POINT);
	if (chdir(JAIL_MOUNT_POINT) < 0)
		return fail(err, errlen, -errno, "chdir into the new root");
populate:
	if (mkdir("dev", 0755) < 0 ||
	    mknod("dev/kvm", S_IFCHR | 0600, makedev(major(kvm.st_rdev), minor(kvm.st_rdev))) < 0 ||
	    chown("dev/kvm", cfg->uid, cfg->gid) < 0)
		return fail(err, errlen, -errno, "/dev/kvm in the new root");
	/*
	 * The one fact of /sys the worker reads (vid/partition.c: PVM hosts need XSAVEERPTR,
	 * without which a Linux guest dies): kept as the same empty directory.
	 */
	if (pvm && (mkdir("sys", 0555) < 0 || mkdir("sys/module", 0555) < 0 ||
		    mkdir("sys/module/kvm_pvm", 0555) < 0))
		return fail(err, errlen, -errno, "/sys/module/kvm_pvm in the new root");
	if (cfg->mntns_fd >= 0) {
		/* Outside the new root: the template's empty read-only tmpfs, nothing else. */
		if (chroot(".") < 0 || chdir("/") < 0)
			return fail(err, errlen, -errno, "chroot into the new root");
	} else {
		if (mkdir("old", 0700) < 0)
			return fail(err, errlen, -errno, "mkdir old");
		if (syscall(SYS_pivot_root, ".", "old") < 0)
			return fail(err, errlen, -errno, "pivot_root");
		if (chdir("/") < 0 || umount2("/old", MNT_DETACH) < 0 || rmdir("/old") < 0)
			return fail(err, errlen, -errno, "detaching the host's file system");
	}
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL) <
	    0)
		return fail(err, errlen, -errno, "remounting the new root read-only");
	if (sethostname("parvis-vm", 9) < 0)
		return fail(err, errlen, -errno, "sethostname in the new UTS namespace");
	return 0;
}

static int set_limit(int what, uint64_t value)
{
	struct rlimit rl = {.rlim_cur = value, .rlim_max = value};

	return setrlimit(what, &rl) < 0 ? -errno : 0;
}

/*
 * No core dumps (guest RAM would be in them); descriptors for disks, queues and channels;
 * threads for vCPUs, channels and queues; address space for guest RAM, the boot files,
 * thread stacks and malloc arenas, and not a host's worth more.
 */
static int set_limits(const struct sandbox_config *cfg, char *err, size_t errlen)
{
	uint64_t as = cfg->memory_bytes + cfg->mapped_bytes + (8ull << 30) +
		      (uint64_t)cfg->vcpus * (16ull << 20);
	int r;

	r = set_limit(RLIMIT_CORE, 0);
	if (r == 0)
		r = set_limit(RLIMIT_NOFILE, 4096);
	if (r == 0)
		r = set_limit(RLIMIT_NPROC, cfg->vcpus + 512);
	if (r == 0)
		r = set_limit(RLIMIT_AS, as);
	return r < 0 ? fail(err, errlen, r, "resource limits") : 0;
}

static int drop_privileges(const struct sandbox_config *cfg, char *err, size_t errlen)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {{0}};
	int cap;

	/* The bounding set needs CAP_SETPCAP: before the ids change. */
	for (cap = 0; cap <= 63; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return fail(err, errlen, -errno, "dropping the capability bounding set");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return fail(err, errlen, -errno, "clearing ambient capabilities");
	if (setgroups(0, NULL) < 0)
		return fail(err, errlen, -errno, "setgroups");
	if (setresgid(cfg->gid, cfg->gid, cfg->gid) < 0)
		return fail(err, errlen, -errno, "setresgid");
	if (setresuid(cfg->uid, cfg->uid, cfg->uid) < 0)
		return fail(err, errlen, -errno, "setresuid");
	if (syscall(SYS_capset, &hdr, data) < 0)
		return fail(err, errlen, -errno, "capset");
	if (syscall(SYS_capget, &hdr, data) < 0 || data[0].effective || data[0].permitted ||
	    data[0].inheritable || data[1].effective || data[1].permitted || data[1].inheritable)
		return fail(err, errlen, -EPERM, "capabilities still held after capset");
	if (getuid() != cfg->uid || geteuid() != cfg->uid || getgid() != cfg->gid)
		return fail(err, errlen, -EPERM, "ids did not change");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail(err, errlen, -errno, "no_new_privs");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return fail(err, errlen, -errno, "PR_SET_DUMPABLE");
	return 0;
}

/* Async-signal-safe decimal. */
static size_t put_uint(char *buf, unsigned long v)
{
	char tmp[24];
	size_t n = 0, i;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) && n < sizeof(tmp));
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

static size_t put_str(char *buf, size_t room, const char *s)
{
	size_t n = strnlen(s, room);

	memcpy(buf, s, n);
	return n;
}

/*
 * A system call outside the filter (SCMP_ACT_TRAP): one line on stderr (the worker's log,
 * whose last line the service reports) naming the call and the thread, then death by
 * SIGSYS with the default action, which is what the service sees. kexec_load is in no
 * filter (keep it so).
 */
static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	char line[256], name[16] = "";
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t set;
	size_t n = 0;
	int nr = si->si_syscall;

	(void)uc;
	if (thread_name[0])
		memcpy(name, thread_name, sizeof(name));
	else if (prctl(PR_GET_NAME, name, 0, 0, 0) < 0)
		memcpy(name, "?", 2);
	name[sizeof(name) - 1] = '\0';
	n += put_str(line + n, sizeof(line) - n, "parvis-vmwp: seccomp: system call ");
	n += put_uint(line + n, (unsigned long)nr);
	n += put_str(line + n, sizeof(line) - n, " (");
	n += put_str(line + n, 40,
		     nr >= 0 && nr < MAX_SYSCALL_NR && syscall_names[nr] ? syscall_names[nr] : "?");
	n += put_str(line + n, sizeof(line) - n, ") on thread ");
	n += put_str(line + n, sizeof(name), name);
	n += put_str(line + n, sizeof(line) - n, " is not allowed: the worker is killed\n");
	IGNORE_RESULT(write(STDERR_FILENO, line, n));
	sigaction(sig, &dfl, NULL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	/*
	 * The worker is PID 1 of its namespace, which ignores a SIGSYS it sends itself. A
	 * signal the kernel forces on a trapped call with the default action set does kill
	 * it: trap once more on a call no filter allows (and that would fail anyway).
	 */
	syscall(SYS_kexec_load, 0, 0, 0, 0);
	_exit(128 + SIGSYS);
}

static void resolve_names(void)
{
	int i;

	for (i = 0; i < MAX_SYSCALL_NR; i++)
		if (!syscall_names[i])
			syscall_names[i] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, i);
}

/*
 * What the worker's threads other than vCPUs do once the jail is in place: memory and
 * threads, fds already open (files, sockets, eventfds, io_uring, /dev/kvm), waiting, time,
 * and opening /dev/kvm (the only file in the root) for each boot's partition. Not here:
 * execve, socket, connect, bind, ptrace, mount, kill of other processes, process_vm_*,
 * keyctl, bpf, perf_event_open, userfaultfd, and the rest.
 */
static const int process_syscalls[] = {
	SCMP_SYS(read),
	SCMP_SYS(write),
	SCMP_SYS(readv),
	SCMP_SYS(writev),
	SCMP_SYS(pread64),
	SCMP_SYS(pwrite64),
	SCMP_SYS(preadv),
	SCMP_SYS(pwritev),
	SCMP_SYS(preadv2),
	SCMP_SYS(pwritev2),
	SCMP_SYS(lseek),
	SCMP_SYS(close),
	SCMP_SYS(fstat),
	SCMP_SYS(newfstatat),
	SCMP_SYS(statx),
	SCMP_SYS(access),
	SCMP_SYS(faccessat),
	SCMP_SYS(faccessat2),
	SCMP_SYS(fstatfs),
	SCMP_SYS(fcntl),
	SCMP_SYS(dup),
	SCMP_SYS(dup3),
	SCMP_SYS(pipe2),
	SCMP_SYS(openat),
	SCMP_SYS(eventfd2),
	SCMP_SYS(memfd_create),
	SCMP_SYS(ftruncate),
	SCMP_SYS(fallocate),
	SCMP_SYS(fsync),
	SCMP_SYS(fdatasync),
	SCMP_SYS(fadvise64),
	SCMP_SYS(ioctl),
	SCMP_SYS(io_uring_setup),
	SCMP_SYS(io_uring_enter),
	SCMP_SYS(io_uring_register),
	SCMP_SYS(poll),
	SCMP_SYS(ppoll),
	SCMP_SYS(epoll_create1),
	SCMP_SYS(epoll_ctl),
	SCMP_SYS(epoll_wait),
	SCMP_SYS(epoll_pwait),
	/* libvncserver (the console server, rfb_server.c) waits with select and asks a new
	 * client's address; docs/security.md. */
	SCMP_SYS(select),
	SCMP_SYS(pselect6),
	SCMP_SYS(getpeername),
	SCMP_SYS(getsockname),
	SCMP_SYS(accept4),
	SCMP_SYS(accept),
	SCMP_SYS(recvfrom),
	SCMP_SYS(recvmsg),
	SCMP_SYS(sendto),
	SCMP_SYS(sendmsg),
	SCMP_SYS(shutdown),
	SCMP_SYS(getsockopt),
	SCMP_SYS(setsockopt),
	SCMP_SYS(mmap),
	SCMP_SYS(munmap),
	SCMP_SYS(mprotect),
	SCMP_SYS(mremap),
	SCMP_SYS(madvise),
	SCMP_SYS(mincore),
	SCMP_SYS(brk),
	SCMP_SYS(futex),
	SCMP_SYS(clone),
	SCMP_SYS(clone3),
	SCMP_SYS(set_robust_list),
	SCMP_SYS(rseq),
	SCMP_SYS(exit),
	SCMP_SYS(exit_group),
	SCMP_SYS(rt_sigaction),
	SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(rt_sigreturn),
	SCMP_SYS(rt_sigtimedwait),
	SCMP_SYS(sigaltstack),
	SCMP_SYS(restart_syscall),
	SCMP_SYS(getpid),
	SCMP_SYS(gettid),
	SCMP_SYS(getuid),
	SCMP_SYS(geteuid),
	SCMP_SYS(getgid),
	SCMP_SYS(getegid),
	SCMP_SYS(clock_gettime),
	SCMP_SYS(clock_getres),
	SCMP_SYS(gettimeofday),
	SCMP_SYS(clock_nanosleep),
	SCMP_SYS(nanosleep),
	SCMP_SYS(sched_yield),
	SCMP_SYS(sched_getaffinity),
	SCMP_SYS(getrandom),
	SCMP_SYS(sysinfo),
	SCMP_SYS(uname),
	SCMP_SYS(prlimit64),
	SCMP_SYS(getrusage),
	SCMP_SYS(times),
	SCMP_SYS(membarrier),
	SCMP_SYS(prctl),
	SCMP_SYS(seccomp),
};

/*
 * A vCPU thread runs guest exits and the emulated devices they reach: KVM ioctls, writes
 * to eventfds, console and log descriptors, signalling another vCPU (pthread_kill), memory
 * for malloc, waiting on locks, time. No new threads, no new descriptors, no ioctl that is
 * not KVM's, no seccomp or prctl changes.
 */
static const int vcpu_syscalls[] = {
	SCMP_SYS(read),
	SCMP_SYS(write),
	SCMP_SYS(writev),
	SCMP_SYS(pread64),
	SCMP_SYS(pwrite64),
	SCMP_SYS(sendto),
	SCMP_SYS(sendmsg),
	SCMP_SYS(lseek),
	SCMP_SYS(fstat),
	SCMP_SYS(mmap),
	SCMP_SYS(munmap),
	SCMP_SYS(mprotect),
	SCMP_SYS(mremap),
	SCMP_SYS(madvise),
	SCMP_SYS(brk),
	SCMP_SYS(futex),
	SCMP_SYS(exit),
	SCMP_SYS(exit_group),
	SCMP_SYS(rt_sigaction),
	SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(rt_sigreturn),
	SCMP_SYS(restart_syscall),
	SCMP_SYS(getpid),
	SCMP_SYS(gettid),
	SCMP_SYS(tgkill),
	SCMP_SYS(clock_gettime),
	SCMP_SYS(gettimeofday),
	SCMP_SYS(clock_nanosleep),
	SCMP_SYS(nanosleep),
	SCMP_SYS(sched_yield),
	SCMP_SYS(getrandom),
	SCMP_SYS(ftruncate), /* the console log's cap (console.c) */
	/*
	 * Generation 1's IDE disks: synchronous disk I/O on the vCPU thread (src/emu/ide/),
	 * a dynamic VHDX's block allocation included (src/disk/vhdx/io.c: fstat for the file's
	 * end, ftruncate to grow it, fallocate to punch what a failed allocation left).
	 * fstat is newfstatat(fd, "", AT_EMPTY_PATH) in glibc: allowed with that flag
	 * only (below), so it names no path.
	 */
	SCMP_SYS(preadv),
	SCMP_SYS(pwritev),
	SCMP_SYS(fdatasync),
	SCMP_SYS(fallocate),
	/* The sanitizer runtimes (ASan) take a thread's signal stack down as it ends. */
	SCMP_SYS(sigaltstack),
};

/*
 * Calls that would change the (read-only) file system: they fail with EROFS on every
 * thread, as they would without the filter. A vCPU thread meets rename through the
 * console log's rotation (console.c tries it, then rotates through its descriptors).
 */
static const int read_only_fs[] = {
	SCMP_SYS(unlink),    SCMP_SYS(unlinkat), SCMP_SYS(rename),  SCMP_SYS(renameat),
	SCMP_SYS(renameat2), SCMP_SYS(mkdir),	 SCMP_SYS(mkdirat), SCMP_SYS(rmdir),
	SCMP_SYS(link),	     SCMP_SYS(linkat),	 SCMP_SYS(symlink), SCMP_SYS(symlinkat),
	SCMP_SYS(chmod),     SCMP_SYS(fchmodat), SCMP_SYS(chown),   SCMP_SYS(fchownat),
	SCMP_SYS(truncate),
};

/*
 * A saved state (control "save", saved_state.c) is written as NAME.tmp in the directory the
 * worker holds open, renamed to NAME, and removed if the save fails: renameat and unlinkat on
 * the process's threads (the root stays read-only, so they reach only that directory). Not on
 * vCPU threads, which keep the EROFS answer.
 */
static const int state_dir_fs[] = {SCMP_SYS(renameat), SCMP_SYS(renameat2), SCMP_SYS(unlinkat)};

static bool is_state_dir_call(int nr)
{
	size_t i;

	for (i = 0; i < sizeof(state_dir_fs) / sizeof(state_dir_fs[0]); i++)
		if (state_dir_fs[i] == nr)
			return true;
	return false;
}

/* A parser of a file the service hands over (--disk-parent): it reads, allocates, prints. */
static const int parser_syscalls[] = {
	SCMP_SYS(read),		SCMP_SYS(pread64),	 SCMP_SYS(readv),     SCMP_SYS(preadv),
	SCMP_SYS(write),	SCMP_SYS(lseek),	 SCMP_SYS(fstat),     SCMP_SYS(newfstatat),
	SCMP_SYS(fcntl),	SCMP_SYS(close),	 SCMP_SYS(mmap),      SCMP_SYS(munmap),
	SCMP_SYS(mremap),	SCMP_SYS(madvise),	 SCMP_SYS(brk),	      SCMP_SYS(futex),
	SCMP_SYS(exit),		SCMP_SYS(exit_group),	 SCMP_SYS(getpid),    SCMP_SYS(gettid),
	SCMP_SYS(rt_sigreturn), SCMP_SYS(clock_gettime), SCMP_SYS(getrandom),
};

/* A filter as libseccomp builds it (not loaded): 0 with *ret, or -errno. */
static int build_filter(const int *calls, size_t n, bool vcpu, bool tsync, scmp_filter_ctx *ret)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	size_t i;
	int r = ctx ? 0 : -ENOMEM;

	/* no_new_privs is already on; libseccomp would otherwise call prctl for it. */
	if (r == 0)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	/* The process filter goes to every thread made before the jail (console, control). */
	if (r == 0 && !vcpu && tsync)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	for (i = 0; r == 0 && i < n; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i], 0);
	/* The root is read-only and empty: the worker's clean-up (removing its sockets) gets the
	 * error the file system would give, not a kill. */
	for (i = 0; r == 0 && i < sizeof(read_only_fs) / sizeof(read_only_fs[0]); i++)
		r = seccomp_rule_add(ctx,
				     !vcpu && is_state_dir_call(read_only_fs[i])
					     ? SCMP_ACT_ALLOW
					     : SCMP_ACT_ERRNO(EROFS),
				     read_only_fs[i], 0);
	/* Comparisons spelled out: SCMP_A0/SCMP_A1 leave datum_b to C's zeroing, which clang's
	 * -Wmissing-field-initializers refuses. */
	if (r == 0 && !vcpu) {
		struct scmp_arg_cmp own_pid = {.arg = 0,
					       .op = SCMP_CMP_EQ,
					       .datum_a = (scmp_datum_t)getpid(),
					       .datum_b = 0};

		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, own_pid);
	}
	if (r == 0 && vcpu) {
		/* Only KVM's ioctls (type KVMIO in the command's bits 8-15), compared on 32 bits.
		 */
		struct scmp_arg_cmp kvm_type = {.arg = 1,
						.op = SCMP_CMP_MASKED_EQ,
						.datum_a = 0xff00,
						.datum_b = KVM_IOCTL_TYPE << 8};

		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, kvm_type);
		/*
		 * First in the program: KVM_RUN is the call of every exit, and the only one of
		 * the hot path the kernel's seccomp cache cannot answer (it checks an argument).
		 */
		if (r == 0)
			r = seccomp_syscall_priority(ctx, SCMP_SYS(ioctl), 255);
		/* The jail's root holds nothing a vCPU needs: opens fail instead of killing. */
		if (r == 0)
			r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 0);
		/* fstat as glibc makes it: newfstatat(fd, "", st, AT_EMPTY_PATH) (spelled out as
		 * above, for clang). */
		struct scmp_arg_cmp empty_path = {
			.arg = 3, .op = SCMP_CMP_EQ, .datum_a = AT_EMPTY_PATH, .datum_b = 0};

		if (r == 0)
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(newfstatat), 1,
					     empty_path);
	}
	if (r < 0) {
		seccomp_release(ctx);
		return r;
	}
	*ret = ctx;
	return 0;
}

static int load_filter_sync(const int *calls, size_t n, bool vcpu, bool tsync)
{
	scmp_filter_ctx ctx;
	int r = build_filter(calls, n, vcpu, tsync, &ctx);

	if (r == 0) {
		r = seccomp_load(ctx);
		seccomp_release(ctx);
	}
	return r;
}

static int load_filter(const int *calls, size_t n, bool vcpu)
{
	return load_filter_sync(calls, n, vcpu, true);
}

/*
 * The vCPU filter compiled once, in sandbox_enter, for every vCPU thread of every boot: each
 * then loads it with one system call before its first KVM_RUN instead of having libseccomp
 * build it again on the path to the guest's first instruction.
 */
static struct sock_fprog vcpu_prog;

static int precompile_vcpu_filter(void)
{
	scmp_filter_ctx ctx;
	struct stat st;
	int fd, r = build_filter(vcpu_syscalls, sizeof(vcpu_syscalls) / sizeof(vcpu_syscalls[0]),
				 true, false, &ctx);

	if (r < 0)
		return r;
	fd = memfd_create("parvis-vcpu-filter", MFD_CLOEXEC);
	r = fd < 0 ? -errno : seccomp_export_bpf(ctx, fd);
	seccomp_release(ctx);
	if (r == 0 && (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size % 8 ||
		       st.st_size / 8 > BPF_MAXINSNS))
		r = -EINVAL;
	if (r == 0) {
		vcpu_prog.filter = malloc((size_t)st.st_size);
		if (!vcpu_prog.filter ||
		    pread(fd, vcpu_prog.filter, (size_t)st.st_size, 0) != st.st_size) {
			free(vcpu_prog.filter);
			vcpu_prog.filter = NULL;
			r = -EIO;
		} else {
			vcpu_prog.len = (unsigned short)(st.st_size / 8);
		}
	}
	if (fd >= 0)
		close(fd);
	return r;
}

int sandbox_enter(const struct sandbox_config *cfg, char *err, size_t errlen)
{
	struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
	int r;

	if (cfg->uid == 0 || cfg->gid == 0)
		return fail(err, errlen, -EINVAL, "the VM's uid and gid must not be 0");
	if (getpid() != 1)
		return fail(err, errlen, -EINVAL,
			    "not PID 1 of a PID namespace of its own (start the worker through "
			    "parvis-vmms, or with --jail)");
	if (geteuid() != 0)
		return fail(err, errlen, -EPERM, "the jail is entered as root (run as root)");
	resolve_names();
	/*
	 * glibc loads libgcc_s on the first pthread_cancel (the console's threads are cancelled
	 * at exit): loaded now, while there is a file system, its later dlopen finds it in
	 * memory. Never closed.
	 */
	if (!dlopen("libgcc_s.so.1", RTLD_NOW))
		return fail(err, errlen, -ENOENT,
			    "loading libgcc_s.so.1 (pthread_cancel needs it)");
	r = make_root(cfg, err, errlen);
	if (r == 0)
		r = set_limits(cfg, err, errlen);
	if (r == 0)
		r = drop_privileges(cfg, err, errlen);
	if (r < 0)
		return r;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return fail(err, errlen, -errno, "SIGSYS handler");
	r = precompile_vcpu_filter();
	if (r < 0)
		return fail(err, errlen, r, "compiling the vCPU threads' seccomp filter");
	r = load_filter(process_syscalls, sizeof(process_syscalls) / sizeof(process_syscalls[0]),
			false);
	if (r < 0)
		return fail(err, errlen, r, "loading the process's seccomp filter");
	return 0;
}

int sandbox_vcpu_thread_init(void *opaque, unsigned index)
{
	(void)opaque;
	snprintf(thread_name, sizeof(thread_name), "vcpu%u", index);
	if (vcpu_prog.filter)
		return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &vcpu_prog) < 0 ? -errno
											: 0;
	return load_filter(vcpu_syscalls, sizeof(vcpu_syscalls) / sizeof(vcpu_syscalls[0]), true);
}

int sandbox_enter_parser(void)
{
	struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};

	resolve_names();
	snprintf(thread_name, sizeof(thread_name), "disk-parent");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -errno;
	/* vcpu = true: no TSYNC (one thread), and openat answers EACCES rather than killing. */
	return load_filter(parser_syscalls, sizeof(parser_syscalls) / sizeof(parser_syscalls[0]),
			   true);
}

int sandbox_thread_filters(bool vcpu, unsigned index)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
	int r;

	pthread_once(&once, resolve_names);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -errno;
	r = load_filter_sync(process_syscalls,
			     sizeof(process_syscalls) / sizeof(process_syscalls[0]), false, false);
	if (r == 0 && vcpu)
		r = sandbox_vcpu_thread_init(NULL, index);
	return r;
}

void sandbox_test_forbidden_syscall(void)
{
	/* socket(2) is in no filter: the first thing an attacker in the worker would try. */
	IGNORE_RESULT(syscall(SYS_socket, AF_INET, SOCK_STREAM, 0));
}

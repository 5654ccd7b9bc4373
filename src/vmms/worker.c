/* Worker processes: spawn, find again, how they ended; see worker.h. */
#include "base/compiler.h"
#include "vmms/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <unistd.h>

extern char **environ;

int worker_paths_init(struct worker_paths *wp, const char *state_dir, const char *id)
{
	struct sockaddr_un un;

	if ((size_t)snprintf(wp->dir, sizeof(wp->dir), "%s/run/%s", state_dir, id) >=
	    sizeof(wp->dir))
		return -ENAMETOOLONG;
	snprintf(wp->config, sizeof(wp->config), "%s/vm.json", wp->dir);
	snprintf(wp->control, sizeof(wp->control), "%s/control.sock", wp->dir);
	snprintf(wp->console, sizeof(wp->console), "%s/console.sock", wp->dir);
	snprintf(wp->console_log, sizeof(wp->console_log), "%s/console.log", wp->dir);
	snprintf(wp->vnc, sizeof(wp->vnc), "%s/vnc.sock", wp->dir);
	snprintf(wp->log, sizeof(wp->log), "%s/worker.log", wp->dir);
	snprintf(wp->exit_status, sizeof(wp->exit_status), "%s/exit-status", wp->dir);
	snprintf(wp->record, sizeof(wp->record), "%s/worker.json", wp->dir);
	if (strlen(wp->control) >= sizeof(un.sun_path) ||
	    strlen(wp->console) >= sizeof(un.sun_path) || strlen(wp->vnc) >= sizeof(un.sun_path))
		return -ENAMETOOLONG;
	return 0;
}

/*
 * The worker is cloned (clone3) rather than posix_spawn()ed: a jailed one straight into
 * new PID, mount, IPC, UTS and network namespaces, so that it is PID 1 there and still
 * our child (the pidfd and waitid watch the jailed process itself; it enters the rest of
 * the jail itself once it has opened its files, src/vmwp/sandbox.c); and every one joins
 * its VM's cgroups before it executes, so that nothing of it runs outside them. The child
 * of this multithreaded process makes system calls only, up to execve.
 */
static int spawn(const char *vmwp, char *const argv[], const struct worker_paths *wp, bool jail,
		 bool mntns_template, const int *cg_fds, unsigned ncg, const int *keep_fds,
		 unsigned nkeep, pid_t *pid)
{
	/*
	 * With the mount namespace template the worker stays in ours until it enters the
	 * template: a copy of our tree made here would be unmounted as it leaves it, and that
	 * unmount waits for an RCU grace period (milliseconds) on the way to the guest.
	 */
	struct clone_args args = {
		.flags = jail ? CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET |
					 (mntns_template ? 0 : CLONE_NEWNS)
			      : 0,
		.exit_signal = SIGCHLD,
	};
	long child = syscall(SYS_clone3, &args, sizeof(args));

	if (child < 0)
		return -errno;
	if (child == 0) {
		static const int dfl[] = {SIGPIPE, SIGTERM, SIGINT, SIGHUP};
		static const char cg_failed[] =
			"parvis-vmms: the worker cannot join its VM's cgroup; not started\n";
		sigset_t none;
		unsigned i;
		int fd;

		setsid();
		fd = open("/dev/null", O_RDONLY);
		if (fd < 0 || dup2(fd, STDIN_FILENO) < 0)
			_exit(127);
		fd = open(wp->log, O_WRONLY | O_CREAT | O_APPEND, 0640);
		if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
			_exit(127);
		/* "0": the writer itself, whatever its pid is in its own PID namespace. */
		for (i = 0; i < ncg; i++)
			if (write(cg_fds[i], "0", 1) != 1) {
				IGNORE_RESULT(
					write(STDERR_FILENO, cg_failed, sizeof(cg_failed) - 1));
				_exit(126);
			}
		/* Ours alone (this process's copies): the files the worker opens no path for. */
		for (i = 0; i < nkeep; i++)
			if (fcntl(keep_fds[i], F_SETFD, 0) < 0)
				_exit(127);
		for (i = 0; i < sizeof(dfl) / sizeof(dfl[0]); i++)
			signal(dfl[i], SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execve(vmwp, argv, environ);
		_exit(127);
	}
	*pid = (pid_t)child;
	return 0;
}

/* In the template's child: the namespace made, one byte on ready, then wait to be killed. */
static void make_template(int ready)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("parvis-jail-base", "/tmp", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV,
		  "size=4k,nr_inodes=4,mode=0555") < 0 ||
	    chdir("/tmp") < 0 || mkdir("r", 0555) < 0 || mkdir("old", 0700) < 0 ||
	    syscall(SYS_pivot_root, ".", "old") < 0 || chdir("/") < 0 ||
	    umount2("/old", MNT_DETACH) < 0 || rmdir("/old") < 0 ||
	    mount(NULL, "/", NULL,
		  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL) < 0)
		_exit(1);
	if (write(ready, "1", 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

int worker_jail_mntns_new(void)
{
	char path[64], c;
	int p[2], fd = -1, status;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		make_template(p[1]);
	}
	close(p[1]);
	if (pid > 0 && read(p[0], &c, 1) == 1) {
		snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fd = -errno;
	} else {
		fd = -EPERM;
	}
	close(p[0]);
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	return pid < 0 ? -errno : fd;
}

int worker_spawn(const char *vmwp, const struct worker_paths *wp, bool jail, bool mntns_template,
		 const int *cg_fds, unsigned ncg, const int *keep_fds, unsigned nkeep, pid_t *pid)
{
	char opt[] = "--config";
	char *argv[] = {(char *)vmwp, opt, (char *)wp->config, NULL};

	return spawn(vmwp, argv, wp, jail, mntns_template, cg_fds, ncg, keep_fds, nkeep, pid);
}

/* /proc/PID/stat after the command name (which may contain anything), or -errno. */
static int read_stat(pid_t pid, char *buf, size_t len, char **after_comm)
{
	char path[64];
	ssize_t n;
	char *p;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -EIO;
	*after_comm = p + 2; /* field 3, the state */
	return 0;
}

/* Field number `field` (1-based, >= 3) of a stat line. */
static const char *stat_field(char *after_comm, int field)
{
	char *p = after_comm;
	int i;

	for (i = 3; i < field && p; i++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p;
}

uint64_t proc_start_time(pid_t pid)
{
	char buf[1024], *s;
	const char *f;

	if (pid <= 0 || read_stat(pid, buf, sizeof(buf), &s) < 0)
		return 0;
	f = stat_field(s, 22);
	return f ? strtoull(f, NULL, 10) : 0;
}

int proc_cpu_ticks(pid_t pid, uint64_t *ticks)
{
	char buf[1024], *s;
	const char *u, *k;
	int r = read_stat(pid, buf, sizeof(buf), &s);

	if (r < 0)
		return r;
	u = stat_field(s, 14);
	k = stat_field(s, 15);
	if (!u || !k)
		return -EIO;
	*ticks = strtoull(u, NULL, 10) + strtoull(k, NULL, 10);
	return 0;
}

bool proc_is_zombie(pid_t pid)
{
	char buf[1024], *s;

	return read_stat(pid, buf, sizeof(buf), &s) == 0 && (s[0] == 'Z' || s[0] == 'X');
}

int pidfd_open_pid(pid_t pid)
{
	long fd = syscall(SYS_pidfd_open, pid, 0);

	return fd < 0 ? -errno : (int)fd;
}

int worker_record_write(const struct worker_paths *wp, pid_t pid, uint64_t start_time)
{
	char tmp[700];
	FILE *f;
	int r = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", wp->record);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "{\"pid\": %d, \"start_time\": %llu}\n", (int)pid,
		(unsigned long long)start_time);
	if (fflush(f) != 0 || fsync(fileno(f)) < 0)
		r = -errno;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, wp->record) < 0)
		r = -errno;
	return r;
}

int worker_record_read(const struct worker_paths *wp, pid_t *pid, uint64_t *start_time)
{
	struct json_object *o = json_object_from_file(wp->record), *p, *s;
	int r = -EINVAL;

	if (!o)
		return -ENOENT;
	if (json_object_object_get_ex(o, "pid", &p) && json_object_is_type(p, json_type_int) &&
	    json_object_object_get_ex(o, "start_time", &s) &&
	    json_object_is_type(s, json_type_int) && json_object_get_int64(p) > 0 &&
	    json_object_get_int64(p) < INT32_MAX) {
		*pid = (pid_t)json_object_get_int64(p);
		*start_time = (uint64_t)json_object_get_int64(s);
		r = 0;
	}
	json_object_put(o);
	return r;
}

int worker_exit_status_read(const struct worker_paths *wp)
{
	char buf[16];
	ssize_t n;
	int fd = open(wp->exit_status, O_RDONLY | O_CLOEXEC), v;

	if (fd < 0)
		return -ENOENT;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ENOENT;
	buf[n] = '\0';
	v = atoi(buf);
	return v >= 0 && v <= 255 ? v : -EINVAL;
}

const char *worker_exit_status_name(int status)
{
	switch (status) {
	case 0: return "the guest powered off";
	case 1: return "bad configuration";
	case 2: return "host error";
	case 3: return "triple fault";
	case 4: return "an instruction the host cannot emulate";
	case 5: return "turned off by the host";
	default: return "unknown exit status";
	}
}

void worker_log_last_line(const struct worker_paths *wp, char *buf, size_t len)
{
	char tail[4096];
	int fd = open(wp->log, O_RDONLY | O_CLOEXEC);
	off_t size;
	ssize_t n;
	char *end, *start;

	buf[0] = '\0';
	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	if (size > (off_t)sizeof(tail) - 1)
		lseek(fd, size - (off_t)sizeof(tail) + 1, SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	n = read(fd, tail, sizeof(tail) - 1);
	close(fd);
	if (n <= 0)
		return;
	tail[n] = '\0';
	end = tail + n;
	while (end > tail && (end[-1] == '\n' || end[-1] == ' '))
		*--end = '\0';
	start = strrchr(tail, '\n');
	start = start ? start + 1 : tail;
	snprintf(buf, len, "%s", start);
}

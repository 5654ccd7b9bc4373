/*
 * jail-root-bench: what the two ways of giving a worker an empty root cost
 * (docs/security.md, the jail's step 1), each in a fresh child process, as
 * parvis-vmwp does them:
 *   pivot:    unshare(CLONE_NEWNS) (a copy of the host's tree), the tree made
 *             private, a tmpfs, pivot_root, the host's tree unmounted
 *             (MNT_DETACH: an RCU grace period), / read-only — the standalone
 *             --jail;
 *   template: setns() into a namespace made once whose root is an empty
 *             read-only tmpfs, unshare(CLONE_NEWNS) (a copy of that one mount),
 *             a tmpfs on /r, chroot, / read-only — a worker of parvis-vmms.
 * Prints the median and minimum wall time of each (runs alternated) as JSON;
 * bench/vmms.py runs it. Needs root.
 */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TMPFS_OPTS "size=64k,nr_inodes=16,mode=0755"

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int pivot(void)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("bench", "/tmp", "tmpfs", MS_NOSUID | MS_NOEXEC, TMPFS_OPTS) < 0 ||
	    chdir("/tmp") < 0 || mkdir("old", 0700) < 0 ||
	    syscall(SYS_pivot_root, ".", "old") < 0 || chdir("/") < 0 ||
	    umount2("/old", MNT_DETACH) < 0 || rmdir("/old") < 0 ||
	    mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
		return -1;
	return 0;
}

static int template(int ns)
{
	if (setns(ns, CLONE_NEWNS) < 0 || unshare(CLONE_NEWNS) < 0 ||
	    mount("bench", "/r", "tmpfs", MS_NOSUID | MS_NOEXEC, TMPFS_OPTS) < 0 ||
	    chdir("/r") < 0 || chroot(".") < 0 || chdir("/") < 0 ||
	    mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
		return -1;
	return 0;
}

/* The template, as parvis-vmms makes it (src/vmms/worker.c): an fd of its namespace. */
static int make_template(void)
{
	int p[2], fd;
	char c, path[64];
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount("base", "/tmp", "tmpfs", 0, "size=4k,nr_inodes=4,mode=0555") < 0 ||
		    chdir("/tmp") < 0 || mkdir("r", 0555) < 0 || mkdir("old", 0700) < 0 ||
		    syscall(SYS_pivot_root, ".", "old") < 0 || chdir("/") < 0 ||
		    umount2("/old", MNT_DETACH) < 0 || rmdir("/old") < 0 ||
		    mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
			_exit(1);
		if (write(p[1], "1", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
	fd = open(path, O_RDONLY);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return fd;
}

/* One run in a child: its wall time in ms, or a negative number. */
static double one(int ns)
{
	int p[2], status;
	double ms = -1;
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		double t0 = now_ms();
		int r = ns >= 0 ? template(ns) : pivot();
		double t = now_ms() - t0;

		if (r < 0)
			t = -1;
		if (write(p[1], &t, sizeof(t)) != sizeof(t))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &ms, sizeof(ms)) != sizeof(ms))
		ms = -1;
	close(p[0]);
	waitpid(pid, &status, 0);
	return ms;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int runs = argc > 1 ? atoi(argv[1]) : 20, i, ns = make_template();
	double *pv = calloc((size_t)runs, sizeof(double)),
	       *tp = calloc((size_t)runs, sizeof(double));

	if (ns < 0 || !pv || !tp || runs < 1) {
		fprintf(stderr, "jail-root-bench: needs root (and a runs count >= 1)\n");
		return 1;
	}
	for (i = 0; i < runs; i++) {
		pv[i] = one(-1);
		tp[i] = one(ns);
		if (pv[i] < 0 || tp[i] < 0) {
			fprintf(stderr, "jail-root-bench: a run failed\n");
			return 1;
		}
	}
	qsort(pv, (size_t)runs, sizeof(double), cmp);
	qsort(tp, (size_t)runs, sizeof(double), cmp);
	printf("{\"runs\": %d, \"pivot_ms\": {\"median\": %.3f, \"min\": %.3f}, "
	       "\"template_ms\": {\"median\": %.3f, \"min\": %.3f}}\n",
	       runs, pv[runs / 2], pv[0], tp[runs / 2], tp[0]);
	return 0;
}

/* The files the service opens for a worker; see disk_files.h. */
#include "vmms/disk_files.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/confined_path.h"
#include "vmms/access.h"

#define LOCATOR_TIMEOUT_MS 10000
#define LOCATOR_MAX_BYTES  (64 * 1024)
#define NOBODY		   65534

extern char **environ;

/*
 * A file in a storage directory must be, once open, the very path recorded (a symlink or a
 * renamed directory put in its place since would resolve elsewhere). Root's files elsewhere
 * are opened as named, as before.
 */
static int check_opened(struct service *svc, const char *what, const char *path, int fd,
			bool block_ok, struct api_error *err)
{
	char proc[64], real[PATH_MAX];
	struct stat st;
	ssize_t n;

	/* Block devices: root's disks only (access.c refuses them to everyone else). */
	if (fstat(fd, &st) < 0 || (!S_ISREG(st.st_mode) && !(block_ok && S_ISBLK(st.st_mode)))) {
		api_error_set(err, API_ERR_INVALID, "%s '%s' is not a regular file", what, path);
		return -EINVAL;
	}
	if (!access_path_in_dirs(path, svc->cfg.storage_dirs, svc->cfg.nstorage_dirs))
		return 0;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, real, sizeof(real) - 1);
	if (n > 0)
		real[n] = '\0';
	if (n <= 0 || strcmp(real, path) || !S_ISREG(st.st_mode)) {
		api_error_set(err, API_ERR_DENIED,
			      "%s '%s' is no longer the regular file it was when it was attached "
			      "(a symlink or another kind of file now stands there); put the file "
			      "back or detach it",
			      what, path);
		return -EACCES;
	}
	return 0;
}

/* O_NONBLOCK only keeps a FIFO from hanging the open: io_uring would answer -EAGAIN. */
static void clear_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
}

int boot_file_open(struct service *svc, const char *what, const char *path, struct api_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY), r;

	if (fd < 0) {
		r = -errno;
		api_error_set(err, API_ERR_INVALID, "%s '%s': %s", what, path, strerror(errno));
		return r;
	}
	r = check_opened(svc, what, path, fd, false, err);
	if (r < 0) {
		close(fd);
		return r;
	}
	clear_nonblock(fd);
	return fd;
}

/*
 * parvis-vmwp --disk-parent on fd, as uid (and gid) with no groups and no_new_privs: its
 * one line of JSON, or NULL with err. The child of this multithreaded process makes system
 * calls only, up to execve.
 */
static struct json_object *run_locator(struct service *svc, int fd, uid_t uid, const char *path,
				       struct api_error *err)
{
	char opt[] = "--disk-parent";
	char *argv[] = {svc->vmwp, opt, NULL};
	char *buf = malloc(LOCATOR_MAX_BYTES + 1);
	struct json_object *o = NULL;
	uint64_t deadline = time_monotonic_ns() + LOCATOR_TIMEOUT_MS * 1000000ull;
	size_t len = 0;
	int out[2], status = 0;
	pid_t pid;

	if (!buf || pipe2(out, O_CLOEXEC) < 0) {
		free(buf);
		api_error_set(err, API_ERR_HOST, "disk '%s': cannot run %s: %s", path, svc->vmwp,
			      strerror(errno));
		return NULL;
	}
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		struct rlimit cpu = {.rlim_cur = 10, .rlim_max = 10}, none = {0};

		/* A parser stuck on a crafted image ends by itself too; it never dumps core. */
		if (setrlimit(RLIMIT_CPU, &cpu) < 0 || setrlimit(RLIMIT_CORE, &none) < 0 ||
		    dup2(fd, STDIN_FILENO) < 0 || dup2(out[1], STDOUT_FILENO) < 0 || devnull < 0 ||
		    dup2(devnull, STDERR_FILENO) < 0 || setgroups(0, NULL) < 0 ||
		    setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0 ||
		    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			_exit(126);
		signal(SIGPIPE, SIG_DFL);
		execve(svc->vmwp, argv, environ);
		_exit(127);
	}
	close(out[1]);
	while (pid > 0 && len < LOCATOR_MAX_BYTES) {
		uint64_t now = time_monotonic_ns();
		struct pollfd p = {.fd = out[0], .events = POLLIN};
		ssize_t n;

		if (now >= deadline || poll(&p, 1, (int)((deadline - now) / 1000000) + 1) <= 0)
			break;
		n = read(out[0], buf + len, LOCATOR_MAX_BYTES - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(out[0]);
	if (pid > 0) {
		kill(pid, SIGKILL); /* it has printed, or is past its time */
		waitpid(pid, &status, 0);
	}
	buf[len] = '\0';
	if (pid > 0 && len && len < LOCATOR_MAX_BYTES)
		o = json_tokener_parse(buf);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
		api_error_set(err, API_ERR_INVALID,
			      "disk '%s': its parent locator could not be read (%s --disk-parent "
			      "failed: the image is damaged, or not a disk; 'parvis vhd inspect' "
			      "says more)",
			      path, svc->vmwp);
	}
	free(buf);
	return o;
}

static const char *get_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

/* A VM (any, any state) that has resolved as a read-write disk. */
static const struct vm *writer_of(struct service *svc, const char *resolved)
{
	const struct vm *vm;
	unsigned i;

	for (vm = svc->vms; vm; vm = vm->next)
		for (i = 0; i < vm->rec.ndisks; i++)
			if (!vm->rec.disks[i].readonly && !strcmp(vm->rec.disks[i].path, resolved))
				return vm;
	return NULL;
}

/*
 * The parent that child's locator (as parvis-vmwp --disk-parent printed it) names,
 * resolved, checked and opened read-only: its fd with *ret_path, or -errno with err.
 */
static int open_parent(struct service *svc, const struct api_caller *caller, const char *child,
		       struct json_object *locator, char **ret_path, struct api_error *err)
{
	const char **dirs = calloc(svc->cfg.nstorage_dirs + 1, sizeof(*dirs));
	const char *cands[2] = {get_str(locator, "relative_path"),
				get_str(locator, "absolute_path")};
	char why[512] = "", *resolved = NULL;
	const struct vm *writer;
	struct stat st, fst;
	unsigned i;
	int r = -ENOENT, fd;

	if (!dirs) {
		api_error_set(err, API_ERR_HOST, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < svc->cfg.nstorage_dirs; i++)
		dirs[i] = svc->cfg.storage_dirs[i];
	for (i = 0; i < 2 && r == -ENOENT; i++)
		if (cands[i])
			r = confined_path_resolve(child, cands[i], i == 0, dirs, &resolved, &st,
						  why, sizeof(why));
	free(dirs);
	if (r == -ENOENT) {
		api_error_set(err, API_ERR_INVALID, "disk '%s': its parent disk \"%s\" is missing",
			      child,
			      cands[0]	 ? cands[0]
			      : cands[1] ? cands[1]
					 : "(no locator)");
		return r;
	}
	if (r < 0) {
		api_error_set(err, API_ERR_DENIED, "%s", why);
		return r;
	}
	writer = writer_of(svc, resolved);
	if (writer) {
		api_error_set(err, API_ERR_IN_USE,
			      "disk '%s': its parent %s is a read-write disk of VM '%s' (a parent "
			      "must not change under its children): attach it read-only there",
			      child, resolved, writer->rec.name);
		free(resolved);
		return -EBUSY;
	}
	if (caller && caller->uid != 0) {
		char again[PATH_MAX];

		r = access_check_path(caller, svc->cfg.storage_dirs, svc->cfg.nstorage_dirs,
				      "parent disk", resolved, false, again, err);
		if (r < 0) {
			free(resolved);
			return r;
		}
	}
	fd = open(resolved, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &fst) < 0 || fst.st_dev != st.st_dev || fst.st_ino != st.st_ino) {
		r = fd < 0 ? -errno : -EAGAIN;
		api_error_set(err, API_ERR_INVALID, "disk '%s': its parent %s: %s", child, resolved,
			      fd < 0 ? strerror(errno) : "changed while it was opened");
		if (fd >= 0)
			close(fd);
		free(resolved);
		return r;
	}
	clear_nonblock(fd);
	*ret_path = resolved;
	return fd;
}

static bool is_vhdx(int fd)
{
	char sig[8];

	return pread(fd, sig, sizeof(sig), 0) == (ssize_t)sizeof(sig) &&
	       !memcmp(sig, "vhdxfile", sizeof(sig));
}

/* Every parent of the disk open at df->fd, nearest first. */
static int open_chain(struct service *svc, const struct vm *vm, const struct api_caller *caller,
		      const char *path, struct disk_files *df, struct api_error *err)
{
	uid_t uid = svc->cfg.jail && vm->rec.jail_uid ? vm->rec.jail_uid : NOBODY;
	const char *child = path;
	int fd = df->fd;

	while (is_vhdx(fd)) {
		struct json_object *loc, *v;
		bool differencing;
		int pfd;

		loc = run_locator(svc, fd, uid, child, err);
		if (!loc)
			return -EINVAL;
		differencing = json_object_object_get_ex(loc, "differencing", &v) &&
			       json_object_get_boolean(v);
		if (!differencing) {
			json_object_put(loc);
			return 0;
		}
		if (df->nparents == DISK_FILES_MAX_PARENTS) {
			json_object_put(loc);
			api_error_set(err, API_ERR_INVALID,
				      "disk '%s': its parent chain is deeper than %d", path,
				      DISK_FILES_MAX_PARENTS);
			return -ELOOP;
		}
		pfd = open_parent(svc, caller, child, loc, &df->parent_path[df->nparents], err);
		json_object_put(loc);
		if (pfd < 0)
			return pfd;
		df->parent_fd[df->nparents] = pfd;
		child = df->parent_path[df->nparents++];
		fd = pfd;
	}
	return 0;
}

int disk_files_open(struct service *svc, const struct vm *vm, const struct api_caller *caller,
		    const char *path, bool readonly, struct disk_files *df, struct api_error *err)
{
	int mode = readonly ? O_RDONLY : O_RDWR, r;

	*df = (struct disk_files){.fd = -1, .direct_fd = -1};
	df->fd = open(path, mode | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (df->fd < 0 && !readonly && (errno == EACCES || errno == EROFS || errno == EPERM)) {
		mode = O_RDONLY;
		df->fd = open(path, mode | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	}
	if (df->fd < 0) {
		r = -errno;
		api_error_set(err, API_ERR_INVALID, "disk '%s': %s", path, strerror(errno));
		return r;
	}
	r = check_opened(svc, "disk", path, df->fd, true, err);
	if (r < 0)
		goto fail;
	/* The same file again (not the path again: it could be another file by now). */
	{
		char proc[64];

		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", df->fd);
		df->direct_fd = open(proc, mode | O_DIRECT | O_CLOEXEC | O_NONBLOCK);
	}
	clear_nonblock(df->fd);
	if (df->direct_fd >= 0)
		clear_nonblock(df->direct_fd);
	r = open_chain(svc, vm, caller, path, df, err);
	if (r < 0)
		goto fail;
	return 0;
fail:
	disk_files_close(df);
	return r;
}

void disk_files_close(struct disk_files *df)
{
	unsigned i;

	if (df->fd >= 0)
		close(df->fd);
	if (df->direct_fd >= 0)
		close(df->direct_fd);
	for (i = 0; i < df->nparents; i++) {
		close(df->parent_fd[i]);
		free(df->parent_path[i]);
	}
	*df = (struct disk_files){.fd = -1, .direct_fd = -1};
}

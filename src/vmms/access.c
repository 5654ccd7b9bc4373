/* Who may do what through the management socket; see access.h. */
#include "vmms/access.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

/*
 * What each call needs. A call missing here needs ACCESS_ADMIN (the zero value is
 * ACCESS_NONE, read as "unlisted"): a new call is closed until it is classified.
 */
static const struct {
	enum access_role needs;
	bool changes;
} calls[API_CALL_COUNT] = {
	[API_CALL_NEW_VM] = {ACCESS_ADMIN, true},
	[API_CALL_GET_VM] = {ACCESS_OPERATOR, false},
	[API_CALL_START_VM] = {ACCESS_OPERATOR, true},
	[API_CALL_STOP_VM] = {ACCESS_OPERATOR, true},
	[API_CALL_RESTART_VM] = {ACCESS_OPERATOR, true},
	[API_CALL_SUSPEND_VM] = {ACCESS_OPERATOR, true},
	[API_CALL_RESUME_VM] = {ACCESS_OPERATOR, true},
	[API_CALL_REMOVE_VM] = {ACCESS_ADMIN, true},
	[API_CALL_SET_VM] = {ACCESS_ADMIN, true},
	[API_CALL_ADD_VMHARDDISKDRIVE] = {ACCESS_ADMIN, true},
	[API_CALL_REMOVE_VMHARDDISKDRIVE] = {ACCESS_ADMIN, true},
	[API_CALL_GET_VMINTEGRATIONSERVICE] = {ACCESS_OPERATOR, false},
	[API_CALL_GET_VMCONSOLE] = {ACCESS_OPERATOR, false},
	[API_CALL_GET_VMHISTORY] = {ACCESS_OPERATOR, false},
	[API_CALL_SET_VMPROCESSOR] = {ACCESS_ADMIN, true},
	[API_CALL_GET_VMPROCESSOR] = {ACCESS_OPERATOR, false},
	[API_CALL_GET_VMHOSTPROCESSOR] = {ACCESS_OPERATOR, false},
	[API_CALL_SET_VMMEMORY] = {ACCESS_ADMIN, true},
	[API_CALL_MEASURE_VM] = {ACCESS_OPERATOR, false},
	[API_CALL_NEW_VMSWITCH] = {ACCESS_ADMIN, true},
	[API_CALL_GET_VMSWITCH] = {ACCESS_OPERATOR, false},
	[API_CALL_SET_VMSWITCH] = {ACCESS_ADMIN, true},
	[API_CALL_REMOVE_VMSWITCH] = {ACCESS_ADMIN, true},
	[API_CALL_ADD_VMNETWORKADAPTER] = {ACCESS_ADMIN, true},
	[API_CALL_GET_VMNETWORKADAPTER] = {ACCESS_OPERATOR, false},
	[API_CALL_CONNECT_VMNETWORKADAPTER] = {ACCESS_ADMIN, true},
	[API_CALL_DISCONNECT_VMNETWORKADAPTER] = {ACCESS_ADMIN, true},
	[API_CALL_SET_VMNETWORKADAPTER] = {ACCESS_ADMIN, true},
	[API_CALL_REMOVE_VMNETWORKADAPTER] = {ACCESS_ADMIN, true},
	[API_CALL_ADD_VMNETWORKADAPTERACL] = {ACCESS_ADMIN, true},
	[API_CALL_GET_VMNETWORKADAPTERACL] = {ACCESS_OPERATOR, false},
	[API_CALL_REMOVE_VMNETWORKADAPTERACL] = {ACCESS_ADMIN, true},
	[API_CALL_SUBSCRIBE] = {ACCESS_OPERATOR, false},
	[API_CALL_VERSION] = {ACCESS_OPERATOR, false},
	[API_CALL_CONNECT_VM] = {ACCESS_OPERATOR, false},
	[API_CALL_CHECKPOINT_VM] = {ACCESS_ADMIN, true},
	[API_CALL_GET_VMSNAPSHOT] = {ACCESS_OPERATOR, false},
	[API_CALL_RESTORE_VMSNAPSHOT] = {ACCESS_ADMIN, true},
	[API_CALL_REMOVE_VMSNAPSHOT] = {ACCESS_ADMIN, true},
	[API_CALL_EXPORT_VM] = {ACCESS_ADMIN, true},
	[API_CALL_IMPORT_VM] = {ACCESS_ADMIN, true},
	[API_CALL_SAVE_VM] = {ACCESS_OPERATOR, true},
	[API_CALL_ADD_VMDVDDRIVE] = {ACCESS_ADMIN, true},
	[API_CALL_GET_VMDVDDRIVE] = {ACCESS_OPERATOR, false},
	/* Media change is an operator's (as inserting a disc), but names a host file. */
	[API_CALL_SET_VMDVDDRIVE] = {ACCESS_ADMIN, true},
	[API_CALL_REMOVE_VMDVDDRIVE] = {ACCESS_ADMIN, true},
	[API_CALL_SET_VMBIOS] = {ACCESS_ADMIN, true},
	[API_CALL_GET_VMBIOS] = {ACCESS_OPERATOR, false},
	[API_CALL_ENABLE_VMMIGRATION] = {ACCESS_ADMIN, true},
	[API_CALL_DISABLE_VMMIGRATION] = {ACCESS_ADMIN, true},
	[API_CALL_GET_VMHOST] = {ACCESS_OPERATOR, false},
	[API_CALL_MOVE_VM] = {ACCESS_ADMIN, true},
};

static bool in_group(gid_t primary, const gid_t *groups, unsigned n, gid_t g)
{
	unsigned i;

	if (primary == g)
		return true;
	for (i = 0; i < n; i++)
		if (groups[i] == g)
			return true;
	return false;
}

static enum access_role role_of(const struct access_policy *p, const struct api_caller *c,
				const gid_t *groups, unsigned n)
{
	if (c->uid == 0 || (p->has_admin && in_group(c->gid, groups, n, p->admin_gid)))
		return ACCESS_ADMIN;
	if (p->has_operator && in_group(c->gid, groups, n, p->operator_gid))
		return ACCESS_OPERATOR;
	return ACCESS_NONE;
}

int access_caller_from_socket(int fd, const struct access_policy *p, struct api_caller *c)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct passwd pw, *pwp = NULL;
	gid_t *all = NULL;
	char buf[4096];
	unsigned n = 0;

	*c = (struct api_caller){0};
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	c->uid = cred.uid;
	c->gid = cred.gid;
	c->pid = cred.pid;
	/* The supplementary groups as of connect(): asked for their size first (ERANGE). */
	len = 0;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, NULL, &len) < 0 && errno != ERANGE)
		return -errno;
	if (len) {
		all = malloc(len);
		if (!all)
			return -ENOMEM;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, all, &len) < 0) {
			free(all);
			return -errno;
		}
		n = len / sizeof(gid_t);
	}
	c->role = role_of(p, c, all, n);
	/* Opens as the caller take the first groups only: never more access than it has. */
	c->ngroups = n < ACCESS_MAX_GROUPS ? n : ACCESS_MAX_GROUPS;
	if (n)
		memcpy(c->groups, all, c->ngroups * sizeof(gid_t));
	free(all);
	getpwuid_r(c->uid, &pw, buf, sizeof(buf), &pwp);
	if (pwp)
		snprintf(c->user, sizeof(c->user), "%s", pwp->pw_name);
	else
		snprintf(c->user, sizeof(c->user), "%u", (unsigned)c->uid);
	return 0;
}

static void groups_text(const struct access_policy *p, char *buf, size_t len)
{
	snprintf(buf, len, "root, %s%s%s and %s%s%s", p->has_admin ? "the admin group '" : "",
		 p->has_admin ? p->admin_group : "no admin group (--admin-group)",
		 p->has_admin ? "'" : "", p->has_operator ? "the operator group '" : "",
		 p->has_operator ? p->operator_group : "no operator group (--operator-group)",
		 p->has_operator ? "'" : "");
}

void access_refusal(const struct access_policy *p, const struct api_caller *c, char *buf,
		    size_t len)
{
	char who[300];

	groups_text(p, who, sizeof(who));
	snprintf(buf, len,
		 "user %s (uid %u) may not use this parvis-vmms: it serves %s; ask an "
		 "administrator to add you to one of those groups",
		 c->user, (unsigned)c->uid, who);
}

enum access_role access_call_needs(enum api_call call)
{
	if ((unsigned)call >= API_CALL_COUNT || calls[call].needs == ACCESS_NONE)
		return ACCESS_ADMIN;
	return calls[call].needs;
}

bool access_call_changes(enum api_call call)
{
	return (unsigned)call >= API_CALL_COUNT || calls[call].needs == ACCESS_NONE ||
	       calls[call].changes;
}

int access_check_call(const struct access_policy *p, const struct api_caller *c, enum api_call call,
		      struct api_error *err)
{
	enum access_role needs = access_call_needs(call);

	if (c->role >= needs)
		return 0;
	if (needs == ACCESS_ADMIN)
		api_error_set(err, API_ERR_DENIED,
			      "%s changes the VMs' configuration: it needs root or the admin group "
			      "%s%s%s; user %s (uid %u) is %s",
			      api_call_name(call), p->has_admin ? "'" : "",
			      p->has_admin ? p->admin_group : "(none configured: --admin-group)",
			      p->has_admin ? "'" : "", c->user, (unsigned)c->uid,
			      c->role == ACCESS_OPERATOR
				      ? "an operator only (start, stop, console, "
					"reads)"
				      : "in neither group");
	else
		api_error_set(err, API_ERR_DENIED, "%s needs the operator or the admin group",
			      api_call_name(call));
	return -EACCES;
}

bool access_path_in_dirs(const char *resolved, const char *const *dirs, unsigned ndirs)
{
	unsigned i;

	for (i = 0; i < ndirs; i++) {
		size_t n = strlen(dirs[i]);

		while (n > 1 && dirs[i][n - 1] == '/')
			n--;
		if (!strncmp(resolved, dirs[i], n) && (resolved[n] == '/' || n == 1) &&
		    resolved[n + (n > 1)] != '\0')
			return true;
	}
	return false;
}

/*
 * Opens path in a child that has taken the caller's file-system ids and groups, so that
 * the kernel applies the caller's permissions on every directory and on the file (our
 * CAP_DAC_OVERRIDE leaves the effective set when fsuid becomes non-zero). The child makes
 * system calls only (we are multithreaded). 0, or the child's errno.
 */
static int open_as_caller(const struct api_caller *c, const char *path, bool write)
{
	int status, e;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd;

		if (syscall(SYS_setgroups, (size_t)c->ngroups, c->groups) < 0)
			_exit(EPERM);
		setfsgid(c->gid);
		setfsuid(c->uid);
		if ((uid_t)setfsuid((uid_t)-1) != c->uid || (gid_t)setfsgid((gid_t)-1) != c->gid)
			_exit(EPERM);
		fd = open(path, (write ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
					O_CLOEXEC);
		_exit(fd < 0 ? (errno > 0 && errno < 256 ? errno : EIO) : 0);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (!WIFEXITED(status))
		return -EIO;
	e = WEXITSTATUS(status);
	return -e;
}

int access_check_path(const struct api_caller *c, const char *const *dirs, unsigned ndirs,
		      const char *what, const char *path, bool write, char *resolved,
		      struct api_error *err)
{
	struct stat st;
	int r;

	if (path[0] != '/') {
		api_error_set(err, API_ERR_INVALID, "%s '%s' is not an absolute path", what, path);
		return -EINVAL;
	}
	if (!realpath(path, resolved)) {
		api_error_set(err, API_ERR_NOT_FOUND,
			      "%s '%s' does not exist or cannot be read: %s", what, path,
			      strerror(errno));
		return -ENOENT;
	}
	if (c->uid == 0)
		return 0;
	if (!ndirs) {
		api_error_set(err, API_ERR_DENIED,
			      "%s '%s': only root may name host files: this service has no storage "
			      "directory (parvis-vmms --storage-dir DIR) for other users' files",
			      what, path);
		return -EACCES;
	}
	if (!access_path_in_dirs(resolved, dirs, ndirs)) {
		char list[512] = "";
		size_t at = 0;
		unsigned i;

		for (i = 0; i < ndirs && at < sizeof(list); i++)
			at += (size_t)snprintf(list + at, sizeof(list) - at, "%s%s", i ? ", " : "",
					       dirs[i]);
		api_error_set(
			err, API_ERR_DENIED,
			"%s '%s'%s%s%s is outside the storage directories (%s): only root may "
			"name other host files; move or copy it there",
			what, path, strcmp(path, resolved) ? " (resolved to '" : "",
			strcmp(path, resolved) ? resolved : "", strcmp(path, resolved) ? "')" : "",
			list);
		return -EACCES;
	}
	if (stat(resolved, &st) < 0 || !S_ISREG(st.st_mode)) {
		api_error_set(err, API_ERR_DENIED,
			      "%s '%s' is %s: only root may attach anything but a regular file",
			      what, path,
			      S_ISBLK(st.st_mode)   ? "a block device"
			      : S_ISDIR(st.st_mode) ? "a directory"
						    : "not a regular file");
		return -EACCES;
	}
	r = open_as_caller(c, resolved, write);
	if (r < 0) {
		api_error_set(err, API_ERR_DENIED,
			      "%s '%s' cannot be opened %s by user %s (uid %u): %s; the service "
			      "opens files only for callers who could open them themselves%s",
			      what, path, write ? "read-write" : "for reading", c->user,
			      (unsigned)c->uid, strerror(-r),
			      write ? " (attach it with --readonly if you may only read it)" : "");
		return -EACCES;
	}
	return 0;
}

/*
 * Who may do what through the management socket (docs/security.md, "The
 * management socket"), as Hyper-V's "Hyper-V Administrators" group: the
 * caller is whoever connected (SO_PEERCRED and SO_PEERGROUPS, taken by the
 * kernel at connect()); root and the admin group may make every call, the
 * operator group the power verbs, the console and the reads, anyone else
 * nothing. Host paths named by a caller that is not root (kernels, initrds,
 * disks) must lie under the service's storage directories once symlinks are
 * resolved, be regular files and be openable by the caller itself.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/compiler.h"
#include "ipc/api.h"

#define ACCESS_MAX_GROUPS 256 /* supplementary groups of a caller considered */

enum access_role {
	ACCESS_NONE,	 /* refused at connect */
	ACCESS_OPERATOR, /* start, stop, restart, suspend, resume, console, reads */
	ACCESS_ADMIN,	 /* everything */
};

struct api_caller {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	gid_t groups[ACCESS_MAX_GROUPS];
	unsigned ngroups;
	enum access_role role;
	char user[64]; /* the account's name, or the uid in digits */
};

/* The groups that grant roles; -1 when the service has none. */
struct access_policy {
	gid_t admin_gid, operator_gid;
	bool has_admin, has_operator;
	const char *admin_group, *operator_group; /* names, for messages */
};

/*
 * Fills c from a connected Unix socket (credentials as of connect()), with its role under
 * policy p (root is always ACCESS_ADMIN); -errno.
 */
int access_caller_from_socket(int fd, const struct access_policy *p,
			      struct api_caller *c) must_check;
/* Why a caller with no role is refused, into buf (the error sent at connect). */
void access_refusal(const struct access_policy *p, const struct api_caller *c, char *buf,
		    size_t len);
/* The role a call needs. */
enum access_role access_call_needs(enum api_call call);
/* True for calls that change something (written to the audit log). */
bool access_call_changes(enum api_call call);
/* 0 if the caller may make the call, else -EACCES with err (API_ERR_DENIED) saying why. */
int access_check_call(const struct access_policy *p, const struct api_caller *c, enum api_call call,
		      struct api_error *err) must_check;

/*
 * The rules for a host path named by a caller that is not root (root's paths are only
 * resolved): path resolved (every symlink) into resolved[PATH_MAX], which must lie under
 * one of the ndirs storage directories dirs[] (themselves resolved), be a regular file
 * (not a block device, FIFO, directory ...) and open for the caller — read, or read-write
 * when write — checked in a child process running with the caller's file-system uid, gid
 * and groups. what names the path in errors ("disk", "kernel", "initrd"). 0, or -errno
 * with err naming the rule.
 */
int access_check_path(const struct api_caller *c, const char *const *dirs, unsigned ndirs,
		      const char *what, const char *path, bool write, char *resolved,
		      struct api_error *err) must_check;
/* True if resolved lies under one of dirs[] (a path prefix at a '/' boundary). */
bool access_path_in_dirs(const char *resolved, const char *const *dirs, unsigned ndirs);

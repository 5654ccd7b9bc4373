/* Where a file named by another file may be; see confined_path.h. */
#include "base/confined_path.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>

/* dir (a canonical path) is root or below it. */
static bool dir_within(const char *dir, const char *root)
{
	size_t n = strlen(root);

	if (n > 1 && root[n - 1] == '/')
		n--;
	return !strncmp(dir, root, n) && (dir[n] == '\0' || dir[n] == '/' || n == 1);
}

static bool dir_allowed(const char *rdir, const char *child_dir, const char *const *dirs)
{
	char *r;
	bool ok;

	r = realpath(child_dir, NULL);
	ok = r && dir_within(rdir, r);
	free(r);
	for (unsigned i = 0; !ok && dirs && dirs[i]; i++) {
		r = realpath(dirs[i], NULL);
		ok = r && dir_within(rdir, r);
		free(r);
	}
	return ok;
}

static int fail(char *err, size_t errlen, int r, const char *fmt, ...) printf_like(4, 5);

static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

static const char *kind(mode_t m)
{
	return S_ISLNK(m)		  ? "a symbolic link"
	       : S_ISDIR(m)		  ? "a directory"
	       : S_ISFIFO(m)		  ? "a FIFO"
	       : S_ISCHR(m) || S_ISBLK(m) ? "a device"
					  : "a special file";
}

int confined_path_resolve(const char *child, const char *cand, bool relative,
			  const char *const *dirs, char **ret_path, struct stat *ret_st, char *err,
			  size_t errlen)
{
	char *p = NULL, *dup = NULL, *rdir = NULL, *full = NULL, *slash, *base;
	const char *child_dir;
	struct statfs sfs;
	struct stat st;
	int r;

	dup = strdup(child);
	p = malloc(strlen(child) + strlen(cand) + 3);
	if (!dup || !p) {
		r = fail(err, errlen, -ENOMEM, "%s: out of memory", child);
		goto out;
	}
	child_dir = dirname(dup);
	if (relative && cand[0] != '/' && cand[0] != '\\')
		sprintf(p, "%s/%s", child_dir, cand);
	else
		strcpy(p, cand);
	for (char *c = p; *c; c++)
		if (*c == '\\')
			*c = '/';
	slash = strrchr(p, '/');
	base = slash ? slash + 1 : p;
	if (!slash || !*base || !strcmp(base, ".") || !strcmp(base, "..")) {
		r = fail(err, errlen, -EINVAL, "%s: the parent locator \"%s\" names no file", child,
			 cand);
		goto out;
	}
	*slash = '\0';
	rdir = realpath(*p ? p : "/", NULL);
	if (!rdir) {
		r = errno == ENOMEM ? fail(err, errlen, -ENOMEM, "%s: out of memory", child)
				    : -ENOENT;
		goto out;
	}
	if (!dir_allowed(rdir, child_dir, dirs)) {
		r = fail(err, errlen, -EPERM,
			 "%s: the parent \"%s\" is outside the disk's directory and the storage "
			 "directories",
			 child, cand);
		goto out;
	}
	if (statfs(rdir, &sfs) == 0 &&
	    (sfs.f_type == PROC_SUPER_MAGIC || sfs.f_type == SYSFS_MAGIC ||
	     sfs.f_type == DEVPTS_SUPER_MAGIC)) {
		r = fail(err, errlen, -EPERM, "%s: the parent \"%s\" is not a disk file", child,
			 cand);
		goto out;
	}
	full = malloc(strlen(rdir) + strlen(base) + 2);
	if (!full) {
		r = fail(err, errlen, -ENOMEM, "%s: out of memory", child);
		goto out;
	}
	sprintf(full, "%s/%s", strcmp(rdir, "/") ? rdir : "", base);
	if (lstat(full, &st) < 0) {
		r = errno == ENOENT ? -ENOENT
				    : fail(err, errlen, -errno, "%s: the parent %s: %s", child,
					   full, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = fail(err, errlen, -EPERM, "%s: the parent %s is not a regular file (%s)", child,
			 full, kind(st.st_mode));
		goto out;
	}
	*ret_st = st;
	*ret_path = full;
	full = NULL;
	r = 0;
out:
	free(full);
	free(rdir);
	free(p);
	free(dup);
	return r;
}

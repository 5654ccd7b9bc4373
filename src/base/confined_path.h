/*
 * Where a file named by another file may be: a differencing VHDX's parent
 * locator (MS-VHDX 2.6.2.6.3) names its parent, and the name comes from the
 * image, which a guest that took its worker over may have rewritten. The
 * disk layer (src/disk/vhdx/open.c) and the service (src/vmms/disk_files.c,
 * which opens every parent of a jailed worker's disks) apply the same rule,
 * from here: docs/disks.md, "Where parents may be".
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "base/compiler.h"

/*
 * The candidate cand for a file named by the file at child (a path), as a locator gives it:
 * relative to child's directory when relative and not absolute. Its directory made canonical
 * (no symlinks, no ".."), which must be child's own directory, one of dirs (NULL-terminated,
 * may be NULL) or below them, on a file system that holds files (not /proc, /sys, devpts);
 * then its last component, by lstat, a regular file (not a symlink, a device, a FIFO: refused
 * before anything opens them). 0 with *ret_path (malloc'd, canonical) and *ret_st (its lstat:
 * open it with O_NOFOLLOW and compare st_dev/st_ino); -ENOENT if it does not exist (no
 * message); another -errno with one line in err, prefixed "child: ".
 */
int confined_path_resolve(const char *child, const char *cand, bool relative,
			  const char *const *dirs, char **ret_path, struct stat *ret_st, char *err,
			  size_t errlen) must_check;

/*
 * The files a worker gets from the service instead of opening them itself
 * (docs/security.md, "Files come as descriptors"): its kernel and initrd, and
 * each disk with its O_DIRECT twin and, for a differencing VHDX, its whole
 * parent chain. The service opens each one right after checking it, and
 * checks the file it opened (not a path that could be replaced meanwhile);
 * the worker inherits them at start, or gets them with a hot add
 * (SCM_RIGHTS), and opens no host path.
 *
 * A differencing disk's parent locator is image bytes that a guest which
 * took its worker over may have rewritten: the service parses no image
 * itself. It runs `parvis-vmwp --disk-parent` on each file of the chain,
 * as the VM's jail uid (nobody without a jail), with no_new_privs and a
 * seccomp filter that allows reading and memory only, and applies to the
 * path it prints the rules a worker applies to a parent it opens
 * (base/confined_path.h), and its own.
 *
 * Called with svc->lock held (the VM records are read).
 */
#pragma once

#include <stdbool.h>

#include "base/compiler.h"
#include "vmms/service_internal.h"

#define DISK_FILES_MAX_PARENTS 32 /* DISK_MAX_PARENTS of src/disk/disk.h */

struct disk_files {
	int fd;	       /* the disk, read-write unless read-only (or not writable) */
	int direct_fd; /* the same file with O_DIRECT, or -1 where the file system has none */
	unsigned nparents;
	char *parent_path[DISK_FILES_MAX_PARENTS]; /* nearest first, canonical */
	int parent_fd[DISK_FILES_MAX_PARENTS];	   /* read-only */
};

/*
 * Opens the disk at path (as recorded for vm: resolved when it was attached) and its parent
 * chain. A parent must be where a worker may look for one (the child's directory or a
 * storage directory, a regular file, no symlink), no VM's read-write disk, and, when caller
 * is not NULL and not root (a hot add), openable read-only by the caller (access.h). 0 with
 * *df filled, or -errno with err naming the file and the rule.
 */
int disk_files_open(struct service *svc, const struct vm *vm, const struct api_caller *caller,
		    const char *path, bool readonly, struct disk_files *df,
		    struct api_error *err) must_check;
void disk_files_close(struct disk_files *df);

/*
 * Opens a kernel or initrd (what names it) for reading; in a storage directory, the file
 * opened must still be the recorded path (no symlink since). The fd, or -errno with err.
 */
int boot_file_open(struct service *svc, const char *what, const char *path,
		   struct api_error *err) must_check;

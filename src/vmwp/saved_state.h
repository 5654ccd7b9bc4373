/*
 * The worker's side of saved states (docs/saved-state.md): the files it
 * opens at start, before its jail (the --restore file, the --state-dir
 * directory), and the control command "save" (docs/control.md).
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/compiler.h"
#include "vmwp/machine.h"
#include "vmwp/vm_config.h"

struct state_reader;

struct saved_state_files {
	int restore_fd;		      /* --restore's file, or -1 */
	struct state_reader *restore; /* its header and table, checked at start; NULL once used */
	int state_dir_fd;	      /* --state-dir, or -1 */
	/*
	 * A userfaultfd for a lazy restore, made at start while the worker may still (root,
	 * before its jail), or -1; then eager_why says why RAM is read at once.
	 */
	int uffd;
	char eager_why[160];
	bool saved; /* a save succeeded: the worker ends, status "saved" */
};
#define SAVED_STATE_FILES_INIT                                                                     \
	{                                                                                          \
		.restore_fd = -1, .state_dir_fd = -1, .uffd = -1                                   \
	}

/*
 * Opens --restore (and reads its header and section table: a file that is
 * no saved state is refused now, naming the file) and --state-dir. -errno
 * with err naming the file.
 */
int saved_state_open(const struct vm_config *cfg, struct saved_state_files *f, char *err,
		     size_t errlen) must_check;
void saved_state_close(struct saved_state_files *f);

/*
 * The control command {"command":"save","path":"/abs/file"}, on the control
 * thread under the worker's lock with m running: pauses the vCPUs (unless
 * already_paused), saves, and answers {"ok":true,"bytes":N,"ms":T}; then
 * f->saved is set and the vCPUs stay paused (the caller stops the machine).
 * Any failure answers {"ok":false,"error":...} and resumes what it paused.
 * A descriptor sent with the request (SCM_RIGHTS) is the directory the file
 * goes in; else --state-dir if the path is in it; else the path itself
 * (a jailed worker has no other way to reach it).
 */
void saved_state_control_save(struct saved_state_files *f, struct machine *m,
			      const struct vm_config *cfg, bool already_paused,
			      struct json_object *req, const int *fds, unsigned nfds,
			      struct json_object *resp);

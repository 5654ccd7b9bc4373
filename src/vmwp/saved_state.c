/* The worker's saved-state files and its control command "save" (saved_state.h). */
#include "vmwp/saved_state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "state/state.h"
#include "state/state_lazy.h"
#include "vid/partition.h"
#include "vmwp/control.h"
#include "vmwp/machine_state.h"

int saved_state_open(const struct vm_config *cfg, struct saved_state_files *f, char *err,
		     size_t errlen)
{
	char why[384] = "";
	int r;

	if (cfg->state_dir) {
		f->state_dir_fd = open(cfg->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (f->state_dir_fd < 0) {
			r = -errno;
			snprintf(err, errlen, "--state-dir %s: %s", cfg->state_dir,
				 strerror(errno));
			return r;
		}
	}
	if (!cfg->restore_path)
		return 0;
	f->restore_fd = open(cfg->restore_path, O_RDONLY | O_CLOEXEC);
	if (f->restore_fd < 0) {
		r = -errno;
		snprintf(err, errlen, "--restore %s: %s", cfg->restore_path, strerror(errno));
		return r;
	}
	r = state_reader_new(f->restore_fd, &f->restore, why, sizeof(why));
	if (r < 0) {
		snprintf(err, errlen, "--restore %s: %s", cfg->restore_path,
			 why[0] ? why : strerror(-r));
		return r;
	}
	/* Now, before the jail: no uid but root may make one that serves KVM's faults. */
	if (cfg->restore_ram_eager)
		snprintf(f->eager_why, sizeof(f->eager_why), "--restore-ram eager");
	else if (state_lazy_open_uffd(&f->uffd, why, sizeof(why)) < 0)
		snprintf(f->eager_why, sizeof(f->eager_why), "%s", why);
	return 0;
}

void saved_state_close(struct saved_state_files *f)
{
	f->restore = state_reader_free(f->restore);
	if (f->uffd >= 0)
		close(f->uffd);
	f->uffd = -1;
	if (f->restore_fd >= 0)
		close(f->restore_fd);
	if (f->state_dir_fd >= 0)
		close(f->state_dir_fd);
	f->restore_fd = f->state_dir_fd = -1;
}

/* Whether path is a file directly in dir ("dir/name"). */
static bool in_directory(const char *dir, const char *path)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	return !strncmp(path, dir, n) && path[n] == '/' && path[n + 1] &&
	       !strchr(path + n + 1, '/');
}

/* The directory descriptor the file goes in (AT_FDCWD: the path itself), or an error. */
static int save_directory(const struct saved_state_files *f, const struct vm_config *cfg,
			  const char *path, const int *fds, unsigned nfds, int *dirfd, char *err,
			  size_t errlen)
{
	struct stat st;

	if (nfds > 1) {
		snprintf(err, errlen, "save: %u descriptors came; at most one (the directory)",
			 nfds);
		return -EINVAL;
	}
	if (nfds == 1) {
		if (fstat(fds[0], &st) < 0 || !S_ISDIR(st.st_mode)) {
			snprintf(err, errlen,
				 "save: the descriptor sent is not the directory of \"path\"");
			return -ENOTDIR;
		}
		*dirfd = fds[0];
		return 0;
	}
	if (f->state_dir_fd >= 0 && in_directory(cfg->state_dir, path)) {
		*dirfd = f->state_dir_fd;
		return 0;
	}
	if (cfg->jail) {
		snprintf(err, errlen,
			 "save: a jailed worker reaches no host path: \"path\" must be a file in "
			 "--state-dir%s%s, or send the directory's descriptor with the request",
			 cfg->state_dir ? " " : "", cfg->state_dir ? cfg->state_dir : "");
		return -EACCES;
	}
	*dirfd = AT_FDCWD;
	return 0;
}

static void answer_error(struct json_object *resp, const char *msg)
{
	json_object_object_add(resp, "ok", json_object_new_boolean(0));
	json_object_object_add(resp, "error", json_object_new_string(msg));
}

/*
 * "progress": true: a line per 64 MiB of RAM written (docs/control.md); that requester
 * hanging up (^C in parvis save-vm --progress) cancels the save, which then undoes itself.
 */
static int save_progress(void *opaque, uint64_t done, uint64_t total)
{
	bool *report = opaque;
	struct json_object *p;

	/* Without progress (the service's plain save) a save runs to its end, requester or not. */
	if (!*report)
		return 0;
	p = json_object_new_object();
	json_object_object_add(p, "operation", json_object_new_string("save"));
	json_object_object_add(p, "done", json_object_new_int64((int64_t)done));
	json_object_object_add(p, "total", json_object_new_int64((int64_t)total));
	return control_progress(p) < 0 ? -ECANCELED : 0;
}

void saved_state_control_save(struct saved_state_files *f, struct machine *m,
			      const struct vm_config *cfg, bool already_paused,
			      struct json_object *req, const int *fds, unsigned nfds,
			      struct json_object *resp)
{
	struct partition *p = machine_partition(m);
	struct machine_save_result res;
	struct json_object *v;
	const char *path = NULL;
	char err[640];
	bool report = false;
	struct machine_save_progress progress = {.fn = save_progress, .opaque = &report};
	int dirfd, r;

	if (json_object_object_get_ex(req, "path", &v) && json_object_is_type(v, json_type_string))
		path = json_object_get_string(v);
	if (json_object_object_get_ex(req, "progress", &v))
		report = json_object_get_boolean(v);
	if (!path || path[0] != '/') {
		answer_error(resp, "save needs \"path\": the absolute path of the file to write");
		return;
	}
	r = save_directory(f, cfg, path, fds, nfds, &dirfd, err, sizeof(err));
	if (r < 0) {
		answer_error(resp, err);
		return;
	}
	/* partition_pause finishes half-done exits (a port read) before it holds a vCPU. */
	if (!already_paused && partition_pause(p) < 0) {
		answer_error(resp, "save: the VM stopped while it was being paused");
		return;
	}
	r = machine_save(m, cfg, dirfd, path, &progress, &res, err, sizeof(err));
	if (r == -ECANCELED)
		snprintf(err, sizeof(err),
			 "save to %s cancelled: the requester went away; nothing was saved", path);
	if (r < 0) {
		if (!already_paused)
			partition_resume(p);
		pv_log(LOG_WARN, "%s; the VM goes on %s", err,
		       already_paused ? "paused" : "running");
		answer_error(resp, err);
		return;
	}
	f->saved = true;
	pv_log(LOG_INFO, "the VM was saved to %s: %llu bytes in %llu ms", path,
	       (unsigned long long)res.bytes, (unsigned long long)res.ms);
	json_object_object_add(resp, "ok", json_object_new_boolean(1));
	json_object_object_add(resp, "bytes", json_object_new_int64((int64_t)res.bytes));
	json_object_object_add(resp, "ms", json_object_new_int64((int64_t)res.ms));
}

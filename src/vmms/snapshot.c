/*
 * checkpoint-vm, get-vmsnapshot, restore-vmsnapshot, remove-vmsnapshot (docs/checkpoints.md),
 * and the parvis-vmdisk runner they share with export and import; see snapshot.h. Called with
 * svc->lock held.
 */
#include "vmms/snapshot.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/compiler.h"
#include "base/log.h"
#include "ipc/jsonline.h"
#include "ipc/worker_client.h"
#include "vmms/snapshot_tree.h"
#include "vmms/vm_state.h"

/* snprintf, truncating silently: every caller's buffer holds what it names. */
static int fmt(char *buf, size_t len, const char *f, ...) printf_like(3, 4);
static int fmt(char *buf, size_t len, const char *f, ...)
{
	va_list ap;
	int n;

	va_start(ap, f);
	n = vsnprintf(buf, len, f, ap);
	va_end(ap);
	return n;
}

#define VMDISK_LINE_MAX 8192

extern char **environ;

/* --- parvis-vmdisk ------------------------------------------------------------------------- */

/* Beside the worker binary (installed), or in the build tree's src/vmdisk/; else PATH. */
static void vmdisk_path(const struct service *svc, char *buf, size_t len)
{
	char dir[PATH_MAX];

	fmt(dir, sizeof(dir), "%s", svc->vmwp);
	if (strchr(dir, '/')) {
		dirname(dir);
		fmt(buf, len, "%s/parvis-vmdisk", dir);
		if (access(buf, X_OK) == 0)
			return;
		fmt(buf, len, "%s/../vmdisk/parvis-vmdisk", dir);
		if (access(buf, X_OK) == 0)
			return;
	}
	fmt(buf, len, "parvis-vmdisk");
}

bool snap_caller_gone(struct snap_caller *c)
{
	struct pollfd p = {.fd = c->fd, .events = POLLRDHUP};

	if (c->fd < 0)
		return false;
	if (!c->cancelled && poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
		c->cancelled = true;
	return c->cancelled;
}

void snap_progress(struct snap_caller *c, const char *what, const char *file, uint64_t done,
		   uint64_t total)
{
	struct json_object *o, *p;

	if (!c || c->fd < 0 || !c->progress || c->cancelled)
		return;
	o = json_object_new_object();
	p = json_object_new_object();
	json_object_object_add(p, "operation", json_object_new_string(what));
	json_object_object_add(p, "file", json_object_new_string(file));
	json_object_object_add(p, "done", json_object_new_int64((int64_t)done));
	json_object_object_add(p, "total", json_object_new_int64((int64_t)total));
	json_object_object_add(o, "progress", p);
	if (jsonline_send(c->fd, o) < 0)
		c->cancelled = true;
	json_object_put(o);
}

/* Reads the helper's lines until it ends (or the caller hangs up: SIGTERM); its last line. */
static char *read_helper(int out, pid_t pid, struct snap_caller *c, const char *what,
			 const char *file)
{
	char *buf = malloc(VMDISK_LINE_MAX + 1), *last = NULL;
	size_t used = 0;
	bool termed = false;

	if (!buf)
		return NULL;
	for (;;) {
		struct pollfd p[2] = {{.fd = out, .events = POLLIN},
				      {.fd = c ? c->fd : -1, .events = POLLRDHUP}};
		ssize_t n;
		char *nl;

		if (poll(p, c && c->fd >= 0 && !termed ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (!termed && c && (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR))) {
			c->cancelled = true;
			kill(pid, SIGTERM);
			termed = true;
		}
		if (!(p[0].revents & (POLLIN | POLLHUP)))
			continue;
		n = read(out, buf + used, VMDISK_LINE_MAX - used);
		if (n <= 0)
			break;
		used += (size_t)n;
		buf[used] = '\0';
		while ((nl = strchr(buf, '\n'))) {
			struct json_object *o, *d, *t;

			*nl = '\0';
			o = json_tokener_parse(buf);
			if (o && json_object_object_get_ex(o, "done", &d) &&
			    json_object_object_get_ex(o, "total", &t)) {
				snap_progress(c, what, file, (uint64_t)json_object_get_int64(d),
					      (uint64_t)json_object_get_int64(t));
			} else {
				free(last);
				last = strdup(buf);
			}
			json_object_put(o);
			used -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, used + 1);
		}
		if (used == VMDISK_LINE_MAX)
			used = 0; /* a line that long is nothing it prints */
	}
	free(buf);
	return last;
}

int snap_vmdisk(struct service *svc, struct vm *vm, const char *const *args, struct snap_caller *c,
		const char *what, struct json_object **ret, struct api_error *err)
{
	char prog[PATH_MAX], *argv[8], *last;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	struct json_object *o, *e;
	int out[2], status = 0, r, i;
	pid_t pid;

	*ret = NULL;
	vmdisk_path(svc, prog, sizeof(prog));
	argv[0] = prog;
	for (i = 0; args[i] && i < 6; i++)
		argv[i + 1] = (char *)args[i];
	argv[i + 1] = NULL;
	if (pipe2(out, O_CLOEXEC) < 0) {
		api_error_set(err, API_ERR_HOST, "cannot run %s: %s", prog, strerror(errno));
		return -errno;
	}
	/* The service's threads block signals its signal thread takes: the helper must not. */
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	r = strchr(prog, '/') ? posix_spawn(&pid, prog, &fa, &attr, argv, environ)
			      : posix_spawnp(&pid, prog, &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(out[1]);
	if (r != 0) {
		close(out[0]);
		api_error_set(err, API_ERR_HOST, "cannot run %s: %s", prog, strerror(r));
		return -r;
	}
	if (vm) {
		vm->refs++;
		pthread_mutex_unlock(&svc->lock);
	}
	last = read_helper(out[0], pid, vm ? c : NULL, what, args[1] ? args[1] : "");
	close(out[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (vm) {
		pthread_mutex_lock(&svc->lock);
		svc_vm_put(svc, vm);
	}
	o = last ? json_tokener_parse(last) : NULL;
	free(last);
	if (c && c->cancelled && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		json_object_put(o);
		api_error_set(err, API_ERR_STATE, "%s: cancelled by its caller", what);
		return -ECANCELED;
	}
	if (!o || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		const char *msg = o && json_object_object_get_ex(o, "error", &e)
					  ? json_object_get_string(e)
					  : NULL;

		api_error_set(err, API_ERR_INVALID, "%s", msg ? msg : "the disk helper failed");
		if (!msg)
			pv_log(LOG_ERR, "%s %s: exit status 0x%x", prog, args[0], status);
		json_object_put(o);
		return -EIO;
	}
	*ret = o;
	return 0;
}

int snap_record_copy(const struct vm_record *src, struct vm_record *dst)
{
	struct json_object *o = vm_record_to_json(src);
	const char *text;
	char why[256];
	int r;

	if (!o)
		return -ENOMEM;
	json_object_object_del(o, "history");
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	r = vm_record_parse(text, strlen(text), dst, why, sizeof(why));
	json_object_put(o);
	return r;
}

/* --- the tree of a VM ------------------------------------------------------------------- */

static int load_tree(struct service *svc, const struct vm *vm, struct snap_tree *t,
		     struct api_error *err)
{
	char why[1024];
	int r = snap_tree_load(svc->state_dir, vm->rec.id, t, why, sizeof(why));

	if (r < 0)
		api_error_set(err, API_ERR_INVALID,
			      "VM '%s': %s; nothing was changed (repair or remove that file)",
			      vm->rec.name, why);
	return r;
}

static int save_tree(struct service *svc, const struct vm *vm, const struct snap_tree *t,
		     struct api_error *err)
{
	int r = snap_tree_write(svc->state_dir, vm->rec.id, t);

	if (r < 0)
		api_error_set(err, API_ERR_HOST, "VM '%s': cannot write %s/snapshots/%s.json: %s",
			      vm->rec.name, svc->state_dir, vm->rec.id, strerror(-r));
	return r;
}

static int write_record(struct service *svc, const struct vm *vm, struct api_error *err)
{
	int r = inventory_write(svc->state_dir, &vm->rec);

	if (r < 0)
		api_error_set(err, API_ERR_HOST, "VM '%s': cannot write its file in %s/vms: %s",
			      vm->rec.name, svc->state_dir, strerror(-r));
	return r;
}

/* Whether a VM disk takes part in checkpoints: read-write ones (read-only ones never change). */
static bool snapshotted(const struct vm_disk *d)
{
	return !d->readonly;
}

/*
 * A new differencing child's path beside parent: its name without the extension and without
 * the "_<id>" an earlier checkpoint added, then "_<id>.avhdx", as Hyper-V names them.
 */
static int leaf_path(const char *parent, char *buf, size_t len)
{
	char id[GUID_STRING_LEN], stem[VM_PATH_MAX];
	char *slash, *dot;
	size_t n;

	if (vm_id_new(id) < 0)
		return -EIO;
	fmt(stem, sizeof(stem), "%s", parent);
	slash = strrchr(stem, '/');
	dot = strrchr(stem, '.');
	if (dot && dot > slash)
		*dot = '\0';
	n = strlen(stem);
	if (n > GUID_STRING_LEN && stem[n - GUID_STRING_LEN] == '_' &&
	    stem + n - GUID_STRING_LEN > slash) {
		struct guid g;

		if (guid_parse(stem + n - GUID_STRING_LEN + 1, &g) == 0)
			stem[n - GUID_STRING_LEN] = '\0';
	}
	if ((size_t)fmt(buf, len, "%s_%s.avhdx", stem, id) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* The disk and its parent chain open (a missing or wrong parent is named), and it is a VHDX. */
static int check_disk(struct service *svc, const char *path, bool need_vhdx, struct api_error *err)
{
	const char *info[] = {"info", path, NULL}, *check[] = {"check", path, NULL};
	struct json_object *o = NULL, *v;
	int r;

	r = snap_vmdisk(svc, NULL, check, NULL, "check", &o, err);
	json_object_put(o);
	if (r < 0 || !need_vhdx)
		return r;
	r = snap_vmdisk(svc, NULL, info, NULL, "info", &o, err);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(o, "format", &v) ||
	    strcmp(json_object_get_string(v), "vhdx")) {
		api_error_set(err, API_ERR_INVALID,
			      "disk '%s' is a raw image, which cannot have a differencing child: "
			      "convert it to VHDX first (parvis vhd convert %s NEW.vhdx "
			      "--format vhdx, then attach NEW.vhdx in its place)",
			      path, path);
		r = -EINVAL;
	}
	json_object_put(o);
	return r;
}

static int make_leaf(struct service *svc, const char *parent, char *leaf, size_t len,
		     struct api_error *err)
{
	const char *args[] = {"diff", parent, leaf, NULL};
	struct json_object *o = NULL;
	int r = leaf_path(parent, leaf, len);

	if (r < 0) {
		api_error_set(err, API_ERR_HOST, "disk '%s': no name for its child: %s", parent,
			      strerror(-r));
		return r;
	}
	r = snap_vmdisk(svc, NULL, args, NULL, "diff", &o, err);
	json_object_put(o);
	return r;
}

static const struct snap_file *leaf_of(const struct snap_tree *t, const char *path)
{
	unsigned i;

	for (i = 0; i < t->nleaves; i++)
		if (!strcmp(t->leaves[i].path, path))
			return &t->leaves[i];
	return NULL;
}

static int refuse_busy(const struct vm *vm, struct api_error *err)
{
	if (!vm->busy)
		return 0;
	api_error_set(err, API_ERR_STATE, "VM '%s' is busy: %s runs on it; wait for it to end",
		      vm->rec.name, vm->busy);
	return -EBUSY;
}

static struct json_object *snapshot_json(const struct snap_tree *t, unsigned i)
{
	const struct snapshot *s = &t->snaps[i];
	struct json_object *o = json_object_new_object(), *files = json_object_new_array();
	char when[64];
	time_t secs = (time_t)(s->created_ms / 1000);
	struct tm tm;
	unsigned k;

	gmtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_object_add(o, "id", json_object_new_string(s->id));
	json_object_object_add(o, "name", json_object_new_string(s->name));
	json_object_object_add(o, "parent_id",
			       s->parent >= 0 ? json_object_new_string(t->snaps[s->parent].id)
					      : NULL);
	json_object_object_add(o, "parent_name",
			       s->parent >= 0 ? json_object_new_string(t->snaps[s->parent].name)
					      : NULL);
	json_object_object_add(o, "created_ms", json_object_new_int64(s->created_ms));
	json_object_object_add(o, "created", json_object_new_string(when));
	json_object_object_add(o, "current", json_object_new_boolean(t->current == (int)i));
	json_object_object_add(o, "merge_pending", json_object_new_boolean(s->removing));
	json_object_object_add(o, "saved_state", json_object_new_boolean(s->saved_state != NULL));
	for (k = 0; k < s->nfiles; k++)
		json_object_array_add(files, json_object_new_string(s->files[k].path));
	json_object_object_add(o, "disks", files);
	json_object_object_add(o, "cpus", json_object_new_int((int)s->config.cpus));
	json_object_object_add(o, "memory_bytes",
			       json_object_new_int64((int64_t)s->config.memory_bytes));
	return o;
}

/* --- saved state (save-vm) -------------------------------------------------------------- */

#define SAVE_TIMEOUT_MS 600000 /* the worker writes all of guest RAM */
#define SAVE_END_S	60     /* then ends */

void svc_saved_state_path(const struct service *svc, const struct vm *vm, char *buf, size_t len)
{
	fmt(buf, len, "%s/saved/%s/vm.vmrs", svc->state_dir, vm->rec.id);
}

bool svc_saved_state_exists(const struct service *svc, const struct vm *vm)
{
	char p[VM_PATH_MAX];

	svc_saved_state_path(svc, vm, p, sizeof(p));
	return access(p, F_OK) == 0;
}

void svc_saved_state_discard(const struct service *svc, const struct vm *vm)
{
	char p[VM_PATH_MAX];

	svc_saved_state_path(svc, vm, p, sizeof(p));
	unlink(p);
	*strrchr(p, '/') = '\0';
	rmdir(p);
}

/* DIR/saved/<id>/, the jailed worker's to write in (it gets the directory's descriptor). */
int svc_saved_state_dir_open(struct service *svc, const struct vm *vm, struct api_error *err)
{
	char d[VM_PATH_MAX];
	int fd;

	fmt(d, sizeof(d), "%s/saved", svc->state_dir);
	if (mkdir(d, 0711) < 0 && errno != EEXIST)
		goto fail;
	fmt(d, sizeof(d), "%s/saved/%s", svc->state_dir, vm->rec.id);
	if (mkdir(d, 0700) < 0 && errno != EEXIST)
		goto fail;
	if (svc->cfg.jail && vm->rec.jail_uid && chown(d, vm->rec.jail_uid, vm->rec.jail_uid) < 0)
		goto fail;
	fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
fail:
	api_error_set(err, API_ERR_HOST, "VM '%s': %s: %s", vm->rec.name, d, strerror(errno));
	return -1;
}

/* Waits (lock held) until vm leaves state s, for at most secs seconds. */
static void wait_leave_state(struct service *svc, struct vm *vm, enum vm_state s, int secs)
{
	struct timespec ts = monotonic_deadline_ns((uint64_t)secs * 1000000000u);

	while (vm->rec.state == s && !vm->removed)
		if (pthread_cond_timedwait(&svc->changed, &svc->lock, &ts) == ETIMEDOUT)
			break;
}

#define CANCEL_CHECK_MS 5000

/* The worker's progress lines to the caller; false (cancel) once the caller hung up. */
static bool save_progress(void *opaque, struct json_object *p)
{
	struct snap_caller *c = opaque;
	struct json_object *v;

	if (snap_caller_gone(c))
		return false;
	if (p)
		snap_progress(c, "save", "memory",
			      json_object_object_get_ex(p, "done", &v)
				      ? (uint64_t)json_object_get_int64(v)
				      : 0,
			      json_object_object_get_ex(p, "total", &v)
				      ? (uint64_t)json_object_get_int64(v)
				      : 0);
	return !c->cancelled;
}

/*
 * The worker's "save", with the lock dropped meanwhile (as svc_call_worker_fds); with c, its
 * progress goes to the caller and the caller's ^C (its connection closed) cancels it.
 */
static int call_save(struct service *svc, struct vm *vm, struct json_object *extra, int dfd,
		     struct snap_caller *c, struct json_object **ans)
{
	char path[sizeof(vm->paths.control)];
	int r;

	if (!c || !c->progress)
		return svc_call_worker_fds(svc, vm, "save", extra, &dfd, 1, SAVE_TIMEOUT_MS, ans);
	json_object_object_add(extra, "progress", json_object_new_boolean(1));
	memcpy(path, vm->paths.control, sizeof(path));
	vm->refs++;
	pthread_mutex_unlock(&svc->lock);
	r = worker_call_progress(path, "save", extra, &dfd, 1, SAVE_TIMEOUT_MS, save_progress, c,
				 ans);
	pthread_mutex_lock(&svc->lock);
	svc_vm_put(svc, vm);
	return r;
}

/* save-vm: Running or Paused -> Saving -> Saved. 0, or -errno with err (the VM as it was). */
static int save_vm(struct service *svc, struct vm *vm, const char *reason, struct snap_caller *c,
		   struct api_error *err)
{
	static const enum vm_state ok[] = {VM_STATE_RUNNING, VM_STATE_PAUSED};
	struct json_object *extra, *ans = NULL;
	char file[VM_PATH_MAX];
	enum vm_state was = vm->rec.state;
	int dfd, r;

	if (refuse_busy(vm, err) < 0 ||
	    svc_need_state(vm, reason, ok, 2, "save-vm saves a running VM", err) < 0)
		return -EPERM;
	dfd = svc_saved_state_dir_open(svc, vm, err);
	if (dfd < 0)
		return -EIO;
	svc_saved_state_path(svc, vm, file, sizeof(file));
	if (svc_transition(svc, vm, VM_STATE_SAVING, reason) < 0) {
		close(dfd);
		api_error_set(err, API_ERR_STATE, "VM '%s' cannot be saved from %s", vm->rec.name,
			      vm_state_name(vm->rec.state));
		return -EPERM;
	}
	extra = json_object_new_object();
	json_object_object_add(extra, "path", json_object_new_string(file));
	vm->busy = "save-vm";
	r = call_save(svc, vm, extra, dfd, c, &ans);
	if (r == -ECANCELED) {
		struct json_object *st = NULL;
		const char *s;

		/* The worker may have finished the save before it saw the caller go: then it is. */
		if (svc_call_worker_fds(svc, vm, "status", NULL, NULL, 0, CANCEL_CHECK_MS, &st) ==
			    0 &&
		    (s = svc_status_string(st, "state")) && !strcmp(s, "saved")) {
			r = 0;
			ans = st;
		} else {
			json_object_put(st);
		}
	}
	vm->busy = NULL;
	close(dfd);
	if (r < 0 || !svc_worker_ok(ans)) {
		char why[VM_REASON_MAX];

		if (r == -ECANCELED)
			fmt(why, sizeof(why), "%s cancelled (^C): nothing was saved", reason);
		else
			fmt(why, sizeof(why), "%s failed: %s", reason,
			    r < 0 ? strerror(-r) : svc_worker_error(ans));
		if (vm->rec.state == VM_STATE_SAVING)
			(void)svc_transition(svc, vm, was, why);
		api_error_set(err, API_ERR_WORKER, "VM '%s': %s; it goes on %s", vm->rec.name, why,
			      vm_state_name(vm->rec.state));
		json_object_put(ans);
		return -EIO;
	}
	pv_log(LOG_INFO, "VM '%s': saved (%lld bytes in %lld ms)", vm->rec.name,
	       (long long)json_object_get_int64(json_object_object_get(ans, "bytes")),
	       (long long)json_object_get_int64(json_object_object_get(ans, "ms")));
	json_object_put(ans);
	wait_leave_state(svc, vm, VM_STATE_SAVING, SAVE_END_S);
	if (vm->rec.state != VM_STATE_SAVED) {
		api_error_set(err, API_ERR_WORKER,
			      "VM '%s': the worker saved it but is %s (see %s)", vm->rec.name,
			      vm_state_name(vm->rec.state), vm->paths.log);
		return -EIO;
	}
	return 0;
}

struct json_object *svc_call_save_vm(struct service *svc, const struct api_request *req,
				     int client_fd, struct api_error *err)
{
	struct snap_caller c = {.fd = client_fd};
	struct vm *vm = svc_lookup(svc, req, err);

	if (!vm || api_param_bool(req, "progress", &c.progress, err) < 0 ||
	    save_vm(svc, vm, "save-vm", &c, err) < 0)
		return NULL;
	return svc_vm_json(vm);
}

struct json_object *svc_stop_saved_vm(struct service *svc, struct vm *vm, bool turn_off,
				      struct api_error *err)
{
	if (!turn_off) {
		api_error_set(err, API_ERR_STATE,
			      "VM '%s' is Saved: parvis start-vm %s resumes it, parvis stop-vm %s "
			      "--turn-off discards its saved state",
			      vm->rec.name, vm->rec.name, vm->rec.name);
		return NULL;
	}
	if (refuse_busy(vm, err) < 0)
		return NULL;
	svc_saved_state_discard(svc, vm);
	(void)svc_transition(svc, vm, VM_STATE_OFF, "stop-vm --turn-off: saved state discarded");
	return svc_vm_json(vm);
}

/* --- checkpoint-vm ------------------------------------------------------------------------ */

static void default_name(const struct vm *vm, const struct snap_tree *t, char *buf, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;
	char when[64];
	unsigned k;

	localtime_r(&now, &tm);
	strftime(when, sizeof(when), "%m/%d/%Y - %H:%M:%S", &tm);
	/* '/' is not allowed in names: Hyper-V's date, with '-' */
	for (char *p = when; *p; p++)
		if (*p == '/')
			*p = '-';
	fmt(buf, len, "%s - (%s)", vm->rec.name, when);
	for (k = 2; snap_tree_find(t, buf) >= 0; k++)
		fmt(buf, len, "%s - (%s) (%u)", vm->rec.name, when, k);
}

static void unlink_made(char (*made)[VM_PATH_MAX], unsigned n)
{
	while (n)
		unlink(made[--n]);
}

static struct json_object *checkpoint(struct service *svc, struct vm *vm, const char *name,
				      struct snap_tree *t, char (*leaves)[VM_PATH_MAX],
				      struct api_error *err)
{
	static const enum vm_state ok[] = {VM_STATE_OFF, VM_STATE_SAVED};
	char namebuf[VM_NAME_MAX + 64], why[256], state[VM_PATH_MAX];
	struct snapshot *s;
	unsigned i, made = 0;

	if (refuse_busy(vm, err) < 0)
		return NULL;
	if (svc_need_state(vm, "checkpoint-vm", ok, 2, NULL, err) < 0)
		return NULL;
	if (load_tree(svc, vm, t, err) < 0)
		return NULL;
	if (t->n == SNAP_MAX) {
		api_error_set(err, API_ERR_INVALID,
			      "VM '%s' has %d checkpoints, the most it may have: remove one first",
			      vm->rec.name, SNAP_MAX);
		return NULL;
	}
	if (!name) {
		default_name(vm, t, namebuf, sizeof(namebuf));
		name = namebuf;
	}
	if (vm_name_check(name, why, sizeof(why)) < 0) {
		api_error_set(err, API_ERR_INVALID, "checkpoint name: %s", why);
		return NULL;
	}
	if (snap_tree_find(t, name) >= 0) {
		api_error_set(err, API_ERR_EXISTS, "VM '%s' has a checkpoint named '%s' already",
			      vm->rec.name, name);
		return NULL;
	}
	for (i = 0; i < vm->rec.ndisks; i++)
		if (snapshotted(&vm->rec.disks[i]) &&
		    check_disk(svc, vm->rec.disks[i].path, true, err) < 0)
			return NULL;
	for (i = 0; i < vm->rec.ndisks; i++) {
		if (!snapshotted(&vm->rec.disks[i]))
			continue;
		if (make_leaf(svc, vm->rec.disks[i].path, leaves[made], VM_PATH_MAX, err) < 0)
			goto undo;
		made++;
	}
	s = &t->snaps[t->n];
	if (vm_id_new(s->id) < 0 || snap_record_copy(&vm->rec, &s->config) < 0 ||
	    !(s->name = strdup(name))) {
		t->n++;
		api_error_set(err, API_ERR_HOST, "out of memory");
		goto undo;
	}
	t->n++;
	s->parent = t->current;
	s->created_ms = svc_now_ms();
	/* A saved VM's checkpoint keeps its memory and devices: a link to the saved state. */
	if (vm->rec.state == VM_STATE_SAVED && svc_saved_state_exists(svc, vm)) {
		char saved[VM_PATH_MAX];

		fmt(state, sizeof(state), "%s/snapshots", svc->state_dir);
		if (mkdir(state, 0750) < 0 && errno != EEXIST)
			errno = errno; /* the next mkdir names the problem */
		fmt(state, sizeof(state), "%s/snapshots/%s", svc->state_dir, vm->rec.id);
		if ((mkdir(state, 0700) < 0 && errno != EEXIST) ||
		    fmt(state, sizeof(state), "%s/snapshots/%s/%s.vmrs", svc->state_dir, vm->rec.id,
			s->id) < 0 ||
		    (svc_saved_state_path(svc, vm, saved, sizeof(saved)), link(saved, state) < 0) ||
		    !(s->saved_state = strdup(state))) {
			api_error_set(err, API_ERR_HOST,
				      "VM '%s': cannot keep its saved state as %s: %s",
				      vm->rec.name, state, strerror(errno));
			goto undo;
		}
	}
	/* The VM's disks become the checkpoint's; the leaves they were keep their parents. */
	for (i = 0; i < vm->rec.ndisks; i++) {
		const struct snap_file *l;

		if (!snapshotted(&vm->rec.disks[i]))
			continue;
		l = leaf_of(t, vm->rec.disks[i].path);
		snap_file_set(&s->files[s->nfiles++], vm->rec.disks[i].path, l ? l->parent : NULL);
	}
	for (i = 0; i < t->nleaves; i++)
		snap_file_fini(&t->leaves[i]);
	t->nleaves = 0;
	for (i = 0; i < s->nfiles; i++)
		snap_file_set(&t->leaves[t->nleaves++], leaves[i], s->files[i].path);
	t->current = (int)t->n - 1;
	/* The VM on its new disks first: it never writes a checkpoint's file, whatever fails. */
	for (i = 0, made = 0; i < vm->rec.ndisks; i++)
		if (snapshotted(&vm->rec.disks[i])) {
			free(vm->rec.disks[i].path);
			vm->rec.disks[i].path = strdup(leaves[made++]);
		}
	if (write_record(svc, vm, err) < 0) {
		for (i = 0, made = 0; i < vm->rec.ndisks; i++)
			if (snapshotted(&vm->rec.disks[i])) {
				free(vm->rec.disks[i].path);
				vm->rec.disks[i].path = strdup(s->files[made++].path);
			}
		goto undo;
	}
	if (save_tree(svc, vm, t, err) < 0)
		return NULL; /* the VM runs on its children; the checkpoint is not recorded */
	pv_log(LOG_INFO, "VM '%s': checkpoint '%s' (%s)", vm->rec.name, s->name, s->id);
	return snapshot_json(t, t->n - 1);
undo:
	unlink_made(leaves, made);
	return NULL;
}

struct json_object *svc_call_checkpoint_vm(struct service *svc, const struct api_request *req,
					   struct api_error *err)
{
	struct vm *vm = svc_lookup(svc, req, err);
	char(*leaves)[VM_PATH_MAX];
	struct json_object *res = NULL;
	const char *name = NULL;
	struct snap_tree *t;

	if (!vm || api_param_string(req, "snapshot_name", false, VM_NAME_MAX, &name, err) < 0)
		return NULL;
	t = malloc(sizeof(*t));
	leaves = calloc(VM_MAX_DISKS, VM_PATH_MAX);
	if (t && leaves) {
		/* A running VM: saved, checkpointed as Saved, resumed at once on its new disks. */
		bool running =
			vm->rec.state == VM_STATE_RUNNING || vm->rec.state == VM_STATE_PAUSED;

		snap_tree_init(t);
		if (!running || save_vm(svc, vm, "checkpoint-vm", NULL, err) == 0)
			res = checkpoint(svc, vm, name, t, leaves, err);
		snap_tree_fini(t);
		if (running && vm->rec.state == VM_STATE_SAVED) {
			struct api_error serr = {0};
			struct json_object *st =
				svc_start_vm(svc, vm, "checkpoint-vm: resumed", &serr);

			if (!st && res) {
				json_object_put(res);
				res = NULL;
				*err = serr;
			}
			json_object_put(st);
		}
	} else {
		api_error_set(err, API_ERR_HOST, "out of memory");
	}
	free(leaves);
	free(t);
	return res;
}

/* --- get-vmsnapshot ----------------------------------------------------------------------- */

struct json_object *svc_call_get_snapshot(struct service *svc, const struct api_request *req,
					  struct api_error *err)
{
	struct vm *vm = svc_lookup(svc, req, err);
	struct json_object *res, *list;
	struct snap_tree *t;
	unsigned i;

	if (!vm)
		return NULL;
	t = malloc(sizeof(*t));
	if (!t) {
		api_error_set(err, API_ERR_HOST, "out of memory");
		return NULL;
	}
	if (load_tree(svc, vm, t, err) < 0) {
		free(t);
		return NULL;
	}
	res = json_object_new_object();
	list = json_object_new_array();
	for (i = 0; i < t->n; i++)
		json_object_array_add(list, snapshot_json(t, i));
	json_object_object_add(res, "name", json_object_new_string(vm->rec.name));
	json_object_object_add(res, "current",
			       t->current >= 0 ? json_object_new_string(t->snaps[t->current].name)
					       : NULL);
	json_object_object_add(res, "snapshots", list);
	snap_tree_fini(t);
	free(t);
	return res;
}

/* --- restore-vmsnapshot ------------------------------------------------------------------- */

static int find_snapshot(const struct vm *vm, const struct snap_tree *t, const char *name,
			 struct api_error *err)
{
	int i = snap_tree_find(t, name);

	if (i < 0)
		api_error_set(err, API_ERR_NOT_FOUND,
			      "VM '%s' has no checkpoint named '%s' (see parvis get-vmsnapshot %s)",
			      vm->rec.name, name, vm->rec.name);
	return i;
}

/* The settings a checkpoint brings back: everything but identity, jail, state and history. */
static void take_config(struct vm_record *dst, struct vm_record *src)
{
	struct vm_record keep = *dst;

	*dst = *src;
	vm_record_init(src);
	memcpy(dst->id, keep.id, sizeof(dst->id));
	free(dst->name);
	dst->name = keep.name;
	keep.name = NULL;
	dst->jail_uid = keep.jail_uid;
	dst->state = keep.state;
	memcpy(dst->status, keep.status, sizeof(dst->status));
	memcpy(dst->history, keep.history, sizeof(dst->history));
	dst->nhistory = keep.nhistory;
	keep.nhistory = 0;
	vm_record_fini(&keep);
}

static struct json_object *restore(struct service *svc, struct vm *vm, const char *name,
				   struct snap_tree *t, char (*leaves)[VM_PATH_MAX],
				   struct api_error *err)
{
	static const enum vm_state ok[] = {VM_STATE_OFF, VM_STATE_SAVED};
	struct snap_file old[VM_MAX_DISKS];
	struct vm_record cfg;
	struct snapshot *s;
	unsigned i, k, made = 0, nold;
	int idx;

	if (refuse_busy(vm, err) < 0 ||
	    svc_need_state(vm, "restore-vmsnapshot", ok, 2,
			   "turn it off (parvis stop-vm) or save it (parvis save-vm) first",
			   err) < 0 ||
	    load_tree(svc, vm, t, err) < 0 || (idx = find_snapshot(vm, t, name, err)) < 0)
		return NULL;
	s = &t->snaps[idx];
	if (s->removing) {
		api_error_set(err, API_ERR_STATE,
			      "checkpoint '%s' is being merged away (an interrupted "
			      "remove-vmsnapshot): run parvis remove-vmsnapshot %s '%s' again",
			      s->name, vm->rec.name, s->name);
		return NULL;
	}
	for (i = 0; i < s->nfiles; i++)
		if (check_disk(svc, s->files[i].path, false, err) < 0)
			return NULL;
	for (i = 0; i < s->nfiles; i++) {
		if (make_leaf(svc, s->files[i].path, leaves[made], VM_PATH_MAX, err) < 0)
			goto undo;
		made++;
	}
	if (snap_record_copy(&s->config, &cfg) < 0) {
		api_error_set(err, API_ERR_HOST, "out of memory");
		goto undo;
	}
	for (i = 0; i < cfg.ndisks; i++)
		for (k = 0; k < s->nfiles; k++)
			if (!strcmp(cfg.disks[i].path, s->files[k].path)) {
				free(cfg.disks[i].path);
				cfg.disks[i].path = strdup(leaves[k]);
			}
	take_config(&vm->rec, &cfg);
	vm_record_fini(&cfg);
	vm_record_transition(&vm->rec, vm->rec.state, svc_now_ms(), "restore-vmsnapshot",
			     svc_caller_uid());
	if (write_record(svc, vm, err) < 0)
		return NULL;
	/* The current state is discarded, as Hyper-V does: the old leaves go. */
	memcpy(old, t->leaves, sizeof(old));
	nold = t->nleaves;
	t->nleaves = 0;
	for (i = 0; i < s->nfiles; i++) {
		t->leaves[i] = (struct snap_file){0};
		snap_file_set(&t->leaves[t->nleaves++], leaves[i], s->files[i].path);
	}
	t->current = idx;
	if (save_tree(svc, vm, t, err) < 0) {
		for (i = 0; i < nold; i++)
			snap_file_fini(&old[i]);
		return NULL;
	}
	for (i = 0; i < nold; i++) {
		unlink(old[i].path);
		snap_file_fini(&old[i]);
	}
	/* Its saved state, if it has one: the VM is Saved and start-vm resumes it. */
	svc_saved_state_discard(svc, vm);
	if (s->saved_state) {
		char saved[VM_PATH_MAX];
		int dfd = svc_saved_state_dir_open(svc, vm, err);

		svc_saved_state_path(svc, vm, saved, sizeof(saved));
		if (dfd < 0 || link(s->saved_state, saved) < 0) {
			if (dfd >= 0)
				api_error_set(err, API_ERR_HOST, "VM '%s': %s: %s", vm->rec.name,
					      saved, strerror(errno));
			if (dfd >= 0)
				close(dfd);
			if (vm->rec.state == VM_STATE_SAVED)
				(void)svc_transition(svc, vm, VM_STATE_OFF,
						     "restore-vmsnapshot: no saved state");
			return NULL;
		}
		close(dfd);
		if (vm->rec.state == VM_STATE_OFF)
			(void)svc_transition(svc, vm, VM_STATE_SAVED,
					     "restore-vmsnapshot: the checkpoint's saved state");
	} else if (vm->rec.state == VM_STATE_SAVED) {
		(void)svc_transition(svc, vm, VM_STATE_OFF,
				     "restore-vmsnapshot: the checkpoint has no saved state");
	}
	pv_log(LOG_INFO, "VM '%s': restored to checkpoint '%s'", vm->rec.name, s->name);
	return svc_vm_json(vm);
undo:
	unlink_made(leaves, made);
	return NULL;
}

struct json_object *svc_call_restore_snapshot(struct service *svc, const struct api_request *req,
					      struct api_error *err)
{
	struct vm *vm = svc_lookup(svc, req, err);
	char(*leaves)[VM_PATH_MAX];
	struct json_object *res = NULL;
	const char *name;
	struct snap_tree *t;

	if (!vm || api_param_string(req, "snapshot", true, VM_NAME_MAX + 64, &name, err) < 0)
		return NULL;
	t = malloc(sizeof(*t));
	leaves = calloc(VM_MAX_DISKS, VM_PATH_MAX);
	if (t && leaves) {
		snap_tree_init(t);
		res = restore(svc, vm, name, t, leaves, err);
		snap_tree_fini(t);
	} else {
		api_error_set(err, API_ERR_HOST, "out of memory");
	}
	free(leaves);
	free(t);
	return res;
}

/* --- remove-vmsnapshot -------------------------------------------------------------------- */

/* The files whose parent is path (other checkpoints' and the VM's leaves): how many, one in *ret.
 */
static unsigned children_of(struct snap_tree *t, const char *path, struct snap_file **ret)
{
	unsigned i, k, n = 0;

	*ret = NULL;
	for (i = 0; i < t->n; i++)
		for (k = 0; k < t->snaps[i].nfiles; k++)
			if (t->snaps[i].files[k].parent &&
			    !strcmp(t->snaps[i].files[k].parent, path)) {
				*ret = &t->snaps[i].files[k];
				n++;
			}
	for (i = 0; i < t->nleaves; i++)
		if (t->leaves[i].parent && !strcmp(t->leaves[i].parent, path)) {
			*ret = &t->leaves[i];
			n++;
		}
	return n;
}

static int remove_one(struct service *svc, struct vm *vm, struct snap_tree *t, unsigned idx,
		      struct snap_caller *c, struct api_error *err)
{
	struct snapshot *s = &t->snaps[idx];
	struct snap_file *kid;
	char sname[VM_NAME_MAX + 64];
	unsigned i, n;

	fmt(sname, sizeof(sname), "%s", s->name);
	for (i = 0; i < s->nfiles; i++) {
		n = children_of(t, s->files[i].path, &kid);
		if (n > 1) {
			api_error_set(
				err, API_ERR_STATE,
				"checkpoint '%s': %u disks depend on its disk %s (child "
				"checkpoints, or the VM itself): remove the child checkpoints "
				"first, or use --include-all-child-snapshots",
				sname, n, s->files[i].path);
			return -EBUSY;
		}
	}
	s->removing = true;
	if (save_tree(svc, vm, t, err) < 0)
		return -EIO;
	for (i = 0; i < s->nfiles; i++) {
		struct snap_file *f = &s->files[i];

		n = children_of(t, f->path, &kid);
		if (n == 0) {
			/* Nothing depends on it: a file the service made goes, the VM's own stays.
			 */
			if (f->parent)
				unlink(f->path);
			continue;
		}
		/* Already merged by an interrupted run (renamed onto its child): only the record.
		 */
		if (access(f->path, F_OK) == 0) {
			const char *args[] = {"merge", kid->path, NULL};
			struct json_object *o = NULL;
			int r;

			r = snap_vmdisk(svc, vm, args, c, "merge", &o, err);
			json_object_put(o);
			if (r < 0) {
				pv_log(LOG_WARN,
				       "VM '%s': checkpoint '%s' stays (merge pending): %s",
				       vm->rec.name, sname, err->message);
				return r;
			}
			/* vm->busy kept every other call off this VM and its tree meanwhile */
		}
		snap_file_set(kid, kid->path, f->parent);
		if (save_tree(svc, vm, t, err) < 0)
			return -EIO;
	}
	for (i = 0; i < t->n; i++)
		if (t->snaps[i].parent == (int)idx)
			t->snaps[i].parent = s->parent;
	if (t->current == (int)idx)
		t->current = s->parent;
	if (s->saved_state)
		unlink(s->saved_state);
	snap_tree_delete(t, idx);
	if (save_tree(svc, vm, t, err) < 0)
		return -EIO;
	pv_log(LOG_INFO, "VM '%s': checkpoint '%s' removed", vm->rec.name, sname);
	return 0;
}

/* The checkpoint and, children first, every one below it. */
static int remove_subtree(struct service *svc, struct vm *vm, struct snap_tree *t, const char *id,
			  struct snap_caller *c, struct api_error *err)
{
	char self[GUID_STRING_LEN];
	int idx;
	unsigned i;

	fmt(self, sizeof(self), "%s", id);
	for (;;) {
		idx = snap_tree_find(t, self);
		for (i = 0; idx >= 0 && i < t->n && t->snaps[i].parent != idx; i++)
			;
		if (idx < 0 || i == t->n)
			break;
		char child[GUID_STRING_LEN];

		fmt(child, sizeof(child), "%s", t->snaps[i].id);
		if (remove_subtree(svc, vm, t, child, c, err) < 0)
			return -1;
	}
	return idx < 0 ? 0 : remove_one(svc, vm, t, (unsigned)idx, c, err);
}

struct json_object *svc_call_remove_snapshot(struct service *svc, const struct api_request *req,
					     int client_fd, struct api_error *err)
{
	static const enum vm_state ok[] = {VM_STATE_OFF, VM_STATE_SAVED};
	struct vm *vm = svc_lookup(svc, req, err);
	struct snap_caller c = {.fd = client_fd};
	struct json_object *res = NULL;
	bool all = false;
	const char *name;
	struct snap_tree *t;
	int idx, r;

	if (!vm || api_param_string(req, "snapshot", true, VM_NAME_MAX + 64, &name, err) < 0 ||
	    api_param_bool(req, "include_children", &all, err) < 0 ||
	    api_param_bool(req, "progress", &c.progress, err) < 0 || refuse_busy(vm, err) < 0)
		return NULL;
	/* A running VM's merge would go under its worker's open disks: not done here. */
	if (svc_need_state(vm, "remove-vmsnapshot", ok, 2,
			   "remove-vmsnapshot merges the disks of a VM that is Off: turn it off "
			   "first (parvis stop-vm)",
			   err) < 0)
		return NULL;
	t = malloc(sizeof(*t));
	if (!t) {
		api_error_set(err, API_ERR_HOST, "out of memory");
		return NULL;
	}
	vm->busy = "remove-vmsnapshot";
	vm->refs++;
	if (load_tree(svc, vm, t, err) == 0 && (idx = find_snapshot(vm, t, name, err)) >= 0) {
		char id[GUID_STRING_LEN];

		fmt(id, sizeof(id), "%s", t->snaps[idx].id);
		r = all ? remove_subtree(svc, vm, t, id, &c, err)
			: remove_one(svc, vm, t, (unsigned)idx, &c, err);
		if (r == 0) {
			res = json_object_new_object();
			json_object_object_add(res, "name", json_object_new_string(vm->rec.name));
			json_object_object_add(res, "removed", json_object_new_string(name));
		}
		snap_tree_fini(t);
	}
	vm->busy = NULL;
	svc_vm_put(svc, vm);
	free(t);
	return res;
}

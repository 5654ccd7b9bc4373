/*
 * export-vm and import-vm (docs/checkpoints.md, "Export and import"): a VM as a directory
 * another host can register, as Hyper-V's Export-VM and Import-VM:
 *   DIR/NAME/vm.json               {"version":1,"vm":RECORD,"snapshots":TREE}
 *   DIR/NAME/Virtual Hard Disks/   every disk file: the VM's, its checkpoints', their chains
 *   DIR/NAME/boot/                 the kernel and initrd
 * Paths in vm.json are "/Virtual Hard Disks/x.vhdx": rooted at the export directory, made
 * absolute again by the import. Differencing children name their parents relatively, and the
 * files of one VM lie in one directory of the export: the chains open where it lands.
 * Called with svc->lock held; the copies run without it (the VM marked busy).
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/compiler.h"
#include "base/log.h"
#include "vmms/access.h"
#include "vmms/snapshot.h"
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

#define EXPORT_DISKS	 "Virtual Hard Disks"
#define EXPORT_BOOT	 "boot"
#define EXPORT_FILE	 "vm.json"
#define EXPORT_MAX_FILES (SNAP_MAX * VM_MAX_DISKS + VM_MAX_DISKS + 3)
#define COPY_CHUNK	 (1u << 20)
#define IMPORT_FILE_MAX	 (32 * 1024 * 1024)

/* Every file the export takes: where it is, and where it goes ("/sub/base"). */
struct file_map {
	char *from[EXPORT_MAX_FILES];
	char *to[EXPORT_MAX_FILES];
	unsigned n;
};

static void map_fini(struct file_map *m)
{
	while (m->n) {
		m->n--;
		free(m->from[m->n]);
		free(m->to[m->n]);
	}
}

/* Adds path (once); refuses two files of one name. */
static int map_add(struct file_map *m, const char *path, const char *sub, struct api_error *err)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	char to[VM_PATH_MAX];
	unsigned i;

	fmt(to, sizeof(to), "/%s/%s", sub, base);
	for (i = 0; i < m->n; i++) {
		if (!strcmp(m->from[i], path))
			return 0;
		if (!strcmp(m->to[i], to)) {
			api_error_set(err, API_ERR_INVALID,
				      "export-vm: two files are named '%s' (%s and %s): rename one "
				      "(and attach it again) before the export",
				      base, m->from[i], path);
			return -EEXIST;
		}
	}
	if (m->n == EXPORT_MAX_FILES) {
		api_error_set(err, API_ERR_INVALID, "export-vm: more than %d files",
			      EXPORT_MAX_FILES);
		return -E2BIG;
	}
	m->from[m->n] = strdup(path);
	m->to[m->n] = strdup(to);
	m->n++;
	return 0;
}

/* The entry of the file from (in the map: map_add succeeded for it). */
static unsigned map_index(const struct file_map *m, const char *from)
{
	unsigned i;

	for (i = 0; i < m->n && strcmp(m->from[i], from); i++)
		;
	return i;
}

/* The entry whose export name is to. */
static unsigned map_index_to(const struct file_map *m, const char *to)
{
	unsigned i;

	for (i = 0; i < m->n && strcmp(m->to[i], to); i++)
		;
	return i;
}

/* *p as the map says (from -> to, or back with reverse); NULL stays NULL. */
static void map_path(const struct file_map *m, char **p, bool reverse)
{
	unsigned i;

	if (!*p)
		return;
	for (i = 0; i < m->n; i++)
		if (!strcmp(reverse ? m->to[i] : m->from[i], *p)) {
			free(*p);
			*p = strdup(reverse ? m->from[i] : m->to[i]);
			return;
		}
}

static void map_record(const struct file_map *m, struct vm_record *r, bool reverse)
{
	unsigned i;

	map_path(m, &r->kernel, reverse);
	map_path(m, &r->initrd, reverse);
	map_path(m, &r->boot_disk, reverse);
	for (i = 0; i < r->ndisks; i++)
		map_path(m, &r->disks[i].path, reverse);
}

static void map_tree(const struct file_map *m, struct snap_tree *t, bool reverse)
{
	unsigned i, k;

	for (i = 0; i < t->n; i++) {
		map_record(m, &t->snaps[i].config, reverse);
		map_path(m, &t->snaps[i].saved_state, reverse);
		for (k = 0; k < t->snaps[i].nfiles; k++) {
			map_path(m, &t->snaps[i].files[k].path, reverse);
			map_path(m, &t->snaps[i].files[k].parent, reverse);
		}
	}
	for (k = 0; k < t->nleaves; k++) {
		map_path(m, &t->leaves[k].path, reverse);
		map_path(m, &t->leaves[k].parent, reverse);
	}
}

static int map_record_files(struct file_map *m, const struct vm_record *r, struct api_error *err)
{
	unsigned i;

	if ((r->kernel && map_add(m, r->kernel, EXPORT_BOOT, err) < 0) ||
	    (r->initrd && map_add(m, r->initrd, EXPORT_BOOT, err) < 0) ||
	    (r->boot_disk && map_add(m, r->boot_disk, EXPORT_DISKS, err) < 0))
		return -EINVAL;
	for (i = 0; i < r->ndisks; i++)
		if (map_add(m, r->disks[i].path, EXPORT_DISKS, err) < 0)
			return -EINVAL;
	return 0;
}

static int map_files(struct file_map *m, const struct vm_record *r, const struct snap_tree *t,
		     struct api_error *err)
{
	unsigned i, k;

	if (map_record_files(m, r, err) < 0)
		return -EINVAL;
	for (i = 0; i < t->n; i++) {
		if (map_record_files(m, &t->snaps[i].config, err) < 0 ||
		    (t->snaps[i].saved_state &&
		     map_add(m, t->snaps[i].saved_state, EXPORT_DISKS, err) < 0))
			return -EINVAL;
		for (k = 0; k < t->snaps[i].nfiles; k++)
			if (map_add(m, t->snaps[i].files[k].path, EXPORT_DISKS, err) < 0 ||
			    (t->snaps[i].files[k].parent &&
			     map_add(m, t->snaps[i].files[k].parent, EXPORT_DISKS, err) < 0))
				return -EINVAL;
	}
	return 0;
}

/* --- copying ----------------------------------------------------------------------------- */

/*
 * Copies src to dst (a new file), holes left holes (SEEK_DATA), fsync'd; progress to c as
 * done/total over all files. -ECANCELED if the caller hung up.
 */
static int copy_file(const char *src, const char *dst, struct snap_caller *c, const char *what,
		     uint64_t *done, uint64_t total, char *why, size_t whylen)
{
	int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, r = 0;
	char *buf = malloc(COPY_CHUNK);
	struct stat st;
	off_t off = 0;

	if (in < 0 || !buf || fstat(in, &st) < 0) {
		r = -errno;
		fmt(why, whylen, "%s: %s", src, strerror(errno));
		goto out;
	}
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (out < 0 || ftruncate(out, st.st_size) < 0) {
		r = -errno;
		fmt(why, whylen, "%s: %s", dst, strerror(errno));
		goto out;
	}
	while (off < st.st_size) {
		off_t data = lseek(in, off, SEEK_DATA), hole;
		ssize_t n;

		if (data < 0)
			break; /* only a hole is left */
		hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0)
			hole = st.st_size;
		*done += (uint64_t)(data - off);
		off = data;
		while (off < hole) {
			size_t len = (size_t)(hole - off < COPY_CHUNK ? hole - off : COPY_CHUNK);

			n = pread(in, buf, len, off);
			if (n <= 0 || pwrite(out, buf, (size_t)n, off) != n) {
				r = n < 0 ? -errno : -EIO;
				fmt(why, whylen, "copying %s to %s: %s", src, dst, strerror(-r));
				goto out;
			}
			off += n;
			*done += (uint64_t)n;
			snap_progress(c, what, src, *done, total);
			if (snap_caller_gone(c)) {
				r = -ECANCELED;
				fmt(why, whylen, "%s: cancelled by its caller", what);
				goto out;
			}
		}
	}
	*done += (uint64_t)(st.st_size - off);
	if (fsync(out) < 0) {
		r = -errno;
		fmt(why, whylen, "%s: %s", dst, strerror(errno));
	}
out:
	free(buf);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (r < 0 && out >= 0)
		unlink(dst);
	return r;
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Copies every file of the map from src_root+to (or from) into dst_root+to. */
static int copy_map(const struct file_map *m, const char *src_root, const char *dst_root,
		    struct snap_caller *c, const char *what, char *why, size_t whylen)
{
	char src[PATH_MAX], dst[PATH_MAX];
	uint64_t total = 0, done = 0;
	unsigned i;
	int r;

	for (i = 0; i < m->n; i++) {
		fmt(src, sizeof(src), "%s%s", src_root ? src_root : "",
		    src_root ? m->to[i] : m->from[i]);
		total += file_size(src);
	}
	for (i = 0; i < m->n; i++) {
		fmt(src, sizeof(src), "%s%s", src_root ? src_root : "",
		    src_root ? m->to[i] : m->from[i]);
		fmt(dst, sizeof(dst), "%s%s", dst_root, m->to[i]);
		r = copy_file(src, dst, c, what, &done, total, why, whylen);
		if (r < 0)
			return r;
	}
	snap_progress(c, what, "", total, total);
	return 0;
}

/* Removes what an export or import copy made under root (its files, then its directories). */
static void remove_copy(const struct file_map *m, const char *root)
{
	static const char *const subs[] = {EXPORT_DISKS, EXPORT_BOOT};
	char p[PATH_MAX];
	unsigned i;

	for (i = 0; i < m->n; i++) {
		fmt(p, sizeof(p), "%s%s", root, m->to[i]);
		unlink(p);
	}
	fmt(p, sizeof(p), "%s/%s", root, EXPORT_FILE);
	unlink(p);
	for (i = 0; i < 2; i++) {
		fmt(p, sizeof(p), "%s/%s", root, subs[i]);
		rmdir(p);
	}
	rmdir(root);
}

static int make_dirs(const char *root, char *why, size_t whylen)
{
	char p[PATH_MAX];

	if (mkdir(root, 0750) < 0) {
		fmt(why, whylen, "%s: %s", root,
		    errno == EEXIST ? "exists already (choose another directory, or remove it)"
				    : strerror(errno));
		return -errno;
	}
	fmt(p, sizeof(p), "%s/%s", root, EXPORT_DISKS);
	if (mkdir(p, 0750) < 0)
		goto fail;
	fmt(p, sizeof(p), "%s/%s", root, EXPORT_BOOT);
	if (mkdir(p, 0750) < 0)
		goto fail;
	return 0;
fail:
	fmt(why, whylen, "%s: %s", p, strerror(errno));
	return -errno;
}

/* Root may name any directory; others only one inside a storage directory (access.h). */
static int check_dir(struct service *svc, const char *call, const char *dir, struct api_error *err)
{
	const struct api_caller *c = svc_caller();
	struct stat st;

	if (dir[0] != '/') {
		api_error_set(err, API_ERR_INVALID, "%s: '%s' is not an absolute path", call, dir);
		return -EINVAL;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		api_error_set(err, API_ERR_NOT_FOUND, "%s: '%s' is not a directory", call, dir);
		return -ENOENT;
	}
	if (c && c->uid != 0 &&
	    !access_path_in_dirs(dir, svc->cfg.storage_dirs, svc->cfg.nstorage_dirs)) {
		api_error_set(err, API_ERR_DENIED,
			      "%s: only root may name a directory outside the storage "
			      "directories",
			      call);
		return -EACCES;
	}
	return 0;
}

static int write_text(const char *path, const char *text, char *why, size_t whylen)
{
	size_t len = strlen(text);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640), r = 0;

	if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) < 0)
		r = errno ? -errno : -EIO;
	if (fd >= 0)
		close(fd);
	if (r < 0)
		fmt(why, whylen, "%s: %s", path, strerror(-r));
	return r;
}

/* --- export-vm ------------------------------------------------------------------------------ */

static struct json_object *export_vm(struct service *svc, struct vm *vm, const char *dir,
				     struct snap_caller *c, struct snap_tree *t, struct file_map *m,
				     struct api_error *err)
{
	static const enum vm_state ok[] = {VM_STATE_OFF, VM_STATE_SAVED};
	char root[PATH_MAX], p[PATH_MAX + 16], why[1024] = "", saved[VM_PATH_MAX];
	struct json_object *doc, *res;
	struct vm_record rec;
	unsigned i;
	int r;

	if (vm->busy) {
		api_error_set(err, API_ERR_STATE, "VM '%s' is busy: %s runs on it", vm->rec.name,
			      vm->busy);
		return NULL;
	}
	if (svc_need_state(
		    vm, "export-vm", ok, 2,
		    "export-vm copies a VM that is Off or Saved: save it (parvis save-vm) or "
		    "turn it off first (parvis stop-vm)",
		    err) < 0 ||
	    check_dir(svc, "export-vm", dir, err) < 0)
		return NULL;
	if (snap_tree_load(svc->state_dir, vm->rec.id, t, why, sizeof(why)) < 0) {
		api_error_set(err, API_ERR_INVALID, "VM '%s': %s", vm->rec.name, why);
		return NULL;
	}
	if (map_files(m, &vm->rec, t, err) < 0)
		return NULL;
	/* A Saved VM goes with its saved state: the import is Saved too (start-vm resumes it). */
	saved[0] = '\0';
	if (vm->rec.state == VM_STATE_SAVED) {
		svc_saved_state_path(svc, vm, saved, sizeof(saved));
		if (map_add(m, saved, EXPORT_DISKS, err) < 0)
			return NULL;
	}
	for (i = 0; i < m->n; i++)
		if (access(m->from[i], R_OK) < 0) {
			api_error_set(err, API_ERR_NOT_FOUND, "export-vm: file '%s': %s",
				      m->from[i], strerror(errno));
			return NULL;
		}
	if (snap_record_copy(&vm->rec, &rec) < 0) {
		api_error_set(err, API_ERR_HOST, "out of memory");
		return NULL;
	}
	fmt(root, sizeof(root), "%s/%s", dir, vm->rec.name);
	if (make_dirs(root, why, sizeof(why)) < 0) {
		vm_record_fini(&rec);
		api_error_set(err, API_ERR_INVALID, "export-vm: %s", why);
		if (errno != EEXIST)
			remove_copy(m, root);
		return NULL;
	}
	map_record(m, &rec, false);
	map_tree(m, t, false);
	doc = json_object_new_object();
	json_object_object_add(doc, "version", json_object_new_int(1));
	json_object_object_add(doc, "vm", vm_record_to_json(&rec));
	json_object_object_add(doc, "snapshots", snap_tree_to_json(t));
	if (saved[0])
		json_object_object_add(doc, "saved_state",
				       json_object_new_string(m->to[map_index(m, saved)]));
	vm_record_fini(&rec);
	fmt(p, sizeof(p), "%s/%s", root, EXPORT_FILE);
	r = write_text(p,
		       json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
								   JSON_C_TO_STRING_NOSLASHESCAPE),
		       why, sizeof(why));
	json_object_put(doc);
	if (r == 0) {
		vm->busy = "export-vm";
		vm->refs++;
		pthread_mutex_unlock(&svc->lock);
		r = copy_map(m, NULL, root, c, "export", why, sizeof(why));
		pthread_mutex_lock(&svc->lock);
		vm->busy = NULL;
		svc_vm_put(svc, vm);
	}
	if (r < 0) {
		remove_copy(m, root);
		api_error_set(err, r == -ECANCELED ? API_ERR_STATE : API_ERR_HOST,
			      "export-vm: %s; nothing was left in %s", why, dir);
		return NULL;
	}
	pv_log(LOG_INFO, "VM '%s' exported to %s (%u files)", vm->rec.name, root, m->n);
	res = json_object_new_object();
	json_object_object_add(res, "name", json_object_new_string(vm->rec.name));
	json_object_object_add(res, "path", json_object_new_string(root));
	json_object_object_add(res, "files", json_object_new_int((int)m->n));
	return res;
}

struct json_object *svc_call_export_vm(struct service *svc, const struct api_request *req,
				       int client_fd, struct api_error *err)
{
	struct snap_caller c = {.fd = client_fd};
	struct vm *vm = svc_lookup(svc, req, err);
	struct json_object *res = NULL;
	struct snap_tree *t;
	struct file_map *m;
	const char *dir;

	if (!vm || api_param_string(req, "path", true, VM_PATH_MAX, &dir, err) < 0 ||
	    api_param_bool(req, "progress", &c.progress, err) < 0)
		return NULL;
	t = malloc(sizeof(*t));
	m = calloc(1, sizeof(*m));
	if (t && m) {
		snap_tree_init(t);
		res = export_vm(svc, vm, dir, &c, t, m, err);
		snap_tree_fini(t);
		map_fini(m);
	} else {
		api_error_set(err, API_ERR_HOST, "out of memory");
	}
	free(t);
	free(m);
	return res;
}

/* --- import-vm ------------------------------------------------------------------------------ */

static char *read_small(const char *path, size_t *len, char *why, size_t whylen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	char *text = NULL;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > IMPORT_FILE_MAX) {
		fmt(why, whylen, "%s: %s", path,
		    fd < 0 ? strerror(errno) : "not a regular file of at most 32 MiB");
		goto out;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text || pread(fd, text, (size_t)st.st_size, 0) != st.st_size) {
		free(text);
		text = NULL;
		fmt(why, whylen, "%s: cannot read it", path);
		goto out;
	}
	text[st.st_size] = '\0';
	*len = (size_t)st.st_size;
out:
	if (fd >= 0)
		close(fd);
	return text;
}

/* vm.json into rec and t (paths still rooted at the export directory). */
static int parse_export(const char *dir, struct vm_record *rec, struct snap_tree *t, char **saved,
			struct api_error *err)
{
	char path[PATH_MAX], why[1024] = "";
	struct json_object *doc = NULL, *v, *vmo, *snaps;
	const char *text;
	size_t len = 0;
	char *file;
	int r = -EINVAL;

	vm_record_init(rec);
	snap_tree_init(t);
	fmt(path, sizeof(path), "%s/%s", dir, EXPORT_FILE);
	file = read_small(path, &len, why, sizeof(why));
	if (file)
		doc = json_tokener_parse(file);
	free(file);
	if (!doc || !json_object_is_type(doc, json_type_object) ||
	    !json_object_object_get_ex(doc, "version", &v) || json_object_get_int(v) != 1 ||
	    !json_object_object_get_ex(doc, "vm", &vmo) ||
	    !json_object_object_get_ex(doc, "snapshots", &snaps)) {
		api_error_set(err, API_ERR_INVALID,
			      "import-vm: %s%s is not an export of parvis export-vm (version 1, "
			      "with \"vm\" and \"snapshots\")",
			      why[0] ? why : path, why[0] ? ";" : "");
		goto out;
	}
	if (json_object_object_get_ex(doc, "saved_state", &v)) {
		if (!json_object_is_type(v, json_type_string) ||
		    strncmp(json_object_get_string(v), "/" EXPORT_DISKS "/",
			    strlen(EXPORT_DISKS) + 2) ||
		    strchr(json_object_get_string(v) + strlen(EXPORT_DISKS) + 2, '/')) {
			api_error_set(
				err, API_ERR_INVALID,
				"import-vm: %s: \"saved_state\" is not a file of the export's "
				"'%s'",
				path, EXPORT_DISKS);
			goto out;
		}
		*saved = strdup(json_object_get_string(v));
		if (!*saved) {
			api_error_set(err, API_ERR_HOST, "out of memory");
			goto out;
		}
	}
	text = json_object_to_json_string_ext(vmo, JSON_C_TO_STRING_PLAIN);
	if (vm_record_parse(text, strlen(text), rec, why, sizeof(why)) < 0) {
		api_error_set(err, API_ERR_INVALID, "import-vm: %s: the VM: %s", path, why);
		goto out;
	}
	text = json_object_to_json_string_ext(snaps, JSON_C_TO_STRING_PLAIN);
	if (snap_tree_parse(text, strlen(text), t, why, sizeof(why)) < 0) {
		api_error_set(err, API_ERR_INVALID, "import-vm: %s: its checkpoints: %s", path,
			      why);
		goto out;
	}
	r = 0;
out:
	json_object_put(doc);
	return r;
}

/* The files vm.json names, every one rooted at the export directory, all present. */
static int export_files(const char *dir, const struct vm_record *rec, const struct snap_tree *t,
			const char *saved, struct file_map *m, struct api_error *err)
{
	char p[PATH_MAX];
	unsigned i;

	/* map_files keys on the names as found ("/sub/x"): from == to */
	if (map_files(m, rec, t, err) < 0 || (saved && map_add(m, saved, EXPORT_DISKS, err) < 0))
		return -EINVAL;
	for (i = 0; i < m->n; i++) {
		const char *s = m->from[i];

		if (strncmp(s, "/" EXPORT_DISKS "/", strlen(EXPORT_DISKS) + 2) &&
		    strncmp(s, "/" EXPORT_BOOT "/", strlen(EXPORT_BOOT) + 2)) {
			api_error_set(err, API_ERR_INVALID,
				      "import-vm: %s/%s names '%s', which is not in the export",
				      dir, EXPORT_FILE, s);
			return -EINVAL;
		}
		free(m->to[i]);
		m->to[i] = strdup(s);
		fmt(p, sizeof(p), "%s%s", dir, s);
		if (access(p, R_OK) < 0) {
			api_error_set(err, API_ERR_NOT_FOUND,
				      "import-vm: the export is missing '%s' (%s): nothing was "
				      "imported",
				      p, strerror(errno));
			return -ENOENT;
		}
	}
	return 0;
}

/* "/sub/x" -> root + "/sub/x" in the map's from[] (the import's real paths). */
static void root_map(struct file_map *m, const char *root)
{
	char p[PATH_MAX];
	unsigned i;

	for (i = 0; i < m->n; i++) {
		fmt(p, sizeof(p), "%s%s", root, m->to[i]);
		free(m->from[i]);
		m->from[i] = strdup(p);
	}
}

static struct vm *registered_id(struct service *svc, const char *id)
{
	struct vm *v;

	for (v = svc->vms; v; v = v->next)
		if (!strcmp(v->rec.id, id))
			return v;
	return NULL;
}

/*
 * The imported VM's saved state, from the export's file (now at its real path) to the
 * service's place for it: a hard link where it can, else a copy (the lock dropped meanwhile;
 * the VM is not registered yet).
 */
static int import_saved_state(struct service *svc, struct vm *vm, const char *src,
			      struct snap_caller *c, struct api_error *err)
{
	char dst[VM_PATH_MAX], why[1024] = "";
	uint64_t done = 0;
	struct stat st;
	int fd, r = 0;

	fd = svc_saved_state_dir_open(svc, vm, err);
	if (fd < 0)
		return -EIO;
	close(fd);
	svc_saved_state_path(svc, vm, dst, sizeof(dst));
	if (link(src, dst) == 0)
		goto own;
	pthread_mutex_unlock(&svc->lock);
	r = copy_file(src, dst, c, "import", &done, stat(src, &st) == 0 ? (uint64_t)st.st_size : 0,
		      why, sizeof(why));
	pthread_mutex_lock(&svc->lock);
	if (r < 0) {
		unlink(dst);
		api_error_set(err, r == -ECANCELED ? API_ERR_STATE : API_ERR_HOST,
			      "import-vm: the saved state: %s; nothing was imported", why);
		return r;
	}
own:
	/* The jailed worker that restores it opens it as root, before its jail (saved-state.md). */
	if (chmod(dst, 0600) < 0) {
		api_error_set(err, API_ERR_HOST, "import-vm: %s: %s", dst, strerror(errno));
		unlink(dst);
		return -EIO;
	}
	return 0;
}

static struct json_object *import_vm(struct service *svc, const char *dir, bool copy, bool new_id,
				     struct snap_caller *c, struct vm_record *rec,
				     struct snap_tree *t, struct file_map *m, struct api_error *err)
{
	char root[PATH_MAX], why[1024] = "", oldid[GUID_STRING_LEN];
	struct json_object *res = NULL;
	char *saved = NULL;
	struct vm *vm, *other;
	unsigned i;
	int r;

	if (check_dir(svc, "import-vm", dir, err) < 0 ||
	    parse_export(dir, rec, t, &saved, err) < 0 ||
	    export_files(dir, rec, t, saved, m, err) < 0)
		goto out;
	memcpy(oldid, rec->id, sizeof(oldid));
	if (new_id && vm_id_new(rec->id) < 0) {
		api_error_set(err, API_ERR_HOST, "cannot make an ID");
		goto out;
	}
	if ((other = registered_id(svc, rec->id))) {
		api_error_set(err, API_ERR_EXISTS,
			      "import-vm: VM id %s is registered already (VM '%s'): use "
			      "--generate-new-id to import it as a new VM",
			      rec->id, other->rec.name);
		goto out;
	}
	if (svc_vm_find(svc, rec->name)) {
		api_error_set(err, API_ERR_EXISTS,
			      "import-vm: a VM named '%s' exists already: rename it (parvis set-vm "
			      "%s --name NEW) or remove it first",
			      rec->name, rec->name);
		goto out;
	}
	fmt(root, sizeof(root), "%s", dir);
	if (copy) {
		/* Into the service's storage: the first storage directory, else DIR/storage. */
		char base[PATH_MAX];

		if (svc->cfg.nstorage_dirs)
			fmt(base, sizeof(base), "%s", svc->cfg.storage_dirs[0]);
		else
			fmt(base, sizeof(base), "%s/storage", svc->state_dir);
		if (mkdir(base, 0750) < 0 && errno != EEXIST) {
			api_error_set(err, API_ERR_HOST, "import-vm: %s: %s", base,
				      strerror(errno));
			goto out;
		}
		fmt(root, sizeof(root), "%s/%s", base, rec->id);
		if (make_dirs(root, why, sizeof(why)) < 0) {
			api_error_set(err, API_ERR_HOST, "import-vm: %s", why);
			goto out;
		}
		pthread_mutex_unlock(&svc->lock);
		r = copy_map(m, dir, root, c, "import", why, sizeof(why));
		pthread_mutex_lock(&svc->lock);
		if (r == 0 && (registered_id(svc, rec->id) || svc_vm_find(svc, rec->name))) {
			fmt(why, sizeof(why), "a VM of that id or name was registered meanwhile");
			r = -EEXIST;
		}
		if (r < 0) {
			remove_copy(m, root);
			api_error_set(err, r == -ECANCELED ? API_ERR_STATE : API_ERR_HOST,
				      "import-vm: %s; nothing was imported", why);
			goto out;
		}
	}
	/* from = the real path, to = "/sub/x": mapped back */
	root_map(m, root);
	map_record(m, rec, true);
	map_tree(m, t, true);
	for (i = 0; i < rec->ndisks; i++) {
		const char *args[] = {"check", rec->disks[i].path, NULL};
		struct json_object *o = NULL;

		if (snap_vmdisk(svc, NULL, args, NULL, "check", &o, err) < 0) {
			char msg[sizeof(err->message)];

			fmt(msg, sizeof(msg), "%s", err->message);
			api_error_set(err, API_ERR_INVALID, "import-vm: %s; nothing was imported",
				      msg);
			goto undo;
		}
		json_object_put(o);
	}
	vm = calloc(1, sizeof(*vm));
	if (!vm) {
		api_error_set(err, API_ERR_HOST, "out of memory");
		goto undo;
	}
	vm->pidfd = -1;
	vm->incoming_fd = -1;
	vm->rec = *rec;
	vm_record_init(rec);
	vm->rec.jail_uid = 0; /* this host gives its own */
	vm->rec.state = VM_STATE_OFF;
	vm->rec.nhistory = 0;
	if (worker_paths_init(&vm->paths, svc->state_dir, vm->rec.id) < 0) {
		api_error_set(err, API_ERR_HOST, "the run directory path is too long");
		svc_vm_free(vm);
		goto undo;
	}
	if (saved && import_saved_state(svc, vm, m->from[map_index_to(m, saved)], c, err) < 0) {
		svc_vm_free(vm);
		goto undo;
	}
	vm->rec.state = saved ? VM_STATE_SAVED : VM_STATE_OFF;
	vm_record_transition(&vm->rec, vm->rec.state, svc_now_ms(),
			     new_id ? "import-vm --generate-new-id" : "import-vm",
			     svc_caller_uid());
	/* A tree left by a VM of this id that was removed is not this VM's. */
	if (!t->n && !t->nleaves)
		(void)snap_tree_remove(svc->state_dir, vm->rec.id);
	if ((t->n || t->nleaves) && (r = snap_tree_write(svc->state_dir, vm->rec.id, t)) < 0) {
		api_error_set(err, API_ERR_HOST, "import-vm: cannot write the checkpoints: %s",
			      strerror(-r));
		svc_vm_free(vm);
		goto undo;
	}
	r = inventory_write(svc->state_dir, &vm->rec);
	if (r < 0) {
		api_error_set(err, API_ERR_HOST, "import-vm: cannot write the VM's file: %s",
			      strerror(-r));
		(void)snap_tree_remove(svc->state_dir, vm->rec.id);
		if (saved)
			svc_saved_state_discard(svc, vm);
		svc_vm_free(vm);
		goto undo;
	}
	vm->next = svc->vms;
	svc->vms = vm;
	pv_log(LOG_INFO, "VM '%s' imported from %s (%s%s)", vm->rec.name, dir, vm->rec.id,
	       copy ? ", copied" : ", in place");
	svc_emit(svc, svc_vm_event("vm-created", vm));
	res = svc_vm_json(vm);
	goto out;
undo:
	if (copy)
		remove_copy(m, root);
out:
	free(saved);
	return res;
}

struct json_object *svc_call_import_vm(struct service *svc, const struct api_request *req,
				       int client_fd, struct api_error *err)
{
	struct snap_caller c = {.fd = client_fd};
	struct json_object *res = NULL;
	bool copy = false, new_id = false;
	struct vm_record *rec;
	struct snap_tree *t;
	struct file_map *m;
	const char *dir;

	if (api_param_string(req, "path", true, VM_PATH_MAX, &dir, err) < 0 ||
	    api_param_bool(req, "copy", &copy, err) < 0 ||
	    api_param_bool(req, "generate_new_id", &new_id, err) < 0 ||
	    api_param_bool(req, "progress", &c.progress, err) < 0)
		return NULL;
	rec = malloc(sizeof(*rec));
	t = malloc(sizeof(*t));
	m = calloc(1, sizeof(*m));
	if (rec && t && m) {
		vm_record_init(rec);
		snap_tree_init(t);
		res = import_vm(svc, dir, copy, new_id, &c, rec, t, m, err);
		vm_record_fini(rec);
		snap_tree_fini(t);
		map_fini(m);
	} else {
		api_error_set(err, API_ERR_HOST, "out of memory");
	}
	free(rec);
	free(t);
	free(m);
	return res;
}

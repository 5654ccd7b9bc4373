/* A VM's checkpoint tree on disk; see snapshot_tree.h and docs/checkpoints.md. */
#include "vmms/snapshot_tree.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/guid.h"

#define TREE_FILE_MAX (16 * 1024 * 1024)
#define TREE_VERSION  1

void snap_tree_init(struct snap_tree *t)
{
	memset(t, 0, sizeof(*t));
	t->current = -1;
}

void snap_file_set(struct snap_file *f, const char *path, const char *parent)
{
	char *p = strdup(path), *q = parent ? strdup(parent) : NULL;

	snap_file_fini(f);
	f->path = p;
	f->parent = q;
}

void snap_file_fini(struct snap_file *f)
{
	free(f->path);
	free(f->parent);
	f->path = f->parent = NULL;
}

static void snapshot_fini(struct snapshot *s)
{
	unsigned i;

	free(s->name);
	free(s->saved_state);
	vm_record_fini(&s->config);
	for (i = 0; i < s->nfiles; i++)
		snap_file_fini(&s->files[i]);
	memset(s, 0, sizeof(*s));
}

void snap_tree_fini(struct snap_tree *t)
{
	unsigned i;

	for (i = 0; i < t->n; i++)
		snapshot_fini(&t->snaps[i]);
	for (i = 0; i < t->nleaves; i++)
		snap_file_fini(&t->leaves[i]);
	snap_tree_init(t);
}

void snap_tree_delete(struct snap_tree *t, unsigned i)
{
	unsigned k;

	snapshot_fini(&t->snaps[i]);
	memmove(&t->snaps[i], &t->snaps[i + 1], sizeof(t->snaps[0]) * (t->n - i - 1));
	memset(&t->snaps[--t->n], 0, sizeof(t->snaps[0]));
	for (k = 0; k < t->n; k++)
		if (t->snaps[k].parent > (int)i)
			t->snaps[k].parent--;
	if (t->current > (int)i)
		t->current--;
}

int snap_tree_find(const struct snap_tree *t, const char *name)
{
	unsigned i;

	for (i = 0; i < t->n; i++)
		if (!strcmp(t->snaps[i].name, name) || !strcmp(t->snaps[i].id, name))
			return (int)i;
	return -1;
}

/* --- JSON ------------------------------------------------------------------------------ */

static struct json_object *files_json(const struct snap_file *f, unsigned n)
{
	struct json_object *a = json_object_new_array();
	unsigned i;

	for (i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "path", json_object_new_string(f[i].path));
		json_object_object_add(o, "parent",
				       f[i].parent ? json_object_new_string(f[i].parent) : NULL);
		json_object_array_add(a, o);
	}
	return a;
}

struct json_object *snap_tree_to_json(const struct snap_tree *t)
{
	struct json_object *o = json_object_new_object(), *list = json_object_new_array();
	unsigned i;

	json_object_object_add(o, "version", json_object_new_int(TREE_VERSION));
	json_object_object_add(o, "current",
			       t->current >= 0 ? json_object_new_string(t->snaps[t->current].id)
					       : NULL);
	json_object_object_add(o, "leaves", files_json(t->leaves, t->nleaves));
	for (i = 0; i < t->n; i++) {
		const struct snapshot *s = &t->snaps[i];
		struct json_object *e = json_object_new_object(),
				   *cfg = vm_record_to_json(&s->config);

		json_object_object_del(cfg, "history");
		json_object_object_add(e, "id", json_object_new_string(s->id));
		json_object_object_add(e, "name", json_object_new_string(s->name));
		json_object_object_add(
			e, "parent",
			s->parent >= 0 ? json_object_new_string(t->snaps[s->parent].id) : NULL);
		json_object_object_add(e, "created_ms", json_object_new_int64(s->created_ms));
		json_object_object_add(e, "removing", json_object_new_boolean(s->removing));
		json_object_object_add(e, "config", cfg);
		json_object_object_add(e, "files", files_json(s->files, s->nfiles));
		json_object_object_add(e, "saved_state",
				       s->saved_state ? json_object_new_string(s->saved_state)
						      : NULL);
		json_object_array_add(list, e);
	}
	json_object_object_add(o, "snapshots", list);
	return o;
}

static int bad(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s", what);
	return -EINVAL;
}

/* A string member (or NULL when absent or null and !required); -EINVAL if anything else. */
static int get_string(struct json_object *o, const char *key, bool required, size_t max,
		      const char **ret, char *err, size_t errlen)
{
	struct json_object *v = NULL;

	*ret = NULL;
	if (!json_object_object_get_ex(o, key, &v) || !v) {
		if (!required)
			return 0;
		snprintf(err, errlen, "\"%s\" is missing", key);
		return -EINVAL;
	}
	if (!json_object_is_type(v, json_type_string) ||
	    (size_t)json_object_get_string_len(v) > max ||
	    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v)) {
		snprintf(err, errlen, "\"%s\" is not a string of at most %zu bytes", key, max);
		return -EINVAL;
	}
	*ret = json_object_get_string(v);
	return 0;
}

static int get_path(struct json_object *o, const char *key, bool required, const char **ret,
		    char *err, size_t errlen)
{
	if (get_string(o, key, required, VM_PATH_MAX, ret, err, errlen) < 0)
		return -EINVAL;
	if (*ret && (*ret)[0] != '/') {
		snprintf(err, errlen, "\"%s\" is not an absolute path", key);
		return -EINVAL;
	}
	return 0;
}

static int parse_files(struct json_object *o, struct snap_file *f, unsigned *n, char *err,
		       size_t errlen)
{
	struct json_object *a;
	size_t i, len;

	if (!json_object_object_get_ex(o, "files", &a) &&
	    !json_object_object_get_ex(o, "leaves", &a))
		return bad(err, errlen, "the disk files are missing");
	if (!json_object_is_type(a, json_type_array) ||
	    (len = json_object_array_length(a)) > VM_MAX_DISKS)
		return bad(err, errlen, "the disk files are not an array of at most 64");
	for (i = 0; i < len; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);
		const char *path, *parent;

		if (!json_object_is_type(e, json_type_object) ||
		    get_path(e, "path", true, &path, err, errlen) < 0 ||
		    get_path(e, "parent", false, &parent, err, errlen) < 0)
			return -EINVAL;
		snap_file_set(&f[*n], path, parent);
		if (!f[*n].path || (parent && !f[*n].parent))
			return -ENOMEM;
		(*n)++;
	}
	return 0;
}

static int parse_snapshot(struct json_object *e, struct snap_tree *t, char *err, size_t errlen)
{
	struct snapshot *s = &t->snaps[t->n];
	const char *id, *name, *parent, *state, *text;
	struct json_object *v, *cfg;
	struct guid g;
	char why[256];
	int r, k;

	if (!json_object_is_type(e, json_type_object))
		return bad(err, errlen, "a checkpoint is not an object");
	if (get_string(e, "id", true, GUID_STRING_LEN, &id, err, errlen) < 0 ||
	    get_string(e, "name", true, SNAP_NAME_MAX, &name, err, errlen) < 0 ||
	    get_string(e, "parent", false, GUID_STRING_LEN, &parent, err, errlen) < 0 ||
	    get_path(e, "saved_state", false, &state, err, errlen) < 0)
		return -EINVAL;
	if (guid_parse(id, &g) < 0)
		return bad(err, errlen, "a checkpoint's \"id\" is not a GUID");
	guid_format(&g, s->id);
	t->n++; /* from here on snap_tree_fini frees what s holds */
	if (vm_name_check(name, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "checkpoint %s: %s", s->id, why);
		return -EINVAL;
	}
	s->name = strdup(name);
	s->saved_state = state ? strdup(state) : NULL;
	if (!s->name || (state && !s->saved_state))
		return -ENOMEM;
	for (k = 0; k < (int)t->n - 1; k++)
		if (!strcmp(t->snaps[k].id, s->id) || !strcmp(t->snaps[k].name, s->name)) {
			snprintf(err, errlen, "checkpoint '%s' appears twice", s->name);
			return -EINVAL;
		}
	s->parent = -1;
	if (parent) {
		/* A parent comes before its children: no cycle can be written. */
		for (k = 0; k < (int)t->n - 1 && strcmp(t->snaps[k].id, parent); k++)
			;
		if (k == (int)t->n - 1) {
			snprintf(err, errlen, "checkpoint '%s': its parent %s is not before it",
				 s->name, parent);
			return -EINVAL;
		}
		s->parent = k;
	}
	if (!json_object_object_get_ex(e, "created_ms", &v) ||
	    !json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0) {
		snprintf(err, errlen, "checkpoint '%s': \"created_ms\" is not a time", s->name);
		return -EINVAL;
	}
	s->created_ms = json_object_get_int64(v);
	s->removing = json_object_object_get_ex(e, "removing", &v) &&
		      json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
	if (!json_object_object_get_ex(e, "config", &cfg) ||
	    !json_object_is_type(cfg, json_type_object)) {
		snprintf(err, errlen, "checkpoint '%s': its configuration is missing", s->name);
		return -EINVAL;
	}
	text = json_object_to_json_string_ext(cfg, JSON_C_TO_STRING_PLAIN);
	r = vm_record_parse(text, strlen(text), &s->config, why, sizeof(why));
	if (r < 0) {
		snprintf(err, errlen, "checkpoint '%s': its configuration: %s", s->name, why);
		return r;
	}
	r = parse_files(e, s->files, &s->nfiles, why, sizeof(why));
	if (r < 0)
		snprintf(err, errlen, "checkpoint '%s': %s", s->name, why);
	return r;
}

int snap_tree_parse(const char *text, size_t len, struct snap_tree *t, char *err, size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *root = NULL, *v, *list;
	const char *current;
	size_t i, n;
	int r = -EINVAL;

	snap_tree_init(t);
	if (len > TREE_FILE_MAX)
		return bad(err, errlen, "larger than 16 MiB");
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, text, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(root, json_type_object)) {
		bad(err, errlen, "not a JSON object");
		goto out;
	}
	if (!json_object_object_get_ex(root, "version", &v) ||
	    !json_object_is_type(v, json_type_int) || json_object_get_int(v) != TREE_VERSION) {
		bad(err, errlen, "\"version\" is not 1");
		goto out;
	}
	if (!json_object_object_get_ex(root, "snapshots", &list) ||
	    !json_object_is_type(list, json_type_array) ||
	    (n = json_object_array_length(list)) > SNAP_MAX) {
		bad(err, errlen, "\"snapshots\" is not an array of at most 64");
		goto out;
	}
	for (i = 0; i < n; i++) {
		r = parse_snapshot(json_object_array_get_idx(list, i), t, err, errlen);
		if (r < 0)
			goto out;
	}
	r = -EINVAL;
	if (parse_files(root, t->leaves, &t->nleaves, err, errlen) < 0 ||
	    get_string(root, "current", false, GUID_STRING_LEN, &current, err, errlen) < 0)
		goto out;
	if (current) {
		for (i = 0; i < t->n && strcmp(t->snaps[i].id, current); i++)
			;
		if (i == t->n) {
			bad(err, errlen, "\"current\" names no checkpoint of the tree");
			goto out;
		}
		t->current = (int)i;
	}
	r = 0;
out:
	json_tokener_free(tok);
	json_object_put(root);
	if (r < 0)
		snap_tree_fini(t);
	return r;
}

/* --- the file ------------------------------------------------------------------------ */

static void tree_path(char *buf, size_t len, const char *state_dir, const char *vm_id,
		      const char *prefix, const char *suffix)
{
	snprintf(buf, len, "%s/snapshots/%s%s.json%s", state_dir, prefix, vm_id, suffix);
}

int snap_tree_load(const char *state_dir, const char *vm_id, struct snap_tree *t, char *err,
		   size_t errlen)
{
	char path[VM_PATH_MAX + 128], *text;
	struct stat st;
	ssize_t n;
	int fd, r;

	snap_tree_init(t);
	tree_path(path, sizeof(path), state_dir, vm_id, "", "");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		r = -errno;
		if (fd >= 0)
			close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > TREE_FILE_MAX) {
		close(fd);
		snprintf(err, errlen, "%s: not a regular file of at most 16 MiB", path);
		return -EINVAL;
	}
	text = malloc((size_t)st.st_size + 1);
	n = text ? pread(fd, text, (size_t)st.st_size, 0) : -1;
	close(fd);
	if (n != st.st_size) {
		free(text);
		snprintf(err, errlen, "%s: cannot read it", path);
		return -EIO;
	}
	r = snap_tree_parse(text, (size_t)n, t, err, errlen);
	free(text);
	if (r < 0) {
		char why[512];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "the checkpoint record %s is damaged: %s", path, why);
	}
	return r;
}

int snap_tree_write(const char *state_dir, const char *vm_id, const struct snap_tree *t)
{
	char dir[VM_PATH_MAX + 32], path[VM_PATH_MAX + 128], tmp[VM_PATH_MAX + 128];
	struct json_object *o;
	const char *text;
	int fd, r = 0;
	size_t len;

	snprintf(dir, sizeof(dir), "%s/snapshots", state_dir);
	if (mkdir(dir, 0750) < 0 && errno != EEXIST)
		return -errno;
	tree_path(path, sizeof(path), state_dir, vm_id, "", "");
	tree_path(tmp, sizeof(tmp), state_dir, vm_id, ".", ".tmp");
	o = snap_tree_to_json(t);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
	len = strlen(text);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		r = -errno;
	else if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0)
		r = errno ? -errno : -EIO;
	if (fd >= 0 && close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
	} else {
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
	}
	json_object_put(o);
	return r;
}

int snap_tree_remove(const char *state_dir, const char *vm_id)
{
	char path[VM_PATH_MAX + 128];

	tree_path(path, sizeof(path), state_dir, vm_id, "", "");
	return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

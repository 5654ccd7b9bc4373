/* The VM inventory on disk; see inventory.h and docs/vmms.md. */
#include "vmms/inventory.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define RECORD_FILE_MAX (1024 * 1024)
#define RECORD_VERSION	1

void vm_record_init(struct vm_record *r)
{
	*r = (struct vm_record){.cpus = 1,
				.memory_bytes = 256ull << 20,
				.cpu_maximum = 100,
				.cpu_weight = 100,
				.generation = 2};
}

void vm_record_fini(struct vm_record *r)
{
	unsigned i;

	free(r->name);
	free(r->kernel);
	free(r->initrd);
	free(r->cmdline);
	free(r->boot_disk);
	free(r->notes);
	for (i = 0; i < r->ndisks; i++)
		free(r->disks[i].path);
	for (i = 0; i < r->ndvds; i++)
		free(r->dvds[i].path);
	free(r->startup_order);
	vm_record_init(r);
}

int vm_name_check(const char *name, char *err, size_t errlen)
{
	size_t len = strlen(name), i;

	if (len == 0) {
		snprintf(err, errlen, "a VM name cannot be empty");
		return -EINVAL;
	}
	if (len > VM_NAME_MAX) {
		snprintf(err, errlen, "the VM name is %zu bytes long; at most %d are allowed", len,
			 VM_NAME_MAX);
		return -EINVAL;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '/') {
			snprintf(err, errlen, "the VM name '%s' contains '/', which is not allowed",
				 name);
			return -EINVAL;
		}
		if (c < 0x20 || c == 0x7f) {
			snprintf(err, errlen,
				 "the VM name contains a control character (byte 0x%02x at %zu), "
				 "which is not allowed",
				 c, i);
			return -EINVAL;
		}
	}
	if (name[0] == ' ' || name[len - 1] == ' ') {
		snprintf(err, errlen, "the VM name '%s' begins or ends with a space", name);
		return -EINVAL;
	}
	return 0;
}

void vm_record_transition(struct vm_record *r, enum vm_state to, int64_t time_ms,
			  const char *reason, int64_t uid)
{
	struct vm_history_entry *e;

	if (r->nhistory == VM_HISTORY_MAX) {
		memmove(&r->history[0], &r->history[1],
			sizeof(r->history[0]) * (VM_HISTORY_MAX - 1));
		r->nhistory--;
	}
	e = &r->history[r->nhistory++];
	e->time_ms = time_ms;
	e->from = r->state;
	e->to = to;
	snprintf(e->reason, sizeof(e->reason), "%s", reason);
	e->uid = uid < 0 ? VM_BY_SERVICE : uid;
	r->state = to;
	snprintf(r->status, sizeof(r->status), "%s", reason);
}

static void add_str(struct json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, v ? json_object_new_string(v) : NULL);
}

struct json_object *vm_record_to_json(const struct vm_record *r)
{
	struct json_object *o = json_object_new_object(), *disks, *hist;
	unsigned i;

	json_object_object_add(o, "version", json_object_new_int(RECORD_VERSION));
	add_str(o, "id", r->id);
	add_str(o, "name", r->name);
	json_object_object_add(o, "generation", json_object_new_int((int)r->generation));
	json_object_object_add(o, "cpus", json_object_new_int((int)r->cpus));
	json_object_object_add(o, "processor_compatibility_for_migration",
			       json_object_new_boolean(r->processor_compat));
	json_object_object_add(o, "video", json_object_new_boolean(!r->no_video));
	json_object_object_add(o, "console_tcp", json_object_new_boolean(r->console_tcp));
	json_object_object_add(o, "processor_maximum", json_object_new_int((int)r->cpu_maximum));
	json_object_object_add(o, "processor_reserve", json_object_new_int((int)r->cpu_reserve));
	json_object_object_add(o, "processor_relative_weight",
			       json_object_new_int((int)r->cpu_weight));
	if (r->memory_maximum)
		json_object_object_add(o, "memory_maximum_bytes",
				       json_object_new_int64((int64_t)r->memory_maximum));
	json_object_object_add(o, "memory_bytes", json_object_new_int64((int64_t)r->memory_bytes));
	if (r->jail_uid)
		json_object_object_add(o, "jail_uid", json_object_new_int64(r->jail_uid));
	add_str(o, "kernel", r->kernel);
	add_str(o, "initrd", r->initrd);
	add_str(o, "cmdline", r->cmdline);
	add_str(o, "boot_disk", r->boot_disk);
	add_str(o, "notes", r->notes);
	disks = json_object_new_array();
	for (i = 0; i < r->ndisks; i++) {
		struct json_object *d = json_object_new_object();

		add_str(d, "path", r->disks[i].path);
		json_object_object_add(d, "readonly",
				       json_object_new_boolean(r->disks[i].readonly));
		json_object_object_add(d, "controller",
				       json_object_new_int((int)r->disks[i].controller));
		json_object_object_add(d, "lun", json_object_new_int((int)r->disks[i].lun));
		if (r->disks[i].ide)
			json_object_object_add(d, "ide", json_object_new_boolean(1));
		json_object_array_add(disks, d);
	}
	json_object_object_add(o, "disks", disks);
	if (r->generation == 1) {
		struct json_object *dvds = json_object_new_array();

		for (i = 0; i < r->ndvds; i++) {
			struct json_object *d = json_object_new_object();

			add_str(d, "path", r->dvds[i].path);
			json_object_object_add(d, "controller",
					       json_object_new_int((int)r->dvds[i].controller));
			json_object_object_add(d, "location",
					       json_object_new_int((int)r->dvds[i].location));
			json_object_array_add(dvds, d);
		}
		json_object_object_add(o, "dvd_drives", dvds);
		add_str(o, "startup_order", r->startup_order);
	}
	add_str(o, "state", vm_state_name(r->state));
	add_str(o, "status", r->status);
	hist = json_object_new_array();
	for (i = 0; i < r->nhistory; i++) {
		struct json_object *h = json_object_new_object();

		json_object_object_add(h, "time_ms", json_object_new_int64(r->history[i].time_ms));
		add_str(h, "from", vm_state_name(r->history[i].from));
		add_str(h, "to", vm_state_name(r->history[i].to));
		add_str(h, "reason", r->history[i].reason);
		if (r->history[i].uid != VM_BY_SERVICE)
			json_object_object_add(h, "uid", json_object_new_int64(r->history[i].uid));
		json_object_array_add(hist, h);
	}
	json_object_object_add(o, "history", hist);
	return o;
}

/* Reads a string member into *field (NULL if absent or null); -EINVAL if mistyped or too long. */
static int get_str(struct json_object *o, const char *key, size_t max, bool required, char **field,
		   char *err, size_t errlen)
{
	struct json_object *v;
	const char *s;

	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
		if (!required)
			return 0;
		snprintf(err, errlen, "\"%s\" is missing", key);
		return -EINVAL;
	}
	if (!json_object_is_type(v, json_type_string)) {
		snprintf(err, errlen, "\"%s\" is not a string", key);
		return -EINVAL;
	}
	s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) > max ||
	    strlen(s) != (size_t)json_object_get_string_len(v)) {
		snprintf(err, errlen, "\"%s\" is too long or contains a NUL", key);
		return -EINVAL;
	}
	*field = strdup(s);
	return *field ? 0 : -ENOMEM;
}

static int get_int(struct json_object *o, const char *key, int64_t min, int64_t max, int64_t *ret,
		   char *err, size_t errlen)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < min || json_object_get_int64(v) > max) {
		snprintf(err, errlen, "\"%s\" is missing or not an integer in %lld..%lld", key,
			 (long long)min, (long long)max);
		return -EINVAL;
	}
	*ret = json_object_get_int64(v);
	return 0;
}

static int parse_disks(struct json_object *root, struct vm_record *r, char *err, size_t errlen)
{
	struct json_object *disks;
	size_t i, n;
	int rc;

	if (!json_object_object_get_ex(root, "disks", &disks) ||
	    json_object_is_type(disks, json_type_null))
		return 0;
	if (!json_object_is_type(disks, json_type_array) ||
	    json_object_array_length(disks) > VM_MAX_DISKS) {
		snprintf(err, errlen, "\"disks\" is not an array of at most %d disks",
			 VM_MAX_DISKS);
		return -EINVAL;
	}
	n = json_object_array_length(disks);
	for (i = 0; i < n; i++) {
		struct json_object *d = json_object_array_get_idx(disks, i), *ro;
		struct vm_disk *disk = &r->disks[r->ndisks];
		int64_t v;

		if (!json_object_is_type(d, json_type_object)) {
			snprintf(err, errlen, "disk %zu is not an object", i);
			return -EINVAL;
		}
		rc = get_str(d, "path", VM_PATH_MAX, true, &disk->path, err, errlen);
		if (rc < 0)
			return rc;
		r->ndisks++;
		if (json_object_object_get_ex(d, "readonly", &ro))
			disk->readonly = json_object_get_boolean(ro);
		if (get_int(d, "controller", 0, 255, &v, err, errlen) < 0)
			return -EINVAL;
		disk->controller = (unsigned)v;
		if (get_int(d, "lun", 0, 255, &v, err, errlen) < 0)
			return -EINVAL;
		disk->lun = (unsigned)v;
		if (json_object_object_get_ex(d, "ide", &ro))
			disk->ide = json_object_get_boolean(ro);
		if (disk->ide &&
		    (r->generation != 1 || disk->controller >= VM_IDE_CHANNELS || disk->lun >= 2)) {
			snprintf(err, errlen,
				 "disk %zu: IDE needs generation 1, channel 0-1 and location 0-1",
				 i);
			return -EINVAL;
		}
	}
	return 0;
}

/* "dvd_drives" (generation 1): [{"path": ISO or null, "controller": C, "location": L}]. */
static int parse_dvds(struct json_object *root, struct vm_record *r, char *err, size_t errlen)
{
	struct json_object *dvds;
	size_t i, n;

	if (!json_object_object_get_ex(root, "dvd_drives", &dvds) ||
	    json_object_is_type(dvds, json_type_null))
		return 0;
	if (r->generation != 1 || !json_object_is_type(dvds, json_type_array) ||
	    json_object_array_length(dvds) > VM_IDE_PLACES) {
		snprintf(err, errlen,
			 "\"dvd_drives\" is not an array of at most %d drives of a generation 1 "
			 "VM",
			 VM_IDE_PLACES);
		return -EINVAL;
	}
	n = json_object_array_length(dvds);
	for (i = 0; i < n; i++) {
		struct json_object *d = json_object_array_get_idx(dvds, i);
		struct vm_dvd *dvd = &r->dvds[r->ndvds];
		int64_t v;
		int rc;

		if (!json_object_is_type(d, json_type_object)) {
			snprintf(err, errlen, "DVD drive %zu is not an object", i);
			return -EINVAL;
		}
		rc = get_str(d, "path", VM_PATH_MAX, false, &dvd->path, err, errlen);
		if (rc < 0)
			return rc;
		r->ndvds++;
		if (get_int(d, "controller", 0, VM_IDE_CHANNELS - 1, &v, err, errlen) < 0)
			return -EINVAL;
		dvd->controller = (unsigned)v;
		if (get_int(d, "location", 0, 1, &v, err, errlen) < 0)
			return -EINVAL;
		dvd->location = (unsigned)v;
	}
	return 0;
}

static int parse_history(struct json_object *root, struct vm_record *r, char *err, size_t errlen)
{
	struct json_object *hist;
	size_t i, n, first;

	if (!json_object_object_get_ex(root, "history", &hist) ||
	    json_object_is_type(hist, json_type_null))
		return 0;
	if (!json_object_is_type(hist, json_type_array)) {
		snprintf(err, errlen, "\"history\" is not an array");
		return -EINVAL;
	}
	n = json_object_array_length(hist);
	first = n > VM_HISTORY_MAX ? n - VM_HISTORY_MAX : 0;
	for (i = first; i < n; i++) {
		struct json_object *h = json_object_array_get_idx(hist, i), *v;
		struct vm_history_entry *e = &r->history[r->nhistory];
		int from, to;

		if (!json_object_is_type(h, json_type_object) ||
		    !json_object_object_get_ex(h, "from", &v) ||
		    (from = vm_state_from_name(json_object_get_string(v))) < 0 ||
		    !json_object_object_get_ex(h, "to", &v) ||
		    (to = vm_state_from_name(json_object_get_string(v))) < 0) {
			snprintf(err, errlen, "history entry %zu is malformed", i);
			return -EINVAL;
		}
		e->from = (enum vm_state)from;
		e->to = (enum vm_state)to;
		e->time_ms =
			json_object_object_get_ex(h, "time_ms", &v) ? json_object_get_int64(v) : 0;
		snprintf(e->reason, sizeof(e->reason), "%s",
			 json_object_object_get_ex(h, "reason", &v) &&
					 json_object_is_type(v, json_type_string)
				 ? json_object_get_string(v)
				 : "");
		e->uid = json_object_object_get_ex(h, "uid", &v) &&
					 json_object_is_type(v, json_type_int) &&
					 json_object_get_int64(v) >= 0 &&
					 json_object_get_int64(v) <= UINT32_MAX
				 ? json_object_get_int64(v)
				 : VM_BY_SERVICE;
		r->nhistory++;
	}
	return 0;
}

int vm_record_parse(const char *text, size_t len, struct vm_record *r, char *err, size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *root = NULL, *v;
	struct guid g;
	char *s = NULL;
	int64_t n;
	int rc = -EINVAL, st;

	vm_record_init(r);
	if (len > RECORD_FILE_MAX) {
		snprintf(err, errlen, "larger than %d bytes", RECORD_FILE_MAX);
		return -EINVAL;
	}
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, text, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success) {
		snprintf(err, errlen, "not valid JSON (%s at byte %zu)",
			 json_tokener_error_desc(json_tokener_get_error(tok)),
			 json_tokener_get_parse_end(tok));
		goto out;
	}
	if (!json_object_is_type(root, json_type_object)) {
		snprintf(err, errlen, "not a JSON object");
		goto out;
	}
	if (get_int(root, "version", RECORD_VERSION, RECORD_VERSION, &n, err, errlen) < 0)
		goto out;
	if ((rc = get_str(root, "id", GUID_STRING_LEN, true, &s, err, errlen)) < 0)
		goto out;
	rc = -EINVAL;
	if (guid_parse(s, &g) < 0) {
		snprintf(err, errlen, "\"id\" is not a GUID");
		goto out;
	}
	guid_format(&g, r->id);
	if ((rc = get_str(root, "name", VM_NAME_MAX, true, &r->name, err, errlen)) < 0)
		goto out;
	rc = -EINVAL;
	if (vm_name_check(r->name, err, errlen) < 0)
		goto out;
	if (get_int(root, "cpus", 1, VM_MAX_CPUS, &n, err, errlen) < 0)
		goto out;
	r->cpus = (unsigned)n;
	/* Absent in files older than generation 1: generation 2. */
	if (json_object_object_get_ex(root, "generation", NULL)) {
		if (get_int(root, "generation", 1, 2, &n, err, errlen) < 0)
			goto out;
		r->generation = (unsigned)n;
	}
	if (json_object_object_get_ex(root, "processor_compatibility_for_migration", &v)) {
		if (!json_object_is_type(v, json_type_boolean)) {
			snprintf(err, errlen,
				 "\"processor_compatibility_for_migration\" is not a boolean");
			goto out;
		}
		r->processor_compat = json_object_get_boolean(v);
	}
	/* Absent in files older than the console devices: video on, Hyper-V's default. */
	if (json_object_object_get_ex(root, "video", &v)) {
		if (!json_object_is_type(v, json_type_boolean)) {
			snprintf(err, errlen, "\"video\" is not a boolean");
			goto out;
		}
		r->no_video = !json_object_get_boolean(v);
	}
	/* Absent in files older than the TCP console: off. */
	if (json_object_object_get_ex(root, "console_tcp", &v)) {
		if (!json_object_is_type(v, json_type_boolean)) {
			snprintf(err, errlen, "\"console_tcp\" is not a boolean");
			goto out;
		}
		r->console_tcp = json_object_get_boolean(v);
	}
	/* Absent in files older than the resource controls: the defaults. */
	if (json_object_object_get_ex(root, "processor_maximum", NULL)) {
		if (get_int(root, "processor_maximum", 1, 100, &n, err, errlen) < 0)
			goto out;
		r->cpu_maximum = (unsigned)n;
	}
	if (json_object_object_get_ex(root, "processor_reserve", NULL)) {
		if (get_int(root, "processor_reserve", 0, 100, &n, err, errlen) < 0)
			goto out;
		r->cpu_reserve = (unsigned)n;
	}
	if (json_object_object_get_ex(root, "processor_relative_weight", NULL)) {
		if (get_int(root, "processor_relative_weight", 1, VM_CPU_WEIGHT_MAX, &n, err,
			    errlen) < 0)
			goto out;
		r->cpu_weight = (unsigned)n;
	}
	if (json_object_object_get_ex(root, "memory_maximum_bytes", NULL)) {
		if (get_int(root, "memory_maximum_bytes", (int64_t)VM_MIN_MEMORY, INT64_MAX, &n,
			    err, errlen) < 0)
			goto out;
		r->memory_maximum = (uint64_t)n;
	}
	if (json_object_object_get_ex(root, "jail_uid", NULL)) {
		if (get_int(root, "jail_uid", 1, (int64_t)UINT32_MAX - 1, &n, err, errlen) < 0)
			goto out;
		r->jail_uid = (uint32_t)n;
	}
	if (get_int(root, "memory_bytes", (int64_t)VM_MIN_MEMORY, INT64_MAX, &n, err, errlen) < 0)
		goto out;
	r->memory_bytes = (uint64_t)n;
	if ((rc = get_str(root, "kernel", VM_PATH_MAX, false, &r->kernel, err, errlen)) < 0 ||
	    (rc = get_str(root, "initrd", VM_PATH_MAX, false, &r->initrd, err, errlen)) < 0 ||
	    (rc = get_str(root, "cmdline", VM_CMDLINE_MAX, false, &r->cmdline, err, errlen)) < 0 ||
	    (rc = get_str(root, "boot_disk", VM_PATH_MAX, false, &r->boot_disk, err, errlen)) < 0 ||
	    (rc = get_str(root, "notes", VM_NOTES_MAX, false, &r->notes, err, errlen)) < 0 ||
	    (rc = get_str(root, "startup_order", 256, false, &r->startup_order, err, errlen)) < 0 ||
	    (rc = parse_disks(root, r, err, errlen)) < 0 ||
	    (rc = parse_dvds(root, r, err, errlen)) < 0 ||
	    (rc = parse_history(root, r, err, errlen)) < 0)
		goto out;
	rc = -EINVAL;
	if (!json_object_object_get_ex(root, "state", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    (st = vm_state_from_name(json_object_get_string(v))) < 0) {
		snprintf(err, errlen, "\"state\" is missing or not a state name");
		goto out;
	}
	r->state = (enum vm_state)st;
	if (json_object_object_get_ex(root, "status", &v) &&
	    json_object_is_type(v, json_type_string))
		snprintf(r->status, sizeof(r->status), "%s", json_object_get_string(v));
	rc = 0;
out:
	free(s);
	json_object_put(root);
	json_tokener_free(tok);
	if (rc < 0)
		vm_record_fini(r);
	return rc;
}

static int mkdir_p(const char *path)
{
	return mkdir(path, 0750) < 0 && errno != EEXIST ? -errno : 0;
}

int inventory_prepare(const char *state_dir, char *err, size_t errlen)
{
	char p[VM_PATH_MAX + 16];
	int r;

	if ((r = mkdir_p(state_dir)) < 0) {
		snprintf(err, errlen, "state directory %s: %s", state_dir, strerror(-r));
		return r;
	}
	snprintf(p, sizeof(p), "%s/vms", state_dir);
	if ((r = mkdir_p(p)) < 0) {
		snprintf(err, errlen, "%s: %s", p, strerror(-r));
		return r;
	}
	snprintf(p, sizeof(p), "%s/run", state_dir);
	if ((r = mkdir_p(p)) < 0) {
		snprintf(err, errlen, "%s: %s", p, strerror(-r));
		return r;
	}
	return 0;
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

int inventory_write(const char *state_dir, const struct vm_record *r)
{
	char dir[VM_PATH_MAX], path[VM_PATH_MAX + 64], tmp[VM_PATH_MAX + 64];
	struct json_object *o = vm_record_to_json(r);
	const char *text;
	size_t len, off = 0;
	int fd, rc = 0;

	if (!o)
		return -ENOMEM;
	snprintf(dir, sizeof(dir), "%s/vms", state_dir);
	snprintf(path, sizeof(path), "%s/%s.json", dir, r->id);
	snprintf(tmp, sizeof(tmp), "%s/.%s.json.tmp", dir, r->id);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
	len = strlen(text);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)n;
	}
	if (rc == 0 && (write(fd, "\n", 1) != 1 || fsync(fd) < 0))
		rc = errno ? -errno : -EIO;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc == 0)
		rc = sync_dir(dir);
	else
		unlink(tmp);
out:
	json_object_put(o);
	return rc;
}

int inventory_remove(const char *state_dir, const char *id)
{
	char dir[VM_PATH_MAX], path[VM_PATH_MAX + 64];

	snprintf(dir, sizeof(dir), "%s/vms", state_dir);
	snprintf(path, sizeof(path), "%s/%s.json", dir, id);
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return sync_dir(dir);
}

static int read_file(int dirfd, const char *name, char **ret, size_t *len)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	char *buf;
	size_t used = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	buf = malloc(RECORD_FILE_MAX + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while ((n = read(fd, buf + used, RECORD_FILE_MAX + 1 - used)) > 0)
		used += (size_t)n;
	close(fd);
	if (n < 0) {
		free(buf);
		return -EIO;
	}
	*ret = buf;
	*len = used;
	return 0;
}

static int cmp_names(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_record(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 5 && !strcmp(d->d_name + n - 5, ".json");
}

int inventory_load(const char *state_dir, inventory_load_fn fn, void *opaque)
{
	char dir[VM_PATH_MAX];
	struct dirent **ents;
	int n, i, dirfd;

	snprintf(dir, sizeof(dir), "%s/vms", state_dir);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	n = scandir(dir, &ents, is_record, cmp_names);
	if (n < 0) {
		close(dirfd);
		return -errno;
	}
	for (i = 0; i < n; i++) {
		char id[256], err[400];
		struct vm_record r;
		char *text = NULL;
		size_t len = 0;
		int rc;

		snprintf(id, sizeof(id), "%.*s", (int)strlen(ents[i]->d_name) - 5, ents[i]->d_name);
		rc = read_file(dirfd, ents[i]->d_name, &text, &len);
		if (rc < 0)
			snprintf(err, sizeof(err), "%s", strerror(-rc));
		else
			rc = vm_record_parse(text, len, &r, err, sizeof(err));
		if (rc == 0 && strcmp(r.id, id)) {
			snprintf(err, sizeof(err), "the file is named %s.json but holds VM %s", id,
				 r.id);
			vm_record_fini(&r);
			rc = -EINVAL;
		}
		fn(opaque, id, rc == 0 ? &r : NULL, rc == 0 ? NULL : err);
		free(text);
		free(ents[i]);
	}
	free(ents);
	close(dirfd);
	return 0;
}

int vm_id_new(char id[GUID_STRING_LEN])
{
	struct guid g;

	if (getrandom(g.bytes, sizeof(g.bytes), 0) != sizeof(g.bytes))
		return -EIO;
	g.bytes[7] = (uint8_t)((g.bytes[7] & 0x0f) | 0x40); /* version 4 (Data3's high byte) */
	g.bytes[8] = (uint8_t)((g.bytes[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	guid_format(&g, id);
	return 0;
}

/* Disk settings of the worker's configuration (disk_config.h). */
#include "vmwp/disk_config.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse_index(const char *s, unsigned max, unsigned *ret)
{
	char *end;
	unsigned long n;

	if (!*s || s[0] == '-' || s[0] == '+')
		return -EINVAL;
	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || *end || n > max)
		return -EINVAL;
	*ret = (unsigned)n;
	return 0;
}

int disk_config_parse(const char *spec, struct disk_config *ret, char *err, size_t errlen)
{
	struct disk_config d = DISK_CONFIG_INIT;
	char *copy = strdup(spec), *opt, *save = NULL;
	unsigned n;

	if (!copy)
		return -ENOMEM;
	opt = strtok_r(copy, ",", &save);
	if (!opt || spec[0] == ',') {
		snprintf(err, errlen, "--disk '%s': no file name", spec);
		goto bad;
	}
	d.path = strdup(opt);
	if (!d.path) {
		free(copy);
		return -ENOMEM;
	}
	while ((opt = strtok_r(NULL, ",", &save))) {
		if (!strcmp(opt, "readonly") || !strcmp(opt, "ro")) {
			d.read_only = true;
		} else if (!strncmp(opt, "controller=", 11)) {
			if (parse_index(opt + 11, STORAGE_MAX_CONTROLLERS - 1, &d.controller) < 0) {
				snprintf(err, errlen, "--disk '%s': controller must be 0 to %u",
					 spec, STORAGE_MAX_CONTROLLERS - 1);
				goto bad;
			}
		} else if (!strncmp(opt, "lun=", 4)) {
			if (parse_index(opt + 4, STORAGE_MAX_LUN, &n) < 0) {
				snprintf(err, errlen, "--disk '%s': lun must be 0 to %u", spec,
					 STORAGE_MAX_LUN);
				goto bad;
			}
			d.lun = (int)n;
		} else if (!strncmp(opt, "ide=", 4)) {
			unsigned ch, unit;
			char extra;

			if (sscanf(opt + 4, "%u:%u%c", &ch, &unit, &extra) != 2 ||
			    ch >= IDE_CHANNELS || unit >= IDE_UNITS) {
				snprintf(err, errlen,
					 "--disk '%s': ide=C:U needs channel 0 or 1 and unit 0 or "
					 "1",
					 spec);
				goto bad;
			}
			d.ide = true;
			d.controller = ch;
			d.lun = (int)unit;
		} else {
			snprintf(err, errlen,
				 "--disk '%s': unknown option '%s' (readonly, controller=N, lun=N, "
				 "ide=C:U)",
				 spec, opt);
			goto bad;
		}
	}
	free(copy);
	*ret = d;
	return 0;
bad:
	free(copy);
	free(d.path);
	return -EINVAL;
}

/* "parents": [{"path": "...", "fd": N}, ...] into d (replacing any). 0 or -EINVAL. */
static int parse_parents(struct json_object *arr, struct disk_config *d)
{
	size_t i, n = json_object_array_length(arr);

	for (i = 0; i < d->nparents; i++)
		free((char *)d->parents[i].path);
	d->nparents = 0;
	for (i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(arr, i), *p, *f;
		int64_t fd;

		if (!json_object_object_get_ex(o, "path", &p) ||
		    !json_object_is_type(p, json_type_string) ||
		    !json_object_object_get_ex(o, "fd", &f) ||
		    !json_object_is_type(f, json_type_int))
			return -EINVAL;
		fd = json_object_get_int64(f);
		if (fd < 0 || fd >= INT32_MAX || json_object_object_length(o) != 2)
			return -EINVAL;
		d->parents[d->nparents].path = strdup(json_object_get_string(p));
		if (!d->parents[d->nparents].path)
			return -EINVAL;
		d->parents[d->nparents++].fd = (int)fd;
	}
	return 0;
}

int disk_config_from_json(struct json_object *o, struct disk_config *ret, char *err, size_t errlen)
{
	struct disk_config d = DISK_CONFIG_INIT;

	if (!json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "\"disks\": each disk must be an object");
		return -EINVAL;
	}
	json_object_object_foreach(o, key, v)
	{
		enum json_type t = json_object_get_type(v);
		int64_t n = json_object_get_int64(v);

		if (!strcmp(key, "path") && t == json_type_string) {
			free(d.path);
			d.path = strdup(json_object_get_string(v));
			if (!d.path)
				return -ENOMEM;
		} else if (!strcmp(key, "readonly") && t == json_type_boolean) {
			d.read_only = json_object_get_boolean(v);
		} else if (!strcmp(key, "ide") && t == json_type_boolean) {
			d.ide = json_object_get_boolean(v);
		} else if (!strcmp(key, "controller") && t == json_type_int && n >= 0 &&
			   n < STORAGE_MAX_CONTROLLERS) {
			d.controller = (unsigned)n;
		} else if (!strcmp(key, "lun") && t == json_type_int && n >= 0 &&
			   n <= STORAGE_MAX_LUN) {
			d.lun = (int)n;
		} else if ((!strcmp(key, "fd") || !strcmp(key, "direct-fd")) &&
			   t == json_type_int && n >= 0 && n < INT32_MAX) {
			*(key[0] == 'f' ? &d.fd : &d.direct_fd) = (int)n;
		} else if (!strcmp(key, "parents") && t == json_type_array &&
			   json_object_array_length(v) <= DISK_MAX_PARENTS &&
			   parse_parents(v, &d) == 0) {
			continue;
		} else {
			snprintf(err, errlen, "\"disks\": invalid \"%s\": %.64s", key,
				 json_object_to_json_string(v));
			disk_config_fini(&d);
			return -EINVAL;
		}
	}
	if (d.ide && disk_config_ide_index(&d) < 0) {
		snprintf(err, errlen,
			 "\"disks\": an IDE disk needs \"controller\" 0 or 1 (the channel) and "
			 "\"lun\" 0 or 1 (master, slave)");
		disk_config_fini(&d);
		return -EINVAL;
	}
	if (!d.path || !d.path[0] || (d.fd < 0 && (d.direct_fd >= 0 || d.nparents))) {
		snprintf(err, errlen,
			 d.path && d.path[0]
				 ? "\"disks\": \"direct-fd\" and \"parents\" need \"fd\""
				 : "\"disks\": each disk needs a \"path\"");
		disk_config_fini(&d);
		return -EINVAL;
	}
	*ret = d;
	return 0;
}

void disk_config_close_fds(struct disk_config *d)
{
	unsigned i;

	if (d->fd >= 0)
		close(d->fd);
	if (d->direct_fd >= 0)
		close(d->direct_fd);
	d->fd = d->direct_fd = -1;
	for (i = 0; i < d->nparents; i++) {
		if (d->parents[i].fd >= 0)
			close(d->parents[i].fd);
		d->parents[i].fd = -1;
	}
}

void disk_config_fini(struct disk_config *d)
{
	unsigned i;

	for (i = 0; i < d->nparents; i++)
		free((char *)d->parents[i].path);
	d->nparents = 0;
	free(d->path);
	d->path = NULL;
}

int disk_config_check(const struct disk_config *disks, unsigned n, char *err, size_t errlen)
{
	unsigned i, k, per[STORAGE_MAX_CONTROLLERS] = {0};

	for (i = 0; i < n; i++) {
		if (disks[i].ide)
			continue;
		if (++per[disks[i].controller] > STORAGE_MAX_LUN + 1) {
			snprintf(err, errlen, "disks: more than %u on controller %u",
				 STORAGE_MAX_LUN + 1, disks[i].controller);
			return -EINVAL;
		}
		if (disks[i].lun < 0)
			continue;
		for (k = 0; k < i; k++)
			if (!disks[k].ide && disks[k].controller == disks[i].controller &&
			    disks[k].lun == disks[i].lun) {
				snprintf(err, errlen,
					 "disks: %s and %s both on controller %u, lun %d",
					 disks[k].path, disks[i].path, disks[i].controller,
					 disks[i].lun);
				return -EINVAL;
			}
	}
	return 0;
}

int disk_config_ide_index(const struct disk_config *d)
{
	if (!d->ide || d->controller >= IDE_CHANNELS || d->lun < 0 || d->lun >= IDE_UNITS)
		return -EINVAL;
	return (int)(d->controller * IDE_UNITS + (unsigned)d->lun);
}

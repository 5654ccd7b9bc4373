/* The worker's SCSI controllers and disks (storage.h). */
#include "vmwp/storage.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk/disk.h"
#include "vsp/storvsp/storvsp.h"
#include "base/compiler.h"
#include "vmwp/status_json.h"

struct storage {
	struct vmbus_server *server;
	struct guest_memory *mem;
	unsigned vcpus;
	const char *const *parent_dirs; /* where parents may be (the worker's config keeps them) */
	pthread_mutex_t lock;		/* hot add/remove against each other */
	struct storvsp *ctl[STORAGE_MAX_CONTROLLERS];
	char *paths[STORAGE_MAX_CONTROLLERS][STORAGE_MAX_LUN + 1];
	struct storvsp *ide[IDE_CHANNELS * IDE_UNITS]; /* generation 1's IDE disks over VMBus */
};

static int attach(struct storage *s, const struct disk_config *d, char *err, size_t errlen)
{
	struct storvsp *sp = s->ctl[d->controller];
	struct disk *disk;
	char why[256] = "";
	int lun = d->lun, r;

	if (!sp) {
		snprintf(err, errlen, "no SCSI controller %u", d->controller);
		return -ENODEV;
	}
	if (lun < 0) {
		lun = storvsp_free_lun(sp);
		if (lun < 0) {
			snprintf(err, errlen, "controller %u has no free LUN", d->controller);
			return lun;
		}
	} else if (storvsp_has_disk(sp, (unsigned)lun)) {
		snprintf(err, errlen, "controller %u, lun %d is taken", d->controller, lun);
		return -EEXIST;
	}
	if (d->opened) {
		disk = disk_ref(d->opened);
		r = 0;
	} else {
		r = disk_open_in(d->path, d->read_only ? DISK_OPEN_READ_ONLY : 0, s->parent_dirs,
				 &disk, why, sizeof(why));
	}
	if (r < 0) {
		snprintf(err, errlen, "--disk %s: %s", d->path, why[0] ? why : strerror(-r));
		return r;
	}
	r = storvsp_add_disk(sp, (unsigned)lun, disk, d->read_only);
	if (r < 0) {
		disk_close(disk);
		snprintf(err, errlen, "--disk %s: %s", d->path, strerror(-r));
		return r;
	}
	free(s->paths[d->controller][lun]);
	s->paths[d->controller][lun] = strdup(d->path);
	return lun;
}

static int ensure_controller(struct storage *s, unsigned i, char *err, size_t errlen)
{
	struct storvsp_config cfg = {
		.server = s->server, .mem = s->mem, .controller = i, .vcpus = s->vcpus};
	int r;

	if (s->ctl[i])
		return 0;
	r = storvsp_new(&cfg, &s->ctl[i]);
	if (r < 0)
		snprintf(err, errlen, "SCSI controller %u: %s", i, strerror(-r));
	return r;
}

int storage_new(struct vmbus_server *server, struct guest_memory *mem, unsigned vcpus,
		const struct disk_config *disks, unsigned ndisks, const char *const *parent_dirs,
		struct storage **ret, bool *config_error, char *err, size_t errlen)
{
	struct storage *s = calloc(1, sizeof(*s));
	unsigned i, pass;
	int r = 0;

	if (!s)
		return -ENOMEM;
	s->server = server;
	s->mem = mem;
	s->vcpus = vcpus;
	s->parent_dirs = parent_dirs;
	pthread_mutex_init(&s->lock, NULL);
	/* Controllers in index order, so their relids (and the guest's host numbers) follow. */
	for (i = 0; r == 0 && i < STORAGE_MAX_CONTROLLERS; i++) {
		unsigned k;

		for (k = 0; k < ndisks; k++)
			if (disks[k].controller == i)
				break;
		if (k < ndisks)
			r = ensure_controller(s, i, err, errlen);
	}
	/* Disks with a LUN first, then the others in the lowest free LUNs. */
	for (pass = 0; r >= 0 && pass < 2; pass++)
		for (i = 0; r >= 0 && i < ndisks; i++)
			if ((disks[i].lun >= 0) == (pass == 0)) {
				r = attach(s, &disks[i], err, errlen);
				if (r < 0)
					*config_error = true;
			}
	if (r < 0) {
		storage_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

int storage_add_ide(struct storage *s, unsigned channel, unsigned unit, struct disk *d,
		    bool read_only, char *err, size_t errlen)
{
	struct storvsp_config cfg = {.server = s->server,
				     .mem = s->mem,
				     .vcpus = 1,
				     .ide = true,
				     .ide_channel = channel,
				     .ide_unit = unit};
	unsigned k = channel * IDE_UNITS + unit;
	int r;

	if (channel >= IDE_CHANNELS || unit >= IDE_UNITS || s->ide[k]) {
		disk_close(d);
		snprintf(err, errlen, "IDE %u:%u over VMBus: no such place, or taken", channel,
			 unit);
		return -EINVAL;
	}
	r = storvsp_new(&cfg, &s->ide[k]);
	if (r == 0)
		r = storvsp_add_disk(s->ide[k], 0, d, read_only); /* owns d once it succeeds */
	if (r < 0) {
		disk_close(d);
		snprintf(err, errlen, "IDE %u:%u over VMBus: %s", channel, unit, strerror(-r));
	}
	return r;
}

struct storage *storage_free(struct storage *s)
{
	unsigned i, k;

	if (!s)
		return NULL;
	for (i = 0; i < IDE_CHANNELS * IDE_UNITS; i++)
		storvsp_free(s->ide[i]);
	for (i = 0; i < STORAGE_MAX_CONTROLLERS; i++) {
		storvsp_free(s->ctl[i]);
		for (k = 0; k <= STORAGE_MAX_LUN; k++)
			free(s->paths[i][k]);
	}
	pthread_mutex_destroy(&s->lock);
	free(s);
	return NULL;
}

int storage_add_disk(struct storage *s, const struct disk_config *d, char *err, size_t errlen)
{
	int r;

	if (d->controller >= STORAGE_MAX_CONTROLLERS || d->lun > STORAGE_MAX_LUN) {
		snprintf(err, errlen, "no such controller or LUN");
		return -EINVAL;
	}
	pthread_mutex_lock(&s->lock);
	r = attach(s, d, err, errlen);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int storage_remove_disk(struct storage *s, unsigned controller, unsigned lun, char *err,
			size_t errlen)
{
	int r;

	if (controller >= STORAGE_MAX_CONTROLLERS || lun > STORAGE_MAX_LUN || !s->ctl[controller]) {
		snprintf(err, errlen, "no SCSI controller %u", controller);
		return -ENODEV;
	}
	pthread_mutex_lock(&s->lock);
	r = storvsp_remove_disk(s->ctl[controller], lun);
	if (r == 0) {
		free(s->paths[controller][lun]);
		s->paths[controller][lun] = NULL;
	} else {
		snprintf(err, errlen, "no disk at controller %u, lun %u", controller, lun);
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* A storvsp channel's counters, in the order the status lists them (docs/control.md). */
static const struct status_counter channel_counters[] = {
	STATUS_COUNTER(struct storvsp_channel_stats, requests),
	STATUS_COUNTER(struct storvsp_channel_stats, completions),
	STATUS_COUNTER(struct storvsp_channel_stats, signals_in),
	STATUS_COUNTER(struct storvsp_channel_stats, interrupts_out),
	STATUS_COUNTER(struct storvsp_channel_stats, ring_full),
	STATUS_COUNTER(struct storvsp_channel_stats, queue_full),
	STATUS_COUNTER(struct storvsp_channel_stats, busy),
	STATUS_COUNTER(struct storvsp_channel_stats, aborted),
	STATUS_COUNTER(struct storvsp_channel_stats, max_requests),
	STATUS_COUNTER(struct storvsp_channel_stats, inflight_max),
	STATUS_COUNTER(struct storvsp_channel_stats, bad_packets),
};

/* A disk's SCSI counters. */
static const struct status_counter lun_counters[] = {
	STATUS_COUNTER(struct scsi_lun_stats, commands),
	STATUS_COUNTER(struct scsi_lun_stats, reads),
	STATUS_COUNTER(struct scsi_lun_stats, writes),
	STATUS_COUNTER(struct scsi_lun_stats, flushes),
	STATUS_COUNTER(struct scsi_lun_stats, unmaps),
	STATUS_COUNTER(struct scsi_lun_stats, bytes_read),
	STATUS_COUNTER(struct scsi_lun_stats, bytes_written),
	STATUS_COUNTER(struct scsi_lun_stats, errors_illegal_request),
	STATUS_COUNTER(struct scsi_lun_stats, errors_write_protect),
	STATUS_COUNTER(struct scsi_lun_stats, errors_io),
};

static struct json_object *controller_json(struct storage *s, unsigned i)
{
	struct json_object *o = json_object_new_object(), *chans = json_object_new_array();
	struct json_object *disks = json_object_new_array();
	struct storvsp *sp = s->ctl[i];
	struct storvsp_stats st;
	char version[16];
	unsigned k;

	storvsp_get_stats(sp, &st);
	status_add_int(o, "controller", i);
	snprintf(version, sizeof(version), "%u.%u", st.version >> 8, st.version & 0xff);
	json_object_object_add(o, "protocol", st.version ? json_object_new_string(version) : NULL);
	status_add_int(o, "bad_packets", st.bad_packets);
	status_add_int(o, "protocol_errors", st.protocol_errors);
	status_add_int(o, "rescans", st.rescans);
	for (k = 0; k < st.channels; k++) {
		struct storvsp_channel_stats cs;
		struct json_object *c;

		if (!storvsp_get_channel_stats(sp, k, &cs))
			continue;
		c = json_object_new_object();
		status_add_int(c, "subchannel_index", cs.subchannel_index);
		status_add_int(c, "relid", cs.relid);
		json_object_object_add(c, "state",
				       json_object_new_string(vmbus_channel_state_name(cs.state)));
		status_add_counters(c, &cs, channel_counters, ARRAY_SIZE(channel_counters));
		json_object_array_add(chans, c);
	}
	json_object_object_add(o, "channels", chans);
	for (k = 0; k <= STORAGE_MAX_LUN; k++) {
		struct scsi_lun_stats ls;
		struct disk_info info;
		struct json_object *d;
		bool ro;

		if (!storvsp_get_disk_stats(sp, k, &ls, &info, &ro))
			continue;
		d = json_object_new_object();
		status_add_int(d, "lun", k);
		json_object_object_add(
			d, "path", s->paths[i][k] ? json_object_new_string(s->paths[i][k]) : NULL);
		json_object_object_add(d, "format",
				       json_object_new_string(disk_format_name(info.format)));
		status_add_int(d, "size", info.size);
		json_object_object_add(d, "readonly", json_object_new_boolean(ro));
		status_add_counters(d, &ls, lun_counters, ARRAY_SIZE(lun_counters));
		json_object_array_add(disks, d);
	}
	json_object_object_add(o, "disks", disks);
	return o;
}

struct json_object *storage_status_json(struct storage *s)
{
	struct json_object *root = json_object_new_object(), *arr = json_object_new_array();
	unsigned i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < STORAGE_MAX_CONTROLLERS; i++)
		if (s->ctl[i])
			json_object_array_add(arr, controller_json(s, i));
	pthread_mutex_unlock(&s->lock);
	json_object_object_add(root, "controllers", arr);
	return root;
}

/*
 * The worker's virtual disks as configured: --disk FILE[,readonly]
 * [,controller=N][,lun=N] (repeatable) and the JSON "disks" array
 * [{"path": ..., "readonly": false, "controller": 0, "lun": 0}]. The
 * format is never given: disk_open detects it from the file's contents.
 *
 * A worker started by parvis-vmms opens no host path: each of its disks
 * comes with "fd" (the file, inherited at start), "direct-fd" (the same
 * file with O_DIRECT, or absent) and "parents" ([{"path", "fd"}], a
 * differencing disk's chain, nearest first), all opened by the service
 * (docs/vmwp.md). "path" then only names the disk in messages and status.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/compiler.h"
#include "disk/disk.h"

struct json_object;
struct disk;

#define VM_CONFIG_MAX_DISKS	64
#define STORAGE_MAX_CONTROLLERS 4 /* SCSI controllers 0..3 */
#define STORAGE_MAX_LUN		63
#define IDE_CHANNELS		2 /* generation 1: the PIIX4's primary and secondary channel */
#define IDE_UNITS		2 /* master and slave */

struct disk_config {
	char *path;
	bool read_only;
	unsigned controller;
	int lun; /* -1: the controller's lowest free LUN */
	/*
	 * Generation 1 (docs/generation1.md): on the emulated IDE instead of SCSI, channel
	 * `controller` (0, 1) and unit `lun` (0 master, 1 slave): ",ide=C:U" / "ide": true.
	 */
	bool ide;
	/*
	 * Opened by the worker once, before its jail (main.c); each boot's controller attaches
	 * a reference to it (disk_ref) instead of opening path. NULL: open path.
	 */
	struct disk *opened;
	/* Inherited descriptors (above): the worker owns them until open_disks() closes them. */
	int fd, direct_fd;				   /* -1: none (open path) */
	struct disk_parent_file parents[DISK_MAX_PARENTS]; /* paths malloc'd */
	unsigned nparents;
};

/* A disk_config with nothing set (no descriptors, the lowest free LUN). */
#define DISK_CONFIG_INIT                                                                           \
	{                                                                                          \
		.lun = -1, .fd = -1, .direct_fd = -1                                               \
	}

/* "FILE[,readonly][,controller=N][,lun=N][,ide=C:U]". -EINVAL with a message in err. */
int disk_config_parse(const char *spec, struct disk_config *ret, char *err,
		      size_t errlen) must_check;
/* One element of the JSON "disks" array. */
int disk_config_from_json(struct json_object *o, struct disk_config *ret, char *err,
			  size_t errlen) must_check;
/* Frees the strings; leaves the descriptors (a parser does not own them: the worker does). */
void disk_config_fini(struct disk_config *d);
/* Closes the inherited descriptors (once the disk is open: it has its own). */
void disk_config_close_fds(struct disk_config *d);
/*
 * Two SCSI disks on the same controller and LUN, or too many: -EINVAL with a message. IDE
 * disks are left to ide_location_check.
 */
int disk_config_check(const struct disk_config *disks, unsigned n, char *err,
		      size_t errlen) must_check;
/*
 * An IDE drive's place as one index, channel * IDE_UNITS + unit (0..3), or -EINVAL when
 * d->ide is set with a channel or unit out of range (or no unit).
 */
int disk_config_ide_index(const struct disk_config *d) must_check;

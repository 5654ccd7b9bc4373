/*
 * The worker's storage: the synthetic SCSI controllers (storvsp) of one
 * boot and their disks, opened from the configuration (vm_config disks)
 * when the machine is built, and hot-added or removed through the control
 * socket while it runs. Built after the VMBus host, freed before it.
 * Disks hot-added to a running VM are not kept for the next boot.
 */
#pragma once

#include <json-c/json.h>

#include "base/compiler.h"
#include "vid/guest_memory.h"
#include "vmbus/vmbus.h"
#include "vmwp/disk_config.h"

struct storage;

/*
 * Opens every disk and creates the controllers they are on; parent_dirs
 * (NULL-terminated, may be NULL; kept, not copied) are where differencing
 * disks' parents may be besides the child's directory. A disk that does
 * not open: -errno with "--disk PATH: <why>" in err, *config_error set.
 */
int storage_new(struct vmbus_server *server, struct guest_memory *mem, unsigned vcpus,
		const struct disk_config *disks, unsigned ndisks, const char *const *parent_dirs,
		struct storage **ret, bool *config_error, char *err, size_t errlen) must_check;
struct storage *storage_free(struct storage *s);
/*
 * Generation 1: the IDE disk at channel, unit also offered over VMBus, as Hyper-V does
 * (storvsp with the IDE device class, docs/generation1.md), so that a guest's hv_storvsc
 * takes it over once its VMBus drivers load. Takes d over (a reference of its own).
 */
int storage_add_ide(struct storage *s, unsigned channel, unsigned unit, struct disk *d,
		    bool read_only, char *err, size_t errlen) must_check;

/* Hot add: returns the LUN, or -errno with a message in err. Any thread. */
int storage_add_disk(struct storage *s, const struct disk_config *d, char *err,
		     size_t errlen) must_check;
/* Hot remove: 0, or -errno with a message in err. Any thread. */
int storage_remove_disk(struct storage *s, unsigned controller, unsigned lun, char *err,
			size_t errlen) must_check;

/* {"controllers": [...]} with per-channel and per-disk counters (docs/control.md). */
struct json_object *storage_status_json(struct storage *s);

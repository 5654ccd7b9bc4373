/*
 * storvsp: the synthetic SCSI controller, the host side of Linux's
 * hv_storvsc and Windows' storvsc over VMBus. One controller is one
 * primary channel (class STORVSP_SCSI_CLASS_GUID, an instance GUID per
 * controller index: Hyper-V's "SCSI controller 0, 1, ...") plus the
 * sub-channels the guest asks for (at most vcpus - 1); disks are LUNs on
 * path 0, target 0.
 *
 * Threads: each channel's loop (vmbus.h) parses its packets, submits
 * disk requests (one disk queue per channel and LUN, its io_uring's
 * eventfd in the same loop), reaps their completions and answers: a
 * request lives on one thread from packet to completion. storvsp_add_disk/remove_disk may be called
 * from any thread while the guest runs (hot add / hot remove: the guest is told to rescan with
 * VSTOR_OPERATION_ENUMERATE_BUS).
 *
 * Wire format: hvdef/storvsp_proto.h; SCSI model: scsi.h. Docs: docs/storage.md.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/guid.h"
#include "disk/disk.h"
#include "vid/guest_memory.h"
#include "vmbus/vmbus.h"
#include "vsp/storvsp/scsi.h"

struct storvsp;

#define STORVSP_MAX_LUNS     64 /* LUNs 0..63 per controller */
#define STORVSP_MAX_CHANNELS 64 /* primary + sub-channels */

struct storvsp_config {
	struct vmbus_server *server;
	struct guest_memory *mem;
	unsigned controller;  /* index: picks the instance GUID */
	unsigned vcpus;	      /* sub-channels offered: vcpus - 1 at most */
	unsigned queue_depth; /* of each disk queue (per channel and LUN); 0 = 256 */
	/*
	 * Requests in flight per channel, preallocated when the channel opens;
	 * 0 = STORVSP_DEFAULT_REQUESTS. A guest that sends more finds its
	 * packets left in the ring until requests complete (counted as busy).
	 * The controller's guest-driven memory is bounded by channels x
	 * max_requests x storvsp_request_size().
	 */
	unsigned max_requests;
	/*
	 * Generation 1 (docs/generation1.md): an IDE disk offered over VMBus as Hyper-V does,
	 * class STORVSP_IDE_CLASS_GUID instead of SCSI, the IDE channel in the instance's
	 * first four bytes and the unit in the next two (what storvsc reads as the target);
	 * its one disk answers at path 0, that target, LUN 0; no sub-channels.
	 */
	bool ide;
	unsigned ide_channel, ide_unit;
};
#define STORVSP_DEFAULT_REQUESTS 128u
#define STORVSP_MAX_REQUESTS	 4096u
/* Bytes of host memory one request of the pool takes. */
size_t storvsp_request_size(void);

int storvsp_new(const struct storvsp_config *cfg, struct storvsp **ret) must_check;
/* Closes the channels (waiting for requests in flight), closes every disk, frees. NULL ok. */
struct storvsp *storvsp_free(struct storvsp *sp);

/* The instance GUID of controller index (what the offer carries). */
void storvsp_instance_guid(unsigned controller, struct guid *ret);
/* The instance GUID of the IDE disk at channel, unit (Hyper-V's layout: see storvsp_config). */
void storvsp_ide_instance_guid(unsigned channel, unsigned unit, struct guid *ret);

/*
 * Attaches d at lun (0..STORVSP_MAX_LUNS-1); the controller owns d from
 * then on (disk_close at removal). If the guest has initialized the
 * controller, it is told to rescan. -EEXIST if the LUN is taken, -EINVAL.
 */
int storvsp_add_disk(struct storvsp *sp, unsigned lun, struct disk *d, bool read_only) must_check;
/*
 * Detaches the disk at lun: new requests to it fail (SRB INVALID_LUN, so
 * the guest drops the device), requests in flight complete, the disk is
 * closed, the guest is told to rescan. -ENOENT if no disk there.
 */
int storvsp_remove_disk(struct storvsp *sp, unsigned lun) must_check;
/* Lowest free LUN, or -ENOSPC. */
int storvsp_free_lun(struct storvsp *sp);
bool storvsp_has_disk(struct storvsp *sp, unsigned lun);

/* The negotiated protocol version (VMSTOR_PROTO_VERSION_*), 0 before negotiation. */
uint16_t storvsp_version(struct storvsp *sp);

struct storvsp_channel_stats {
	unsigned subchannel_index; /* 0 = primary */
	uint32_t relid;
	enum vmbus_channel_state state;
	uint64_t requests;	 /* EXECUTE_SRB received */
	uint64_t completions;	 /* completions sent */
	uint64_t signals_in;	 /* guest -> host signals */
	uint64_t interrupts_out; /* host -> guest interrupts */
	uint64_t ring_full;	 /* packets left in the ring: no room for their answer */
	uint64_t busy;		 /* packets left in the ring: every request in flight (a flood) */
	uint64_t queue_full;	 /* submissions that waited for a disk queue's room */
	uint64_t bad_packets;	 /* malformed packets (answered with an error) */
	uint64_t aborted;	 /* requests ended unanswered: the channel closed under them */
	unsigned max_requests;	 /* the pool */
	unsigned inflight_max;	 /* most requests in flight at once so far */
};
struct storvsp_stats {
	uint16_t version;
	unsigned channels; /* primary + sub-channels created */
	uint64_t bad_packets, protocol_errors, rescans;
};
void storvsp_get_stats(struct storvsp *sp, struct storvsp_stats *stats);
/* i < stats.channels; false if there is no such channel. */
bool storvsp_get_channel_stats(struct storvsp *sp, unsigned i, struct storvsp_channel_stats *st);
/* false if no disk at lun. info may be NULL. */
bool storvsp_get_disk_stats(struct storvsp *sp, unsigned lun, struct scsi_lun_stats *st,
			    struct disk_info *info, bool *read_only);

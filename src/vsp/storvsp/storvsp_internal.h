/*
 * State shared by storvsp.c (controller, channel protocol, hot add/remove)
 * and storvsp_io.c (EXECUTE_SRB: requests, disk queues, completions).
 * Not for use outside src/vsp/storvsp/.
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>

#include "base/log.h"
#include "vsp/storvsp/storvsp.h"
#include "vsp/storvsp/storvsp_packet.h"

enum sp_state {
	SP_IDLE,  /* primary closed or not initialized: only BEGIN_INITIALIZATION */
	SP_INIT,  /* BEGIN_INITIALIZATION seen: version, properties */
	SP_READY, /* END_INITIALIZATION seen: SRBs, sub-channels, rescans */
};

/* A disk at a LUN. Freed only by remove/free once inflight is 0. */
struct sp_disk {
	struct scsi_lun *sl;
	struct disk *disk;
	_Atomic unsigned inflight; /* requests holding this disk */
};

/* One EXECUTE_SRB from acceptance to its completion. */
struct sp_request {
	struct sp_channel *chan;
	struct sp_disk *disk; /* NULL: answered without a disk */
	unsigned lun;
	uint64_t trans_id;
	size_t reply_len;
	struct vmscsi_request srb; /* as the guest sent it */
	struct scsi_cmd cmd;
	/* The stage being run: the command's ops, then the FUA flush. */
	const struct scsi_disk_op *ops;
	unsigned nops, next_op;
	bool flushing;
	struct scsi_disk_op flush_op;
	_Atomic unsigned remaining; /* ops of the stage not completed, + 1 while submitting */
	_Atomic int error;	    /* first error of the stage */
	bool send_pending;	    /* deferred: waits to be sent (else: to be submitted) */
	struct sp_request *next;    /* free or deferred list */
	struct disk_request dreq[SCSI_MAX_DISK_OPS];
	unsigned iovcnt;
	struct iovec iov[STORVSP_MAX_PFNS];
};

struct sp_channel {
	struct storvsp *sp;
	struct vmbus_channel *ch;
	unsigned index;	       /* sub-channel index, 0 = primary */
	bool stale;	       /* a sub-channel from before the primary was reopened */
	pthread_mutex_t qlock; /* queues, dirty */
	struct disk_queue *queues[STORVSP_MAX_LUNS];
	uint64_t dirty;	      /* LUNs with submitted, uncommitted requests */
	unsigned uncommitted; /* requests prepared since the last commit */
	pthread_mutex_t lock; /* the lists below */
	struct sp_request *free_list, *deferred, *deferred_tail;
	unsigned allocated;
	pthread_t worker; /* the channel's worker thread (set by its callbacks) */
	_Atomic bool worker_known;
	_Atomic bool closing;
	_Atomic bool want_wake;	   /* a submission waits for queue room */
	_Atomic unsigned inflight; /* requests of this channel not yet released */
	_Atomic uint64_t requests, completions, ring_full, queue_full, bad_packets;
};

struct storvsp {
	struct storvsp_config cfg;
	struct guid instance;
	char name[24];
	pthread_rwlock_t lun_lock; /* luns[] */
	struct sp_disk *luns[STORVSP_MAX_LUNS];
	pthread_mutex_t lock; /* chans[], nchans */
	struct sp_channel *chans[STORVSP_MAX_CHANNELS];
	unsigned nchans;
	_Atomic uint16_t version;
	_Atomic int state; /* enum sp_state */
	_Atomic bool rescan_pending;
	_Atomic uint64_t bad_packets, protocol_errors, rescans;
	struct guest_error_log errlog;
};

/* storvsp_io.c */
/* Records the calling thread as the channel's worker (from the channel callbacks). */
void sp_io_on_worker(struct sp_channel *c);
void sp_io_execute(struct sp_channel *c, const struct storvsp_parsed *p, uint64_t trans_id);
void sp_io_commit(struct sp_channel *c);
void sp_io_wake(struct sp_channel *c);
/* Channel closed: waits for its requests, frees its queues and requests. */
void sp_io_channel_closed(struct sp_channel *c);
/* After a disk left luns[] and its requests drained: frees its queue on every channel. */
void sp_io_forget_lun(struct storvsp *sp, unsigned lun);
void sp_io_channel_free(struct sp_channel *c);

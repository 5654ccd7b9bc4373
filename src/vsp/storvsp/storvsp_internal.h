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
	atomic_bool removed;	   /* off luns[]: the last release signals sp->idle */
};

/*
 * One EXECUTE_SRB from acceptance to its completion, from the channel's
 * preallocated pool. Everything in it belongs to the channel's loop.
 */
struct sp_request {
	struct sp_channel *chan;
	struct sp_disk *disk; /* NULL: answered without a disk */
	unsigned lun;
	uint64_t trans_id;
	size_t reply_len;	   /* room for it is reserved in the outgoing ring */
	struct vmscsi_request srb; /* as the guest sent it */
	struct scsi_cmd cmd;
	/* The stage being run: the command's ops, then the FUA flush. */
	const struct scsi_disk_op *ops;
	unsigned nops, next_op;
	bool flushing;
	struct scsi_disk_op flush_op;
	unsigned remaining;	 /* ops of the stage not completed, + 1 while submitting */
	int error;		 /* first error of the stage */
	struct sp_request *next; /* free list, or the list waiting for a disk queue's room */
	struct disk_request dreq[SCSI_MAX_DISK_OPS];
	unsigned iovcnt;
	struct iovec iov[STORVSP_MAX_PFNS];
};

/* A disk queue of one channel for one LUN, in the channel's loop. */
struct sp_queue {
	struct sp_channel *chan;
	struct disk_queue *q;
	int fd_handle; /* vmbus_channel_add_fd */
};

/*
 * One VMBus channel of the controller. The loop thread of the channel
 * owns everything but the atomics and `stale` (sp->lock): it parses,
 * submits, reaps its disk queues' completions and answers; the open and
 * close callbacks touch the same state while the loop is not running.
 */
struct sp_channel {
	struct storvsp *sp;
	struct vmbus_channel *ch;
	unsigned index; /* sub-channel index, 0 = primary */
	bool stale;	/* a sub-channel from before the primary was reopened (sp->lock) */
	struct sp_queue queues[STORVSP_MAX_LUNS];
	uint64_t active; /* LUNs with a queue */
	uint64_t dirty;	 /* LUNs with submitted, uncommitted requests */
	unsigned uncommitted;
	struct sp_request *pool; /* max_requests, allocated at open */
	struct sp_request *free_list;
	struct sp_request *waiting, *waiting_tail; /* taken, waiting for a disk queue's room */
	unsigned inflight;			   /* requests taken and not released */
	bool refused;		    /* a packet was answered BUSY: wake the loop at a release */
	bool closing;		    /* the close callback runs: nothing is sent */
	_Atomic uint64_t drop_luns; /* LUNs whose queue goes (hot remove, any thread) */
	_Atomic unsigned inflight_max;
	_Atomic uint64_t requests, completions, aborted, busy, ring_full, queue_full, bad_packets;
};

struct storvsp {
	struct storvsp_config cfg;
	struct guid instance;
	char name[24];
	pthread_rwlock_t lun_lock; /* luns[] */
	struct sp_disk *luns[STORVSP_MAX_LUNS];
	pthread_mutex_t lock; /* chans[], nchans; with idle: a removed disk's last release */
	pthread_cond_t idle;
	struct sp_channel *chans[STORVSP_MAX_CHANNELS];
	unsigned nchans;
	_Atomic uint16_t version;
	_Atomic int state; /* enum sp_state */
	_Atomic bool rescan_pending;
	_Atomic uint64_t bad_packets, protocol_errors, rescans;
	struct guest_error_log errlog;
};

/* storvsp.c: a channel of the controller, and its VMBus channel (offered when the guest has
 * offers). */
struct sp_channel *sp_chan_alloc(struct storvsp *sp, unsigned index);
int sp_create_channel(struct storvsp *sp, struct sp_channel *c);
/* Known protocol version? */
bool sp_version_known(uint16_t v);

/* storvsp_state.c: the vmbus_channel_ops saved-state callbacks (vmbus.h). */
bool sp_state_idle(void *opaque, struct vmbus_channel *ch);
int sp_state_save(void *opaque, struct vmbus_channel *ch, struct state_out *out);
int sp_state_load(void *opaque, struct vmbus_channel *ch, struct state_in *in, char *err,
		  size_t errlen);

/* storvsp_io.c, on the channel's loop unless said otherwise */
/* EXECUTE_SRB: VMBUS_PACKET_DONE, or BUSY (no request free, no room for the answer). */
int sp_io_execute(struct sp_channel *c, const struct storvsp_parsed *p, uint64_t trans_id);
void sp_io_commit(struct sp_channel *c);
void sp_io_wake(struct sp_channel *c);
bool sp_io_poll(struct sp_channel *c);
/* Open callback: the request pool. 0 or -ENOMEM. */
int sp_io_channel_open(struct sp_channel *c);
/* Close callback (the loop has stopped): every request completes or is dropped, queues go. */
void sp_io_channel_closed(struct sp_channel *c);
/* Any thread, after a disk left luns[] and its requests drained: its queues go. */
void sp_io_forget_lun(struct storvsp *sp, unsigned lun);
/* Any thread: the disk's requests have all been released. */
void sp_io_wait_idle(struct storvsp *sp, struct sp_disk *d);
void sp_io_channel_free(struct sp_channel *c);

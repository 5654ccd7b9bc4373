/*
 * The VMBus host: the connection protocol with the guest's vmbus driver
 * (versions, offers, GPADLs, open/close, rescind, unload), and channels,
 * each a pair of ring buffers in guest memory that a VSP (virtualization
 * service provider, src/vsp/) reads and writes.
 *
 * The server knows nothing of the hypervisor interface: it talks to the
 * SynIC through struct vmbus_synic_ops, and whoever owns the SynIC calls
 * vmbus_server_handle_message() for each HvPostMessage on the VMBus
 * message connection ids and vmbus_server_handle_signal() for each
 * HvSignalEvent on a channel's connection id. Tests drive it the same way
 * with a guest-side client (tests/lib/vmbus_client.h).
 *
 * Threads: guest messages are queued by the caller (a vCPU thread) and
 * processed in order by the server's message thread, which also calls the
 * VSPs' open and close callbacks. Each open channel has one loop thread
 * that the guest's signals, the VSP's own fds, wake-ups and timers wake
 * (the callback contract is above struct vmbus_channel_ops). vCPU threads
 * never block on the server and take no lock to signal a channel.
 *
 * Wire formats: hvdef/vmbus_proto.h. Design notes: docs/vmbus.md.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/guid.h"
#include "hvdef/vmbus_proto.h"
#include "state/state.h"
#include "vid/guest_memory.h"

struct vmbus_server;
struct vmbus_channel;

/* How the server reaches the guest's SynIC. Both may be called from any thread. */
struct vmbus_synic_ops {
	/* Delivers a message to SINT sint of VP vp (queued if the slot is busy). 0 or -errno. */
	int (*post_message)(void *opaque, unsigned vp, unsigned sint, uint32_t msg_type,
			    const void *payload, size_t len);
	/* Sets event flag `flag` in VP vp's SIEFP slot sint and raises the SINT. 0 or -errno. */
	int (*signal_event)(void *opaque, unsigned vp, unsigned sint, unsigned flag);
};

struct vmbus_server_config {
	struct guest_memory *mem;
	unsigned vcpus; /* VP indexes are 0..vcpus-1 */
	const struct vmbus_synic_ops *synic;
	void *synic_opaque;
	uint32_t max_version; /* newest version offered; 0 = VMBUS_VERSION_WIN10_V5_3 */
	/*
	 * No message thread: queued messages are processed when the owner
	 * calls vmbus_server_dispatch() (fuzzers and deterministic tests).
	 */
	bool manual_dispatch;
	/*
	 * How long a channel's loop keeps looking at its ring (and the VSP's
	 * poll callback) after the last packet before it unmasks the guest's
	 * interrupts and sleeps: a busy guest then writes without signalling.
	 * 0 = VMBUS_CHANNEL_POLL_NS_DEFAULT; UINT64_MAX = never spin.
	 */
	uint64_t channel_poll_ns;
};
#define VMBUS_CHANNEL_POLL_NS_DEFAULT 20000u

int vmbus_server_new(const struct vmbus_server_config *cfg, struct vmbus_server **ret) must_check;
/* Stops every thread, closes every channel (VSP close callbacks run), frees; NULL is a no-op. */
struct vmbus_server *vmbus_server_free(struct vmbus_server *s);

/* What HvPostMessage tells the guest (the SynIC glue maps these to TLFS statuses). */
enum vmbus_post_result {
	VMBUS_POST_OK,	    /* queued */
	VMBUS_POST_RETRY,   /* queue full: HV_STATUS_INSUFFICIENT_BUFFERS, the guest retries */
	VMBUS_POST_INVALID, /* wrong size or connection id:
			       HV_STATUS_INVALID_PARAMETER/CONNECTION_ID */
};

/* A guest message on connection_id (1 or 4), from VP vp. Copies the payload; any thread. */
enum vmbus_post_result vmbus_server_handle_message(struct vmbus_server *s, unsigned vp,
						   uint32_t connection_id, const void *payload,
						   size_t len);
/* HvSignalEvent on connection_id: wakes that channel's loop. Any thread, takes no lock. */
void vmbus_server_handle_signal(struct vmbus_server *s, uint32_t connection_id);
/* True if connection_id is one the server hands out for channel signals. */
bool vmbus_server_is_channel_connection_id(uint32_t connection_id);
/* The message connection ids to register with the SynIC. */
#define VMBUS_SERVER_MESSAGE_CONNECTION_IDS                                                        \
	{                                                                                          \
		1u, 4u                                                                             \
	}
/* Channel signal connection ids are VMBUS_CHANNEL_CONNECTION_BASE + relid (like Hyper-V, SINT2 <<
 * 12). */
#define VMBUS_CHANNEL_CONNECTION_BASE 0x2000u
/* The whole range the server can hand out (relids 1..VMBUS_MAX_RELID): register it once. */
#define VMBUS_CHANNEL_CONNECTION_FIRST (VMBUS_CHANNEL_CONNECTION_BASE + 1u)
#define VMBUS_CHANNEL_CONNECTION_COUNT VMBUS_MAX_RELID

/*
 * Saved state (docs/saved-state.md). The owner pauses the vCPUs first.
 *
 * quiesce: stops the message thread between two messages and every
 * channel's loop at a packet boundary, once each VSP has finished its
 * in-flight work (ops->idle: storvsp's disk I/O completed and answered).
 * Guest messages and signals that come meanwhile stay queued/pending
 * and are saved. 0, or -errno with err saying why. Not from a VSP
 * callback. A channel freed while the bus is quiesced (the devices torn
 * down after a save) goes without a RESCIND: the guest's state is in the
 * file, and a restored VM has the channel.
 */
int vmbus_server_quiesce(struct vmbus_server *s, char *err, size_t errlen) must_check;
/* Goes on as if nothing happened (the loops look at their rings again). */
void vmbus_server_unquiesce(struct vmbus_server *s);
/*
 * Writes section "vmbus": the connection, GPADLs, every channel with its
 * open parameters, ring positions and its VSP's state (ops->save), and
 * the guest messages not yet processed. Only while quiesced (-EINVAL
 * otherwise). 0, or -errno: -EBUSY if an open channel's VSP cannot be
 * saved. The reason is logged and kept for vmbus_server_save_error()
 * ("netvsp on channel 'network 0' cannot be saved yet").
 */
int vmbus_server_save(struct vmbus_server *s, struct state_writer *w) must_check;
/* Why the last vmbus_server_save failed ("" if it did not). Valid until the next save. */
const char *vmbus_server_save_error(struct vmbus_server *s);
/*
 * Restores section "vmbus" into a NEW server whose channels were created
 * as the saved one's were (same configuration), before any vCPU runs and
 * after guest RAM and the hv state were loaded. Channels are matched by
 * class id, instance id and sub-channel index (the relids are the saved
 * ones); a channel missing on either side is refused by name. Rings are
 * mapped again through their GPADLs, each VSP's ops->load runs, then the
 * loops start and each open channel is signalled once both ways (a
 * signal in flight at the save is not lost). 0, or -errno with err naming
 * what is wrong; after a failure the server can only be freed.
 */
int vmbus_server_load(struct vmbus_server *s, struct state_reader *r, char *err,
		      size_t errlen) must_check;
#define VMBUS_STATE_SECTION "vmbus"
#define VMBUS_STATE_VERSION 1u

/* manual_dispatch only: processes every queued message; returns how many. */
unsigned vmbus_server_dispatch(struct vmbus_server *s);

/* The negotiated version, 0 while the guest is not connected. */
uint32_t vmbus_server_version(struct vmbus_server *s);

/* Counters of guest misbehaviour and traffic, for status and tests. */
struct vmbus_server_stats {
	uint64_t messages;     /* guest messages processed */
	uint64_t bad_messages; /* malformed, unknown, or out of sequence: ignored or refused */
	uint64_t queue_full;   /* posts refused with VMBUS_POST_RETRY */
	uint64_t gpadl_errors; /* GPADLs refused */
	uint64_t open_errors;  /* OPENCHANNEL refused */
	uint64_t unloads;
	uint64_t connects;
	uint64_t signals_unknown; /* signals on a connection id with no open channel */
};
void vmbus_server_get_stats(struct vmbus_server *s, struct vmbus_server_stats *stats);

/* ---------------------------------------------------------------------- */
/* Channels: what a VSP sees. */

enum vmbus_channel_state {
	/*
	 * Created by a VSP, not shown to the guest yet (the guest has not
	 * connected or not asked for offers). -> OFFERED at REQUESTOFFERS, or
	 * at once if offers were already delivered (hot add).
	 */
	VMBUS_CHANNEL_UNOFFERED,
	/* Offered, closed. -> OPEN at a good OPENCHANNEL; -> UNOFFERED at UNLOAD. */
	VMBUS_CHANNEL_OFFERED,
	/* Rings mapped, loop running. -> OFFERED at CLOSECHANNEL or UNLOAD (VSP close runs). */
	VMBUS_CHANNEL_OPEN,
	/*
	 * The VSP freed it (vmbus_channel_free) while the guest had the offer:
	 * RESCIND sent, closed, detached from the VSP. The server keeps it,
	 * and its relid, until the guest's RELID_RELEASED (or the end of the
	 * connection); then it is freed.
	 */
	VMBUS_CHANNEL_RESCINDED,
};
const char *vmbus_channel_state_name(enum vmbus_channel_state state);

struct vmbus_channel_params {
	const char *name;	 /* for logs and status, e.g. "heartbeat" */
	struct guid class_id;	 /* if_type: the guest matches its drivers on it */
	struct guid instance_id; /* if_instance */
	uint16_t flags;		 /* VMBUS_OFFER_FLAG_* (hvdef/vmbus_proto.h) */
	bool pipe_message_mode;	 /* pipe mode, message pipes (the integration services) */
	uint16_t mmio_megabytes;
	uint16_t subchannel_index; /* 0 = primary; else a sub-channel of `primary` */
	struct vmbus_channel *primary;
	/* Largest incoming packet accepted, descriptor included; 0 = 16 KiB; at most
	 * VMBUS_MAX_PACKET_SIZE. */
	size_t max_packet_size;
};

/*
 * The largest packet a descriptor can describe: len8 is 16 bits of 8-byte
 * units (hvdef/vmbus_proto.h), descriptor and payload together.
 */
#define VMBUS_MAX_PACKET_SIZE ((size_t)UINT16_MAX * 8u)

/* One packet from the guest, valid during the packet callback. */
struct vmbus_packet {
	uint16_t type;	/* enum vmbus_packet_type */
	uint16_t flags; /* VMBUS_PKT_FLAG_* */
	uint64_t trans_id;
	const uint8_t *data; /* after the descriptor's header (offset8 * 8) */
	size_t len;
	const uint8_t *raw; /* the whole packet, descriptor first */
	size_t raw_len;
};

/*
 * The callback contract.
 *
 * Each open channel has one thread, its loop, which owns the ring pair:
 * it reads the guest's packets, runs the VSP's packet, batch_end, wake,
 * poll and fd callbacks, and is the only thread that may send on the
 * channel. A VSP's I/O for the channel (its io_uring, later a TAP) lives
 * in the same loop through vmbus_channel_add_fd(), so submissions and
 * completions run on one thread and the VSP needs no lock for its
 * per-channel state.
 *
 *   callback    thread                       may call
 *   open        the message thread, with     vmbus_channel_add_fd/_wake/_set_timer;
 *               the server lock held         not channel_new/_free, not send
 *   packet,     the channel's loop           send, reserve, send_reserved,
 *   batch_end,                               add_fd, remove_fd, wake, set_timer,
 *   wake, poll,                              vmbus_channel_new (sub-channels),
 *   fd fns                                   vmbus_channel_free of OTHER channels
 *   close       the thread closing the       anything but vmbus_channel_free of this
 *               channel (message thread or   channel and send; the loop has stopped:
 *               vmbus_channel_free's         the VSP owns its channel state alone
 *               caller), no bus lock held
 *   idle        the channel's loop           as packet
 *   save        vmbus_server_save's caller,  read-only getters; the loop is stopped
 *               the server lock held         (quiesced): nothing else runs
 *   load        vmbus_server_load's caller,  as open, and vmbus_channel_new
 *               no bus lock held             (sub-channels the saved state had)
 *
 * Any thread may call vmbus_channel_wake() and the read-only getters.
 */
struct vmbus_channel_ops {
	/*
	 * The guest opened the channel. Return 0 to accept; a negative errno
	 * makes the OPENCHANNEL_RESULT a failure. The loop starts after it
	 * returns.
	 */
	int (*open)(void *opaque, struct vmbus_channel *ch, const uint8_t *user_data);
	/*
	 * A packet arrived. VMBUS_PACKET_DONE: it is consumed. VMBUS_PACKET_BUSY:
	 * the VSP cannot take it now (in-flight bound reached, no room
	 * reserved for its answer): it stays in the ring (the read index does
	 * not move), the guest's signals stay masked, and it is offered again
	 * after the VSP's next vmbus_channel_wake() (or a wake callback).
	 */
	int (*packet)(void *opaque, struct vmbus_channel *ch, const struct vmbus_packet *pkt);
	/*
	 * Optional: the incoming ring is empty (or busy) after one or more
	 * packet callbacks (a VSP hands the batch to its back end here: one
	 * system call per batch, not per packet).
	 */
	void (*batch_end)(void *opaque, struct vmbus_channel *ch);
	/*
	 * Optional: after vmbus_channel_wake(), when a timer set with
	 * vmbus_channel_set_timer() expires, and once the outgoing ring has
	 * the room a send or reserve that returned -EAGAIN asked for.
	 */
	void (*wake)(void *opaque, struct vmbus_channel *ch);
	/*
	 * Optional: called while the loop spins after the last packet (see
	 * vmbus_server_config.channel_poll_ns), to find completions without a
	 * system call (an io_uring's CQ ring). True if it did some work.
	 */
	bool (*poll)(void *opaque, struct vmbus_channel *ch);
	/* The channel closed (CLOSECHANNEL, UNLOAD, rescind, free); the loop has stopped. */
	void (*close)(void *opaque, struct vmbus_channel *ch);

	/*
	 * Saved state (docs/saved-state.md). All three optional; a channel
	 * whose VSP has no save cannot be saved while it is open
	 * (vmbus_server_save refuses, naming it).
	 *
	 * idle: while vmbus_server_quiesce waits, the loop takes no new
	 * packets but still runs the VSP's fds, wake and timers; it stops once
	 * idle returns true (work taken from the ring finished and answered).
	 * Absent: the loop stops at once.
	 */
	bool (*idle)(void *opaque, struct vmbus_channel *ch);
	/*
	 * save: the VSP's state of this channel (whatever its state: an
	 * unopened primary may own sub-channels), encoded with its own format
	 * version first. 0 or -errno (-EBUSY: work in flight it cannot save).
	 */
	int (*save)(void *opaque, struct vmbus_channel *ch, struct state_out *out);
	/*
	 * load: on a new server, instead of open (and for a channel that is
	 * not open, with its saved bytes): the channel's state and rings are
	 * back (vmbus_channel_state() says whether it is open); the loop
	 * starts after every channel is loaded. Every field is checked: a
	 * refusal returns -EINVAL/-EBADMSG with err naming the field.
	 */
	int (*load)(void *opaque, struct vmbus_channel *ch, struct state_in *in, char *err,
		    size_t errlen);
	/* The device's kind, for messages ("storvsp", "netvsp"); NULL: "the device". */
	const char *vsp_name;
};

/* Results of ops->packet. */
enum {
	VMBUS_PACKET_DONE = 0,
	VMBUS_PACKET_BUSY = 1,
};

/*
 * Creates a channel and offers it to the guest as soon as the guest asks
 * for offers (at once if it already has: hot add). -ENOSPC when every
 * relid is taken, -EINVAL for bad params.
 */
int vmbus_channel_new(struct vmbus_server *s, const struct vmbus_channel_params *params,
		      const struct vmbus_channel_ops *ops, void *opaque,
		      struct vmbus_channel **ret) must_check;
/*
 * Removes a channel: closes it if open (the close callback runs, on this
 * thread), and tells the guest (RESCIND) if it had the offer; the VSP's
 * callbacks never run again. NULL is a no-op. Not from this channel's own
 * callbacks; not with the bus lock held. Returns NULL.
 */
struct vmbus_channel *vmbus_channel_free(struct vmbus_channel *ch);

/*
 * Sends an in-band packet (type VMBUS_PKT_DATA_INBAND or VMBUS_PKT_COMP)
 * with the payload padded to 8 bytes. Loop thread only. The room other
 * packets reserved (vmbus_channel_reserve) is not used. 0; -EAGAIN when
 * there is not enough room (the wake callback runs once there is);
 * -ENOTCONN if the channel is not open; -EPROTO if the guest broke the
 * ring; -EINVAL (type, or larger than VMBUS_MAX_PACKET_SIZE).
 * The guest is interrupted once per loop round, not once per packet.
 */
int vmbus_channel_send(struct vmbus_channel *ch, uint16_t type, uint16_t flags, uint64_t trans_id,
		       const void *data, size_t len) must_check;
/*
 * Loop thread: reserves room in the outgoing ring for one later packet of
 * len payload bytes, so that the answer to a request taken now can
 * always be sent. 0; -EAGAIN if the ring lacks that room beyond what is
 * reserved already (the wake callback runs once there is); -ENOTCONN; -EINVAL.
 */
int vmbus_channel_reserve(struct vmbus_channel *ch, size_t len) must_check;
/* Sends into room reserved for len bytes (releasing it); errors as vmbus_channel_send, never
 * -EAGAIN. */
int vmbus_channel_send_reserved(struct vmbus_channel *ch, uint16_t type, uint16_t flags,
				uint64_t trans_id, const void *data, size_t len) must_check;
/* Gives back room reserved for len bytes that will not be sent. */
void vmbus_channel_unreserve(struct vmbus_channel *ch, size_t len);

/* One range of a transfer-page packet: bytes of a receive buffer the guest gave the device. */
struct vmbus_xfer_range {
	uint32_t byte_count;
	uint32_t byte_offset; /* from the start of the buffer */
};
_Static_assert(sizeof(struct vmbus_xfer_range) == 8, "xfer range");
/* Most ranges one transfer-page packet carries (netvsc's NVSP_RSC_MAX is 562). */
#define VMBUS_XFER_MAX_RANGES 562u
/*
 * Sends a VMBUS_PKT_DATA_USING_XFER_PAGES packet: the transfer-page header (pageset_id,
 * nranges ranges) then the in-band payload data (netvsp's receive path: the frames are in the
 * guest's receive buffer, the ranges say where). Loop thread. reserved: into room reserved for
 * len + 8 + 8 * nranges bytes (vmbus_channel_reserve). Errors as vmbus_channel_send.
 */
int vmbus_channel_send_xfer_pages(struct vmbus_channel *ch, uint16_t flags, uint64_t trans_id,
				  uint16_t pageset_id, const struct vmbus_xfer_range *ranges,
				  unsigned nranges, const void *data, size_t len,
				  bool reserved) must_check;

/*
 * A device buffer: a GPADL the guest made for this channel's primary (netvsp's receive and
 * send buffers), one range at offset 0, mapped page by page (the pages need not be contiguous
 * on the host). While mapped, the GPADL is in use: the guest's GPADL_TEARDOWN is answered when
 * it is unmapped. Loop thread, open or close callback (not with the bus lock held).
 */
struct vmbus_gpadl_map {
	uint32_t id;
	size_t npages;
	size_t len; /* bytes the guest described (<= npages * 4096) */
	void **pages;
	uint64_t generation; /* the server's GPADL table generation it was mapped in */
};
/* 0; -ENOENT (no such finished GPADL for this channel, or one being torn down), -ENOMEM, -EFAULT.
 */
int vmbus_channel_map_gpadl(struct vmbus_channel *ch, uint32_t id,
			    struct vmbus_gpadl_map *ret) must_check;
/* Releases a mapping (a zeroed one is a no-op) and zeroes it. */
void vmbus_channel_unmap_gpadl(struct vmbus_channel *ch, struct vmbus_gpadl_map *m);

/*
 * Wakes the loop: it calls ops->wake, and offers a packet the VSP
 * answered BUSY again. Any thread (on the loop itself: no system call).
 */
void vmbus_channel_wake(struct vmbus_channel *ch);
/* Loop thread (or open): ops->wake runs after delay_ns; replaces a pending timer. */
void vmbus_channel_set_timer(struct vmbus_channel *ch, uint64_t delay_ns);

/*
 * Adds fd to the channel's loop (open callback or loop thread): when it
 * is readable, fn runs on the loop (spurious calls are possible: fn must
 * cope with nothing to do). Returns a handle >= 0 for remove_fd, or
 * -errno. Every fd is dropped when the channel closes (the VSP closes the
 * fds themselves).
 */
int vmbus_channel_add_fd(struct vmbus_channel *ch, int fd,
			 void (*fn)(void *opaque, struct vmbus_channel *ch),
			 void *opaque) must_check;
/*
 * The same for an eventfd that counts events (an io_uring's CQ eventfd):
 * watched edge-triggered, so fn runs after each write to it and the loop
 * never reads the counter. fn must then take everything there is (reap
 * every CQE), since no further call comes until the next write. Saves a
 * read(2) per wake-up on the hot path.
 */
int vmbus_channel_add_event_fd(struct vmbus_channel *ch, int fd,
			       void (*fn)(void *opaque, struct vmbus_channel *ch),
			       void *opaque) must_check;
/* Loop thread: fn of handle h never runs again. */
void vmbus_channel_remove_fd(struct vmbus_channel *ch, int h);

enum vmbus_channel_state vmbus_channel_state(struct vmbus_channel *ch);
uint32_t vmbus_channel_relid(const struct vmbus_channel *ch);
const char *vmbus_channel_name(const struct vmbus_channel *ch);

struct vmbus_channel_stats {
	uint64_t packets_in, packets_out;
	uint64_t signals_in;  /* guest -> host signals (HvSignalEvent) */
	uint64_t signals_out; /* host -> guest interrupts */
	uint64_t ring_full;   /* sends and reserves that found the ring full */
	uint64_t bad_packets; /* too large or a broken ring */
	uint64_t opens;
	uint64_t drain_yields; /* reads stopped after VMBUS_DRAIN_BUDGET packets (ring not empty) */
	uint64_t busy;	       /* packets the VSP answered BUSY (left in the ring) */
	uint64_t polls;	       /* loop rounds that found work while spinning */
};
/*
 * Packets a channel thread reads per wake-up before it looks at its stop flag, timer and
 * sends again: a guest that never lets its ring empty cannot keep the thread (and a close
 * waiting for it) for ever.
 */
#define VMBUS_DRAIN_BUDGET 256u
void vmbus_channel_get_stats(struct vmbus_channel *ch, struct vmbus_channel_stats *stats);

/* Calls fn for each channel of the server, in relid order, under the server lock. */
void vmbus_server_for_each_channel(struct vmbus_server *s,
				   void (*fn)(void *opaque, struct vmbus_channel *ch),
				   void *opaque);

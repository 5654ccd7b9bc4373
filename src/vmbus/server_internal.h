/*
 * State shared by server.c (the connection protocol) and channel.c (the
 * channels): not part of the API (vmbus.h). Every field says what
 * protects it.
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>

#include "base/log.h"
#include "hvdef/vmbus_proto.h"
#include "vmbus/gpadl.h"
#include "vmbus/ring.h"
#include "vmbus/vmbus.h"

/* Guest messages waiting for the message thread; a full queue makes the guest retry. */
#define VMBUS_MESSAGE_QUEUE_LEN 64u

enum vmbus_conn_state {
	VMBUS_CONN_DISCONNECTED, /* no INITIATE_CONTACT accepted yet (or after UNLOAD) */
	VMBUS_CONN_CONNECTED,	 /* version agreed; offers may have been delivered */
};

struct vmbus_queued_msg {
	unsigned vp;
	uint32_t connection_id;
	uint32_t len;
	uint8_t data[VMBUS_MESSAGE_MAX_SIZE];
};

/*
 * The doorbell of one relid: what HvSignalEvent on its connection id
 * reaches, without a lock. The eventfd is created with the first channel
 * that takes the relid and kept until the server is freed, so a signal
 * racing with a close writes to a live eventfd, never to a closed (or
 * reused) descriptor; `open` says whether a channel's loop is listening.
 */
struct vmbus_doorbell {
	int efd;		  /* -1 until first used; then immutable (under server->lock) */
	atomic_bool open;	  /* signals are delivered (release after the loop is ready) */
	_Atomic uint64_t signals; /* HvSignalEvents delivered, since the server started */
};

/* A VSP's fd in a channel's loop (vmbus_channel_add_fd). fn NULL: a free slot. */
struct vmbus_channel_fd {
	int fd;
	void (*fn)(void *opaque, struct vmbus_channel *ch);
	void *opaque;
};

struct vmbus_channel {
	struct vmbus_server *server;	     /* immutable */
	char name[32];			     /* immutable */
	struct vmbus_channel_params params;  /* immutable (params.name points to name) */
	const struct vmbus_channel_ops *ops; /* immutable until rescinded (then empty ops) */
	void *opaque;			     /* immutable until rescinded (then NULL) */
	uint32_t relid;			     /* immutable, 1..VMBUS_MAX_RELID */
	_Atomic int state;	    /* enum vmbus_channel_state; written under server->lock */
	bool closing;		    /* a thread is closing it, without the lock (server->lock) */
	_Atomic unsigned target_vp; /* VP of host->guest interrupts (OPEN, MODIFYCHANNEL) */
	struct vmbus_doorbell *doorbell; /* immutable: &server->doorbells[relid] */
	uint64_t signals_base;		 /* doorbell->signals when the channel was created */

	/*
	 * While OPEN: set up under server->lock before the loop starts, torn
	 * down after it stopped; in between, the loop's alone.
	 */
	struct vmbus_ring *in, *out;  /* guest->host, host->guest */
	uint32_t ring_gpadl;	      /* GPADL handle of the rings */
	uint32_t ring_offset;	      /* OPENCHANNEL's downstream ring page offset */
	uint8_t *rxbuf;		      /* one incoming packet, max_packet_size bytes */
	int epfd;		      /* the loop's epoll: the doorbell and the VSP's fds */
	struct vmbus_channel_fd *fds; /* the VSP's fds, by handle */
	unsigned nfds;
	size_t reserved;      /* outgoing-ring bytes reserved for answers (trailers included) */
	uint32_t blocked_len; /* a send/reserve of this many bytes (beyond reserved) waits */
	bool busy;	      /* the VSP answered BUSY: leave the ring until a wake */
	bool need_drain;      /* the doorbell rang (or a wake): look at the ring */
	bool signal_pending;  /* interrupt the guest at the end of this loop round */
	bool sent;	      /* a packet went out since the loop last woke */
	uint64_t poll_ns;     /* spin after the last packet now (0: none), adapted (channel.c) */
	uint64_t poll_max_ns; /* the server's channel_poll_ns: the most it grows to */
	pthread_t worker;
	_Atomic pthread_t loop_self; /* the loop's own pthread_self(), set by the loop */
	atomic_bool loop_known;	     /* loop_self is valid */
	bool worker_running;	     /* server->lock */
	atomic_bool quiescing;	     /* the loop stops at a packet boundary once the VSP is idle */
	bool loop_parked;	     /* quiesced: the loop thread has exited (server->lock) */
	atomic_bool open;	     /* the channel can be used */
	atomic_bool stop;	     /* the loop must exit */
	atomic_bool wake_requested;  /* vmbus_channel_wake() since the last ops->wake */
	atomic_bool broken;	     /* the guest corrupted a ring: stop reading */
	_Atomic uint64_t timer_deadline_ns; /* CLOCK_MONOTONIC, 0 = no timer */
	int efd;			    /* the doorbell's eventfd (owned by the server) */

	struct {
		_Atomic uint64_t packets_in, packets_out, signals_out;
		_Atomic uint64_t ring_full, bad_packets, opens, drain_yields, busy, polls;
	} stats;
};

struct vmbus_server {
	struct vmbus_server_config cfg; /* immutable */
	struct guest_error_log errors;	/* every guest-triggered log line (rate-limited) */
	uint64_t poll_ns;		/* immutable: each channel's spin (0: none) */

	pthread_mutex_t lock; /* protocol state, channel table, GPADLs */
	enum vmbus_conn_state conn;
	uint32_t version;		 /* negotiated; 0 while disconnected */
	_Atomic uint32_t version_public; /* copy for vmbus_server_version() */
	unsigned target_vcpu;		 /* VP of control messages */
	bool offers_delivered;		 /* REQUESTOFFERS answered: new channels are hot-added */
	uint64_t interrupt_page;	 /* INITIATE_CONTACT's (before 5.0) or its SINT */
	uint64_t monitor_pages[2];	 /* INITIATE_CONTACT's (kept for saved state) */
	bool quiesced;			 /* vmbus_server_quiesce: loops parked, messages held */
	bool loading;			 /* vmbus_server_load: new channels are not offered */
	char save_error[256];		 /* vmbus_server_save_error() */
	struct vmbus_gpadl_table *gpadls;
	_Atomic uint64_t gpadl_generation; /* bumped (under lock) when the table is cleared */
	struct vmbus_server_stats stats;
	pthread_cond_t closed_cond; /* a channel's `closing` went back to false */

	/* Under lock. A RESCINDED channel stays here until the guest releases its relid. */
	struct vmbus_channel *channels[VMBUS_MAX_RELID + 1];
	/* Read by the signal path without a lock (struct vmbus_doorbell). */
	struct vmbus_doorbell doorbells[VMBUS_MAX_RELID + 1];
	_Atomic uint64_t signals_unknown;

	pthread_mutex_t queue_lock; /* the message queue */
	pthread_cond_t queue_cond;
	struct vmbus_queued_msg queue[VMBUS_MESSAGE_QUEUE_LEN];
	unsigned queue_head, queue_count;
	_Atomic uint64_t queue_full;
	bool stopping;
	bool paused;		  /* quiesced: the queue is not processed */
	bool msg_busy;		  /* a message is being processed (popped, not finished) */
	pthread_cond_t idle_cond; /* msg_busy went false */
	pthread_t thread;
	bool thread_running;
};

/* server.c */
bool vmbus_server_version_supported(const struct vmbus_server *s, uint32_t version);
void vmbus_server_post(struct vmbus_server *s, const void *msg, size_t len);
void vmbus_server_guest_error(struct vmbus_server *s, const char *fmt, ...) printf_like(2, 3);

/* channel.c, all under server->lock */
void vmbus_channel_send_offer(struct vmbus_channel *ch);
/* Opens from an OPENCHANNEL message; returns the status for OPENCHANNEL_RESULT. */
uint32_t vmbus_channel_open_locked(struct vmbus_channel *ch,
				   const struct vmbus_msg_open_channel *m);
/*
 * Closes an OPEN channel that no other thread is closing: marks it closing
 * under server->lock, then DROPS the lock to stop the channel's thread
 * and run ops->close (the VSP's threads may take the lock meanwhile:
 * create sub-channels, free channels), takes it again, unmaps the rings,
 * releases the ring GPADL and sets the state to `next`. Called and
 * returns with server->lock held; the channel table may have changed.
 */
void vmbus_channel_close(struct vmbus_channel *ch, enum vmbus_channel_state next);
/* The rings of an OPENCHANNEL (or a restored channel) checked and mapped, the loop's epoll made;
 * 0 or -errno (then nothing is kept). Under server->lock. */
int vmbus_channel_setup_loop(struct vmbus_channel *ch, uint32_t gpadl, uint32_t offset,
			     unsigned target_vp);
/* Starts the loop of a channel set up (the VSP's open or load ran): it is OPEN. 0 or -errno. */
int vmbus_channel_start_loop(struct vmbus_channel *ch);
void vmbus_channel_drop_loop(struct vmbus_channel *ch);
/* Quiesce (vmbus_state.c): ask the loop to stop; wait for it (without server->lock); restart. */
void vmbus_channel_quiesce_begin(struct vmbus_channel *ch);
void vmbus_channel_quiesce_wait(struct vmbus_channel *ch);
int vmbus_channel_resume(struct vmbus_channel *ch);
/* Frees a RESCINDED channel (the guest released its relid, or the connection ended). */
void vmbus_channel_destroy_locked(struct vmbus_channel *ch);

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

struct vmbus_channel {
	struct vmbus_server *server;	     /* immutable */
	char name[32];			     /* immutable */
	struct vmbus_channel_params params;  /* immutable (params.name points to name) */
	const struct vmbus_channel_ops *ops; /* immutable */
	void *opaque;			     /* immutable */
	uint32_t relid;			     /* immutable, 1..VMBUS_MAX_RELID */
	_Atomic int state;	    /* enum vmbus_channel_state; written under server->lock */
	bool released;		    /* RESCINDED and the guest sent RELID_RELEASED (lock) */
	_Atomic unsigned target_vp; /* VP of host->guest interrupts (OPEN, MODIFYCHANNEL) */

	/* While OPEN (set up and torn down under server->lock, used by the worker and senders). */
	struct vmbus_ring *in, *out; /* guest->host, host->guest */
	uint32_t ring_gpadl;	     /* GPADL handle of the rings */
	uint8_t *rxbuf;		     /* one incoming packet, max_packet_size bytes */
	pthread_t worker;
	bool worker_running;	    /* server->lock */
	atomic_bool open;	    /* signals are delivered to the worker */
	atomic_bool stop;	    /* the worker must exit */
	atomic_bool wake_requested; /* vmbus_channel_wake() since the last ops->wake */
	_Atomic uint32_t
		send_blocked_len; /* a send of this many bytes found the ring full (0: none) */
	atomic_bool broken;	  /* the guest corrupted a ring: stop reading */
	_Atomic uint64_t timer_deadline_ns; /* CLOCK_MONOTONIC, 0 = no timer */
	int efd;			    /* eventfd: guest signals and host wake-ups */
	pthread_mutex_t send_lock;	    /* serialises writers of the outgoing ring */

	struct {
		_Atomic uint64_t packets_in, packets_out, signals_in, signals_out;
		_Atomic uint64_t ring_full, bad_packets, opens, drain_yields;
	} stats;
};

struct vmbus_server {
	struct vmbus_server_config cfg; /* immutable */
	struct guest_error_log errors;	/* every guest-triggered log line (rate-limited) */

	pthread_mutex_t lock; /* protocol state, channel table, GPADLs */
	enum vmbus_conn_state conn;
	uint32_t version;		 /* negotiated; 0 while disconnected */
	_Atomic uint32_t version_public; /* copy for vmbus_server_version() */
	unsigned target_vcpu;		 /* VP of control messages */
	bool offers_delivered;		 /* REQUESTOFFERS answered: new channels are hot-added */
	struct vmbus_gpadl_table *gpadls;
	bool relid_reserved[VMBUS_MAX_RELID + 1]; /* freed while rescinded: until RELID_RELEASED */
	struct vmbus_server_stats stats;

	/* channels[] is written under lock and doorbell_lock (write), read by signals under
	 * doorbell_lock (read): the signal path never waits for the message thread. */
	pthread_rwlock_t doorbell_lock;
	struct vmbus_channel *channels[VMBUS_MAX_RELID + 1];

	pthread_mutex_t queue_lock; /* the message queue */
	pthread_cond_t queue_cond;
	struct vmbus_queued_msg queue[VMBUS_MESSAGE_QUEUE_LEN];
	unsigned queue_head, queue_count;
	_Atomic uint64_t queue_full;
	bool stopping;
	pthread_t thread;
	bool thread_running;
};

/* server.c */
void vmbus_server_post(struct vmbus_server *s, const void *msg, size_t len);
void vmbus_server_guest_error(struct vmbus_server *s, const char *fmt, ...) printf_like(2, 3);

/* channel.c, all under server->lock */
void vmbus_channel_send_offer(struct vmbus_channel *ch);
/* Opens from an OPENCHANNEL message; returns the status for OPENCHANNEL_RESULT. */
uint32_t vmbus_channel_open_locked(struct vmbus_channel *ch,
				   const struct vmbus_msg_open_channel *m);
/* Stops the worker, calls ops->close, unmaps the rings, releases the ring GPADL. */
void vmbus_channel_close_locked(struct vmbus_channel *ch);

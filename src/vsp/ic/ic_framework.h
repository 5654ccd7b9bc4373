/*
 * The integration-component framework: one VMBus channel per IC, offered
 * in message-pipe mode, on which the host negotiates a framework and a
 * message version and then runs transactions, one at a time: it sends a
 * request (pipe header, struct ic_msg_header, body) and the guest answers
 * in the same buffer with IC_FLAG_RESPONSE set.
 *
 * Negotiation follows what the guest's vmbus_prep_negotiate_resp()
 * (Linux drivers/hv/channel_mgmt.c) answers: the host lists framework
 * versions, then message versions; the guest picks the first of its own
 * list the host offers and answers with one of each (counts 1, 1), or
 * with counts 0 if none fits. Wire format: hvdef/ic_proto.h.
 *
 * Threads: every callback runs on the channel's worker thread, except
 * that the channel's open and close happen on the VMBus message thread
 * (no callback then). ic_channel_wake() and the getters are for any thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vmbus/vmbus.h"

struct ic_channel;

enum ic_state {
	IC_STATE_CLOSED,      /* the guest has not opened the channel */
	IC_STATE_NEGOTIATING, /* open; the version request is out or about to be */
	IC_STATE_READY,	      /* versions agreed: requests may be sent */
	IC_STATE_FAILED,      /* no common version, or the guest broke the protocol */
};
const char *ic_state_name(enum ic_state state);

struct ic_ops {
	/* Versions agreed. */
	void (*ready)(void *opaque, struct ic_channel *ic);
	/* The answer to the outstanding request: its status and body (bytes after the IC header).
	 */
	void (*response)(void *opaque, struct ic_channel *ic, uint32_t status, const uint8_t *body,
			 size_t len);
	/* A wake-up (ic_channel_wake, a timer, room in the ring): send the next request if idle. */
	void (*poll)(void *opaque, struct ic_channel *ic);
	/*
	 * Saved state (optional; docs/saved-state.md): the IC's own state
	 * after the framework's (negotiated versions, the request in flight).
	 * save: the loop is stopped. load: on a new server, before the worker
	 * starts (its first wake-up then runs poll); it reads its bytes from
	 * in and checks each field (err names it). Without them, the IC keeps
	 * no state of its own across a save.
	 */
	int (*save)(void *opaque, struct ic_channel *ic, struct state_out *out);
	int (*load)(void *opaque, struct ic_channel *ic, struct state_in *in, char *err,
		    size_t errlen);
};

struct ic_channel_config {
	const char *name;
	const char *class_guid, *instance_guid; /* text form (hvdef/ic_proto.h) */
	const uint32_t *versions;		/* message versions, IC_VERSION(), any order */
	unsigned nversions;			/* 1..8 */
};

int ic_channel_new(struct vmbus_server *s, const struct ic_channel_config *cfg,
		   const struct ic_ops *ops, void *opaque, struct ic_channel **ret) must_check;
/* Rescinds and frees; NULL is a no-op. Returns NULL. */
struct ic_channel *ic_channel_free(struct ic_channel *ic);

enum ic_state ic_channel_state(struct ic_channel *ic);
/* The agreed message version (IC_VERSION form), 0 before. */
uint32_t ic_channel_version(struct ic_channel *ic);
/* True while a request waits for its answer. */
bool ic_channel_busy(struct ic_channel *ic);
struct vmbus_channel *ic_channel_vmbus(struct ic_channel *ic);

/*
 * Worker thread: sends a request of msgtype with body. 0; -EBUSY (one is
 * outstanding), -ENOTCONN (not ready), -EAGAIN (ring full: poll runs
 * again when there is room), -EINVAL.
 */
int ic_channel_send_request(struct ic_channel *ic, uint16_t msgtype, const void *body,
			    size_t len) must_check;
/* The message type of the outstanding request (ic_channel_busy). */
uint16_t ic_channel_busy_type(struct ic_channel *ic);
/* Forgets the outstanding request (the guest did not answer in time). Worker thread. */
void ic_channel_abandon(struct ic_channel *ic);
void ic_channel_wake(struct ic_channel *ic);
/* Worker thread: poll runs after delay_ns. */
void ic_channel_set_timer(struct ic_channel *ic, uint64_t delay_ns);

struct ic_channel_stats {
	uint64_t requests, responses, bad_messages, abandoned;
};
void ic_channel_get_stats(struct ic_channel *ic, struct ic_channel_stats *stats);

/*
 * Heartbeat IC: the host sends a sequence number every period; the guest's
 * hv_utils answers with the number plus one. The host knows the guest is
 * alive, and since when. Wire format: hvdef/ic_proto.h (struct
 * ic_heartbeat_msg); guest side: Linux drivers/hv/hv_util.c.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vmbus/vmbus.h"

struct ic_heartbeat;

struct ic_heartbeat_status {
	const char *state; /* ic_state_name() */
	uint32_t version;  /* IC_VERSION form, 0 before negotiation */
	bool alive;	   /* answered within the last 3 periods */
	uint64_t first_ns; /* CLOCK_MONOTONIC of the first answer (0: none yet) */
	uint64_t last_ns;  /* of the latest answer */
	uint64_t answers;
	uint64_t wrong_answers; /* a sequence number other than ours + 1 */
};

/* period_ns 0: one second. */
int ic_heartbeat_new(struct vmbus_server *s, uint64_t period_ns,
		     struct ic_heartbeat **ret) must_check;
struct ic_heartbeat *ic_heartbeat_free(struct ic_heartbeat *hb);
void ic_heartbeat_get_status(struct ic_heartbeat *hb, struct ic_heartbeat_status *st);

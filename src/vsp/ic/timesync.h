/*
 * Time synchronisation IC: the host sends its UTC time; the guest's
 * hv_utils sets its clock from a message flagged SYNC (at start, after a
 * pause or restore) and keeps later SAMPLE messages for its PTP clock
 * (drivers/hv/hv_util.c adj_guesttime). Versions 3.0 and 1.0 are offered,
 * and the guest takes the time as of the message's arrival; not 4.0, whose
 * messages carry the partition reference time of the host's sample, which
 * would need a reference-time source off the vCPU threads (timesync.c).
 * Wire format: hvdef/ic_proto.h.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vmbus/vmbus.h"

struct ic_timesync;

struct ic_timesync_config {
	uint64_t sample_period_ns; /* SAMPLE messages; 0: 5 s */
	void *opaque;
	/* Host UTC in ns (tests); NULL: CLOCK_REALTIME. */
	uint64_t (*host_time_ns)(void *opaque);
};

struct ic_timesync_status {
	const char *state;
	uint32_t version;
	uint64_t syncs, samples, answers;
};

int ic_timesync_new(struct vmbus_server *s, const struct ic_timesync_config *cfg,
		    struct ic_timesync **ret) must_check;
struct ic_timesync *ic_timesync_free(struct ic_timesync *ts);
/* The next message carries SYNC (after the VM was paused). Any thread. */
void ic_timesync_sync_now(struct ic_timesync *ts);
void ic_timesync_get_status(struct ic_timesync *ts, struct ic_timesync_status *st);

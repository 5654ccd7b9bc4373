/* Time synchronisation IC (timesync.h). Worker thread, except the API. */
#include "vsp/ic/timesync.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "hvdef/ic_proto.h"
#include "vsp/ic/ic_framework.h"

/*
 * hv_util.c ts_versions: 4.0, 3.0, 1.0. Not 4.0: its messages carry the partition
 * reference time of the host's sample, and the worker has no reference-time source
 * off the vCPU threads (hv reads the counter from a vCPU's own TSC).
 */
static const uint32_t versions[] = {IC_VERSION(3, 0), IC_VERSION(1, 0)};

struct ic_timesync {
	struct ic_channel *ic;
	struct ic_timesync_config cfg;
	atomic_bool sync_pending; /* the next message is a SYNC */
	uint64_t last_sent_ns;	  /* worker */
	_Atomic uint64_t syncs, samples, answers;
};

static uint64_t host_100ns(struct ic_timesync *ts)
{
	uint64_t ns =
		ts->cfg.host_time_ns ? ts->cfg.host_time_ns(ts->cfg.opaque) : time_realtime_ns();

	return ns / 100 + IC_TIME_UNIX_EPOCH_100NS;
}

static void ts_poll(void *opaque, struct ic_channel *ic)
{
	struct ic_timesync *ts = opaque;
	uint64_t now = time_monotonic_ns();
	bool sync = atomic_load(&ts->sync_pending);
	uint8_t flags = sync ? IC_TIMESYNC_FLAG_SYNC : IC_TIMESYNC_FLAG_SAMPLE;
	int r;

	if (ic_channel_busy(ic)) {
		/* The guest answers every message; one unanswered for a period is given up. */
		if (now - ts->last_sent_ns < ts->cfg.sample_period_ns) {
			ic_channel_set_timer(ic, ts->cfg.sample_period_ns);
			return;
		}
		ic_channel_abandon(ic);
	}
	if (!sync && now - ts->last_sent_ns < ts->cfg.sample_period_ns) {
		ic_channel_set_timer(ic, ts->cfg.sample_period_ns - (now - ts->last_sent_ns));
		return;
	}
	struct ic_timesync_msg m = {.flags = flags};

	m.parenttime = host_100ns(ts);
	r = ic_channel_send_request(ic, IC_MSGTYPE_TIMESYNC, &m, sizeof(m));
	if (r == 0) {
		ts->last_sent_ns = now;
		if (sync) {
			atomic_store(&ts->sync_pending, false);
			atomic_fetch_add(&ts->syncs, 1);
		} else {
			atomic_fetch_add(&ts->samples, 1);
		}
	}
	ic_channel_set_timer(ic, ts->cfg.sample_period_ns);
}

static void ts_ready(void *opaque, struct ic_channel *ic)
{
	struct ic_timesync *ts = opaque;

	/* A new guest (boot, reboot, resume): its clock is set from the first message. */
	atomic_store(&ts->sync_pending, true);
	ts_poll(ts, ic);
}

static void ts_response(void *opaque, struct ic_channel *ic, uint32_t status, const uint8_t *body,
			size_t len)
{
	struct ic_timesync *ts = opaque;

	atomic_fetch_add(&ts->answers, 1);
}

/* Saved state: whether a SYNC was due. After a restore one always is (time moved on). */
static int ts_save(void *opaque, struct ic_channel *ic, struct state_out *out)
{
	struct ic_timesync *ts = opaque;

	state_out_u8(out, atomic_load(&ts->sync_pending));
	return 0;
}

static int ts_load(void *opaque, struct ic_channel *ic, struct state_in *in, char *err,
		   size_t errlen)
{
	struct ic_timesync *ts = opaque;

	(void)state_in_u8(in);
	atomic_store(&ts->sync_pending, true);
	ts->last_sent_ns = 0;
	(void)err, (void)errlen;
	return 0;
}

static const struct ic_ops ts_ops = {
	.ready = ts_ready,
	.response = ts_response,
	.poll = ts_poll,
	.save = ts_save,
	.load = ts_load,
};

int ic_timesync_new(struct vmbus_server *s, const struct ic_timesync_config *cfg,
		    struct ic_timesync **ret)
{
	struct ic_timesync *ts = calloc(1, sizeof(*ts));
	struct ic_channel_config icfg = {
		.name = "timesync",
		.class_guid = IC_TIMESYNC_CLASS_GUID,
		.instance_guid = IC_TIMESYNC_INSTANCE_GUID,
	};
	int r;

	if (!ts)
		return -ENOMEM;
	if (cfg)
		ts->cfg = *cfg;
	if (!ts->cfg.sample_period_ns)
		ts->cfg.sample_period_ns = 5000000000ull;
	icfg.versions = versions;
	icfg.nversions = ARRAY_SIZE(versions);
	r = ic_channel_new(s, &icfg, &ts_ops, ts, &ts->ic);
	if (r < 0) {
		free(ts);
		return r;
	}
	*ret = ts;
	return 0;
}

struct ic_timesync *ic_timesync_free(struct ic_timesync *ts)
{
	if (!ts)
		return NULL;
	ic_channel_free(ts->ic);
	free(ts);
	return NULL;
}

void ic_timesync_sync_now(struct ic_timesync *ts)
{
	atomic_store(&ts->sync_pending, true);
	ic_channel_wake(ts->ic);
}

void ic_timesync_get_status(struct ic_timesync *ts, struct ic_timesync_status *st)
{
	*st = (struct ic_timesync_status){
		.state = ic_state_name(ic_channel_state(ts->ic)),
		.version = ic_channel_version(ts->ic),
		.syncs = atomic_load(&ts->syncs),
		.samples = atomic_load(&ts->samples),
		.answers = atomic_load(&ts->answers),
	};
}

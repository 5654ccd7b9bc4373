/* Heartbeat IC (heartbeat.h). Runs on its channel's worker thread. */
#include "vsp/ic/heartbeat.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "hvdef/ic_proto.h"
#include "vsp/ic/ic_framework.h"

/* hv_util.c hb_versions: 3.0, 1.0 */
static const uint32_t versions[] = {IC_VERSION(3, 0), IC_VERSION(1, 0)};

struct ic_heartbeat {
	struct ic_channel *ic;
	uint64_t period_ns;
	uint64_t seq;	      /* worker: last number sent */
	uint64_t sent_ns;     /* worker: when */
	pthread_mutex_t lock; /* protects the fields below */
	uint64_t first_ns, last_ns, answers, wrong;
};

static void hb_poll(void *opaque, struct ic_channel *ic)
{
	struct ic_heartbeat *hb = opaque;
	uint64_t now = time_monotonic_ns();
	struct ic_heartbeat_msg m = {0};

	if (ic_channel_busy(ic)) {
		/* No answer for 3 periods: stop waiting, send a new number. */
		if (now - hb->sent_ns < 3 * hb->period_ns) {
			ic_channel_set_timer(ic, hb->period_ns);
			return;
		}
		ic_channel_abandon(ic);
	}
	if (now - hb->sent_ns < hb->period_ns) {
		ic_channel_set_timer(ic, hb->period_ns - (now - hb->sent_ns));
		return;
	}
	m.seq_num = ++hb->seq;
	if (ic_channel_send_request(ic, IC_MSGTYPE_HEARTBEAT, &m, sizeof(m)) == 0)
		hb->sent_ns = now;
	ic_channel_set_timer(ic, hb->period_ns);
}

static void hb_ready(void *opaque, struct ic_channel *ic)
{
	struct ic_heartbeat *hb = opaque;

	hb->sent_ns = 0;
	hb_poll(hb, ic);
}

static void hb_response(void *opaque, struct ic_channel *ic, uint32_t status, const uint8_t *body,
			size_t len)
{
	struct ic_heartbeat *hb = opaque;
	uint64_t seq = 0;
	bool ok = status == IC_STATUS_OK && len >= sizeof(seq);

	if (ok) {
		memcpy(&seq, body, sizeof(seq));
		ok = seq == hb->seq + 1;
	}
	pthread_mutex_lock(&hb->lock);
	if (ok) {
		hb->last_ns = time_monotonic_ns();
		if (!hb->first_ns)
			hb->first_ns = hb->last_ns;
		hb->answers++;
	} else {
		hb->wrong++;
	}
	pthread_mutex_unlock(&hb->lock);
}

/* Saved state: the last number sent (the guest's answer must carry it). */
static int hb_save(void *opaque, struct ic_channel *ic, struct state_out *out)
{
	struct ic_heartbeat *hb = opaque;

	state_out_u64(out, hb->seq);
	return 0;
}

static int hb_load(void *opaque, struct ic_channel *ic, struct state_in *in, char *err,
		   size_t errlen)
{
	struct ic_heartbeat *hb = opaque;

	hb->seq = state_in_u64(in);
	/* Host time does not carry over: a request in flight gets its full wait from now. */
	hb->sent_ns = time_monotonic_ns();
	(void)err, (void)errlen;
	return 0;
}

static const struct ic_ops hb_ops = {
	.ready = hb_ready,
	.response = hb_response,
	.poll = hb_poll,
	.save = hb_save,
	.load = hb_load,
};

int ic_heartbeat_new(struct vmbus_server *s, uint64_t period_ns, struct ic_heartbeat **ret)
{
	struct ic_channel_config cfg = {
		.name = "heartbeat",
		.class_guid = IC_HEARTBEAT_CLASS_GUID,
		.instance_guid = IC_HEARTBEAT_INSTANCE_GUID,
		.versions = versions,
		.nversions = ARRAY_SIZE(versions),
	};
	struct ic_heartbeat *hb = calloc(1, sizeof(*hb));
	int r;

	if (!hb)
		return -ENOMEM;
	hb->period_ns = period_ns ? period_ns : 1000000000ull;
	pthread_mutex_init(&hb->lock, NULL);
	r = ic_channel_new(s, &cfg, &hb_ops, hb, &hb->ic);
	if (r < 0) {
		pthread_mutex_destroy(&hb->lock);
		free(hb);
		return r;
	}
	*ret = hb;
	return 0;
}

struct ic_heartbeat *ic_heartbeat_free(struct ic_heartbeat *hb)
{
	if (!hb)
		return NULL;
	ic_channel_free(hb->ic);
	pthread_mutex_destroy(&hb->lock);
	free(hb);
	return NULL;
}

void ic_heartbeat_get_status(struct ic_heartbeat *hb, struct ic_heartbeat_status *st)
{
	uint64_t now = time_monotonic_ns();

	pthread_mutex_lock(&hb->lock);
	*st = (struct ic_heartbeat_status){
		.state = ic_state_name(ic_channel_state(hb->ic)),
		.version = ic_channel_version(hb->ic),
		.first_ns = hb->first_ns,
		.last_ns = hb->last_ns,
		.answers = hb->answers,
		.wrong_answers = hb->wrong,
		.alive = hb->last_ns && now - hb->last_ns < 3 * hb->period_ns &&
			 ic_channel_state(hb->ic) == IC_STATE_READY,
	};
	pthread_mutex_unlock(&hb->lock);
}

/* Shutdown IC (shutdown.h). The request is queued by any thread and sent by the worker. */
#include "vsp/ic/shutdown.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvdef/ic_proto.h"
#include "vsp/ic/ic_framework.h"

/* hv_util.c sd_versions: 3.2, 3.1, 3.0, 1.0 */
static const uint32_t versions[] = {IC_VERSION(3, 2), IC_VERSION(3, 1), IC_VERSION(3, 0),
				    IC_VERSION(1, 0)};

struct ic_shutdown {
	struct ic_channel *ic;
	pthread_mutex_t lock;	    /* protects everything below */
	bool queued;		    /* a request waits for the worker */
	bool in_flight;		    /* sent, not answered */
	struct ic_shutdown_msg msg; /* the queued request */
	uint64_t sent, accepted, refused;
	uint32_t last_status;
};

static void sd_poll(void *opaque, struct ic_channel *ic)
{
	struct ic_shutdown *sd = opaque;
	struct ic_shutdown_msg msg;
	bool go;

	pthread_mutex_lock(&sd->lock);
	go = sd->queued && !sd->in_flight;
	if (go)
		msg = sd->msg;
	pthread_mutex_unlock(&sd->lock);
	if (!go || ic_channel_send_request(ic, IC_MSGTYPE_SHUTDOWN, &msg, sizeof(msg)) < 0)
		return;
	pthread_mutex_lock(&sd->lock);
	sd->queued = false;
	sd->in_flight = true;
	sd->sent++;
	pthread_mutex_unlock(&sd->lock);
}

static void sd_response(void *opaque, struct ic_channel *ic, uint32_t status, const uint8_t *body,
			size_t len)
{
	struct ic_shutdown *sd = opaque;

	pthread_mutex_lock(&sd->lock);
	sd->in_flight = false;
	sd->last_status = status;
	if (status == IC_STATUS_OK)
		sd->accepted++;
	else
		sd->refused++;
	pthread_mutex_unlock(&sd->lock);
}

static void sd_ready(void *opaque, struct ic_channel *ic)
{
	struct ic_shutdown *sd = opaque;

	pthread_mutex_lock(&sd->lock);
	sd->in_flight = false;
	pthread_mutex_unlock(&sd->lock);
	sd_poll(sd, ic);
}

/* Saved state: a request waiting to be sent, or sent and not answered. */
static int sd_save(void *opaque, struct ic_channel *ic, struct state_out *out)
{
	struct ic_shutdown *sd = opaque;

	pthread_mutex_lock(&sd->lock);
	state_out_u8(out, sd->queued);
	state_out_u8(out, sd->in_flight);
	state_out_bytes(out, &sd->msg, sizeof(sd->msg));
	pthread_mutex_unlock(&sd->lock);
	return 0;
}

static int sd_load(void *opaque, struct ic_channel *ic, struct state_in *in, char *err,
		   size_t errlen)
{
	struct ic_shutdown *sd = opaque;
	bool queued = state_in_u8(in) != 0, in_flight = state_in_u8(in) != 0;
	struct ic_shutdown_msg msg;

	state_in_bytes(in, &msg, sizeof(msg));
	/* A request in flight is the framework's outstanding SHUTDOWN. */
	if (in_flight &&
	    (!ic_channel_busy(ic) || ic_channel_busy_type(ic) != IC_MSGTYPE_SHUTDOWN)) {
		snprintf(err, errlen, "shutdown in flight without its request");
		return -EINVAL;
	}
	pthread_mutex_lock(&sd->lock);
	sd->queued = queued;
	sd->in_flight = in_flight;
	sd->msg = msg;
	pthread_mutex_unlock(&sd->lock);
	return 0;
}

static const struct ic_ops sd_ops = {
	.ready = sd_ready,
	.response = sd_response,
	.poll = sd_poll,
	.save = sd_save,
	.load = sd_load,
};

int ic_shutdown_new(struct vmbus_server *s, struct ic_shutdown **ret)
{
	struct ic_channel_config cfg = {
		.name = "shutdown",
		.class_guid = IC_SHUTDOWN_CLASS_GUID,
		.instance_guid = IC_SHUTDOWN_INSTANCE_GUID,
		.versions = versions,
		.nversions = ARRAY_SIZE(versions),
	};
	struct ic_shutdown *sd = calloc(1, sizeof(*sd));
	int r;

	if (!sd)
		return -ENOMEM;
	pthread_mutex_init(&sd->lock, NULL);
	r = ic_channel_new(s, &cfg, &sd_ops, sd, &sd->ic);
	if (r < 0) {
		pthread_mutex_destroy(&sd->lock);
		free(sd);
		return r;
	}
	*ret = sd;
	return 0;
}

struct ic_shutdown *ic_shutdown_free(struct ic_shutdown *sd)
{
	if (!sd)
		return NULL;
	ic_channel_free(sd->ic);
	pthread_mutex_destroy(&sd->lock);
	free(sd);
	return NULL;
}

bool ic_shutdown_ready(struct ic_shutdown *sd)
{
	return ic_channel_state(sd->ic) == IC_STATE_READY;
}

/* ASCII and UTF-8 up to U+FFFF into NUL-terminated UTF-16LE; invalid bytes become '?'. */
static void to_utf16(const char *s, uint8_t *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	while (*p && o + 4 <= outlen) {
		uint32_t c = *p++;

		if (c >= 0xC0 && c < 0xE0 && (*p & 0xC0) == 0x80)
			c = (c & 0x1F) << 6 | (*p++ & 0x3F);
		else if (c >= 0xE0 && c < 0xF0 && (p[0] & 0xC0) == 0x80 && (p[1] & 0xC0) == 0x80) {
			c = (c & 0x0F) << 12 | (uint32_t)(p[0] & 0x3F) << 6 | (p[1] & 0x3F);
			p += 2;
		} else if (c >= 0x80)
			c = '?';
		out[o++] = (uint8_t)c;
		out[o++] = (uint8_t)(c >> 8);
	}
	out[o] = out[o + 1] = 0;
}

int ic_shutdown_request(struct ic_shutdown *sd, enum ic_shutdown_action action, bool force,
			const char *reason)
{
	if (!ic_shutdown_ready(sd))
		return -ENOTCONN;
	pthread_mutex_lock(&sd->lock);
	if (sd->queued || sd->in_flight) {
		pthread_mutex_unlock(&sd->lock);
		return -EBUSY;
	}
	memset(&sd->msg, 0, sizeof(sd->msg));
	sd->msg.reason_code = IC_SHUTDOWN_REASON_PLANNED;
	sd->msg.flags = (action == IC_SHUTDOWN_RESTART ? IC_SHUTDOWN_FLAG_RESTART : 0) |
			(force ? IC_SHUTDOWN_FLAG_FORCE : 0);
	to_utf16(reason ? reason : "", sd->msg.display_message, sizeof(sd->msg.display_message));
	sd->queued = true;
	pthread_mutex_unlock(&sd->lock);
	ic_channel_wake(sd->ic);
	return 0;
}

void ic_shutdown_get_status(struct ic_shutdown *sd, struct ic_shutdown_status *st)
{
	pthread_mutex_lock(&sd->lock);
	*st = (struct ic_shutdown_status){
		.state = ic_state_name(ic_channel_state(sd->ic)),
		.version = ic_channel_version(sd->ic),
		.pending = sd->queued || sd->in_flight,
		.requests_sent = sd->sent,
		.accepted = sd->accepted,
		.refused = sd->refused,
		.last_status = sd->last_status,
	};
	pthread_mutex_unlock(&sd->lock);
}

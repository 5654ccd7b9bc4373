/*
 * IC framework (ic_framework.h): the channel, version negotiation and the
 * one-transaction-at-a-time request/response cycle shared by every IC.
 * Wire format: hvdef/ic_proto.h; guest side: Linux drivers/hv/hv_util.c
 * and channel_mgmt.c vmbus_prep_negotiate_resp().
 */
#include "vsp/ic/ic_framework.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "hvdef/ic_proto.h"
#include "hvdef/vmbus_proto.h"

#define IC_MAX_PACKET	(8 * KiB)
#define IC_MAX_VERSIONS 8u

/* Framework versions the host offers (hv_util.c fw_versions: 3.0 and 1.0). */
static const uint32_t framework_versions[] = {IC_VERSION(3, 0), IC_VERSION(1, 0)};

struct ic_channel {
	struct ic_channel_config cfg; /* immutable; versions copied below */
	uint32_t versions[IC_MAX_VERSIONS];
	const struct ic_ops *ops;
	void *opaque;
	struct vmbus_channel *ch;
	struct guest_error_log errors; /* every guest-triggered log line, rate-limited */

	_Atomic int state; /* enum ic_state */
	_Atomic uint32_t fw_version, msg_version;
	/* Worker thread (reset at open, before the worker starts). */
	bool negotiate_sent;
	bool busy; /* a request is outstanding */
	_Atomic bool busy_public;
	uint16_t busy_type;
	uint8_t transaction_id;
	struct {
		_Atomic uint64_t requests, responses, bad_messages, abandoned;
	} stats;
};

const char *ic_state_name(enum ic_state state)
{
	switch (state) {
	case IC_STATE_CLOSED: return "closed";
	case IC_STATE_NEGOTIATING: return "negotiating";
	case IC_STATE_READY: return "ready";
	case IC_STATE_FAILED: return "failed";
	}
	return "?";
}

static struct ic_version to_ver(uint32_t v)
{
	return (struct ic_version){.major = (uint16_t)(v >> 16), .minor = (uint16_t)v};
}

static void guest_error(struct ic_channel *ic, const char *what)
{
	atomic_fetch_add(&ic->stats.bad_messages, 1);
	guest_error_report(&ic->errors, "%s", what);
}

/* Sends pipe header + IC header + body. */
static int send_message(struct ic_channel *ic, uint16_t msgtype, const void *body, size_t len)
{
	uint8_t buf[IC_MAX_PACKET];
	struct vmbus_pipe_header pipe = {.packet_type = VMBUS_PIPE_PACKET_DATA};
	struct ic_msg_header h = {
		.icverframe = to_ver(atomic_load(&ic->fw_version)),
		.icmsgtype = msgtype,
		.icvermsg = to_ver(atomic_load(&ic->msg_version)),
		.icmsgsize = (uint16_t)len,
		.ictransaction_id = ++ic->transaction_id,
		.icflags = IC_FLAG_TRANSACTION | IC_FLAG_REQUEST,
	};
	int r;

	if (len > sizeof(buf) - IC_PREFIX_SIZE)
		return -EINVAL;
	pipe.len = (uint32_t)(sizeof(h) + len);
	memcpy(buf, &pipe, sizeof(pipe));
	memcpy(buf + sizeof(pipe), &h, sizeof(h));
	memcpy(buf + IC_PREFIX_SIZE, body, len);
	r = vmbus_channel_send(ic->ch, VMBUS_PKT_DATA_INBAND, 0, 0, buf, IC_PREFIX_SIZE + len);
	if (r == 0) {
		ic->busy = true;
		atomic_store(&ic->busy_public, true);
		ic->busy_type = msgtype;
		atomic_fetch_add(&ic->stats.requests, 1);
	}
	return r;
}

static void send_negotiate(struct ic_channel *ic)
{
	uint8_t body[sizeof(struct ic_negotiate) +
		     (2 + IC_MAX_VERSIONS) * sizeof(struct ic_version)];
	struct ic_negotiate n = {
		.icframe_vercnt = ARRAY_SIZE(framework_versions),
		.icmsg_vercnt = (uint16_t)ic->cfg.nversions,
	};
	size_t off = sizeof(n);
	unsigned i;

	memcpy(body, &n, sizeof(n));
	for (i = 0; i < ARRAY_SIZE(framework_versions); i++, off += 4) {
		struct ic_version v = to_ver(framework_versions[i]);

		memcpy(body + off, &v, 4);
	}
	for (i = 0; i < ic->cfg.nversions; i++, off += 4) {
		struct ic_version v = to_ver(ic->versions[i]);

		memcpy(body + off, &v, 4);
	}
	if (send_message(ic, IC_MSGTYPE_NEGOTIATE, body, off) == 0)
		ic->negotiate_sent = true;
}

static bool offered(const uint32_t *list, unsigned n, uint32_t v)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (list[i] == v)
			return true;
	return false;
}

static void on_negotiate_response(struct ic_channel *ic, const uint8_t *body, size_t len)
{
	struct ic_negotiate n;
	struct ic_version fw, msg;

	if (len < sizeof(n) + 8) {
		guest_error(ic, "short version answer");
		atomic_store(&ic->state, IC_STATE_FAILED);
		return;
	}
	memcpy(&n, body, sizeof(n));
	memcpy(&fw, body + sizeof(n), 4);
	memcpy(&msg, body + sizeof(n) + 4, 4);
	if (n.icframe_vercnt != 1 || n.icmsg_vercnt != 1 ||
	    !offered(framework_versions, ARRAY_SIZE(framework_versions),
		     IC_VERSION(fw.major, fw.minor)) ||
	    !offered(ic->versions, ic->cfg.nversions, IC_VERSION(msg.major, msg.minor))) {
		guest_log(&ic->errors, LOG_WARN, "no version in common with the guest");
		atomic_store(&ic->state, IC_STATE_FAILED);
		return;
	}
	atomic_store(&ic->fw_version, IC_VERSION(fw.major, fw.minor));
	atomic_store(&ic->msg_version, IC_VERSION(msg.major, msg.minor));
	atomic_store(&ic->state, IC_STATE_READY);
	if (ic->ops->ready)
		ic->ops->ready(ic->opaque, ic);
}

static int on_packet(void *opaque, struct vmbus_channel *ch, const struct vmbus_packet *pkt)
{
	struct ic_channel *ic = opaque;
	struct vmbus_pipe_header pipe;
	struct ic_msg_header h;
	const uint8_t *body;
	size_t len;

	if (pkt->type != VMBUS_PKT_DATA_INBAND || pkt->len < IC_PREFIX_SIZE) {
		guest_error(ic, "packet too short or not in-band");
		return VMBUS_PACKET_DONE;
	}
	memcpy(&pipe, pkt->data, sizeof(pipe));
	memcpy(&h, pkt->data + sizeof(pipe), sizeof(h));
	body = pkt->data + IC_PREFIX_SIZE;
	len = pkt->len - IC_PREFIX_SIZE;
	if (!(h.icflags & IC_FLAG_RESPONSE) || !ic->busy || h.icmsgtype != ic->busy_type ||
	    h.ictransaction_id != ic->transaction_id) {
		guest_error(ic, "answer to no request");
		return VMBUS_PACKET_DONE;
	}
	ic->busy = false;
	atomic_store(&ic->busy_public, false);
	atomic_fetch_add(&ic->stats.responses, 1);
	if (h.icmsgtype == IC_MSGTYPE_NEGOTIATE) {
		on_negotiate_response(ic, body, len);
		return VMBUS_PACKET_DONE;
	}
	if (ic->ops->response)
		ic->ops->response(ic->opaque, ic, h.status, body, len);
	if (ic->ops->poll)
		ic->ops->poll(ic->opaque, ic);
	return VMBUS_PACKET_DONE;
}

static void on_wake(void *opaque, struct vmbus_channel *ch)
{
	struct ic_channel *ic = opaque;

	if (atomic_load(&ic->state) == IC_STATE_NEGOTIATING && !ic->negotiate_sent) {
		send_negotiate(ic);
		return;
	}
	if (atomic_load(&ic->state) == IC_STATE_READY && ic->ops->poll)
		ic->ops->poll(ic->opaque, ic);
}

static int on_open(void *opaque, struct vmbus_channel *ch, const uint8_t *user_data)
{
	struct ic_channel *ic = opaque;

	ic->negotiate_sent = false;
	ic->busy = false;
	atomic_store(&ic->busy_public, false);
	atomic_store(&ic->fw_version, 0);
	atomic_store(&ic->msg_version, 0);
	atomic_store(&ic->state, IC_STATE_NEGOTIATING);
	vmbus_channel_wake(ch); /* the worker sends the version request */
	return 0;
}

static void on_close(void *opaque, struct vmbus_channel *ch)
{
	struct ic_channel *ic = opaque;

	atomic_store(&ic->state, IC_STATE_CLOSED);
	ic->busy = false;
	atomic_store(&ic->busy_public, false);
}

/* --- Saved state: u32 format, state, framework and message versions, the request in flight --- */

#define IC_STATE_FORMAT 1u

static int on_save(void *opaque, struct vmbus_channel *ch, struct state_out *out)
{
	struct ic_channel *ic = opaque;

	state_out_u32(out, IC_STATE_FORMAT);
	state_out_u32(out, (uint32_t)atomic_load(&ic->state));
	state_out_u32(out, atomic_load(&ic->fw_version));
	state_out_u32(out, atomic_load(&ic->msg_version));
	state_out_u8(out, ic->negotiate_sent);
	state_out_u8(out, ic->busy);
	state_out_u32(out, ic->busy_type);
	state_out_u8(out, ic->transaction_id);
	return ic->ops->save ? ic->ops->save(ic->opaque, ic, out) : 0;
}

static int load_fail(char *err, size_t errlen, const char *what, uint32_t v)
{
	snprintf(err, errlen, "%s %#x", what, v);
	return -EINVAL;
}

static int on_load(void *opaque, struct vmbus_channel *ch, struct state_in *in, char *err,
		   size_t errlen)
{
	struct ic_channel *ic = opaque;
	bool open = vmbus_channel_state(ch) == VMBUS_CHANNEL_OPEN;
	uint32_t format = state_in_u32(in), state = state_in_u32(in);
	uint32_t fw = state_in_u32(in), msg = state_in_u32(in);
	bool negotiate_sent = state_in_u8(in) != 0, busy = state_in_u8(in) != 0;
	uint32_t busy_type = state_in_u32(in);
	uint8_t tid = state_in_u8(in);

	if (in->error)
		return load_fail(err, errlen, "integration service state truncated at", 0);
	if (format != IC_STATE_FORMAT)
		return load_fail(err, errlen, "integration service state format", format);
	if (state > IC_STATE_FAILED || (state == IC_STATE_CLOSED) == open)
		return load_fail(err, errlen, "integration service state", state);
	if (fw && !offered(framework_versions, ARRAY_SIZE(framework_versions), fw))
		return load_fail(err, errlen, "framework version", fw);
	if (msg && !offered(ic->versions, ic->cfg.nversions, msg))
		return load_fail(err, errlen, "message version", msg);
	if (state == IC_STATE_READY && (!fw || !msg))
		return load_fail(err, errlen, "ready without versions: framework", fw);
	if (busy &&
	    (busy_type > UINT16_MAX || (state != IC_STATE_READY && state != IC_STATE_NEGOTIATING) ||
	     (state == IC_STATE_NEGOTIATING && busy_type != IC_MSGTYPE_NEGOTIATE)))
		return load_fail(err, errlen, "request in flight of type", busy_type);
	ic->ch = ch;
	atomic_store(&ic->state, (int)state);
	atomic_store(&ic->fw_version, fw);
	atomic_store(&ic->msg_version, msg);
	ic->negotiate_sent = negotiate_sent;
	ic->busy = busy;
	atomic_store(&ic->busy_public, busy);
	ic->busy_type = (uint16_t)busy_type;
	ic->transaction_id = tid;
	return ic->ops->load ? ic->ops->load(ic->opaque, ic, in, err, errlen) : 0;
}

static const struct vmbus_channel_ops ic_vmbus_ops = {
	.open = on_open,
	.packet = on_packet,
	.wake = on_wake,
	.close = on_close,
	.save = on_save,
	.load = on_load,
	.vsp_name = "integration service",
};

uint16_t ic_channel_busy_type(struct ic_channel *ic)
{
	return ic->busy_type;
}

int ic_channel_new(struct vmbus_server *s, const struct ic_channel_config *cfg,
		   const struct ic_ops *ops, void *opaque, struct ic_channel **ret)
{
	struct vmbus_channel_params p = {
		.name = cfg->name, .pipe_message_mode = true, .max_packet_size = IC_MAX_PACKET};
	struct ic_channel *ic;
	char name[24];
	int r;

	if (cfg->nversions == 0 || cfg->nversions > IC_MAX_VERSIONS ||
	    guid_parse(cfg->class_guid, &p.class_id) < 0 ||
	    guid_parse(cfg->instance_guid, &p.instance_id) < 0)
		return -EINVAL;
	ic = calloc(1, sizeof(*ic));
	if (!ic)
		return -ENOMEM;
	ic->cfg = *cfg;
	memcpy(ic->versions, cfg->versions, cfg->nversions * sizeof(uint32_t));
	ic->cfg.versions = ic->versions;
	ic->ops = ops;
	ic->opaque = opaque;
	snprintf(name, sizeof(name), "ic %s", cfg->name);
	guest_error_log_init(&ic->errors, name);
	ic->errors.rl.burst = 5;
	atomic_store(&ic->state, IC_STATE_CLOSED);
	r = vmbus_channel_new(s, &p, &ic_vmbus_ops, ic, &ic->ch);
	if (r < 0) {
		free(ic);
		return r;
	}
	*ret = ic;
	return 0;
}

struct ic_channel *ic_channel_free(struct ic_channel *ic)
{
	if (!ic)
		return NULL;
	vmbus_channel_free(ic->ch);
	free(ic);
	return NULL;
}

enum ic_state ic_channel_state(struct ic_channel *ic)
{
	return (enum ic_state)atomic_load(&ic->state);
}

uint32_t ic_channel_version(struct ic_channel *ic)
{
	return atomic_load(&ic->msg_version);
}

bool ic_channel_busy(struct ic_channel *ic)
{
	return atomic_load(&ic->busy_public);
}

struct vmbus_channel *ic_channel_vmbus(struct ic_channel *ic)
{
	return ic->ch;
}

int ic_channel_send_request(struct ic_channel *ic, uint16_t msgtype, const void *body, size_t len)
{
	if (atomic_load(&ic->state) != IC_STATE_READY)
		return -ENOTCONN;
	if (ic->busy)
		return -EBUSY;
	return send_message(ic, msgtype, body, len);
}

void ic_channel_abandon(struct ic_channel *ic)
{
	if (!ic->busy)
		return;
	ic->busy = false;
	atomic_store(&ic->busy_public, false);
	atomic_fetch_add(&ic->stats.abandoned, 1);
}

void ic_channel_wake(struct ic_channel *ic)
{
	vmbus_channel_wake(ic->ch);
}

void ic_channel_set_timer(struct ic_channel *ic, uint64_t delay_ns)
{
	vmbus_channel_set_timer(ic->ch, delay_ns);
}

void ic_channel_get_stats(struct ic_channel *ic, struct ic_channel_stats *st)
{
	st->requests = atomic_load(&ic->stats.requests);
	st->responses = atomic_load(&ic->stats.responses);
	st->bad_messages = atomic_load(&ic->stats.bad_messages);
	st->abandoned = atomic_load(&ic->stats.abandoned);
}

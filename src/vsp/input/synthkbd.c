/*
 * The synthetic keyboard VSP (synthkbd.h). Guest side: Linux 6.1
 * drivers/input/serio/hyperv-keyboard.c (hv_kbd_connect_to_vsp,
 * hv_kbd_on_receive): it feeds each event's prefix, then make_code with 0x80
 * for a break, to atkbd in translated mode, so the codes are set 1.
 */
#include "vsp/input/synthkbd.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "vsp/input/input_queue.h"

struct synthkbd {
	struct vmbus_channel *ch;
	struct guest_error_log errors;
	struct input_queue queue;
	_Atomic bool ready;
	_Atomic uint16_t leds;
	struct {
		_Atomic uint64_t events_sent, events_dropped, messages, bad_messages,
			refused_versions;
	} stats;
};

int synthkbd_msg_parse(const uint8_t *data, size_t len, struct synthkbd_msg *msg, const char **why)
{
	memset(msg, 0, sizeof(*msg));
	if (len < sizeof(uint32_t)) {
		*why = "packet shorter than a message type";
		return -EBADMSG;
	}
	memcpy(&msg->type, data, sizeof(msg->type));
	switch (msg->type) {
	case SYNTHKBD_PROTOCOL_REQUEST: {
		struct synthkbd_protocol_request r;

		if (len < sizeof(r))
			break;
		memcpy(&r, data, sizeof(r));
		msg->version = r.version;
		return 0;
	}
	case SYNTHKBD_LED_INDICATORS: {
		struct synthkbd_led_indicators l;

		if (len < sizeof(l))
			break;
		memcpy(&l, data, sizeof(l));
		msg->leds = l.led_flags;
		return 0;
	}
	default: *why = "unknown or host-only message type"; return -EBADMSG;
	}
	*why = "message shorter than its type needs";
	return -EBADMSG;
}

static void guest_error(struct synthkbd *k, const char *what)
{
	atomic_fetch_add(&k->stats.bad_messages, 1);
	guest_error_report(&k->errors, "%s", what);
}

/* Sends queued events until the ring is full (the wake callback continues then). */
static void drain(struct synthkbd *k)
{
	struct synthkbd_keystroke ev;
	uint8_t buf[INPUT_QUEUE_RECORD];
	unsigned n;

	while ((n = input_queue_peek(&k->queue, buf)) > 0) {
		memcpy(&ev, buf, sizeof(ev));
		if (vmbus_channel_send(k->ch, VMBUS_PKT_DATA_INBAND, 0, 0, &ev, sizeof(ev)) ==
		    -EAGAIN)
			return;
		input_queue_pop(&k->queue);
		atomic_fetch_add(&k->stats.events_sent, 1);
	}
}

static int on_protocol_request(struct synthkbd *k, const struct synthkbd_msg *m)
{
	struct synthkbd_protocol_response resp = {.type = SYNTHKBD_PROTOCOL_RESPONSE};
	bool ok = m->version == SYNTHKBD_VERSION_1_0;
	int r;

	resp.status = ok ? SYNTHKBD_PROTOCOL_ACCEPTED : 0;
	r = vmbus_channel_send(k->ch, VMBUS_PKT_DATA_INBAND, 0, 0, &resp, sizeof(resp));
	if (r == -EAGAIN)
		return VMBUS_PACKET_BUSY;
	if (!ok)
		atomic_fetch_add(&k->stats.refused_versions, 1);
	atomic_store(&k->ready, ok);
	return VMBUS_PACKET_DONE;
}

static int kbd_packet(void *opaque, struct vmbus_channel *ch, const struct vmbus_packet *pkt)
{
	struct synthkbd *k = opaque;
	struct synthkbd_msg m;
	const char *why;

	(void)ch;
	if (pkt->type != VMBUS_PKT_DATA_INBAND) {
		guest_error(k, "packet is not in-band data");
		return VMBUS_PACKET_DONE;
	}
	if (synthkbd_msg_parse(pkt->data, pkt->len, &m, &why) < 0) {
		guest_error(k, why);
		return VMBUS_PACKET_DONE;
	}
	atomic_fetch_add(&k->stats.messages, 1);
	if (m.type == SYNTHKBD_PROTOCOL_REQUEST)
		return on_protocol_request(k, &m);
	atomic_store(&k->leds, m.leds);
	return VMBUS_PACKET_DONE;
}

static void kbd_wake(void *opaque, struct vmbus_channel *ch)
{
	(void)ch;
	drain(opaque);
}

static int kbd_open(void *opaque, struct vmbus_channel *ch, const uint8_t *user_data)
{
	struct synthkbd *k = opaque;

	(void)ch;
	(void)user_data;
	input_queue_clear(&k->queue);
	return 0;
}

static void kbd_close(void *opaque, struct vmbus_channel *ch)
{
	struct synthkbd *k = opaque;

	(void)ch;
	atomic_store(&k->ready, false);
	input_queue_clear(&k->queue);
}

/* Saved state, format 1: u32 format, u8 negotiated, u32 LEDs, the keystrokes not yet sent. */
static int kbd_save(void *opaque, struct vmbus_channel *ch, struct state_out *out)
{
	struct synthkbd *k = opaque;

	state_out_u32(out, 1);
	state_out_u8(out, atomic_load(&k->ready));
	state_out_u32(out, atomic_load(&k->leds));
	input_queue_save(&k->queue, out);
	return 0;
}

static int kbd_load(void *opaque, struct vmbus_channel *ch, struct state_in *in, char *err,
		    size_t errlen)
{
	struct synthkbd *k = opaque;
	uint32_t format = state_in_u32(in);
	bool ready = state_in_u8(in) != 0;
	uint32_t leds = state_in_u32(in);

	if (in->error || format != 1 || leds > UINT16_MAX || !input_queue_load(&k->queue, in) ||
	    (ready && vmbus_channel_state(ch) != VMBUS_CHANNEL_OPEN)) {
		snprintf(err, errlen, "keyboard state: format %u, LEDs %#x or queue out of range",
			 format, leds);
		return -EINVAL;
	}
	atomic_store(&k->ready, ready);
	atomic_store(&k->leds, (uint16_t)leds);
	return 0;
}

static const struct vmbus_channel_ops kbd_ops = {
	.open = kbd_open,
	.packet = kbd_packet,
	.wake = kbd_wake,
	.close = kbd_close,
	.save = kbd_save,
	.load = kbd_load,
	.vsp_name = "synthetic keyboard",
};

int synthkbd_send_scancode(struct synthkbd *k, uint16_t make_code, uint32_t flags)
{
	struct synthkbd_keystroke ev = {
		.type = SYNTHKBD_EVENT, .make_code = make_code, .flags = flags};

	if (make_code == 0 || make_code > 0x7F ||
	    (flags & ~(SYNTHKBD_FLAG_E0 | SYNTHKBD_FLAG_E1 | SYNTHKBD_FLAG_BREAK))) {
		atomic_fetch_add(&k->stats.events_dropped, 1);
		return -EINVAL;
	}
	if (!atomic_load(&k->ready)) {
		atomic_fetch_add(&k->stats.events_dropped, 1);
		return -ENOTCONN;
	}
	if (!input_queue_push(&k->queue, &ev, sizeof(ev))) {
		atomic_fetch_add(&k->stats.events_dropped, 1);
		return -ENOSPC;
	}
	vmbus_channel_wake(k->ch);
	return 0;
}

int synthkbd_new(struct vmbus_server *s, struct synthkbd **ret)
{
	struct vmbus_channel_params params = {.name = "synthkbd"};
	struct synthkbd *k = calloc(1, sizeof(*k));
	int r;

	if (!k)
		return -ENOMEM;
	if (guid_parse(SYNTHKBD_CLASS_GUID, &params.class_id) < 0 ||
	    guid_parse(SYNTHKBD_INSTANCE_GUID, &params.instance_id) < 0) {
		free(k);
		return -EINVAL;
	}
	input_queue_init(&k->queue);
	guest_error_log_init(&k->errors, "synthkbd");
	r = vmbus_channel_new(s, &params, &kbd_ops, k, &k->ch);
	if (r < 0) {
		input_queue_fini(&k->queue);
		free(k);
		return r;
	}
	*ret = k;
	return 0;
}

struct synthkbd *synthkbd_free(struct synthkbd *k)
{
	if (!k)
		return NULL;
	vmbus_channel_free(k->ch);
	input_queue_fini(&k->queue);
	free(k);
	return NULL;
}

void synthkbd_get_stats(struct synthkbd *k, struct synthkbd_stats *st)
{
	*st = (struct synthkbd_stats){
		.ready = atomic_load(&k->ready),
		.leds = atomic_load(&k->leds),
		.events_sent = atomic_load(&k->stats.events_sent),
		.events_dropped = atomic_load(&k->stats.events_dropped),
		.messages = atomic_load(&k->stats.messages),
		.bad_messages = atomic_load(&k->stats.bad_messages),
		.refused_versions = atomic_load(&k->stats.refused_versions),
	};
}

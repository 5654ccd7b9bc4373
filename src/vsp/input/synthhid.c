/*
 * The synthetic mouse VSP (synthhid.h). Guest side: Linux 6.1
 * drivers/hid/hid-hyperv.c (mousevsc_connect_to_vsp, mousevsc_on_receive,
 * mousevsc_on_receive_device_info). The probe: PROTOCOL_REQUEST ->
 * PROTOCOL_RESPONSE, then INITIAL_DEVICE_INFO from the host, which the
 * guest acknowledges; input reports before that are dropped by the guest.
 */
#include "vsp/input/synthhid.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "hvdef/vmbus_proto.h"
#include "vsp/input/input_queue.h"

/*
 * An absolute pointer (HID Usage Tables 1.12: Generic Desktop Mouse, Pointer,
 * Buttons 1-5, X/Y 0..32767, Wheel), with no report ID: a report is 7 bytes.
 * Byte 14 is a Usage Maximum (0x29): hid-hyperv.c rewrites a 0x25 there.
 */
/* clang-format off */
const uint8_t synthhid_report_descriptor[] = {
	0x05, 0x01,		/* Usage Page (Generic Desktop) */
	0x09, 0x02,		/* Usage (Mouse) */
	0xA1, 0x01,		/* Collection (Application) */
	0x09, 0x01,		/*   Usage (Pointer) */
	0xA1, 0x00,		/*   Collection (Physical) */
	0x05, 0x09,		/*     Usage Page (Button) */
	0x19, 0x01,		/*     Usage Minimum (1) */
	0x29, 0x05,		/*     Usage Maximum (5) */
	0x15, 0x00,		/*     Logical Minimum (0) */
	0x25, 0x01,		/*     Logical Maximum (1) */
	0x95, 0x05,		/*     Report Count (5) */
	0x75, 0x01,		/*     Report Size (1) */
	0x81, 0x02,		/*     Input (Data, Variable, Absolute) */
	0x95, 0x01,		/*     Report Count (1) */
	0x75, 0x03,		/*     Report Size (3) */
	0x81, 0x01,		/*     Input (Constant): padding */
	0x05, 0x01,		/*     Usage Page (Generic Desktop) */
	0x09, 0x30,		/*     Usage (X) */
	0x09, 0x31,		/*     Usage (Y) */
	0x15, 0x00,		/*     Logical Minimum (0) */
	0x26, 0xFF, 0x7F,	/*     Logical Maximum (32767) */
	0x75, 0x10,		/*     Report Size (16) */
	0x95, 0x02,		/*     Report Count (2) */
	0x81, 0x02,		/*     Input (Data, Variable, Absolute) */
	0x05, 0x01,		/*     Usage Page (Generic Desktop) */
	0x09, 0x38,		/*     Usage (Wheel) */
	0x16, 0x01, 0x80,	/*     Logical Minimum (-32767) */
	0x26, 0xFF, 0x7F,	/*     Logical Maximum (32767) */
	0x75, 0x10,		/*     Report Size (16) */
	0x95, 0x01,		/*     Report Count (1) */
	0x81, 0x06,		/*     Input (Data, Variable, Relative) */
	0xC0,			/*   End Collection */
	0xC0,			/* End Collection */
};
/* clang-format on */
const size_t synthhid_report_descriptor_size = sizeof(synthhid_report_descriptor);
_Static_assert(sizeof(synthhid_report_descriptor) == 67, "report descriptor");

#define REPORT_SIZE 7u

struct synthhid {
	struct vmbus_channel *ch;
	struct guest_error_log errors;
	struct input_queue queue;
	_Atomic bool ready;
	_Atomic uint32_t version;
	struct {
		_Atomic uint64_t reports_sent, reports_dropped, messages, bad_messages,
			refused_versions;
	} stats;
};

int synthhid_msg_parse(const uint8_t *data, size_t len, struct synthhid_msg *msg, const char **why)
{
	struct vmbus_pipe_header pipe;
	struct synthhid_msg_header h;

	memset(msg, 0, sizeof(*msg));
	*why = NULL;
	if (len < sizeof(pipe) + sizeof(h)) {
		*why = "packet shorter than its headers";
		return -EBADMSG;
	}
	memcpy(&pipe, data, sizeof(pipe));
	memcpy(&h, data + sizeof(pipe), sizeof(h));
	if (pipe.packet_type != VMBUS_PIPE_PACKET_DATA)
		*why = "pipe packet type is not data";
	else if (pipe.len > len - sizeof(pipe) || pipe.len < sizeof(h))
		*why = "pipe length disagrees with the packet";
	else if (h.size > pipe.len - sizeof(h))
		*why = "message size disagrees with the packet";
	else if (h.type == SYNTHHID_PROTOCOL_REQUEST) {
		if (h.size < sizeof(struct synthhid_protocol_request))
			*why = "PROTOCOL_REQUEST too short";
		else
			memcpy(&msg->version, data + sizeof(pipe) + sizeof(h),
			       sizeof(msg->version));
	} else if (h.type != SYNTHHID_INITIAL_DEVICE_INFO_ACK) {
		*why = "unknown or host-only message type";
	}
	if (*why)
		return -EBADMSG;
	msg->type = h.type;
	return 0;
}

static void guest_error(struct synthhid *m, const char *what)
{
	atomic_fetch_add(&m->stats.bad_messages, 1);
	guest_error_report(&m->errors, "%s", what);
}

/* Pipe header, synthhid header, body: sent, or -EAGAIN. */
static int send_msg(struct synthhid *m, uint32_t type, const void *body, size_t len)
{
	uint8_t buf[sizeof(struct vmbus_pipe_header) + sizeof(struct synthhid_msg_header) + 128];
	struct vmbus_pipe_header pipe = {
		.packet_type = VMBUS_PIPE_PACKET_DATA,
		.len = (uint32_t)(sizeof(struct synthhid_msg_header) + len)};
	struct synthhid_msg_header h = {.type = type, .size = (uint32_t)len};

	memcpy(buf, &pipe, sizeof(pipe));
	memcpy(buf + sizeof(pipe), &h, sizeof(h));
	memcpy(buf + sizeof(pipe) + sizeof(h), body, len);
	return vmbus_channel_send(m->ch, VMBUS_PKT_DATA_INBAND, 0, 0, buf,
				  sizeof(pipe) + sizeof(h) + len);
}

static size_t device_info(uint8_t *buf)
{
	struct synthhid_initial_device_info d = {
		.info = {.size = sizeof(struct synthhid_device_info),
			 .vendor = SYNTHHID_VENDOR_MICROSOFT,
			 .product = SYNTHHID_PRODUCT_MOUSE,
			 .version = 0x0001},
		.hid = {.bLength = sizeof(struct synthhid_hid_descriptor),
			.bDescriptorType = 0x21,
			.bcdHID = 0x0101,
			.bNumDescriptors = 1,
			.bReportType = 0x22,
			.wReportLength = (uint16_t)sizeof(synthhid_report_descriptor)},
	};

	memcpy(buf, &d, sizeof(d));
	memcpy(buf + sizeof(d), synthhid_report_descriptor, sizeof(synthhid_report_descriptor));
	return sizeof(d) + sizeof(synthhid_report_descriptor);
}

static int on_protocol_request(struct synthhid *m, const struct synthhid_msg *msg)
{
	struct synthhid_protocol_response resp = {.version_requested = msg->version};
	uint8_t info[128];
	size_t ilen = device_info(info);
	/* Both answers or neither: room for both first. */
	size_t need = 2 * (sizeof(struct vmbus_packet_desc) + 16) + sizeof(resp) + ilen + 32;

	if (vmbus_channel_reserve(m->ch, need) < 0)
		return VMBUS_PACKET_BUSY;
	vmbus_channel_unreserve(m->ch, need);
	resp.approved = msg->version == SYNTHHID_VERSION_2_0;
	if (send_msg(m, SYNTHHID_PROTOCOL_RESPONSE, &resp, sizeof(resp)) < 0)
		return VMBUS_PACKET_DONE;
	if (!resp.approved) {
		atomic_fetch_add(&m->stats.refused_versions, 1);
		return VMBUS_PACKET_DONE;
	}
	atomic_store(&m->version, msg->version);
	(void)send_msg(m, SYNTHHID_INITIAL_DEVICE_INFO, info, ilen);
	return VMBUS_PACKET_DONE;
}

static void drain(struct synthhid *m)
{
	uint8_t rep[INPUT_QUEUE_RECORD];
	unsigned n;

	while ((n = input_queue_peek(&m->queue, rep)) > 0) {
		if (send_msg(m, SYNTHHID_INPUT_REPORT, rep, n) == -EAGAIN)
			return;
		input_queue_pop(&m->queue);
		atomic_fetch_add(&m->stats.reports_sent, 1);
	}
}

static int hid_packet(void *opaque, struct vmbus_channel *ch, const struct vmbus_packet *pkt)
{
	struct synthhid *m = opaque;
	struct synthhid_msg msg;
	const char *why;

	(void)ch;
	if (pkt->type != VMBUS_PKT_DATA_INBAND) {
		guest_error(m, "packet is not in-band data");
		return VMBUS_PACKET_DONE;
	}
	if (synthhid_msg_parse(pkt->data, pkt->len, &msg, &why) < 0) {
		guest_error(m, why);
		return VMBUS_PACKET_DONE;
	}
	atomic_fetch_add(&m->stats.messages, 1);
	if (msg.type == SYNTHHID_PROTOCOL_REQUEST)
		return on_protocol_request(m, &msg);
	if (!atomic_load(&m->version)) {
		guest_error(m, "DEVICE_INFO_ACK before the protocol was negotiated");
		return VMBUS_PACKET_DONE;
	}
	atomic_store(&m->ready, true);
	return VMBUS_PACKET_DONE;
}

static void hid_wake(void *opaque, struct vmbus_channel *ch)
{
	(void)ch;
	drain(opaque);
}

static int hid_open(void *opaque, struct vmbus_channel *ch, const uint8_t *user_data)
{
	struct synthhid *m = opaque;

	(void)ch;
	(void)user_data;
	input_queue_clear(&m->queue);
	return 0;
}

static void hid_close(void *opaque, struct vmbus_channel *ch)
{
	struct synthhid *m = opaque;

	(void)ch;
	atomic_store(&m->ready, false);
	atomic_store(&m->version, 0);
	input_queue_clear(&m->queue);
}

/* Saved state, format 1: u32 format, u32 version, u8 ready (device info acknowledged), reports. */
static int hid_save(void *opaque, struct vmbus_channel *ch, struct state_out *out)
{
	struct synthhid *m = opaque;

	state_out_u32(out, 1);
	state_out_u32(out, atomic_load(&m->version));
	state_out_u8(out, atomic_load(&m->ready));
	input_queue_save(&m->queue, out);
	return 0;
}

static int hid_load(void *opaque, struct vmbus_channel *ch, struct state_in *in, char *err,
		    size_t errlen)
{
	struct synthhid *m = opaque;
	uint32_t format = state_in_u32(in), version = state_in_u32(in);
	bool ready = state_in_u8(in) != 0;

	if (in->error || format != 1 || (version && version != SYNTHHID_VERSION_2_0) ||
	    (ready && !version) || !input_queue_load(&m->queue, in) ||
	    (version && vmbus_channel_state(ch) != VMBUS_CHANNEL_OPEN)) {
		snprintf(err, errlen, "mouse state: format %u, version %#x or queue out of range",
			 format, version);
		return -EINVAL;
	}
	atomic_store(&m->version, version);
	atomic_store(&m->ready, ready);
	return 0;
}

static const struct vmbus_channel_ops hid_ops = {
	.open = hid_open,
	.packet = hid_packet,
	.wake = hid_wake,
	.close = hid_close,
	.save = hid_save,
	.load = hid_load,
	.vsp_name = "synthetic mouse",
};

int synthhid_send_pointer(struct synthhid *m, uint8_t buttons, uint32_t x, uint32_t y,
			  int16_t wheel)
{
	uint8_t rep[REPORT_SIZE];

	if (!atomic_load(&m->ready)) {
		atomic_fetch_add(&m->stats.reports_dropped, 1);
		return -ENOTCONN;
	}
	x = MIN(x, SYNTHHID_ABS_MAX);
	y = MIN(y, SYNTHHID_ABS_MAX);
	rep[0] = buttons & 0x1F;
	rep[1] = (uint8_t)x;
	rep[2] = (uint8_t)(x >> 8);
	rep[3] = (uint8_t)y;
	rep[4] = (uint8_t)(y >> 8);
	rep[5] = (uint8_t)(uint16_t)wheel;
	rep[6] = (uint8_t)((uint16_t)wheel >> 8);
	if (!input_queue_push(&m->queue, rep, sizeof(rep))) {
		atomic_fetch_add(&m->stats.reports_dropped, 1);
		return -ENOSPC;
	}
	vmbus_channel_wake(m->ch);
	return 0;
}

int synthhid_new(struct vmbus_server *s, struct synthhid **ret)
{
	struct vmbus_channel_params params = {.name = "synthhid", .pipe_message_mode = true};
	struct synthhid *m = calloc(1, sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	if (guid_parse(SYNTHHID_CLASS_GUID, &params.class_id) < 0 ||
	    guid_parse(SYNTHHID_INSTANCE_GUID, &params.instance_id) < 0) {
		free(m);
		return -EINVAL;
	}
	input_queue_init(&m->queue);
	guest_error_log_init(&m->errors, "synthhid");
	r = vmbus_channel_new(s, &params, &hid_ops, m, &m->ch);
	if (r < 0) {
		input_queue_fini(&m->queue);
		free(m);
		return r;
	}
	*ret = m;
	return 0;
}

struct synthhid *synthhid_free(struct synthhid *m)
{
	if (!m)
		return NULL;
	vmbus_channel_free(m->ch);
	input_queue_fini(&m->queue);
	free(m);
	return NULL;
}

void synthhid_get_stats(struct synthhid *m, struct synthhid_stats *st)
{
	*st = (struct synthhid_stats){
		.ready = atomic_load(&m->ready),
		.version = atomic_load(&m->version),
		.reports_sent = atomic_load(&m->stats.reports_sent),
		.reports_dropped = atomic_load(&m->stats.reports_dropped),
		.messages = atomic_load(&m->stats.messages),
		.bad_messages = atomic_load(&m->stats.bad_messages),
		.refused_versions = atomic_load(&m->stats.refused_versions),
	};
}

/* Guest-side clients of the console devices (console_client.h). */
#include "console_client.h"

#include <errno.h>
#include <string.h>

#include "hvdef/vmbus_proto.h"

int console_client_open(struct vmbus_client *c, const char *class_guid, unsigned ring_pages,
			struct vmbus_client_channel **ret)
{
	struct vmbus_msg_offer_channel offers[16];
	struct guid want;
	int n, i, r;

	if (guid_parse(class_guid, &want) < 0)
		return -EINVAL;
	r = vmbus_client_connect(c, VMBUS_VERSION_WIN10_V5_2);
	if (r != 1)
		return r < 0 ? r : -EPROTO;
	n = vmbus_client_request_offers(c, offers, 16);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++)
		if (guid_equal(&offers[i].offer.if_type, &want))
			return vmbus_client_open(c, &offers[i], ring_pages, ring_pages, 0, ret) == 0
				       ? 0
				       : -EPROTO;
	return -ENOENT;
}

int synthvid_client_send(struct vmbus_client_channel *ch, uint32_t type, const void *body,
			 size_t len)
{
	uint8_t buf[16 + 40000];
	struct vmbus_pipe_header pipe = {.packet_type = VMBUS_PIPE_PACKET_DATA,
					 .len = (uint32_t)(8 + len)};
	struct synthvid_msg_header h = {.type = type, .size = (uint32_t)(8 + len)};

	if (len > sizeof(buf) - 16)
		return -EMSGSIZE;
	memcpy(buf, &pipe, 8);
	memcpy(buf + 8, &h, 8);
	memcpy(buf + 16, body, len);
	return vmbus_client_send(ch, VMBUS_PKT_DATA_INBAND, 0, 1, buf, 16 + len);
}

int synthvid_client_recv(struct vmbus_client_channel *ch, uint32_t *type, void *body, size_t *len,
			 unsigned timeout_ms)
{
	struct vmbus_packet_desc d;
	uint8_t buf[SYNTHVID_GUEST_MAX_PACKET];
	size_t n = sizeof(buf);
	struct vmbus_pipe_header pipe;
	struct synthvid_msg_header h;
	int r = vmbus_client_recv_wait(ch, &d, buf, &n, timeout_ms);

	if (r < 0)
		return r;
	if (n < 16)
		return -EPROTO;
	memcpy(&pipe, buf, 8);
	memcpy(&h, buf + 8, 8);
	if (pipe.packet_type != VMBUS_PIPE_PACKET_DATA || pipe.len > n - 8 || pipe.len < 8)
		return -EPROTO;
	*type = h.type;
	n = MIN((size_t)pipe.len - 8, *len);
	memcpy(body, buf + 16, n);
	*len = n;
	return 0;
}

int synthvid_client_expect(struct vmbus_client_channel *ch, uint32_t type, void *body, size_t *len,
			   unsigned timeout_ms)
{
	size_t cap = *len;

	for (;;) {
		uint32_t t;
		int r;

		*len = cap;
		r = synthvid_client_recv(ch, &t, body, len, timeout_ms);
		if (r < 0 || t == type)
			return r;
	}
}

int synthvid_client_version(struct vmbus_client_channel *ch, uint32_t version)
{
	struct synthvid_version_req req = {.version = version};
	struct synthvid_version_resp resp;
	size_t len = sizeof(resp);
	int r = synthvid_client_send(ch, SYNTHVID_VERSION_REQUEST, &req, sizeof(req));

	if (r == 0)
		r = synthvid_client_expect(ch, SYNTHVID_VERSION_RESPONSE, &resp, &len, 2000);
	if (r < 0)
		return r;
	if (len < sizeof(resp) || resp.version != version)
		return -EPROTO;
	return resp.is_accepted != 0;
}

int synthvid_client_vram(struct vmbus_client_channel *ch, uint64_t gpa, unsigned timeout_ms)
{
	struct synthvid_vram_location loc = {
		.user_ctx = gpa ^ 0x5A5A, .is_vram_gpa_specified = 1, .vram_gpa = gpa};
	struct synthvid_vram_location_ack ack;
	size_t len = sizeof(ack);
	int r = synthvid_client_send(ch, SYNTHVID_VRAM_LOCATION, &loc, sizeof(loc));

	if (r == 0)
		r = synthvid_client_expect(ch, SYNTHVID_VRAM_LOCATION_ACK, &ack, &len, timeout_ms);
	if (r == 0 && (len < sizeof(ack) || ack.user_ctx != loc.user_ctx))
		r = -EPROTO;
	return r;
}

int synthvid_client_situation(struct vmbus_client_channel *ch, uint32_t width, uint32_t height,
			      uint32_t depth, uint32_t pitch, unsigned timeout_ms)
{
	struct synthvid_situation_update s = {
		.video_output_count = 1,
		.video_output[0] = {.active = 1,
				    .depth_bits = (uint8_t)depth,
				    .width_pixels = width,
				    .height_pixels = height,
				    .pitch_bytes = pitch},
	};
	uint8_t ack[8];
	size_t len = sizeof(ack);
	int r = synthvid_client_send(ch, SYNTHVID_SITUATION_UPDATE, &s, sizeof(s));

	if (r == 0)
		r = synthvid_client_expect(ch, SYNTHVID_SITUATION_UPDATE_ACK, ack, &len,
					   timeout_ms);
	return r;
}

int synthvid_client_dirt(struct vmbus_client_channel *ch, const struct synthvid_rect *r, unsigned n)
{
	uint8_t body[2 + 16 * 255];
	struct synthvid_dirt d = {.video_output = 0, .dirt_count = (uint8_t)n};

	if (n > 255)
		return -EINVAL;
	memcpy(body, &d, 2);
	memcpy(body + 2, r, 16 * (size_t)n);
	return synthvid_client_send(ch, SYNTHVID_DIRT, body, 2 + 16 * (size_t)n);
}

/* Keyboard messages have no pipe header. */
int synthkbd_client_connect(struct vmbus_client_channel *ch, uint32_t version)
{
	struct synthkbd_protocol_request req = {.type = SYNTHKBD_PROTOCOL_REQUEST,
						.version = version};
	struct synthkbd_protocol_response resp;
	struct vmbus_packet_desc d;
	size_t len = sizeof(resp);
	int r = vmbus_client_send(ch, VMBUS_PKT_DATA_INBAND, VMBUS_PKT_FLAG_COMPLETION_REQUESTED,
				  0xFFFF8880ull, &req, sizeof(req));

	if (r == 0)
		r = vmbus_client_recv_wait(ch, &d, &resp, &len, 2000);
	if (r < 0)
		return r;
	if (len < sizeof(resp) || resp.type != SYNTHKBD_PROTOCOL_RESPONSE)
		return -EPROTO;
	return (resp.status & SYNTHKBD_PROTOCOL_ACCEPTED) != 0;
}

int synthkbd_client_next_key(struct vmbus_client_channel *ch, struct synthkbd_keystroke *ev,
			     unsigned timeout_ms)
{
	struct vmbus_packet_desc d;
	uint8_t buf[64];
	size_t len = sizeof(buf);
	int r = vmbus_client_recv_wait(ch, &d, buf, &len, timeout_ms);

	if (r < 0)
		return r;
	if (len < sizeof(*ev))
		return -EPROTO;
	memcpy(ev, buf, sizeof(*ev));
	return ev->type == SYNTHKBD_EVENT ? 0 : -EPROTO;
}

static int hid_send(struct vmbus_client_channel *ch, uint32_t type, const void *body, size_t len)
{
	uint8_t buf[64];
	struct vmbus_pipe_header pipe = {.packet_type = VMBUS_PIPE_PACKET_DATA,
					 .len = (uint32_t)(8 + len)};
	struct synthhid_msg_header h = {.type = type, .size = (uint32_t)len};

	memcpy(buf, &pipe, 8);
	memcpy(buf + 8, &h, 8);
	memcpy(buf + 16, body, len);
	return vmbus_client_send(ch, VMBUS_PKT_DATA_INBAND, VMBUS_PKT_FLAG_COMPLETION_REQUESTED,
				 0xFFFF8881ull, buf, 16 + len);
}

/* The next synthhid message: type, body (up to *len). */
static int hid_recv(struct vmbus_client_channel *ch, uint32_t *type, uint8_t *body, size_t *len,
		    unsigned timeout_ms)
{
	struct vmbus_packet_desc d;
	uint8_t buf[512];
	size_t n = sizeof(buf);
	struct vmbus_pipe_header pipe;
	struct synthhid_msg_header h;
	int r = vmbus_client_recv_wait(ch, &d, buf, &n, timeout_ms);

	if (r < 0)
		return r;
	if (n < 16)
		return -EPROTO;
	memcpy(&pipe, buf, 8);
	memcpy(&h, buf + 8, 8);
	if (pipe.packet_type != VMBUS_PIPE_PACKET_DATA || pipe.len > n - 8 || pipe.len < 8 ||
	    h.size > pipe.len - 8)
		return -EPROTO;
	*type = h.type;
	*len = MIN((size_t)h.size, *len);
	memcpy(body, buf + 16, *len);
	return 0;
}

int synthhid_client_connect(struct vmbus_client_channel *ch, uint32_t version,
			    struct synthhid_device_info *info, uint8_t *desc, size_t *desc_len)
{
	struct synthhid_protocol_request req = {.version = version};
	struct synthhid_protocol_response resp;
	struct synthhid_initial_device_info di;
	uint8_t body[512], ack = 0;
	size_t len = sizeof(body);
	uint32_t type;
	int r = hid_send(ch, SYNTHHID_PROTOCOL_REQUEST, &req, sizeof(req));

	if (r == 0)
		r = hid_recv(ch, &type, body, &len, 2000);
	if (r < 0)
		return r;
	if (type != SYNTHHID_PROTOCOL_RESPONSE || len != sizeof(resp))
		return -EPROTO;
	memcpy(&resp, body, sizeof(resp));
	if (!resp.approved)
		return 0;
	len = sizeof(body);
	r = hid_recv(ch, &type, body, &len, 2000);
	if (r < 0)
		return r;
	/* hid-hyperv.c mousevsc_on_receive_device_info: bLength, then the report's length. */
	if (type != SYNTHHID_INITIAL_DEVICE_INFO || len < sizeof(di))
		return -EPROTO;
	memcpy(&di, body, sizeof(di));
	if (di.hid.bLength < sizeof(di.hid) ||
	    sizeof(di.info) + di.hid.bLength + (size_t)di.hid.wReportLength > len ||
	    di.hid.wReportLength > *desc_len || di.hid.wReportLength == 0)
		return -EPROTO;
	*info = di.info;
	memcpy(desc, body + sizeof(di.info) + di.hid.bLength, di.hid.wReportLength);
	*desc_len = di.hid.wReportLength;
	r = hid_send(ch, SYNTHHID_INITIAL_DEVICE_INFO_ACK, &ack, 1);
	return r < 0 ? r : 1;
}

int synthhid_client_next_report(struct vmbus_client_channel *ch, uint8_t *report, size_t *len,
				unsigned timeout_ms)
{
	uint32_t type;
	int r = hid_recv(ch, &type, report, len, timeout_ms);

	if (r == 0 && type != SYNTHHID_INPUT_REPORT)
		r = -EPROTO;
	return r;
}

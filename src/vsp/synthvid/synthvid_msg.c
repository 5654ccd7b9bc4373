/* Parsing of the guest's synthvid messages (synthvid_msg.h). Pure functions, any thread. */
#include "vsp/synthvid/synthvid_msg.h"

#include <errno.h>
#include <string.h>

#include "hvdef/vmbus_proto.h"

/* Minimum body per guest -> host type (0: the guest never sends it; refused). */
static const size_t min_body[SYNTHVID_MSG_TYPE_COUNT] = {
	[SYNTHVID_VERSION_REQUEST] = sizeof(struct synthvid_version_req),
	[SYNTHVID_VRAM_LOCATION] = sizeof(struct synthvid_vram_location),
	[SYNTHVID_SITUATION_UPDATE] = sizeof(struct synthvid_situation_update),
	[SYNTHVID_POINTER_POSITION] = sizeof(struct synthvid_pointer_position),
	[SYNTHVID_POINTER_SHAPE] = sizeof(struct synthvid_pointer_shape),
	[SYNTHVID_DIRT] = sizeof(struct synthvid_dirt),
	[SYNTHVID_RESOLUTION_REQUEST] = sizeof(struct synthvid_resolution_req),
	/* Windows guests: bodies of 0 bytes; refused bodies would be 1 byte here. */
	[SYNTHVID_BIOS_INFO_REQUEST] = 0,
	[SYNTHVID_CAPABILITY_REQUEST] = 0,
};

static bool guest_sends(uint32_t type)
{
	return type < SYNTHVID_MSG_TYPE_COUNT &&
	       (min_body[type] || type == SYNTHVID_BIOS_INFO_REQUEST ||
		type == SYNTHVID_CAPABILITY_REQUEST);
}

size_t synthvid_pointer_bytes(uint32_t width, uint32_t height, bool argb)
{
	if (argb)
		return (size_t)width * height * 4;
	return (size_t)((width + 7) / 8) * height * 2;
}

static int bad(const char **why, const char *what)
{
	*why = what;
	return -EBADMSG;
}

static int parse_body(struct synthvid_msg *msg, const uint8_t *body, size_t blen, const char **why)
{
	switch (msg->type) {
	case SYNTHVID_VERSION_REQUEST: memcpy(&msg->u.version, body, sizeof(msg->u.version)); break;
	case SYNTHVID_RESOLUTION_REQUEST:
		memcpy(&msg->u.resolution, body, sizeof(msg->u.resolution));
		break;
	case SYNTHVID_VRAM_LOCATION: memcpy(&msg->u.vram, body, sizeof(msg->u.vram)); break;
	case SYNTHVID_SITUATION_UPDATE:
		memcpy(&msg->u.situation, body, sizeof(msg->u.situation));
		if (msg->u.situation.video_output_count < 1)
			return bad(why, "SITUATION_UPDATE with no video output");
		break;
	case SYNTHVID_POINTER_POSITION:
		memcpy(&msg->u.pointer_position, body, sizeof(msg->u.pointer_position));
		break;
	case SYNTHVID_POINTER_SHAPE: {
		struct synthvid_pointer_shape *h = &msg->u.pointer_shape.hdr;
		size_t need;

		memcpy(h, body, sizeof(*h));
		if (h->width > SYNTHVID_CURSOR_MAX_X || h->height > SYNTHVID_CURSOR_MAX_Y)
			return bad(why, "POINTER_SHAPE larger than 96x96");
		if (h->hot_x >= SYNTHVID_CURSOR_MAX_X || h->hot_y >= SYNTHVID_CURSOR_MAX_Y)
			return bad(why, "POINTER_SHAPE hot spot outside the shape");
		need = synthvid_pointer_bytes(h->width, h->height, h->is_argb);
		if (blen - sizeof(*h) < need)
			return bad(why, "POINTER_SHAPE shorter than its pixels");
		msg->u.pointer_shape.pixels = body + sizeof(*h);
		msg->u.pointer_shape.pixels_len = need;
		break;
	}
	case SYNTHVID_DIRT: {
		struct synthvid_dirt d;

		memcpy(&d, body, sizeof(d));
		if ((blen - sizeof(d)) / sizeof(struct synthvid_rect) < d.dirt_count)
			return bad(why, "DIRT shorter than its rectangles");
		msg->u.dirt.video_output = d.video_output;
		msg->u.dirt.count = d.dirt_count;
		msg->u.dirt.rects = body + sizeof(d);
		break;
	}
	default: break; /* BIOS_INFO / CAPABILITY requests: no body */
	}
	return 0;
}

int synthvid_msg_parse(const uint8_t *data, size_t len, struct synthvid_msg *msg, const char **why)
{
	struct vmbus_pipe_header pipe;
	struct synthvid_msg_header h;
	size_t blen;

	memset(msg, 0, sizeof(*msg));
	if (len < sizeof(pipe) + sizeof(h))
		return bad(why, "packet shorter than its headers");
	memcpy(&pipe, data, sizeof(pipe));
	memcpy(&h, data + sizeof(pipe), sizeof(h));
	if (pipe.packet_type != VMBUS_PIPE_PACKET_DATA)
		return bad(why, "pipe packet type is not data");
	/* The packet is padded to 8 bytes: the pipe header says how much is message. */
	if (pipe.len > len - sizeof(pipe) || pipe.len < sizeof(h))
		return bad(why, "pipe length disagrees with the packet");
	if (!guest_sends(h.type))
		return bad(why, "unknown or host-only message type");
	/* Linux: size = header + body; the body is what the pipe carries after the header. */
	blen = pipe.len - sizeof(h);
	if (h.size < sizeof(h) || h.size - sizeof(h) > blen)
		return bad(why, "message size disagrees with the packet");
	blen = h.size - sizeof(h);
	if (blen < min_body[h.type])
		return bad(why, "message body too short for its type");
	msg->type = h.type;
	return parse_body(msg, data + sizeof(pipe) + sizeof(h), blen, why);
}

struct synthvid_rect synthvid_msg_dirt_rect(const struct synthvid_msg *msg, unsigned i)
{
	struct synthvid_rect r = {0};

	if (msg->type == SYNTHVID_DIRT && i < msg->u.dirt.count)
		memcpy(&r, msg->u.dirt.rects + (size_t)i * sizeof(r), sizeof(r));
	return r;
}

int synthvid_mode_check(const struct synthvid_situation_update *s, uint64_t vram_size,
			struct synthvid_mode *mode, const char **why)
{
	const struct synthvid_video_output_situation *o = &s->video_output[0];
	uint64_t line;

	*why = NULL;
	if (o->depth_bits != 16 && o->depth_bits != 32)
		*why = "depth is neither 16 nor 32 bits";
	else if (o->width_pixels < 1 || o->width_pixels > SYNTHVID_MAX_WIDTH ||
		 o->height_pixels < 1 || o->height_pixels > SYNTHVID_MAX_HEIGHT)
		*why = "resolution out of range";
	else if (o->vram_offset != 0)
		*why = "VRAM offset is not 0";
	if (*why)
		return -EINVAL;
	line = (uint64_t)o->width_pixels * (o->depth_bits / 8);
	if (o->pitch_bytes < line || o->pitch_bytes % (o->depth_bits / 8)) {
		*why = "pitch shorter than a line or not whole pixels";
		return -EINVAL;
	}
	if ((uint64_t)o->pitch_bytes * o->height_pixels > vram_size) {
		*why = "mode larger than the VRAM";
		return -EINVAL;
	}
	*mode = (struct synthvid_mode){
		.active = o->active != 0,
		.width = o->width_pixels,
		.height = o->height_pixels,
		.pitch = o->pitch_bytes,
		.depth = o->depth_bits,
	};
	return 0;
}

bool synthvid_rect_clip(struct synthvid_rect *r, uint32_t width, uint32_t height)
{
	if (r->x1 < 0)
		r->x1 = 0;
	if (r->y1 < 0)
		r->y1 = 0;
	if (r->x2 > (int64_t)width)
		r->x2 = (int32_t)width;
	if (r->y2 > (int64_t)height)
		r->y2 = (int32_t)height;
	return r->x1 < r->x2 && r->y1 < r->y2;
}

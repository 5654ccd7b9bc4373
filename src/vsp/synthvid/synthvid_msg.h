/*
 * Parsing of the guest's synthvid messages (hvdef/synthvid_proto.h): a
 * checked copy of one packet's payload, pipe header first, as the VSP's
 * loop thread reads it from the ring. No state, no VMBus: the fuzz target
 * (tests/fuzz/vsp/fuzz_synthvid_msg.c) calls exactly these.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvdef/synthvid_proto.h"

/* Largest guest message taken: a full 96x96 ARGB pointer shape and its headers. */
#define SYNTHVID_MAX_GUEST_MSG                                                                     \
	(8 + 8 + sizeof(struct synthvid_pointer_shape) + 4 +                                       \
	 4 * SYNTHVID_CURSOR_MAX_X * SYNTHVID_CURSOR_MAX_Y)
/* DIRT rectangles taken from one message (Linux sends 1; the count is a u8). */
#define SYNTHVID_MAX_DIRT 255

struct synthvid_msg {
	uint32_t type; /* enum synthvid_msg_type */
	union {
		struct synthvid_version_req version;
		struct synthvid_resolution_req resolution;
		struct synthvid_vram_location vram;
		struct synthvid_situation_update situation;
		struct synthvid_pointer_position pointer_position;
		struct {
			struct synthvid_pointer_shape hdr;
			const uint8_t *pixels; /* into the parsed buffer */
			size_t pixels_len;
		} pointer_shape;
		struct {
			uint8_t video_output;
			unsigned count;
			const uint8_t *rects; /* count * 16 bytes, into the parsed buffer */
		} dirt;
	} u;
};

/*
 * Parses one payload (pipe header, synthvid header, body). 0, or -EBADMSG
 * with *why naming the fault (a static string): a pipe type other than
 * data, sizes that disagree with the packet, a body shorter than its type
 * needs, a type the guest never sends.
 */
int synthvid_msg_parse(const uint8_t *data, size_t len, struct synthvid_msg *msg, const char **why);

/* The i-th DIRT rectangle of a parsed message. */
struct synthvid_rect synthvid_msg_dirt_rect(const struct synthvid_msg *msg, unsigned i);

/* A screen mode as the host keeps it: what SITUATION_UPDATE said, checked. */
struct synthvid_mode {
	bool active;
	uint32_t width, height; /* pixels */
	uint32_t pitch;		/* bytes per line */
	uint32_t depth;		/* bits per pixel: 16 or 32 */
};

/* Field by field (the struct has padding). */
static inline bool synthvid_mode_equal(const struct synthvid_mode *a, const struct synthvid_mode *b)
{
	return a->active == b->active && a->width == b->width && a->height == b->height &&
	       a->pitch == b->pitch && a->depth == b->depth;
}

/* Host limits on a mode, whatever the VRAM holds (Hyper-V's largest is 7680x4320). */
#define SYNTHVID_MAX_WIDTH  7680u
#define SYNTHVID_MAX_HEIGHT 4320u

/*
 * Checks the first output of a SITUATION_UPDATE against the VRAM's size:
 * depth 16 or 32, width and height 1..max, pitch at least a line of pixels
 * and pitch * height (from vram_offset 0) inside the VRAM. 0 or -EINVAL
 * with *why.
 */
int synthvid_mode_check(const struct synthvid_situation_update *s, uint64_t vram_size,
			struct synthvid_mode *mode, const char **why);

/*
 * Clips a DIRT rectangle to a width x height screen. True if something is
 * left (x1 < x2 and y1 < y2 after clipping); false for an empty or inside-out
 * rectangle, or one wholly outside.
 */
bool synthvid_rect_clip(struct synthvid_rect *r, uint32_t width, uint32_t height);

/* Bytes of pointer-shape pixel data for width x height (ARGB or monochrome masks). */
size_t synthvid_pointer_bytes(uint32_t width, uint32_t height, bool argb);

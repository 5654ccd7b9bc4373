/*
 * The guest's pointer shape (SYNTHVID_POINTER_SHAPE, synthvid.h) as a
 * cursor a remote-display server can send: 0x00RRGGBB pixels and a 1-bit
 * opacity mask, rows of (width + 7) / 8 bytes, most significant bit first
 * (RFC 6143 7.8.1, the Cursor pseudo-encoding's bitmask). Pure functions:
 * any thread.
 */
#ifndef PARVIS_VSP_SYNTHVID_CURSOR_H
#define PARVIS_VSP_SYNTHVID_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "hvdef/synthvid_proto.h"
#include "vsp/synthvid/synthvid.h"

struct synthvid_cursor {
	uint32_t width, height, hot_x, hot_y;
	uint32_t pixels[SYNTHVID_CURSOR_MAX_X * SYNTHVID_CURSOR_MAX_Y];
	uint8_t mask[(SYNTHVID_CURSOR_MAX_X + 7) / 8 * SYNTHVID_CURSOR_MAX_Y];
};

/* Alpha at or above this is opaque (the mask has no partial transparency). */
#define SYNTHVID_CURSOR_ALPHA_OPAQUE 0x80

/*
 * The shape p describes, from its len bytes of data (synthvid_get_pointer_shape): ARGB
 * (hyperv_fb.c, hyperv_drm_proto.c: 32-bit 0xAARRGGBB, little-endian) or monochrome (the
 * AND mask, then the XOR mask, 1 bit a pixel: AND 1 is transparent, else XOR 1 white,
 * XOR 0 black; AND 1 with XOR 1, "invert the screen", has no RFB form and is left transparent).
 * -EINVAL if the size is empty, data is not what the size needs, or the hot spot is outside
 * the shape (the caller counts it).
 */
int synthvid_cursor_from_shape(const struct synthvid_pointer *p, const uint8_t *data, size_t len,
			       struct synthvid_cursor *c) must_check;

/* A 1x1 transparent cursor: the pointer hidden (SYNTHVID_POINTER_POSITION is_visible 0). */
void synthvid_cursor_hidden(struct synthvid_cursor *c);

#endif

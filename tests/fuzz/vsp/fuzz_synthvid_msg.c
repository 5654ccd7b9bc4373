/*
 * Fuzz target: the synthetic video's parser of guest messages
 * (src/vsp/synthvid/synthvid_msg.c) and the checks the VSP applies to what
 * it parsed: the mode of a SITUATION_UPDATE against a 16 MiB VRAM, DIRT
 * rectangles clipped to that mode, a POINTER_SHAPE made into the console's
 * cursor (synthvid_cursor.c). The input is one packet payload, pipe
 * header first, as the channel's loop hands it over. Seeds:
 * corpus/synthvid_msg (make_console_corpus.py).
 */
#include <stddef.h>
#include <stdint.h>

#include "vsp/synthvid/synthvid.h"
#include "vsp/synthvid/synthvid_cursor.h"
#include "vsp/synthvid/synthvid_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct synthvid_mode mode = {.width = 1024, .height = 768, .pitch = 4096, .depth = 32};
	volatile size_t sink = 0;
	static struct synthvid_cursor cur;
	struct synthvid_msg m;
	const char *why;
	unsigned i;

	if (synthvid_msg_parse(data, size, &m, &why) < 0) {
		if (!why)
			__builtin_trap();
		return 0;
	}
	switch (m.type) {
	case SYNTHVID_SITUATION_UPDATE:
		if (synthvid_mode_check(&m.u.situation, SYNTHVID_DEFAULT_VRAM, &mode, &why) == 0 &&
		    (uint64_t)mode.pitch * mode.height > SYNTHVID_DEFAULT_VRAM)
			__builtin_trap();
		break;
	case SYNTHVID_DIRT:
		for (i = 0; i < m.u.dirt.count; i++) {
			struct synthvid_rect r = synthvid_msg_dirt_rect(&m, i);

			if (synthvid_rect_clip(&r, mode.width, mode.height) &&
			    (r.x1 < 0 || r.y1 < 0 || r.x2 > (int32_t)mode.width ||
			     r.y2 > (int32_t)mode.height || r.x1 >= r.x2 || r.y1 >= r.y2))
				__builtin_trap();
		}
		break;
	case SYNTHVID_POINTER_SHAPE:
		/* Every pixel byte the parser points at is inside the input. */
		for (i = 0; i < m.u.pointer_shape.pixels_len; i++)
			sink += m.u.pointer_shape.pixels[i];
		/* As the VSP keeps it (synthvid.c on_pointer_shape), then as the console takes it.
		 */
		if (synthvid_cursor_from_shape(
			    &(struct synthvid_pointer){.shape_width = m.u.pointer_shape.hdr.width,
						       .shape_height = m.u.pointer_shape.hdr.height,
						       .hot_x = m.u.pointer_shape.hdr.hot_x,
						       .hot_y = m.u.pointer_shape.hdr.hot_y,
						       .shape_argb =
							       m.u.pointer_shape.hdr.is_argb != 0},
			    m.u.pointer_shape.pixels, m.u.pointer_shape.pixels_len, &cur) == 0 &&
		    (cur.width > SYNTHVID_CURSOR_MAX_X || cur.height > SYNTHVID_CURSOR_MAX_Y ||
		     cur.hot_x >= cur.width || cur.hot_y >= cur.height))
			__builtin_trap();
		break;
	default: break;
	}
	(void)sink;
	return 0;
}

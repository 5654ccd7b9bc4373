/* The guest's pointer shape as an RGB cursor with a 1-bit mask (synthvid_cursor.h). */
#include "vsp/synthvid/synthvid_cursor.h"

#include <errno.h>
#include <string.h>

#include "vsp/synthvid/synthvid_msg.h"

static void set_opaque(struct synthvid_cursor *c, uint32_t x, uint32_t y)
{
	c->mask[y * ((c->width + 7) / 8) + x / 8] |= (uint8_t)(0x80u >> (x % 8));
}

static void from_argb(struct synthvid_cursor *c, const uint8_t *data)
{
	for (uint32_t i = 0; i < c->width * c->height; i++) {
		const uint8_t *px = data + (size_t)i * 4; /* B, G, R, A in memory */

		c->pixels[i] = (uint32_t)px[2] << 16 | (uint32_t)px[1] << 8 | px[0];
		if (px[3] >= SYNTHVID_CURSOR_ALPHA_OPAQUE)
			set_opaque(c, i % c->width, i / c->width);
	}
}

/* Windows' monochrome pointer: the AND plane, then the XOR plane, rows padded to bytes. */
static void from_mono(struct synthvid_cursor *c, const uint8_t *data)
{
	size_t stride = (c->width + 7) / 8, plane = stride * c->height;

	for (uint32_t y = 0; y < c->height; y++)
		for (uint32_t x = 0; x < c->width; x++) {
			uint8_t bit = (uint8_t)(0x80u >> (x % 8));
			bool and_bit = data[y * stride + x / 8] & bit;
			bool xor_bit = data[plane + y * stride + x / 8] & bit;

			c->pixels[y * c->width + x] = xor_bit && !and_bit ? 0xFFFFFF : 0;
			if (!and_bit)
				set_opaque(c, x, y);
		}
}

int synthvid_cursor_from_shape(const struct synthvid_pointer *p, const uint8_t *data, size_t len,
			       struct synthvid_cursor *c)
{
	if (!p->shape_width || !p->shape_height || p->shape_width > SYNTHVID_CURSOR_MAX_X ||
	    p->shape_height > SYNTHVID_CURSOR_MAX_Y || p->hot_x >= p->shape_width ||
	    p->hot_y >= p->shape_height ||
	    len != synthvid_pointer_bytes(p->shape_width, p->shape_height, p->shape_argb))
		return -EINVAL;
	c->width = p->shape_width;
	c->height = p->shape_height;
	c->hot_x = p->hot_x;
	c->hot_y = p->hot_y;
	memset(c->mask, 0, sizeof(c->mask));
	if (p->shape_argb)
		from_argb(c, data);
	else
		from_mono(c, data);
	return 0;
}

void synthvid_cursor_hidden(struct synthvid_cursor *c)
{
	c->width = c->height = 1;
	c->hot_x = c->hot_y = 0;
	c->pixels[0] = 0;
	c->mask[0] = 0;
}

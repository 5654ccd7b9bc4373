/*
 * The VGA's picture from a snapshot of its state (vga_render.h).
 *
 * Text (IBM VGA Technical Reference, "Alphanumeric modes"; FreeVGA's
 * attribute controller and CRTC pages): each cell is a character byte and
 * an attribute byte; the attribute's low nibble is the foreground, bits 4-6
 * (bit 7 too unless blinking is on) the background, each an index through
 * the attribute controller's palette registers into the DAC. With blinking
 * on, a character whose attribute has bit 7 set shows its foreground only
 * in one blink phase. Cells 9 dots wide repeat the eighth column for the
 * line-drawing characters 0xC0-0xDF when line graphics are enabled and are
 * background otherwise. The cursor is the scan lines cursor_start to
 * cursor_end of the cell at the CRTC cursor location, drawn in the cell's
 * foreground in the cursor blink phase.
 */
#include "emu/vga_render.h"

#include <string.h>

unsigned vga_render_phase(uint64_t now_ms)
{
	return ((now_ms / 267) & 1 ? VGA_PHASE_CURSOR : 0) |
	       ((now_ms / 533) & 1 ? VGA_PHASE_BLINK : 0);
}

static void fill_black(const struct vga_display *d, uint32_t *out)
{
	memset(out, 0, (size_t)d->width * d->height * sizeof(*out));
}

static void text_cell(const struct vga_display *d, unsigned phase, uint32_t cx, uint32_t cy,
		      uint32_t *out)
{
	uint32_t cell = d->start + cy * d->pitch + cx;
	uint32_t at = (2 * cell) % d->window_size;
	uint8_t ch = d->window[at], attr = d->window[(at + 1) % d->window_size];
	uint32_t fg = d->dac[d->colour[attr & 0x0F]];
	uint32_t bg = d->dac[d->colour[(attr >> 4) & (d->blink ? 0x07 : 0x0F)]];
	bool hide = d->blink && attr & 0x80 && !(phase & VGA_PHASE_BLINK);
	bool cursor = d->cursor_on && phase & VGA_PHASE_CURSOR && cell == d->cursor;
	bool wide = d->cell_w == 9 && d->line_graphics && ch >= 0xC0 && ch <= 0xDF;

	for (uint32_t y = 0; y < d->cell_h; y++) {
		uint32_t *row = out + (size_t)(cy * d->cell_h + y) * d->width + cx * d->cell_w;
		uint8_t bits = y < 16 && !hide ? vga_font_8x16[ch][y] : 0;
		bool under = cursor && y >= d->cursor_start && y <= d->cursor_end;

		for (uint32_t x = 0; x < d->cell_w; x++) {
			bool on = x < 8 ? bits & (0x80 >> x) : wide && bits & 1;

			row[x] = on || under ? fg : bg;
		}
	}
}

static void render_text(const struct vga_display *d, unsigned phase, uint32_t *out)
{
	if (!d->window_size || (d->cell_w != 8 && d->cell_w != 9) || d->cell_h == 0 ||
	    d->cell_h > 32 || (uint64_t)d->cols * d->cell_w > d->width ||
	    (uint64_t)d->rows * d->cell_h > d->height) {
		fill_black(d, out);
		return;
	}
	for (uint32_t cy = 0; cy < d->rows; cy++)
		for (uint32_t cx = 0; cx < d->cols; cx++)
			text_cell(d, phase, cx, cy, out);
}

static void render_chained(const struct vga_display *d, uint32_t *out)
{
	if (!d->window_size) {
		fill_black(d, out);
		return;
	}
	for (uint32_t y = 0; y < d->height; y++)
		for (uint32_t x = 0; x < d->width; x++)
			out[(size_t)y * d->width + x] =
				d->dac[d->window[(d->offset + y * d->line_bytes + x) %
						 d->window_size]];
}

/* One LFB pixel as 0x00RRGGBB (little-endian framebuffer, as vgabios and bochs-drm write it). */
static uint32_t lfb_pixel(const struct vga_display *d, const uint8_t *p)
{
	uint32_t v;

	switch (d->bpp) {
	case 8: return d->dac[p[0]];
	case 15:
		v = (uint32_t)p[0] | (uint32_t)p[1] << 8;
		return ((v >> 10 & 31) * 255 / 31) << 16 | ((v >> 5 & 31) * 255 / 31) << 8 |
		       (v & 31) * 255 / 31;
	case 16:
		v = (uint32_t)p[0] | (uint32_t)p[1] << 8;
		return ((v >> 11 & 31) * 255 / 31) << 16 | ((v >> 5 & 63) * 255 / 63) << 8 |
		       (v & 31) * 255 / 31;
	case 24: return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
	default: return ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16);
	}
}

static void render_lfb(const struct vga_display *d, const uint8_t *lfb, size_t lfb_size,
		       uint32_t *out)
{
	uint32_t bytes = (d->bpp + 7) / 8;
	uint64_t last;

	if (!lfb || !d->height || (bytes != 1 && bytes != 2 && bytes != 3 && bytes != 4)) {
		fill_black(d, out);
		return;
	}
	/* The last byte the picture covers must be inside the framebuffer (X/Y offsets included).
	 */
	last = (uint64_t)d->offset + (uint64_t)d->line_bytes * (d->height - 1) +
	       (uint64_t)d->width * bytes;
	if (last > lfb_size || (uint64_t)d->width * bytes > d->line_bytes) {
		fill_black(d, out);
		return;
	}
	for (uint32_t y = 0; y < d->height; y++) {
		const uint8_t *src = lfb + d->offset + (size_t)y * d->line_bytes;
		uint32_t *row = out + (size_t)y * d->width;

		if (bytes == 4) {
			memcpy(row, src,
			       (size_t)d->width * 4); /* x8r8g8b8: the server's own format */
			for (uint32_t x = 0; x < d->width; x++)
				row[x] &= 0x00FFFFFF;
			continue;
		}
		for (uint32_t x = 0; x < d->width; x++)
			row[x] = lfb_pixel(d, src + (size_t)x * bytes);
	}
}

void vga_render(const struct vga_display *d, const uint8_t *lfb, size_t lfb_size, unsigned phase,
		uint32_t *out)
{
	if (d->width == 0 || d->height == 0 || d->width > VGA_RENDER_MAX_W ||
	    d->height > VGA_RENDER_MAX_H)
		return;
	if (d->window_size > VGA_WINDOW_MAX) {
		fill_black(d, out);
		return;
	}
	switch (d->kind) {
	case VGA_DISPLAY_TEXT: render_text(d, phase, out); break;
	case VGA_DISPLAY_CHAINED256: render_chained(d, out); break;
	case VGA_DISPLAY_LFB: render_lfb(d, lfb, lfb_size, out); break;
	default: fill_black(d, out);
	}
}

/*
 * Unit tests for the VGA's picture (emu/vga_render.c, vga_snapshot in emu/vga.c): the
 * registers programmed through the ports as vgabios does, known text-mode memory, and the
 * pixels checked against the 8x16 font, the palette, the cursor and blinking; mode 13h; the
 * Bochs VBE framebuffer at 32 and 16 bpp with its offsets; layouts that do not fit.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "emu/vga.h"
#include "emu/vga_render.h"
#include "emu_fakes.h"

struct rig {
	struct io_bus *bus;
	struct guest_memory *mem;
	struct vga *vga;
	struct vga_display *d;
	uint32_t *px;
};

static int setup(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	assert_int_equal(io_bus_new("pio", &r->bus), 0);
	assert_int_equal(guest_memory_new(1 << 20, &r->mem), 0);
	assert_int_equal(vga_new(r->bus, r->mem, &r->vga), 0);
	r->d = calloc(1, sizeof(*r->d));
	r->px = calloc((size_t)VGA_RENDER_MAX_W * VGA_RENDER_MAX_H, sizeof(uint32_t));
	assert_non_null(r->d);
	assert_non_null(r->px);
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	struct rig *r = *state;

	vga_free(r->vga);
	guest_memory_free(r->mem);
	io_bus_free(r->bus);
	free(r->d);
	free(r->px);
	free(r);
	return 0;
}

static void crtc(struct rig *r, uint8_t index, uint8_t v)
{
	pio_outb(r->bus, 0x3D4, index);
	pio_outb(r->bus, 0x3D5, v);
}

static void attr(struct rig *r, uint8_t index, uint8_t v)
{
	(void)pio_inb(r->bus, 0x3DA); /* the flip-flop to index */
	pio_outb(r->bus, 0x3C0, index);
	pio_outb(r->bus, 0x3C0, v);
}

static void dac(struct rig *r, uint8_t index, uint8_t red, uint8_t green, uint8_t blue)
{
	pio_outb(r->bus, 0x3C8, index);
	pio_outb(r->bus, 0x3C9, red);
	pio_outb(r->bus, 0x3C9, green);
	pio_outb(r->bus, 0x3C9, blue);
}

/* Mode 3 as vgabios-stdvga sets it: 80 x 25, 9 x 16 cells, the CGA palette's first colours. */
static void mode3(struct rig *r)
{
	pio_outb(r->bus, 0x3C2, 0x67);
	pio_outb(r->bus, 0x3C4, 1);
	pio_outb(r->bus, 0x3C5, 0x00); /* 9-dot characters */
	crtc(r, 0x01, 0x4F);
	crtc(r, 0x07, 0x1F);
	crtc(r, 0x09, 0x4F);
	crtc(r, 0x12, 0x8F); /* 400 lines with overflow bit 8 */
	crtc(r, 0x0A, 0x0D);
	crtc(r, 0x0B, 0x0E);
	crtc(r, 0x0E, 0);
	crtc(r, 0x0F, 81); /* the cursor at row 1, column 1 */
	for (uint8_t i = 0; i < 16; i++)
		attr(r, i, i);
	attr(r, 0x10, 0x0C); /* blinking, line graphics */
	attr(r, 0x14, 0);
	pio_outb(r->bus, 0x3C0, 0x20); /* palette address source: the screen on */
	dac(r, 0, 0, 0, 0);
	dac(r, 1, 0, 0, 0x2A);
	dac(r, 7, 0x2A, 0x2A, 0x2A);
	dac(r, 0x0E, 0x3F, 0x3F, 0x15);
	dac(r, 0x0F, 0x3F, 0x3F, 0x3F);
}

static void put(struct rig *r, unsigned cell, uint8_t ch, uint8_t at)
{
	uint8_t b[2] = {ch, at};

	assert_int_equal(guest_memory_write(r->mem, 0xB8000 + 2 * cell, b, 2), 0);
}

static uint32_t px(struct rig *r, unsigned x, unsigned y)
{
	return r->px[(size_t)y * r->d->width + x];
}

/* The cell (cx, cy) shows glyph ch in fg on bg, lines [0, lines). */
static void assert_glyph(struct rig *r, unsigned cx, unsigned cy, uint8_t ch, uint32_t fg,
			 uint32_t bg, unsigned lines)
{
	for (unsigned y = 0; y < lines; y++)
		for (unsigned x = 0; x < 8; x++)
			assert_int_equal(px(r, cx * 9 + x, cy * 16 + y),
					 vga_font_8x16[ch][y] & (0x80 >> x) ? fg : bg);
}

static void test_text(void **state)
{
	struct rig *r = *state;
	char text[VGA_TEXT_MAX_ROWS][VGA_TEXT_MAX_COLS + 1];
	unsigned cols, rows;

	mode3(r);
	put(r, 0, 'H', 0x07);
	put(r, 1, 'i', 0x07);
	put(r, 5, 'A', 0x1E);  /* yellow on blue */
	put(r, 6, 'B', 0x8F);  /* bright white, blinking */
	put(r, 7, 0xC4, 0x07); /* a line-drawing character */
	put(r, 81, ' ', 0x07);
	assert_int_equal(vga_snapshot(r->vga, r->d), 0);
	assert_int_equal(r->d->kind, VGA_DISPLAY_TEXT);
	assert_int_equal(r->d->width, 720);
	assert_int_equal(r->d->height, 400);
	vga_render(r->d, NULL, 0, VGA_PHASE_CURSOR | VGA_PHASE_BLINK, r->px);

	assert_glyph(r, 0, 0, 'H', 0xAAAAAA, 0, 16);
	assert_glyph(r, 1, 0, 'i', 0xAAAAAA, 0, 16);
	assert_int_equal(px(r, 8, 5), 0); /* column 9 of a letter: background */
	assert_glyph(r, 5, 0, 'A', 0xFFFF55, 0x0000AA, 16);
	assert_glyph(r, 6, 0, 'B', 0xFFFFFF, 0, 16);
	for (unsigned y = 0; y < 16; y++) /* 0xC4's line goes on through column 9 */
		assert_int_equal(px(r, 7 * 9 + 8, y), px(r, 7 * 9 + 7, y));
	assert_int_equal(px(r, 7 * 9 + 8, 7), 0xAAAAAA);
	for (unsigned x = 0; x < 9; x++) { /* the cursor: lines 13-14 of cell (1, 1) */
		assert_int_equal(px(r, 9 + x, 16 + 12), 0);
		assert_int_equal(px(r, 9 + x, 16 + 13), 0xAAAAAA);
		assert_int_equal(px(r, 9 + x, 16 + 14), 0xAAAAAA);
		assert_int_equal(px(r, 9 + x, 16 + 15), 0);
	}

	/* The other phases: the blinking character and the cursor are gone. */
	vga_render(r->d, NULL, 0, 0, r->px);
	assert_glyph(r, 6, 0, ' ', 0, 0, 16);
	assert_int_equal(px(r, 9, 16 + 13), 0);
	assert_glyph(r, 0, 0, 'H', 0xAAAAAA, 0, 16);

	/* Blinking off: bit 7 is a bright background (colour 8 = DAC 8, black here) and no blink.
	 */
	attr(r, 0x10, 0x04);
	dac(r, 8, 0x15, 0x15, 0x15);
	assert_int_equal(vga_snapshot(r->vga, r->d), 0);
	vga_render(r->d, NULL, 0, 0, r->px);
	assert_glyph(r, 6, 0, 'B', 0xFFFFFF, 0x555555, 16);

	/* The cursor disabled (CRTC 0x0A bit 5), then 8-dot cells (640 wide). */
	crtc(r, 0x0A, 0x2D);
	pio_outb(r->bus, 0x3C4, 1);
	pio_outb(r->bus, 0x3C5, 0x01);
	assert_int_equal(vga_snapshot(r->vga, r->d), 0);
	assert_int_equal(r->d->width, 640);
	vga_render(r->d, NULL, 0, VGA_PHASE_CURSOR, r->px);
	assert_int_equal(px(r, 8, 16 + 13), 0);
	for (unsigned x = 0; x < 8; x++)
		assert_int_equal(px(r, 8 + x, 3),
				 vga_font_8x16['i'][3] & (0x80 >> x) ? 0xAAAAAA : 0);

	/* vga-text reads the same cells. */
	assert_int_equal(vga_text_read(r->vga, text, &cols, &rows), 0);
	assert_int_equal(cols, 80);
	assert_int_equal(rows, 25);
	assert_memory_equal(text[0], "Hi   AB.", 8);
}

static void test_start_address_and_wrap(void **state)
{
	struct rig *r = *state;

	mode3(r);
	crtc(r, 0x0C, 0x00);
	crtc(r, 0x0D, 80); /* the screen starts at the second line */
	put(r, 80, 'Z', 0x07);
	put(r, 0x3FFF, 'W', 0x07); /* the last cell of the 32 KiB window */
	assert_int_equal(vga_snapshot(r->vga, r->d), 0);
	vga_render(r->d, NULL, 0, 0, r->px);
	assert_glyph(r, 0, 0, 'Z', 0xAAAAAA, 0, 16);
	crtc(r, 0x0C, 0x3F);
	crtc(r, 0x0D, 0xFF); /* start at the last cell: the next one wraps to the window's start */
	assert_int_equal(vga_snapshot(r->vga, r->d), 0);
	vga_render(r->d, NULL, 0, 0, r->px);
	assert_glyph(r, 0, 0, 'W', 0xAAAAAA, 0, 16);
}

static void test_mode13h(void **state)
{
	struct rig *r = *state;
	uint8_t v = 5;

	mode3(r);
	pio_outb(r->bus, 0x3CE, 6);
	pio_outb(r->bus, 0x3CF, 0x05); /* graphics, 0xA0000 64 KiB */
	pio_outb(r->bus, 0x3C4, 4);
	pio_outb(r->bus, 0x3C5, 0x0E); /* chain-4 */
	attr(r, 0x10, 0x41);	       /* 8-bit colour */
	crtc(r, 0x09, 0x41);	       /* 2 scan lines a line */
	crtc(r, 0x13, 0x28);
	dac(r, 5, 0x3F, 0, 0);
	assert_int_equal(guest_memory_write(r->mem, 0xA0000 + 320 * 10 + 20, &v, 1), 0);
	assert_int_equal(vga_snapshot(r->vga, r->d), 0);
	assert_int_equal(r->d->kind, VGA_DISPLAY_CHAINED256);
	assert_int_equal(r->d->width, 320);
	assert_int_equal(r->d->height, 200);
	vga_render(r->d, NULL, 0, 0, r->px);
	assert_int_equal(px(r, 20, 10), 0xFF0000);
	assert_int_equal(px(r, 21, 10), 0);

	/* Planar 16-colour graphics are not drawn: a black 640 x 480. */
	pio_outb(r->bus, 0x3C4, 4);
	pio_outb(r->bus, 0x3C5, 0x06);
	assert_int_equal(vga_snapshot(r->vga, r->d), 0);
	assert_int_equal(r->d->kind, VGA_DISPLAY_BLANK);
	vga_render(r->d, NULL, 0, 0, r->px);
	assert_int_equal(px(r, 20, 10), 0);
}

static void vbe(struct rig *r, uint16_t index, uint16_t v)
{
	pio_out(r->bus, 0x1CE, 2, index);
	pio_out(r->bus, 0x1CF, 2, v);
}

static void test_lfb(void **state)
{
	struct rig *r = *state;
	uint8_t *fb = vga_framebuffer(r->vga);
	uint32_t v32 = 0xFF123456;
	uint16_t red = 0xF800, green = 0x07E0;

	vbe(r, 1, 64); /* XRES */
	vbe(r, 2, 32); /* YRES */
	vbe(r, 3, 32); /* BPP */
	vbe(r, 4, 0x41);
	memcpy(fb + (2 * 64 + 3) * 4, &v32, 4);
	assert_int_equal(vga_snapshot(r->vga, r->d), 0);
	assert_int_equal(r->d->kind, VGA_DISPLAY_LFB);
	assert_int_equal(r->d->width, 64);
	assert_int_equal(r->d->height, 32);
	vga_render(r->d, fb, VGA_LFB_SIZE, 0, r->px);
	assert_int_equal(px(r, 3, 2), 0x123456);
	assert_int_equal(px(r, 4, 2), 0);
	vbe(r, 9, 1); /* Y_OFFSET: the picture starts a line lower */
	assert_int_equal(vga_snapshot(r->vga, r->d), 0);
	vga_render(r->d, fb, VGA_LFB_SIZE, 0, r->px);
	assert_int_equal(px(r, 3, 1), 0x123456);
	vbe(r, 9, 60000); /* past the framebuffer: black, nothing read outside it */
	assert_int_equal(vga_snapshot(r->vga, r->d), 0);
	vga_render(r->d, fb, VGA_LFB_SIZE, 0, r->px);
	assert_int_equal(px(r, 3, 1), 0);
	vbe(r, 9, 0);

	/* 16 bpp (RGB 5:6:5), NOCLEARMEM so the bytes written before the switch stay. */
	vbe(r, 4, 0);
	vbe(r, 3, 16);
	vbe(r, 4, 0xC1);
	memcpy(fb + (5 * 64 + 7) * 2, &red, 2);
	memcpy(fb + (5 * 64 + 8) * 2, &green, 2);
	assert_int_equal(vga_snapshot(r->vga, r->d), 0);
	vga_render(r->d, fb, VGA_LFB_SIZE, 0, r->px);
	assert_int_equal(px(r, 7, 5), 0xFF0000);
	assert_int_equal(px(r, 8, 5), 0x00FF00);
}

/* Snapshots no VGA makes (the fuzz target's territory): drawn black, within the buffer. */
static void test_bad_layouts(void **state)
{
	struct rig *r = *state;
	uint8_t fb[64];

	memset(r->d, 0, offsetof(struct vga_display, window));
	r->d->kind = VGA_DISPLAY_TEXT;
	r->d->width = 16;
	r->d->height = 16;
	r->d->cols = 1000; /* more cells than the picture holds */
	r->d->rows = 1;
	r->d->cell_w = 9;
	r->d->cell_h = 16;
	r->d->window_size = 2;
	r->px[0] = 0x123456;
	vga_render(r->d, NULL, 0, 0, r->px);
	assert_int_equal(r->px[0], 0);
	r->d->kind = VGA_DISPLAY_LFB;
	r->d->bpp = 32;
	r->d->line_bytes = 64;
	r->px[0] = 0x123456;
	vga_render(r->d, fb, sizeof(fb), 0, r->px); /* 16 lines of 64 bytes in 64 bytes */
	assert_int_equal(r->px[0], 0);
	r->d->kind = VGA_DISPLAY_TEXT;
	r->d->cols = 1;
	r->d->window_size = VGA_WINDOW_MAX + 1;
	r->px[0] = 0x123456;
	vga_render(r->d, NULL, 0, 0, r->px);
	assert_int_equal(r->px[0], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_address_and_wrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mode13h, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lfb, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_layouts, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

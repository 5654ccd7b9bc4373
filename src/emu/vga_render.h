/*
 * What the VGA shows, as pixels for the console server (vmwp/rfb_server.c):
 * vga_snapshot() (vga.c) copies the registers that describe the picture and,
 * for the modes that live in the legacy window, that window; vga_render()
 * turns a snapshot into 0x00RRGGBB pixels. The renderer reads nothing but
 * the snapshot and the framebuffer it is given, so it is tested and fuzzed
 * without a guest (tests/unit/emu/test_vga_render.c, tests/fuzz/emu/fuzz_vga_render.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

/* The largest picture: VBE's maximum resolution (vga.c VBE_MAX_XRES x VBE_MAX_YRES). */
#define VGA_RENDER_MAX_W 2560
#define VGA_RENDER_MAX_H 1600
/* The legacy window's largest map (graphics controller memory map 0: 0xA0000, 128 KiB). */
#define VGA_WINDOW_MAX 0x20000

enum vga_display_kind {
	VGA_DISPLAY_BLANK, /* a mode not rendered (planar graphics, a bad VBE layout): black */
	VGA_DISPLAY_TEXT,
	VGA_DISPLAY_CHAINED256, /* mode 13h: chain-4, one byte a pixel through the DAC */
	VGA_DISPLAY_LFB,	/* Bochs VBE linear framebuffer */
};

struct vga_display {
	enum vga_display_kind kind;
	uint32_t width, height; /* pixels */
	uint32_t dac[256];	/* the DAC as 0x00RRGGBB (6-bit values widened) */

	/* Text: cols x rows cells of cell_w x cell_h pixels, the font's first 16 rows. */
	uint32_t cols, rows, cell_w, cell_h, pitch; /* pitch: cells a row */
	uint32_t start;				    /* CRTC start address, in cells */
	uint32_t cursor;			    /* CRTC cursor location, in cells */
	uint8_t cursor_start, cursor_end;	    /* scan lines; start > end: none */
	bool cursor_on;				    /* CRTC 0x0A bit 5 clear */
	bool blink; /* attribute mode bit 3: attribute bit 7 blinks (else bright background) */
	bool line_graphics; /* attribute mode bit 2: 0xC0-0xDF repeat column 8 in 9-dot cells */
	uint8_t colour[16]; /* attribute index -> DAC index (palette registers, colour select) */

	/* Chained 256 colours: bytes from start in window, pitch bytes a line. LFB: the same in
	 * lfb. */
	uint32_t bpp, offset, line_bytes;

	uint32_t window_size; /* bytes of window in use (text and chained modes; 0 for the LFB) */
	uint8_t window[VGA_WINDOW_MAX];
};

/* Blink phases (IBM VGA: the cursor at 1/16, characters at 1/32 of the vertical frequency). */
#define VGA_PHASE_CURSOR 1u
#define VGA_PHASE_BLINK	 2u

/* The phases at a time in milliseconds (a 60 Hz screen: ~267 ms and ~533 ms). */
unsigned vga_render_phase(uint64_t now_ms);

/*
 * Draws d into out (d->width x d->height pixels, d->width a row). lfb is the
 * framebuffer (lfb_size bytes) for VGA_DISPLAY_LFB; every read is bounded by
 * the snapshot's window or by lfb_size. Never fails: a layout that does not
 * fit is drawn black.
 */
void vga_render(const struct vga_display *d, const uint8_t *lfb, size_t lfb_size, unsigned phase,
		uint32_t *out);

/* The 8x16 VGA font, code page 437 order (vga_font.c, made by tools/gen_vga_font.py). */
extern const uint8_t vga_font_8x16[256][16];

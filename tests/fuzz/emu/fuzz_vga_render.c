/*
 * Fuzz target: what the console server draws of the VGA (src/emu/vga.c's
 * vga_snapshot, src/emu/vga_render.c): guest-controlled registers, legacy
 * window and framebuffer bytes, then a snapshot and a picture, every
 * blink phase. The input is a sequence of 4-byte operations:
 *
 *   byte 0   bits 0-1: 0 VGA port write (port 0x3B0 + byte 1 % 0x30, value byte 2),
 *                      1 VGA port read (port 0x3B0 + byte 1 % 0x30),
 *                      2 VBE register write (index byte 1 % 16, value bytes 2-3),
 *                      3 a byte of guest memory in 0xA0000-0xBFFFF (offset bytes 1-2 * 2,
 *                        value byte 3) and the same in the framebuffer at offset bytes 1-2 << 8
 *            bit 2:    draw after this operation
 * The picture is drawn at the end as well. ASan catches any read outside the
 * window copy, the framebuffer or the picture buffer.
 *
 * Seeds (corpus/vga_render, by make_vga_render_corpus.py): vgabios's mode 3,
 * mode 13h, VBE 1024x768x32 and 800x600x16, and offsets past the framebuffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "emu/vga.h"
#include "emu/vga_render.h"
#include "vid/guest_memory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct guest_memory *mem;
static struct io_bus *bus;
static struct vga_display *display;
static uint32_t *picture;

static void quiet(void *opaque, enum log_level level, const char *line)
{
	(void)opaque;
	(void)level;
	(void)line;
}

static void draw(struct vga *vga)
{
	if (vga_snapshot(vga, display) < 0)
		return;
	for (unsigned phase = 0; phase < 4; phase++)
		vga_render(display, vga_framebuffer(vga), VGA_LFB_SIZE, phase, picture);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vga *vga;

	if (!mem) {
		log_set_sink(quiet, NULL);
		display = malloc(sizeof(*display));
		picture = malloc((size_t)VGA_RENDER_MAX_W * VGA_RENDER_MAX_H * 4);
		if (!display || !picture || guest_memory_new(1 << 20, &mem) < 0 ||
		    io_bus_new("pio", &bus) < 0)
			abort();
	}
	if (guest_memory_fill(mem, 0xA0000, 0, 0x20000) < 0 || vga_new(bus, mem, &vga) < 0)
		abort();
	for (size_t i = 0; i + 4 <= size; i += 4) {
		const uint8_t *op = data + i;
		uint32_t off = (uint32_t)op[1] | (uint32_t)op[2] << 8;
		uint64_t v;

		switch (op[0] & 3) {
		case 0: (void)io_bus_write(bus, 0x3B0 + op[1] % 0x30, 1, op[2]); break;
		case 1: (void)io_bus_read(bus, 0x3B0 + op[1] % 0x30, 1, &v); break;
		case 2:
			(void)io_bus_write(bus, 0x1CE, 2, op[1] % 16);
			(void)io_bus_write(bus, 0x1CF, 2, (uint32_t)op[2] | (uint32_t)op[3] << 8);
			break;
		default:
			if (guest_memory_write(mem, 0xA0000 + (off * 2) % 0x20000, &op[3], 1) < 0)
				abort();
			((uint8_t *)vga_framebuffer(vga))[((size_t)off << 8) % VGA_LFB_SIZE] =
				op[3];
		}
		if (op[0] & 4)
			draw(vga);
	}
	draw(vga);
	vga_free(vga);
	return 0;
}

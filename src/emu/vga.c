/*
 * A standard VGA and the Bochs VBE ("DISPI") interface, as SeaBIOS's
 * vgabios-stdvga (vgasrc/stdvga.c, vgasrc/bochsvga.c) and Linux's vgacon
 * program them.
 *
 * VGA registers (IBM VGA Technical Reference; FreeVGA's register pages):
 *   0x3C0       attribute controller: index and data through one flip-flop
 *               (reset by reading input status 1), 0x3C1 reads data
 *   0x3C2       misc output (write; read back at 0x3CC); input status 0 (read)
 *   0x3C4/0x3C5 sequencer index/data        0x3CE/0x3CF graphics controller
 *   0x3C6-0x3C9 DAC mask, read index (state on read), write index, data
 *               (R, G, B in turn, 6 bits each)
 *   0x3D4/0x3D5 CRTC index/data, 0x3DA input status 1 (feature control on
 *               write), at 0x3B4/0x3B5/0x3BA instead when misc bit 0 is clear
 * Index registers keep only the bits that address a register of the
 * file (sequencer 3, graphics controller 4, attribute 5, CRTC 5), so no
 * guest index reaches past an array. Word accesses are split into bytes
 * at consecutive ports ("outw 0x3C4" writes index then data), as an ISA
 * bus does. Input status 1 toggles display-enable and vertical-retrace so
 * that loops waiting for either end.
 *
 * Memory: the 0xA0000-0xBFFFF window is guest RAM, so text modes (and the
 * chained 256-colour mode 13h) cost no exits and their bytes are read from
 * guest memory; planar modes are not emulated (their writes land in RAM
 * as if one plane). The text screen is read from the CRTC start address
 * in the window the graphics controller's memory map selects.
 *
 * Bochs VBE (QEMU hw/display/vga.c, include/hw/display/bochs-vbe.h): index
 * at 0x1CE, data at 0x1CF, 16-bit. ID (0xB0C0-0xB0C5), XRES, YRES, BPP,
 * ENABLE (with GETCAPS: the maximums read back), BANK, VIRT_WIDTH,
 * VIRT_HEIGHT, X/Y_OFFSET, VIDEO_MEMORY_64K. A mode that does not fit the
 * framebuffer, or a resolution or depth beyond the maximums, is refused
 * (the enable bit stays clear; counted). The framebuffer is host memory
 * the worker maps at VGA_LFB_GPA, where vgabios puts it when the ROM is
 * not run from a PCI function.
 *
 * What the screen shows (vga_snapshot, for the console server): the
 * registers that describe the picture and a copy of the window it is in;
 * vga_render.c draws it.
 *
 * Saved state (section "vga", vga_save): every register above, the DAC
 * and the VBE registers; the legacy window is guest RAM (saved with it),
 * the framebuffer's bytes are the worker's sections "vga.lfb.N".
 *
 * Threads: vCPU threads (and the control thread for vga_text_read, the
 * console server's for vga_snapshot); one
 * mutex guards every register.
 */
#include "emu/vga.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/log.h"
#include "emu/vga_render.h"
#include "state/state.h"

#define VGA_PORT_BASE 0x3B0
#define VGA_PORT_LEN  0x30
#define VBE_PORT_BASE 0x1CE
#define VBE_PORT_LEN  3 /* a word at the data port 0x1CF covers 0x1D0 */

/* Bochs VBE (bochs-vbe.h). */
enum {
	VBE_ID,
	VBE_XRES,
	VBE_YRES,
	VBE_BPP,
	VBE_ENABLE,
	VBE_BANK,
	VBE_VIRT_WIDTH,
	VBE_VIRT_HEIGHT,
	VBE_X_OFFSET,
	VBE_Y_OFFSET,
	VBE_VIDEO_MEMORY_64K,
	VBE_REGS,
};
#define VBE_ID0		0xB0C0
#define VBE_ID5		0xB0C5
#define VBE_ENABLED	0x01
#define VBE_GETCAPS	0x02
#define VBE_8BIT_DAC	0x20
#define VBE_LFB_ENABLED 0x40
#define VBE_NOCLEARMEM	0x80
#define VBE_MAX_XRES	2560
#define VBE_MAX_YRES	1600
#define VBE_MAX_BPP	32
/* The ENABLE bits the VGA keeps (vbe_reg_write). */
#define VBE_ENABLE_BITS                                                                            \
	(VBE_ENABLED | VBE_GETCAPS | VBE_8BIT_DAC | VBE_LFB_ENABLED | VBE_NOCLEARMEM)

struct vga {
	pthread_mutex_t lock;
	struct io_bus *bus;
	struct guest_memory *mem;
	void *lfb; /* VGA_LFB_SIZE bytes, mapped by the owner */

	/* Locked. */
	uint8_t misc, feature, video_enable;
	uint8_t seq_index, seq[8];
	uint8_t gc_index, gc[16];
	uint8_t attr_index, attr[32];
	bool attr_data_next; /* the flip-flop: the next 0x3C0 write is data */
	uint8_t crtc_index, crtc[32];
	uint8_t dac_mask, dac_read_index, dac_write_index, dac_read_rgb, dac_write_rgb;
	bool dac_reading; /* 0x3C7 was written last (DAC state 3) */
	uint8_t dac[256][3];
	uint8_t status1; /* display-enable and retrace bits, toggled on each read */
	uint16_t vbe_index, vbe[VBE_REGS];

	struct guest_error_log errors;
};

static bool color(const struct vga *s)
{
	return s->misc & 1;
}

/* One byte read at port (lock held). */
static uint8_t port_read8(struct vga *s, unsigned port)
{
	switch (port) {
	case 0x3C0: return s->attr_index;
	case 0x3C1: return s->attr[s->attr_index & 0x1F];
	case 0x3C2: return 0x10; /* input status 0: switch sense */
	case 0x3C3: return s->video_enable;
	case 0x3C4: return s->seq_index;
	case 0x3C5: return s->seq[s->seq_index & 0x07];
	case 0x3C6: return s->dac_mask;
	case 0x3C7: return s->dac_reading ? 0x03 : 0x00;
	case 0x3C8: return s->dac_write_index;
	case 0x3C9: {
		uint8_t v = s->dac[s->dac_read_index][s->dac_read_rgb];

		if (++s->dac_read_rgb == 3) {
			s->dac_read_rgb = 0;
			s->dac_read_index++;
		}
		return v;
	}
	case 0x3CA: return s->feature;
	case 0x3CC: return s->misc;
	case 0x3CE: return s->gc_index;
	case 0x3CF: return s->gc[s->gc_index & 0x0F];
	case 0x3B4:
	case 0x3D4: return (port == 0x3D4) == color(s) ? s->crtc_index : 0xFF;
	case 0x3B5:
	case 0x3D5: return (port == 0x3D5) == color(s) ? s->crtc[s->crtc_index & 0x1F] : 0xFF;
	case 0x3BA:
	case 0x3DA:
		if ((port == 0x3DA) != color(s))
			return 0xFF;
		s->attr_data_next = false;
		s->status1 ^= 0x09; /* display enable (bit 0), vertical retrace (bit 3) */
		return s->status1;
	}
	return 0xFF;
}

static void port_write8(struct vga *s, unsigned port, uint8_t v)
{
	switch (port) {
	case 0x3C0:
		if (s->attr_data_next)
			s->attr[s->attr_index & 0x1F] = v;
		else
			s->attr_index = v & 0x3F; /* bit 5: palette address source */
		s->attr_data_next = !s->attr_data_next;
		break;
	case 0x3C2: s->misc = v; break;
	case 0x3C3: s->video_enable = v & 1; break;
	case 0x3C4: s->seq_index = v; break;
	case 0x3C5: s->seq[s->seq_index & 0x07] = v; break;
	case 0x3C6: s->dac_mask = v; break;
	case 0x3C7:
		s->dac_read_index = v;
		s->dac_read_rgb = 0;
		s->dac_reading = true;
		break;
	case 0x3C8:
		s->dac_write_index = v;
		s->dac_write_rgb = 0;
		s->dac_reading = false;
		break;
	case 0x3C9:
		s->dac[s->dac_write_index][s->dac_write_rgb] = v & 0x3F;
		if (++s->dac_write_rgb == 3) {
			s->dac_write_rgb = 0;
			s->dac_write_index++;
		}
		break;
	case 0x3CE: s->gc_index = v; break;
	case 0x3CF: s->gc[s->gc_index & 0x0F] = v; break;
	case 0x3B4:
	case 0x3D4:
		if ((port == 0x3D4) == color(s))
			s->crtc_index = v;
		break;
	case 0x3B5:
	case 0x3D5:
		if ((port == 0x3D5) == color(s))
			s->crtc[s->crtc_index & 0x1F] = v;
		break;
	case 0x3BA:
	case 0x3DA:
		if ((port == 0x3DA) == color(s))
			s->feature = v;
		break;
	}
}

static uint64_t vga_read(void *opaque, uint64_t offset, unsigned size)
{
	struct vga *s = opaque;
	uint64_t v = 0;

	if (offset + size > VGA_PORT_LEN) {
		guest_error_report(&s->errors, "%u-byte read at port %#x", size,
				   (unsigned)(VGA_PORT_BASE + offset));
		return UINT64_MAX;
	}
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)port_read8(s, (unsigned)(VGA_PORT_BASE + offset + i)) << (8 * i);
	pthread_mutex_unlock(&s->lock);
	return v;
}

static void vga_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct vga *s = opaque;

	if (offset + size > VGA_PORT_LEN) {
		guest_error_report(&s->errors, "%u-byte write at port %#x", size,
				   (unsigned)(VGA_PORT_BASE + offset));
		return;
	}
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < size; i++)
		port_write8(s, (unsigned)(VGA_PORT_BASE + offset + i), (uint8_t)(value >> (8 * i)));
	pthread_mutex_unlock(&s->lock);
}

static const struct io_ops vga_ops = {
	.read = vga_read,
	.write = vga_write,
};

static uint16_t vbe_reg_read(struct vga *s, unsigned index)
{
	static const uint16_t caps[VBE_REGS] = {
		[VBE_XRES] = VBE_MAX_XRES, [VBE_YRES] = VBE_MAX_YRES, [VBE_BPP] = VBE_MAX_BPP};

	if (index >= VBE_REGS) {
		guest_error_report(&s->errors, "VBE read of register %#x", index);
		return 0;
	}
	if (s->vbe[VBE_ENABLE] & VBE_GETCAPS && caps[index])
		return caps[index];
	return s->vbe[index];
}

/* The mode in the registers vbe fits the framebuffer and the maximums. */
static bool vbe_mode_ok(const uint16_t *vbe)
{
	unsigned bpp = vbe[VBE_BPP];
	uint64_t width = MAX(vbe[VBE_XRES], vbe[VBE_VIRT_WIDTH]);

	if (!vbe[VBE_XRES] || !vbe[VBE_YRES] || vbe[VBE_XRES] > VBE_MAX_XRES ||
	    vbe[VBE_YRES] > VBE_MAX_YRES)
		return false;
	if (bpp != 4 && bpp != 8 && bpp != 15 && bpp != 16 && bpp != 24 && bpp != 32)
		return false;
	return width * ((bpp + 7) / 8) * vbe[VBE_YRES] <= VGA_LFB_SIZE;
}

static void vbe_reg_write(struct vga *s, unsigned index, uint16_t v)
{
	switch (index) {
	case VBE_ID:
		if (v >= VBE_ID0 && v <= VBE_ID5)
			s->vbe[VBE_ID] = v;
		return;
	case VBE_XRES:
	case VBE_YRES:
	case VBE_BPP:
	case VBE_VIRT_WIDTH:
	case VBE_VIRT_HEIGHT:
	case VBE_X_OFFSET:
	case VBE_Y_OFFSET:
		if (s->vbe[VBE_ENABLE] & VBE_ENABLED && index <= VBE_BPP)
			return; /* the geometry is fixed while a mode is on (as QEMU's) */
		s->vbe[index] = v;
		return;
	case VBE_BANK:
		if (v < VGA_LFB_SIZE / 65536)
			s->vbe[VBE_BANK] = v;
		else
			guest_error_report(&s->errors, "VBE bank %u past the framebuffer", v);
		return;
	case VBE_ENABLE:
		if (v & VBE_ENABLED && !vbe_mode_ok(s->vbe)) {
			guest_error_report(&s->errors, "VBE mode %ux%u %u bpp refused",
					   s->vbe[VBE_XRES], s->vbe[VBE_YRES], s->vbe[VBE_BPP]);
			v &= (uint16_t)~VBE_ENABLED;
		}
		if (v & VBE_ENABLED && !(s->vbe[VBE_ENABLE] & VBE_ENABLED)) {
			if (!s->vbe[VBE_VIRT_WIDTH] || s->vbe[VBE_VIRT_WIDTH] < s->vbe[VBE_XRES])
				s->vbe[VBE_VIRT_WIDTH] = s->vbe[VBE_XRES];
			s->vbe[VBE_VIRT_HEIGHT] = s->vbe[VBE_YRES];
			if (!(v & VBE_NOCLEARMEM))
				memset(s->lfb, 0, VGA_LFB_SIZE);
		}
		s->vbe[VBE_ENABLE] = v & VBE_ENABLE_BITS;
		return;
	default: guest_error_report(&s->errors, "VBE write of register %#x", index);
	}
}

static uint64_t vbe_read(void *opaque, uint64_t offset, unsigned size)
{
	struct vga *s = opaque;
	uint16_t v;

	if (size != 2 || offset > 1) {
		guest_error_report(&s->errors, "%u-byte VBE read at port %#x", size,
				   (unsigned)(VBE_PORT_BASE + offset));
		return UINT64_MAX;
	}
	pthread_mutex_lock(&s->lock);
	v = offset == 0 ? s->vbe_index : vbe_reg_read(s, s->vbe_index);
	pthread_mutex_unlock(&s->lock);
	return v;
}

static void vbe_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct vga *s = opaque;

	if (size != 2 || offset > 1) {
		guest_error_report(&s->errors, "%u-byte VBE write at port %#x", size,
				   (unsigned)(VBE_PORT_BASE + offset));
		return;
	}
	pthread_mutex_lock(&s->lock);
	if (offset == 0)
		s->vbe_index = (uint16_t)value;
	else
		vbe_reg_write(s, s->vbe_index, (uint16_t)value);
	pthread_mutex_unlock(&s->lock);
}

static const struct io_ops vbe_ops = {
	.read = vbe_read,
	.write = vbe_write,
};

/* The graphics controller's memory map (Miscellaneous register bits 3-2): window start, size. */
static void text_window(const struct vga *s, uint64_t *gpa, uint32_t *size)
{
	static const uint32_t base[4] = {0xA0000, 0xA0000, 0xB0000, 0xB8000};
	static const uint32_t len[4] = {0x20000, 0x10000, 0x8000, 0x8000};
	unsigned map = (s->gc[6] >> 2) & 3;

	*gpa = base[map];
	*size = len[map];
}

int vga_text_read(struct vga *s, char out[][VGA_TEXT_MAX_COLS + 1], unsigned *ret_cols,
		  unsigned *ret_rows)
{
	uint8_t *window;
	unsigned cols, rows, scan, vde, start;
	uint64_t gpa;
	uint32_t size;
	int r;

	pthread_mutex_lock(&s->lock);
	if (s->gc[6] & 1 || s->vbe[VBE_ENABLE] & VBE_ENABLED) {
		pthread_mutex_unlock(&s->lock);
		return -ENOTSUP;
	}
	/* CRTC: horizontal display end (+1), vertical display end with its overflow bits 8-9. */
	cols = s->crtc[0x01] + 1u;
	vde = (s->crtc[0x12] | (s->crtc[0x07] & 0x02) << 7 | (s->crtc[0x07] & 0x40) << 3) + 1u;
	scan = (s->crtc[0x09] & 0x1F) + 1u;
	rows = vde / scan;
	start = (unsigned)s->crtc[0x0C] << 8 | s->crtc[0x0D];
	text_window(s, &gpa, &size);
	pthread_mutex_unlock(&s->lock);
	if (cols < 2 || rows == 0) { /* registers never programmed: the power-on 80 x 25 */
		cols = 80;
		rows = 25;
	}
	cols = MIN(cols, VGA_TEXT_MAX_COLS);
	rows = MIN(rows, VGA_TEXT_MAX_ROWS);
	/* One copy of the window; only the copy is read. */
	window = malloc(size);
	if (!window)
		return -ENOMEM;
	r = guest_memory_read(s->mem, gpa, window, size);
	if (r < 0) {
		free(window);
		return r;
	}
	for (unsigned y = 0; y < rows; y++) {
		for (unsigned x = 0; x < cols; x++) {
			/* Character/attribute pairs; the address wraps inside the window. */
			uint8_t c = window[(2u * (start + y * cols + x)) % size];

			out[y][x] = c >= 0x20 && c < 0x7F ? (char)c : (c ? '.' : ' ');
		}
		out[y][cols] = '\0';
	}
	free(window);
	*ret_cols = cols;
	*ret_rows = rows;
	return 0;
}

/* DAC entries as 0x00RRGGBB: 6-bit values widened to 8 (v << 2 | v >> 4), through the mask. */
static void snapshot_dac(const struct vga *s, struct vga_display *d)
{
	for (unsigned i = 0; i < 256; i++) {
		const uint8_t *c = s->dac[i & s->dac_mask];

		d->dac[i] = (uint32_t)(c[0] << 2 | c[0] >> 4) << 16 |
			    (uint32_t)(c[1] << 2 | c[1] >> 4) << 8 |
			    (uint32_t)(c[2] << 2 | c[2] >> 4);
	}
}

/*
 * The attribute controller's palette registers to DAC indexes (FreeVGA attribute
 * controller: mode control bit 7 P54S takes bits 5-4 from the colour select register).
 */
static void snapshot_colours(const struct vga *s, struct vga_display *d)
{
	for (unsigned i = 0; i < 16; i++)
		d->colour[i] =
			s->attr[0x10] & 0x80
				? (uint8_t)((s->attr[0x14] & 0x0F) << 4 | (s->attr[i] & 0x0F))
				: (uint8_t)((s->attr[0x14] & 0x0C) << 4 | (s->attr[i] & 0x3F));
}

/* The text geometry as vga_text_read reads it (the same cells, so the two agree). */
static void snapshot_text(const struct vga *s, struct vga_display *d)
{
	unsigned vde =
		(s->crtc[0x12] | (s->crtc[0x07] & 0x02) << 7 | (s->crtc[0x07] & 0x40) << 3) + 1u;

	d->kind = VGA_DISPLAY_TEXT;
	d->cols = s->crtc[0x01] + 1u;
	d->cell_h = (s->crtc[0x09] & 0x1F) + 1u;
	d->rows = vde / d->cell_h;
	if (d->cols < 2 || d->rows == 0) { /* never programmed: the power-on 80 x 25 */
		d->cols = 80;
		d->rows = 25;
		d->cell_h = 16;
	}
	d->cols = MIN(d->cols, VGA_TEXT_MAX_COLS);
	d->rows = MIN(d->rows, VGA_TEXT_MAX_ROWS);
	d->cell_w = s->seq[1] & 1 ? 8 : 9; /* clocking mode bit 0: 8-dot characters */
	d->pitch = d->cols;
	d->width = d->cols * d->cell_w;
	d->height = d->rows * d->cell_h;
	d->start = (uint32_t)s->crtc[0x0C] << 8 | s->crtc[0x0D];
	d->cursor = (uint32_t)s->crtc[0x0E] << 8 | s->crtc[0x0F];
	d->cursor_on = !(s->crtc[0x0A] & 0x20);
	d->cursor_start = s->crtc[0x0A] & 0x1F;
	d->cursor_end = s->crtc[0x0B] & 0x1F;
	d->blink = s->attr[0x10] & 0x08;
	d->line_graphics = s->attr[0x10] & 0x04;
}

/* Chain-4 256-colour graphics (mode 13h): CRTC widths in 4-pixel units, scan doubling. */
static void snapshot_chained(const struct vga *s, struct vga_display *d)
{
	unsigned vde =
		(s->crtc[0x12] | (s->crtc[0x07] & 0x02) << 7 | (s->crtc[0x07] & 0x40) << 3) + 1u;
	unsigned lines = ((s->crtc[0x09] & 0x1F) + 1u) * (s->crtc[0x09] & 0x80 ? 2 : 1);

	d->kind = VGA_DISPLAY_CHAINED256;
	d->width = (s->crtc[0x01] + 1u) * 4;
	d->height = vde / lines;
	d->line_bytes = s->crtc[0x13] * 8u;
	d->offset = ((uint32_t)s->crtc[0x0C] << 8 | s->crtc[0x0D]) * 4;
}

/* The Bochs VBE mode: a picture at X/Y offset in a virtual screen VIRT_WIDTH pixels wide. */
static void snapshot_lfb(const struct vga *s, struct vga_display *d)
{
	uint32_t bytes = (s->vbe[VBE_BPP] + 7u) / 8;

	d->kind = s->vbe[VBE_BPP] == 4 ? VGA_DISPLAY_BLANK : VGA_DISPLAY_LFB;
	d->width = s->vbe[VBE_XRES];
	d->height = s->vbe[VBE_YRES];
	d->bpp = s->vbe[VBE_BPP];
	d->line_bytes = s->vbe[VBE_VIRT_WIDTH] * bytes;
	d->offset = s->vbe[VBE_Y_OFFSET] * d->line_bytes + s->vbe[VBE_X_OFFSET] * bytes;
}

int vga_snapshot(struct vga *s, struct vga_display *d)
{
	uint64_t gpa = 0;
	uint32_t size = 0;
	int r;

	memset(d, 0, offsetof(struct vga_display, window));
	pthread_mutex_lock(&s->lock);
	snapshot_dac(s, d);
	snapshot_colours(s, d);
	if (s->vbe[VBE_ENABLE] & VBE_ENABLED) {
		snapshot_lfb(s, d);
	} else if (!(s->gc[6] & 1)) {
		snapshot_text(s, d);
		text_window(s, &gpa, &size);
	} else if (s->seq[4] & 0x08 && s->attr[0x10] & 0x40) {
		snapshot_chained(s, d);
		text_window(s, &gpa, &size);
	} else { /* planar 16-colour graphics: not rendered */
		d->kind = VGA_DISPLAY_BLANK;
		d->width = 640;
		d->height = 480;
	}
	pthread_mutex_unlock(&s->lock);
	if (!d->width || !d->height || d->width > VGA_RENDER_MAX_W ||
	    d->height > VGA_RENDER_MAX_H) {
		d->kind = VGA_DISPLAY_BLANK;
		d->width = 640;
		d->height = 480;
		size = 0;
	}
	if (size) {
		r = guest_memory_read(s->mem, gpa, d->window, size);
		if (r < 0)
			return r;
	}
	d->window_size = size;
	return 0;
}

/*
 * The byte registers of the saved state, in their order (version 1), each with the largest
 * value the device itself ever stores there (port_write8's masks): a saved byte above it is
 * refused by name. status1 holds only the toggled bits 0 and 3 (checked apart).
 */
struct vga_state_field {
	const char *name;
	size_t offset, len;
	uint8_t max;
};
#define FIELD(f, m)                                                                                \
	{                                                                                          \
#f, offsetof(struct vga, f), sizeof(((struct vga *)0)->f), m                       \
	}
static const struct vga_state_field vga_state_fields[] = {
	FIELD(misc, 0xFF),
	FIELD(feature, 0xFF),
	FIELD(video_enable, 1),
	FIELD(seq_index, 0xFF),
	FIELD(seq, 0xFF),
	FIELD(gc_index, 0xFF),
	FIELD(gc, 0xFF),
	FIELD(attr_index, 0x3F),
	FIELD(attr, 0xFF),
	FIELD(attr_data_next, 1),
	FIELD(crtc_index, 0xFF),
	FIELD(crtc, 0xFF),
	FIELD(dac_mask, 0xFF),
	FIELD(dac_read_index, 0xFF),
	FIELD(dac_write_index, 0xFF),
	FIELD(dac_read_rgb, 2),
	FIELD(dac_write_rgb, 2),
	FIELD(dac_reading, 1),
	FIELD(dac, 0x3F),
	FIELD(status1, 0x09),
};
#undef FIELD
_Static_assert(sizeof(bool) == 1, "bools are saved as one byte");

static size_t vga_state_bytes(void)
{
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(vga_state_fields); i++)
		n += vga_state_fields[i].len;
	return n;
}

/*
 * Version 1: the byte registers of vga_state_fields, in order; then the VBE index and the
 * VBE_REGS VBE registers (u32 each, 16-bit values).
 */
int vga_save(struct vga *s, struct state_out *out)
{
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < ARRAY_SIZE(vga_state_fields); i++)
		state_out_bytes(out, (const uint8_t *)s + vga_state_fields[i].offset,
				vga_state_fields[i].len);
	state_out_u32(out, s->vbe_index);
	for (unsigned i = 0; i < VBE_REGS; i++)
		state_out_u32(out, s->vbe[i]);
	pthread_mutex_unlock(&s->lock);
	return out->error;
}

/* Every byte of raw (vga_state_fields' layout) within its field's bounds; else errbuf names it. */
static int check_bytes(const uint8_t *raw, char *errbuf, size_t errlen)
{
	for (size_t i = 0, at = 0; i < ARRAY_SIZE(vga_state_fields); i++) {
		const struct vga_state_field *f = &vga_state_fields[i];

		for (size_t j = 0; j < f->len; j++, at++)
			if (raw[at] > f->max || (!strcmp(f->name, "status1") && raw[at] & ~0x09)) {
				snprintf(errbuf, errlen,
					 "VGA state: %s[%zu] is 0x%02x, which the VGA never holds "
					 "there (at most 0x%02x)",
					 f->name, j, raw[at], f->max);
				return -EBADMSG;
			}
	}
	return 0;
}

/* The VBE registers as the device could have set them (vbe_reg_write). */
static int check_vbe(const uint16_t *vbe, char *errbuf, size_t errlen)
{
	const char *bad = NULL;

	if (vbe[VBE_ID] < VBE_ID0 || vbe[VBE_ID] > VBE_ID5)
		bad = "ID is not one of 0xB0C0-0xB0C5";
	else if (vbe[VBE_BANK] >= VGA_LFB_SIZE / 65536)
		bad = "BANK is past the framebuffer";
	else if (vbe[VBE_ENABLE] & ~VBE_ENABLE_BITS)
		bad = "ENABLE has unknown bits";
	else if (vbe[VBE_ENABLE] & VBE_ENABLED && !vbe_mode_ok(vbe))
		bad = "ENABLE is set with a mode that does not fit the framebuffer";
	else if (vbe[VBE_VIDEO_MEMORY_64K] != VGA_LFB_SIZE / 65536)
		bad = "VIDEO_MEMORY_64K is not this VGA's framebuffer size";
	if (!bad)
		return 0;
	snprintf(errbuf, errlen, "VGA state: VBE register %s (ENABLE 0x%04x, %ux%u %u bpp)", bad,
		 vbe[VBE_ENABLE], vbe[VBE_XRES], vbe[VBE_YRES], vbe[VBE_BPP]);
	return -EBADMSG;
}

int vga_load(struct vga *s, uint32_t version, struct state_in *in, char *errbuf, size_t errlen)
{
	size_t n = vga_state_bytes();
	uint8_t *raw = malloc(n);
	uint16_t vbe[VBE_REGS];
	uint32_t index, v;
	int r;

	if (!raw)
		return -ENOMEM;
	state_in_bytes(in, raw, n);
	index = state_in_u32(in);
	r = version != 1 || in->error ? -EBADMSG : 0;
	if (r < 0)
		snprintf(errbuf, errlen, "VGA state: %s",
			 in->error ? "too short" : "unknown version");
	if (r == 0 && index > UINT16_MAX) {
		snprintf(errbuf, errlen, "VGA state: VBE index 0x%x is not 16 bits", index);
		r = -EBADMSG;
	}
	for (unsigned i = 0; r == 0 && i < VBE_REGS; i++) {
		v = state_in_u32(in);
		if (in->error || v > UINT16_MAX) {
			snprintf(errbuf, errlen, "VGA state: VBE register %u %s", i,
				 in->error ? "cut short" : "is not 16 bits");
			r = -EBADMSG;
		}
		vbe[i] = (uint16_t)v;
	}
	if (r == 0)
		r = check_bytes(raw, errbuf, errlen);
	if (r == 0)
		r = check_vbe(vbe, errbuf, errlen);
	if (r == 0) {
		pthread_mutex_lock(&s->lock);
		for (size_t i = 0, at = 0; i < ARRAY_SIZE(vga_state_fields); i++) {
			memcpy((uint8_t *)s + vga_state_fields[i].offset, raw + at,
			       vga_state_fields[i].len);
			at += vga_state_fields[i].len;
		}
		s->vbe_index = (uint16_t)index;
		memcpy(s->vbe, vbe, sizeof(vbe));
		pthread_mutex_unlock(&s->lock);
	}
	free(raw);
	return r;
}

void *vga_framebuffer(struct vga *s)
{
	return s->lfb;
}

uint64_t vga_guest_errors(const struct vga *s)
{
	return guest_error_count(&s->errors);
}

int vga_new(struct io_bus *bus, struct guest_memory *mem, struct vga **ret)
{
	struct vga *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	s->lfb = mmap(NULL, VGA_LFB_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		      0);
	if (s->lfb == MAP_FAILED) {
		r = -errno;
		free(s);
		return r;
	}
	pthread_mutex_init(&s->lock, NULL);
	s->bus = bus;
	s->mem = mem;
	s->misc = 0x01;	 /* colour: CRTC at 0x3D4 */
	s->gc[6] = 0x0E; /* text, odd/even, memory map 0xB8000 */
	s->dac_mask = 0xFF;
	s->vbe[VBE_ID] = VBE_ID5;
	s->vbe[VBE_VIDEO_MEMORY_64K] = VGA_LFB_SIZE / 65536;
	s->vbe[VBE_BPP] = 8;
	guest_error_log_init(&s->errors, "vga");
	r = io_bus_register(bus, VGA_PORT_BASE, VGA_PORT_LEN, &vga_ops, s, "vga");
	if (r == 0) {
		r = io_bus_register(bus, VBE_PORT_BASE, VBE_PORT_LEN, &vbe_ops, s, "vbe");
		if (r < 0)
			(void)io_bus_unregister(bus, VGA_PORT_BASE);
	}
	if (r < 0) {
		munmap(s->lfb, VGA_LFB_SIZE);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return r;
	}
	*ret = s;
	return 0;
}

struct vga *vga_free(struct vga *s)
{
	if (!s)
		return NULL;
	(void)io_bus_unregister(s->bus, VBE_PORT_BASE);
	(void)io_bus_unregister(s->bus, VGA_PORT_BASE);
	munmap(s->lfb, VGA_LFB_SIZE);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return NULL;
}

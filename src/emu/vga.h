/*
 * A standard VGA (IBM VGA register set) with the Bochs VBE extension
 * ("DISPI", ports 0x1CE/0x1CF) that SeaBIOS's vgabios-stdvga drives, and a
 * linear framebuffer. See vga.c.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vid/guest_memory.h"
#include "vid/io_bus.h"

struct vga;

/* Where the linear framebuffer is (VBE_DISPI_LFB_PHYSICAL_ADDRESS: vgabios's default). */
#define VGA_LFB_GPA  UINT64_C(0xE0000000)
#define VGA_LFB_SIZE (16u << 20)

/* Text screens larger than this are cut (132 x 60 is the largest VGA text mode). */
#define VGA_TEXT_MAX_COLS 132
#define VGA_TEXT_MAX_ROWS 60

/*
 * Registers ports 0x3B0-0x3DF and 0x1CE-0x1D0 on bus and allocates the
 * framebuffer (mapped by the caller at VGA_LFB_GPA: vga_framebuffer). The
 * legacy window 0xA0000-0xBFFFF is guest RAM; text reads come from mem.
 */
int vga_new(struct io_bus *bus, struct guest_memory *mem, struct vga **ret) must_check;
/* Unregisters from the bus and frees; NULL is a no-op. Returns NULL. */
struct vga *vga_free(struct vga *vga);

/* The framebuffer's host memory (page aligned, VGA_LFB_SIZE bytes). */
void *vga_framebuffer(struct vga *vga);

/*
 * The text screen as the guest's registers describe it: rows lines of
 * cols characters (code page 437 bytes < 0x20 or >= 0x7F become '.'),
 * each line NUL-terminated, VGA_TEXT_MAX_COLS + 1 bytes apart in out.
 * -ENOTSUP if the VGA is in a graphics mode (the text is not in memory).
 */
int vga_text_read(struct vga *vga, char out[][VGA_TEXT_MAX_COLS + 1], unsigned *ret_cols,
		  unsigned *ret_rows) must_check;

struct vga_display;
/*
 * What the screen shows now (emu/vga_render.h): the mode's registers and a
 * copy of the legacy window for text and mode 13h. Any thread. A negative
 * errno if the window cannot be read.
 */
int vga_snapshot(struct vga *vga, struct vga_display *d) must_check;

/*
 * Saved state, section "vga" (docs/saved-state.md): the VGA's registers, the DAC and the Bochs
 * VBE registers. Not the legacy window (guest RAM) nor the framebuffer's bytes (vga_framebuffer:
 * the worker saves them). load refuses, naming the field (-EBADMSG), a value the VGA never
 * holds, and an enabled VBE mode that does not fit the framebuffer.
 */
#define VGA_STATE_VERSION 1u
struct state_out;
struct state_in;
int vga_save(struct vga *vga, struct state_out *out) must_check;
int vga_load(struct vga *vga, uint32_t version, struct state_in *in, char *errbuf,
	     size_t errlen) must_check;

/* Guest mistakes seen (bad access sizes, VBE indexes or modes out of range). */
uint64_t vga_guest_errors(const struct vga *vga);

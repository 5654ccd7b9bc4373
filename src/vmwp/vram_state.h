/*
 * The synthetic video's VRAM contents as saved state: sections "video.vram.N",
 * one per VRAM_STATE_CHUNK bytes (vram_state.c, docs/saved-state.md). The
 * same encoding saves the other guest-visible memory outside RAM: the VGA's
 * framebuffer ("vga.lfb.N") and the BIOS image's copy ("bios.rom.N").
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

#define VRAM_STATE_PREFIX  "video.vram."
#define VRAM_STATE_VERSION 1u
#define VRAM_STATE_CHUNK   (4u << 20)
/* The VGA's linear framebuffer (emu/vga.h, 16 MiB: four sections). */
#define VGA_LFB_PREFIX "vga.lfb."

struct state_out;
struct state_in;
struct state_writer;
struct state_reader;

/* How many sections a VRAM of size bytes (page aligned) takes. */
unsigned vram_state_sections(uint64_t size);
/* Section n of the VRAM at vram: its non-zero pages. */
int vram_state_save(const uint8_t *vram, uint64_t size, unsigned n,
		    struct state_out *out) must_check;
/* Section n into a VRAM that is zero; -EBADMSG naming what is wrong, the VRAM untouched. */
int vram_state_load(uint8_t *vram, uint64_t size, unsigned n, uint32_t version, struct state_in *in,
		    char *errbuf, size_t errlen) must_check;

/*
 * Every chunk of the memory at mem (size bytes, page aligned) as sections prefix + "N", N from 0.
 * err names the section that failed.
 */
int vram_state_write(struct state_writer *w, const char *prefix, const uint8_t *mem, uint64_t size,
		     char *err, size_t errlen) must_check;
/*
 * The sections prefix + "N" of r into mem (size bytes). whole: every chunk must be in the file
 * and mem is cleared first (memory that holds something else before the load: the BIOS image's
 * copy); else mem is zero (a new VRAM) and a chunk the file lacks stays zero (a file from before
 * the sections). A chunk beyond size is refused: -ESTALE. err names the section.
 */
int vram_state_read(struct state_reader *r, const char *prefix, uint8_t *mem, uint64_t size,
		    bool whole, char *err, size_t errlen) must_check;

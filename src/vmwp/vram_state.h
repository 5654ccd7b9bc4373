/*
 * The synthetic video's VRAM contents as saved state: sections "video.vram.N",
 * one per VRAM_STATE_CHUNK bytes (vram_state.c, docs/saved-state.md).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

#define VRAM_STATE_PREFIX  "video.vram."
#define VRAM_STATE_VERSION 1u
#define VRAM_STATE_CHUNK   (4u << 20)

struct state_out;
struct state_in;

/* How many sections a VRAM of size bytes (page aligned) takes. */
unsigned vram_state_sections(uint64_t size);
/* Section n of the VRAM at vram: its non-zero pages. */
int vram_state_save(const uint8_t *vram, uint64_t size, unsigned n,
		    struct state_out *out) must_check;
/* Section n into a VRAM that is zero; -EBADMSG naming what is wrong, the VRAM untouched. */
int vram_state_load(uint8_t *vram, uint64_t size, unsigned n, uint32_t version, struct state_in *in,
		    char *errbuf, size_t errlen) must_check;

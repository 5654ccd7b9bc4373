/*
 * The BIOS machine's own bookkeeping as saved state, section "bios"
 * (docs/saved-state.md): what the restoring worker must have built the
 * same way for the other firmware sections to mean what they meant. See
 * firmware_state.c.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

#define FIRMWARE_STATE_SECTION "bios"
#define FIRMWARE_STATE_VERSION 1u
/* The BIOS image's private copy (writable by the guest, outside RAM): sections "bios.rom.N". */
#define FIRMWARE_ROM_PREFIX "bios.rom."

struct state_out;
struct state_in;

struct firmware_state {
	uint64_t rom_size;  /* the image's size: where it is mapped (it ends at 4 GiB) */
	uint64_t acpi_area; /* where the ACPI tables are in RAM (fw_cfg's RSDP points there) */
	bool vga;	    /* the VGA exists (its sections follow) */
};

int firmware_state_save(const struct firmware_state *fs, struct state_out *out) must_check;
/*
 * Decodes a saved "bios" section and compares it with ours, this machine's: 0, or -EBADMSG
 * (bytes that are no section) / -ESTALE (another machine) with errbuf naming the field.
 */
int firmware_state_load(const struct firmware_state *ours, uint32_t version, struct state_in *in,
			char *errbuf, size_t errlen) must_check;

/*
 * Section "bios", version 1 (little endian): the BIOS image's size (u64),
 * the ACPI area's address (u64), whether there is a VGA (u8, 0 or 1).
 *
 * Nothing of it is restored: a restoring worker builds its firmware from
 * the configuration (firmware.c) and this section says whether it came
 * out as the saved one did. The image is mapped so that it ends at 4 GiB,
 * so another image size would put the saved ROM's bytes (sections
 * "bios.rom.N") elsewhere; the ACPI area is where the saved RAM has the
 * tables whose RSDP fw_cfg hands the BIOS; a VGA is there or not by
 * configuration (--no-video). Another BIOS file of the same size passes:
 * its bytes are replaced by the saved ones.
 */
#include "vmwp/firmware_state.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "state/state.h"

int firmware_state_save(const struct firmware_state *fs, struct state_out *out)
{
	state_out_u64(out, fs->rom_size);
	state_out_u64(out, fs->acpi_area);
	state_out_u8(out, fs->vga ? 1 : 0);
	return out->error;
}

int firmware_state_load(const struct firmware_state *ours, uint32_t version, struct state_in *in,
			char *errbuf, size_t errlen)
{
	uint64_t rom_size = state_in_u64(in), acpi_area = state_in_u64(in);
	uint8_t vga = state_in_u8(in);

	if (version != 1 || in->error) {
		snprintf(errbuf, errlen, "BIOS state: %s",
			 in->error ? "too short" : "unknown version");
		return -EBADMSG;
	}
	if (vga > 1) {
		snprintf(errbuf, errlen, "BIOS state: the VGA flag is %u, not 0 or 1", vga);
		return -EBADMSG;
	}
	if (rom_size != ours->rom_size) {
		snprintf(errbuf, errlen,
			 "BIOS state: the saved BIOS image is %" PRIu64
			 " bytes, this VM's is %" PRIu64
			 " (give the worker the image it was saved with)",
			 rom_size, ours->rom_size);
		return -ESTALE;
	}
	if (acpi_area != ours->acpi_area) {
		snprintf(errbuf, errlen,
			 "BIOS state: the ACPI tables were at %#" PRIx64
			 ", this VM puts them at %#" PRIx64,
			 acpi_area, ours->acpi_area);
		return -ESTALE;
	}
	if (vga != ours->vga) {
		snprintf(errbuf, errlen, "BIOS state: the saved VM %s a VGA, this one %s",
			 vga ? "had" : "had no", ours->vga ? "has" : "has none");
		return -ESTALE;
	}
	return 0;
}

/*
 * The BIOS of a Generation 1 VM booted without a kernel (docs/generation1.md):
 * SeaBIOS mapped below 4 GiB, the vCPU at the reset vector, and what SeaBIOS
 * reads through fw_cfg (RAM map, processors, boot order, the worker's ACPI
 * tables) and writes to its debug port. See firmware.c.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "boot/acpi_tables.h"
#include "emu/vga.h"
#include "vid/partition.h"
#include "vmwp/startup_order.h"

struct firmware;

struct firmware_config {
	const void *image; /* the BIOS image (bios_image_check'ed sizes), copied */
	size_t size;
	const struct acpi_config *acpi; /* the tables to hand over; area_gpa is set here */
	const void *vga_rom; /* NULL: no VGA; else vgabios-stdvga, run as fw_cfg "vgaroms/" */
	size_t vga_rom_size;
	struct startup_order order;
	/* Where the first IDE disk and the first CD-ROM are: channel * 2 + unit, -1: none. */
	int ide_disk, cd;
	/*
	 * SMBIOS for SeaBIOS to install instead of its own (fw_cfg "etc/smbios/smbios-anchor"
	 * and "etc/smbios/smbios-tables", SeaBIOS's smbios_romfile_setup): the system a
	 * generation 1 guest sees (boot/smbios.h). NULL: SeaBIOS's own.
	 */
	const uint8_t *smbios_anchor; /* SMBIOS_ENTRY_POINT_LEN bytes */
	const uint8_t *smbios_tables;
	size_t smbios_tables_len;
	/*
	 * A machine being restored from a saved state (machine_state.c): the same devices, slots
	 * and fw_cfg items, but nothing written into guest RAM (the saved RAM has it, and a lazy
	 * restore must find its pages untouched) and no boot registers set.
	 */
	bool restore;
};

/*
 * Registers fw_cfg and the debug port on p's port bus, maps the image,
 * writes the ACPI tables and sets vCPU 0's reset state. -errno with err.
 */
int firmware_new(struct partition *p, const struct firmware_config *cfg, struct firmware **ret,
		 char *err, size_t errlen) must_check;
/* The VGA, or NULL if there is none. */
struct vga *firmware_vga(struct firmware *fw);
struct fw_cfg *firmware_fw_cfg(struct firmware *fw);
struct debug_port *firmware_debug_port(struct firmware *fw);
/* The BIOS image's private copy the guest sees below 4 GiB (and can write), its size. */
uint8_t *firmware_rom(struct firmware *fw, uint64_t *ret_size);
/*
 * Saved state, section "bios" (firmware_state.h): the firmware built the same way as the saved
 * one. load changes nothing; -ESTALE naming what differs.
 */
struct state_out;
struct state_in;
int firmware_save(struct firmware *fw, struct state_out *out) must_check;
int firmware_load(struct firmware *fw, uint32_t version, struct state_in *in, char *errbuf,
		  size_t errlen) must_check;
/*
 * The "vga-text" control command (docs/control.md): "columns" and "rows" (the text screen's
 * lines) into resp with "ok", or "ok": false and "error". vga may be NULL.
 */
struct json_object;
void vga_text_json(struct vga *vga, struct json_object *resp);
/* After the vCPUs have stopped. NULL is a no-op; returns NULL. */
struct firmware *firmware_free(struct firmware *fw);

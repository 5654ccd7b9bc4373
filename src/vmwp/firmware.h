/*
 * The BIOS of a Generation 1 VM booted without a kernel (docs/generation1.md):
 * SeaBIOS mapped below 4 GiB, the vCPU at the reset vector, and what SeaBIOS
 * reads through fw_cfg (RAM map, processors, boot order, the worker's ACPI
 * tables) and writes to its debug port. See firmware.c.
 */
#pragma once

#include <stddef.h>

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
};

/*
 * Registers fw_cfg and the debug port on p's port bus, maps the image,
 * writes the ACPI tables and sets vCPU 0's reset state. -errno with err.
 */
int firmware_new(struct partition *p, const struct firmware_config *cfg, struct firmware **ret,
		 char *err, size_t errlen) must_check;
/* The VGA, or NULL if there is none. */
struct vga *firmware_vga(struct firmware *fw);
/*
 * The "vga-text" control command (docs/control.md): "columns" and "rows" (the text screen's
 * lines) into resp with "ok", or "ok": false and "error". vga may be NULL.
 */
struct json_object;
void vga_text_json(struct vga *vga, struct json_object *resp);
/* After the vCPUs have stopped. NULL is a no-op; returns NULL. */
struct firmware *firmware_free(struct firmware *fw);

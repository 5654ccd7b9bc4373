/*
 * The ACPI tables of a Parvis partition, built at run time from the VM's
 * configuration and written into the reserved BIOS area
 * [0xE0000, 0x100000): RSDP (at 0xE0000, where a legacy scan also finds
 * it), XSDT, FADT (full, not hardware-reduced, ACPI fixed hardware from
 * pc_layout.h), FACS, MADT and a DSDT generated with the AML emitter
 * (aml.h). Devices add themselves to the DSDT through contributors.
 */
#pragma once

#include <stdint.h>

#include "base/compiler.h"
#include "boot/aml.h"
#include "boot/boot_error.h"
#include "boot/boot_layout.h"
#include "vid/guest_memory.h"

/* xAPIC IDs are 8 bits and 0xFF is the broadcast ID: vCPUs 0..254 at most. */
#define ACPI_MAX_VCPUS 255

/* Emits AML (Device, Name, ...) into the \_SB scope of the DSDT. Errors go to aml (sticky). */
typedef void (*acpi_dsdt_emit_fn)(struct aml *aml, void *opaque);

struct acpi_dsdt_contributor {
	acpi_dsdt_emit_fn emit;
	void *opaque;
};

struct acpi_config {
	unsigned vcpus; /* 1..ACPI_MAX_VCPUS; local APIC IDs are 0..vcpus-1 */
	const struct acpi_dsdt_contributor *contributors; /* called in order inside \_SB */
	unsigned ncontributors;
	/*
	 * Where the ACPI_AREA_SIZE bytes of tables go (RSDP first), page aligned; 0: the BIOS
	 * area at 0xE0000 (direct boot). A BIOS boot puts them at the top of low RAM instead,
	 * where the BIOS itself is not, and copies the RSDP into its own segment (bios_boot.h).
	 */
	uint64_t area_gpa;
};

#define ACPI_AREA_SIZE (BOOT_ACPI_END - BOOT_ACPI_START)

/*
 * Builds every table and writes them into mem. Returns 0 and the RSDP's
 * address (for boot_params.acpi_rsdp_addr), or a negative errno with the
 * reason in err: -EINVAL (bad config or AML from a contributor), -ENOSPC
 * (tables overflow the BIOS area), -EFAULT (the area is not RAM), -ENOMEM.
 */
int acpi_tables_build(struct guest_memory *mem, const struct acpi_config *cfg,
		      uint64_t *ret_rsdp_gpa, struct boot_error *err) must_check;

/*
 * The same tables as acpi_tables_build, into buf (ACPI_AREA_SIZE bytes, the area at
 * cfg->area_gpa; the RSDP is its first bytes) without touching guest memory: a restored BIOS
 * machine's fw_cfg hands the firmware the RSDP of the tables its saved RAM holds.
 */
int acpi_tables_render(const struct acpi_config *cfg, uint8_t *buf,
		       struct boot_error *err) must_check;

/* The DSDT's AML body (no table header) into aml; exposed for tests. */
int acpi_dsdt_build(struct aml *aml, const struct acpi_config *cfg,
		    struct boot_error *err) must_check;

/* The byte that makes len bytes at p sum to zero when stored in their checksum field (set to 0
 * first). */
uint8_t acpi_checksum(const void *p, size_t len);

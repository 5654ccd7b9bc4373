/*
 * The VMBus device in the DSDT, as a DSDT contributor (boot/acpi_tables.h):
 *
 *   \_SB.VMOD  _HID "ACPI0004" (module device), _UID 0,
 *              _CRS: the MMIO window VMBus devices may allocate from
 *     VMBS     _HID "VMBus", _DDN "VMBUS", _UID 0, _CRS (empty)
 *
 * Linux finds VMBus only through ACPI (vmbus_drv.c matches "VMBUS" and
 * "VMBus"), fails unless the device has a _CRS it can walk, and takes MMIO
 * windows from Address32/Address64 descriptors of the device or of an
 * ancestor (vmbus_walk_resources): hence the window on the parent, as on
 * Hyper-V and OpenVMM (vm/acpi/src/dsdt.rs). The window sits above guest
 * RAM and below the guest's physical address limit, away from the PCI
 * window that \_SB.PCI0 decodes.
 */
#pragma once

#include <stdint.h>

#include "boot/acpi_tables.h"

struct vmbus_acpi_config {
	uint64_t mmio_base; /* QWordMemory window for VMBus devices; size 0 = none */
	uint64_t mmio_size;
};

/*
 * The window for a guest whose RAM ends at ram_end: 1 GiB aligned above it, 512 MiB long,
 * never in the MMIO hole below 4 GiB (pc_layout.h) that PCI0 decodes.
 */
struct vmbus_acpi_config vmbus_acpi_config_for_ram(uint64_t ram_end);
/* Emits VMOD and VMBS; opaque is a const struct vmbus_acpi_config *. */
void vmbus_acpi_emit(struct aml *aml, void *opaque);

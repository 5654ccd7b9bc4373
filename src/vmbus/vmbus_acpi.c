/* The DSDT contributor for VMBus (vmbus_acpi.h). AML encoding: boot/aml.h. */
#include "vmbus/vmbus_acpi.h"

#include "boot/aml.h"
#include "vid/pc_layout.h"

#define WINDOW_ALIGN (1 * GiB)
#define WINDOW_SIZE  (512 * MiB)

struct vmbus_acpi_config vmbus_acpi_config_for_ram(uint64_t ram_end)
{
	uint64_t base = ALIGN_UP(ram_end, WINDOW_ALIGN);

	/*
	 * Between 2 and 3 GiB of RAM the aligned base lands in the MMIO hole, on PCI0's
	 * 32-bit window (where the video device's BAR lives): go above 4 GiB instead.
	 */
	if (base < PC_MMIO_HOLE_END && base + WINDOW_SIZE > PC_MMIO_HOLE_START)
		base = ALIGN_UP(PC_MMIO_HOLE_END, WINDOW_ALIGN);
	return (struct vmbus_acpi_config){.mmio_base = base, .mmio_size = WINDOW_SIZE};
}

void vmbus_acpi_emit(struct aml *aml, void *opaque)
{
	const struct vmbus_acpi_config *cfg = opaque;

	aml_device_begin(aml, "VMOD");
	aml_name(aml, "_HID");
	aml_string(aml, "ACPI0004");
	aml_name(aml, "_UID");
	aml_integer(aml, 0);
	aml_name(aml, "_CRS");
	aml_resource_template_begin(aml);
	if (cfg && cfg->mmio_size)
		aml_rt_qword_memory(aml, cfg->mmio_base, cfg->mmio_base + cfg->mmio_size - 1,
				    AML_MEM_NON_CACHEABLE, true);
	aml_end(aml);

	aml_device_begin(aml, "VMBS");
	aml_name(aml, "_HID");
	aml_string(aml, "VMBus");
	aml_name(aml, "_DDN");
	aml_string(aml, "VMBUS");
	aml_name(aml, "_UID");
	aml_integer(aml, 0);
	/* Linux walks _CRS and gives up without one; the windows are the parent's. */
	aml_name(aml, "_CRS");
	aml_resource_template_begin(aml);
	aml_end(aml);
	aml_end(aml); /* VMBS */
	aml_end(aml); /* VMOD */
}

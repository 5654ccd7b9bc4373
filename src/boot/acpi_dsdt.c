/*
 * The DSDT's contents (acpi_tables.h): the S5 sleep state, the PCI root
 * bridge and the legacy ISA devices of a Parvis partition, then whatever
 * the configured contributors add to \_SB. AML encoding: aml.c. Device
 * IDs and resources follow what a PC's firmware describes (ACPI 6.4
 * §6.1 _HID/_UID, §6.2.2 _CRS, §6.5.5 _BBN, §6.5.6 _SEG, §7.4.2 \_Sx)
 * and the ports/IRQs in pc_layout.h.
 *
 * The ISA devices sit under \_SB.PCI0: on a PC they decode through the
 * host bridge's legacy I/O window, which PCI0's _CRS describes, so the
 * kernel's resource tree nests them under it.
 */
#include <errno.h>

#include "boot/acpi_tables.h"
#include "vid/pc_layout.h"

static void emit_s5(struct aml *aml)
{
	/* \_S5: Package { SLP_TYPa, SLP_TYPb, reserved, reserved } (§7.4.2); the PM1 control
	 * emulator powers off on it. */
	aml_name(aml, "\\_S5");
	aml_package_begin(aml);
	aml_integer(aml, PC_ACPI_SLP_TYP_S5);
	aml_integer(aml, PC_ACPI_SLP_TYP_S5);
	aml_integer(aml, 0);
	aml_integer(aml, 0);
	aml_end(aml);
}

/* A device with an EISA _HID, a _UID, and a _CRS of I/O ports and one ISA IRQ. */
static void emit_isa_device(struct aml *aml, const char *name, const char *hid, unsigned uid,
			    const uint16_t *ports, const uint8_t *lens, unsigned nports,
			    unsigned irq)
{
	unsigned i;

	aml_device_begin(aml, name);
	aml_name(aml, "_HID");
	aml_eisaid(aml, hid);
	aml_name(aml, "_UID");
	aml_integer(aml, uid);
	aml_name(aml, "_CRS");
	aml_resource_template_begin(aml);
	for (i = 0; i < nports; i++)
		aml_rt_io(aml, ports[i], ports[i], 1, lens[i]);
	aml_rt_irq_noflags(aml, (uint16_t)(1u << irq));
	aml_end(aml);
	aml_end(aml);
}

static void emit_isa_devices(struct aml *aml)
{
	static const uint16_t com1[] = {PC_PORT_COM1}, com2[] = {PC_PORT_COM2};
	static const uint16_t rtc[] = {PC_PORT_CMOS};
	static const uint16_t kbd[] = {PC_PORT_I8042_DATA, PC_PORT_I8042_CMD};
	static const uint8_t uart_len[] = {PC_PORT_UART_LEN}, rtc_len[] = {PC_PORT_CMOS_LEN};
	static const uint8_t kbd_len[] = {1, 1};

	emit_isa_device(aml, "COM1", "PNP0501", 1, com1, uart_len, 1, PC_IRQ_COM1);
	emit_isa_device(aml, "COM2", "PNP0501", 2, com2, uart_len, 1, PC_IRQ_COM2);
	emit_isa_device(aml, "RTC", "PNP0B00", 0, rtc, rtc_len, 1, PC_IRQ_RTC);
	emit_isa_device(aml, "KBD", "PNP0303", 0, kbd, kbd_len, 2, PC_IRQ_KEYBOARD);
}

/* The PCI host bridge: bus 0 only, config ports 0xCF8-0xCFF, all other I/O, the 32-bit MMIO window.
 */
static void emit_pci_root(struct aml *aml)
{
	aml_device_begin(aml, "PCI0");
	aml_name(aml, "_HID");
	aml_eisaid(aml, "PNP0A03");
	aml_name(aml, "_UID");
	aml_integer(aml, 0);
	aml_name(aml, "_SEG");
	aml_integer(aml, 0);
	aml_name(aml, "_BBN");
	aml_integer(aml, 0);
	aml_name(aml, "_CRS");
	aml_resource_template_begin(aml);
	aml_rt_word_bus_number(aml, 0, 0);
	aml_rt_io(aml, PC_PORT_PCI_CONFIG, PC_PORT_PCI_CONFIG, 1, PC_PORT_PCI_CONFIG_LEN);
	aml_rt_word_io(aml, 0x0000, PC_PORT_PCI_CONFIG - 1);
	aml_rt_word_io(aml, PC_PORT_PCI_CONFIG + PC_PORT_PCI_CONFIG_LEN, 0xFFFF);
	aml_rt_dword_memory(aml, (uint32_t)PC_PCI_MMIO32_START, (uint32_t)(PC_PCI_MMIO32_END - 1),
			    AML_MEM_NON_CACHEABLE, true);
	aml_end(aml);
	emit_isa_devices(aml);
	aml_end(aml);
}

int acpi_dsdt_build(struct aml *aml, const struct acpi_config *cfg, struct boot_error *err)
{
	unsigned i, depth;
	int r;

	emit_s5(aml);
	aml_scope_begin(aml, "\\_SB");
	emit_pci_root(aml);
	r = aml_error(aml);
	if (r < 0)
		return boot_error_set(err, r, "DSDT: emitting the platform devices failed (%d)", r);
	depth = aml_depth(aml);
	for (i = 0; i < cfg->ncontributors; i++) {
		if (!cfg->contributors[i].emit)
			continue;
		cfg->contributors[i].emit(aml, cfg->contributors[i].opaque);
		r = aml_error(aml);
		if (r < 0)
			return boot_error_set(err, r, "DSDT contributor %u: %s", i,
					      r == -EINVAL
						      ? "invalid AML (bad name or misplaced object)"
					      : r == -ENOMEM ? "out of memory"
							     : "AML too large");
		if (aml_depth(aml) != depth)
			return boot_error_set(err, -EINVAL, "DSDT contributor %u: %s", i,
					      aml_depth(aml) > depth ? "left a block open"
								     : "closed the \\_SB scope");
	}
	aml_end(aml);
	return aml_error(aml);
}

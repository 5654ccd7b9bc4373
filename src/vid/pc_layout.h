/*
 * The physical layout of a Parvis x86 partition: where RAM, the MMIO hole,
 * the interrupt controllers and the legacy devices are. One place, so that
 * the device models (emu/), the ACPI tables that describe them (boot/) and
 * the partition (vid/) cannot disagree.
 */
#pragma once

#include "base/compiler.h"

/* RAM below 4 GiB stops here; the rest of RAM is mapped from 4 GiB up. */
#define PC_MMIO_HOLE_START UINT64_C(0xC0000000)
#define PC_MMIO_HOLE_END   UINT64_C(0x100000000)
/* 32-bit MMIO window for (future) PCI devices and the VMBus MMIO ranges. */
#define PC_PCI_MMIO32_START PC_MMIO_HOLE_START
#define PC_PCI_MMIO32_END   UINT64_C(0xFEC00000)

#define PC_IOAPIC_BASE UINT64_C(0xFEC00000)
#define PC_IOAPIC_ID   0
#define PC_IOAPIC_PINS 24
#define PC_LAPIC_BASE  UINT64_C(0xFEE00000)

/* Legacy low-memory areas the e820 map keeps reserved (EBDA, VGA, BIOS). */
#define PC_EBDA_START UINT64_C(0x9FC00)
#define PC_BIOS_END   UINT64_C(0x100000)

/* I/O ports. */
#define PC_PORT_COM1	       0x3F8
#define PC_PORT_COM2	       0x2F8
#define PC_PORT_UART_LEN       8
#define PC_PORT_I8042_DATA     0x60
#define PC_PORT_I8042_CMD      0x64
#define PC_PORT_CMOS	       0x70 /* index 0x70, data 0x71 */
#define PC_PORT_CMOS_LEN       2
#define PC_CMOS_CENTURY	       0x32  /* CMOS RAM index of the century (FADT CENTURY) */
#define PC_PORT_POST	       0x80  /* POST diagnostic port; writes are a delay idiom */
#define PC_PORT_PCI_CONFIG     0xCF8 /* CONFIG_ADDRESS 0xCF8, CONFIG_DATA 0xCFC */
#define PC_PORT_PCI_CONFIG_LEN 8
/*
 * The Hyper-V hypercall trap: the hypercall page holds "out imm8, al; ret"
 * to this port (hv/hypercall.c), which vid hands to hv with the vCPU's
 * registers. Unused by the PC platform (0x92 is port A, 0x80-0x8F DMA
 * pages) and by the tiny test guests (0xE0-0xEF); imm8, so below 0x100.
 */
#define PC_PORT_HYPERCALL 0x9A

/* ACPI fixed hardware (FADT): PM1a event block, control block, PM timer, reset. */
#define PC_PORT_ACPI_PM_BASE 0x600
#define PC_PORT_PM1A_EVT     (PC_PORT_ACPI_PM_BASE + 0x0) /* 4 bytes: PM1_STS, PM1_EN */
#define PC_PORT_PM1A_CNT     (PC_PORT_ACPI_PM_BASE + 0x4) /* 2 bytes */
#define PC_PORT_PM_TMR	     (PC_PORT_ACPI_PM_BASE + 0x8) /* 4 bytes, 3.579545 MHz */
#define PC_PORT_ACPI_RESET   (PC_PORT_ACPI_PM_BASE + 0xC) /* 1 byte, FADT RESET_REG */
#define PC_PORT_ACPI_PM_LEN  0x10
#define PC_ACPI_RESET_VALUE  0x06
/* SLP_TYP value that means S5 (soft off); the DSDT's \_S5 package says the same. */
#define PC_ACPI_SLP_TYP_S5 5

/*
 * ISA interrupt lines: GSI n is IOAPIC pin n (KVM's default routing, so the
 * in-kernel PIT ticks on GSI 0 and the MADT has no IRQ0 override).
 */
#define PC_IRQ_PIT	0
#define PC_IRQ_KEYBOARD 1
#define PC_IRQ_COM2	3
#define PC_IRQ_COM1	4
#define PC_IRQ_RTC	8
#define PC_IRQ_SCI	9
#define PC_IRQ_MOUSE	12

/*
 * ACPI fixed hardware: PM1a event and control blocks, the PM timer and
 * the reset register, at the ports of pc_layout.h. See acpi_pm.c.
 */
#pragma once

#include <stdint.h>

#include "base/compiler.h"
#include "emu/clock_source.h"
#include "vid/io_bus.h"
#include "vid/irq.h"

struct acpi_pm;

/*
 * Registers PC_PORT_ACPI_PM_BASE..+PC_PORT_ACPI_PM_LEN on bus. sci is
 * IRQ 9 (level, active high); power receives S5 (OFF) and the reset
 * register (RESET); clock is monotonic ns, {0} for CLOCK_MONOTONIC.
 */
int acpi_pm_new(struct io_bus *bus, struct irq_line sci, struct power_control power,
		struct clock_source clock, struct acpi_pm **ret) must_check;
/* Unregisters from the bus and frees; NULL is a no-op. Returns NULL. */
struct acpi_pm *acpi_pm_free(struct acpi_pm *pm);

/*
 * The power button was pressed: sets PWRBTN_STS, and raises the SCI if
 * the guest enabled PWRBTN_EN (an ACPI guest then shuts down). Any thread.
 */
void acpi_pm_power_button(struct acpi_pm *pm);

/* Guest mistakes seen (bad access size or offset). */
/*
 * Saved state (src/state/): PM1_STS, PM1_EN, PM1_CNT and the PM timer's
 * count. The timer goes on from its saved count (time spent saved does not
 * count, as for the LAPIC timer and kvmclock); the SCI is driven from low
 * to what the registers say. load refuses bits the registers do not hold.
 */
#define ACPI_PM_STATE_VERSION 1u
struct state_out;
struct state_in;
int acpi_pm_save(struct acpi_pm *pm, struct state_out *out) must_check;
int acpi_pm_load(struct acpi_pm *pm, uint32_t version, struct state_in *in, char *errbuf,
		 size_t errlen) must_check;

uint64_t acpi_pm_guest_errors(const struct acpi_pm *pm);

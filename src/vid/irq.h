/*
 * Wires from device models to the partition: interrupt lines (a GSI of the
 * in-kernel IOAPIC/PIC) and the platform's power and reset requests.
 * Device models hold these by value and never see the partition, so they
 * can be unit-tested with a fake that records what they do.
 */
#pragma once

#include <stdbool.h>

struct irq_line {
	void (*set_level)(void *opaque, unsigned gsi, bool level);
	void *opaque;
	unsigned gsi;
};

static inline void irq_line_set(const struct irq_line *line, bool level)
{
	if (line->set_level)
		line->set_level(line->opaque, line->gsi, level);
}

enum power_request {
	POWER_REQUEST_OFF,   /* ACPI S5, or equivalent */
	POWER_REQUEST_RESET, /* reset register, keyboard controller pulse */
};

struct power_control {
	void (*request)(void *opaque, enum power_request req);
	void *opaque;
};

static inline void power_control_request(const struct power_control *pc, enum power_request req)
{
	if (pc->request)
		pc->request(pc->opaque, req);
}

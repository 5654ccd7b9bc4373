/*
 * The PC/AT keyboard controller (Intel 8042 with PS/2 aux port) and a
 * keyboard that answers commands. See i8042.c.
 */
#pragma once

#include <stdint.h>

#include "base/compiler.h"
#include "vid/io_bus.h"
#include "vid/irq.h"

struct i8042;

/*
 * Registers ports PC_PORT_I8042_DATA and PC_PORT_I8042_CMD on bus.
 * kbd_irq is IRQ 1; aux_irq is IRQ 12 (may be unwired: {0}); power
 * receives the reset requests (pulse command 0xFE, output port bit 0).
 */
int i8042_new(struct io_bus *bus, struct irq_line kbd_irq, struct irq_line aux_irq,
	      struct power_control power, struct i8042 **ret) must_check;
/* Unregisters from the bus and frees; NULL is a no-op. Returns NULL. */
struct i8042 *i8042_free(struct i8042 *kbc);

/* Guest mistakes seen (unknown controller command, bad access size). */
uint64_t i8042_guest_errors(const struct i8042 *kbc);

/*
 * The PC/AT keyboard controller (Intel 8042 with PS/2 aux port) and a
 * keyboard that answers commands. See i8042.c.
 */
#pragma once

#include <stddef.h>
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
/*
 * Saved state (src/state/): controller RAM, output port, the pending
 * command, the bytes waiting for the guest, and the keyboard's own state.
 * The interrupt lines are driven from low to what the state says. load
 * refuses a pending command that takes no byte, a full queue beyond its
 * size, unknown queue flags or scancode set; on a refusal nothing changes.
 */
#define I8042_STATE_VERSION 1u
struct state_out;
struct state_in;
int i8042_save(struct i8042 *kbc, struct state_out *out) must_check;
int i8042_load(struct i8042 *kbc, uint32_t version, struct state_in *in, char *errbuf,
	       size_t errlen) must_check;

uint64_t i8042_guest_errors(const struct i8042 *kbc);

/*
 * A key from the host (the console server while the VGA is shown): its set 1 bytes (an E0
 * or E1 prefix, the make code, bit 7 set on release; Pause's six bytes), read by the guest
 * as set 1 when the controller translates or the keyboard is in set 1, else converted to set
 * 2 (F0 before a break code). -EAGAIN if the keyboard is not scanning, its interface is
 * disabled, it is in set 3, the code has no set 2 equivalent or the output queue has no
 * room for the whole sequence (counted as dropped); -EINVAL for more than I8042_KEY_MAX
 * bytes. Any thread.
 */
#define I8042_KEY_MAX 8
int i8042_send_keys(struct i8042 *kbc, const uint8_t *set1, size_t n);
void i8042_key_stats(struct i8042 *kbc, uint64_t *sent, uint64_t *dropped);

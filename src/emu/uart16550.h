/*
 * 16550A UART (COM1/COM2): a serial console for guests without VMBus.
 * See uart16550.c for the model and its limits.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vid/io_bus.h"
#include "vid/irq.h"

struct uart16550;

struct uart16550_config {
	const char *name; /* "COM1": names the io_bus range and log lines */
	uint16_t port;	  /* first of PC_PORT_UART_LEN registers */
	struct irq_line irq;
	/*
	 * Bytes the guest transmitted, in order. Called on a vCPU thread with
	 * the UART's lock held (so calls never overlap): must not call back
	 * into this UART. NULL drops the output.
	 */
	void (*tx)(void *opaque, const uint8_t *buf, size_t len);
	/*
	 * The guest made room in the receive FIFO after uart16550_receive()
	 * accepted less than it was given, or uart16550_can_receive() said
	 * false. Called once per such refusal, on a vCPU thread, without the
	 * lock held: it may call uart16550_receive(). It can run before the
	 * refused call has returned to its caller, so latch it (an eventfd, a
	 * semaphore) rather than wait for a transition. May be NULL.
	 */
	void (*rx_ready)(void *opaque);
	void *opaque; /* for tx and rx_ready */
};

/* Registers the UART on bus at cfg->port. -EEXIST if the ports are taken. */
int uart16550_new(struct io_bus *bus, const struct uart16550_config *cfg,
		  struct uart16550 **ret) must_check;
/* Unregisters from the bus and frees; NULL is a no-op. Returns NULL. */
struct uart16550 *uart16550_free(struct uart16550 *uart);

/*
 * Host input: queues up to the free space of the receive FIFO (16 bytes
 * with the FIFO enabled, 1 without) and returns how many bytes it took;
 * the rest waits for rx_ready. In loopback mode the serial input is
 * disconnected (PC16550D, MCR bit 4): all bytes are taken and dropped.
 */
size_t uart16550_receive(struct uart16550 *uart, const uint8_t *buf, size_t len);
/* True if uart16550_receive() would take at least one byte now. */
bool uart16550_can_receive(struct uart16550 *uart);

/*
 * Saved state (src/state/): the registers, the receive FIFO's bytes and the
 * pending interrupt sources. Not the host side (a refused host input is not
 * owed an rx_ready after a restore: the new worker's console starts anew).
 * load checks every field (bits a 16550A cannot hold, more bytes than the
 * FIFO) and, once accepted, drives the interrupt line to match; on a
 * refusal the UART is unchanged. Any thread; they take the UART's lock.
 */
#define UART16550_STATE_VERSION 1u
struct state_out;
struct state_in;
int uart16550_save(struct uart16550 *uart, struct state_out *out) must_check;
int uart16550_load(struct uart16550 *uart, uint32_t version, struct state_in *in, char *errbuf,
		   size_t errlen) must_check;

/* Guest mistakes seen (bad access size). */
uint64_t uart16550_guest_errors(const struct uart16550 *uart);

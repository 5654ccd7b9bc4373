/*
 * Serial console back ends for the emulated UARTs: stdio (the host's
 * terminal, raw mode, Ctrl-A x to turn the VM off) or a file. A console
 * outlives the UART it feeds: on a guest reboot the machine is rebuilt and
 * the new UART is attached to the same console.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "emu/uart16550.h"
#include "vmwp/vm_config.h"

struct console;

int console_open(const struct serial_config *cfg, struct console **ret, char *err,
		 size_t errlen) must_check;
/* Restores the terminal, stops the input thread; NULL is a no-op. Returns NULL. */
/*
 * Starts the input thread (socket and stdio backends): after the jail, so that every thread
 * of the worker is made inside it (sandbox.c enters a mount namespace with setns, which a
 * process with threads cannot). -EAGAIN if it cannot.
 */
int console_start(struct console *c) must_check;
struct console *console_free(struct console *c);

/* Called when the user types the escape sequence (Ctrl-A x). */
void console_set_escape_handler(struct console *c, void (*fn)(void *opaque), void *opaque);

/* The UART that receives input; NULL detaches (before the UART is freed). */
void console_attach(struct console *c, struct uart16550 *uart);

/* The callbacks for struct uart16550_config (opaque = the console). */
void console_uart_tx(void *opaque, const uint8_t *buf, size_t len);
void console_uart_rx_ready(void *opaque);

/*
 * Port 0x402, QEMU's "debugcon": where SeaBIOS built for QEMU writes its
 * debug log (CONFIG_DEBUG_IO). See debug_port.c.
 */
#pragma once

#include "base/compiler.h"
#include "vid/io_bus.h"

struct debug_port;

#define DEBUG_PORT	    0x402
#define DEBUG_PORT_LINE_MAX 160 /* longer lines are cut into pieces of this many bytes */

/* Called with one line (no newline, NUL-terminated), on the writing vCPU's thread. */
typedef void (*debug_port_line_fn)(void *opaque, const char *line);

int debug_port_new(struct io_bus *bus, debug_port_line_fn line, void *opaque,
		   struct debug_port **ret) must_check;
/* Unregisters from the bus and frees (a partial line is dropped); NULL is a no-op. */
struct debug_port *debug_port_free(struct debug_port *port);

/* Saved state, section "debugcon": the partial line (docs/saved-state.md). */
#define DEBUG_PORT_STATE_VERSION 1u
struct state_out;
struct state_in;
int debug_port_save(struct debug_port *port, struct state_out *out) must_check;
/* -EBADMSG naming the field for a line too long or with bytes the port never keeps. */
int debug_port_load(struct debug_port *port, uint32_t version, struct state_in *in, char *errbuf,
		    size_t errlen) must_check;

uint64_t debug_port_guest_errors(const struct debug_port *port);

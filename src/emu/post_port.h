/* Port 0x80, the POST diagnostic port. See post_port.c. */
#pragma once

#include <stdint.h>

#include "base/compiler.h"
#include "vid/io_bus.h"

struct post_port;

/* Registers PC_PORT_POST on bus. */
int post_port_new(struct io_bus *bus, struct post_port **ret) must_check;
/* Unregisters from the bus and frees; NULL is a no-op. Returns NULL. */
struct post_port *post_port_free(struct post_port *post);

/* The last code written (0 before any). */
uint8_t post_port_last(const struct post_port *post);
/* Guest mistakes seen (bad access size). */
/* Saved state (src/state/): the latched byte. Any thread. */
#define POST_PORT_STATE_VERSION 1u
struct state_out;
struct state_in;
int post_port_save(struct post_port *post, struct state_out *out) must_check;
int post_port_load(struct post_port *post, uint32_t version, struct state_in *in, char *errbuf,
		   size_t errlen) must_check;

uint64_t post_port_guest_errors(const struct post_port *post);

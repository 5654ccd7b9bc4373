/*
 * Port 0x402: QEMU's ISA debug console ("isa-debugcon", iobase 0x402 in
 * QEMU's PC machines), the port SeaBIOS built for QEMU writes its debug
 * log to (SeaBIOS src/hw/serialio.c, CONFIG_DEBUG_IO). SeaBIOS first reads
 * the port and keeps writing only if it reads 0xE9 (QEMU_DEBUGCON_READBACK,
 * src/fw/paravirt.h), which is what this port answers.
 *
 * Bytes are gathered into lines (cut at DEBUG_PORT_LINE_MAX) and handed
 * to the owner's callback, which logs them; non-printing bytes become '.'.
 *
 * Threads: vCPU threads; one mutex, held across the callback so lines keep
 * their order (the callback must not call back into this port).
 */
#include "emu/debug_port.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "base/log.h"

#define DEBUGCON_READBACK 0xE9

struct debug_port {
	pthread_mutex_t lock;
	struct io_bus *bus;
	debug_port_line_fn line;
	void *opaque;
	char buf[DEBUG_PORT_LINE_MAX + 1]; /* locked: the line so far, NUL at len */
	unsigned len;
	struct guest_error_log errors;
};

static void flush(struct debug_port *s)
{
	s->buf[s->len] = '\0';
	if (s->line)
		s->line(s->opaque, s->buf);
	s->len = 0;
}

static uint64_t port_read(void *opaque, uint64_t offset, unsigned size)
{
	struct debug_port *s = opaque;

	if (size != 1) {
		guest_error_report(&s->errors, "%u-byte read at port %#x", size, DEBUG_PORT);
		return UINT64_MAX;
	}
	return DEBUGCON_READBACK;
}

static void port_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct debug_port *s = opaque;
	char c = (char)value;

	if (size != 1) {
		guest_error_report(&s->errors, "%u-byte write at port %#x", size, DEBUG_PORT);
		return;
	}
	pthread_mutex_lock(&s->lock);
	if (c == '\n') {
		flush(s);
	} else if (c != '\r') {
		s->buf[s->len++] = c >= 0x20 && c < 0x7F ? c : '.';
		if (s->len == DEBUG_PORT_LINE_MAX)
			flush(s);
	}
	pthread_mutex_unlock(&s->lock);
}

static const struct io_ops debug_ops = {
	.read = port_read,
	.write = port_write,
};

uint64_t debug_port_guest_errors(const struct debug_port *s)
{
	return guest_error_count(&s->errors);
}

int debug_port_new(struct io_bus *bus, debug_port_line_fn line, void *opaque,
		   struct debug_port **ret)
{
	struct debug_port *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->bus = bus;
	s->line = line;
	s->opaque = opaque;
	guest_error_log_init(&s->errors, "debugcon");
	r = io_bus_register(bus, DEBUG_PORT, 1, &debug_ops, s, "debugcon");
	if (r < 0) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return r;
	}
	*ret = s;
	return 0;
}

struct debug_port *debug_port_free(struct debug_port *s)
{
	if (!s)
		return NULL;
	(void)io_bus_unregister(s->bus, DEBUG_PORT);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return NULL;
}

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
 * Saved state (section "debugcon"): the line gathered so far, so that a
 * line the BIOS was writing when the VM was saved is logged whole after
 * the restore.
 *
 * Threads: vCPU threads; one mutex, held across the callback so lines keep
 * their order (the callback must not call back into this port).
 */
#include "emu/debug_port.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "state/state.h"

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

/* Version 1: the line's length (u32, below DEBUG_PORT_LINE_MAX), its bytes (printable ASCII). */
int debug_port_save(struct debug_port *s, struct state_out *out)
{
	pthread_mutex_lock(&s->lock);
	state_out_u32(out, s->len);
	state_out_bytes(out, s->buf, s->len);
	pthread_mutex_unlock(&s->lock);
	return out->error;
}

int debug_port_load(struct debug_port *s, uint32_t version, struct state_in *in, char *errbuf,
		    size_t errlen)
{
	char line[DEBUG_PORT_LINE_MAX];
	uint32_t len = state_in_u32(in);

	if (version != 1 || in->error) {
		snprintf(errbuf, errlen, "debug port state: %s",
			 in->error ? "too short" : "unknown version");
		return -EBADMSG;
	}
	/* A full line is flushed at once (port_write): a saved one is always shorter. */
	if (len >= DEBUG_PORT_LINE_MAX) {
		snprintf(errbuf, errlen, "debug port state: line length %u, at most %u", len,
			 DEBUG_PORT_LINE_MAX - 1);
		return -EBADMSG;
	}
	state_in_bytes(in, line, len);
	if (in->error) {
		snprintf(errbuf, errlen, "debug port state: line of %u bytes cut short", len);
		return -EBADMSG;
	}
	for (uint32_t i = 0; i < len; i++)
		if (line[i] < 0x20 || line[i] >= 0x7F) {
			snprintf(errbuf, errlen,
				 "debug port state: line byte %u is 0x%02x, not printable", i,
				 (unsigned char)line[i]);
			return -EBADMSG;
		}
	pthread_mutex_lock(&s->lock);
	memcpy(s->buf, line, len);
	s->len = len;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

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

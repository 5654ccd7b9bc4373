/*
 * Port 0x80: where PC firmware writes its power-on self-test progress
 * codes for a diagnostic card to display. Linux writes to it as an I/O
 * delay (outb_p, "io_delay=0x80", the default). Writes are kept, reads
 * return the last value written, as on chipsets that latch it.
 *
 * Threads: vCPU threads. The state is one byte and a counter, updated
 * with atomics: there is nothing to keep consistent between them.
 */
#include "emu/post_port.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/log.h"
#include "state/state.h"
#include "vid/pc_layout.h"

struct post_port {
	struct io_bus *bus;
	uint8_t last;		       /* atomic: last code written */
	struct guest_error_log errors; /* guest mistakes: count and rate-limited log */
};

static void bad_size(struct post_port *s, const char *what, unsigned size)
{
	guest_error_report(&s->errors, "%u-byte %s at port %#x", size, what, PC_PORT_POST);
}

static uint64_t post_read(void *opaque, uint64_t offset, unsigned size)
{
	struct post_port *s = opaque;

	if (size != 1) {
		bad_size(s, "read", size);
		return UINT64_MAX;
	}
	return __atomic_load_n(&s->last, __ATOMIC_RELAXED);
}

static void post_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct post_port *s = opaque;

	if (size != 1) {
		bad_size(s, "write", size);
		return;
	}
	__atomic_store_n(&s->last, (uint8_t)value, __ATOMIC_RELAXED);
}

static const struct io_ops post_ops = {
	.read = post_read,
	.write = post_write,
};

uint8_t post_port_last(const struct post_port *post)
{
	return __atomic_load_n(&post->last, __ATOMIC_RELAXED);
}

uint64_t post_port_guest_errors(const struct post_port *post)
{
	return guest_error_count(&post->errors);
}

int post_port_new(struct io_bus *bus, struct post_port **ret)
{
	struct post_port *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	s->bus = bus;
	guest_error_log_init(&s->errors, "post");
	r = io_bus_register(bus, PC_PORT_POST, 1, &post_ops, s, "post");
	if (r < 0) {
		free(s);
		return r;
	}
	*ret = s;
	return 0;
}

struct post_port *post_port_free(struct post_port *post)
{
	if (!post)
		return NULL;
	(void)io_bus_unregister(post->bus, PC_PORT_POST);
	free(post);
	return NULL;
}

/* Saved state, version 1: the latched byte. */
int post_port_save(struct post_port *s, struct state_out *out)
{
	state_out_u8(out, __atomic_load_n(&s->last, __ATOMIC_RELAXED));
	return out->error;
}

int post_port_load(struct post_port *s, uint32_t version, struct state_in *in, char *errbuf,
		   size_t errlen)
{
	uint8_t last = state_in_u8(in);

	if (version != 1 || in->error) {
		snprintf(errbuf, errlen, "POST port state: %s",
			 in->error ? "too short" : "unknown version");
		return -EBADMSG;
	}
	__atomic_store_n(&s->last, last, __ATOMIC_RELAXED);
	return 0;
}

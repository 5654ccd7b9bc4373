/*
 * An address space of device registers: the port I/O space or the MMIO
 * space of a partition. Devices register a range with an ops table; vCPU
 * exits are dispatched here. Accesses to nothing read as all-ones and
 * writes are dropped, as on a PC bus (the caller counts and logs them).
 *
 * Ranges are registered before the vCPUs start, or under the bus's write
 * lock later (hot-add); dispatch takes the read lock. A device's callbacks
 * may run on any vCPU thread at once: the device locks its own state.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"

struct io_ops {
	/* offset is relative to the registered base; size is 1, 2, 4 (or 8 for MMIO). */
	uint64_t (*read)(void *opaque, uint64_t offset, unsigned size);
	void (*write)(void *opaque, uint64_t offset, uint64_t value, unsigned size);
};

struct io_bus;

int io_bus_new(const char *name, struct io_bus **ret) must_check;
struct io_bus *io_bus_free(struct io_bus *bus);

/* -EEXIST if the range overlaps another, -EINVAL if empty or wrapping. */
int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len, const struct io_ops *ops,
		    void *opaque, const char *name) must_check;
/* Removes the range registered at exactly base; -ENOENT if none. */
int io_bus_unregister(struct io_bus *bus, uint64_t base);

/* False if no device claims addr (then *value is all-ones of size). */
bool io_bus_read(struct io_bus *bus, uint64_t addr, unsigned size, uint64_t *value);
/* False if no device claims addr (the write is dropped). */
bool io_bus_write(struct io_bus *bus, uint64_t addr, unsigned size, uint64_t value);

/*
 * Accesses dispatched to each range since it was registered (a string I/O exit counts
 * each element), for the control status and bench/emulated.py: up to max ranges in
 * address order; returns how many.
 */
struct io_bus_count {
	uint64_t base, len, accesses;
	char name[32];
};
size_t io_bus_counts(struct io_bus *bus, struct io_bus_count *out, size_t max);

/* Name of the device at addr, or NULL. For logs. */
const char *io_bus_lookup_name(struct io_bus *bus, uint64_t addr);

/*
 * Port-I/O and MMIO dispatch; see io_bus.h. Ranges are kept sorted in an
 * array and found by binary search: a PC has a few dozen of them, and the
 * array is friendlier to the cache than a tree.
 */
#include "vid/io_bus.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

struct io_range {
	uint64_t base;
	uint64_t len;
	const struct io_ops *ops;
	void *opaque;
	char name[32];
	uint64_t accesses; /* reads and writes dispatched; atomic adds under the read lock */
};

struct io_bus {
	pthread_rwlock_t lock;	 /* write-held while ranges change */
	struct io_range *ranges; /* sorted by base, non-overlapping */
	size_t nranges;
	size_t capacity;
	char name[16];
};

int io_bus_new(const char *name, struct io_bus **ret)
{
	struct io_bus *bus = calloc(1, sizeof(*bus));

	if (!bus)
		return -ENOMEM;
	pthread_rwlock_init(&bus->lock, NULL);
	snprintf(bus->name, sizeof(bus->name), "%s", name);
	*ret = bus;
	return 0;
}

struct io_bus *io_bus_free(struct io_bus *bus)
{
	if (!bus)
		return NULL;
	pthread_rwlock_destroy(&bus->lock);
	free(bus->ranges);
	free(bus);
	return NULL;
}

/* Index of the range containing addr, or -1. Caller holds the lock. */
static ssize_t find_range(const struct io_bus *bus, uint64_t addr)
{
	size_t lo = 0, hi = bus->nranges;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct io_range *r = &bus->ranges[mid];

		if (addr < r->base)
			hi = mid;
		else if (addr - r->base >= r->len)
			lo = mid + 1;
		else
			return (ssize_t)mid;
	}
	return -1;
}

int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len, const struct io_ops *ops,
		    void *opaque, const char *name)
{
	size_t i;
	int r = 0;

	if (len == 0 || base + len - 1 < base || !ops)
		return -EINVAL;
	pthread_rwlock_wrlock(&bus->lock);
	for (i = 0; i < bus->nranges && bus->ranges[i].base < base; i++)
		;
	/* Overlap with the previous range (ends after base) or the next (starts before our end). */
	if ((i > 0 && bus->ranges[i - 1].base + bus->ranges[i - 1].len > base) ||
	    (i < bus->nranges && bus->ranges[i].base <= base + len - 1)) {
		r = -EEXIST;
		goto out;
	}
	if (bus->nranges == bus->capacity) {
		size_t cap = bus->capacity ? bus->capacity * 2 : 16;
		struct io_range *n = realloc(bus->ranges, cap * sizeof(*n));

		if (!n) {
			r = -ENOMEM;
			goto out;
		}
		bus->ranges = n;
		bus->capacity = cap;
	}
	memmove(&bus->ranges[i + 1], &bus->ranges[i], (bus->nranges - i) * sizeof(*bus->ranges));
	bus->ranges[i] = (struct io_range){.base = base, .len = len, .ops = ops, .opaque = opaque};
	snprintf(bus->ranges[i].name, sizeof(bus->ranges[i].name), "%s", name ? name : "?");
	bus->nranges++;
out:
	pthread_rwlock_unlock(&bus->lock);
	return r;
}

int io_bus_unregister(struct io_bus *bus, uint64_t base)
{
	ssize_t i;
	int r = -ENOENT;

	pthread_rwlock_wrlock(&bus->lock);
	i = find_range(bus, base);
	if (i >= 0 && bus->ranges[i].base == base) {
		memmove(&bus->ranges[i], &bus->ranges[i + 1],
			(bus->nranges - (size_t)i - 1) * sizeof(*bus->ranges));
		bus->nranges--;
		r = 0;
	}
	pthread_rwlock_unlock(&bus->lock);
	return r;
}

bool io_bus_read(struct io_bus *bus, uint64_t addr, unsigned size, uint64_t *value)
{
	ssize_t i;

	pthread_rwlock_rdlock(&bus->lock);
	i = find_range(bus, addr);
	if (i < 0 || !bus->ranges[i].ops->read) {
		pthread_rwlock_unlock(&bus->lock);
		*value = size >= 8 ? UINT64_MAX : (UINT64_C(1) << (size * 8)) - 1;
		return i >= 0;
	}
	__atomic_add_fetch(&bus->ranges[i].accesses, 1, __ATOMIC_RELAXED);
	*value = bus->ranges[i].ops->read(bus->ranges[i].opaque, addr - bus->ranges[i].base, size);
	pthread_rwlock_unlock(&bus->lock);
	if (size < 8)
		*value &= (UINT64_C(1) << (size * 8)) - 1;
	return true;
}

bool io_bus_write(struct io_bus *bus, uint64_t addr, unsigned size, uint64_t value)
{
	ssize_t i;

	pthread_rwlock_rdlock(&bus->lock);
	i = find_range(bus, addr);
	if (i >= 0)
		__atomic_add_fetch(&bus->ranges[i].accesses, 1, __ATOMIC_RELAXED);
	if (i >= 0 && bus->ranges[i].ops->write)
		bus->ranges[i].ops->write(bus->ranges[i].opaque, addr - bus->ranges[i].base, value,
					  size);
	pthread_rwlock_unlock(&bus->lock);
	return i >= 0;
}

const char *io_bus_lookup_name(struct io_bus *bus, uint64_t addr)
{
	const char *name = NULL;
	ssize_t i;

	pthread_rwlock_rdlock(&bus->lock);
	i = find_range(bus, addr);
	if (i >= 0)
		name = bus->ranges[i].name;
	pthread_rwlock_unlock(&bus->lock);
	return name;
}

size_t io_bus_counts(struct io_bus *bus, struct io_bus_count *out, size_t max)
{
	size_t n;

	pthread_rwlock_rdlock(&bus->lock);
	for (n = 0; n < bus->nranges && n < max; n++) {
		const struct io_range *r = &bus->ranges[n];

		out[n].base = r->base;
		out[n].len = r->len;
		out[n].accesses = __atomic_load_n(&r->accesses, __ATOMIC_RELAXED);
		memcpy(out[n].name, r->name, sizeof(out[n].name));
	}
	pthread_rwlock_unlock(&bus->lock);
	return n;
}

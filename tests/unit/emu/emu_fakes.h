/*
 * Fakes for device-model tests: an interrupt line and a power control that
 * record what the device did, a clock the test moves by hand, and port
 * I/O helpers over a real io_bus. Fields are atomics: the RTC's thread
 * calls the clock and the line too.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/log.h"
#include "emu/clock_source.h"
#include "vid/io_bus.h"
#include "vid/irq.h"

struct fake_irq {
	int level;	 /* last level set */
	unsigned raises; /* 0 -> 1 transitions */
	unsigned calls;
};

static inline void fake_irq_set(void *opaque, unsigned gsi, bool level)
{
	struct fake_irq *f = opaque;
	int old = __atomic_exchange_n(&f->level, level, __ATOMIC_SEQ_CST);

	if (level && !old)
		__atomic_add_fetch(&f->raises, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&f->calls, 1, __ATOMIC_SEQ_CST);
}

static inline struct irq_line fake_irq_line(struct fake_irq *f, unsigned gsi)
{
	return (struct irq_line){.set_level = fake_irq_set, .opaque = f, .gsi = gsi};
}

static inline int fake_irq_level(struct fake_irq *f)
{
	return __atomic_load_n(&f->level, __ATOMIC_SEQ_CST);
}

static inline unsigned fake_irq_raises(struct fake_irq *f)
{
	return __atomic_load_n(&f->raises, __ATOMIC_SEQ_CST);
}

struct fake_power {
	unsigned off;
	unsigned reset;
};

static inline void fake_power_request(void *opaque, enum power_request req)
{
	struct fake_power *p = opaque;

	if (req == POWER_REQUEST_OFF)
		p->off++;
	else if (req == POWER_REQUEST_RESET)
		p->reset++;
}

static inline struct power_control fake_power_control(struct fake_power *p)
{
	return (struct power_control){.request = fake_power_request, .opaque = p};
}

struct fake_clock {
	uint64_t ns;
};

static inline uint64_t fake_clock_now(void *opaque)
{
	return __atomic_load_n(&((struct fake_clock *)opaque)->ns, __ATOMIC_SEQ_CST);
}

static inline void fake_clock_set(struct fake_clock *c, uint64_t ns)
{
	__atomic_store_n(&c->ns, ns, __ATOMIC_SEQ_CST);
}

static inline void fake_clock_add(struct fake_clock *c, uint64_t ns)
{
	__atomic_add_fetch(&c->ns, ns, __ATOMIC_SEQ_CST);
}

static inline struct clock_source fake_clock_source(struct fake_clock *c)
{
	return (struct clock_source){.now_ns = fake_clock_now, .opaque = c};
}

/* Port I/O through the bus, as a vCPU exit would do it. */
static inline uint32_t pio_in(struct io_bus *bus, uint16_t port, unsigned size)
{
	uint64_t v;

	io_bus_read(bus, port, size, &v);
	return (uint32_t)v;
}

static inline uint8_t pio_inb(struct io_bus *bus, uint16_t port)
{
	return (uint8_t)pio_in(bus, port, 1);
}

static inline void pio_out(struct io_bus *bus, uint16_t port, unsigned size, uint32_t value)
{
	io_bus_write(bus, port, size, value);
}

static inline void pio_outb(struct io_bus *bus, uint16_t port, uint8_t value)
{
	pio_out(bus, port, 1, value);
}

static inline void fake_log_sink(void *opaque, enum log_level level, const char *line)
{
	unsigned *lines = opaque;

	if (lines)
		(*lines)++;
}

/* Guest-error log lines are expected in these tests: count them, do not print. */
static inline void fake_log_silence(unsigned *lines)
{
	log_set_sink(fake_log_sink, lines);
}

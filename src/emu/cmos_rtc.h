/*
 * The MC146818 real-time clock and CMOS RAM at ports 0x70/0x71.
 * See cmos_rtc.c.
 */
#pragma once

#include <stdint.h>

#include "base/compiler.h"
#include "emu/clock_source.h"
#include "vid/io_bus.h"
#include "vid/irq.h"

struct cmos_rtc;

/*
 * Registers ports PC_PORT_CMOS..+1 on bus and starts the RTC's timer
 * thread. irq is IRQ 8. clock gives wall-clock time (ns since the Unix
 * epoch, UTC); {0} means CLOCK_REALTIME. The guest sees that time until
 * it sets its own, which is then kept as an offset from it.
 */
int cmos_rtc_new(struct io_bus *bus, struct irq_line irq, struct clock_source clock,
		 struct cmos_rtc **ret) must_check;
/* Stops the thread, unregisters from the bus and frees; NULL is a no-op. Returns NULL. */
struct cmos_rtc *cmos_rtc_free(struct cmos_rtc *rtc);

/* Guest mistakes seen (bad access size). */
/*
 * Saved state (src/state/): the index and NMI mask, the 128 bytes of CMOS
 * RAM, the guest's offset from the host's wall clock, whether the time is
 * frozen, and the register C flags not yet read. Like a battery-backed
 * clock, the time keeps running while the VM is saved: after a restore it
 * is the host's wall clock plus the saved offset. Interrupt events that
 * would have happened while saved are not replayed; IRQ 8 is driven from
 * low to what the flags say. load refuses an index or flags the chip does
 * not hold and a frozen state that register A/B contradict.
 */
#define CMOS_RTC_STATE_VERSION 1u
struct state_out;
struct state_in;
int cmos_rtc_save(struct cmos_rtc *rtc, struct state_out *out) must_check;
int cmos_rtc_load(struct cmos_rtc *rtc, uint32_t version, struct state_in *in, char *errbuf,
		  size_t errlen) must_check;

uint64_t cmos_rtc_guest_errors(const struct cmos_rtc *rtc);

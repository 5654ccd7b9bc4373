/*
 * MC146818A real-time clock with 128 bytes of CMOS RAM (Motorola MC146818A
 * data sheet; the PC wiring: index port 0x70 with bit 7 as the NMI mask,
 * data port 0x71, IRQ 8, century in RAM byte 0x32 as the ACPI FADT says).
 *
 * The time is not a counter: it is the host's wall clock plus a whole
 * number of seconds the guest chose (offset_s), so seconds tick on the
 * host's second boundaries and the registers are rendered on every read
 * in the current BCD/binary and 12/24-hour modes. UIP is high during the
 * last 244 us (tBUC) of each second, the registers change at the
 * boundary, so Linux's mc146818_get_time() sees UIP rise and fall.
 * While SET is 1, or the divider is not running (DV != 010), the time is
 * frozen into the registers; the guest edits them, and when it lets go
 * the new offset is computed from what they hold. Unlike the chip, a
 * change of data mode re-renders the time instead of reinterpreting the
 * bytes; the day of the week is always derived from the date; DSE
 * (daylight saving) is stored but never applied, as PC guests keep it 0.
 *
 * Register C flags (PF, AF, UF) are computed lazily from the clock on
 * each access: events between the last look and now are accounted at
 * once. For interrupts to arrive on time, the RTC has a thread of its own
 * that sleeps until the next event of an enabled source (the next second
 * boundary for UIE/AIE, the next periodic tick for PIE) and otherwise
 * waits on a condition variable; it never wakes while IRQ 8 is asserted,
 * since nothing changes until the guest reads C.
 *
 * Threads: vCPU threads (ports) and the RTC thread; one mutex. The
 * interrupt line is driven under it.
 */
#include "emu/cmos_rtc.h"

#include <errno.h>
#include <string.h>
#include <stdio.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "state/state.h"
#include "vid/pc_layout.h"

#define NSEC   UINT64_C(1000000000)
#define UIP_NS UINT64_C(244000) /* tBUC: UIP to update */

enum {
	REG_SEC,
	REG_SEC_ALARM,
	REG_MIN,
	REG_MIN_ALARM,
	REG_HOUR,
	REG_HOUR_ALARM,
	REG_DOW,
	REG_DOM,
	REG_MONTH,
	REG_YEAR,
	REG_A,
	REG_B,
	REG_C,
	REG_D,
	REG_CENTURY = 0x32,
};

#define A_UIP	  0x80
#define A_DV	  0x70
#define A_DV_32K  0x20 /* 32.768 kHz time base, divider running */
#define A_RS	  0x0F
#define A_DEFAULT (A_DV_32K | 0x06) /* 1024 Hz periodic rate */
#define B_SET	  0x80
#define B_PIE	  0x40
#define B_AIE	  0x20
#define B_UIE	  0x10
#define B_DM_BIN  0x04
#define B_24H	  0x02
#define C_IRQF	  0x80
#define C_PF	  0x40 /* the flags sit under their enables in B */
#define C_AF	  0x20
#define C_UF	  0x10
#define D_VRT	  0x80
#define ALARM_ANY 0xC0 /* both top bits: "don't care" */

struct cmos_rtc {
	pthread_mutex_t lock;
	pthread_cond_t wake; /* the RTC thread sleeps here (CLOCK_MONOTONIC) */
	pthread_t thread;
	bool stop;
	struct io_bus *bus;
	struct irq_line irq;
	struct clock_source clock;

	uint8_t index;	  /* port 0x70 bits 6-0 */
	uint8_t nmi_mask; /* port 0x70 bit 7; stored only */
	uint8_t ram[128]; /* time registers are scratch unless frozen; C and D are computed */
	int64_t offset_s; /* guest time = host seconds + offset_s */
	bool frozen;	  /* SET or divider stopped: ram[] holds the time */
	uint8_t flags;	  /* C_PF | C_AF | C_UF, until C is read */
	uint64_t last_ns; /* flags account for events up to this host time */
	bool irq_level;

	struct guest_error_log errors; /* guest mistakes: count and rate-limited log */
};

static uint64_t clock_now(const struct cmos_rtc *s)
{
	return s->clock.now_ns ? s->clock.now_ns(s->clock.opaque) : time_realtime_ns();
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
	return a - floor_div(a, b) * b;
}

/* Days since 1970-01-01 of a proleptic Gregorian date, month 1-12 (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = floor_div(z, 146097);
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = era * 400 + yoe + (*m <= 2);
}

static uint8_t to_reg(const struct cmos_rtc *s, unsigned v)
{
	if (s->ram[REG_B] & B_DM_BIN)
		return (uint8_t)v;
	v %= 100;
	return (uint8_t)((v / 10) << 4 | (v % 10));
}

/* Garbage in BCD mode (0xFF) decodes to garbage, not to a fault. */
static unsigned from_reg(const struct cmos_rtc *s, uint8_t r)
{
	if (s->ram[REG_B] & B_DM_BIN)
		return r;
	return (r >> 4) * 10u + (r & 0x0F);
}

static uint8_t hour_to_reg(const struct cmos_rtc *s, unsigned h)
{
	if (s->ram[REG_B] & B_24H)
		return to_reg(s, h);
	return to_reg(s, h % 12 ? h % 12 : 12) | (h >= 12 ? 0x80 : 0);
}

static unsigned hour_from_reg(const struct cmos_rtc *s, uint8_t r)
{
	if (s->ram[REG_B] & B_24H)
		return from_reg(s, r);
	return from_reg(s, r & 0x7F) % 12 + (r & 0x80 ? 12 : 0);
}

static bool is_time_reg(unsigned idx)
{
	switch (idx) {
	case REG_SEC:
	case REG_MIN:
	case REG_HOUR:
	case REG_DOW:
	case REG_DOM:
	case REG_MONTH:
	case REG_YEAR:
	case REG_CENTURY: return true;
	}
	return false;
}

/* Writes guest time t (seconds since the epoch) into the time registers. */
static void render(struct cmos_rtc *s, int64_t t)
{
	int64_t days = floor_div(t, 86400), year;
	unsigned sod = (unsigned)floor_mod(t, 86400), month, day;

	civil_from_days(days, &year, &month, &day);
	s->ram[REG_SEC] = to_reg(s, sod % 60);
	s->ram[REG_MIN] = to_reg(s, sod / 60 % 60);
	s->ram[REG_HOUR] = hour_to_reg(s, sod / 3600);
	s->ram[REG_DOW] =
		to_reg(s, (unsigned)floor_mod(days + 4, 7) + 1); /* 1970-01-01: Thursday */
	s->ram[REG_DOM] = to_reg(s, day);
	s->ram[REG_MONTH] = to_reg(s, month);
	s->ram[REG_YEAR] = to_reg(s, (unsigned)floor_mod(year, 100));
	s->ram[REG_CENTURY] = to_reg(s, (unsigned)floor_mod(floor_div(year, 100), 256));
}

/* The time the registers hold; out-of-range fields carry over arithmetically. */
static int64_t regs_to_epoch(const struct cmos_rtc *s)
{
	int64_t year =
		(int64_t)from_reg(s, s->ram[REG_CENTURY]) * 100 + from_reg(s, s->ram[REG_YEAR]);
	int64_t month0 = (int64_t)from_reg(s, s->ram[REG_MONTH]) - 1;
	int64_t days;

	year += floor_div(month0, 12);
	days = days_from_civil(year, (unsigned)floor_mod(month0, 12) + 1, 1);
	days += (int64_t)from_reg(s, s->ram[REG_DOM]) - 1;
	return days * 86400 + hour_from_reg(s, s->ram[REG_HOUR]) * INT64_C(3600) +
	       from_reg(s, s->ram[REG_MIN]) * INT64_C(60) + from_reg(s, s->ram[REG_SEC]);
}

static int64_t guest_now(const struct cmos_rtc *s, uint64_t now)
{
	return (int64_t)(now / NSEC) + s->offset_s;
}

static bool divider_running(const struct cmos_rtc *s)
{
	return (s->ram[REG_A] & A_DV) == A_DV_32K;
}

/* Periodic interrupts per second for RS (data sheet Table 5), 0 for none. */
static unsigned periodic_hz(const struct cmos_rtc *s)
{
	unsigned rs = s->ram[REG_A] & A_RS;

	if (!rs)
		return 0;
	if (rs <= 2)
		rs += 7; /* RS 1 and 2 repeat RS 8 and 9 with a 32.768 kHz base */
	return 32768u >> (rs - 1);
}

/* Periodic ticks since the epoch at host time t: ticks are aligned to host seconds. */
static uint64_t periodic_ticks(uint64_t t, unsigned hz)
{
	return t / NSEC * hz + t % NSEC * hz / NSEC;
}

static uint64_t next_tick_ns(uint64_t now, unsigned hz)
{
	uint64_t k = periodic_ticks(now, hz) + 1;

	return k / hz * NSEC + (k % hz * NSEC + hz - 1) / hz;
}

static bool alarm_matches(const struct cmos_rtc *s, int64_t t)
{
	unsigned sod = (unsigned)floor_mod(t, 86400);
	const uint8_t *r = s->ram;

	return ((r[REG_SEC_ALARM] & ALARM_ANY) == ALARM_ANY ||
		r[REG_SEC_ALARM] == to_reg(s, sod % 60)) &&
	       ((r[REG_MIN_ALARM] & ALARM_ANY) == ALARM_ANY ||
		r[REG_MIN_ALARM] == to_reg(s, sod / 60 % 60)) &&
	       ((r[REG_HOUR_ALARM] & ALARM_ANY) == ALARM_ANY ||
		r[REG_HOUR_ALARM] == hour_to_reg(s, sod / 3600));
}

/* Sets the register C flags for what happened between last_ns and now. */
static void advance(struct cmos_rtc *s, uint64_t now)
{
	uint64_t last = s->last_ns;
	unsigned hz = periodic_hz(s);
	int64_t first, end, t;

	s->last_ns = now;
	if (now <= last || !divider_running(s))
		return; /* a clock stepped back restarts accounting from now */
	if (hz && periodic_ticks(now, hz) != periodic_ticks(last, hz))
		s->flags |= C_PF;
	if (s->frozen)
		return;
	first = (int64_t)(last / NSEC) + 1; /* updates happen at host second boundaries */
	end = (int64_t)(now / NSEC);
	if (end < first)
		return;
	s->flags |= C_UF;
	/* A day holds every alarm time there is. */
	for (t = MAX(first, end - 86399); t <= end; t++) {
		if (alarm_matches(s, t + s->offset_s)) {
			s->flags |= C_AF;
			break;
		}
	}
}

static bool irqf(const struct cmos_rtc *s)
{
	return s->flags & s->ram[REG_B] & (C_PF | C_AF | C_UF);
}

static void update_irq(struct cmos_rtc *s)
{
	bool level = irqf(s);

	if (level != s->irq_level) {
		s->irq_level = level;
		irq_line_set(&s->irq, level);
	}
}

/* Freezes the time into the registers, or lets it run from what they hold. */
static void sync_frozen(struct cmos_rtc *s, uint64_t now)
{
	bool frozen = (s->ram[REG_B] & B_SET) || !divider_running(s);

	if (frozen == s->frozen)
		return;
	if (frozen)
		render(s, guest_now(s, now));
	else
		s->offset_s = regs_to_epoch(s) - (int64_t)(now / NSEC);
	s->frozen = frozen;
}

static uint8_t read_reg(struct cmos_rtc *s, unsigned idx, uint64_t now)
{
	uint8_t v;

	if (is_time_reg(idx)) {
		if (!s->frozen)
			render(s, guest_now(s, now));
		return s->ram[idx];
	}
	switch (idx) {
	case REG_A:
		v = s->ram[REG_A];
		if (!s->frozen && now % NSEC >= NSEC - UIP_NS)
			v |= A_UIP;
		return v;
	case REG_C:
		v = s->flags | (irqf(s) ? C_IRQF : 0);
		s->flags = 0;
		return v;
	case REG_D:
		return D_VRT; /* battery good; bits 6-0 read 0 (Linux's rtc-cmos checks bit 6) */
	}
	return s->ram[idx];
}

static void write_b(struct cmos_rtc *s, uint8_t v, uint64_t now)
{
	uint8_t old = s->ram[REG_B];

	if (v & B_SET)
		v &= ~B_UIE; /* SET clears UIE */
	if (s->frozen && ((old ^ v) & (B_DM_BIN | B_24H))) {
		int64_t t = regs_to_epoch(s); /* read in the old mode, rewrite in the new */

		s->ram[REG_B] = v;
		render(s, t);
	}
	s->ram[REG_B] = v;
	sync_frozen(s, now);
}

static void write_reg(struct cmos_rtc *s, unsigned idx, uint8_t v, uint64_t now)
{
	if (is_time_reg(idx)) {
		if (!s->frozen)
			render(s, guest_now(s, now));
		s->ram[idx] = v;
		if (!s->frozen) /* a running clock takes the new value at once */
			s->offset_s = regs_to_epoch(s) - (int64_t)(now / NSEC);
		return;
	}
	switch (idx) {
	case REG_A:
		s->ram[REG_A] = v & ~A_UIP;
		sync_frozen(s, now);
		return;
	case REG_B: write_b(s, v, now); return;
	case REG_C:
	case REG_D: return; /* read-only */
	}
	s->ram[idx] = v;
}

static uint64_t rtc_read(void *opaque, uint64_t offset, unsigned size)
{
	struct cmos_rtc *s = opaque;
	uint64_t now;
	uint8_t v;

	if (size != 1) {
		guest_error_report(&s->errors, "%u-byte read at port %#x", size,
				   (unsigned)(PC_PORT_CMOS + offset));
		return UINT64_MAX;
	}
	if (offset == 0)
		return 0xFF; /* the index register is write-only */
	pthread_mutex_lock(&s->lock);
	now = clock_now(s);
	advance(s, now);
	v = read_reg(s, s->index, now);
	update_irq(s);
	if (s->index == REG_C)
		pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	return v;
}

static void rtc_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct cmos_rtc *s = opaque;
	uint64_t now;

	if (size != 1) {
		guest_error_report(&s->errors, "%u-byte write at port %#x", size,
				   (unsigned)(PC_PORT_CMOS + offset));
		return;
	}
	pthread_mutex_lock(&s->lock);
	if (offset == 0) {
		s->index = value & 0x7F;
		s->nmi_mask = value & 0x80 ? 1 : 0; /* SeaBIOS's rtc_read sets it on every access */
	} else {
		now = clock_now(s);
		advance(s, now);
		write_reg(s, s->index, (uint8_t)value, now);
		update_irq(s);
		pthread_cond_signal(&s->wake);
	}
	pthread_mutex_unlock(&s->lock);
}

static const struct io_ops rtc_ops = {
	.read = rtc_read,
	.write = rtc_write,
};

/* When the next event of an enabled interrupt source is due, if any. */
static bool next_deadline(const struct cmos_rtc *s, uint64_t now, uint64_t *deadline)
{
	uint64_t d = UINT64_MAX;
	unsigned hz = periodic_hz(s);

	if (s->irq_level || !divider_running(s))
		return false;
	if ((s->ram[REG_B] & B_PIE) && hz)
		d = next_tick_ns(now, hz);
	if (!s->frozen && (s->ram[REG_B] & (B_UIE | B_AIE)))
		d = MIN(d, (now / NSEC + 1) * NSEC);
	*deadline = d;
	return d != UINT64_MAX;
}

static void *rtc_thread(void *arg)
{
	struct cmos_rtc *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		uint64_t now = clock_now(s), deadline;
		struct timespec ts;

		advance(s, now);
		update_irq(s);
		if (!next_deadline(s, now, &deadline)) {
			pthread_cond_wait(&s->wake, &s->lock);
			continue;
		}
		/* The deadline is on the device's clock; sleep the same span on ours. */
		ts = monotonic_deadline_ns(MIN(deadline - now, NSEC));
		pthread_cond_timedwait(&s->wake, &s->lock, &ts);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* The thread takes no signals: they are for the vCPU threads and the main loop. */
static int start_thread(struct cmos_rtc *s)
{
	sigset_t all, old;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&s->thread, NULL, rtc_thread, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return -r;
	pthread_setname_np(s->thread, "parvis-rtc");
	return 0;
}

uint64_t cmos_rtc_guest_errors(const struct cmos_rtc *rtc)
{
	return guest_error_count(&rtc->errors);
}

int cmos_rtc_new(struct io_bus *bus, struct irq_line irq, struct clock_source clock,
		 struct cmos_rtc **ret)
{
	struct cmos_rtc *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	cond_init_monotonic(&s->wake);
	s->bus = bus;
	s->irq = irq;
	s->clock = clock;
	s->ram[REG_A] = A_DEFAULT;
	s->ram[REG_B] = B_24H; /* 24-hour BCD, as PC firmware leaves it */
	s->last_ns = clock_now(s);
	guest_error_log_init(&s->errors, "cmos-rtc");
	r = io_bus_register(bus, PC_PORT_CMOS, PC_PORT_CMOS_LEN, &rtc_ops, s, "cmos-rtc");
	if (r < 0)
		goto fail;
	r = start_thread(s);
	if (r < 0) {
		(void)io_bus_unregister(bus, PC_PORT_CMOS);
		goto fail;
	}
	*ret = s;
	return 0;
fail:
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return r;
}

struct cmos_rtc *cmos_rtc_free(struct cmos_rtc *rtc)
{
	if (!rtc)
		return NULL;
	(void)io_bus_unregister(rtc->bus, PC_PORT_CMOS);
	pthread_mutex_lock(&rtc->lock);
	rtc->stop = true;
	pthread_cond_signal(&rtc->wake);
	pthread_mutex_unlock(&rtc->lock);
	pthread_join(rtc->thread, NULL);
	pthread_cond_destroy(&rtc->wake);
	pthread_mutex_destroy(&rtc->lock);
	free(rtc);
	return NULL;
}

/*
 * Saved state, version 1: index, nmi_mask (u8, 0 or 1; builds before kept port 0x70's bit 7
 * itself, 0x80, which load takes as 1), ram (128 bytes), offset_s (two's complement u64),
 * frozen, flags (u8).
 */
int cmos_rtc_save(struct cmos_rtc *s, struct state_out *out)
{
	pthread_mutex_lock(&s->lock);
	advance(s, clock_now(s)); /* the flags up to now */
	state_out_u8(out, s->index);
	state_out_u8(out, s->nmi_mask);
	state_out_bytes(out, s->ram, sizeof(s->ram));
	state_out_u64(out, (uint64_t)s->offset_s);
	state_out_u8(out, s->frozen);
	state_out_u8(out, s->flags);
	pthread_mutex_unlock(&s->lock);
	return out->error;
}

int cmos_rtc_load(struct cmos_rtc *s, uint32_t version, struct state_in *in, char *errbuf,
		  size_t errlen)
{
	uint8_t index = state_in_u8(in), nmi_mask = state_in_u8(in), ram[sizeof(s->ram)];
	const char *bad = NULL;
	int64_t offset;
	uint8_t frozen, flags;
	bool want_frozen;

	state_in_bytes(in, ram, sizeof(ram));
	offset = (int64_t)state_in_u64(in);
	frozen = state_in_u8(in);
	flags = state_in_u8(in);
	want_frozen = (ram[REG_B] & B_SET) || (ram[REG_A] & A_DV) != A_DV_32K;
	if (version != 1)
		bad = "unknown version";
	else if (in->error)
		bad = "too short";
	else if (index > 0x7F)
		bad = "index out of range (more than 0x7F)";
	else if (nmi_mask > 1 && nmi_mask != 0x80)
		bad = "NMI mask out of range (0, 1 or 0x80)";
	else if (frozen > 1)
		bad = "frozen flag out of range (0 or 1)";
	else if (flags & ~(C_PF | C_AF | C_UF))
		bad = "register C flags out of range";
	else if (frozen != want_frozen)
		bad = "frozen time contradicts registers A and B";
	else if (offset > INT64_C(1) << 40 || offset < -(INT64_C(1) << 40))
		bad = "offset from the host clock beyond any calendar";
	if (bad) {
		snprintf(errbuf, errlen, "CMOS RTC state: %s", bad);
		return -EBADMSG;
	}
	pthread_mutex_lock(&s->lock);
	s->index = index;
	s->nmi_mask = nmi_mask ? 1 : 0;
	memcpy(s->ram, ram, sizeof(ram));
	s->offset_s = offset;
	s->frozen = frozen;
	s->flags = flags;
	s->last_ns = clock_now(s);
	s->irq_level = false; /* the new irqchip's line is low */
	update_irq(s);
	pthread_cond_signal(&s->wake); /* the next event may have moved */
	pthread_mutex_unlock(&s->lock);
	return 0;
}

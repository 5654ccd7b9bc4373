/*
 * ACPI fixed hardware registers (ACPI 6.5, section 4.8): the PM1a event
 * block (PM1_STS, PM1_EN), the PM1a control block (PM1_CNT), the PM timer
 * and the FADT reset register, in one 16-byte block of ports (offsets in
 * pc_layout.h; boot/ describes the same ports in the FADT).
 *
 * - PM1_STS bits are write-1-to-clear; a status bit whose PM1_EN bit is
 *   set raises the SCI (IRQ 9, level). Only the power button sets one
 *   here: acpi_pm_power_button().
 * - PM1_CNT.SCI_EN always reads 1: there is no SMM and no legacy mode to
 *   leave, so the guest finds the machine in ACPI mode. SLP_EN with
 *   SLP_TYP = PC_ACPI_SLP_TYP_S5 asks for power off; other sleep states
 *   are not supported and are ignored with a log line.
 * - The PM timer is 32 bits wide (FADT TMR_VAL_EXT = 1) at exactly
 *   3.579545 MHz, computed from the monotonic clock, so it never goes
 *   back and Linux can use it as a clocksource and to calibrate the TSC.
 *   TMR_STS (the carry out of bit 31) is not generated.
 * - Writing PC_ACPI_RESET_VALUE to the reset register asks for a reset.
 *
 * Registers may be accessed in bytes, words or dwords at any offset that
 * stays in the block (ACPICA splits by the FADT's access width); a dword
 * at offset 0 covers PM1_STS and PM1_EN together.
 *
 * Threads: vCPU threads and whoever presses the power button; one mutex.
 * The SCI is driven under it; power requests are made after it is dropped.
 */
#include "emu/acpi_pm.h"

#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>

#include "base/clock.h"
#include "base/log.h"
#include "state/state.h"
#include "vid/pc_layout.h"

/* Byte offsets inside the block. */
#define OFF_STS	  (PC_PORT_PM1A_EVT - PC_PORT_ACPI_PM_BASE)
#define OFF_EN	  (OFF_STS + 2)
#define OFF_CNT	  (PC_PORT_PM1A_CNT - PC_PORT_ACPI_PM_BASE)
#define OFF_TMR	  (PC_PORT_PM_TMR - PC_PORT_ACPI_PM_BASE)
#define OFF_RESET (PC_PORT_ACPI_RESET - PC_PORT_ACPI_PM_BASE)

#define PM1_TMR	     0x0001
#define PM1_GBL	     0x0020
#define PM1_PWRBTN   0x0100
#define PM1_SLPBTN   0x0200
#define PM1_RTC	     0x0400
#define PM1_EN_VALID 0x4721 /* the enables above, and PCIEXP_WAKE_DIS */
#define PM1_SCI_BITS (PM1_TMR | PM1_GBL | PM1_PWRBTN | PM1_SLPBTN | PM1_RTC)

#define CNT_SCI_EN    0x0001
#define CNT_BM_RLD    0x0002
#define CNT_SLP_TYP   0x1C00
#define CNT_SLP_SHIFT 10
#define CNT_SLP_EN    0x2000
#define CNT_STORED    (CNT_BM_RLD | CNT_SLP_TYP) /* SLP_EN and GBL_RLS are write-only */

#define PM_TIMER_HZ UINT64_C(3579545)
#define NSEC	    UINT64_C(1000000000)
#define BLOCK_LEN   PC_PORT_ACPI_PM_LEN

struct acpi_pm {
	pthread_mutex_t lock;
	struct io_bus *bus;
	struct irq_line sci;
	struct power_control power;
	struct clock_source clock;
	uint64_t t0_ns; /* the timer reads 0 here */

	uint16_t sts; /* PM1_STS */
	uint16_t en;  /* PM1_EN, PM1_EN_VALID bits */
	uint16_t cnt; /* PM1_CNT, CNT_STORED bits */
	bool sci_level;

	struct guest_error_log errors; /* guest mistakes: count and rate-limited log */
};

static uint64_t clock_now(const struct acpi_pm *s)
{
	return s->clock.now_ns ? s->clock.now_ns(s->clock.opaque) : time_monotonic_ns();
}

/* floor(elapsed * 3579545 / 1e9), split so nothing overflows: exact, and monotonic in now. */
static uint32_t pm_timer(const struct acpi_pm *s)
{
	uint64_t now = clock_now(s);
	uint64_t d = now > s->t0_ns ? now - s->t0_ns : 0;

	return (uint32_t)(d / NSEC * PM_TIMER_HZ + d % NSEC * PM_TIMER_HZ / NSEC);
}

static void update_sci(struct acpi_pm *s)
{
	bool level = s->sts & s->en & PM1_SCI_BITS;

	if (level != s->sci_level) {
		s->sci_level = level;
		irq_line_set(&s->sci, level);
	}
}

static bool reserved_byte(unsigned off)
{
	return (off >= OFF_CNT + 2 && off < OFF_TMR) || off > OFF_RESET;
}

/* One byte of the register image; tmr is the timer sampled once for the access. */
static uint8_t read_byte(const struct acpi_pm *s, unsigned off, uint32_t tmr)
{
	uint16_t cnt = s->cnt | CNT_SCI_EN;

	switch (off) {
	case OFF_STS:
	case OFF_STS + 1: return (uint8_t)(s->sts >> (8 * (off - OFF_STS)));
	case OFF_EN:
	case OFF_EN + 1: return (uint8_t)(s->en >> (8 * (off - OFF_EN)));
	case OFF_CNT:
	case OFF_CNT + 1: return (uint8_t)(cnt >> (8 * (off - OFF_CNT)));
	case OFF_TMR ... OFF_TMR + 3: return (uint8_t)(tmr >> (8 * (off - OFF_TMR)));
	}
	return 0; /* the reset register and reserved bytes read 0 */
}

static bool access_ok(struct acpi_pm *s, uint64_t offset, unsigned size, const char *what)
{
	if ((size == 1 || size == 2 || size == 4) && offset + size <= BLOCK_LEN) {
		for (unsigned i = 0; i < size; i++)
			if (reserved_byte((unsigned)offset + i))
				goto bad;
		return true;
	}
bad:
	guest_error_report(&s->errors, "%u-byte %s at port %#x", size, what,
			   (unsigned)(PC_PORT_ACPI_PM_BASE + offset));
	return false;
}

static uint64_t pm_read(void *opaque, uint64_t offset, unsigned size)
{
	struct acpi_pm *s = opaque;
	uint32_t tmr, v = 0;

	if (!access_ok(s, offset, size, "read"))
		return size >= 4 ? UINT32_MAX : (UINT32_C(1) << (8 * size)) - 1;
	tmr = pm_timer(s);
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)read_byte(s, (unsigned)offset + i, tmr) << (8 * i);
	pthread_mutex_unlock(&s->lock);
	return v;
}

/* The written bits of the 16-bit register at off: *mask says which bytes were written. */
static uint16_t reg16(const uint8_t *val, const bool *wr, unsigned off, uint16_t *mask)
{
	*mask = (uint16_t)((wr[off] ? 0x00FF : 0) | (wr[off + 1] ? 0xFF00 : 0));
	return (uint16_t)((val[off] | val[off + 1] << 8) & *mask);
}

/* Applies the write; returns the power request it makes, or -1. */
static int write_regs(struct acpi_pm *s, const uint8_t *val, const bool *wr)
{
	uint16_t v, m;
	unsigned typ;

	v = reg16(val, wr, OFF_STS, &m);
	s->sts &= (uint16_t)~v;
	v = reg16(val, wr, OFF_EN, &m);
	s->en = (uint16_t)(((s->en & ~m) | v) & PM1_EN_VALID);
	v = reg16(val, wr, OFF_CNT, &m);
	s->cnt = (uint16_t)(((s->cnt & ~m) | v) & CNT_STORED);
	update_sci(s);
	if (wr[OFF_RESET] && val[OFF_RESET] == PC_ACPI_RESET_VALUE)
		return POWER_REQUEST_RESET;
	if (!(v & CNT_SLP_EN))
		return -1;
	typ = (s->cnt & CNT_SLP_TYP) >> CNT_SLP_SHIFT;
	if (typ == PC_ACPI_SLP_TYP_S5)
		return POWER_REQUEST_OFF;
	guest_log(&s->errors, LOG_INFO, "sleep type %u is not supported, ignored", typ);
	return -1;
}

static void pm_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct acpi_pm *s = opaque;
	uint8_t val[BLOCK_LEN] = {0};
	bool wr[BLOCK_LEN] = {0};
	int req;

	if (!access_ok(s, offset, size, "write"))
		return;
	for (unsigned i = 0; i < size; i++) {
		val[offset + i] = (uint8_t)(value >> (8 * i));
		wr[offset + i] = true;
	}
	if (wr[OFF_TMR] || wr[OFF_TMR + 1] || wr[OFF_TMR + 2] || wr[OFF_TMR + 3])
		guest_error_report(&s->errors, "write to the read-only PM timer");
	pthread_mutex_lock(&s->lock);
	req = write_regs(s, val, wr);
	pthread_mutex_unlock(&s->lock);
	if (req >= 0)
		power_control_request(&s->power, (enum power_request)req);
}

static const struct io_ops pm_ops = {
	.read = pm_read,
	.write = pm_write,
};

void acpi_pm_power_button(struct acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	pm->sts |= PM1_PWRBTN;
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

uint64_t acpi_pm_guest_errors(const struct acpi_pm *pm)
{
	return guest_error_count(&pm->errors);
}

int acpi_pm_new(struct io_bus *bus, struct irq_line sci, struct power_control power,
		struct clock_source clock, struct acpi_pm **ret)
{
	struct acpi_pm *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->bus = bus;
	s->sci = sci;
	s->power = power;
	s->clock = clock;
	s->t0_ns = clock_now(s);
	guest_error_log_init(&s->errors, "acpi-pm");
	r = io_bus_register(bus, PC_PORT_ACPI_PM_BASE, BLOCK_LEN, &pm_ops, s, "acpi-pm");
	if (r < 0) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return r;
	}
	*ret = s;
	return 0;
}

struct acpi_pm *acpi_pm_free(struct acpi_pm *pm)
{
	if (!pm)
		return NULL;
	(void)io_bus_unregister(pm->bus, PC_PORT_ACPI_PM_BASE);
	pthread_mutex_destroy(&pm->lock);
	free(pm);
	return NULL;
}

/* Saved state, version 1: sts, en, cnt (u32 each), the timer's elapsed nanoseconds (u64). */
int acpi_pm_save(struct acpi_pm *s, struct state_out *out)
{
	uint64_t now;

	pthread_mutex_lock(&s->lock);
	now = clock_now(s);
	state_out_u32(out, s->sts);
	state_out_u32(out, s->en);
	state_out_u32(out, s->cnt);
	state_out_u64(out, now > s->t0_ns ? now - s->t0_ns : 0);
	pthread_mutex_unlock(&s->lock);
	return out->error;
}

int acpi_pm_load(struct acpi_pm *s, uint32_t version, struct state_in *in, char *errbuf,
		 size_t errlen)
{
	uint32_t sts = state_in_u32(in), en = state_in_u32(in), cnt = state_in_u32(in);
	uint64_t elapsed = state_in_u64(in), now;
	const char *bad = NULL;

	if (version != 1)
		bad = "unknown version";
	else if (in->error)
		bad = "too short";
	else if (sts > UINT16_MAX || en & ~PM1_EN_VALID || cnt & ~CNT_STORED)
		bad = "bits PM1_STS, PM1_EN or PM1_CNT does not hold";
	if (bad) {
		snprintf(errbuf, errlen, "ACPI PM state: %s", bad);
		return -EBADMSG;
	}
	pthread_mutex_lock(&s->lock);
	now = clock_now(s);
	s->sts = (uint16_t)sts;
	s->en = (uint16_t)en;
	s->cnt = (uint16_t)cnt;
	s->t0_ns = now - MIN(elapsed, now);
	s->sci_level = false; /* the new irqchip's line is low */
	update_sci(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

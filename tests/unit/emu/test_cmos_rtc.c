/* Unit tests for the MC146818 RTC, on a fake clock, through an io_bus. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "emu/cmos_rtc.h"
#include "emu_fakes.h"
#include "state/state.h"
#include "vid/pc_layout.h"

#define NSEC UINT64_C(1000000000)
/* 2026-11-22 01:02:03 UTC, a Sunday. */
#define T0 (UINT64_C(1795309323) * NSEC)

enum {
	SEC = 0,
	SEC_ALARM,
	MIN,
	MIN_ALARM,
	HOUR,
	HOUR_ALARM,
	DOW,
	DOM,
	MONTH,
	YEAR,
	REG_A,
	REG_B,
	REG_C,
	REG_D,
	CENTURY = 0x32
};

struct fixture {
	struct io_bus *bus;
	struct cmos_rtc *rtc;
	struct fake_irq irq;
	struct fake_clock clock;
};

static int setup(void **state)
{
	struct fixture *f = test_calloc(1, sizeof(*f));

	fake_clock_set(&f->clock, T0);
	assert_int_equal(io_bus_new("pio", &f->bus), 0);
	assert_int_equal(cmos_rtc_new(f->bus, fake_irq_line(&f->irq, PC_IRQ_RTC),
				      fake_clock_source(&f->clock), &f->rtc),
			 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	assert_null(cmos_rtc_free(f->rtc));
	io_bus_free(f->bus);
	test_free(f);
	return 0;
}

static uint8_t rd(struct fixture *f, uint8_t idx)
{
	pio_outb(f->bus, PC_PORT_CMOS, idx);
	return pio_inb(f->bus, PC_PORT_CMOS + 1);
}

static void wr(struct fixture *f, uint8_t idx, uint8_t v)
{
	pio_outb(f->bus, PC_PORT_CMOS, idx);
	pio_outb(f->bus, PC_PORT_CMOS + 1, v);
}

static void test_free_null(void **state)
{
	assert_null(cmos_rtc_free(NULL));
}

static void test_bcd_24h(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rd(f, REG_B), 0x02);
	assert_int_equal(rd(f, SEC), 0x03);
	assert_int_equal(rd(f, MIN), 0x02);
	assert_int_equal(rd(f, HOUR), 0x01);
	assert_int_equal(rd(f, DOW), 0x01);
	assert_int_equal(rd(f, DOM), 0x22);
	assert_int_equal(rd(f, MONTH), 0x11);
	assert_int_equal(rd(f, YEAR), 0x26);
	assert_int_equal(rd(f, CENTURY), 0x20);
	assert_int_equal(rd(f, REG_A), 0x26);
	assert_int_equal(rd(f, REG_D), 0x80);
	fake_clock_add(&f->clock, (22 * 3600 + 57 * 60 + 57) * NSEC); /* 2026-11-23 00:00:00 */
	assert_int_equal(rd(f, HOUR), 0x00);
	assert_int_equal(rd(f, DOM), 0x23);
	assert_int_equal(rd(f, DOW), 0x02);
}

static void test_binary(void **state)
{
	struct fixture *f = *state;

	wr(f, REG_B, 0x06);
	assert_int_equal(rd(f, SEC), 3);
	assert_int_equal(rd(f, MIN), 2);
	assert_int_equal(rd(f, HOUR), 1);
	assert_int_equal(rd(f, DOW), 1);
	assert_int_equal(rd(f, DOM), 22);
	assert_int_equal(rd(f, MONTH), 11);
	assert_int_equal(rd(f, YEAR), 26);
	assert_int_equal(rd(f, CENTURY), 20);
}

static void test_12h(void **state)
{
	struct fixture *f = *state;

	wr(f, REG_B, 0x00); /* BCD, 12-hour */
	assert_int_equal(rd(f, HOUR), 0x01);
	fake_clock_add(&f->clock, 12 * 3600 * NSEC); /* 13:02:03 */
	assert_int_equal(rd(f, HOUR), 0x81);
	wr(f, REG_B, 0x04); /* binary, 12-hour */
	assert_int_equal(rd(f, HOUR), 0x81);
	fake_clock_add(&f->clock, 11 * 3600 * NSEC); /* 00:02:03 */
	assert_int_equal(rd(f, HOUR), 12);
	wr(f, REG_B, 0x00);
	assert_int_equal(rd(f, HOUR), 0x12);
	fake_clock_add(&f->clock, 12 * 3600 * NSEC); /* 12:02:03: noon is PM */
	assert_int_equal(rd(f, HOUR), 0x92);
}

/* UIP: the last 244 us before each second; the registers change at the boundary. */
static void test_uip(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rd(f, REG_A) & 0x80, 0);
	fake_clock_set(&f->clock, T0 + NSEC - 244000 - 1);
	assert_int_equal(rd(f, REG_A) & 0x80, 0);
	fake_clock_set(&f->clock, T0 + NSEC - 244000);
	assert_int_equal(rd(f, REG_A) & 0x80, 0x80);
	assert_int_equal(rd(f, SEC), 0x03);
	fake_clock_set(&f->clock, T0 + NSEC - 1);
	assert_int_equal(rd(f, REG_A) & 0x80, 0x80);
	fake_clock_set(&f->clock, T0 + NSEC);
	assert_int_equal(rd(f, REG_A) & 0x80, 0);
	assert_int_equal(rd(f, SEC), 0x04);
	wr(f, REG_A, 0xA6); /* UIP is read-only */
	assert_int_equal(rd(f, REG_A), 0x26);
}

/* Linux's mc146818_set_time(): SET, DV reset, write, restore. */
static void test_set_offset_persists(void **state)
{
	struct fixture *f = *state;

	wr(f, REG_B, 0x82);
	wr(f, REG_A, 0x76);
	wr(f, YEAR, 0x30);
	wr(f, MONTH, 0x01);
	wr(f, DOM, 0x15);
	wr(f, HOUR, 0x05);
	wr(f, MIN, 0x06);
	wr(f, SEC, 0x07);
	fake_clock_add(&f->clock, 5 * NSEC); /* frozen while SET */
	assert_int_equal(rd(f, SEC), 0x07);
	assert_int_equal(rd(f, REG_A) & 0x80, 0);
	wr(f, REG_B, 0x02);
	wr(f, REG_A, 0x26);
	assert_int_equal(rd(f, SEC), 0x07);
	assert_int_equal(rd(f, YEAR), 0x30);
	fake_clock_add(&f->clock, 65 * NSEC);
	assert_int_equal(rd(f, SEC), 0x12);
	assert_int_equal(rd(f, MIN), 0x07);
	assert_int_equal(rd(f, HOUR), 0x05);
	assert_int_equal(rd(f, DOM), 0x15);
	assert_int_equal(rd(f, MONTH), 0x01);
	assert_int_equal(rd(f, YEAR), 0x30);
	assert_int_equal(rd(f, CENTURY), 0x20);
	assert_int_equal(rd(f, DOW), 0x03); /* 2030-01-15: a Tuesday */
}

static void test_write_while_running(void **state)
{
	struct fixture *f = *state;

	wr(f, MIN, 0x45);
	assert_int_equal(rd(f, MIN), 0x45);
	assert_int_equal(rd(f, SEC), 0x03);
	fake_clock_add(&f->clock, 60 * NSEC);
	assert_int_equal(rd(f, MIN), 0x46);
	assert_int_equal(rd(f, HOUR), 0x01);
}

static void test_set_clears_uie(void **state)
{
	struct fixture *f = *state;

	wr(f, REG_B, 0x12);
	assert_int_equal(rd(f, REG_B), 0x12);
	wr(f, REG_B, 0x92);
	assert_int_equal(rd(f, REG_B), 0x82);
}

static void test_register_c(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rd(f, REG_C), 0x00);
	fake_clock_add(&f->clock, NSEC);
	assert_int_equal(rd(f, REG_C), 0x50); /* UF and PF (1024 Hz), not enabled: no IRQF */
	wr(f, REG_A, 0x20);		      /* no periodic rate from here on */
	fake_clock_add(&f->clock, NSEC);
	assert_int_equal(rd(f, REG_C), 0x10);
	assert_int_equal(rd(f, REG_C), 0x00);
	assert_int_equal(fake_irq_level(&f->irq), 0);

	wr(f, REG_B, 0x12); /* UIE */
	fake_clock_add(&f->clock, NSEC);
	assert_int_equal(rd(f, REG_D), 0x80); /* any access catches up */
	assert_int_equal(fake_irq_level(&f->irq), 1);
	assert_int_equal(rd(f, REG_C), 0x90);
	assert_int_equal(fake_irq_level(&f->irq), 0);
	assert_int_equal(rd(f, REG_C), 0x00);
	wr(f, REG_C, 0xFF); /* read-only */
	wr(f, REG_D, 0x00);
	assert_int_equal(rd(f, REG_C), 0x00);
	assert_int_equal(rd(f, REG_D), 0x80);
}

static void test_alarm(void **state)
{
	struct fixture *f = *state;

	wr(f, REG_A, 0x20); /* no periodic flag */
	wr(f, HOUR_ALARM, 0x01);
	wr(f, MIN_ALARM, 0x02);
	wr(f, SEC_ALARM, 0x05);
	wr(f, REG_B, 0x22);		 /* AIE */
	fake_clock_add(&f->clock, NSEC); /* :04 */
	assert_int_equal(rd(f, REG_C), 0x10);
	fake_clock_add(&f->clock, NSEC); /* :05 */
	assert_int_equal(rd(f, REG_D), 0x80);
	assert_int_equal(fake_irq_level(&f->irq), 1);
	assert_int_equal(rd(f, REG_C), 0xB0);
	fake_clock_add(&f->clock, 3 * NSEC);
	assert_int_equal(rd(f, REG_C), 0x10);

	wr(f, SEC_ALARM, 0xC0); /* don't care: every second of 01:02 */
	fake_clock_add(&f->clock, NSEC);
	assert_int_equal(rd(f, REG_C), 0xB0);
	fake_clock_add(&f->clock, 3600 * NSEC); /* jumping past a match still finds it */
	wr(f, MIN_ALARM, 0xFF);
	wr(f, HOUR_ALARM, 0xC0);
	fake_clock_add(&f->clock, NSEC);
	assert_int_equal(rd(f, REG_C), 0xB0);
}

static void test_periodic(void **state)
{
	struct fixture *f = *state;

	wr(f, REG_B, 0x42); /* PIE at the default 1024 Hz */
	fake_clock_add(&f->clock, 500000);
	assert_int_equal(rd(f, REG_C), 0x00);
	fake_clock_add(&f->clock, 500000); /* 1 ms: one 976.5625 us period passed */
	assert_int_equal(rd(f, REG_C), 0xC0);
	wr(f, REG_A, 0x2F); /* 2 Hz */
	fake_clock_add(&f->clock, 400 * 1000000);
	assert_int_equal(rd(f, REG_C), 0x00);
	fake_clock_add(&f->clock, 100 * 1000000); /* 0.501 s */
	assert_int_equal(rd(f, REG_C), 0xC0);
	wr(f, REG_A, 0x20); /* RS 0: none */
	fake_clock_add(&f->clock, NSEC / 2);
	assert_int_equal(rd(f, REG_C) & 0x40, 0);
}

static bool wait_irq(struct fake_irq *irq, int level, unsigned ms)
{
	struct timespec ts = {0, 100000};

	for (unsigned i = 0; i < ms * 10; i++) {
		if (fake_irq_level(irq) == level)
			return true;
		nanosleep(&ts, NULL);
	}
	return fake_irq_level(irq) == level;
}

/* The timer thread raises IRQ 8 with no port access, on the device's clock. */
static void test_thread_update_interrupt(void **state)
{
	struct fixture *f = *state;

	fake_clock_set(&f->clock, T0 + NSEC - 20000);
	wr(f, REG_A, 0x20);
	(void)rd(f, REG_C); /* PF from before */
	wr(f, REG_B, 0x12);
	assert_int_equal(fake_irq_level(&f->irq), 0);
	fake_clock_set(&f->clock, T0 + NSEC);
	assert_true(wait_irq(&f->irq, 1, 2000));
	assert_int_equal(rd(f, REG_C), 0x90);
	assert_int_equal(fake_irq_level(&f->irq), 0);
}

static void test_thread_periodic_real_clock(void **state)
{
	struct fixture *f = *state;
	struct cmos_rtc *rtc;
	struct io_bus *bus;
	struct fake_irq irq = {0};

	(void)f;
	assert_int_equal(io_bus_new("pio2", &bus), 0);
	assert_int_equal(
		cmos_rtc_new(bus, fake_irq_line(&irq, PC_IRQ_RTC), (struct clock_source){0}, &rtc),
		0);
	pio_outb(bus, PC_PORT_CMOS, REG_A);
	pio_outb(bus, PC_PORT_CMOS + 1, 0x23); /* 8192 Hz */
	pio_outb(bus, PC_PORT_CMOS, REG_B);
	pio_outb(bus, PC_PORT_CMOS + 1, 0x42);
	for (int i = 0; i < 3; i++) {
		assert_true(wait_irq(&irq, 1, 1000));
		pio_outb(bus, PC_PORT_CMOS, REG_C);
		assert_int_equal(pio_inb(bus, PC_PORT_CMOS + 1) & 0xC0, 0xC0);
	}
	assert_null(cmos_rtc_free(rtc));
	io_bus_free(bus);
}

static void test_ram_and_index(void **state)
{
	struct fixture *f = *state;

	wr(f, 0x0F, 0x0A); /* shutdown status byte: plain RAM */
	wr(f, 0x7F, 0x5A);
	wr(f, 0x0E, 0x11);
	assert_int_equal(rd(f, 0x0F), 0x0A);
	assert_int_equal(rd(f, 0x7F), 0x5A);
	assert_int_equal(rd(f, 0x8F), 0x0A); /* bit 7 masks NMI, it does not index */
	assert_int_equal(rd(f, 0x80 | SEC), 0x03);
	assert_int_equal(pio_inb(f->bus, PC_PORT_CMOS), 0xFF); /* index port is write-only */
}

/* mc146818_avoid_UIP(): seconds, UIP clear, seconds again, then the rest. */
static void test_linux_get_time(void **state)
{
	struct fixture *f = *state;
	uint8_t sec;

	fake_clock_set(&f->clock, T0 + NSEC - 100000); /* inside UIP */
	sec = rd(f, SEC);
	assert_int_equal(rd(f, REG_A) & 0x80, 0x80);
	fake_clock_add(&f->clock, 200000); /* udelay: the update is over */
	sec = rd(f, SEC);
	assert_int_equal(rd(f, REG_A) & 0x80, 0);
	assert_int_equal(sec, rd(f, SEC));
	assert_int_equal(sec, 0x04);
}

static void test_bad_size_and_garbage(void **state)
{
	struct fixture *f = *state;
	unsigned lines = 0;

	fake_log_silence(&lines);
	assert_int_equal(pio_in(f->bus, PC_PORT_CMOS, 2), 0xFFFF);
	pio_out(f->bus, PC_PORT_CMOS + 1, 2, 0);
	assert_int_equal(cmos_rtc_guest_errors(f->rtc), 2);
	log_set_sink(NULL, NULL);

	wr(f, REG_B, 0x82); /* SET, then nonsense BCD everywhere */
	for (uint8_t r = SEC; r <= YEAR; r++)
		wr(f, r, 0xFF);
	wr(f, CENTURY, 0xFF);
	wr(f, REG_B, 0x02);
	fake_clock_add(&f->clock, 100 * NSEC);
	(void)rd(f, SEC);
	(void)rd(f, YEAR);
	wr(f, REG_B, 0x06);
	(void)rd(f, CENTURY);
}

static int load_into(struct fixture *f, const struct state_out *out, char *err, size_t len)
{
	struct state_in in;
	int r;

	state_in_init(&in, out->buf, out->len);
	r = cmos_rtc_load(f->rtc, CMOS_RTC_STATE_VERSION, &in, err, len);
	if (r == 0)
		assert_int_equal(state_in_finish(&in), 0);
	return r;
}

static void test_save_load(void **state)
{
	struct fixture *f = *state, *g;
	struct state_out out;
	char err[160] = "";
	unsigned i;

	/* The guest sets the clock to 07:30 and 12-hour binary mode, and keeps a byte in RAM. */
	wr(f, REG_B, 0x80 | 0x04);
	wr(f, HOUR, 7);
	wr(f, MIN, 30);
	wr(f, REG_B, 0x04 | 0x10); /* running, binary, 12-hour, update interrupts on */
	wr(f, 0x40, 0x99);
	fake_clock_add(&f->clock, 2 * NSEC); /* an update happened: UF is pending */
	/* Index left on MONTH with NMIs masked, as SeaBIOS's rtc_read leaves it (bit 7). */
	pio_outb(f->bus, PC_PORT_CMOS, 0x80 | MONTH);
	assert_int_equal(setup((void **)&g), 0);
	state_out_init(&out);
	assert_int_equal(cmos_rtc_save(f->rtc, &out), 0);
	/* Restored 100 s later: the clock kept running, as a battery-backed one does. */
	fake_clock_add(&f->clock, 100 * NSEC);
	fake_clock_set(&g->clock, fake_clock_now(&f->clock));
	assert_int_equal(load_into(g, &out, err, sizeof(err)), 0);
	assert_int_equal(pio_inb(g->bus, PC_PORT_CMOS + 1), pio_inb(f->bus, PC_PORT_CMOS + 1));
	assert_int_equal(rd(g, 0x40), 0x99);
	for (i = 0; i < 10; i++)
		assert_int_equal(rd(g, i), rd(f, i));
	assert_int_equal(rd(g, HOUR), 7);
	assert_int_equal(rd(g, REG_B), rd(f, REG_B));
	assert_int_equal(rd(g, REG_C) & 0x10, 0x10);
	/* Saved with the NMI mask as 1 (it loaded above); a build before kept 0x80: loads too. */
	assert_int_equal(out.buf[1], 1);
	out.buf[1] = 0x80;
	assert_int_equal(load_into(g, &out, err, sizeof(err)), 0);
	out.buf[1] = 2;
	assert_int_equal(load_into(g, &out, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "NMI mask"));
	out.buf[1] = 1;
	out.buf[0] = 0x80;
	assert_int_equal(load_into(g, &out, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "index"));
	out.buf[0] = MONTH;
	/* Refused: flags the chip does not have; "frozen" while registers say running; short. */
	out.buf[2 + 128 + 8 + 1] = 0x01;
	assert_int_equal(load_into(g, &out, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "flags"));
	out.buf[2 + 128 + 8 + 1] = 0;
	out.buf[2 + 128 + 8] = 1;
	assert_int_equal(load_into(g, &out, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "contradicts"));
	out.buf[2 + 128 + 8] = 0;
	out.len--;
	assert_int_equal(load_into(g, &out, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "too short"));
	assert_int_equal(rd(g, 0x40), 0x99);
	state_out_fini(&out);
	teardown((void **)&g);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_free_null),
		T(test_bcd_24h),
		T(test_binary),
		T(test_12h),
		T(test_uip),
		T(test_set_offset_persists),
		T(test_write_while_running),
		T(test_set_clears_uie),
		T(test_register_c),
		T(test_alarm),
		T(test_periodic),
		T(test_thread_update_interrupt),
		T(test_thread_periodic_real_clock),
		T(test_ram_and_index),
		T(test_linux_get_time),
		T(test_bad_size_and_garbage),
		T(test_save_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

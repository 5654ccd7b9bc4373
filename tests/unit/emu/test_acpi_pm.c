/* Unit tests for the ACPI fixed hardware registers, on a fake clock. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "emu/acpi_pm.h"
#include "emu_fakes.h"
#include "state/state.h"
#include "vid/pc_layout.h"

#define NSEC UINT64_C(1000000000)
#define STS  PC_PORT_PM1A_EVT
#define EN   (PC_PORT_PM1A_EVT + 2)
#define CNT  PC_PORT_PM1A_CNT
#define TMR  PC_PORT_PM_TMR

#define PWRBTN 0x0100
#define SLP_EN 0x2000

struct fixture {
	struct io_bus *bus;
	struct acpi_pm *pm;
	struct fake_irq sci;
	struct fake_power power;
	struct fake_clock clock;
};

static int setup(void **state)
{
	struct fixture *f = test_calloc(1, sizeof(*f));

	fake_clock_set(&f->clock, 12345 * NSEC + 678);
	assert_int_equal(io_bus_new("pio", &f->bus), 0);
	assert_int_equal(acpi_pm_new(f->bus, fake_irq_line(&f->sci, PC_IRQ_SCI),
				     fake_power_control(&f->power), fake_clock_source(&f->clock),
				     &f->pm),
			 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	assert_null(acpi_pm_free(f->pm));
	io_bus_free(f->bus);
	test_free(f);
	return 0;
}

static void test_free_null(void **state)
{
	assert_null(acpi_pm_free(NULL));
}

static void test_s5_powers_off(void **state)
{
	struct fixture *f = *state;

	/* ACPICA: SLP_TYP first, then SLP_TYP | SLP_EN. */
	pio_out(f->bus, CNT, 2, PC_ACPI_SLP_TYP_S5 << 10 | 1);
	assert_int_equal(f->power.off, 0);
	assert_int_equal(pio_in(f->bus, CNT, 2), PC_ACPI_SLP_TYP_S5 << 10 | 1);
	pio_out(f->bus, CNT, 2, PC_ACPI_SLP_TYP_S5 << 10 | SLP_EN | 1);
	assert_int_equal(f->power.off, 1);
	assert_int_equal(f->power.reset, 0);
	assert_int_equal(pio_in(f->bus, CNT, 2) & SLP_EN, 0); /* write-only */

	pio_outb(f->bus, CNT + 1, (PC_ACPI_SLP_TYP_S5 << 2) | 0x20); /* the same by bytes */
	assert_int_equal(f->power.off, 2);
}

static void test_other_sleep_states_ignored(void **state)
{
	struct fixture *f = *state;
	unsigned lines = 0;

	fake_log_silence(&lines);
	pio_out(f->bus, CNT, 2, 1 << 10 | SLP_EN); /* S1 */
	pio_out(f->bus, CNT, 2, 3 << 10 | SLP_EN); /* S3 */
	assert_int_equal(f->power.off + f->power.reset, 0);
	assert_int_equal(lines, 2);
	assert_int_equal(acpi_pm_guest_errors(f->pm), 0);
	log_set_sink(NULL, NULL);
}

static void test_sci_en_always_set(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(pio_in(f->bus, CNT, 2), 0x0001);
	pio_out(f->bus, CNT, 2, 0);
	assert_int_equal(pio_inb(f->bus, CNT) & 1, 1);
}

static void test_reset_register(void **state)
{
	struct fixture *f = *state;

	pio_outb(f->bus, PC_PORT_ACPI_RESET, 0x01);
	assert_int_equal(f->power.reset, 0);
	pio_outb(f->bus, PC_PORT_ACPI_RESET, PC_ACPI_RESET_VALUE);
	assert_int_equal(f->power.reset, 1);
	assert_int_equal(f->power.off, 0);
	assert_int_equal(pio_inb(f->bus, PC_PORT_ACPI_RESET), 0);
}

static void test_pm_timer(void **state)
{
	struct fixture *f = *state;
	uint32_t t0 = pio_in(f->bus, TMR, 4), t1, prev;

	assert_int_equal(t0, 0);
	fake_clock_add(&f->clock, NSEC);
	assert_int_equal(pio_in(f->bus, TMR, 4), 3579545);
	fake_clock_add(&f->clock, 279); /* one tick is 279.365 ns */
	assert_int_equal(pio_in(f->bus, TMR, 4), 3579545);
	fake_clock_add(&f->clock, 1);
	assert_int_equal(pio_in(f->bus, TMR, 4), 3579546);
	assert_int_equal(pio_in(f->bus, TMR, 2), 3579546 & 0xFFFF);
	assert_int_equal(pio_inb(f->bus, TMR + 2), (3579546 >> 16) & 0xFF);

	fake_clock_add(&f->clock, 3600 * NSEC); /* an hour: still exact */
	t1 = pio_in(f->bus, TMR, 4);
	assert_int_equal(t1, (uint32_t)(UINT64_C(3601) * 3579545 + 1));

	prev = t1;
	for (unsigned i = 0; i < 10000; i++) {
		uint32_t t;

		fake_clock_add(&f->clock, 97);
		t = pio_in(f->bus, TMR, 4);
		assert_true(t - prev <= 1);
		prev = t;
	}

	/* 32 bits wrap after 2^32 / 3579545 s, about 20 minutes. */
	fake_clock_set(&f->clock, 12345 * NSEC + 678 + UINT64_C(1199) * NSEC);
	t1 = pio_in(f->bus, TMR, 4);
	fake_clock_add(&f->clock, 2 * NSEC);
	assert_true(pio_in(f->bus, TMR, 4) < t1);
}

static void test_status_write_1_to_clear(void **state)
{
	struct fixture *f = *state;

	acpi_pm_power_button(f->pm);
	assert_int_equal(pio_in(f->bus, STS, 2), PWRBTN);
	pio_out(f->bus, STS, 2, 0);
	assert_int_equal(pio_in(f->bus, STS, 2), PWRBTN);
	pio_out(f->bus, STS, 2, 0xFEFF);
	assert_int_equal(pio_in(f->bus, STS, 2), PWRBTN);
	pio_out(f->bus, STS, 2, PWRBTN);
	assert_int_equal(pio_in(f->bus, STS, 2), 0);
}

static void test_sci_level(void **state)
{
	struct fixture *f = *state;

	acpi_pm_power_button(f->pm);
	assert_int_equal(fake_irq_level(&f->sci), 0); /* not enabled */
	pio_out(f->bus, EN, 2, PWRBTN);
	assert_int_equal(pio_in(f->bus, EN, 2), PWRBTN);
	assert_int_equal(fake_irq_level(&f->sci), 1);
	pio_outb(f->bus, STS + 1, 0x01); /* byte write clears it */
	assert_int_equal(fake_irq_level(&f->sci), 0);

	acpi_pm_power_button(f->pm);
	assert_int_equal(fake_irq_level(&f->sci), 1);
	assert_int_equal(pio_in(f->bus, STS, 4), (uint32_t)PWRBTN << 16 | PWRBTN);
	pio_out(f->bus, STS, 4, PWRBTN); /* dword: clears STS, and disables EN */
	assert_int_equal(pio_in(f->bus, STS, 4), 0);
	assert_int_equal(fake_irq_level(&f->sci), 0);
	acpi_pm_power_button(f->pm);
	assert_int_equal(fake_irq_level(&f->sci), 0);
}

static void test_guest_errors(void **state)
{
	struct fixture *f = *state;
	unsigned lines = 0;

	fake_log_silence(&lines);
	assert_int_equal(pio_in(f->bus, PC_PORT_ACPI_PM_BASE + 6, 2), 0xFFFF); /* reserved */
	assert_int_equal(pio_in(f->bus, PC_PORT_ACPI_PM_BASE + 0xD, 1), 0xFF);
	assert_int_equal(pio_in(f->bus, PC_PORT_ACPI_PM_BASE + 0xE, 4), 0xFFFFFFFF); /* overhangs */
	assert_int_equal(pio_in(f->bus, PC_PORT_ACPI_PM_BASE + 0x4, 4), 0xFFFFFFFF);
	pio_out(f->bus, TMR, 4, 0);
	pio_out(f->bus, PC_PORT_ACPI_PM_BASE + 0xC, 2, PC_ACPI_RESET_VALUE);
	assert_int_equal(f->power.reset, 0);
	assert_int_equal(acpi_pm_guest_errors(f->pm), 6);
	log_set_sink(NULL, NULL);
}

static int load_into(struct fixture *f, const struct state_out *out, char *err, size_t len)
{
	struct state_in in;
	int r;

	state_in_init(&in, out->buf, out->len);
	r = acpi_pm_load(f->pm, ACPI_PM_STATE_VERSION, &in, err, len);
	if (r == 0)
		assert_int_equal(state_in_finish(&in), 0);
	return r;
}

static void test_save_load(void **state)
{
	struct fixture *f = *state, *g;
	struct state_out out;
	char err[160] = "";
	uint32_t timer;

	pio_out(f->bus, PC_PORT_PM1A_EVT + 2, 2, 0x0100); /* PWRBTN_EN */
	acpi_pm_power_button(f->pm);			  /* PWRBTN_STS: SCI up */
	assert_int_equal(fake_irq_level(&f->sci), 1);
	fake_clock_add(&f->clock, 5 * NSEC);
	timer = pio_in(f->bus, PC_PORT_PM_TMR, 4);
	assert_int_equal(setup((void **)&g), 0);
	fake_clock_add(&g->clock, 100 * NSEC); /* the restoring host's clock is elsewhere */
	state_out_init(&out);
	assert_int_equal(acpi_pm_save(f->pm, &out), 0);
	assert_int_equal(load_into(g, &out, err, sizeof(err)), 0);
	assert_int_equal(fake_irq_level(&g->sci), 1);
	assert_int_equal(pio_in(g->bus, PC_PORT_PM1A_EVT, 4), pio_in(f->bus, PC_PORT_PM1A_EVT, 4));
	assert_int_equal(pio_in(g->bus, PC_PORT_PM1A_CNT, 2), pio_in(f->bus, PC_PORT_PM1A_CNT, 2));
	/* The timer goes on from where it was saved. */
	assert_int_equal(pio_in(g->bus, PC_PORT_PM_TMR, 4), timer);
	fake_clock_add(&g->clock, NSEC);
	assert_int_equal(pio_in(g->bus, PC_PORT_PM_TMR, 4), timer + 3579545);
	out.buf[4] = 0xFF; /* PM1_EN: reserved bits */
	assert_int_equal(load_into(g, &out, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "PM1_EN"));
	out.len = 12;
	assert_int_equal(load_into(g, &out, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "too short"));
	state_out_fini(&out);
	teardown((void **)&g);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_free_null),
		T(test_s5_powers_off),
		T(test_other_sleep_states_ignored),
		T(test_sci_en_always_set),
		T(test_reset_register),
		T(test_pm_timer),
		T(test_status_write_1_to_clear),
		T(test_sci_level),
		T(test_guest_errors),
		T(test_save_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

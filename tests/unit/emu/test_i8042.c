/* Unit tests for the i8042 keyboard controller, through an io_bus. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "emu/i8042.h"
#include "emu_fakes.h"
#include "state/state.h"
#include "vid/pc_layout.h"

#define DATA PC_PORT_I8042_DATA
#define CMD  PC_PORT_I8042_CMD

#define STR_OBF	    0x01
#define STR_SYS	    0x04
#define STR_CMDDAT  0x08
#define STR_KEYLOCK 0x10
#define STR_AUXDATA 0x20
#define STR_TIMEOUT 0x40

struct fixture {
	struct io_bus *bus;
	struct i8042 *kbc;
	struct fake_irq kbd, aux;
	struct fake_power power;
};

static int setup(void **state)
{
	struct fixture *f = test_calloc(1, sizeof(*f));

	assert_int_equal(io_bus_new("pio", &f->bus), 0);
	assert_int_equal(i8042_new(f->bus, fake_irq_line(&f->kbd, PC_IRQ_KEYBOARD),
				   fake_irq_line(&f->aux, PC_IRQ_MOUSE),
				   fake_power_control(&f->power), &f->kbc),
			 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	assert_null(i8042_free(f->kbc));
	io_bus_free(f->bus);
	test_free(f);
	return 0;
}

static uint8_t status(struct fixture *f)
{
	return pio_inb(f->bus, CMD);
}

/* Like Linux's i8042_wait_read() + i8042_read_data(): -1 if nothing came. */
static int read_byte(struct fixture *f)
{
	if (!(status(f) & STR_OBF))
		return -1;
	return pio_inb(f->bus, DATA);
}

static void command(struct fixture *f, uint8_t cmd)
{
	pio_outb(f->bus, CMD, cmd);
}

static void data(struct fixture *f, uint8_t v)
{
	pio_outb(f->bus, DATA, v);
}

static void test_free_null(void **state)
{
	assert_null(i8042_free(NULL));
}

static void test_status_at_reset(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(status(f), STR_KEYLOCK | STR_SYS);
	assert_int_equal(read_byte(f), -1);
	command(f, 0xAD);
	assert_int_equal(status(f) & STR_CMDDAT, STR_CMDDAT);
}

static void test_self_and_interface_tests(void **state)
{
	struct fixture *f = *state;

	command(f, 0xAA);
	assert_int_equal(status(f) & STR_OBF, STR_OBF);
	assert_int_equal(read_byte(f), 0x55);
	assert_int_equal(read_byte(f), -1);
	command(f, 0xAB);
	assert_int_equal(read_byte(f), 0x00);
	command(f, 0xA9);
	assert_int_equal(read_byte(f), 0x00);
	assert_int_equal(i8042_guest_errors(f->kbc), 0);
}

static void test_command_byte(void **state)
{
	struct fixture *f = *state;

	command(f, 0x20);
	assert_int_equal(read_byte(f), 0x65); /* XLATE, AUXDIS, SYS, KBDINT */
	command(f, 0x60);
	data(f, 0x47);
	command(f, 0x20);
	assert_int_equal(read_byte(f), 0x47);
	command(f, 0xAD);
	command(f, 0xA7);
	command(f, 0x20);
	assert_int_equal(read_byte(f), 0x47 | 0x10 | 0x20);
	command(f, 0xAE);
	command(f, 0xA8);
	command(f, 0x20);
	assert_int_equal(read_byte(f), 0x47);
}

static void test_reset_pulse(void **state)
{
	struct fixture *f = *state;

	command(f, 0xFF); /* pulses nothing */
	assert_int_equal(f->power.reset, 0);
	command(f, 0xFE);
	assert_int_equal(f->power.reset, 1);
	assert_int_equal(f->power.off, 0);
}

static void test_output_port(void **state)
{
	struct fixture *f = *state;
	int v;

	command(f, 0xD0);
	v = read_byte(f);
	assert_int_equal(v & 0x03, 0x03); /* not in reset, A20 on */
	command(f, 0xD1);
	data(f, 0xDF);
	assert_int_equal(f->power.reset, 0);
	command(f, 0xD1);
	data(f, 0xDE); /* bit 0 low: reset */
	assert_int_equal(f->power.reset, 1);
}

/* What atkbd's probe sends, and each reply byte as a new IRQ 1 edge. */
static void test_keyboard_commands(void **state)
{
	struct fixture *f = *state;
	unsigned raises = fake_irq_raises(&f->kbd);

	data(f, 0xFF);
	assert_int_equal(fake_irq_level(&f->kbd), 1);
	assert_int_equal(read_byte(f), 0xFA);
	assert_int_equal(fake_irq_level(&f->kbd), 1);
	assert_int_equal(read_byte(f), 0xAA);
	assert_int_equal(fake_irq_level(&f->kbd), 0);
	assert_int_equal(fake_irq_raises(&f->kbd) - raises, 2);

	data(f, 0xF2);
	assert_int_equal(read_byte(f), 0xFA);
	assert_int_equal(read_byte(f), 0xAB);
	assert_int_equal(read_byte(f), 0x41); /* 0x83 through the translator */
	command(f, 0x60);
	data(f, 0x05); /* translation off */
	data(f, 0xF2);
	assert_int_equal(read_byte(f), 0xFA);
	assert_int_equal(read_byte(f), 0xAB);
	assert_int_equal(read_byte(f), 0x83);

	data(f, 0xED); /* set LEDs: ACK, parameter: ACK */
	assert_int_equal(read_byte(f), 0xFA);
	data(f, 0x00);
	assert_int_equal(read_byte(f), 0xFA);
	data(f, 0xF0); /* get scancode set */
	data(f, 0x00);
	assert_int_equal(read_byte(f), 0xFA);
	assert_int_equal(read_byte(f), 0xFA);
	assert_int_equal(read_byte(f), 0x02);
	data(f, 0xF4);
	assert_int_equal(read_byte(f), 0xFA);
	data(f, 0xEE);
	assert_int_equal(read_byte(f), 0xEE);
	assert_int_equal(read_byte(f), -1);
	assert_int_equal(fake_irq_level(&f->aux), 0);
}

static void test_kbd_irq_follows_command_byte(void **state)
{
	struct fixture *f = *state;

	command(f, 0x60);
	data(f, 0x64); /* KBDINT off */
	data(f, 0xF4);
	assert_int_equal(status(f) & STR_OBF, STR_OBF);
	assert_int_equal(fake_irq_level(&f->kbd), 0);
	command(f, 0x60);
	data(f, 0x65);
	assert_int_equal(fake_irq_level(&f->kbd), 1);
	assert_int_equal(read_byte(f), 0xFA);
	assert_int_equal(fake_irq_level(&f->kbd), 0);
}

/* i8042_check_aux(): the loop works and reaches IRQ 12; the device is absent. */
static void test_aux_port(void **state)
{
	struct fixture *f = *state;

	command(f, 0xD3);
	data(f, 0x5A);
	assert_int_equal(status(f) & (STR_OBF | STR_AUXDATA), STR_OBF | STR_AUXDATA);
	assert_int_equal(fake_irq_level(&f->aux), 0); /* AUXINT is off */
	assert_int_equal(read_byte(f), 0x5A);

	command(f, 0x60);
	data(f, 0x47 | 0x02); /* AUXINT on */
	command(f, 0xA8);
	command(f, 0xD3);
	data(f, 0xA5);
	assert_int_equal(fake_irq_level(&f->aux), 1);
	assert_int_equal(fake_irq_level(&f->kbd), 0);
	assert_int_equal(read_byte(f), 0xA5);
	assert_int_equal(fake_irq_level(&f->aux), 0);

	command(f, 0xD4); /* to the mouse: nobody answers */
	data(f, 0xF2);
	assert_int_equal(status(f) & (STR_AUXDATA | STR_TIMEOUT), STR_AUXDATA | STR_TIMEOUT);
	assert_int_equal(read_byte(f), 0xFE);
	assert_int_equal(status(f) & STR_TIMEOUT, 0);
}

static void test_mux_probe_fails(void **state)
{
	struct fixture *f = *state;

	command(f, 0xD3); /* i8042_set_mux_mode(): an active MUX would answer 0x0F */
	data(f, 0xF0);
	assert_int_not_equal(read_byte(f), 0x0F);
}

static void test_guest_errors(void **state)
{
	struct fixture *f = *state;
	unsigned lines = 0;

	fake_log_silence(&lines);
	command(f, 0x05);
	assert_int_equal(pio_in(f->bus, DATA, 2), 0xFFFF);
	pio_out(f->bus, CMD, 4, 0xFE);
	assert_int_equal(f->power.reset, 0);
	assert_int_equal(i8042_guest_errors(f->kbc), 3);
	log_set_sink(NULL, NULL);
}

static void test_queue_overflow_is_bounded(void **state)
{
	struct fixture *f = *state;
	int n = 0;

	for (int i = 0; i < 100; i++)
		data(f, 0xF2);
	while (read_byte(f) >= 0)
		n++;
	assert_true(n > 0 && n <= 16);
}

static void test_port_taken(void **state)
{
	struct fixture *f = *state;
	struct i8042 *k = NULL;

	assert_int_equal(i8042_new(f->bus, (struct irq_line){0}, (struct irq_line){0},
				   (struct power_control){0}, &k),
			 -EEXIST);
	assert_null(k);
	assert_int_equal(read_byte(f), -1); /* the first one still answers */
}

static int load_into(struct fixture *f, const struct state_out *out, char *err, size_t len)
{
	struct state_in in;
	int r;

	state_in_init(&in, out->buf, out->len);
	r = i8042_load(f->kbc, I8042_STATE_VERSION, &in, err, len);
	if (r == 0)
		assert_int_equal(state_in_finish(&in), 0);
	return r;
}

static void test_save_load(void **state)
{
	struct fixture *f = *state, *g;
	struct state_out out;
	char err[160] = "";
	int a, b;

	command(f, 0x60); /* write the command byte: keyboard interrupt on, no translation */
	data(f, 0x05);
	command(f, 0xD2); /* two bytes "from the keyboard" queued, then a command left pending */
	data(f, 0x11);
	command(f, 0xD2);
	data(f, 0x22);
	command(f, 0x61); /* RAM byte 1: waits for its data byte */
	assert_int_equal(fake_irq_level(&f->kbd), 1);
	assert_int_equal(setup((void **)&g), 0);
	state_out_init(&out);
	assert_int_equal(i8042_save(f->kbc, &out), 0);
	assert_int_equal(load_into(g, &out, err, sizeof(err)), 0);
	assert_int_equal(fake_irq_level(&g->kbd), 1);
	assert_int_equal(status(g), status(f));
	/* The pending command takes its byte in the restored controller. */
	data(f, 0x77);
	data(g, 0x77);
	do {
		a = read_byte(f);
		b = read_byte(g);
		assert_int_equal(a, b);
	} while (a >= 0);
	command(f, 0x21);
	command(g, 0x21);
	assert_int_equal(read_byte(g), 0x77);
	assert_int_equal(read_byte(f), 0x77);
	command(g, 0x20);
	assert_int_equal(read_byte(g), 0x05);
	/* Refused: a pending command that takes no byte; too many queued bytes; short. */
	out.buf[32 + 1] = 0xAA;
	assert_int_equal(load_into(g, &out, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "takes no data byte"));
	out.buf[32 + 1] = 0x61;
	out.buf[32 + 7] = 17;
	assert_int_equal(load_into(g, &out, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "more bytes queued"));
	out.buf[32 + 7] = 2;
	out.len--;
	assert_int_equal(load_into(g, &out, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "too short"));
	state_out_fini(&out);
	teardown((void **)&g);
}

/* Keys from the host: set 1 as the guest reads it translated, set 2 without translation. */
static void test_host_keys(void **state)
{
	struct fixture *f = *state;
	const uint8_t a_down[] = {0x1E}, a_up[] = {0x9E}, up_down[] = {0xE0, 0x48},
		      up_up[] = {0xE0, 0xC8}, pause[] = {0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5};
	const uint8_t pause2[] = {0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77};
	uint64_t sent, dropped;

	/* The power-on command byte translates: the guest reads set 1. */
	assert_int_equal(i8042_send_keys(f->kbc, a_down, 1), 0);
	assert_int_equal(fake_irq_level(&f->kbd), 1);
	assert_int_equal(read_byte(f), 0x1E);
	assert_int_equal(i8042_send_keys(f->kbc, a_up, 1), 0);
	assert_int_equal(read_byte(f), 0x9E);
	assert_int_equal(i8042_send_keys(f->kbc, up_down, 2), 0);
	assert_int_equal(read_byte(f), 0xE0);
	assert_int_equal(read_byte(f), 0x48);

	/* Translation off (command byte 0x01): set 2, F0 before break codes. */
	command(f, 0x60);
	data(f, 0x01);
	assert_int_equal(i8042_send_keys(f->kbc, up_down, 2), 0);
	assert_int_equal(i8042_send_keys(f->kbc, up_up, 2), 0);
	assert_int_equal(read_byte(f), 0xE0);
	assert_int_equal(read_byte(f), 0x75);
	assert_int_equal(read_byte(f), 0xE0);
	assert_int_equal(read_byte(f), 0xF0);
	assert_int_equal(read_byte(f), 0x75);
	assert_int_equal(i8042_send_keys(f->kbc, pause, sizeof(pause)), 0);
	for (size_t i = 0; i < sizeof(pause2); i++)
		assert_int_equal(read_byte(f), pause2[i]);
	assert_int_equal(read_byte(f), -1);

	/* No room for the whole sequence: nothing of it is queued. */
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(i8042_send_keys(f->kbc, up_down, 2), 0);
	assert_int_equal(i8042_send_keys(f->kbc, a_down, 1), -EAGAIN);
	for (unsigned i = 0; i < 8; i++) {
		assert_int_equal(read_byte(f), 0xE0);
		assert_int_equal(read_byte(f), 0x75);
	}
	assert_int_equal(read_byte(f), -1);

	/* The keyboard told to stop scanning (F5): keys are dropped; F4 enables it again. */
	data(f, 0xF5);
	assert_int_equal(read_byte(f), 0xFA);
	assert_int_equal(i8042_send_keys(f->kbc, a_down, 1), -EAGAIN);
	assert_int_equal(read_byte(f), -1);
	data(f, 0xF4);
	assert_int_equal(read_byte(f), 0xFA);
	assert_int_equal(i8042_send_keys(f->kbc, a_down, 1), 0);
	assert_int_equal(read_byte(f), 0x1C);
	assert_int_equal(i8042_send_keys(f->kbc, a_down, 0), -EINVAL);
	i8042_key_stats(f->kbc, &sent, &dropped);
	assert_int_equal(sent, 15);
	assert_int_equal(dropped, 2);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_free_null),
		T(test_status_at_reset),
		T(test_self_and_interface_tests),
		T(test_command_byte),
		T(test_reset_pulse),
		T(test_output_port),
		T(test_keyboard_commands),
		T(test_kbd_irq_follows_command_byte),
		T(test_aux_port),
		T(test_mux_probe_fails),
		T(test_guest_errors),
		T(test_queue_overflow_is_bounded),
		T(test_port_taken),
		T(test_save_load),
		T(test_host_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

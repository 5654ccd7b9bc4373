/* Unit tests for the POST diagnostic port. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "emu/post_port.h"
#include "emu_fakes.h"
#include "state/state.h"
#include "vid/pc_layout.h"

static void test_free_null(void **state)
{
	assert_null(post_port_free(NULL));
}

static void test_last_value(void **state)
{
	struct io_bus *bus;
	struct post_port *post;
	unsigned lines = 0;

	assert_int_equal(io_bus_new("pio", &bus), 0);
	assert_int_equal(post_port_new(bus, &post), 0);
	assert_int_equal(pio_inb(bus, PC_PORT_POST), 0);
	pio_outb(bus, PC_PORT_POST, 0x12); /* Linux's outb_p delay */
	pio_outb(bus, PC_PORT_POST, 0xAB);
	assert_int_equal(pio_inb(bus, PC_PORT_POST), 0xAB);
	assert_int_equal(post_port_last(post), 0xAB);
	assert_int_equal(post_port_guest_errors(post), 0);

	fake_log_silence(&lines);
	pio_out(bus, PC_PORT_POST, 2, 0x3412);
	assert_int_equal(pio_in(bus, PC_PORT_POST, 4), 0xFFFFFFFF);
	assert_int_equal(post_port_last(post), 0xAB);
	assert_int_equal(post_port_guest_errors(post), 2);
	log_set_sink(NULL, NULL);

	assert_int_equal(post_port_new(bus, &(struct post_port *){NULL}), -EEXIST);
	assert_null(post_port_free(post));
	assert_int_equal(pio_inb(bus, PC_PORT_POST), 0xFF); /* unregistered */
	io_bus_free(bus);
}

static void test_save_load(void **state)
{
	struct io_bus *bus;
	struct post_port *a, *b;
	struct state_out out;
	struct state_in in;
	char err[100] = "";

	assert_int_equal(io_bus_new("pio", &bus), 0);
	assert_int_equal(post_port_new(bus, &a), 0);
	pio_outb(bus, PC_PORT_POST, 0x5A);
	state_out_init(&out);
	assert_int_equal(post_port_save(a, &out), 0);
	assert_null(post_port_free(a));
	assert_int_equal(post_port_new(bus, &b), 0);
	state_in_init(&in, out.buf, out.len);
	assert_int_equal(post_port_load(b, POST_PORT_STATE_VERSION, &in, err, sizeof(err)), 0);
	assert_int_equal(state_in_finish(&in), 0);
	assert_int_equal(pio_inb(bus, PC_PORT_POST), 0x5A);
	state_in_init(&in, out.buf, 0);
	assert_int_equal(post_port_load(b, POST_PORT_STATE_VERSION, &in, err, sizeof(err)),
			 -EBADMSG);
	assert_non_null(strstr(err, "too short"));
	state_out_fini(&out);
	post_port_free(b);
	io_bus_free(bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_free_null),
		cmocka_unit_test(test_last_value),
		cmocka_unit_test(test_save_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

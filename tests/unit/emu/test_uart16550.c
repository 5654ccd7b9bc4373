/* Unit tests for the 16550A UART, driven through an io_bus as a guest would. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "emu/uart16550.h"
#include "emu_fakes.h"
#include "state/state.h"
#include "vid/pc_layout.h"

#define COM1 PC_PORT_COM1
enum { RBR, IER, IIR, LCR, MCR, LSR, MSR, SCR };
#define FCR IIR
#define DLL RBR
#define DLM IER

struct fixture {
	struct io_bus *bus;
	struct uart16550 *uart;
	struct fake_irq irq;
	uint8_t out[256];
	size_t out_len;
	unsigned rx_ready;
};

static void fx_tx(void *opaque, const uint8_t *buf, size_t len)
{
	struct fixture *f = opaque;

	for (size_t i = 0; i < len && f->out_len < sizeof(f->out); i++)
		f->out[f->out_len++] = buf[i];
}

static void fx_rx_ready(void *opaque)
{
	((struct fixture *)opaque)->rx_ready++;
}

static int setup(void **state)
{
	struct fixture *f = test_calloc(1, sizeof(*f));
	struct uart16550_config cfg = {
		.name = "COM1",
		.port = COM1,
		.tx = fx_tx,
		.rx_ready = fx_rx_ready,
		.opaque = f,
	};

	cfg.irq = fake_irq_line(&f->irq, PC_IRQ_COM1);
	assert_int_equal(io_bus_new("pio", &f->bus), 0);
	assert_int_equal(uart16550_new(f->bus, &cfg, &f->uart), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	assert_null(uart16550_free(f->uart));
	io_bus_free(f->bus);
	test_free(f);
	return 0;
}

static uint8_t rd(struct fixture *f, unsigned reg)
{
	return pio_inb(f->bus, COM1 + reg);
}

static void wr(struct fixture *f, unsigned reg, uint8_t v)
{
	pio_outb(f->bus, COM1 + reg, v);
}

static void test_free_null(void **state)
{
	assert_null(uart16550_free(NULL));
}

static void test_reset_state(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rd(f, IER), 0);
	assert_int_equal(rd(f, IIR), 0x01);
	assert_int_equal(rd(f, LSR), 0x60);
	assert_int_equal(rd(f, MCR), 0);
	assert_int_equal(fake_irq_level(&f->irq), 0);
}

/* serial8250's autoconfig(): IER bits 0-3 only, scratch register, loopback MSR test. */
static void test_linux_probe(void **state)
{
	struct fixture *f = *state;

	wr(f, IER, 0);
	assert_int_equal(rd(f, IER) & 0x0F, 0);
	wr(f, IER, 0x0F);
	assert_int_equal(rd(f, IER) & 0x0F, 0x0F);
	wr(f, IER, 0xFF);
	assert_int_equal(rd(f, IER), 0x0F);
	wr(f, IER, 0);

	wr(f, SCR, 0xA5);
	assert_int_equal(rd(f, SCR), 0xA5);
	wr(f, SCR, 0x5A);
	assert_int_equal(rd(f, SCR), 0x5A);

	wr(f, MCR, 0x10 | 0x0A);		   /* LOOP | RTS | OUT2 */
	assert_int_equal(rd(f, MSR) & 0xF0, 0x90); /* CTS | DCD */
	wr(f, MCR, 0x10 | 0x05);		   /* LOOP | DTR | OUT1 */
	assert_int_equal(rd(f, MSR) & 0xF0, 0x60); /* DSR | RI */
	wr(f, MCR, 0);
	assert_int_equal(rd(f, MSR) & 0xF0, 0xB0); /* a terminal: DCD DSR CTS */
}

/* FIFO detection and autoconfig_16550a()'s tests for cousins it must not look like. */
static void test_fifo_detection_16550a(void **state)
{
	struct fixture *f = *state;
	uint8_t mcr, excr;

	wr(f, FCR, 0x01);
	assert_int_equal(rd(f, IIR) >> 6, 3);
	wr(f, FCR, 0xE7);
	assert_int_equal(rd(f, IIR) & 0xE0, 0xC0); /* FIFO on, no 64-byte FIFO (bit 5) */

	wr(f, LCR, 0x80); /* EFR probe: offset 2 with DLAB is IIR, not 0 */
	assert_int_not_equal(rd(f, IIR), 0);
	wr(f, LCR, 0xBF);
	assert_int_not_equal(rd(f, IIR), 0);

	wr(f, LCR, 0); /* NS SuperIO probe: EXCR1 is IIR here, it does not follow MCR.LOOP */
	mcr = rd(f, MCR);
	wr(f, LCR, 0xE0);
	excr = rd(f, IIR);
	assert_int_equal((excr ^ mcr) & 0x10, 0);
	wr(f, LCR, 0);
	wr(f, MCR, mcr ^ 0x10);
	wr(f, LCR, 0xE0);
	excr = rd(f, IIR);
	wr(f, LCR, 0);
	wr(f, MCR, mcr);
	assert_int_equal((excr ^ mcr) & 0x10, 0);

	wr(f, FCR, 0x21); /* 16750 probe: no bit 5 with or without DLAB */
	assert_int_equal(rd(f, IIR) & 0xE0, 0xC0);
	wr(f, LCR, 0x80);
	wr(f, FCR, 0x21);
	assert_int_equal(rd(f, IIR) & 0xE0, 0xC0);
	wr(f, FCR, 0);
	wr(f, LCR, 0);
	assert_int_equal(rd(f, IIR) & 0xC0, 0);

	wr(f, IER, 0x40); /* XScale UUE bit does not stick */
	assert_int_equal(rd(f, IER) & 0x40, 0);
}

static void test_dlab(void **state)
{
	struct fixture *f = *state;

	wr(f, IER, 0x05);
	wr(f, LCR, 0x83);
	wr(f, DLL, 0x01);
	wr(f, DLM, 0x02);
	assert_int_equal(rd(f, DLL), 0x01);
	assert_int_equal(rd(f, DLM), 0x02);
	wr(f, LCR, 0x03);
	assert_int_equal(rd(f, LCR), 0x03);
	assert_int_equal(rd(f, IER), 0x05);
	assert_int_equal(f->out_len, 0); /* the DLL write did not transmit */
	wr(f, LCR, 0x83);
	assert_int_equal(rd(f, DLL), 0x01);
}

static void test_transmit(void **state)
{
	struct fixture *f = *state;

	wr(f, RBR, 'h');
	wr(f, RBR, 'i');
	assert_int_equal(f->out_len, 2);
	assert_memory_equal(f->out, "hi", 2);
	assert_int_equal(rd(f, LSR) & 0x60, 0x60);
}

/* serial8250_do_startup()'s THRE test and the transmit interrupt cycle. */
static void test_thre_interrupt(void **state)
{
	struct fixture *f = *state;

	wr(f, MCR, 0x08); /* OUT2 */
	wr(f, IER, 0x02);
	assert_int_equal(fake_irq_level(&f->irq), 1);
	assert_int_equal(rd(f, IIR), 0x02);
	assert_int_equal(fake_irq_level(&f->irq), 0); /* reading IIR cleared it */
	assert_int_equal(rd(f, IIR), 0x01);
	wr(f, IER, 0);
	wr(f, IER, 0x02); /* re-enabling re-asserts */
	assert_int_equal(rd(f, IIR), 0x02);

	wr(f, IER, 0x02);
	assert_int_equal(rd(f, IIR), 0x01); /* rewriting the same IER does not */
	wr(f, RBR, 'x');		    /* a THR write empties at once: THRE again */
	assert_int_equal(fake_irq_level(&f->irq), 1);
	assert_int_equal(rd(f, IIR), 0x02);
	wr(f, IER, 0);
	assert_int_equal(fake_irq_level(&f->irq), 0);
}

static void test_out2_gates_irq(void **state)
{
	struct fixture *f = *state;

	wr(f, IER, 0x02);
	assert_int_equal(fake_irq_level(&f->irq), 0);
	wr(f, MCR, 0x08);
	assert_int_equal(fake_irq_level(&f->irq), 1);
	wr(f, MCR, 0x00);
	assert_int_equal(fake_irq_level(&f->irq), 0);
	wr(f, MCR, 0x18); /* loopback forces OUT2 inactive */
	assert_int_equal(fake_irq_level(&f->irq), 0);
	assert_int_equal(rd(f, IIR), 0x02); /* the source is still there */
}

static void test_rx_trigger_and_timeout(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[20];

	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)('a' + i);
	wr(f, FCR, 0xC7); /* FIFO on, trigger 14 */
	wr(f, IER, 0x01);
	wr(f, MCR, 0x08);
	assert_int_equal(uart16550_receive(f->uart, buf, 13), 13);
	assert_int_equal(fake_irq_level(&f->irq), 1);
	assert_int_equal(rd(f, IIR), 0xCC); /* below the trigger: character timeout */
	assert_int_equal(uart16550_receive(f->uart, buf + 13, 1), 1);
	assert_int_equal(rd(f, IIR), 0xC4); /* at the trigger: data available */
	assert_int_equal(uart16550_receive(f->uart, buf + 14, 6), 2);
	assert_false(uart16550_can_receive(f->uart));
	assert_int_equal(f->rx_ready, 0);

	assert_int_equal(rd(f, LSR) & 0x03, 0x01); /* DR, no overrun */
	assert_int_equal(rd(f, RBR), 'a');
	assert_int_equal(f->rx_ready, 1); /* room again: the host is told once */
	for (unsigned i = 1; i < 16; i++)
		assert_int_equal(rd(f, RBR), 'a' + i);
	assert_int_equal(f->rx_ready, 1);
	assert_int_equal(rd(f, LSR) & 0x01, 0);
	assert_int_equal(rd(f, IIR), 0xC1);
	assert_int_equal(fake_irq_level(&f->irq), 0);
	assert_int_equal(rd(f, RBR), 'a' + 15); /* empty RBR repeats the last byte */
}

static void test_trigger_levels(void **state)
{
	struct fixture *f = *state;
	static const uint8_t fcr[] = {0x01, 0x41, 0x81, 0xC1};
	static const unsigned level[] = {1, 4, 8, 14};
	uint8_t buf[16] = {0};

	wr(f, IER, 0x01);
	for (unsigned i = 0; i < 4; i++) {
		wr(f, FCR, (uint8_t)(fcr[i] | 0x02));
		if (level[i] > 1) {
			uart16550_receive(f->uart, buf, level[i] - 1);
			assert_int_equal(rd(f, IIR) & 0x0F, 0x0C);
		}
		uart16550_receive(f->uart, buf, 1);
		assert_int_equal(rd(f, IIR) & 0x0F, 0x04);
	}
}

static void test_16450_mode_holds_one(void **state)
{
	struct fixture *f = *state;
	const uint8_t buf[2] = {'x', 'y'};

	wr(f, IER, 0x01);
	assert_int_equal(uart16550_receive(f->uart, buf, 2), 1);
	assert_int_equal(rd(f, IIR), 0x04);
	assert_int_equal(rd(f, RBR), 'x');
	assert_int_equal(f->rx_ready, 1);
	assert_int_equal(uart16550_receive(f->uart, buf + 1, 1), 1);
	assert_int_equal(rd(f, RBR), 'y');
}

static void test_loopback_overrun(void **state)
{
	struct fixture *f = *state;

	wr(f, FCR, 0x07);
	wr(f, MCR, 0x10);
	wr(f, IER, 0x05);
	for (unsigned i = 0; i < 17; i++)
		wr(f, RBR, (uint8_t)i);
	assert_int_equal(f->out_len, 0);    /* loopback: nothing on the line */
	assert_int_equal(rd(f, IIR), 0xC6); /* line status outranks data */
	assert_int_equal(rd(f, LSR) & 0x03, 0x03);
	assert_int_equal(rd(f, LSR) & 0x03, 0x01); /* reading LSR cleared OE */
	assert_int_equal(rd(f, IIR), 0xC4);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(rd(f, RBR), i); /* the 17th byte was lost */
	assert_int_equal(rd(f, LSR) & 0x01, 0);

	wr(f, FCR, 0x00); /* 16450 mode: the new byte overwrites RBR */
	wr(f, RBR, 'p');
	wr(f, RBR, 'q');
	assert_int_equal(rd(f, LSR) & 0x03, 0x03);
	assert_int_equal(rd(f, RBR), 'q');
}

static void test_loopback_drops_host_input(void **state)
{
	struct fixture *f = *state;
	const uint8_t buf[3] = {1, 2, 3};

	wr(f, MCR, 0x10);
	assert_int_equal(uart16550_receive(f->uart, buf, 3), 3);
	assert_int_equal(rd(f, LSR) & 0x01, 0);
}

static void test_fifo_reset(void **state)
{
	struct fixture *f = *state;
	const uint8_t buf[4] = {1, 2, 3, 4};

	wr(f, FCR, 0x01);
	assert_int_equal(uart16550_receive(f->uart, buf, 4), 4);
	wr(f, FCR, 0x03);
	assert_int_equal(rd(f, LSR) & 0x01, 0);
	assert_int_equal(uart16550_receive(f->uart, buf, 4), 4);
	wr(f, FCR, 0x00); /* leaving FIFO mode clears it too */
	assert_int_equal(rd(f, LSR) & 0x01, 0);
}

static void test_modem_status_interrupt(void **state)
{
	struct fixture *f = *state;

	wr(f, IER, 0x08);
	assert_int_equal(rd(f, IIR), 0x01);
	wr(f, MCR, 0x10 | 0x01); /* loopback, DTR: DCD, CTS drop; DSR stays */
	assert_int_equal(rd(f, IIR), 0x00);
	assert_int_equal(rd(f, MSR), 0x20 | 0x08 | 0x01); /* DSR, DDCD, DCTS */
	assert_int_equal(rd(f, IIR), 0x01);
	wr(f, MCR, 0x10 | 0x04);		   /* RI rises: no TERI */
	assert_int_equal(rd(f, MSR) & 0x0F, 0x02); /* DDSR */
	wr(f, MCR, 0x10);			   /* RI falls: TERI */
	assert_int_equal(rd(f, MSR) & 0x0F, 0x04);
}

static void test_bad_size(void **state)
{
	struct fixture *f = *state;
	unsigned lines = 0;

	fake_log_silence(&lines);
	assert_int_equal(pio_in(f->bus, COM1, 2), 0xFFFF);
	pio_out(f->bus, COM1, 4, 0x41414141);
	assert_int_equal(f->out_len, 0);
	assert_int_equal(uart16550_guest_errors(f->uart), 2);
	assert_int_equal(lines, 2);
	log_set_sink(NULL, NULL);
}

static void test_port_taken(void **state)
{
	struct fixture *f = *state;
	struct uart16550_config cfg = {.name = "COM1b", .port = COM1 + 4};
	struct uart16550 *u = NULL;

	assert_int_equal(uart16550_new(f->bus, &cfg, &u), -EEXIST);
	assert_null(u);
}

/* Programs the UART as Linux leaves it, with bytes in the FIFO past its start. */
static void program_busy(struct fixture *f)
{
	uint8_t junk[3] = {'x', 'y', 'z'};

	wr(f, LCR, 0x80);
	wr(f, DLL, 0x0C);
	wr(f, DLM, 0x00);
	wr(f, LCR, 0x03);
	wr(f, FCR, 0xC7);
	wr(f, MCR, 0x0B);
	wr(f, SCR, 0x5A);
	assert_int_equal(uart16550_receive(f->uart, junk, 3), 3);
	(void)rd(f, RBR);
	(void)rd(f, RBR);
	assert_int_equal(uart16550_receive(f->uart, (const uint8_t *)"hello", 5), 5);
	wr(f, IER, 0x05);
}

static void save(struct fixture *f, struct state_out *out)
{
	state_out_init(out);
	assert_int_equal(uart16550_save(f->uart, out), 0);
}

static int load(struct fixture *f, const struct state_out *out, char *err, size_t len)
{
	struct state_in in;
	int r;

	state_in_init(&in, out->buf, out->len);
	r = uart16550_load(f->uart, UART16550_STATE_VERSION, &in, err, len);
	if (r == 0)
		assert_int_equal(state_in_finish(&in), 0);
	return r;
}

static void test_save_load_round_trip(void **state)
{
	struct fixture *f = *state, *g;
	struct state_out out;
	char err[128] = "";
	unsigned i;

	program_busy(f);
	assert_int_equal(setup((void **)&g), 0);
	save(f, &out);
	assert_int_equal(load(g, &out, err, sizeof(err)), 0);
	state_out_fini(&out);
	assert_int_equal(fake_irq_level(&g->irq), fake_irq_level(&f->irq));
	assert_int_equal(fake_irq_level(&g->irq), 1); /* data ready, IER.ERBFI, OUT2 */
	const unsigned regs[] = {IER, LCR, MCR, SCR, MSR};
	for (i = 0; i < ARRAY_SIZE(regs); i++)
		assert_int_equal(rd(g, regs[i]), rd(f, regs[i]));
	wr(f, LCR, 0x83);
	wr(g, LCR, 0x83);
	assert_int_equal(rd(g, DLL), 0x0C);
	assert_int_equal(rd(g, DLM), rd(f, DLM));
	wr(f, LCR, 0x03);
	wr(g, LCR, 0x03);
	/* The receive side: the same interrupt, status and bytes in the same order. */
	for (i = 0; i < 8; i++) {
		assert_int_equal(rd(g, IIR), rd(f, IIR));
		assert_int_equal(rd(g, LSR), rd(f, LSR));
		assert_int_equal(rd(g, RBR), rd(f, RBR));
	}
	assert_int_equal(f->out_len, 0);
	teardown((void **)&g);
}

static void test_load_refuses_bad_state(void **state)
{
	struct fixture *f = *state, *g;
	struct state_out out;
	char err[128] = "";

	program_busy(f);
	assert_int_equal(setup((void **)&g), 0);
	wr(g, SCR, 0x33);
	save(f, &out);
	out.buf[0] = 0xFF; /* IER bits 4-7 */
	assert_int_equal(load(g, &out, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "COM1"));
	assert_non_null(strstr(err, "bits"));
	uint8_t count = out.buf[13];

	assert_int_equal(count, 6); /* 'z' and "hello" */
	out.buf[0] = 0x05;
	out.buf[13] = 17; /* rx_count: a u32 after 8 registers, the divisor and a flag */
	assert_int_equal(load(g, &out, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "FIFO"));
	out.buf[13] = count;
	out.len -= 1; /* the last FIFO byte missing */
	assert_int_equal(load(g, &out, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "too short"));
	/* Refused: g is as it was. */
	assert_int_equal(rd(g, SCR), 0x33);
	assert_int_equal(rd(g, LSR) & 0x01, 0);
	state_out_fini(&out);
	teardown((void **)&g);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_free_null),
		T(test_reset_state),
		T(test_linux_probe),
		T(test_fifo_detection_16550a),
		T(test_dlab),
		T(test_transmit),
		T(test_thre_interrupt),
		T(test_out2_gates_irq),
		T(test_rx_trigger_and_timeout),
		T(test_trigger_levels),
		T(test_16450_mode_holds_one),
		T(test_loopback_overrun),
		T(test_loopback_drops_host_input),
		T(test_fifo_reset),
		T(test_modem_status_interrupt),
		T(test_bad_size),
		T(test_port_taken),
		T(test_save_load_round_trip),
		T(test_load_refuses_bad_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

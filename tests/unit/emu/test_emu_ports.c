/*
 * Every emulated device on one io_bus, fed nonsense: random reads and
 * writes of every size to every port they own, with host input and clock
 * jumps in between. Nothing may crash, and afterwards every device must
 * still answer like the hardware.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "emu/acpi_pm.h"
#include "emu/cmos_rtc.h"
#include "emu/i8042.h"
#include "emu/pci_host.h"
#include "emu/post_port.h"
#include "emu/uart16550.h"
#include "emu_fakes.h"
#include "vid/pc_layout.h"

struct platform {
	struct io_bus *bus;
	struct fake_irq irq[16];
	struct fake_power power;
	struct fake_clock rtc_clock, pm_clock;
	struct uart16550 *uart;
	struct i8042 *kbc;
	struct cmos_rtc *rtc;
	struct pci_host *pci;
	struct acpi_pm *pm;
	struct post_port *post;
	unsigned tx_bytes, log_lines;
};

static void count_tx(void *opaque, const uint8_t *buf, size_t len)
{
	((struct platform *)opaque)->tx_bytes += (unsigned)len;
}

static int setup(void **state)
{
	struct platform *p = test_calloc(1, sizeof(*p));
	struct uart16550_config cfg = {
		.name = "COM1", .port = PC_PORT_COM1, .tx = count_tx, .opaque = p};

	fake_log_silence(&p->log_lines);
	fake_clock_set(&p->rtc_clock, UINT64_C(1795309323000000000));
	cfg.irq = fake_irq_line(&p->irq[PC_IRQ_COM1], PC_IRQ_COM1);
	assert_int_equal(io_bus_new("pio", &p->bus), 0);
	assert_int_equal(uart16550_new(p->bus, &cfg, &p->uart), 0);
	assert_int_equal(i8042_new(p->bus, fake_irq_line(&p->irq[1], 1),
				   fake_irq_line(&p->irq[12], 12), fake_power_control(&p->power),
				   &p->kbc),
			 0);
	assert_int_equal(cmos_rtc_new(p->bus, fake_irq_line(&p->irq[8], 8),
				      fake_clock_source(&p->rtc_clock), &p->rtc),
			 0);
	assert_int_equal(pci_host_new(p->bus, &p->pci), 0);
	assert_int_equal(acpi_pm_new(p->bus, fake_irq_line(&p->irq[9], 9),
				     fake_power_control(&p->power), fake_clock_source(&p->pm_clock),
				     &p->pm),
			 0);
	assert_int_equal(post_port_new(p->bus, &p->post), 0);
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	struct platform *p = *state;

	assert_null(post_port_free(p->post));
	assert_null(acpi_pm_free(p->pm));
	assert_null(pci_host_free(p->pci));
	assert_null(cmos_rtc_free(p->rtc));
	assert_null(i8042_free(p->kbc));
	assert_null(uart16550_free(p->uart));
	io_bus_free(p->bus);
	log_set_sink(NULL, NULL);
	test_free(p);
	return 0;
}

static const struct {
	uint16_t base, len;
} ranges[] = {
	{PC_PORT_COM1, PC_PORT_UART_LEN},
	{PC_PORT_I8042_DATA, 1},
	{PC_PORT_I8042_CMD, 1},
	{PC_PORT_CMOS, PC_PORT_CMOS_LEN},
	{PC_PORT_POST, 1},
	{PC_PORT_PCI_CONFIG, PC_PORT_PCI_CONFIG_LEN},
	{PC_PORT_ACPI_PM_BASE, PC_PORT_ACPI_PM_LEN},
};

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void test_read_everything(void **state)
{
	struct platform *p = *state;

	for (unsigned r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++)
		for (unsigned o = 0; o < ranges[r].len; o++)
			for (unsigned size = 1; size <= 4; size *= 2)
				(void)pio_in(p->bus, (uint16_t)(ranges[r].base + o), size);
}

static void test_random_writes(void **state)
{
	struct platform *p = *state;
	uint64_t seed = 0x9E3779B97F4A7C15u;
	uint8_t input[8] = "parvis\r\n";

	for (unsigned i = 0; i < 200000; i++) {
		uint64_t x = xorshift(&seed);
		unsigned r = (unsigned)(x % (sizeof(ranges) / sizeof(ranges[0])));
		uint16_t port = (uint16_t)(ranges[r].base + (x >> 8) % ranges[r].len);
		unsigned size = 1u << ((x >> 16) % 3);
		uint32_t value = (uint32_t)(x >> 32);

		switch ((x >> 20) % 8) {
		case 0: (void)pio_in(p->bus, port, size); break;
		case 1:
			uart16550_receive(p->uart, input, (x >> 24) % sizeof(input));
			fake_clock_add(&p->rtc_clock, (x >> 40) % 2000000000u);
			fake_clock_add(&p->pm_clock, (x >> 40) % 3000000u);
			break;
		case 2:
			acpi_pm_power_button(p->pm);
			/* fall through */
		default: pio_out(p->bus, port, size, value); break;
		}
	}
	/* Still a PC afterwards. */
	assert_int_equal(pio_inb(p->bus, 0x61), 0xFF); /* nobody's port */
	pio_out(p->bus, PC_PORT_PCI_CONFIG, 4, 0x80000000);
	assert_int_equal(pio_in(p->bus, PC_PORT_PCI_CONFIG + 4, 4), 0x71928086);
	pio_outb(p->bus, PC_PORT_CMOS, 0x0D);
	assert_int_equal(pio_inb(p->bus, PC_PORT_CMOS + 1), 0x80);
	pio_outb(p->bus, PC_PORT_COM1 + 3, 0x03);
	pio_outb(p->bus, PC_PORT_COM1 + 7, 0x5A);
	assert_int_equal(pio_inb(p->bus, PC_PORT_COM1 + 7), 0x5A);
	for (unsigned i = 0; i < 64 && (pio_inb(p->bus, PC_PORT_I8042_CMD) & 1); i++)
		(void)pio_inb(p->bus, PC_PORT_I8042_DATA);
	pio_outb(p->bus, PC_PORT_I8042_CMD, 0xAA);
	assert_int_equal(pio_inb(p->bus, PC_PORT_I8042_DATA), 0x55);
	assert_true(p->power.reset > 0);
	assert_true(uart16550_guest_errors(p->uart) > 0);
	assert_true(acpi_pm_guest_errors(p->pm) > 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_read_everything),
		T(test_random_writes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

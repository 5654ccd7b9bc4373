/*
 * Fuzz target: every emulated legacy device on one io_bus, driven by the
 * input as a guest's port I/O would drive them. The input is a sequence
 * of 6-byte operations:
 *
 *   byte 0   bits 0-2: which device range (see ranges[]; 7 = host event)
 *            bits 3-4: size 1, 2, 4 (3 = 1 again)
 *            bit 5:    1 = write, 0 = read
 *   byte 1   offset inside the range (modulo its length)
 *   byte 2-5 value to write, little-endian
 *
 * Host events (range 7) pick by byte 1: serial input of up to 8 bytes
 * from the value, a clock step of `value` ns (RTC) and `value` / 256 ns
 * (PM timer), or a power-button press. The devices are built anew for
 * each input, on fake clocks, so a run depends on its input only.
 * Seed inputs (Linux's probe sequences per device) are in corpus/ here.
 */
#include <stddef.h>
#include <stdint.h>

#include "base/log.h"
#include "emu/acpi_pm.h"
#include "emu/cmos_rtc.h"
#include "emu/i8042.h"
#include "emu/pci_host.h"
#include "emu/post_port.h"
#include "emu/uart16550.h"
#include "vid/io_bus.h"
#include "vid/pc_layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct machine {
	struct io_bus *bus;
	uint64_t rtc_ns, pm_ns; /* atomic: the RTC thread reads its clock too */
	struct uart16550 *uart;
	struct i8042 *kbc;
	struct cmos_rtc *rtc;
	struct pci_host *pci;
	struct acpi_pm *pm;
	struct post_port *post;
	unsigned irq_calls, power_requests;
};

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

static void quiet(void *opaque, enum log_level level, const char *line)
{
}

static void set_irq(void *opaque, unsigned gsi, bool level)
{
	__atomic_add_fetch(&((struct machine *)opaque)->irq_calls, 1, __ATOMIC_RELAXED);
}

static void power(void *opaque, enum power_request req)
{
	((struct machine *)opaque)->power_requests++;
}

static void tx(void *opaque, const uint8_t *buf, size_t len)
{
}

static uint64_t rtc_now(void *opaque)
{
	return __atomic_load_n(&((struct machine *)opaque)->rtc_ns, __ATOMIC_RELAXED);
}

static uint64_t pm_now(void *opaque)
{
	return __atomic_load_n(&((struct machine *)opaque)->pm_ns, __ATOMIC_RELAXED);
}

static struct irq_line line(struct machine *m, unsigned gsi)
{
	return (struct irq_line){.set_level = set_irq, .opaque = m, .gsi = gsi};
}

static int machine_build(struct machine *m)
{
	struct power_control pc = {.request = power, .opaque = m};
	struct uart16550_config cfg = {
		.name = "COM1",
		.port = PC_PORT_COM1,
		.irq = line(m, PC_IRQ_COM1),
		.tx = tx,
		.opaque = m,
	};

	m->rtc_ns = UINT64_C(1795309323000000000);
	if (io_bus_new("pio", &m->bus) < 0 || uart16550_new(m->bus, &cfg, &m->uart) < 0 ||
	    i8042_new(m->bus, line(m, PC_IRQ_KEYBOARD), line(m, PC_IRQ_MOUSE), pc, &m->kbc) < 0 ||
	    cmos_rtc_new(m->bus, line(m, PC_IRQ_RTC),
			 (struct clock_source){.now_ns = rtc_now, .opaque = m}, &m->rtc) < 0 ||
	    pci_host_new(m->bus, &m->pci) < 0 ||
	    acpi_pm_new(m->bus, line(m, PC_IRQ_SCI), pc,
			(struct clock_source){.now_ns = pm_now, .opaque = m}, &m->pm) < 0 ||
	    post_port_new(m->bus, &m->post) < 0)
		return -1;
	return 0;
}

static void machine_free(struct machine *m)
{
	post_port_free(m->post);
	acpi_pm_free(m->pm);
	pci_host_free(m->pci);
	cmos_rtc_free(m->rtc);
	i8042_free(m->kbc);
	uart16550_free(m->uart);
	io_bus_free(m->bus);
}

static void host_event(struct machine *m, uint8_t which, uint32_t value)
{
	uint8_t bytes[4] = {(uint8_t)value, (uint8_t)(value >> 8), (uint8_t)(value >> 16),
			    (uint8_t)(value >> 24)};

	switch (which % 4) {
	case 0: uart16550_receive(m->uart, bytes, which / 4 % 5); break;
	case 1:
		__atomic_add_fetch(&m->rtc_ns, value, __ATOMIC_RELAXED);
		__atomic_add_fetch(&m->pm_ns, value / 256, __ATOMIC_RELAXED);
		break;
	case 2: acpi_pm_power_button(m->pm); break;
	default: (void)uart16550_can_receive(m->uart); break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct machine m = {0};

	log_set_sink(quiet, NULL);
	if (machine_build(&m) < 0) {
		machine_free(&m);
		return 0;
	}
	for (size_t i = 0; i + 6 <= size; i += 6) {
		const uint8_t *op = data + i;
		unsigned r = op[0] & 7, len = 1u << ((op[0] >> 3) & 3);
		uint32_t value = (uint32_t)op[2] | (uint32_t)op[3] << 8 | (uint32_t)op[4] << 16 |
				 (uint32_t)op[5] << 24;
		uint64_t ignored;
		uint16_t port;

		if (r >= sizeof(ranges) / sizeof(ranges[0])) {
			host_event(&m, op[1], value);
			continue;
		}
		if (len == 8)
			len = 1;
		port = (uint16_t)(ranges[r].base + op[1] % ranges[r].len);
		if (op[0] & 0x20)
			io_bus_write(m.bus, port, len, value);
		else
			io_bus_read(m.bus, port, len, &ignored);
	}
	machine_free(&m);
	return 0;
}

/* Unit tests for the PIIX4 functions 0 and 1 (src/emu/ide/piix4.c) behind the PCI host. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "emu/ide/piix4.h"
#include "emu_fakes.h"
#include "state/state.h"
#include "vid/guest_memory.h"
#include "vid/pc_layout.h"

#define CF8 PC_PORT_PCI_CONFIG
#define CFC (PC_PORT_PCI_CONFIG + 4)

static uint32_t rd(struct io_bus *bus, unsigned devfn, unsigned reg, unsigned size)
{
	pio_out(bus, CF8, 4, 0x80000000u | devfn << 8 | (reg & 0xFC));
	return pio_in(bus, CFC + (reg & 3), size);
}

static void wr(struct io_bus *bus, unsigned devfn, unsigned reg, unsigned size, uint32_t v)
{
	pio_out(bus, CF8, 4, 0x80000000u | devfn << 8 | (reg & 0xFC));
	pio_out(bus, CFC + (reg & 3), size, v);
}

static void test_piix4(void **state)
{
	struct fake_irq irq14 = {0}, irq15 = {0};
	struct guest_memory *mem;
	struct pci_host *host;
	struct io_bus *bus;
	struct piix4 *p;
	unsigned lines = 0;

	(void)state;
	fake_log_silence(&lines);
	assert_int_equal(io_bus_new("pio", &bus), 0);
	assert_int_equal(guest_memory_new(1 << 20, &mem), 0);
	assert_int_equal(pci_host_new(bus, &host), 0);
	assert_int_equal(
		piix4_new(host, bus, fake_irq_line(&irq14, 14), fake_irq_line(&irq15, 15), mem, &p),
		0);
	/* Function 0: the ISA bridge, multi-function so that function 1 is scanned. */
	assert_int_equal(rd(bus, PIIX4_DEVFN_ISA, 0x00, 4), 0x71108086u);
	assert_int_equal(rd(bus, PIIX4_DEVFN_ISA, 0x0E, 1), 0x80);
	assert_int_equal(rd(bus, PIIX4_DEVFN_ISA, 0x08, 4) >> 8, 0x060100u);
	/* Function 1: IDE, legacy mode with bus master, decode enabled on both channels. */
	assert_int_equal(rd(bus, PIIX4_DEVFN_IDE, 0x00, 4), 0x71118086u);
	assert_int_equal(rd(bus, PIIX4_DEVFN_IDE, 0x08, 4) >> 8, 0x010180u);
	assert_int_equal(rd(bus, PIIX4_DEVFN_IDE, 0x41, 1) & 0x80, 0x80);
	assert_int_equal(rd(bus, PIIX4_DEVFN_IDE, 0x43, 1) & 0x80, 0x80);
	assert_int_equal(rd(bus, PIIX4_DEVFN_IDE, 0x20, 4), PIIX4_BM_PORT | 1);
	/* BAR4 sizing: 16 I/O ports; then the address back. */
	wr(bus, PIIX4_DEVFN_IDE, 0x20, 4, 0xFFFFFFFFu);
	assert_int_equal(rd(bus, PIIX4_DEVFN_IDE, 0x20, 4), 0xFFFFFFF1u);
	wr(bus, PIIX4_DEVFN_IDE, 0x20, 4, PIIX4_BM_PORT);
	assert_int_equal(rd(bus, PIIX4_DEVFN_IDE, 0x20, 4), PIIX4_BM_PORT | 1);
	/* The bus master decodes there: the PRD pointer of the secondary channel holds a value. */
	pio_out(bus, PIIX4_BM_PORT + 8 + 4, 4, 0x12345678u);
	assert_int_equal(pio_in(bus, PIIX4_BM_PORT + 8 + 4, 4), 0x12345678u & ~3u);
	assert_int_equal(pio_in(bus, PIIX4_BM_PORT + 4, 4), 0);
	/* I/O decode off: the ports float. */
	wr(bus, PIIX4_DEVFN_IDE, 0x04, 2, 0x0004);
	assert_int_equal(pio_in(bus, PIIX4_BM_PORT + 8 + 4, 4), 0xFFFFFFFFu);
	wr(bus, PIIX4_DEVFN_IDE, 0x04, 2, 0x0005);
	/* A move we cannot follow is counted and logged; the ports stop decoding. */
	wr(bus, PIIX4_DEVFN_IDE, 0x20, 4, 0xD000);
	assert_int_equal(lines, 1);
	assert_int_equal(pio_in(bus, PIIX4_BM_PORT + 8 + 4, 4), 0xFFFFFFFFu);
	/* The legacy channels: an empty channel floats (0xFF status). */
	assert_int_equal(pio_inb(bus, 0x1F7), 0xFF);
	assert_int_equal(pio_inb(bus, 0x177), 0xFF);
	assert_non_null(piix4_channel(p, 1));
	assert_null(piix4_channel(p, 2));
	assert_null(piix4_free(p));
	assert_int_equal(pio_inb(bus, 0x1F7), 0xFF); /* unregistered: nothing there either */
	assert_int_equal(rd(bus, PIIX4_DEVFN_IDE, 0x00, 4), 0xFFFFFFFFu);
	/* Everything was unregistered: a second one fits. */
	assert_int_equal(
		piix4_new(host, bus, fake_irq_line(&irq14, 14), fake_irq_line(&irq15, 15), mem, &p),
		0);
	piix4_free(p);
	pci_host_free(host);
	guest_memory_free(mem);
	io_bus_free(bus);
}

/* Section "ide.piix4": the guest-set configuration and the channels go across; read-only bits
 * that differ (another device) are refused, as is every truncation. */
static void test_save_load(void **state)
{
	struct fake_irq irq14 = {0}, irq15 = {0};
	struct io_bus *bus[2];
	struct pci_host *host[2];
	struct guest_memory *mem;
	struct piix4 *p[2];
	struct state_out out;
	struct state_in in;
	char err[160] = "";

	(void)state;
	fake_log_silence(NULL);
	assert_int_equal(guest_memory_new(1 << 20, &mem), 0);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(io_bus_new("pio", &bus[i]), 0);
		assert_int_equal(pci_host_new(bus[i], &host[i]), 0);
		assert_int_equal(piix4_new(host[i], bus[i], fake_irq_line(&irq14, 14),
					   fake_irq_line(&irq15, 15), mem, &p[i]),
				 0);
	}
	wr(bus[0], PIIX4_DEVFN_IDE, 0x40, 2, 0xA307);		/* IDETIM */
	wr(bus[0], PIIX4_DEVFN_IDE, 0x48, 1, 0x05);		/* UDMACTL */
	pio_out(bus[0], PIIX4_BM_PORT + 8 + 4, 4, 0x00012340u); /* secondary PRD pointer */
	state_out_init(&out);
	assert_int_equal(piix4_save(p[0], &out), 0);
	state_in_init(&in, out.buf, out.len);
	assert_int_equal(piix4_load(p[1], PIIX4_STATE_VERSION, &in, err, sizeof(err)), 0);
	assert_int_equal(state_in_finish(&in), 0);
	assert_int_equal(rd(bus[1], PIIX4_DEVFN_IDE, 0x40, 2), 0xA307);
	assert_int_equal(rd(bus[1], PIIX4_DEVFN_IDE, 0x48, 1), 0x05);
	assert_int_equal(pio_in(bus[1], PIIX4_BM_PORT + 8 + 4, 4), 0x00012340u);
	for (size_t n = 0; n < out.len; n++) {
		state_in_init(&in, out.buf, n);
		assert_int_equal(piix4_load(p[1], PIIX4_STATE_VERSION, &in, err, sizeof(err)),
				 -EBADMSG);
	}
	out.buf[256 + 0x02] ^= 1; /* function 1's device id */
	state_in_init(&in, out.buf, out.len);
	assert_int_equal(piix4_load(p[1], PIIX4_STATE_VERSION, &in, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "read-only"));
	assert_int_equal(rd(bus[1], PIIX4_DEVFN_IDE, 0x00, 4), 0x71118086u); /* untouched */
	state_out_fini(&out);
	for (unsigned i = 0; i < 2; i++) {
		piix4_free(p[i]);
		pci_host_free(host[i]);
		io_bus_free(bus[i]);
	}
	guest_memory_free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_piix4),
		cmocka_unit_test(test_save_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

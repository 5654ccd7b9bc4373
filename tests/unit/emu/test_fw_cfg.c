/* Unit tests for fw_cfg (the BIOS's configuration interface) and the 0x402 debug port. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/byteorder.h"
#include "emu/debug_port.h"
#include "emu/fw_cfg.h"
#include "emu/fw_cfg_format.h"
#include "emu_fakes.h"

#define RAM  (1u << 20)
#define DESC 0x1000u /* where the tests put DMA descriptors */
#define BUF  0x2000u /* and DMA buffers */

struct fx {
	struct io_bus *bus;
	struct guest_memory *mem;
	struct fw_cfg *cfg;
	unsigned log_lines;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_int_equal(io_bus_new("pio", &f->bus), 0);
	assert_int_equal(guest_memory_new(RAM, &f->mem), 0);
	assert_int_equal(fw_cfg_new(f->bus, f->mem, &f->cfg), 0);
	fake_log_silence(&f->log_lines);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	log_set_sink(NULL, NULL);
	fw_cfg_free(f->cfg);
	guest_memory_free(f->mem);
	io_bus_free(f->bus);
	free(f);
	return 0;
}

static void select_item(struct fx *f, uint16_t sel)
{
	pio_out(f->bus, FW_CFG_PORT_SELECTOR, 2, sel);
}

static void read_data(struct fx *f, void *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = pio_inb(f->bus, FW_CFG_PORT_DATA);
}

/* The 32-bit value a little-endian CPU writes so the port sees v's big-endian bytes. */
static uint32_t as_be(uint32_t v)
{
	uint8_t b[4];

	put_be32(b, v);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Runs one DMA descriptor at gpa desc; returns the control word the device wrote back. */
static uint32_t dma(struct fx *f, uint64_t desc, uint32_t control, uint32_t len, uint64_t addr)
{
	uint8_t d[16];

	put_be32(d, control);
	put_be32(d + 4, len);
	put_be64(d + 8, addr);
	if (guest_memory_write(f->mem, desc, d, sizeof(d)) == 0) {
		pio_out(f->bus, FW_CFG_PORT_DMA_HIGH, 4, as_be((uint32_t)(desc >> 32)));
		pio_out(f->bus, FW_CFG_PORT_DMA_LOW, 4, as_be((uint32_t)desc));
		assert_int_equal(guest_memory_read(f->mem, desc, d, 4), 0);
		return get_be32(d);
	}
	pio_out(f->bus, FW_CFG_PORT_DMA_HIGH, 4, as_be((uint32_t)(desc >> 32)));
	pio_out(f->bus, FW_CFG_PORT_DMA_LOW, 4, as_be((uint32_t)desc));
	return UINT32_MAX;
}

static void test_free_null(void **state)
{
	assert_null(fw_cfg_free(NULL));
	assert_null(debug_port_free(NULL));
}

static void test_signature_and_id(void **state)
{
	struct fx *f = *state;
	uint8_t sig[6], id[4];

	select_item(f, FW_CFG_SIGNATURE);
	read_data(f, sig, sizeof(sig));
	assert_memory_equal(sig, "QEMU\0\0", 6); /* zeros past the end */
	select_item(f, FW_CFG_ID);
	read_data(f, id, sizeof(id));
	assert_int_equal(id[0], FW_CFG_VERSION | FW_CFG_VERSION_DMA);
	/* Selecting again rewinds; the write-channel bit names the same item. */
	select_item(f, FW_CFG_SIGNATURE | FW_CFG_WRITE_CHANNEL);
	assert_int_equal(pio_inb(f->bus, FW_CFG_PORT_DATA), 'Q');
	/* An unknown selector reads zeros. */
	select_item(f, 0x1234);
	assert_int_equal(pio_inb(f->bus, FW_CFG_PORT_DATA), 0);
	/* The DMA register reads back "QEMU CFG". */
	assert_int_equal(pio_in(f->bus, FW_CFG_PORT_DMA_HIGH, 4), as_be(0x51454d55));
	assert_int_equal(pio_in(f->bus, FW_CFG_PORT_DMA_LOW, 4), as_be(0x20434647));
	assert_int_equal(fw_cfg_guest_errors(f->cfg), 0);
}

static void test_items_and_directory(void **state)
{
	struct fx *f = *state;
	uint8_t ram[8] = {0, 0, 0, 8}, count[4], ent[64], b;
	char name[FW_CFG_FILE_NAME_LEN + 1];

	assert_int_equal(fw_cfg_add_item(f->cfg, FW_CFG_RAM_SIZE, ram, sizeof(ram)), 0);
	assert_int_equal(fw_cfg_add_item(f->cfg, FW_CFG_RAM_SIZE, ram, 1), -EEXIST);
	assert_int_equal(fw_cfg_add_item(f->cfg, FW_CFG_FILE_FIRST, ram, 1), -EINVAL);
	assert_int_equal(fw_cfg_add_item(f->cfg, 0x4003, ram, 1), -EINVAL);
	assert_int_equal(fw_cfg_add_file(f->cfg, "etc/one", "abc", 3), 0);
	assert_int_equal(fw_cfg_add_file(f->cfg, "bootorder", "/x", 3), 0);
	assert_int_equal(fw_cfg_add_file(f->cfg, "etc/one", "x", 1), -EEXIST);
	memset(name, 'n', FW_CFG_FILE_NAME_LEN);
	name[FW_CFG_FILE_NAME_LEN] = '\0'; /* no room for the entry's NUL */
	assert_int_equal(fw_cfg_add_file(f->cfg, name, "x", 1), -EINVAL);
	assert_int_equal(fw_cfg_add_file(f->cfg, "", "x", 1), -EINVAL);

	select_item(f, FW_CFG_RAM_SIZE);
	read_data(f, ram, sizeof(ram));
	assert_int_equal(ram[3], 8);
	select_item(f, FW_CFG_FILE_DIR);
	read_data(f, count, sizeof(count));
	assert_int_equal(get_be32(count), 2);
	read_data(f, ent, sizeof(ent));
	assert_int_equal(get_be32(ent), 3);
	assert_int_equal(get_be16(ent + 4), FW_CFG_FILE_FIRST);
	assert_string_equal((char *)ent + 8, "etc/one");
	read_data(f, ent, sizeof(ent));
	assert_int_equal(get_be16(ent + 4), FW_CFG_FILE_FIRST + 1);
	assert_string_equal((char *)ent + 8, "bootorder");
	select_item(f, FW_CFG_FILE_FIRST);
	b = pio_inb(f->bus, FW_CFG_PORT_DATA);
	assert_int_equal(b, 'a');
	/* A byte read of the selector port reads data too (QEMU's combined region). */
	assert_int_equal(pio_inb(f->bus, FW_CFG_PORT_SELECTOR), 'b');
}

static void test_limits(void **state)
{
	struct fx *f = *state;
	char name[16];
	unsigned added = 0;
	int r;

	/* Three fixed items exist (signature, ID, directory). */
	for (unsigned i = 0;; i++) {
		snprintf(name, sizeof(name), "f%u", i);
		r = fw_cfg_add_file(f->cfg, name, "x", 1);
		if (r < 0)
			break;
		added++;
	}
	assert_int_equal(r, -ENOSPC);
	assert_int_equal(added, FW_CFG_MAX_ITEMS - 3);
}

static void test_dma_read_skip(void **state)
{
	struct fx *f = *state;
	uint8_t buf[16];

	assert_int_equal(fw_cfg_add_file(f->cfg, "etc/e820", "0123456789", 10), 0);
	assert_int_equal(guest_memory_fill(f->mem, BUF, 0xEE, sizeof(buf)), 0);
	/* Select and read 4 bytes, skip 2, read 8: the last 4 past the end are zeros. */
	assert_int_equal(
		dma(f, DESC,
		    (uint32_t)FW_CFG_FILE_FIRST << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ,
		    4, BUF),
		0);
	assert_int_equal(dma(f, DESC, FW_CFG_DMA_CTL_SKIP, 2, 0), 0);
	assert_int_equal(dma(f, DESC, FW_CFG_DMA_CTL_READ, 8, BUF + 4), 0);
	assert_int_equal(guest_memory_read(f->mem, BUF, buf, sizeof(buf)), 0);
	assert_memory_equal(buf, "01236789\0\0\0\0", 12);
	assert_int_equal(buf[12], 0xEE);
	/* The traditional port continues from the same offset (past the end: zeros). */
	assert_int_equal(pio_inb(f->bus, FW_CFG_PORT_DATA), 0);
	assert_int_equal(fw_cfg_guest_errors(f->cfg), 0);
}

static void test_dma_bad_addresses(void **state)
{
	struct fx *f = *state;
	uint64_t errors;

	assert_int_equal(fw_cfg_add_file(f->cfg, "etc/x", "abcd", 4), 0);
	/* A buffer outside RAM, one that runs past its end, a wrapping one: the error bit. */
	assert_int_equal(
		dma(f, DESC,
		    (uint32_t)FW_CFG_FILE_FIRST << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ,
		    4, RAM),
		FW_CFG_DMA_CTL_ERROR);
	assert_int_equal(dma(f, DESC, FW_CFG_DMA_CTL_READ, 64, RAM - 8), FW_CFG_DMA_CTL_ERROR);
	assert_int_equal(dma(f, DESC, FW_CFG_DMA_CTL_READ, 0xFFFFFFFF, UINT64_MAX - 4),
			 FW_CFG_DMA_CTL_ERROR);
	assert_int_equal(dma(f, DESC, FW_CFG_DMA_CTL_READ, 0xFFFFFFFF, BUF), FW_CFG_DMA_CTL_ERROR);
	/* Writes: nothing is writable. */
	assert_int_equal(dma(f, DESC, FW_CFG_DMA_CTL_WRITE, 4, BUF), FW_CFG_DMA_CTL_ERROR);
	errors = fw_cfg_guest_errors(f->cfg);
	assert_int_equal(errors, 5);
	/* A descriptor outside RAM (and one straddling its end) is counted, nothing else. */
	dma(f, (uint64_t)RAM + 0x1000, FW_CFG_DMA_CTL_READ, 4, BUF);
	dma(f, RAM - 8, FW_CFG_DMA_CTL_READ, 4, BUF);
	dma(f, UINT64_C(0xFFFFFFFFFFFFFFF8), FW_CFG_DMA_CTL_READ, 4, BUF);
	assert_int_equal(fw_cfg_guest_errors(f->cfg), errors + 3);
	/* Bad access sizes. */
	pio_out(f->bus, FW_CFG_PORT_SELECTOR, 4, 0);
	assert_int_equal(pio_in(f->bus, FW_CFG_PORT_DATA, 2), 0xFFFF);
	pio_out(f->bus, FW_CFG_PORT_DMA_LOW, 2, 0);
	assert_int_equal(fw_cfg_guest_errors(f->cfg), errors + 6);
}

struct lines {
	unsigned n;
	char last[DEBUG_PORT_LINE_MAX + 1];
};

static void on_line(void *opaque, const char *line)
{
	struct lines *l = opaque;

	l->n++;
	snprintf(l->last, sizeof(l->last), "%s", line);
}

static void test_debug_port(void **state)
{
	struct io_bus *bus;
	struct debug_port *d;
	struct lines l = {0};
	unsigned lines = 0;
	const char *msg = "SeaBIOS (version x)\r\n";

	assert_int_equal(io_bus_new("pio", &bus), 0);
	assert_int_equal(debug_port_new(bus, on_line, &l, &d), 0);
	assert_int_equal(pio_inb(bus, DEBUG_PORT), 0xE9); /* SeaBIOS's presence check */
	for (const char *p = msg; *p; p++)
		pio_outb(bus, DEBUG_PORT, (uint8_t)*p);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.last, "SeaBIOS (version x)");
	pio_outb(bus, DEBUG_PORT, 0x07);
	pio_outb(bus, DEBUG_PORT, '\n');
	assert_string_equal(l.last, ".");
	for (unsigned i = 0; i < DEBUG_PORT_LINE_MAX + 5; i++)
		pio_outb(bus, DEBUG_PORT, 'a');
	assert_int_equal(l.n, 3); /* cut at the limit */
	assert_int_equal(strlen(l.last), DEBUG_PORT_LINE_MAX);
	fake_log_silence(&lines);
	pio_out(bus, DEBUG_PORT, 2, 0x4141);
	assert_int_equal(debug_port_guest_errors(d), 1);
	log_set_sink(NULL, NULL);
	debug_port_free(d);
	io_bus_free(bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_free_null),
		cmocka_unit_test_setup_teardown(test_signature_and_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_items_and_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_read_skip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_bad_addresses, setup, teardown),
		cmocka_unit_test(test_debug_port),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

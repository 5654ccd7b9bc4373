/*
 * Unit tests for fw_cfg (the BIOS's configuration interface) and the 0x402 debug port, with
 * their saved state (sections "fw_cfg", "debugcon"): a cursor saved in the middle of an item
 * and of a DMA address goes on in a device rebuilt with the same items; every truncation, an
 * unknown selector, other items, an offset past the end and unknown flags are refused, the
 * device left as it was.
 */
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
#include "state/state.h"

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

/* The items a BIOS machine's fw_cfg has, as the worker adds them again on restore. */
static void add_machine_items(struct fw_cfg *c, const char *e820)
{
	uint8_t ram[8] = {0, 0, 0, 8};

	assert_int_equal(fw_cfg_add_item(c, FW_CFG_RAM_SIZE, ram, sizeof(ram)), 0);
	assert_int_equal(fw_cfg_add_file(c, "etc/e820", e820, strlen(e820)), 0);
	assert_int_equal(fw_cfg_add_file(c, "bootorder", "/pci@i0cf8/ide@1,1", 19), 0);
}

static int load_cfg(struct fw_cfg *c, const struct state_out *out, size_t len, char *err)
{
	struct state_in in;
	int r;

	state_in_init(&in, out->buf, len);
	r = fw_cfg_load(c, FW_CFG_STATE_VERSION, &in, err, 160);
	if (r == 0 && state_in_finish(&in) < 0)
		r = -EBADMSG;
	return r;
}

static void test_state_round_trip(void **state)
{
	struct fx *f = *state;
	struct state_out out;
	char err[160] = "";
	uint8_t b[4];

	add_machine_items(f->cfg, "0123456789");
	/* Three bytes into etc/e820, half a DMA address written. */
	select_item(f, FW_CFG_FILE_FIRST);
	read_data(f, b, 3);
	assert_memory_equal(b, "012", 3);
	pio_out(f->bus, FW_CFG_PORT_DMA_HIGH, 4, as_be(1));
	state_out_init(&out);
	assert_int_equal(fw_cfg_save(f->cfg, &out), 0);
	fw_cfg_free(f->cfg);

	/* A new device with the same items goes on from the saved byte. */
	assert_int_equal(fw_cfg_new(f->bus, f->mem, &f->cfg), 0);
	add_machine_items(f->cfg, "0123456789");
	assert_int_equal(load_cfg(f->cfg, &out, out.len, err), 0);
	read_data(f, b, 4);
	assert_memory_equal(b, "3456", 4);
	/* The saved high half (4 GiB up) completes with the low one: not RAM, counted. */
	pio_out(f->bus, FW_CFG_PORT_DMA_LOW, 4, as_be(DESC));
	assert_int_equal(fw_cfg_guest_errors(f->cfg), 1);
	/* Then DMA reads the rest of the item. */
	assert_int_equal(guest_memory_fill(f->mem, BUF, 0xEE, 8), 0);
	assert_int_equal(dma(f, DESC, FW_CFG_DMA_CTL_READ, 3, BUF), 0);
	assert_int_equal(guest_memory_read(f->mem, BUF, b, 4), 0);
	assert_memory_equal(b, "789\xEE", 4);
	state_out_fini(&out);

	/* Nothing selected saves and loads too: reads give zeros. */
	select_item(f, 0x1234);
	state_out_init(&out);
	assert_int_equal(fw_cfg_save(f->cfg, &out), 0);
	assert_int_equal(load_cfg(f->cfg, &out, out.len, err), 0);
	assert_int_equal(pio_inb(f->bus, FW_CFG_PORT_DATA), 0);
	state_out_fini(&out);
	assert_int_equal(fw_cfg_guest_errors(f->cfg), 1);
}

/* A copy of a saved cursor with the u32 at byte off replaced by v. */
static void patch32(struct state_out *dst, const struct state_out *src, size_t off, uint32_t v)
{
	state_out_init(dst);
	state_out_bytes(dst, src->buf, src->len);
	memcpy(dst->buf + off, &v, 4);
}

static void test_state_refused(void **state)
{
	struct fx *f = *state;
	struct state_out out, bad;
	char err[160] = "";
	uint8_t b[2];

	add_machine_items(f->cfg, "0123456789");
	select_item(f, FW_CFG_FILE_FIRST);
	read_data(f, b, 2);
	state_out_init(&out);
	assert_int_equal(fw_cfg_save(f->cfg, &out), 0);
	assert_int_equal(out.len, 28);
	select_item(f, FW_CFG_RAM_SIZE); /* where a refused load must leave it */

	for (size_t len = 0; len < out.len; len++)
		assert_int_equal(load_cfg(f->cfg, &out, len, err), -EBADMSG);
	assert_int_equal(load_cfg(f->cfg, &out, out.len, err), 0);
	select_item(f, FW_CFG_RAM_SIZE);
	/* Unknown flags; a selector that is no item; a selector past 16 bits. */
	patch32(&bad, &out, 0, 3);
	assert_int_equal(load_cfg(f->cfg, &bad, bad.len, err), -EBADMSG);
	assert_non_null(strstr(err, "flags"));
	state_out_fini(&bad);
	patch32(&bad, &out, 4, FW_CFG_FILE_FIRST + 7);
	assert_int_equal(load_cfg(f->cfg, &bad, bad.len, err), -EBADMSG);
	assert_non_null(strstr(err, "selector"));
	state_out_fini(&bad);
	patch32(&bad, &out, 4, 0x10000 | FW_CFG_FILE_FIRST);
	assert_int_equal(load_cfg(f->cfg, &bad, bad.len, err), -EBADMSG);
	state_out_fini(&bad);
	/* An offset past the item's end; another length; other contents (the hash). */
	patch32(&bad, &out, 8, 11);
	assert_int_equal(load_cfg(f->cfg, &bad, bad.len, err), -EBADMSG);
	assert_non_null(strstr(err, "offset"));
	state_out_fini(&bad);
	patch32(&bad, &out, 12, 11);
	assert_int_equal(load_cfg(f->cfg, &bad, bad.len, err), -EBADMSG);
	assert_non_null(strstr(err, "another configuration"));
	state_out_fini(&bad);
	patch32(&bad, &out, 16, 0x12345678);
	assert_int_equal(load_cfg(f->cfg, &bad, bad.len, err), -EBADMSG);
	assert_non_null(strstr(err, "other contents"));
	state_out_fini(&bad);
	/* Nothing selected, with an offset. */
	patch32(&bad, &out, 0, 0);
	assert_int_equal(load_cfg(f->cfg, &bad, bad.len, err), -EBADMSG);
	state_out_fini(&bad);
	/* A newer version. */
	{
		struct state_in in;

		state_in_init(&in, out.buf, out.len);
		assert_int_equal(fw_cfg_load(f->cfg, FW_CFG_STATE_VERSION + 1, &in, err, 160),
				 -EBADMSG);
	}
	/* Every refusal left the cursor where it was: RAM_SIZE's first byte. */
	assert_int_equal(pio_inb(f->bus, FW_CFG_PORT_DATA), 0);
	assert_int_equal(pio_inb(f->bus, FW_CFG_PORT_DATA), 0);
	assert_int_equal(pio_inb(f->bus, FW_CFG_PORT_DATA), 0);
	assert_int_equal(pio_inb(f->bus, FW_CFG_PORT_DATA), 8);
	state_out_fini(&out);

	/* Items of another configuration (etc/e820 of other contents): refused by name. */
	fw_cfg_free(f->cfg);
	assert_int_equal(fw_cfg_new(f->bus, f->mem, &f->cfg), 0);
	add_machine_items(f->cfg, "0123456789");
	select_item(f, FW_CFG_FILE_FIRST);
	state_out_init(&out);
	assert_int_equal(fw_cfg_save(f->cfg, &out), 0);
	fw_cfg_free(f->cfg);
	assert_int_equal(fw_cfg_new(f->bus, f->mem, &f->cfg), 0);
	add_machine_items(f->cfg, "0123456780");
	assert_int_equal(load_cfg(f->cfg, &out, out.len, err), -EBADMSG);
	assert_non_null(strstr(err, "etc/e820"));
	state_out_fini(&out);
}

static int load_debug(struct debug_port *d, const void *buf, size_t len, char *err)
{
	struct state_in in;
	int r;

	state_in_init(&in, buf, len);
	r = debug_port_load(d, DEBUG_PORT_STATE_VERSION, &in, err, 160);
	if (r == 0 && state_in_finish(&in) < 0)
		r = -EBADMSG;
	return r;
}

static void test_debug_port_state(void **state)
{
	struct io_bus *bus;
	struct debug_port *d;
	struct lines l = {0};
	struct state_out out, bad;
	char err[160] = "";
	const char *half = "ata0-0: Virt";

	assert_int_equal(io_bus_new("pio", &bus), 0);
	assert_int_equal(debug_port_new(bus, on_line, &l, &d), 0);
	for (const char *p = half; *p; p++)
		pio_outb(bus, DEBUG_PORT, (uint8_t)*p);
	state_out_init(&out);
	assert_int_equal(debug_port_save(d, &out), 0);
	debug_port_free(d);
	/* The restored port finishes the saved line. */
	assert_int_equal(debug_port_new(bus, on_line, &l, &d), 0);
	assert_int_equal(load_debug(d, out.buf, out.len, err), 0);
	for (const char *p = "ual HD\n"; *p; p++)
		pio_outb(bus, DEBUG_PORT, (uint8_t)*p);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.last, "ata0-0: Virtual HD");
	/* Refused: truncations, a line as long as the limit, a byte the port never keeps. */
	for (size_t len = 0; len < out.len; len++)
		assert_int_equal(load_debug(d, out.buf, len, err), -EBADMSG);
	state_out_init(&bad);
	state_out_u32(&bad, DEBUG_PORT_LINE_MAX);
	for (unsigned i = 0; i < DEBUG_PORT_LINE_MAX; i++)
		state_out_u8(&bad, 'a');
	assert_int_equal(load_debug(d, bad.buf, bad.len, err), -EBADMSG);
	assert_non_null(strstr(err, "length"));
	state_out_fini(&bad);
	state_out_init(&bad);
	state_out_u32(&bad, 2);
	state_out_bytes(&bad, "a\n", 2);
	assert_int_equal(load_debug(d, bad.buf, bad.len, err), -EBADMSG);
	assert_non_null(strstr(err, "byte 1"));
	state_out_fini(&bad);
	/* Nothing of the refused lines was kept: the next line is whole. */
	pio_outb(bus, DEBUG_PORT, 'z');
	pio_outb(bus, DEBUG_PORT, '\n');
	assert_string_equal(l.last, "z");
	state_out_fini(&out);
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
		cmocka_unit_test_setup_teardown(test_state_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_refused, setup, teardown),
		cmocka_unit_test(test_debug_port_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

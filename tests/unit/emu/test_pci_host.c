/* Unit tests for PCI configuration mechanism #1 and the host bridge. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "emu/pci_host.h"
#include "emu_fakes.h"
#include "state/state.h"
#include "vid/pc_layout.h"

#define CF8 PC_PORT_PCI_CONFIG
#define CFC (PC_PORT_PCI_CONFIG + 4)

struct fixture {
	struct io_bus *bus;
	struct pci_host *host;
};

static int setup(void **state)
{
	struct fixture *f = test_calloc(1, sizeof(*f));

	assert_int_equal(io_bus_new("pio", &f->bus), 0);
	assert_int_equal(pci_host_new(f->bus, &f->host), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	assert_null(pci_host_free(f->host));
	io_bus_free(f->bus);
	test_free(f);
	return 0;
}

static uint32_t cfg_addr(unsigned bus, unsigned devfn, unsigned reg)
{
	return 0x80000000u | bus << 16 | devfn << 8 | (reg & 0xFC);
}

static uint32_t cfg_read(struct fixture *f, unsigned bus, unsigned devfn, unsigned reg,
			 unsigned size)
{
	pio_out(f->bus, CF8, 4, cfg_addr(bus, devfn, reg));
	return pio_in(f->bus, CFC + (reg & 3), size);
}

static void cfg_write(struct fixture *f, unsigned devfn, unsigned reg, unsigned size, uint32_t v)
{
	pio_out(f->bus, CF8, 4, cfg_addr(0, devfn, reg));
	pio_out(f->bus, CFC + (reg & 3), size, v);
}

static void test_free_null(void **state)
{
	assert_null(pci_host_free(NULL));
}

static void test_host_bridge_ids(void **state)
{
	struct fixture *f = *state;
	static const uint8_t id[4] = {0x86, 0x80, 0x92, 0x71};

	assert_int_equal(cfg_read(f, 0, 0, 0x00, 4), 0x71928086);
	assert_int_equal(cfg_read(f, 0, 0, 0x00, 2), 0x8086);
	assert_int_equal(cfg_read(f, 0, 0, 0x02, 2), 0x7192);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(cfg_read(f, 0, 0, i, 1), id[i]);
	assert_int_equal(cfg_read(f, 0, 0, 0x08, 4), 0x06000003); /* class 060000, rev 3 */
	assert_int_equal(cfg_read(f, 0, 0, 0x0A, 2), 0x0600);
	assert_int_equal(cfg_read(f, 0, 0, 0x0E, 1), 0x00); /* header type 0 */
	assert_int_equal(cfg_read(f, 0, 0, 0x10, 4), 0);    /* no BARs */
	assert_int_equal(cfg_read(f, 0, 0, 0x34, 1), 0);    /* no capabilities */
	assert_int_equal(cfg_read(f, 0, 0, 0x06, 2) & 0x0010, 0);
}

static void test_empty_slots(void **state)
{
	struct fixture *f = *state;

	for (unsigned devfn = 1; devfn < 256; devfn++)
		assert_int_equal(cfg_read(f, 0, devfn, 0, 4), 0xFFFFFFFF);
	assert_int_equal(cfg_read(f, 0, 8, 0, 2), 0xFFFF);
	assert_int_equal(cfg_read(f, 0, 8, 3, 1), 0xFF);
	assert_int_equal(cfg_read(f, 1, 0, 0, 4), 0xFFFFFFFF); /* only bus 0 */
	pio_out(f->bus, CF8, 4, 0x00000000);		       /* enable bit clear */
	assert_int_equal(pio_in(f->bus, CFC, 4), 0xFFFFFFFF);
	assert_int_equal(pci_host_guest_errors(f->host), 0);
}

/* Linux's pci_check_type1() and pci_sanity_check(). */
static void test_linux_type1_probe(void **state)
{
	struct fixture *f = *state;
	uint32_t tmp;
	bool found = false;

	pio_outb(f->bus, 0xCFB, 0x01);
	tmp = pio_in(f->bus, CF8, 4);
	pio_out(f->bus, CF8, 4, 0x80000000);
	assert_int_equal(pio_in(f->bus, CF8, 4), 0x80000000);
	pio_out(f->bus, CF8, 4, tmp);
	for (unsigned devfn = 0; devfn < 256; devfn++)
		if ((cfg_read(f, 0, devfn, 0x0A, 2) & 0xFFFF) == 0x0600)
			found = true;
	assert_true(found);
	assert_int_equal(pci_host_guest_errors(f->host), 0);
}

static void test_config_address(void **state)
{
	struct fixture *f = *state;

	pio_out(f->bus, CF8, 4, 0xFFFFFFFF);
	assert_int_equal(pio_in(f->bus, CF8, 4), 0x80FFFFFC); /* reserved bits read 0 */
	pio_out(f->bus, CF8, 4, 0x80000010);
	pio_outb(f->bus, 0xCF9, 0x06); /* the reset control register is not there */
	pio_out(f->bus, CF8, 2, 0x1234);
	assert_int_equal(pio_in(f->bus, CF8, 4), 0x80000010);
	assert_int_equal(pio_inb(f->bus, 0xCF9), 0xFF);
	assert_int_equal(pio_in(f->bus, CF8, 2), 0xFFFF);
	assert_int_equal(pio_in(f->bus, 0xCFA, 2), 0xFFFF);
	assert_int_equal(pci_host_guest_errors(f->host), 0);
}

static void test_read_only_fields(void **state)
{
	struct fixture *f = *state;

	cfg_write(f, 0, 0x00, 4, 0xFFFFFFFF);
	cfg_write(f, 0, 0x08, 4, 0xFFFFFFFF);
	cfg_write(f, 0, 0x10, 4, 0xFFFFFFFF);
	cfg_write(f, 0, 0x50, 4, 0xFFFFFFFF);
	assert_int_equal(cfg_read(f, 0, 0, 0x00, 4), 0x71928086);
	assert_int_equal(cfg_read(f, 0, 0, 0x08, 4), 0x06000003);
	assert_int_equal(cfg_read(f, 0, 0, 0x10, 4), 0);
	assert_int_equal(cfg_read(f, 0, 0, 0x50, 4), 0);
	cfg_write(f, 0, 0x0D, 1, 0x40); /* latency timer */
	cfg_write(f, 0, 0x3C, 1, 0x0B); /* interrupt line */
	assert_int_equal(cfg_read(f, 0, 0, 0x0C, 4), 0x00004000);
	assert_int_equal(cfg_read(f, 0, 0, 0x3C, 2), 0x000B);
}

struct fake_fn {
	uint8_t cfg[256];
	unsigned reads, writes;
	unsigned last_offset, last_size;
};

static uint32_t fn_read(void *opaque, unsigned offset, unsigned size)
{
	struct fake_fn *fn = opaque;
	uint32_t v = 0;

	assert_true(offset / 4 == (offset + size - 1) / 4);
	fn->reads++;
	fn->last_offset = offset;
	fn->last_size = size;
	memcpy(&v, fn->cfg + offset, size);
	return v;
}

static void fn_write(void *opaque, unsigned offset, uint32_t value, unsigned size)
{
	struct fake_fn *fn = opaque;

	fn->writes++;
	fn->last_offset = offset;
	fn->last_size = size;
	memcpy(fn->cfg + offset, &value, size);
}

static const struct pci_device_ops fn_ops = {.config_read = fn_read, .config_write = fn_write};

static void test_add_device(void **state)
{
	struct fixture *f = *state;
	struct fake_fn fn = {.cfg = {0xF4, 0x1A, 0x00, 0x10}};
	unsigned devfn = PCI_DEVFN(3, 0);

	assert_int_equal(pci_host_add_device(f->host, devfn, &fn_ops, &fn), 0);
	assert_int_equal(pci_host_add_device(f->host, devfn, &fn_ops, &fn), -EEXIST);
	assert_int_equal(pci_host_add_device(f->host, 0, &fn_ops, &fn), -EEXIST);
	assert_int_equal(pci_host_add_device(f->host, 256, &fn_ops, &fn), -EINVAL);
	assert_int_equal(cfg_read(f, 0, devfn, 0, 4), 0x10001AF4);
	assert_int_equal(cfg_read(f, 0, devfn, 0x43, 1), 0);
	assert_int_equal(fn.last_offset, 0x43);
	assert_int_equal(fn.last_size, 1);
	cfg_write(f, devfn, 0x12, 2, 0xBEEF);
	assert_int_equal(fn.last_offset, 0x12);
	assert_int_equal(cfg_read(f, 0, devfn, 0x10, 4), 0xBEEF0000);
	assert_int_equal(cfg_read(f, 0, PCI_DEVFN(3, 1), 0, 4), 0xFFFFFFFF);

	assert_int_equal(pci_host_remove_device(f->host, devfn), 0);
	assert_int_equal(pci_host_remove_device(f->host, devfn), -ENOENT);
	assert_int_equal(pci_host_remove_device(f->host, 0), -ENOENT);
	assert_int_equal(cfg_read(f, 0, devfn, 0, 4), 0xFFFFFFFF);
}

static void test_misaligned_data(void **state)
{
	struct fixture *f = *state;
	unsigned lines = 0;

	fake_log_silence(&lines);
	pio_out(f->bus, CF8, 4, 0x80000000);
	assert_int_equal(pio_in(f->bus, CFC + 3, 2), 0xFFFF);
	assert_int_equal(pio_in(f->bus, CFC + 1, 4), 0xFFFFFFFF);
	pio_out(f->bus, CFC + 2, 4, 0);
	assert_int_equal(pci_host_guest_errors(f->host), 3);
	assert_int_equal(cfg_read(f, 0, 0, 0, 4), 0x71928086);
	log_set_sink(NULL, NULL);
}

static int load_into(struct fixture *f, const struct state_out *out, char *err, size_t len)
{
	struct state_in in;
	int r;

	state_in_init(&in, out->buf, out->len);
	r = pci_host_load(f->host, PCI_HOST_STATE_VERSION, &in, err, len);
	if (r == 0)
		assert_int_equal(state_in_finish(&in), 0);
	return r;
}

static void test_save_load(void **state)
{
	struct fixture *f = *state, *g;
	struct state_out out;
	char err[160] = "";

	cfg_write(f, 0, 0x3C, 1, 0x0B);		       /* interrupt line: scratch */
	cfg_write(f, 0, 0x0D, 1, 0x40);		       /* latency timer */
	pio_out(f->bus, CF8, 4, cfg_addr(0, 0, 0x08)); /* left selecting the revision */
	assert_int_equal(setup((void **)&g), 0);
	state_out_init(&out);
	assert_int_equal(pci_host_save(f->host, &out), 0);
	assert_int_equal(load_into(g, &out, err, sizeof(err)), 0);
	/* CONFIG_ADDRESS came along: a data read without writing 0xCF8 reads the revision. */
	assert_int_equal(pio_in(g->bus, CF8, 4), pio_in(f->bus, CF8, 4));
	assert_int_equal(pio_in(g->bus, CFC, 1), 0x03);
	assert_int_equal(cfg_read(g, 0, 0, 0x3C, 1), 0x0B);
	assert_int_equal(cfg_read(g, 0, 0, 0x0D, 1), 0x40);
	/* Refused: reserved CONFIG_ADDRESS bits; another bridge's device ID; short. */
	out.buf[0] |= 0x01;
	assert_int_equal(load_into(g, &out, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "reserved"));
	out.buf[0] &= ~0x01;
	out.buf[4 + 0x02] ^= 0xFF;
	assert_int_equal(load_into(g, &out, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "read-only byte 0x02"));
	out.buf[4 + 0x02] ^= 0xFF;
	out.len--;
	assert_int_equal(load_into(g, &out, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "too short"));
	state_out_fini(&out);
	teardown((void **)&g);
}

/* Generation 1's i440FX: SeaBIOS's identity, PAM registers that read back what was written. */
static void test_i440fx(void **state)
{
	struct fixture f = {0};

	assert_int_equal(io_bus_new("pio", &f.bus), 0);
	assert_int_equal(pci_host_new_i440fx(f.bus, &f.host), 0);
	assert_int_equal(cfg_read(&f, 0, 0, 0x00, 4), 0x12378086);
	assert_int_equal(cfg_read(&f, 0, 0, 0x08, 4), 0x06000002); /* class 060000, rev 2 */
	/* SeaBIOS's make_bios_writable: PAM1-6 = 0x33, PAM0 = 0x30, written as two dwords. */
	assert_int_equal(cfg_read(&f, 0, 0, 0x58, 4), 0);
	cfg_write(&f, 0, 0x58, 4, 0x333330FF);
	cfg_write(&f, 0, 0x5C, 4, 0x33333333);
	assert_int_equal(cfg_read(&f, 0, 0, 0x58, 4), 0x33333000); /* 0x58 is not PAM: stays 0 */
	assert_int_equal(cfg_read(&f, 0, 0, 0x5C, 4), 0x33333333);
	/* Reserved PAM bits stay 0; so do the registers around them. */
	cfg_write(&f, 0, 0x58, 4, 0xFFFFFFFF);
	assert_int_equal(cfg_read(&f, 0, 0, 0x58, 4), 0x33333000);
	cfg_write(&f, 0, 0x60, 4, 0xFFFFFFFF);
	assert_int_equal(cfg_read(&f, 0, 0, 0x60, 4), 0);
	/*
	 * Saved state ("pci.host"): the PAM registers go with the configuration space into a new
	 * i440FX (the BIOS area's mapping does not change with them: it is RAM throughout); a
	 * reserved PAM bit, which the bridge never holds, is refused, as is a 440BX's state.
	 */
	cfg_write(&f, 0, 0x58, 4,
		  0x11111000); /* SeaBIOS's make_bios_readonly: read-only, shadowed */
	{
		struct fixture g = {0}, bx = {0};
		struct state_out out;
		char err[160] = "";

		assert_int_equal(io_bus_new("pio2", &g.bus), 0);
		assert_int_equal(pci_host_new_i440fx(g.bus, &g.host), 0);
		state_out_init(&out);
		assert_int_equal(pci_host_save(f.host, &out), 0);
		assert_int_equal(load_into(&g, &out, err, sizeof(err)), 0);
		assert_int_equal(cfg_read(&g, 0, 0, 0x58, 4), 0x11111000);
		assert_int_equal(cfg_read(&g, 0, 0, 0x5C, 4), 0x33333333);
		out.buf[4 + 0x59] |= 0x01; /* PAM0's low nibble is reserved */
		assert_int_equal(load_into(&g, &out, err, sizeof(err)), -EBADMSG);
		assert_non_null(strstr(err, "0x59"));
		out.buf[4 + 0x59] &= ~0x01;
		assert_int_equal(io_bus_new("pio3", &bx.bus), 0);
		assert_int_equal(pci_host_new(bx.bus, &bx.host), 0);
		assert_int_equal(load_into(&bx, &out, err, sizeof(err)), -EBADMSG);
		assert_non_null(strstr(err, "another chipset"));
		state_out_fini(&out);
		assert_null(pci_host_free(bx.host));
		io_bus_free(bx.bus);
		assert_null(pci_host_free(g.host));
		io_bus_free(g.bus);
	}
	assert_null(pci_host_free(f.host));
	io_bus_free(f.bus);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_free_null),
		T(test_host_bridge_ids),
		T(test_empty_slots),
		T(test_linux_type1_probe),
		T(test_config_address),
		T(test_read_only_fields),
		T(test_add_device),
		T(test_misaligned_data),
		T(test_save_load),
		cmocka_unit_test(test_i440fx),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

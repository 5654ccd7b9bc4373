/* Unit tests for the Hyper-V video PCI function (1414:5353) behind the PCI host. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "emu/pci_host.h"
#include "emu/pci_video.h"
#include "emu_fakes.h"
#include "state/state.h"
#include "vid/pc_layout.h"

#define CF8   PC_PORT_PCI_CONFIG
#define CFC   (PC_PORT_PCI_CONFIG + 4)
#define DEVFN PCI_DEVFN(8, 0)

static uint32_t rd(struct io_bus *bus, unsigned reg, unsigned size)
{
	pio_out(bus, CF8, 4, 0x80000000u | DEVFN << 8 | (reg & 0xFC));
	return pio_in(bus, CFC + (reg & 3), size);
}

static void wr(struct io_bus *bus, unsigned reg, unsigned size, uint32_t v)
{
	pio_out(bus, CF8, 4, 0x80000000u | DEVFN << 8 | (reg & 0xFC));
	pio_out(bus, CFC + (reg & 3), size, v);
}

static void test_identity_and_bar(void **state)
{
	struct io_bus *bus;
	struct pci_host *host;
	struct pci_video *v;

	(void)state;
	assert_int_equal(io_bus_new("pio", &bus), 0);
	assert_int_equal(pci_host_new(bus, &host), 0);
	assert_int_equal(pci_video_new(host, DEVFN, &v), 0);
	assert_int_equal(rd(bus, 0x00, 4), 0x53531414u);
	assert_int_equal(rd(bus, 0x08, 4) >> 8, 0x030000u); /* class: VGA display */
	assert_int_equal(rd(bus, 0x10, 4), PCI_VIDEO_BAR0_BASE | 0x8u);
	/* Sizing: all-ones reads back the size mask and the flag bits. */
	wr(bus, 0x10, 4, 0xFFFFFFFFu);
	assert_int_equal(rd(bus, 0x10, 4), (uint32_t) ~(PCI_VIDEO_BAR0_SIZE - 1) | 0x8u);
	wr(bus, 0x10, 4, 0xE0000000u);
	assert_int_equal(pci_video_bar0(v), 0xE0000008u);
	/* Read-only identity: a write to the vendor id changes nothing. */
	wr(bus, 0x00, 4, 0);
	assert_int_equal(rd(bus, 0x00, 2), 0x1414u);
	/* A second function in the same slot is refused; unplugging empties the slot. */
	assert_int_equal(pci_video_new(host, DEVFN, &(struct pci_video *){NULL}), -EEXIST);
	assert_null(pci_video_free(v));
	assert_int_equal(rd(bus, 0x00, 4), 0xFFFFFFFFu);
	assert_null(pci_video_free(NULL));
	pci_host_free(host);
	io_bus_free(bus);
}

static void test_save_load(void **state)
{
	struct io_bus *bus;
	struct pci_host *host;
	struct pci_video *v, *w;
	struct state_out out;
	struct state_in in;
	char err[160] = "";

	(void)state;
	assert_int_equal(io_bus_new("pio", &bus), 0);
	assert_int_equal(pci_host_new(bus, &host), 0);
	assert_int_equal(pci_video_new(host, DEVFN, &v), 0);
	assert_int_equal(pci_video_new(host, DEVFN + 8, &w), 0);
	wr(bus, 0x10, 4, 0xE0000000u); /* the guest moved BAR 0 and enabled memory decoding */
	wr(bus, 0x04, 2, 0x0002);
	state_out_init(&out);
	assert_int_equal(pci_video_save(v, &out), 0);
	state_in_init(&in, out.buf, out.len);
	assert_int_equal(pci_video_load(w, PCI_VIDEO_STATE_VERSION, &in, err, sizeof(err)), 0);
	assert_int_equal(state_in_finish(&in), 0);
	assert_int_equal(pci_video_bar0(w), 0xE0000008u);
	out.buf[0x02] ^= 0xFF; /* another device id */
	state_in_init(&in, out.buf, out.len);
	assert_int_equal(pci_video_load(w, PCI_VIDEO_STATE_VERSION, &in, err, sizeof(err)),
			 -EBADMSG);
	assert_non_null(strstr(err, "read-only byte 0x02"));
	state_in_init(&in, out.buf, out.len - 1);
	assert_int_equal(pci_video_load(w, PCI_VIDEO_STATE_VERSION, &in, err, sizeof(err)),
			 -EBADMSG);
	assert_non_null(strstr(err, "too short"));
	assert_int_equal(pci_video_bar0(w), 0xE0000008u);
	state_out_fini(&out);
	pci_video_free(w);
	pci_video_free(v);
	pci_host_free(host);
	io_bus_free(bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity_and_bar),
		cmocka_unit_test(test_save_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

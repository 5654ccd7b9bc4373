/*
 * Unit tests of the DEC 21140A (src/emu/dec21140/) over real guest memory (a
 * memfd) and a SOCK_SEQPACKET socket standing for the TAP queue: the PCI
 * function, the serial ROM and the MII PHY read as Linux's tulip driver
 * reads them (the same bit sequences as eeprom.c and media.c), frames both
 * ways through rings laid out as tulip_init_ring() lays them out, setup
 * frames (perfect and hash), and every ring fault. The device's I/O thread
 * is real: each check waits (generously) for what it looks for.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "emu/dec21140/dec21140.h"
#include "base/byteorder.h"
#include "base/compiler.h"
#include "emu/dec21140/dec21140_proto.h"
#include "emu_fakes.h"
#include "net/tap.h"
#include "state/state.h"
#include "vid/guest_memory.h"
#include "vid/pc_layout.h"

#define CF8	PC_PORT_PCI_CONFIG
#define CFC	(PC_PORT_PCI_CONFIG + 4)
#define DEVFN	PCI_DEVFN(10, 0)
#define IO	0xC100u
#define MMIO	0xFEBF0000u
#define RX_RING 0x10000u /* 4 descriptors */
#define TX_RING 0x11000u /* 4 descriptors */
#define RX_BUF	0x20000u /* 4 x 0x800 */
#define TX_BUF	0x30000u
#define SETUP	0x40000u

static const uint8_t mac[6] = {0x00, 0x15, 0x5d, 0x01, 0x02, 0x03};

struct rig {
	struct io_bus *pio, *mmio;
	struct guest_memory *mem;
	struct pci_host *host;
	struct dec21140 *d;
	struct fake_irq irq;
	int peer;    /* the switch side of the back end */
	int backend; /* a duplicate of the device's side: the TAP queue a restored worker gets */
	unsigned log_lines;
};

static void cfg_wr(struct rig *r, unsigned reg, unsigned size, uint32_t v)
{
	pio_out(r->pio, CF8, 4, 0x80000000u | DEVFN << 8 | (reg & 0xFC));
	pio_out(r->pio, CFC + (reg & 3), size, v);
}

static uint32_t cfg_rd(struct rig *r, unsigned reg, unsigned size)
{
	pio_out(r->pio, CF8, 4, 0x80000000u | DEVFN << 8 | (reg & 0xFC));
	return pio_in(r->pio, CFC + (reg & 3), size);
}

static void csr_w(struct rig *r, unsigned n, uint32_t v)
{
	pio_out(r->pio, IO + 8 * n, 4, v);
}

static uint32_t csr_r(struct rig *r, unsigned n)
{
	return pio_in(r->pio, IO + 8 * n, 4);
}

static void put32(struct rig *r, uint64_t gpa, uint32_t v)
{
	assert_int_equal(guest_memory_write(r->mem, gpa, &v, 4), 0);
}

static uint32_t get32(struct rig *r, uint64_t gpa)
{
	uint32_t v = 0;

	assert_int_equal(guest_memory_read(r->mem, gpa, &v, 4), 0);
	return v;
}

static void desc(struct rig *r, uint64_t at, uint32_t status, uint32_t control, uint32_t b1,
		 uint32_t b2)
{
	put32(r, at + 4, control);
	put32(r, at + 8, b1);
	put32(r, at + 12, b2);
	put32(r, at, status); /* ownership last, as a driver does */
}

static struct dec21140_stats stats(struct rig *r)
{
	struct dec21140_stats st;

	dec21140_get_stats(r->d, &st);
	return st;
}

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits up to 10 s for the bits of mask in CSR5 to equal want. */
static bool wait_csr5(struct rig *r, uint32_t mask, uint32_t want)
{
	for (uint64_t end = ms_now() + 10000; ms_now() < end; usleep(1000))
		if ((csr_r(r, 5) & mask) == want)
			return true;
	return false;
}

static bool wait_status(struct rig *r, uint64_t at, uint32_t mask, uint32_t want)
{
	for (uint64_t end = ms_now() + 10000; ms_now() < end; usleep(1000))
		if ((get32(r, at) & mask) == want)
			return true;
	return false;
}

/* A frame from the switch side: vnet header (no offload) and the bytes. */
static void peer_send(struct rig *r, const uint8_t *frame, size_t len)
{
	uint8_t buf[2048] = {0};

	memcpy(buf + sizeof(struct tap_vnet_hdr), frame, len);
	assert_int_equal(write(r->peer, buf, sizeof(struct tap_vnet_hdr) + len),
			 (ssize_t)(sizeof(struct tap_vnet_hdr) + len));
}

/* The next frame the device sent, without its vnet header: length, or -1 after 10 s. */
static ssize_t peer_recv(struct rig *r, uint8_t *frame, size_t max)
{
	uint8_t buf[4096];
	struct pollfd p = {.fd = r->peer, .events = POLLIN};
	ssize_t n;

	if (poll(&p, 1, 10000) != 1)
		return -1;
	n = read(r->peer, buf, sizeof(buf));
	if (n < (ssize_t)sizeof(struct tap_vnet_hdr))
		return -1;
	for (size_t i = 0; i < sizeof(struct tap_vnet_hdr); i++)
		assert_int_equal(buf[i], 0); /* no offloads asked of the switch */
	n -= (ssize_t)sizeof(struct tap_vnet_hdr);
	memcpy(frame, buf + sizeof(struct tap_vnet_hdr), (size_t)n < max ? (size_t)n : max);
	return n;
}

/* A device on the rig's buses and back end (a restored one: made quiesced, as the worker does). */
static struct dec21140 *make_device(struct rig *r, struct fake_irq *irq, const uint8_t *addr,
				    bool quiesced)
{
	struct dec21140 *d = NULL;
	struct dec21140_config c = {.name = "test",
				    .devfn = DEVFN,
				    .io_base = IO,
				    .mmio_base = MMIO,
				    .irq = fake_irq_line(irq, 16),
				    .mem = r->mem,
				    .backend_fd = dup(r->backend),
				    .connected = true,
				    .quiesced = quiesced};

	memcpy(c.mac, addr, 6);
	assert_int_equal(dec21140_new(r->host, r->pio, r->mmio, &c, &d), 0);
	return d;
}

static int setup(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));
	int sv[2];

	fake_log_silence(&r->log_lines);
	assert_int_equal(io_bus_new("pio", &r->pio), 0);
	assert_int_equal(io_bus_new("mmio", &r->mmio), 0);
	assert_int_equal(guest_memory_new(1 << 20, &r->mem), 0);
	assert_int_equal(pci_host_new(r->pio, &r->host), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv),
			 0);
	r->backend = sv[0];
	r->peer = sv[1];
	r->d = make_device(r, &r->irq, mac, false);
	cfg_wr(r, 0x04, 2, 0x0007); /* I/O, memory, bus master: pci_set_master() */
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	struct rig *r = *state;

	assert_null(dec21140_free(r->d));
	close(r->peer);
	close(r->backend);
	pci_host_free(r->host);
	guest_memory_free(r->mem);
	io_bus_free(r->mmio);
	io_bus_free(r->pio);
	free(r);
	return 0;
}

/* --- Linux's bit sequences (eeprom.c tulip_read_eeprom, media.c tulip_mdio_read/write) --- */

static unsigned linux_read_eeprom(struct rig *r, unsigned location, unsigned addr_len)
{
	unsigned read_cmd = location | 6u << addr_len, retval = 0;

	csr_w(r, 9, 0x4800);
	csr_w(r, 9, 0x4801);
	for (int i = 4 + (int)addr_len; i >= 0; i--) {
		unsigned dataval = (read_cmd & (1u << i)) ? 4 : 0;

		csr_w(r, 9, 0x4801 | dataval);
		csr_r(r, 9);
		csr_w(r, 9, 0x4801 | dataval | 2);
		csr_r(r, 9);
		retval = retval << 1 | ((csr_r(r, 9) & 8) ? 1 : 0);
	}
	csr_w(r, 9, 0x4801);
	for (int i = 16; i > 0; i--) {
		csr_w(r, 9, 0x4801 | 2);
		retval = retval << 1 | ((csr_r(r, 9) & 8) ? 1 : 0);
		csr_w(r, 9, 0x4801);
	}
	csr_w(r, 9, 0x4800);
	return retval;
}

static unsigned linux_mdio_read(struct rig *r, unsigned phy, unsigned loc)
{
	unsigned read_cmd = 0xf6u << 10 | (phy & 0x1f) << 5 | loc, retval = 0;

	for (int i = 32; i >= 0; i--) {
		csr_w(r, 9, 0x20000);
		csr_w(r, 9, 0x20000 | 0x10000);
	}
	for (int i = 15; i >= 0; i--) {
		unsigned dataval = (read_cmd & (1u << i)) ? 0x20000 : 0;

		csr_w(r, 9, dataval);
		csr_w(r, 9, dataval | 0x10000);
	}
	for (int i = 19; i > 0; i--) {
		csr_w(r, 9, 0x40000);
		retval = retval << 1 | ((csr_r(r, 9) & 0x80000) ? 1 : 0);
		csr_w(r, 9, 0x40000 | 0x10000);
	}
	return (retval >> 1) & 0xffff;
}

static void linux_mdio_write(struct rig *r, unsigned phy, unsigned loc, unsigned val)
{
	unsigned cmd = 0x5002u << 16 | (phy & 0x1f) << 23 | loc << 18 | (val & 0xffff);

	for (int i = 32; i >= 0; i--) {
		csr_w(r, 9, 0x20000);
		csr_w(r, 9, 0x20000 | 0x10000);
	}
	for (int i = 31; i >= 0; i--) {
		unsigned dataval = (cmd & (1u << i)) ? 0x20000 : 0;

		csr_w(r, 9, dataval);
		csr_w(r, 9, dataval | 0x10000);
	}
	for (int i = 2; i > 0; i--) {
		csr_w(r, 9, 0x40000);
		csr_w(r, 9, 0x40000 | 0x10000);
	}
}

/* tulip_up(): reset, rings at CSR3/CSR4, then the caller's setup frame and CSR6. */
static void linux_up(struct rig *r, unsigned nrx)
{
	csr_w(r, 0, 1);
	csr_w(r, 0, 0x01A08000);
	for (unsigned i = 0; i < nrx; i++)
		desc(r, RX_RING + 16 * i, DES0_OWN, 1540 | (i == nrx - 1 ? DES1_END_OF_RING : 0),
		     RX_BUF + 0x800 * i, 0);
	csr_w(r, 3, RX_RING);
	csr_w(r, 4, TX_RING);
	csr_w(r, 5, 0x0001ebef);
	csr_w(r, 7, 0x0001ebef);
}

/* A perfect-filter setup frame with addr in entry 15 and broadcast elsewhere, at TX slot 0. */
static void perfect_setup(struct rig *r, const uint8_t *addr)
{
	uint8_t f[SETUP_FRAME_LEN];

	memset(f, 0xff, sizeof(f));
	for (unsigned i = 0; i < 3; i++) {
		f[15 * 12 + 4 * i] = f[15 * 12 + 4 * i + 2] = addr[2 * i];
		f[15 * 12 + 4 * i + 1] = f[15 * 12 + 4 * i + 3] = addr[2 * i + 1];
	}
	assert_int_equal(guest_memory_write(r->mem, SETUP, f, sizeof(f)), 0);
	desc(r, TX_RING, DES0_OWN, TDES1_SET | SETUP_FRAME_LEN, SETUP, 0);
}

/* --- tests ------------------------------------------------------------------------------- */

static void test_pci_config(void **state)
{
	struct rig *r = *state;

	assert_int_equal(cfg_rd(r, 0x00, 4), 0x00091011u);
	assert_int_equal(cfg_rd(r, 0x08, 4), 0x02000000u | DEC21140_REVISION);
	assert_int_equal(cfg_rd(r, 0x10, 4), IO | 1);
	assert_int_equal(cfg_rd(r, 0x14, 4), MMIO);
	assert_int_equal(cfg_rd(r, 0x3C, 2), 0x0100 | 16); /* INTA#, line 16 */
	cfg_wr(r, 0x10, 4, 0xFFFFFFFFu);
	assert_int_equal(cfg_rd(r, 0x10, 4), 0xFFFFFF81u); /* 128 I/O ports */
	cfg_wr(r, 0x10, 4, IO);
	cfg_wr(r, 0x14, 4, 0xFFFFFFFFu);
	assert_int_equal(cfg_rd(r, 0x14, 4), 0xFFFFFF80u);
	cfg_wr(r, 0x14, 4, MMIO);
	/* The same CSRs through either BAR; CSR6 reads its reset value. */
	assert_int_equal(csr_r(r, 6), CSR6_RESET);
	assert_int_equal(io_bus_write(r->mmio, MMIO + 8 * 7, 4, 0x10000), true);
	assert_int_equal(csr_r(r, 7), 0x10000);
	/* A BAR moved elsewhere stops decoding there (counted). */
	cfg_wr(r, 0x10, 4, 0xD000);
	assert_int_equal(csr_r(r, 7), 0xFFFFFFFFu);
	assert_true(stats(r).guest_errors >= 1);
	cfg_wr(r, 0x10, 4, IO);
	assert_int_equal(csr_r(r, 7), 0x10000);
	/* Byte writes are not CSR writes. */
	pio_out(r->pio, IO + 8 * 7, 1, 0xFF);
	assert_int_equal(csr_r(r, 7), 0x10000);
}

static void test_srom(void **state)
{
	struct rig *r = *state;
	uint8_t ee[128];

	/* tulip_init_one(): bit 18 of an 8-bit-address read tells a 6-bit part. */
	assert_int_equal(linux_read_eeprom(r, 0xff, 8) & 0x40000, 0);
	for (unsigned i = 0; i < 64; i++) {
		unsigned w = linux_read_eeprom(r, i, 6) & 0xffff;

		ee[2 * i] = (uint8_t)w;
		ee[2 * i + 1] = (uint8_t)(w >> 8);
	}
	assert_memory_not_equal(ee, ee + 16, 8); /* new-format ROM: address at 20 */
	assert_memory_equal(ee + 20, mac, 6);
	assert_int_equal(ee[18], 4); /* format version */
	assert_int_equal(ee[19], 1); /* one controller */
	unsigned leaf = ee[27];
	assert_int_equal(ee[leaf] | ee[leaf + 1] << 8, 0x0800); /* autosense */
	assert_int_equal(ee[leaf + 3], 1);			/* one block */
	assert_int_equal(ee[leaf + 4] & 0x80, 0x80);		/* extended */
	assert_int_equal(ee[leaf + 5], 1);			/* 21140 MII PHY */
	/* Sequential reads beyond the command: the next word follows. */
	assert_int_equal(linux_read_eeprom(r, 63, 6) & 0xffff, ee[126] | ee[127] << 8);
}

static void test_mii(void **state)
{
	struct rig *r = *state;

	/* tulip_find_mii(): status at each address; only 1 answers. */
	assert_int_equal(linux_mdio_read(r, 1, 1), 0x782D);
	assert_int_equal(linux_mdio_read(r, 2, 1), 0xFFFF);
	assert_int_equal(linux_mdio_read(r, 0, 1), 0xFFFF);
	assert_int_equal(linux_mdio_read(r, 1, 0), 0x1000);
	assert_int_equal(linux_mdio_read(r, 1, 4), 0x01E1);
	assert_int_equal(linux_mdio_read(r, 1, 5), 0x41E1); /* partner: 100 full duplex */
	linux_mdio_write(r, 1, 4, 0x0181);
	assert_int_equal(linux_mdio_read(r, 1, 4), 0x0181);
	linux_mdio_write(r, 2, 4, 0x0021); /* another address: nobody */
	assert_int_equal(linux_mdio_read(r, 1, 4), 0x0181);
	linux_mdio_write(r, 1, 0, 0x8000); /* reset */
	assert_int_equal(linux_mdio_read(r, 1, 4), 0x01E1);
	dec21140_set_connected(r->d, false);
	assert_int_equal(linux_mdio_read(r, 1, 1) & 0x0024, 0);
	assert_int_equal(linux_mdio_read(r, 1, 5), 0);
	dec21140_set_connected(r->d, true);
	assert_int_equal(linux_mdio_read(r, 1, 1) & 0x0004, 0x0004);
}

static void test_tx_rx(void **state)
{
	struct rig *r = *state;
	uint8_t frame[1514], got[2048], other[6] = {0x00, 0x15, 0x5d, 9, 9, 9};
	ssize_t n;

	linux_up(r, 4);
	perfect_setup(r, mac);
	/* A frame in slot 1: 100 bytes from our MAC, interrupt on completion. */
	memset(frame, 0xA5, sizeof(frame));
	memset(frame, 0xff, 6);
	memcpy(frame + 6, mac, 6);
	frame[12] = 0x08;
	frame[13] = 0x00;
	assert_int_equal(guest_memory_write(r->mem, TX_BUF, frame, 100), 0);
	desc(r, TX_RING + 16, DES0_OWN, TDES1_IC | TDES1_FS | TDES1_LS | 100, TX_BUF, 0);
	csr_w(r, 6, 0x020E0000 | CSR6_ST | CSR6_SR);
	n = peer_recv(r, got, sizeof(got));
	assert_int_equal(n, 100);
	assert_memory_equal(got, frame, 100);
	assert_true(wait_csr5(r, CSR5_TU | CSR5_TI, CSR5_TU | CSR5_TI));
	assert_int_equal(get32(r, TX_RING) & DES0_OWN, 0);
	assert_int_equal(get32(r, TX_RING + 16), 0); /* sent, no error */
	assert_int_equal(fake_irq_level(&r->irq), 1);
	assert_int_equal(csr_r(r, 5) & CSR5_NIS, CSR5_NIS);
	assert_int_equal((csr_r(r, 5) >> CSR5_TS_SHIFT) & 7, 6); /* suspended */
	assert_int_equal(stats(r).setup_frames, 1);
	csr_w(r, 5, 0x1ffff);
	assert_int_equal(fake_irq_level(&r->irq), 0);
	/* A poll demand sends the next one. */
	desc(r, TX_RING + 32, DES0_OWN, TDES1_FS | TDES1_LS | 60, TX_BUF, 0);
	csr_w(r, 1, 0);
	assert_int_equal(peer_recv(r, got, sizeof(got)), 60);

	/* Receive: to our MAC (42 bytes: padded to 60, plus the CRC), then one filtered out. */
	memcpy(frame, mac, 6);
	memcpy(frame + 6, other, 6);
	peer_send(r, frame, 42);
	assert_true(wait_status(r, RX_RING, DES0_OWN, 0));
	uint32_t st = get32(r, RX_RING);
	assert_int_equal(st & (RDES0_FS | RDES0_LS | RDES0_ES), RDES0_FS | RDES0_LS);
	assert_int_equal((st >> RDES0_FL_SHIFT) & 0x3fff, 64);
	assert_int_equal(guest_memory_read(r->mem, RX_BUF, got, 42), 0);
	assert_memory_equal(got, frame, 42);
	assert_true(wait_csr5(r, CSR5_RI, CSR5_RI));
	memcpy(frame, other, 6);
	peer_send(r, frame, 100);
	memset(frame, 0xff, 6); /* broadcast: in the table */
	peer_send(r, frame, 1514);
	assert_true(wait_status(r, RX_RING + 16, DES0_OWN, 0));
	assert_int_equal((get32(r, RX_RING + 16) >> RDES0_FL_SHIFT) & 0x3fff, 1518);
	assert_int_equal(stats(r).rx_filtered, 1);
	assert_int_equal(stats(r).rx_packets, 2);
	assert_int_equal(stats(r).tx_packets, 2);

	/* Stopping is immediate: the state reads "stopped" right after the write. */
	csr_w(r, 6, 0x020E0000);
	assert_int_equal(csr_r(r, 5) & (7u << 17 | 7u << 20), 0);
	assert_int_equal(csr_r(r, 5) & (CSR5_TPS | CSR5_RPS), CSR5_TPS | CSR5_RPS);
	peer_send(r, frame, 100);
	for (uint64_t end = ms_now() + 10000; ms_now() < end && !stats(r).rx_stopped;)
		usleep(1000);
	assert_int_equal(stats(r).rx_stopped, 1);
}

static void test_spanning_and_missed(void **state)
{
	struct rig *r = *state;
	uint8_t frame[1000] = {0}, got[1004];

	/* Chained list of two descriptors with 600-byte buffers: a 1000-byte frame spans both. */
	csr_w(r, 0, 1);
	desc(r, RX_RING, DES0_OWN, DES1_CHAINED | 600, RX_BUF, RX_RING + 0x100);
	desc(r, RX_RING + 0x100, DES0_OWN, DES1_CHAINED | 600, RX_BUF + 0x800, RX_RING);
	csr_w(r, 3, RX_RING);
	csr_w(r, 6, CSR6_SR | CSR6_PR);
	memcpy(frame, mac, 6);
	for (unsigned i = 12; i < sizeof(frame); i++)
		frame[i] = (uint8_t)i;
	peer_send(r, frame, sizeof(frame));
	assert_true(wait_status(r, RX_RING + 0x100, DES0_OWN, 0));
	assert_int_equal(get32(r, RX_RING) & (RDES0_FS | RDES0_LS), RDES0_FS);
	assert_int_equal(get32(r, RX_RING + 0x100) & (RDES0_FS | RDES0_LS), RDES0_LS);
	assert_int_equal(guest_memory_read(r->mem, RX_BUF, got, 600), 0);
	assert_int_equal(guest_memory_read(r->mem, RX_BUF + 0x800, got + 600, 404), 0);
	assert_memory_equal(got, frame, sizeof(frame));
	/* The CRC follows the frame: the Ethernet FCS, little-endian. */
	uint8_t zero_frame_fcs[4];
	memcpy(zero_frame_fcs, got + 1000, 4);
	assert_memory_not_equal(zero_frame_fcs, "\0\0\0\0", 4);
	/* Nothing owned now: the next frame is missed, counted in CSR8 (cleared by reading). */
	peer_send(r, frame, 100);
	assert_true(wait_csr5(r, CSR5_RU, CSR5_RU));
	assert_int_equal(csr_r(r, 8), 1);
	assert_int_equal(csr_r(r, 8), 0);
	assert_int_equal((csr_r(r, 5) >> CSR5_RS_SHIFT) & 7, 4); /* suspended */
	/* Only one descriptor given back: the next frame does not fit (DE), truncated. */
	desc(r, RX_RING, DES0_OWN, DES1_CHAINED | 600, RX_BUF, RX_RING + 0x100);
	peer_send(r, frame, sizeof(frame));
	assert_true(wait_status(r, RX_RING, DES0_OWN, 0));
	assert_true(wait_status(r, RX_RING, RDES0_DE | RDES0_LS, RDES0_DE | RDES0_LS));
	assert_int_equal(stats(r).rx_truncated, 1);
}

static void test_setup_hash(void **state)
{
	struct rig *r = *state;
	uint8_t f[SETUP_FRAME_LEN] = {0}, frame[64] = {0};
	const uint8_t mc_in[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
	const uint8_t mc_out[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x02};
	unsigned bit = 0;
	uint32_t crc = 0xFFFFFFFFu;

	/* The hash index of mc_in: Linux's ether_crc_le(6, addr) & 0x1ff. */
	for (unsigned i = 0; i < 6; i++) {
		crc ^= mc_in[i];
		for (unsigned k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & -(crc & 1));
	}
	bit = crc & 0x1ff;
	f[4 * (bit / 16) + (bit % 16) / 8] |= (uint8_t)(1u << (bit % 8));
	for (unsigned i = 0; i < 3; i++) { /* the perfect address, longwords 39-41 */
		f[4 * (39 + i)] = mac[2 * i];
		f[4 * (39 + i) + 1] = mac[2 * i + 1];
	}
	assert_int_equal(guest_memory_write(r->mem, SETUP, f, sizeof(f)), 0);
	linux_up(r, 4);
	desc(r, TX_RING, DES0_OWN, TDES1_SET | TDES1_FT0 | SETUP_FRAME_LEN, SETUP, 0);
	csr_w(r, 6, CSR6_ST | CSR6_SR);
	assert_true(wait_csr5(r, CSR5_TU, CSR5_TU));
	assert_int_equal(csr_r(r, 6) & (CSR6_HP | CSR6_HO | CSR6_IF), CSR6_HP);
	memcpy(frame, mc_out, 6);
	peer_send(r, frame, 64);
	memcpy(frame, mc_in, 6);
	peer_send(r, frame, 64);
	memcpy(frame, mac, 6);
	peer_send(r, frame, 64);
	assert_true(wait_status(r, RX_RING + 16, DES0_OWN, 0));
	assert_int_equal(stats(r).rx_filtered, 1);
	assert_int_equal(get32(r, RX_RING) & RDES0_MF, RDES0_MF);
	assert_int_equal(get32(r, RX_RING + 16) & RDES0_MF, 0);
	/* Pass-all-multicast takes mc_out too. */
	csr_w(r, 6, CSR6_ST | CSR6_SR | CSR6_PM);
	memcpy(frame, mc_out, 6);
	peer_send(r, frame, 64);
	assert_true(wait_status(r, RX_RING + 32, DES0_OWN, 0));
	/* A setup frame that is not 192 bytes is refused (counted), the filter stays. */
	desc(r, TX_RING + 16, DES0_OWN, TDES1_SET | 100, SETUP, 0);
	csr_w(r, 1, 0);
	assert_true(wait_status(r, TX_RING + 16, DES0_OWN, 0));
	assert_int_equal(stats(r).setup_frames, 1);
	assert_int_equal(csr_r(r, 6) & CSR6_HP, CSR6_HP);
}

/* Ring faults: each stops the ring with the chip's error bits and a counter. */
static void test_faults(void **state)
{
	struct rig *r = *state;
	uint8_t got[64], frame[64] = {0};

	/* A transmit list outside RAM: fatal bus error, nothing moves until a reset. */
	linux_up(r, 4);
	csr_w(r, 4, 0xF0000000u);
	csr_w(r, 6, CSR6_ST);
	assert_true(wait_csr5(r, CSR5_FBE, CSR5_FBE));
	assert_int_equal((csr_r(r, 5) >> CSR5_EB_SHIFT) & 7, CSR5_EB_MASTER_ABORT);
	assert_int_equal((csr_r(r, 5) >> CSR5_TS_SHIFT) & 7, 0);
	assert_int_equal(stats(r).bus_errors, 1);
	assert_int_equal(fake_irq_level(&r->irq), 1); /* AIS */

	/* A buffer outside RAM (after the reset that recovers). */
	linux_up(r, 4);
	desc(r, TX_RING, DES0_OWN, TDES1_FS | TDES1_LS | 60, 0xFFFFF000u, 0);
	csr_w(r, 6, CSR6_ST);
	assert_true(wait_csr5(r, CSR5_FBE, CSR5_FBE));
	assert_int_equal(stats(r).bus_errors, 2);
	assert_int_equal(get32(r, TX_RING) & DES0_OWN, DES0_OWN); /* never closed */

	/* A frame over 2048 bytes: jabber, transmitter stopped. */
	linux_up(r, 4);
	desc(r, TX_RING, DES0_OWN, TDES1_FS | 1500, TX_BUF, 0);
	desc(r, TX_RING + 16, DES0_OWN, TDES1_LS | 1500, TX_BUF, 0);
	csr_w(r, 6, CSR6_ST);
	assert_true(wait_csr5(r, CSR5_TJT | CSR5_TPS, CSR5_TJT | CSR5_TPS));
	assert_int_equal(get32(r, TX_RING + 16), TDES0_ES | TDES0_TO);
	assert_int_equal(stats(r).ring_errors, 1);
	assert_int_equal(read(r->peer, got, sizeof(got)), -1); /* nothing was sent */
	assert_int_equal(errno, EAGAIN);

	/* 70 owned one-byte descriptors in a ring, no last segment: jabber at 64. */
	linux_up(r, 4);
	for (unsigned i = 0; i < 70; i++)
		desc(r, 0x50000 + 16 * i, DES0_OWN, (i == 0 ? TDES1_FS : 0) | 1, TX_BUF, 0);
	csr_w(r, 4, 0x50000);
	csr_w(r, 6, CSR6_ST);
	assert_true(wait_csr5(r, CSR5_TJT, CSR5_TJT));
	assert_int_equal(get32(r, 0x50000 + 16 * 64), TDES0_ES | TDES0_TO);

	/* A receive list outside RAM. */
	linux_up(r, 4);
	csr_w(r, 3, 0xF0000000u);
	csr_w(r, 6, CSR6_SR | CSR6_PR);
	assert_true(wait_csr5(r, CSR5_FBE, CSR5_FBE));

	/* A receive buffer outside RAM. */
	linux_up(r, 4);
	desc(r, RX_RING, DES0_OWN, 1540, 0xFFFFF800u, 0);
	csr_w(r, 6, CSR6_SR | CSR6_PR);
	memcpy(frame, mac, 6);
	peer_send(r, frame, 64);
	assert_true(wait_csr5(r, CSR5_FBE, CSR5_FBE));

	/* 70 owned zero-size receive descriptors: the receiver stops at 64 (RPS). */
	linux_up(r, 4);
	for (unsigned i = 0; i < 70; i++)
		desc(r, 0x60000 + 16 * i, DES0_OWN, 0, RX_BUF, 0);
	csr_w(r, 3, 0x60000);
	csr_w(r, 6, CSR6_SR | CSR6_PR);
	peer_send(r, frame, 64);
	assert_true(wait_csr5(r, CSR5_RPS, CSR5_RPS));
	assert_int_equal((csr_r(r, 5) >> CSR5_RS_SHIFT) & 7, 0);
	assert_true(stats(r).ring_errors >= 3);
}

static void test_timer(void **state)
{
	struct rig *r = *state;

	linux_up(r, 4);
	csr_w(r, 7, 0x0001ebef | CSR5_GTE);
	csr_w(r, 11, 12); /* what tulip_interrupt() writes to re-enable interrupts later */
	assert_true(wait_csr5(r, CSR5_GTE, CSR5_GTE));
	assert_int_equal(fake_irq_level(&r->irq), 1);
	assert_int_equal(csr_r(r, 11), 0);
}

/* --- saved state (dec21140_state.c) ------------------------------------------------------ */

/* Layout of section version 1 (dec21140_state.c's header), for the hostile loads below. */
#define ST_MAC	    0u
#define ST_CONFIG   6u
#define ST_CSR(n)   (262u + 4u * (n))
#define ST_FLAGS    326u /* irq_level bus_fault tx_kick rx_kick gpt_running */
#define ST_RX_CUR   331u
#define ST_GPT_LEFT 339u
#define ST_FILTER   356u
#define ST_SROM	    517u /* phase, then bits shift addr out out_bits (u32), dout sk */
#define ST_MII	    543u
#define ST_TX_TAIL  8u /* tx_descs tx_len, last when no frame is being gathered */

/* The worker's save: the vCPUs are paused, the I/O thread stops between frames, the section. */
static void save_device(struct rig *r, struct state_out *out)
{
	dec21140_quiesce(r->d); /* at once if it is already */
	state_out_init(out);
	assert_int_equal(dec21140_save(r->d, out), 0);
}

static int load_bytes(struct rig *r, const void *b, size_t len, uint32_t version, char *err,
		      size_t errlen)
{
	struct state_in in;

	state_in_init(&in, b, len);
	return dec21140_load(r->d, version, &in, err, errlen);
}

/* The worker's restore: the saved adapter goes, one made from the same configuration loads. */
static void restore_device(struct rig *r, const uint8_t *b, size_t len)
{
	char err[256] = "";

	assert_null(dec21140_free(r->d));
	memset(&r->irq, 0, sizeof(r->irq));
	r->d = make_device(r, &r->irq, mac, true);
	if (load_bytes(r, b, len, DEC21140_STATE_VERSION, err, sizeof(err)) < 0)
		fail_msg("load: %s", err);
	assert_int_equal(fake_irq_level(&r->irq), 0); /* not before the partition runs */
	dec21140_restore_started(r->d);
}

/* Linux's tulip_read_eeprom() up to the data: the command and address bits (eeprom.c). */
static void eeprom_command(struct rig *r, unsigned location)
{
	unsigned read_cmd = location | 6u << 6;

	csr_w(r, 9, 0x4800);
	csr_w(r, 9, 0x4801);
	for (int i = 4 + 6; i >= 0; i--) {
		unsigned dataval = (read_cmd & (1u << i)) ? 4 : 0;

		csr_w(r, 9, 0x4801 | dataval);
		csr_w(r, 9, 0x4801 | dataval | 2);
	}
	csr_w(r, 9, 0x4801);
}

/* The next n data bits of the word being read. */
static unsigned eeprom_bits(struct rig *r, unsigned n)
{
	unsigned v = 0;

	for (unsigned i = 0; i < n; i++) {
		csr_w(r, 9, 0x4801 | 2);
		v = v << 1 | ((csr_r(r, 9) & 8) ? 1 : 0);
		csr_w(r, 9, 0x4801);
	}
	return v;
}

static void frame_from_us(uint8_t *f, size_t len, uint8_t fill)
{
	memset(f, fill, len);
	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	f[12] = 0x08;
	f[13] = 0x00;
}

/* Nothing more was sent: the socket is empty. */
static void peer_quiet(struct rig *r)
{
	uint8_t buf[64];

	assert_int_equal(read(r->peer, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
}

/*
 * Saved with work in every part of the adapter: a frame sent and one received before, a
 * transmit descriptor queued by a poll demand the I/O thread has not taken, a received frame
 * waiting in the TAP queue, the perfect filter loaded, the continuous timer running, a serial
 * ROM read half done, a PHY register written, TI and RI pending with the line high. The new
 * adapter goes on from there: the queued frame goes out once, nothing earlier again, the
 * waiting frame lands in the next receive descriptor, the filter still filters, the ROM read
 * ends with the right word, the timer fires, the line is high again.
 */
static void test_save_restore(void **state)
{
	struct rig *r = *state;
	uint8_t f1[100], f2[300], got[2048], rx[64] = {0};
	const uint8_t other[6] = {0x00, 0x15, 0x5d, 9, 9, 9};
	struct state_out out;
	unsigned hi;
	uint32_t csr6, rx0;

	linux_up(r, 4);
	perfect_setup(r, mac);
	frame_from_us(f1, sizeof(f1), 0x11);
	assert_int_equal(guest_memory_write(r->mem, TX_BUF, f1, sizeof(f1)), 0);
	desc(r, TX_RING + 16, DES0_OWN, TDES1_IC | TDES1_FS | TDES1_LS | sizeof(f1), TX_BUF, 0);
	csr_w(r, 6, 0x020E0000 | CSR6_ST | CSR6_SR);
	assert_int_equal(peer_recv(r, got, sizeof(got)), (ssize_t)sizeof(f1));
	assert_true(wait_csr5(r, CSR5_TU, CSR5_TU));
	memcpy(rx, mac, 6);
	memcpy(rx + 6, other, 6);
	rx[20] = 1;
	peer_send(r, rx, sizeof(rx));
	assert_true(wait_status(r, RX_RING, DES0_OWN, 0));
	rx0 = get32(r, RX_RING);
	linux_mdio_write(r, 1, 4, 0x0181);
	csr_w(r, 11, CSR11_CON | 0x1000); /* 0.34 s, again and again */
	eeprom_command(r, 10);		  /* word 10: the MAC's bytes 0 and 1 */
	hi = eeprom_bits(r, 8);
	csr6 = csr_r(r, 6);
	assert_int_equal(fake_irq_level(&r->irq), 1);

	/* Paused: the vCPU queues a frame and demands a poll, a frame arrives; nobody takes them.
	 */
	dec21140_quiesce(r->d);
	frame_from_us(f2, sizeof(f2), 0x22);
	assert_int_equal(guest_memory_write(r->mem, TX_BUF + 0x800, f2, sizeof(f2)), 0);
	desc(r, TX_RING + 32, DES0_OWN, TDES1_IC | TDES1_FS | TDES1_LS | sizeof(f2), TX_BUF + 0x800,
	     0);
	csr_w(r, 1, 0);
	rx[20] = 2;
	peer_send(r, rx, sizeof(rx));
	save_device(r, &out);
	assert_int_equal(get32(r, TX_RING + 32) & DES0_OWN, DES0_OWN);
	restore_device(r, out.buf, out.len);
	state_out_fini(&out);

	assert_int_equal(fake_irq_level(&r->irq), 1); /* TI, RI still pending */
	assert_int_equal(csr_r(r, 6), csr6);
	assert_int_equal(peer_recv(r, got, sizeof(got)), (ssize_t)sizeof(f2));
	assert_memory_equal(got, f2, sizeof(f2));
	assert_true(wait_status(r, TX_RING + 32, DES0_OWN, 0));
	assert_true(wait_csr5(r, 7u << CSR5_TS_SHIFT, TS_SUSPENDED << CSR5_TS_SHIFT));
	peer_quiet(r); /* f1 not again */
	assert_int_equal(stats(r).tx_packets, 1);
	/* The frame that waited in the TAP queue, into descriptor 1; descriptor 0 untouched. */
	assert_true(wait_status(r, RX_RING + 16, DES0_OWN, 0));
	assert_int_equal(guest_memory_read(r->mem, RX_BUF + 0x800, got, sizeof(rx)), 0);
	assert_int_equal(got[20], 2);
	assert_int_equal(get32(r, RX_RING), rx0);
	/* The filter: another station's frame is dropped, ours goes to descriptor 2. */
	memcpy(rx, other, 6);
	peer_send(r, rx, sizeof(rx));
	memcpy(rx, mac, 6);
	rx[20] = 3;
	peer_send(r, rx, sizeof(rx));
	assert_true(wait_status(r, RX_RING + 32, DES0_OWN, 0));
	assert_int_equal(stats(r).rx_filtered, 1);
	assert_int_equal(stats(r).rx_packets, 2);
	/* The ROM read ends where it was: word 10 is the MAC's bytes 0 and 1 (SROM byte 20). */
	assert_int_equal(hi << 8 | eeprom_bits(r, 8), (unsigned)(mac[0] | mac[1] << 8));
	csr_w(r, 9, 0x4800);
	assert_int_equal(linux_mdio_read(r, 1, 4), 0x0181);
	/* The timer runs on: continuous, at most its period left, and it fires again. */
	assert_int_equal(csr_r(r, 11) & CSR11_CON, CSR11_CON);
	assert_true((csr_r(r, 11) & CSR11_VALUE_MASK) <= 0x1000);
	csr_w(r, 5, CSR5_GTE);
	assert_true(wait_csr5(r, CSR5_GTE, CSR5_GTE));
}

/*
 * A pass that spent its budget inside a frame: the first part was gathered from descriptors
 * already closed, so the bytes are in the state and the rest is at tx_cur. The state is the
 * one such a pass leaves (the budget cannot be stopped at from a test): an idle adapter with
 * its transmitter running, and the gathered bytes put at the section's end. The restored
 * adapter sends the whole frame once.
 */
static void test_save_mid_frame(void **state)
{
	struct rig *r = *state;
	uint8_t frame[100], got[2048], *b;
	struct state_out out;
	size_t len;

	linux_up(r, 4);
	frame_from_us(frame, sizeof(frame), 0x33);
	assert_int_equal(guest_memory_write(r->mem, TX_BUF, frame + 40, 60), 0);
	desc(r, TX_RING, DES0_OWN, TDES1_LS | 60, TX_BUF, 0); /* the last segment */
	dec21140_quiesce(r->d);
	csr_w(r, 6, CSR6_ST); /* running, the I/O thread woken: parked */
	save_device(r, &out);
	len = out.len - ST_TX_TAIL + 8 + 40;
	b = malloc(len);
	memcpy(b, out.buf, out.len - ST_TX_TAIL);
	put_le32(b + out.len - ST_TX_TAIL, 1);	    /* one descriptor */
	put_le32(b + out.len - ST_TX_TAIL + 4, 40); /* 40 bytes */
	memcpy(b + out.len, frame, 40);
	restore_device(r, b, len);
	assert_int_equal(peer_recv(r, got, sizeof(got)), (ssize_t)sizeof(frame));
	assert_memory_equal(got, frame, sizeof(frame));
	assert_true(wait_status(r, TX_RING, DES0_OWN, 0));
	assert_true(wait_csr5(r, CSR5_TU, CSR5_TU));
	peer_quiet(r);
	/* Saved again idle and restored: nothing is sent again. */
	state_out_fini(&out);
	save_device(r, &out);
	restore_device(r, out.buf, out.len);
	assert_true(wait_csr5(r, CSR5_TU, CSR5_TU));
	peer_quiet(r);
	free(b);
	state_out_fini(&out);
}

/* A copy of the saved bytes with a u32 (or a byte, when size is 1) at off changed. */
static uint8_t *patched(const struct state_out *out, size_t off, unsigned size, uint32_t v)
{
	uint8_t *b = malloc(out->len);

	memcpy(b, out->buf, out->len);
	if (size == 1)
		b[off] = (uint8_t)v;
	else
		put_le32(b + off, v);
	return b;
}

/* Hostile sections: every one refused by name, and the adapter left as it was. */
static void test_load_hostile(void **state)
{
	static const struct {
		size_t off;
		unsigned size;
		uint32_t v;
		const char *why;
	} bad[] = {
		{ST_MAC + 5, 1, 0x99, "MAC address"},
		{ST_CONFIG + 0, 1, 0x12, "read-only PCI configuration byte 0x00"},
		{ST_CONFIG + 0x10, 1, 0x00, "read-only PCI configuration byte 0x10"},
		{ST_CSR(0), 4, 0x01A08001, "CSR0"},
		{ST_CSR(3), 4, 0x10002, "CSR3 or CSR4"},
		{ST_CSR(5), 4, 0xFC000000u | 5u << CSR5_TS_SHIFT, "transmit process state"},
		{ST_CSR(5), 4, 0xFC000000u | 2u << CSR5_RS_SHIFT, "receive process state"},
		{ST_CSR(5), 4, 0x0000000u, "CSR5: bits"},
		{ST_CSR(6), 4, CSR6_RESET | CSR6_HP, "HP/HO/IF"},
		{ST_CSR(7), 4, 0x00020000, "CSR7"},
		{ST_CSR(9), 4, CSR9_SR_DO, "CSR9"},
		{ST_FLAGS + 1, 1, 2, "flag"},
		{ST_FLAGS + 0, 1, 1, "irq_level"},
		{ST_RX_CUR, 4, 0x10002, "rx_cur"},
		{ST_GPT_LEFT + 4, 4, 0x10, "timer"},
		{ST_FILTER, 1, 4, "filter mode"},
		{ST_SROM, 4, 5, "serial ROM phase"},
		{ST_SROM + 12, 4, 64, "serial ROM address"},
		{ST_SROM + 16, 4, 0x10000, "16-bit"},
		{ST_MII, 4, 6, "MII phase"},
	};
	struct rig *r = *state;
	struct state_out out;
	char err[256];
	uint8_t *b;

	linux_up(r, 4);
	state_out_init(&out);
	assert_int_equal(dec21140_save(r->d, &out), -EBUSY); /* the I/O thread runs */
	state_out_fini(&out);
	save_device(r, &out);
	dec21140_unquiesce(r->d);
	csr_w(r, 0, 1); /* back to reset: a refused load must leave it so */
	assert_int_equal(out.len, ST_MII + 35 + ST_TX_TAIL);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		b = patched(&out, bad[i].off, bad[i].size, bad[i].v);
		err[0] = 0;
		assert_int_equal(load_bytes(r, b, out.len, 1, err, sizeof(err)), -EBADMSG);
		if (!strstr(err, bad[i].why))
			fail_msg("field at %zu: \"%s\" does not name %s", bad[i].off, err,
				 bad[i].why);
		free(b);
	}
	/* Every truncation; bytes left over; versions this build does not know. */
	for (size_t n = 0; n < out.len; n++)
		assert_int_equal(load_bytes(r, out.buf, n, 1, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "too short"));
	b = malloc(out.len + 1);
	memcpy(b, out.buf, out.len);
	b[out.len] = 0;
	assert_int_equal(load_bytes(r, b, out.len + 1, 1, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "longer"));
	free(b);
	assert_int_equal(load_bytes(r, out.buf, out.len, 0, err, sizeof(err)), -EBADMSG);
	assert_int_equal(
		load_bytes(r, out.buf, out.len, DEC21140_STATE_VERSION + 1, err, sizeof(err)),
		-EBADMSG);
	assert_non_null(strstr(err, "version"));
	/* The frame being gathered: over 2048 bytes, over 64 descriptors, bytes outside one. */
	b = patched(&out, out.len - 4, 4, 3000);
	assert_int_equal(load_bytes(r, b, out.len, 1, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "tx_len"));
	free(b);
	b = patched(&out, out.len - 8, 4, 65);
	assert_int_equal(load_bytes(r, b, out.len, 1, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "tx_descs"));
	free(b);
	b = patched(&out, out.len - 8, 4, 1); /* a frame, but the transmitter is stopped */
	assert_int_equal(load_bytes(r, b, out.len, 1, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "tx_descs"));
	free(b);
	/* Nothing of it was taken: the CSRs are reset ones, the list bases zero. */
	assert_int_equal(csr_r(r, 6), CSR6_RESET);
	assert_int_equal(csr_r(r, 4), 0);
	/* The good bytes load. */
	assert_int_equal(load_bytes(r, out.buf, out.len, 1, err, sizeof(err)), 0);
	assert_int_equal(csr_r(r, 4), TX_RING);
	state_out_fini(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pci_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_srom, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mii, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_rx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spanning_and_missed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_setup_hash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_mid_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_hostile, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

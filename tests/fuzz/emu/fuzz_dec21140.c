/*
 * Fuzz target: the DEC 21140A's CSR writes and its descriptor-ring walker
 * (src/emu/dec21140/). One adapter over 1 MiB of real guest memory (a
 * memfd, zeroed for each input) with a SOCK_SEQPACKET socket as its TAP.
 * The input is a sequence of 6-byte operations:
 *
 *   byte 0   bits 0-2: 0 CSR write, 1 CSR read (CSR byte 1 % 16, through BAR0)
 *                      2 guest memory: the value at 64 * byte 1 + 4 * (bits 3-6)
 *                        (descriptors and buffers live in the first 16 KiB)
 *                      3 a frame from the switch: value bits 0-10 its length,
 *                        its bytes the guest memory at 0x2000 (so descriptors
 *                        and frames share what the fuzzer wrote)
 *                      4 run the I/O thread's work now (transmit and receive)
 *                      5 PCI configuration write (register byte 1)
 *            bit 7:    the cable (1: out)
 *   byte 1   register or offset
 *   byte 2-5 value, little-endian
 *
 * Seeds (corpus/dec21140, by make_dec21140_corpus.py): Linux's bring-up
 * (reset, rings, setup frame, CSR6 start), a transmit, a receive, and
 * rings that loop or point outside RAM.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "emu/dec21140/dec21140_internal.h"
#include "vid/guest_memory.h"
#include "vid/pc_layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IO    0xC100u
#define MMIO  0xFEBF0000u
#define DEVFN PCI_DEVFN(10, 0)

static struct guest_memory *mem;
static struct io_bus *pio, *mmio;
static struct pci_host *host;

static void quiet(void *opaque, enum log_level level, const char *line)
{
}

static void irq(void *opaque, unsigned gsi, bool level)
{
}

static void setup(void)
{
	log_set_sink(quiet, NULL);
	if (guest_memory_new(1u << 20, &mem) < 0 || io_bus_new("pio", &pio) < 0 ||
	    io_bus_new("mmio", &mmio) < 0 || pci_host_new(pio, &host) < 0)
		abort();
}

static void config_write(unsigned reg, uint32_t v)
{
	io_bus_write(pio, PC_PORT_PCI_CONFIG, 4, 0x80000000u | DEVFN << 8 | (reg & 0xFC));
	io_bus_write(pio, PC_PORT_PCI_CONFIG + 4, 4, v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dec21140 *d;
	uint8_t frame[sizeof(struct tap_vnet_hdr) + 2048];
	uint64_t v64;
	int sv[2];

	if (!mem)
		setup();
	if (guest_memory_fill(mem, 0, 0, 1u << 20) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	struct dec21140_config c = {.name = "fuzz",
				    .devfn = DEVFN,
				    .io_base = IO,
				    .mmio_base = MMIO,
				    .irq = {.set_level = irq},
				    .mem = mem,
				    .mac = {0x00, 0x15, 0x5d, 1, 2, 3},
				    .backend_fd = sv[0],
				    .connected = true};
	if (dec21140_new(host, pio, mmio, &c, &d) < 0)
		abort();
	config_write(0x04, 0x0007);
	for (size_t i = 0; i + 6 <= size; i += 6) {
		const uint8_t *op = data + i;
		uint32_t v = op[2] | op[3] << 8 | op[4] << 16 | (uint32_t)op[5] << 24;
		size_t len;

		dec21140_set_connected(d, !(op[0] & 0x80));
		switch (op[0] & 7) {
		case 0: io_bus_write(pio, IO + 8 * (op[1] % 16), 4, v); break;
		case 1: io_bus_read(pio, IO + 8 * (op[1] % 16), 4, &v64); break;
		case 2:
			if (guest_memory_write(mem, 64u * op[1] + 4u * ((op[0] >> 3) & 15), &v, 4) <
			    0)
				abort();
			break;
		case 3:
			len = sizeof(struct tap_vnet_hdr) + (v & 0x7FF);
			memset(frame, 0, sizeof(struct tap_vnet_hdr));
			if (guest_memory_read(mem, 0x2000, frame + sizeof(struct tap_vnet_hdr),
					      v & 0x7FF) < 0)
				abort();
			frame[0] = (uint8_t)(v >> 16) & TAP_VNET_F_NEEDS_CSUM;
			memcpy(frame + 6, op + 2, 4); /* csum_start, csum_offset */
			pthread_mutex_lock(&d->lock);
			dec_rx_frame(d, frame, len);
			pthread_mutex_unlock(&d->lock);
			break;
		case 4:
			pthread_mutex_lock(&d->lock);
			dec_rx_poll(d);
			for (unsigned k = 0; k < 8 && dec_tx_run(d); k++)
				;
			pthread_mutex_unlock(&d->lock);
			break;
		case 5: config_write(op[1], v); break;
		}
		/* Drain what the device sent, so the socket never fills. */
		while (read(sv[1], frame, sizeof(frame)) > 0)
			;
	}
	dec21140_free(d);
	close(sv[1]);
	return 0;
}

/*
 * The legacy network adapter of a Generation 1 VM: a DEC 21140A ("tulip")
 * on PCI, as Hyper-V offers it to guests without integration components.
 * Linux's `tulip` driver, Windows' dc21x4 and a BIOS PXE stack drive it.
 *
 * The CSRs are decoded in an I/O BAR (BAR0, 128 ports) and a memory BAR
 * (BAR1, 128 bytes) at the addresses the configuration gives (the
 * "firmware" assignment, kept by Linux); INTA# is one interrupt line. The
 * transmit and receive descriptor lists live in guest memory; the device
 * moves frames between them and a back end: a TAP queue with a virtio-net
 * header (net/tap.h), the same switch port a synthetic adapter uses.
 *
 * Threads: register and configuration accesses run on vCPU threads (one
 * mutex guards the device); every descriptor, buffer and setup-frame
 * access to guest memory runs on the adapter's own I/O thread, which a
 * poll demand, a CSR6 start or a back-end frame wakes, and which does at
 * most a bounded batch per wake-up. A vCPU thread never touches guest
 * memory here and never waits for more than one frame's processing.
 *
 * Files: dec21140.c (PCI function, CSRs, interrupts, the I/O thread),
 * dec21140_ring.c (descriptor lists, setup frame, address filter),
 * dec21140_serial.c (the 93C46 serial ROM and the MII PHY on CSR9),
 * dec21140_proto.h (the chip's programming interface). Docs:
 * docs/generation1.md.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "emu/pci_host.h"
#include "vid/guest_memory.h"
#include "vid/io_bus.h"
#include "vid/irq.h"

struct dec21140;

struct dec21140_config {
	const char *name;    /* the adapter's id, for logs */
	unsigned devfn;	     /* PCI device/function on bus 0 */
	uint16_t io_base;    /* BAR0, 128-byte aligned */
	uint32_t mmio_base;  /* BAR1, 128-byte aligned, in the PCI window */
	struct irq_line irq; /* INTA#, level-triggered */
	struct guest_memory *mem;
	uint8_t mac[6]; /* in the serial ROM */
	/*
	 * The back end: a non-blocking descriptor carrying one frame per read
	 * and write, each preceded by a struct tap_vnet_hdr (a TAP queue, or a
	 * SOCK_SEQPACKET socket in tests). Owned from dec21140_new on, closed
	 * by dec21140_free (also when _new fails).
	 */
	int backend_fd;
	bool connected;	   /* link at power-on (the PHY's link status) */
	bool mac_spoofing; /* send guest frames whose source is not mac */
	/*
	 * Made quiesced (a restore): the I/O thread parks before it reads a frame or a
	 * descriptor, until dec21140_unquiesce, so that nothing the TAP queue holds is taken
	 * before the saved state is loaded.
	 */
	bool quiesced;
};

/* PCI slot and layout of the legacy adapters (docs/generation1.md). */
#define DEC21140_MAX_ADAPTERS 4u
#define DEC21140_FIRST_SLOT   10u	  /* 00:0a.0, where Hyper-V puts its legacy adapter */
#define DEC21140_IO_BASE      0xC100u	  /* + 0x80 per adapter */
#define DEC21140_MMIO_BASE    0xFEBF0000u /* + 0x1000 per adapter */
#define DEC21140_FIRST_GSI    16u	  /* IOAPIC pins 16-19: PCI lines, no ISA IRQ shared */

int dec21140_new(struct pci_host *host, struct io_bus *pio, struct io_bus *mmio,
		 const struct dec21140_config *cfg, struct dec21140 **ret) must_check;
/* Stops the I/O thread, unplugs the function, closes the back end. NULL ok; returns NULL. */
struct dec21140 *dec21140_free(struct dec21140 *d);

/* The cable (the PHY's link status and link partner). Any thread. */
void dec21140_set_connected(struct dec21140 *d, bool connected);
void dec21140_set_mac_spoofing(struct dec21140 *d, bool allowed);

/*
 * A save (docs/saved-state.md, section "dec21140.N"; dec21140_state.c). quiesce stops the I/O
 * thread between two passes and waits until it has: no descriptor, buffer or back-end frame is
 * touched until unquiesce (a save that failed: the adapter goes on as before) or free (saved).
 * The vCPUs are paused first, so no register access comes meanwhile. Control thread.
 */
void dec21140_quiesce(struct dec21140 *d);
void dec21140_unquiesce(struct dec21140 *d);

/*
 * The guest-visible state, quiesced (save takes the lock; -EBUSY if not quiesced). load
 * decodes a section of version 1..DEC21140_STATE_VERSION into a device made from the same
 * configuration, before any vCPU runs: every field is checked first (errbuf names the one
 * refused, -EBADMSG; nothing changes), then the state is taken and the I/O thread woken for
 * the work that was pending (it runs once unquiesced); the line waits for
 * dec21140_restore_started.
 */
#define DEC21140_STATE_VERSION 1u
struct state_out;
struct state_in;
int dec21140_save(struct dec21140 *d, struct state_out *out) must_check;
int dec21140_load(struct dec21140 *d, uint32_t version, struct state_in *in, char *errbuf,
		  size_t errlen) must_check;
/*
 * After a load, once the partition runs (its interrupt controller's state is set): drives
 * INTA# to what the registers say and unquiesces the I/O thread (an adapter made quiesced).
 */
void dec21140_restore_started(struct dec21140 *d);

struct dec21140_stats {
	bool connected, mac_spoofing;
	uint32_t csr5, csr6;	       /* as the guest would read them */
	uint64_t rx_packets, rx_bytes; /* back end -> guest frames delivered */
	uint64_t tx_packets, tx_bytes; /* guest -> back end frames sent */
	uint64_t setup_frames;	       /* address-filter setups applied */
	uint64_t interrupts;	       /* INTA# raised (low -> high) */
	uint64_t rx_missed;	       /* no receive descriptor owned (CSR8) */
	uint64_t rx_filtered;	       /* not for the guest's address filter */
	uint64_t rx_stopped;	       /* arrived while the receiver was off */
	uint64_t rx_truncated;	       /* did not fit the guest's buffers (RDES0 DE) */
	uint64_t tx_spoofed;	       /* source MAC not the adapter's */
	uint64_t tx_link_down;	       /* sent while the cable is out */
	uint64_t tx_backend_errors;    /* the back end refused the frame */
	uint64_t bus_errors;	       /* DMA outside guest RAM: fatal bus error */
	uint64_t ring_errors;	       /* a frame over the descriptor or length bounds */
	uint64_t guest_errors;	       /* bad register accesses, malformed setup frames */
};
void dec21140_get_stats(struct dec21140 *d, struct dec21140_stats *st);

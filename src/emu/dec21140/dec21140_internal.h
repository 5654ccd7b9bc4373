/*
 * The 21140A's state, shared by its three files (dec21140.h). Everything
 * below `lock` is guarded by it unless marked otherwise.
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>

#include "base/log.h"
#include "emu/dec21140/dec21140.h"
#include "emu/dec21140/dec21140_proto.h"
#include "net/tap.h"

/* Bounds (docs/generation1.md, "bad input"). */
#define DEC_FRAME_MAX	    2048u /* longest frame sent; longer ones are jabber */
#define DEC_RX_FRAME_MAX    1536u /* longest frame received from the back end (with a tag) */
#define DEC_FRAME_DESCS_MAX 64u	  /* descriptors one frame may span */
#define DEC_TX_BUDGET	    128u  /* descriptors per I/O thread pass */
#define DEC_RX_BUDGET	    64u	  /* back-end frames per I/O thread pass */

/* The serial ROM's Microwire interface (dec21140_serial.c). */
struct dec_srom {
	uint16_t words[SROM_WORDS];
	unsigned phase; /* SROM_IDLE ... */
	unsigned bits;	/* bits taken in this phase */
	uint32_t shift; /* opcode and address as they come in */
	uint16_t addr;
	uint16_t out; /* the word being shifted out */
	unsigned out_bits;
	bool dout; /* the DO pin */
	bool sk;   /* last clock level */
};

/* The MII management interface and the PHY behind it (dec21140_serial.c). */
struct dec_mii {
	unsigned phase;
	unsigned ones; /* preamble ones counted */
	unsigned bits;
	uint32_t shift;
	uint16_t out; /* the register value being shifted out */
	unsigned out_bits;
	bool driving; /* the PHY drives MDIO */
	bool mdi;
	bool mdc;
	uint16_t bmcr, anar; /* the writable PHY registers */
};

enum dec_filter_mode {
	FILTER_PERFECT = 0, /* FT 00: sixteen addresses */
	FILTER_HASH = 1,    /* FT 01: 512-bit multicast hash, one perfect address */
	FILTER_INVERSE = 2, /* FT 10: everything but the sixteen */
	FILTER_HASH_ONLY = 3,
};

struct dec21140 {
	/* Set at creation, read-only after. */
	struct dec21140_config cfg;
	struct pci_host *host;
	struct io_bus *pio, *mmio;
	bool pci_added, pio_registered, mmio_registered;
	int kick_fd, stop_fd, epoll_fd; /* the I/O thread's wake-ups */
	pthread_t thread;
	bool thread_started;
	struct guest_error_log errlog;
	atomic_bool connected, mac_spoofing;

	pthread_mutex_t lock;
	/*
	 * Quiesce for a save (dec21140_quiesce): quiesce asks the I/O thread to stop between two
	 * passes, parked says it has (it waits on cond, no DMA, no back-end read, until quiesce is
	 * cleared or stopping is set by dec21140_free).
	 */
	pthread_cond_t cond;
	bool quiesce, parked, stopping;
	uint8_t pci_config[256], pci_wmask[256]; /* under the PCI host's lock, not ours */

	uint32_t csr[CSR_COUNT]; /* CSR5 holds the process states; CSR8 the missed count */
	bool irq_level;
	uint32_t rx_cur, tx_cur; /* the current descriptor of each list */
	bool bus_fault;		 /* after a fatal bus error: no DMA until a software reset */
	bool tx_kick, rx_kick;	 /* work for the I/O thread */
	/* The general-purpose timer: running until gpt_deadline (CLOCK_MONOTONIC ns). */
	bool gpt_running;
	uint64_t gpt_deadline, gpt_period;
	uint8_t gp_dir; /* CSR12's pin directions (1: output) */

	/* The address filter the last setup frame loaded. */
	enum dec_filter_mode filter;
	uint8_t perfect[SETUP_PERFECT_COUNT][6];
	uint8_t hash[SETUP_HASH_BITS / 8];

	struct dec_srom srom;
	struct dec_mii mii;

	/* I/O thread only (no lock needed, but taken around guest memory anyway). */
	uint8_t txbuf[sizeof(struct tap_vnet_hdr) + DEC_FRAME_MAX];
	uint8_t rxbuf[sizeof(struct tap_vnet_hdr) + DEC_RX_FRAME_MAX + 4];
	size_t tx_len;	   /* bytes of the frame being gathered */
	unsigned tx_descs; /* descriptors it has spanned; 0: not in a frame */

	struct dec21140_stats st; /* counters (connected/mac_spoofing/csr filled on read) */
};

/* dec21140.c: interrupt and process-state helpers, under the lock. */
void dec_update_irq(struct dec21140 *d);
void dec_set_status(struct dec21140 *d, uint32_t bits);
unsigned dec_rx_state(const struct dec21140 *d);
unsigned dec_tx_state(const struct dec21140 *d);
void dec_set_rx_state(struct dec21140 *d, unsigned state);
void dec_set_tx_state(struct dec21140 *d, unsigned state);
void dec_bus_fault(struct dec21140 *d, const char *what, uint32_t addr);

/* dec21140_ring.c: the I/O thread's work, under the lock. */
/* Walks the transmit list: true if the budget ran out with work left. */
bool dec_tx_run(struct dec21140 *d);
/* Re-checks the receive list's current descriptor after a start or a poll demand. */
void dec_rx_poll(struct dec21140 *d);
/* One frame from the back end (vnet header first, len bytes in all) into the receive list. */
void dec_rx_frame(struct dec21140 *d, const uint8_t *pkt, size_t len);
/* Resets the filter to "nothing but what a setup frame loads". */
void dec_filter_reset(struct dec21140 *d);
/* The Ethernet CRC-32 (IEEE 802.3, reflected), also the hash filter's function. */
uint32_t dec_crc32(const uint8_t *p, size_t len);

/* dec21140.c: CLOCK_MONOTONIC in ns (the timer's clock); wakes the I/O thread. */
uint64_t dec_now_ns(void);
void dec_kick(struct dec21140 *d);

/* dec21140_serial.c: CSR9, under the lock. */
void dec_srom_init(struct dec_srom *s, const uint8_t mac[6]);
void dec_mii_reset(struct dec_mii *m);
/* A guest write of CSR9: clocks the ROM or the PHY on rising edges. */
void dec_csr9_write(struct dec21140 *d, uint32_t value);
/* What CSR9 reads: the pins the ROM and the PHY drive. */
uint32_t dec_csr9_read(struct dec21140 *d);
/* Why a (saved) ROM or PHY interface state is one the state machines cannot be in; NULL if fine. */
const char *dec_srom_state_check(const struct dec_srom *s);
const char *dec_mii_state_check(const struct dec_mii *m);
/* A PHY register as the MII reads it (tests and status). */
uint16_t dec_mii_reg(struct dec21140 *d, unsigned reg);

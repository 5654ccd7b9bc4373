/*
 * The 21140A's descriptor lists and address filter (dec21140.h; HRM
 * chapter 4): the transmit process walking the list at CSR4, the receive
 * process filling the list at CSR3, setup frames, and receive address
 * recognition (perfect, inverse, hash, hash-only; promiscuous, pass-all-
 * multicast, receive-all).
 *
 * Lists are rings (the next descriptor follows at 16 bytes plus CSR0's skip
 * length; the end-of-ring bit returns to the list's base) or chains (the
 * second buffer address is the next descriptor); end-of-ring takes
 * precedence. Descriptors are copied out of guest memory before they are
 * looked at, once per visit (no double fetch), and only TDES0/RDES0 is
 * written back, after the buffers.
 *
 * Bounds and faults (docs/generation1.md):
 *  - a descriptor or buffer that is not guest RAM is a master abort: fatal
 *    bus error (CSR5 FBE, error bits 001), both processes stop, and no DMA
 *    happens again until a software reset;
 *  - a frame to send over DEC_FRAME_MAX bytes or DEC_FRAME_DESCS_MAX
 *    descriptors is jabber: TDES0 TO, CSR5 TJT and TPS, the transmit
 *    process stops;
 *  - a received frame spanning more than DEC_FRAME_DESCS_MAX descriptors
 *    stops the receive process (RPS); one the owned buffers cannot hold is
 *    truncated with RDES0 DE (the chip's own behaviour);
 *  - a frame whose next descriptor is not owned mid-way is an underflow
 *    (TDES0 UF, CSR5 UNF), dropped, the transmitter suspended;
 *  - one I/O thread pass handles at most DEC_TX_BUDGET descriptors.
 * Each is counted (dec21140_stats) and none stops the worker.
 *
 * Threads: the adapter's I/O thread, with the device's lock held.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "emu/dec21140/dec21140_internal.h"

#define ETH_HLEN    14u
#define ETH_ZLEN    60u /* shortest frame on the wire without its CRC */
#define ETH_FCS_LEN 4u
#define ETH_LONG    1518u      /* longest untagged frame with its CRC (RDES0 TL beyond) */
#define TDES0_NC    (1u << 10) /* no carrier */
#define TDES0_LO    (1u << 11) /* loss of carrier */

uint32_t dec_crc32(const uint8_t *p, size_t len)
{
	uint32_t crc = 0xFFFFFFFFu;

	/* Reflected CRC-32, polynomial 0xEDB88320, no final inversion (Linux's ether_crc_le). */
	while (len--) {
		crc ^= *p++;
		for (unsigned k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & -(crc & 1));
	}
	return crc;
}

static uint32_t desc_word(const struct dec21140 *d, uint32_t v)
{
	return (d->csr[0] & CSR0_DBO) ? be32toh(v) : le32toh(v);
}

/* Copies the descriptor at addr: 0, or -EFAULT (reported as a bus fault). */
static int desc_read(struct dec21140 *d, uint32_t addr, struct dec21140_desc *ret, const char *what)
{
	struct dec21140_desc raw;

	if (guest_memory_read(d->cfg.mem, addr, &raw, sizeof(raw)) < 0) {
		dec_bus_fault(d, what, addr);
		return -EFAULT;
	}
	ret->status = desc_word(d, raw.status);
	ret->control = desc_word(d, raw.control);
	ret->buf1 = desc_word(d, raw.buf1);
	ret->buf2 = desc_word(d, raw.buf2);
	return 0;
}

static int status_write(struct dec21140 *d, uint32_t addr, uint32_t status)
{
	uint32_t raw = (d->csr[0] & CSR0_DBO) ? htobe32(status) : htole32(status);

	if (guest_memory_write(d->cfg.mem, addr, &raw, sizeof(raw)) < 0) {
		dec_bus_fault(d, "descriptor status", addr);
		return -EFAULT;
	}
	return 0;
}

static uint32_t desc_next(const struct dec21140 *d, uint32_t cur, const struct dec21140_desc *desc,
			  uint32_t base)
{
	if (desc->control & DES1_END_OF_RING)
		return base & ~3u;
	if (desc->control & DES1_CHAINED)
		return desc->buf2 & ~3u;
	return cur + (uint32_t)sizeof(*desc) + 4 * ((d->csr[0] >> CSR0_DSL_SHIFT) & CSR0_DSL_MASK);
}

static unsigned buf1_size(const struct dec21140_desc *desc)
{
	return desc->control & DES1_BS1_MASK;
}

static unsigned buf2_size(const struct dec21140_desc *desc)
{
	/* A chained descriptor's second address is the next descriptor, not a buffer. */
	if (desc->control & DES1_CHAINED)
		return 0;
	return (desc->control >> DES1_BS2_SHIFT) & DES1_BS2_MASK;
}

/* --- address filter --------------------------------------------------------------------- */

void dec_filter_reset(struct dec21140 *d)
{
	d->filter = FILTER_PERFECT;
	memset(d->perfect, 0, sizeof(d->perfect));
	memset(d->hash, 0, sizeof(d->hash));
	d->csr[6] &= ~CSR6_FILTER_RO;
}

/* The address in the low 16 bits of three longwords at b (HRM 4.2.3, figure 4-11). */
static void setup_address(const uint8_t *b, uint8_t addr[6])
{
	for (unsigned i = 0; i < 3; i++) {
		addr[2 * i] = b[4 * i];
		addr[2 * i + 1] = b[4 * i + 1];
	}
}

static void setup_apply(struct dec21140 *d, const uint8_t *b, enum dec_filter_mode mode)
{
	static const uint32_t csr6_bits[] = {
		[FILTER_PERFECT] = 0,
		[FILTER_HASH] = CSR6_HP,
		[FILTER_INVERSE] = CSR6_IF,
		[FILTER_HASH_ONLY] = CSR6_HP | CSR6_HO,
	};
	unsigned i;

	memset(d->perfect, 0, sizeof(d->perfect));
	memset(d->hash, 0, sizeof(d->hash));
	if (mode == FILTER_PERFECT || mode == FILTER_INVERSE) {
		for (i = 0; i < SETUP_PERFECT_COUNT; i++)
			setup_address(b + 12 * i, d->perfect[i]);
	} else {
		/* 512 bits, 16 in the low half of each of the first 32 longwords. */
		for (i = 0; i < 32; i++) {
			d->hash[2 * i] = b[4 * i];
			d->hash[2 * i + 1] = b[4 * i + 1];
		}
		if (mode == FILTER_HASH)
			setup_address(b + 4 * SETUP_HASH_PERFECT, d->perfect[0]);
	}
	d->filter = mode;
	d->csr[6] = (d->csr[6] & ~CSR6_FILTER_RO) | csr6_bits[mode];
	d->st.setup_frames++;
}

static bool hash_hit(const struct dec21140 *d, const uint8_t *addr)
{
	unsigned bit = dec_crc32(addr, 6) & (SETUP_HASH_BITS - 1);

	return (d->hash[bit / 8] >> (bit % 8)) & 1;
}

static bool perfect_hit(const struct dec21140 *d, const uint8_t *addr, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (!memcmp(d->perfect[i], addr, 6))
			return true;
	return false;
}

/* Whether the frame to addr is received (HRM 4.2.3 and CSR6's filtering bits). */
static bool rx_accepts(const struct dec21140 *d, const uint8_t *addr)
{
	bool multicast = addr[0] & 1;

	if (d->csr[6] & (CSR6_PR | CSR6_RA))
		return true;
	if (multicast && (d->csr[6] & CSR6_PM))
		return true;
	switch (d->filter) {
	case FILTER_PERFECT: return perfect_hit(d, addr, SETUP_PERFECT_COUNT);
	case FILTER_INVERSE: return !perfect_hit(d, addr, SETUP_PERFECT_COUNT);
	case FILTER_HASH: return multicast ? hash_hit(d, addr) : perfect_hit(d, addr, 1);
	case FILTER_HASH_ONLY:
	default: return hash_hit(d, addr);
	}
}

/* --- transmit --------------------------------------------------------------------------- */

/* Stops the transmitter on a frame over the bounds: jabber (TDES0 TO, CSR5 TJT, TPS). */
static void tx_jabber(struct dec21140 *d, uint32_t addr, const char *why)
{
	d->st.ring_errors++;
	guest_error_report(&d->errlog, "transmit frame at 0x%x: %s; transmitter stopped", addr,
			   why);
	d->tx_descs = 0;
	d->tx_len = 0;
	if (status_write(d, addr, TDES0_ES | TDES0_TO) < 0)
		return;
	dec_set_status(d, CSR5_TJT);
	dec_set_tx_state(d, TS_STOPPED);
}

static void tx_send(struct dec21140 *d, uint32_t addr, const struct dec21140_desc *desc)
{
	const uint8_t *frame = d->txbuf + sizeof(struct tap_vnet_hdr);
	size_t len = d->tx_len;
	uint32_t status = 0;

	d->tx_descs = 0;
	d->tx_len = 0;
	if (len < ETH_HLEN) {
		guest_error_report(&d->errlog, "transmit frame of %zu bytes dropped", len);
	} else if (!atomic_load(&d->connected)) {
		status = TDES0_ES | TDES0_NC | TDES0_LO; /* no carrier: as the wire would say */
		d->st.tx_link_down++;
	} else if (!atomic_load(&d->mac_spoofing) && memcmp(frame + 6, d->cfg.mac, 6)) {
		d->st.tx_spoofed++; /* the switch port drops it, as for a synthetic adapter */
	} else if ((d->csr[6] >> CSR6_OM_SHIFT) & 3) {
		/* Internal or external loopback: the frame comes back to our own receiver. */
		memcpy(d->rxbuf, d->txbuf, sizeof(struct tap_vnet_hdr) + len);
		dec_rx_frame(d, d->rxbuf, sizeof(struct tap_vnet_hdr) + len);
		d->st.tx_packets++;
		d->st.tx_bytes += len;
	} else {
		memset(d->txbuf, 0, sizeof(struct tap_vnet_hdr));
		if (write(d->cfg.backend_fd, d->txbuf, sizeof(struct tap_vnet_hdr) + len) < 0) {
			d->st.tx_backend_errors++;
		} else {
			d->st.tx_packets++;
			d->st.tx_bytes += len;
		}
	}
	if (status_write(d, addr, status) == 0 && (desc->control & TDES1_IC))
		dec_set_status(d, CSR5_TI);
}

/* A setup frame (TDES1 SET): 192 bytes in buffer 1 load the address filter. */
static int tx_setup(struct dec21140 *d, uint32_t addr, const struct dec21140_desc *desc)
{
	uint8_t b[SETUP_FRAME_LEN];
	unsigned mode =
		((desc->control & TDES1_FT1) ? 2u : 0u) | ((desc->control & TDES1_FT0) ? 1u : 0u);

	if (buf1_size(desc) != SETUP_FRAME_LEN) {
		guest_error_report(&d->errlog, "setup frame of %u bytes ignored", buf1_size(desc));
	} else if (guest_memory_read(d->cfg.mem, desc->buf1, b, sizeof(b)) < 0) {
		dec_bus_fault(d, "setup frame", desc->buf1);
		return -EFAULT;
	} else {
		setup_apply(d, b, (enum dec_filter_mode)mode);
	}
	if (status_write(d, addr, 0) < 0)
		return -EFAULT;
	if (desc->control & TDES1_IC)
		dec_set_status(d, CSR5_TI);
	return 0;
}

/* Appends the descriptor's buffers to the frame being gathered. */
static int tx_gather(struct dec21140 *d, uint32_t addr, const struct dec21140_desc *desc)
{
	const uint32_t bufs[2] = {desc->buf1, desc->buf2};
	const unsigned sizes[2] = {buf1_size(desc), buf2_size(desc)};
	uint8_t *frame = d->txbuf + sizeof(struct tap_vnet_hdr);

	if (++d->tx_descs > DEC_FRAME_DESCS_MAX) {
		tx_jabber(d, addr, "more descriptors than a frame may span");
		return -E2BIG;
	}
	for (unsigned i = 0; i < 2; i++) {
		if (!sizes[i])
			continue;
		if (d->tx_len + sizes[i] > DEC_FRAME_MAX) {
			tx_jabber(d, addr, "longer than 2048 bytes");
			return -E2BIG;
		}
		if (guest_memory_read(d->cfg.mem, bufs[i], frame + d->tx_len, sizes[i]) < 0) {
			dec_bus_fault(d, "transmit buffer", bufs[i]);
			return -EFAULT;
		}
		d->tx_len += sizes[i];
	}
	return 0;
}

/* One owned descriptor at addr. 0, or -errno when the transmitter stopped. */
static int tx_descriptor(struct dec21140 *d, uint32_t addr, const struct dec21140_desc *desc)
{
	if (desc->control & TDES1_SET)
		return tx_setup(d, addr, desc);
	if (desc->control & TDES1_FS) {
		if (d->tx_descs)
			guest_error_report(&d->errlog, "frame without its last segment dropped");
		d->tx_descs = 0;
		d->tx_len = 0;
	} else if (!d->tx_descs) {
		/* Outside a frame: a skip descriptor (Linux's dummy before a setup frame). */
		if (buf1_size(desc) || buf2_size(desc))
			guest_error_report(&d->errlog, "buffers outside a frame at 0x%x skipped",
					   addr);
		return status_write(d, addr, 0);
	}
	if (tx_gather(d, addr, desc) < 0)
		return -EIO;
	if (desc->control & TDES1_LS) {
		tx_send(d, addr, desc);
		return d->bus_fault ? -EFAULT : 0;
	}
	return status_write(d, addr, 0); /* closed; the status goes in the last one */
}

bool dec_tx_run(struct dec21140 *d)
{
	for (unsigned n = 0; n < DEC_TX_BUDGET; n++) {
		struct dec21140_desc desc;
		uint32_t addr = d->tx_cur;

		if (d->bus_fault || dec_tx_state(d) == TS_STOPPED ||
		    dec_tx_state(d) == TS_SUSPENDED)
			return false;
		if (desc_read(d, addr, &desc, "transmit descriptor") < 0)
			return false;
		if (!(desc.status & DES0_OWN)) {
			if (d->tx_descs) {
				/* The rest of a frame is not there: underflow (HRM 4.2.1, UF). */
				d->tx_descs = 0;
				d->tx_len = 0;
				dec_set_status(d, CSR5_UNF);
			}
			dec_set_status(d, CSR5_TU);
			dec_set_tx_state(d, TS_SUSPENDED);
			return false;
		}
		if (tx_descriptor(d, addr, &desc) < 0)
			return false;
		d->tx_cur = desc_next(d, addr, &desc, d->csr[4]);
	}
	return true;
}

/* --- receive ---------------------------------------------------------------------------- */

void dec_rx_poll(struct dec21140 *d)
{
	struct dec21140_desc desc;

	if (d->bus_fault || dec_rx_state(d) == RS_STOPPED)
		return;
	if (desc_read(d, d->rx_cur, &desc, "receive descriptor") < 0)
		return;
	if (desc.status & DES0_OWN) {
		dec_set_rx_state(d, RS_RUNNING_WAIT);
	} else {
		dec_set_rx_state(d, RS_SUSPENDED);
		dec_set_status(d, CSR5_RU);
	}
}

/* The NEEDS_CSUM checksum the TAP left to us (virtio-net: 16-bit ones' complement). */
static bool complete_checksum(uint8_t *frame, size_t len, const struct tap_vnet_hdr *h)
{
	size_t start = h->csum_start, at = (size_t)h->csum_start + h->csum_offset;
	uint32_t sum = 0;

	if (start >= len || at + 2 > len)
		return false;
	for (size_t i = start; i < len; i += 2)
		sum += (uint32_t)(frame[i] << 8 | (i + 1 < len ? frame[i + 1] : 0));
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	sum = ~sum & 0xFFFF;
	frame[at] = (uint8_t)(sum >> 8);
	frame[at + 1] = (uint8_t)sum;
	return true;
}

static uint32_t rx_status(const uint8_t *frame, size_t total)
{
	uint32_t st = RDES0_LS | (uint32_t)total << RDES0_FL_SHIFT;

	if (frame[0] & 1)
		st |= RDES0_MF;
	if ((frame[12] << 8 | frame[13]) >= 0x600)
		st |= RDES0_FT;
	if (total > ETH_LONG)
		st |= RDES0_TL | RDES0_ES;
	return st;
}

/* Writes the frame (total bytes with its CRC) into the list. */
static void rx_store(struct dec21140 *d, const uint8_t *frame, size_t total)
{
	uint32_t prev = 0, prev_status = 0;
	size_t off = 0;

	for (unsigned n = 0;; n++) {
		struct dec21140_desc desc;
		uint32_t addr = d->rx_cur, first = n == 0 ? RDES0_FS : 0;
		unsigned sizes[2];

		if (n == DEC_FRAME_DESCS_MAX) {
			d->st.ring_errors++;
			guest_error_report(&d->errlog,
					   "received frame over %u descriptors; receiver stopped",
					   DEC_FRAME_DESCS_MAX);
			dec_set_rx_state(d, RS_STOPPED);
			return;
		}
		if (desc_read(d, addr, &desc, "receive descriptor") < 0)
			return;
		if (!(desc.status & DES0_OWN)) {
			dec_set_rx_state(d, RS_SUSPENDED);
			dec_set_status(d, CSR5_RU);
			if (n == 0) {
				d->st.rx_missed++;
				if ((d->csr[8] & CSR8_MFC_MASK) == CSR8_MFC_MASK)
					d->csr[8] |= CSR8_MFO;
				else
					d->csr[8]++;
				return;
			}
			/* The frame did not fit the owned buffers: truncated (RDES0 DE). */
			d->st.rx_truncated++;
			if (status_write(d, prev,
					 prev_status | RDES0_LS | RDES0_DE | RDES0_ES |
						 (uint32_t)total << RDES0_FL_SHIFT) == 0)
				dec_set_status(d, CSR5_RI);
			return;
		}
		sizes[0] = buf1_size(&desc);
		sizes[1] = buf2_size(&desc);
		for (unsigned i = 0; i < 2 && off < total; i++) {
			size_t k = sizes[i] < total - off ? sizes[i] : total - off;
			uint32_t buf = i ? desc.buf2 : desc.buf1;

			if (k && guest_memory_write(d->cfg.mem, buf, frame + off, k) < 0) {
				dec_bus_fault(d, "receive buffer", buf);
				return;
			}
			off += k;
		}
		d->rx_cur = desc_next(d, addr, &desc, d->csr[3]);
		if (off == total) {
			if (status_write(d, addr, first | rx_status(frame, total)) < 0)
				return;
			d->st.rx_packets++;
			d->st.rx_bytes += total - ETH_FCS_LEN;
			dec_set_status(d, CSR5_RI);
			dec_set_rx_state(d, RS_RUNNING_WAIT);
			return;
		}
		prev = addr;
		prev_status = first;
		if (status_write(d, addr, first) < 0)
			return;
	}
}

void dec_rx_frame(struct dec21140 *d, const uint8_t *pkt, size_t len)
{
	struct tap_vnet_hdr h;
	uint8_t frame[DEC_RX_FRAME_MAX + ETH_FCS_LEN];
	size_t flen, total;
	uint32_t fcs;

	if (len < sizeof(h) + ETH_HLEN)
		return;
	memcpy(&h, pkt, sizeof(h));
	flen = len - sizeof(h);
	if (flen > DEC_RX_FRAME_MAX) {
		d->st.rx_truncated++;
		return;
	}
	if (!atomic_load(&d->connected) || d->bus_fault || dec_rx_state(d) == RS_STOPPED) {
		d->st.rx_stopped++;
		return;
	}
	memcpy(frame, pkt + sizeof(h), flen);
	if ((h.flags & TAP_VNET_F_NEEDS_CSUM) && !complete_checksum(frame, flen, &h)) {
		d->st.rx_truncated++;
		return;
	}
	if (!rx_accepts(d, frame)) {
		d->st.rx_filtered++;
		return;
	}
	/* A switch port pads short frames to the minimum; the CRC follows (RDES0 FL counts it). */
	if (flen < ETH_ZLEN) {
		memset(frame + flen, 0, ETH_ZLEN - flen);
		flen = ETH_ZLEN;
	}
	fcs = ~dec_crc32(frame, flen);
	for (unsigned i = 0; i < ETH_FCS_LEN; i++)
		frame[flen + i] = (uint8_t)(fcs >> (8 * i));
	total = flen + ETH_FCS_LEN;
	rx_store(d, frame, total);
}

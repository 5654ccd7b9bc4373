/*
 * Saved state of the DEC 21140A (dec21140.h; docs/saved-state.md, section
 * "dec21140.N"). Taken with the vCPUs paused and the adapter's I/O thread
 * parked between two passes (dec21140_quiesce), so that no register access,
 * descriptor walk or back-end frame is half done: what the adapter holds
 * then is its PCI configuration space, the CSRs, where each list is, the
 * work the I/O thread was woken for and not yet done, the timer, the address
 * filter, the serial ROM and MII interfaces, and at most one transmit frame
 * being gathered.
 *
 * That frame: a pass that spent its budget (DEC_TX_BUDGET descriptors) can
 * stop inside a frame. Its first descriptors are closed already (TDES0 OWN
 * cleared, as the chip does segment by segment) and the guest may have
 * reused their buffers, so walking them again is impossible and dropping the
 * bytes loses the frame. The gathered bytes are saved instead (at most
 * DEC_FRAME_MAX, and the count of descriptors, at most DEC_FRAME_DESCS_MAX):
 * the restored device goes on at tx_cur with the rest, and sends the frame
 * once.
 *
 * The BARs: the I/O and memory ranges are registered at the configuration's
 * addresses when the device is made (the configuration is the same, the
 * configuration digest says so), and decode while the restored BAR holds that
 * address and the command register enables it, as before the save; a BAR the
 * guest had moved (or was sizing) stays undecoded until it writes it back.
 *
 * The serial ROM's words are the configuration's (the MAC address): the MAC
 * is saved and must be this adapter's; the words are rebuilt, not read.
 * Counters are the worker's, not the guest's: they start again from zero.
 *
 * Encoding, version 1 (little endian):
 *   mac (6 bytes), PCI configuration space (256 bytes), CSR0-CSR15 (u32 each)
 *   irq_level bus_fault tx_kick rx_kick gpt_running (u8 each, 0 or 1)
 *   rx_cur tx_cur (u32), the timer's time left and its period (u64, ns: time
 *     spent saved does not count, as for the LAPIC timer), gp_dir (u8)
 *   filter (u8: 0-3), the sixteen perfect addresses (96 bytes), hash (64 bytes)
 *   serial ROM: phase bits shift addr out out_bits (u32), dout sk (u8)
 *   MII: phase ones bits shift out out_bits (u32), driving mdi mdc (u8), bmcr anar (u32)
 *   the frame being gathered: tx_descs tx_len (u32), then tx_len bytes
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "emu/dec21140/dec21140_internal.h"
#include "state/state.h"

#define GPT_SPAN_MAX ((uint64_t)CSR11_VALUE_MASK * CSR11_TICK_NS_10) /* the longest CSR11 */
#define CSR5_KNOWN                                                                                 \
	(CSR5_NORMAL | CSR5_ABNORMAL | CSR5_AIS | CSR5_NIS | 7u << CSR5_RS_SHIFT |                 \
	 7u << CSR5_TS_SHIFT | 7u << CSR5_EB_SHIFT | CSR5_RESET)

static void save_srom(const struct dec_srom *s, struct state_out *out)
{
	state_out_u32(out, s->phase);
	state_out_u32(out, s->bits);
	state_out_u32(out, s->shift);
	state_out_u32(out, s->addr);
	state_out_u32(out, s->out);
	state_out_u32(out, s->out_bits);
	state_out_u8(out, s->dout);
	state_out_u8(out, s->sk);
}

static void save_mii(const struct dec_mii *m, struct state_out *out)
{
	state_out_u32(out, m->phase);
	state_out_u32(out, m->ones);
	state_out_u32(out, m->bits);
	state_out_u32(out, m->shift);
	state_out_u32(out, m->out);
	state_out_u32(out, m->out_bits);
	state_out_u8(out, m->driving);
	state_out_u8(out, m->mdi);
	state_out_u8(out, m->mdc);
	state_out_u32(out, m->bmcr);
	state_out_u32(out, m->anar);
}

int dec21140_save(struct dec21140 *d, struct state_out *out)
{
	uint64_t now = dec_now_ns(), left;
	int r = 0;

	pthread_mutex_lock(&d->lock);
	if (!d->parked)
		r = -EBUSY; /* the I/O thread could be inside a frame */
	left = d->gpt_running && d->gpt_deadline > now ? d->gpt_deadline - now : 0;
	state_out_bytes(out, d->cfg.mac, 6);
	state_out_bytes(out, d->pci_config, sizeof(d->pci_config));
	for (unsigned i = 0; i < CSR_COUNT; i++)
		state_out_u32(out, d->csr[i]);
	state_out_u8(out, d->irq_level);
	state_out_u8(out, d->bus_fault);
	state_out_u8(out, d->tx_kick);
	state_out_u8(out, d->rx_kick);
	state_out_u8(out, d->gpt_running);
	state_out_u32(out, d->rx_cur);
	state_out_u32(out, d->tx_cur);
	state_out_u64(out, left);
	state_out_u64(out, d->gpt_period);
	state_out_u8(out, d->gp_dir);
	state_out_u8(out, (uint8_t)d->filter);
	state_out_bytes(out, d->perfect, sizeof(d->perfect));
	state_out_bytes(out, d->hash, sizeof(d->hash));
	save_srom(&d->srom, out);
	save_mii(&d->mii, out);
	state_out_u32(out, d->tx_descs);
	state_out_u32(out, (uint32_t)d->tx_len);
	state_out_bytes(out, d->txbuf + sizeof(struct tap_vnet_hdr), d->tx_len);
	pthread_mutex_unlock(&d->lock);
	return r < 0 ? r : out->error;
}

/* What load decodes, checked whole before the device takes it. */
struct saved {
	uint8_t mac[6], config[256];
	uint32_t csr[CSR_COUNT];
	uint8_t irq_level, bus_fault, tx_kick, rx_kick, gpt_running;
	uint32_t rx_cur, tx_cur;
	uint64_t gpt_left, gpt_period;
	uint8_t gp_dir, filter;
	uint8_t perfect[SETUP_PERFECT_COUNT][6];
	uint8_t hash[SETUP_HASH_BITS / 8];
	struct dec_srom srom;
	struct dec_mii mii;
	uint32_t tx_descs, tx_len;
	uint8_t frame[DEC_FRAME_MAX];
};

static bool flag(uint8_t v)
{
	return v <= 1;
}

/* A u32 that must fit 16 bits (a u16 field): false if not. */
static bool u16_in(struct state_in *in, uint16_t *ret)
{
	uint32_t v = state_in_u32(in);

	*ret = (uint16_t)v;
	return v <= UINT16_MAX;
}

static const char *decode_serial(struct state_in *in, struct saved *s)
{
	bool ok;

	s->srom.phase = state_in_u32(in);
	s->srom.bits = state_in_u32(in);
	s->srom.shift = state_in_u32(in);
	ok = u16_in(in, &s->srom.addr);
	ok &= u16_in(in, &s->srom.out);
	s->srom.out_bits = state_in_u32(in);
	s->srom.dout = state_in_u8(in) != 0;
	s->srom.sk = state_in_u8(in) != 0;
	s->mii.phase = state_in_u32(in);
	s->mii.ones = state_in_u32(in);
	s->mii.bits = state_in_u32(in);
	s->mii.shift = state_in_u32(in);
	ok &= u16_in(in, &s->mii.out);
	s->mii.out_bits = state_in_u32(in);
	s->mii.driving = state_in_u8(in) != 0;
	s->mii.mdi = state_in_u8(in) != 0;
	s->mii.mdc = state_in_u8(in) != 0;
	ok &= u16_in(in, &s->mii.bmcr);
	ok &= u16_in(in, &s->mii.anar);
	if (in->error)
		return "too short";
	if (!ok)
		return "a 16-bit serial ROM or PHY register over 16 bits";
	return NULL;
}

static const char *decode(struct state_in *in, struct saved *s)
{
	const char *bad;

	state_in_bytes(in, s->mac, sizeof(s->mac));
	state_in_bytes(in, s->config, sizeof(s->config));
	for (unsigned i = 0; i < CSR_COUNT; i++)
		s->csr[i] = state_in_u32(in);
	s->irq_level = state_in_u8(in);
	s->bus_fault = state_in_u8(in);
	s->tx_kick = state_in_u8(in);
	s->rx_kick = state_in_u8(in);
	s->gpt_running = state_in_u8(in);
	s->rx_cur = state_in_u32(in);
	s->tx_cur = state_in_u32(in);
	s->gpt_left = state_in_u64(in);
	s->gpt_period = state_in_u64(in);
	s->gp_dir = state_in_u8(in);
	s->filter = state_in_u8(in);
	state_in_bytes(in, s->perfect, sizeof(s->perfect));
	state_in_bytes(in, s->hash, sizeof(s->hash));
	bad = decode_serial(in, s);
	if (bad)
		return bad;
	s->tx_descs = state_in_u32(in);
	s->tx_len = state_in_u32(in);
	if (in->error)
		return "too short";
	if (s->tx_len > DEC_FRAME_MAX)
		return "tx_len: a frame being gathered over 2048 bytes";
	state_in_bytes(in, s->frame, s->tx_len);
	if (in->error)
		return "too short";
	return in->pos != in->len ? "longer than its fields" : NULL;
}

/* CSR5 and CSR6 as the chip can hold them (dec21140.c's writes and process states). */
static const char *check_csr56(const struct saved *s)
{
	static const uint32_t filter_bits[] = {0, CSR6_HP, CSR6_IF, CSR6_HP | CSR6_HO};
	uint32_t c5 = s->csr[5], c6 = s->csr[6];
	unsigned rs = (c5 >> CSR5_RS_SHIFT) & 7, ts = (c5 >> CSR5_TS_SHIFT) & 7;
	unsigned eb = (c5 >> CSR5_EB_SHIFT) & 7;

	if ((c5 & ~CSR5_KNOWN) || (c5 & CSR5_RESET) != CSR5_RESET)
		return "CSR5: bits the chip does not set";
	if (rs != RS_STOPPED && rs != RS_RUNNING_WAIT && rs != RS_SUSPENDED)
		return "CSR5: receive process state";
	if (ts != TS_STOPPED && ts != TS_RUNNING_FETCH && ts != TS_SUSPENDED)
		return "CSR5: transmit process state";
	if (eb > CSR5_EB_MASTER_ABORT)
		return "CSR5: error bits";
	if ((!(c6 & CSR6_SR) && rs != RS_STOPPED) || (!(c6 & CSR6_ST) && ts != TS_STOPPED))
		return "CSR5: a process runs that CSR6 stopped";
	if (s->filter >= ARRAY_SIZE(filter_bits))
		return "filter mode";
	if ((c6 & CSR6_FILTER_RO) != filter_bits[s->filter])
		return "CSR6: HP/HO/IF differ from the filter mode";
	return NULL;
}

static const char *check_csrs(const struct saved *s)
{
	const uint32_t *c = s->csr;

	if ((c[0] & CSR0_RESET_VALUE) != CSR0_RESET_VALUE ||
	    (c[0] & ~(CSR0_WRITABLE | CSR0_RESET_VALUE)))
		return "CSR0: reserved or self-clearing bits";
	if (c[1] || c[2] || c[10])
		return "CSR1, CSR2 or CSR10 not zero (write-only, no boot ROM)";
	if ((c[3] & 3) || (c[4] & 3))
		return "CSR3 or CSR4 not longword aligned";
	if (c[7] & ~0x0001FFFFu)
		return "CSR7: reserved bits";
	if (c[8] & ~(CSR8_MFC_MASK | CSR8_MFO))
		return "CSR8: reserved bits";
	if (c[9] & (CSR9_SR_DO | CSR9_MDI))
		return "CSR9: input pins stored";
	if (c[11] & ~(CSR11_VALUE_MASK | CSR11_CON))
		return "CSR11: reserved bits";
	if (c[12] & ~0xFFu)
		return "CSR12: reserved bits";
	return check_csr56(s);
}

/* Whether the line saved is the one CSR5 and CSR7 drive (dec_update_irq's rule). */
static bool irq_agrees(const struct saved *s)
{
	uint32_t enabled = s->csr[5] & s->csr[7], summary = 0;

	if (enabled & CSR5_NORMAL)
		summary |= CSR5_NIS;
	if (enabled & CSR5_ABNORMAL)
		summary |= CSR5_AIS;
	return (bool)s->irq_level == ((summary & s->csr[7]) != 0);
}

static const char *check(const struct dec21140 *d, const struct saved *s, char *why, size_t len)
{
	const char *bad;

	if (memcmp(s->mac, d->cfg.mac, 6)) {
		snprintf(why, len,
			 "MAC address %02x:%02x:%02x:%02x:%02x:%02x is not this adapter's (its "
			 "serial ROM)",
			 s->mac[0], s->mac[1], s->mac[2], s->mac[3], s->mac[4], s->mac[5]);
		return why;
	}
	for (unsigned i = 0; i < sizeof(s->config); i++)
		if ((s->config[i] ^ d->pci_config[i]) & ~d->pci_wmask[i]) {
			snprintf(why, len,
				 "read-only PCI configuration byte 0x%02x is 0x%02x, this device "
				 "has 0x%02x",
				 i, s->config[i], d->pci_config[i]);
			return why;
		}
	bad = check_csrs(s);
	if (bad)
		return bad;
	if (!flag(s->irq_level) || !flag(s->bus_fault) || !flag(s->tx_kick) || !flag(s->rx_kick) ||
	    !flag(s->gpt_running))
		return "a flag is not 0 or 1";
	if (!irq_agrees(s))
		return "irq_level: not what CSR5 and CSR7 say";
	if ((s->rx_cur & 3) || (s->tx_cur & 3))
		return "rx_cur or tx_cur: a descriptor address not longword aligned";
	if (s->gpt_left > GPT_SPAN_MAX || s->gpt_period > GPT_SPAN_MAX)
		return "general-purpose timer: longer than CSR11 can count";
	bad = dec_srom_state_check(&s->srom);
	if (!bad)
		bad = dec_mii_state_check(&s->mii);
	if (bad)
		return bad;
	if (s->tx_descs > DEC_FRAME_DESCS_MAX)
		return "tx_descs: a frame over 64 descriptors";
	if (!s->tx_descs && s->tx_len)
		return "tx_len: bytes gathered outside a frame";
	if (s->tx_descs && ((s->csr[5] >> CSR5_TS_SHIFT) & 7) == TS_STOPPED)
		return "tx_descs: a frame being gathered by a stopped transmitter";
	return NULL;
}

/* Takes a checked state (lock held). */
static void take(struct dec21140 *d, const struct saved *s)
{
	uint16_t words[SROM_WORDS];

	memcpy(d->pci_config, s->config, sizeof(d->pci_config));
	memcpy(d->csr, s->csr, sizeof(d->csr));
	d->bus_fault = s->bus_fault;
	d->tx_kick = s->tx_kick;
	d->rx_kick = s->rx_kick;
	d->rx_cur = s->rx_cur;
	d->tx_cur = s->tx_cur;
	d->gpt_running = s->gpt_running;
	d->gpt_deadline = dec_now_ns() + s->gpt_left;
	d->gpt_period = s->gpt_period;
	d->gp_dir = s->gp_dir;
	d->filter = (enum dec_filter_mode)s->filter;
	memcpy(d->perfect, s->perfect, sizeof(d->perfect));
	memcpy(d->hash, s->hash, sizeof(d->hash));
	/* The words stay the configuration's (dec_srom_init at creation): only the interface. */
	memcpy(words, d->srom.words, sizeof(words));
	d->srom = s->srom;
	memcpy(d->srom.words, words, sizeof(words));
	d->mii = s->mii;
	d->tx_descs = s->tx_descs;
	d->tx_len = s->tx_len;
	memcpy(d->txbuf + sizeof(struct tap_vnet_hdr), s->frame, s->tx_len);
	/* The line stays low until dec21140_restore_started (below). */
	d->irq_level = false;
}

int dec21140_load(struct dec21140 *d, uint32_t version, struct state_in *in, char *errbuf,
		  size_t errlen)
{
	struct saved s;
	char why[160];
	const char *bad = NULL;

	memset(&s, 0, sizeof(s));
	if (version < 1 || version > DEC21140_STATE_VERSION)
		bad = "unknown version";
	if (!bad)
		bad = decode(in, &s);
	if (!bad)
		bad = check(d, &s, why, sizeof(why));
	if (bad) {
		snprintf(errbuf, errlen, "DEC 21140 state: %s", bad);
		return -EBADMSG;
	}
	pthread_mutex_lock(&d->lock);
	take(d, &s);
	/* The work pending at the save, the timer's new deadline: the I/O thread looks again. */
	dec_kick(d);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

/*
 * INTA# is level-triggered: the interrupt controller's saved state (KVM_SET_IRQCHIP, applied
 * when the partition starts) replaces whatever the line did before, and a level the device
 * drove then is never driven again (the device changes it only on a change). So the line is
 * driven once the partition runs, from low to what CSR5 and CSR7 say (low first if the device
 * drove it meanwhile), and only then does the I/O thread take frames again.
 */
void dec21140_restore_started(struct dec21140 *d)
{
	pthread_mutex_lock(&d->lock);
	if (d->irq_level)
		irq_line_set(&d->cfg.irq, false);
	d->irq_level = false;
	dec_update_irq(d);
	pthread_mutex_unlock(&d->lock);
	dec21140_unquiesce(d);
}

/*
 * CSR9's two serial buses (dec21140.h): the 93C46 serial ROM that holds the
 * adapter's MAC address and media table, and the MII management interface
 * of its PHY. The guest bit-bangs both (Linux: tulip_read_eeprom() in
 * eeprom.c, tulip_mdio_read()/_write() in media.c); both are modelled as
 * the parts behave on their clock's rising edge.
 *
 * The ROM is in the 21X4 SROM format, version 4, as tulip_parse_eeprom()
 * reads it: bytes 0-15 (subsystem IDs, then zeros) differ from bytes 16-23,
 * which marks the new format and puts the MAC address at byte 20; one
 * controller whose info leaf (byte 27) has "autosense" as its default and
 * one extended block of type 1, "21140 MII PHY" (PHY index 0, no
 * general-purpose or reset sequences, 10/100 half and full duplex
 * advertised). Linux logs "tulip0: EEPROM default media type Autosense",
 * then "Index #0 - Media MII (#11) described by a 21140 MII PHY (1) block".
 *
 * The PHY (address 1) is an IEEE 802.3 clause 22 PHY whose link partner
 * advertises 10/100 half and full duplex: autonegotiation ends at
 * 100BASE-TX full duplex whenever the cable is in. Only BMCR and ANAR are
 * writable; a BMCR reset restores both.
 *
 * Threads: called with the device's lock held, from vCPU threads.
 */
#include <string.h>

#include "base/byteorder.h"
#include "emu/dec21140/dec21140_internal.h"

enum { SROM_IDLE, SROM_OPCODE, SROM_ADDRESS, SROM_DATA, SROM_IGNORE };
enum { MII_PREAMBLE, MII_START, MII_COMMAND, MII_WRITE_TA, MII_WRITE_DATA, MII_READ };

#define SROM_OP_READ 2u

/* PHY registers (IEEE 802.3 22.2.4; include/uapi/linux/mii.h). */
#define BMCR_RESET     0x8000u
#define BMCR_ANENABLE  0x1000u
#define BMCR_ANRESTART 0x0200u
#define BMSR_CAPS      0x7809u /* 100TX FD/HD, 10T FD/HD, autoneg able, extended regs */
#define BMSR_ANEGDONE  0x0020u
#define BMSR_LINK      0x0004u
#define ANAR_DEFAULT   0x01E1u /* 10/100 half and full, IEEE 802.3 selector */
#define ANLPAR_PARTNER 0x41E1u /* acknowledged, 10/100 half and full */
#define ANER_LP_ANEG   0x0001u
/* Our own identifier: Microsoft's OUI 00-15-5D in the clause 22.2.4.3.1 bit order, model 0. */
#define PHY_ID1 0x02A2u
#define PHY_ID2 0xE800u

/* The info leaf of controller 0 (SROM format 4.09, section 4.3; tulip_parse_eeprom). */
static const uint8_t info_leaf[] = {
	0x00, 0x08, /* selected connection type: 0x0800, autosense */
	0x00,	    /* general-purpose port control (CSR12 directions): all inputs */
	0x01,	    /* one block */
	/* Extended block: length 12, type 1 (21140 MII PHY). */
	0x80 | 12, 0x01, 0x00, /* PHY index 0: the first PHY tulip_find_mii() finds */
	0x00,		       /* general-purpose sequence length */
	0x00,		       /* reset sequence length */
	0x00, 0x78,	       /* media capabilities: 100TX FD/HD, 10T FD/HD (BMSR bits 15:11) */
	0xE0, 0x01,	       /* autonegotiation advertisement (ANAR) */
	0x00, 0x50,	       /* full-duplex bit map: 100TX FD, 10T FD */
	0x00, 0x18,	       /* TTM bit map */
};

void dec_srom_init(struct dec_srom *s, const uint8_t mac[6])
{
	uint8_t b[SROM_WORDS * 2] = {0};
	unsigned i;

	put_le16(b + SROM_SUBSYS_VENDOR, DEC21140_VENDOR);
	put_le16(b + SROM_SUBSYS_ID, DEC21140_DEVICE);
	b[SROM_FORMAT_VERSION] = 4;
	b[SROM_CONTROLLER_COUNT] = 1;
	memcpy(b + SROM_MAC, mac, 6);
	b[SROM_CONTROLLER0_DEV] = 0;
	put_le16(b + SROM_CONTROLLER0_INFO, SROM_INFO_LEAF);
	memcpy(b + SROM_INFO_LEAF, info_leaf, sizeof(info_leaf));
	/* The ROM's CRC-32, low 16 bits (Linux does not check it; other drivers may). */
	put_le16(b + SROM_CRC, (uint16_t)~dec_crc32(b, SROM_CRC));
	memset(s, 0, sizeof(*s));
	for (i = 0; i < SROM_WORDS; i++)
		s->words[i] = (uint16_t)(b[2 * i] | b[2 * i + 1] << 8);
	s->dout = true;
}

/* One rising edge of SK with CS high: DI in, and DO out when the ROM drives. */
static void srom_clock(struct dec_srom *s, bool di)
{
	switch (s->phase) {
	case SROM_IDLE:
		if (di) { /* the start bit */
			s->phase = SROM_OPCODE;
			s->bits = 0;
			s->shift = 0;
		}
		break;
	case SROM_OPCODE:
		s->shift = s->shift << 1 | di;
		if (++s->bits == 2) {
			s->phase = SROM_ADDRESS;
			s->bits = 0;
			s->addr = 0;
		}
		break;
	case SROM_ADDRESS:
		s->addr = (uint16_t)(s->addr << 1 | di);
		if (++s->bits < SROM_ADDR_BITS)
			break;
		if (s->shift != SROM_OP_READ) {
			s->phase = SROM_IGNORE; /* erase and write: the ROM is read-only */
			break;
		}
		/* A dummy zero, then D15 first on each following edge (sequential reads wrap). */
		s->phase = SROM_DATA;
		s->addr %= SROM_WORDS;
		s->out = s->words[s->addr];
		s->out_bits = 0;
		s->dout = false;
		break;
	case SROM_DATA:
		if (s->out_bits == 16) {
			s->addr = (uint16_t)((s->addr + 1) % SROM_WORDS);
			s->out = s->words[s->addr];
			s->out_bits = 0;
		}
		s->dout = (s->out >> 15) & 1;
		s->out = (uint16_t)(s->out << 1);
		s->out_bits++;
		break;
	default: break;
	}
}

static void srom_pins(struct dec_srom *s, uint32_t v)
{
	bool sk = (v & CSR9_SR_SK) != 0;

	if (!(v & CSR9_SR) || !(v & CSR9_SR_CS)) {
		s->phase = SROM_IDLE; /* chip select low ends any command */
		s->dout = true;
	} else if (sk && !s->sk) {
		srom_clock(s, (v & CSR9_SR_DI) != 0);
	}
	s->sk = sk;
}

void dec_mii_reset(struct dec_mii *m)
{
	memset(m, 0, sizeof(*m));
	m->bmcr = BMCR_ANENABLE;
	m->anar = ANAR_DEFAULT;
	m->mdi = true;
}

uint16_t dec_mii_reg(struct dec21140 *d, unsigned reg)
{
	bool link = atomic_load(&d->connected);

	switch (reg) {
	case 0: return d->mii.bmcr;
	case 1: return (uint16_t)(BMSR_CAPS | (link ? BMSR_LINK | BMSR_ANEGDONE : 0));
	case 2: return PHY_ID1;
	case 3: return PHY_ID2;
	case 4: return d->mii.anar;
	case 5: return link ? ANLPAR_PARTNER : 0;
	case 6: return link ? ANER_LP_ANEG : 0;
	default: return 0;
	}
}

static void mii_write_reg(struct dec21140 *d, unsigned reg, uint16_t v)
{
	if (reg == 0) {
		if (v & BMCR_RESET) {
			dec_mii_reset(&d->mii); /* self-clearing: done at once */
			return;
		}
		d->mii.bmcr = (uint16_t)(v & ~(BMCR_RESET | BMCR_ANRESTART));
	} else if (reg == 4) {
		d->mii.anar = v;
	}
}

/* One rising edge of MDC; bit is what the chip drives (1 when it does not: pulled up). */
static void mii_clock(struct dec21140 *d, bool bit)
{
	struct dec_mii *m = &d->mii;
	unsigned op, phy, reg;

	switch (m->phase) {
	case MII_PREAMBLE:
		if (bit)
			m->ones++;
		else if (m->ones >= MII_PREAMBLE_BITS)
			m->phase = MII_START; /* the first start bit, 0 */
		else
			m->ones = 0;
		break;
	case MII_START:
		m->phase = bit ? MII_COMMAND : MII_PREAMBLE;
		m->bits = 0;
		m->shift = 0;
		m->ones = 0;
		break;
	case MII_COMMAND: /* opcode (2), PHY address (5), register (5) */
		m->shift = m->shift << 1 | bit;
		if (++m->bits < 12)
			break;
		op = m->shift >> 10;
		phy = (m->shift >> 5) & 0x1F;
		reg = m->shift & 0x1F;
		m->phase = MII_PREAMBLE;
		if (op == MII_OP_READ && phy == MII_PHY_ADDR) {
			/* Turnaround: released this cycle, 0 on the next, then D15..D0. */
			m->phase = MII_READ;
			m->out = dec_mii_reg(d, reg);
			m->out_bits = 0;
			m->driving = true;
			m->mdi = true;
		} else if (op == MII_OP_WRITE) {
			m->phase = MII_WRITE_TA;
			m->bits = 0;
			m->shift = phy << 5 | reg;
		}
		break;
	case MII_WRITE_TA:
		if (++m->bits == 2) {
			m->phase = MII_WRITE_DATA;
			m->bits = 0;
			m->out = 0;
		}
		break;
	case MII_WRITE_DATA:
		m->out = (uint16_t)(m->out << 1 | bit);
		if (++m->bits < 16)
			break;
		if ((m->shift >> 5) == MII_PHY_ADDR)
			mii_write_reg(d, m->shift & 0x1F, m->out);
		m->phase = MII_PREAMBLE;
		break;
	case MII_READ:
		m->out_bits++;
		if (m->out_bits == 1) {
			m->mdi = false;
		} else if (m->out_bits <= 17) {
			m->mdi = (m->out >> (17 - m->out_bits)) & 1;
		} else {
			m->driving = false;
			m->mdi = true;
			m->phase = MII_PREAMBLE;
			m->ones = 1;
		}
		break;
	default: break;
	}
}

void dec_csr9_write(struct dec21140 *d, uint32_t v)
{
	bool mdc = (v & CSR9_MDC) != 0;

	srom_pins(&d->srom, v);
	if (mdc && !d->mii.mdc)
		mii_clock(d, (v & CSR9_MII_IN) ? true : (v & CSR9_MDO) != 0);
	d->mii.mdc = mdc;
	d->csr[9] = v & ~(CSR9_SR_DO | CSR9_MDI);
}

/*
 * What srom_clock() and srom_pins() can leave behind, phase by phase (a saved state is checked
 * against it: dec21140_state.c). Leftovers of an earlier command stay in the other fields.
 */
const char *dec_srom_state_check(const struct dec_srom *s)
{
	if (s->phase > SROM_IGNORE)
		return "serial ROM phase";
	if (s->bits > SROM_ADDR_BITS || (s->phase == SROM_OPCODE && s->bits >= 2) ||
	    (s->phase == SROM_ADDRESS && s->bits >= SROM_ADDR_BITS))
		return "serial ROM bit count";
	if (s->shift > 3)
		return "serial ROM opcode";
	if (s->addr >= SROM_WORDS)
		return "serial ROM address";
	if (s->out_bits > 16)
		return "serial ROM output bit count";
	return NULL;
}

/* The same for mii_clock(). */
const char *dec_mii_state_check(const struct dec_mii *m)
{
	if (m->phase > MII_READ)
		return "MII phase";
	if (m->bits > 16 || (m->phase == MII_COMMAND && m->bits >= 12) ||
	    (m->phase == MII_WRITE_TA && m->bits >= 2) ||
	    (m->phase == MII_WRITE_DATA && m->bits >= 16))
		return "MII bit count";
	if (m->shift >= 1u << 12 ||
	    (m->phase >= MII_WRITE_TA && m->phase <= MII_WRITE_DATA && m->shift >= 1u << 10))
		return "MII command";
	if (m->out_bits > 18 || (m->phase == MII_READ && m->out_bits > 17))
		return "MII output bit count";
	if (m->bmcr & (BMCR_RESET | BMCR_ANRESTART))
		return "MII BMCR (self-clearing bits set)";
	return NULL;
}

uint32_t dec_csr9_read(struct dec21140 *d)
{
	uint32_t v = d->csr[9];

	if ((v & CSR9_SR) && d->srom.dout)
		v |= CSR9_SR_DO;
	if (!d->mii.driving || d->mii.mdi)
		v |= CSR9_MDI;
	return v;
}

/*
 * PIIX4 functions 0 (PCI-to-ISA bridge, 8086:7110) and 1 (IDE, 8086:7111):
 * the configuration spaces Linux's ata_piix and a BIOS read (Intel 82371AB
 * datasheet sections 3.1 and 3.2), and the IDE function's channels on the
 * legacy ports.
 *
 * The IDE function runs in legacy ("compatibility") mode, programming
 * interface 80h: fixed ports and IRQs 14 and 15, bus master in BAR4 (16 I/O
 * ports: primary at +0, secondary at +8). BAR4 reads back its size when
 * written with all-ones, as PCI 3.0 6.2.5.1 requires, but the ports are
 * decoded only at PIIX4_BM_PORT, where it starts: an io_bus range cannot
 * be moved from inside a configuration cycle (io_bus.h: dispatch holds the
 * bus's read lock). A guest that moves it loses bus-master DMA (counted,
 * logged); Linux keeps firmware's assignment. IDETIM (40h-43h) has its
 * decode-enable bits set, as a BIOS leaves them: ata_piix's
 * piix_pata_prereset() refuses a channel without them.
 *
 * Threads: configuration callbacks run on vCPU threads with the PCI host's
 * lock held; the bus-master ports under the channel's lock.
 */
#include "emu/ide/piix4.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/byteorder.h"
#include "base/log.h"
#include "state/state.h"

#define BAR4	   0x20
#define CMD_IO	   0x0001
#define CMD_MASTER 0x0004

struct piix4_function {
	uint8_t config[256];
	uint8_t wmask[256];
};

struct piix4 {
	struct pci_host *host;
	struct io_bus *pio;
	struct piix4_function isa, ide;
	struct ide_channel *ch[2];
	bool isa_added, ide_added, legacy_registered[2], bm_registered;
	struct guest_error_log errlog;
};

static uint32_t fn_read(struct piix4_function *f, unsigned offset, unsigned size)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)f->config[offset + i] << (8 * i);
	return v;
}

static void fn_write(struct piix4_function *f, unsigned offset, uint32_t value, unsigned size)
{
	for (unsigned i = 0; i < size; i++) {
		uint8_t m = f->wmask[offset + i];
		uint8_t *b = &f->config[offset + i];

		*b = (uint8_t)((*b & ~m) | ((value >> (8 * i)) & m));
	}
}

static uint32_t isa_read(void *opaque, unsigned offset, unsigned size)
{
	return fn_read(&((struct piix4 *)opaque)->isa, offset, size);
}

static void isa_write(void *opaque, unsigned offset, uint32_t value, unsigned size)
{
	fn_write(&((struct piix4 *)opaque)->isa, offset, value, size);
}

static uint32_t ide_read(void *opaque, unsigned offset, unsigned size)
{
	return fn_read(&((struct piix4 *)opaque)->ide, offset, size);
}

static void ide_write(void *opaque, unsigned offset, uint32_t value, unsigned size)
{
	struct piix4 *p = opaque;
	uint32_t bar;

	fn_write(&p->ide, offset, value, size);
	bar = fn_read(&p->ide, BAR4, 4) & ~1u;
	/* All-ones is sizing; anything else but the decoded address is a move we cannot follow. */
	if (offset <= BAR4 + 3 && offset + size > BAR4 && bar != PIIX4_BM_PORT &&
	    bar != (uint32_t) ~(PIIX4_BM_LEN - 1))
		guest_error_report(&p->errlog, "BAR4 moved to 0x%x: bus master stays at 0x%x", bar,
				   PIIX4_BM_PORT);
}

static const struct pci_device_ops isa_ops = {.config_read = isa_read, .config_write = isa_write};
static const struct pci_device_ops ide_ops = {.config_read = ide_read, .config_write = ide_write};

/* Bus-master ports: live only while BAR4 holds PIIX4_BM_PORT and I/O decode is on. */
static bool bm_decoded(struct piix4 *p)
{
	/* Read without the PCI host's lock: a torn view only affects the guest's own race. */
	uint32_t bar = __atomic_load_n((uint32_t *)(p->ide.config + BAR4), __ATOMIC_RELAXED);
	uint16_t cmd = __atomic_load_n((uint16_t *)(p->ide.config + 0x04), __ATOMIC_RELAXED);

	return (le32toh(bar) & ~1u) == PIIX4_BM_PORT && (le16toh(cmd) & CMD_IO);
}

static uint64_t bm_read(void *opaque, uint64_t offset, unsigned size)
{
	struct piix4 *p = opaque;

	if (!bm_decoded(p))
		return size == 4 ? 0xFFFFFFFFu : size == 2 ? 0xFFFFu : 0xFFu;
	return ide_channel_bm_read(p->ch[offset / 8], offset % 8, size);
}

static void bm_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct piix4 *p = opaque;

	if (bm_decoded(p))
		ide_channel_bm_write(p->ch[offset / 8], offset % 8, value, size);
}

static const struct io_ops bm_ops = {.read = bm_read, .write = bm_write};

static void isa_init(struct piix4_function *f)
{
	uint8_t *c = f->config;

	put_le16(c + 0x00, PIIX4_VENDOR);
	put_le16(c + 0x02, PIIX4_DEVICE_ISA);
	put_le16(c + 0x04, 0x0007); /* I/O, memory, bus master */
	put_le16(c + 0x06, 0x0280); /* medium DEVSEL, fast back-to-back */
	c[0x08] = 0x00;
	c[0x0A] = 0x01; /* class 06/01/00: PCI-to-ISA bridge */
	c[0x0B] = 0x06;
	c[0x0E] = 0x80; /* multi-function: scanners look for function 1 */
	/* PIRQA-D route registers (60h-63h): disabled (80h), as no PCI device here uses INTx. */
	memset(c + 0x60, 0x80, 4);
	memset(f->wmask + 0x60, 0x8F, 4);
}

static void ide_init(struct piix4_function *f)
{
	uint8_t *c = f->config;

	put_le16(c + 0x00, PIIX4_VENDOR);
	put_le16(c + 0x02, PIIX4_DEVICE_IDE);
	put_le16(c + 0x04, CMD_IO | CMD_MASTER);
	put_le16(c + 0x06, 0x0280);
	c[0x08] = 0x01; /* revision */
	c[0x09] = 0x80; /* programming interface: legacy mode both channels, bus master */
	c[0x0A] = 0x01; /* class 01/01: IDE controller */
	c[0x0B] = 0x01;
	c[0x0D] = 0x00;
	c[0x0E] = 0x00;
	put_le32(c + BAR4, PIIX4_BM_PORT | 1);
	put_le16(c + 0x40, 0x8000); /* IDETIM primary: decode enable */
	put_le16(c + 0x42, 0x8000); /* IDETIM secondary: decode enable */
	/* Writable: command I/O and bus master; BAR4 address bits; latency; the timing registers.
	 */
	f->wmask[0x04] = CMD_IO | CMD_MASTER;
	f->wmask[0x0D] = 0xF0;
	/*
	 * All 32 address bits, as QEMU's PIIX: SeaBIOS sizes an I/O BAR as ~(readback) + 1 over
	 * 32 bits (src/fw/pciinit.c pci_bios_get_bar), so hard-wired zeros in bits 31-16 would
	 * make it a 4 GiB request and stop its PCI set-up ("out of I/O address space").
	 */
	put_le32(f->wmask + BAR4, ~(uint32_t)(PIIX4_BM_LEN - 1));
	f->wmask[0x3C] = 0xFF;
	memset(f->wmask + 0x40, 0xFF, 5);  /* IDETIM, SIDETIM */
	f->wmask[0x48] = 0x0F;		   /* UDMACTL */
	put_le16(f->wmask + 0x4A, 0x3333); /* UDMATIM */
}

int piix4_new(struct pci_host *host, struct io_bus *pio, struct irq_line primary,
	      struct irq_line secondary, struct guest_memory *mem, struct piix4 **ret)
{
	static const uint16_t cmd_port[2] = {0x1F0, 0x170}, ctl_port[2] = {0x3F6, 0x376};
	struct piix4 *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	p->host = host;
	p->pio = pio;
	guest_error_log_init(&p->errlog, "piix4");
	isa_init(&p->isa);
	ide_init(&p->ide);
	r = ide_channel_new("ide0", primary, mem, &p->ch[0]);
	if (r == 0)
		r = ide_channel_new("ide1", secondary, mem, &p->ch[1]);
	for (unsigned i = 0; r == 0 && i < 2; i++) {
		r = ide_channel_register(p->ch[i], pio, cmd_port[i], ctl_port[i]);
		p->legacy_registered[i] = r == 0;
	}
	if (r == 0) {
		r = io_bus_register(pio, PIIX4_BM_PORT, PIIX4_BM_LEN, &bm_ops, p, "piix4-bm");
		p->bm_registered = r == 0;
	}
	if (r == 0) {
		r = pci_host_add_device(host, PIIX4_DEVFN_ISA, &isa_ops, p);
		p->isa_added = r == 0;
	}
	if (r == 0) {
		r = pci_host_add_device(host, PIIX4_DEVFN_IDE, &ide_ops, p);
		p->ide_added = r == 0;
	}
	if (r < 0) {
		piix4_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

struct piix4 *piix4_free(struct piix4 *p)
{
	static const uint16_t cmd_port[2] = {0x1F0, 0x170}, ctl_port[2] = {0x3F6, 0x376};

	if (!p)
		return NULL;
	if (p->ide_added)
		(void)pci_host_remove_device(p->host, PIIX4_DEVFN_IDE);
	if (p->isa_added)
		(void)pci_host_remove_device(p->host, PIIX4_DEVFN_ISA);
	if (p->bm_registered)
		(void)io_bus_unregister(p->pio, PIIX4_BM_PORT);
	for (unsigned i = 0; i < 2; i++) {
		if (p->legacy_registered[i])
			ide_channel_unregister(p->ch[i], p->pio, cmd_port[i], ctl_port[i]);
		ide_channel_free(p->ch[i]);
	}
	free(p);
	return NULL;
}

struct ide_channel *piix4_channel(struct piix4 *p, unsigned i)
{
	return i < 2 ? p->ch[i] : NULL;
}

int piix4_save(struct piix4 *p, struct state_out *out)
{
	int r;

	state_out_bytes(out, p->isa.config, sizeof(p->isa.config));
	state_out_bytes(out, p->ide.config, sizeof(p->ide.config));
	r = ide_channel_save(p->ch[0], out);
	if (r == 0)
		r = ide_channel_save(p->ch[1], out);
	return r < 0 ? r : out->error;
}

/* A saved configuration space whose read-only bits are this build's, into f. */
static bool load_config(struct piix4_function *f, const uint8_t *saved)
{
	for (unsigned i = 0; i < sizeof(f->config); i++)
		if ((saved[i] ^ f->config[i]) & ~f->wmask[i])
			return false;
	memcpy(f->config, saved, sizeof(f->config));
	return true;
}

int piix4_load(struct piix4 *p, uint32_t version, struct state_in *in, char *errbuf, size_t errlen)
{
	struct piix4_function isa = p->isa, ide = p->ide;
	uint8_t saved[2][256];
	int r;

	state_in_bytes(in, saved[0], sizeof(saved[0]));
	state_in_bytes(in, saved[1], sizeof(saved[1]));
	if (version != 1 || in->error) {
		snprintf(errbuf, errlen, "PIIX4: %s", in->error ? "too short" : "unknown version");
		return -EBADMSG;
	}
	if (!load_config(&isa, saved[0]) || !load_config(&ide, saved[1])) {
		snprintf(errbuf, errlen,
			 "PIIX4: a read-only configuration register differs from this build's "
			 "(another device)");
		return -EBADMSG;
	}
	r = ide_channel_load(p->ch[0], version, in, errbuf, errlen);
	if (r == 0)
		r = ide_channel_load(p->ch[1], version, in, errbuf, errlen);
	if (r < 0)
		return r;
	p->isa = isa;
	p->ide = ide;
	return 0;
}

/*
 * PCI configuration mechanism #1 (PCI Local Bus Specification 3.0,
 * section 3.2.2.3.2): CONFIG_ADDRESS at 0xCF8, written and read as a
 * dword only, selects bus/device/function/register; CONFIG_DATA at
 * 0xCFC-0xCFF reads or writes that dword, or bytes and words inside it.
 *
 * Only bus 0 exists. Its slot table holds one struct pci_device_ops per
 * devfn; an empty slot reads all-ones, which is how software sees "no
 * device". The host bridge at 00:00.0 is the one Hyper-V's generation 1
 * machines show: Intel 82443BX "440BX host bridge, AGP disabled"
 * (8086:7192, revision 3), class 06/00/00, header type 0, no BARs.
 * Its chipset registers (0x40-0xFF) read 0 and ignore writes: there is no
 * DRAM or PAM to program.
 *
 * Generation 1 machines that boot through SeaBIOS get the Intel 82441FX
 * "440FX PMC" instead (8086:1237, revision 2: pci_host_new_i440fx), the
 * host bridge SeaBIOS's QEMU platform code knows (src/fw/pciinit.c,
 * src/fw/shadow.c). Its PAM registers 0x59-0x5F (82441FX data sheet
 * §3.2.18) are kept as written, so SeaBIOS's "make the BIOS area writable"
 * and "read-only" sequences read back what they wrote; the memory at
 * 0xC0000-0xFFFFF is guest RAM throughout (the BIOS copies itself there
 * from its high mapping over bytes that are already the same).
 *
 * Byte and word accesses to 0xCF8-0xCFB are not CONFIG_ADDRESS: Linux
 * probes with "outb 0x01, 0xCFB", and 0xCF9 is the reset control register
 * of Intel chipsets, which we do not have. They read all-ones and writes
 * are dropped, without counting as guest errors.
 *
 * Threads: vCPU threads, several at once; one mutex, held across the
 * device's config_read/config_write.
 */
#include "emu/pci_host.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "state/state.h"
#include "vid/pc_layout.h"

#define ADDR_ENABLE   0x80000000u
#define ADDR_MASK     0x80FFFFFCu /* enable, bus, device, function, dword register */
#define ADDR_BUS(a)   (((a) >> 16) & 0xFF)
#define ADDR_DEVFN(a) (((a) >> 8) & 0xFF)
#define ADDR_REG(a)   ((a)&0xFC)

#define BRIDGE_VENDOR	0x8086
#define BRIDGE_DEVICE	0x7192 /* 82443BX, AGP disabled */
#define BRIDGE_REVISION 0x03
#define I440FX_DEVICE	0x1237 /* 82441FX PMC */
#define I440FX_REVISION 0x02
#define I440FX_PAM0	0x59 /* PAM0 (0xF0000-0xFFFFF, high nibble) to PAM6 at 0x5F */
#define I440FX_PAM_LAST 0x5F

struct pci_slot {
	const struct pci_device_ops *ops; /* NULL: empty */
	void *opaque;
};

struct pci_host {
	pthread_mutex_t lock;
	struct io_bus *bus;
	uint32_t config_address;    /* ADDR_MASK bits of the last dword written to 0xCF8 */
	struct pci_slot slots[256]; /* bus 0, by devfn */
	uint8_t bridge_config[256]; /* the host bridge's configuration space */
	uint8_t bridge_wmask[256];  /* its writable bits */

	struct guest_error_log errors; /* guest mistakes: count and rate-limited log */
};

static uint32_t all_ones(unsigned size)
{
	return size >= 4 ? UINT32_MAX : (UINT32_C(1) << (size * 8)) - 1;
}

static uint32_t bridge_read(void *opaque, unsigned offset, unsigned size)
{
	struct pci_host *s = opaque;
	uint32_t v = 0;

	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)s->bridge_config[offset + i] << (8 * i);
	return v;
}

static void bridge_write(void *opaque, unsigned offset, uint32_t value, unsigned size)
{
	struct pci_host *s = opaque;

	for (unsigned i = 0; i < size; i++) {
		uint8_t m = s->bridge_wmask[offset + i];
		uint8_t *b = &s->bridge_config[offset + i];

		*b = (uint8_t)((*b & ~m) | ((value >> (8 * i)) & m));
	}
}

static const struct pci_device_ops bridge_ops = {
	.config_read = bridge_read,
	.config_write = bridge_write,
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void bridge_init(struct pci_host *s, bool i440fx)
{
	uint8_t *c = s->bridge_config;

	put16(c + 0x00, BRIDGE_VENDOR);
	put16(c + 0x02, i440fx ? I440FX_DEVICE : BRIDGE_DEVICE);
	put16(c + 0x04, 0x0006); /* command: memory space, bus master */
	put16(c + 0x06, 0x0200); /* status: medium DEVSEL timing */
	c[0x08] = i440fx ? I440FX_REVISION : BRIDGE_REVISION;
	c[0x09] = 0x00; /* class 06/00/00: host bridge */
	c[0x0A] = 0x00;
	c[0x0B] = 0x06;
	c[0x0E] = 0x00;		      /* header type 0, single function */
	s->bridge_wmask[0x0D] = 0xFF; /* latency timer */
	s->bridge_wmask[0x3C] = 0xFF; /* interrupt line: scratch for software */
	if (i440fx) {
		/* PAM0 holds only the 0xF0000 segment's bits (high nibble), PAM1-6 two each. */
		s->bridge_wmask[I440FX_PAM0] = 0x30;
		for (unsigned r = I440FX_PAM0 + 1; r <= I440FX_PAM_LAST; r++)
			s->bridge_wmask[r] = 0x33;
	}
	s->slots[0] = (struct pci_slot){.ops = &bridge_ops, .opaque = s};
}

/* The slot CONFIG_ADDRESS selects, or NULL. Caller holds the lock. */
static const struct pci_slot *selected(const struct pci_host *s)
{
	uint32_t a = s->config_address;
	const struct pci_slot *slot = &s->slots[ADDR_DEVFN(a)];

	if (!(a & ADDR_ENABLE) || ADDR_BUS(a) != 0 || !slot->ops)
		return NULL;
	return slot;
}

/* CONFIG_DATA accesses stay inside the dword: a word at 0xCFF would not. */
static bool data_access_ok(struct pci_host *s, uint64_t offset, unsigned size, const char *what)
{
	if ((size == 1 || size == 2 || size == 4) && offset - 4 + size <= 4)
		return true;
	guest_error_report(&s->errors, "%u-byte %s at port %#x", size, what,
			   (unsigned)(PC_PORT_PCI_CONFIG + offset));
	return false;
}

static uint64_t pci_read(void *opaque, uint64_t offset, unsigned size)
{
	struct pci_host *s = opaque;
	const struct pci_slot *slot;
	uint32_t v;

	if (offset < 4) {
		if (offset != 0 || size != 4)
			return all_ones(size);
		pthread_mutex_lock(&s->lock);
		v = s->config_address;
		pthread_mutex_unlock(&s->lock);
		return v;
	}
	if (!data_access_ok(s, offset, size, "read"))
		return all_ones(size);
	pthread_mutex_lock(&s->lock);
	slot = selected(s);
	v = all_ones(size);
	if (slot) {
		unsigned reg = ADDR_REG(s->config_address) + (unsigned)(offset - 4);

		v = slot->ops->config_read(slot->opaque, reg, size) & all_ones(size);
	}
	pthread_mutex_unlock(&s->lock);
	return v;
}

static void pci_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct pci_host *s = opaque;
	const struct pci_slot *slot;

	if (offset < 4) {
		if (offset != 0 || size != 4)
			return;
		pthread_mutex_lock(&s->lock);
		s->config_address = (uint32_t)value & ADDR_MASK;
		pthread_mutex_unlock(&s->lock);
		return;
	}
	if (!data_access_ok(s, offset, size, "write"))
		return;
	pthread_mutex_lock(&s->lock);
	slot = selected(s);
	if (slot) {
		unsigned reg = ADDR_REG(s->config_address) + (unsigned)(offset - 4);

		slot->ops->config_write(slot->opaque, reg, (uint32_t)value & all_ones(size), size);
	}
	pthread_mutex_unlock(&s->lock);
}

static const struct io_ops pci_ops = {
	.read = pci_read,
	.write = pci_write,
};

int pci_host_add_device(struct pci_host *host, unsigned devfn, const struct pci_device_ops *ops,
			void *opaque)
{
	int r = 0;

	if (devfn >= ARRAY_SIZE(host->slots) || !ops || !ops->config_read || !ops->config_write)
		return -EINVAL;
	pthread_mutex_lock(&host->lock);
	if (host->slots[devfn].ops)
		r = -EEXIST;
	else
		host->slots[devfn] = (struct pci_slot){.ops = ops, .opaque = opaque};
	pthread_mutex_unlock(&host->lock);
	return r;
}

int pci_host_remove_device(struct pci_host *host, unsigned devfn)
{
	int r = -ENOENT;

	if (devfn == 0 || devfn >= ARRAY_SIZE(host->slots))
		return -ENOENT;
	pthread_mutex_lock(&host->lock);
	if (host->slots[devfn].ops) {
		host->slots[devfn] = (struct pci_slot){0};
		r = 0;
	}
	pthread_mutex_unlock(&host->lock);
	return r;
}

uint64_t pci_host_guest_errors(const struct pci_host *host)
{
	return guest_error_count(&host->errors);
}

static int host_new(struct io_bus *bus, bool i440fx, struct pci_host **ret)
{
	struct pci_host *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->bus = bus;
	guest_error_log_init(&s->errors, "pci");
	bridge_init(s, i440fx);
	r = io_bus_register(bus, PC_PORT_PCI_CONFIG, PC_PORT_PCI_CONFIG_LEN, &pci_ops, s,
			    "pci-conf1");
	if (r < 0) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return r;
	}
	*ret = s;
	return 0;
}

int pci_host_new(struct io_bus *bus, struct pci_host **ret)
{
	return host_new(bus, false, ret);
}

int pci_host_new_i440fx(struct io_bus *bus, struct pci_host **ret)
{
	return host_new(bus, true, ret);
}

struct pci_host *pci_host_free(struct pci_host *host)
{
	if (!host)
		return NULL;
	(void)io_bus_unregister(host->bus, PC_PORT_PCI_CONFIG);
	pthread_mutex_destroy(&host->lock);
	free(host);
	return NULL;
}

/* Saved state, version 1: config_address (u32), the bridge's 256 configuration bytes. */
int pci_host_save(struct pci_host *s, struct state_out *out)
{
	pthread_mutex_lock(&s->lock);
	state_out_u32(out, s->config_address);
	state_out_bytes(out, s->bridge_config, sizeof(s->bridge_config));
	pthread_mutex_unlock(&s->lock);
	return out->error;
}

int pci_host_load(struct pci_host *s, uint32_t version, struct state_in *in, char *errbuf,
		  size_t errlen)
{
	uint8_t config[sizeof(s->bridge_config)];
	uint32_t address;
	unsigned i;

	address = state_in_u32(in);
	state_in_bytes(in, config, sizeof(config));
	if (version != 1 || in->error) {
		snprintf(errbuf, errlen, "PCI host state: %s",
			 in->error ? "too short" : "unknown version");
		return -EBADMSG;
	}
	if (address & ~ADDR_MASK) {
		snprintf(errbuf, errlen, "PCI host state: CONFIG_ADDRESS 0x%08x has reserved bits",
			 address);
		return -EBADMSG;
	}
	pthread_mutex_lock(&s->lock);
	for (i = 0; i < sizeof(config); i++)
		if ((config[i] ^ s->bridge_config[i]) & ~s->bridge_wmask[i])
			break;
	if (i < sizeof(config)) {
		pthread_mutex_unlock(&s->lock);
		snprintf(errbuf, errlen,
			 "PCI host state: read-only byte 0x%02x of the host bridge is 0x%02x, this "
			 "bridge has 0x%02x (saved from another chipset)",
			 i, config[i], s->bridge_config[i]);
		return -EBADMSG;
	}
	s->config_address = address;
	memcpy(s->bridge_config, config, sizeof(config));
	pthread_mutex_unlock(&s->lock);
	return 0;
}

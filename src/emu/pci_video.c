/*
 * The Hyper-V video PCI function (pci_video.h): a type 0 header (PCI Local
 * Bus Specification 3.0, section 6.1) with vendor 1414, device 5353, class
 * 03/00/00 (VGA-compatible display), no interrupt, and one 32-bit
 * prefetchable memory BAR that software can size (section 6.2.5.1: writing
 * all-ones reads back the size mask). Nothing decodes the BAR: the screen
 * is the synthetic video's VRAM (src/vsp/synthvid/), in the VMBus window.
 *
 * Threads: vCPU threads, serialised by the PCI host's lock (pci_host.h).
 */
#include "emu/pci_video.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/byteorder.h"
#include "state/state.h"

#define BAR0_FLAGS 0x8u /* memory, 32-bit, prefetchable */

struct pci_video {
	struct pci_host *host;
	unsigned devfn;
	uint8_t config[256];
	uint8_t wmask[256];
};

static uint32_t video_read(void *opaque, unsigned offset, unsigned size)
{
	struct pci_video *v = opaque;
	uint32_t x = 0;

	for (unsigned i = 0; i < size; i++)
		x |= (uint32_t)v->config[offset + i] << (8 * i);
	return x;
}

static void video_write(void *opaque, unsigned offset, uint32_t value, unsigned size)
{
	struct pci_video *v = opaque;

	for (unsigned i = 0; i < size; i++) {
		uint8_t m = v->wmask[offset + i];
		uint8_t *b = &v->config[offset + i];

		*b = (uint8_t)((*b & ~m) | ((value >> (8 * i)) & m));
	}
}

static const struct pci_device_ops video_ops = {
	.config_read = video_read,
	.config_write = video_write,
};

static void video_init(struct pci_video *v)
{
	uint8_t *c = v->config;
	uint32_t bar_mask = ~(PCI_VIDEO_BAR0_SIZE - 1);

	put_le16(c + 0x00, PCI_VIDEO_VENDOR);
	put_le16(c + 0x02, PCI_VIDEO_DEVICE);
	put_le16(c + 0x06, 0x0200); /* status: medium DEVSEL timing */
	c[0x08] = 0x00;		    /* revision */
	c[0x09] = 0x00;		    /* class 03/00/00: VGA-compatible display controller */
	c[0x0A] = 0x00;
	c[0x0B] = 0x03;
	c[0x0E] = 0x00; /* header type 0 */
	put_le32(c + 0x10, PCI_VIDEO_BAR0_BASE | BAR0_FLAGS);
	put_le16(c + 0x2C, PCI_VIDEO_VENDOR); /* subsystem vendor and id */
	put_le16(c + 0x2E, 0x0000);
	/* Writable: command's I/O, memory and bus-master bits; BAR 0's address bits; line. */
	v->wmask[0x04] = 0x07;
	put_le32(v->wmask + 0x10, bar_mask);
	v->wmask[0x3C] = 0xFF;
}

int pci_video_new(struct pci_host *host, unsigned devfn, struct pci_video **ret)
{
	struct pci_video *v = calloc(1, sizeof(*v));
	int r;

	if (!v)
		return -ENOMEM;
	v->host = host;
	v->devfn = devfn;
	video_init(v);
	r = pci_host_add_device(host, devfn, &video_ops, v);
	if (r < 0) {
		free(v);
		return r;
	}
	*ret = v;
	return 0;
}

struct pci_video *pci_video_free(struct pci_video *v)
{
	if (!v)
		return NULL;
	(void)pci_host_remove_device(v->host, v->devfn);
	free(v);
	return NULL;
}

uint32_t pci_video_bar0(struct pci_video *v)
{
	return video_read(v, 0x10, 4);
}

/* Saved state, version 1: the 256 configuration bytes. */
int pci_video_save(struct pci_video *v, struct state_out *out)
{
	state_out_bytes(out, v->config, sizeof(v->config));
	return out->error;
}

int pci_video_load(struct pci_video *v, uint32_t version, struct state_in *in, char *errbuf,
		   size_t errlen)
{
	uint8_t config[sizeof(v->config)];
	unsigned i;

	state_in_bytes(in, config, sizeof(config));
	if (version != 1 || in->error) {
		snprintf(errbuf, errlen, "PCI video state: %s",
			 in->error ? "too short" : "unknown version");
		return -EBADMSG;
	}
	for (i = 0; i < sizeof(config); i++)
		if ((config[i] ^ v->config[i]) & ~v->wmask[i]) {
			snprintf(
				errbuf, errlen,
				"PCI video state: read-only byte 0x%02x is 0x%02x, this device has "
				"0x%02x",
				i, config[i], v->config[i]);
			return -EBADMSG;
		}
	memcpy(v->config, config, sizeof(config));
	return 0;
}

/*
 * The Intel PIIX4 (82371AB) functions a Generation 1 VM has at 00:01: the
 * PCI-to-ISA bridge (function 0) and the IDE controller (function 1) with
 * its two channels at the legacy ports (0x1F0/0x3F6 on IRQ 14, 0x170/0x376
 * on IRQ 15) and bus-master DMA through BAR4. See piix4.c.
 */
#pragma once

#include "base/compiler.h"
#include "emu/ide/ide.h"
#include "emu/pci_host.h"
#include "vid/io_bus.h"
#include "vid/irq.h"

#define PIIX4_DEVFN_ISA	    PCI_DEVFN(1, 0)
#define PIIX4_DEVFN_IDE	    PCI_DEVFN(1, 1)
#define PIIX4_VENDOR	    0x8086
#define PIIX4_DEVICE_ISA    0x7110
#define PIIX4_DEVICE_IDE    0x7111
#define PIIX4_BM_PORT	    0xC000 /* where BAR4 is decoded (firmware's usual choice) */
#define PIIX4_BM_LEN	    16
#define PIIX4_IRQ_PRIMARY   14
#define PIIX4_IRQ_SECONDARY 15

struct piix4;

/* Plugs functions 0 and 1 into host and registers the legacy and bus-master ports on pio. */
int piix4_new(struct pci_host *host, struct io_bus *pio, struct irq_line primary,
	      struct irq_line secondary, struct guest_memory *mem, struct piix4 **ret) must_check;
/* NULL is a no-op; returns NULL. */
struct piix4 *piix4_free(struct piix4 *p);
/* Channel 0 (primary) or 1 (secondary), for attaching devices. */
struct ide_channel *piix4_channel(struct piix4 *p, unsigned i);

/*
 * Section "ide.piix4" (docs/saved-state.md): both functions' configuration
 * spaces (the read-only bytes must be this build's) and both channels
 * (ide_channel_save). Version 1.
 */
#define PIIX4_STATE_VERSION 1u
struct state_out;
struct state_in;
int piix4_save(struct piix4 *p, struct state_out *out) must_check;
int piix4_load(struct piix4 *p, uint32_t version, struct state_in *in, char *errbuf,
	       size_t errlen) must_check;

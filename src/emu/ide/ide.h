/*
 * An emulated IDE channel (one of the PIIX4's two): the ATA taskfile at the
 * legacy command and control ports, up to two devices (ATA disks over
 * src/disk/, ATAPI CD-ROMs over an ISO image), PIO and PIIX bus-master DMA
 * into guest RAM, one interrupt line. See README.md.
 *
 * Threads: every call below may come from any vCPU thread; a channel has
 * one lock, held for a whole register access. Disk I/O is synchronous on
 * the calling vCPU thread, with the lock held (first version: a PIO sector
 * or a DMA command blocks that vCPU for the time of its disk I/O; other
 * vCPUs touching this channel wait).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vid/io_bus.h"
#include "vid/irq.h"

struct disk;
struct guest_memory;
struct ide_channel;

/* irq: IRQ 14 or 15; mem: where bus-master DMA reads and writes (NULL: PIO only). */
int ide_channel_new(const char *name, struct irq_line irq, struct guest_memory *mem,
		    struct ide_channel **ret) must_check;
/* NULL is a no-op; returns NULL. Closes nothing: the caller owns the disks. */
struct ide_channel *ide_channel_free(struct ide_channel *ch);

/*
 * An ATA disk at unit 0 (master) or 1 (slave). The disk must have 512-byte
 * logical sectors (-EINVAL otherwise); -EEXIST if the unit is taken.
 */
int ide_channel_attach_disk(struct ide_channel *ch, unsigned unit, struct disk *d) must_check;
/* An ATAPI CD-ROM at unit, with media (an ISO image; read-only use) or empty (iso NULL). */
int ide_channel_attach_cdrom(struct ide_channel *ch, unsigned unit, struct disk *iso) must_check;
/*
 * Changes the CD-ROM's media (NULL ejects): the guest sees UNIT ATTENTION /
 * MEDIUM MAY HAVE CHANGED on its next command. -EBUSY if the guest has
 * locked the tray (PREVENT ALLOW MEDIUM REMOVAL) and force is false;
 * -ENODEV if unit is not a CD-ROM. Returns the old media in *old (or NULL).
 */
int ide_channel_change_media(struct ide_channel *ch, unsigned unit, struct disk *iso, bool force,
			     struct disk **old) must_check;

/* Register accesses: offset within the command block (0..7), control block (0) or bus master
 * (0..7). */
uint64_t ide_channel_cmd_read(struct ide_channel *ch, unsigned offset, unsigned size);
void ide_channel_cmd_write(struct ide_channel *ch, unsigned offset, uint64_t value, unsigned size);
uint64_t ide_channel_ctl_read(struct ide_channel *ch, unsigned offset, unsigned size);
void ide_channel_ctl_write(struct ide_channel *ch, unsigned offset, uint64_t value, unsigned size);
uint64_t ide_channel_bm_read(struct ide_channel *ch, unsigned offset, unsigned size);
void ide_channel_bm_write(struct ide_channel *ch, unsigned offset, uint64_t value, unsigned size);

/* Registers the command block at cmd_base and the control block at ctl_base on bus. */
int ide_channel_register(struct ide_channel *ch, struct io_bus *bus, uint16_t cmd_base,
			 uint16_t ctl_base) must_check;
void ide_channel_unregister(struct ide_channel *ch, struct io_bus *bus, uint16_t cmd_base,
			    uint16_t ctl_base);
/* io_ops for the bus-master block of this channel (8 ports in BAR4), opaque = the channel. */
extern const struct io_ops ide_channel_bm_ops;

/*
 * Saved state of a channel (ide_state.c, docs/saved-state.md): registers,
 * the transfer in progress and its next step, the bus master, each
 * device's guest-set state. The devices must be attached as when saved.
 * The vCPUs must be paused (no register access running).
 */
#define IDE_STATE_VERSION 1u
struct state_out;
struct state_in;
int ide_channel_save(struct ide_channel *ch, struct state_out *out) must_check;
int ide_channel_load(struct ide_channel *ch, uint32_t version, struct state_in *in, char *errbuf,
		     size_t errlen) must_check;

struct ide_stats {
	uint64_t commands; /* commands accepted by a device */
	uint64_t aborted;  /* commands answered with ERR (ABRT, IDNF, UNC, check condition) */
	uint64_t sectors_read, sectors_written;
	uint64_t dma_transfers; /* bus-master runs started */
	uint64_t dma_errors;	/* PRD tables outside RAM, unterminated or too short */
	uint64_t io_errors;	/* host disk I/O failures */
	uint64_t guest_errors;	/* bad register accesses and protocol mistakes */
};
void ide_channel_get_stats(struct ide_channel *ch, struct ide_stats *stats);

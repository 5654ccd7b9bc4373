/*
 * What the IDE files share: the channel state and the device models' entry
 * points. ide_channel.c owns the registers and the PIO data path,
 * ide_ata.c and ide_atapi.c the two kinds of device, ide_busmaster.c the
 * DMA engine. Every function here runs with ch->lock held.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/log.h"
#include "emu/ide/ide.h"
#include "emu/ide/ide_proto.h"

/* The transfer buffer: 256 ATA sectors or 64 CD sectors, the largest chunk moved at once. */
#define IDE_BUF_SIZE (256u * ATA_SECTOR_SIZE)

enum ide_kind {
	IDE_NONE,
	IDE_ATA,
	IDE_ATAPI,
};

struct ide_drive {
	enum ide_kind kind;
	struct disk *disk; /* ATA: the disk; ATAPI: the media, or NULL when empty */
	uint64_t sectors;  /* ATA: 512-byte sectors; ATAPI: 2048-byte blocks of the media */
	bool read_only;
	uint16_t cylinders, heads, sectors_per_track; /* default CHS translation */
	uint8_t xfer_mode;			      /* last SET FEATURES 03h value */
	bool write_cache;			      /* off: every write is flushed */
	/* ATAPI */
	uint8_t sense_key, asc;
	bool unit_attention; /* media changed since the guest last looked */
	bool locked;	     /* PREVENT ALLOW MEDIUM REMOVAL */
	bool media_event;    /* GET EVENT STATUS NOTIFICATION: new media / removal to report */
	bool tray_open;	     /* ejected by the guest (START STOP UNIT): no media seen */
};

/* What happens when the transfer buffer has been moved (PIO or DMA). */
typedef void (*ide_xfer_done_fn)(struct ide_channel *ch);

struct ide_channel {
	pthread_mutex_t lock;
	char name[16];
	struct irq_line irq;
	struct guest_memory *mem;
	struct ide_drive drive[2];

	/* Taskfile (shared by both devices, as on the cable). HOB: the previous write (LBA48). */
	uint8_t feature, nsect, lbal, lbam, lbah;
	uint8_t hob_feature, hob_nsect, hob_lbal, hob_lbam, hob_lbah;
	uint8_t device, devctl;
	uint8_t status, error; /* of the selected device */
	bool irq_pending;      /* INTRQ before nIEN: cleared by reading STATUS */
	bool irq_asserted;     /* the level last driven */

	/* The current data transfer: buf[pos..len) remains to be moved. */
	uint8_t buf[IDE_BUF_SIZE];
	uint32_t pos, len;
	bool to_host;	       /* device -> guest (reads) */
	bool dma;	       /* the transfer goes through the bus master, not the data port */
	ide_xfer_done_fn done; /* called when pos reaches len; NULL: the command ends */
	uint64_t lba;	       /* next sector or block */
	uint32_t remaining;    /* sectors/blocks after this chunk */
	struct ide_drive
		*cur; /* the device running the command (the guest may select another meanwhile) */
	uint16_t atapi_limit; /* ATAPI PIO: byte count limit of this packet */
	uint32_t
		buf_end; /* ATAPI: bytes in buf for this fill; PIO moves it in limit-sized pieces */
	bool packet_phase; /* ATAPI: buf holds the packet being written */

	/* Bus master */
	uint8_t bm_cmd, bm_status;
	uint32_t bm_prd;
	/* The PRD walk of the current bus-master run (from START's rising edge). */
	uint64_t prd_next, prd_end; /* next entry; the table's 64 KiB boundary */
	uint64_t prd_addr;	    /* where the current entry's region continues */
	uint32_t prd_left;	    /* bytes left in it */
	bool prd_eot;		    /* the current entry was the last */
	bool bm_running; /* inside ide_bm_run(): the device's callbacks continue the loop */

	struct ide_stats stats;
	struct guest_error_log errlog;
};

static inline struct ide_drive *ide_selected(struct ide_channel *ch)
{
	return &ch->drive[(ch->device & IDE_DEVICE_DEV) ? 1 : 0];
}

/* ide_channel.c */
void ide_raise_irq(struct ide_channel *ch);
/* Drives INTRQ to what irq_pending and nIEN say (after a load: ide_state.c). */
void ide_channel_update_irq(struct ide_channel *ch);
/* Ends the command: status DRDY (and ERR with error), no data, an interrupt. */
void ide_command_done(struct ide_channel *ch, uint8_t error);
/*
 * Starts moving buf[0..len): by PIO (DRQ set) or, if dma, when the bus master
 * runs. done runs when it has all moved. irq: raise INTRQ now (PIO reads
 * and ATAPI data phases do; PIO writes wait for the data).
 */
void ide_start_transfer(struct ide_channel *ch, uint32_t len, bool to_host, bool dma,
			ide_xfer_done_fn done, bool irq);
void ide_set_signature(struct ide_channel *ch, struct ide_drive *d);

/* ide_ata.c */
void ide_ata_command(struct ide_channel *ch, struct ide_drive *d, uint8_t cmd);
void ide_ata_geometry(struct ide_drive *d);
void ide_ata_set_features(struct ide_channel *ch, struct ide_drive *d);

/* ide_atapi.c */
void ide_atapi_command(struct ide_channel *ch, struct ide_drive *d, uint8_t cmd);
/* The 12-byte packet has arrived in buf. */
void ide_atapi_packet(struct ide_channel *ch);

/* ide_busmaster.c */
/* Runs the DMA if the bus master is started and the device has a DMA transfer waiting. */
void ide_bm_run(struct ide_channel *ch);
uint64_t ide_bm_read(struct ide_channel *ch, unsigned offset, unsigned size);
void ide_bm_write(struct ide_channel *ch, unsigned offset, uint64_t value, unsigned size);

/*
 * A continuation with a number, so that a saved transfer names the step
 * that comes next (ide_state.c): ide_ata.c's and ide_atapi.c's tables, each
 * ended by {0, NULL}. A number keeps its meaning in every later build.
 */
struct ide_step {
	uint8_t id;
	ide_xfer_done_fn fn;
};
extern const struct ide_step ide_ata_steps[];
extern const struct ide_step ide_atapi_steps[];

/* ide_identify helpers (ide_ata.c): a string into IDENTIFY words, byte-swapped as ATA wants. */
void ide_id_string(uint16_t *words, unsigned nwords, const char *s);
void ide_id_checksum(uint16_t *id);

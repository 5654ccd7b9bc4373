/*
 * One IDE channel: the taskfile registers at the command block (0x1F0-7 /
 * 0x170-7) and the control block (0x3F6 / 0x376), device selection, resets,
 * the PIO data port, and the interrupt line (ATA/ATAPI-7 vol 1 sections 7
 * and 9 (protocols), vol 2 for PACKET). Commands go to the selected device's
 * model (ide_ata.c, ide_atapi.c); DMA to the bus master (ide_busmaster.c).
 *
 * Threads: register callbacks run on vCPU threads; ch->lock serialises them
 * and is held through the disk I/O a command does (ide.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk/disk.h"
#include "emu/ide/ide_internal.h"

static void update_irq(struct ide_channel *ch)
{
	bool level = ch->irq_pending && !(ch->devctl & IDE_CTL_NIEN);

	if (level != ch->irq_asserted) {
		ch->irq_asserted = level;
		irq_line_set(&ch->irq, level);
	}
}

void ide_channel_update_irq(struct ide_channel *ch)
{
	update_irq(ch);
}

void ide_raise_irq(struct ide_channel *ch)
{
	ch->irq_pending = true;
	/* PIIX4 2.7.3.2: the bus master's interrupt bit follows the device's INTRQ rising edge. */
	ch->bm_status |= IDE_BM_ST_INTERRUPT;
	update_irq(ch);
}

static void clear_transfer(struct ide_channel *ch)
{
	ch->pos = ch->len = 0;
	ch->done = NULL;
	ch->dma = false;
	ch->packet_phase = false;
	ch->remaining = 0;
}

void ide_command_done(struct ide_channel *ch, uint8_t error)
{
	clear_transfer(ch);
	ch->error = error;
	ch->status = IDE_STATUS_DRDY | IDE_STATUS_DSC | (error ? IDE_STATUS_ERR : 0);
	if (error)
		ch->stats.aborted++;
	ide_raise_irq(ch);
}

void ide_start_transfer(struct ide_channel *ch, uint32_t len, bool to_host, bool dma,
			ide_xfer_done_fn done, bool irq)
{
	ch->pos = 0;
	ch->len = len;
	ch->to_host = to_host;
	ch->dma = dma;
	ch->done = done;
	ch->status = IDE_STATUS_DRDY | IDE_STATUS_DSC | IDE_STATUS_DRQ;
	if (irq)
		ide_raise_irq(ch);
	if (dma)
		ide_bm_run(ch);
}

/* ATA-7 9.12: what a device leaves in the taskfile after a reset or EXECUTE DEVICE DIAGNOSTIC. */
void ide_set_signature(struct ide_channel *ch, struct ide_drive *d)
{
	ch->nsect = 1;
	ch->lbal = 1;
	ch->lbam = d->kind == IDE_ATAPI ? ATAPI_SIG_LBAM : ATA_SIG_LBAM;
	ch->lbah = d->kind == IDE_ATAPI ? ATAPI_SIG_LBAH : ATA_SIG_LBAH;
	ch->device &= IDE_DEVICE_DEV;
	ch->error = 0x01; /* diagnostic code: device 0 passed, device 1 passed or absent */
	/* An ATAPI device clears DRDY until IDENTIFY PACKET DEVICE (ATA-7 vol 2, 9.1). */
	ch->status = d->kind == IDE_ATA ? IDE_STATUS_DRDY | IDE_STATUS_DSC : 0;
}

static void soft_reset(struct ide_channel *ch)
{
	clear_transfer(ch);
	ch->device = 0;
	ch->irq_pending = false;
	update_irq(ch);
	ide_set_signature(ch, &ch->drive[0]);
}

static bool channel_empty(const struct ide_channel *ch)
{
	return ch->drive[0].kind == IDE_NONE && ch->drive[1].kind == IDE_NONE;
}

static uint8_t status_of_selected(struct ide_channel *ch)
{
	if (channel_empty(ch))
		return 0xFF; /* floating bus: Linux's ata_sff_wait_ready() reads "no device" */
	if (ide_selected(ch)->kind == IDE_NONE)
		return 0x00; /* ATA-7 9.16: device 0 answers for an absent device 1 with 00h */
	return ch->status;
}

static void execute(struct ide_channel *ch, uint8_t cmd)
{
	struct ide_drive *d = ide_selected(ch);

	if (cmd == ATA_CMD_EXECUTE_DIAGNOSTIC && !channel_empty(ch)) {
		/* Addressed to both devices; device 0's signature is left selected (ATA-7 6.21). */
		clear_transfer(ch);
		ch->device &= ~IDE_DEVICE_DEV;
		ide_set_signature(ch,
				  ch->drive[0].kind != IDE_NONE ? &ch->drive[0] : &ch->drive[1]);
		ch->stats.commands++;
		ide_raise_irq(ch);
		return;
	}
	if (d->kind == IDE_NONE)
		return; /* nobody is there to take it */
	/* A new command ends whatever transfer was left unfinished. */
	clear_transfer(ch);
	ch->irq_pending = false;
	update_irq(ch);
	ch->stats.commands++;
	ch->cur = d;
	if (d->kind == IDE_ATA)
		ide_ata_command(ch, d, cmd);
	else
		ide_atapi_command(ch, d, cmd);
}

/* The buffer is fully moved by PIO: the protocol's next step. */
static void pio_block_done(struct ide_channel *ch)
{
	ide_xfer_done_fn done = ch->done;

	ch->status &= (uint8_t)~IDE_STATUS_DRQ;
	if (ch->packet_phase) {
		ch->packet_phase = false;
		ide_atapi_packet(ch);
	} else if (done) {
		ch->done = NULL;
		done(ch);
	} else {
		clear_transfer(ch);
	}
}

static bool pio_ready(struct ide_channel *ch, bool to_host)
{
	return (ch->status & IDE_STATUS_DRQ) && !ch->dma && ch->to_host == to_host &&
	       ch->pos < ch->len && ide_selected(ch)->kind != IDE_NONE;
}

static uint64_t data_read(struct ide_channel *ch, unsigned size)
{
	uint64_t v = 0;

	if (!pio_ready(ch, true)) {
		guest_error_report(&ch->errlog, "data port read with no data to give");
		return size == 4 ? 0xFFFFFFFFu : size == 2 ? 0xFFFFu : 0xFFu;
	}
	for (unsigned i = 0; i < size && ch->pos < ch->len; i++)
		v |= (uint64_t)ch->buf[ch->pos++] << (8 * i);
	if (ch->pos >= ch->len)
		pio_block_done(ch);
	return v;
}

static void data_write(struct ide_channel *ch, uint64_t value, unsigned size)
{
	if (!pio_ready(ch, false)) {
		guest_error_report(&ch->errlog, "data port write with no transfer open");
		return;
	}
	for (unsigned i = 0; i < size && ch->pos < ch->len; i++)
		ch->buf[ch->pos++] = (uint8_t)(value >> (8 * i));
	if (ch->pos >= ch->len)
		pio_block_done(ch);
}

/* Writes to the taskfile push the old value into the HOB copy (ATA-7 7.1: 48-bit addressing). */
static void write_tf(uint8_t *reg, uint8_t *hob, uint8_t v)
{
	*hob = *reg;
	*reg = v;
}

uint64_t ide_channel_cmd_read(struct ide_channel *ch, unsigned offset, unsigned size)
{
	uint64_t v = 0xFF;
	bool hob;

	pthread_mutex_lock(&ch->lock);
	hob = ch->devctl & IDE_CTL_HOB;
	if (offset == IDE_REG_DATA) {
		v = data_read(ch, size);
		goto out;
	}
	if (channel_empty(ch) || ide_selected(ch)->kind == IDE_NONE) {
		v = status_of_selected(ch);
		if (offset == IDE_REG_DEVICE && !channel_empty(ch))
			v = ch->device | 0xA0;
		goto out;
	}
	switch (offset) {
	case IDE_REG_ERROR: v = ch->error; break;
	case IDE_REG_NSECT: v = hob ? ch->hob_nsect : ch->nsect; break;
	case IDE_REG_LBAL: v = hob ? ch->hob_lbal : ch->lbal; break;
	case IDE_REG_LBAM: v = hob ? ch->hob_lbam : ch->lbam; break;
	case IDE_REG_LBAH: v = hob ? ch->hob_lbah : ch->lbah; break;
	case IDE_REG_DEVICE:
		v = ch->device | 0xA0; /* bits 7 and 5 are obsolete and read as set */
		break;
	case IDE_REG_STATUS:
		v = ch->status;
		ch->irq_pending = false; /* ATA-7 7.15: reading STATUS clears INTRQ */
		update_irq(ch);
		break;
	}
out:
	pthread_mutex_unlock(&ch->lock);
	return v;
}

void ide_channel_cmd_write(struct ide_channel *ch, unsigned offset, uint64_t value, unsigned size)
{
	uint8_t b = (uint8_t)value;

	pthread_mutex_lock(&ch->lock);
	if (offset != IDE_REG_DATA)
		ch->devctl &= (uint8_t)~IDE_CTL_HOB; /* ATA-7 7.8: a taskfile write clears HOB */
	switch (offset) {
	case IDE_REG_DATA: data_write(ch, value, size); break;
	case IDE_REG_ERROR: write_tf(&ch->feature, &ch->hob_feature, b); break;
	case IDE_REG_NSECT: write_tf(&ch->nsect, &ch->hob_nsect, b); break;
	case IDE_REG_LBAL: write_tf(&ch->lbal, &ch->hob_lbal, b); break;
	case IDE_REG_LBAM: write_tf(&ch->lbam, &ch->hob_lbam, b); break;
	case IDE_REG_LBAH: write_tf(&ch->lbah, &ch->hob_lbah, b); break;
	case IDE_REG_DEVICE: ch->device = b & (uint8_t)~0xA0; break;
	case IDE_REG_STATUS: execute(ch, b); break;
	}
	pthread_mutex_unlock(&ch->lock);
}

uint64_t ide_channel_ctl_read(struct ide_channel *ch, unsigned offset, unsigned size)
{
	uint64_t v;

	pthread_mutex_lock(&ch->lock);
	v = offset == 0 ? status_of_selected(ch) : 0xFF; /* alternate status: INTRQ stays */
	pthread_mutex_unlock(&ch->lock);
	return v;
}

void ide_channel_ctl_write(struct ide_channel *ch, unsigned offset, uint64_t value, unsigned size)
{
	uint8_t b = (uint8_t)value, old;

	if (offset != 0)
		return;
	pthread_mutex_lock(&ch->lock);
	old = ch->devctl;
	ch->devctl = b;
	/* ATA-7 9.2: SRST set holds both devices in reset; clearing it finishes the reset. */
	if ((old & IDE_CTL_SRST) && !(b & IDE_CTL_SRST))
		soft_reset(ch);
	else if (b & IDE_CTL_SRST) {
		clear_transfer(ch);
		ch->status = IDE_STATUS_BSY;
	}
	update_irq(ch);
	pthread_mutex_unlock(&ch->lock);
}

uint64_t ide_channel_bm_read(struct ide_channel *ch, unsigned offset, unsigned size)
{
	uint64_t v;

	pthread_mutex_lock(&ch->lock);
	v = ide_bm_read(ch, offset, size);
	pthread_mutex_unlock(&ch->lock);
	return v;
}

void ide_channel_bm_write(struct ide_channel *ch, unsigned offset, uint64_t value, unsigned size)
{
	pthread_mutex_lock(&ch->lock);
	ide_bm_write(ch, offset, value, size);
	pthread_mutex_unlock(&ch->lock);
}

static uint64_t cmd_io_read(void *opaque, uint64_t offset, unsigned size)
{
	return ide_channel_cmd_read(opaque, (unsigned)offset, size);
}

static void cmd_io_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	ide_channel_cmd_write(opaque, (unsigned)offset, value, size);
}

static uint64_t ctl_io_read(void *opaque, uint64_t offset, unsigned size)
{
	return ide_channel_ctl_read(opaque, (unsigned)offset, size);
}

static void ctl_io_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	ide_channel_ctl_write(opaque, (unsigned)offset, value, size);
}

static uint64_t bm_io_read(void *opaque, uint64_t offset, unsigned size)
{
	return ide_channel_bm_read(opaque, (unsigned)offset, size);
}

static void bm_io_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	ide_channel_bm_write(opaque, (unsigned)offset, value, size);
}

static const struct io_ops cmd_ops = {.read = cmd_io_read, .write = cmd_io_write};
static const struct io_ops ctl_ops = {.read = ctl_io_read, .write = ctl_io_write};
const struct io_ops ide_channel_bm_ops = {.read = bm_io_read, .write = bm_io_write};

int ide_channel_register(struct ide_channel *ch, struct io_bus *bus, uint16_t cmd_base,
			 uint16_t ctl_base)
{
	int r = io_bus_register(bus, cmd_base, IDE_CMD_BLOCK_LEN, &cmd_ops, ch, ch->name);

	if (r < 0)
		return r;
	r = io_bus_register(bus, ctl_base, IDE_CTL_BLOCK_LEN, &ctl_ops, ch, ch->name);
	if (r < 0)
		(void)io_bus_unregister(bus, cmd_base);
	return r;
}

void ide_channel_unregister(struct ide_channel *ch, struct io_bus *bus, uint16_t cmd_base,
			    uint16_t ctl_base)
{
	(void)ch;
	(void)io_bus_unregister(bus, cmd_base);
	(void)io_bus_unregister(bus, ctl_base);
}

int ide_channel_new(const char *name, struct irq_line irq, struct guest_memory *mem,
		    struct ide_channel **ret)
{
	struct ide_channel *ch = calloc(1, sizeof(*ch));

	if (!ch)
		return -ENOMEM;
	pthread_mutex_init(&ch->lock, NULL);
	snprintf(ch->name, sizeof(ch->name), "%s", name);
	guest_error_log_init(&ch->errlog, ch->name);
	ch->irq = irq;
	ch->mem = mem;
	ch->status = 0;
	*ret = ch;
	return 0;
}

struct ide_channel *ide_channel_free(struct ide_channel *ch)
{
	if (!ch)
		return NULL;
	pthread_mutex_destroy(&ch->lock);
	free(ch);
	return NULL;
}

static int attach(struct ide_channel *ch, unsigned unit, enum ide_kind kind, struct disk *d)
{
	struct ide_drive *dr;

	if (unit > 1)
		return -EINVAL;
	dr = &ch->drive[unit];
	if (dr->kind != IDE_NONE)
		return -EEXIST;
	memset(dr, 0, sizeof(*dr));
	dr->kind = kind;
	dr->disk = d;
	dr->write_cache = true;
	dr->xfer_mode = ATA_XFER_UDMA | 2;
	if (d) {
		struct disk_info info;

		disk_get_info(d, &info);
		dr->read_only = info.read_only || kind == IDE_ATAPI;
		dr->sectors = info.size / (kind == IDE_ATA ? ATA_SECTOR_SIZE : ATAPI_SECTOR_SIZE);
	}
	if (kind == IDE_ATA)
		ide_ata_geometry(dr);
	/* The signature a BIOS or driver finds after power-on (ATA-7 9.1). */
	if (unit == 0 || ch->drive[0].kind == IDE_NONE)
		ide_set_signature(ch, ch->drive[0].kind != IDE_NONE ? &ch->drive[0] : dr);
	return 0;
}

int ide_channel_attach_disk(struct ide_channel *ch, unsigned unit, struct disk *d)
{
	struct disk_info info;
	int r;

	if (!d)
		return -EINVAL;
	disk_get_info(d, &info);
	if (info.logical_sector_size != ATA_SECTOR_SIZE)
		return -EINVAL; /* ATA's IDENTIFY could say 4096, but no PC BIOS or ata_piix era
				   guest reads it */
	pthread_mutex_lock(&ch->lock);
	r = attach(ch, unit, IDE_ATA, d);
	pthread_mutex_unlock(&ch->lock);
	return r;
}

int ide_channel_attach_cdrom(struct ide_channel *ch, unsigned unit, struct disk *iso)
{
	int r;

	pthread_mutex_lock(&ch->lock);
	r = attach(ch, unit, IDE_ATAPI, iso);
	pthread_mutex_unlock(&ch->lock);
	return r;
}

int ide_channel_change_media(struct ide_channel *ch, unsigned unit, struct disk *iso, bool force,
			     struct disk **old)
{
	struct ide_drive *d;
	int r = 0;

	if (unit > 1)
		return -EINVAL;
	pthread_mutex_lock(&ch->lock);
	d = &ch->drive[unit];
	if (d->kind != IDE_ATAPI) {
		r = -ENODEV;
	} else if (d->locked && !force) {
		r = -EBUSY;
	} else {
		struct disk_info info;

		*old = d->disk;
		d->disk = iso;
		d->sectors = 0;
		if (iso) {
			disk_get_info(iso, &info);
			d->sectors = info.size / ATAPI_SECTOR_SIZE;
		}
		/* MMC-5 4.1.6: the next command gets UNIT ATTENTION, MEDIUM MAY HAVE CHANGED. */
		d->unit_attention = true;
		d->media_event = true;
	}
	pthread_mutex_unlock(&ch->lock);
	return r;
}

void ide_channel_get_stats(struct ide_channel *ch, struct ide_stats *stats)
{
	pthread_mutex_lock(&ch->lock);
	*stats = ch->stats;
	stats->guest_errors += __atomic_load_n(&ch->errlog.count, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&ch->lock);
}

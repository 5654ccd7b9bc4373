/*
 * The ATA disk: IDENTIFY DEVICE, PIO and DMA reads and writes (28- and
 * 48-bit LBA, and CHS through the default translation), VERIFY, FLUSH
 * CACHE, SET FEATURES and the power commands that need no state; every
 * other command is aborted (ATA/ATAPI-7 vol 1 section 6; Linux
 * drivers/ata/libata-core.c ata_dev_read_id() and ata_dev_configure() for
 * what a guest reads).
 *
 * Disk I/O is synchronous (disk_read/disk_write) on the vCPU thread that
 * wrote the command or started the bus master, with ch->lock held.
 */
#include <string.h>

#include "disk/disk.h"
#include "emu/ide/ide_internal.h"

#define MODEL	 "Virtual HD" /* what Hyper-V's IDE disk calls itself */
#define FIRMWARE "1.1.0"

/* ATA-7 6.16.28/29: the largest a 28-bit command addresses; the CHS limit (16383 * 16 * 63). */
#define LBA28_LIMIT 0x0FFFFFFFu
#define CHS_LIMIT   16514064u

void ide_id_string(uint16_t *words, unsigned nwords, const char *s)
{
	size_t n = strlen(s);

	/* ATA-7 3.2.9: two characters a word, the first in bits 15:8, space padded. */
	for (unsigned i = 0; i < nwords * 2; i++) {
		uint8_t c = i < n ? (uint8_t)s[i] : ' ';

		if (i % 2 == 0)
			words[i / 2] = (uint16_t)(c << 8);
		else
			words[i / 2] |= c;
	}
}

void ide_id_checksum(uint16_t *id)
{
	uint8_t sum = 0;

	/* ATA-7 6.17.63: word 255 = A5h signature, and a checksum making all 512 bytes sum to 0. */
	id[255] = 0x00A5;
	for (unsigned i = 0; i < 255; i++)
		sum = (uint8_t)(sum + (id[i] & 0xFF) + (id[i] >> 8));
	sum = (uint8_t)(sum + 0xA5);
	id[255] |= (uint16_t)((uint8_t)-sum << 8);
}

/*
 * The default CHS translation a BIOS and ATA-7 annex B expect: 16 heads, 63
 * sectors per track, up to 16383 cylinders; disks too small for one full
 * cylinder get one head and as many sectors per track as there are (<= 63).
 */
void ide_ata_geometry(struct ide_drive *d)
{
	uint64_t s = d->sectors < CHS_LIMIT ? d->sectors : CHS_LIMIT;

	d->heads = 16;
	d->sectors_per_track = 63;
	d->cylinders = (uint16_t)(s / (16 * 63));
	if (d->cylinders == 0) {
		d->heads = 1;
		d->sectors_per_track = (uint16_t)(s < 63 ? (s ? s : 1) : 63);
		d->cylinders = (uint16_t)(s / d->sectors_per_track);
	}
}

static void put32w(uint16_t *w, uint32_t v)
{
	w[0] = (uint16_t)v;
	w[1] = (uint16_t)(v >> 16);
}

static void identify_fill(const struct ide_drive *d, uint16_t *id)
{
	uint32_t chs = (uint32_t)d->cylinders * d->heads * d->sectors_per_track;
	uint64_t lba28 = d->sectors < LBA28_LIMIT ? d->sectors : LBA28_LIMIT;
	uint8_t mode = d->xfer_mode;

	memset(id, 0, 512);
	id[0] = 0x0040; /* fixed device, not removable */
	id[1] = d->cylinders;
	id[3] = d->heads;
	id[6] = d->sectors_per_track;
	ide_id_string(&id[10], 10, "PARVIS-IDE-DISK");
	ide_id_string(&id[23], 4, FIRMWARE);
	ide_id_string(&id[27], 20, MODEL);
	id[47] = 0x8000; /* READ/WRITE MULTIPLE: 0 sectors, not supported */
	id[49] = 0x0300; /* LBA and DMA supported */
	id[50] = 0x4000;
	id[51] = 0x0200; /* PIO timing mode 2 (obsolete word, BIOSes read it) */
	id[53] = 0x0007; /* words 54-58, 64-70 and 88 are valid */
	id[54] = d->cylinders;
	id[55] = d->heads;
	id[56] = d->sectors_per_track;
	put32w(&id[57], chs);
	put32w(&id[60], (uint32_t)lba28);
	/* Multiword DMA 0-2 supported; the selected mode in bits 10:8. */
	id[63] = 0x0007 | ((mode & 0xF8) == ATA_XFER_MWDMA ? (uint16_t)(0x100 << (mode & 7)) : 0);
	id[64] = 0x0003; /* PIO modes 3 and 4 */
	id[65] = id[66] = id[67] = id[68] = 120;
	id[80] = 0x00F0; /* ATA/ATAPI-4 to -7 */
	id[81] = 0x0000;
	id[82] = 0x4020; /* NOP, write cache */
	id[83] = 0x7400; /* FLUSH CACHE EXT, FLUSH CACHE, 48-bit address */
	id[84] = 0x4000;
	id[85] = (uint16_t)(0x4000 | (d->write_cache ? 0x0020 : 0));
	id[86] = 0x3400;
	id[87] = 0x4000;
	/* Ultra DMA 0-2 (the PIIX4's UDMA/33); the selected mode in bits 14:8. */
	id[88] = 0x0007 | ((mode & 0xF8) == ATA_XFER_UDMA ? (uint16_t)(0x100 << (mode & 7)) : 0);
	id[93] = 0x4001; /* hardware reset result: device 0 passed (word valid) */
	id[100] = (uint16_t)d->sectors;
	id[101] = (uint16_t)(d->sectors >> 16);
	id[102] = (uint16_t)(d->sectors >> 32);
	id[103] = (uint16_t)(d->sectors >> 48);
	id[106] = 0x4000; /* one 512-byte logical sector per physical sector */
	ide_id_checksum(id);
}

static void cmd_identify(struct ide_channel *ch, struct ide_drive *d)
{
	uint16_t id[256];

	identify_fill(d, id);
	for (unsigned i = 0; i < 256; i++) {
		ch->buf[2 * i] = (uint8_t)id[i];
		ch->buf[2 * i + 1] = (uint8_t)(id[i] >> 8);
	}
	ide_start_transfer(ch, 512, true, false, NULL, true);
}

/* The command's first sector and count from the taskfile; false (IDNF set) if out of range. */
static bool decode_range(struct ide_channel *ch, struct ide_drive *d, bool ext)
{
	uint64_t lba;
	uint32_t count;

	if (ext) {
		lba = (uint64_t)ch->hob_lbah << 40 | (uint64_t)ch->hob_lbam << 32 |
		      (uint64_t)ch->hob_lbal << 24 | (uint64_t)ch->lbah << 16 |
		      (uint64_t)ch->lbam << 8 | ch->lbal;
		count = (uint32_t)ch->hob_nsect << 8 | ch->nsect;
		if (count == 0)
			count = 65536;
	} else {
		count = ch->nsect ? ch->nsect : 256;
		if (ch->device & IDE_DEVICE_LBA) {
			lba = (uint64_t)(ch->device & 0x0F) << 24 | (uint64_t)ch->lbah << 16 |
			      (uint64_t)ch->lbam << 8 | ch->lbal;
		} else {
			/* CHS (ATA-7 6.1.1): sector numbers start at 1. */
			unsigned cyl = (unsigned)ch->lbah << 8 | ch->lbam, head = ch->device & 0x0F;
			unsigned sec = ch->lbal;

			if (sec == 0 || sec > d->sectors_per_track || head >= d->heads ||
			    cyl >= d->cylinders)
				return false;
			lba = ((uint64_t)cyl * d->heads + head) * d->sectors_per_track + sec - 1;
		}
	}
	if (lba >= d->sectors || count > d->sectors - lba)
		return false;
	ch->lba = lba;
	ch->remaining = count;
	return true;
}

static uint32_t take_chunk(struct ide_channel *ch, uint32_t max)
{
	uint32_t n = ch->remaining < max ? ch->remaining : max;

	ch->remaining -= n;
	return n;
}

static bool read_chunk(struct ide_channel *ch, uint32_t n)
{
	if (disk_read(ch->cur->disk, ch->lba * ATA_SECTOR_SIZE, ch->buf, n * ATA_SECTOR_SIZE) < 0) {
		ch->stats.io_errors++;
		ide_command_done(ch, IDE_ERROR_UNC);
		return false;
	}
	ch->lba += n;
	ch->stats.sectors_read += n;
	return true;
}

static bool write_chunk(struct ide_channel *ch, uint32_t n)
{
	struct ide_drive *d = ch->cur;

	if (disk_write(d->disk, ch->lba * ATA_SECTOR_SIZE, ch->buf, n * ATA_SECTOR_SIZE) < 0 ||
	    (!d->write_cache && disk_flush(d->disk) < 0)) {
		ch->stats.io_errors++;
		ide_command_done(ch, IDE_ERROR_ABRT);
		return false;
	}
	ch->lba += n;
	ch->stats.sectors_written += n;
	return true;
}

/* PIO in (ATA-7 9.7): an interrupt and DRQ per sector; after the last one, no interrupt. */
static void pio_read_next(struct ide_channel *ch)
{
	uint32_t n;

	if (ch->remaining == 0) {
		ch->status = IDE_STATUS_DRDY | IDE_STATUS_DSC;
		return;
	}
	n = take_chunk(ch, 1);
	if (read_chunk(ch, n))
		ide_start_transfer(ch, n * ATA_SECTOR_SIZE, true, false, pio_read_next, true);
}

/* PIO out (ATA-7 9.8): DRQ for the first sector at once, then an interrupt after each. */
static void pio_write_block(struct ide_channel *ch)
{
	if (!write_chunk(ch, 1))
		return;
	if (ch->remaining == 0) {
		ide_command_done(ch, 0);
		return;
	}
	ch->remaining--;
	ide_start_transfer(ch, ATA_SECTOR_SIZE, false, false, pio_write_block, true);
}

static void dma_read_next(struct ide_channel *ch)
{
	uint32_t n;

	if (ch->remaining == 0) {
		ide_command_done(ch, 0);
		return;
	}
	n = take_chunk(ch, IDE_BUF_SIZE / ATA_SECTOR_SIZE);
	if (read_chunk(ch, n))
		ide_start_transfer(ch, n * ATA_SECTOR_SIZE, true, true, dma_read_next, false);
}

static void dma_write_next(struct ide_channel *ch);

static void dma_write_start_chunk(struct ide_channel *ch)
{
	uint32_t n = take_chunk(ch, IDE_BUF_SIZE / ATA_SECTOR_SIZE);

	ide_start_transfer(ch, n * ATA_SECTOR_SIZE, false, true, dma_write_next, false);
}

static void dma_write_next(struct ide_channel *ch)
{
	if (!write_chunk(ch, ch->len / ATA_SECTOR_SIZE))
		return;
	if (ch->remaining == 0)
		ide_command_done(ch, 0);
	else
		dma_write_start_chunk(ch);
}

enum rw_flags {
	RW_EXT = 1u << 0,
	RW_WRITE = 1u << 1,
	RW_DMA = 1u << 2,
};

static void cmd_rw(struct ide_channel *ch, struct ide_drive *d, unsigned flags)
{
	if ((flags & RW_DMA) && !ch->mem) {
		ide_command_done(ch, IDE_ERROR_ABRT); /* no bus master on this channel */
		return;
	}
	if ((flags & RW_WRITE) && d->read_only) {
		ide_command_done(ch, IDE_ERROR_ABRT);
		return;
	}
	if (!decode_range(ch, d, flags & RW_EXT)) {
		ide_command_done(ch, IDE_ERROR_IDNF);
		return;
	}
	switch (flags & (RW_WRITE | RW_DMA)) {
	case 0: pio_read_next(ch); break;
	case RW_WRITE:
		ch->remaining--;
		ide_start_transfer(ch, ATA_SECTOR_SIZE, false, false, pio_write_block, false);
		break;
	case RW_DMA: dma_read_next(ch); break;
	case RW_WRITE | RW_DMA: dma_write_start_chunk(ch); break;
	}
}

static void cmd_verify(struct ide_channel *ch, struct ide_drive *d, bool ext)
{
	/* READ VERIFY SECTORS: the range is checked, no data moves (the back end has no media
	 * errors to find). */
	ide_command_done(ch, decode_range(ch, d, ext) ? 0 : IDE_ERROR_IDNF);
}

static void cmd_flush(struct ide_channel *ch, struct ide_drive *d)
{
	if (!d->read_only && disk_flush(d->disk) < 0) {
		ch->stats.io_errors++;
		ide_command_done(ch, IDE_ERROR_ABRT);
		return;
	}
	ide_command_done(ch, 0);
}

static bool transfer_mode_ok(uint8_t v)
{
	switch (v & 0xF8) {
	case ATA_XFER_PIO_DEFAULT: return (v & 7) <= 1;
	case ATA_XFER_PIO_FLOW: return (v & 7) <= 4;
	case ATA_XFER_MWDMA: return (v & 7) <= 2;
	case ATA_XFER_UDMA: return (v & 7) <= 2;
	}
	return false;
}

/* SET FEATURES (ATA-7 6.47), shared with the ATAPI device. */
static void cmd_set_features(struct ide_channel *ch, struct ide_drive *d)
{
	switch (ch->feature) {
	case ATA_SF_SET_TRANSFER_MODE:
		if (!transfer_mode_ok(ch->nsect))
			break;
		d->xfer_mode = ch->nsect;
		ide_command_done(ch, 0);
		return;
	case ATA_SF_ENABLE_WRITE_CACHE:
	case ATA_SF_DISABLE_WRITE_CACHE:
		if (d->kind != IDE_ATA)
			break;
		d->write_cache = ch->feature == ATA_SF_ENABLE_WRITE_CACHE;
		if (!d->write_cache && !d->read_only && disk_flush(d->disk) < 0) {
			ch->stats.io_errors++;
			break;
		}
		ide_command_done(ch, 0);
		return;
	case ATA_SF_ENABLE_READ_LOOKAHEAD:
	case ATA_SF_DISABLE_READ_LOOKAHEAD:
	case ATA_SF_ENABLE_REVERTING:
	case ATA_SF_DISABLE_REVERTING:
		ide_command_done(ch, 0); /* nothing to change: there is no look-ahead or power-on
					    default to keep */
		return;
	}
	ide_command_done(ch, IDE_ERROR_ABRT);
}

void ide_ata_command(struct ide_channel *ch, struct ide_drive *d, uint8_t cmd)
{
	/* clang-format off */
	static const struct { uint8_t cmd; uint8_t rw; } rw_table[] = {
		{ATA_CMD_READ_SECTORS, 0},	{ATA_CMD_READ_SECTORS_NORETRY, 0},
		{ATA_CMD_READ_SECTORS_EXT, RW_EXT},
		{ATA_CMD_WRITE_SECTORS, RW_WRITE}, {ATA_CMD_WRITE_SECTORS_NORETRY, RW_WRITE},
		{ATA_CMD_WRITE_SECTORS_EXT, RW_WRITE | RW_EXT},
		{ATA_CMD_READ_DMA, RW_DMA},	{ATA_CMD_READ_DMA_NORETRY, RW_DMA},
		{ATA_CMD_READ_DMA_EXT, RW_DMA | RW_EXT},
		{ATA_CMD_WRITE_DMA, RW_DMA | RW_WRITE}, {ATA_CMD_WRITE_DMA_NORETRY, RW_DMA | RW_WRITE},
		{ATA_CMD_WRITE_DMA_EXT, RW_DMA | RW_WRITE | RW_EXT},
	};
	/* clang-format on */

	for (unsigned i = 0; i < sizeof(rw_table) / sizeof(rw_table[0]); i++) {
		if (rw_table[i].cmd == cmd) {
			cmd_rw(ch, d, rw_table[i].rw);
			return;
		}
	}
	switch (cmd) {
	case ATA_CMD_IDENTIFY: cmd_identify(ch, d); return;
	case ATA_CMD_VERIFY:
	case ATA_CMD_VERIFY_EXT: cmd_verify(ch, d, cmd == ATA_CMD_VERIFY_EXT); return;
	case ATA_CMD_FLUSH_CACHE:
	case ATA_CMD_FLUSH_CACHE_EXT: cmd_flush(ch, d); return;
	case ATA_CMD_SET_FEATURES: cmd_set_features(ch, d); return;
	case ATA_CMD_CHECK_POWER_MODE:
		ch->nsect = 0xFF; /* active or idle (ATA-7 6.8) */
		ide_command_done(ch, 0);
		return;
	case ATA_CMD_STANDBY_IMMEDIATE:
	case ATA_CMD_IDLE_IMMEDIATE:
		ide_command_done(ch, 0); /* a virtual disk has no spindle to stop */
		return;
	}
	/* Everything else, NOP included (ATA-7 6.22: NOP always aborts), and the ATAPI commands. */
	ide_command_done(ch, IDE_ERROR_ABRT);
}

void ide_ata_set_features(struct ide_channel *ch, struct ide_drive *d)
{
	cmd_set_features(ch, d);
}

/* The continuations a saved transfer may name (ide_state.c); ids never change meaning. */
const struct ide_step ide_ata_steps[] = {
	{1, pio_read_next}, {2, pio_write_block}, {3, dma_read_next}, {4, dma_write_next},
	{0, NULL},
};

/*
 * The ATAPI CD-ROM: the PACKET protocol (ATA/ATAPI-7 vol 2 sections 5 and
 * 9.10-9.11: a 12-byte command written through the data port, then data in
 * pieces of at most the byte count limit, or by DMA) and the MMC-5 commands
 * a guest needs to find, size, read and watch the media of a CD-ROM drive
 * holding an ISO image (Linux drivers/scsi/sr.c, drivers/cdrom/cdrom.c and
 * drivers/ata/libata-scsi.c atapi_xlat() are the guest side). Every other
 * command gets CHECK CONDITION, ILLEGAL REQUEST / INVALID COMMAND OPCODE.
 *
 * Runs with ch->lock held; media reads are synchronous (ide.h).
 */
#include <string.h>

#include "base/byteorder.h"
#include "disk/disk.h"
#include "emu/ide/ide_internal.h"

#define VENDOR	 "Msft    "
#define PRODUCT	 "Virtual CD/ROM  "
#define REVISION "1.0 "
#define MODEL	 "Msft Virtual CD/ROM" /* Hyper-V's IDE CD-ROM */

/* Largest allocation length honoured: more than any response here. */
#define RESPONSE_MAX	512u
#define BLOCKS_PER_FILL (IDE_BUF_SIZE / ATAPI_SECTOR_SIZE)

static bool media_present(const struct ide_drive *d)
{
	return d->disk && !d->tray_open;
}

/* Status phase (ATA-7 vol 2, 9.10 state HP4): I/O and C/D set, an interrupt. */
static void packet_status(struct ide_channel *ch, uint8_t error)
{
	ch->nsect = IDE_IREASON_IO | IDE_IREASON_CD;
	ide_command_done(ch, error);
}

static void good(struct ide_channel *ch)
{
	ch->cur->sense_key = SENSE_NONE;
	ch->cur->asc = 0;
	packet_status(ch, 0);
}

static void check_condition(struct ide_channel *ch, uint8_t key, uint8_t asc)
{
	ch->cur->sense_key = key;
	ch->cur->asc = asc;
	/* The sense key in the error register's high nibble, ABRT set (ATA-7 vol 2, 5.1.2). */
	packet_status(ch, (uint8_t)(key << 4 | IDE_ERROR_ABRT));
}

static bool use_dma(const struct ide_channel *ch)
{
	return ch->feature & 0x01; /* FEATURES bit 0: DMA (ATA-7 vol 2, 6.2) */
}

/* Fills buf with the next blocks of a READ; false (check condition sent) on an I/O error. */
static bool fill_blocks(struct ide_channel *ch)
{
	uint32_t n = ch->remaining < BLOCKS_PER_FILL ? ch->remaining : BLOCKS_PER_FILL;

	if (!media_present(ch->cur)) {
		check_condition(ch, SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
		return false;
	}
	if (disk_read(ch->cur->disk, ch->lba * ATAPI_SECTOR_SIZE, ch->buf,
		      (size_t)n * ATAPI_SECTOR_SIZE) < 0) {
		ch->stats.io_errors++;
		check_condition(ch, SENSE_MEDIUM_ERROR, ASC_UNRECOVERED_READ);
		return false;
	}
	ch->lba += n;
	ch->remaining -= n;
	ch->stats.sectors_read += n;
	ch->buf_end = n * ATAPI_SECTOR_SIZE;
	ch->pos = 0;
	return true;
}

/* PIO data-in (vol 2, 9.10 HP2): DRQ, byte count in LBA mid/high, I/O set, C/D clear, an interrupt.
 */
static void pio_next(struct ide_channel *ch)
{
	uint32_t left, n;

	if (ch->pos >= ch->buf_end) {
		if (ch->remaining == 0) {
			good(ch);
			return;
		}
		if (!fill_blocks(ch))
			return;
	}
	left = ch->buf_end - ch->pos;
	n = left < ch->atapi_limit ? left : ch->atapi_limit;
	ch->len = ch->pos + n;
	ch->to_host = true;
	ch->dma = false;
	ch->done = pio_next;
	ch->lbam = (uint8_t)n;
	ch->lbah = (uint8_t)(n >> 8);
	ch->nsect = IDE_IREASON_IO;
	ch->status = IDE_STATUS_DRDY | IDE_STATUS_DSC | IDE_STATUS_DRQ;
	ide_raise_irq(ch);
}

static void dma_next(struct ide_channel *ch)
{
	if (ch->remaining == 0) {
		good(ch);
		return;
	}
	if (fill_blocks(ch))
		ide_start_transfer(ch, ch->buf_end, true, true, dma_next, false);
}

/* Sends buf[0..len) (len already cut to the allocation length), or, with blocks, a READ. */
static void data_in(struct ide_channel *ch, uint32_t len)
{
	if (len == 0 && ch->remaining == 0) {
		good(ch);
		return;
	}
	if (use_dma(ch)) {
		if (!ch->mem) {
			check_condition(ch, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_CDB);
			return;
		}
		if (len == 0) {
			dma_next(ch);
			return;
		}
		ch->buf_end = len;
		ide_start_transfer(ch, len, true, true, dma_next, false);
		return;
	}
	ch->buf_end = len;
	ch->pos = 0;
	pio_next(ch);
}

static uint32_t alloc_cut(uint32_t have, uint32_t alloc)
{
	return have < alloc ? have : alloc;
}

static void cmd_inquiry(struct ide_channel *ch, const uint8_t *cdb)
{
	uint8_t *b = ch->buf;

	if (cdb[1] & 0x01) { /* EVPD: no vital product data pages */
		check_condition(ch, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_CDB);
		return;
	}
	memset(b, 0, 36);
	b[0] = 0x05; /* CD/DVD device */
	b[1] = 0x80; /* removable */
	b[2] = 0x00; /* ATAPI devices claim no SCSI version (MMC-5 6.8) */
	b[3] = 0x21; /* ATAPI transport version 2, response data format 1 */
	b[4] = 36 - 5;
	memcpy(b + 8, VENDOR, 8);
	memcpy(b + 16, PRODUCT, 16);
	memcpy(b + 32, REVISION, 4);
	data_in(ch, alloc_cut(36, get_be16(cdb + 3)));
}

static void cmd_request_sense(struct ide_channel *ch, const uint8_t *cdb)
{
	uint8_t *b = ch->buf;

	memset(b, 0, 18);
	b[0] = 0x70; /* current error, fixed format (SPC-3 4.5.3) */
	b[2] = ch->cur->sense_key;
	b[7] = 10;
	b[12] = ch->cur->asc;
	ch->cur->sense_key = SENSE_NONE;
	ch->cur->asc = 0;
	data_in(ch, alloc_cut(18, cdb[4]));
}

static void cmd_test_unit_ready(struct ide_channel *ch, const uint8_t *cdb)
{
	(void)cdb;
	if (!media_present(ch->cur))
		check_condition(ch, SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
	else
		good(ch);
}

/* MMC-5 6.3.11 (legacy CD capabilities page 2Ah): what sr's get_capabilities() reads. */
static unsigned caps_page(uint8_t *p)
{
	memset(p, 0, 20);
	p[0] = 0x2A;
	p[1] = 18;
	p[6] = 0x29;	      /* tray mechanism, eject, lock */
	put_be16(p + 8, 706); /* 4x, in kB/s */
	put_be16(p + 14, 706);
	return 20;
}

static void cmd_mode_sense(struct ide_channel *ch, const uint8_t *cdb)
{
	bool ten = cdb[0] == SCSI_MODE_SENSE_10;
	unsigned hdr = ten ? 8 : 4, page = cdb[2] & 0x3F, pc = cdb[2] >> 6, n;
	uint8_t *b = ch->buf;

	if (pc == 3 || (page != 0x2A && page != 0x3F)) { /* no saved values, one page */
		check_condition(ch, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_CDB);
		return;
	}
	memset(b, 0, hdr);
	n = hdr + caps_page(b + hdr);
	if (ten)
		put_be16(b, n - 2);
	else
		b[0] = (uint8_t)(n - 1);
	data_in(ch, alloc_cut(n, ten ? get_be16(cdb + 7) : cdb[4]));
}

static void cmd_start_stop(struct ide_channel *ch, const uint8_t *cdb)
{
	struct ide_drive *d = ch->cur;
	bool loej = cdb[4] & 0x02, start = cdb[4] & 0x01;

	if (loej && !start) {
		if (d->locked) {
			check_condition(ch, SENSE_ILLEGAL_REQUEST, ASC_REMOVAL_PREVENTED);
			return;
		}
		d->tray_open = true;
		d->media_event = true;
	} else if (loej && start && d->tray_open) {
		d->tray_open = false;
		d->media_event = true;
		d->unit_attention = true;
	}
	good(ch);
}

static void cmd_prevent_allow(struct ide_channel *ch, const uint8_t *cdb)
{
	ch->cur->locked = cdb[4] & 0x01;
	good(ch);
}

static void cmd_read_capacity(struct ide_channel *ch, const uint8_t *cdb)
{
	struct ide_drive *d = ch->cur;

	(void)cdb;
	if (!media_present(d) || d->sectors == 0) {
		check_condition(ch, SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
		return;
	}
	put_be32(ch->buf, (uint32_t)(d->sectors > UINT32_MAX ? UINT32_MAX : d->sectors - 1));
	put_be32(ch->buf + 4, ATAPI_SECTOR_SIZE);
	data_in(ch, 8);
}

static void cmd_read(struct ide_channel *ch, const uint8_t *cdb)
{
	struct ide_drive *d = ch->cur;
	uint64_t lba = get_be32(cdb + 2);
	uint32_t count = cdb[0] == SCSI_READ_10 ? get_be16(cdb + 7) : get_be32(cdb + 6);

	if (!media_present(d)) {
		check_condition(ch, SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
		return;
	}
	if (lba > d->sectors || count > d->sectors - lba) {
		check_condition(ch, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
		return;
	}
	ch->lba = lba;
	ch->remaining = count;
	data_in(ch, 0);
}

static void toc_address(uint8_t *p, uint64_t lba, bool msf)
{
	if (!msf) {
		put_be32(p, (uint32_t)lba);
		return;
	}
	lba += 150; /* MSF counts the 2-second pregap (MMC-5 6.33) */
	p[0] = 0;
	p[1] = (uint8_t)(lba / (75 * 60));
	p[2] = (uint8_t)(lba / 75 % 60);
	p[3] = (uint8_t)(lba % 75);
}

/* READ TOC/PMA/ATIP formats 0 (TOC) and 1 (session info) of a one-track data disc (MMC-5 6.33). */
static void cmd_read_toc(struct ide_channel *ch, const uint8_t *cdb)
{
	struct ide_drive *d = ch->cur;
	unsigned format = cdb[2] & 0x0F, n;
	bool msf = cdb[1] & 0x02;
	uint8_t *b = ch->buf;

	if (!media_present(d)) {
		check_condition(ch, SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
		return;
	}
	if (format == 0 && cdb[9] >> 6)
		format = cdb[9] >> 6; /* the older place for the format (SFF-8020) */
	memset(b, 0, 20);
	b[2] = 1;
	b[3] = 1;
	if (format == 0) {
		if (cdb[6] > 1 && cdb[6] != 0xAA) {
			check_condition(ch, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_CDB);
			return;
		}
		n = 4;
		if (cdb[6] <= 1) {
			b[n + 1] = 0x14; /* ADR 1, data track */
			b[n + 2] = 1;
			toc_address(b + n + 4, 0, msf);
			n += 8;
		}
		b[n + 1] = 0x14;
		b[n + 2] = 0xAA; /* lead-out */
		toc_address(b + n + 4, d->sectors, msf);
		n += 8;
	} else if (format == 1) {
		b[5] = 0x14;
		b[6] = 1;
		toc_address(b + 8, 0, msf);
		n = 12;
	} else {
		check_condition(ch, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_CDB);
		return;
	}
	put_be16(b, n - 2);
	data_in(ch, alloc_cut(n, get_be16(cdb + 7)));
}

/* GET CONFIGURATION (MMC-5 6.6): the header with the current profile and the profile list. */
static void cmd_get_configuration(struct ide_channel *ch, const uint8_t *cdb)
{
	bool media = media_present(ch->cur);
	unsigned rt = cdb[1] & 0x03, start = get_be16(cdb + 2), n = 8;
	uint8_t *b = ch->buf;

	memset(b, 0, 16);
	put_be16(b + 6, media ? 0x0008 : 0); /* current profile: CD-ROM */
	if (start == 0 && rt != 3) {
		b[n + 2] = 0x03; /* feature 0000h, persistent, current */
		b[n + 3] = 4;
		put_be16(b + n + 4, 0x0008);
		b[n + 6] = media ? 0x01 : 0x00;
		n += 8;
	} else if (rt == 3) {
		check_condition(ch, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_CDB);
		return;
	}
	put_be32(b, n - 4);
	data_in(ch, alloc_cut(n, get_be16(cdb + 7)));
}

/* GET EVENT STATUS NOTIFICATION, polled, media class only (MMC-5 6.7): what sr_check_events() asks.
 */
static void cmd_get_event_status(struct ide_channel *ch, const uint8_t *cdb)
{
	struct ide_drive *d = ch->cur;
	uint8_t *b = ch->buf;
	unsigned n = 4;

	if (!(cdb[1] & 0x01)) { /* asynchronous operation is not supported */
		check_condition(ch, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_CDB);
		return;
	}
	memset(b, 0, 8);
	b[3] = 0x10; /* supported: media */
	if (cdb[4] & 0x10) {
		b[2] = 0x04; /* media class */
		if (d->media_event)
			b[4] = media_present(d) ? 0x02 : 0x03; /* new media / media removal */
		b[5] = (uint8_t)((media_present(d) ? 0x02 : 0) | (d->tray_open ? 0x01 : 0));
		d->media_event = false;
		n = 8;
	} else {
		b[2] = 0x80; /* no event available */
	}
	put_be16(b, n - 2);
	data_in(ch, alloc_cut(n, get_be16(cdb + 7)));
}

typedef void (*packet_fn)(struct ide_channel *ch, const uint8_t *cdb);

/* clang-format off */
static const struct {
	uint8_t opcode;
	bool ignores_attention; /* MMC-5 4.1.6.1: answered even with a unit attention pending */
	packet_fn fn;
} packet_table[] = {
	{SCSI_TEST_UNIT_READY,   false, cmd_test_unit_ready},
	{SCSI_REQUEST_SENSE,     true,  cmd_request_sense},
	{SCSI_INQUIRY,           true,  cmd_inquiry},
	{SCSI_MODE_SENSE_6,      false, cmd_mode_sense},
	{SCSI_MODE_SENSE_10,     false, cmd_mode_sense},
	{SCSI_START_STOP_UNIT,   false, cmd_start_stop},
	{SCSI_PREVENT_ALLOW,     false, cmd_prevent_allow},
	{SCSI_READ_CAPACITY_10,  false, cmd_read_capacity},
	{SCSI_READ_10,           false, cmd_read},
	{SCSI_READ_12,           false, cmd_read},
	{SCSI_READ_TOC,          false, cmd_read_toc},
	{SCSI_GET_CONFIGURATION, true,  cmd_get_configuration},
	{SCSI_GET_EVENT_STATUS,  true,  cmd_get_event_status},
};
/* clang-format on */

void ide_atapi_packet(struct ide_channel *ch)
{
	struct ide_drive *d = ch->cur;
	uint8_t cdb[ATAPI_PACKET_SIZE];

	memcpy(cdb, ch->buf, sizeof(cdb));
	ch->pos = ch->len = 0;
	for (unsigned i = 0; i < sizeof(packet_table) / sizeof(packet_table[0]); i++) {
		if (packet_table[i].opcode != cdb[0])
			continue;
		if (d->unit_attention && !packet_table[i].ignores_attention) {
			d->unit_attention = false;
			check_condition(ch, SENSE_UNIT_ATTENTION, ASC_MEDIUM_CHANGED);
			return;
		}
		packet_table[i].fn(ch, cdb);
		return;
	}
	check_condition(ch, SENSE_ILLEGAL_REQUEST, ASC_INVALID_OPCODE);
}

static void identify_packet(struct ide_channel *ch, struct ide_drive *d)
{
	uint16_t id[256];
	uint8_t mode = d->xfer_mode;

	memset(id, 0, sizeof(id));
	/* ATAPI, CD-ROM, removable, DRQ within 50 us (no interrupt for the packet), 12-byte
	 * packets. */
	id[0] = 0x85C0;
	ide_id_string(&id[10], 10, "PARVIS-IDE-CDROM");
	ide_id_string(&id[23], 4, "1.0");
	ide_id_string(&id[27], 20, MODEL);
	id[49] = 0x0300; /* LBA, DMA */
	id[53] = 0x0006; /* words 64-70 and 88 valid */
	id[63] = 0x0007 | ((mode & 0xF8) == ATA_XFER_MWDMA ? (uint16_t)(0x100 << (mode & 7)) : 0);
	id[64] = 0x0003;
	id[65] = id[66] = id[67] = id[68] = 120;
	id[80] = 0x00F0;
	id[82] = 0x4010; /* NOP, PACKET */
	id[83] = 0x4000;
	id[84] = 0x4000;
	id[85] = 0x4010;
	id[86] = 0x0000;
	id[87] = 0x4000;
	id[88] = 0x0007 | ((mode & 0xF8) == ATA_XFER_UDMA ? (uint16_t)(0x100 << (mode & 7)) : 0);
	id[93] = 0x4001;
	ide_id_checksum(id);
	for (unsigned i = 0; i < 256; i++) {
		ch->buf[2 * i] = (uint8_t)id[i];
		ch->buf[2 * i + 1] = (uint8_t)(id[i] >> 8);
	}
	ide_start_transfer(ch, 512, true, false, NULL, true);
}

void ide_atapi_command(struct ide_channel *ch, struct ide_drive *d, uint8_t cmd)
{
	switch (cmd) {
	case ATA_CMD_PACKET:
		/* ATA-7 vol 2, 9.10: DRQ with C/D set for the packet; the byte count limit is kept.
		 */
		ch->atapi_limit = (uint16_t)(((unsigned)ch->lbah << 8 | ch->lbam) & ~1u);
		if (ch->atapi_limit == 0)
			ch->atapi_limit = 0xFFFE; /* 0 is not allowed for PIO; take the largest */
		if ((ch->feature & 0x01) && !ch->mem) {
			ide_command_done(ch, IDE_ERROR_ABRT);
			return;
		}
		ide_start_transfer(ch, ATAPI_PACKET_SIZE, false, false, NULL, false);
		ch->packet_phase = true;
		ch->nsect = IDE_IREASON_CD;
		return;
	case ATA_CMD_IDENTIFY_PACKET: identify_packet(ch, d); return;
	case ATA_CMD_DEVICE_RESET: ide_set_signature(ch, d); return;
	case ATA_CMD_SET_FEATURES: ide_ata_set_features(ch, d); return;
	case ATA_CMD_CHECK_POWER_MODE:
		ch->nsect = 0xFF;
		ide_command_done(ch, 0);
		return;
	case ATA_CMD_IDENTIFY:
		/* ATA-7 6.16: a PACKET device aborts IDENTIFY DEVICE and shows its signature. */
		ide_set_signature(ch, d);
		ch->error = IDE_ERROR_ABRT;
		ch->status = IDE_STATUS_DRDY | IDE_STATUS_ERR;
		ch->stats.aborted++;
		ide_raise_irq(ch);
		return;
	}
	ide_command_done(ch, IDE_ERROR_ABRT);
}

/* The continuations a saved transfer may name (ide_state.c); ids never change meaning. */
const struct ide_step ide_atapi_steps[] = {
	{16, pio_next},
	{17, dma_next},
	{0, NULL},
};

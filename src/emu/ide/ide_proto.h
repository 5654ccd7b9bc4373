/*
 * IDE wire definitions: the ATA taskfile registers, status and error bits,
 * the commands Parvis's ATA and ATAPI devices know, and the PIIX bus-master
 * registers and PRD format.
 *
 * Sources: ATA/ATAPI-7 volume 1 (T13/1532D) sections 6 (commands) and 7
 * (registers), volume 2 (PACKET protocol); INCITS MMC-5 for the packet
 * commands; Intel 82371AB PIIX4 datasheet section 2.7.3 (bus-master IDE
 * registers) and 3.3 (PRD table). Guest side: Linux drivers/ata/libata-sff.c,
 * libata-core.c, ata_piix.c and include/linux/ata.h.
 */
#pragma once

#include <stdint.h>

/* Command block registers, offsets from 0x1F0 / 0x170 (ATA-7 7.1). */
enum {
	IDE_REG_DATA = 0,
	IDE_REG_ERROR = 1, /* read; write: FEATURES */
	IDE_REG_NSECT = 2,
	IDE_REG_LBAL = 3,
	IDE_REG_LBAM = 4, /* ATAPI: byte count low */
	IDE_REG_LBAH = 5, /* ATAPI: byte count high */
	IDE_REG_DEVICE = 6,
	IDE_REG_STATUS = 7, /* read (clears INTRQ); write: COMMAND */
	IDE_CMD_BLOCK_LEN = 8,
	IDE_CTL_BLOCK_LEN = 1, /* 0x3F6 / 0x376: alternate status / device control */
};

/* Status register (ATA-7 7.15). */
#define IDE_STATUS_ERR	0x01
#define IDE_STATUS_DRQ	0x08
#define IDE_STATUS_DSC	0x10 /* obsolete "seek complete"; Linux ignores it, BIOSes test it */
#define IDE_STATUS_DF	0x20
#define IDE_STATUS_DRDY 0x40
#define IDE_STATUS_BSY	0x80

/* Error register (ATA-7 7.9). */
#define IDE_ERROR_ABRT 0x04
#define IDE_ERROR_IDNF 0x10
#define IDE_ERROR_UNC  0x40
/* ATAPI: the sense key sits in bits 7:4 of the error register (ATA-7 vol 2, 5.1.2). */

/* Device register (ATA-7 7.7): bit 4 selects device 1, bit 6 selects LBA addressing. */
#define IDE_DEVICE_DEV 0x10
#define IDE_DEVICE_LBA 0x40

/* Device control register (ATA-7 7.8). */
#define IDE_CTL_NIEN 0x02
#define IDE_CTL_SRST 0x04
#define IDE_CTL_HOB  0x80

/* ATAPI interrupt reason, in the sector count register (ATA-7 vol 2, 5.1.1). */
#define IDE_IREASON_CD 0x01 /* command (packet) rather than data */
#define IDE_IREASON_IO 0x02 /* to the host */

/* Commands (ATA-7 6; include/linux/ata.h names). */
enum {
	ATA_CMD_NOP = 0x00,
	ATA_CMD_DEVICE_RESET = 0x08,
	ATA_CMD_READ_SECTORS = 0x20,
	ATA_CMD_READ_SECTORS_NORETRY = 0x21,
	ATA_CMD_READ_SECTORS_EXT = 0x24,
	ATA_CMD_READ_DMA_EXT = 0x25,
	ATA_CMD_WRITE_SECTORS = 0x30,
	ATA_CMD_WRITE_SECTORS_NORETRY = 0x31,
	ATA_CMD_WRITE_SECTORS_EXT = 0x34,
	ATA_CMD_WRITE_DMA_EXT = 0x35,
	ATA_CMD_VERIFY = 0x40,
	ATA_CMD_VERIFY_EXT = 0x42,
	ATA_CMD_EXECUTE_DIAGNOSTIC = 0x90,
	ATA_CMD_PACKET = 0xA0,
	ATA_CMD_IDENTIFY_PACKET = 0xA1,
	ATA_CMD_READ_DMA = 0xC8,
	ATA_CMD_READ_DMA_NORETRY = 0xC9,
	ATA_CMD_WRITE_DMA = 0xCA,
	ATA_CMD_WRITE_DMA_NORETRY = 0xCB,
	ATA_CMD_STANDBY_IMMEDIATE = 0xE0,
	ATA_CMD_IDLE_IMMEDIATE = 0xE1,
	ATA_CMD_CHECK_POWER_MODE = 0xE5,
	ATA_CMD_FLUSH_CACHE = 0xE7,
	ATA_CMD_FLUSH_CACHE_EXT = 0xEA,
	ATA_CMD_IDENTIFY = 0xEC,
	ATA_CMD_SET_FEATURES = 0xEF,
};

/* SET FEATURES subcommands (ATA-7 6.47). */
enum {
	ATA_SF_ENABLE_WRITE_CACHE = 0x02,
	ATA_SF_SET_TRANSFER_MODE = 0x03,
	ATA_SF_DISABLE_READ_LOOKAHEAD = 0x55,
	ATA_SF_DISABLE_REVERTING = 0x66,
	ATA_SF_DISABLE_WRITE_CACHE = 0x82,
	ATA_SF_ENABLE_READ_LOOKAHEAD = 0xAA,
	ATA_SF_ENABLE_REVERTING = 0xCC,
};

/* Transfer mode values of SET FEATURES 03h (ATA-7 table 43). */
#define ATA_XFER_PIO_DEFAULT 0x00
#define ATA_XFER_PIO_FLOW    0x08 /* | mode 0..4 */
#define ATA_XFER_MWDMA	     0x20 /* | mode 0..2 */
#define ATA_XFER_UDMA	     0x40 /* | mode 0..6 */

/* Device signatures after reset (ATA-7 9.12): LBA mid/high. */
#define ATA_SIG_LBAM   0x00
#define ATA_SIG_LBAH   0x00
#define ATAPI_SIG_LBAM 0x14
#define ATAPI_SIG_LBAH 0xEB

#define ATA_SECTOR_SIZE	  512u
#define ATAPI_SECTOR_SIZE 2048u
#define ATAPI_PACKET_SIZE 12u

/* Bus-master IDE registers, offsets in BAR4 per channel (PIIX4 2.7.3; secondary at +8). */
enum {
	IDE_BM_COMMAND = 0, /* bit 0 start/stop, bit 3 direction: 1 = write to memory */
	IDE_BM_STATUS =
		2,	/* bit 0 active, bit 1 error, bit 2 interrupt (RWC), bits 5-6 DMA capable */
	IDE_BM_PRD = 4, /* 32-bit PRD table address, dword aligned */
	IDE_BM_CHANNEL_LEN = 8,
};
#define IDE_BM_CMD_START     0x01
#define IDE_BM_CMD_TO_MEMORY 0x08
#define IDE_BM_ST_ACTIVE     0x01
#define IDE_BM_ST_ERROR	     0x02
#define IDE_BM_ST_INTERRUPT  0x04
#define IDE_BM_ST_DMA_CAP    0x60 /* drive 0/1 DMA capable: software-set bits */

/*
 * One physical region descriptor (PIIX4 3.3): a dword of memory address
 * (bit 0 zero), then a byte count in bits 15:1 of the low word (0 means
 * 64 KiB: Linux's ata_bmdma_fill_sg() writes 0x10000 as 0) and the
 * end-of-table flag in bit 31. The table is dword aligned and must not
 * cross a 64 KiB boundary.
 */
struct ide_prd {
	uint32_t addr;
	uint32_t count_eot;
};
_Static_assert(sizeof(struct ide_prd) == 8, "PRD is 8 bytes");
#define IDE_PRD_EOT	   0x80000000u
#define IDE_PRD_COUNT_MASK 0xFFFEu
#define IDE_PRD_TABLE_SPAN 0x10000u /* a table ends at its 64 KiB boundary */

/* SCSI/MMC packet commands the ATAPI CD-ROM answers (SPC-3, MMC-5). */
enum {
	SCSI_TEST_UNIT_READY = 0x00,
	SCSI_REQUEST_SENSE = 0x03,
	SCSI_INQUIRY = 0x12,
	SCSI_MODE_SENSE_6 = 0x1A,
	SCSI_START_STOP_UNIT = 0x1B,
	SCSI_PREVENT_ALLOW = 0x1E,
	SCSI_READ_CAPACITY_10 = 0x25,
	SCSI_READ_10 = 0x28,
	SCSI_READ_TOC = 0x43,
	SCSI_GET_CONFIGURATION = 0x46,
	SCSI_GET_EVENT_STATUS = 0x4A,
	SCSI_MODE_SENSE_10 = 0x5A,
	SCSI_READ_12 = 0xA8,
};

/* Sense keys and additional sense codes (SPC-3 4.5.6, annex D). */
#define SENSE_NONE	       0x0
#define SENSE_NOT_READY	       0x2
#define SENSE_MEDIUM_ERROR     0x3
#define SENSE_ILLEGAL_REQUEST  0x5
#define SENSE_UNIT_ATTENTION   0x6
#define ASC_INVALID_OPCODE     0x20
#define ASC_LBA_OUT_OF_RANGE   0x21
#define ASC_INVALID_FIELD_CDB  0x24
#define ASC_MEDIUM_CHANGED     0x28
#define ASC_MEDIUM_NOT_PRESENT 0x3A
#define ASC_UNRECOVERED_READ   0x11
#define ASC_REMOVAL_PREVENTED  0x53

/*
 * Unit tests for the emulated IDE channel (src/emu/ide/): an ATA disk over
 * a raw file and an ATAPI CD-ROM over an "ISO" file, driven through the
 * legacy ports on a real io_bus, with bus-master DMA into real guest memory
 * (a memfd, no KVM): IDENTIFY fields, PIO and DMA reads and writes, LBA48,
 * bad addresses, PRD faults, and the PACKET commands with media change.
 */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "disk/disk.h"
#include "emu/ide/ide.h"
#include "emu/ide/ide_proto.h"
#include "emu_fakes.h"
#include "state/state.h"
#include "vid/guest_memory.h"

#define CMD 0x1F0
#define CTL 0x3F6
#define BM  0xC000
#ifndef MiB
#define MiB (1024u * 1024u)
#endif

struct rig {
	struct io_bus *bus;
	struct guest_memory *mem;
	struct ide_channel *ch;
	struct fake_irq irq;
	struct disk *disk, *iso;
	uint64_t disk_size;
};

static uint8_t pattern(uint64_t offset)
{
	return (uint8_t)(offset * 7 + (offset >> 9) * 13 + 1);
}

static struct disk *make_disk(uint64_t size, bool fill, bool read_only)
{
	char path[] = "/tmp/parvis-test-ide-XXXXXX", err[128];
	struct disk *d = NULL;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	if (fill) {
		uint8_t *b = malloc(size);

		for (uint64_t i = 0; i < size; i++)
			b[i] = pattern(i);
		assert_int_equal(pwrite(fd, b, size, 0), (ssize_t)size);
		free(b);
	}
	close(fd);
	assert_int_equal(disk_open(path, read_only ? DISK_OPEN_READ_ONLY : 0, &d, err, sizeof(err)),
			 0);
	unlink(path);
	return d;
}

static struct rig *rig_new(uint64_t disk_size, bool fill)
{
	struct rig *r = calloc(1, sizeof(*r));

	fake_log_silence(NULL);
	assert_int_equal(io_bus_new("pio", &r->bus), 0);
	assert_int_equal(guest_memory_new(16 * MiB, &r->mem), 0);
	assert_int_equal(ide_channel_new("ide0", fake_irq_line(&r->irq, 14), r->mem, &r->ch), 0);
	assert_int_equal(ide_channel_register(r->ch, r->bus, CMD, CTL), 0);
	assert_int_equal(io_bus_register(r->bus, BM, 8, &ide_channel_bm_ops, r->ch, "bm"), 0);
	if (disk_size) {
		r->disk = make_disk(disk_size, fill, false);
		r->disk_size = disk_size;
		assert_int_equal(ide_channel_attach_disk(r->ch, 0, r->disk), 0);
	}
	return r;
}

static void rig_free(struct rig *r)
{
	ide_channel_unregister(r->ch, r->bus, CMD, CTL);
	(void)io_bus_unregister(r->bus, BM);
	ide_channel_free(r->ch);
	disk_close(r->disk);
	disk_close(r->iso);
	guest_memory_free(r->mem);
	io_bus_free(r->bus);
	free(r);
}

static uint8_t status(struct rig *r)
{
	return pio_inb(r->bus, CMD + IDE_REG_STATUS);
}

static uint8_t alt_status(struct rig *r)
{
	return pio_inb(r->bus, CTL);
}

static void lba28(struct rig *r, unsigned dev, uint32_t lba, uint8_t count)
{
	pio_outb(r->bus, CMD + IDE_REG_DEVICE, (uint8_t)(0xE0 | dev << 4 | (lba >> 24 & 0xF)));
	pio_outb(r->bus, CMD + IDE_REG_NSECT, count);
	pio_outb(r->bus, CMD + IDE_REG_LBAL, (uint8_t)lba);
	pio_outb(r->bus, CMD + IDE_REG_LBAM, (uint8_t)(lba >> 8));
	pio_outb(r->bus, CMD + IDE_REG_LBAH, (uint8_t)(lba >> 16));
}

/* libata's ata_tf_load() order for LBA48: the HOB bytes first, then the low ones. */
static void lba48(struct rig *r, uint64_t lba, uint16_t count)
{
	pio_outb(r->bus, CMD + IDE_REG_DEVICE, 0x40);
	pio_outb(r->bus, CMD + IDE_REG_NSECT, (uint8_t)(count >> 8));
	pio_outb(r->bus, CMD + IDE_REG_LBAL, (uint8_t)(lba >> 24));
	pio_outb(r->bus, CMD + IDE_REG_LBAM, (uint8_t)(lba >> 32));
	pio_outb(r->bus, CMD + IDE_REG_LBAH, (uint8_t)(lba >> 40));
	pio_outb(r->bus, CMD + IDE_REG_NSECT, (uint8_t)count);
	pio_outb(r->bus, CMD + IDE_REG_LBAL, (uint8_t)lba);
	pio_outb(r->bus, CMD + IDE_REG_LBAM, (uint8_t)(lba >> 8));
	pio_outb(r->bus, CMD + IDE_REG_LBAH, (uint8_t)(lba >> 16));
}

static void command(struct rig *r, uint8_t cmd)
{
	pio_outb(r->bus, CMD + IDE_REG_STATUS, cmd);
}

static void read_data(struct rig *r, void *buf, unsigned len)
{
	uint8_t *b = buf;

	for (unsigned i = 0; i < len; i += 2) {
		uint16_t w = (uint16_t)pio_in(r->bus, CMD, 2);

		b[i] = (uint8_t)w;
		b[i + 1] = (uint8_t)(w >> 8);
	}
}

static void write_data(struct rig *r, const void *buf, unsigned len)
{
	const uint8_t *b = buf;

	for (unsigned i = 0; i < len; i += 4)
		pio_out(r->bus, CMD, 4,
			b[i] | b[i + 1] << 8 | b[i + 2] << 16 | (uint32_t)b[i + 3] << 24);
}

static void check_pattern(const uint8_t *b, uint64_t offset, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (b[i] != pattern(offset + i))
			fail_msg("byte %zu of offset %llu: %02x, want %02x", i,
				 (unsigned long long)offset, b[i], pattern(offset + i));
}

static void identify(struct rig *r, uint16_t *id)
{
	pio_outb(r->bus, CMD + IDE_REG_DEVICE, 0xA0);
	command(r, ATA_CMD_IDENTIFY);
	assert_int_equal(fake_irq_level(&r->irq), 1);
	assert_int_equal(status(r) & (IDE_STATUS_DRQ | IDE_STATUS_ERR | IDE_STATUS_BSY),
			 IDE_STATUS_DRQ);
	assert_int_equal(fake_irq_level(&r->irq), 0);
	read_data(r, id, 512);
	assert_int_equal(status(r), IDE_STATUS_DRDY | IDE_STATUS_DSC);
}

static void id_string(const uint16_t *w, unsigned nwords, char *out)
{
	for (unsigned i = 0; i < nwords; i++) {
		out[2 * i] = (char)(w[i] >> 8);
		out[2 * i + 1] = (char)w[i];
	}
	out[2 * nwords] = 0;
}

static void test_identify(void **state)
{
	struct rig *r = rig_new(8 * MiB, false);
	uint16_t id[256];
	char model[41];
	uint8_t sum = 0;

	(void)state;
	identify(r, id);
	id_string(&id[27], 20, model);
	assert_string_equal(model, "Virtual HD                              ");
	/* 16384 sectors: 16 cylinders of 16 heads x 63 sectors (16128 reachable by CHS). */
	assert_int_equal(id[1], 16);
	assert_int_equal(id[3], 16);
	assert_int_equal(id[6], 63);
	assert_int_equal(id[57] | id[58] << 16, 16 * 16 * 63);
	assert_int_equal(id[60] | id[61] << 16, 16384);
	assert_int_equal(id[100] | id[101] << 16, 16384);
	assert_int_equal(id[102] | id[103], 0);
	assert_true(id[49] & 0x0200); /* LBA */
	assert_true(id[49] & 0x0100); /* DMA */
	assert_true(id[83] & 0x0400); /* LBA48 */
	for (unsigned i = 0; i < 512; i++)
		sum = (uint8_t)(sum + ((uint8_t *)id)[i]);
	assert_int_equal(sum, 0);
	assert_int_equal(id[255] & 0xFF, 0xA5);
	rig_free(r);
}

static void test_signature_and_absent_slave(void **state)
{
	struct rig *r = rig_new(1 * MiB, false);

	(void)state;
	pio_outb(r->bus, CTL, IDE_CTL_SRST);
	pio_outb(r->bus, CTL, 0);
	assert_int_equal(pio_inb(r->bus, CMD + IDE_REG_NSECT), 1);
	assert_int_equal(pio_inb(r->bus, CMD + IDE_REG_LBAL), 1);
	assert_int_equal(pio_inb(r->bus, CMD + IDE_REG_LBAM), 0);
	assert_int_equal(pio_inb(r->bus, CMD + IDE_REG_LBAH), 0);
	assert_int_equal(status(r), IDE_STATUS_DRDY | IDE_STATUS_DSC);
	pio_outb(r->bus, CMD + IDE_REG_DEVICE, 0xB0);
	assert_int_equal(status(r), 0);
	command(r, ATA_CMD_IDENTIFY); /* nobody answers */
	assert_int_equal(fake_irq_raises(&r->irq), 0);
	/* nIEN masks the line; the interrupt stays pending until STATUS is read. */
	pio_outb(r->bus, CTL, IDE_CTL_NIEN);
	pio_outb(r->bus, CMD + IDE_REG_DEVICE, 0xA0);
	command(r, ATA_CMD_CHECK_POWER_MODE);
	assert_int_equal(fake_irq_level(&r->irq), 0);
	pio_outb(r->bus, CTL, 0);
	assert_int_equal(fake_irq_level(&r->irq), 1);
	assert_int_equal(alt_status(r), IDE_STATUS_DRDY | IDE_STATUS_DSC);
	assert_int_equal(fake_irq_level(&r->irq), 1);
	assert_int_equal(pio_inb(r->bus, CMD + IDE_REG_NSECT), 0xFF);
	status(r);
	assert_int_equal(fake_irq_level(&r->irq), 0);
	rig_free(r);
}

static void test_pio_read_write(void **state)
{
	struct rig *r = rig_new(1 * MiB, true);
	uint8_t buf[512], w[512];
	unsigned raises;

	(void)state;
	lba28(r, 0, 5, 3);
	command(r, ATA_CMD_READ_SECTORS);
	for (unsigned s = 0; s < 3; s++) {
		raises = fake_irq_raises(&r->irq);
		assert_int_equal(fake_irq_level(&r->irq), 1);
		assert_true(status(r) & IDE_STATUS_DRQ);
		read_data(r, buf, sizeof(buf));
		check_pattern(buf, (5 + s) * 512ull, 512);
		(void)raises;
	}
	/* After the last sector: no DRQ, no further interrupt (ATA-7 9.7). */
	assert_int_equal(fake_irq_level(&r->irq), 0);
	assert_int_equal(status(r), IDE_STATUS_DRDY | IDE_STATUS_DSC);

	/* Write two sectors at 100 (PIO out: DRQ first without an interrupt, then one per sector).
	 */
	for (unsigned i = 0; i < 512; i++)
		w[i] = (uint8_t)(i ^ 0x5A);
	lba28(r, 0, 100, 2);
	command(r, ATA_CMD_WRITE_SECTORS);
	assert_int_equal(fake_irq_level(&r->irq), 0);
	assert_true(alt_status(r) & IDE_STATUS_DRQ);
	write_data(r, w, 512);
	assert_int_equal(fake_irq_level(&r->irq), 1);
	assert_true(status(r) & IDE_STATUS_DRQ);
	write_data(r, w, 512);
	assert_int_equal(fake_irq_level(&r->irq), 1);
	assert_int_equal(status(r), IDE_STATUS_DRDY | IDE_STATUS_DSC);
	assert_int_equal(disk_read(r->disk, 100 * 512, buf, 512), 0);
	assert_memory_equal(buf, w, 512);
	assert_int_equal(disk_read(r->disk, 101 * 512, buf, 512), 0);
	assert_memory_equal(buf, w, 512);
	assert_int_equal(disk_read(r->disk, 102 * 512, buf, 512), 0);
	check_pattern(buf, 102 * 512, 512);

	/* CHS: cylinder 0, head 1, sector 1 is LBA 63 in the 16/63 translation. */
	pio_outb(r->bus, CMD + IDE_REG_DEVICE, 0xA1);
	pio_outb(r->bus, CMD + IDE_REG_NSECT, 1);
	pio_outb(r->bus, CMD + IDE_REG_LBAL, 1);
	pio_outb(r->bus, CMD + IDE_REG_LBAM, 0);
	pio_outb(r->bus, CMD + IDE_REG_LBAH, 0);
	command(r, ATA_CMD_READ_SECTORS);
	assert_true(status(r) & IDE_STATUS_DRQ);
	read_data(r, buf, 512);
	check_pattern(buf, 63 * 512, 512);
	rig_free(r);
}

static void expect_error(struct rig *r, uint8_t error)
{
	uint8_t st = status(r);

	assert_int_equal(st & (IDE_STATUS_ERR | IDE_STATUS_DRQ | IDE_STATUS_BSY), IDE_STATUS_ERR);
	assert_int_equal(pio_inb(r->bus, CMD + IDE_REG_ERROR), error);
}

static void test_bad_commands(void **state)
{
	struct rig *r = rig_new(1 * MiB, true); /* 2048 sectors */
	struct ide_stats st;

	(void)state;
	lba28(r, 0, 2048, 1);
	command(r, ATA_CMD_READ_SECTORS);
	expect_error(r, IDE_ERROR_IDNF);
	lba28(r, 0, 2040, 9); /* runs past the end */
	command(r, ATA_CMD_READ_DMA);
	expect_error(r, IDE_ERROR_IDNF);
	lba48(r, 1ull << 40, 1);
	command(r, ATA_CMD_READ_SECTORS_EXT);
	expect_error(r, IDE_ERROR_IDNF);
	lba28(r, 0, 0, 1);
	command(r, 0xFF);
	expect_error(r, IDE_ERROR_ABRT);
	command(r, ATA_CMD_NOP);
	expect_error(r, IDE_ERROR_ABRT);
	command(r, ATA_CMD_PACKET); /* not a PACKET device */
	expect_error(r, IDE_ERROR_ABRT);
	pio_outb(r->bus, CMD + IDE_REG_ERROR, 0x77);
	command(r, ATA_CMD_SET_FEATURES);
	expect_error(r, IDE_ERROR_ABRT);
	pio_outb(r->bus, CMD + IDE_REG_ERROR, ATA_SF_SET_TRANSFER_MODE);
	pio_outb(r->bus, CMD + IDE_REG_NSECT, ATA_XFER_UDMA | 5); /* beyond UDMA/33 */
	command(r, ATA_CMD_SET_FEATURES);
	expect_error(r, IDE_ERROR_ABRT);
	pio_outb(r->bus, CMD + IDE_REG_NSECT, ATA_XFER_UDMA | 2);
	command(r, ATA_CMD_SET_FEATURES);
	assert_int_equal(status(r), IDE_STATUS_DRDY | IDE_STATUS_DSC);
	/* A CHS sector 0 does not exist. */
	pio_outb(r->bus, CMD + IDE_REG_DEVICE, 0xA0);
	pio_outb(r->bus, CMD + IDE_REG_LBAL, 0);
	command(r, ATA_CMD_READ_SECTORS);
	expect_error(r, IDE_ERROR_IDNF);
	/* The data port with nothing to move: all-ones, a guest error. */
	assert_int_equal(pio_in(r->bus, CMD, 2), 0xFFFF);
	ide_channel_get_stats(r->ch, &st);
	assert_int_equal(st.aborted, 9);
	assert_true(st.guest_errors >= 1);
	rig_free(r);

	/* Writes to a read-only disk abort. */
	r = rig_new(0, false);
	r->disk = make_disk(1 * MiB, true, true);
	assert_int_equal(ide_channel_attach_disk(r->ch, 0, r->disk), 0);
	assert_int_equal(ide_channel_attach_disk(r->ch, 0, r->disk), -EEXIST);
	lba28(r, 0, 1, 1);
	command(r, ATA_CMD_WRITE_SECTORS);
	expect_error(r, IDE_ERROR_ABRT);
	rig_free(r);
}

static void test_lba48(void **state)
{
	/* 256 GiB, sparse: LBA48 addresses beyond 28 bits. */
	uint64_t size = 256ull << 30, lba = 0x10000005ull;
	struct rig *r = rig_new(size, false);
	uint8_t buf[512], w[1024];
	uint16_t id[256];

	(void)state;
	identify(r, id);
	assert_int_equal(id[60] | id[61] << 16, 0x0FFFFFFF); /* the 28-bit limit */
	assert_int_equal((uint64_t)id[100] | (uint64_t)id[101] << 16 | (uint64_t)id[102] << 32,
			 size / 512);
	assert_int_equal(id[1], 16383); /* the CHS limit */
	for (unsigned i = 0; i < sizeof(w); i++)
		w[i] = (uint8_t)(i * 3);
	lba48(r, lba, 2);
	command(r, ATA_CMD_WRITE_SECTORS_EXT);
	write_data(r, w, 512);
	status(r);
	write_data(r, w + 512, 512);
	assert_int_equal(status(r), IDE_STATUS_DRDY | IDE_STATUS_DSC);
	assert_int_equal(disk_read(r->disk, lba * 512, buf, 512), 0);
	assert_memory_equal(buf, w, 512);
	lba48(r, lba + 1, 1);
	command(r, ATA_CMD_READ_SECTORS_EXT);
	assert_true(status(r) & IDE_STATUS_DRQ);
	read_data(r, buf, 512);
	assert_memory_equal(buf, w + 512, 512);
	/* HOB reads back the high bytes. */
	pio_outb(r->bus, CTL, IDE_CTL_HOB);
	assert_int_equal(pio_inb(r->bus, CMD + IDE_REG_LBAL), (uint8_t)(lba >> 24));
	pio_outb(r->bus, CTL, 0);
	assert_int_equal(pio_inb(r->bus, CMD + IDE_REG_LBAL), (uint8_t)(lba + 1));
	/* The last sector, then one past it. */
	lba48(r, size / 512 - 1, 1);
	command(r, ATA_CMD_READ_SECTORS_EXT);
	assert_true(status(r) & IDE_STATUS_DRQ);
	read_data(r, buf, 512);
	lba48(r, size / 512, 1);
	command(r, ATA_CMD_READ_SECTORS_EXT);
	expect_error(r, IDE_ERROR_IDNF);
	rig_free(r);
}

/* Writes a PRD table at gpa. */
static void prds(struct rig *r, uint64_t gpa, const uint32_t (*e)[2], unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint32_t v[2] = {htole32(e[i][0]), htole32(e[i][1])};

		assert_int_equal(guest_memory_write(r->mem, gpa + 8 * i, v, 8), 0);
	}
}

static void bm_start(struct rig *r, uint32_t table, bool to_memory)
{
	pio_out(r->bus, BM + IDE_BM_PRD, 4, table);
	pio_outb(r->bus, BM + IDE_BM_STATUS, IDE_BM_ST_ERROR | IDE_BM_ST_INTERRUPT);
	pio_outb(r->bus, BM + IDE_BM_COMMAND, to_memory ? IDE_BM_CMD_TO_MEMORY : 0);
	pio_outb(r->bus, BM + IDE_BM_COMMAND,
		 (to_memory ? IDE_BM_CMD_TO_MEMORY : 0) | IDE_BM_CMD_START);
}

static uint8_t bm_status(struct rig *r)
{
	return pio_inb(r->bus, BM + IDE_BM_STATUS);
}

static void test_dma_read_write(void **state)
{
	struct rig *r = rig_new(1 * MiB, true);
	/* 1024 bytes at 1 MiB, 64 KiB (count 0) at 2 MiB: 130 sectors. */
	const uint32_t table[][2] = {{1 * MiB, 1024}, {2 * MiB, IDE_PRD_EOT | 0}};
	uint8_t *buf = malloc(66560);
	struct ide_stats st;

	(void)state;
	prds(r, 0x10000, table, 2);
	/* libata's order: PRD pointer and direction, the command, then START. */
	lba28(r, 0, 10, 130);
	command(r, ATA_CMD_READ_DMA);
	assert_int_equal(fake_irq_raises(&r->irq), 0);
	bm_start(r, 0x10000, true);
	assert_int_equal(fake_irq_level(&r->irq), 1);
	assert_int_equal(bm_status(r) & 7, IDE_BM_ST_INTERRUPT); /* table used up: not active */
	assert_int_equal(status(r), IDE_STATUS_DRDY | IDE_STATUS_DSC);
	assert_int_equal(guest_memory_read(r->mem, 1 * MiB, buf, 1024), 0);
	check_pattern(buf, 10 * 512, 1024);
	assert_int_equal(guest_memory_read(r->mem, 2 * MiB, buf, 65536), 0);
	check_pattern(buf, 12 * 512, 65536);
	pio_outb(r->bus, BM + IDE_BM_COMMAND, 0);

	/* DMA write from guest memory, START before the command this time. */
	for (unsigned i = 0; i < 1024; i++)
		buf[i] = (uint8_t)~i;
	assert_int_equal(guest_memory_write(r->mem, 3 * MiB, buf, 1024), 0);
	const uint32_t wtable[][2] = {{3 * MiB, 512}, {3 * MiB + 512, IDE_PRD_EOT | 512}};
	prds(r, 0x20000, wtable, 2);
	bm_start(r, 0x20000, false);
	lba48(r, 700, 2);
	command(r, ATA_CMD_WRITE_DMA_EXT);
	assert_int_equal(bm_status(r) & 7, IDE_BM_ST_INTERRUPT);
	assert_int_equal(status(r), IDE_STATUS_DRDY | IDE_STATUS_DSC);
	pio_outb(r->bus, BM + IDE_BM_COMMAND, 0);
	assert_int_equal(disk_read(r->disk, 700 * 512, buf + 2048, 1024), 0);
	assert_memory_equal(buf, buf + 2048, 1024);

	/* A table longer than the transfer: ACTIVE stays set, no error (PIIX4 table 2-9). */
	const uint32_t long_table[][2] = {{1 * MiB, IDE_PRD_EOT | 4096}};
	prds(r, 0x30000, long_table, 1);
	lba28(r, 0, 0, 1);
	command(r, ATA_CMD_READ_DMA);
	bm_start(r, 0x30000, true);
	assert_int_equal(bm_status(r) & 7, IDE_BM_ST_INTERRUPT | IDE_BM_ST_ACTIVE);
	assert_int_equal(status(r), IDE_STATUS_DRDY | IDE_STATUS_DSC);
	pio_outb(r->bus, BM + IDE_BM_COMMAND, 0);
	assert_int_equal(bm_status(r) & 1, 0);
	ide_channel_get_stats(r->ch, &st);
	assert_int_equal(st.dma_errors, 0);
	assert_int_equal(st.sectors_read, 131);
	assert_int_equal(st.sectors_written, 2);
	free(buf);
	rig_free(r);
}

static void expect_dma_fault(struct rig *r, uint32_t table, uint8_t cmd, uint8_t count)
{
	struct ide_stats before, after;

	ide_channel_get_stats(r->ch, &before);
	lba28(r, 0, 0, count);
	command(r, cmd);
	bm_start(r, table, cmd == ATA_CMD_READ_DMA);
	assert_int_equal(fake_irq_level(&r->irq), 1);
	assert_int_equal(bm_status(r) & 7, IDE_BM_ST_ERROR | IDE_BM_ST_INTERRUPT);
	expect_error(r, IDE_ERROR_ABRT);
	pio_outb(r->bus, BM + IDE_BM_COMMAND, 0);
	ide_channel_get_stats(r->ch, &after);
	assert_int_equal(after.dma_errors, before.dma_errors + 1);
}

static void test_prd_faults(void **state)
{
	struct rig *r = rig_new(1 * MiB, true);
	const uint32_t outside[][2] = {{0xF0000000u, IDE_PRD_EOT | 512}};
	const uint32_t straddle[][2] = {{16 * MiB - 256, IDE_PRD_EOT | 512}};
	const uint32_t short_table[][2] = {{1 * MiB, IDE_PRD_EOT | 512}};
	const uint32_t no_end[][2] = {{1 * MiB, 2}, {1 * MiB, 2}};

	(void)state;
	/* The table itself outside RAM (in the MMIO hole). */
	expect_dma_fault(r, 0xD0000000u, ATA_CMD_READ_DMA, 1);
	/* An entry outside RAM, and one running off its end. */
	prds(r, 0x10000, outside, 1);
	expect_dma_fault(r, 0x10000, ATA_CMD_READ_DMA, 1);
	prds(r, 0x10000, straddle, 1);
	expect_dma_fault(r, 0x10000, ATA_CMD_WRITE_DMA, 1);
	/* Shorter than the transfer. */
	prds(r, 0x10000, short_table, 1);
	expect_dma_fault(r, 0x10000, ATA_CMD_READ_DMA, 2);
	/* No end-of-table entry before the 64 KiB boundary (two entries of 2 bytes there). */
	prds(r, 0x1FFF0, no_end, 2);
	expect_dma_fault(r, 0x1FFF0, ATA_CMD_READ_DMA, 1);
	/* A whole 64 KiB page of entries without EOT: bounded by the boundary too. */
	for (uint32_t off = 0; off < 0x10000; off += 8)
		prds(r, 0x40000 + off, no_end, 1);
	expect_dma_fault(r, 0x40000, ATA_CMD_READ_DMA, 255);
	/* The direction bit against the command. */
	prds(r, 0x10000, short_table, 1);
	lba28(r, 0, 0, 1);
	command(r, ATA_CMD_READ_DMA);
	bm_start(r, 0x10000, false);
	assert_int_equal(bm_status(r) & 7, IDE_BM_ST_ERROR | IDE_BM_ST_INTERRUPT);
	expect_error(r, IDE_ERROR_ABRT);
	/* After all that, a good transfer still works. */
	pio_outb(r->bus, BM + IDE_BM_COMMAND, 0);
	lba28(r, 0, 3, 1);
	command(r, ATA_CMD_READ_DMA);
	bm_start(r, 0x10000, true);
	assert_int_equal(bm_status(r) & 7, IDE_BM_ST_INTERRUPT);
	assert_int_equal(status(r), IDE_STATUS_DRDY | IDE_STATUS_DSC);
	rig_free(r);
}

/* ---- ATAPI ---- */

static struct rig *cd_rig(unsigned blocks)
{
	struct rig *r = rig_new(0, false);

	r->iso = make_disk((uint64_t)blocks * 2048, true, true);
	assert_int_equal(ide_channel_attach_cdrom(r->ch, 0, r->iso), 0);
	return r;
}

/* Sends a packet; returns the status after the packet (DRQ for data, or the final status). */
static uint8_t packet(struct rig *r, const uint8_t *cdb, uint16_t limit, bool dma)
{
	uint8_t p[12] = {0};

	memcpy(p, cdb, 12);
	pio_outb(r->bus, CMD + IDE_REG_DEVICE, 0xA0);
	pio_outb(r->bus, CMD + IDE_REG_ERROR, dma ? 1 : 0);
	pio_outb(r->bus, CMD + IDE_REG_LBAM, (uint8_t)limit);
	pio_outb(r->bus, CMD + IDE_REG_LBAH, (uint8_t)(limit >> 8));
	command(r, ATA_CMD_PACKET);
	assert_true(alt_status(r) & IDE_STATUS_DRQ);
	assert_int_equal(pio_inb(r->bus, CMD + IDE_REG_NSECT), IDE_IREASON_CD);
	write_data(r, p, 12);
	return status(r);
}

/* Reads one PIO data piece; returns its length. */
static unsigned piece(struct rig *r, uint8_t *buf)
{
	unsigned n = pio_inb(r->bus, CMD + IDE_REG_LBAM) | pio_inb(r->bus, CMD + IDE_REG_LBAH) << 8;

	assert_int_equal(pio_inb(r->bus, CMD + IDE_REG_NSECT), IDE_IREASON_IO);
	read_data(r, buf, n);
	return n;
}

static uint8_t sense_key(struct rig *r)
{
	const uint8_t rs[12] = {SCSI_REQUEST_SENSE, 0, 0, 0, 18};
	uint8_t b[18];

	assert_true(packet(r, rs, 18, false) & IDE_STATUS_DRQ);
	assert_int_equal(piece(r, b), 18);
	assert_int_equal(status(r) & IDE_STATUS_ERR, 0);
	return b[2];
}

static void test_atapi(void **state)
{
	struct rig *r = cd_rig(100);
	const uint8_t inquiry[12] = {SCSI_INQUIRY, 0, 0, 0, 96};
	const uint8_t tur[12] = {SCSI_TEST_UNIT_READY};
	const uint8_t cap[12] = {SCSI_READ_CAPACITY_10};
	uint8_t b[8192], st;
	uint16_t id[256];
	char model[41];

	(void)state;
	pio_outb(r->bus, CTL, IDE_CTL_SRST);
	pio_outb(r->bus, CTL, 0);
	assert_int_equal(pio_inb(r->bus, CMD + IDE_REG_LBAM), ATAPI_SIG_LBAM);
	assert_int_equal(pio_inb(r->bus, CMD + IDE_REG_LBAH), ATAPI_SIG_LBAH);
	/* IDENTIFY DEVICE is aborted with the signature; IDENTIFY PACKET DEVICE answers. */
	command(r, ATA_CMD_IDENTIFY);
	expect_error(r, IDE_ERROR_ABRT);
	assert_int_equal(pio_inb(r->bus, CMD + IDE_REG_LBAH), ATAPI_SIG_LBAH);
	command(r, ATA_CMD_IDENTIFY_PACKET);
	assert_true(status(r) & IDE_STATUS_DRQ);
	read_data(r, id, 512);
	assert_int_equal(id[0], 0x85C0);
	id_string(&id[27], 20, model);
	assert_memory_equal(model, "Msft Virtual CD/ROM ", 20);

	st = packet(r, inquiry, 0xFFFE, false);
	assert_true(st & IDE_STATUS_DRQ);
	assert_int_equal(piece(r, b), 36);
	assert_int_equal(b[0], 0x05);
	assert_memory_equal(b + 16, "Virtual CD/ROM  ", 16);
	assert_int_equal(status(r) & (IDE_STATUS_ERR | IDE_STATUS_DRQ), 0);
	assert_int_equal(pio_inb(r->bus, CMD + IDE_REG_NSECT), IDE_IREASON_IO | IDE_IREASON_CD);

	assert_int_equal(packet(r, tur, 0, false) & IDE_STATUS_ERR, 0);
	assert_true(packet(r, cap, 8, false) & IDE_STATUS_DRQ);
	assert_int_equal(piece(r, b), 8);
	assert_int_equal(b[3], 99);
	assert_int_equal(b[6], 0x08);

	/* READ(10) of blocks 3-5 by PIO with a 2048-byte limit: three pieces of one block. */
	const uint8_t rd10[12] = {SCSI_READ_10, 0, 0, 0, 0, 3, 0, 0, 3};
	assert_true(packet(r, rd10, 2048, false) & IDE_STATUS_DRQ);
	for (unsigned i = 0; i < 3; i++) {
		unsigned raises = fake_irq_raises(&r->irq);

		assert_int_equal(piece(r, b), 2048);
		check_pattern(b, (3 + i) * 2048ull, 2048);
		/* An interrupt for each next piece, and one for the status phase. */
		assert_int_equal(fake_irq_raises(&r->irq), raises + 1);
		if (i < 2)
			assert_true(status(r) & IDE_STATUS_DRQ);
	}
	assert_int_equal(status(r) & (IDE_STATUS_ERR | IDE_STATUS_DRQ), 0);

	/* READ(12) of 70 blocks by DMA (more than one buffer fill). */
	const uint32_t table2[][2] = {
		{1 * MiB, 0}, {1 * MiB + 0x10000, 0}, {1 * MiB + 0x20000, IDE_PRD_EOT | 12288}};
	uint8_t *big = malloc(70 * 2048);
	const uint8_t rd12[12] = {SCSI_READ_12, 0, 0, 0, 0, 10, 0, 0, 0, 70};
	prds(r, 0x10000, table2, 3);
	st = packet(r, rd12, 0, true);
	bm_start(r, 0x10000, true);
	assert_int_equal(bm_status(r) & 3, 0);
	assert_int_equal(status(r) & (IDE_STATUS_ERR | IDE_STATUS_DRQ), 0);
	assert_int_equal(guest_memory_read(r->mem, 1 * MiB, big, 70 * 2048), 0);
	check_pattern(big, 10 * 2048ull, 70 * 2048);
	free(big);
	pio_outb(r->bus, BM + IDE_BM_COMMAND, 0);

	/* Out of range; an unknown opcode. */
	const uint8_t bad[12] = {SCSI_READ_10, 0, 0, 0, 0, 99, 0, 0, 2};
	st = packet(r, bad, 2048, false);
	assert_true(st & IDE_STATUS_ERR);
	assert_int_equal(pio_inb(r->bus, CMD + IDE_REG_ERROR) >> 4, SENSE_ILLEGAL_REQUEST);
	assert_int_equal(sense_key(r), SENSE_ILLEGAL_REQUEST);
	const uint8_t unknown[12] = {0xEE};
	assert_true(packet(r, unknown, 2048, false) & IDE_STATUS_ERR);

	/* Lock, then eject: refused; unlock, eject: no media. */
	const uint8_t lock[12] = {SCSI_PREVENT_ALLOW, 0, 0, 0, 1};
	const uint8_t unlock[12] = {SCSI_PREVENT_ALLOW, 0, 0, 0, 0};
	const uint8_t eject[12] = {SCSI_START_STOP_UNIT, 0, 0, 0, 2};
	struct disk *old = NULL;
	assert_int_equal(packet(r, lock, 0, false) & IDE_STATUS_ERR, 0);
	assert_true(packet(r, eject, 0, false) & IDE_STATUS_ERR);
	assert_int_equal(ide_channel_change_media(r->ch, 0, NULL, false, &old), -EBUSY);
	assert_int_equal(packet(r, unlock, 0, false) & IDE_STATUS_ERR, 0);
	assert_int_equal(packet(r, eject, 0, false) & IDE_STATUS_ERR, 0);
	assert_true(packet(r, tur, 0, false) & IDE_STATUS_ERR);
	assert_int_equal(sense_key(r), SENSE_NOT_READY);

	/* The host changes the media: UNIT ATTENTION once, then the new size. */
	struct disk *iso2 = make_disk(50 * 2048, true, true);
	assert_int_equal(ide_channel_change_media(r->ch, 0, iso2, false, &old), 0);
	assert_ptr_equal(old, r->iso);
	disk_close(r->iso);
	r->iso = iso2;
	/* (The guest's own eject left the tray open; a host media change closes it.) */
	const uint8_t load[12] = {SCSI_START_STOP_UNIT, 0, 0, 0, 3};
	assert_true(packet(r, tur, 0, false) & IDE_STATUS_ERR);
	assert_int_equal(sense_key(r), SENSE_UNIT_ATTENTION);
	assert_int_equal(packet(r, load, 0, false) & IDE_STATUS_ERR, 0);
	(void)packet(r, tur, 0, false); /* the load's own attention */
	assert_int_equal(packet(r, tur, 0, false) & IDE_STATUS_ERR, 0);
	assert_true(packet(r, cap, 8, false) & IDE_STATUS_DRQ);
	assert_int_equal(piece(r, b), 8);
	assert_int_equal(b[3], 49);
	rig_free(r);
}

/* What sr_cd_check() and sr_check_events() ask: READ TOC's multisession format, media events. */
static void test_atapi_toc_events(void **state)
{
	struct rig *r = cd_rig(300);
	const uint8_t toc_ms[12] = {SCSI_READ_TOC, 0, 0, 0, 0, 0, 0, 0, 12, 0x40};
	const uint8_t toc[12] = {SCSI_READ_TOC, 0x02, 0, 0, 0, 0, 0, 0, 20};
	const uint8_t gesn[12] = {SCSI_GET_EVENT_STATUS, 1, 0, 0, 0x10, 0, 0, 0, 8};
	const uint8_t gesn_async[12] = {SCSI_GET_EVENT_STATUS, 0, 0, 0, 0x10, 0, 0, 0, 8};
	struct disk *old = NULL;
	uint8_t b[64];

	(void)state;
	assert_true(packet(r, toc_ms, 12, false) & IDE_STATUS_DRQ);
	assert_int_equal(piece(r, b), 12);
	assert_int_equal(b[0] << 8 | b[1],
			 10);	   /* sr: "< 0x0a" would mean no multisession support */
	assert_int_equal(b[6], 1); /* first track of the last session */
	/* Format 0 in MSF: track 1 at 00:02:00, the lead-out at 300 + 150 frames = 00:06:00. */
	assert_true(packet(r, toc, 20, false) & IDE_STATUS_DRQ);
	assert_int_equal(piece(r, b), 20);
	assert_int_equal(b[4 + 2], 1);
	assert_memory_equal(b + 8, ((uint8_t[]){0, 0, 2, 0}), 4);
	assert_int_equal(b[12 + 2], 0xAA);
	assert_memory_equal(b + 16, ((uint8_t[]){0, 0, 6, 0}), 4);
	/* No event, then a media change reported once as new media. */
	assert_true(packet(r, gesn, 8, false) & IDE_STATUS_DRQ);
	assert_int_equal(piece(r, b), 8);
	assert_int_equal(b[2], 0x04);
	assert_int_equal(b[4], 0);
	assert_int_equal(b[5], 0x02); /* media present, tray closed */
	assert_int_equal(ide_channel_change_media(r->ch, 0, r->iso, false, &old), 0);
	assert_true(packet(r, gesn, 8, false) &
		    IDE_STATUS_DRQ); /* not held back by the attention */
	assert_int_equal(piece(r, b), 8);
	assert_int_equal(b[4], 0x02);
	assert_true(packet(r, gesn, 8, false) & IDE_STATUS_DRQ);
	assert_int_equal(piece(r, b), 8);
	assert_int_equal(b[4], 0);
	assert_true(packet(r, gesn_async, 8, false) & IDE_STATUS_ERR);
	rig_free(r);
}

/* A second channel over the same disk (rig_free of it leaves the disk to the first). */
static struct rig *rig_sharing(struct rig *r)
{
	struct rig *g = rig_new(0, false);

	assert_int_equal(ide_channel_attach_disk(g->ch, 0, r->disk), 0);
	return g;
}

static void rig_free_shared(struct rig *g)
{
	g->disk = NULL;
	rig_free(g);
}

static int load_into(struct rig *g, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	struct state_in in;
	int r;

	state_in_init(&in, buf, len);
	r = ide_channel_load(g->ch, IDE_STATE_VERSION, &in, err, errlen);
	if (r == 0 && state_in_finish(&in) < 0)
		r = -EBADMSG;
	return r;
}

/* Saved in the middle of a PIO read and of a PIO write: the new channel finishes each. */
static void test_save_load(void **state)
{
	struct rig *r = rig_new(1 * MiB, true), *g, *empty;
	uint8_t buf[512], w[512];
	struct state_out out;
	char err[160] = "";

	(void)state;
	/* Three sectors from 5: one and a half are read before the save. */
	lba28(r, 0, 5, 3);
	command(r, ATA_CMD_READ_SECTORS);
	read_data(r, buf, 512);
	check_pattern(buf, 5 * 512ull, 512);
	read_data(r, buf, 256);
	check_pattern(buf, 6 * 512ull, 256);
	state_out_init(&out);
	assert_int_equal(ide_channel_save(r->ch, &out), 0);
	g = rig_sharing(r);
	assert_int_equal(load_into(g, out.buf, out.len, err, sizeof(err)), 0);
	/* The interrupt of sector 6 is still pending: the line is driven high again. */
	assert_int_equal(fake_irq_level(&g->irq), 1);
	assert_true(status(g) & IDE_STATUS_DRQ);
	read_data(g, buf, 256);
	check_pattern(buf, 6 * 512ull + 256, 256);
	assert_true(status(g) & IDE_STATUS_DRQ); /* the saved continuation read sector 7 */
	read_data(g, buf, 512);
	check_pattern(buf, 7 * 512ull, 512);
	assert_int_equal(status(g), IDE_STATUS_DRDY | IDE_STATUS_DSC);
	state_out_fini(&out);

	/* A write of two sectors at 200, saved after one and a quarter. */
	for (unsigned i = 0; i < 512; i++)
		w[i] = (uint8_t)(i * 3 + 1);
	lba28(g, 0, 200, 2);
	command(g, ATA_CMD_WRITE_SECTORS);
	write_data(g, w, 512);
	write_data(g, w, 128);
	state_out_init(&out);
	assert_int_equal(ide_channel_save(g->ch, &out), 0);
	rig_free_shared(g);
	g = rig_sharing(r);
	assert_int_equal(load_into(g, out.buf, out.len, err, sizeof(err)), 0);
	write_data(g, w + 128, 384);
	assert_int_equal(status(g), IDE_STATUS_DRDY | IDE_STATUS_DSC);
	assert_int_equal(disk_read(r->disk, 200 * 512, buf, 512), 0);
	assert_memory_equal(buf, w, 512);
	assert_int_equal(disk_read(r->disk, 201 * 512, buf, 512), 0);
	assert_memory_equal(buf, w, 512);

	/* Refused: every truncation, a device set that differs, a step that does not exist. */
	for (size_t n = 0; n < out.len; n++)
		assert_int_equal(load_into(g, out.buf, n, err, sizeof(err)), -EBADMSG);
	empty = rig_new(0, false);
	assert_int_equal(load_into(empty, out.buf, out.len, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "device"));
	rig_free(empty);
	out.buf[16 + 10] = 99; /* the step number */
	assert_int_equal(load_into(g, out.buf, out.len, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "step"));
	out.buf[16 + 10] = 0;
	out.buf[16 + 0] = 0xff; /* pos beyond len */
	out.buf[16 + 1] = 0xff;
	assert_int_equal(load_into(g, out.buf, out.len, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "buffer"));
	state_out_fini(&out);
	rig_free_shared(g);
	rig_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identify),
		cmocka_unit_test(test_signature_and_absent_slave),
		cmocka_unit_test(test_pio_read_write),
		cmocka_unit_test(test_bad_commands),
		cmocka_unit_test(test_lba48),
		cmocka_unit_test(test_dma_read_write),
		cmocka_unit_test(test_prd_faults),
		cmocka_unit_test(test_atapi),
		cmocka_unit_test(test_atapi_toc_events),
		cmocka_unit_test(test_save_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

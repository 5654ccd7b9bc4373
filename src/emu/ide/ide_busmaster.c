/*
 * The PIIX4 bus-master IDE function of one channel (Intel 82371AB datasheet
 * 2.7.3 registers, 3.3 PRD tables): the command, status and PRD pointer
 * registers, and the walk that moves a device's transfer buffer to or from
 * the guest RAM the PRD entries name.
 *
 * The walk is bounded by construction: entries are read one after the
 * other from the table's start up to its 64 KiB boundary (at most 8192
 * entries), each entry copied out of guest memory once before use, and a
 * transfer is at most 65536 sectors. An entry outside RAM, a table with no
 * end-of-table entry before its boundary, a table shorter than the
 * transfer, or a direction that does not match the command stops the run
 * with the ERROR bit and aborts the command: the guest gets an error and an
 * interrupt, never a hang. Runs synchronously on the vCPU thread that
 * started the bus master or issued the command (whichever came last).
 */
#include <endian.h>
#include <string.h>

#include "emu/ide/ide_internal.h"
#include "vid/guest_memory.h"

static bool bm_fail(struct ide_channel *ch, const char *why)
{
	guest_error_report(&ch->errlog, "bus-master DMA stopped: %s", why);
	ch->stats.dma_errors++;
	ch->bm_status = (uint8_t)((ch->bm_status & ~IDE_BM_ST_ACTIVE) | IDE_BM_ST_ERROR);
	return false;
}

static bool next_prd(struct ide_channel *ch)
{
	struct ide_prd prd;
	uint32_t count;

	if (ch->prd_eot)
		return bm_fail(ch, "PRD table shorter than the transfer");
	if (ch->prd_next + sizeof(prd) > ch->prd_end)
		return bm_fail(
			ch, "PRD table reaches its 64 KiB boundary without an end-of-table entry");
	if (guest_memory_read(ch->mem, ch->prd_next, &prd, sizeof(prd)) < 0)
		return bm_fail(ch, "PRD table outside guest RAM");
	ch->prd_next += sizeof(prd);
	count = le32toh(prd.count_eot) & IDE_PRD_COUNT_MASK;
	ch->prd_addr = le32toh(prd.addr) & ~1u;
	ch->prd_left = count ? count : 0x10000; /* 0 is 64 KiB (PIIX4 3.3) */
	ch->prd_eot = le32toh(prd.count_eot) & IDE_PRD_EOT;
	return true;
}

/* Moves buf[pos..len) through the PRD entries. */
static bool move_buffer(struct ide_channel *ch)
{
	while (ch->pos < ch->len) {
		uint32_t n;
		int r;

		if (ch->prd_left == 0 && !next_prd(ch))
			return false;
		n = ch->len - ch->pos < ch->prd_left ? ch->len - ch->pos : ch->prd_left;
		if (ch->to_host)
			r = guest_memory_write(ch->mem, ch->prd_addr, ch->buf + ch->pos, n);
		else
			r = guest_memory_read(ch->mem, ch->prd_addr, ch->buf + ch->pos, n);
		if (r < 0)
			return bm_fail(ch, "PRD entry points outside guest RAM");
		ch->pos += n;
		ch->prd_addr += n;
		ch->prd_left -= n;
	}
	return true;
}

void ide_bm_run(struct ide_channel *ch)
{
	if (ch->bm_running || !ch->mem || !(ch->bm_cmd & IDE_BM_CMD_START) ||
	    !(ch->bm_status & IDE_BM_ST_ACTIVE) || !ch->dma)
		return;
	ch->bm_running = true;
	ch->stats.dma_transfers++;
	while (ch->dma) {
		ide_xfer_done_fn done;

		if (!!(ch->bm_cmd & IDE_BM_CMD_TO_MEMORY) != ch->to_host) {
			bm_fail(ch, "direction bit does not match the command");
			goto fail;
		}
		if (!move_buffer(ch))
			goto fail;
		done = ch->done;
		ch->done = NULL;
		ch->dma = false;
		ch->status &= (uint8_t)~IDE_STATUS_DRQ;
		if (done)
			done(ch); /* the next chunk (dma set again) or the end of the command */
		else
			ide_command_done(ch, 0);
	}
	/* PIIX4 table 2-9: ACTIVE clears when the table is used up; it stays set if it was longer.
	 */
	if (ch->prd_eot && ch->prd_left == 0)
		ch->bm_status &= (uint8_t)~IDE_BM_ST_ACTIVE;
	ch->bm_running = false;
	return;
fail:
	ch->bm_running = false;
	ide_command_done(ch, IDE_ERROR_ABRT);
}

static uint8_t bm_reg_read(struct ide_channel *ch, unsigned offset)
{
	switch (offset) {
	case IDE_BM_COMMAND: return ch->bm_cmd;
	case IDE_BM_STATUS: return ch->bm_status;
	case IDE_BM_PRD:
	case IDE_BM_PRD + 1:
	case IDE_BM_PRD + 2:
	case IDE_BM_PRD + 3: return (uint8_t)(ch->bm_prd >> (8 * (offset - IDE_BM_PRD)));
	}
	return 0;
}

static void bm_command_write(struct ide_channel *ch, uint8_t v)
{
	bool was = ch->bm_cmd & IDE_BM_CMD_START;

	ch->bm_cmd = v & (IDE_BM_CMD_START | IDE_BM_CMD_TO_MEMORY);
	if (!was && (v & IDE_BM_CMD_START)) {
		ch->bm_status |= IDE_BM_ST_ACTIVE;
		ch->prd_next = ch->bm_prd;
		ch->prd_end =
			(ch->bm_prd & ~(uint64_t)(IDE_PRD_TABLE_SPAN - 1)) + IDE_PRD_TABLE_SPAN;
		ch->prd_left = 0;
		ch->prd_eot = false;
		ide_bm_run(ch);
	} else if (was && !(v & IDE_BM_CMD_START)) {
		/* Stop: a transfer still waiting for the bus master stays pending, as on the PIIX.
		 */
		ch->bm_status &= (uint8_t)~IDE_BM_ST_ACTIVE;
	}
}

static void bm_reg_write(struct ide_channel *ch, unsigned offset, uint8_t v)
{
	switch (offset) {
	case IDE_BM_COMMAND: bm_command_write(ch, v); break;
	case IDE_BM_STATUS:
		/* Bits 1 and 2 are write-one-to-clear, 5 and 6 plain, 0 read-only. */
		ch->bm_status = (uint8_t)((ch->bm_status & ~(v & 0x06) & ~IDE_BM_ST_DMA_CAP) |
					  (v & IDE_BM_ST_DMA_CAP));
		break;
	case IDE_BM_PRD:
	case IDE_BM_PRD + 1:
	case IDE_BM_PRD + 2:
	case IDE_BM_PRD + 3: {
		unsigned shift = 8 * (offset - IDE_BM_PRD);

		ch->bm_prd = (ch->bm_prd & ~(0xFFu << shift)) | (uint32_t)v << shift;
		ch->bm_prd &= ~3u; /* dword aligned */
		break;
	}
	}
}

uint64_t ide_bm_read(struct ide_channel *ch, unsigned offset, unsigned size)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < size && offset + i < IDE_BM_CHANNEL_LEN; i++)
		v |= (uint64_t)bm_reg_read(ch, offset + i) << (8 * i);
	return v;
}

void ide_bm_write(struct ide_channel *ch, unsigned offset, uint64_t value, unsigned size)
{
	/* Highest byte first: a dword write at 0 sets status before command starts the engine. */
	for (unsigned i = size; i-- > 0;)
		if (offset + i < IDE_BM_CHANNEL_LEN)
			bm_reg_write(ch, offset + i, (uint8_t)(value >> (8 * i)));
}

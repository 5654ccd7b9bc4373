/*
 * Saved state of an IDE channel (docs/saved-state.md, section "ide.piix4").
 * Disk I/O is synchronous on the vCPU thread (ide_ata.c), so a paused VM
 * has no request in flight: what a channel holds between two register
 * accesses is its taskfile, the transfer buffer and where the transfer is
 * in it, the continuation that runs when the buffer has moved (saved as
 * the number of its step, ide_internal.h), the bus master's registers and
 * its PRD walk, and each device's guest-set state. The devices themselves
 * (kind, media, size) come from the configuration and must match.
 *
 * Encoding, version 1 (little endian):
 *   taskfile: feature nsect lbal lbam lbah, the HOB bytes, device devctl
 *     status error (u8 each); irq_pending, irq_asserted (u8)
 *   transfer: pos len (u32), to_host dma (u8), step (u8, 0: none), lba (u64),
 *     remaining (u32), cur (u8: 0, 1, 0xff none), atapi_limit (u32),
 *     buf_end (u32), packet_phase (u8), the buffer's first max(len, buf_end)
 *     bytes
 *   bus master: cmd status (u8), prd (u32), prd_next prd_end prd_addr (u64),
 *     prd_left (u32), prd_eot (u8)
 *   per device (2): kind (u8), xfer_mode write_cache sense_key asc
 *     unit_attention locked media_event tray_open (u8)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu/ide/ide_internal.h"
#include "state/state.h"

#define NO_DRIVE 0xffu

static uint8_t step_id(ide_xfer_done_fn fn)
{
	const struct ide_step *tables[] = {ide_ata_steps, ide_atapi_steps};

	for (unsigned t = 0; fn && t < ARRAY_SIZE(tables); t++)
		for (const struct ide_step *s = tables[t]; s->fn; s++)
			if (s->fn == fn)
				return s->id;
	return 0;
}

/* The step of a number, for a device of kind; false if there is none such. */
static bool step_fn(uint8_t id, enum ide_kind kind, ide_xfer_done_fn *ret)
{
	const struct ide_step *s = kind == IDE_ATAPI ? ide_atapi_steps : ide_ata_steps;

	*ret = NULL;
	if (id == 0)
		return true;
	for (; s->fn; s++)
		if (s->id == id) {
			*ret = s->fn;
			return true;
		}
	return false;
}

static void save_drive(const struct ide_drive *d, struct state_out *out)
{
	const uint8_t b[] = {(uint8_t)d->kind,	d->xfer_mode, d->write_cache, d->sense_key, d->asc,
			     d->unit_attention, d->locked,    d->media_event, d->tray_open};

	state_out_bytes(out, b, sizeof(b));
}

int ide_channel_save(struct ide_channel *ch, struct state_out *out)
{
	uint8_t tf[16];
	uint32_t fill;
	int r = 0;

	pthread_mutex_lock(&ch->lock);
	tf[0] = ch->feature;
	tf[1] = ch->nsect;
	tf[2] = ch->lbal;
	tf[3] = ch->lbam;
	tf[4] = ch->lbah;
	tf[5] = ch->hob_feature;
	tf[6] = ch->hob_nsect;
	tf[7] = ch->hob_lbal;
	tf[8] = ch->hob_lbam;
	tf[9] = ch->hob_lbah;
	tf[10] = ch->device;
	tf[11] = ch->devctl;
	tf[12] = ch->status;
	tf[13] = ch->error;
	tf[14] = ch->irq_pending;
	tf[15] = ch->irq_asserted;
	if (ch->bm_running || (ch->done && !step_id(ch->done)))
		r = -EBUSY; /* never with the vCPUs paused: every access ends with the lock */
	fill = ch->len > ch->buf_end ? ch->len : ch->buf_end;
	state_out_bytes(out, tf, sizeof(tf));
	state_out_u32(out, ch->pos);
	state_out_u32(out, ch->len);
	state_out_u8(out, ch->to_host);
	state_out_u8(out, ch->dma);
	state_out_u8(out, step_id(ch->done));
	state_out_u64(out, ch->lba);
	state_out_u32(out, ch->remaining);
	state_out_u8(out, ch->cur ? (uint8_t)(ch->cur - ch->drive) : NO_DRIVE);
	state_out_u32(out, ch->atapi_limit);
	state_out_u32(out, ch->buf_end);
	state_out_u8(out, ch->packet_phase);
	state_out_bytes(out, ch->buf, fill);
	state_out_u8(out, ch->bm_cmd);
	state_out_u8(out, ch->bm_status);
	state_out_u32(out, ch->bm_prd);
	state_out_u64(out, ch->prd_next);
	state_out_u64(out, ch->prd_end);
	state_out_u64(out, ch->prd_addr);
	state_out_u32(out, ch->prd_left);
	state_out_u8(out, ch->prd_eot);
	save_drive(&ch->drive[0], out);
	save_drive(&ch->drive[1], out);
	pthread_mutex_unlock(&ch->lock);
	return r < 0 ? r : out->error;
}

static bool flag(uint8_t v)
{
	return v <= 1;
}

/* Decodes a device's saved state into d (whose kind the configuration set); NULL or why not. */
static const char *load_drive(struct state_in *in, struct ide_drive *d)
{
	uint8_t b[9];

	state_in_bytes(in, b, sizeof(b));
	if (in->error)
		return "too short";
	if (b[0] != (uint8_t)d->kind)
		return "a device differs from this VM's (disk, CD-ROM or none)";
	for (unsigned i = 2; i < sizeof(b); i++)
		if (i != 3 && i != 4 && !flag(b[i]))
			return "a device's flag is not 0 or 1";
	d->xfer_mode = b[1];
	d->write_cache = b[2];
	d->sense_key = b[3];
	d->asc = b[4];
	d->unit_attention = b[5];
	d->locked = b[6];
	d->media_event = b[7];
	d->tray_open = b[8];
	return NULL;
}

int ide_channel_load(struct ide_channel *ch, uint32_t version, struct state_in *in, char *errbuf,
		     size_t errlen)
{
	struct ide_channel *np = malloc(sizeof(*np)); /* 128 KiB of buffer: not on the stack */
	uint8_t tf[16], step, cur;
	uint32_t fill;
	const char *bad = NULL;

	if (!np)
		return -ENOMEM;
#define n (*np)
	pthread_mutex_lock(&ch->lock);
	/* Decoded into a copy: the channel changes only if all of it is good. */
	memcpy(n.drive, ch->drive, sizeof(n.drive));
	state_in_bytes(in, tf, sizeof(tf));
	n.pos = state_in_u32(in);
	n.len = state_in_u32(in);
	n.to_host = state_in_u8(in);
	n.dma = state_in_u8(in);
	step = state_in_u8(in);
	n.lba = state_in_u64(in);
	n.remaining = state_in_u32(in);
	cur = state_in_u8(in);
	n.atapi_limit = (uint16_t)state_in_u32(in);
	n.buf_end = state_in_u32(in);
	n.packet_phase = state_in_u8(in);
	fill = n.len > n.buf_end ? n.len : n.buf_end;
	if (version != 1)
		bad = "unknown version";
	else if (in->error)
		bad = "too short";
	else if (n.len > IDE_BUF_SIZE || n.buf_end > IDE_BUF_SIZE || n.pos > n.len)
		bad = "the transfer lies outside the buffer";
	else if (cur != NO_DRIVE && cur > 1)
		bad = "the device running the command is neither 0 nor 1";
	else if (cur != NO_DRIVE && ch->drive[cur].kind == IDE_NONE)
		bad = "the device running the command is not there";
	else if (!flag(n.to_host) || !flag(n.dma) || !flag(n.packet_phase) || !flag(tf[14]) ||
		 !flag(tf[15]))
		bad = "a flag is not 0 or 1";
	else if (!step_fn(step, cur == NO_DRIVE ? IDE_NONE : ch->drive[cur].kind, &n.done) ||
		 (step && cur == NO_DRIVE))
		bad = "the transfer's next step is not one this device has";
	if (!bad) {
		state_in_bytes(in, n.buf, fill);
		n.bm_cmd = state_in_u8(in);
		n.bm_status = state_in_u8(in);
		n.bm_prd = state_in_u32(in);
		n.prd_next = state_in_u64(in);
		n.prd_end = state_in_u64(in);
		n.prd_addr = state_in_u64(in);
		n.prd_left = state_in_u32(in);
		n.prd_eot = state_in_u8(in);
		if (in->error)
			bad = "too short";
		else if (!flag(n.prd_eot))
			bad = "a flag is not 0 or 1";
	}
	if (!bad)
		bad = load_drive(in, &n.drive[0]);
	if (!bad)
		bad = load_drive(in, &n.drive[1]);
	if (bad) {
		pthread_mutex_unlock(&ch->lock);
		free(np);
		snprintf(errbuf, errlen, "IDE channel %s: %s", ch->name, bad);
		return -EBADMSG;
	}
	ch->feature = tf[0];
	ch->nsect = tf[1];
	ch->lbal = tf[2];
	ch->lbam = tf[3];
	ch->lbah = tf[4];
	ch->hob_feature = tf[5];
	ch->hob_nsect = tf[6];
	ch->hob_lbal = tf[7];
	ch->hob_lbam = tf[8];
	ch->hob_lbah = tf[9];
	ch->device = tf[10];
	ch->devctl = tf[11];
	ch->status = tf[12];
	ch->error = tf[13];
	ch->irq_pending = tf[14];
	ch->pos = n.pos;
	ch->len = n.len;
	ch->to_host = n.to_host;
	ch->dma = n.dma;
	ch->done = n.done;
	ch->lba = n.lba;
	ch->remaining = n.remaining;
	ch->cur = cur == NO_DRIVE ? NULL : &ch->drive[cur];
	ch->atapi_limit = n.atapi_limit;
	ch->buf_end = n.buf_end;
	ch->packet_phase = n.packet_phase;
	memcpy(ch->buf, n.buf, fill);
	ch->bm_cmd = n.bm_cmd;
	ch->bm_status = n.bm_status;
	ch->bm_prd = n.bm_prd;
	ch->prd_next = n.prd_next;
	ch->prd_end = n.prd_end;
	ch->prd_addr = n.prd_addr;
	ch->prd_left = n.prd_left;
	ch->prd_eot = n.prd_eot;
	memcpy(ch->drive, n.drive, sizeof(ch->drive));
	/*
	 * A new partition's lines start low: drive INTRQ to what the registers say
	 * (docs/saved-state.md, "Interrupt lines after a restore"). A guest-chosen
	 * lba or PRD address is checked when it is used, as for a live guest.
	 */
	ch->irq_asserted = false;
	ide_channel_update_irq(ch);
	pthread_mutex_unlock(&ch->lock);
#undef n
	free(np);
	return 0;
}

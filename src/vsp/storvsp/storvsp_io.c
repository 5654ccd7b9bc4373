/*
 * EXECUTE_SRB (storvsp_internal.h), on the loop of the channel it came in
 * on: parsed, submitted to the channel's disk queue for the LUN, reaped
 * from that queue's io_uring (its eventfd is in the loop; the loop's spin
 * reaps it too, without a system call) and answered, all on one thread.
 *
 * Bounds, so that the guest's behaviour never sizes host memory: the
 * requests come from a pool of max_requests allocated when the channel
 * opens, and the room for each answer is reserved in the outgoing ring
 * before the request is taken. Without a free request or that room the
 * packet is answered BUSY and stays in the ring; the release of a request
 * wakes the channel to offer it again. A submission that finds a disk
 * queue full waits on the channel's list (loop-local) until a completion
 * of that channel frees room.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vsp/storvsp/storvsp_internal.h"

#define VSTOR_STATUS_IO_DEVICE_ERROR 0xC0000185u
/* Requests handed to the kernel at once at most, even while the ring still has more. */
#define COMMIT_BATCH 32

size_t storvsp_request_size(void)
{
	return sizeof(struct sp_request);
}

static void disk_put(struct storvsp *sp, struct sp_disk *d)
{
	if (atomic_fetch_sub(&d->inflight, 1) == 1 && atomic_load(&d->removed)) {
		pthread_mutex_lock(&sp->lock);
		pthread_cond_broadcast(&sp->idle);
		pthread_mutex_unlock(&sp->lock);
	}
}

void sp_io_wait_idle(struct storvsp *sp, struct sp_disk *d)
{
	atomic_store(&d->removed, true);
	pthread_mutex_lock(&sp->lock);
	while (atomic_load(&d->inflight))
		pthread_cond_wait(&sp->idle, &sp->lock);
	pthread_mutex_unlock(&sp->lock);
}

static struct sp_request *req_get(struct sp_channel *c)
{
	struct sp_request *r = c->free_list;

	if (!r)
		return NULL;
	c->free_list = r->next;
	memset(r, 0, offsetof(struct sp_request, dreq));
	r->chan = c;
	if (++c->inflight > atomic_load(&c->inflight_max))
		atomic_store(&c->inflight_max, c->inflight);
	return r;
}

static void req_release(struct sp_request *r)
{
	struct sp_channel *c = r->chan;

	if (r->disk)
		disk_put(c->sp, r->disk);
	r->next = c->free_list;
	c->free_list = r;
	c->inflight--;
	if (c->refused && !c->closing) {
		/* A packet waits in the ring for this request: offer it again. */
		c->refused = false;
		vmbus_channel_wake(c->ch);
	}
}

/* The SRB status Linux expects for a SCSI result (storvsc_handle_error,
 * storvsc_command_completion). */
static uint8_t srb_status_of(const struct scsi_cmd *cmd)
{
	if (cmd->status == SCSI_STATUS_GOOD)
		return cmd->overrun ? SRB_STATUS_DATA_OVERRUN : SRB_STATUS_SUCCESS;
	if (!cmd->sense_len)
		return SRB_STATUS_ERROR;
	if ((cmd->sense[SCSI_SENSE_OFF_KEY] & 0xf) == SCSI_SENSE_ILLEGAL_REQUEST)
		return SRB_STATUS_INVALID_REQUEST | SRB_STATUS_AUTOSENSE_VALID;
	return SRB_STATUS_ERROR | SRB_STATUS_AUTOSENSE_VALID;
}

/* Sends the completion into the room reserved for it. */
static void complete(struct sp_request *r)
{
	struct sp_channel *c = r->chan;
	struct vstor_packet reply = {0};
	uint8_t sense_room;
	int e;

	if (c->closing) {
		/* The guest closed the channel: nobody reads this ring any more. */
		atomic_fetch_add(&c->aborted, 1);
		req_release(r);
		return;
	}
	reply.operation = VSTOR_OPERATION_COMPLETE_IO;
	reply.srb = r->srb;
	reply.srb.srb_status = 0;
	memset(reply.srb.cdb_or_sense, 0, sizeof(reply.srb.cdb_or_sense));
	if (r->srb.srb_status) {
		/* Decided before any SCSI processing (bad buffer, absent LUN). */
		reply.srb.srb_status = r->srb.srb_status;
		reply.srb.scsi_status = r->srb.scsi_status;
		reply.srb.data_transfer_length = 0;
		reply.srb.sense_info_length = 0;
		reply.status = VSTOR_STATUS_INVALID_PARAMETER;
	} else {
		reply.srb.srb_status = srb_status_of(&r->cmd);
		reply.srb.scsi_status = r->cmd.status;
		reply.srb.data_transfer_length = (uint32_t)r->cmd.transferred;
		sense_room = MIN(r->srb.sense_info_length, (uint8_t)VSTOR_SENSE_LEN);
		if (r->cmd.status == SCSI_STATUS_CHECK_CONDITION && r->cmd.sense_len) {
			reply.srb.sense_info_length = (uint8_t)MIN(sense_room, r->cmd.sense_len);
			memcpy(reply.srb.cdb_or_sense, r->cmd.sense, reply.srb.sense_info_length);
		} else {
			reply.srb.sense_info_length = 0;
		}
		if (r->cmd.status != SCSI_STATUS_GOOD)
			reply.status = VSTOR_STATUS_IO_DEVICE_ERROR;
	}
	e = vmbus_channel_send_reserved(c->ch, VMBUS_PKT_COMP, 0, r->trans_id, &reply,
					r->reply_len);
	atomic_fetch_add(e == 0 ? &c->completions : &c->aborted, 1);
	req_release(r);
}

static void submit_stage(struct sp_request *r);

static void stage_done(struct sp_request *r)
{
	int e = r->error;

	if (e == 0 && r->cmd.flush_after && !r->flushing && !r->chan->closing) {
		/* FUA: the write is done, now make it durable. */
		r->flushing = true;
		submit_stage(r);
		return;
	}
	scsi_cmd_finish(r->disk->sl, &r->cmd, e);
	complete(r);
}

static void on_disk_done(struct disk_request *dr, int result)
{
	struct sp_request *r = dr->opaque;

	if (result < 0 && !r->error)
		r->error = result;
	if (--r->remaining == 0)
		stage_done(r);
}

/* The iovecs of the command's buffer, cut to len bytes. */
static unsigned trim_iov(struct sp_request *r, uint64_t len)
{
	uint64_t done = 0;
	unsigned i;

	for (i = 0; i < r->iovcnt && done < len; i++) {
		if (r->iov[i].iov_len > len - done)
			r->iov[i].iov_len = (size_t)(len - done);
		done += r->iov[i].iov_len;
	}
	return i;
}

/* Hot remove: queues of LUNs other threads asked to drop (their requests drained). */
static void apply_drops(struct sp_channel *c)
{
	uint64_t drop = atomic_exchange(&c->drop_luns, 0) & c->active;
	unsigned lun;

	for (lun = 0; drop; lun++, drop >>= 1) {
		if (!(drop & 1))
			continue;
		vmbus_channel_remove_fd(c->ch, c->queues[lun].fd_handle);
		c->queues[lun].q = disk_queue_free(c->queues[lun].q);
		c->active &= ~(UINT64_C(1) << lun);
		c->dirty &= ~(UINT64_C(1) << lun);
	}
}

static void after_reap(struct sp_channel *c);

static void on_queue_ready(void *opaque, struct vmbus_channel *ch)
{
	struct sp_queue *sq = opaque;

	/* Edge-triggered (vmbus_channel_add_event_fd): reap takes every CQE there is. */
	if (sq->q && disk_queue_reap(sq->q))
		after_reap(sq->chan);
}

static struct disk_queue *queue_for(struct sp_channel *c, unsigned lun, struct sp_disk *d)
{
	struct sp_queue *sq = &c->queues[lun];
	int h;

	if (atomic_load(&c->drop_luns))
		apply_drops(c);
	if (sq->q)
		return sq->q;
	if (disk_queue_new(d->disk, c->sp->cfg.queue_depth, &sq->q) < 0)
		return NULL;
	sq->chan = c;
	h = vmbus_channel_add_event_fd(c->ch, disk_queue_fd(sq->q), on_queue_ready, sq);
	if (h < 0) {
		sq->q = disk_queue_free(sq->q);
		return NULL;
	}
	sq->fd_handle = h;
	c->active |= UINT64_C(1) << lun;
	return sq->q;
}

/* Submits what is left of the current stage; a full queue parks the request. */
static void submit_stage(struct sp_request *r)
{
	struct sp_channel *c = r->chan;
	struct disk_queue *q = queue_for(c, r->lun, r->disk);

	if (r->flushing && r->ops != &r->flush_op) {
		r->flush_op = (struct scsi_disk_op){.op = DISK_OP_FLUSH};
		r->ops = &r->flush_op;
		r->nops = 1;
		r->next_op = 0;
		r->remaining = 2;
	}
	while (r->next_op < r->nops) {
		const struct scsi_disk_op *o = &r->ops[r->next_op];
		struct disk_request *dr = &r->dreq[r->next_op];
		int e;

		*dr = (struct disk_request){
			.op = o->op,
			.offset = o->offset,
			.len = o->len,
			.complete = on_disk_done,
			.opaque = r,
		};
		if (o->op == DISK_OP_READ || o->op == DISK_OP_WRITE) {
			dr->iov = r->iov;
			dr->iovcnt = trim_iov(r, o->len);
		}
		e = q ? disk_queue_submit(q, dr) : -EIO;
		if (e == -EAGAIN) {
			/* Parked: a completion of this channel frees room (after_reap). */
			atomic_fetch_add(&c->queue_full, 1);
			r->next = NULL;
			if (c->waiting_tail)
				c->waiting_tail->next = r;
			else
				c->waiting = r;
			c->waiting_tail = r;
			return;
		}
		r->next_op++;
		if (e < 0) {
			if (!r->error)
				r->error = e;
			r->remaining--;
			continue;
		}
		c->dirty |= UINT64_C(1) << r->lun;
		/* A ring the guest keeps full must not hold a whole queue back. */
		if (++c->uncommitted >= COMMIT_BATCH)
			sp_io_commit(c);
	}
	/* Drop the submission's own hold: the last completion (or this) finishes the stage. */
	if (--r->remaining == 0)
		stage_done(r);
}

/* Parked requests, in order, while their queues have room. */
static void retry_waiting(struct sp_channel *c)
{
	struct sp_request *list = c->waiting, *r;

	c->waiting = c->waiting_tail = NULL;
	while ((r = list)) {
		list = r->next;
		submit_stage(r); /* parks it again (at the tail) if still full */
	}
}

static void after_reap(struct sp_channel *c)
{
	if (c->waiting)
		retry_waiting(c);
	sp_io_commit(c);
}

void sp_io_commit(struct sp_channel *c)
{
	uint64_t dirty = c->dirty;
	unsigned lun;

	c->dirty = 0;
	c->uncommitted = 0;
	for (lun = 0; dirty; lun++, dirty >>= 1)
		if ((dirty & 1) && c->queues[lun].q)
			disk_queue_commit(c->queues[lun].q);
}

bool sp_io_poll(struct sp_channel *c)
{
	uint64_t active = c->active;
	unsigned lun, n = 0;

	for (lun = 0; active; lun++, active >>= 1)
		if ((active & 1) && disk_queue_in_flight(c->queues[lun].q))
			n += disk_queue_reap(c->queues[lun].q);
	if (n)
		after_reap(c);
	return n != 0;
}

void sp_io_wake(struct sp_channel *c)
{
	if (atomic_load(&c->drop_luns))
		apply_drops(c);
	after_reap(c);
}

/* Copies the LUN list of target 0 for REPORT LUNS. */
static unsigned lun_list(struct storvsp *sp, uint16_t *luns)
{
	unsigned i, n = 0;

	for (i = 0; i < STORVSP_MAX_LUNS; i++)
		if (sp->luns[i])
			luns[n++] = (uint16_t)i;
	return n;
}

/*
 * Both bounds before anything is taken: a request from the pool, and room for its answer in
 * the outgoing ring. 0, or VMBUS_PACKET_BUSY (the packet stays in the ring).
 */
static int io_admit(struct sp_channel *c, size_t reply_len)
{
	if (!c->free_list) {
		atomic_fetch_add(&c->busy, 1);
		c->refused = true;
		return VMBUS_PACKET_BUSY;
	}
	if (vmbus_channel_reserve(c->ch, reply_len) < 0) {
		/* The channel wakes the loop once the guest frees room. */
		atomic_fetch_add(&c->ring_full, 1);
		return VMBUS_PACKET_BUSY;
	}
	return 0;
}

/*
 * The request's disk (with an in-flight reference) if the SRB addresses one of ours, and
 * the LUN list when the command is REPORT LUNS. SCSI: LUNs on path 0, target 0; an IDE disk
 * is target unit (storvsc_probe's target). Returns whether the SRB addresses this target.
 */
static bool io_resolve_lun(struct storvsp *sp, struct sp_request *r, uint16_t *luns,
			   unsigned *nluns)
{
	const struct vmscsi_request *srb = &r->srb;
	bool here = srb->path_id == 0 && srb->target_id == (sp->cfg.ide ? sp->cfg.ide_unit : 0);

	pthread_rwlock_rdlock(&sp->lun_lock);
	if (here) {
		/* Only REPORT LUNS needs the list. */
		if (srb->cdb_length && srb->cdb_or_sense[0] == SCSI_REPORT_LUNS)
			*nluns = lun_list(sp, luns);
		if (srb->lun < STORVSP_MAX_LUNS && sp->luns[srb->lun]) {
			r->disk = sp->luns[srb->lun];
			atomic_fetch_add(&r->disk->inflight, 1);
		}
	}
	pthread_rwlock_unlock(&sp->lun_lock);
	return here;
}

/* The CDB and the data buffer (guest pages as iovecs) into r->cmd. 0, or -EINVAL (reported). */
static int io_map_command(struct storvsp *sp, struct sp_request *r, const struct storvsp_parsed *p)
{
	const struct vmscsi_request *srb = &r->srb;
	int e;

	memcpy(r->cmd.cdb, srb->cdb_or_sense, sizeof(r->cmd.cdb));
	r->cmd.cdb_len = srb->cdb_length;
	if (srb->cdb_length > VSTOR_MAX_CDB_LEN) {
		guest_error_report(&sp->errlog, "SRB with a %u-byte CDB", srb->cdb_length);
		return -EINVAL;
	}
	if (p->has_range && srb->data_transfer_length) {
		e = storvsp_range_iov(sp->cfg.mem, p, srb->data_transfer_length, r->iov,
				      STORVSP_MAX_PFNS, &r->iovcnt);
		if (e < 0) {
			guest_error_report(
				&sp->errlog,
				"SRB buffer of %u bytes in a range of %u at offset %u: %s",
				srb->data_transfer_length, p->byte_count, p->byte_offset,
				strerror(-e));
			return -EINVAL;
		}
		r->cmd.buf_len = srb->data_transfer_length;
	}
	r->cmd.iov = r->iov;
	r->cmd.iovcnt = r->iovcnt;
	r->cmd.data_out = srb->data_in == VSTOR_WRITE_TYPE && r->cmd.buf_len;
	return 0;
}

/* A command for a LUN that is not there: answered at once. */
static void io_execute_absent(struct sp_request *r, const uint16_t *luns, unsigned nluns)
{
	uint8_t op = r->cmd.cdb_len ? r->cmd.cdb[0] : 0xff;

	if (op == SCSI_INQUIRY || op == SCSI_REPORT_LUNS) {
		/* "No logical unit here" and the LUN list: how the guest's scan ends. */
		scsi_absent_execute(&r->cmd, luns, nluns);
	} else {
		/* No such LUN: Linux drops the device (storvsc_handle_error). */
		r->srb.srb_status = SRB_STATUS_INVALID_LUN;
		r->srb.scsi_status = SCSI_STATUS_CHECK_CONDITION;
	}
	complete(r);
}

int sp_io_execute(struct sp_channel *c, const struct storvsp_parsed *p, uint64_t trans_id)
{
	struct storvsp *sp = c->sp;
	const struct vmscsi_request *srb = &p->pkt.srb;
	size_t reply_len = p->pkt_len >= VSTOR_PACKET_HEADER_LEN + VMSCSI_REQUEST_LEN_PRE_WIN8
				   ? p->pkt_len
				   : sizeof(struct vstor_packet);
	uint16_t luns[STORVSP_MAX_LUNS];
	unsigned nluns = 0;
	struct sp_request *r;
	bool here;

	if (io_admit(c, reply_len))
		return VMBUS_PACKET_BUSY;
	atomic_fetch_add(&c->requests, 1);
	r = req_get(c);
	r->trans_id = trans_id;
	r->reply_len = reply_len;
	r->srb = *srb;
	r->srb.srb_status = 0;
	r->srb.scsi_status = 0;
	r->lun = srb->lun;
	here = io_resolve_lun(sp, r, luns, &nluns);
	if (io_map_command(sp, r, p) < 0) {
		atomic_fetch_add(&c->bad_packets, 1);
		r->srb.srb_status = SRB_STATUS_INVALID_REQUEST;
		complete(r);
		return VMBUS_PACKET_DONE;
	}
	if (!r->disk) {
		io_execute_absent(r, luns, here ? nluns : 0);
		return VMBUS_PACKET_DONE;
	}
	if (scsi_lun_execute(r->disk->sl, &r->cmd, luns, nluns) == SCSI_CMD_DONE) {
		complete(r);
		return VMBUS_PACKET_DONE;
	}
	r->ops = r->cmd.ops;
	r->nops = r->cmd.nops;
	r->remaining = r->nops + 1;
	submit_stage(r);
	return VMBUS_PACKET_DONE;
}

int sp_io_channel_open(struct sp_channel *c)
{
	unsigned i, n = c->sp->cfg.max_requests;

	c->pool = calloc(n, sizeof(*c->pool));
	if (!c->pool)
		return -ENOMEM;
	c->free_list = NULL;
	for (i = n; i-- > 0;) {
		c->pool[i].next = c->free_list;
		c->free_list = &c->pool[i];
	}
	c->inflight = 0;
	c->refused = false;
	c->closing = false;
	c->waiting = c->waiting_tail = NULL;
	c->active = c->dirty = 0;
	c->uncommitted = 0;
	atomic_store(&c->drop_luns, 0);
	return 0;
}

void sp_io_channel_closed(struct sp_channel *c)
{
	struct sp_request *r;
	unsigned lun;

	c->closing = true;
	/* Every request at a disk completes (its callback runs here); none is answered. */
	for (lun = 0; lun < STORVSP_MAX_LUNS; lun++)
		c->queues[lun].q = disk_queue_free(c->queues[lun].q);
	c->active = c->dirty = 0;
	/* Parked ones have nothing at a disk any more: they end unanswered. */
	while ((r = c->waiting)) {
		c->waiting = r->next;
		atomic_fetch_add(&c->aborted, 1);
		req_release(r);
	}
	c->waiting_tail = NULL;
	if (c->inflight) {
		/* Cannot happen: every request is free, parked or at a queue. Leak, never free. */
		pv_log(LOG_ERR, "%s: channel %u closed with %u requests unaccounted for",
		       c->sp->name, c->index, c->inflight);
		c->pool = NULL;
	}
	free(c->pool);
	c->pool = NULL;
	c->free_list = NULL;
}

void sp_io_forget_lun(struct storvsp *sp, unsigned lun)
{
	unsigned i;

	/* Each channel's loop frees its own queue for the LUN (apply_drops). */
	pthread_mutex_lock(&sp->lock);
	for (i = 0; i < sp->nchans; i++) {
		atomic_fetch_or(&sp->chans[i]->drop_luns, UINT64_C(1) << lun);
		vmbus_channel_wake(sp->chans[i]->ch);
	}
	pthread_mutex_unlock(&sp->lock);
}

void sp_io_channel_free(struct sp_channel *c)
{
	unsigned lun;

	if (!c)
		return;
	for (lun = 0; lun < STORVSP_MAX_LUNS; lun++)
		disk_queue_free(c->queues[lun].q);
	free(c->pool);
	free(c);
}

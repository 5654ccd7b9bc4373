/*
 * EXECUTE_SRB (storvsp_internal.h): a request is parsed and submitted on
 * its channel's worker thread (the only thread that submits to that
 * channel's disk queues), completed on a disk queue's completion thread,
 * and answered on the channel it came in on. Whatever cannot go on at
 * once (a queue full, a FUA flush after its write, a completion that finds
 * the guest's ring full) waits on the channel's deferred list, which the
 * worker runs from its wake callback: never dropped, never blocking a
 * completion thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vsp/storvsp/storvsp_internal.h"

#define VSTOR_STATUS_IO_DEVICE_ERROR 0xC0000185u
/* Requests handed to the kernel at once at most, even while the ring still has more. */
#define COMMIT_BATCH 32

static struct sp_request *req_get(struct sp_channel *c)
{
	struct sp_request *r;

	pthread_mutex_lock(&c->lock);
	r = c->free_list;
	if (r)
		c->free_list = r->next;
	pthread_mutex_unlock(&c->lock);
	if (!r) {
		r = malloc(sizeof(*r));
		if (!r)
			return NULL;
	}
	memset(r, 0, offsetof(struct sp_request, dreq));
	r->chan = c;
	atomic_fetch_add(&c->inflight, 1);
	return r;
}

static void req_release(struct sp_request *r)
{
	struct sp_channel *c = r->chan;

	if (r->disk)
		atomic_fetch_sub(&r->disk->inflight, 1);
	pthread_mutex_lock(&c->lock);
	r->next = c->free_list;
	c->free_list = r;
	pthread_mutex_unlock(&c->lock);
	atomic_fetch_sub(&c->inflight, 1);
}

static void defer(struct sp_request *r, bool send)
{
	struct sp_channel *c = r->chan;

	r->send_pending = send;
	r->next = NULL;
	pthread_mutex_lock(&c->lock);
	if (c->deferred_tail)
		c->deferred_tail->next = r;
	else
		c->deferred = r;
	c->deferred_tail = r;
	pthread_mutex_unlock(&c->lock);
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

void sp_io_on_worker(struct sp_channel *c)
{
	if (!atomic_load(&c->worker_known)) {
		c->worker = pthread_self();
		atomic_store(&c->worker_known, true);
	}
}

static bool on_worker(struct sp_channel *c)
{
	return atomic_load(&c->worker_known) && pthread_equal(c->worker, pthread_self());
}

/* Sends the completion; on a full ring the request waits for room. */
static void complete(struct sp_request *r)
{
	struct sp_channel *c = r->chan;
	struct vstor_packet reply = {0};
	uint8_t sense_room;
	int e;

	if (atomic_load(&c->closing)) {
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
	e = vmbus_channel_send(c->ch, VMBUS_PKT_COMP, 0, r->trans_id, &reply, r->reply_len);
	if (e == -EAGAIN) {
		atomic_fetch_add(&c->ring_full, 1);
		defer(r, true);
		/*
		 * The worker retries it. On the worker itself, the channel calls
		 * the wake callback once the guest frees room (pending_send_sz);
		 * from another thread, the guest may have freed it already, before
		 * this request was on the list: wake the worker to look again.
		 */
		if (!on_worker(c))
			vmbus_channel_wake(c->ch);
		return;
	}
	if (e == 0)
		atomic_fetch_add(&c->completions, 1);
	req_release(r);
}

static void stage_done(struct sp_request *r)
{
	int e = atomic_load(&r->error);

	if (e == 0 && r->cmd.flush_after && !r->flushing) {
		/* FUA: the write is done, now make it durable (from the submitting thread). */
		r->flushing = true;
		if (atomic_load(&r->chan->closing)) {
			req_release(r);
			return;
		}
		defer(r, false);
		vmbus_channel_wake(r->chan->ch);
		return;
	}
	scsi_cmd_finish(r->disk->sl, &r->cmd, e);
	complete(r);
}

static void on_disk_done(struct disk_request *dr, int result)
{
	struct sp_request *r = dr->opaque;
	struct sp_channel *c = r->chan;
	int zero = 0;

	if (result < 0)
		atomic_compare_exchange_strong(&r->error, &zero, result);
	if (atomic_exchange(&c->want_wake, false))
		vmbus_channel_wake(c->ch);
	if (atomic_fetch_sub(&r->remaining, 1) == 1)
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

static struct disk_queue *queue_for(struct sp_channel *c, unsigned lun, struct sp_disk *d)
{
	struct disk_queue *q;

	pthread_mutex_lock(&c->qlock);
	q = c->queues[lun];
	if (!q && disk_queue_new(d->disk, c->sp->cfg.queue_depth, &c->queues[lun]) == 0)
		q = c->queues[lun];
	pthread_mutex_unlock(&c->qlock);
	return q;
}

/* Submits what is left of the current stage (worker thread). */
static void submit_stage(struct sp_request *r)
{
	struct sp_channel *c = r->chan;
	struct disk_queue *q = queue_for(c, r->lun, r->disk);
	int zero = 0;

	if (r->flushing && r->ops != &r->flush_op) {
		r->flush_op = (struct scsi_disk_op){.op = DISK_OP_FLUSH};
		r->ops = &r->flush_op;
		r->nops = 1;
		r->next_op = 0;
		atomic_store(&r->remaining, 2);
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
			atomic_fetch_add(&c->queue_full, 1);
			atomic_store(&c->want_wake, true);
			defer(r, false);
			/* Completions that ended before want_wake was set woke no one: look again
			 * soon. */
			vmbus_channel_set_timer(c->ch, 1000000);
			return;
		}
		r->next_op++;
		if (e < 0) {
			atomic_compare_exchange_strong(&r->error, &zero, e);
			atomic_fetch_sub(&r->remaining, 1);
			continue;
		}
		pthread_mutex_lock(&c->qlock);
		c->dirty |= UINT64_C(1) << r->lun;
		pthread_mutex_unlock(&c->qlock);
		/* A ring the guest keeps full must not hold a whole queue back. */
		if (++c->uncommitted >= COMMIT_BATCH)
			sp_io_commit(c);
	}
	/* Drop the submission's own hold: the last completion (or this) finishes the stage. */
	if (atomic_fetch_sub(&r->remaining, 1) == 1)
		stage_done(r);
}

void sp_io_commit(struct sp_channel *c)
{
	uint64_t dirty;
	unsigned lun;

	pthread_mutex_lock(&c->qlock);
	dirty = c->dirty;
	c->dirty = 0;
	c->uncommitted = 0;
	for (lun = 0; dirty; lun++, dirty >>= 1)
		if ((dirty & 1) && c->queues[lun])
			disk_queue_commit(c->queues[lun]);
	pthread_mutex_unlock(&c->qlock);
}

void sp_io_wake(struct sp_channel *c)
{
	struct sp_request *list, *r;

	pthread_mutex_lock(&c->lock);
	list = c->deferred;
	c->deferred = c->deferred_tail = NULL;
	pthread_mutex_unlock(&c->lock);
	while ((r = list)) {
		list = r->next;
		if (r->send_pending)
			complete(r);
		else
			submit_stage(r);
	}
	sp_io_commit(c);
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

void sp_io_execute(struct sp_channel *c, const struct storvsp_parsed *p, uint64_t trans_id)
{
	struct storvsp *sp = c->sp;
	const struct vmscsi_request *srb = &p->pkt.srb;
	uint16_t luns[STORVSP_MAX_LUNS];
	unsigned nluns = 0;
	struct sp_request *r;
	bool here;
	int e;

	atomic_fetch_add(&c->requests, 1);
	r = req_get(c);
	if (!r)
		return; /* no memory: the guest's timeout handling takes over */
	r->trans_id = trans_id;
	r->reply_len = p->pkt_len >= VSTOR_PACKET_HEADER_LEN + VMSCSI_REQUEST_LEN_PRE_WIN8
			       ? p->pkt_len
			       : sizeof(struct vstor_packet);
	r->srb = *srb;
	r->srb.srb_status = 0;
	r->srb.scsi_status = 0;
	r->lun = srb->lun;
	here = srb->path_id == 0 && srb->target_id == 0;
	pthread_rwlock_rdlock(&sp->lun_lock);
	if (here) {
		/* Only REPORT LUNS needs the list. */
		if (srb->cdb_length && srb->cdb_or_sense[0] == SCSI_REPORT_LUNS)
			nluns = lun_list(sp, luns);
		if (srb->lun < STORVSP_MAX_LUNS && sp->luns[srb->lun]) {
			r->disk = sp->luns[srb->lun];
			atomic_fetch_add(&r->disk->inflight, 1);
		}
	}
	pthread_rwlock_unlock(&sp->lun_lock);

	memcpy(r->cmd.cdb, srb->cdb_or_sense, sizeof(r->cmd.cdb));
	r->cmd.cdb_len = srb->cdb_length;
	if (srb->cdb_length > VSTOR_MAX_CDB_LEN) {
		guest_error_report(&sp->errlog, "SRB with a %u-byte CDB", srb->cdb_length);
		goto bad;
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
			goto bad;
		}
		r->cmd.buf_len = srb->data_transfer_length;
	}
	r->cmd.iov = r->iov;
	r->cmd.iovcnt = r->iovcnt;
	r->cmd.data_out = srb->data_in == VSTOR_WRITE_TYPE && r->cmd.buf_len;
	if (!r->disk) {
		uint8_t op = srb->cdb_length ? r->cmd.cdb[0] : 0xff;

		if (op == SCSI_INQUIRY || op == SCSI_REPORT_LUNS) {
			/* "No logical unit here" and the LUN list: how the guest's scan ends. */
			scsi_absent_execute(&r->cmd, luns, here ? nluns : 0);
		} else {
			/* No such LUN: Linux drops the device (storvsc_handle_error). */
			r->srb.srb_status = SRB_STATUS_INVALID_LUN;
			r->srb.scsi_status = SCSI_STATUS_CHECK_CONDITION;
		}
		complete(r);
		return;
	}
	if (scsi_lun_execute(r->disk->sl, &r->cmd, luns, nluns) == SCSI_CMD_DONE) {
		complete(r);
		return;
	}
	r->ops = r->cmd.ops;
	r->nops = r->cmd.nops;
	atomic_store(&r->remaining, r->nops + 1);
	submit_stage(r);
	return;
bad:
	atomic_fetch_add(&c->bad_packets, 1);
	r->srb.srb_status = SRB_STATUS_INVALID_REQUEST;
	complete(r);
}

void sp_io_channel_closed(struct sp_channel *c)
{
	struct sp_request *list, *r;
	unsigned lun;

	atomic_store(&c->closing, true);
	for (;;) {
		pthread_mutex_lock(&c->lock);
		list = c->deferred;
		c->deferred = c->deferred_tail = NULL;
		pthread_mutex_unlock(&c->lock);
		while ((r = list)) {
			list = r->next;
			req_release(r);
		}
		if (atomic_load(&c->inflight) == 0)
			break;
		/* Requests at the disk: their completions release them. */
		usleep(1000);
	}
	pthread_mutex_lock(&c->qlock);
	for (lun = 0; lun < STORVSP_MAX_LUNS; lun++)
		c->queues[lun] = disk_queue_free(c->queues[lun]);
	c->dirty = 0;
	pthread_mutex_unlock(&c->qlock);
}

void sp_io_forget_lun(struct storvsp *sp, unsigned lun)
{
	unsigned i;

	pthread_mutex_lock(&sp->lock);
	for (i = 0; i < sp->nchans; i++) {
		struct sp_channel *c = sp->chans[i];
		struct disk_queue *q;

		pthread_mutex_lock(&c->qlock);
		q = c->queues[lun];
		c->queues[lun] = NULL;
		c->dirty &= ~(UINT64_C(1) << lun);
		pthread_mutex_unlock(&c->qlock);
		disk_queue_free(q);
	}
	pthread_mutex_unlock(&sp->lock);
}

void sp_io_channel_free(struct sp_channel *c)
{
	struct sp_request *r;
	unsigned lun;

	if (!c)
		return;
	for (lun = 0; lun < STORVSP_MAX_LUNS; lun++)
		disk_queue_free(c->queues[lun]);
	while ((r = c->free_list)) {
		c->free_list = r->next;
		free(r);
	}
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->qlock);
	free(c);
}

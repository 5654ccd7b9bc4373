/*
 * The synthetic SCSI controller (storvsp.h): the channel protocol as
 * Linux's storvsc_channel_init drives it (BEGIN_INITIALIZATION, one
 * QUERY_PROTOCOL_VERSION per version newest first, QUERY_PROPERTIES,
 * END_INITIALIZATION, then CREATE_SUB_CHANNELS), sub-channels, hot add
 * and remove. EXECUTE_SRB is in storvsp_io.c. Packets are handled on each
 * channel's loop (vmbus.h), which reserves the room of every answer in the
 * outgoing ring before it acts on a packet (no room: the packet stays in
 * the ring, BUSY); the wire format is hvdef/storvsp_proto.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vsp/storvsp/storvsp_internal.h"

static const uint16_t known_versions[] = {
	VMSTOR_PROTO_VERSION_WIN6,   VMSTOR_PROTO_VERSION_WIN7,	 VMSTOR_PROTO_VERSION_WIN8,
	VMSTOR_PROTO_VERSION_WIN8_1, VMSTOR_PROTO_VERSION_WIN10,
};

void storvsp_instance_guid(unsigned controller, struct guid *ret)
{
	/* Parvis's own: fixed per controller index so the guest's names stay stable. */
	static const struct guid base = GUID_INIT(0x7a1b2c30, 0x5d4e, 0x4f60, 0x8a, 0x9b, 0x70,
						  0x61, 0x72, 0x76, 0x00, 0x00);

	*ret = base;
	ret->bytes[14] = (uint8_t)(controller >> 8);
	ret->bytes[15] = (uint8_t)controller;
}

void storvsp_ide_instance_guid(unsigned channel, unsigned unit, struct guid *ret)
{
	/* Parvis's own base; bytes 0-3 the channel (little-endian), 4-5 the unit (the target). */
	static const struct guid base = GUID_INIT(0x00000000, 0x0000, 0x4f61, 0x8a, 0x9b, 0x70,
						  0x61, 0x72, 0x76, 0x49, 0x44);

	*ret = base;
	ret->bytes[0] = (uint8_t)channel;
	ret->bytes[4] = (uint8_t)unit;
}

static int reply(struct sp_channel *c, uint64_t trans_id, size_t len, uint32_t status,
		 const struct vstor_packet *body)
{
	struct vstor_packet r = body ? *body : (struct vstor_packet){0};

	r.operation = VSTOR_OPERATION_COMPLETE_IO;
	r.flags = 0;
	r.status = status;
	/* Into the room the packet's handler reserved before it acted. */
	return vmbus_channel_send_reserved(c->ch, VMBUS_PKT_COMP, 0, trans_id, &r, len);
}

static void protocol_error(struct storvsp *sp, const char *what, uint32_t op)
{
	atomic_fetch_add(&sp->protocol_errors, 1);
	guest_error_report(&sp->errlog, "%s (operation %u)", what, op);
}

bool sp_version_known(uint16_t v)
{
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(known_versions); i++)
		if (known_versions[i] == v)
			return true;
	return false;
}

/* Any thread: the primary's loop tells the guest to rescan (sp_wake). */
static void sp_request_rescan(struct storvsp *sp)
{
	atomic_store(&sp->rescan_pending, true);
	vmbus_channel_wake(sp->chans[0]->ch);
}

/* The primary's loop. */
static void sp_send_rescan(struct storvsp *sp)
{
	struct vstor_packet m = {.operation = VSTOR_OPERATION_ENUMERATE_BUS};
	struct sp_channel *c = sp->chans[0];
	int e;

	/* Rescans exist since Win7 (openvmm sends them from there on). */
	if (atomic_load(&sp->state) != SP_READY ||
	    atomic_load(&sp->version) < VMSTOR_PROTO_VERSION_WIN7)
		return;
	/* Never into room reserved for answers; -EAGAIN: the wake callback comes with room. */
	e = vmbus_channel_send(c->ch, VMBUS_PKT_DATA_INBAND, 0, 0, &m, sizeof(m));
	if (e == -EAGAIN) {
		atomic_store(&sp->rescan_pending, true);
		return;
	}
	if (e == 0)
		atomic_fetch_add(&sp->rescans, 1);
}

struct sp_channel *sp_chan_alloc(struct storvsp *sp, unsigned index)
{
	struct sp_channel *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->sp = sp;
	c->index = index;
	return c;
}

static const struct vmbus_channel_ops sp_ops;

int sp_create_channel(struct storvsp *sp, struct sp_channel *c)
{
	struct vmbus_channel_params p = {
		.class_id = {{0}},
		.instance_id = sp->instance,
		.subchannel_index = (uint16_t)c->index,
		.primary = c->index ? sp->chans[0]->ch : NULL,
	};
	char name[32];
	int e;

	snprintf(name, sizeof(name), "%s-%u", sp->name, c->index);
	p.name = name;
	e = guid_parse(sp->cfg.ide ? STORVSP_IDE_CLASS_GUID : STORVSP_SCSI_CLASS_GUID, &p.class_id);
	if (e == 0)
		e = vmbus_channel_new(sp->cfg.server, &p, &sp_ops, c, &c->ch);
	return e;
}

/* CREATE_SUB_CHANNELS on the primary's loop (it may free other channels, and create). */
static uint32_t create_subchannels(struct storvsp *sp, uint16_t count)
{
	unsigned max = MIN(sp->cfg.vcpus ? sp->cfg.vcpus - 1 : 0, STORVSP_MAX_CHANNELS - 1u);
	struct sp_channel *stale[STORVSP_MAX_CHANNELS];
	unsigned i, nstale = 0, have;

	if (count == 0 || count > max || atomic_load(&sp->version) < VMSTOR_PROTO_VERSION_WIN8)
		return VSTOR_STATUS_INVALID_PARAMETER;
	/* Sub-channels of an earlier session of the primary are withdrawn first. */
	pthread_mutex_lock(&sp->lock);
	for (i = 1; i < sp->nchans; i++)
		if (sp->chans[i]->stale)
			stale[nstale++] = sp->chans[i];
	if (nstale)
		sp->nchans = 1;
	have = sp->nchans - 1;
	pthread_mutex_unlock(&sp->lock);
	for (i = 0; i < nstale; i++) {
		vmbus_channel_free(stale[i]->ch);
		sp_io_channel_free(stale[i]);
	}
	for (i = have + 1; i <= count; i++) {
		struct sp_channel *c = sp_chan_alloc(sp, i);

		if (!c)
			return VSTOR_STATUS_UNSUCCESSFUL;
		pthread_mutex_lock(&sp->lock);
		sp->chans[i] = c;
		pthread_mutex_unlock(&sp->lock);
		/* Offered at once: the guest is connected. */
		if (sp_create_channel(sp, c) < 0) {
			pthread_mutex_lock(&sp->lock);
			sp->chans[i] = NULL;
			pthread_mutex_unlock(&sp->lock);
			sp_io_channel_free(c);
			return VSTOR_STATUS_UNSUCCESSFUL;
		}
		pthread_mutex_lock(&sp->lock);
		sp->nchans = i + 1;
		pthread_mutex_unlock(&sp->lock);
	}
	return VSTOR_STATUS_SUCCESS;
}

/* The initialization handshake, on the primary channel; room for len bytes is reserved. */
static void control(struct sp_channel *c, const struct storvsp_parsed *p, uint64_t trans_id,
		    size_t len)
{
	struct storvsp *sp = c->sp;
	const struct vstor_packet *in = &p->pkt;
	struct vstor_packet out = {0};
	int state = atomic_load(&sp->state);
	uint32_t status = VSTOR_STATUS_SUCCESS;
	unsigned max_sub = sp->cfg.vcpus ? sp->cfg.vcpus - 1 : 0;

	if (c->index != 0) {
		protocol_error(sp, "control operation on a sub-channel", in->operation);
		status = VSTOR_STATUS_INVALID_DEVICE_STATE;
		goto send;
	}
	switch (in->operation) {
	case VSTOR_OPERATION_BEGIN_INITIALIZATION:
		atomic_store(&sp->version, 0);
		atomic_store(&sp->state, SP_INIT);
		break;
	case VSTOR_OPERATION_QUERY_PROTOCOL_VERSION:
		out.version = in->version;
		if (state != SP_INIT)
			status = VSTOR_STATUS_INVALID_DEVICE_STATE;
		else if (!sp_version_known(in->version.major_minor))
			status = VSTOR_STATUS_REVISION_MISMATCH; /* the guest tries its next one */
		else
			atomic_store(&sp->version, in->version.major_minor);
		break;
	case VSTOR_OPERATION_QUERY_PROPERTIES:
		if (state != SP_INIT || !atomic_load(&sp->version)) {
			status = VSTOR_STATUS_INVALID_DEVICE_STATE;
			break;
		}
		out.properties.max_transfer_bytes = STORVSP_MAX_TRANSFER;
		if (atomic_load(&sp->version) >= VMSTOR_PROTO_VERSION_WIN8 && max_sub) {
			out.properties.flags = STORAGE_CHANNEL_SUPPORTS_MULTI_CHANNEL;
			out.properties.max_channel_cnt =
				(uint16_t)MIN(max_sub, STORVSP_MAX_CHANNELS - 1u);
		}
		break;
	case VSTOR_OPERATION_END_INITIALIZATION:
		if (state != SP_INIT || !atomic_load(&sp->version))
			status = VSTOR_STATUS_INVALID_DEVICE_STATE;
		else
			atomic_store(&sp->state, SP_READY);
		break;
	case VSTOR_OPERATION_CREATE_SUB_CHANNELS:
		/* Linux sends it after END_INITIALIZATION; accept it before too (openvmm does). */
		if (state == SP_IDLE || !atomic_load(&sp->version))
			status = VSTOR_STATUS_INVALID_DEVICE_STATE;
		else
			status = create_subchannels(sp, in->sub_channel_count);
		break;
	default: status = VSTOR_STATUS_INVALID_PARAMETER; break;
	}
	if (status != VSTOR_STATUS_SUCCESS && status != VSTOR_STATUS_REVISION_MISMATCH)
		protocol_error(sp, "operation refused", in->operation);
send:
	if (reply(c, trans_id, len, status, &out) < 0)
		guest_log(&sp->errlog, LOG_WARN, "cannot answer operation %u", in->operation);
}

static int sp_packet(void *opaque, struct vmbus_channel *ch, const struct vmbus_packet *pkt)
{
	struct sp_channel *c = opaque;
	struct storvsp *sp = c->sp;
	struct storvsp_parsed p;
	int e = storvsp_packet_parse(pkt, &p);
	size_t len = sizeof(struct vstor_packet);

	/* A disk added or removed before the guest sent this: the rescan goes first. The loop may
	 * read the ring before it runs the wake that carries it (sp_request_rescan). */
	if (c->index == 0 && atomic_load(&sp->rescan_pending) &&
	    atomic_exchange(&sp->rescan_pending, false))
		sp_send_rescan(sp);
	if (e == 0 && p.pkt.operation == VSTOR_OPERATION_EXECUTE_SRB &&
	    atomic_load(&sp->state) == SP_READY)
		return sp_io_execute(c, &p, pkt->trans_id);
	/* Everything else is answered at once: its room first, before any effect. */
	if (e == 0 && p.pkt_len >= VSTOR_PACKET_HEADER_LEN + VMSCSI_REQUEST_LEN_PRE_WIN8)
		len = p.pkt_len;
	if (vmbus_channel_reserve(ch, len) < 0) {
		atomic_fetch_add(&c->ring_full, 1);
		return VMBUS_PACKET_BUSY;
	}
	if (e < 0) {
		atomic_fetch_add(&sp->bad_packets, 1);
		atomic_fetch_add(&c->bad_packets, 1);
		guest_error_report(&sp->errlog,
				   "malformed packet (type %u, %zu bytes) on channel %u", pkt->type,
				   pkt->raw_len, c->index);
		/* Answer what the guest waits for, so that it fails the request instead of hanging.
		 */
		if ((pkt->flags & VMBUS_PKT_FLAG_COMPLETION_REQUESTED) && pkt->trans_id) {
			struct vstor_packet out = {0};

			out.srb.srb_status = SRB_STATUS_INVALID_REQUEST;
			if (reply(c, pkt->trans_id, len, VSTOR_STATUS_INVALID_PARAMETER, &out) <
			    0) {
				/* closed or broken: the guest's timeout handles it */
			}
		} else {
			vmbus_channel_unreserve(ch, len);
		}
		return VMBUS_PACKET_DONE;
	}
	switch (p.pkt.operation) {
	case VSTOR_OPERATION_EXECUTE_SRB:
		protocol_error(sp, "SRB before END_INITIALIZATION", p.pkt.operation);
		if (reply(c, pkt->trans_id, len, VSTOR_STATUS_INVALID_DEVICE_STATE, NULL) < 0) {
			/* as above */
		}
		break;
	case VSTOR_OPERATION_RESET_BUS:
	case VSTOR_OPERATION_RESET_LUN:
	case VSTOR_OPERATION_RESET_ADAPTER:
		/* Nothing to abort: every request completes on its own. */
		if (reply(c, pkt->trans_id, len, VSTOR_STATUS_SUCCESS, NULL) < 0) {
			/* as above */
		}
		break;
	default: control(c, &p, pkt->trans_id, len); break;
	}
	return VMBUS_PACKET_DONE;
}

static void sp_batch_end(void *opaque, struct vmbus_channel *ch)
{
	sp_io_commit(opaque);
}

static bool sp_poll(void *opaque, struct vmbus_channel *ch)
{
	return sp_io_poll(opaque);
}

static void sp_wake(void *opaque, struct vmbus_channel *ch)
{
	struct sp_channel *c = opaque;

	if (c->index == 0 && atomic_exchange(&c->sp->rescan_pending, false))
		sp_send_rescan(c->sp);
	sp_io_wake(c);
}

static int sp_open(void *opaque, struct vmbus_channel *ch, const uint8_t *user_data)
{
	struct sp_channel *c = opaque;
	struct storvsp *sp = c->sp;
	unsigned i;
	int e;

	c->ch = ch;
	e = sp_io_channel_open(c);
	if (e < 0)
		return e;
	if (c->index == 0) {
		/* A new session: the guest negotiates again and asks for new sub-channels. */
		atomic_store(&sp->state, SP_IDLE);
		atomic_store(&sp->version, 0);
		pthread_mutex_lock(&sp->lock);
		for (i = 1; i < sp->nchans; i++)
			sp->chans[i]->stale = true;
		pthread_mutex_unlock(&sp->lock);
	}
	return 0;
}

static void sp_close(void *opaque, struct vmbus_channel *ch)
{
	struct sp_channel *c = opaque;

	sp_io_channel_closed(c);
	if (c->index == 0) {
		atomic_store(&c->sp->state, SP_IDLE);
		atomic_store(&c->sp->version, 0);
	}
}

static const struct vmbus_channel_ops sp_ops = {
	.open = sp_open,
	.packet = sp_packet,
	.batch_end = sp_batch_end,
	.poll = sp_poll,
	.wake = sp_wake,
	.close = sp_close,
	.idle = sp_state_idle,
	.save = sp_state_save,
	.load = sp_state_load,
	.vsp_name = "storvsp",
};

/* --- Disks --- */

int storvsp_add_disk(struct storvsp *sp, unsigned lun, struct disk *d, bool read_only)
{
	struct sp_disk *x;
	int e;

	if (lun >= STORVSP_MAX_LUNS || !d)
		return -EINVAL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	e = scsi_lun_new(d, read_only, &x->sl);
	if (e < 0) {
		free(x);
		return e;
	}
	x->disk = d;
	pthread_rwlock_wrlock(&sp->lun_lock);
	if (sp->luns[lun]) {
		pthread_rwlock_unlock(&sp->lun_lock);
		scsi_lun_free(x->sl);
		free(x);
		return -EEXIST;
	}
	sp->luns[lun] = x;
	pthread_rwlock_unlock(&sp->lun_lock);
	sp_request_rescan(sp);
	return 0;
}

static void disk_drop(struct storvsp *sp, unsigned lun, struct sp_disk *x)
{
	/* New requests no longer find it; wait for the ones that did (released on the loops). */
	sp_io_wait_idle(sp, x);
	sp_io_forget_lun(sp, lun);
	disk_close(x->disk);
	scsi_lun_free(x->sl);
	free(x);
}

int storvsp_remove_disk(struct storvsp *sp, unsigned lun)
{
	struct sp_disk *x;

	if (lun >= STORVSP_MAX_LUNS)
		return -EINVAL;
	pthread_rwlock_wrlock(&sp->lun_lock);
	x = sp->luns[lun];
	sp->luns[lun] = NULL;
	pthread_rwlock_unlock(&sp->lun_lock);
	if (!x)
		return -ENOENT;
	disk_drop(sp, lun, x);
	sp_request_rescan(sp);
	return 0;
}

int storvsp_free_lun(struct storvsp *sp)
{
	int lun, found = -ENOSPC;

	pthread_rwlock_rdlock(&sp->lun_lock);
	for (lun = 0; lun < STORVSP_MAX_LUNS; lun++)
		if (!sp->luns[lun]) {
			found = lun;
			break;
		}
	pthread_rwlock_unlock(&sp->lun_lock);
	return found;
}

bool storvsp_has_disk(struct storvsp *sp, unsigned lun)
{
	bool r;

	if (lun >= STORVSP_MAX_LUNS)
		return false;
	pthread_rwlock_rdlock(&sp->lun_lock);
	r = sp->luns[lun] != NULL;
	pthread_rwlock_unlock(&sp->lun_lock);
	return r;
}

/* --- Status --- */

uint16_t storvsp_version(struct storvsp *sp)
{
	return atomic_load(&sp->version);
}

void storvsp_get_stats(struct storvsp *sp, struct storvsp_stats *st)
{
	pthread_mutex_lock(&sp->lock);
	st->channels = sp->nchans;
	pthread_mutex_unlock(&sp->lock);
	st->version = atomic_load(&sp->version);
	st->bad_packets = atomic_load(&sp->bad_packets);
	st->protocol_errors = atomic_load(&sp->protocol_errors);
	st->rescans = atomic_load(&sp->rescans);
}

bool storvsp_get_channel_stats(struct storvsp *sp, unsigned i, struct storvsp_channel_stats *st)
{
	struct vmbus_channel_stats vs;
	struct sp_channel *c;

	pthread_mutex_lock(&sp->lock);
	c = i < sp->nchans ? sp->chans[i] : NULL;
	if (c) {
		vmbus_channel_get_stats(c->ch, &vs);
		*st = (struct storvsp_channel_stats){
			.subchannel_index = c->index,
			.relid = vmbus_channel_relid(c->ch),
			.state = vmbus_channel_state(c->ch),
			.requests = atomic_load(&c->requests),
			.completions = atomic_load(&c->completions),
			.signals_in = vs.signals_in,
			.interrupts_out = vs.signals_out,
			.ring_full = atomic_load(&c->ring_full),
			.busy = atomic_load(&c->busy),
			.queue_full = atomic_load(&c->queue_full),
			.bad_packets = atomic_load(&c->bad_packets),
			.aborted = atomic_load(&c->aborted),
			.max_requests = sp->cfg.max_requests,
			.inflight_max = atomic_load(&c->inflight_max),
		};
	}
	pthread_mutex_unlock(&sp->lock);
	return c != NULL;
}

bool storvsp_get_disk_stats(struct storvsp *sp, unsigned lun, struct scsi_lun_stats *st,
			    struct disk_info *info, bool *read_only)
{
	struct sp_disk *x;

	if (lun >= STORVSP_MAX_LUNS)
		return false;
	pthread_rwlock_rdlock(&sp->lun_lock);
	x = sp->luns[lun];
	if (x) {
		scsi_lun_get_stats(x->sl, st);
		if (info)
			disk_get_info(x->disk, info);
		if (read_only)
			*read_only = scsi_lun_read_only(x->sl);
	}
	pthread_rwlock_unlock(&sp->lun_lock);
	return x != NULL;
}

/* --- Lifecycle --- */

int storvsp_new(const struct storvsp_config *cfg, struct storvsp **ret)
{
	struct storvsp *sp;
	int e;

	if (!cfg || !cfg->server || !cfg->mem)
		return -EINVAL;
	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	sp->cfg = *cfg;
	if (!sp->cfg.queue_depth)
		sp->cfg.queue_depth = 256;
	if (!sp->cfg.max_requests)
		sp->cfg.max_requests = STORVSP_DEFAULT_REQUESTS;
	if (sp->cfg.max_requests > STORVSP_MAX_REQUESTS || sp->cfg.queue_depth > 4096) {
		free(sp);
		return -EINVAL;
	}
	if (!sp->cfg.vcpus || sp->cfg.ide) /* IDE: storvsc asks for no sub-channels */
		sp->cfg.vcpus = 1;
	if (sp->cfg.ide && (sp->cfg.ide_channel > 1 || sp->cfg.ide_unit > 1)) {
		free(sp);
		return -EINVAL;
	}
	if (sp->cfg.ide) {
		storvsp_ide_instance_guid(cfg->ide_channel, cfg->ide_unit, &sp->instance);
		snprintf(sp->name, sizeof(sp->name), "storvsp-ide%u:%u", cfg->ide_channel,
			 cfg->ide_unit);
	} else {
		storvsp_instance_guid(cfg->controller, &sp->instance);
		snprintf(sp->name, sizeof(sp->name), "storvsp%u", cfg->controller);
	}
	guest_error_log_init(&sp->errlog, sp->name);
	pthread_rwlock_init(&sp->lun_lock, NULL);
	pthread_mutex_init(&sp->lock, NULL);
	pthread_cond_init(&sp->idle, NULL);
	sp->chans[0] = sp_chan_alloc(sp, 0);
	if (!sp->chans[0]) {
		e = -ENOMEM;
		goto fail;
	}
	e = sp_create_channel(sp, sp->chans[0]);
	if (e < 0)
		goto fail;
	sp->nchans = 1;
	*ret = sp;
	return 0;
fail:
	sp_io_channel_free(sp->chans[0]);
	pthread_rwlock_destroy(&sp->lun_lock);
	pthread_cond_destroy(&sp->idle);
	pthread_mutex_destroy(&sp->lock);
	free(sp);
	return e;
}

struct storvsp *storvsp_free(struct storvsp *sp)
{
	unsigned i;

	if (!sp)
		return NULL;
	/* Sub-channels first (the guest closes them before the primary, too). */
	for (i = sp->nchans; i-- > 0;) {
		vmbus_channel_free(sp->chans[i]->ch);
		sp_io_channel_free(sp->chans[i]);
		sp->chans[i] = NULL;
	}
	sp->nchans = 0;
	for (i = 0; i < STORVSP_MAX_LUNS; i++)
		if (sp->luns[i]) {
			disk_close(sp->luns[i]->disk);
			scsi_lun_free(sp->luns[i]->sl);
			free(sp->luns[i]);
		}
	pthread_rwlock_destroy(&sp->lun_lock);
	pthread_cond_destroy(&sp->idle);
	pthread_mutex_destroy(&sp->lock);
	free(sp);
	return NULL;
}

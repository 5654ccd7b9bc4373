/*
 * Saved state of the VMBus server (vmbus.h, docs/saved-state.md):
 * quiesce and unquiesce, and the "vmbus" section.
 *
 * Section "vmbus", version 1 (little endian, state_out):
 *   u32 conn, u32 version, u32 target_vcpu, u8 offers_delivered,
 *   u64 interrupt page (or SINT), u64 monitor page 1, u64 monitor page 2
 *   the GPADL table (gpadl.h: vmbus_gpadl_table_save)
 *   u32 channels; each: class id[16], instance id[16], u32 sub-channel
 *     index, u32 relid, u32 state, u32 target VP; if open: u32 ring GPADL,
 *     u32 downstream ring page offset, u32 incoming read index, u32
 *     outgoing write index, u32 bytes reserved, u32 send waiting for room,
 *     u8 ring broken; then u32 length and the VSP's own bytes (ops->save)
 *   u32 queued guest messages; each: u32 vp, u32 connection id, u32 len, bytes
 *
 * What is not here: the messages the host posted and the guest has not
 * taken are in the SynIC's queues (hv's state); the rings' contents and
 * the indices the guest owns are in guest RAM.
 *
 * Load reads the whole section and checks every field before it touches
 * the server, then rebuilds: GPADLs, each saved channel matched to a
 * channel of the new server by (class, instance, sub-channel index) and
 * moved to its saved relid, its rings mapped through vmbus_gpadl_map_pages
 * (vmbus_channel_setup_loop), its VSP's load, and last the loops.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmbus/server_internal.h"

/* ---- Quiesce ---- */

/* The channels whose loop runs, under s->lock; *n of them. Caller frees. */
static struct vmbus_channel **running_loops(struct vmbus_server *s, unsigned *n)
{
	struct vmbus_channel **v = calloc(VMBUS_MAX_RELID + 1, sizeof(*v));
	unsigned relid;

	*n = 0;
	if (!v)
		return NULL;
	for (relid = 1; relid <= VMBUS_MAX_RELID; relid++) {
		struct vmbus_channel *ch = s->channels[relid];

		if (ch && ch->worker_running && !ch->loop_parked)
			v[(*n)++] = ch;
	}
	return v;
}

int vmbus_server_quiesce(struct vmbus_server *s, char *err, size_t errlen)
{
	struct vmbus_channel **loops;
	unsigned n, i, relid;

	pthread_mutex_lock(&s->queue_lock);
	if (s->paused) {
		pthread_mutex_unlock(&s->queue_lock);
		snprintf(err, errlen, "the VMBus is quiesced already");
		return -EALREADY;
	}
	/* The message thread stops between two messages. */
	s->paused = true;
	while (s->msg_busy)
		pthread_cond_wait(&s->idle_cond, &s->queue_lock);
	pthread_mutex_unlock(&s->queue_lock);

	pthread_mutex_lock(&s->lock);
	/* A host thread closing a channel (vmbus_channel_free) finishes first. */
	for (relid = 1; relid <= VMBUS_MAX_RELID; relid++)
		if (s->channels[relid] && s->channels[relid]->closing) {
			pthread_cond_wait(&s->closed_cond, &s->lock);
			relid = 0;
		}
	loops = running_loops(s, &n);
	if (!loops) {
		pthread_mutex_unlock(&s->lock);
		vmbus_server_unquiesce(s);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		vmbus_channel_quiesce_begin(loops[i]);
	pthread_mutex_unlock(&s->lock);
	/*
	 * Without the lock: a loop finishing its VSP's work may take it. A
	 * quiescing loop takes no packets, so it neither opens, closes nor
	 * frees channels meanwhile.
	 */
	for (i = 0; i < n; i++)
		vmbus_channel_quiesce_wait(loops[i]);
	pthread_mutex_lock(&s->lock);
	for (i = 0; i < n; i++)
		loops[i]->loop_parked = true;
	s->quiesced = true;
	pthread_mutex_unlock(&s->lock);
	free(loops);
	return 0;
}

void vmbus_server_unquiesce(struct vmbus_server *s)
{
	unsigned relid;

	pthread_mutex_lock(&s->lock);
	for (relid = 1; relid <= VMBUS_MAX_RELID; relid++) {
		struct vmbus_channel *ch = s->channels[relid];

		if (ch && ch->loop_parked && vmbus_channel_resume(ch) < 0)
			pv_log(LOG_ERR, "vmbus: %s stays stopped", ch->name);
	}
	s->quiesced = false;
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_lock(&s->queue_lock);
	s->paused = false;
	pthread_cond_broadcast(&s->queue_cond);
	pthread_mutex_unlock(&s->queue_lock);
}

/* ---- Save ---- */

const char *vmbus_server_save_error(struct vmbus_server *s)
{
	return s->save_error;
}

static int save_fail(struct vmbus_server *s, int r, const char *fmt, ...) printf_like(3, 4);
static int save_fail(struct vmbus_server *s, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->save_error, sizeof(s->save_error), fmt, ap);
	va_end(ap);
	pv_log(LOG_ERR, "vmbus: cannot save: %s", s->save_error);
	return r;
}

static const char *vsp_name(const struct vmbus_channel *ch)
{
	return ch->ops->vsp_name ? ch->ops->vsp_name : "the device";
}

static int save_channel(struct vmbus_server *s, struct vmbus_channel *ch, struct state_out *out)
{
	enum vmbus_channel_state st = atomic_load(&ch->state);
	struct state_out vsp;
	int r = 0;

	if (ch->closing)
		return save_fail(s, -EBUSY, "channel '%s' is being closed", ch->name);
	if (st == VMBUS_CHANNEL_OPEN && !ch->ops->save)
		return save_fail(s, -EBUSY, "%s on channel '%s' cannot be saved yet", vsp_name(ch),
				 ch->name);
	state_out_bytes(out, ch->params.class_id.bytes, 16);
	state_out_bytes(out, ch->params.instance_id.bytes, 16);
	state_out_u32(out, ch->params.subchannel_index);
	state_out_u32(out, ch->relid);
	state_out_u32(out, (uint32_t)st);
	state_out_u32(out, atomic_load(&ch->target_vp));
	if (st == VMBUS_CHANNEL_OPEN) {
		state_out_u32(out, ch->ring_gpadl);
		state_out_u32(out, ch->ring_offset);
		state_out_u32(out, vmbus_ring_private_index(ch->in));
		state_out_u32(out, vmbus_ring_private_index(ch->out));
		state_out_u32(out, (uint32_t)ch->reserved);
		state_out_u32(out, ch->blocked_len);
		state_out_u8(out, atomic_load(&ch->broken));
	}
	state_out_init(&vsp);
	if (st != VMBUS_CHANNEL_RESCINDED && ch->ops->save)
		r = ch->ops->save(ch->opaque, ch, &vsp);
	if (r == 0 && vsp.error)
		r = vsp.error;
	if (r < 0) {
		state_out_fini(&vsp);
		return save_fail(s, r, "%s on channel '%s' cannot save its state: %s", vsp_name(ch),
				 ch->name, strerror(-r));
	}
	state_out_u32(out, (uint32_t)vsp.len);
	state_out_bytes(out, vsp.buf, vsp.len);
	state_out_fini(&vsp);
	return 0;
}

static void save_queue(struct vmbus_server *s, struct state_out *out)
{
	unsigned i;

	pthread_mutex_lock(&s->queue_lock);
	state_out_u32(out, s->queue_count);
	for (i = 0; i < s->queue_count; i++) {
		const struct vmbus_queued_msg *q =
			&s->queue[(s->queue_head + i) % VMBUS_MESSAGE_QUEUE_LEN];

		state_out_u32(out, q->vp);
		state_out_u32(out, q->connection_id);
		state_out_u32(out, q->len);
		state_out_bytes(out, q->data, q->len);
	}
	pthread_mutex_unlock(&s->queue_lock);
}

int vmbus_server_save(struct vmbus_server *s, struct state_writer *w)
{
	struct state_out out;
	unsigned relid, n = 0;
	int r = 0;

	s->save_error[0] = 0;
	state_out_init(&out);
	pthread_mutex_lock(&s->lock);
	if (!s->quiesced) {
		pthread_mutex_unlock(&s->lock);
		return save_fail(s, -EINVAL, "the VMBus is not quiesced");
	}
	state_out_u32(&out, (uint32_t)s->conn);
	state_out_u32(&out, s->version);
	state_out_u32(&out, s->target_vcpu);
	state_out_u8(&out, s->offers_delivered);
	state_out_u64(&out, s->interrupt_page);
	state_out_u64(&out, s->monitor_pages[0]);
	state_out_u64(&out, s->monitor_pages[1]);
	vmbus_gpadl_table_save(s->gpadls, &out);
	for (relid = 1; relid <= VMBUS_MAX_RELID; relid++)
		n += s->channels[relid] != NULL;
	state_out_u32(&out, n);
	for (relid = 1; relid <= VMBUS_MAX_RELID && r == 0; relid++)
		if (s->channels[relid])
			r = save_channel(s, s->channels[relid], &out);
	pthread_mutex_unlock(&s->lock);
	if (r == 0) {
		save_queue(s, &out);
		r = state_writer_section_out(w, VMBUS_STATE_SECTION, VMBUS_STATE_VERSION, &out);
		if (r < 0)
			save_fail(s, r, "cannot write section '%s': %s", VMBUS_STATE_SECTION,
				  strerror(-r));
	}
	state_out_fini(&out);
	return r;
}

/* ---- Load: decoding and checking ---- */

struct saved_channel {
	struct guid class_id, instance_id;
	uint32_t subidx, relid, state, target_vp;
	uint32_t ring_gpadl, ring_offset, in_index, out_index, reserved, blocked_len;
	bool broken;
	const uint8_t *vsp;
	uint32_t vsp_len;
	/* While loading: */
	struct vmbus_channel *ch;
	bool set_up;	 /* rings mapped, loop not started */
	bool vsp_loaded; /* its VSP's load succeeded */
};

struct saved_bus {
	uint32_t conn, version, target_vcpu;
	bool offers_delivered;
	uint64_t interrupt_page, monitor_pages[2];
	uint32_t nchannels;
	struct saved_channel *channels;
	uint32_t nqueued;
	struct vmbus_queued_msg *queued;
};

static int bad(char *err, size_t errlen, const char *fmt, ...) printf_like(3, 4);
static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "section '%s': %s", VMBUS_STATE_SECTION, msg);
	return -EINVAL;
}

static int decode_connection(struct vmbus_server *s, struct state_in *in, struct saved_bus *b,
			     char *err, size_t errlen)
{
	b->conn = state_in_u32(in);
	b->version = state_in_u32(in);
	b->target_vcpu = state_in_u32(in);
	b->offers_delivered = state_in_u8(in) != 0;
	b->interrupt_page = state_in_u64(in);
	b->monitor_pages[0] = state_in_u64(in);
	b->monitor_pages[1] = state_in_u64(in);
	if (in->error)
		return bad(err, errlen, "truncated in the connection");
	if (b->conn == VMBUS_CONN_DISCONNECTED) {
		if (b->version || b->offers_delivered)
			return bad(err, errlen, "version %#x or offers while disconnected",
				   b->version);
	} else if (b->conn == VMBUS_CONN_CONNECTED) {
		if (!vmbus_server_version_supported(s, b->version))
			return bad(err, errlen, "version %#x is not one this server offers",
				   b->version);
	} else {
		return bad(err, errlen, "connection state %u", b->conn);
	}
	if (b->target_vcpu >= s->cfg.vcpus)
		return bad(err, errlen, "target VP %u (the VM has %u)", b->target_vcpu,
			   s->cfg.vcpus);
	return 0;
}

static int decode_channel(struct vmbus_server *s, struct state_in *in, const struct saved_bus *b,
			  struct saved_channel *c, char *err, size_t errlen)
{
	state_in_bytes(in, c->class_id.bytes, 16);
	state_in_bytes(in, c->instance_id.bytes, 16);
	c->subidx = state_in_u32(in);
	c->relid = state_in_u32(in);
	c->state = state_in_u32(in);
	c->target_vp = state_in_u32(in);
	if (in->error)
		return bad(err, errlen, "truncated in a channel");
	if (c->relid == 0 || c->relid > VMBUS_MAX_RELID)
		return bad(err, errlen, "channel relid %u", c->relid);
	if (c->subidx > UINT16_MAX)
		return bad(err, errlen, "relid %u: sub-channel index %u", c->relid, c->subidx);
	if (c->state > VMBUS_CHANNEL_RESCINDED)
		return bad(err, errlen, "relid %u: channel state %u", c->relid, c->state);
	if (c->state != VMBUS_CHANNEL_UNOFFERED && b->conn != VMBUS_CONN_CONNECTED)
		return bad(err, errlen, "relid %u is %s while the guest is not connected", c->relid,
			   vmbus_channel_state_name(c->state));
	if (c->target_vp >= s->cfg.vcpus)
		return bad(err, errlen, "relid %u: target VP %u", c->relid, c->target_vp);
	if (c->state == VMBUS_CHANNEL_OPEN) {
		c->ring_gpadl = state_in_u32(in);
		c->ring_offset = state_in_u32(in);
		c->in_index = state_in_u32(in);
		c->out_index = state_in_u32(in);
		c->reserved = state_in_u32(in);
		c->blocked_len = state_in_u32(in);
		c->broken = state_in_u8(in) != 0;
		/* The ring GPADL, offset and indices are checked when the rings are mapped. */
		if (c->reserved > VMBUS_RING_MAX_PAGES * 4096u ||
		    c->blocked_len > VMBUS_RING_MAX_PAGES * 4096u)
			return bad(err, errlen, "relid %u: %u bytes reserved, %u waiting", c->relid,
				   c->reserved, c->blocked_len);
	}
	c->vsp_len = state_in_u32(in);
	if (in->error || c->vsp_len > in->len - in->pos)
		return bad(err, errlen, "relid %u: device state truncated", c->relid);
	c->vsp = in->buf + in->pos;
	in->pos += c->vsp_len;
	if (c->state == VMBUS_CHANNEL_RESCINDED && c->vsp_len)
		return bad(err, errlen, "relid %u: a rescinded channel with device state",
			   c->relid);
	return 0;
}

static int decode_queue(struct vmbus_server *s, struct state_in *in, struct saved_bus *b, char *err,
			size_t errlen)
{
	uint32_t i;

	b->nqueued = state_in_u32(in);
	if (in->error || b->nqueued > VMBUS_MESSAGE_QUEUE_LEN)
		return bad(err, errlen, "%u queued messages (at most %u)", b->nqueued,
			   VMBUS_MESSAGE_QUEUE_LEN);
	b->queued = calloc(b->nqueued ? b->nqueued : 1, sizeof(*b->queued));
	if (!b->queued)
		return -ENOMEM;
	for (i = 0; i < b->nqueued; i++) {
		struct vmbus_queued_msg *q = &b->queued[i];

		q->vp = state_in_u32(in);
		q->connection_id = state_in_u32(in);
		q->len = state_in_u32(in);
		if (in->error || q->vp >= s->cfg.vcpus || q->len > VMBUS_MESSAGE_MAX_SIZE ||
		    (q->connection_id != VMBUS_MESSAGE_CONNECTION_ID &&
		     q->connection_id != VMBUS_MESSAGE_CONNECTION_ID_4))
			return bad(err, errlen, "queued message %u: VP %u, connection %u, %u bytes",
				   i, q->vp, q->connection_id, q->len);
		state_in_bytes(in, q->data, q->len);
	}
	return 0;
}

/* Decodes and checks everything but the GPADLs (which it loads into the server's table). */
static int decode(struct vmbus_server *s, struct state_in *in, struct saved_bus *b, char *err,
		  size_t errlen)
{
	uint32_t i, j, n;
	int r = decode_connection(s, in, b, err, errlen);

	if (r == 0) {
		char why[160] = "";

		r = vmbus_gpadl_table_load(s->gpadls, in, why, sizeof(why));
		if (r < 0)
			return bad(err, errlen, "%s", why[0] ? why : strerror(-r));
	}
	if (r < 0)
		return r;
	n = state_in_u32(in);
	if (in->error || n > VMBUS_MAX_RELID)
		return bad(err, errlen, "%u channels", n);
	b->channels = calloc(n ? n : 1, sizeof(*b->channels));
	if (!b->channels)
		return -ENOMEM;
	b->nchannels = n; /* entries not decoded yet stay zero: no channel, nothing set up */
	for (i = 0; i < b->nchannels; i++) {
		r = decode_channel(s, in, b, &b->channels[i], err, errlen);
		if (r < 0)
			return r;
		for (j = 0; j < i; j++)
			if (b->channels[j].relid == b->channels[i].relid)
				return bad(err, errlen, "relid %u saved twice",
					   b->channels[i].relid);
	}
	r = decode_queue(s, in, b, err, errlen);
	if (r == 0 && state_in_finish(in) < 0)
		r = bad(err, errlen, "%zu bytes after the last field", in->len - in->pos);
	return r;
}

/* ---- Load: rebuilding ---- */

static bool is_saved(const struct saved_bus *b, const struct vmbus_channel *ch)
{
	uint32_t i;

	for (i = 0; i < b->nchannels; i++)
		if (b->channels[i].ch == ch)
			return true;
	return false;
}

static const char *describe(const struct saved_channel *c, char *buf, size_t len)
{
	char cls[GUID_STRING_LEN], inst[GUID_STRING_LEN];

	snprintf(buf, len, "relid %u (class %s, instance %s, sub-channel %u)", c->relid,
		 guid_format(&c->class_id, cls), guid_format(&c->instance_id, inst), c->subidx);
	return buf;
}

/* Moves ch to relid `to` (under s->lock); a channel not yet restored that sits there swaps. */
static void move_channel(struct vmbus_server *s, struct vmbus_channel *ch, uint32_t to)
{
	struct vmbus_channel *other = s->channels[to];
	uint32_t from = ch->relid;

	if (from == to)
		return;
	s->channels[from] = other;
	if (other) {
		other->relid = from;
		other->doorbell = &s->doorbells[from];
		other->efd = other->doorbell->efd;
		other->signals_base = atomic_load(&other->doorbell->signals);
	}
	s->channels[to] = ch;
	ch->relid = to;
	ch->doorbell = &s->doorbells[to];
	ch->efd = ch->doorbell->efd;
	ch->signals_base = atomic_load(&ch->doorbell->signals);
}

/* Every relid a saved channel takes gets its doorbell (an eventfd) first. */
static int make_doorbells(struct vmbus_server *s, const struct saved_bus *b)
{
	uint32_t i;

	for (i = 0; i < b->nchannels; i++) {
		struct vmbus_doorbell *db = &s->doorbells[b->channels[i].relid];

		if (db->efd < 0) {
			db->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			if (db->efd < 0)
				return -errno;
		}
	}
	return 0;
}

static const struct vmbus_channel_ops placeholder_ops = {.vsp_name = "a rescinded channel"};

/* A rescinded channel has no device: the server keeps its relid until RELID_RELEASED. */
static int restore_rescinded(struct vmbus_server *s, struct saved_channel *c, char *err,
			     size_t errlen)
{
	struct vmbus_channel_params p = {
		.name = "rescinded",
		.class_id = c->class_id,
		.instance_id = c->instance_id,
	};
	int r = vmbus_channel_new(s, &p, &placeholder_ops, NULL, &c->ch);

	if (r < 0)
		return bad(err, errlen, "relid %u: cannot keep the rescinded channel: %s", c->relid,
			   strerror(-r));
	pthread_mutex_lock(&s->lock);
	c->ch->params.subchannel_index = (uint16_t)c->subidx;
	move_channel(s, c->ch, c->relid);
	atomic_store(&c->ch->state, VMBUS_CHANNEL_RESCINDED);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static struct vmbus_channel *find_match(struct vmbus_server *s, const struct saved_bus *b,
					const struct saved_channel *c)
{
	unsigned relid;

	for (relid = 1; relid <= VMBUS_MAX_RELID; relid++) {
		struct vmbus_channel *ch = s->channels[relid];

		if (ch && ch->ops != &placeholder_ops && !is_saved(b, ch) &&
		    guid_equal(&ch->params.class_id, &c->class_id) &&
		    guid_equal(&ch->params.instance_id, &c->instance_id) &&
		    ch->params.subchannel_index == c->subidx)
			return ch;
	}
	return NULL;
}

/* The rings of a saved open channel, as the host had them. Under s->lock. */
static int restore_rings(struct vmbus_server *s, struct saved_channel *c, char *err, size_t errlen)
{
	struct vmbus_channel *ch = c->ch;
	int r = vmbus_channel_setup_loop(ch, c->ring_gpadl, c->ring_offset, c->target_vp);

	if (r < 0)
		return bad(err, errlen, "channel '%s': ring GPADL %#x at page offset %u: %s",
			   ch->name, c->ring_gpadl, c->ring_offset, strerror(-r));
	c->set_up = true;
	if (vmbus_ring_set_private_index(ch->in, c->in_index) < 0 ||
	    vmbus_ring_set_private_index(ch->out, c->out_index) < 0)
		return bad(err, errlen, "channel '%s': ring indices %u, %u", ch->name, c->in_index,
			   c->out_index);
	if (c->reserved >= vmbus_ring_data_size(ch->out))
		return bad(err, errlen, "channel '%s': %u bytes reserved", ch->name, c->reserved);
	ch->reserved = c->reserved;
	ch->blocked_len = c->blocked_len;
	atomic_store(&ch->broken, c->broken);
	return 0;
}

static int restore_channel(struct vmbus_server *s, struct saved_bus *b, struct saved_channel *c,
			   char *err, size_t errlen)
{
	char what[160];
	struct vmbus_channel *ch;
	struct state_in in;
	int r = 0;

	if (c->state == VMBUS_CHANNEL_RESCINDED)
		return restore_rescinded(s, c, err, errlen);
	pthread_mutex_lock(&s->lock);
	ch = find_match(s, b, c);
	if (!ch) {
		pthread_mutex_unlock(&s->lock);
		return bad(err, errlen, "channel %s is not in this VM",
			   describe(c, what, sizeof(what)));
	}
	c->ch = ch;
	move_channel(s, ch, c->relid);
	atomic_store(&ch->target_vp, c->target_vp);
	if (c->state == VMBUS_CHANNEL_OPEN)
		r = restore_rings(s, c, err, errlen);
	atomic_store(&ch->state, c->state);
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		return r;
	if (c->state != VMBUS_CHANNEL_OPEN && c->vsp_len == 0)
		return 0;
	if (!ch->ops->load)
		return bad(err, errlen, "%s on channel '%s' cannot be restored", vsp_name(ch),
			   ch->name);
	state_in_init(&in, c->vsp, c->vsp_len);
	what[0] = 0;
	r = ch->ops->load(ch->opaque, ch, &in, what, sizeof(what));
	if (r == 0 && state_in_finish(&in) < 0)
		snprintf(what, sizeof(what), "its state is %s",
			 in.error ? "truncated" : "longer than its fields"),
			r = -EBADMSG;
	if (r < 0)
		return bad(err, errlen, "%s on channel '%s': %s", vsp_name(ch), ch->name,
			   what[0] ? what : strerror(-r));
	c->vsp_loaded = true;
	return 0;
}

/* Primaries first: their VSPs create the sub-channels the saved state has. */
static int restore_channels(struct vmbus_server *s, struct saved_bus *b, char *err, size_t errlen)
{
	unsigned pass, relid;
	uint32_t i;
	int r;

	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < b->nchannels; i++) {
			struct saved_channel *c = &b->channels[i];

			if ((c->subidx != 0 && c->state != VMBUS_CHANNEL_RESCINDED) != (pass == 1))
				continue;
			r = restore_channel(s, b, c, err, errlen);
			if (r < 0)
				return r;
		}
	pthread_mutex_lock(&s->lock);
	for (relid = 1; relid <= VMBUS_MAX_RELID; relid++)
		if (s->channels[relid] && !is_saved(b, s->channels[relid])) {
			char name[32];

			snprintf(name, sizeof(name), "%s", s->channels[relid]->name);
			pthread_mutex_unlock(&s->lock);
			return bad(err, errlen, "channel '%s' of this VM is not in the saved state",
				   name);
		}
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* After a failed load: channels set up but never started go back to closed. */
static void undo_channels(struct vmbus_server *s, struct saved_bus *b)
{
	uint32_t i;

	for (i = 0; b->channels && i < b->nchannels; i++) {
		struct saved_channel *c = &b->channels[i];

		if (!c->set_up)
			continue;
		if (c->vsp_loaded && c->ch->ops->close)
			c->ch->ops->close(c->ch->opaque, c->ch);
		pthread_mutex_lock(&s->lock);
		vmbus_channel_drop_loop(c->ch);
		atomic_store(&c->ch->state, VMBUS_CHANNEL_OFFERED);
		pthread_mutex_unlock(&s->lock);
		c->set_up = false;
	}
}

/* The loops start; each open channel is signalled both ways once (a lost signal is harmless). */
static int start_loops(struct vmbus_server *s, struct saved_bus *b, char *err, size_t errlen)
{
	uint32_t i;
	int r;

	for (i = 0; i < b->nchannels; i++) {
		struct saved_channel *c = &b->channels[i];
		struct vmbus_channel *ch = c->ch;

		if (!c->set_up)
			continue;
		atomic_store(&ch->wake_requested, true);
		pthread_mutex_lock(&s->lock);
		r = vmbus_channel_start_loop(ch);
		pthread_mutex_unlock(&s->lock);
		if (r < 0)
			return bad(err, errlen, "channel '%s': cannot start its thread: %s",
				   ch->name, strerror(-r));
		c->set_up = false;
		vmbus_channel_wake(ch);
		if (s->cfg.synic->signal_event(s->cfg.synic_opaque, c->target_vp,
					       VMBUS_MESSAGE_SINT, ch->relid) == 0)
			atomic_fetch_add(&ch->stats.signals_out, 1);
	}
	return 0;
}

static int check_new(struct vmbus_server *s, char *err, size_t errlen)
{
	unsigned relid;
	int r = 0;

	pthread_mutex_lock(&s->lock);
	if (s->conn != VMBUS_CONN_DISCONNECTED || vmbus_gpadl_count(s->gpadls) || s->quiesced)
		r = -EBUSY;
	for (relid = 1; relid <= VMBUS_MAX_RELID; relid++)
		if (s->channels[relid] &&
		    atomic_load(&s->channels[relid]->state) != VMBUS_CHANNEL_UNOFFERED)
			r = -EBUSY;
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_lock(&s->queue_lock);
	if (s->queue_count)
		r = -EBUSY;
	pthread_mutex_unlock(&s->queue_lock);
	if (r < 0)
		snprintf(err, errlen,
			 "the VMBus has been used: a saved state loads into a new one");
	return r;
}

static void restore_connection(struct vmbus_server *s, const struct saved_bus *b)
{
	pthread_mutex_lock(&s->lock);
	s->conn = b->conn;
	s->version = b->version;
	atomic_store(&s->version_public, b->version);
	s->target_vcpu = b->target_vcpu;
	s->offers_delivered = b->offers_delivered;
	s->interrupt_page = b->interrupt_page;
	s->monitor_pages[0] = b->monitor_pages[0];
	s->monitor_pages[1] = b->monitor_pages[1];
	pthread_mutex_unlock(&s->lock);
}

/*
 * The guest messages that were queued, last: the message thread may take
 * them at once, and one may close a channel, whose loop must be running.
 */
static void restore_queue(struct vmbus_server *s, const struct saved_bus *b)
{
	uint32_t i;

	pthread_mutex_lock(&s->queue_lock);
	for (i = 0; i < b->nqueued; i++)
		s->queue[(s->queue_head + s->queue_count++) % VMBUS_MESSAGE_QUEUE_LEN] =
			b->queued[i];
	pthread_cond_signal(&s->queue_cond);
	pthread_mutex_unlock(&s->queue_lock);
}

int vmbus_server_load(struct vmbus_server *s, struct state_reader *rd, char *err, size_t errlen)
{
	struct saved_bus b = {0};
	struct state_in in;
	uint32_t version;
	void *data = NULL;
	size_t len;
	int r = check_new(s, err, errlen);

	if (r == 0)
		r = state_reader_section(rd, VMBUS_STATE_SECTION, &version, &data, &len, err,
					 errlen);
	if (r < 0)
		return r;
	if (version == 0 || version > VMBUS_STATE_VERSION) {
		snprintf(err, errlen, "section '%s' is version %u; this build reads up to %u",
			 VMBUS_STATE_SECTION, version, VMBUS_STATE_VERSION);
		free(data);
		return -EPROTONOSUPPORT;
	}
	state_in_init(&in, data, len);
	pthread_mutex_lock(&s->lock);
	r = decode(s, &in, &b, err, errlen);
	pthread_mutex_unlock(&s->lock);
	if (r == 0)
		r = make_doorbells(s, &b);
	if (r == 0) {
		pthread_mutex_lock(&s->lock);
		s->loading = true;
		pthread_mutex_unlock(&s->lock);
		r = restore_channels(s, &b, err, errlen);
		pthread_mutex_lock(&s->lock);
		s->loading = false;
		pthread_mutex_unlock(&s->lock);
	}
	if (r == 0) {
		restore_connection(s, &b);
		r = start_loops(s, &b, err, errlen);
	}
	if (r == 0)
		restore_queue(s, &b);
	if (r < 0)
		undo_channels(s, &b);
	free(b.channels);
	free(b.queued);
	free(data);
	return r;
}

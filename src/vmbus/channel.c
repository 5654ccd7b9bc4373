/*
 * VMBus channels (vmbus.h): offers, the open/close sequence on the host
 * side, the per-channel worker thread that drains the guest->host ring,
 * and sends into the host->guest ring.
 *
 * State machine (enum vmbus_channel_state, transitions under the server
 * lock): UNOFFERED -(REQUESTOFFERS or hot add)-> OFFERED -(OPENCHANNEL
 * accepted)-> OPEN -(CLOSECHANNEL)-> OFFERED; UNLOAD takes any state but
 * RESCINDED back to UNOFFERED; the host's removal takes any state to
 * RESCINDED (RESCIND sent if the guest had the offer).
 *
 * The worker sleeps on an eventfd that guest signals (HvSignalEvent on the
 * channel's connection id) and host wake-ups write. It masks the ring's
 * interrupts while draining, unmasks and looks again before sleeping (so a
 * busy ring needs no signals at all), and signals the guest when it frees
 * the room a blocked guest writer asked for (pending_send_sz).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/clock.h"
#include "vmbus/server_internal.h"

#define DEFAULT_MAX_PACKET (16 * KiB)

const char *vmbus_channel_state_name(enum vmbus_channel_state state)
{
	switch (state) {
	case VMBUS_CHANNEL_UNOFFERED: return "unoffered";
	case VMBUS_CHANNEL_OFFERED: return "offered";
	case VMBUS_CHANNEL_OPEN: return "open";
	case VMBUS_CHANNEL_RESCINDED: return "rescinded";
	}
	return "?";
}

static void signal_guest(struct vmbus_channel *ch)
{
	struct vmbus_server *s = ch->server;
	int r;

	atomic_fetch_add(&ch->stats.signals_out, 1);
	r = s->cfg.synic->signal_event(s->cfg.synic_opaque, atomic_load(&ch->target_vp),
				       VMBUS_MESSAGE_SINT, ch->relid);
	if (r < 0)
		guest_log(&s->errors, LOG_WARN, "%s: cannot signal the guest: %s", ch->name,
			  strerror(-r));
}

void vmbus_channel_send_offer(struct vmbus_channel *ch)
{
	struct vmbus_msg_offer_channel m = {.header.msgtype = VMBUS_MSG_OFFERCHANNEL};
	const struct vmbus_channel_params *p = &ch->params;

	m.offer.if_type = p->class_id;
	m.offer.if_instance = p->instance_id;
	m.offer.chn_flags = p->flags;
	m.offer.mmio_megabytes = p->mmio_megabytes;
	m.offer.sub_channel_index = p->subchannel_index;
	if (p->pipe_message_mode) {
		uint32_t mode = VMBUS_PIPE_TYPE_MESSAGE;

		m.offer.chn_flags |= VMBUS_OFFER_FLAG_NAMED_PIPE_MODE;
		memcpy(m.offer.user_def, &mode, sizeof(mode));
	}
	m.child_relid = ch->relid;
	/* No monitor pages: every channel has a dedicated interrupt (HvSignalEvent). */
	m.monitorid = VMBUS_OFFER_NO_MONITOR_ID;
	m.monitor_flags = 0;
	m.interrupt_flags = VMBUS_OFFER_DEDICATED_INTERRUPT;
	m.connection_id = VMBUS_CHANNEL_CONNECTION_BASE + ch->relid;
	atomic_store(&ch->state, VMBUS_CHANNEL_OFFERED);
	vmbus_server_post(ch->server, &m, sizeof(m));
}

/* --- The worker --- */

static void clear_eventfd(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing pending. */
	}
}

/*
 * Reads the packets the guest has written; returns when the ring is empty and unmasked, or
 * after VMBUS_DRAIN_BUDGET packets with interrupts still masked and the eventfd written, so
 * that the worker loop looks at stop, its timer and blocked sends, then comes back.
 */
static void drain(struct vmbus_channel *ch)
{
	struct vmbus_server *s = ch->server;
	size_t max = ch->params.max_packet_size;
	unsigned budget = VMBUS_DRAIN_BUDGET;
	bool got = false;

	if (atomic_load(&ch->broken))
		return;
	vmbus_ring_mask_interrupts(ch->in);
	for (;;) {
		if (budget-- == 0) {
			uint64_t one = 1;

			if (got && ch->ops->batch_end)
				ch->ops->batch_end(ch->opaque, ch);
			atomic_fetch_add(&ch->stats.drain_yields, 1);
			if (write(ch->efd, &one, sizeof(one)) < 0) {
				/* cannot fail with a counter this small */
			}
			return;
		}
		struct vmbus_packet_desc d;
		struct vmbus_packet pkt;
		size_t len;
		int r = vmbus_ring_read(ch->in, ch->rxbuf, max, &len);

		if (r == -EAGAIN) {
			if (got && ch->ops->batch_end) {
				/* The back end works on the batch while the ring refills. */
				ch->ops->batch_end(ch->opaque, ch);
				got = false;
			}
			if (!vmbus_ring_unmask_interrupts(ch->in))
				return;
			vmbus_ring_mask_interrupts(ch->in);
			continue;
		}
		if (r == -EMSGSIZE) {
			if (vmbus_ring_read_commit(ch->in))
				signal_guest(ch);
			atomic_fetch_add(&ch->stats.bad_packets, 1);
			guest_error_report(&s->errors,
					   "%s: guest packet larger than %zu bytes dropped",
					   ch->name, max);
			continue;
		}
		if (r < 0) {
			atomic_fetch_add(&ch->stats.bad_packets, 1);
			atomic_store(&ch->broken, true);
			guest_error_report(&s->errors,
					   "%s: the guest corrupted its ring: no more reads",
					   ch->name);
			if (got && ch->ops->batch_end)
				ch->ops->batch_end(ch->opaque, ch);
			return;
		}
		/* The packet is copied out: give its room back before handling it. */
		if (vmbus_ring_read_commit(ch->in))
			signal_guest(ch);
		memcpy(&d, ch->rxbuf, sizeof(d));
		pkt = (struct vmbus_packet){
			.type = d.type,
			.flags = d.flags,
			.trans_id = d.trans_id,
			.data = ch->rxbuf + (size_t)d.offset8 * 8,
			.len = len - (size_t)d.offset8 * 8,
			.raw = ch->rxbuf,
			.raw_len = len,
		};
		atomic_fetch_add(&ch->stats.packets_in, 1);
		got = true;
		if (ch->ops->packet)
			ch->ops->packet(ch->opaque, ch, &pkt);
	}
}

static void *worker_main(void *arg)
{
	struct vmbus_channel *ch = arg;
	char name[16];

	snprintf(name, sizeof(name), "vmbus-%.9s", ch->name);
	pthread_setname_np(pthread_self(), name);
	for (;;) {
		struct pollfd pfd = {.fd = ch->efd, .events = POLLIN};
		uint64_t deadline = atomic_load(&ch->timer_deadline_ns), now;
		uint32_t blocked;
		bool wake;
		int timeout = -1;

		now = time_monotonic_ns();
		if (deadline)
			timeout = deadline <= now ? 0
						  : (int)MIN((deadline - now + 999999) / 1000000,
							     (uint64_t)60000);
		if (!atomic_load(&ch->wake_requested))
			poll(&pfd, 1, timeout);
		clear_eventfd(ch->efd);
		if (atomic_load(&ch->stop))
			break;
		wake = atomic_exchange(&ch->wake_requested, false);
		deadline = atomic_load(&ch->timer_deadline_ns);
		if (deadline && time_monotonic_ns() >= deadline) {
			atomic_compare_exchange_strong(&ch->timer_deadline_ns, &deadline, 0);
			wake = true;
		}
		blocked = atomic_load(&ch->send_blocked_len);
		if (blocked) {
			bool room;

			/* Senders on other threads move the ring's write index under send_lock. */
			pthread_mutex_lock(&ch->send_lock);
			room = vmbus_ring_can_write(ch->out, blocked);
			pthread_mutex_unlock(&ch->send_lock);
			if (room) {
				atomic_store(&ch->send_blocked_len, 0);
				wake = true;
			}
		}
		drain(ch);
		if (wake && ch->ops->wake)
			ch->ops->wake(ch->opaque, ch);
	}
	return NULL;
}

/* --- Open and close (server lock held) --- */

uint32_t vmbus_channel_open_locked(struct vmbus_channel *ch, const struct vmbus_msg_open_channel *m)
{
	struct vmbus_server *s = ch->server;
	struct vmbus_gpadl *g = vmbus_gpadl_find(s->gpadls, m->ringbuffer_gpadlhandle);
	uint32_t off = m->downstream_ringbuffer_pageoffset;
	int r;

	/* The page offset is checked against the GPADL's length by vmbus_ring_new. */
	if (!g || g->child_relid != ch->relid || g->range_count != 1 || g->first_byte_offset != 0 ||
	    off >= g->npfns || m->target_vp >= s->cfg.vcpus) {
		vmbus_server_guest_error(s,
					 "%s: OPENCHANNEL with GPADL %#x, offset %u, VP %u refused",
					 ch->name, m->ringbuffer_gpadlhandle, off, m->target_vp);
		return VMBUS_STATUS_UNSUCCESSFUL;
	}
	r = vmbus_ring_new(s->cfg.mem, g, 0, off, false, &ch->in);
	if (r == 0)
		r = vmbus_ring_new(s->cfg.mem, g, off, g->npfns - off, true, &ch->out);
	if (r < 0) {
		vmbus_server_guest_error(s, "%s: OPENCHANNEL with unusable rings (%s)", ch->name,
					 strerror(-r));
		goto fail;
	}
	atomic_store(&ch->target_vp, m->target_vp);
	atomic_store(&ch->stop, false);
	atomic_store(&ch->broken, false);
	atomic_store(&ch->send_blocked_len, 0);
	clear_eventfd(ch->efd);
	if (ch->ops->open) {
		r = ch->ops->open(ch->opaque, ch, m->userdata);
		if (r < 0)
			goto fail;
	}
	r = -pthread_create(&ch->worker, NULL, worker_main, ch);
	if (r < 0) {
		pv_log(LOG_ERR, "vmbus: %s: cannot start the channel thread: %s", ch->name,
		       strerror(-r));
		if (ch->ops->close)
			ch->ops->close(ch->opaque, ch);
		goto fail;
	}
	ch->worker_running = true;
	ch->ring_gpadl = g->id;
	g->users++;
	atomic_store(&ch->open, true);
	atomic_store_explicit(&ch->doorbell->open, true, memory_order_release);
	atomic_store(&ch->state, VMBUS_CHANNEL_OPEN);
	atomic_fetch_add(&ch->stats.opens, 1);
	/* Packets may already be waiting (the guest writes before it knows the result). */
	vmbus_channel_wake(ch);
	return VMBUS_STATUS_SUCCESS;
fail:
	ch->in = vmbus_ring_free(ch->in);
	ch->out = vmbus_ring_free(ch->out);
	return VMBUS_STATUS_UNSUCCESSFUL;
}

void vmbus_channel_close(struct vmbus_channel *ch, enum vmbus_channel_state next)
{
	struct vmbus_server *s = ch->server;
	struct vmbus_gpadl *g;
	uint64_t one = 1;

	if (!ch->worker_running || ch->closing)
		return;
	ch->closing = true;
	atomic_store(&ch->doorbell->open, false);
	atomic_store(&ch->open, false);
	atomic_store(&ch->stop, true);
	if (write(ch->efd, &one, sizeof(one)) < 0) {
		/* cannot fail with a counter this small */
	}
	/*
	 * Without the lock: the channel's thread may be inside a callback
	 * that takes it (storvsp's CREATE_SUB_CHANNELS creates channels), and
	 * the VSP's close may wait for work that does.
	 */
	pthread_mutex_unlock(&s->lock);
	pthread_join(ch->worker, NULL);
	if (ch->ops->close)
		ch->ops->close(ch->opaque, ch);
	pthread_mutex_lock(&s->lock);
	ch->worker_running = false;
	pthread_mutex_lock(&ch->send_lock);
	ch->in = vmbus_ring_free(ch->in);
	ch->out = vmbus_ring_free(ch->out);
	pthread_mutex_unlock(&ch->send_lock);
	atomic_store(&ch->timer_deadline_ns, 0);
	g = vmbus_gpadl_find(s->gpadls, ch->ring_gpadl);
	if (g && g->users && --g->users == 0 && g->teardown_pending) {
		struct vmbus_msg_gpadl_torndown done = {
			.header.msgtype = VMBUS_MSG_GPADL_TORNDOWN,
			.gpadl = g->id,
		};

		if (vmbus_gpadl_remove(s->gpadls, g->id) == 0)
			vmbus_server_post(s, &done, sizeof(done));
	}
	atomic_store(&ch->state, next);
	ch->closing = false;
	pthread_cond_broadcast(&s->closed_cond);
}

/* --- The VSP's API --- */

int vmbus_channel_new(struct vmbus_server *s, const struct vmbus_channel_params *params,
		      const struct vmbus_channel_ops *ops, void *opaque, struct vmbus_channel **ret)
{
	struct vmbus_channel *ch;
	uint32_t relid;
	int r;

	if (!params || !ops || (params->subchannel_index && !params->primary) ||
	    params->max_packet_size > VMBUS_MAX_PACKET_SIZE)
		return -EINVAL;
	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	ch->efd = -1;
	ch->server = s;
	snprintf(ch->name, sizeof(ch->name), "%s", params->name ? params->name : "channel");
	ch->params = *params;
	ch->params.name = ch->name;
	if (!ch->params.max_packet_size)
		ch->params.max_packet_size = DEFAULT_MAX_PACKET;
	ch->ops = ops;
	ch->opaque = opaque;
	pthread_mutex_init(&ch->send_lock, NULL);
	ch->rxbuf = malloc(ch->params.max_packet_size);
	if (!ch->rxbuf) {
		free(ch);
		return -ENOMEM;
	}
	pthread_mutex_lock(&s->lock);
	for (relid = 1; relid <= VMBUS_MAX_RELID; relid++)
		if (!s->channels[relid])
			break;
	if (relid <= VMBUS_MAX_RELID && s->doorbells[relid].efd < 0) {
		s->doorbells[relid].efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		r = s->doorbells[relid].efd < 0 ? -errno : 0;
	} else {
		r = relid <= VMBUS_MAX_RELID ? 0 : -ENOSPC;
	}
	if (r < 0) {
		pthread_mutex_unlock(&s->lock);
		free(ch->rxbuf);
		free(ch);
		return r;
	}
	ch->relid = relid;
	ch->doorbell = &s->doorbells[relid];
	ch->efd = ch->doorbell->efd;
	ch->signals_base = atomic_load(&ch->doorbell->signals);
	atomic_store(&ch->state, VMBUS_CHANNEL_UNOFFERED);
	s->channels[relid] = ch;
	if (s->conn == VMBUS_CONN_CONNECTED && s->offers_delivered)
		vmbus_channel_send_offer(ch);
	pthread_mutex_unlock(&s->lock);
	*ret = ch;
	return 0;
}

static void channel_release(struct vmbus_channel *ch)
{
	pthread_mutex_destroy(&ch->send_lock);
	free(ch->rxbuf);
	free(ch);
}

void vmbus_channel_destroy_locked(struct vmbus_channel *ch)
{
	ch->server->channels[ch->relid] = NULL;
	channel_release(ch);
}

/* What a rescinded channel keeps of its VSP: nothing (the VSP may be gone). */
static const struct vmbus_channel_ops rescinded_ops;

struct vmbus_channel *vmbus_channel_free(struct vmbus_channel *ch)
{
	struct vmbus_server *s;
	enum vmbus_channel_state st;
	bool stopping;

	if (!ch)
		return NULL;
	s = ch->server;
	pthread_mutex_lock(&s->queue_lock);
	stopping = s->stopping;
	pthread_mutex_unlock(&s->queue_lock);
	pthread_mutex_lock(&s->lock);
	/* Another thread (the message thread) may be closing it without the lock: let it finish. */
	while (ch->closing)
		pthread_cond_wait(&s->closed_cond, &s->lock);
	if (atomic_load(&ch->state) == VMBUS_CHANNEL_OPEN)
		vmbus_channel_close(ch, VMBUS_CHANNEL_OFFERED);
	st = atomic_load(&ch->state);
	if (st == VMBUS_CHANNEL_OFFERED && s->conn == VMBUS_CONN_CONNECTED && !stopping) {
		struct vmbus_msg_relid m = {
			.header.msgtype = VMBUS_MSG_RESCIND_CHANNELOFFER,
			.child_relid = ch->relid,
		};

		/*
		 * The guest had the offer: the channel lives on, detached from its
		 * VSP, holding its relid until the guest's RELID_RELEASED.
		 */
		ch->ops = &rescinded_ops;
		ch->opaque = NULL;
		atomic_store(&ch->state, VMBUS_CHANNEL_RESCINDED);
		vmbus_server_post(s, &m, sizeof(m));
		pthread_mutex_unlock(&s->lock);
		return NULL;
	}
	vmbus_channel_destroy_locked(ch);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int vmbus_channel_send(struct vmbus_channel *ch, uint16_t type, uint16_t flags, uint64_t trans_id,
		       const void *data, size_t len)
{
	static const uint8_t zeros[8];
	struct vmbus_packet_desc d;
	struct iovec iov[3];
	size_t padded = ALIGN_UP(len, (size_t)8);
	bool signal = false;
	int r;

	/* len8 (16 bits, in 8-byte units) must describe descriptor and payload. */
	if (len > ch->params.max_packet_size || sizeof(d) + padded > VMBUS_MAX_PACKET_SIZE ||
	    (type != VMBUS_PKT_DATA_INBAND && type != VMBUS_PKT_COMP))
		return -EINVAL;
	d = (struct vmbus_packet_desc){
		.type = type,
		.offset8 = sizeof(d) / 8,
		.len8 = (uint16_t)((sizeof(d) + padded) / 8),
		.flags = flags,
		.trans_id = trans_id,
	};
	iov[0] = (struct iovec){.iov_base = &d, .iov_len = sizeof(d)};
	iov[1] = (struct iovec){.iov_base = (void *)data, .iov_len = len};
	iov[2] = (struct iovec){.iov_base = (void *)zeros, .iov_len = padded - len};
	pthread_mutex_lock(&ch->send_lock);
	if (!atomic_load(&ch->open) || !ch->out) {
		pthread_mutex_unlock(&ch->send_lock);
		return -ENOTCONN;
	}
	r = vmbus_ring_write(ch->out, iov, 3, &signal);
	pthread_mutex_unlock(&ch->send_lock);
	if (r == -EAGAIN) {
		atomic_fetch_add(&ch->stats.ring_full, 1);
		atomic_store(&ch->send_blocked_len, (uint32_t)(sizeof(d) + padded));
		return r;
	}
	if (r < 0) {
		atomic_fetch_add(&ch->stats.bad_packets, 1);
		return r;
	}
	atomic_fetch_add(&ch->stats.packets_out, 1);
	if (signal)
		signal_guest(ch);
	return 0;
}

void vmbus_channel_wake(struct vmbus_channel *ch)
{
	uint64_t one = 1;

	atomic_store(&ch->wake_requested, true);
	if (write(ch->efd, &one, sizeof(one)) < 0) {
		/* cannot fail with a counter this small */
	}
}

void vmbus_channel_set_timer(struct vmbus_channel *ch, uint64_t delay_ns)
{
	atomic_store(&ch->timer_deadline_ns, time_monotonic_ns() + (delay_ns ? delay_ns : 1));
}

enum vmbus_channel_state vmbus_channel_state(struct vmbus_channel *ch)
{
	return (enum vmbus_channel_state)atomic_load(&ch->state);
}

uint32_t vmbus_channel_relid(const struct vmbus_channel *ch)
{
	return ch->relid;
}

const char *vmbus_channel_name(const struct vmbus_channel *ch)
{
	return ch->name;
}

void vmbus_channel_get_stats(struct vmbus_channel *ch, struct vmbus_channel_stats *st)
{
	*st = (struct vmbus_channel_stats){
		.packets_in = atomic_load(&ch->stats.packets_in),
		.packets_out = atomic_load(&ch->stats.packets_out),
		.signals_in = atomic_load(&ch->doorbell->signals) - ch->signals_base,
		.signals_out = atomic_load(&ch->stats.signals_out),
		.ring_full = atomic_load(&ch->stats.ring_full),
		.bad_packets = atomic_load(&ch->stats.bad_packets),
		.opens = atomic_load(&ch->stats.opens),
		.drain_yields = atomic_load(&ch->stats.drain_yields),
	};
}

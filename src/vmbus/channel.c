/*
 * VMBus channels (vmbus.h): offers, the open/close sequence on the host
 * side, the channel's loop, and sends into the host->guest ring.
 *
 * State machine (enum vmbus_channel_state, transitions under the server
 * lock): UNOFFERED -(REQUESTOFFERS or hot add)-> OFFERED -(OPENCHANNEL
 * accepted)-> OPEN -(CLOSECHANNEL)-> OFFERED; UNLOAD takes any state but
 * RESCINDED back to UNOFFERED; vmbus_channel_free of an offered channel
 * takes it to RESCINDED until the guest's RELID_RELEASED.
 *
 * The loop (one thread per open channel) sleeps in epoll_wait on the
 * doorbell's eventfd (guest signals, host wake-ups) and the VSP's own fds
 * (its io_uring's eventfd). It masks the ring's interrupts while it
 * drains, keeps looking for a short spin after the last packet (the VSP's
 * poll callback reaps completions meanwhile), then unmasks and looks
 * again before sleeping, so a busy ring needs no signals at all. A packet
 * the VSP answers BUSY stays in the ring, interrupts stay masked until
 * the VSP wakes the channel. Interrupts to the guest are batched: one per
 * loop round at most, when a write or a freed room asks for one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/clock.h"
#include "vmbus/server_internal.h"

#define DEFAULT_MAX_PACKET (16 * KiB)
#define DOORBELL_TAG	   UINT32_MAX /* epoll data of the doorbell; VSP fds carry their handle */
#define MAX_EVENTS	   16
/* Bytes a packet of len payload bytes takes in a ring: descriptor, padded payload, trailer. */
#define PACKET_BYTES(len)                                                                          \
	(sizeof(struct vmbus_packet_desc) + ALIGN_UP((len), (size_t)8) + VMBUS_PACKET_TRAILER_SIZE)

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

/* --- The loop --- */

static void clear_eventfd(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing pending. */
	}
}

/* One interrupt for everything this round asked for. */
static void flush_signal(struct vmbus_channel *ch)
{
	if (ch->signal_pending) {
		ch->signal_pending = false;
		signal_guest(ch);
	}
}

static void broken_ring(struct vmbus_channel *ch)
{
	atomic_fetch_add(&ch->stats.bad_packets, 1);
	atomic_store(&ch->broken, true);
	guest_error_report(&ch->server->errors, "%s: the guest corrupted its ring: no more reads",
			   ch->name);
}

/*
 * The spin adapts as KVM's halt polling does: it halves when it ends with
 * nothing found (the next event comes later than it waits: the CPU is
 * wasted), doubles, up to the configured maximum, when it finds work or
 * when the loop, having slept, is woken sooner than the maximum spin (a
 * spin would have caught it).
 */
#define POLL_MIN_NS 1000u

static void spin_grow(struct vmbus_channel *ch)
{
	uint64_t n = ch->poll_ns ? ch->poll_ns * 2 : ch->poll_max_ns / 4;

	ch->poll_ns = MIN(MAX(n, (uint64_t)POLL_MIN_NS), ch->poll_max_ns);
}

static void spin_shrink(struct vmbus_channel *ch)
{
	ch->poll_ns /= 2;
	if (ch->poll_ns < POLL_MIN_NS)
		ch->poll_ns = 0;
}

/* While spinning: true to keep spinning, false to stop (deadline, or the loop has other work). */
static bool spin(struct vmbus_channel *ch, uint64_t *deadline)
{
	uint64_t now;

	if (!ch->poll_ns || atomic_load(&ch->stop) || atomic_load(&ch->wake_requested) ||
	    atomic_load(&ch->quiescing))
		return false;
	now = time_monotonic_ns();
	if (!*deadline)
		*deadline = now + ch->poll_ns;
	if (now >= *deadline) {
		spin_shrink(ch);
		return false;
	}
	if (ch->ops->poll && ch->ops->poll(ch->opaque, ch)) {
		/* Completions found: answers went out; keep spinning from now. */
		atomic_fetch_add(&ch->stats.polls, 1);
		flush_signal(ch);
		spin_grow(ch);
		*deadline = now + ch->poll_ns;
	}
	__builtin_ia32_pause();
	return true;
}

/*
 * Reads packets until the ring is empty (and stays empty through the
 * spin), then returns with interrupts unmasked; or until the VSP is busy,
 * then returns with them masked; or after VMBUS_DRAIN_BUDGET packets, with
 * them masked and need_drain set, so that the loop looks at stop, its
 * timer and blocked sends before it comes back (a guest that refills its
 * ring for ever cannot keep the loop from closing).
 */
static void drain(struct vmbus_channel *ch)
{
	struct vmbus_server *s = ch->server;
	size_t max = ch->params.max_packet_size;
	unsigned budget = VMBUS_DRAIN_BUDGET;
	uint64_t deadline = 0;
	bool got = false, spun = false;

	ch->need_drain = false;
	if (atomic_load(&ch->broken))
		return;
	vmbus_ring_mask_interrupts(ch->in);
	for (;;) {
		struct vmbus_packet_desc d;
		struct vmbus_packet pkt;
		uint32_t pos;
		size_t len;
		int r;

		if (atomic_load_explicit(&ch->quiescing, memory_order_relaxed)) {
			/* At a packet boundary: the rest stays in the ring (and is saved there). */
			if (got && ch->ops->batch_end)
				ch->ops->batch_end(ch->opaque, ch);
			flush_signal(ch);
			ch->need_drain = true;
			return;
		}
		if (budget-- == 0) {
			if (got && ch->ops->batch_end)
				ch->ops->batch_end(ch->opaque, ch);
			flush_signal(ch);
			atomic_fetch_add(&ch->stats.drain_yields, 1);
			ch->need_drain = true; /* the loop comes back at once (next_timeout) */
			return;
		}
		pos = vmbus_ring_read_pos(ch->in);
		r = vmbus_ring_read(ch->in, ch->rxbuf, max, &len);

		if (r == -EAGAIN) {
			if (got && ch->ops->batch_end) {
				/* The back end works on the batch while the ring refills. */
				ch->ops->batch_end(ch->opaque, ch);
				got = false;
			}
			flush_signal(ch);
			if (spin(ch, &deadline)) {
				spun = true;
				continue;
			}
			if (!vmbus_ring_unmask_interrupts(ch->in))
				return;
			vmbus_ring_mask_interrupts(ch->in);
			continue;
		}
		if (r == -EMSGSIZE) {
			if (vmbus_ring_read_commit(ch->in))
				ch->signal_pending = true;
			atomic_fetch_add(&ch->stats.bad_packets, 1);
			guest_error_report(&s->errors,
					   "%s: guest packet larger than %zu bytes dropped",
					   ch->name, max);
			continue;
		}
		if (r < 0) {
			broken_ring(ch);
			if (got && ch->ops->batch_end)
				ch->ops->batch_end(ch->opaque, ch);
			flush_signal(ch);
			return;
		}
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
		if (ch->ops->packet && ch->ops->packet(ch->opaque, ch, &pkt) == VMBUS_PACKET_BUSY) {
			/* Not taken: it stays in the ring, the guest's signals stay masked. */
			vmbus_ring_read_rewind(ch->in, pos);
			atomic_fetch_add(&ch->stats.busy, 1);
			ch->busy = true;
			if (got && ch->ops->batch_end)
				ch->ops->batch_end(ch->opaque, ch);
			flush_signal(ch);
			return;
		}
		/* Taken (the VSP copied what it keeps): give its room back. */
		if (vmbus_ring_read_commit(ch->in))
			ch->signal_pending = true;
		atomic_fetch_add(&ch->stats.packets_in, 1);
		got = true;
		if (spun) {
			/* The spin caught this packet without a signal. */
			atomic_fetch_add(&ch->stats.polls, 1);
			spin_grow(ch);
			spun = false;
		}
		deadline = 0;
	}
}

/*
 * Asks the guest to signal once reserved + bytes fit (pending_send_sz);
 * true if they fit already. Wanting more than the ring can ever hold asks
 * for nothing: the reservations shrink as answers go out, and each send
 * asks again (send_packet).
 */
static bool want_room(struct vmbus_channel *ch, size_t bytes)
{
	size_t want = ch->reserved + bytes;

	if (want < vmbus_ring_space(ch->out))
		return true;
	return want < vmbus_ring_data_size(ch->out) &&
	       vmbus_ring_want_space(ch->out, (uint32_t)want);
}

/* True if the room a send or reserve waited for is there now. */
static bool room_came(struct vmbus_channel *ch)
{
	if (!ch->blocked_len || !want_room(ch, ch->blocked_len))
		return false;
	ch->blocked_len = 0;
	return true;
}

static int next_timeout(struct vmbus_channel *ch)
{
	uint64_t deadline = atomic_load(&ch->timer_deadline_ns), now;

	/* A busy channel waits for a wake: the doorbell alone does not make it look. */
	if (atomic_load(&ch->wake_requested) ||
	    (ch->need_drain && !ch->busy && !atomic_load(&ch->quiescing)))
		return 0;
	if (!deadline)
		return -1;
	now = time_monotonic_ns();
	return deadline <= now ? 0 : (int)MIN((deadline - now + 999999) / 1000000, (uint64_t)60000);
}

static void *loop_main(void *arg)
{
	struct vmbus_channel *ch = arg;
	struct epoll_event ev[MAX_EVENTS];
	char name[16];

	snprintf(name, sizeof(name), "vmbus-%.9s", ch->name);
	pthread_setname_np(pthread_self(), name);
	atomic_store(&ch->loop_self, pthread_self());
	atomic_store_explicit(&ch->loop_known, true, memory_order_release);
	for (;;) {
		int timeout = next_timeout(ch), n, i;
		uint64_t deadline, slept = timeout ? time_monotonic_ns() : 0;
		bool wake;

		n = epoll_wait(ch->epfd, ev, MAX_EVENTS, timeout);
		/* Woken sooner than the longest spin: spinning longer would have caught it. */
		if (slept && n > 0 && ch->poll_max_ns &&
		    time_monotonic_ns() - slept < ch->poll_max_ns)
			spin_grow(ch);
		for (i = 0; i < n; i++) {
			uint32_t h = ev[i].data.u32;

			if (h == DOORBELL_TAG) {
				ch->need_drain = true;
			} else if (h < ch->nfds && ch->fds[h].fn) {
				ch->fds[h].fn(ch->fds[h].opaque, ch);
			}
		}
		/*
		 * Answers went out (a VSP fd's completions): a guest waiting on them sends
		 * its next request at once, so look at the ring and spin for it (drain)
		 * rather than sleep and take a doorbell signal, an exit on real hardware.
		 */
		if (ch->sent && ch->poll_ns)
			ch->need_drain = true;
		ch->sent = false;
		flush_signal(ch);
		if (atomic_load(&ch->stop))
			break;
		wake = atomic_exchange(&ch->wake_requested, false);
		deadline = atomic_load(&ch->timer_deadline_ns);
		if (deadline && time_monotonic_ns() >= deadline) {
			atomic_compare_exchange_strong(&ch->timer_deadline_ns, &deadline, 0);
			wake = true;
		}
		if (room_came(ch))
			wake = true;
		if (wake) {
			/* The VSP may take what it refused: offer it again. */
			ch->busy = false;
			ch->need_drain = true;
			if (ch->ops->wake)
				ch->ops->wake(ch->opaque, ch);
			flush_signal(ch);
		}
		if (atomic_load(&ch->quiescing)) {
			/*
			 * No new packets; the VSP's fds and wake-ups still run, so that
			 * the work it took completes and is answered. Once it is idle,
			 * the loop ends (vmbus_channel_resume starts a new one).
			 */
			if (!ch->ops->idle || ch->ops->idle(ch->opaque, ch)) {
				flush_signal(ch);
				break;
			}
			continue;
		}
		if (ch->need_drain && !ch->busy)
			drain(ch);
	}
	return NULL;
}

/* --- Open and close (server lock held) --- */

/* What an open channel has beyond its offer: rings, epoll, the VSP's fds. */
static void drop_loop_state(struct vmbus_channel *ch)
{
	ch->in = vmbus_ring_free(ch->in);
	ch->out = vmbus_ring_free(ch->out);
	if (ch->epfd >= 0)
		close(ch->epfd);
	ch->epfd = -1;
	free(ch->fds);
	ch->fds = NULL;
	ch->nfds = 0;
	ch->reserved = 0;
	ch->blocked_len = 0;
}

int vmbus_channel_setup_loop(struct vmbus_channel *ch, uint32_t gpadl, uint32_t off,
			     unsigned target_vp)
{
	struct vmbus_server *s = ch->server;
	struct vmbus_gpadl *g = vmbus_gpadl_find(s->gpadls, gpadl);
	int r;

	/* The page offset is checked against the GPADL's length by vmbus_ring_new. */
	if (!g || g->child_relid != ch->relid || g->range_count != 1 || g->first_byte_offset != 0 ||
	    off >= g->npfns || target_vp >= s->cfg.vcpus)
		return -EINVAL;
	r = vmbus_ring_new(s->cfg.mem, g, 0, off, false, &ch->in);
	if (r == 0)
		r = vmbus_ring_new(s->cfg.mem, g, off, g->npfns - off, true, &ch->out);
	if (r < 0)
		goto fail;
	ch->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ch->epfd < 0) {
		r = -errno;
		pv_log(LOG_ERR, "vmbus: %s: epoll: %s", ch->name, strerror(errno));
		goto fail;
	}
	{
		/*
		 * Edge-triggered: every doorbell write (HvSignalEvent, vmbus_channel_wake) is
		 * an edge, and the loop never has to read the counter back (2^64 writes to
		 * overflow it). One system call less per wake-up.
		 */
		struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u32 = DOORBELL_TAG};

		if (epoll_ctl(ch->epfd, EPOLL_CTL_ADD, ch->efd, &ev) < 0) {
			r = -errno;
			pv_log(LOG_ERR, "vmbus: %s: epoll: %s", ch->name, strerror(errno));
			goto fail;
		}
	}
	atomic_store(&ch->target_vp, target_vp);
	atomic_store(&ch->stop, false);
	atomic_store(&ch->quiescing, false);
	atomic_store(&ch->broken, false);
	atomic_store(&ch->wake_requested, false);
	atomic_store(&ch->loop_known, false);
	ch->loop_parked = false;
	ch->blocked_len = 0;
	ch->reserved = 0;
	ch->busy = false;
	ch->need_drain = true; /* packets may already be waiting: the guest writes before the
				  result */
	ch->signal_pending = false;
	ch->poll_ns = ch->poll_max_ns = s->poll_ns;
	ch->ring_gpadl = gpadl;
	ch->ring_offset = off;
	clear_eventfd(ch->efd);
	/* Usable from here on: the open callback may add fds and wake. */
	atomic_store(&ch->open, true);
	return 0;
fail:
	drop_loop_state(ch);
	return r;
}

int vmbus_channel_start_loop(struct vmbus_channel *ch)
{
	struct vmbus_gpadl *g = vmbus_gpadl_find(ch->server->gpadls, ch->ring_gpadl);
	int r = -pthread_create(&ch->worker, NULL, loop_main, ch);

	if (r < 0) {
		pv_log(LOG_ERR, "vmbus: %s: cannot start the channel thread: %s", ch->name,
		       strerror(-r));
		return r;
	}
	ch->worker_running = true;
	if (g)
		g->users++;
	atomic_store_explicit(&ch->doorbell->open, true, memory_order_release);
	atomic_store(&ch->state, VMBUS_CHANNEL_OPEN);
	atomic_fetch_add(&ch->stats.opens, 1);
	return 0;
}

void vmbus_channel_drop_loop(struct vmbus_channel *ch)
{
	atomic_store(&ch->open, false);
	drop_loop_state(ch);
}

uint32_t vmbus_channel_open_locked(struct vmbus_channel *ch, const struct vmbus_msg_open_channel *m)
{
	struct vmbus_server *s = ch->server;
	int r = vmbus_channel_setup_loop(ch, m->ringbuffer_gpadlhandle,
					 m->downstream_ringbuffer_pageoffset, m->target_vp);

	if (r < 0) {
		vmbus_server_guest_error(
			s, "%s: OPENCHANNEL with GPADL %#x, offset %u, VP %u refused (%s)",
			ch->name, m->ringbuffer_gpadlhandle, m->downstream_ringbuffer_pageoffset,
			m->target_vp, strerror(-r));
		return VMBUS_STATUS_UNSUCCESSFUL;
	}
	if (ch->ops->open) {
		r = ch->ops->open(ch->opaque, ch, m->userdata);
		if (r < 0)
			goto fail;
	}
	r = vmbus_channel_start_loop(ch);
	if (r < 0) {
		if (ch->ops->close)
			ch->ops->close(ch->opaque, ch);
		goto fail;
	}
	return VMBUS_STATUS_SUCCESS;
fail:
	vmbus_channel_drop_loop(ch);
	return VMBUS_STATUS_UNSUCCESSFUL;
}

/* --- Quiesce (vmbus_state.c) --- */

void vmbus_channel_quiesce_begin(struct vmbus_channel *ch)
{
	uint64_t one = 1;

	atomic_store(&ch->quiescing, true);
	if (write(ch->efd, &one, sizeof(one)) < 0) {
		/* cannot fail with a counter this small */
	}
}

void vmbus_channel_quiesce_wait(struct vmbus_channel *ch)
{
	pthread_join(ch->worker, NULL);
	atomic_store(&ch->loop_known, false);
}

int vmbus_channel_resume(struct vmbus_channel *ch)
{
	int r;

	atomic_store(&ch->quiescing, false);
	ch->need_drain = true; /* signals that came meanwhile: look at the ring */
	r = -pthread_create(&ch->worker, NULL, loop_main, ch);
	if (r < 0) {
		pv_log(LOG_ERR, "vmbus: %s: cannot restart the channel thread: %s", ch->name,
		       strerror(-r));
		return r;
	}
	ch->loop_parked = false;
	return 0;
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
	if (!ch->loop_parked)
		pthread_join(ch->worker, NULL);
	ch->loop_parked = false;
	if (ch->ops->close)
		ch->ops->close(ch->opaque, ch);
	pthread_mutex_lock(&s->lock);
	ch->worker_running = false;
	drop_loop_state(ch);
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
	ch->epfd = -1;
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
	/* While loading, the guest had every offer already (vmbus_state.c restores the state). */
	if (s->conn == VMBUS_CONN_CONNECTED && s->offers_delivered && !s->loading)
		vmbus_channel_send_offer(ch);
	pthread_mutex_unlock(&s->lock);
	*ret = ch;
	return 0;
}

static void channel_release(struct vmbus_channel *ch)
{
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
	/*
	 * A quiesced server is being saved or torn down after a save: the guest
	 * is told nothing (its state is in the file; a restored VM has the channel).
	 */
	stopping = stopping || s->quiesced;
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

/*
 * Writes one packet; the caller checked the room it may use. hdr (hlen bytes, a multiple of 8)
 * is the rest of the packet's header after the descriptor (a transfer-page packet's ranges):
 * offset8 covers it, and the payload follows it.
 */
static int send_packet_hdr(struct vmbus_channel *ch, uint16_t type, uint16_t flags,
			   uint64_t trans_id, const void *hdr, size_t hlen, const void *data,
			   size_t len)
{
	static const uint8_t zeros[8];
	size_t padded = ALIGN_UP(len, (size_t)8);
	struct vmbus_packet_desc d = {
		.type = type,
		.offset8 = (uint16_t)((sizeof(d) + hlen) / 8),
		.len8 = (uint16_t)((sizeof(d) + hlen + padded) / 8),
		.flags = flags,
		.trans_id = trans_id,
	};
	struct iovec iov[4] = {
		{.iov_base = &d, .iov_len = sizeof(d)},
		{.iov_base = (void *)hdr, .iov_len = hlen},
		{.iov_base = (void *)data, .iov_len = len},
		{.iov_base = (void *)zeros, .iov_len = padded - len},
	};
	bool signal = false;
	int r = vmbus_ring_write(ch->out, iov, 4, &signal);

	if (r == -EAGAIN) {
		atomic_fetch_add(&ch->stats.ring_full, 1);
		ch->blocked_len = (uint32_t)PACKET_BYTES(hlen + len);
		return r;
	}
	if (r < 0) {
		atomic_fetch_add(&ch->stats.bad_packets, 1);
		return r;
	}
	/* A successful write clears pending_send_sz: ask again for what still waits. */
	if (ch->blocked_len && want_room(ch, ch->blocked_len)) {
		ch->blocked_len = 0;
		atomic_store(&ch->wake_requested, true);
	}
	atomic_fetch_add(&ch->stats.packets_out, 1);
	ch->sent = true;
	if (signal)
		ch->signal_pending = true; /* sent when the loop ends this round */
	return 0;
}

static int send_packet(struct vmbus_channel *ch, uint16_t type, uint16_t flags, uint64_t trans_id,
		       const void *data, size_t len)
{
	return send_packet_hdr(ch, type, flags, trans_id, NULL, 0, data, len);
}

static int check_send(struct vmbus_channel *ch, uint16_t type, size_t len)
{
	/* len8 (16 bits, in 8-byte units) must describe descriptor and payload. */
	if (len > ch->params.max_packet_size ||
	    sizeof(struct vmbus_packet_desc) + ALIGN_UP(len, (size_t)8) > VMBUS_MAX_PACKET_SIZE ||
	    (type != VMBUS_PKT_DATA_INBAND && type != VMBUS_PKT_COMP))
		return -EINVAL;
	if (!atomic_load(&ch->open) || !ch->out)
		return -ENOTCONN;
	return 0;
}

/* Room for `need` more bytes beyond the reservations? If not, ask the guest to say when. */
static bool room_for(struct vmbus_channel *ch, size_t need)
{
	if (want_room(ch, need))
		return true;
	atomic_fetch_add(&ch->stats.ring_full, 1);
	ch->blocked_len = (uint32_t)need; /* the loop looks again each round (room_came) */
	return false;
}

int vmbus_channel_send(struct vmbus_channel *ch, uint16_t type, uint16_t flags, uint64_t trans_id,
		       const void *data, size_t len)
{
	int r = check_send(ch, type, len);

	if (r < 0)
		return r;
	if (!room_for(ch, PACKET_BYTES(len)))
		return -EAGAIN;
	return send_packet(ch, type, flags, trans_id, data, len);
}

int vmbus_channel_reserve(struct vmbus_channel *ch, size_t len)
{
	int r = check_send(ch, VMBUS_PKT_COMP, len);

	if (r < 0)
		return r;
	if (!room_for(ch, PACKET_BYTES(len)))
		return -EAGAIN;
	ch->reserved += PACKET_BYTES(len);
	return 0;
}

void vmbus_channel_unreserve(struct vmbus_channel *ch, size_t len)
{
	size_t n = PACKET_BYTES(len);

	ch->reserved = ch->reserved >= n ? ch->reserved - n : 0;
}

int vmbus_channel_send_reserved(struct vmbus_channel *ch, uint16_t type, uint16_t flags,
				uint64_t trans_id, const void *data, size_t len)
{
	int r = check_send(ch, type, len);

	if (r < 0)
		return r;
	vmbus_channel_unreserve(ch, len);
	return send_packet(ch, type, flags, trans_id, data, len);
}

int vmbus_channel_send_xfer_pages(struct vmbus_channel *ch, uint16_t flags, uint64_t trans_id,
				  uint16_t pageset_id, const struct vmbus_xfer_range *ranges,
				  unsigned nranges, const void *data, size_t len, bool reserved)
{
	uint8_t hdr[sizeof(struct vmbus_xfer_page_header) +
		    VMBUS_XFER_MAX_RANGES * sizeof(struct vmbus_xfer_range)];
	struct vmbus_xfer_page_header h = {.xfer_pageset_id = pageset_id, .range_cnt = nranges};
	size_t hlen = sizeof(h) + (size_t)nranges * sizeof(*ranges);
	int r;

	if (nranges == 0 || nranges > VMBUS_XFER_MAX_RANGES)
		return -EINVAL;
	r = check_send(ch, VMBUS_PKT_DATA_INBAND, hlen + len);
	if (r < 0)
		return r;
	if (reserved)
		vmbus_channel_unreserve(ch, hlen + len);
	else if (!room_for(ch, PACKET_BYTES(hlen + len)))
		return -EAGAIN;
	memcpy(hdr, &h, sizeof(h));
	memcpy(hdr + sizeof(h), ranges, (size_t)nranges * sizeof(*ranges));
	return send_packet_hdr(ch, VMBUS_PKT_DATA_USING_XFER_PAGES, flags, trans_id, hdr, hlen,
			       data, len);
}

/* --- Device buffers (GPADLs a VSP maps) --- */

int vmbus_channel_map_gpadl(struct vmbus_channel *ch, uint32_t id, struct vmbus_gpadl_map *ret)
{
	struct vmbus_server *s = ch->server;
	uint32_t relid = ch->params.primary ? ch->params.primary->relid : ch->relid;
	struct vmbus_gpadl *g;
	void **pages;
	int r;

	pthread_mutex_lock(&s->lock);
	g = vmbus_gpadl_find(s->gpadls, id);
	if (!g || g->child_relid != relid || g->teardown_pending || g->range_count != 1 ||
	    g->first_byte_offset != 0 || g->npfns == 0) {
		pthread_mutex_unlock(&s->lock);
		return -ENOENT;
	}
	pages = calloc(g->npfns, sizeof(*pages));
	if (!pages) {
		pthread_mutex_unlock(&s->lock);
		return -ENOMEM;
	}
	r = vmbus_gpadl_map_pages(s->cfg.mem, g, 0, g->npfns, pages);
	if (r < 0) {
		pthread_mutex_unlock(&s->lock);
		free(pages);
		return r;
	}
	g->users++;
	*ret = (struct vmbus_gpadl_map){
		.id = id,
		.npages = g->npfns,
		.len = MIN((uint64_t)g->first_byte_count, (uint64_t)g->npfns * 4096u),
		.pages = pages,
		.generation = atomic_load(&s->gpadl_generation),
	};
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void vmbus_channel_unmap_gpadl(struct vmbus_channel *ch, struct vmbus_gpadl_map *m)
{
	struct vmbus_server *s = ch->server;
	struct vmbus_gpadl *g;

	if (!m->pages)
		return;
	pthread_mutex_lock(&s->lock);
	/* After an UNLOAD the table was cleared: the handle may name a new GPADL. */
	g = m->generation == atomic_load(&s->gpadl_generation) ? vmbus_gpadl_find(s->gpadls, m->id)
							       : NULL;
	if (g && g->users && --g->users == 0 && g->teardown_pending) {
		struct vmbus_msg_gpadl_torndown done = {
			.header.msgtype = VMBUS_MSG_GPADL_TORNDOWN,
			.gpadl = g->id,
		};

		if (vmbus_gpadl_remove(s->gpadls, g->id) == 0)
			vmbus_server_post(s, &done, sizeof(done));
	}
	pthread_mutex_unlock(&s->lock);
	free(m->pages);
	*m = (struct vmbus_gpadl_map){0};
}

static bool on_loop(struct vmbus_channel *ch)
{
	return atomic_load_explicit(&ch->loop_known, memory_order_acquire) &&
	       pthread_equal(atomic_load(&ch->loop_self), pthread_self());
}

void vmbus_channel_wake(struct vmbus_channel *ch)
{
	uint64_t one = 1;

	atomic_store(&ch->wake_requested, true);
	/* On the loop itself the flag is enough: it looks at it before it sleeps. */
	if (on_loop(ch))
		return;
	if (write(ch->efd, &one, sizeof(one)) < 0) {
		/* cannot fail with a counter this small */
	}
}

static int add_fd(struct vmbus_channel *ch, int fd, uint32_t events,
		  void (*fn)(void *opaque, struct vmbus_channel *ch), void *opaque)
{
	struct epoll_event ev = {.events = events};
	unsigned h;

	if (!fn || fd < 0)
		return -EINVAL;
	if (ch->epfd < 0)
		return -ENOTCONN;
	for (h = 0; h < ch->nfds; h++)
		if (!ch->fds[h].fn)
			break;
	if (h == ch->nfds) {
		struct vmbus_channel_fd *v = realloc(ch->fds, (h + 1) * sizeof(*v));

		if (!v)
			return -ENOMEM;
		ch->fds = v;
		ch->nfds = h + 1;
	}
	ev.data.u32 = h;
	if (epoll_ctl(ch->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		ch->fds[h].fn = NULL;
		return -errno;
	}
	ch->fds[h] = (struct vmbus_channel_fd){.fd = fd, .fn = fn, .opaque = opaque};
	return (int)h;
}

int vmbus_channel_add_fd(struct vmbus_channel *ch, int fd,
			 void (*fn)(void *opaque, struct vmbus_channel *ch), void *opaque)
{
	return add_fd(ch, fd, EPOLLIN, fn, opaque);
}

int vmbus_channel_add_event_fd(struct vmbus_channel *ch, int fd,
			       void (*fn)(void *opaque, struct vmbus_channel *ch), void *opaque)
{
	/* eventfd wakes its waiters on every write, so each write is an edge (fs/eventfd.c). */
	return add_fd(ch, fd, EPOLLIN | EPOLLET, fn, opaque);
}

void vmbus_channel_remove_fd(struct vmbus_channel *ch, int h)
{
	if (h < 0 || (unsigned)h >= ch->nfds || !ch->fds[h].fn)
		return;
	if (epoll_ctl(ch->epfd, EPOLL_CTL_DEL, ch->fds[h].fd, NULL) < 0) {
		/* the fd was closed already: epoll forgot it */
	}
	/* An event of this round already fetched finds the slot empty. */
	ch->fds[h].fn = NULL;
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
		.busy = atomic_load(&ch->stats.busy),
		.polls = atomic_load(&ch->stats.polls),
	};
}

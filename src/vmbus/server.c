/*
 * The VMBus connection protocol, host side (vmbus.h): version negotiation,
 * offers, GPADLs, open/close, rescind, unload, modify. One message thread
 * processes the guest's messages in order (or the owner, with
 * manual_dispatch); vCPU threads only queue them.
 *
 * Guest side it answers: Linux 6.1 drivers/hv/connection.c (versions
 * 5.3..2.4, connection id 4 for >= 5.0), channel_mgmt.c (what each reply
 * must contain and how long it must be), channel.c (GPADL, open, close,
 * teardown sequences). A guest's mistake gets the protocol's own error
 * (a refused version, a failed GPADL_CREATED or OPENCHANNEL_RESULT) or is
 * ignored, with a counter and a rate-limited log line; it never stops the
 * host. Wire formats: hvdef/vmbus_proto.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmbus/server_internal.h"

/* Versions offered, newest first (connection.c vmbus_versions[]). */
static const uint32_t supported_versions[] = {
	VMBUS_VERSION_WIN10_V5_3, VMBUS_VERSION_WIN10_V5_2, VMBUS_VERSION_WIN10_V5_1,
	VMBUS_VERSION_WIN10_V5,	  VMBUS_VERSION_WIN10_V4_1, VMBUS_VERSION_WIN10,
	VMBUS_VERSION_WIN8_1,	  VMBUS_VERSION_WIN8,
};

void vmbus_server_guest_error(struct vmbus_server *s, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	s->stats.bad_messages++;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	guest_error_report(&s->errors, "%s", line);
}

void vmbus_server_post(struct vmbus_server *s, const void *msg, size_t len)
{
	int r = s->cfg.synic->post_message(s->cfg.synic_opaque, s->target_vcpu, VMBUS_MESSAGE_SINT,
					   VMBUS_SYNIC_MESSAGE_TYPE, msg, len);

	if (r < 0)
		guest_log(&s->errors, LOG_WARN, "cannot post message type %u: %s",
			  ((const struct vmbus_msg_header *)msg)->msgtype, strerror(-r));
}

static bool version_supported(const struct vmbus_server *s, uint32_t v)
{
	unsigned i;

	if (v > s->cfg.max_version)
		return false;
	for (i = 0; i < ARRAY_SIZE(supported_versions); i++)
		if (supported_versions[i] == v)
			return true;
	return false;
}

bool vmbus_server_version_supported(const struct vmbus_server *s, uint32_t version)
{
	return version_supported(s, version);
}

static struct vmbus_channel *channel_by_relid(struct vmbus_server *s, uint32_t relid)
{
	return relid >= 1 && relid <= VMBUS_MAX_RELID ? s->channels[relid] : NULL;
}

/*
 * Back to the state before INITIATE_CONTACT: every channel closed and
 * unoffered, rescinded relids released, GPADLs dropped. What UNLOAD asks
 * for, and what a second INITIATE_CONTACT (kexec without unload) implies.
 */
static void reset_connection(struct vmbus_server *s)
{
	unsigned relid;

	/* First, so that channels created while a close drops the lock stay unoffered. */
	s->offers_delivered = false;
	for (relid = 1; relid <= VMBUS_MAX_RELID; relid++) {
		struct vmbus_channel *ch = s->channels[relid];

		if (!ch)
			continue;
		if (ch->closing) {
			/* A VSP's thread is freeing it: wait, then look at this relid again. */
			pthread_cond_wait(&s->closed_cond, &s->lock);
			relid--;
			continue;
		}
		if (atomic_load(&ch->state) == VMBUS_CHANNEL_OPEN) {
			vmbus_channel_close(ch, VMBUS_CHANNEL_UNOFFERED);
			relid--; /* the lock was dropped: look at this relid again */
			continue;
		}
		if (atomic_load(&ch->state) == VMBUS_CHANNEL_RESCINDED)
			vmbus_channel_destroy_locked(ch); /* the new connection never saw it */
		else
			atomic_store(&ch->state, VMBUS_CHANNEL_UNOFFERED);
	}
	vmbus_gpadl_table_clear(s->gpadls);
	atomic_fetch_add(&s->gpadl_generation, 1);
	s->conn = VMBUS_CONN_DISCONNECTED;
	s->version = 0;
	atomic_store(&s->version_public, 0);
}

static void on_initiate_contact(struct vmbus_server *s, const struct vmbus_queued_msg *q)
{
	struct vmbus_msg_initiate_contact m = {0};
	struct vmbus_msg_version_response resp = {.header.msgtype = VMBUS_MSG_VERSION_RESPONSE};
	uint32_t conn_id = q->connection_id;
	bool ok;

	/* Before 5.0 the message ends before interrupt_page_or_sint's second half. */
	memcpy(&m, q->data, MIN((size_t)q->len, sizeof(m)));
	if (s->conn == VMBUS_CONN_CONNECTED) {
		/* A new guest kernel (kexec, crash kernel) that did not unload: start over. */
		guest_log(&s->errors, LOG_INFO,
			  "guest reconnects without UNLOAD: resetting the connection");
		reset_connection(s);
	}
	ok = version_supported(s, m.vmbus_version_requested) && m.target_vcpu < s->cfg.vcpus;
	/* >= 5.0 names its message SINT; only SINT 2 is served. */
	if (ok && m.vmbus_version_requested >= VMBUS_VERSION_WIN10_V5 &&
	    (uint8_t)m.interrupt_page_or_sint != VMBUS_MESSAGE_SINT)
		ok = false;
	/* Versions >= 5.0 must come on connection id 4, older ones on 1 (connection.c). */
	if (ok && (m.vmbus_version_requested >= VMBUS_VERSION_WIN10_V5) !=
			  (conn_id == VMBUS_MESSAGE_CONNECTION_ID_4))
		ok = false;
	s->target_vcpu = m.target_vcpu < s->cfg.vcpus ? m.target_vcpu : 0;
	if (ok) {
		s->conn = VMBUS_CONN_CONNECTED;
		s->version = m.vmbus_version_requested;
		atomic_store(&s->version_public, s->version);
		s->stats.connects++;
		s->interrupt_page = m.interrupt_page_or_sint;
		s->monitor_pages[0] = m.monitor_page1;
		s->monitor_pages[1] = m.monitor_page2;
		resp.version_supported = 1;
		resp.msg_conn_id = s->version >= VMBUS_VERSION_WIN10_V5
					   ? VMBUS_MESSAGE_CONNECTION_ID
					   : s->version;
	}
	vmbus_server_post(s, &resp, sizeof(resp));
}

static void on_request_offers(struct vmbus_server *s, const struct vmbus_queued_msg *q)
{
	struct vmbus_msg_header done = {.msgtype = VMBUS_MSG_ALLOFFERS_DELIVERED};
	unsigned relid;

	if (s->offers_delivered) {
		vmbus_server_guest_error(s, "REQUESTOFFERS again");
		return;
	}
	for (relid = 1; relid <= VMBUS_MAX_RELID; relid++) {
		struct vmbus_channel *ch = s->channels[relid];

		if (ch && atomic_load(&ch->state) == VMBUS_CHANNEL_UNOFFERED)
			vmbus_channel_send_offer(ch);
	}
	s->offers_delivered = true;
	vmbus_server_post(s, &done, sizeof(done));
	(void)q;
}

static void send_gpadl_created(struct vmbus_server *s, uint32_t relid, uint32_t id, uint32_t status)
{
	struct vmbus_msg_gpadl_created m = {
		.header.msgtype = VMBUS_MSG_GPADL_CREATED,
		.child_relid = relid,
		.gpadl = id,
		.creation_status = status,
	};

	vmbus_server_post(s, &m, sizeof(m));
}

static void gpadl_result(struct vmbus_server *s, int r, uint32_t id, uint32_t relid,
			 const char *what)
{
	if (r == 1) {
		send_gpadl_created(s, relid, id, VMBUS_STATUS_SUCCESS);
		return;
	}
	if (r == 0)
		return;
	s->stats.gpadl_errors++;
	vmbus_server_guest_error(s, "%s for GPADL %#x refused: %s", what, id, strerror(-r));
	/* A body for no pending GPADL has nobody waiting for an answer. */
	if (r != -ENOENT)
		send_gpadl_created(s, relid, id, VMBUS_STATUS_UNSUCCESSFUL);
}

static void on_gpadl_header(struct vmbus_server *s, const struct vmbus_queued_msg *q)
{
	struct vmbus_channel *ch;
	uint32_t id = 0, relid = 0;
	int r;

	memcpy(&relid, q->data + offsetof(struct vmbus_msg_gpadl_header, child_relid), 4);
	memcpy(&id, q->data + offsetof(struct vmbus_msg_gpadl_header, gpadl), 4);
	ch = channel_by_relid(s, relid);
	if (!ch || atomic_load(&ch->state) == VMBUS_CHANNEL_RESCINDED)
		r = -ENODEV;
	else
		r = vmbus_gpadl_header(s->gpadls, q->data, q->len, &id, &relid);
	gpadl_result(s, r, id, relid, "GPADL_HEADER");
}

static void on_gpadl_body(struct vmbus_server *s, const struct vmbus_queued_msg *q)
{
	uint32_t id = 0, relid = 0;
	int r = vmbus_gpadl_body(s->gpadls, q->data, q->len, &id, &relid);

	gpadl_result(s, r, id, relid, "GPADL_BODY");
}

static void on_gpadl_teardown(struct vmbus_server *s, const struct vmbus_queued_msg *q)
{
	struct vmbus_msg_gpadl_teardown m;
	struct vmbus_msg_gpadl_torndown done = {.header.msgtype = VMBUS_MSG_GPADL_TORNDOWN};
	int r;

	memcpy(&m, q->data, sizeof(m));
	r = vmbus_gpadl_remove(s->gpadls, m.gpadl);
	if (r == -EBUSY)
		return; /* answered when the channel using it closes */
	if (r < 0) {
		vmbus_server_guest_error(s, "GPADL_TEARDOWN of unknown GPADL %#x", m.gpadl);
		return;
	}
	done.gpadl = m.gpadl;
	vmbus_server_post(s, &done, sizeof(done));
}

static void on_open_channel(struct vmbus_server *s, const struct vmbus_queued_msg *q)
{
	struct vmbus_msg_open_channel m;
	struct vmbus_msg_open_result res = {.header.msgtype = VMBUS_MSG_OPENCHANNEL_RESULT};
	struct vmbus_channel *ch;

	memcpy(&m, q->data, sizeof(m));
	res.child_relid = m.child_relid;
	res.openid = m.openid;
	ch = channel_by_relid(s, m.child_relid);
	if (ch && atomic_load(&ch->state) == VMBUS_CHANNEL_RESCINDED)
		return; /* like Hyper-V: a rescinded channel's open is ignored (channel_mgmt.c) */
	if (!ch || atomic_load(&ch->state) != VMBUS_CHANNEL_OFFERED || ch->closing) {
		vmbus_server_guest_error(s, "OPENCHANNEL of relid %u, which is %s", m.child_relid,
					 ch ? vmbus_channel_state_name(atomic_load(&ch->state))
					    : "not offered");
		res.status = VMBUS_STATUS_UNSUCCESSFUL;
	} else {
		res.status = vmbus_channel_open_locked(ch, &m);
	}
	if (res.status != VMBUS_STATUS_SUCCESS)
		s->stats.open_errors++;
	vmbus_server_post(s, &res, sizeof(res));
}

static void on_close_channel(struct vmbus_server *s, const struct vmbus_queued_msg *q)
{
	struct vmbus_msg_relid m;
	struct vmbus_channel *ch;

	memcpy(&m, q->data, sizeof(m));
	ch = channel_by_relid(s, m.child_relid);
	if (ch && ch->closing)
		return; /* the host is removing it (vmbus_channel_free) */
	if (!ch || atomic_load(&ch->state) != VMBUS_CHANNEL_OPEN) {
		/* A rescinded channel is already closed: a late close is no mistake. */
		if (!ch || atomic_load(&ch->state) != VMBUS_CHANNEL_RESCINDED)
			vmbus_server_guest_error(s, "CLOSECHANNEL of relid %u, which is not open",
						 m.child_relid);
		return;
	}
	vmbus_channel_close(ch, VMBUS_CHANNEL_OFFERED);
}

static void on_relid_released(struct vmbus_server *s, const struct vmbus_queued_msg *q)
{
	struct vmbus_msg_relid m;
	struct vmbus_channel *ch;

	memcpy(&m, q->data, sizeof(m));
	ch = channel_by_relid(s, m.child_relid);
	if (ch && atomic_load(&ch->state) == VMBUS_CHANNEL_RESCINDED) {
		/* The end of a rescinded channel: its relid can be handed out again. */
		vmbus_channel_destroy_locked(ch);
		return;
	}
	vmbus_server_guest_error(s, "RELID_RELEASED of relid %u, which was not rescinded",
				 m.child_relid);
}

static void on_unload(struct vmbus_server *s, const struct vmbus_queued_msg *q)
{
	struct vmbus_msg_header resp = {.msgtype = VMBUS_MSG_UNLOAD_RESPONSE};

	reset_connection(s);
	s->stats.unloads++;
	vmbus_server_post(s, &resp, sizeof(resp));
	(void)q;
}

static void on_modify_channel(struct vmbus_server *s, const struct vmbus_queued_msg *q)
{
	struct vmbus_msg_modifychannel m;
	struct vmbus_msg_modifychannel_response resp = {
		.header.msgtype = VMBUS_MSG_MODIFYCHANNEL_RESPONSE,
	};
	struct vmbus_channel *ch;

	memcpy(&m, q->data, sizeof(m));
	ch = channel_by_relid(s, m.child_relid);
	resp.child_relid = m.child_relid;
	if (!ch || m.target_vp >= s->cfg.vcpus ||
	    atomic_load(&ch->state) == VMBUS_CHANNEL_RESCINDED) {
		vmbus_server_guest_error(s, "MODIFYCHANNEL of relid %u to VP %u refused",
					 m.child_relid, m.target_vp);
		resp.status = VMBUS_STATUS_UNSUCCESSFUL;
	} else {
		atomic_store(&ch->target_vp, m.target_vp);
	}
	/* Only 5.3 guests wait for an answer (channel.c send_modifychannel_with_ack). */
	if (s->version >= VMBUS_VERSION_WIN10_V5_3)
		vmbus_server_post(s, &resp, sizeof(resp));
}

static void on_tl_connect(struct vmbus_server *s, const struct vmbus_queued_msg *q)
{
	vmbus_server_guest_error(s, "hv_sock connection requested: not supported");
	(void)q;
}

/* In which connection states a message is legal (bits of 1 << enum vmbus_conn_state). */
#define IN_DISCONNECTED (1u << VMBUS_CONN_DISCONNECTED)
#define IN_CONNECTED	(1u << VMBUS_CONN_CONNECTED)
#define IN_ANY		(IN_DISCONNECTED | IN_CONNECTED)

/*
 * Every guest message the host accepts: the length and state checks are
 * here, once (Linux's channel_message_table in channel_mgmt.c is the
 * guest's half). A handler gets a message at least min_len bytes long,
 * in a state it is legal in, under s->lock.
 */
struct msg_handler {
	uint32_t type;
	const char *name;
	uint32_t min_len;
	unsigned states;
	void (*fn)(struct vmbus_server *s, const struct vmbus_queued_msg *q);
};

static const struct msg_handler handlers[] = {
	/* Before 5.0 the message ends with the interrupt page; the SINT byte came later. */
	{VMBUS_MSG_INITIATE_CONTACT, "INITIATE_CONTACT",
	 offsetof(struct vmbus_msg_initiate_contact, interrupt_page_or_sint), IN_ANY,
	 on_initiate_contact},
	{VMBUS_MSG_UNLOAD, "UNLOAD", sizeof(struct vmbus_msg_header), IN_ANY, on_unload},
	{VMBUS_MSG_REQUESTOFFERS, "REQUESTOFFERS", sizeof(struct vmbus_msg_header), IN_CONNECTED,
	 on_request_offers},
	{VMBUS_MSG_GPADL_HEADER, "GPADL_HEADER", sizeof(struct vmbus_msg_gpadl_header),
	 IN_CONNECTED, on_gpadl_header},
	{VMBUS_MSG_GPADL_BODY, "GPADL_BODY", sizeof(struct vmbus_msg_gpadl_body), IN_CONNECTED,
	 on_gpadl_body},
	{VMBUS_MSG_GPADL_TEARDOWN, "GPADL_TEARDOWN", sizeof(struct vmbus_msg_gpadl_teardown),
	 IN_CONNECTED, on_gpadl_teardown},
	{VMBUS_MSG_OPENCHANNEL, "OPENCHANNEL", sizeof(struct vmbus_msg_open_channel), IN_CONNECTED,
	 on_open_channel},
	{VMBUS_MSG_CLOSECHANNEL, "CLOSECHANNEL", sizeof(struct vmbus_msg_relid), IN_CONNECTED,
	 on_close_channel},
	{VMBUS_MSG_RELID_RELEASED, "RELID_RELEASED", sizeof(struct vmbus_msg_relid), IN_CONNECTED,
	 on_relid_released},
	{VMBUS_MSG_MODIFYCHANNEL, "MODIFYCHANNEL", sizeof(struct vmbus_msg_modifychannel),
	 IN_CONNECTED, on_modify_channel},
	{VMBUS_MSG_TL_CONNECT_REQUEST, "TL_CONNECT_REQUEST", sizeof(struct vmbus_msg_header),
	 IN_CONNECTED, on_tl_connect},
};

/* Processes one guest message, under s->lock. */
static void process_message(struct vmbus_server *s, const struct vmbus_queued_msg *q)
{
	const struct msg_handler *h = NULL;
	struct vmbus_msg_header hdr;
	unsigned i;

	s->stats.messages++;
	if (q->len < sizeof(hdr)) {
		vmbus_server_guest_error(s, "message of %u bytes", q->len);
		return;
	}
	memcpy(&hdr, q->data, sizeof(hdr));
	for (i = 0; i < ARRAY_SIZE(handlers); i++)
		if (handlers[i].type == hdr.msgtype)
			h = &handlers[i];
	if (!h) {
		vmbus_server_guest_error(s, "unexpected message type %u", hdr.msgtype);
		return;
	}
	if (q->len < h->min_len) {
		vmbus_server_guest_error(s, "%s of %u bytes", h->name, q->len);
		return;
	}
	if (!(h->states & (1u << s->conn))) {
		vmbus_server_guest_error(s, "%s before INITIATE_CONTACT", h->name);
		return;
	}
	h->fn(s, q);
}

/* Takes the oldest queued message; false if none (or stopping). */
static bool queue_pop(struct vmbus_server *s, struct vmbus_queued_msg *out, bool wait)
{
	pthread_mutex_lock(&s->queue_lock);
	while (wait && !s->stopping && (s->queue_count == 0 || s->paused))
		pthread_cond_wait(&s->queue_cond, &s->queue_lock);
	if (s->stopping || s->paused || s->queue_count == 0) {
		pthread_mutex_unlock(&s->queue_lock);
		return false;
	}
	*out = s->queue[s->queue_head];
	s->queue_head = (s->queue_head + 1) % VMBUS_MESSAGE_QUEUE_LEN;
	s->queue_count--;
	s->msg_busy = true;
	pthread_mutex_unlock(&s->queue_lock);
	return true;
}

/* The message queue_pop returned is processed: a quiesce waiting for that may go on. */
static void message_done(struct vmbus_server *s)
{
	pthread_mutex_lock(&s->queue_lock);
	s->msg_busy = false;
	pthread_cond_broadcast(&s->idle_cond);
	pthread_mutex_unlock(&s->queue_lock);
}

static void *message_thread(void *arg)
{
	struct vmbus_server *s = arg;
	struct vmbus_queued_msg q;

	pthread_setname_np(pthread_self(), "vmbus-msg");
	while (queue_pop(s, &q, true)) {
		pthread_mutex_lock(&s->lock);
		process_message(s, &q);
		pthread_mutex_unlock(&s->lock);
		message_done(s);
	}
	return NULL;
}

unsigned vmbus_server_dispatch(struct vmbus_server *s)
{
	struct vmbus_queued_msg q;
	unsigned n = 0;

	while (queue_pop(s, &q, false)) {
		pthread_mutex_lock(&s->lock);
		process_message(s, &q);
		pthread_mutex_unlock(&s->lock);
		message_done(s);
		n++;
	}
	return n;
}

enum vmbus_post_result vmbus_server_handle_message(struct vmbus_server *s, unsigned vp,
						   uint32_t connection_id, const void *payload,
						   size_t len)
{
	struct vmbus_queued_msg *q;

	if (len > VMBUS_MESSAGE_MAX_SIZE || (connection_id != VMBUS_MESSAGE_CONNECTION_ID &&
					     connection_id != VMBUS_MESSAGE_CONNECTION_ID_4))
		return VMBUS_POST_INVALID;
	pthread_mutex_lock(&s->queue_lock);
	if (s->queue_count == VMBUS_MESSAGE_QUEUE_LEN) {
		pthread_mutex_unlock(&s->queue_lock);
		atomic_fetch_add(&s->queue_full, 1);
		return VMBUS_POST_RETRY;
	}
	q = &s->queue[(s->queue_head + s->queue_count) % VMBUS_MESSAGE_QUEUE_LEN];
	q->vp = vp;
	q->connection_id = connection_id;
	q->len = (uint32_t)len;
	memcpy(q->data, payload, len);
	s->queue_count++;
	pthread_cond_signal(&s->queue_cond);
	pthread_mutex_unlock(&s->queue_lock);
	return VMBUS_POST_OK;
}

bool vmbus_server_is_channel_connection_id(uint32_t connection_id)
{
	return connection_id > VMBUS_CHANNEL_CONNECTION_BASE &&
	       connection_id <= VMBUS_CHANNEL_CONNECTION_BASE + VMBUS_MAX_RELID;
}

/*
 * The vCPU's HvSignalEvent: no lock, two atomics and an eventfd write. The
 * doorbell's eventfd outlives every channel of its relid (server_internal.h),
 * so a signal that races with a close at worst wakes nobody.
 */
void vmbus_server_handle_signal(struct vmbus_server *s, uint32_t connection_id)
{
	struct vmbus_doorbell *db;
	uint64_t one = 1;

	if (!vmbus_server_is_channel_connection_id(connection_id)) {
		atomic_fetch_add_explicit(&s->signals_unknown, 1, memory_order_relaxed);
		return;
	}
	db = &s->doorbells[connection_id - VMBUS_CHANNEL_CONNECTION_BASE];
	if (!atomic_load_explicit(&db->open, memory_order_acquire)) {
		atomic_fetch_add_explicit(&s->signals_unknown, 1, memory_order_relaxed);
		return;
	}
	atomic_fetch_add_explicit(&db->signals, 1, memory_order_relaxed);
	if (write(db->efd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow in practice; a failed write loses nothing. */
	}
}

uint32_t vmbus_server_version(struct vmbus_server *s)
{
	return atomic_load(&s->version_public);
}

void vmbus_server_get_stats(struct vmbus_server *s, struct vmbus_server_stats *stats)
{
	pthread_mutex_lock(&s->lock);
	*stats = s->stats;
	pthread_mutex_unlock(&s->lock);
	stats->signals_unknown = atomic_load(&s->signals_unknown);
	stats->queue_full = atomic_load(&s->queue_full);
}

void vmbus_server_for_each_channel(struct vmbus_server *s,
				   void (*fn)(void *opaque, struct vmbus_channel *ch), void *opaque)
{
	unsigned relid;

	pthread_mutex_lock(&s->lock);
	for (relid = 1; relid <= VMBUS_MAX_RELID; relid++)
		if (s->channels[relid])
			fn(opaque, s->channels[relid]);
	pthread_mutex_unlock(&s->lock);
}

int vmbus_server_new(const struct vmbus_server_config *cfg, struct vmbus_server **ret)
{
	struct vmbus_server *s;
	int r;

	if (!cfg->mem || !cfg->synic || !cfg->synic->post_message || !cfg->synic->signal_event ||
	    cfg->vcpus == 0)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	if (s->cfg.max_version == 0)
		s->cfg.max_version = supported_versions[0];
	guest_error_log_init(&s->errors, "vmbus");
	s->poll_ns = cfg->channel_poll_ns == 0		  ? VMBUS_CHANNEL_POLL_NS_DEFAULT
		     : cfg->channel_poll_ns == UINT64_MAX ? 0
							  : cfg->channel_poll_ns;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->queue_lock, NULL);
	pthread_cond_init(&s->queue_cond, NULL);
	pthread_cond_init(&s->closed_cond, NULL);
	pthread_cond_init(&s->idle_cond, NULL);
	for (unsigned relid = 0; relid <= VMBUS_MAX_RELID; relid++)
		s->doorbells[relid].efd = -1;
	r = vmbus_gpadl_table_new(cfg->mem, &s->gpadls);
	if (r == 0 && !cfg->manual_dispatch) {
		r = -pthread_create(&s->thread, NULL, message_thread, s);
		s->thread_running = r == 0;
	}
	if (r < 0) {
		vmbus_server_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

struct vmbus_server *vmbus_server_free(struct vmbus_server *s)
{
	unsigned relid;

	if (!s)
		return NULL;
	pthread_mutex_lock(&s->queue_lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->queue_cond);
	pthread_mutex_unlock(&s->queue_lock);
	if (s->thread_running)
		pthread_join(s->thread, NULL);
	/* Channels the VSPs did not free (callbacks run) and rescinded ones: free them. */
	for (relid = 1; relid <= VMBUS_MAX_RELID; relid++)
		if (s->channels[relid])
			vmbus_channel_free(s->channels[relid]);
	for (relid = 1; relid <= VMBUS_MAX_RELID; relid++)
		if (s->doorbells[relid].efd >= 0)
			close(s->doorbells[relid].efd);
	vmbus_gpadl_table_free(s->gpadls);
	pthread_cond_destroy(&s->closed_cond);
	pthread_cond_destroy(&s->idle_cond);
	pthread_cond_destroy(&s->queue_cond);
	pthread_mutex_destroy(&s->queue_lock);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return NULL;
}

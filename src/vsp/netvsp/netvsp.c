/*
 * The synthetic network adapter (netvsp.h): its channels (the primary and
 * the vRSS sub-channels the guest allocates), the VMBus callbacks, the
 * link state and what the primary's loop sends unasked (link
 * indications, the send indirection table), status, lifecycle. NVSP is in
 * nvsp.c, RNDIS in rndis.c, frames in netvsp_data.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vsp/netvsp/netvsp_internal.h"

/* 10 Gbit/s in RNDIS_OID_GEN_LINK_SPEED's units of 100 bit/s. */
#define NV_LINK_SPEED 100000000u

void netvsp_instance_guid(unsigned index, struct guid *ret)
{
	/* Parvis's own: fixed per adapter index so the guest's names stay stable. */
	static const struct guid base = GUID_INIT(0x7a1b2c31, 0x5d4e, 0x4f60, 0x8a, 0x9b, 0x70,
						  0x61, 0x72, 0x76, 0x00, 0x00);

	*ret = base;
	ret->bytes[14] = (uint8_t)(index >> 8);
	ret->bytes[15] = (uint8_t)index;
}

const char *netvsp_state_name(enum netvsp_state s)
{
	static const char *const names[] = {
		[NETVSP_CLOSED] = "closed",
		[NETVSP_NEGOTIATING] = "negotiating",
		[NETVSP_READY] = "ready",
	};

	return (unsigned)s < ARRAY_SIZE(names) ? names[s] : "?";
}

static struct nv_channel *chan_alloc(struct netvsp *nv, unsigned index)
{
	struct nv_channel *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->nv = nv;
	c->index = index;
	c->tap_fd = nv->tap_fds[index];
	c->tap_handle = -1;
	pthread_mutex_init(&c->handoff_lock, NULL);
	return c;
}

static void chan_free(struct nv_channel *c)
{
	if (!c)
		return;
	while (c->handoff_n) {
		free(c->handoff_frame[c->handoff_head]);
		c->handoff_head = (c->handoff_head + 1) % NV_HANDOFF_MAX;
		c->handoff_n--;
	}
	pthread_mutex_destroy(&c->handoff_lock);
	free(c->txbuf);
	free(c->rxframe);
	free(c);
}

static const struct vmbus_channel_ops nv_ops;

static int create_channel(struct netvsp *nv, struct nv_channel *c)
{
	struct vmbus_channel_params p = {
		.instance_id = nv->instance,
		.subchannel_index = (uint16_t)c->index,
		.primary = c->index ? nv->chans[0]->ch : NULL,
		/* GPA-direct packets of up to NVSP_MAX_RANGES page pieces. */
		.max_packet_size = 16384,
	};
	char name[32];
	int e;

	snprintf(name, sizeof(name), "%s-%u", nv->name, c->index);
	p.name = name;
	e = guid_parse(NETVSP_NIC_CLASS_GUID, &p.class_id);
	if (e == 0)
		e = vmbus_channel_new(nv->cfg.server, &p, &nv_ops, c, &c->ch);
	return e;
}

/* Channels the adapter can give: one per TAP queue and per vCPU. */
static unsigned max_channels(const struct netvsp *nv)
{
	return MIN(MIN(nv->cfg.ntap, MAX(nv->cfg.vcpus, 1u)), (unsigned)NETVSP_MAX_CHANNELS);
}

unsigned nv_create_subchannels(struct netvsp *nv, unsigned count)
{
	struct nv_channel *stale[NETVSP_MAX_CHANNELS];
	unsigned i, nstale = 0, have, want = MIN(count, max_channels(nv) - 1);

	/* Sub-channels of an earlier session of the primary are withdrawn first. */
	pthread_mutex_lock(&nv->lock);
	for (i = 1; i < nv->nchans; i++)
		if (nv->chans[i]->stale)
			stale[nstale++] = nv->chans[i];
	if (nstale)
		nv->nchans = 1;
	have = nv->nchans - 1;
	pthread_mutex_unlock(&nv->lock);
	for (i = 0; i < nstale; i++) {
		vmbus_channel_free(stale[i]->ch);
		chan_free(stale[i]);
	}
	for (i = have + 1; i <= want; i++) {
		struct nv_channel *c = chan_alloc(nv, i);

		if (!c)
			break;
		pthread_mutex_lock(&nv->lock);
		nv->chans[i] = c;
		pthread_mutex_unlock(&nv->lock);
		/* Offered at once: the guest is connected. */
		if (create_channel(nv, c) < 0) {
			pthread_mutex_lock(&nv->lock);
			nv->chans[i] = NULL;
			pthread_mutex_unlock(&nv->lock);
			chan_free(c);
			break;
		}
		pthread_mutex_lock(&nv->lock);
		nv->nchans = i + 1;
		pthread_mutex_unlock(&nv->lock);
	}
	pthread_mutex_lock(&nv->lock);
	nv->subchannels_wanted = nv->nchans - 1;
	pthread_mutex_unlock(&nv->lock);
	return nv->subchannels_wanted;
}

/* The primary's loop: the send indirection table, once every sub-channel is open (A.8). */
static void send_table(struct nv_channel *c)
{
	struct netvsp *nv = c->nv;
	struct nvsp_send_indirection_table t = {
		.msg_type = NVSP_MSG5_TYPE_SEND_INDIRECTION_TABLE,
		.count = NVSP_SEND_INDIRECTION_TABLE_ENTRIES,
		.offset = offsetof(struct nvsp_send_indirection_table, table),
	};
	unsigned i, n = atomic_load(&nv->open_channels);

	if (n == 0)
		return;
	for (i = 0; i < NVSP_SEND_INDIRECTION_TABLE_ENTRIES; i++)
		t.table[i] = i % n;
	if (vmbus_channel_send(c->ch, VMBUS_PKT_DATA_INBAND, 0, 0, &t, sizeof(t)) == 0)
		atomic_store(&nv->table_pending, false);
}

void nv_send_pending(struct nv_channel *c)
{
	struct netvsp *nv = c->nv;
	bool up = atomic_load(&nv->connected);

	if (atomic_load(&nv->state) != NETVSP_READY)
		return;
	if (atomic_load(&nv->link_reported) != (int)up) {
		uint8_t msg[RNDIS_REPLY_MAX];
		size_t len = rndis_build_indicate(
			up ? RNDIS_STATUS_MEDIA_CONNECT : RNDIS_STATUS_MEDIA_DISCONNECT, msg);

		/* -ENOBUFS / -EAGAIN: the next wake (a release or ring room) tries again. */
		if (nv_data_send_control(c, msg, len) == 0) {
			atomic_store(&nv->link_reported, (int)up);
			atomic_fetch_add(&nv->indications, 1);
		}
	}
	if (atomic_load(&nv->table_pending) &&
	    atomic_load(&nv->open_channels) == nv->subchannels_wanted + 1)
		send_table(c);
}

/* --- VMBus callbacks --- */

static int nv_open(void *opaque, struct vmbus_channel *ch, const uint8_t *user_data)
{
	struct nv_channel *c = opaque;
	struct netvsp *nv = c->nv;
	unsigned i;
	int e;

	c->ch = ch;
	e = nv_data_channel_open(c);
	if (e < 0)
		return e;
	if (c->index == 0) {
		/* A new session: the guest negotiates again and asks for new sub-channels. */
		atomic_store(&nv->state, NETVSP_CLOSED);
		atomic_store(&nv->nvsp_version, 0);
		atomic_store(&nv->table_pending, false);
		pthread_mutex_lock(&nv->ctl_lock);
		nv->rndis.initialized = false;
		nv->rndis.packet_filter = 0;
		nv->rndis.nvsp_version = 0;
		nv->rndis.rss_entries = 0;
		atomic_store(&nv->rss_on, false);
		memset(&nv->rndis.offload, 0, sizeof(nv->rndis.offload));
		nv->rndis.rsc_v4 = nv->rndis.rsc_v6 = false;
		nv_rsc_apply(nv, 0);
		pthread_mutex_unlock(&nv->ctl_lock);
		atomic_store(&nv->packet_filter, 0);
		pthread_mutex_lock(&nv->lock);
		for (i = 1; i < nv->nchans; i++)
			nv->chans[i]->stale = true;
		nv->subchannels_wanted = 0;
		pthread_mutex_unlock(&nv->lock);
	}
	if (atomic_fetch_add(&nv->open_channels, 1) + 1 > 1 && c->index) {
		/* A sub-channel: when the last one is open, the primary sends the send table. */
		atomic_store(&nv->table_pending, true);
		pthread_mutex_lock(&nv->lock);
		vmbus_channel_wake(nv->chans[0]->ch);
		pthread_mutex_unlock(&nv->lock);
	}
	return 0;
}

static int nv_packet(void *opaque, struct vmbus_channel *ch, const struct vmbus_packet *pkt)
{
	return nv_nvsp_packet(opaque, pkt);
}

static void nv_wake(void *opaque, struct vmbus_channel *ch)
{
	struct nv_channel *c = opaque;

	nv_data_wake(c);
	if (c->index == 0)
		nv_send_pending(c);
}

static void nv_close(void *opaque, struct vmbus_channel *ch)
{
	struct nv_channel *c = opaque;
	struct netvsp *nv = c->nv;

	nv_data_channel_closed(c);
	atomic_fetch_sub(&nv->open_channels, 1);
	if (c->index != 0)
		return;
	/* The guest's buffers go with its primary (Linux tears their GPADLs down after it). */
	pthread_rwlock_wrlock(&nv->buf_lock);
	if (nv->recv.map.pages)
		nv_rx_sections_fini(nv);
	vmbus_channel_unmap_gpadl(ch, &nv->recv.map);
	vmbus_channel_unmap_gpadl(ch, &nv->send.map);
	nv->recv = (struct nv_buffer){0};
	nv->send = (struct nv_buffer){0};
	pthread_rwlock_unlock(&nv->buf_lock);
	atomic_store(&nv->state, NETVSP_CLOSED);
	atomic_store(&nv->nvsp_version, 0);
	atomic_store(&nv->link_reported, -1);
}

static const struct vmbus_channel_ops nv_ops = {
	.open = nv_open,
	.packet = nv_packet,
	.wake = nv_wake,
	.close = nv_close,
	.save = nv_state_save,
	.load = nv_state_load,
	.vsp_name = "netvsp",
};

int nv_make_subchannels(struct netvsp *nv, unsigned n, const bool *stale)
{
	unsigned i;

	for (i = 1; i < n; i++) {
		struct nv_channel *c = nv->nchans > i ? nv->chans[i] : NULL;

		if (!c) {
			c = chan_alloc(nv, i);
			if (!c)
				return -ENOMEM;
			pthread_mutex_lock(&nv->lock);
			nv->chans[i] = c;
			pthread_mutex_unlock(&nv->lock);
			if (create_channel(nv, c) < 0) {
				pthread_mutex_lock(&nv->lock);
				nv->chans[i] = NULL;
				pthread_mutex_unlock(&nv->lock);
				chan_free(c);
				return -ENOMEM;
			}
			pthread_mutex_lock(&nv->lock);
			nv->nchans = i + 1;
			pthread_mutex_unlock(&nv->lock);
		}
		pthread_mutex_lock(&nv->lock);
		c->stale = stale[i];
		pthread_mutex_unlock(&nv->lock);
	}
	return 0;
}

/* --- Link and port settings --- */

void netvsp_set_connected(struct netvsp *nv, bool connected)
{
	pthread_mutex_lock(&nv->ctl_lock);
	atomic_store(&nv->connected, connected);
	nv->rndis.connected = connected;
	pthread_mutex_unlock(&nv->ctl_lock);
	pthread_mutex_lock(&nv->lock);
	vmbus_channel_wake(nv->chans[0]->ch);
	pthread_mutex_unlock(&nv->lock);
}

void netvsp_set_mac_spoofing(struct netvsp *nv, bool allowed)
{
	atomic_store(&nv->mac_spoofing, allowed);
}

/* --- Status --- */

void netvsp_get_stats(struct netvsp *nv, struct netvsp_stats *st)
{
	unsigned i;

	memset(st, 0, sizeof(*st));
	st->state = (enum netvsp_state)atomic_load(&nv->state);
	st->nvsp_version = atomic_load(&nv->nvsp_version);
	st->ndis_major = atomic_load(&nv->ndis_major);
	st->ndis_minor = atomic_load(&nv->ndis_minor);
	st->mtu = atomic_load(&nv->mtu);
	st->channels = atomic_load(&nv->open_channels);
	st->connected = atomic_load(&nv->connected);
	st->mac_spoofing = atomic_load(&nv->mac_spoofing);
	st->packet_filter = atomic_load(&nv->packet_filter);
	pthread_mutex_lock(&nv->lock);
	for (i = 0; i < nv->nchans; i++) {
		struct nv_channel *c = nv->chans[i];
		struct vmbus_channel_stats vs;

		vmbus_channel_get_stats(c->ch, &vs);
		st->rx_packets += atomic_load(&c->rx_packets);
		st->rx_bytes += atomic_load(&c->rx_bytes);
		st->tx_packets += atomic_load(&c->tx_packets);
		st->tx_bytes += atomic_load(&c->tx_bytes);
		st->signals_in += vs.signals_in;
		st->interrupts_out += vs.signals_out;
	}
	pthread_mutex_unlock(&nv->lock);
	st->drop_spoofed = atomic_load(&nv->drop_spoofed);
	st->drop_rx_no_buffer = atomic_load(&nv->drop_rx_no_buffer);
	st->drop_rx_filtered = atomic_load(&nv->drop_rx_filtered);
	st->drop_rx_steer = atomic_load(&nv->drop_rx_steer);
	st->rx_steered = atomic_load(&nv->rx_steered);
	st->rx_rsc = atomic_load(&nv->rx_rsc);
	st->rx_rsc_segments = atomic_load(&nv->rx_rsc_segments);
	st->rsc_v4 = (atomic_load(&nv->rsc) & NV_RSC_V4) != 0;
	st->rsc_v6 = (atomic_load(&nv->rsc) & NV_RSC_V6) != 0;
	st->drop_rx_gso = atomic_load(&nv->drop_rx_gso);
	st->drop_tx_error = atomic_load(&nv->drop_tx_error);
	st->drop_tx_link_down = atomic_load(&nv->drop_tx_link_down);
	st->bad_packets = atomic_load(&nv->bad_packets);
	st->bad_sections = atomic_load(&nv->bad_sections);
	st->bad_releases = atomic_load(&nv->bad_releases);
	st->unreleased = atomic_load(&nv->unreleased);
	st->indications = atomic_load(&nv->indications);
	pthread_mutex_lock(&nv->ctl_lock);
	st->rndis_requests = nv->rndis.requests;
	pthread_mutex_unlock(&nv->ctl_lock);
}

/* --- Lifecycle --- */

static void close_taps(const int *fds, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

int netvsp_new(const struct netvsp_config *cfg, struct netvsp **ret)
{
	struct netvsp *nv;
	unsigned i;
	int e;

	if (!cfg || !cfg->server || !cfg->mem || !cfg->tap_fds || cfg->ntap == 0 ||
	    cfg->ntap > TAP_MAX_QUEUES) {
		if (cfg && cfg->tap_fds)
			close_taps(cfg->tap_fds, MIN(cfg->ntap, TAP_MAX_QUEUES));
		return -EINVAL;
	}
	nv = calloc(1, sizeof(*nv));
	if (!nv) {
		close_taps(cfg->tap_fds, cfg->ntap);
		return -ENOMEM;
	}
	nv->cfg = *cfg;
	memcpy(nv->tap_fds, cfg->tap_fds, cfg->ntap * sizeof(int));
	nv->cfg.tap_fds = nv->tap_fds;
	if (!nv->cfg.vcpus)
		nv->cfg.vcpus = 1;
	netvsp_instance_guid(cfg->index, &nv->instance);
	snprintf(nv->name, sizeof(nv->name), "netvsp%u", cfg->index);
	guest_error_log_init(&nv->errlog, nv->name);
	pthread_mutex_init(&nv->lock, NULL);
	pthread_mutex_init(&nv->ctl_lock, NULL);
	pthread_mutex_init(&nv->rx_lock, NULL);
	pthread_rwlock_init(&nv->buf_lock, NULL);
	atomic_store(&nv->mtu, 1500);
	atomic_store(&nv->connected, cfg->connected);
	atomic_store(&nv->mac_spoofing, cfg->mac_spoofing);
	atomic_store(&nv->link_reported, -1);
	memcpy(nv->rndis.mac, cfg->mac, 6);
	nv->rndis.mtu = 1500;
	nv->rndis.connected = cfg->connected;
	nv->rndis.max_queues = max_channels(nv);
	nv->rndis.link_speed = NV_LINK_SPEED;
	/* An earlier boot's adapter on the same TAP may have left large frames on: off. */
	atomic_store(&nv->rsc, ~0u);
	nv_rsc_apply(nv, 0);
	/*
	 * Queues without an open channel leave the TAP: the kernel spreads frames over the
	 * attached queues only (a sub-channel's queue joins when the guest opens it).
	 */
	for (i = 1; i < nv->cfg.ntap; i++)
		if (tap_queue_attach(nv->tap_fds[i], false) < 0) {
			/* a single-queue TAP given as several fds: nothing to detach */
		}
	nv->chans[0] = chan_alloc(nv, 0);
	if (!nv->chans[0]) {
		e = -ENOMEM;
		goto fail;
	}
	e = create_channel(nv, nv->chans[0]);
	if (e < 0)
		goto fail;
	nv->nchans = 1;
	*ret = nv;
	return 0;
fail:
	chan_free(nv->chans[0]);
	close_taps(nv->tap_fds, nv->cfg.ntap);
	pthread_rwlock_destroy(&nv->buf_lock);
	pthread_mutex_destroy(&nv->rx_lock);
	pthread_mutex_destroy(&nv->ctl_lock);
	pthread_mutex_destroy(&nv->lock);
	free(nv);
	return e;
}

struct netvsp *netvsp_free(struct netvsp *nv)
{
	unsigned i, n;

	if (!nv)
		return NULL;
	/* Sub-channels first (the guest closes them before the primary, too). */
	pthread_mutex_lock(&nv->lock);
	n = nv->nchans;
	pthread_mutex_unlock(&nv->lock);
	for (i = n; i-- > 0;) {
		vmbus_channel_free(nv->chans[i]->ch);
		pthread_mutex_lock(&nv->lock);
		chan_free(nv->chans[i]);
		nv->chans[i] = NULL;
		nv->nchans = i;
		pthread_mutex_unlock(&nv->lock);
	}
	free(nv->rx_owner);
	free(nv->rx_next);
	free(nv->rx_free);
	close_taps(nv->tap_fds, nv->cfg.ntap);
	pthread_rwlock_destroy(&nv->buf_lock);
	pthread_mutex_destroy(&nv->rx_lock);
	pthread_mutex_destroy(&nv->ctl_lock);
	pthread_mutex_destroy(&nv->lock);
	free(nv);
	return NULL;
}

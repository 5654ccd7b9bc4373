/*
 * netvsp's saved state (vmbus.h's save/load, docs/saved-state.md).
 *
 * A guest transmit is written to the TAP and completed within its packet
 * callback, so a quiesced channel has nothing in flight host-side; what
 * the guest holds is receive sections (frames delivered, not yet
 * completed): their owners are saved, and the guest's completions after
 * the restore release them. A frame read from the TAP and not yet
 * delivered (waiting for a section or ring room), and frames handed to
 * another channel's queue, are dropped (counted in drop_rx_no_buffer):
 * the network may lose a frame, the guest's TCP sends it again.
 *
 * Per channel, format 1: u32 format, u32 sub-channel index. The primary
 * adds: u32 stage, NVSP version, NDIS major, minor, MTU, i32 link
 * reported, u8 table pending, u32 sub-channels wanted, u32 channels and
 * per sub-channel u8 stale; the RNDIS device's guest-set state (u8
 * initialized, u32 packet filter, the offload parameters, u32 RSS entries
 * and table, u32 hash info, u32 key size, key); per buffer (receive, send)
 * u8 present, u32 GPADL, u32 id, u32 section size, u32 sections; then u32
 * receive sections and one owner byte each (0 free, 1 + channel index).
 * Format 2 (RSC) adds u8 RSC bits (1 IPv4, 2 IPv6) after the RNDIS state, and after
 * the owners one u32 per section: the next section of its packet (NV_RX_END for the last
 * or a free one); an owner byte may then carry NV_RX_MEMBER (a packet's later section).
 * Format 1 is still read (no RSC, one section per packet).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vsp/netvsp/netvsp_internal.h"

#define NV_STATE_FORMAT 2u

static void save_buffer(struct state_out *out, const struct nv_buffer *b)
{
	state_out_u8(out, b->map.pages != NULL);
	state_out_u32(out, b->map.id);
	state_out_u32(out, b->id);
	state_out_u32(out, b->section_size);
	state_out_u32(out, b->sections);
}

static void save_rndis(struct state_out *out, const struct rndis_device *d)
{
	unsigned i;

	state_out_u8(out, d->initialized);
	state_out_u32(out, d->packet_filter);
	state_out_bytes(out, &d->offload, sizeof(d->offload));
	state_out_u32(out, d->rss_entries);
	for (i = 0; i < NDIS_RSS_MAX_TABLE_ENTRIES; i++)
		state_out_u32(out, d->rss_table[i]);
	state_out_u32(out, d->rss_hashinfo);
	state_out_u32(out, d->rss_key_size);
	state_out_bytes(out, d->rss_key, sizeof(d->rss_key));
	state_out_u8(out, (uint8_t)((d->rsc_v4 ? NV_RSC_V4 : 0u) | (d->rsc_v6 ? NV_RSC_V6 : 0u)));
}

static void save_primary(struct netvsp *nv, struct state_out *out)
{
	unsigned i;

	state_out_u32(out, (uint32_t)atomic_load(&nv->state));
	state_out_u32(out, atomic_load(&nv->nvsp_version));
	state_out_u32(out, atomic_load(&nv->ndis_major));
	state_out_u32(out, atomic_load(&nv->ndis_minor));
	state_out_u32(out, atomic_load(&nv->mtu));
	state_out_u32(out, (uint32_t)atomic_load(&nv->link_reported));
	state_out_u8(out, atomic_load(&nv->table_pending));
	pthread_mutex_lock(&nv->lock);
	state_out_u32(out, nv->subchannels_wanted);
	state_out_u32(out, nv->nchans);
	for (i = 1; i < nv->nchans; i++)
		state_out_u8(out, nv->chans[i]->stale);
	pthread_mutex_unlock(&nv->lock);
	pthread_mutex_lock(&nv->ctl_lock);
	save_rndis(out, &nv->rndis);
	pthread_mutex_unlock(&nv->ctl_lock);
	pthread_rwlock_rdlock(&nv->buf_lock);
	save_buffer(out, &nv->recv);
	save_buffer(out, &nv->send);
	pthread_rwlock_unlock(&nv->buf_lock);
	pthread_mutex_lock(&nv->rx_lock);
	state_out_u32(out, nv->rx_count);
	state_out_bytes(out, nv->rx_owner, nv->rx_count);
	for (i = 0; i < nv->rx_count; i++)
		state_out_u32(out, nv->rx_next[i]);
	pthread_mutex_unlock(&nv->rx_lock);
}

int nv_state_save(void *opaque, struct vmbus_channel *ch, struct state_out *out)
{
	struct nv_channel *c = opaque;

	state_out_u32(out, NV_STATE_FORMAT);
	state_out_u32(out, c->index);
	if (c->index == 0)
		save_primary(c->nv, out);
	return 0;
}

/* ---- Load ---- */

struct saved_buffer {
	bool present;
	uint32_t gpadl, id, section_size, sections;
};

static void load_buffer(struct state_in *in, struct saved_buffer *b)
{
	b->present = state_in_u8(in) != 0;
	b->gpadl = state_in_u32(in);
	b->id = state_in_u32(in);
	b->section_size = state_in_u32(in);
	b->sections = state_in_u32(in);
}

static int fail(char *err, size_t errlen, const char *what, uint32_t v)
{
	snprintf(err, errlen, "%s %u", what, v);
	return -EINVAL;
}

static int load_rndis(struct state_in *in, uint32_t format, struct rndis_device *d, char *err,
		      size_t errlen)
{
	struct rndis_device x = *d;
	unsigned i, rsc = 0;

	x.initialized = state_in_u8(in) != 0;
	x.packet_filter = state_in_u32(in);
	state_in_bytes(in, &x.offload, sizeof(x.offload));
	x.rss_entries = state_in_u32(in);
	for (i = 0; i < NDIS_RSS_MAX_TABLE_ENTRIES; i++)
		x.rss_table[i] = state_in_u32(in);
	x.rss_hashinfo = state_in_u32(in);
	x.rss_key_size = (uint16_t)state_in_u32(in);
	state_in_bytes(in, x.rss_key, sizeof(x.rss_key));
	if (format >= 2)
		rsc = state_in_u8(in);
	if (in->error)
		return fail(err, errlen, "RNDIS state truncated at byte", (uint32_t)in->pos);
	if (rsc & ~(NV_RSC_V4 | NV_RSC_V6))
		return fail(err, errlen, "RSC bits", rsc);
	if (x.rss_entries > NDIS_RSS_MAX_TABLE_ENTRIES)
		return fail(err, errlen, "RSS table entries", x.rss_entries);
	if (x.rss_key_size > NDIS_RSS_MAX_KEY_SIZE)
		return fail(err, errlen, "RSS key size", x.rss_key_size);
	/* The table names channels: checked against the channels by the primary's load. */
	d->initialized = x.initialized;
	d->packet_filter = x.packet_filter;
	d->offload = x.offload;
	d->rss_entries = x.rss_entries;
	memcpy(d->rss_table, x.rss_table, sizeof(d->rss_table));
	d->rss_hashinfo = x.rss_hashinfo;
	d->rss_key_size = x.rss_key_size;
	d->rsc_v4 = (rsc & NV_RSC_V4) != 0;
	d->rsc_v6 = (rsc & NV_RSC_V6) != 0;
	memcpy(d->rss_key, x.rss_key, sizeof(d->rss_key));
	return 0;
}

static void unmap_buffers(struct nv_channel *c)
{
	struct netvsp *nv = c->nv;

	pthread_rwlock_wrlock(&nv->buf_lock);
	vmbus_channel_unmap_gpadl(c->ch, &nv->recv.map);
	vmbus_channel_unmap_gpadl(c->ch, &nv->send.map);
	pthread_rwlock_unlock(&nv->buf_lock);
}

/* A buffer mapped again through its GPADL, as SEND_*_BUF did; its layout checked. */
static int remap(struct nv_channel *c, struct nv_buffer *b, const struct saved_buffer *s,
		 uint32_t want_section, const char *what, char *err, size_t errlen)
{
	int e;

	if (!s->present)
		return 0;
	if (s->id > UINT16_MAX || s->section_size == 0 ||
	    (want_section && s->section_size != want_section))
		return fail(err, errlen, what, s->section_size);
	e = vmbus_channel_map_gpadl(c->ch, s->gpadl, &b->map);
	if (e < 0) {
		snprintf(err, errlen, "%s GPADL %#x: %s", what, s->gpadl, strerror(-e));
		return -EINVAL;
	}
	if (s->sections == 0 || s->sections > b->map.len / s->section_size) {
		vmbus_channel_unmap_gpadl(c->ch, &b->map);
		return fail(err, errlen, "sections of the buffer", s->sections);
	}
	b->id = (uint16_t)s->id;
	b->section_size = s->section_size;
	b->sections = s->sections;
	return 0;
}

/*
 * The chains of multi-section packets: each member section follows exactly one section of
 * the same channel, and walking from the packets' first sections reaches every member (no
 * cycle, no stray member). rx_lock held.
 */
static int check_chains(struct netvsp *nv, uint32_t n, char *err, size_t errlen)
{
	uint32_t i, members = 0, reached = 0;

	for (i = 0; i < n; i++) {
		uint32_t o = nv->rx_owner[i], x = nv->rx_next[i];

		members += (o & NV_RX_MEMBER) != 0;
		if (x == NV_RX_END)
			continue;
		if (o == NV_RX_FREE || x >= n || nv->rx_owner[x] != (NV_RX_OWNER(o) | NV_RX_MEMBER))
			return fail(err, errlen, "receive section chain at", i);
	}
	for (i = 0; i < n; i++) {
		uint32_t x = i, len = 0;

		if (nv->rx_owner[i] == NV_RX_FREE || (nv->rx_owner[i] & NV_RX_MEMBER))
			continue;
		/* No member is reached twice unless two chains join, caught by the count. */
		while ((x = nv->rx_next[x]) != NV_RX_END && len++ < n)
			reached++;
		if (len > n - 1 || reached > members)
			return fail(err, errlen, "receive section chain from", i);
	}
	return reached == members
		       ? 0
		       : fail(err, errlen, "receive sections in no packet", members - reached);
}

/* The receive sections and who holds them; the free stack rebuilt from them. */
static int load_sections(struct netvsp *nv, struct state_in *in, uint32_t format, uint32_t nchans,
			 char *err, size_t errlen)
{
	uint32_t n = state_in_u32(in), i, nfree = 0;
	size_t per = format >= 2 ? 5 : 1;
	int e;

	if (in->error || n != (nv->recv.map.pages ? nv->recv.sections : 0) ||
	    n > (in->len - in->pos) / per)
		return fail(err, errlen, "receive sections", n);
	if (n == 0)
		return 0;
	e = nv_rx_sections_init(nv, n);
	if (e < 0)
		return e;
	pthread_mutex_lock(&nv->rx_lock);
	state_in_bytes(in, nv->rx_owner, n);
	for (i = 0; format >= 2 && i < n; i++)
		nv->rx_next[i] = state_in_u32(in);
	for (i = n; i-- > 0;) {
		uint8_t o = nv->rx_owner[i];

		if (NV_RX_OWNER(o) > nchans || (o & ~(NV_RX_MEMBER | 0x7fu)) ||
		    (o != NV_RX_FREE && NV_RX_OWNER(o) == 0)) {
			pthread_mutex_unlock(&nv->rx_lock);
			return fail(err, errlen, "receive section owner", o);
		}
		if (o == NV_RX_FREE)
			nv->rx_free[nfree++] = i; /* popped from the end: lowest first */
	}
	nv->rx_nfree = nfree;
	e = check_chains(nv, n, err, errlen);
	pthread_mutex_unlock(&nv->rx_lock);
	return e;
}

static int load_primary(struct nv_channel *c, bool open, uint32_t format, struct state_in *in,
			char *err, size_t errlen)
{
	struct netvsp *nv = c->nv;
	uint32_t stage = state_in_u32(in), nvsp = state_in_u32(in);
	uint32_t major = state_in_u32(in), minor = state_in_u32(in), mtu = state_in_u32(in);
	int32_t link = (int32_t)state_in_u32(in);
	bool table = state_in_u8(in) != 0;
	uint32_t wanted = state_in_u32(in), n = state_in_u32(in), i;
	unsigned max =
		MIN(MIN(nv->cfg.ntap, MAX(nv->cfg.vcpus, 1u)), (unsigned)NETVSP_MAX_CHANNELS);
	bool stale[NETVSP_MAX_CHANNELS] = {0};
	struct saved_buffer rb, sb;
	int e;

	if (in->error)
		return fail(err, errlen, "adapter state truncated at byte", (uint32_t)in->pos);
	if (stage > NETVSP_READY || (stage != NETVSP_CLOSED && !open) ||
	    (stage != NETVSP_CLOSED && !nvsp))
		return fail(err, errlen, "adapter stage", stage);
	if (link < -1 || link > 1)
		return fail(err, errlen, "link state reported", (uint32_t)link);
	if (mtu < 68 || mtu > NV_RX_FRAME_MAX)
		return fail(err, errlen, "MTU", mtu);
	if (n == 0 || n > max || wanted >= n)
		return fail(err, errlen, "channels", n);
	for (i = 1; i < n; i++)
		stale[i] = state_in_u8(in) != 0;
	pthread_mutex_lock(&nv->ctl_lock);
	e = load_rndis(in, format, &nv->rndis, err, errlen);
	for (i = 0; e == 0 && i < nv->rndis.rss_entries; i++)
		if (nv->rndis.rss_table[i] >= n)
			e = fail(err, errlen, "RSS table entry names channel",
				 nv->rndis.rss_table[i]);
	nv->rndis.nvsp_version = nvsp;
	pthread_mutex_unlock(&nv->ctl_lock);
	if (e < 0)
		return e;
	load_buffer(in, &rb);
	load_buffer(in, &sb);
	if (in->error)
		return fail(err, errlen, "buffers truncated at byte", (uint32_t)in->pos);
	if ((rb.present || sb.present) && (!open || !nvsp))
		return fail(err, errlen, "buffers of a closed adapter", 0);
	atomic_store(&nv->state, (int)stage);
	atomic_store(&nv->nvsp_version, nvsp);
	atomic_store(&nv->ndis_major, major);
	atomic_store(&nv->ndis_minor, minor);
	atomic_store(&nv->mtu, mtu);
	atomic_store(&nv->link_reported, link);
	atomic_store(&nv->table_pending, table);
	atomic_store(&nv->packet_filter, nv->rndis.packet_filter);
	atomic_store(&nv->rss_on, nv->rndis.rss_entries > 0);
	nv_rsc_apply(nv, (nv->rndis.rsc_v4 ? NV_RSC_V4 : 0u) | (nv->rndis.rsc_v6 ? NV_RSC_V6 : 0u));
	pthread_rwlock_wrlock(&nv->buf_lock);
	e = remap(c, &nv->recv, &rb, 0, "receive buffer", err, errlen);
	if (e == 0)
		e = remap(c, &nv->send, &sb, NV_SEND_SECTION_SIZE, "send buffer", err, errlen);
	if (e == 0)
		e = load_sections(nv, in, format, n, err, errlen);
	pthread_rwlock_unlock(&nv->buf_lock);
	if (e < 0)
		return e;
	/* The sub-channels it had, created again (not offered: the guest has them). */
	e = nv_make_subchannels(nv, n, stale);
	if (e == 0) {
		pthread_mutex_lock(&nv->lock);
		nv->subchannels_wanted = wanted;
		pthread_mutex_unlock(&nv->lock);
	}
	return e;
}

int nv_state_load(void *opaque, struct vmbus_channel *ch, struct state_in *in, char *err,
		  size_t errlen)
{
	struct nv_channel *c = opaque;
	bool open = vmbus_channel_state(ch) == VMBUS_CHANNEL_OPEN;
	uint32_t format = state_in_u32(in), index = state_in_u32(in);
	int e;

	if (in->error || format < 1 || format > NV_STATE_FORMAT)
		return fail(err, errlen, "state format", format);
	if (index != c->index)
		return fail(err, errlen, "saved for another sub-channel:", index);
	c->ch = ch;
	if (c->index == 0) {
		e = load_primary(c, open, format, in, err, errlen);
		if (e < 0)
			goto fail;
	}
	if (!open)
		return 0;
	e = nv_data_channel_open(c);
	if (e < 0) {
		snprintf(err, errlen, "cannot open its TAP queue: %s", strerror(-e));
		goto fail;
	}
	atomic_fetch_add(&c->nv->open_channels, 1);
	return 0;
fail:
	/* No close callback runs for a channel whose load failed (vmbus_state.c): a refused
	 * state must leave no buffer mapped (a zeroed map unmaps as a no-op). */
	if (c->index == 0)
		unmap_buffers(c);
	return e;
}

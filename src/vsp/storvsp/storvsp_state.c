/*
 * storvsp's saved state (vmbus.h's idle/save/load, docs/saved-state.md).
 *
 * Quiesce drains: a channel is idle once every request it took has
 * completed and been answered (the answers' room was reserved when the
 * requests were taken, so they never wait for the guest), so nothing in
 * flight is saved and nothing is replayed. Packets still in the ring stay
 * there, in guest RAM, and are read after the restore.
 *
 * Per channel, format 1: u32 format, u32 sub-channel index; the primary
 * adds u32 protocol version, u32 stage (enum sp_state), u8 rescan
 * pending, u32 channels (primary included), and per sub-channel u8 stale.
 * Loading the primary creates the sub-channels the saved controller had
 * (the VMBus then matches them to the saved ones by index).
 */
#include <errno.h>
#include <stdio.h>

#include "vsp/storvsp/storvsp_internal.h"

#define SP_STATE_FORMAT 1u

bool sp_state_idle(void *opaque, struct vmbus_channel *ch)
{
	const struct sp_channel *c = opaque;

	return c->inflight == 0;
}

int sp_state_save(void *opaque, struct vmbus_channel *ch, struct state_out *out)
{
	struct sp_channel *c = opaque;
	struct storvsp *sp = c->sp;
	unsigned i;

	if (c->inflight)
		return -EBUSY; /* not quiesced */
	state_out_u32(out, SP_STATE_FORMAT);
	state_out_u32(out, c->index);
	if (c->index != 0)
		return 0;
	state_out_u32(out, atomic_load(&sp->version));
	state_out_u32(out, (uint32_t)atomic_load(&sp->state));
	state_out_u8(out, atomic_load(&sp->rescan_pending));
	pthread_mutex_lock(&sp->lock);
	state_out_u32(out, sp->nchans);
	for (i = 1; i < sp->nchans; i++)
		state_out_u8(out, sp->chans[i]->stale);
	pthread_mutex_unlock(&sp->lock);
	return 0;
}

/* The sub-channels 1..n-1 the saved controller had, created (not offered: the guest has them). */
static int make_subchannels(struct storvsp *sp, unsigned n, const bool *stale)
{
	unsigned i;

	for (i = 1; i < n; i++) {
		struct sp_channel *c = sp->nchans > i ? sp->chans[i] : NULL;
		int e;

		if (!c) {
			c = sp_chan_alloc(sp, i);
			if (!c)
				return -ENOMEM;
			pthread_mutex_lock(&sp->lock);
			sp->chans[i] = c;
			pthread_mutex_unlock(&sp->lock);
			e = sp_create_channel(sp, c);
			if (e < 0) {
				pthread_mutex_lock(&sp->lock);
				sp->chans[i] = NULL;
				pthread_mutex_unlock(&sp->lock);
				sp_io_channel_free(c);
				return e;
			}
			pthread_mutex_lock(&sp->lock);
			sp->nchans = i + 1;
			pthread_mutex_unlock(&sp->lock);
		}
		pthread_mutex_lock(&sp->lock);
		c->stale = stale[i];
		pthread_mutex_unlock(&sp->lock);
	}
	return 0;
}

static int load_primary(struct sp_channel *c, bool open, struct state_in *in, char *err,
			size_t errlen)
{
	struct storvsp *sp = c->sp;
	uint32_t version = state_in_u32(in), stage = state_in_u32(in);
	bool rescan = state_in_u8(in) != 0;
	uint32_t n = state_in_u32(in), i;
	unsigned max = MIN(sp->cfg.vcpus, (unsigned)STORVSP_MAX_CHANNELS);
	bool stale[STORVSP_MAX_CHANNELS] = {0};

	if (in->error) {
		snprintf(err, errlen, "controller state truncated");
		return -EBADMSG;
	}
	if (version > UINT16_MAX || (version && !sp_version_known((uint16_t)version))) {
		snprintf(err, errlen, "protocol version %#x", version);
		return -EINVAL;
	}
	if (stage > SP_READY || (stage != SP_IDLE && (!open || (stage == SP_READY && !version)))) {
		snprintf(err, errlen, "initialization stage %u (channel %s)", stage,
			 open ? "open" : "closed");
		return -EINVAL;
	}
	if (n == 0 || n > max || (n > 1 && version && version < VMSTOR_PROTO_VERSION_WIN8)) {
		snprintf(err, errlen, "%u channels (this controller has at most %u)", n, max);
		return -EINVAL;
	}
	for (i = 1; i < n; i++)
		stale[i] = state_in_u8(in) != 0;
	if (in->error) {
		snprintf(err, errlen, "sub-channel list truncated");
		return -EBADMSG;
	}
	atomic_store(&sp->version, (uint16_t)version);
	atomic_store(&sp->state, (int)stage);
	atomic_store(&sp->rescan_pending, rescan);
	return make_subchannels(sp, n, stale);
}

int sp_state_load(void *opaque, struct vmbus_channel *ch, struct state_in *in, char *err,
		  size_t errlen)
{
	struct sp_channel *c = opaque;
	bool open = vmbus_channel_state(ch) == VMBUS_CHANNEL_OPEN;
	uint32_t format = state_in_u32(in), index = state_in_u32(in);
	int e;

	if (in->error || format != SP_STATE_FORMAT) {
		snprintf(err, errlen, "state format %u", format);
		return -EINVAL;
	}
	if (index != c->index) {
		snprintf(err, errlen, "saved for sub-channel %u, loaded into %u", index, c->index);
		return -EINVAL;
	}
	if (c->index == 0) {
		e = load_primary(c, open, in, err, errlen);
		if (e < 0)
			return e;
	}
	if (!open)
		return 0;
	c->ch = ch;
	e = sp_io_channel_open(c);
	if (e < 0)
		snprintf(err, errlen, "cannot allocate its requests");
	return e;
}

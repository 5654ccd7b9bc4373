/*
 * Saved state of the Hyper-V interface (docs/saved-state.md): the
 * partition-wide registers (GUEST_OS_ID, HYPERCALL, REFERENCE_TSC), the
 * reference time, and per VP the SynIC registers, the SINTs raised while
 * they could not interrupt, the queued messages and the VP assist page.
 *
 * Reference time continues across a restore: the saved partition's
 * reference time at the save becomes the new partition's at the restore,
 * whatever the new host's TSC reads (on PVM it jumped by the time spent
 * saved; on another host it may be lower). The offset is recomputed for
 * this partition's TSC and scale, and the TSC page is written again with
 * it and a new sequence, so the guest's clock neither jumps nor steps back.
 *
 * Loading goes through the guest's own validated MSR paths where those
 * have no side effect on guest memory (GUEST_OS_ID, HYPERCALL, which
 * rewrites our hypercall page, REFERENCE_TSC, SCONTROL, SINTs). The page
 * registers (SIMP, SIEFP, VP assist) are checked and set directly: the
 * guest's write path zeroes a newly enabled page, which would wipe the
 * restored contents. Runs before the vCPUs start (hv_load) or while they
 * are paused (hv_save), on the owner's thread.
 */
#include "hv/hv_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/state.h"

struct vp_saved {
	uint64_t scontrol, simp, siefp, vp_assist, sint[HV_SINT_COUNT];
	uint32_t irq_pending;
	uint32_t count[HV_SINT_COUNT];
	struct hv_message *msgs[HV_SINT_COUNT]; /* count[i] each */
};

int hv_save(struct hv *hv, struct state_out *out)
{
	uint64_t tsc, ref;
	unsigned v, i, j;
	struct hv_vp *vp;
	struct hv_sint_queue *q;

	if (hv->platform.ops->read_tsc(hv->platform.opaque, 0, &tsc) < 0)
		return -EIO;
	pthread_mutex_lock(&hv->lock);
	ref = hv_ref_time_at(hv, tsc);
	state_out_u64(out, hv->guest_os_id);
	state_out_u64(out, __atomic_load_n(&hv->hypercall_msr, __ATOMIC_ACQUIRE));
	state_out_u64(out, hv->reference_tsc_msr);
	state_out_u32(out, hv->tsc_sequence);
	state_out_u64(out, ref);
	pthread_mutex_unlock(&hv->lock);
	state_out_u32(out, hv->platform.vp_count);
	for (v = 0; v < hv->platform.vp_count; v++) {
		vp = &hv->vps[v];
		pthread_mutex_lock(&vp->lock);
		state_out_u64(out, vp->scontrol);
		state_out_u64(out, vp->simp);
		state_out_u64(out, vp->siefp);
		state_out_u64(out, vp->vp_assist_page);
		for (i = 0; i < HV_SINT_COUNT; i++)
			state_out_u64(out, vp->sint[i]);
		state_out_u32(out, vp->irq_pending);
		for (i = 0; i < HV_SINT_COUNT; i++) {
			q = &vp->queue[i];
			state_out_u32(out, q->count);
			for (j = 0; j < q->count; j++)
				state_out_bytes(out, &q->msgs[(q->head + j) % hv->queue_depth],
						sizeof(struct hv_message));
		}
		pthread_mutex_unlock(&vp->lock);
	}
	return out->error;
}

static bool page_reg_valid(struct hv *hv, uint64_t value)
{
	if (value & HV_PAGE_MSR_RESERVED)
		return false;
	return !(value & HV_MSR_PAGE_ENABLE) ||
	       hv_gpa_page_is_ram(hv, value & HV_MSR_PAGE_GPA_MASK);
}

static void free_saved(struct vp_saved *s, unsigned n)
{
	unsigned v, i;

	for (v = 0; s && v < n; v++)
		for (i = 0; i < HV_SINT_COUNT; i++)
			free(s[v].msgs[i]);
	free(s);
}

/* Decodes and checks one VP: NULL, or what is wrong. */
static const char *decode_vp(struct hv *hv, struct state_in *in, struct vp_saved *s)
{
	unsigned i, j;

	s->scontrol = state_in_u64(in);
	s->simp = state_in_u64(in);
	s->siefp = state_in_u64(in);
	s->vp_assist = state_in_u64(in);
	for (i = 0; i < HV_SINT_COUNT; i++)
		s->sint[i] = state_in_u64(in);
	s->irq_pending = state_in_u32(in);
	if (in->error)
		return "too short";
	if (s->scontrol & HV_SCONTROL_RESERVED || s->irq_pending > UINT16_MAX)
		return "SCONTROL or the pending SINTs have reserved bits";
	if (!page_reg_valid(hv, s->simp) || !page_reg_valid(hv, s->siefp) ||
	    !page_reg_valid(hv, s->vp_assist))
		return "SIMP, SIEFP or the VP assist page: reserved bits, or not guest RAM";
	for (i = 0; i < HV_SINT_COUNT; i++) {
		s->count[i] = state_in_u32(in);
		if (in->error)
			return "too short";
		if (s->count[i] > hv->queue_depth)
			return "more queued messages than this VM's queue depth";
		if (!s->count[i])
			continue;
		s->msgs[i] = calloc(s->count[i], sizeof(struct hv_message));
		if (!s->msgs[i])
			return "out of memory";
		for (j = 0; j < s->count[i]; j++) {
			state_in_bytes(in, &s->msgs[i][j], sizeof(struct hv_message));
			if (in->error)
				return "too short";
			if (!s->msgs[i][j].message_type ||
			    s->msgs[i][j].payload_size > HV_MESSAGE_PAYLOAD_BYTES)
				return "a queued message has no type or too large a payload";
		}
	}
	return NULL;
}

/* Sets one VP's SynIC; its messages move into the queues. Returns the MSR refused, or 0. */
static uint32_t apply_vp(struct hv *hv, unsigned v, struct vp_saved *s)
{
	struct hv_vp *vp = &hv->vps[v];
	struct hv_sint_queue *q;
	unsigned i;

	for (i = 0; i < HV_SINT_COUNT; i++)
		if (hv_msr_write(hv, v, HV_MSR_SINT0 + i, s->sint[i]) < 0)
			return HV_MSR_SINT0 + i;
	if (hv_msr_write(hv, v, HV_MSR_SCONTROL, s->scontrol) < 0)
		return HV_MSR_SCONTROL;
	pthread_mutex_lock(&vp->lock);
	vp->simp = s->simp;
	vp->siefp = s->siefp;
	vp->vp_assist_page = s->vp_assist;
	vp->irq_pending = (uint16_t)s->irq_pending;
	for (i = 0; i < HV_SINT_COUNT; i++) {
		q = &vp->queue[i];
		free(q->msgs);
		q->msgs = NULL;
		q->head = q->count = 0;
		if (!s->count[i])
			continue;
		/* The queue is a ring of queue_depth entries: give it that many. */
		q->msgs = calloc(hv->queue_depth, sizeof(*q->msgs));
		if (!q->msgs) {
			pthread_mutex_unlock(&vp->lock);
			return UINT32_MAX;
		}
		memcpy(q->msgs, s->msgs[i], s->count[i] * sizeof(*q->msgs));
		q->count = s->count[i];
	}
	pthread_mutex_unlock(&vp->lock);
	return 0;
}

int hv_load(struct hv *hv, uint32_t version, struct state_in *in, char *errbuf, size_t errlen)
{
	uint64_t os_id, hypercall, ref_tsc, ref, tsc;
	struct vp_saved *vps = NULL;
	const char *bad = NULL;
	uint32_t seq, nvps, msr;
	unsigned v = 0;
	int r = -EBADMSG;

	os_id = state_in_u64(in);
	hypercall = state_in_u64(in);
	ref_tsc = state_in_u64(in);
	seq = state_in_u32(in);
	ref = state_in_u64(in);
	nvps = state_in_u32(in);
	if (version != 1)
		bad = "unknown version";
	else if (in->error)
		bad = "too short";
	else if (nvps != hv->platform.vp_count)
		bad = "saved with another number of virtual processors";
	if (!bad) {
		vps = calloc(nvps, sizeof(*vps));
		if (!vps)
			return -ENOMEM;
	}
	for (v = 0; !bad && v < nvps; v++)
		bad = decode_vp(hv, in, &vps[v]);
	if (bad) {
		if (v) /* the loop stopped after the VP that was wrong */
			snprintf(errbuf, errlen, "Hyper-V state, VP %u: %s", v - 1, bad);
		else
			snprintf(errbuf, errlen, "Hyper-V state: %s", bad);
		goto out;
	}
	/* Reference time goes on from the saved value on this partition's TSC. */
	if (hv->platform.ops->read_tsc(hv->platform.opaque, 0, &tsc) < 0) {
		snprintf(errbuf, errlen, "Hyper-V state: cannot read the TSC");
		r = -EIO;
		goto out;
	}
	pthread_mutex_lock(&hv->lock);
	hv->ref_offset = 0;
	hv->ref_offset = (int64_t)(ref - hv_ref_time_at(hv, tsc));
	__atomic_store_n(&hv->ref_last, ref, __ATOMIC_RELAXED);
	hv->tsc_sequence = seq; /* the page is written again with the next one */
	pthread_mutex_unlock(&hv->lock);
	msr = 0;
	if (hv_msr_write(hv, 0, HV_MSR_GUEST_OS_ID, os_id) < 0)
		msr = HV_MSR_GUEST_OS_ID;
	else if (hv_msr_write(hv, 0, HV_MSR_HYPERCALL, hypercall) < 0)
		msr = HV_MSR_HYPERCALL;
	else if (hv_msr_write(hv, 0, HV_MSR_REFERENCE_TSC, ref_tsc) < 0)
		msr = HV_MSR_REFERENCE_TSC;
	for (v = 0; !msr && v < nvps; v++)
		msr = apply_vp(hv, v, &vps[v]);
	if (msr) {
		snprintf(errbuf, errlen, "Hyper-V state: MSR %#x%s refused", msr,
			 msr == UINT32_MAX ? " (out of memory)" : "");
		goto out;
	}
	r = 0;
out:
	free_saved(vps, nvps);
	return r;
}

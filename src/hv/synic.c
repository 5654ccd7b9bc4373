/*
 * The synthetic interrupt controller of each VP (TLFS: "Inter-Partition
 * Communication" — SynIC): SCONTROL, SVERSION, the message page (SIMP)
 * and event flags page (SIEFP), EOM, the 16 SINT registers; message slots
 * with a bounded queue per SINT behind each, event flags, and interrupt
 * injection. The wire layout of the pages is in hvdef/tlfs_synic.h.
 *
 * Threads: the VP's own thread (its MSR exits) and any host thread
 * posting messages or signalling events; both under vp->lock. The guest
 * shares the pages without a lock, so the slot protocol is the one the
 * TLFS defines with Linux's side in drivers/hv/hyperv_vmbus.h
 * (vmbus_signal_eom): the host fills a free slot and stores its message
 * type last; the guest clears the type, then writes EOM if the
 * message_pending flag was set, which the host sets on a busy slot.
 *
 * A SINT interrupt is a fixed, edge-triggered MSI to the VP's APIC ID
 * with the SINT's vector, through KVM's in-kernel LAPIC. That LAPIC
 * cannot auto-EOI, so CPUID tells guests not to ask for it
 * (HV_HINT_DEPRECATING_AEOI, cpuid.c); the auto-EOI bit is stored but has
 * no effect. A SINT that cannot interrupt when raised (masked, SynIC
 * disabled) is remembered and interrupts once it can; a polling SINT
 * never interrupts.
 */
#include "hv/hv_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int hv_synic_vp_init(struct hv_vp *vp, unsigned index)
{
	unsigned i;

	pthread_mutex_init(&vp->lock, NULL);
	vp->index = index;
	for (i = 0; i < HV_SINT_COUNT; i++)
		vp->sint[i] = HV_SINT_POWER_ON;
	return 0;
}

void hv_synic_vp_fini(struct hv_vp *vp)
{
	unsigned i;

	for (i = 0; i < HV_SINT_COUNT; i++)
		free(vp->queue[i].msgs);
	pthread_mutex_destroy(&vp->lock);
}

/* --- Interrupts (vp->lock held) --- */

static void inject(struct hv *hv, struct hv_vp *vp, uint8_t vector)
{
	uint64_t address = HV_MSI_ADDRESS_BASE | ((uint64_t)vp->index << 12);

	/* An xAPIC MSI names at most APIC ID 255; larger partitions need the x2APIC format. */
	if (vp->index > 0xFF ||
	    hv->platform.ops->signal_msi(hv->platform.opaque, address, vector) < 0) {
		HV_COUNT(hv, interrupt_errors);
		return;
	}
	HV_COUNT(hv, interrupts_injected);
}

static bool sint_can_interrupt(const struct hv_vp *vp, unsigned sint)
{
	return (vp->scontrol & HV_SCONTROL_ENABLE) &&
	       !(vp->sint[sint] & (HV_SINT_MASKED | HV_SINT_POLLING));
}

/* Something arrived for this SINT: interrupt now, or once the SINT can. */
static void sint_raise(struct hv *hv, struct hv_vp *vp, unsigned sint)
{
	if (vp->sint[sint] & HV_SINT_POLLING) {
		HV_COUNT(hv, interrupts_deferred);
		return; /* the guest polls the slot and flags itself */
	}
	if (!sint_can_interrupt(vp, sint)) {
		vp->irq_pending |= (uint16_t)(1u << sint);
		HV_COUNT(hv, interrupts_deferred);
		return;
	}
	vp->irq_pending &= (uint16_t) ~(1u << sint);
	inject(hv, vp, (uint8_t)(vp->sint[sint] & HV_SINT_VECTOR_MASK));
}

/* After SCONTROL or a SINT changed: deliver what waited for it. */
static void raise_pending(struct hv *hv, struct hv_vp *vp)
{
	unsigned i;

	for (i = 0; i < HV_SINT_COUNT; i++) {
		if (!(vp->irq_pending & (1u << i)))
			continue;
		if (vp->sint[i] & HV_SINT_POLLING)
			vp->irq_pending &= (uint16_t) ~(1u << i);
		else if (sint_can_interrupt(vp, i))
			sint_raise(hv, vp, i);
	}
}

/* --- Message slots and queues (vp->lock held) --- */

static struct hv_message *slot_ptr(struct hv *hv, struct hv_vp *vp, unsigned sint)
{
	if (!(vp->simp & HV_MSR_PAGE_ENABLE))
		return NULL;
	return guest_memory_ptr(hv->platform.mem,
				(vp->simp & HV_MSR_PAGE_GPA_MASK) + sint * HV_MESSAGE_SIZE,
				HV_MESSAGE_SIZE);
}

/*
 * Writes m into the slot if the guest has freed it; on a busy slot sets
 * message_pending so that the guest writes EOM when it frees it. The
 * guest clears the type and then reads the flag; we set the flag and then
 * read the type: with full barriers on both sides, one of the two sees
 * the other, so a message is never left waiting without an EOM coming.
 */
static bool slot_try_write(struct hv_message *slot, const struct hv_message *m, bool more)
{
	if (__atomic_load_n(&slot->message_type, __ATOMIC_ACQUIRE) != HV_MESSAGE_TYPE_NONE) {
		__atomic_fetch_or(&slot->message_flags, HV_MESSAGE_FLAG_PENDING, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&slot->message_type, __ATOMIC_SEQ_CST) != HV_MESSAGE_TYPE_NONE)
			return false;
	}
	slot->payload_size = m->payload_size;
	/* The guest may still be reading the flags of the message it just freed. */
	__atomic_store_n(&slot->message_flags, more ? HV_MESSAGE_FLAG_PENDING : 0,
			 __ATOMIC_RELAXED);
	memset(slot->reserved, 0, sizeof(slot->reserved));
	slot->sender = m->sender;
	memcpy(slot->payload, m->payload, m->payload_size);
	/* The type last: it hands the slot to the guest. */
	__atomic_store_n(&slot->message_type, m->message_type, __ATOMIC_RELEASE);
	return true;
}

/* Moves the oldest queued message of the SINT into its slot if free; true if it did. */
static bool queue_flush(struct hv *hv, struct hv_vp *vp, unsigned sint)
{
	struct hv_sint_queue *q = &vp->queue[sint];
	struct hv_message *slot;

	if (!q->count)
		return false;
	slot = slot_ptr(hv, vp, sint);
	if (!slot || !slot_try_write(slot, &q->msgs[q->head], q->count > 1))
		return false;
	q->head = (q->head + 1) % hv->queue_depth;
	q->count--;
	HV_COUNT(hv, messages_delivered);
	return true;
}

static void flush_all(struct hv *hv, struct hv_vp *vp)
{
	unsigned i;

	for (i = 0; i < HV_SINT_COUNT; i++)
		if (queue_flush(hv, vp, i))
			sint_raise(hv, vp, i);
}

static int enqueue(struct hv *hv, struct hv_sint_queue *q, const struct hv_message *m)
{
	if (q->count == hv->queue_depth) {
		HV_COUNT(hv, messages_dropped);
		return -ENOBUFS;
	}
	if (!q->msgs) {
		q->msgs = calloc(hv->queue_depth, sizeof(*q->msgs));
		if (!q->msgs)
			return -ENOMEM;
	}
	q->msgs[(q->head + q->count) % hv->queue_depth] = *m;
	q->count++;
	HV_COUNT(hv, messages_queued);
	return 0;
}

int hv_synic_post_message(struct hv *hv, unsigned vpi, unsigned sint, uint32_t message_type,
			  const void *payload, size_t len)
{
	struct hv_message m = {.message_type = message_type, .payload_size = (uint8_t)len};
	struct hv_message *slot;
	struct hv_vp *vp;
	int r = 0;

	if (vpi >= hv->platform.vp_count || sint >= HV_SINT_COUNT ||
	    message_type == HV_MESSAGE_TYPE_NONE || len > HV_MESSAGE_PAYLOAD_BYTES ||
	    (len && !payload))
		return -EINVAL;
	if (len)
		memcpy(m.payload, payload, len);
	vp = &hv->vps[vpi];
	pthread_mutex_lock(&vp->lock);
	slot = slot_ptr(hv, vp, sint);
	if (!slot) {
		r = -ENXIO;
		goto out;
	}
	if (vp->queue[sint].count == 0 && slot_try_write(slot, &m, false)) {
		HV_COUNT(hv, messages_delivered);
	} else {
		/* Behind the message in the slot and any queued before: FIFO per SINT. */
		r = enqueue(hv, &vp->queue[sint], &m);
		if (r < 0 || !queue_flush(hv, vp, sint))
			goto out;
	}
	sint_raise(hv, vp, sint);
out:
	if (r == 0)
		HV_COUNT(hv, messages_posted);
	pthread_mutex_unlock(&vp->lock);
	return r;
}

int hv_synic_signal_event(struct hv *hv, unsigned vpi, unsigned sint, unsigned flag)
{
	struct hv_vp *vp;
	uint64_t *word, bit, old;
	int r = 0;

	if (vpi >= hv->platform.vp_count || sint >= HV_SINT_COUNT || flag >= HV_EVENT_FLAGS_COUNT)
		return -EINVAL;
	vp = &hv->vps[vpi];
	pthread_mutex_lock(&vp->lock);
	word = NULL;
	if (vp->siefp & HV_MSR_PAGE_ENABLE)
		word = guest_memory_ptr(hv->platform.mem,
					(vp->siefp & HV_MSR_PAGE_GPA_MASK) +
						sint * HV_EVENT_FLAGS_BYTES + (flag / 64) * 8,
					sizeof(*word));
	if (!word) {
		r = -ENXIO;
		goto out;
	}
	/* The guest test-and-clears flags concurrently (vmbus_chan_sched): atomic. */
	bit = UINT64_C(1) << (flag % 64);
	old = __atomic_fetch_or(word, bit, __ATOMIC_SEQ_CST);
	HV_COUNT(hv, events_signaled);
	if (old & bit)
		HV_COUNT(hv, events_coalesced); /* not yet consumed: its interrupt is on its way */
	else
		sint_raise(hv, vp, sint);
out:
	pthread_mutex_unlock(&vp->lock);
	return r;
}

/* --- MSRs --- */

int hv_synic_msr_read(struct hv *hv, struct hv_vp *vp, uint32_t msr, uint64_t *value)
{
	int r = 0;

	pthread_mutex_lock(&vp->lock);
	switch (msr) {
	case HV_MSR_SCONTROL: *value = vp->scontrol; break;
	case HV_MSR_SVERSION: *value = HV_SYNIC_VERSION; break;
	case HV_MSR_SIEFP: *value = vp->siefp; break;
	case HV_MSR_SIMP: *value = vp->simp; break;
	case HV_MSR_EOM: *value = 0; break; /* write-only; reads as zero, as on KVM */
	default:
		if (msr >= HV_MSR_SINT0 && msr <= HV_MSR_SINT15)
			*value = vp->sint[msr - HV_MSR_SINT0];
		else
			r = -ENOENT;
	}
	pthread_mutex_unlock(&vp->lock);
	return r;
}

/*
 * SIMP or SIEFP. Enabling checks that the page is guest RAM (#GP
 * otherwise: the TLFS answers a page register pointing outside the GPA
 * space with #GP) and zeroes it when newly enabled or moved, as Hyper-V's
 * overlay page starts zeroed.
 */
static int write_page_reg(struct hv *hv, uint64_t *reg, uint64_t value, const char *name)
{
	uint64_t gpa = value & HV_MSR_PAGE_GPA_MASK;
	bool moved = !(*reg & HV_MSR_PAGE_ENABLE) || (*reg & HV_MSR_PAGE_GPA_MASK) != gpa;

	if (value & HV_PAGE_MSR_RESERVED) {
		hv_guest_error(hv, "%s write %#llx: reserved bits", name,
			       (unsigned long long)value);
		return -EINVAL;
	}
	if ((value & HV_MSR_PAGE_ENABLE) && moved &&
	    (!hv_gpa_page_is_ram(hv, gpa) ||
	     guest_memory_fill(hv->platform.mem, gpa, 0, HV_PAGE_SIZE) < 0)) {
		hv_guest_error(hv, "%s at %#llx: not guest RAM", name, (unsigned long long)gpa);
		return -EFAULT;
	}
	*reg = value;
	return 0;
}

static int write_sint(struct hv *hv, struct hv_vp *vp, unsigned sint, uint64_t value)
{
	/*
	 * Vectors 0-15 are exceptions, not interrupts: #GP for an unmasked
	 * SINT. A masked one may hold any vector, as the power-on value
	 * (masked, vector 0) must be writable back (KVM does the same).
	 */
	if ((value & HV_SINT_RESERVED) ||
	    (!(value & HV_SINT_MASKED) && (value & HV_SINT_VECTOR_MASK) < HV_SINT_MIN_VECTOR)) {
		hv_guest_error(hv, "SINT%u write %#llx: reserved bits or vector below 16", sint,
			       (unsigned long long)value);
		return -EINVAL;
	}
	vp->sint[sint] = value;
	raise_pending(hv, vp);
	return 0;
}

int hv_synic_msr_write(struct hv *hv, struct hv_vp *vp, uint32_t msr, uint64_t value)
{
	int r = 0;

	pthread_mutex_lock(&vp->lock);
	switch (msr) {
	case HV_MSR_SCONTROL:
		if (value & HV_SCONTROL_RESERVED) {
			hv_guest_error(hv, "SCONTROL write %#llx: reserved bits",
				       (unsigned long long)value);
			r = -EINVAL;
			break;
		}
		vp->scontrol = value;
		raise_pending(hv, vp);
		break;
	case HV_MSR_SVERSION:
		hv_guest_error(hv, "write to read-only SVERSION");
		r = -EPERM;
		break;
	case HV_MSR_SIEFP: r = write_page_reg(hv, &vp->siefp, value, "SIEFP"); break;
	case HV_MSR_SIMP:
		r = write_page_reg(hv, &vp->simp, value, "SIMP");
		if (r == 0)
			flush_all(hv, vp); /* messages queued while the page was elsewhere */
		break;
	case HV_MSR_EOM:
		/* Any value: the guest freed a slot that had message_pending set. */
		HV_COUNT(hv, eom_writes);
		flush_all(hv, vp);
		break;
	default:
		if (msr >= HV_MSR_SINT0 && msr <= HV_MSR_SINT15)
			r = write_sint(hv, vp, msr - HV_MSR_SINT0, value);
		else
			r = -ENOENT;
	}
	pthread_mutex_unlock(&vp->lock);
	return r;
}

/*
 * After a restore (docs/saved-state.md): what was signalled before the vCPUs' saved LAPICs
 * were set into KVM was raised into a LAPIC that KVM_SET_LAPIC then overwrote, while its
 * event flag or message stays in the guest's SIEF/SIM page, where every later signal of the
 * same flag only coalesces. One interrupt per enabled SINT finds them; one with nothing
 * behind it is a spurious interrupt, which the guest's handler (Linux vmbus_isr) ignores.
 */
void hv_synic_resume_interrupts(struct hv *hv)
{
	unsigned i, s;

	for (i = 0; i < hv->platform.vp_count; i++) {
		struct hv_vp *vp = &hv->vps[i];

		pthread_mutex_lock(&vp->lock);
		for (s = 0; s < HV_SINT_COUNT; s++)
			if (sint_can_interrupt(vp, s) && (vp->sint[s] & HV_SINT_VECTOR_MASK) >= 16)
				sint_raise(hv, vp, s);
		pthread_mutex_unlock(&vp->lock);
	}
}

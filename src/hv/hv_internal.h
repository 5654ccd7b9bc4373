/*
 * State shared by the files of hv/ (hv.c, cpuid.c, msr.c, hypercall.c,
 * synic.c, ref_time.c). Nothing outside hv/ includes this but the unit
 * tests of the pure helpers.
 *
 * Locking: hv->lock guards the partition-wide registers (GUEST_OS_ID,
 * HYPERCALL, REFERENCE_TSC) and serialises writers of the handler
 * registries; the hypercall path reads the registries and the HYPERCALL
 * register's enable bit without it (atomics), so that vCPUs signalling at
 * once do not contend; vp->lock guards
 * one VP's SynIC (registers and message queues), which host threads
 * (hv_synic_post_message, hv_synic_signal_event) and that VP's own thread
 * (its MSR exits) share. Never take hv->lock while holding a vp->lock.
 * Counters are updated with relaxed atomics, without a lock.
 */
#pragma once

#include <pthread.h>
#include <stdint.h>

#include "base/log.h"
#include "hv/hv.h"
#include "hvdef/tlfs_hypercall.h"
#include "hvdef/tlfs_msr.h"
#include "hvdef/tlfs_synic.h"

/* KVM's in-kernel LAPIC timer counts at 1 GHz (APIC_BUS_CYCLE_NS = 1, arch/x86/kvm/lapic.h). */
#define HV_APIC_FREQUENCY_HZ UINT64_C(1000000000)
#define HV_MAX_QUEUE_DEPTH   256u
#define HV_MSI_ADDRESS_BASE  UINT64_C(0xFEE00000) /* fixed delivery, physical destination */

/* Messages waiting for one SINT's slot: a ring of depth entries, allocated on first use. */
struct hv_sint_queue {
	struct hv_message *msgs;
	unsigned head, count;
};

struct hv_vp {
	pthread_mutex_t lock;
	unsigned index; /* VP index == APIC ID */
	/* SynIC registers as the guest last wrote them (validated). */
	uint64_t scontrol, simp, siefp;
	uint64_t sint[HV_SINT_COUNT];
	uint16_t irq_pending; /* bit n: SINT n was raised while it could not interrupt */
	struct hv_sint_queue queue[HV_SINT_COUNT];
	/* Only this VP's thread touches this one. */
	uint64_t vp_assist_page;
	/*
	 * The hypercall path's counters, per VP (relaxed atomics, summed by
	 * hv_get_stats): vCPUs signalling at once share no cache line (the
	 * padding keeps them off the next VP's lock).
	 */
	uint8_t pad_before[64];
	uint64_t hypercalls;
	uint64_t hypercall_signal_event;
	uint8_t pad_after[64];
};

struct hv_handler {
	uint32_t connection_id; /* the first of count ids */
	uint32_t count;
	void *fn; /* hv_message_fn or hv_event_fn */
	void *opaque;
};

/* An immutable set of handlers, sorted by id, ranges not overlapping. */
struct hv_registry_snap {
	struct hv_registry_snap *retired; /* older snapshots, kept until hv_free */
	unsigned n;
	struct hv_handler v[];
};

/* Connection ids and their handlers: cur is read without a lock (hv.c). */
struct hv_registry {
	struct hv_registry_snap *cur; /* replaced under hv->lock, loaded with acquire */
	struct hv_registry_snap *retired;
};

struct hv {
	struct hv_platform platform;
	struct partition *partition; /* NULL when built by hv_create alone */
	uint16_t hypercall_port;
	unsigned queue_depth;

	pthread_mutex_t lock;
	uint64_t guest_os_id;
	uint64_t hypercall_msr; /* enable only while guest_os_id != 0; stored atomically */
	uint64_t reference_tsc_msr;
	uint32_t tsc_sequence; /* of the last TSC page written; never 0 */
	struct hv_registry messages, events;

	/* Reference time = ((tsc * ref_scale) >> 64) + ref_offset, fixed at creation. */
	uint64_t ref_scale;
	int64_t ref_offset;
	uint64_t ref_last; /* atomic: the last value read, for a failed TSC read */

	struct hv_vp *vps;	       /* platform.vp_count entries */
	struct guest_error_log errors; /* rate-limited warnings */
	struct hv_stats stats;	       /* atomic counters */
};

#define HV_COUNT(hv, field) __atomic_fetch_add(&(hv)->stats.field, 1, __ATOMIC_RELAXED)
/* A hot-path counter kept per VP (struct hv_vp), partition-wide for a bad vp. */
#define HV_COUNT_VP(hv, vp, field)                                                                 \
	do {                                                                                       \
		if ((vp) < (hv)->platform.vp_count)                                                \
			__atomic_fetch_add(&(hv)->vps[vp].field, 1, __ATOMIC_RELAXED);             \
		else                                                                               \
			HV_COUNT(hv, field);                                                       \
	} while (0)

/* Counts a guest error and logs it, rate-limited. */
void hv_guest_error(struct hv *hv, const char *fmt, ...) printf_like(2, 3);

/* cpuid.c */
int hv_cpuid_install(struct hv *hv, struct partition *p) must_check;

/* hv.c: the handler of connection id id, copied out, without a lock; false if none. */
bool hv_registry_lookup(const struct hv_registry *r, uint32_t id, struct hv_handler *out);

/* hypercall.c */
/* Writes the hypercall page (the trap to the hypercall port) at gpa: 0 or -EFAULT. */
int hv_hypercall_page_fill(struct hv *hv, uint64_t gpa) must_check;

/* The decoded hypercall input value. */
struct hv_hypercall_control {
	uint16_t code;
	bool fast;
	uint16_t var_header_qwords;
	uint16_t rep_count, rep_start;
};
/*
 * Decodes a control word for a call that is (rep) or is not a rep call:
 * HV_STATUS_SUCCESS or HV_STATUS_INVALID_HYPERCALL_INPUT (reserved bits,
 * rep count/start wrong for the call's kind).
 */
uint16_t hv_hypercall_decode(uint64_t control, bool rep, struct hv_hypercall_control *out);
/* The result value of a call: status and reps completed. */
uint64_t hv_hypercall_result(uint16_t status, uint16_t reps_done);
/* The whole call, registers already taken from the convention: the result value. */
uint64_t hv_hypercall_dispatch(struct hv *hv, unsigned vp, uint64_t control, uint64_t input,
			       uint64_t output);

/* synic.c */
int hv_synic_vp_init(struct hv_vp *vp, unsigned index);
void hv_synic_vp_fini(struct hv_vp *vp);
int hv_synic_msr_read(struct hv *hv, struct hv_vp *vp, uint32_t msr, uint64_t *value);
int hv_synic_msr_write(struct hv *hv, struct hv_vp *vp, uint32_t msr, uint64_t value);

/* ref_time.c */
/* Sets the scale and the offset (reference time 0 now); -EINVAL if tsc_hz < 10 MHz. */
int hv_ref_time_init(struct hv *hv) must_check;
/* Reference time at a guest TSC value, exactly as the TSC page makes the guest compute it. */
uint64_t hv_ref_time_at(const struct hv *hv, uint64_t tsc);
/* HV_MSR_TIME_REF_COUNT for vp (on its thread). */
uint64_t hv_ref_time_read(struct hv *hv, unsigned vp);
/* Writes a valid TSC page at gpa with this sequence (non-zero): 0 or -EFAULT. */
int hv_ref_tsc_page_write(struct hv *hv, uint64_t gpa, uint32_t sequence) must_check;

/* True if [gpa, gpa + 4 KiB) is one page of guest RAM. */
bool hv_gpa_page_is_ram(const struct hv *hv, uint64_t gpa);

/*
 * The Hyper-V hypervisor interface of one partition (TLFS): the CPUID
 * leaves 0x40000000-0x40000006, the synthetic MSRs, the hypercall page and
 * the hypercalls HvPostMessage/HvSignalEvent, the reference counter and
 * TSC page, and the SynIC (message and event-flag pages, 16 SINTs per VP).
 * What the guest sees is documented in docs/hyperv.md.
 *
 * One struct hv per partition, created after the partition and before it
 * starts; a VM reset builds a new partition and a new hv, so there is no
 * reset path. The guest reaches it on its vCPU threads (MSR exits, the
 * hypercall port); the host side (VMBus) calls hv_synic_post_message and
 * hv_synic_signal_event from any thread.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vid/partition.h"

struct hv;

/* Messages queued per SINT behind the one in the SIMP slot, unless configured. */
#define HV_DEFAULT_QUEUE_DEPTH 16u
/* Registered connection ids, each of messages and events. */
#define HV_MAX_HANDLERS 4096u

struct hv_config {
	uint16_t hypercall_port; /* 0: PC_PORT_HYPERCALL */
	unsigned queue_depth;	 /* 0: HV_DEFAULT_QUEUE_DEPTH; at most 256 */
};

/*
 * Makes the partition a Hyper-V child partition: sets its CPUID leaves,
 * takes its synthetic MSRs and the hypercall port. Before partition_start.
 */
int hv_new(struct partition *p, const struct hv_config *cfg, struct hv **ret) must_check;
/* After the vCPUs have stopped. NULL is a no-op. Returns NULL. */
struct hv *hv_free(struct hv *hv);

/*
 * What hv needs from the platform. hv_new backs it with the partition;
 * tests and fuzzers give fakes (hv_create).
 */
struct hv_platform_ops {
	/* Injects a fixed, edge-triggered MSI (any thread). */
	int (*signal_msi)(void *opaque, uint64_t address, uint32_t data);
	/* The guest TSC of vp; called on vp's own thread (and once by hv_create). */
	int (*read_tsc)(void *opaque, unsigned vp, uint64_t *tsc);
	/* CPU time vp has run, in ns; called on vp's own thread. */
	uint64_t (*vp_runtime_ns)(void *opaque, unsigned vp);
};

struct hv_platform {
	const struct hv_platform_ops *ops;
	void *opaque;
	struct guest_memory *mem;
	unsigned vp_count; /* VP index == APIC ID, 0..vp_count-1 */
	uint64_t tsc_hz;   /* the guest TSC frequency */
};

/* Builds hv over any platform, without installing it anywhere. */
int hv_create(const struct hv_platform *platform, const struct hv_config *cfg,
	      struct hv **ret) must_check;

/*
 * Host-side handlers of what the guest sends (VMBus registers these).
 * Each returns an HV_STATUS for the guest's hypercall. They run on the
 * calling vCPU's thread, without a partition-wide lock, and may call hv_synic_*. The payload is a
 * copy, valid during the call. Registering fn = NULL removes the connection id. -EEXIST if the id
 * is taken, -ENOSPC past HV_MAX_HANDLERS, -EINVAL if it does not fit the 24 bits of an
 * HV_CONNECTION_ID.
 */
typedef uint16_t (*hv_message_fn)(void *opaque, unsigned vp_index, uint32_t message_type,
				  const void *payload, uint32_t payload_size);
typedef uint16_t (*hv_event_fn)(void *opaque, unsigned vp_index, uint32_t connection_id,
				uint16_t flag_number);
int hv_register_message_handler(struct hv *hv, uint32_t connection_id, hv_message_fn fn,
				void *opaque) must_check;
int hv_register_event_handler(struct hv *hv, uint32_t connection_id, hv_event_fn fn,
			      void *opaque) must_check;
/*
 * One handler for count connection ids from first on (a VMBus server's
 * whole channel range); removed with hv_register_event_handler(first, NULL).
 * -EEXIST if any id of the range is taken.
 */
int hv_register_event_range(struct hv *hv, uint32_t first, uint32_t count, hv_event_fn fn,
			    void *opaque) must_check;

/*
 * Host to guest, from any thread. Posting writes the message into the
 * SINT's slot of vp's SIMP if free, else queues it (the guest frees the
 * slot and writes EOM); the SINT is then raised. Returns 0; -EINVAL for a
 * bad vp, sint, type 0 or len > 240; -ENXIO if vp's SIMP is disabled
 * (TLFS: HV_STATUS_INVALID_SYNIC_STATE); -ENOBUFS if the queue is full.
 */
int hv_synic_post_message(struct hv *hv, unsigned vp, unsigned sint, uint32_t message_type,
			  const void *payload, size_t len) must_check;
/*
 * Sets event flag `flag` (< 2048) of the SINT in vp's SIEFP and raises the
 * SINT unless the flag was already set. -EINVAL for a bad argument,
 * -ENXIO if the SIEFP is disabled.
 */
int hv_synic_signal_event(struct hv *hv, unsigned vp, unsigned sint, unsigned flag) must_check;

/* Counters, for logs and benchmarks: a snapshot, all fields summed over VPs. */
struct hv_stats {
	uint64_t hypercalls;		 /* every trap on the hypercall port */
	uint64_t hypercall_post_message; /* by call code */
	uint64_t hypercall_signal_event;
	uint64_t hypercall_unknown;  /* HV_STATUS_INVALID_HYPERCALL_CODE */
	uint64_t hypercall_failed;   /* returned a status other than success */
	uint64_t hypercall_disabled; /* trapped while the hypercall page was off: ignored */
	uint64_t hypercall_refused;  /* from CPL > 0 or real mode: #UD */
	uint64_t msr_reads[256];     /* by MSR - 0x40000000 */
	uint64_t msr_writes[256];
	uint64_t msr_other;	     /* accesses outside 0x40000000-0x400000FF */
	uint64_t msr_gp;	     /* accesses answered with #GP */
	uint64_t messages_posted;    /* hv_synic_post_message calls accepted */
	uint64_t messages_queued;    /* found the slot busy */
	uint64_t messages_dropped;   /* the queue was full */
	uint64_t messages_delivered; /* written into a SIMP slot */
	uint64_t events_signaled;
	uint64_t events_coalesced; /* the flag was already set: no interrupt */
	uint64_t eom_writes;
	uint64_t interrupts_injected;
	uint64_t interrupts_deferred; /* SINT masked or polling, or SynIC off */
	uint64_t interrupt_errors;    /* the MSI could not be injected */
	uint64_t guest_errors;	      /* bad guest input of any kind */
};

void hv_get_stats(const struct hv *hv, struct hv_stats *stats);
/* sum += s, field by field (a worker sums over boots). */
void hv_stats_add(struct hv_stats *sum, const struct hv_stats *s);

/*
 * The guest's entry points: what the partition calls on a vCPU thread.
 * Public for tests and fuzzers, which drive them without KVM.
 */
/* 0, or negative for #GP. */
/*
 * Saved state (src/state/, hv_state.c): the partition's synthetic registers,
 * reference time, and every VP's SynIC with its queued messages. hv_save
 * while the vCPUs are paused; hv_load before they start, into a fresh hv of
 * the same VP count and guest RAM already restored (it rewrites the
 * hypercall and reference TSC pages). A refused load leaves hv partly set:
 * the caller discards the machine. errbuf names what is wrong.
 */
#define HV_STATE_VERSION 1u
struct state_out;
struct state_in;
int hv_save(struct hv *hv, struct state_out *out) must_check;
int hv_load(struct hv *hv, uint32_t version, struct state_in *in, char *errbuf,
	    size_t errlen) must_check;

/*
 * After a restored partition has started (its vCPUs' LAPICs hold their saved state): one
 * interrupt on every enabled SINT, for what was signalled into the guest's SIEF/SIM pages
 * before that (vmbus_server_load signals every open channel). Any thread.
 */
void hv_synic_resume_interrupts(struct hv *hv);

int hv_msr_read(struct hv *hv, unsigned vp, uint32_t msr, uint64_t *value);
int hv_msr_write(struct hv *hv, unsigned vp, uint32_t msr, uint64_t value);
/*
 * One trap on the hypercall port; writes the result value into regs. False if the call must
 * raise #UD instead (registers untouched): from CPL > 0 or real mode, as Hyper-V does (the
 * TLFS's hypercall interface; KVM's kvm_hv_hypercall follows it).
 */
bool hv_hypercall(struct hv *hv, unsigned vp, struct vcpu_gprs *regs, const struct vcpu_mode *mode);

struct hv_cpuid_leaf {
	uint32_t eax, ebx, ecx, edx;
};
/* The Hyper-V leaf `function` as the guest sees it; -ENOENT outside 0x40000000-0x40000006. */
int hv_cpuid(const struct hv *hv, uint32_t function, struct hv_cpuid_leaf *out);

/*
 * The partition-level object of the Hyper-V interface: creation over a
 * platform (the partition, or a fake in tests), installation into the
 * partition (CPUID leaves, synthetic MSR exits, the hypercall port), the
 * registries of connection ids, counters. See hv.h.
 */
#include "hv/hv_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vid/pc_layout.h"

void hv_guest_error(struct hv *hv, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	HV_COUNT(hv, guest_errors);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	guest_error_report(&hv->errors, "%s", line);
}

bool hv_gpa_page_is_ram(const struct hv *hv, uint64_t gpa)
{
	return (gpa & (HV_PAGE_SIZE - 1)) == 0 &&
	       guest_memory_is_ram(hv->platform.mem, gpa, HV_PAGE_SIZE);
}

/* --- Connection-id registries (HvPostMessage, HvSignalEvent targets) --- */

/* Index of the first entry with an id >= id. */
static unsigned registry_search(const struct hv_registry *r, uint32_t id)
{
	unsigned lo = 0, hi = r->n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (r->v[mid].connection_id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int registry_set(struct hv *hv, struct hv_registry *r, uint32_t id, void *fn, void *opaque)
{
	unsigned i;
	int ret = 0;

	if (id & ~HV_CONNECTION_ID_MASK)
		return -EINVAL;
	pthread_mutex_lock(&hv->lock);
	i = registry_search(r, id);
	if (!fn) {
		if (i < r->n && r->v[i].connection_id == id) {
			memmove(&r->v[i], &r->v[i + 1], (r->n - i - 1) * sizeof(r->v[0]));
			r->n--;
		} else {
			ret = -ENOENT;
		}
	} else if (i < r->n && r->v[i].connection_id == id) {
		ret = -EEXIST;
	} else if (r->n == HV_MAX_HANDLERS) {
		ret = -ENOSPC;
	} else {
		if (r->n == r->cap) {
			unsigned cap = r->cap ? r->cap * 2 : 8;
			struct hv_handler *v = realloc(r->v, cap * sizeof(*v));

			if (!v) {
				ret = -ENOMEM;
				goto out;
			}
			r->v = v;
			r->cap = cap;
		}
		memmove(&r->v[i + 1], &r->v[i], (r->n - i) * sizeof(r->v[0]));
		r->v[i] = (struct hv_handler){.connection_id = id, .fn = fn, .opaque = opaque};
		r->n++;
	}
out:
	pthread_mutex_unlock(&hv->lock);
	return ret;
}

int hv_register_message_handler(struct hv *hv, uint32_t connection_id, hv_message_fn fn,
				void *opaque)
{
	return registry_set(hv, &hv->messages, connection_id, (void *)fn, opaque);
}

int hv_register_event_handler(struct hv *hv, uint32_t connection_id, hv_event_fn fn, void *opaque)
{
	return registry_set(hv, &hv->events, connection_id, (void *)fn, opaque);
}

/* --- Counters --- */

#define STATS_WORDS (sizeof(struct hv_stats) / sizeof(uint64_t))
_Static_assert(sizeof(struct hv_stats) % sizeof(uint64_t) == 0, "hv_stats is all uint64_t");

void hv_get_stats(const struct hv *hv, struct hv_stats *stats)
{
	const uint64_t *src = (const uint64_t *)&hv->stats;
	uint64_t *dst = (uint64_t *)stats;
	size_t i;

	for (i = 0; i < STATS_WORDS; i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

void hv_stats_add(struct hv_stats *sum, const struct hv_stats *s)
{
	const uint64_t *src = (const uint64_t *)s;
	uint64_t *dst = (uint64_t *)sum;
	size_t i;

	for (i = 0; i < STATS_WORDS; i++)
		dst[i] += src[i];
}

/* --- Creation --- */

int hv_create(const struct hv_platform *platform, const struct hv_config *cfg, struct hv **ret)
{
	struct hv *hv;
	unsigned i;
	int r;

	if (!platform->ops || !platform->ops->signal_msi || !platform->ops->read_tsc ||
	    !platform->ops->vp_runtime_ns || !platform->mem || platform->vp_count == 0 ||
	    (cfg->queue_depth > HV_MAX_QUEUE_DEPTH) || cfg->hypercall_port > 0xFF)
		return -EINVAL;
	hv = calloc(1, sizeof(*hv));
	if (!hv)
		return -ENOMEM;
	hv->platform = *platform;
	hv->hypercall_port = cfg->hypercall_port ? cfg->hypercall_port : PC_PORT_HYPERCALL;
	hv->queue_depth = cfg->queue_depth ? cfg->queue_depth : HV_DEFAULT_QUEUE_DEPTH;
	guest_error_log_init(&hv->errors, "hv");
	pthread_mutex_init(&hv->lock, NULL);
	hv->vps = calloc(platform->vp_count, sizeof(*hv->vps));
	if (!hv->vps) {
		free(hv);
		return -ENOMEM;
	}
	for (i = 0; i < platform->vp_count; i++)
		hv_synic_vp_init(&hv->vps[i], i);
	r = hv_ref_time_init(hv);
	if (r < 0) {
		hv_free(hv);
		return r;
	}
	*ret = hv;
	return 0;
}

struct hv *hv_free(struct hv *hv)
{
	unsigned i;

	if (!hv)
		return NULL;
	for (i = 0; i < hv->platform.vp_count; i++)
		hv_synic_vp_fini(&hv->vps[i]);
	free(hv->vps);
	free(hv->messages.v);
	free(hv->events.v);
	pthread_mutex_destroy(&hv->lock);
	free(hv);
	return NULL;
}

/* --- The platform a partition provides --- */

static int partition_msi(void *opaque, uint64_t address, uint32_t data)
{
	return partition_signal_msi(opaque, address, data);
}

static int partition_tsc(void *opaque, unsigned vp, uint64_t *tsc)
{
	return partition_vcpu_read_tsc(opaque, vp, tsc);
}

/*
 * A VP's run time is its vCPU thread's CPU time: called on that thread,
 * it counts guest execution inside KVM_RUN and the exits handled there,
 * not time the vCPU spent halted or preempted (TLFS: VP run time).
 */
static uint64_t thread_cpu_ns(void *opaque, unsigned vp)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const struct hv_platform_ops partition_platform_ops = {
	.signal_msi = partition_msi,
	.read_tsc = partition_tsc,
	.vp_runtime_ns = thread_cpu_ns,
};

static int msr_read_op(void *opaque, unsigned vp, uint32_t msr, uint64_t *value)
{
	return hv_msr_read(opaque, vp, msr, value);
}

static int msr_write_op(void *opaque, unsigned vp, uint32_t msr, uint64_t value)
{
	return hv_msr_write(opaque, vp, msr, value);
}

static const struct partition_msr_ops msr_ops = {.read = msr_read_op, .write = msr_write_op};

static bool hypercall_op(void *opaque, unsigned vp, struct vcpu_gprs *regs,
			 const struct vcpu_mode *mode)
{
	return hv_hypercall(opaque, vp, regs, mode);
}

static const struct partition_hypercall_ops hypercall_ops = {.hypercall = hypercall_op};

int hv_new(struct partition *p, const struct hv_config *cfg, struct hv **ret)
{
	int64_t khz = partition_tsc_khz(p);
	struct hv_platform platform = {
		.ops = &partition_platform_ops,
		.opaque = p,
		.mem = partition_memory(p),
		.vp_count = partition_vcpu_count(p),
	};
	struct hv *hv;
	int r;

	if (khz <= 0)
		return khz < 0 ? (int)khz : -ENODEV;
	platform.tsc_hz = (uint64_t)khz * 1000;
	r = hv_create(&platform, cfg, &hv);
	if (r < 0)
		return r;
	hv->partition = p;
	r = hv_cpuid_install(hv, p);
	if (r == 0)
		r = partition_set_hypercall_port(p, hv->hypercall_port, &hypercall_ops, hv);
	if (r < 0) {
		hv_free(hv);
		return r;
	}
	partition_set_msr_ops(p, &msr_ops, hv);
	*ret = hv;
	return 0;
}

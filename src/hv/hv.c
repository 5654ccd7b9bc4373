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

/*
 * Readers (every hypercall, on vCPU threads) take no lock: they load the
 * current snapshot with acquire and search it. Writers (setup and
 * teardown) build a new snapshot under hv->lock and publish it with
 * release. A replaced snapshot may still be read by a hypercall in
 * flight, so it is kept until hv_free(); registrations happen when
 * devices are built and removed, a handful per partition.
 */
static struct hv_registry_snap *snap_new(unsigned n)
{
	return calloc(1, sizeof(struct hv_registry_snap) + (size_t)n * sizeof(struct hv_handler));
}

static int registry_set(struct hv *hv, struct hv_registry *r, uint32_t id, uint32_t count, void *fn,
			void *opaque)
{
	struct hv_registry_snap *old, *snap;
	unsigned i, j = 0;
	int ret = 0;

	if (count == 0 || (id & ~HV_CONNECTION_ID_MASK) || count - 1 > HV_CONNECTION_ID_MASK - id)
		return -EINVAL;
	pthread_mutex_lock(&hv->lock);
	old = r->cur;
	if (!fn) {
		for (i = 0; i < old->n; i++)
			if (old->v[i].connection_id == id)
				break;
		if (i == old->n) {
			ret = -ENOENT;
			goto out;
		}
		snap = snap_new(old->n - 1);
		if (!snap) {
			ret = -ENOMEM;
			goto out;
		}
		memcpy(snap->v, old->v, i * sizeof(old->v[0]));
		memcpy(snap->v + i, old->v + i + 1, (old->n - i - 1) * sizeof(old->v[0]));
		snap->n = old->n - 1;
	} else {
		for (i = 0; i < old->n; i++) {
			const struct hv_handler *h = &old->v[i];

			if (h->connection_id <= id + (count - 1) &&
			    id <= h->connection_id + (h->count - 1)) {
				ret = -EEXIST;
				goto out;
			}
			if (h->connection_id < id)
				j = i + 1;
		}
		if (old->n == HV_MAX_HANDLERS) {
			ret = -ENOSPC;
			goto out;
		}
		snap = snap_new(old->n + 1);
		if (!snap) {
			ret = -ENOMEM;
			goto out;
		}
		memcpy(snap->v, old->v, j * sizeof(old->v[0]));
		snap->v[j] = (struct hv_handler){
			.connection_id = id, .count = count, .fn = fn, .opaque = opaque};
		memcpy(snap->v + j + 1, old->v + j, (old->n - j) * sizeof(old->v[0]));
		snap->n = old->n + 1;
	}
	old->retired = r->retired;
	r->retired = old;
	__atomic_store_n(&r->cur, snap, __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&hv->lock);
	return ret;
}

bool hv_registry_lookup(const struct hv_registry *r, uint32_t id, struct hv_handler *out)
{
	const struct hv_registry_snap *snap = __atomic_load_n(&r->cur, __ATOMIC_ACQUIRE);
	unsigned lo = 0, hi = snap->n;

	/* Sorted, non-overlapping ranges: the last one starting at or below id. */
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (snap->v[mid].connection_id <= id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || id - snap->v[lo - 1].connection_id >= snap->v[lo - 1].count)
		return false;
	*out = snap->v[lo - 1];
	return true;
}

static int registry_init(struct hv_registry *r)
{
	r->cur = snap_new(0);
	r->retired = NULL;
	return r->cur ? 0 : -ENOMEM;
}

static void registry_fini(struct hv_registry *r)
{
	struct hv_registry_snap *s = r->retired;

	free(r->cur);
	while (s) {
		struct hv_registry_snap *next = s->retired;

		free(s);
		s = next;
	}
}

int hv_register_message_handler(struct hv *hv, uint32_t connection_id, hv_message_fn fn,
				void *opaque)
{
	return registry_set(hv, &hv->messages, connection_id, 1, (void *)fn, opaque);
}

int hv_register_event_handler(struct hv *hv, uint32_t connection_id, hv_event_fn fn, void *opaque)
{
	return registry_set(hv, &hv->events, connection_id, 1, (void *)fn, opaque);
}

int hv_register_event_range(struct hv *hv, uint32_t first, uint32_t count, hv_event_fn fn,
			    void *opaque)
{
	return registry_set(hv, &hv->events, first, count, (void *)fn, opaque);
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
	for (i = 0; i < hv->platform.vp_count; i++) {
		stats->hypercalls += __atomic_load_n(&hv->vps[i].hypercalls, __ATOMIC_RELAXED);
		stats->hypercall_signal_event +=
			__atomic_load_n(&hv->vps[i].hypercall_signal_event, __ATOMIC_RELAXED);
	}
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
	r = registry_init(&hv->messages);
	if (r == 0)
		r = registry_init(&hv->events);
	if (r == 0)
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
	registry_fini(&hv->messages);
	registry_fini(&hv->events);
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

/* Benchmark numbers of a worker run; see exit_stats.h. */
#include "vmwp/exit_stats.h"

#include <errno.h>
#include <json-c/json.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"

/*
 * The worker's own resident memory: anonymous and file-backed pages, not
 * shared memory. Guest RAM is the worker's only shared memory (a memfd),
 * and only the part of it mapped in so far shows in Rss at all, so
 * "Rss - RssShmem" is what the worker costs beyond the guest's RAM.
 */
static uint64_t self_rss_without_shmem(int status_fd)
{
	unsigned long long anon = 0, file = 0;
	char buf[4096], *line, *save = NULL;
	ssize_t n = status_fd >= 0 ? pread(status_fd, buf, sizeof(buf) - 1, 0) : -1;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		sscanf(line, "RssAnon: %llu kB", &anon); /* proc(5) */
		sscanf(line, "RssFile: %llu kB", &file);
	}
	return (anon + file) * 1024;
}

int exit_stats_open(const char *path, int *out_fd, int *status_fd)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return -errno;
	*out_fd = fd;
	*status_fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	return 0;
}

void exit_stats_record(struct exit_stats_sink *s, struct partition *p, uint64_t process_start_ns)
{
	struct partition_exit_stats e;
	struct partition_exit_stats *t = &s->exits;

	partition_get_exit_stats(p, &e);
	t->io += e.io;
	t->mmio += e.mmio;
	t->msr += e.msr;
	t->hlt += e.hlt;
	t->intr += e.intr;
	t->shutdown += e.shutdown;
	t->system_event += e.system_event;
	t->internal_error += e.internal_error;
	t->other += e.other;
	t->completed_int3 += e.completed_int3;
	t->completed_popcnt += e.completed_popcnt;
	t->refused_cpl += e.refused_cpl;
	t->unclaimed_io += e.unclaimed_io;
	t->unclaimed_mmio += e.unclaimed_mmio;
	t->hypercall += e.hypercall;
	if (!s->exits.first_run_ns && e.first_run_ns) {
		s->exits.first_run_ns = e.first_run_ns;
		s->startup_ns = e.first_run_ns - process_start_ns;
		s->startup_cpu_ns = e.first_run_cpu_ns;
	}
	if (s->exits.first_run_ns)
		s->run_ns = time_monotonic_ns() - s->exits.first_run_ns;
	s->rss_bytes = self_rss_without_shmem(s->status_fd);
	s->guest_resident_bytes = guest_memory_resident_bytes(partition_memory(p));
}

void exit_stats_record_hv(struct exit_stats_sink *s, const struct hv *hv)
{
	struct hv_stats h;

	if (!hv)
		return;
	hv_get_stats(hv, &h);
	hv_stats_add(&s->hv, &h);
}

/* Synthetic MSR accesses by MSR ("0x40000001": count), the ones that happened. */
static struct json_object *msr_counts(const uint64_t *counts)
{
	struct json_object *o = json_object_new_object();
	char name[16];
	unsigned i;

	for (i = 0; o && i < 256; i++) {
		if (!counts[i])
			continue;
		snprintf(name, sizeof(name), "0x%08x", 0x40000000u + i);
		json_object_object_add(o, name, json_object_new_int64((int64_t)counts[i]));
	}
	return o;
}

static struct json_object *hv_json(const struct hv_stats *h)
{
	struct json_object *o = json_object_new_object(), *calls = json_object_new_object();

	if (!o || !calls) {
		json_object_put(o);
		json_object_put(calls);
		return NULL;
	}
#define ADD(obj, name, v) json_object_object_add(obj, name, json_object_new_int64((int64_t)(v)))
	ADD(calls, "0x005c_post_message", h->hypercall_post_message);
	ADD(calls, "0x005d_signal_event", h->hypercall_signal_event);
	ADD(calls, "unknown", h->hypercall_unknown);
	json_object_object_add(o, "hypercalls_by_code", calls);
	ADD(o, "hypercalls", h->hypercalls);
	ADD(o, "hypercall_failed", h->hypercall_failed);
	ADD(o, "hypercall_disabled", h->hypercall_disabled);
	ADD(o, "hypercall_refused", h->hypercall_refused);
	json_object_object_add(o, "msr_reads", msr_counts(h->msr_reads));
	json_object_object_add(o, "msr_writes", msr_counts(h->msr_writes));
	ADD(o, "msr_other", h->msr_other);
	ADD(o, "msr_gp", h->msr_gp);
	ADD(o, "messages_posted", h->messages_posted);
	ADD(o, "messages_queued", h->messages_queued);
	ADD(o, "messages_dropped", h->messages_dropped);
	ADD(o, "messages_delivered", h->messages_delivered);
	ADD(o, "events_signaled", h->events_signaled);
	ADD(o, "events_coalesced", h->events_coalesced);
	ADD(o, "eom_writes", h->eom_writes);
	ADD(o, "interrupts_injected", h->interrupts_injected);
	ADD(o, "interrupts_deferred", h->interrupts_deferred);
	ADD(o, "interrupt_errors", h->interrupt_errors);
	ADD(o, "guest_errors", h->guest_errors);
#undef ADD
	return o;
}

void exit_stats_record_status(struct exit_stats_sink *s, struct json_object *vmbus,
			      struct json_object *storage)
{
	struct json_object *o = json_object_new_object();

	if (!s->boot_status)
		s->boot_status = json_object_new_array();
	if (!o || !s->boot_status) {
		json_object_put(o);
		json_object_put(vmbus);
		json_object_put(storage);
		return;
	}
	json_object_object_add(o, "vmbus", vmbus);
	json_object_object_add(o, "storage", storage);
	json_object_array_add(s->boot_status, o);
}

void exit_stats_fini(struct exit_stats_sink *s)
{
	json_object_put(s->boot_status);
	s->boot_status = NULL;
}

#define ADD(obj, name, v) json_object_object_add(obj, name, json_object_new_int64((int64_t)(v)))

struct json_object *exit_stats_exits_json(const struct partition_exit_stats *e)
{
	struct json_object *exits = json_object_new_object();

	if (!exits)
		return NULL;
	ADD(exits, "io", e->io);
	ADD(exits, "mmio", e->mmio);
	ADD(exits, "msr", e->msr);
	ADD(exits, "hlt", e->hlt);
	ADD(exits, "intr", e->intr);
	ADD(exits, "shutdown", e->shutdown);
	ADD(exits, "system_event", e->system_event);
	ADD(exits, "internal_error", e->internal_error);
	ADD(exits, "other", e->other);
	ADD(exits, "completed_int3", e->completed_int3);
	ADD(exits, "completed_popcnt", e->completed_popcnt);
	ADD(exits, "refused_cpl", e->refused_cpl);
	ADD(exits, "unclaimed_io", e->unclaimed_io);
	ADD(exits, "unclaimed_mmio", e->unclaimed_mmio);
	ADD(exits, "hypercall", e->hypercall);
	return exits;
}

int exit_stats_write(const struct exit_stats_sink *s, unsigned boots)
{
	struct json_object *o = json_object_new_object(), *exits = exit_stats_exits_json(&s->exits);
	int r;

	if (!o || !exits)
		return -ENOMEM;
	json_object_object_add(o, "exits", exits);
	json_object_object_add(o, "hv", hv_json(&s->hv));
	ADD(o, "boots", boots);
	ADD(o, "startup_ns", s->startup_ns);
	ADD(o, "startup_cpu_ns", s->startup_cpu_ns);
	ADD(o, "run_ns", s->run_ns);
	ADD(o, "rss_bytes", s->rss_bytes);
	ADD(o, "guest_resident_bytes", s->guest_resident_bytes);
#undef ADD
	json_object_object_add(o, "boot_status",
			       s->boot_status ? json_object_get(s->boot_status)
					      : json_object_new_array());
	r = s->out_fd < 0 || ftruncate(s->out_fd, 0) < 0 ||
			    json_object_to_fd(s->out_fd, o, JSON_C_TO_STRING_PRETTY) < 0
		    ? -EIO
		    : 0;
	json_object_put(o);
	return r;
}

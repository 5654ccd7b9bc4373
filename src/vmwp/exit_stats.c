/* Benchmark numbers of a worker run; see exit_stats.h. */
#include "vmwp/exit_stats.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>

#include "base/clock.h"

/*
 * The worker's own resident memory: anonymous and file-backed pages, not
 * shared memory. Guest RAM is the worker's only shared memory (a memfd),
 * and only the part of it mapped in so far shows in Rss at all, so
 * "Rss - RssShmem" is what the worker costs beyond the guest's RAM.
 */
static uint64_t self_rss_without_shmem(void)
{
	unsigned long long anon = 0, file = 0;
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "RssAnon: %llu kB", &anon); /* proc(5) */
		sscanf(line, "RssFile: %llu kB", &file);
	}
	fclose(f);
	return (anon + file) * 1024;
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
	s->rss_bytes = self_rss_without_shmem();
	s->guest_resident_bytes = guest_memory_resident_bytes(partition_memory(p));
}

int exit_stats_write(const struct exit_stats_sink *s, const char *path, unsigned boots)
{
	struct json_object *o = json_object_new_object(), *exits = json_object_new_object();
	const struct partition_exit_stats *e = &s->exits;
	int r;

	if (!o || !exits)
		return -ENOMEM;
#define ADD(obj, name, v) json_object_object_add(obj, name, json_object_new_int64((int64_t)(v)))
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
	ADD(exits, "unclaimed_io", e->unclaimed_io);
	ADD(exits, "unclaimed_mmio", e->unclaimed_mmio);
	ADD(exits, "hypercall", e->hypercall);
	json_object_object_add(o, "exits", exits);
	ADD(o, "boots", boots);
	ADD(o, "startup_ns", s->startup_ns);
	ADD(o, "startup_cpu_ns", s->startup_cpu_ns);
	ADD(o, "run_ns", s->run_ns);
	ADD(o, "rss_bytes", s->rss_bytes);
	ADD(o, "guest_resident_bytes", s->guest_resident_bytes);
#undef ADD
	r = json_object_to_file_ext(path, o, JSON_C_TO_STRING_PRETTY) < 0 ? -EIO : 0;
	json_object_put(o);
	return r;
}

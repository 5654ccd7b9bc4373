/*
 * What a worker run cost, for benchmarks (--exit-stats FILE): exits by
 * reason over all boots, the Hyper-V interface's counters (hypercalls by
 * code, synthetic MSR accesses by MSR, SynIC traffic), start-up time and
 * CPU to the first KVM_RUN, and the worker's own memory (its resident set
 * without guest RAM).
 */
#pragma once

#include <stdint.h>

#include "hv/hv.h"
#include "vid/partition.h"

struct exit_stats_sink {
	struct partition_exit_stats exits; /* summed over boots */
	struct hv_stats hv;		   /* summed over boots */
	uint64_t startup_ns;		   /* process start to the first KVM_RUN */
	uint64_t startup_cpu_ns;	   /* CPU time consumed by then */
	uint64_t rss_bytes;	       /* worker RSS without guest RAM (shmem) at the last stop */
	uint64_t guest_resident_bytes; /* guest RAM resident then */
	uint64_t run_ns;	       /* wall time from first KVM_RUN to the last stop */
};

/* Adds a stopped partition's numbers (call before freeing it). */
void exit_stats_record(struct exit_stats_sink *s, struct partition *p, uint64_t process_start_ns);
/* Adds a machine's Hyper-V counters (NULL: none). */
void exit_stats_record_hv(struct exit_stats_sink *s, const struct hv *hv);
/* Writes the numbers as a JSON object. */
int exit_stats_write(const struct exit_stats_sink *s, const char *path, unsigned boots);

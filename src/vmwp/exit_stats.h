/*
 * What a worker run cost, for benchmarks (--exit-stats FILE): exits by
 * reason over all boots, the Hyper-V interface's counters (hypercalls by
 * code, synthetic MSR accesses by MSR, SynIC traffic), start-up time and
 * CPU to the first KVM_RUN, the worker's own memory (its resident set
 * without guest RAM), and per boot the VMBus and storage status as the
 * control socket gives it (docs/control.md) at that boot's stop: the device
 * counters of a boot whose worker exits before anyone could ask.
 *
 * The output file and /proc/self/status are opened at start, before the
 * jail (which has neither a host path nor /proc), and used through their
 * descriptors: a jailed worker's numbers are the same as an unjailed one's.
 */
#pragma once

#include <json-c/json.h>
#include <stdint.h>

#include "hv/hv.h"
#include "vid/partition.h"

struct exit_stats_sink {
	int out_fd;    /* the --exit-stats file, opened at start (exit_stats_open); -1: none */
	int status_fd; /* /proc/self/status, opened at start; -1: memory figures are 0 */
	struct partition_exit_stats exits; /* summed over boots */
	struct hv_stats hv;		   /* summed over boots */
	uint64_t startup_ns;		   /* process start to the first KVM_RUN */
	uint64_t startup_cpu_ns;	   /* CPU time consumed by then */
	uint64_t rss_bytes;		 /* worker RSS without guest RAM (shmem) at the last stop */
	uint64_t guest_resident_bytes;	 /* guest RAM resident then */
	uint64_t run_ns;		 /* wall time from first KVM_RUN to the last stop */
	struct json_object *boot_status; /* array, one {"vmbus", "storage"} per boot; owned */
};

/*
 * Opens (creates, truncates) path for the numbers and /proc/self/status for the memory
 * figures, before the jail. 0 with *out_fd and *status_fd (-1 if /proc is missing), or
 * -errno.
 */
int exit_stats_open(const char *path, int *out_fd, int *status_fd);

/* Adds a stopped partition's numbers (call before freeing it). */
void exit_stats_record(struct exit_stats_sink *s, struct partition *p, uint64_t process_start_ns);
/* Adds a machine's Hyper-V counters (NULL: none). */
void exit_stats_record_hv(struct exit_stats_sink *s, const struct hv *hv);
/* Appends a boot's {"vmbus": vmbus, "storage": storage}; takes both (NULL: null). */
void exit_stats_record_status(struct exit_stats_sink *s, struct json_object *vmbus,
			      struct json_object *storage);
/* Exits by reason as a JSON object ("io", "mmio", "hypercall", ...); NULL if out of memory. */
struct json_object *exit_stats_exits_json(const struct partition_exit_stats *e);
/* Writes the numbers as a JSON object into s->out_fd. */
int exit_stats_write(const struct exit_stats_sink *s, unsigned boots);
/* Frees what the sink holds. */
void exit_stats_fini(struct exit_stats_sink *s);

/* Helpers of the hostile-guest suite (tests/hostile/): the memory bound every case states. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

/* Resident memory of this process, from /proc/self/statm. */
static inline uint64_t hostile_resident_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%lu %lu", &size, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* The host (this process) grew by at most bound bytes since before. */
#define hostile_assert_growth(before, bound)                                                       \
	do {                                                                                       \
		uint64_t _now = hostile_resident_bytes(), _b = (before);                           \
		if (_now > _b && _now - _b > (uint64_t)(bound))                                    \
			fail_msg("resident memory grew by %llu KiB (bound %llu KiB)",              \
				 (unsigned long long)((_now - _b) >> 10),                          \
				 (unsigned long long)((uint64_t)(bound) >> 10));                   \
	} while (0)

/*
 * The jail's filters (seccomp_threads.c): every thread the code under test creates runs
 * under the worker's process filter. hostile_vcpu_run runs fn(arg) on a thread under the
 * vCPU filter too (host code a vCPU thread runs: hypercalls) and returns its result;
 * hostile_filtered_syscall_status is the wait status of a child whose filtered thread made
 * a forbidden call (killed by SIGSYS when the filters are on).
 */
void *hostile_vcpu_run(void *(*fn)(void *), void *arg);
/* False under ThreadSanitizer, whose runtime needs what the filters forbid (seccomp_threads.c). */
bool hostile_filters_on(void);
int hostile_filtered_syscall_status(void);

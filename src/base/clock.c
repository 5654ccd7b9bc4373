/* Clocks; see time.h. */
#include "base/clock.h"

#include <time.h>

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t time_monotonic_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

uint64_t time_realtime_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

uint64_t time_process_cpu_ns(void)
{
	return clock_ns(CLOCK_PROCESS_CPUTIME_ID);
}

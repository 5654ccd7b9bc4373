/* Clocks. */
#pragma once

#include <pthread.h>
#include <stdint.h>
#include <time.h>

uint64_t time_monotonic_ns(void);
uint64_t time_realtime_ns(void);
/* CPU time consumed by the calling process, in nanoseconds. */
uint64_t time_process_cpu_ns(void);

/*
 * A condition variable whose timed waits count CLOCK_MONOTONIC, so that a step of the wall
 * clock neither cuts a wait short nor stretches it. 0 or an error number.
 */
int cond_init_monotonic(pthread_cond_t *c);
/* The CLOCK_MONOTONIC time ns from now, for pthread_cond_timedwait on such a variable. */
struct timespec monotonic_deadline_ns(uint64_t ns);

/* Clocks. */
#pragma once

#include <stdint.h>

uint64_t time_monotonic_ns(void);
uint64_t time_realtime_ns(void);
/* CPU time consumed by the calling process, in nanoseconds. */
uint64_t time_process_cpu_ns(void);

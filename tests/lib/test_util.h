/*
 * Small helpers shared by the C tests (issue 18: tests as a library).
 *
 * WAIT_FOR_MS(cond, ms): evaluates cond every millisecond until it is true or ms milliseconds
 * have passed; the value is whether it became true. WAIT_FOR(cond): the same for 5 s. For state
 * that another thread (a channel loop, a device's I/O thread) changes asynchronously, where one
 * reading right after an event races with that thread: the wait ends as soon as the state is there,
 * so it costs nothing when the machine is quiet and only the bound is long.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static inline uint64_t test_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void test_sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

#define WAIT_FOR_MS(cond, ms)                                                                      \
	({                                                                                         \
		uint64_t wait_for_end_ = test_now_ms() + (ms);                                     \
		bool wait_for_ok_;                                                                 \
		while (!(wait_for_ok_ = (cond)) && test_now_ms() < wait_for_end_)                  \
			test_sleep_ms(1);                                                          \
		wait_for_ok_;                                                                      \
	})

#define WAIT_FOR(cond) WAIT_FOR_MS(cond, 5000)

/* Without IPv6 on it, the kernel sends nothing of its own through an interface it brings up
 * (router solicitations, MLD reports, DAD probes), so every frame a test counts is one it
 * sent. For tests in a network namespace of their own: so is its /proc/sys/net. */
static inline void test_if_no_ipv6(const char *name)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
	f = fopen(path, "w");
	if (f) { /* absent: the kernel has no IPv6 at all */
		fputs("1", f);
		fclose(f);
	}
}

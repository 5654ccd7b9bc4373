/*
 * An injectable clock for the device models that read the time (the CMOS
 * RTC, the ACPI PM timer). Production passes {0}: the device then reads
 * its own default clock. Tests pass a fake they advance by hand, so that
 * sub-second behaviour (UIP, timer frequency) is deterministic.
 */
#pragma once

#include <stdint.h>

struct clock_source {
	/* Nanoseconds; NULL means the device's default clock. Called from any thread. */
	uint64_t (*now_ns)(void *opaque);
	void *opaque;
};

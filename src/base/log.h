/*
 * Logging. Library code (vid, hv, emu, boot, ...) never writes to stderr
 * itself: it calls pv_log(), and the process (parvis-vmwp, tests) decides
 * where lines go with log_set_sink(). Guest-triggered events must go
 * through a struct ratelimit so a hostile guest cannot flood the log.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

typedef void (*log_sink_fn)(void *opaque, enum log_level level, const char *line);

void log_set_sink(log_sink_fn fn, void *opaque);
void log_set_level(enum log_level max);
bool log_enabled(enum log_level level);
void pv_log(enum log_level level, const char *fmt, ...) printf_like(2, 3);
void pv_vlog(enum log_level level, const char *fmt, va_list ap) printf_like(2, 0);

/* The default sink: "parvis-vmwp: warn: message" to stderr. */
void log_sink_stderr(void *opaque, enum log_level level, const char *line);
const char *log_level_name(enum log_level level);

/*
 * At most `burst` lines per `interval_ns`; the rest are counted and
 * reported with the next line that gets through. Thread-safe.
 */
struct ratelimit {
	uint64_t interval_ns;
	unsigned burst;
	uint64_t window_start_ns;
	unsigned printed;
	unsigned suppressed;
};

#define RATELIMIT_INIT(ms, n)                                                                      \
	{                                                                                          \
		.interval_ns = (uint64_t)(ms)*1000000u, .burst = (n)                               \
	}

/* True if a line may be printed; *suppressed receives the count dropped since the last one. */
bool ratelimit_allow(struct ratelimit *rl, unsigned *suppressed);

/* pv_log() through a rate limit. */
void pv_log_ratelimited(struct ratelimit *rl, enum log_level level, const char *fmt, ...)
	printf_like(3, 4);

/*
 * What a device model keeps about a guest's mistakes (STYLE.md: a guest
 * error is not a host error): a counter any thread can read, and a
 * warning naming the device, rate-limited. Every log line a guest can
 * trigger goes through one of these (guest_error_report for mistakes,
 * guest_log for anything else a guest can repeat at will, such as a
 * reconnect): a guest cannot make the worker write more than `burst`
 * lines per interval per device, whatever it does.
 */
struct guest_error_log {
	struct ratelimit rl;
	uint64_t count; /* atomic */
	char name[24];
};

void guest_error_log_init(struct guest_error_log *log, const char *name);
/* Counts a guest mistake and logs it (LOG_WARN, "name: message"), rate-limited. */
void guest_error_report(struct guest_error_log *log, const char *fmt, ...) printf_like(2, 3);
/* A line about something the guest did that is not a mistake: rate-limited, not counted. */
void guest_log(struct guest_error_log *log, enum log_level level, const char *fmt, ...)
	printf_like(3, 4);
uint64_t guest_error_count(const struct guest_error_log *log);

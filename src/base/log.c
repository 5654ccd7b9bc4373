/* Logging with a pluggable sink and rate limits; see log.h. */
#include "base/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "base/clock.h"

static log_sink_fn log_sink = log_sink_stderr;
static void *log_sink_opaque;
static enum log_level log_max_level = LOG_INFO;
static pthread_mutex_t ratelimit_lock = PTHREAD_MUTEX_INITIALIZER;

const char *log_level_name(enum log_level level)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};

	return (unsigned)level < ARRAY_SIZE(names) ? names[level] : "?";
}

void log_sink_stderr(void *opaque, enum log_level level, const char *line)
{
	const char *prog = opaque ? opaque : program_invocation_short_name;

	fprintf(stderr, "%s: %s: %s\n", prog, log_level_name(level), line);
}

void log_set_sink(log_sink_fn fn, void *opaque)
{
	log_sink = fn ? fn : log_sink_stderr;
	log_sink_opaque = opaque;
}

void log_set_level(enum log_level max)
{
	log_max_level = max;
}

bool log_enabled(enum log_level level)
{
	return level <= log_max_level;
}

void pv_vlog(enum log_level level, const char *fmt, va_list ap)
{
	char line[1024];

	if (!log_enabled(level))
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	log_sink(log_sink_opaque, level, line);
}

void pv_log(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pv_vlog(level, fmt, ap);
	va_end(ap);
}

bool ratelimit_allow(struct ratelimit *rl, unsigned *suppressed)
{
	uint64_t now = time_monotonic_ns();
	bool ok;

	pthread_mutex_lock(&ratelimit_lock);
	if (!rl->window_start_ns || now - rl->window_start_ns >= rl->interval_ns) {
		rl->window_start_ns = now;
		rl->printed = 0;
	}
	ok = rl->printed < rl->burst;
	if (ok) {
		rl->printed++;
		*suppressed = rl->suppressed;
		rl->suppressed = 0;
	} else {
		rl->suppressed++;
	}
	pthread_mutex_unlock(&ratelimit_lock);
	return ok;
}

void pv_log_ratelimited(struct ratelimit *rl, enum log_level level, const char *fmt, ...)
{
	unsigned suppressed;
	char line[900];
	va_list ap;

	if (!log_enabled(level) || !ratelimit_allow(rl, &suppressed))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (suppressed)
		pv_log(level, "%s (%u similar suppressed)", line, suppressed);
	else
		pv_log(level, "%s", line);
}

void guest_error_log_init(struct guest_error_log *log, const char *name)
{
	*log = (struct guest_error_log){.rl = RATELIMIT_INIT(5000, 10)};
	snprintf(log->name, sizeof(log->name), "%s", name);
}

static void guest_vlog(struct guest_error_log *log, enum log_level level, const char *fmt,
		       va_list ap) printf_like(3, 0);

static void guest_vlog(struct guest_error_log *log, enum log_level level, const char *fmt,
		       va_list ap)
{
	char msg[512];

	if (!log_enabled(level))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	pv_log_ratelimited(&log->rl, level, "%s: %s", log->name, msg);
}

void guest_error_report(struct guest_error_log *log, const char *fmt, ...)
{
	va_list ap;

	__atomic_add_fetch(&log->count, 1, __ATOMIC_RELAXED);
	va_start(ap, fmt);
	guest_vlog(log, LOG_WARN, fmt, ap);
	va_end(ap);
}

void guest_log(struct guest_error_log *log, enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	guest_vlog(log, level, fmt, ap);
	va_end(ap);
}

uint64_t guest_error_count(const struct guest_error_log *log)
{
	return __atomic_load_n(&log->count, __ATOMIC_RELAXED);
}

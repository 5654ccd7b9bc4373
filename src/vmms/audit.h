/*
 * The audit log: one JSON line per state-changing API call and per refused
 * connection — who (uid, user, pid), what (call, VM), when, and the result —
 * appended with one write() each (O_APPEND: lines from concurrent calls never
 * interleave). docs/security.md describes the fields.
 *
 * Refusals and failures (records with "ok": false) are rate-limited per caller
 * uid and call, so that a local user who connects in a loop cannot fill the
 * disk: past AUDIT_BURST of them in AUDIT_INTERVAL_MS, the rest are counted,
 * not written, and the count is written as "suppressed" in the next record of
 * that uid and call, or in a summary record ("call": the call, "suppressed": N,
 * "summary": true) once the interval is over and another record is written, or
 * when the log is closed. Successful calls are always written.
 *
 * Any thread; the log's lock is taken only inside these calls.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vmms/access.h"

#define AUDIT_BURST	  20
#define AUDIT_INTERVAL_MS 10000
#define AUDIT_KEYS	  64 /* (uid, call) pairs tracked; the least recent is flushed first */

struct audit_log;

/* Opens (creates, mode 0640) the log for appending; 0 with *ret, or -errno. */
int audit_open(const char *path, struct audit_log **ret) must_check;
/* Over a descriptor already open for appending (taken over), with its own limits (tests). */
int audit_open_fd(int fd, unsigned burst, unsigned interval_ms, struct audit_log **ret) must_check;
/* Writes the pending suppressed counts now (the service's exit, which does not close). */
void audit_flush(struct audit_log *a);
/* Writes the pending suppressed counts, closes. NULL ok; returns NULL. */
struct audit_log *audit_close(struct audit_log *a);
/*
 * Appends one record, or counts it as suppressed (above). vm and error may be NULL. A
 * NULL log is a no-op. Failures are logged, not returned.
 */
void audit_record(struct audit_log *a, const struct api_caller *c, const char *call, const char *vm,
		  bool ok, const char *error);
/* Records written and suppressed so far (tests, status). */
void audit_counts(struct audit_log *a, uint64_t *written, uint64_t *suppressed);

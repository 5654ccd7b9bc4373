/*
 * The audit log: one JSON line per state-changing API call and per refused
 * connection — who (uid, user, pid), what (call, VM), when, and the result —
 * appended with one write() each (O_APPEND: lines from concurrent calls never
 * interleave). docs/security.md describes the fields.
 */
#pragma once

#include <stdbool.h>

#include "base/compiler.h"
#include "vmms/access.h"

/* Opens (creates, mode 0640) the log for appending; an fd or -errno. */
int audit_open(const char *path) must_check;
/* Appends one record; vm and error may be NULL. Failures are logged, not returned. */
void audit_record(int fd, const struct api_caller *c, const char *call, const char *vm, bool ok,
		  const char *error);

/*
 * How src/boot/ reports a failure: the function returns a negative errno
 * and, if the caller passed a struct boot_error, fills it with one line
 * that names the problem ("bzImage boot protocol 2.10 too old, need
 * 2.12+"). The process prefixes it with what it was loading ("kernel
 * FILE: ...") and logs it once; library code never prints.
 */
#pragma once

#include "base/compiler.h"

#define BOOT_ERROR_MAX 256

struct boot_error {
	char msg[BOOT_ERROR_MAX]; /* NUL-terminated, empty until a failure is recorded */
};

/*
 * Formats the message into err (NULL: ignored) and returns r, so that a
 * failure path reads `return boot_error_set(err, -EINVAL, "...", ...);`.
 */
int boot_error_set(struct boot_error *err, int r, const char *fmt, ...) printf_like(3, 4);

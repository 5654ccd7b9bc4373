/* The error out-parameter of src/boot/ (boot_error.h). */
#include "boot/boot_error.h"

#include <stdarg.h>
#include <stdio.h>

int boot_error_set(struct boot_error *err, int r, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return r;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return r;
}

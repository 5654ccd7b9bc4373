/*
 * Runs a host program of the virtual switch (tc) and waits for it: argv[0] is an absolute
 * path, the environment is empty but PATH, standard input is /dev/null and standard error is
 * collected for the caller's message.
 */
#pragma once

#include <stddef.h>

#include "base/compiler.h"

/* 0 if it exited 0; else -EIO (or -errno if it could not start) with its stderr in err. */
int vsw_run(char *const argv[], char *err, size_t errlen) must_check;

/*
 * Loading a tiny test guest (tests/guest/tiny/NAME.S, built as NAME.bin)
 * into a fresh partition, entered in 64-bit mode at TINY_LOAD_ADDR with
 * RSP = TINY_STACK_TOP. For cmocka tests: failures are test failures.
 */
#pragma once

#include "vid/partition.h"

/* A 32 MiB, 1-vCPU partition running DIR/NAME.bin once started. */
struct partition *tiny_guest_partition(const char *dir, const char *name);

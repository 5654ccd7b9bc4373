/*
 * Loading a tiny test guest (tests/guest/tiny/NAME.S, built as NAME.bin)
 * into a fresh partition, entered in 64-bit mode at TINY_LOAD_ADDR with
 * RSP = TINY_STACK_TOP. For cmocka tests: failures are test failures.
 */
#pragma once

#include "vid/partition.h"

struct CMUnitTest;

/* A 32 MiB, 1-vCPU partition running DIR/NAME.bin once started. */
struct partition *tiny_guest_partition(const char *dir, const char *name);
/* The same in a partition of cfg's size, vCPUs and CPU model. */
struct partition *tiny_guest_partition_config(const char *dir, const char *name,
					      const struct partition_config *cfg);

/*
 * main() of a tiny-guest test program: argv[1] is the directory of the
 * guest binaries (stored in *ret_dir); without /dev/kvm every test is
 * reported skipped, with the reason, as TAP's skip-all plan.
 */
int tiny_guest_run_tests(int argc, char **argv, const char *group, const struct CMUnitTest *tests,
			 size_t ntests, const char **ret_dir);

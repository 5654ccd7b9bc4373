/* Tiny test guests in a real partition; see tiny_guest.h. */
#include "tiny_guest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/log.h"
#include "boot/x86_entry.h"
#include "tiny/tiny.h"

struct partition *tiny_guest_partition(const char *dir, const char *name)
{
	struct partition_config cfg = {.memory_bytes = 32 * MiB, .vcpus = 1};

	return tiny_guest_partition_config(dir, name, &cfg);
}

struct partition *tiny_guest_partition_config(const char *dir, const char *name,
					      const struct partition_config *cfg)
{
	static uint8_t image[1 << 20];
	char path[4096], err[256];
	struct x86_boot_regs regs;
	struct boot_error berr;
	struct partition *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s.bin", dir, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	n = fread(image, 1, sizeof(image), f);
	fclose(f);
	assert_true(n > 0 && n < sizeof(image));
	if (partition_new(cfg, &p, err, sizeof(err)) < 0)
		fail_msg("partition: %s", err);
	assert_int_equal(guest_memory_write(partition_memory(p), TINY_LOAD_ADDR, image, n), 0);
	assert_int_equal(x86_entry_setup(partition_memory(p), TINY_LOAD_ADDR, 0, &regs, &berr), 0);
	regs.rsp = TINY_STACK_TOP;
	assert_int_equal(partition_set_boot_regs(p, &regs), 0);
	return p;
}

int tiny_guest_run_tests(int argc, char **argv, const char *group, const struct CMUnitTest *tests,
			 size_t ntests, const char **ret_dir)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s TINY_GUEST_DIR\n", argv[0]);
		return 2;
	}
	*ret_dir = argv[1];
	if (access("/dev/kvm", R_OK | W_OK) != 0) {
		/* TAP's skip-all plan, with the reason (meson and tests/summarize.py count it). */
		printf("1..0 # SKIP no /dev/kvm: tiny guests need KVM\n");
		return 0;
	}
	log_set_level(LOG_WARN);
	return _cmocka_run_group_tests(group, tests, ntests, NULL, NULL);
}

/*
 * Unit tests of the configuration digest of saved states: the same hardware
 * gives the same digest whatever the host-side paths; memory, processors,
 * video, a disk's place or a NIC's MAC change it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vmwp/config_digest.h"
#include "vmwp/vm_config.h"

#define BASE                                                                                       \
	"parvis-vmwp", "--kernel", "/boot/a", "--memory", "512M", "--cpus", "2", "--disk",         \
		"/srv/a.vhdx,lun=1", "--nic", "tap=t0,mac=00:15:5d:00:00:01"

static void digest_of(char **argv, int argc, uint8_t d[CONFIG_DIGEST_BYTES])
{
	struct vm_config cfg;
	char err[256] = "";

	vm_config_init(&cfg);
	if (vm_config_parse_args(&cfg, argc, argv, err, sizeof(err)) != 0)
		fail_msg("parse: %s", err);
	assert_int_equal(config_digest(&cfg, d), 0);
	vm_config_fini(&cfg);
}

#define DIGEST(d, ...)                                                                             \
	do {                                                                                       \
		const char *argv[] = {__VA_ARGS__, NULL};                                          \
		digest_of((char **)argv, (int)(sizeof(argv) / sizeof(argv[0])) - 1, d);            \
	} while (0)

static void test_host_paths_do_not_count(void **state)
{
	uint8_t a[CONFIG_DIGEST_BYTES], b[CONFIG_DIGEST_BYTES];

	DIGEST(a, BASE);
	DIGEST(b, "parvis-vmwp", "--kernel", "/elsewhere/b", "--memory", "512M", "--cpus", "2",
	       "--disk", "/mnt/moved/a.vhdx,lun=1", "--nic", "tap=other,mac=00:15:5d:00:00:01",
	       "--control", "/run/x.sock", "--serial", "file:/tmp/console", "--cmdline", "quiet");
	assert_memory_equal(a, b, sizeof(a));
}

static void test_hardware_counts(void **state)
{
	uint8_t a[CONFIG_DIGEST_BYTES], b[CONFIG_DIGEST_BYTES];

	DIGEST(a, BASE);
	DIGEST(b, BASE, "--no-video");
	assert_memory_not_equal(a, b, sizeof(a));
	DIGEST(b, "parvis-vmwp", "--kernel", "/boot/a", "--memory", "1G", "--cpus", "2", "--disk",
	       "/srv/a.vhdx,lun=1", "--nic", "tap=t0,mac=00:15:5d:00:00:01");
	assert_memory_not_equal(a, b, sizeof(a));
	DIGEST(b, "parvis-vmwp", "--kernel", "/boot/a", "--memory", "512M", "--cpus", "1", "--disk",
	       "/srv/a.vhdx,lun=1", "--nic", "tap=t0,mac=00:15:5d:00:00:01");
	assert_memory_not_equal(a, b, sizeof(a));
	DIGEST(b, "parvis-vmwp", "--kernel", "/boot/a", "--memory", "512M", "--cpus", "2", "--disk",
	       "/srv/a.vhdx,lun=2", "--nic", "tap=t0,mac=00:15:5d:00:00:01");
	assert_memory_not_equal(a, b, sizeof(a));
	DIGEST(b, "parvis-vmwp", "--kernel", "/boot/a", "--memory", "512M", "--cpus", "2", "--disk",
	       "/srv/a.vhdx,lun=1", "--nic", "tap=t0,mac=00:15:5d:00:00:02");
	assert_memory_not_equal(a, b, sizeof(a));
}

static void test_text_names_the_hardware(void **state)
{
	struct vm_config cfg;
	const char *argv[] = {BASE, NULL};
	char err[256] = "", *text;

	vm_config_init(&cfg);
	assert_int_equal(
		vm_config_parse_args(&cfg, ARRAY_SIZE(argv) - 1, (char **)argv, err, sizeof(err)),
		0);
	text = config_hardware_text(&cfg);
	assert_non_null(text);
	assert_non_null(strstr(text, "memory=536870912\n"));
	assert_non_null(strstr(text, "cpus=2\n"));
	assert_non_null(strstr(text, "disk0=controller 0 lun 1\n"));
	assert_non_null(strstr(text, "mac 00:15:5d:00:00:01"));
	assert_null(strstr(text, "/srv"));
	free(text);
	vm_config_fini(&cfg);
}

/* A saved state's text against a VM's: the first differing line named, both ways. */
static void test_difference_named(void **state)
{
	static const char vm[] = "parvis-hardware 1\nmemory=536870912\ncpus=2\n"
				 "disk0=controller 0 lun 1\n";
	char what[256] = "";

	assert_false(config_text_difference(vm, strlen(vm), vm, strlen(vm), what, sizeof(what)));
	/* The VM has a disk the saved state lacks. */
	assert_true(
		config_text_difference(vm, strlen(vm) - 26, vm, strlen(vm), what, sizeof(what)));
	assert_non_null(strstr(what, "disk0"));
	assert_non_null(strstr(what, "the saved state has none"));
	/* Another memory size: both values. */
	assert_true(config_text_difference("memory=1\n", 9, vm, strlen(vm), what, sizeof(what)));
	assert_non_null(strstr(what, "memory differs"));
	assert_non_null(strstr(what, "'1'"));
	assert_non_null(strstr(what, "'536870912'"));
	/* File bytes without a newline or '=', or with a NUL, are no difference and no crash. */
	assert_true(config_text_difference("x=\0=", 4, vm, strlen(vm), what, sizeof(what)));
	assert_false(config_text_difference("cpus", 4, "", 0, what, sizeof(what)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_difference_named),
		cmocka_unit_test(test_host_paths_do_not_count),
		cmocka_unit_test(test_hardware_counts),
		cmocka_unit_test(test_text_names_the_hardware),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The worker's disk settings (src/vmwp/disk_config.c): --disk specs, the JSON "disks" list,
 * clashes. */
#include <errno.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "vmwp/vm_config.h"

static void test_parse(void **state)
{
	struct disk_config d;
	char err[256];

	assert_int_equal(disk_config_parse("root.img", &d, err, sizeof(err)), 0);
	assert_string_equal(d.path, "root.img");
	assert_false(d.read_only);
	assert_int_equal(d.controller, 0);
	assert_int_equal(d.lun, -1);
	disk_config_fini(&d);
	assert_int_equal(
		disk_config_parse("a.vhdx,readonly,controller=3,lun=63", &d, err, sizeof(err)), 0);
	assert_string_equal(d.path, "a.vhdx");
	assert_true(d.read_only);
	assert_int_equal(d.controller, 3);
	assert_int_equal(d.lun, 63);
	disk_config_fini(&d);
	static const char *const bad[] = {"",	      ",readonly",
					  "a,lun=64", "a,lun=-1",
					  "a,lun=",   "a,controller=4",
					  "a,fast",   "a,lun=1x",
					  "a,lun=+1", "a,controller=9999999999999999999"};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(disk_config_parse(bad[i], &d, err, sizeof(err)), -EINVAL);
		assert_true(strlen(err) > 0);
	}
}

static void test_json_and_clash(void **state)
{
	struct vm_config cfg;
	char err[256];
	static const char good[] = "{\"kernel\": \"k\", \"disks\": [{\"path\": \"a\", \"lun\": 2}, "
				   "{\"path\": \"b\", \"readonly\": true, \"controller\": 1}]}";
	static const char clash[] =
		"{\"kernel\": \"k\", \"disks\": [{\"path\": \"a\", \"lun\": 2}, "
		"{\"path\": \"b\", \"lun\": 2}]}";
	static const char *const bad[] = {
		"{\"disks\": {}}",
		"{\"disks\": [1]}",
		"{\"disks\": [{\"lun\": 1}]}",
		"{\"disks\": [{\"path\": \"a\", \"lun\": 64}]}",
		"{\"disks\": [{\"path\": \"a\", \"controller\": -1}]}",
		"{\"disks\": [{\"path\": \"a\", \"size\": 1}]}",
		"{\"disks\": [{\"path\": 7}]}",
	};

	vm_config_init(&cfg);
	assert_int_equal(vm_config_parse_json(&cfg, good, strlen(good), err, sizeof(err)), 0);
	assert_int_equal(cfg.ndisks, 2);
	assert_int_equal(cfg.disks[0].lun, 2);
	assert_true(cfg.disks[1].read_only);
	assert_int_equal(cfg.disks[1].controller, 1);
	assert_int_equal(cfg.disks[1].lun, -1);
	assert_int_equal(vm_config_validate(&cfg, err, sizeof(err)), 0);
	vm_config_fini(&cfg);
	vm_config_init(&cfg);
	assert_int_equal(vm_config_parse_json(&cfg, clash, strlen(clash), err, sizeof(err)), 0);
	assert_int_equal(vm_config_validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "lun 2"));
	vm_config_fini(&cfg);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		vm_config_init(&cfg);
		assert_int_equal(
			vm_config_parse_json(&cfg, bad[i], strlen(bad[i]), err, sizeof(err)),
			-EINVAL);
		assert_non_null(strstr(err, "disks"));
		vm_config_fini(&cfg);
	}
}

static void test_command_line(void **state)
{
	char a0[] = "vmwp", a1[] = "--kernel", a2[] = "k", a3[] = "--disk", a4[] = "a,lun=0",
	     a5[] = "--disk", a6[] = "b", a7[] = "--disk", a8[] = "c,controller=1,readonly";
	char *argv[] = {a0, a1, a2, a3, a4, a5, a6, a7, a8};
	struct vm_config cfg;
	char err[256];

	vm_config_init(&cfg);
	assert_int_equal(vm_config_parse_args(&cfg, 9, argv, err, sizeof(err)), 0);
	assert_int_equal(cfg.ndisks, 3);
	assert_string_equal(cfg.disks[2].path, "c");
	assert_true(cfg.disks[2].read_only);
	assert_int_equal(vm_config_validate(&cfg, err, sizeof(err)), 0);
	vm_config_fini(&cfg);
}

/* Generation 1's IDE places: ",ide=C:U", JSON "ide" and "dvds", and their clashes. */
static void test_ide(void **state)
{
	struct disk_config d;
	struct vm_config cfg;
	char err[256];
	static const char good[] =
		"{\"kernel\": \"k\", \"generation\": 1, \"disks\": [{\"path\": \"a\", \"ide\": "
		"true, \"controller\": 0, \"lun\": 1}, {\"path\": \"b\", \"lun\": 1}], "
		"\"dvds\": [{\"controller\": 1, \"lun\": 0, \"path\": \"x.iso\"}, {\"controller\": "
		"1, \"lun\": 1}]}";
	static const char *const bad_validate[] = {
		/* IDE without generation 1 */
		"{\"kernel\": \"k\", \"disks\": [{\"path\": \"a\", \"ide\": true, \"lun\": 0}]}",
		"{\"kernel\": \"k\", \"dvds\": [{\"controller\": 1, \"lun\": 0}]}",
		/* a disk and a DVD drive on one place */
		"{\"kernel\": \"k\", \"generation\": 1, \"disks\": [{\"path\": \"a\", \"ide\": "
		"true, \"controller\": 1, \"lun\": 0}], \"dvds\": [{\"controller\": 1, \"lun\": "
		"0}]}",
	};
	static const char *const bad_parse[] = {
		"{\"disks\": [{\"path\": \"a\", \"ide\": true, \"controller\": 2, \"lun\": 0}]}",
		"{\"disks\": [{\"path\": \"a\", \"ide\": true}]}",
		"{\"dvds\": [{\"controller\": 1}]}",
		"{\"dvds\": [{\"controller\": 2, \"lun\": 0}]}",
		"{\"dvds\": [{\"controller\": 1, \"lun\": 0, \"fd\": 3}]}",
		"{\"dvds\": [{\"controller\": 1, \"lun\": 0, \"speed\": 3}]}",
	};

	(void)state;
	assert_int_equal(disk_config_parse("a.raw,ide=1:1", &d, err, sizeof(err)), 0);
	assert_true(d.ide);
	assert_int_equal(d.controller, 1);
	assert_int_equal(d.lun, 1);
	assert_int_equal(disk_config_ide_index(&d), 3);
	disk_config_fini(&d);
	assert_int_equal(disk_config_parse("a.raw,ide=2:0", &d, err, sizeof(err)), -EINVAL);
	assert_int_equal(disk_config_parse("a.raw,ide=0", &d, err, sizeof(err)), -EINVAL);
	vm_config_init(&cfg);
	assert_int_equal(vm_config_parse_json(&cfg, good, strlen(good), err, sizeof(err)), 0);
	assert_int_equal(cfg.ndvds, 2);
	assert_null(cfg.dvds[1].path);
	/* IDE 0:1 and SCSI 0:1 are different places */
	assert_int_equal(vm_config_validate(&cfg, err, sizeof(err)), 0);
	vm_config_fini(&cfg);
	for (unsigned i = 0; i < sizeof(bad_validate) / sizeof(bad_validate[0]); i++) {
		vm_config_init(&cfg);
		assert_int_equal(vm_config_parse_json(&cfg, bad_validate[i],
						      strlen(bad_validate[i]), err, sizeof(err)),
				 0);
		assert_int_equal(vm_config_validate(&cfg, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "IDE"));
		vm_config_fini(&cfg);
	}
	for (unsigned i = 0; i < sizeof(bad_parse) / sizeof(bad_parse[0]); i++) {
		vm_config_init(&cfg);
		assert_int_equal(vm_config_parse_json(&cfg, bad_parse[i], strlen(bad_parse[i]), err,
						      sizeof(err)),
				 -EINVAL);
		vm_config_fini(&cfg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_json_and_clash),
		cmocka_unit_test(test_command_line),
		cmocka_unit_test(test_ide),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

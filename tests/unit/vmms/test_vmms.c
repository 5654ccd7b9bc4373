/* Unit tests for the service's states, names and inventory (src/vmms/). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmms/inventory.h"
#include "vmms/vm_state.h"

static void test_transition_table(void **state)
{
	/* what the issue names: no start of a running VM */
	assert_true(vm_state_transition_allowed(VM_STATE_OFF, VM_STATE_STARTING));
	assert_false(vm_state_transition_allowed(VM_STATE_RUNNING, VM_STATE_STARTING));
	assert_false(vm_state_transition_allowed(VM_STATE_PAUSED, VM_STATE_STARTING));
	assert_false(vm_state_transition_allowed(VM_STATE_OFF, VM_STATE_RUNNING));
	assert_false(vm_state_transition_allowed(VM_STATE_OFF, VM_STATE_PAUSED));
	assert_false(vm_state_transition_allowed(VM_STATE_OFF, VM_STATE_STOPPING));
	assert_true(vm_state_transition_allowed(VM_STATE_RUNNING, VM_STATE_PAUSED));
	assert_true(vm_state_transition_allowed(VM_STATE_PAUSED, VM_STATE_RUNNING));
	assert_true(vm_state_transition_allowed(VM_STATE_STOPPING, VM_STATE_OFF));
	assert_false(vm_state_transition_allowed(VM_STATE_CRITICAL, VM_STATE_RUNNING));
	/* a worker can die in every state that has one */
	for (int s = 0; s < VM_STATE_COUNT; s++) {
		assert_false(vm_state_transition_allowed((enum vm_state)s, (enum vm_state)s));
		if (vm_state_has_worker((enum vm_state)s))
			assert_true(
				vm_state_transition_allowed((enum vm_state)s, VM_STATE_CRITICAL));
		assert_int_equal(vm_state_from_name(vm_state_name((enum vm_state)s)), s);
	}
	assert_false(vm_state_transition_allowed(VM_STATE_COUNT, VM_STATE_OFF));
	assert_int_equal(vm_state_from_name("Saved"), VM_STATE_SAVED);
	assert_int_equal(vm_state_from_name("Hibernated"), -1);
	/* save-vm: Running -> Saving -> Saved; start-vm resumes, stop-vm --turn-off discards */
	assert_true(vm_state_transition_allowed(VM_STATE_RUNNING, VM_STATE_SAVING));
	assert_true(vm_state_transition_allowed(VM_STATE_SAVING, VM_STATE_SAVED));
	assert_true(vm_state_transition_allowed(VM_STATE_SAVING, VM_STATE_RUNNING));
	assert_true(vm_state_transition_allowed(VM_STATE_SAVED, VM_STATE_STARTING));
	assert_true(vm_state_transition_allowed(VM_STATE_SAVED, VM_STATE_OFF));
	assert_false(vm_state_transition_allowed(VM_STATE_SAVED, VM_STATE_RUNNING));
	assert_false(vm_state_has_worker(VM_STATE_SAVED));
	assert_true(vm_state_has_worker(VM_STATE_SAVING));
}

static void test_names(void **state)
{
	char err[256], longname[VM_NAME_MAX + 2];

	assert_int_equal(vm_name_check("web-01", err, sizeof(err)), 0);
	assert_int_equal(vm_name_check("Ubuntu 22.04 (test)", err, sizeof(err)), 0);
	assert_int_equal(vm_name_check("", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "empty"));
	assert_int_equal(vm_name_check("a/b", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "'/'"));
	assert_int_equal(vm_name_check("a\nb", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "control character"));
	assert_int_equal(vm_name_check("a\x7f", err, sizeof(err)), -EINVAL);
	assert_int_equal(vm_name_check(" lead", err, sizeof(err)), -EINVAL);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(vm_name_check(longname, err, sizeof(err)), -EINVAL);
	longname[VM_NAME_MAX] = '\0';
	assert_int_equal(vm_name_check(longname, err, sizeof(err)), 0);
}

static void make_record(struct vm_record *r, const char *name)
{
	vm_record_init(r);
	assert_int_equal(vm_id_new(r->id), 0);
	r->name = strdup(name);
	r->kernel = strdup("/boot/vmlinux");
	r->cmdline = strdup("console=ttyS0 \"quoted\"");
	r->cpus = 2;
	r->memory_bytes = 512ull << 20;
	r->disks[0].path = strdup("/var/lib/disk.vhdx");
	r->disks[0].lun = 3;
	r->ndisks = 1;
	vm_record_transition(r, VM_STATE_OFF, 1000, "new-vm", VM_BY_SERVICE);
	vm_record_transition(r, VM_STATE_STARTING, 2000, "start-vm", 1001);
	vm_record_transition(r, VM_STATE_RUNNING, 3000, "the worker is running", VM_BY_SERVICE);
}

struct loaded {
	unsigned good, bad;
	char bad_error[512];
	char good_name[64];
};

static void on_load(void *opaque, const char *id, struct vm_record *r, const char *error)
{
	struct loaded *l = opaque;

	if (r) {
		l->good++;
		snprintf(l->good_name, sizeof(l->good_name), "%s", r->name);
		vm_record_fini(r);
	} else {
		l->bad++;
		snprintf(l->bad_error, sizeof(l->bad_error), "%s: %s", id, error);
	}
}

static void test_record_round_trip_and_corrupt(void **state)
{
	char dir[] = "/tmp/pv-inv-XXXXXX", err[256], path[512];
	struct vm_record r, back;
	struct json_object *o;
	struct loaded l = {0};
	const char *text;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(inventory_prepare(dir, err, sizeof(err)), 0);
	make_record(&r, "web");
	assert_int_equal(r.state, VM_STATE_RUNNING);
	assert_int_equal(r.nhistory, 3);
	assert_int_equal(inventory_write(dir, &r), 0);
	/* the atomic write leaves no temporary file */
	snprintf(path, sizeof(path), "%s/vms/.%s.json.tmp", dir, r.id);
	assert_int_not_equal(access(path, F_OK), 0);
	o = vm_record_to_json(&r);
	text = json_object_to_json_string(o);
	assert_int_equal(vm_record_parse(text, strlen(text), &back, err, sizeof(err)), 0);
	assert_string_equal(back.id, r.id);
	assert_string_equal(back.name, "web");
	assert_string_equal(back.cmdline, r.cmdline);
	assert_int_equal(back.cpus, 2);
	assert_int_equal(back.memory_bytes, 512ull << 20);
	assert_int_equal(back.ndisks, 1);
	assert_int_equal(back.disks[0].lun, 3);
	assert_int_equal(back.state, VM_STATE_RUNNING);
	assert_int_equal(back.nhistory, 3);
	assert_int_equal(back.history[2].from, VM_STATE_STARTING);
	assert_int_equal(back.history[2].time_ms, 3000);
	/* who caused each transition: the caller's uid, or the service itself */
	assert_int_equal(back.history[1].uid, 1001);
	assert_int_equal(back.history[2].uid, VM_BY_SERVICE);
	vm_record_fini(&back);
	json_object_put(o);

	/* a corrupt file beside it: reported with its error, the good one loads */
	snprintf(path, sizeof(path), "%s/vms/0e0b6031-5213-4934-818b-38d90ced39db.json", dir);
	f = fopen(path, "w");
	fputs("{\"version\": 1, \"id\": ", f);
	fclose(f);
	/* and files that are not records are ignored */
	snprintf(path, sizeof(path), "%s/vms/README", dir);
	f = fopen(path, "w");
	fclose(f);
	assert_int_equal(inventory_load(dir, on_load, &l), 0);
	assert_int_equal(l.good, 1);
	assert_int_equal(l.bad, 1);
	assert_string_equal(l.good_name, "web");
	assert_non_null(
		strstr(l.bad_error, "0e0b6031-5213-4934-818b-38d90ced39db: not valid JSON"));

	/* replacing keeps one file; removing removes it */
	vm_record_transition(&r, VM_STATE_STOPPING, 4000, "stop-vm", VM_BY_SERVICE);
	assert_int_equal(inventory_write(dir, &r), 0);
	memset(&l, 0, sizeof(l));
	assert_int_equal(inventory_load(dir, on_load, &l), 0);
	assert_int_equal(l.good, 1);
	assert_int_equal(inventory_remove(dir, r.id), 0);
	memset(&l, 0, sizeof(l));
	assert_int_equal(inventory_load(dir, on_load, &l), 0);
	assert_int_equal(l.good, 0);
	vm_record_fini(&r);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/vms/0e0b6031-5213-4934-818b-38d90ced39db.json", dir);
	unlink(path);
}

static void test_record_rejects(void **state)
{
	static const char *const bad[] = {
		"[]",
		"{\"version\":2}",
		"{\"version\":1,\"id\":\"not-a-guid\",\"name\":\"a\",\"cpus\":1,\"memory_bytes\":"
		"16777216,\"state\":\"Off\"}",
		"{\"version\":1,\"id\":\"0e0b6031-5213-4934-818b-38d90ced39db\",\"name\":\"a/b\","
		"\"cpus\":1,\"memory_bytes\":16777216,\"state\":\"Off\"}",
		"{\"version\":1,\"id\":\"0e0b6031-5213-4934-818b-38d90ced39db\",\"name\":\"a\","
		"\"cpus\":0,\"memory_bytes\":16777216,\"state\":\"Off\"}",
		"{\"version\":1,\"id\":\"0e0b6031-5213-4934-818b-38d90ced39db\",\"name\":\"a\","
		"\"cpus\":1,\"memory_bytes\":16777216,\"state\":\"Hibernated\"}",
		"{\"version\":1,\"id\":\"0e0b6031-5213-4934-818b-38d90ced39db\",\"name\":\"a\","
		"\"cpus\":1,\"memory_bytes\":16777216,\"state\":\"Off\",\"disks\":[{\"lun\":1}]}",
	};
	struct vm_record r;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(vm_record_parse(bad[i], strlen(bad[i]), &r, err, sizeof(err)),
				 -EINVAL);
}

static void test_history_bounded(void **state)
{
	struct vm_record r;

	make_record(&r, "h");
	for (int i = 0; i < 3 * VM_HISTORY_MAX; i++)
		vm_record_transition(&r, i % 2 ? VM_STATE_RUNNING : VM_STATE_PAUSED, i, "flip",
				     VM_BY_SERVICE);
	assert_int_equal(r.nhistory, VM_HISTORY_MAX);
	assert_int_equal(r.history[VM_HISTORY_MAX - 1].time_ms, 3 * VM_HISTORY_MAX - 1);
	vm_record_fini(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transition_table),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_record_round_trip_and_corrupt),
		cmocka_unit_test(test_record_rejects),
		cmocka_unit_test(test_history_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

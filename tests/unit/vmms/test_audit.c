/*
 * The audit log's rate limit (src/vmms/audit.c): refusals past the burst are
 * counted, not written, and the count comes out in a summary record; successful calls and other
 * callers are never held back by someone else's flood.
 */
#include <fcntl.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmms/audit.h"

struct log_file {
	char path[64];
	struct audit_log *a;
};

static void log_open(struct log_file *f, unsigned burst, unsigned interval_ms)
{
	int fd;

	snprintf(f->path, sizeof(f->path), "/tmp/pv-audit-XXXXXX");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	assert_int_equal(fcntl(fd, F_SETFL, O_APPEND), 0);
	assert_int_equal(audit_open_fd(fd, burst, interval_ms, &f->a), 0);
}

/* The file's records as a JSON array (each line parsed on its own). */
static struct json_object *log_lines(struct log_file *f)
{
	struct json_object *arr = json_object_new_array();
	char line[4096];
	FILE *in = fopen(f->path, "r");

	assert_non_null(in);
	while (fgets(line, sizeof(line), in)) {
		struct json_object *o = json_tokener_parse(line);

		assert_non_null(o);
		json_object_array_add(arr, o);
	}
	fclose(in);
	return arr;
}

static int64_t get_int(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : -1;
}

static const char *get_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

static const struct api_caller eve = {.uid = 1003, .pid = 42, .user = "eve"};
static const struct api_caller bob = {.uid = 1002, .pid = 43, .user = "bob"};
static const struct api_caller root = {.uid = 0, .pid = 44, .user = "root"};

/* 100 refused connections: 5 written, 95 counted; bob and root are written meanwhile. */
static void test_flood_is_counted(void **state)
{
	struct log_file f;
	struct json_object *lines, *last;
	uint64_t written, suppressed;
	int i;

	(void)state;
	log_open(&f, 5, 600000);
	for (i = 0; i < 100; i++)
		audit_record(f.a, &eve, "connect", NULL, false, "may not use this parvis-vmms");
	audit_record(f.a, &bob, "connect", NULL, false, "may not use this parvis-vmms");
	for (i = 0; i < 50; i++)
		audit_record(f.a, &root, "start-vm", "web", true, NULL);
	audit_counts(f.a, &written, &suppressed);
	assert_int_equal(written, 5 + 1 + 50);
	assert_int_equal(suppressed, 95);
	lines = log_lines(&f);
	assert_int_equal(json_object_array_length(lines), 56);
	assert_string_equal(get_str(json_object_array_get_idx(lines, 5), "user"), "bob");
	json_object_put(lines);
	/* Closing writes what is pending: eve's 95, as a summary. */
	f.a = audit_close(f.a);
	lines = log_lines(&f);
	assert_int_equal(json_object_array_length(lines), 57);
	last = json_object_array_get_idx(lines, 56);
	assert_string_equal(get_str(last, "user"), "eve");
	assert_string_equal(get_str(last, "call"), "connect");
	assert_int_equal(get_int(last, "suppressed"), 95);
	assert_int_equal(get_int(last, "uid"), 1003);
	json_object_put(lines);
	unlink(f.path);
}

/*
 * Once the interval is over, the next record (of anyone) writes the count of those dropped
 * first, and eve's refusals are written again; another call of hers has a bucket of its own.
 */
static void test_count_in_next_record(void **state)
{
	struct log_file f;
	struct json_object *lines, *o;
	int i;

	(void)state;
	log_open(&f, 3, 1500);
	for (i = 0; i < 10; i++)
		audit_record(f.a, &eve, "connect", NULL, false, "refused");
	audit_record(f.a, &eve, "new-vm", "x", false, "needs the admin group");
	usleep(1600 * 1000);
	audit_record(f.a, &eve, "connect", NULL, false, "refused");
	lines = log_lines(&f);
	/* 3 + new-vm + (the interval is over: the pending count first, as a summary) + 1 */
	assert_int_equal(json_object_array_length(lines), 6);
	assert_string_equal(get_str(json_object_array_get_idx(lines, 3), "call"), "new-vm");
	o = json_object_array_get_idx(lines, 4);
	assert_int_equal(get_int(o, "suppressed"), 7);
	assert_int_equal(get_int(json_object_array_get_idx(lines, 5), "suppressed"), -1);
	json_object_put(lines);
	/* What is pending when the log is closed is written then. */
	for (i = 0; i < 5; i++)
		audit_record(f.a, &eve, "connect", NULL, false, "refused");
	usleep(1600 * 1000);
	f.a = audit_close(f.a);
	lines = log_lines(&f);
	o = json_object_array_get_idx(lines, json_object_array_length(lines) - 1);
	assert_int_equal(get_int(o, "suppressed"), 3); /* 1 + 5 in the window: 2 written, 3 held */
	json_object_put(lines);
	unlink(f.path);
}

/* More callers than keys: an evicted key's pending count is written, never lost. */
static void test_eviction_keeps_counts(void **state)
{
	struct log_file f;
	struct json_object *lines;
	uint64_t written, suppressed, total = 0;
	size_t i, n;

	(void)state;
	log_open(&f, 1, 600000);
	for (i = 0; i < AUDIT_KEYS * 2; i++) {
		struct api_caller c = {.uid = (uid_t)(2000 + i), .pid = 1};

		snprintf(c.user, sizeof(c.user), "u%zu", i);
		audit_record(f.a, &c, "connect", NULL, false, "refused");
		audit_record(f.a, &c, "connect", NULL, false, "refused");
	}
	audit_counts(f.a, &written, &suppressed);
	assert_int_equal(suppressed, AUDIT_KEYS * 2);
	f.a = audit_close(f.a);
	lines = log_lines(&f);
	n = json_object_array_length(lines);
	for (i = 0; i < n; i++) {
		int64_t s = get_int(json_object_array_get_idx(lines, i), "suppressed");

		total += s > 0 ? (uint64_t)s : 0;
	}
	assert_int_equal(total, AUDIT_KEYS * 2);
	json_object_put(lines);
	unlink(f.path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flood_is_counted),
		cmocka_unit_test(test_count_in_next_record),
		cmocka_unit_test(test_eviction_keeps_counts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

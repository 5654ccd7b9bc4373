/* Unit tests for the log sink and rate limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "base/log.h"

struct capture {
	int lines;
	char last[1024];
};

static void capture_sink(void *opaque, enum log_level level, const char *line)
{
	struct capture *c = opaque;

	c->lines++;
	strncpy(c->last, line, sizeof(c->last) - 1);
}

static void test_ratelimit_burst(void **state)
{
	struct ratelimit rl = RATELIMIT_INIT(60000, 3);
	struct capture c = {0};
	int i;

	log_set_sink(capture_sink, &c);
	for (i = 0; i < 10; i++)
		pv_log_ratelimited(&rl, LOG_WARN, "bad port %d", i);
	assert_int_equal(c.lines, 3);
	assert_string_equal(c.last, "bad port 2");
	assert_int_equal(rl.suppressed, 7);
	log_set_sink(NULL, NULL);
}

static void test_ratelimit_reports_suppressed(void **state)
{
	struct ratelimit rl = RATELIMIT_INIT(1, 1); /* 1 ms window */
	struct capture c = {0};
	struct timespec ts = {0, 3000000};

	log_set_sink(capture_sink, &c);
	pv_log_ratelimited(&rl, LOG_WARN, "a");
	pv_log_ratelimited(&rl, LOG_WARN, "b");
	nanosleep(&ts, NULL);
	pv_log_ratelimited(&rl, LOG_WARN, "c");
	assert_int_equal(c.lines, 2);
	assert_string_equal(c.last, "c (1 similar suppressed)");
	log_set_sink(NULL, NULL);
}

static void test_level_filter(void **state)
{
	struct capture c = {0};

	log_set_sink(capture_sink, &c);
	log_set_level(LOG_WARN);
	pv_log(LOG_INFO, "hidden");
	pv_log(LOG_ERR, "shown");
	assert_int_equal(c.lines, 1);
	log_set_level(LOG_INFO);
	log_set_sink(NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ratelimit_burst),
		cmocka_unit_test(test_ratelimit_reports_suppressed),
		cmocka_unit_test(test_level_filter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

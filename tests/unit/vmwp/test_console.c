/*
 * The serial console's file output (src/vmwp/console.c): a guest that
 * writes to its COM port for ever uses a bounded amount of host disk
 * (issue 12, item 5): the file is capped at log_max_bytes and rotated to
 * "<path>.1", whose previous contents are dropped.
 */
#include <errno.h>
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

#include "vmwp/console.h"

#define CAP 4096u

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

static void test_file_capped_and_rotated(void **state)
{
	char dir[] = "/tmp/parvis-console-XXXXXX", path[64], old[72], older[72], err[128];
	struct serial_config cfg = {.backend = SERIAL_FILE, .log_max_bytes = CAP};
	uint8_t line[100], got[CAP];
	struct console *c;
	uint64_t total = 0;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/com1.log", dir);
	snprintf(old, sizeof(old), "%s.1", path);
	snprintf(older, sizeof(older), "%s.2", path);
	/* A file left by an earlier run, already past the cap: rotated at the first write. */
	f = fopen(path, "w");
	assert_non_null(f);
	for (unsigned i = 0; i < 2 * CAP; i++)
		fputc('x', f);
	fclose(f);
	cfg.path = path;
	assert_int_equal(console_open(&cfg, &c, err, sizeof(err)), 0);
	for (unsigned i = 0; i < 1000; i++) {
		for (unsigned k = 0; k < sizeof(line); k++)
			line[k] = (uint8_t)('a' + (total + k) % 26);
		console_uart_tx(c, line, sizeof(line));
		total += sizeof(line);
		assert_true(file_size(path) <= (off_t)CAP);
	}
	console_free(c);
	assert_int_equal(file_size(old), CAP);
	assert_int_equal(file_size(older), -1);
	/* The current file holds the newest output, in order. */
	off_t n = file_size(path);
	assert_true(n > 0 && n <= (off_t)CAP);
	assert_int_equal((off_t)(total % CAP ? total % CAP : CAP), n);
	f = fopen(path, "r");
	assert_int_equal(fread(got, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	for (off_t i = 0; i < n; i++)
		assert_int_equal(got[i], 'a' + (total - (uint64_t)n + (uint64_t)i) % 26);
	unlink(path);
	unlink(old);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_capped_and_rotated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

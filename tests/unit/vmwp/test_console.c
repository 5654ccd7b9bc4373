/*
 * The serial console's file output (src/vmwp/console.c): a guest that
 * writes to its COM port for ever uses a bounded amount of host disk
 * (issue 12, item 5): the file is capped at log_max_bytes and rotated to
 * "<path>.1", whose previous contents are dropped, by rename where the
 * worker may, through its descriptors where it may not (the jail).
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

/*
 * A jailed worker cannot rename: the log's directory is not in its mount
 * namespace. Played here by moving the directory away after the open, so
 * every path the console knows is gone while its descriptors stay: the
 * full file is copied over "<path>.1" through them, and starts again.
 */
static void test_rotated_without_paths(void **state)
{
	char dir[] = "/tmp/parvis-console-XXXXXX", moved[64], path[64], cur[96], old[96], err[128];
	struct serial_config cfg = {.backend = SERIAL_FILE, .log_max_bytes = CAP};
	uint8_t chunk[CAP], got[CAP];
	struct console *c;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(moved, sizeof(moved), "%s-moved", dir);
	snprintf(path, sizeof(path), "%s/com1.log", dir);
	cfg.path = path;
	assert_int_equal(console_open(&cfg, &c, err, sizeof(err)), 0);
	assert_int_equal(rename(dir, moved), 0);
	/* Chunk 0, 1, 2, then half of 3: "<path>.1" must hold chunk 2, the file half of 3. */
	for (unsigned k = 0; k < 4; k++) {
		memset(chunk, '0' + k, sizeof(chunk));
		console_uart_tx(c, chunk, k < 3 ? CAP : CAP / 2);
	}
	console_free(c);
	snprintf(cur, sizeof(cur), "%s/com1.log", moved);
	snprintf(old, sizeof(old), "%s/com1.log.1", moved);
	assert_int_equal(file_size(cur), CAP / 2);
	assert_int_equal(file_size(old), CAP);
	f = fopen(old, "r");
	assert_non_null(f);
	assert_int_equal(fread(got, 1, CAP, f), CAP);
	fclose(f);
	for (unsigned i = 0; i < CAP; i++)
		assert_int_equal(got[i], '2');
	assert_int_equal(file_size(path), -1); /* nothing made where the paths used to be */
	unlink(cur);
	unlink(old);
	rmdir(moved);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_capped_and_rotated),
		cmocka_unit_test(test_rotated_without_paths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Helpers shared by the disk unit tests: temporary files and patterns. */
#pragma once

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A temporary file name under TMPDIR (or /tmp) with the given suffix; caller frees. */
static inline char *disk_test_tmpname(const char *suffix)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *name = malloc(strlen(dir) + 64);
	static unsigned counter;

	if (!name)
		abort();

	sprintf(name, "%s/parvis-disk-%d-%u%s", dir, (int)getpid(), counter++, suffix);
	return name;
}

/* A sparse raw file of size bytes under TMPDIR (or /tmp); returns its name, caller frees. */
static inline char *disk_test_make_raw(uint64_t size)
{
	char *name = disk_test_tmpname(".raw");
	int fd = open(name, O_CREAT | O_TRUNC | O_RDWR, 0644);

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		abort();
	close(fd);
	return name;
}

/* Deterministic contents for a sector: its offset and a seed, so misplaced data is caught. */
static inline void disk_test_fill(void *buf, size_t len, uint64_t off, uint32_t seed)
{
	uint64_t *p = buf;

	for (size_t i = 0; i < len / 8; i++)
		p[i] = ((off + i * 8) * UINT64_C(0x9E3779B97F4A7C15)) ^ seed;
}

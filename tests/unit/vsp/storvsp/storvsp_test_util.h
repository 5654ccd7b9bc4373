/* Helpers of the storvsp unit tests: raw disks on temporary files. */
#pragma once

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "disk/disk.h"

/* Creates a sparse raw file of size bytes and opens it; the file is unlinked at once. */
static inline struct disk *test_raw_disk(uint64_t size, bool read_only)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	static unsigned counter;
	char path[256], err[256];
	struct disk *d = NULL;
	int fd;

	snprintf(path, sizeof(path), "%s/parvis-storvsp-%d-%u.raw", dir, (int)getpid(), counter++);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		abort();
	close(fd);
	if (disk_open(path, read_only ? DISK_OPEN_READ_ONLY : 0, &d, err, sizeof(err)) < 0) {
		fprintf(stderr, "disk_open: %s\n", err);
		abort();
	}
	unlink(path);
	return d;
}

/* A small raw disk on an unlinked temporary file, shared by the storvsp fuzzers. */
#pragma once

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "disk/disk.h"

static inline struct disk *fuzz_raw_disk(unsigned size, bool read_only)
{
	char path[] = "/tmp/parvis-fuzz-disk-XXXXXX", err[128];
	struct disk *d = NULL;
	int fd = mkstemp(path);

	if (fd < 0 || ftruncate(fd, size) < 0)
		abort();
	close(fd);
	if (disk_open(path, read_only ? DISK_OPEN_READ_ONLY : 0, &d, err, sizeof(err)) < 0)
		abort();
	unlink(path);
	return d;
}

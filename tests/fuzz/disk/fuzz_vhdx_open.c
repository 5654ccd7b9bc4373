/*
 * Fuzz target: opening a VHDX exactly as production does (disk_open() on a
 * path), from a memory file, then reading a few sectors and writing one
 * (which exercises block allocation and the log) before closing.
 *
 * Input format (so that 4 MiB images stay small): le32 file size in KiB
 * (at most 64 MiB), then records { le32 offset; le16 length; bytes[length] }
 * written into the memfd at those offsets (past the size: ignored). The
 * seeds in corpus/vhdx_open come from make_vhdx_corpus.c.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "disk/disk.h"

#define MAX_SIZE (64u << 20)

static int build_file(const uint8_t *data, size_t size)
{
	uint32_t kib, file_size;
	int fd;

	if (size < 4)
		return -1;
	memcpy(&kib, data, 4);
	file_size = kib > MAX_SIZE / 1024 ? MAX_SIZE : kib * 1024;
	fd = memfd_create("fuzz-vhdx", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, file_size) < 0)
		goto fail;
	for (size_t at = 4; at + 6 <= size;) {
		uint32_t off;
		uint16_t len;

		memcpy(&off, data + at, 4);
		memcpy(&len, data + at + 4, 2);
		at += 6;
		if (len > size - at)
			len = (uint16_t)(size - at);
		if (off < file_size && len) {
			size_t n = len < file_size - off ? len : file_size - off;

			if (pwrite(fd, data + at, n, off) != (ssize_t)n)
				goto fail;
		}
		at += len;
	}
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[8192];
	char path[64], err[256];
	struct disk_info info;
	struct disk *d;
	int fd = build_file(data, size);

	if (fd < 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	/* What parvis-vmwp --disk-parent reads for the service (the parent locator only). */
	struct disk_parent_locator loc;

	if (disk_read_parent_locator(path, fd, &loc, err, sizeof(err)) == 0)
		disk_parent_locator_fini(&loc);
	int opened = disk_open(path, 0, &d, err, sizeof(err));

	if (getenv("VHDX_FUZZ_VERBOSE")) /* for checking what the seeds reach */
		fprintf(stderr, "%s\n", opened == 0 ? "opened" : err);
	if (opened == 0) {
		disk_get_info(d, &info);
		uint64_t s = info.logical_sector_size;
		uint64_t where[3] = {0, (info.size / 2) / s * s, info.size - s};

		int r = 0; /* errors are fine: only crashes, leaks and hangs are bugs */

		for (int i = 0; i < 3; i++)
			r |= disk_read(d, where[i], buf, s);
		if (!info.read_only) {
			memset(buf, 0xa5, s);
			r |= disk_write(d, where[1], buf, s);
			r |= disk_read(d, where[1], buf, s);
			r |= disk_discard(d, 0,
					  info.discard_granularity < info.size
						  ? info.discard_granularity
						  : info.size);
		}
		(void)r;
		disk_close(d);
	}
	close(fd);
	return 0;
}

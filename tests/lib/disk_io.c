/*
 * disk-io: writes and checks known bytes through src/disk (a differencing VHDX's whole chain),
 * for the checkpoint tests (QEMU does not open differencing VHDX).
 *   disk-io write FILE OFFSET LEN BYTE    fills [OFFSET, OFFSET+LEN) with BYTE
 *   disk-io expect FILE OFFSET LEN BYTE   exit 0 if every byte there is BYTE, else 1 with the
 *                                         first other byte and where
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk/disk.h"

#define CHUNK (1ull << 20)

int main(int argc, char **argv)
{
	char err[512] = "";
	struct disk *d;
	unsigned long long off, len, i, pos, n;
	int byte, r = 0, write;
	unsigned char *buf;

	if (argc != 6 || (strcmp(argv[1], "write") && strcmp(argv[1], "expect"))) {
		fprintf(stderr, "usage: disk-io write|expect FILE OFFSET LEN BYTE\n");
		return 2;
	}
	write = !strcmp(argv[1], "write");
	off = strtoull(argv[3], NULL, 0);
	len = strtoull(argv[4], NULL, 0);
	byte = (int)strtol(argv[5], NULL, 0);
	buf = malloc(CHUNK);
	if (!buf)
		return 2;
	r = disk_open(argv[2], write ? 0 : DISK_OPEN_READ_ONLY, &d, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "disk-io: %s\n", err);
		return 1;
	}
	memset(buf, byte, CHUNK);
	for (pos = 0; r == 0 && pos < len; pos += n) {
		n = len - pos < CHUNK ? len - pos : CHUNK;
		if (write) {
			r = disk_write(d, off + pos, buf, n);
			continue;
		}
		r = disk_read(d, off + pos, buf, n);
		for (i = 0; r == 0 && i < n; i++)
			if (buf[i] != byte) {
				fprintf(stderr, "disk-io: %s: byte 0x%02x at %llu, not 0x%02x\n",
					argv[2], buf[i], off + pos + i, byte);
				r = 1;
			}
	}
	if (write && r == 0)
		r = disk_flush(d);
	if (r < 0)
		fprintf(stderr, "disk-io: %s: %s\n", argv[2], strerror(-r));
	disk_close(d);
	free(buf);
	return r ? 1 : 0;
}

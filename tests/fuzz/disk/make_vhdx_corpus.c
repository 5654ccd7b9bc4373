/*
 * Writes the seeds of the vhdx_open fuzzer (tests/fuzz/corpus/vhdx_open) in
 * its sparse input format (see fuzz_vhdx_open.c): a dynamic image with data,
 * a fixed one, a differencing one (its parent absent: the error path), one
 * with 4 KiB sectors, and one with a log that needs replay (written by a
 * child that exits without closing, the in-place BAT update then undone).
 * Run by hand: make-vhdx-corpus OUTDIR; and make-vhdx-corpus IMAGE OUTFILE converts one
 * image (the qemu-dynamic seed: qemu-img create -f vhdx -o block_size=1M, 4M, then
 * qemu-io -c 'write -P 0x5a 1M 8k').
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "disk/disk.h"
#include "disk/vhdx.h"

static void emit(const char *image, const char *out)
{
	int fd = open(image, O_RDONLY);
	off_t size = lseek(fd, 0, SEEK_END);
	uint8_t *img = malloc((size_t)size);
	FILE *f = fopen(out, "wb");
	uint32_t kib = (uint32_t)((size + 1023) / 1024);

	if (pread(fd, img, (size_t)size, 0) != size)
		exit(1);
	close(fd);
	fwrite(&kib, 4, 1, f);
	/* Non-zero runs, split at 64 KiB - 1; zero gaps under 64 bytes are kept inside runs. */
	for (off_t at = 0; at < size;) {
		if (!img[at]) {
			at++;
			continue;
		}
		off_t end = at, zeros = 0;
		while (end < size && end - at < 65535 && zeros < 64) {
			zeros = img[end] ? 0 : zeros + 1;
			end++;
		}
		end -= zeros;
		uint32_t off = (uint32_t)at;
		uint16_t len = (uint16_t)(end - at);
		fwrite(&off, 4, 1, f);
		fwrite(&len, 2, 1, f);
		fwrite(img + at, 1, len, f);
		at = end;
	}
	fclose(f);
	free(img);
}

static void write_some(const char *path, int crash)
{
	struct disk *d;
	uint8_t buf[4096];

	if (disk_open(path, 0, &d, NULL, 0) != 0)
		exit(1);
	memset(buf, 0x5a, sizeof(buf));
	if (disk_write(d, 4096, buf, sizeof(buf)) != 0 || disk_flush(d) != 0)
		exit(1);
	if (crash)
		_exit(0);
	disk_close(d);
}

int main(int argc, char **argv)
{
	char img[4096], out[4096], parent[4096];
	struct vhdx_create_params p = {.size = 4 << 20, .block_size = 1 << 20};
	char err[256];

	if (argc == 3) { /* make-vhdx-corpus IMAGE OUTFILE: one existing image */
		emit(argv[1], argv[2]);
		return 0;
	}
	if (argc != 2)
		return 2;
#define MAKE(nm, params)                                                                           \
	snprintf(img, sizeof(img), "%s/%s.vhdx", argv[1], nm);                                     \
	unlink(img);                                                                               \
	if (vhdx_create(img, params, err, sizeof(err)) != 0) {                                     \
		fprintf(stderr, "%s\n", err);                                                      \
		return 1;                                                                          \
	}
	MAKE("dynamic", &p);
	write_some(img, 0);
	snprintf(out, sizeof(out), "%s/dynamic", argv[1]);
	emit(img, out);
	snprintf(parent, sizeof(parent), "%s", img);
	struct vhdx_create_params dp = {.parent = parent};
	MAKE("differencing", &dp);
	write_some(img, 0);
	snprintf(out, sizeof(out), "%s/differencing", argv[1]);
	emit(img, out);
	unlink(img);
	unlink(parent);
	struct vhdx_create_params fp = {.size = 2 << 20, .block_size = 1 << 20, .fixed = true};
	MAKE("fixed", &fp);
	write_some(img, 0);
	snprintf(out, sizeof(out), "%s/fixed", argv[1]);
	emit(img, out);
	unlink(img);
	struct vhdx_create_params kp = {
		.size = 4 << 20, .block_size = 1 << 20, .logical_sector_size = 4096};
	MAKE("sector4k", &kp);
	write_some(img, 0);
	snprintf(out, sizeof(out), "%s/sector4k", argv[1]);
	emit(img, out);
	unlink(img);
	MAKE("dirty-log", &p);
	pid_t pid = fork();
	if (pid == 0)
		write_some(img, 1);
	waitpid(pid, NULL, 0);
	static const uint8_t zero[4096];
	int fd = open(img, O_RDWR);
	if (pwrite(fd, zero, sizeof(zero), 2 << 20) != sizeof(zero)) /* undo the BAT update */
		return 1;
	close(fd);
	snprintf(out, sizeof(out), "%s/dirty-log", argv[1]);
	emit(img, out);
	unlink(img);
	snprintf(img, sizeof(img), "%s/dynamic.vhdx", argv[1]);
	unlink(img);
	return 0;
}

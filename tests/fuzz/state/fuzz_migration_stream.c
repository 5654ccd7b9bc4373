/*
 * Fuzz target: the migration stream reader (src/migration/) on a stream
 * whose bytes the fuzzer controls, read from a memory file as a
 * destination worker reads its socket: the header, every record, pages
 * into a RAM buffer of the header's size (when small enough), the device
 * state opened as a saved state and every one of its sections read.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "migration/migration_stream.h"
#include "state/state.h"

#define RAM_LIMIT (8u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void read_devices(struct state_reader *s)
{
	const char *name;
	char err[256];
	unsigned i;

	for (i = 0; (name = state_reader_section_name(s, i, NULL, NULL)); i++) {
		uint32_t version;
		void *buf = NULL;
		size_t len;

		if (state_reader_section(s, name, &version, &buf, &len, err, sizeof(err)) == 0)
			free(buf);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct migration_reader *r;
	char err[256];
	uint64_t bytes;
	void *ram;
	int fd = memfd_create("fuzz-migration", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		return 0;
	}
	if (migration_reader_new(fd, &r, err, sizeof(err)) == 0) {
		bytes = migration_reader_header(r)->memory_bytes;
		if (bytes <= RAM_LIMIT) {
			ram = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
			if (ram != MAP_FAILED) {
				if (migration_reader_run(r, ram, err, sizeof(err)) == 0)
					read_devices(migration_reader_devices(r));
				munmap(ram, bytes);
			}
		}
		migration_reader_free(r);
	}
	close(fd);
	return 0;
}

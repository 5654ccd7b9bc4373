/*
 * Fuzz target: the saved-state reader (src/state/) on a file whose bytes
 * the fuzzer controls, read from a memory file exactly as a restore reads
 * its file: header, section table, every section, the RAM index, and the
 * RAM itself when the file claims a small enough guest; the sections of
 * KVM's state go through their decoders (src/vid/kvm_state.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "state/state.h"
#include "vid/kvm_state.h"

#define RAM_LIMIT (64u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void load_ram(struct state_reader *r)
{
	uint64_t bytes = state_reader_info(r)->memory_bytes;
	char err[256];
	void *ram;

	if (bytes == 0 || bytes > RAM_LIMIT) {
		if (state_reader_check_ram(r, NULL, err, sizeof(err)) < 0)
			err[0] = 0;
		return;
	}
	ram = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (ram == MAP_FAILED)
		return;
	if (state_reader_load_ram(r, ram, err, sizeof(err)) < 0)
		err[0] = 0;
	munmap(ram, bytes);
}

/* The decoders of every section this build restores, by name prefix. */
static void decode(const char *name, const void *buf, size_t len)
{
	static struct vcpu_state vcpu;
	static struct kvm_vm_state vm;
	struct state_in in;
	char err[256];
	int r = 0;

	state_in_init(&in, buf, len);
	if (strncmp(name, "vcpu.", 5) == 0)
		r = vcpu_state_decode(&in, &vcpu, err, sizeof(err));
	else if (strcmp(name, "kvm.irqchip") == 0)
		r = kvm_vm_state_decode_irqchip(&in, &vm, err, sizeof(err));
	else if (strcmp(name, "kvm.pit") == 0)
		r = kvm_vm_state_decode_pit(&in, &vm, err, sizeof(err));
	else if (strcmp(name, "kvm.clock") == 0)
		r = kvm_vm_state_decode_clock(&in, &vm, err, sizeof(err));
	if (r == 0 && vcpu.nmsrs > VCPU_STATE_MAX_MSRS)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct state_reader *r;
	uint32_t version;
	char err[256];
	const char *name;
	size_t len;
	void *buf;
	unsigned i;

	if (fd < 0)
		fd = memfd_create("fuzz-state", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		return 0;
	if (state_reader_new(fd, &r, err, sizeof(err)) < 0)
		return 0;
	for (i = 0; (name = state_reader_section_name(r, i, NULL, NULL)); i++) {
		if (state_reader_section(r, name, &version, &buf, &len, err, sizeof(err)) < 0)
			continue;
		decode(name, buf, len);
		free(buf);
	}
	load_ram(r);
	state_reader_free(r);
	return 0;
}

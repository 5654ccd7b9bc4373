/*
 * Fuzz target: the kernel file parser (src/boot/kernel_image.c) on
 * arbitrary bytes and, when they parse, the Linux boot set-up
 * (src/boot/linux_boot.c) into a small guest memory, with the input
 * itself as the initrd. Every guest write goes through guest_memory's
 * bounds checks, so a placement bug shows up as an error return (or a
 * sanitizer report for a host-side overrun), never as a silent write
 * elsewhere; the invariants below trap on anything inconsistent.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "boot/kernel_image.h"
#include "boot/linux_boot.h"

#define FUZZ_RAM (64u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_image(const struct kernel_image *k, size_t size)
{
	unsigned i;

	if (k->format == KERNEL_IMAGE_ELF) {
		if (k->nsegments == 0 || k->nsegments > KERNEL_IMAGE_MAX_SEGMENTS)
			__builtin_trap();
		for (i = 0; i < k->nsegments; i++) {
			const struct kernel_segment *s = &k->segments[i];

			if (s->file_offset > size || s->file_size > size - s->file_offset)
				__builtin_trap();
			if (s->file_size > s->mem_size || s->gpa < (1u << 20))
				__builtin_trap();
			if (s->gpa + s->mem_size > KERNEL_IMAGE_ADDR_LIMIT)
				__builtin_trap();
			if (i > 0 && k->segments[i - 1].gpa + k->segments[i - 1].mem_size > s->gpa)
				__builtin_trap();
		}
	} else if (k->format == KERNEL_IMAGE_BZIMAGE) {
		if (k->payload_offset >= size || k->payload_size != size - k->payload_offset)
			__builtin_trap();
		if (k->setup_header_len > 0x290 - 0x1F1)
			__builtin_trap();
	} else {
		__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct guest_memory *mem; /* reused: creating 64 MiB per input would dominate */
	struct boot_error err = {{0}};
	struct linux_boot_config cfg;
	struct linux_boot_info info;
	struct x86_boot_regs regs;
	struct kernel_image k;

	if (kernel_image_parse(data, size, &k, &err) < 0) {
		if (err.msg[0] == 0)
			__builtin_trap(); /* every failure says why */
		return 0;
	}
	check_image(&k, size);
	if (!mem && guest_memory_new(FUZZ_RAM, &mem) < 0)
		abort();
	cfg = (struct linux_boot_config){
		.kernel = &k,
		.initrd = data,
		.initrd_size = size & 1 ? size : 0,
		.cmdline = "console=ttyS0",
		.rsdp_gpa = 0xE0000,
	};
	if (linux_boot_setup(mem, &cfg, &regs, &info, &err) < 0) {
		if (err.msg[0] == 0)
			__builtin_trap();
		return 0;
	}
	if (info.kernel_start < (1u << 20) || info.kernel_end > FUZZ_RAM ||
	    info.kernel_start >= info.kernel_end)
		__builtin_trap();
	if (regs.rip < info.kernel_start || regs.rip >= info.kernel_end)
		__builtin_trap();
	if (info.initrd_size &&
	    (info.initrd_gpa < info.kernel_end || info.initrd_gpa + info.initrd_size > FUZZ_RAM))
		__builtin_trap();
	return 0;
}

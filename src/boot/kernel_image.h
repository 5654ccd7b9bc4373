/*
 * Recognises a Linux/x86-64 kernel file and describes how to load it:
 * an ELF64 vmlinux (loaded segment by segment at p_paddr, entered at
 * e_entry) or a bzImage (protected-mode payload loaded high, entered at
 * load address + 0x200 per the 64-bit boot protocol, boot.rst).
 *
 * Pure: bytes in, description out. The bytes come from a file the user
 * chose and are treated as hostile: every offset and size is checked
 * against the file length with overflow-safe arithmetic.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "boot/boot_error.h"

#define KERNEL_IMAGE_MAX_SEGMENTS 16
#define KERNEL_IMAGE_MAX_PHDRS	  64
/* No load address or segment end beyond this: the boot page tables map 4 GiB. */
#define KERNEL_IMAGE_ADDR_LIMIT UINT64_C(0x100000000)

enum kernel_image_format {
	KERNEL_IMAGE_ELF = 1,
	KERNEL_IMAGE_BZIMAGE,
};

/* One PT_LOAD segment of a vmlinux. */
struct kernel_segment {
	uint64_t file_offset; /* the segment's bytes are [file_offset, file_offset + file_size) */
	uint64_t file_size;
	uint64_t gpa;	     /* p_paddr, >= 1 MiB */
	uint64_t mem_size;   /* >= file_size, > 0; bytes past file_size are zeroed */
	unsigned phdr_index; /* its index in the program header table, for messages */
};

struct kernel_image {
	enum kernel_image_format format;
	const uint8_t *data; /* the file (borrowed: the caller keeps it alive while this is used) */
	size_t size;

	/* ELF: physical address of startup_64. bzImage: offset of the 64-bit entry from the load
	 * address. */
	uint64_t entry;
	/* ELF only: the PT_LOAD segments with mem_size > 0, sorted by gpa, pairwise disjoint. */
	unsigned nsegments;
	struct kernel_segment segments[KERNEL_IMAGE_MAX_SEGMENTS];

	/* Boot protocol facts; for ELF the protocol's defaults. */
	uint32_t initrd_addr_max; /* highest byte an initrd may occupy */
	uint32_t cmdline_max;	  /* longest command line, NUL excluded */

	/* bzImage only. */
	uint16_t protocol; /* boot protocol version, >= 0x020C */
	uint64_t
		payload_offset; /* (setup_sects + 1) * 512: protected-mode kernel within the file */
	uint64_t payload_size;	/* from payload_offset to the end of the file */
	uint32_t
		setup_header_len; /* header bytes from 0x1F1 the loader copies into the zero page */
	uint64_t pref_address;	  /* preferred load address, < 4 GiB */
	uint32_t kernel_alignment; /* a power of two if relocatable */
	uint32_t init_size;	   /* memory the kernel needs from its runtime start */
	uint16_t xloadflags;
	bool relocatable;
};

/*
 * Parses size bytes at data. Returns 0 and fills *ret, or -ENOEXEC (not a
 * kernel we can boot) / -EINVAL (malformed) with the reason in err.
 */
int kernel_image_parse(const void *data, size_t size, struct kernel_image *ret,
		       struct boot_error *err) must_check;

const char *kernel_image_format_name(enum kernel_image_format format);

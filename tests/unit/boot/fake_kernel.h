/*
 * Hand-made kernel files for the boot tests and fuzz seeds: an ELF64
 * vmlinux with chosen PT_LOAD segments, and a bzImage with a chosen setup
 * header. Segment bytes are a recognisable pattern (fake_pattern()).
 */
#pragma once

#include <glob.h>
#include <stddef.h>
#include <stdint.h>

struct fake_segment {
	uint64_t paddr;
	uint64_t filesz;
	uint64_t memsz;
};

/* A malloc'd ELF file; segment i's bytes start at 0x1000 + i * 0x1000 + (sum of earlier filesz). */
uint8_t *fake_elf_new(uint64_t entry, const struct fake_segment *segs, unsigned n,
		      size_t *ret_size);
/* File offset of the program header i in a file from fake_elf_new(). */
#define FAKE_ELF_PHOFF	 64
#define FAKE_ELF_PHDR(i) (FAKE_ELF_PHOFF + (i)*56)

struct fake_bz {
	uint16_t version;      /* 0x020F by default (0 → default) */
	uint8_t setup_sects;   /* 0 means 4, as in the protocol */
	uint32_t payload_size; /* protected-mode bytes after the setup sectors */
	uint64_t pref_address;
	uint32_t kernel_alignment;
	uint32_t init_size;
	uint32_t initrd_addr_max;
	uint32_t cmdline_size;
	uint8_t relocatable;
	uint16_t xloadflags;
	uint8_t loadflags;
};

/* Defaults of a modern relocatable 64-bit bzImage: 16 MiB pref, 2 MiB alignment. */
struct fake_bz fake_bz_default(void);
uint8_t *fake_bzimage_new(const struct fake_bz *bz, size_t *ret_size);

/* The pattern byte at offset i of segment / payload number n. */
static inline uint8_t fake_pattern(unsigned n, uint64_t i)
{
	return (uint8_t)(0x5A ^ (n * 31) ^ (i * 7) ^ (i >> 8));
}

/*
 * Real kernels on this machine, for tests that skip without one:
 * $PARVIS_TEST_KERNEL, /boot/vmlinuz-*, and the guest kit's cache
 * ~/.cache/parvis/<*>/vmlinu[xz]. Fills *g (globfree it); returns the count.
 */
size_t real_kernels(glob_t *g);
/* Reads a whole file into a malloc'd buffer, or returns NULL. */
uint8_t *read_file(const char *path, size_t *ret_size);

/* 16-, 32-, 64-bit little-endian store into a file buffer. */
void fake_put(uint8_t *p, uint64_t v, unsigned bytes);

/*
 * Guest physical memory: RAM backed by one memfd (so it can be shared with
 * other processes and saved), mapped into the worker, and the one checked
 * door through which code reads and writes guest physical addresses.
 *
 * Every access is bounds-checked against the RAM regions: a GPA range that
 * is not entirely inside one region (MMIO hole, beyond RAM, wrapping) gets
 * -EFAULT / NULL, never a host access outside the mapping. The layout of
 * the regions is in pc_layout.h.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

/* The guest's page, and the unit of every PFN a guest hands the host (GPADLs, storvsp's and
 * netvsp's page buffers: TLFS and VMBus count in 4 KiB pages whatever the guest's own size). */
#define GUEST_PAGE_SHIFT 12
#define GUEST_PAGE_SIZE	 (1u << GUEST_PAGE_SHIFT)
/* PFNs from here on name an address that does not fit 64 bits. */
#define GUEST_PFN_LIMIT (UINT64_C(1) << (64 - GUEST_PAGE_SHIFT))

struct guest_memory;

struct guest_memory_region {
	uint64_t gpa;	    /* guest physical start, page aligned */
	uint64_t size;	    /* bytes, page aligned, > 0 */
	uint8_t *hva;	    /* host mapping of [gpa, gpa + size) */
	uint64_t fd_offset; /* offset of this region in the memfd */
};

/* Creates RAM of ram_size bytes (a multiple of 4 KiB, > 0), split around the MMIO hole. */
int guest_memory_new(uint64_t ram_size, struct guest_memory **ret) must_check;
/* Frees; NULL is a no-op. Returns NULL. */
struct guest_memory *guest_memory_free(struct guest_memory *mem);

uint64_t guest_memory_ram_size(const struct guest_memory *mem);
/* One past the highest guest physical RAM address. */
uint64_t guest_memory_end(const struct guest_memory *mem);
unsigned guest_memory_region_count(const struct guest_memory *mem);
const struct guest_memory_region *guest_memory_region(const struct guest_memory *mem, unsigned i);
int guest_memory_fd(const struct guest_memory *mem);

/* True if [gpa, gpa + len) is RAM, inside one region. len 0 is never RAM. */
bool guest_memory_is_ram(const struct guest_memory *mem, uint64_t gpa, uint64_t len);

/* Copies between guest RAM and host buffers. 0, or -EFAULT if the range is not RAM. */
int guest_memory_read(const struct guest_memory *mem, uint64_t gpa, void *dst,
		      size_t len) must_check;
int guest_memory_write(struct guest_memory *mem, uint64_t gpa, const void *src,
		       size_t len) must_check;
int guest_memory_fill(struct guest_memory *mem, uint64_t gpa, int byte, size_t len) must_check;

/*
 * A host pointer to [gpa, gpa + len), or NULL if that range is not RAM.
 * The guest can change the bytes at any time: copy before validating.
 */
void *guest_memory_ptr(struct guest_memory *mem, uint64_t gpa, size_t len);

/*
 * The checked way from a guest-given PFN to host memory: a pointer to len bytes at byte off of
 * page pfn (off + len may run into the next pages), or NULL if that is not all RAM, a PFN past
 * GUEST_PFN_LIMIT included (its address would wrap).
 */
static inline void *guest_memory_pfn_ptr(struct guest_memory *mem, uint64_t pfn, uint32_t off,
					 size_t len)
{
	return pfn < GUEST_PFN_LIMIT ? guest_memory_ptr(mem, (pfn << GUEST_PAGE_SHIFT) + off, len)
				     : NULL;
}

/* True if page pfn is RAM. */
static inline bool guest_memory_pfn_is_ram(const struct guest_memory *mem, uint64_t pfn)
{
	return pfn < GUEST_PFN_LIMIT &&
	       guest_memory_is_ram(mem, pfn << GUEST_PAGE_SHIFT, GUEST_PAGE_SIZE);
}

/* Bytes of guest RAM that are resident in the host (touched by guest or host). */
uint64_t guest_memory_resident_bytes(const struct guest_memory *mem);

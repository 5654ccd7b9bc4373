/*
 * Guest RAM: one memfd, mapped once into the worker, exposed to KVM as one
 * memory slot per region (pc_layout.h: below the MMIO hole, and from 4 GiB).
 */
#include "vid/guest_memory.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vid/pc_layout.h"

#define MAX_REGIONS 2

struct guest_memory {
	int fd;						 /* memfd holding all of RAM */
	uint8_t *base;					 /* mapping of the whole memfd */
	uint64_t ram_size;				 /* bytes, sum of region sizes */
	unsigned nregions;				 /* 1 or 2 */
	struct guest_memory_region regions[MAX_REGIONS]; /* sorted by gpa, disjoint */
};

int guest_memory_new(uint64_t ram_size, struct guest_memory **ret)
{
	struct guest_memory *mem;
	uint64_t low;
	int r;

	if (ram_size == 0 || !IS_ALIGNED(ram_size, GUEST_PAGE_SIZE))
		return -EINVAL;
	/* The guest physical space must stay below 2^46 (a conservative MAXPHYADDR). */
	if (ram_size > (UINT64_C(1) << 46) - PC_MMIO_HOLE_END)
		return -E2BIG;
	mem = calloc(1, sizeof(*mem));
	if (!mem)
		return -ENOMEM;
	mem->fd = memfd_create("parvis-guest-ram", MFD_CLOEXEC);
	if (mem->fd < 0) {
		r = -errno;
		goto fail;
	}
	if (ftruncate(mem->fd, (off_t)ram_size) < 0) {
		r = -errno;
		goto fail;
	}
	/* MAP_NORESERVE: RAM is populated lazily, so memory the guest never touches costs nothing.
	 */
	mem->base = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
			 mem->fd, 0);
	if (mem->base == MAP_FAILED) {
		mem->base = NULL;
		r = -errno;
		goto fail;
	}
	mem->ram_size = ram_size;
	low = MIN(ram_size, PC_MMIO_HOLE_START);
	mem->regions[0] = (struct guest_memory_region){.gpa = 0, .size = low, .hva = mem->base};
	mem->nregions = 1;
	if (ram_size > low) {
		mem->regions[1] = (struct guest_memory_region){
			.gpa = PC_MMIO_HOLE_END,
			.size = ram_size - low,
			.hva = mem->base + low,
			.fd_offset = low,
		};
		mem->nregions = 2;
	}
	*ret = mem;
	return 0;
fail:
	guest_memory_free(mem);
	return r;
}

struct guest_memory *guest_memory_free(struct guest_memory *mem)
{
	if (!mem)
		return NULL;
	if (mem->base)
		munmap(mem->base, mem->ram_size);
	if (mem->fd >= 0)
		close(mem->fd);
	free(mem);
	return NULL;
}

uint64_t guest_memory_ram_size(const struct guest_memory *mem)
{
	return mem->ram_size;
}

uint64_t guest_memory_end(const struct guest_memory *mem)
{
	const struct guest_memory_region *last = &mem->regions[mem->nregions - 1];

	return last->gpa + last->size;
}

unsigned guest_memory_region_count(const struct guest_memory *mem)
{
	return mem->nregions;
}

const struct guest_memory_region *guest_memory_region(const struct guest_memory *mem, unsigned i)
{
	return i < mem->nregions ? &mem->regions[i] : NULL;
}

int guest_memory_fd(const struct guest_memory *mem)
{
	return mem->fd;
}

/* The region holding all of [gpa, gpa + len), or NULL. Written to be overflow-proof. */
static const struct guest_memory_region *find_region(const struct guest_memory *mem, uint64_t gpa,
						     uint64_t len)
{
	unsigned i;

	if (len == 0)
		return NULL;
	for (i = 0; i < mem->nregions; i++) {
		const struct guest_memory_region *r = &mem->regions[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
			return r;
	}
	return NULL;
}

bool guest_memory_is_ram(const struct guest_memory *mem, uint64_t gpa, uint64_t len)
{
	return find_region(mem, gpa, len) != NULL;
}

void *guest_memory_ptr(struct guest_memory *mem, uint64_t gpa, size_t len)
{
	const struct guest_memory_region *r = find_region(mem, gpa, len);

	return r ? r->hva + (gpa - r->gpa) : NULL;
}

int guest_memory_read(const struct guest_memory *mem, uint64_t gpa, void *dst, size_t len)
{
	const struct guest_memory_region *r;

	if (len == 0)
		return 0;
	r = find_region(mem, gpa, len);
	if (!r)
		return -EFAULT;
	memcpy(dst, r->hva + (gpa - r->gpa), len);
	return 0;
}

/*
 * Large writes (a kernel, an initrd) go through write(2) on the memfd
 * instead of memcpy: the kernel then fills new pages directly, without a
 * page fault per 4 KiB and without zeroing pages it is about to overwrite
 * (measured: 13 MiB in 8 ms instead of 12-15 ms on a nested host). It is
 * also safe against a source that vanishes (a file mapping whose file was
 * truncated): the copy fails with EFAULT instead of raising SIGBUS.
 */
#define WRITE_SYSCALL_THRESHOLD (64 * KiB)

static int write_through_fd(struct guest_memory *mem, const struct guest_memory_region *r,
			    uint64_t gpa, const uint8_t *src, size_t len)
{
	off_t off = (off_t)(r->fd_offset + (gpa - r->gpa));

	while (len) {
		ssize_t n = pwrite(mem->fd, src, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		src += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

int guest_memory_write(struct guest_memory *mem, uint64_t gpa, const void *src, size_t len)
{
	const struct guest_memory_region *r;

	if (len == 0)
		return 0;
	r = find_region(mem, gpa, len);
	if (!r)
		return -EFAULT;
	if (len >= WRITE_SYSCALL_THRESHOLD)
		return write_through_fd(mem, r, gpa, src, len);
	memcpy(r->hva + (gpa - r->gpa), src, len);
	return 0;
}

int guest_memory_fill(struct guest_memory *mem, uint64_t gpa, int byte, size_t len)
{
	const struct guest_memory_region *r;

	if (len == 0)
		return 0;
	r = find_region(mem, gpa, len);
	if (!r)
		return -EFAULT;
	memset(r->hva + (gpa - r->gpa), byte, len);
	return 0;
}

uint64_t guest_memory_resident_bytes(const struct guest_memory *mem)
{
	size_t pages = (mem->ram_size + GUEST_PAGE_SIZE - 1) / GUEST_PAGE_SIZE;
	uint64_t resident = 0;
	unsigned char *vec;
	size_t i;

	vec = malloc(pages);
	if (!vec)
		return 0;
	if (mincore(mem->base, mem->ram_size, vec) == 0)
		for (i = 0; i < pages; i++)
			resident += (vec[i] & 1) ? GUEST_PAGE_SIZE : 0;
	free(vec);
	return resident;
}

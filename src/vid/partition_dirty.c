/*
 * Dirty-page logging of guest RAM for live migration (partition.h;
 * docs/migration.md): KVM_MEM_LOG_DIRTY_PAGES on every RAM slot, and
 * KVM_GET_DIRTY_LOG, which returns the pages the guest wrote since the
 * last call and write-protects them again (without
 * KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 the get also clears). Works on PVM
 * hosts (research/STATE-AND-MIGRATION.md). Only the vCPUs' writes are
 * logged: the host's own writes into guest RAM are the caller's to find.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vid/guest_memory.h"
#include "vid/partition.h"
#include "vid/partition_internal.h"

#define PAGE 4096u

static int set_ram_slots(struct partition *p, uint32_t flags)
{
	unsigned i;

	for (i = 0; i < guest_memory_region_count(p->mem); i++) {
		const struct guest_memory_region *r = guest_memory_region(p->mem, i);
		struct kvm_userspace_memory_region slot = {
			.slot = i,
			.flags = flags,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uintptr_t)r->hva,
		};

		if (ioctl(p->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
			return -errno;
	}
	return 0;
}

int partition_dirty_log_start(struct partition *p)
{
	int r = set_ram_slots(p, KVM_MEM_LOG_DIRTY_PAGES);

	if (r < 0)
		set_ram_slots(p, 0);
	return r;
}

int partition_dirty_log_stop(struct partition *p)
{
	return set_ram_slots(p, 0);
}

int partition_dirty_log_fetch(struct partition *p, uint64_t *bitmap)
{
	unsigned i;

	for (i = 0; i < guest_memory_region_count(p->mem); i++) {
		const struct guest_memory_region *r = guest_memory_region(p->mem, i);
		uint64_t pages = r->size / PAGE, first = r->fd_offset / PAGE, w, b;
		uint64_t *slot_map = calloc((pages + 63) / 64, sizeof(uint64_t));
		struct kvm_dirty_log log = {.slot = i, .dirty_bitmap = slot_map};

		if (!slot_map)
			return -ENOMEM;
		if (ioctl(p->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0) {
			int err = -errno;

			free(slot_map);
			return err;
		}
		/* The slot's page n is RAM page first + n of the memfd. */
		for (w = 0; w < (pages + 63) / 64; w++)
			for (b = slot_map[w]; b; b &= b - 1) {
				uint64_t page = first + w * 64 + (uint64_t)__builtin_ctzll(b);

				bitmap[page / 64] |= 1ull << (page % 64);
			}
		free(slot_map);
	}
	return 0;
}

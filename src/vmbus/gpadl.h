/*
 * GPADLs (guest physical address descriptor lists): buffers the guest
 * describes page by page in GPADL_HEADER and GPADL_BODY messages and then
 * names by a 32-bit handle (ring buffers in OPENCHANNEL, receive and send
 * buffers of later devices). This table accumulates those messages with
 * strict bounds and keeps the finished page lists of one connection.
 *
 * Bounds: range_buflen (a u16) bounds one GPADL's description to 64 KiB,
 * at most VMBUS_GPADL_MAX_COUNT GPADLs exist at once, every byte of each
 * message must be accounted for, and every PFN must be guest RAM (not an
 * MMIO hole, not beyond RAM). A GPADL in use by an open channel is not
 * torn down: the teardown waits for the channel to close.
 *
 * Not thread-safe: the server calls it under its lock.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "state/state.h"
#include "vid/guest_memory.h"

#define VMBUS_GPADL_MAX_COUNT 256u

struct vmbus_gpadl_table;

/* One finished GPADL: its ranges flattened into one PFN list. */
struct vmbus_gpadl {
	uint32_t id;
	uint32_t child_relid; /* the channel it was created for */
	uint32_t range_count;
	uint32_t first_byte_count;  /* byte_count of range 0 */
	uint32_t first_byte_offset; /* byte_offset of range 0 */
	uint32_t npfns;
	uint64_t *pfns;
	unsigned users;	       /* open channels using it */
	bool teardown_pending; /* GPADL_TEARDOWN came while in use: answer at close */
};

int vmbus_gpadl_table_new(struct guest_memory *mem, struct vmbus_gpadl_table **ret) must_check;
struct vmbus_gpadl_table *vmbus_gpadl_table_free(struct vmbus_gpadl_table *t);
/* Drops every GPADL, finished or not (UNLOAD, reset). */
void vmbus_gpadl_table_clear(struct vmbus_gpadl_table *t);

/*
 * GPADL_HEADER / GPADL_BODY messages (the whole message, header
 * included). Return 1 when the GPADL is complete and checked, 0 when more
 * body messages are expected, or a negative errno when the message is
 * wrong: -EINVAL (lengths, counts, ranges), -EFAULT (a PFN is not RAM),
 * -EEXIST (the handle is taken), -ENOENT (body for no pending GPADL),
 * -ENOSPC (too many GPADLs), -ENOMEM. *ret_id and *ret_relid are set
 * whenever the message was long enough to name them, so that the
 * GPADL_CREATED answer (success or failure) can name the handle. A
 * failed GPADL is forgotten.
 */
int vmbus_gpadl_header(struct vmbus_gpadl_table *t, const void *msg, size_t len, uint32_t *ret_id,
		       uint32_t *ret_relid) must_check;
int vmbus_gpadl_body(struct vmbus_gpadl_table *t, const void *msg, size_t len, uint32_t *ret_id,
		     uint32_t *ret_relid) must_check;

/* A finished GPADL, or NULL. */
struct vmbus_gpadl *vmbus_gpadl_find(struct vmbus_gpadl_table *t, uint32_t id);
/*
 * Removes a finished GPADL. -ENOENT if there is none, -EBUSY if a channel
 * uses it (it is then marked teardown_pending).
 */
int vmbus_gpadl_remove(struct vmbus_gpadl_table *t, uint32_t id) must_check;
unsigned vmbus_gpadl_count(const struct vmbus_gpadl_table *t);

/*
 * The one way to map guest pages named by a GPADL (rings, and any buffer
 * a device maps from a GPADL): pages [first, first + count) of g. The
 * range is checked against g's own page list before any PFN is read (the
 * offsets come from the guest: OPENCHANNEL's page offset, a device's
 * buffer description), then each PFN against guest RAM. Fills
 * ret_pages[0..count) with host pointers to the pages. -EINVAL if the
 * range is empty or not inside the GPADL, -EFAULT if a page is not RAM
 * (the table checked that when the GPADL was made; checked again because
 * a GPADL may outlive a change of memory layout).
 */
int vmbus_gpadl_map_pages(struct guest_memory *mem, const struct vmbus_gpadl *g, uint64_t first,
			  uint64_t count, void **ret_pages) must_check;

/*
 * Saved state: every GPADL, finished (id, relid, ranges, PFNs, a pending
 * teardown) or still being described (the bytes received so far). load
 * fills an empty table and checks every field (each PFN against guest
 * RAM); users start at 0 (the channels and devices that map a GPADL
 * count themselves again). On error err names the GPADL and the field;
 * the table then holds what was read so far (free or clear it).
 */
void vmbus_gpadl_table_save(const struct vmbus_gpadl_table *t, struct state_out *out);
int vmbus_gpadl_table_load(struct vmbus_gpadl_table *t, struct state_in *in, char *err,
			   size_t errlen) must_check;

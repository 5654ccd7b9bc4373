/*
 * The host's end of one VMBus ring buffer in guest memory: a header page
 * (struct vmbus_ring_header, hvdef/vmbus_proto.h) and data pages, taken
 * from a GPADL's page list. A channel has two: the guest writes the
 * "incoming" one and the host reads it; the host writes the "outgoing" one.
 *
 * The guest can change any byte of the ring at any time. The host keeps
 * its own copy of the index it owns, checks the guest's index against
 * the ring on every use, copies a packet out before looking at it, and
 * never touches memory outside the ring's pages. Flow control follows
 * Linux's drivers/hv/ring_buffer.c from the other side: a reader masks
 * interrupts while it drains and signals a writer waiting on
 * pending_send_sz; a writer signals only when the ring goes from empty to
 * non-empty and the reader has not masked interrupts.
 *
 * One thread at a time per ring (the channel serialises).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/compiler.h"
#include "vid/guest_memory.h"
#include "vmbus/gpadl.h"

struct vmbus_ring;

/* The largest ring: 256 MiB of data (Linux's largest is a few MiB). */
#define VMBUS_RING_MAX_PAGES 65536u

/*
 * A ring over pages [first, first + npages) of GPADL g (page 0 is the
 * header, at least one data page), mapped through vmbus_gpadl_map_pages:
 * the range is checked against the GPADL before any PFN is read. Reads
 * the initial index this side owns (the read index of an incoming ring,
 * the write index of an outgoing one) and checks it. -EINVAL (bad page
 * range or index), -EFAULT (a page is not RAM), -ENOMEM.
 */
int vmbus_ring_new(struct guest_memory *mem, const struct vmbus_gpadl *g, uint32_t first,
		   uint32_t npages, bool outgoing, struct vmbus_ring **ret) must_check;
struct vmbus_ring *vmbus_ring_free(struct vmbus_ring *r);

uint32_t vmbus_ring_data_size(const struct vmbus_ring *r);

/* --- Reading (the guest->host ring) --- */

/*
 * Copies the next packet (descriptor, payload, without the trailer) into
 * buf and advances the private read index. 0 with *ret_len; -EAGAIN if
 * the ring is empty; -EMSGSIZE if the packet is larger than buflen (it is
 * skipped); -EPROTO if the guest's write index or the descriptor is
 * inconsistent with the ring (the ring cannot be read any more). The
 * descriptor in buf is the one that was checked: len8/offset8 are
 * consistent with *ret_len.
 */
int vmbus_ring_read(struct vmbus_ring *r, void *buf, size_t buflen, size_t *ret_len) must_check;
/*
 * Publishes the read index. True if the guest, waiting for free space
 * (pending_send_sz, when it set the feature bit), must now be signalled.
 */
bool vmbus_ring_read_commit(struct vmbus_ring *r);
/* Sets interrupt_mask while draining: the guest then writes without signalling. */
void vmbus_ring_mask_interrupts(struct vmbus_ring *r);
/* Clears interrupt_mask; true if data arrived meanwhile (drain again). */
bool vmbus_ring_unmask_interrupts(struct vmbus_ring *r);
/* Bytes the guest has written and the host not read (0 if the index is bad). */
uint32_t vmbus_ring_bytes_to_read(struct vmbus_ring *r);
/* The private read index, and putting it back: a packet read but not taken is read again. */
uint32_t vmbus_ring_read_pos(const struct vmbus_ring *r);
void vmbus_ring_read_rewind(struct vmbus_ring *r, uint32_t pos);

/* --- Writing (the host->guest ring) --- */

/*
 * Writes one packet made of the iovecs (their total a multiple of 8, at
 * least a descriptor) followed by the trailer, and publishes the write
 * index. *ret_signal tells whether the guest must be interrupted. -EAGAIN
 * when there is not enough room: pending_send_sz is then set so that the
 * guest signals once it has freed that much. -EINVAL (bad length),
 * -EPROTO (the guest's read index is not within the ring).
 */
int vmbus_ring_write(struct vmbus_ring *r, const struct iovec *iov, unsigned iovcnt,
		     bool *ret_signal) must_check;
/* True if a packet of len bytes (trailer excluded) fits now. */
bool vmbus_ring_can_write(struct vmbus_ring *r, size_t len);
/* Free bytes now (a write of n bytes, trailer included, needs n < space); 0 if the index is bad.
 */
uint32_t vmbus_ring_space(struct vmbus_ring *r);
/*
 * Asks the guest to signal once more than bytes are free (pending_send_sz),
 * then looks again: true if they are free now (the request is withdrawn).
 */
bool vmbus_ring_want_space(struct vmbus_ring *r, uint32_t bytes);

/* --- Saved state --- */

/* The index this side owns as the host keeps it (read index in, write index out). */
uint32_t vmbus_ring_private_index(const struct vmbus_ring *r);
/* Sets it back (a restored channel); -EINVAL if it is not a valid offset of this ring. */
int vmbus_ring_set_private_index(struct vmbus_ring *r, uint32_t index) must_check;

/*
 * Host side of a VMBus ring buffer (ring.h). Data-area offsets wrap at
 * data_size; the data pages need not be contiguous in the host, so copies
 * go page by page. Index loads and stores on the shared header use
 * acquire/release atomics, and full fences where Linux's guest side has
 * virt_mb() (the signalling decisions), so that neither side misses a
 * wake-up.
 */
#include "vmbus/ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hvdef/vmbus_proto.h"
#include "vid/guest_memory.h"

struct vmbus_ring {
	struct vmbus_ring_header *hdr; /* shared with the guest: every field guest-writable */
	void **pages;		       /* host pointers of every page: the header, then the data */
	uint32_t data_size;	       /* (npages - 1) * 4096, a multiple of 8 */
	uint32_t index;		       /* ours: read index (incoming) or write index (outgoing) */
	bool outgoing;
};

static uint32_t load_acquire(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store_release(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static bool index_ok(const struct vmbus_ring *r, uint32_t i)
{
	return i < r->data_size && IS_ALIGNED(i, 8u);
}

int vmbus_ring_new(struct guest_memory *mem, const struct vmbus_gpadl *g, uint32_t first,
		   uint32_t npages, bool outgoing, struct vmbus_ring **ret)
{
	struct vmbus_ring *r;
	void **pages;
	uint32_t idx;
	int err;

	if (npages < 2 || npages > VMBUS_RING_MAX_PAGES)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	pages = calloc(npages, sizeof(*pages));
	if (!pages) {
		free(r);
		return -ENOMEM;
	}
	r->pages = pages;
	err = vmbus_gpadl_map_pages(mem, g, first, npages, pages);
	if (err < 0) {
		vmbus_ring_free(r);
		return err;
	}
	r->hdr = pages[0];
	r->outgoing = outgoing;
	r->data_size = (npages - 1) * GUEST_PAGE_SIZE;
	idx = load_acquire(outgoing ? &r->hdr->write_index : &r->hdr->read_index);
	if (!index_ok(r, idx)) {
		vmbus_ring_free(r);
		return -EINVAL;
	}
	r->index = idx;
	/* The host's half of flow control: it sets pending_send_sz when it waits (hyperv.h). */
	if (outgoing)
		__atomic_fetch_or(&r->hdr->feature_bits, VMBUS_RING_FEAT_PENDING_SEND_SZ,
				  __ATOMIC_SEQ_CST);
	*ret = r;
	return 0;
}

struct vmbus_ring *vmbus_ring_free(struct vmbus_ring *r)
{
	if (!r)
		return NULL;
	free(r->pages);
	free(r);
	return NULL;
}

uint32_t vmbus_ring_data_size(const struct vmbus_ring *r)
{
	return r->data_size;
}

static uint8_t *data_page(const struct vmbus_ring *r, uint32_t page)
{
	return r->pages[1 + page];
}

/* Copies len bytes (len <= data_size) from data offset off, wrapping. */
static void copy_from_ring(const struct vmbus_ring *r, uint32_t off, void *dst, size_t len)
{
	uint8_t *d = dst;

	while (len) {
		uint32_t page = off / GUEST_PAGE_SIZE, in = off % GUEST_PAGE_SIZE;
		size_t n = MIN(len, (size_t)(GUEST_PAGE_SIZE - in));

		memcpy(d, data_page(r, page) + in, n);
		d += n;
		len -= n;
		off += (uint32_t)n;
		if (off >= r->data_size)
			off = 0;
	}
}

static uint32_t copy_to_ring(struct vmbus_ring *r, uint32_t off, const void *src, size_t len)
{
	const uint8_t *s = src;

	while (len) {
		uint32_t page = off / GUEST_PAGE_SIZE, in = off % GUEST_PAGE_SIZE;
		size_t n = MIN(len, (size_t)(GUEST_PAGE_SIZE - in));

		memcpy(data_page(r, page) + in, s, n);
		s += n;
		len -= n;
		off += (uint32_t)n;
		if (off >= r->data_size)
			off = 0;
	}
	return off;
}

/* Bytes between read and write index, as the reader sees them. */
static uint32_t used_bytes(const struct vmbus_ring *r, uint32_t read, uint32_t write)
{
	return write >= read ? write - read : r->data_size - read + write;
}

uint32_t vmbus_ring_bytes_to_read(struct vmbus_ring *r)
{
	uint32_t w = load_acquire(&r->hdr->write_index);

	return index_ok(r, w) ? used_bytes(r, r->index, w) : 0;
}

int vmbus_ring_read(struct vmbus_ring *r, void *buf, size_t buflen, size_t *ret_len)
{
	struct vmbus_packet_desc desc;
	uint32_t w, avail, len, off;

	w = load_acquire(&r->hdr->write_index);
	if (!index_ok(r, w))
		return -EPROTO;
	avail = used_bytes(r, r->index, w);
	if (avail == 0)
		return -EAGAIN;
	if (avail < sizeof(desc) + VMBUS_PACKET_TRAILER_SIZE)
		return -EPROTO;
	copy_from_ring(r, r->index, &desc, sizeof(desc));
	len = (uint32_t)desc.len8 * 8;
	off = (uint32_t)desc.offset8 * 8;
	if (len < sizeof(desc) || off < sizeof(desc) || off > len ||
	    len > avail - VMBUS_PACKET_TRAILER_SIZE)
		return -EPROTO;
	if (len > buflen) {
		r->index = (r->index + len + VMBUS_PACKET_TRAILER_SIZE) % r->data_size;
		return -EMSGSIZE;
	}
	copy_from_ring(r, r->index, buf, len);
	/* The guest may have changed the descriptor since it was checked: keep the checked one. */
	memcpy(buf, &desc, sizeof(desc));
	r->index = (r->index + len + VMBUS_PACKET_TRAILER_SIZE) % r->data_size;
	*ret_len = len;
	return 0;
}

bool vmbus_ring_read_commit(struct vmbus_ring *r)
{
	uint32_t start, pending, w, free_now, bytes_read;

	start = __atomic_load_n(&r->hdr->read_index, __ATOMIC_RELAXED);
	store_release(&r->hdr->read_index, r->index);
	if (!(load_acquire(&r->hdr->feature_bits) & VMBUS_RING_FEAT_PENDING_SEND_SZ))
		return false;
	/* Read index published before pending_send_sz is sampled (ring_buffer.c hv_pkt_iter_close).
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	pending = load_acquire(&r->hdr->pending_send_sz);
	if (pending == 0)
		return false;
	w = load_acquire(&r->hdr->write_index);
	if (!index_ok(r, w) || !index_ok(r, start))
		return false;
	free_now = r->data_size - used_bytes(r, r->index, w);
	bytes_read = used_bytes(r, start, r->index);
	/* Signal only on the transition from "not enough room" to "enough room". */
	if (free_now - bytes_read > pending)
		return false;
	return free_now > pending;
}

uint32_t vmbus_ring_read_pos(const struct vmbus_ring *r)
{
	return r->index;
}

void vmbus_ring_read_rewind(struct vmbus_ring *r, uint32_t pos)
{
	/* Only ever a position this side read from: already checked. */
	r->index = pos;
}

void vmbus_ring_mask_interrupts(struct vmbus_ring *r)
{
	__atomic_store_n(&r->hdr->interrupt_mask, 1, __ATOMIC_SEQ_CST);
}

bool vmbus_ring_unmask_interrupts(struct vmbus_ring *r)
{
	__atomic_store_n(&r->hdr->interrupt_mask, 0, __ATOMIC_SEQ_CST);
	/* A packet written while the mask was set came without a signal: look again. */
	return vmbus_ring_bytes_to_read(r) != 0;
}

/* Free bytes for the writer; false if the guest's read index is bad. */
static bool write_space(struct vmbus_ring *r, uint32_t *ret_free, uint32_t *ret_read)
{
	uint32_t rd = load_acquire(&r->hdr->read_index);

	if (!index_ok(r, rd))
		return false;
	*ret_read = rd;
	*ret_free = r->data_size - used_bytes(r, rd, r->index);
	return true;
}

bool vmbus_ring_can_write(struct vmbus_ring *r, size_t len)
{
	uint32_t space, rd;

	/* Never fill the ring completely: equal indices mean empty. */
	return write_space(r, &space, &rd) && len + VMBUS_PACKET_TRAILER_SIZE < space;
}

uint32_t vmbus_ring_space(struct vmbus_ring *r)
{
	uint32_t space, rd;

	return write_space(r, &space, &rd) ? space : 0;
}

bool vmbus_ring_want_space(struct vmbus_ring *r, uint32_t bytes)
{
	/* As in vmbus_ring_write(): publish the wish, then look (no lost wake-up). */
	store_release(&r->hdr->pending_send_sz, bytes);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vmbus_ring_space(r) <= bytes)
		return false;
	store_release(&r->hdr->pending_send_sz, 0);
	return true;
}

int vmbus_ring_write(struct vmbus_ring *r, const struct iovec *iov, unsigned iovcnt,
		     bool *ret_signal)
{
	uint64_t trailer;
	size_t total = 0;
	uint32_t space, rd, old;
	unsigned i;

	*ret_signal = false;
	for (i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (total < sizeof(struct vmbus_packet_desc) || !IS_ALIGNED(total, 8u) ||
	    total + VMBUS_PACKET_TRAILER_SIZE >= r->data_size)
		return -EINVAL;
	if (!write_space(r, &space, &rd))
		return -EPROTO;
	if (total + VMBUS_PACKET_TRAILER_SIZE >= space) {
		/* Ask the guest to signal once this much is free, then look again (no lost
		 * wake-up). */
		store_release(&r->hdr->pending_send_sz,
			      (uint32_t)(total + VMBUS_PACKET_TRAILER_SIZE));
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (!write_space(r, &space, &rd))
			return -EPROTO;
		if (total + VMBUS_PACKET_TRAILER_SIZE >= space)
			return -EAGAIN;
	}
	if (__atomic_load_n(&r->hdr->pending_send_sz, __ATOMIC_RELAXED))
		store_release(&r->hdr->pending_send_sz, 0);
	old = r->index;
	for (i = 0; i < iovcnt; i++)
		r->index = copy_to_ring(r, r->index, iov[i].iov_base, iov[i].iov_len);
	trailer = (uint64_t)old << 32;
	r->index = copy_to_ring(r, r->index, &trailer, sizeof(trailer));
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	store_release(&r->hdr->write_index, r->index);
	/* Interrupt only on empty -> non-empty, and not while the guest polls (hv_signal_on_write).
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&r->hdr->interrupt_mask, __ATOMIC_ACQUIRE))
		return 0;
	*ret_signal = load_acquire(&r->hdr->read_index) == old;
	return 0;
}

uint32_t vmbus_ring_private_index(const struct vmbus_ring *r)
{
	return r->index;
}

int vmbus_ring_set_private_index(struct vmbus_ring *r, uint32_t index)
{
	if (!index_ok(r, index))
		return -EINVAL;
	r->index = index;
	return 0;
}

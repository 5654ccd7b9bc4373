/*
 * GPADL accumulation (gpadl.h). Wire format: hvdef/vmbus_proto.h
 * (struct vmbus_msg_gpadl_header, vmbus_msg_gpadl_body, vmbus_gpa_range);
 * how Linux 6.1 fills them: drivers/hv/channel.c create_gpadl_header()
 * (one range, byte_offset 0, up to 26 PFNs in the header and 28 per body).
 */
#include "vmbus/gpadl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvdef/vmbus_proto.h"
#include "vid/guest_memory.h"

/* A GPADL being described or finished. */
struct entry {
	bool complete;
	uint32_t range_buflen, rangecount;
	uint32_t received; /* bytes of range description received so far */
	uint8_t *ranges;   /* range_buflen bytes, until complete */
	struct vmbus_gpadl g;
};

struct vmbus_gpadl_table {
	struct guest_memory *mem;
	struct entry *entries[VMBUS_GPADL_MAX_COUNT]; /* NULL = free slot */
	unsigned count;
};

int vmbus_gpadl_table_new(struct guest_memory *mem, struct vmbus_gpadl_table **ret)
{
	struct vmbus_gpadl_table *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->mem = mem;
	*ret = t;
	return 0;
}

static void entry_free(struct entry *e)
{
	if (!e)
		return;
	free(e->ranges);
	free(e->g.pfns);
	free(e);
}

static void drop(struct vmbus_gpadl_table *t, unsigned slot)
{
	entry_free(t->entries[slot]);
	t->entries[slot] = NULL;
	t->count--;
}

void vmbus_gpadl_table_clear(struct vmbus_gpadl_table *t)
{
	unsigned i;

	for (i = 0; i < VMBUS_GPADL_MAX_COUNT; i++)
		if (t->entries[i])
			drop(t, i);
}

struct vmbus_gpadl_table *vmbus_gpadl_table_free(struct vmbus_gpadl_table *t)
{
	if (!t)
		return NULL;
	vmbus_gpadl_table_clear(t);
	free(t);
	return NULL;
}

static int find_slot(const struct vmbus_gpadl_table *t, uint32_t id)
{
	unsigned i;

	for (i = 0; i < VMBUS_GPADL_MAX_COUNT; i++)
		if (t->entries[i] && t->entries[i]->g.id == id)
			return (int)i;
	return -1;
}

/* Pages spanned by a range; 0 if it is malformed. */
static uint64_t range_pages(uint32_t byte_count, uint32_t byte_offset)
{
	if (byte_count == 0 || byte_offset >= GUEST_PAGE_SIZE)
		return 0;
	return ((uint64_t)byte_offset + byte_count + GUEST_PAGE_SIZE - 1) / GUEST_PAGE_SIZE;
}

/* Parses the complete range description into the PFN list and checks every page. */
static int finish(struct vmbus_gpadl_table *t, struct entry *e)
{
	const uint8_t *p = e->ranges;
	uint32_t left = e->range_buflen, npfns = 0, i;
	uint64_t *pfns;

	/* First pass: structure and count. */
	for (i = 0; i < e->rangecount; i++) {
		struct vmbus_gpa_range r;
		uint64_t n;

		if (left < sizeof(r))
			return -EINVAL;
		memcpy(&r, p, sizeof(r));
		n = range_pages(r.byte_count, r.byte_offset);
		if (n == 0 || n > (left - sizeof(r)) / 8)
			return -EINVAL;
		if (i == 0) {
			e->g.first_byte_count = r.byte_count;
			e->g.first_byte_offset = r.byte_offset;
		}
		p += sizeof(r) + n * 8;
		left -= (uint32_t)(sizeof(r) + n * 8);
		npfns += (uint32_t)n;
	}
	if (left != 0)
		return -EINVAL;
	pfns = malloc(npfns * sizeof(*pfns));
	if (!pfns)
		return -ENOMEM;
	/* Second pass: the PFNs themselves. */
	p = e->ranges;
	npfns = 0;
	for (i = 0; i < e->rangecount; i++) {
		struct vmbus_gpa_range r;
		uint64_t n, j;

		memcpy(&r, p, sizeof(r));
		p += sizeof(r);
		n = range_pages(r.byte_count, r.byte_offset);
		for (j = 0; j < n; j++, p += 8) {
			uint64_t pfn;

			memcpy(&pfn, p, sizeof(pfn));
			if (!guest_memory_pfn_is_ram(t->mem, pfn)) {
				free(pfns);
				return -EFAULT;
			}
			pfns[npfns++] = pfn;
		}
	}
	e->g.pfns = pfns;
	e->g.npfns = npfns;
	e->g.range_count = e->rangecount;
	free(e->ranges);
	e->ranges = NULL;
	e->complete = true;
	return 1;
}

/* Appends description bytes to a pending GPADL; finishes it when all have come. */
static int append(struct vmbus_gpadl_table *t, unsigned slot, const uint8_t *data, size_t n)
{
	struct entry *e = t->entries[slot];
	int r;

	if (!IS_ALIGNED(n, 8u) || n > e->range_buflen - e->received) {
		drop(t, slot);
		return -EINVAL;
	}
	memcpy(e->ranges + e->received, data, n);
	e->received += (uint32_t)n;
	if (e->received < e->range_buflen)
		return 0;
	r = finish(t, e);
	if (r < 0)
		drop(t, slot);
	return r;
}

int vmbus_gpadl_header(struct vmbus_gpadl_table *t, const void *msg, size_t len, uint32_t *ret_id,
		       uint32_t *ret_relid)
{
	struct vmbus_msg_gpadl_header h;
	struct entry *e;
	unsigned slot;

	if (len < sizeof(h))
		return -EINVAL;
	memcpy(&h, msg, sizeof(h));
	*ret_id = h.gpadl;
	*ret_relid = h.child_relid;
	/* At least one range with one PFN; the description must fit what rangecount implies. */
	if (h.rangecount == 0 || h.range_buflen < sizeof(struct vmbus_gpa_range) + 8 ||
	    h.range_buflen < (uint32_t)h.rangecount * (sizeof(struct vmbus_gpa_range) + 8))
		return -EINVAL;
	if (find_slot(t, h.gpadl) >= 0)
		return -EEXIST;
	if (t->count >= VMBUS_GPADL_MAX_COUNT)
		return -ENOSPC;
	for (slot = 0; t->entries[slot]; slot++)
		;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->ranges = malloc(h.range_buflen);
	if (!e->ranges) {
		free(e);
		return -ENOMEM;
	}
	e->range_buflen = h.range_buflen;
	e->rangecount = h.rangecount;
	e->g.id = h.gpadl;
	e->g.child_relid = h.child_relid;
	t->entries[slot] = e;
	t->count++;
	return append(t, slot, (const uint8_t *)msg + sizeof(h), len - sizeof(h));
}

int vmbus_gpadl_body(struct vmbus_gpadl_table *t, const void *msg, size_t len, uint32_t *ret_id,
		     uint32_t *ret_relid)
{
	struct vmbus_msg_gpadl_body b;
	int slot;

	if (len < sizeof(b))
		return -EINVAL;
	memcpy(&b, msg, sizeof(b));
	*ret_id = b.gpadl;
	*ret_relid = 0;
	slot = find_slot(t, b.gpadl);
	if (slot < 0 || t->entries[slot]->complete)
		return -ENOENT;
	*ret_relid = t->entries[slot]->g.child_relid;
	return append(t, (unsigned)slot, (const uint8_t *)msg + sizeof(b), len - sizeof(b));
}

struct vmbus_gpadl *vmbus_gpadl_find(struct vmbus_gpadl_table *t, uint32_t id)
{
	int slot = find_slot(t, id);

	return slot >= 0 && t->entries[slot]->complete ? &t->entries[slot]->g : NULL;
}

int vmbus_gpadl_remove(struct vmbus_gpadl_table *t, uint32_t id)
{
	int slot = find_slot(t, id);

	if (slot < 0 || !t->entries[slot]->complete)
		return -ENOENT;
	if (t->entries[slot]->g.users) {
		t->entries[slot]->g.teardown_pending = true;
		return -EBUSY;
	}
	drop(t, (unsigned)slot);
	return 0;
}

unsigned vmbus_gpadl_count(const struct vmbus_gpadl_table *t)
{
	return t->count;
}

int vmbus_gpadl_map_pages(struct guest_memory *mem, const struct vmbus_gpadl *g, uint64_t first,
			  uint64_t count, void **ret_pages)
{
	uint64_t i;

	/* In 64 bits, so that neither first + count nor npfns - first can wrap. */
	if (count == 0 || first >= g->npfns || count > g->npfns - first)
		return -EINVAL;
	for (i = 0; i < count; i++) {
		uint64_t pfn = g->pfns[first + i];
		void *p = guest_memory_pfn_ptr(mem, pfn, 0, GUEST_PAGE_SIZE);

		if (!p)
			return -EFAULT;
		ret_pages[i] = p;
	}
	return 0;
}

/* --- Saved state (vmbus_state.c) --- */

/* The most PFNs one GPADL can have: its description is at most 64 KiB (range_buflen, a u16). */
#define GPADL_MAX_PFNS (UINT16_MAX / 8u)

void vmbus_gpadl_table_save(const struct vmbus_gpadl_table *t, struct state_out *out)
{
	unsigned i, j;

	state_out_u32(out, t->count);
	for (i = 0; i < VMBUS_GPADL_MAX_COUNT; i++) {
		const struct entry *e = t->entries[i];

		if (!e)
			continue;
		state_out_u32(out, e->g.id);
		state_out_u32(out, e->g.child_relid);
		state_out_u8(out, e->complete);
		if (e->complete) {
			state_out_u8(out, e->g.teardown_pending);
			state_out_u32(out, e->g.range_count);
			state_out_u32(out, e->g.first_byte_count);
			state_out_u32(out, e->g.first_byte_offset);
			state_out_u32(out, e->g.npfns);
			for (j = 0; j < e->g.npfns; j++)
				state_out_u64(out, e->g.pfns[j]);
		} else {
			state_out_u32(out, e->range_buflen);
			state_out_u32(out, e->rangecount);
			state_out_u32(out, e->received);
			state_out_bytes(out, e->ranges, e->received);
		}
	}
}

static int load_complete(struct vmbus_gpadl_table *t, struct entry *e, struct state_in *in,
			 char *err, size_t errlen)
{
	uint32_t j;

	e->complete = true;
	e->g.teardown_pending = state_in_u8(in) != 0;
	e->g.range_count = state_in_u32(in);
	e->g.first_byte_count = state_in_u32(in);
	e->g.first_byte_offset = state_in_u32(in);
	e->g.npfns = state_in_u32(in);
	if (in->error || e->g.npfns == 0 || e->g.npfns > GPADL_MAX_PFNS || e->g.range_count == 0 ||
	    e->g.range_count > e->g.npfns || e->g.first_byte_offset >= GUEST_PAGE_SIZE ||
	    e->g.first_byte_count == 0) {
		snprintf(err, errlen, "GPADL %#x: bad range count, first range or page count %u",
			 e->g.id, e->g.npfns);
		return -EINVAL;
	}
	if (in->len - in->pos < (size_t)e->g.npfns * 8) {
		snprintf(err, errlen, "GPADL %#x: page list truncated", e->g.id);
		return -EINVAL;
	}
	e->g.pfns = malloc(e->g.npfns * sizeof(*e->g.pfns));
	if (!e->g.pfns)
		return -ENOMEM;
	for (j = 0; j < e->g.npfns; j++) {
		uint64_t pfn = state_in_u64(in);

		if (!guest_memory_pfn_is_ram(t->mem, pfn)) {
			snprintf(err, errlen, "GPADL %#x: page %u (PFN %#llx) is not guest RAM",
				 e->g.id, j, (unsigned long long)pfn);
			return -EINVAL;
		}
		e->g.pfns[j] = pfn;
	}
	return 0;
}

static int load_pending(struct entry *e, struct state_in *in, char *err, size_t errlen)
{
	e->range_buflen = state_in_u32(in);
	e->rangecount = state_in_u32(in);
	e->received = state_in_u32(in);
	/* What vmbus_gpadl_header accepts, and a description received in 8-byte steps. */
	if (in->error || e->range_buflen > UINT16_MAX || e->rangecount == 0 ||
	    e->range_buflen < sizeof(struct vmbus_gpa_range) + 8 ||
	    (uint64_t)e->range_buflen <
		    (uint64_t)e->rangecount * (sizeof(struct vmbus_gpa_range) + 8) ||
	    e->received >= e->range_buflen || !IS_ALIGNED(e->received, 8u) ||
	    in->len - in->pos < e->received) {
		snprintf(err, errlen, "GPADL %#x being built: bad lengths (%u of %u bytes)",
			 e->g.id, e->received, e->range_buflen);
		return -EINVAL;
	}
	e->ranges = malloc(e->range_buflen);
	if (!e->ranges)
		return -ENOMEM;
	state_in_bytes(in, e->ranges, e->received);
	return 0;
}

int vmbus_gpadl_table_load(struct vmbus_gpadl_table *t, struct state_in *in, char *err,
			   size_t errlen)
{
	uint32_t n = state_in_u32(in), i;

	if (t->count) {
		snprintf(err, errlen, "GPADL table not empty");
		return -EINVAL;
	}
	if (in->error || n > VMBUS_GPADL_MAX_COUNT) {
		snprintf(err, errlen, "GPADL count %u (at most %u)", n, VMBUS_GPADL_MAX_COUNT);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		struct entry *e = calloc(1, sizeof(*e));
		int r;

		if (!e)
			return -ENOMEM;
		e->g.id = state_in_u32(in);
		e->g.child_relid = state_in_u32(in);
		t->entries[i] = e; /* freed with the table if anything below fails */
		t->count++;
		if (find_slot(t, e->g.id) != (int)i) {
			snprintf(err, errlen, "GPADL %#x saved twice", e->g.id);
			return -EINVAL;
		}
		if (e->g.child_relid == 0 || e->g.child_relid > VMBUS_MAX_RELID) {
			snprintf(err, errlen, "GPADL %#x: relid %u", e->g.id, e->g.child_relid);
			return -EINVAL;
		}
		r = state_in_u8(in) ? load_complete(t, e, in, err, errlen)
				    : load_pending(e, in, err, errlen);
		if (r == 0 && in->error) {
			snprintf(err, errlen, "GPADL %#x truncated", e->g.id);
			r = -EINVAL;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

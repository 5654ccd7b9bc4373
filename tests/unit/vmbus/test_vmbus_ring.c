/*
 * The host side of a ring (src/vmbus/ring.c) against rings laid out by
 * hand in guest memory: reading with wraparound, every inconsistency a
 * guest can put in the indices or descriptors, the pending_send_sz
 * transition, interrupt masking, and writing into a full ring.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hvdef/vmbus_proto.h"
#include "vmbus/ring.h"

#define RING_GPA 0x10000u
#define DATA	 (RING_GPA + 4096u)

struct fixture {
	struct guest_memory *mem;
	uint64_t pfns[3];     /* header + 2 data pages: 8 KiB of data */
	struct vmbus_gpadl g; /* over pfns */
};

static int setup(void **state)
{
	static struct fixture f;
	unsigned i;

	assert_int_equal(guest_memory_new(1 * MiB, &f.mem), 0);
	for (i = 0; i < 3; i++)
		f.pfns[i] = RING_GPA / 4096 + i;
	f.g = (struct vmbus_gpadl){.range_count = 1, .npfns = 3, .pfns = f.pfns};
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	guest_memory_free(f->mem);
	return 0;
}

static void set_u32(struct fixture *f, unsigned off, uint32_t v)
{
	assert_int_equal(guest_memory_write(f->mem, RING_GPA + off, &v, 4), 0);
}

static uint32_t get_u32(struct fixture *f, unsigned off)
{
	uint32_t v;

	assert_int_equal(guest_memory_read(f->mem, RING_GPA + off, &v, 4), 0);
	return v;
}

/* Guest writes a packet of `payload` bytes at data offset w (wrapping); returns the new index. */
static uint32_t guest_put(struct fixture *f, uint32_t w, uint64_t id, size_t payload, uint8_t fill)
{
	uint8_t pkt[4096 + 24];
	struct vmbus_packet_desc d = {.type = VMBUS_PKT_DATA_INBAND,
				      .offset8 = 2,
				      .len8 = (uint16_t)((16 + payload) / 8),
				      .trans_id = id};
	size_t n = 16 + payload + 8, i;

	memcpy(pkt, &d, 16);
	memset(pkt + 16, fill, payload);
	memset(pkt + 16 + payload, 0, 8);
	for (i = 0; i < n; i++)
		assert_int_equal(guest_memory_write(f->mem, DATA + (w + i) % 8192, &pkt[i], 1), 0);
	return (uint32_t)((w + n) % 8192);
}

static void test_new(void **state)
{
	struct fixture *f = *state;
	struct vmbus_ring *r;
	uint64_t bad[3] = {f->pfns[0], (1 * MiB) / 4096, f->pfns[2]};
	uint64_t huge[3] = {f->pfns[0], UINT64_C(1) << 52, f->pfns[2]};
	struct vmbus_gpadl gbad = {.range_count = 1, .npfns = 3, .pfns = bad};
	struct vmbus_gpadl ghuge = {.range_count = 1, .npfns = 3, .pfns = huge};

	assert_int_equal(vmbus_ring_new(f->mem, &f->g, 0, 1, false, &r), -EINVAL);
	assert_int_equal(vmbus_ring_new(f->mem, &gbad, 0, 3, false, &r), -EFAULT);
	assert_int_equal(vmbus_ring_new(f->mem, &ghuge, 0, 3, false, &r), -EFAULT);
	set_u32(f, 4, 12); /* read index not 8-aligned */
	assert_int_equal(vmbus_ring_new(f->mem, &f->g, 0, 3, false, &r), -EINVAL);
	set_u32(f, 4, 8192); /* outside the data */
	assert_int_equal(vmbus_ring_new(f->mem, &f->g, 0, 3, false, &r), -EINVAL);
	set_u32(f, 4, 0);
	assert_int_equal(vmbus_ring_new(f->mem, &f->g, 0, 3, false, &r), 0);
	assert_int_equal(vmbus_ring_data_size(r), 8192);
	vmbus_ring_free(r);
	assert_null(vmbus_ring_free(NULL));
}

/*
 * Page ranges past the GPADL's own list (issue 12, item 1): refused before
 * a PFN beyond the list is read (ASan would report the read otherwise:
 * the GPADL's array is heap-allocated at its exact length).
 */
static void test_range_outside_gpadl(void **state)
{
	struct fixture *f = *state;
	uint64_t *one = malloc(sizeof(*one));
	struct vmbus_gpadl g1 = {.range_count = 1, .npfns = 1, .pfns = one};
	struct vmbus_gpadl g3 = {.range_count = 1, .npfns = 3};
	struct vmbus_ring *r = NULL;
	void *pages[4];

	assert_non_null(one);
	*one = f->pfns[0];
	g3.pfns = malloc(3 * sizeof(uint64_t));
	assert_non_null(g3.pfns);
	memcpy(g3.pfns, f->pfns, sizeof(f->pfns));
	assert_int_equal(vmbus_ring_new(f->mem, &g1, 0, 2, false, &r), -EINVAL);
	assert_int_equal(vmbus_ring_new(f->mem, &g1, 1, 2, true, &r), -EINVAL);
	assert_int_equal(vmbus_ring_new(f->mem, &g3, 1, 3, true, &r), -EINVAL);
	assert_int_equal(vmbus_ring_new(f->mem, &g3, 2, 2, true, &r), -EINVAL);
	assert_int_equal(vmbus_ring_new(f->mem, &g3, 3, 2, true, &r), -EINVAL);
	assert_int_equal(vmbus_ring_new(f->mem, &g3, UINT32_MAX, 2, true, &r), -EINVAL);
	assert_null(r);
	/* The helper itself, in 64 bits: no wrap of first + count. */
	assert_int_equal(vmbus_gpadl_map_pages(f->mem, &g3, 0, 0, pages), -EINVAL);
	assert_int_equal(vmbus_gpadl_map_pages(f->mem, &g3, 0, 4, pages), -EINVAL);
	assert_int_equal(vmbus_gpadl_map_pages(f->mem, &g3, 1, UINT64_MAX, pages), -EINVAL);
	assert_int_equal(vmbus_gpadl_map_pages(f->mem, &g3, UINT64_MAX, 2, pages), -EINVAL);
	assert_int_equal(vmbus_gpadl_map_pages(f->mem, &g3, 1, 2, pages), 0);
	assert_ptr_equal(pages[0], guest_memory_ptr(f->mem, RING_GPA + 4096, 4096));
	assert_ptr_equal(pages[1], guest_memory_ptr(f->mem, RING_GPA + 8192, 4096));
	assert_int_equal(vmbus_ring_new(f->mem, &g3, 1, 2, true, &r), 0);
	assert_int_equal(vmbus_ring_data_size(r), 4096);
	vmbus_ring_free(r);
	free(g3.pfns);
	free(one);
}

static void test_read_wraparound(void **state)
{
	struct fixture *f = *state;
	struct vmbus_ring *r;
	uint8_t buf[4096];
	uint32_t w = 8192 - 40; /* the first packet straddles the end */
	size_t len;
	unsigned i;

	set_u32(f, 0, w);
	set_u32(f, 4, w);
	assert_int_equal(vmbus_ring_new(f->mem, &f->g, 0, 3, false, &r), 0);
	assert_int_equal(vmbus_ring_read(r, buf, sizeof(buf), &len), -EAGAIN);
	for (i = 0; i < 200; i++) {
		size_t payload = 8 * (1 + i % 50);
		struct vmbus_packet_desc d;

		w = guest_put(f, w, i, payload, (uint8_t)i);
		set_u32(f, 0, w);
		assert_int_equal(vmbus_ring_bytes_to_read(r), 16 + payload + 8);
		assert_int_equal(vmbus_ring_read(r, buf, sizeof(buf), &len), 0);
		assert_int_equal(len, 16 + payload);
		memcpy(&d, buf, 16);
		assert_int_equal(d.trans_id, i);
		assert_int_equal(buf[16], (uint8_t)i);
		assert_int_equal(buf[len - 1], (uint8_t)i);
		assert_false(vmbus_ring_read_commit(r));
		assert_int_equal(get_u32(f, 4), w);
	}
	vmbus_ring_free(r);
}

static void test_read_bad(void **state)
{
	struct fixture *f = *state;
	struct vmbus_ring *r;
	struct vmbus_packet_desc d = {.type = 6, .offset8 = 2, .len8 = 4};
	uint8_t buf[64];
	size_t len;

	set_u32(f, 0, 0);
	set_u32(f, 4, 0);
	assert_int_equal(vmbus_ring_new(f->mem, &f->g, 0, 3, false, &r), 0);
	set_u32(f, 0, 13); /* unaligned write index */
	assert_int_equal(vmbus_ring_read(r, buf, sizeof(buf), &len), -EPROTO);
	set_u32(f, 0, 8192);
	assert_int_equal(vmbus_ring_read(r, buf, sizeof(buf), &len), -EPROTO);
	set_u32(f, 0, 16); /* less than a descriptor and trailer */
	assert_int_equal(vmbus_ring_read(r, buf, sizeof(buf), &len), -EPROTO);
	set_u32(f, 0, 40);
	assert_int_equal(guest_memory_write(f->mem, DATA, &d, 16), 0);
	assert_int_equal(vmbus_ring_read(r, buf, sizeof(buf), &len), 0); /* 32 + 8 bytes: fits */
	vmbus_ring_free(r);
	set_u32(f, 4, 0);
	assert_int_equal(vmbus_ring_new(f->mem, &f->g, 0, 3, false, &r), 0);
	d.len8 = 5; /* longer than written */
	assert_int_equal(guest_memory_write(f->mem, DATA, &d, 16), 0);
	assert_int_equal(vmbus_ring_read(r, buf, sizeof(buf), &len), -EPROTO);
	d.len8 = 1; /* shorter than its descriptor */
	assert_int_equal(guest_memory_write(f->mem, DATA, &d, 16), 0);
	assert_int_equal(vmbus_ring_read(r, buf, sizeof(buf), &len), -EPROTO);
	d.len8 = 4;
	d.offset8 = 5; /* payload starts past the end */
	assert_int_equal(guest_memory_write(f->mem, DATA, &d, 16), 0);
	assert_int_equal(vmbus_ring_read(r, buf, sizeof(buf), &len), -EPROTO);
	d.offset8 = 1;
	assert_int_equal(guest_memory_write(f->mem, DATA, &d, 16), 0);
	assert_int_equal(vmbus_ring_read(r, buf, sizeof(buf), &len), -EPROTO);
	/* Too large for the caller: skipped. */
	d.offset8 = 2;
	assert_int_equal(guest_memory_write(f->mem, DATA, &d, 16), 0);
	assert_int_equal(vmbus_ring_read(r, buf, 16, &len), -EMSGSIZE);
	assert_int_equal(vmbus_ring_read(r, buf, sizeof(buf), &len), -EAGAIN);
	vmbus_ring_free(r);
}

static void test_pending_send_and_mask(void **state)
{
	struct fixture *f = *state;
	struct vmbus_ring *r;
	uint8_t buf[4096];
	uint32_t w = 0;
	size_t len;
	unsigned i;

	set_u32(f, 0, 0);
	set_u32(f, 4, 0);
	set_u32(f, 64, VMBUS_RING_FEAT_PENDING_SEND_SZ);
	assert_int_equal(vmbus_ring_new(f->mem, &f->g, 0, 3, false, &r), 0);
	/* The guest filled the ring with 7 packets of 1 KiB (1048 bytes each: 7336 of 8192). */
	for (i = 0; i < 7; i++)
		w = guest_put(f, w, i, 1024, 1);
	set_u32(f, 0, w);
	/* It waits for room for one more (1048 bytes + 1): free is 856 now. */
	set_u32(f, 12, 1049);
	vmbus_ring_mask_interrupts(r);
	assert_int_equal(get_u32(f, 8), 1);
	assert_int_equal(vmbus_ring_read(r, buf, sizeof(buf), &len), 0);
	assert_true(vmbus_ring_read_commit(r)); /* 856 -> 1904: crossed */
	assert_int_equal(vmbus_ring_read(r, buf, sizeof(buf), &len), 0);
	assert_false(vmbus_ring_read_commit(r)); /* was already enough */
	/* Without the feature bit the guest polls: no signal. */
	set_u32(f, 64, 0);
	set_u32(f, 12, 8000);
	for (i = 0; i < 5; i++) {
		assert_int_equal(vmbus_ring_read(r, buf, sizeof(buf), &len), 0);
		assert_false(vmbus_ring_read_commit(r));
	}
	assert_false(vmbus_ring_unmask_interrupts(r));
	assert_int_equal(get_u32(f, 8), 0);
	w = guest_put(f, w, 9, 8, 1);
	set_u32(f, 0, w);
	vmbus_ring_mask_interrupts(r);
	assert_true(vmbus_ring_unmask_interrupts(r)); /* data came while masked */
	vmbus_ring_free(r);
}

static void test_write(void **state)
{
	struct fixture *f = *state;
	struct vmbus_ring *r;
	struct vmbus_packet_desc d = {.type = 6, .offset8 = 2, .len8 = 2 + 128};
	uint8_t payload[1024] = {0};
	struct iovec iov[2] = {{&d, 16}, {payload, 1024}};
	bool signal;
	unsigned i, written = 0;

	set_u32(f, 0, 0);
	set_u32(f, 4, 0);
	set_u32(f, 8, 0);
	set_u32(f, 12, 0);
	assert_int_equal(vmbus_ring_new(f->mem, &f->g, 0, 3, true, &r), 0);
	assert_int_equal(get_u32(f, 64) & 1, 1); /* the host announces pending_send_sz */
	assert_int_equal(vmbus_ring_write(r, iov, 1, &signal), 0); /* a bare descriptor */
	assert_true(signal);					   /* empty -> non-empty */
	assert_int_equal(vmbus_ring_write(r, iov, 2, &signal), 0);
	assert_false(signal); /* not empty before */
	written = 2;
	/* Fill: 1048 bytes a packet. */
	for (i = 0; i < 10; i++) {
		int rc = vmbus_ring_write(r, iov, 2, &signal);

		if (rc == -EAGAIN)
			break;
		assert_int_equal(rc, 0);
		written++;
	}
	assert_int_equal(written, 8);		/* a descriptor and 7 packets: 7360 of 8192 bytes */
	assert_int_equal(get_u32(f, 12), 1048); /* pending_send_sz: what the host waits for */
	assert_false(vmbus_ring_can_write(r, 1040));
	/* The guest reads everything: room again, pending cleared by the next write. */
	set_u32(f, 4, get_u32(f, 0));
	assert_true(vmbus_ring_can_write(r, 1040));
	set_u32(f, 8, 1); /* guest polling: no signal even though the ring was empty */
	assert_int_equal(vmbus_ring_write(r, iov, 2, &signal), 0);
	assert_false(signal);
	assert_int_equal(get_u32(f, 12), 0);
	/* Bad lengths, bad guest read index. */
	iov[1].iov_len = 13;
	assert_int_equal(vmbus_ring_write(r, iov, 2, &signal), -EINVAL);
	iov[1].iov_len = 8;
	set_u32(f, 4, 4);
	assert_int_equal(vmbus_ring_write(r, iov, 2, &signal), -EPROTO);
	set_u32(f, 4, 0x10000000);
	assert_int_equal(vmbus_ring_write(r, iov, 2, &signal), -EPROTO);
	assert_false(vmbus_ring_can_write(r, 8));
	vmbus_ring_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new),
		cmocka_unit_test(test_range_outside_gpadl),
		cmocka_unit_test(test_read_wraparound),
		cmocka_unit_test(test_read_bad),
		cmocka_unit_test(test_pending_send_and_mask),
		cmocka_unit_test(test_write),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

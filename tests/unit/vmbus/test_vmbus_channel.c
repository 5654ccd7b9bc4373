/*
 * Channels through the guest-side client: open, close and reopen, refused
 * opens, packets both ways with ring wraparound, a full host->guest ring
 * (pending_send_sz, the guest's signal, the VSP's wake), interrupt
 * counting, and hostile input (bad messages, floods, corrupted rings).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/log.h"
#include "echo_vsp.h"
#include "vmbus_client.h"

static unsigned log_lines;

static void quiet(void *opaque, enum log_level level, const char *line)
{
	(*(unsigned *)opaque)++;
}

static int setup_quiet(void **state)
{
	log_lines = 0;
	log_set_sink(quiet, &log_lines);
	return 0;
}

static struct vmbus_client *connected(struct echo_vsp *e, struct vmbus_msg_offer_channel *offer,
				      bool manual)
{
	struct vmbus_client_config cfg = {.vcpus = 2, .manual_dispatch = manual};
	struct vmbus_client *c;

	memset(e, 0, sizeof(*e));
	assert_int_equal(vmbus_client_new(&cfg, &c), 0);
	assert_int_equal(echo_vsp_add(vmbus_client_server(c), e, "echo", 1), 0);
	assert_int_equal(vmbus_client_connect(c, VMBUS_VERSION_WIN10_V5_3), 1);
	assert_int_equal(vmbus_client_request_offers(c, offer, 1), 1);
	return c;
}

static void echo_roundtrip(struct vmbus_client_channel *ch, const void *data, size_t n, uint64_t id)
{
	struct vmbus_packet_desc d;
	uint8_t buf[8192];
	size_t len = sizeof(buf);

	assert_int_equal(vmbus_client_send(ch, VMBUS_PKT_DATA_INBAND,
					   VMBUS_PKT_FLAG_COMPLETION_REQUESTED, id, data, n),
			 0);
	assert_int_equal(vmbus_client_recv_wait(ch, &d, buf, &len, 5000), 0);
	assert_int_equal(d.type, VMBUS_PKT_COMP);
	assert_int_equal(d.trans_id, id);
	assert_int_equal(len, ALIGN_UP(n, (size_t)8));
	assert_memory_equal(buf, data, n);
}

static void test_open_close_reopen(void **state)
{
	struct vmbus_msg_offer_channel offer;
	struct vmbus_client_channel *ch;
	struct echo_vsp e;
	struct vmbus_client *c = connected(&e, &offer, false);
	unsigned i;

	for (i = 0; i < 3; i++) {
		assert_int_equal(vmbus_client_open(c, &offer, 3, 4, i % 2, &ch), 0);
		assert_int_equal(vmbus_channel_state(e.ch), VMBUS_CHANNEL_OPEN);
		echo_roundtrip(ch, "ping", 4, 100 + i);
		assert_int_equal(vmbus_client_close(ch), 0);
		assert_int_equal(vmbus_channel_state(e.ch), VMBUS_CHANNEL_OFFERED);
	}
	assert_int_equal(atomic_load(&e.opens), 3);
	assert_int_equal(atomic_load(&e.closes), 3);
	vmbus_client_free(c);
}

static atomic_int batches;

static void count_batch(void *opaque, struct vmbus_channel *ch)
{
	atomic_fetch_add(&batches, 1);
}

/*
 * Sub-channels as storvsp makes them: created while the guest is connected
 * (offered at once), same class and instance as the primary and a non-zero
 * sub-channel index (what Linux's vmbus_onoffer pairs them by), re-offered
 * after the primary at UNLOAD + REQUESTOFFERS; batch_end runs once the
 * ring is empty after packets.
 */
static void test_subchannel_offers(void **state)
{
	static const struct vmbus_channel_ops sub_ops = {
		.packet = echo_packet,
		.batch_end = count_batch,
	};
	struct vmbus_msg_offer_channel offer, sub, again[2];
	struct vmbus_channel_params p = {
		.name = "echo-1", .class_id = ECHO_CLASS, .subchannel_index = 1};
	struct vmbus_client_channel *ch, *sch;
	struct echo_vsp e, se = {0};
	struct vmbus_client *c = connected(&e, &offer, false);
	struct vmbus_channel *subch;
	size_t len = sizeof(sub);

	p.instance_id = offer.offer.if_instance;
	assert_int_equal(vmbus_channel_new(vmbus_client_server(c), &p, &sub_ops, &se, &subch),
			 -EINVAL); /* a sub-channel needs its primary */
	p.primary = e.ch;
	assert_int_equal(vmbus_channel_new(vmbus_client_server(c), &p, &sub_ops, &se, &subch), 0);
	assert_int_equal(vmbus_client_expect(c, VMBUS_MSG_OFFERCHANNEL, &sub, &len, 5000), 0);
	assert_int_equal(sub.offer.sub_channel_index, 1);
	assert_true(guid_equal(&sub.offer.if_type, &offer.offer.if_type));
	assert_true(guid_equal(&sub.offer.if_instance, &offer.offer.if_instance));
	assert_int_not_equal(sub.child_relid, offer.child_relid);
	assert_int_equal(vmbus_client_open(c, &offer, 4, 4, 0, &ch), 0);
	assert_int_equal(vmbus_client_open(c, &sub, 4, 4, 1, &sch), 0);
	atomic_store(&batches, 0);
	echo_roundtrip(sch, "sub", 3, 7);
	echo_roundtrip(ch, "primary", 7, 8);
	assert_true(WAIT_FOR(atomic_load(&batches) >= 1));
	assert_int_equal(atomic_load(&se.packets), 1);
	assert_int_equal(atomic_load(&e.packets), 1);
	/* UNLOAD, then the offers again: primary first. */
	vmbus_client_channel_forget(ch);
	vmbus_client_channel_forget(sch);
	assert_int_equal(vmbus_client_unload(c), 0);
	assert_int_equal(vmbus_client_connect(c, VMBUS_VERSION_WIN10_V5_3), 1);
	assert_int_equal(vmbus_client_request_offers(c, again, 2), 2);
	assert_int_equal(again[0].offer.sub_channel_index, 0);
	assert_int_equal(again[1].offer.sub_channel_index, 1);
	vmbus_channel_free(subch);
	vmbus_client_free(c);
}

/* Posts OPENCHANNEL with the given fields; returns the result's status. */
static uint32_t open_raw(struct vmbus_client *c, uint32_t relid, uint32_t gpadl, uint32_t offset,
			 uint32_t vp)
{
	struct vmbus_msg_open_channel m = {.header.msgtype = VMBUS_MSG_OPENCHANNEL,
					   .child_relid = relid,
					   .openid = relid,
					   .ringbuffer_gpadlhandle = gpadl,
					   .target_vp = vp,
					   .downstream_ringbuffer_pageoffset = offset};
	struct vmbus_msg_open_result res;
	uint8_t buf[VMBUS_MESSAGE_MAX_SIZE];
	size_t len;

	assert_int_equal(vmbus_client_post(c, 1, &m, sizeof(m)), VMBUS_POST_OK);
	assert_int_equal(vmbus_client_expect(c, VMBUS_MSG_OPENCHANNEL_RESULT, buf, &len, 5000), 0);
	memcpy(&res, buf, sizeof(res));
	assert_int_equal(res.child_relid, relid);
	return res.status;
}

static void test_open_refused(void **state)
{
	struct vmbus_msg_offer_channel offer;
	struct vmbus_client_channel *ch;
	struct echo_vsp e;
	struct vmbus_client *c = connected(&e, &offer, true);
	uint64_t gpa = vmbus_client_alloc(c, 4);
	struct vmbus_server_stats st;
	uint32_t id;

	assert_int_equal(vmbus_client_gpadl_create(c, 1, gpa, 4, &id), 0);
	assert_int_not_equal(open_raw(c, 1, id + 1, 2, 0), 0); /* unknown GPADL */
	assert_int_not_equal(open_raw(c, 1, id, 1, 0), 0);     /* guest->host ring without data */
	assert_int_not_equal(open_raw(c, 1, id, 3, 0), 0);     /* host->guest ring without data */
	assert_int_not_equal(open_raw(c, 1, id, 0xFFFFFFFF, 0), 0);
	assert_int_not_equal(open_raw(c, 1, id, 2, 2), 0);    /* no VP 2 */
	assert_int_not_equal(open_raw(c, 0, id, 2, 0), 0);    /* relid 0 */
	assert_int_not_equal(open_raw(c, 4000, id, 2, 0), 0); /* no such relid */
	/* Bad ring indices in the guest's headers. */
	assert_int_equal(guest_memory_write(vmbus_client_memory(c), gpa + 4, &(uint32_t){13}, 4),
			 0);
	assert_int_not_equal(open_raw(c, 1, id, 2, 0), 0);
	assert_int_equal(guest_memory_write(vmbus_client_memory(c), gpa + 4, &(uint32_t){0}, 4), 0);
	/* The VSP refuses. */
	atomic_store(&e.refuse_open, -EIO);
	assert_int_not_equal(open_raw(c, 1, id, 2, 0), 0);
	atomic_store(&e.refuse_open, 0);
	assert_int_equal(open_raw(c, 1, id, 2, 0), 0);
	assert_int_not_equal(open_raw(c, 1, id, 2, 0), 0); /* already open */
	vmbus_server_get_stats(vmbus_client_server(c), &st);
	assert_int_equal(st.open_errors, 10);
	/* A GPADL of another channel cannot hold its rings. */
	assert_int_equal(vmbus_client_open(c, &offer, 2, 2, 0, &ch) != 0, 1);
	vmbus_client_free(c);
}

/*
 * Issue 12, item 1: a GPADL of one page, then OPENCHANNEL with page
 * offsets at and past its end. The server read the PFN array past its
 * allocation (ASan: heap-buffer-overflow in vmbus_ring_new); every offset
 * is now checked against the GPADL's own length first.
 */
static void test_open_offset_past_gpadl(void **state)
{
	struct vmbus_msg_offer_channel offer;
	struct echo_vsp e;
	struct vmbus_client *c = connected(&e, &offer, true);
	uint64_t gpa = vmbus_client_alloc(c, 4);
	static const uint32_t offsets[] = {0, 1, 2, 3, 4, 5, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE};
	struct vmbus_server_stats st;
	uint32_t one, four;
	unsigned i;

	assert_int_equal(vmbus_client_gpadl_create(c, 1, gpa, 1, &one), 0);
	for (i = 0; i < ARRAY_SIZE(offsets); i++)
		assert_int_not_equal(open_raw(c, 1, one, offsets[i], 0), 0);
	assert_int_equal(vmbus_client_gpadl_teardown(c, 1, one, true), 0);
	/* Four pages: only offsets 2 (2 + 2 pages) leave both rings a data page. */
	assert_int_equal(vmbus_client_gpadl_create(c, 1, gpa, 4, &four), 0);
	assert_int_not_equal(open_raw(c, 1, four, 4, 0), 0); /* at the end */
	assert_int_not_equal(open_raw(c, 1, four, 5, 0), 0); /* past it */
	vmbus_server_get_stats(vmbus_client_server(c), &st);
	assert_int_equal(st.open_errors, ARRAY_SIZE(offsets) + 2);
	assert_int_equal(vmbus_channel_state(e.ch), VMBUS_CHANNEL_OFFERED);
	/* Still controllable: the right offset opens. */
	assert_int_equal(open_raw(c, 1, four, 2, 0), 0);
	assert_int_equal(vmbus_channel_state(e.ch), VMBUS_CHANNEL_OPEN);
	vmbus_client_free(c);
}

static void test_wraparound(void **state)
{
	struct vmbus_msg_offer_channel offer;
	struct vmbus_client_channel *ch;
	struct echo_vsp e;
	struct vmbus_client *c = connected(&e, &offer, false);
	uint8_t data[3000];
	unsigned i;

	/* One data page each way: packets of odd sizes wrap many times. */
	assert_int_equal(vmbus_client_open(c, &offer, 2, 2, 0, &ch), 0);
	for (i = 0; i < 500; i++) {
		size_t n = 1 + (i * 37) % sizeof(data);

		memset(data, (int)i, n);
		data[0] = (uint8_t)(i >> 8);
		echo_roundtrip(ch, data, n, i);
	}
	assert_int_equal(atomic_load(&e.packets), 500);
	assert_int_equal(vmbus_client_close(ch), 0);
	vmbus_client_free(c);
}

/*
 * The largest packet is what a descriptor's 16-bit len8 can describe:
 * larger limits are refused at creation, and one of exactly that size
 * goes through both ways intact.
 */
static void test_largest_packet(void **state)
{
	struct vmbus_channel_params p = {
		.name = "big",
		.class_id = ECHO_CLASS,
		.instance_id = GUID_INIT(7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7),
		.max_packet_size = VMBUS_MAX_PACKET_SIZE + 8,
	};
	size_t payload = VMBUS_MAX_PACKET_SIZE - sizeof(struct vmbus_packet_desc), len = payload;
	struct vmbus_client_config cfg = {.vcpus = 1};
	struct vmbus_msg_offer_channel offer;
	struct vmbus_client_channel *ch;
	struct vmbus_packet_desc d;
	struct vmbus_channel *vc;
	struct echo_vsp e = {0};
	struct vmbus_client *c;
	uint8_t *out = malloc(payload), *in = malloc(payload);
	size_t i;

	assert_non_null(out);
	assert_non_null(in);
	assert_int_equal(vmbus_client_new(&cfg, &c), 0);
	assert_int_equal(vmbus_channel_new(vmbus_client_server(c), &p, &echo_ops, &e, &vc),
			 -EINVAL);
	p.max_packet_size = 1 * MiB;
	assert_int_equal(vmbus_channel_new(vmbus_client_server(c), &p, &echo_ops, &e, &vc),
			 -EINVAL);
	p.max_packet_size = VMBUS_MAX_PACKET_SIZE;
	assert_int_equal(vmbus_channel_new(vmbus_client_server(c), &p, &echo_ops, &e, &e.ch), 0);
	assert_int_equal(vmbus_client_connect(c, VMBUS_VERSION_WIN10_V5_3), 1);
	assert_int_equal(vmbus_client_request_offers(c, &offer, 1), 1);
	/* 160 data pages each way: 640 KiB, room for one largest packet. */
	assert_int_equal(vmbus_client_open(c, &offer, 161, 161, 0, &ch), 0);
	for (i = 0; i < payload; i++)
		out[i] = (uint8_t)(i * 7 + (i >> 12));
	assert_int_equal(vmbus_client_send(ch, VMBUS_PKT_DATA_INBAND,
					   VMBUS_PKT_FLAG_COMPLETION_REQUESTED, 42, out, payload),
			 0);
	assert_int_equal(vmbus_client_recv_wait(ch, &d, in, &len, 5000), 0);
	assert_int_equal(d.len8, UINT16_MAX);
	assert_int_equal(d.trans_id, 42);
	assert_int_equal(len, payload);
	assert_memory_equal(in, out, payload);
	assert_int_equal(atomic_load(&e.send_errors), 0);
	assert_int_equal(vmbus_client_close(ch), 0);
	vmbus_client_free(c);
	free(out);
	free(in);
}

/*
 * A VSP that answers BUSY: the packet stays in the ring (the host's read
 * index does not move), the guest's interrupts stay masked, and nothing
 * more is read until the VSP wakes the channel; then every packet comes,
 * in order, once.
 */
static void test_busy(void **state)
{
	struct vmbus_msg_offer_channel offer;
	struct vmbus_client_channel *ch;
	struct vmbus_channel_stats st;
	struct echo_vsp e;
	struct vmbus_client *c = connected(&e, &offer, false);
	const struct vmbus_ring_header *in;
	uint8_t buf[64];
	unsigned i;

	assert_int_equal(vmbus_client_open(c, &offer, 4, 4, 0, &ch), 0);
	in = guest_memory_ptr(vmbus_client_memory(c), vmbus_client_channel_send_ring(ch), 4096);
	atomic_store(&e.busy, true);
	for (i = 0; i < 3; i++) {
		memset(buf, (int)i, sizeof(buf));
		assert_int_equal(vmbus_client_send(ch, VMBUS_PKT_DATA_INBAND,
						   VMBUS_PKT_FLAG_COMPLETION_REQUESTED, i, buf,
						   sizeof(buf)),
				 0);
	}
	assert_true(WAIT_FOR(atomic_load(&e.refused) >= 1));
	usleep(20000);
	/* Offered once, not read again without a wake; nothing consumed. */
	assert_int_equal(atomic_load(&e.refused), 1);
	assert_int_equal(__atomic_load_n(&in->read_index, __ATOMIC_ACQUIRE), 0);
	assert_int_equal(__atomic_load_n(&in->interrupt_mask, __ATOMIC_ACQUIRE), 1);
	vmbus_channel_get_stats(e.ch, &st);
	assert_int_equal(st.packets_in, 0);
	assert_int_equal(st.busy, 1);
	/* A guest signal while busy changes nothing, and the loop sleeps (no spinning). */
	{
		struct timespec t0, t1;

		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
		vmbus_server_handle_signal(vmbus_client_server(c),
					   VMBUS_CHANNEL_CONNECTION_BASE +
						   vmbus_client_channel_relid(ch));
		usleep(100000);
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
		assert_int_equal(atomic_load(&e.refused), 1);
		/* Sleeping threads: far less CPU than the 100 ms of wall time. */
		assert_true((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec) <
			    50000000L);
	}
	atomic_store(&e.busy, false);
	vmbus_channel_wake(e.ch);
	for (i = 0; i < 3; i++) {
		struct vmbus_packet_desc d;
		size_t len = sizeof(buf);

		assert_int_equal(vmbus_client_recv_wait(ch, &d, buf, &len, 5000), 0);
		assert_int_equal(d.trans_id, i);
		assert_int_equal(buf[0], i);
	}
	assert_int_equal(atomic_load(&e.packets), 3);
	assert_int_equal(vmbus_client_close(ch), 0);
	vmbus_client_free(c);
}

static void test_host_interrupts_and_full_ring(void **state)
{
	struct vmbus_msg_offer_channel offer;
	struct vmbus_client_channel *ch;
	struct echo_vsp e;
	struct vmbus_client *c = connected(&e, &offer, false);
	struct vmbus_client_stats before, after;
	struct vmbus_channel_stats cs;
	struct vmbus_packet_desc d;
	uint8_t buf[256];
	size_t len;
	unsigned got = 0;

	assert_int_equal(vmbus_client_open(c, &offer, 2, 2, 0, &ch), 0);
	vmbus_client_get_stats(c, &before);
	/* 100 packets of 64 bytes (88 with descriptor and trailer) into 4 KiB: the ring fills. */
	atomic_store(&e.burst, 100);
	vmbus_channel_wake(e.ch);
	assert_true(WAIT_FOR(atomic_load(&e.burst_sent) >= 40));
	usleep(20000);
	assert_true(atomic_load(&e.burst_sent) < 100);
	vmbus_client_get_stats(c, &after);
	/* Only the empty -> non-empty transition interrupts the guest. */
	assert_int_equal(after.interrupts - before.interrupts, 1);
	vmbus_channel_get_stats(e.ch, &cs);
	assert_true(cs.ring_full >= 1);
	/* The guest drains; freeing the room the host waits for signals it (pending_send_sz). */
	while (got < 100) {
		len = sizeof(buf);
		assert_int_equal(vmbus_client_recv_wait(ch, &d, buf, &len, 5000), 0);
		assert_int_equal(d.trans_id, got);
		got++;
	}
	assert_int_equal(atomic_load(&e.burst_sent), 100);
	vmbus_client_get_stats(c, &after);
	assert_true(after.signals_sent >= 1);
	/* With the guest polling (interrupt_mask set) the host sends no interrupt at all. */
	vmbus_client_set_interrupt_mask(ch, true);
	vmbus_client_get_stats(c, &before);
	atomic_store(&e.burst, 110);
	vmbus_channel_wake(e.ch);
	assert_true(WAIT_FOR(atomic_load(&e.burst_sent) == 110));
	vmbus_client_get_stats(c, &after);
	assert_int_equal(after.interrupts, before.interrupts);
	assert_int_equal(vmbus_client_close(ch), 0);
	vmbus_client_free(c);
}

/* The host has read everything and unmasked: its worker sleeps. */
static bool ring_idle(struct vmbus_client *c, uint64_t ring)
{
	struct vmbus_ring_header h;

	assert_int_equal(guest_memory_read(vmbus_client_memory(c), ring, &h, 16), 0);
	return h.read_index == h.write_index && h.interrupt_mask == 0;
}

static void test_guest_signals_only_when_needed(void **state)
{
	struct vmbus_msg_offer_channel offer;
	struct vmbus_client_channel *ch;
	struct echo_vsp e;
	struct vmbus_client *c = connected(&e, &offer, false);
	struct vmbus_client_stats before, after;
	struct vmbus_channel_stats cs;
	unsigned i;

	atomic_store(&e.silent, true);
	assert_int_equal(vmbus_client_open(c, &offer, 9, 2, 0, &ch), 0);
	vmbus_client_get_stats(c, &before);
	/* Queue depth 1, the host idle (ring empty, interrupts unmasked): one signal per packet. */
	for (i = 0; i < 50; i++) {
		assert_true(WAIT_FOR(ring_idle(c, vmbus_client_channel_send_ring(ch))));
		assert_int_equal(vmbus_client_send(ch, VMBUS_PKT_DATA_INBAND, 0, i, "x", 1), 0);
		assert_true(WAIT_FOR(atomic_load(&e.packets) == (int)i + 1));
	}
	vmbus_client_get_stats(c, &after);
	assert_int_equal(after.signals_sent - before.signals_sent, 50);
	/* A burst into a busy ring: the host drains with interrupts masked, so far fewer. */
	before = after;
	for (i = 0; i < 1000; i++)
		while (vmbus_client_send(ch, VMBUS_PKT_DATA_INBAND, 0, i, "burst!!", 7) == -EAGAIN)
			usleep(10);
	assert_true(WAIT_FOR(atomic_load(&e.packets) == 1050));
	vmbus_client_get_stats(c, &after);
	assert_true(after.signals_sent - before.signals_sent <= 1000);
	vmbus_channel_get_stats(e.ch, &cs);
	assert_int_equal(cs.signals_in, after.signals_sent);
	assert_int_equal(vmbus_client_close(ch), 0);
	vmbus_client_free(c);
}

static void test_bad_messages(void **state)
{
	struct vmbus_msg_offer_channel offer;
	struct echo_vsp e;
	struct vmbus_client *c = connected(&e, &offer, true);
	struct vmbus_server_stats st;
	uint8_t big[VMBUS_MESSAGE_MAX_SIZE + 1] = {0};
	uint8_t buf[VMBUS_MESSAGE_MAX_SIZE];
	uint32_t types[] = {0, 1, 2, 4, 6, 10, 12, 15, 17, 18, 19, 20, 23, 24, 25, 99, 0xFFFFFFFF};
	size_t len;
	unsigned i;

	/* Too long for a SynIC message: refused at the hypercall. */
	assert_int_equal(vmbus_client_post(c, 1, big, sizeof(big)), VMBUS_POST_INVALID);
	/* Shorter than a header, and every type only the host may send, or unknown. */
	assert_int_equal(vmbus_client_post(c, 1, big, 4), VMBUS_POST_OK);
	assert_int_equal(vmbus_client_post(c, 1, big, 0), VMBUS_POST_OK);
	for (i = 0; i < ARRAY_SIZE(types); i++) {
		memset(buf, 0, sizeof(buf));
		memcpy(buf, &types[i], 4);
		assert_int_equal(vmbus_client_post(c, 1, buf, sizeof(buf)), VMBUS_POST_OK);
	}
	/* Every guest message type, truncated after its header. */
	for (i = 3; i < 25; i++) {
		struct vmbus_msg_header h = {.msgtype = i};

		if (i == VMBUS_MSG_UNLOAD || i == VMBUS_MSG_INITIATE_CONTACT ||
		    i == VMBUS_MSG_REQUESTOFFERS)
			continue;
		assert_int_equal(vmbus_client_post(c, 1, &h, sizeof(h)), VMBUS_POST_OK);
	}
	/* The malformed GPADL messages were answered with failures; nothing else. */
	while (vmbus_client_recv_msg(c, buf, &len, 10) == 0) {
		struct vmbus_msg_header h;

		memcpy(&h, buf, sizeof(h));
		assert_int_equal(h.msgtype, VMBUS_MSG_GPADL_CREATED);
	}
	/* Close of a closed channel, release of a live relid, retarget to a missing VP. */
	{
		struct vmbus_msg_relid m = {.header.msgtype = VMBUS_MSG_CLOSECHANNEL,
					    .child_relid = 1};
		struct vmbus_msg_modifychannel mod = {.header.msgtype = VMBUS_MSG_MODIFYCHANNEL,
						      .child_relid = 1,
						      .target_vp = 5};

		assert_int_equal(vmbus_client_post(c, 1, &m, sizeof(m)), VMBUS_POST_OK);
		m.header.msgtype = VMBUS_MSG_RELID_RELEASED;
		assert_int_equal(vmbus_client_post(c, 1, &m, sizeof(m)), VMBUS_POST_OK);
		assert_int_equal(vmbus_client_post(c, 1, &mod, sizeof(mod)), VMBUS_POST_OK);
		/* 5.3: MODIFYCHANNEL is answered, here with a failure. */
		assert_int_equal(
			vmbus_client_expect(c, VMBUS_MSG_MODIFYCHANNEL_RESPONSE, buf, &len, 5000),
			0);
		mod.target_vp = 1;
		assert_int_equal(vmbus_client_post(c, 1, &mod, sizeof(mod)), VMBUS_POST_OK);
		assert_int_equal(
			vmbus_client_expect(c, VMBUS_MSG_MODIFYCHANNEL_RESPONSE, buf, &len, 5000),
			0);
	}
	/* REQUESTOFFERS twice: ignored. */
	{
		struct vmbus_msg_header h = {.msgtype = VMBUS_MSG_REQUESTOFFERS};

		assert_int_equal(vmbus_client_post(c, 1, &h, sizeof(h)), VMBUS_POST_OK);
	}
	assert_int_equal(vmbus_client_recv_msg(c, buf, &len, 10), -ETIMEDOUT);
	vmbus_server_get_stats(vmbus_client_server(c), &st);
	assert_true(st.bad_messages >= 30);
	/* Still serving: a channel opens and echoes. */
	{
		struct vmbus_client_channel *ch;

		assert_int_equal(vmbus_client_open(c, &offer, 2, 2, 1, &ch), 0);
		vmbus_client_free(c);
		vmbus_client_channel_forget(ch);
	}
}

static void test_message_flood(void **state)
{
	struct vmbus_msg_offer_channel offer;
	struct echo_vsp e;
	struct vmbus_client_config cfg = {.manual_dispatch = true};
	struct vmbus_client *c;
	struct vmbus_msg_header h = {.msgtype = VMBUS_MSG_REQUESTOFFERS};
	struct vmbus_server_stats st;
	unsigned i, ok = 0, retry = 0;

	memset(&e, 0, sizeof(e));
	assert_int_equal(vmbus_client_new(&cfg, &c), 0);
	assert_int_equal(echo_vsp_add(vmbus_client_server(c), &e, "echo", 1), 0);
	/* Without dispatching, the queue holds 64 messages; then the guest is told to retry. */
	for (i = 0; i < 1000; i++) {
		enum vmbus_post_result r =
			vmbus_server_handle_message(vmbus_client_server(c), 0, 1, &h, sizeof(h));

		ok += r == VMBUS_POST_OK;
		retry += r == VMBUS_POST_RETRY;
	}
	assert_int_equal(ok, 64);
	assert_int_equal(retry, 936);
	assert_int_equal(vmbus_server_dispatch(vmbus_client_server(c)), 64);
	vmbus_server_get_stats(vmbus_client_server(c), &st);
	assert_int_equal(st.queue_full, 936);
	assert_int_equal(st.bad_messages, 64); /* REQUESTOFFERS before INITIATE_CONTACT */
	assert_int_equal(vmbus_client_connect(c, VMBUS_VERSION_WIN10_V5_3), 1);
	assert_int_equal(vmbus_client_request_offers(c, &offer, 1), 1);
	vmbus_client_free(c);
}

static void test_corrupted_rings(void **state)
{
	struct vmbus_msg_offer_channel offer;
	struct vmbus_client_channel *ch;
	struct echo_vsp e;
	struct vmbus_client *c = connected(&e, &offer, false);
	struct guest_memory *mem = vmbus_client_memory(c);
	struct vmbus_channel_stats cs;
	uint64_t send;
	struct vmbus_packet_desc d = {.type = VMBUS_PKT_DATA_INBAND, .offset8 = 2, .len8 = 200};

	assert_int_equal(vmbus_client_open(c, &offer, 2, 2, 0, &ch), 0);
	send = vmbus_client_channel_send_ring(ch);
	/* A descriptor longer than what was written. */
	assert_int_equal(guest_memory_write(mem, send + 4096, &d, sizeof(d)), 0);
	assert_int_equal(guest_memory_write(mem, send, &(uint32_t){32}, 4), 0);
	vmbus_server_handle_signal(vmbus_client_server(c), offer.connection_id);
	assert_true(WAIT_FOR((vmbus_channel_get_stats(e.ch, &cs), cs.bad_packets == 1)));
	/* A write index outside the ring, then more signals: nothing is read any more. */
	assert_int_equal(guest_memory_write(mem, send, &(uint32_t){0x7FFFFFF8}, 4), 0);
	vmbus_server_handle_signal(vmbus_client_server(c), offer.connection_id);
	usleep(20000);
	assert_int_equal(atomic_load(&e.packets), 0);
	/* Signals on connection ids with no open channel are counted and dropped. */
	vmbus_server_handle_signal(vmbus_client_server(c), 0x2000 + 77);
	vmbus_server_handle_signal(vmbus_client_server(c), 5);
	/* The guest can still close and reopen cleanly. */
	assert_int_equal(vmbus_client_close(ch), 0);
	assert_int_equal(vmbus_client_open(c, &offer, 2, 2, 0, &ch), 0);
	echo_roundtrip(ch, "again", 5, 1);
	/* A packet larger than the VSP accepts (16 KiB) is dropped, the channel goes on. */
	assert_int_equal(vmbus_client_close(ch), 0);
	assert_int_equal(vmbus_client_open(c, &offer, 10, 2, 0, &ch), 0);
	{
		static uint8_t huge[20000];

		assert_int_equal(
			vmbus_client_send(ch, VMBUS_PKT_DATA_INBAND, 0, 1, huge, sizeof(huge)), 0);
		echo_roundtrip(ch, "after", 5, 2);
		vmbus_channel_get_stats(e.ch, &cs);
		assert_int_equal(cs.bad_packets, 2);
	}
	assert_int_equal(vmbus_client_close(ch), 0);
	vmbus_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_open_close_reopen, setup_quiet),
		cmocka_unit_test_setup(test_open_refused, setup_quiet),
		cmocka_unit_test_setup(test_open_offset_past_gpadl, setup_quiet),
		cmocka_unit_test_setup(test_subchannel_offers, setup_quiet),
		cmocka_unit_test_setup(test_wraparound, setup_quiet),
		cmocka_unit_test_setup(test_largest_packet, setup_quiet),
		cmocka_unit_test_setup(test_busy, setup_quiet),
		cmocka_unit_test_setup(test_host_interrupts_and_full_ring, setup_quiet),
		cmocka_unit_test_setup(test_guest_signals_only_when_needed, setup_quiet),
		cmocka_unit_test_setup(test_bad_messages, setup_quiet),
		cmocka_unit_test_setup(test_message_flood, setup_quiet),
		cmocka_unit_test_setup(test_corrupted_rings, setup_quiet),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

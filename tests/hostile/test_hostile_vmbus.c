/*
 * The hostile-guest suite, VMBus part (issue 12): what a guest can do to
 * the host's VMBus with its own messages and rings, played by the
 * guest-side client (tests/lib/vmbus_client.c) against the real server
 * and a test VSP. Every case checks that the host stays alive and
 * controllable (channels open, close and answer afterwards), that its
 * memory stays within a stated bound, and, run under ASan (the unit
 * suite's build), that nothing outside guest RAM is touched.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "../unit/vmbus/echo_vsp.h"
#include "base/log.h"
#include "hostile.h"
#include "vid/pc_layout.h"
#include "vmbus_client.h"

#define RAM (16 * MiB)

static void quiet(void *opaque, enum log_level level, const char *line)
{
}

struct two {
	struct vmbus_client *c;
	struct echo_vsp a, b;
	struct vmbus_msg_offer_channel offers[2];
	uint64_t rss0;
};

/* Two echo channels offered to a connected guest; manual: messages handled as posted. */
static void two_new(struct two *t, bool manual)
{
	struct vmbus_client_config cfg = {.vcpus = 2, .ram_size = RAM, .manual_dispatch = manual};

	log_set_sink(quiet, NULL);
	memset(t, 0, sizeof(*t));
	t->rss0 = hostile_resident_bytes();
	assert_int_equal(vmbus_client_new(&cfg, &t->c), 0);
	assert_int_equal(echo_vsp_add(vmbus_client_server(t->c), &t->a, "a", 1), 0);
	assert_int_equal(echo_vsp_add(vmbus_client_server(t->c), &t->b, "b", 2), 0);
	assert_int_equal(vmbus_client_connect(t->c, VMBUS_VERSION_WIN10_V5_3), 1);
	assert_int_equal(vmbus_client_request_offers(t->c, t->offers, 2), 2);
}

/* The host answers on channel ch: a packet in, its echo out. */
static void roundtrip(struct vmbus_client_channel *ch, uint64_t id)
{
	struct vmbus_packet_desc d;
	uint8_t buf[256];
	size_t len = sizeof(buf);

	assert_int_equal(vmbus_client_send(ch, VMBUS_PKT_DATA_INBAND,
					   VMBUS_PKT_FLAG_COMPLETION_REQUESTED, id, "alive", 5),
			 0);
	for (;;) {
		len = sizeof(buf);
		assert_int_equal(vmbus_client_recv_wait(ch, &d, buf, &len, 5000), 0);
		if (d.trans_id == id)
			break; /* (earlier echoes may still be queued) */
	}
	assert_memory_equal(buf, "alive", 5);
}

/* The server stays controllable: it answers a GPADL message. */
static void assert_server_answers(struct vmbus_client *c)
{
	uint64_t gpa = vmbus_client_alloc(c, 1);
	uint32_t id;

	assert_int_equal(vmbus_client_gpadl_create(c, 1, gpa, 1, &id), 0);
	assert_int_equal(vmbus_client_gpadl_teardown(c, 1, id, true), 0);
}

static void two_free(struct two *t, uint64_t bound)
{
	hostile_assert_growth(t->rss0, bound);
	vmbus_client_free(t->c);
}

/*
 * GPADLs naming pages that are not RAM are refused (the MMIO hole, one page past RAM, PFNs
 * at and above 2^52, the largest PFN); RAM's last page is RAM: a ring whose data page it is
 * works, and the host's writes stay inside it.
 */
static void test_gpadl_pages(void **state)
{
	static const uint64_t bad[] = {
		PC_MMIO_HOLE_START / 4096,
		PC_MMIO_HOLE_END / 4096 - 1,
		RAM / 4096,
		UINT64_C(1) << 52,
		(UINT64_C(1) << 52) + 1,
		UINT64_MAX / 4096,
		UINT64_MAX,
	};
	struct vmbus_msg_gpadl_header h = {
		.header.msgtype = VMBUS_MSG_GPADL_HEADER, .rangecount = 1, .range_buflen = 8 + 16};
	struct vmbus_gpa_range range = {.byte_count = 8192};
	struct vmbus_msg_open_channel m = {.header.msgtype = VMBUS_MSG_OPENCHANNEL,
					   .downstream_ringbuffer_pageoffset = 2};
	uint8_t msg[VMBUS_MESSAGE_MAX_SIZE], buf[VMBUS_MESSAGE_MAX_SIZE];
	struct vmbus_msg_gpadl_created created;
	struct vmbus_msg_open_result res;
	struct two t;
	size_t len;

	two_new(&t, true);
	h.child_relid = t.offers[0].child_relid;
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		uint64_t pfns[2] = {vmbus_client_alloc(t.c, 1) / 4096, bad[i]};

		h.gpadl = 0x100 + i;
		memcpy(msg, &h, sizeof(h));
		memcpy(msg + sizeof(h), &range, sizeof(range));
		memcpy(msg + sizeof(h) + sizeof(range), pfns, sizeof(pfns));
		assert_int_equal(vmbus_client_post(t.c, 1, msg, sizeof(h) + sizeof(range) + 16),
				 VMBUS_POST_OK);
		assert_int_equal(vmbus_client_expect(t.c, VMBUS_MSG_GPADL_CREATED, buf, &len, 5000),
				 0);
		memcpy(&created, buf, sizeof(created));
		assert_int_equal(created.gpadl, h.gpadl);
		assert_int_not_equal(created.creation_status, 0);
	}
	/* Four pages, the last two RAM's last two: the host->guest ring ends at RAM's end. */
	uint64_t low = vmbus_client_alloc(t.c, 2) / 4096;
	uint64_t pfns[4] = {low, low + 1, RAM / 4096 - 2, RAM / 4096 - 1};
	struct guest_memory *mem = vmbus_client_memory(t.c);

	assert_int_equal(guest_memory_fill(mem, RAM - 8192, 0, 8192), 0);
	assert_int_equal(guest_memory_fill(mem, low * 4096, 0, 8192), 0);
	h.gpadl = 0x200;
	h.range_buflen = 8 + 32;
	range.byte_count = 4 * 4096;
	memcpy(msg, &h, sizeof(h));
	memcpy(msg + sizeof(h), &range, sizeof(range));
	memcpy(msg + sizeof(h) + sizeof(range), pfns, sizeof(pfns));
	assert_int_equal(vmbus_client_post(t.c, 1, msg, sizeof(h) + sizeof(range) + 32),
			 VMBUS_POST_OK);
	assert_int_equal(vmbus_client_expect(t.c, VMBUS_MSG_GPADL_CREATED, buf, &len, 5000), 0);
	memcpy(&created, buf, sizeof(created));
	assert_int_equal(created.creation_status, 0);
	m.child_relid = m.openid = t.offers[0].child_relid;
	m.ringbuffer_gpadlhandle = 0x200;
	assert_int_equal(vmbus_client_post(t.c, 1, &m, sizeof(m)), VMBUS_POST_OK);
	assert_int_equal(vmbus_client_expect(t.c, VMBUS_MSG_OPENCHANNEL_RESULT, buf, &len, 5000),
			 0);
	memcpy(&res, buf, sizeof(res));
	assert_int_equal(res.status, 0);
	/* A guest write through the (hand-made) ring: the echo lands in RAM's last page. */
	struct vmbus_ring_header *in = guest_memory_ptr(mem, low * 4096, 8192);
	uint8_t pkt[64] = {0};
	struct vmbus_packet_desc d = {.type = VMBUS_PKT_DATA_INBAND, .offset8 = 2, .len8 = 7};

	memcpy(pkt, &d, sizeof(d));
	memcpy((uint8_t *)in + 4096, pkt, sizeof(pkt));
	__atomic_store_n(&in->write_index, 64, __ATOMIC_RELEASE);
	vmbus_server_handle_signal(vmbus_client_server(t.c), t.offers[0].connection_id);
	assert_true(WAIT_FOR(atomic_load(&t.a.packets) == 1));
	struct vmbus_ring_header *out = guest_memory_ptr(mem, RAM - 8192, 8192);
	assert_true(WAIT_FOR(__atomic_load_n(&out->write_index, __ATOMIC_ACQUIRE) == 64));
	assert_server_answers(t.c);
	two_free(&t, 32 * MiB);
}

/*
 * GPADL_TEARDOWN of the GPADL holding an open channel's rings: not torn down while the
 * channel uses it (the rings stay mapped and working), answered once the channel closes.
 */
static void test_teardown_open_ring(void **state)
{
	struct vmbus_client_channel *ch;
	uint8_t buf[VMBUS_MESSAGE_MAX_SIZE];
	struct vmbus_msg_gpadl_torndown done;
	struct vmbus_msg_relid close = {.header.msgtype = VMBUS_MSG_CLOSECHANNEL};
	struct two t;
	uint32_t ring;
	size_t len;

	two_new(&t, true);
	assert_int_equal(vmbus_client_open(t.c, &t.offers[0], 4, 4, 0, &ch), 0);
	ring = vmbus_client_channel_gpadl(ch);
	assert_int_equal(vmbus_client_gpadl_teardown(t.c, t.offers[0].child_relid, ring, false), 0);
	assert_int_equal(vmbus_client_pending_msgs(t.c), 0); /* no TORNDOWN yet */
	for (unsigned i = 0; i < 50; i++)
		roundtrip(ch, 1000 + i);
	/* A second teardown of the same GPADL changes nothing. */
	assert_int_equal(vmbus_client_gpadl_teardown(t.c, t.offers[0].child_relid, ring, false), 0);
	roundtrip(ch, 2000);
	close.child_relid = t.offers[0].child_relid;
	assert_int_equal(vmbus_client_post(t.c, 1, &close, sizeof(close)), VMBUS_POST_OK);
	assert_int_equal(vmbus_client_expect(t.c, VMBUS_MSG_GPADL_TORNDOWN, buf, &len, 5000), 0);
	memcpy(&done, buf, sizeof(done));
	assert_int_equal(done.gpadl, ring);
	vmbus_client_channel_forget(ch);
	assert_int_equal(atomic_load(&t.a.closes), 1);
	/* The channel opens again. */
	assert_int_equal(vmbus_client_open(t.c, &t.offers[0], 4, 4, 0, &ch), 0);
	roundtrip(ch, 3000);
	assert_int_equal(vmbus_client_close(ch), 0);
	two_free(&t, 32 * MiB);
}

/*
 * UNLOAD, and INITIATE_CONTACT without UNLOAD, while packets are in flight both ways (the
 * guest wrote requests and reads none of the answers): the host closes the channels, and
 * the next session works.
 */
static void test_unload_with_io_in_flight(void **state)
{
	struct vmbus_client_channel *a, *b;
	struct two t;

	two_new(&t, false);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(vmbus_client_open(t.c, &t.offers[0], 3, 3, 0, &a), 0);
		assert_int_equal(vmbus_client_open(t.c, &t.offers[1], 3, 3, 1, &b), 0);
		for (unsigned i = 0; i < 400; i++) {
			if (vmbus_client_send(a, VMBUS_PKT_DATA_INBAND,
					      VMBUS_PKT_FLAG_COMPLETION_REQUESTED, i, "x", 1) < 0 &&
			    vmbus_client_send(b, VMBUS_PKT_DATA_INBAND,
					      VMBUS_PKT_FLAG_COMPLETION_REQUESTED, i, "y", 1) < 0)
				break; /* both rings full: enough in flight */
		}
		if (round == 0)
			assert_int_equal(vmbus_client_unload(t.c), 0);
		vmbus_client_channel_forget(a);
		vmbus_client_channel_forget(b);
		/* Round 1: INITIATE_CONTACT again without UNLOAD (kexec). */
		assert_int_equal(vmbus_client_connect(t.c, VMBUS_VERSION_WIN10_V5_3), 1);
		assert_true(WAIT_FOR(atomic_load(&t.a.closes) == round + 1 &&
				     atomic_load(&t.b.closes) == round + 1));
		assert_int_equal(vmbus_client_request_offers(t.c, t.offers, 2), 2);
	}
	assert_int_equal(vmbus_client_open(t.c, &t.offers[0], 3, 3, 0, &a), 0);
	roundtrip(a, 77);
	assert_int_equal(vmbus_client_close(a), 0);
	two_free(&t, 32 * MiB);
}

/*
 * The guest's other CPU, made deterministic: each time the host has read a packet from the
 * replaying ring (this runs in the host's packet callback, after the read index was
 * published), the write index moves so that the whole ring (old packets, already read) is
 * unread again. The ring never empties, however fast the host reads.
 */
struct replayer {
	struct vmbus_ring_header *h; /* the guest->host ring */
	uint32_t size;		     /* its data bytes */
	atomic_int packets;
};

static int replay_packet(void *opaque, struct vmbus_channel *ch, const struct vmbus_packet *pkt)
{
	struct replayer *r = opaque;
	uint32_t rd = __atomic_load_n(&r->h->read_index, __ATOMIC_ACQUIRE);

	atomic_fetch_add(&r->packets, 1);
	__atomic_store_n(&r->h->write_index, (rd + r->size - 64) % r->size, __ATOMIC_RELEASE);
	return VMBUS_PACKET_DONE;
}

static const struct vmbus_channel_ops replay_ops = {.packet = replay_packet};

struct closer {
	struct vmbus_client_channel *ch;
	atomic_bool done;
};

static void *close_main(void *arg)
{
	struct closer *c = arg;

	if (vmbus_client_close(c->ch) < 0) {
		/* checked through done and the counters */
	}
	atomic_store(&c->done, true);
	return NULL;
}

/*
 * A ring that replays old packets for ever: the host's work per wake-up is bounded (it
 * yields after a budget of packets), so the channel can still be closed and the other
 * channel is served meanwhile.
 */
static void test_ring_replays_forever(void **state)
{
	struct vmbus_channel_params p = {
		.name = "replay",
		.class_id = ECHO_CLASS,
		.instance_id = GUID_INIT(3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
	};
	struct vmbus_msg_offer_channel offer, *ro;
	struct vmbus_client_channel *a, *b;
	struct vmbus_channel_stats st;
	struct vmbus_channel *rch;
	struct replayer r = {.size = 4 * 4096};
	struct closer cl = {0};
	struct guest_memory *mem;
	pthread_t ct;
	uint64_t ring;
	struct two t;
	size_t len;

	two_new(&t, false);
	assert_int_equal(vmbus_channel_new(vmbus_client_server(t.c), &p, &replay_ops, &r, &rch), 0);
	/* Offered at once to the connected guest. */
	len = sizeof(offer);
	assert_int_equal(vmbus_client_expect(t.c, VMBUS_MSG_OFFERCHANNEL, &offer, &len, 5000), 0);
	ro = &offer;
	assert_int_equal(vmbus_client_open(t.c, ro, 5, 3, 0, &a), 0);
	assert_int_equal(vmbus_client_open(t.c, &t.offers[1], 3, 3, 1, &b), 0);
	mem = vmbus_client_memory(t.c);
	ring = vmbus_client_channel_send_ring(a);
	r.h = guest_memory_ptr(mem, ring, 4096);
	/* The ring tiled with 64-byte packets (16-byte descriptor, 40 bytes, 8 of trailer). */
	for (uint32_t off = 0; off < r.size; off += 64) {
		struct vmbus_packet_desc d = {
			.type = VMBUS_PKT_DATA_INBAND, .offset8 = 2, .len8 = 7, .trans_id = off};

		assert_int_equal(guest_memory_write(mem, ring + 4096 + off, &d, sizeof(d)), 0);
	}
	__atomic_store_n(&r.h->write_index, r.size - 64, __ATOMIC_RELEASE);
	vmbus_server_handle_signal(vmbus_client_server(t.c), ro->connection_id);
	assert_true(WAIT_FOR(atomic_load(&r.packets) > 100000));
	/* The other channel is served meanwhile. */
	for (unsigned i = 0; i < 20; i++)
		roundtrip(b, 500 + i);
	/* Work per wake-up: the drain yields every VMBUS_DRAIN_BUDGET packets. */
	vmbus_channel_get_stats(rch, &st);
	assert_true(st.drain_yields > 0);
	assert_true(st.packets_in / st.drain_yields <= VMBUS_DRAIN_BUDGET + 1);
	/* And the replaying channel closes: its thread sees the stop between budgets. */
	cl.ch = a;
	assert_int_equal(pthread_create(&ct, NULL, close_main, &cl), 0);
	if (!WAIT_FOR(atomic_load(&cl.done)))
		fail_msg("closing a channel whose ring never empties did not finish in 5 s");
	pthread_join(ct, NULL);
	assert_int_equal(vmbus_channel_state(rch), VMBUS_CHANNEL_OFFERED);
	roundtrip(b, 900);
	assert_int_equal(vmbus_client_close(b), 0);
	vmbus_channel_free(rch);
	two_free(&t, 32 * MiB);
}

/*
 * Ring indices changed by another thread while the host reads: a guest vCPU
 * rewriting the write and read indices, the pending-send size and the
 * interrupt mask of both rings of an open channel, and the data under
 * them, as fast as it can, while the host is signalled over and over.
 * The host copies each index once and checks it against the ring
 * (src/vmbus/ring.c), so whatever it sees it stays inside the ring (ASan),
 * and the bus and the other channel are served afterwards. Under TSan
 * (docs/testing.md) every access to the shared page is an atomic or a copy.
 */
struct scribbler {
	struct vmbus_ring_header *in, *out;
	uint8_t *data;
	uint32_t size;
	atomic_bool stop;
	unsigned long writes;
};

static void *scribble_main(void *arg)
{
	struct scribbler *s = arg;
	uint64_t x = 0x9E3779B97F4A7C15ull;

	while (!atomic_load(&s->stop)) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		switch (x & 7) {
		case 0:
			__atomic_store_n(&s->in->write_index, (uint32_t)(x >> 32),
					 __ATOMIC_RELEASE);
			break;
		case 1:
			__atomic_store_n(&s->in->read_index, (uint32_t)(x >> 32), __ATOMIC_RELEASE);
			break;
		case 2:
			__atomic_store_n(&s->out->read_index, (uint32_t)(x >> 32),
					 __ATOMIC_RELEASE);
			break;
		case 3:
			__atomic_store_n(&s->out->write_index, (uint32_t)(x >> 32),
					 __ATOMIC_RELEASE);
			break;
		case 4:
			__atomic_store_n(&s->in->interrupt_mask, (uint32_t)(x >> 40) & 1,
					 __ATOMIC_RELEASE);
			break;
		case 5:
			__atomic_store_n(&s->out->pending_send_sz, (uint32_t)(x >> 32),
					 __ATOMIC_RELEASE);
			break;
		default:
			/* A plausible index (8-aligned, inside the ring) as often as a wild one. */
			__atomic_store_n(&s->in->write_index, (uint32_t)(x >> 32) % s->size & ~7u,
					 __ATOMIC_RELEASE);
			__atomic_store_n((uint64_t *)(s->data + ((x >> 20) % (s->size / 8)) * 8), x,
					 __ATOMIC_RELAXED);
			break;
		}
		s->writes++;
	}
	return NULL;
}

static void test_ring_indices_race(void **state)
{
	struct vmbus_client_channel *a, *b;
	struct scribbler s = {.size = 4 * 4096};
	struct guest_memory *mem;
	uint64_t send, recv;
	pthread_t th;
	struct two t;

	two_new(&t, false);
	assert_int_equal(vmbus_client_open(t.c, &t.offers[0], 5, 5, 0, &a), 0);
	assert_int_equal(vmbus_client_open(t.c, &t.offers[1], 3, 3, 1, &b), 0);
	mem = vmbus_client_memory(t.c);
	send = vmbus_client_channel_send_ring(a);
	recv = vmbus_client_channel_recv_ring(a);
	s.in = guest_memory_ptr(mem, send, 4096);
	s.out = guest_memory_ptr(mem, recv, 4096);
	s.data = guest_memory_ptr(mem, send + 4096, s.size);
	assert_non_null(s.in);
	assert_non_null(s.out);
	assert_non_null(s.data);
	assert_int_equal(pthread_create(&th, NULL, scribble_main, &s), 0);
	for (unsigned i = 0; i < 20000; i++)
		vmbus_server_handle_signal(vmbus_client_server(t.c), t.offers[0].connection_id);
	usleep(200 * 1000);
	atomic_store(&s.stop, true);
	pthread_join(th, NULL);
	print_message("# %lu index and data writes by the guest thread\n", s.writes);
	assert_true(s.writes > 1000);
	/* The bus, the other channel and the scribbled channel's close still work. */
	assert_server_answers(t.c);
	roundtrip(b, 77);
	if (vmbus_client_close(a) < 0) {
		/* a ring the guest broke may refuse the close handshake's packets; the bus decides
		 */
	}
	assert_server_answers(t.c);
	assert_int_equal(vmbus_client_close(b), 0);
	two_free(&t, 32 * MiB);
}

/* The jail's filters are on: a device thread's forbidden call kills with SIGSYS
 * (seccomp_threads.c). */
static void test_seccomp_is_on(void **state)
{
	int status;

	(void)state;
	if (!hostile_filters_on())
		skip(); /* ThreadSanitizer's build */
	status = hostile_filtered_syscall_status();
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seccomp_is_on),
		cmocka_unit_test(test_gpadl_pages),
		cmocka_unit_test(test_teardown_open_ring),
		cmocka_unit_test(test_unload_with_io_in_flight),
		cmocka_unit_test(test_ring_replays_forever),
		cmocka_unit_test(test_ring_indices_race),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The VMBus connection protocol driven by the guest-side client: version
 * negotiation (every version Linux 6.1 offers, refused ones, the
 * connection id rule), offers (fields, order, hot add), GPADLs (multi
 * message, bad counts, pages outside RAM, teardown), unload and reconnect.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/clock.h"
#include "base/log.h"
#include "echo_vsp.h"
#include "vid/pc_layout.h"
#include "vmbus_client.h"

static void quiet(void *opaque, enum log_level level, const char *line)
{
	(*(unsigned *)opaque)++;
}

static unsigned log_lines;

static int setup_quiet(void **state)
{
	log_lines = 0;
	log_set_sink(quiet, &log_lines);
	return 0;
}

static struct vmbus_client *new_client(uint32_t max_version, bool manual)
{
	struct vmbus_client_config cfg = {
		.vcpus = 2, .max_version = max_version, .manual_dispatch = manual};
	struct vmbus_client *c;

	assert_int_equal(vmbus_client_new(&cfg, &c), 0);
	return c;
}

static const uint32_t linux_versions[] = {
	VMBUS_VERSION_WIN10_V5_3, VMBUS_VERSION_WIN10_V5_2, VMBUS_VERSION_WIN10_V5_1,
	VMBUS_VERSION_WIN10_V5,	  VMBUS_VERSION_WIN10_V4_1, VMBUS_VERSION_WIN10,
	VMBUS_VERSION_WIN8_1,	  VMBUS_VERSION_WIN8,
};

static void test_every_linux_version(void **state)
{
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(linux_versions); i++) {
		struct vmbus_client *c = new_client(0, i % 2);

		assert_int_equal(vmbus_client_connect(c, linux_versions[i]), 1);
		assert_int_equal(vmbus_server_version(vmbus_client_server(c)), linux_versions[i]);
		vmbus_client_free(c);
	}
}

static void test_best_version_first_try(void **state)
{
	struct vmbus_client *c = new_client(0, false);
	uint8_t buf[VMBUS_MESSAGE_MAX_SIZE];
	struct vmbus_msg_version_response resp;
	struct vmbus_msg_initiate_contact m = {.header.msgtype = VMBUS_MSG_INITIATE_CONTACT,
					       .vmbus_version_requested = VMBUS_VERSION_WIN10_V5_3,
					       .target_vcpu = 1,
					       .interrupt_page_or_sint = VMBUS_MESSAGE_SINT};
	size_t len;

	assert_int_equal(vmbus_client_post(c, 4, &m, sizeof(m)), VMBUS_POST_OK);
	assert_int_equal(vmbus_client_expect(c, VMBUS_MSG_VERSION_RESPONSE, buf, &len, 5000), 0);
	/* Linux drops a VERSION_RESPONSE shorter than 16 bytes (channel_mgmt.c). */
	assert_int_equal(len, 16);
	memcpy(&resp, buf, sizeof(resp));
	assert_int_equal(resp.version_supported, 1);
	assert_int_equal(resp.connection_state, 0);
	assert_int_equal(resp.msg_conn_id, VMBUS_MESSAGE_CONNECTION_ID);
	/* The reply goes to the VP the guest named. */
	assert_int_equal(vmbus_client_last_msg_vp(c), 1);
	vmbus_client_free(c);
}

static void test_refused_versions(void **state)
{
	static const uint32_t bad[] = {VMBUS_VERSION(0, 13),
				       VMBUS_VERSION(1, 1),
				       VMBUS_VERSION(6, 0),
				       VMBUS_VERSION(5, 4),
				       0,
				       0xFFFFFFFF};
	struct vmbus_client *c = new_client(0, true);
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(vmbus_client_connect(c, bad[i]), 0);
	assert_int_equal(vmbus_server_version(vmbus_client_server(c)), 0);
	/* Then the guest's next try succeeds. */
	assert_int_equal(vmbus_client_connect(c, VMBUS_VERSION_WIN10), 1);
	vmbus_client_free(c);
}

static void test_max_version_cap(void **state)
{
	struct vmbus_client *c = new_client(VMBUS_VERSION_WIN10, false);
	unsigned i, tries = 0;

	/* Linux walks down its table until the host accepts. */
	for (i = 0; i < ARRAY_SIZE(linux_versions); i++) {
		tries++;
		if (vmbus_client_connect(c, linux_versions[i]) == 1)
			break;
	}
	assert_int_equal(tries, 6);
	assert_int_equal(vmbus_server_version(vmbus_client_server(c)), VMBUS_VERSION_WIN10);
	vmbus_client_free(c);
}

static void test_connection_id_rule(void **state)
{
	struct vmbus_client *c = new_client(0, true);
	uint8_t buf[VMBUS_MESSAGE_MAX_SIZE];
	struct vmbus_msg_version_response resp;
	struct vmbus_msg_initiate_contact m = {.header.msgtype = VMBUS_MSG_INITIATE_CONTACT,
					       .vmbus_version_requested = VMBUS_VERSION_WIN10_V5_2,
					       .interrupt_page_or_sint = VMBUS_MESSAGE_SINT};
	size_t len;

	/* 5.x on connection id 1, 4.0 on 4, a bad SINT, a bad VP: refused, answered. */
	assert_int_equal(vmbus_client_post(c, 1, &m, sizeof(m)), VMBUS_POST_OK);
	assert_int_equal(vmbus_client_expect(c, VMBUS_MSG_VERSION_RESPONSE, buf, &len, 5000), 0);
	memcpy(&resp, buf, sizeof(resp));
	assert_int_equal(resp.version_supported, 0);
	m.vmbus_version_requested = VMBUS_VERSION_WIN10;
	assert_int_equal(vmbus_client_post(c, 4, &m, sizeof(m)), VMBUS_POST_OK);
	assert_int_equal(vmbus_client_expect(c, VMBUS_MSG_VERSION_RESPONSE, buf, &len, 5000), 0);
	memcpy(&resp, buf, sizeof(resp));
	assert_int_equal(resp.version_supported, 0);
	m.vmbus_version_requested = VMBUS_VERSION_WIN10_V5;
	m.interrupt_page_or_sint = 3;
	assert_int_equal(vmbus_client_post(c, 4, &m, sizeof(m)), VMBUS_POST_OK);
	assert_int_equal(vmbus_client_expect(c, VMBUS_MSG_VERSION_RESPONSE, buf, &len, 5000), 0);
	memcpy(&resp, buf, sizeof(resp));
	assert_int_equal(resp.version_supported, 0);
	m.interrupt_page_or_sint = 2;
	m.target_vcpu = 7;
	assert_int_equal(vmbus_client_post(c, 4, &m, sizeof(m)), VMBUS_POST_OK);
	assert_int_equal(vmbus_client_expect(c, VMBUS_MSG_VERSION_RESPONSE, buf, &len, 5000), 0);
	memcpy(&resp, buf, sizeof(resp));
	assert_int_equal(resp.version_supported, 0);
	/* Other connection ids never reach the server. */
	assert_int_equal(vmbus_client_post(c, 2, &m, sizeof(m)), VMBUS_POST_INVALID);
	assert_int_equal(vmbus_client_post(c, 0x2001, &m, sizeof(m)), VMBUS_POST_INVALID);
	vmbus_client_free(c);
}

static void test_offers(void **state)
{
	struct vmbus_client *c = new_client(0, false);
	struct vmbus_msg_offer_channel offers[4];
	struct echo_vsp e1 = {0}, e2 = {0}, e3 = {0};
	struct vmbus_channel_params pipe = {
		.name = "pipe",
		.class_id = GUID_INIT(0x57164f39, 0x9115, 0x4e78, 0xab, 0x55, 0x38, 0x2f, 0x3b,
				      0xd5, 0x42, 0x2d),
		.pipe_message_mode = true,
	};
	struct guid hb;
	uint32_t mode;
	uint8_t buf[VMBUS_MESSAGE_MAX_SIZE];
	size_t len;
	int n;

	assert_int_equal(echo_vsp_add(vmbus_client_server(c), &e1, "one", 1), 0);
	assert_int_equal(vmbus_channel_new(vmbus_client_server(c), &pipe, &echo_ops, &e2, &e2.ch),
			 0);
	assert_int_equal(vmbus_channel_state(e1.ch), VMBUS_CHANNEL_UNOFFERED);
	assert_int_equal(vmbus_client_connect(c, VMBUS_VERSION_WIN10_V5_3), 1);
	n = vmbus_client_request_offers(c, offers, 4);
	assert_int_equal(n, 2);
	assert_int_equal(offers[0].child_relid, 1);
	assert_int_equal(offers[1].child_relid, 2);
	assert_int_equal(offers[0].connection_id, 0x2001);
	assert_int_equal(offers[1].connection_id, 0x2002);
	assert_int_equal(offers[0].monitorid, 0xFF);
	assert_int_equal(offers[0].monitor_flags & VMBUS_OFFER_MONITOR_ALLOCATED, 0);
	assert_int_equal(offers[0].interrupt_flags & VMBUS_OFFER_DEDICATED_INTERRUPT, 1);
	assert_int_equal(offers[0].offer.chn_flags, 0);
	assert_int_equal(offers[1].offer.chn_flags, VMBUS_OFFER_FLAG_NAMED_PIPE_MODE);
	memcpy(&mode, offers[1].offer.user_def, 4);
	assert_int_equal(mode, VMBUS_PIPE_TYPE_MESSAGE);
	/* Windows mixed-endian wire order: Linux's GUID_INIT layout. */
	assert_int_equal(guid_parse("57164f39-9115-4e78-ab55-382f3bd5422d", &hb), 0);
	assert_memory_equal(&offers[1].offer.if_type, &hb, 16);
	assert_int_equal(offers[1].offer.if_type.bytes[0], 0x39);
	assert_int_equal(offers[1].offer.if_type.bytes[3], 0x57);
	assert_int_equal(offers[1].offer.if_type.bytes[8], 0xab);
	assert_int_equal(vmbus_channel_state(e1.ch), VMBUS_CHANNEL_OFFERED);
	/* Hot add: offered at once, no ALLOFFERS_DELIVERED. */
	assert_int_equal(echo_vsp_add(vmbus_client_server(c), &e3, "three", 3), 0);
	assert_int_equal(vmbus_client_expect(c, VMBUS_MSG_OFFERCHANNEL, buf, &len, 5000), 0);
	memcpy(&offers[2], buf, sizeof(offers[2]));
	assert_int_equal(offers[2].child_relid, 3);
	assert_int_equal(vmbus_client_recv_msg(c, buf, &len, 50), -ETIMEDOUT);
	vmbus_client_free(c);
}

/* Connected client with one echo channel offered. */
static struct vmbus_client *connected(struct echo_vsp *e, struct vmbus_msg_offer_channel *offer,
				      bool manual)
{
	struct vmbus_client *c = new_client(0, manual);

	memset(e, 0, sizeof(*e));
	assert_int_equal(echo_vsp_add(vmbus_client_server(c), e, "echo", 1), 0);
	assert_int_equal(vmbus_client_connect(c, VMBUS_VERSION_WIN10_V5_2), 1);
	assert_int_equal(vmbus_client_request_offers(c, offer, 1), 1);
	return c;
}

static uint32_t created_status(struct vmbus_client *c, uint32_t *id)
{
	struct vmbus_msg_gpadl_created m;
	uint8_t buf[VMBUS_MESSAGE_MAX_SIZE];
	size_t len;

	assert_int_equal(vmbus_client_expect(c, VMBUS_MSG_GPADL_CREATED, buf, &len, 5000), 0);
	memcpy(&m, buf, sizeof(m));
	if (id)
		*id = m.gpadl;
	return m.creation_status;
}

static void test_gpadl_multi_message(void **state)
{
	struct vmbus_msg_offer_channel offer;
	struct echo_vsp e;
	struct vmbus_client *c = connected(&e, &offer, false);
	uint64_t gpa = vmbus_client_alloc(c, 1000);
	uint32_t id, id2;

	/* 1000 pages: a header with 26 PFNs and 35 bodies of 28. */
	assert_int_equal(vmbus_client_gpadl_create(c, 1, gpa, 1000, &id), 0);
	assert_int_equal(vmbus_client_gpadl_create(c, 1, gpa, 26, &id2), 0);
	assert_int_equal(vmbus_client_gpadl_create(c, 1, gpa, 27, &id2), 0);
	assert_int_equal(vmbus_client_gpadl_teardown(c, 1, id, true), 0);
	assert_int_equal(vmbus_client_gpadl_teardown(c, 1, id2, true), 0);
	vmbus_client_free(c);
}

/* Posts a one-range GPADL_HEADER with the given fields and PFNs. */
static void post_header(struct vmbus_client *c, uint32_t relid, uint32_t id, uint16_t buflen,
			uint16_t rangecount, uint32_t byte_count, uint32_t byte_offset,
			const uint64_t *pfns, unsigned npfns)
{
	uint8_t buf[VMBUS_MESSAGE_MAX_SIZE];
	struct vmbus_msg_gpadl_header h = {.header.msgtype = VMBUS_MSG_GPADL_HEADER,
					   .child_relid = relid,
					   .gpadl = id,
					   .range_buflen = buflen,
					   .rangecount = rangecount};
	struct vmbus_gpa_range r = {.byte_count = byte_count, .byte_offset = byte_offset};

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), &r, sizeof(r));
	memcpy(buf + sizeof(h) + sizeof(r), pfns, npfns * 8);
	assert_int_equal(vmbus_client_post(c, 1, buf, sizeof(h) + sizeof(r) + npfns * 8),
			 VMBUS_POST_OK);
}

static void test_gpadl_bad(void **state)
{
	struct vmbus_msg_offer_channel offer;
	struct echo_vsp e;
	struct vmbus_client *c = connected(&e, &offer, true);
	struct vmbus_server_stats st;
	uint64_t ok = vmbus_client_alloc(c, 2) / 4096;
	uint64_t pfns[2] = {ok, ok + 1};
	uint64_t beyond[1] = {(64 * MiB) / 4096};	/* just past RAM */
	uint64_t hole[1] = {PC_MMIO_HOLE_START / 4096}; /* MMIO */
	uint64_t huge[1] = {UINT64_C(1) << 60};
	uint32_t id;
	uint8_t buf[VMBUS_MESSAGE_MAX_SIZE];
	size_t len;

	/* rangecount 0 */
	post_header(c, 1, 0x100, 16, 0, 4096, 0, pfns, 1);
	assert_int_not_equal(created_status(c, &id), 0);
	assert_int_equal(id, 0x100);
	/* range_buflen smaller than one range with one PFN */
	post_header(c, 1, 0x101, 8, 1, 4096, 0, pfns, 0);
	assert_int_not_equal(created_status(c, NULL), 0);
	/* byte_count says 2 pages, the description holds 1 */
	post_header(c, 1, 0x102, 16, 1, 8192, 0, pfns, 1);
	assert_int_not_equal(created_status(c, NULL), 0);
	/* byte_count says 1 page, the description holds 2 */
	post_header(c, 1, 0x103, 24, 1, 4096, 0, pfns, 2);
	assert_int_not_equal(created_status(c, NULL), 0);
	/* byte_offset past the first page; byte_count 0 */
	post_header(c, 1, 0x104, 16, 1, 100, 4096, pfns, 1);
	assert_int_not_equal(created_status(c, NULL), 0);
	post_header(c, 1, 0x105, 16, 1, 0, 0, pfns, 1);
	assert_int_not_equal(created_status(c, NULL), 0);
	/* PFNs beyond RAM, in the MMIO hole, absurd */
	post_header(c, 1, 0x106, 16, 1, 4096, 0, beyond, 1);
	assert_int_not_equal(created_status(c, NULL), 0);
	post_header(c, 1, 0x107, 16, 1, 4096, 0, hole, 1);
	assert_int_not_equal(created_status(c, NULL), 0);
	post_header(c, 1, 0x108, 16, 1, 4096, 0, huge, 1);
	assert_int_not_equal(created_status(c, NULL), 0);
	/* more PFNs in the message than range_buflen announces */
	post_header(c, 1, 0x109, 16, 1, 4096, 0, pfns, 2);
	assert_int_not_equal(created_status(c, NULL), 0);
	/* unknown channel */
	post_header(c, 9, 0x10A, 16, 1, 4096, 0, pfns, 1);
	assert_int_not_equal(created_status(c, NULL), 0);
	/* a good one, then the same handle again */
	post_header(c, 1, 0x10B, 16, 1, 4096, 0, pfns, 1);
	assert_int_equal(created_status(c, NULL), 0);
	post_header(c, 1, 0x10B, 16, 1, 4096, 0, pfns, 1);
	assert_int_not_equal(created_status(c, NULL), 0);
	assert_int_equal(vmbus_client_gpadl_teardown(c, 1, 0x10B, true), 0);
	/* a body for nothing: ignored, no answer */
	{
		struct vmbus_msg_gpadl_body b = {.header.msgtype = VMBUS_MSG_GPADL_BODY,
						 .gpadl = 0x999};

		memcpy(buf, &b, sizeof(b));
		memcpy(buf + sizeof(b), pfns, 8);
		assert_int_equal(vmbus_client_post(c, 1, buf, sizeof(b) + 8), VMBUS_POST_OK);
	}
	/* a body with more PFNs than remain */
	post_header(c, 1, 0x10C, 24, 1, 8192, 0, pfns, 1);
	{
		struct vmbus_msg_gpadl_body b = {.header.msgtype = VMBUS_MSG_GPADL_BODY,
						 .gpadl = 0x10C};

		memcpy(buf, &b, sizeof(b));
		memcpy(buf + sizeof(b), pfns, 16);
		assert_int_equal(vmbus_client_post(c, 1, buf, sizeof(b) + 16), VMBUS_POST_OK);
	}
	assert_int_not_equal(created_status(c, NULL), 0);
	/* teardown of an unknown GPADL: no answer */
	assert_int_equal(vmbus_client_gpadl_teardown(c, 1, 0x777, false), 0);
	assert_int_equal(vmbus_client_recv_msg(c, buf, &len, 20), -ETIMEDOUT);
	vmbus_server_get_stats(vmbus_client_server(c), &st);
	assert_true(st.gpadl_errors >= 12);
	assert_true(st.bad_messages >= 14);
	assert_true(log_lines >= 1);
	vmbus_client_free(c);
}

static void test_gpadl_limit(void **state)
{
	struct vmbus_msg_offer_channel offer;
	struct echo_vsp e;
	struct vmbus_client *c = connected(&e, &offer, true);
	uint64_t gpa = vmbus_client_alloc(c, 1);
	uint32_t id;
	unsigned i;

	for (i = 0; i < 256; i++)
		assert_int_equal(vmbus_client_gpadl_create(c, 1, gpa, 1, &id), 0);
	assert_int_not_equal(vmbus_client_gpadl_create(c, 1, gpa, 1, &id), 0);
	assert_int_equal(vmbus_client_gpadl_teardown(c, 1, id - 1, true), 0);
	assert_int_equal(vmbus_client_gpadl_create(c, 1, gpa, 1, &id), 0);
	vmbus_client_free(c);
}

static void test_unload_and_reconnect(void **state)
{
	struct vmbus_msg_offer_channel offer;
	struct vmbus_client_channel *ch;
	struct echo_vsp e;
	struct vmbus_client *c = connected(&e, &offer, false);
	struct vmbus_packet_desc d;
	uint8_t data[64];
	size_t len;
	unsigned round;

	for (round = 0; round < 3; round++) {
		assert_int_equal(vmbus_client_open(c, &offer, 2, 2, 0, &ch), 0);
		assert_int_equal(vmbus_client_send(ch, VMBUS_PKT_DATA_INBAND, 0, 7, "hello", 5), 0);
		len = sizeof(data);
		assert_int_equal(vmbus_client_recv_wait(ch, &d, data, &len, 5000), 0);
		assert_int_equal(len, 8);
		assert_memory_equal(data, "hello", 5);
		/* kexec / crash: UNLOAD with the channel still open. */
		assert_int_equal(vmbus_client_unload(c), 0);
		vmbus_client_channel_forget(ch);
		assert_int_equal(atomic_load(&e.closes), (int)round + 1);
		assert_int_equal(vmbus_channel_state(e.ch), VMBUS_CHANNEL_UNOFFERED);
		assert_int_equal(vmbus_server_version(vmbus_client_server(c)), 0);
		assert_int_equal(vmbus_client_connect(c, VMBUS_VERSION_WIN10_V5_3), 1);
		assert_int_equal(vmbus_client_request_offers(c, &offer, 1), 1);
		assert_int_equal(offer.child_relid, 1);
	}
	/* A second INITIATE_CONTACT without UNLOAD also starts over. */
	assert_int_equal(vmbus_client_open(c, &offer, 2, 2, 0, &ch), 0);
	assert_int_equal(vmbus_client_connect(c, VMBUS_VERSION_WIN10_V5_3), 1);
	vmbus_client_channel_forget(ch);
	assert_true(WAIT_FOR(atomic_load(&e.closes) == 4));
	assert_int_equal(vmbus_client_request_offers(c, &offer, 1), 1);
	vmbus_client_free(c);
}

/*
 * Issue 12, item 5: 20,000 INITIATE_CONTACT while connected (each one a
 * reconnect, logged) and 20,000 messages of an unknown type wrote a line
 * each. Every guest-triggered line goes through the server's
 * guest_error_log: at most its burst (10) per 5 s window, whatever the
 * guest sends, and the errors are still all counted.
 */
static void test_log_flood(void **state)
{
	struct vmbus_client *c = new_client(0, true);
	struct vmbus_msg_initiate_contact m = {.header.msgtype = VMBUS_MSG_INITIATE_CONTACT,
					       .vmbus_version_requested = VMBUS_VERSION_WIN10_V5_3,
					       .interrupt_page_or_sint = VMBUS_MESSAGE_SINT};
	struct vmbus_msg_header bad = {.msgtype = 0x7777};
	uint8_t buf[VMBUS_MESSAGE_MAX_SIZE];
	struct vmbus_server_stats st;
	uint64_t start = time_monotonic_ns(), windows;
	size_t len;

	m.monitor_page1 = vmbus_client_alloc(c, 1);
	m.monitor_page2 = vmbus_client_alloc(c, 1);
	assert_int_equal(vmbus_client_connect(c, VMBUS_VERSION_WIN10_V5_3), 1);
	log_lines = 0;
	for (unsigned i = 0; i < 20000; i++) {
		assert_int_equal(vmbus_client_post(c, VMBUS_MESSAGE_CONNECTION_ID_4, &m, sizeof(m)),
				 VMBUS_POST_OK);
		assert_int_equal(
			vmbus_client_post(c, VMBUS_MESSAGE_CONNECTION_ID_4, &bad, sizeof(bad)),
			VMBUS_POST_OK);
		while (vmbus_client_pending_msgs(c))
			assert_int_equal(vmbus_client_recv_msg(c, buf, &len, 0), 0);
	}
	windows = (time_monotonic_ns() - start) / 5000000000u + 1;
	if (log_lines > 10 * windows)
		fail_msg("%u log lines for 40,000 guest messages in %llu windows", log_lines,
			 (unsigned long long)windows);
	vmbus_server_get_stats(vmbus_client_server(c), &st);
	assert_true(st.bad_messages >= 20000);
	assert_int_equal(vmbus_server_version(vmbus_client_server(c)), VMBUS_VERSION_WIN10_V5_3);
	vmbus_client_free(c);
}

static void test_rescind(void **state)
{
	struct vmbus_msg_offer_channel offer;
	struct vmbus_client_channel *ch;
	struct echo_vsp e, e2 = {0}, e3 = {0};
	struct vmbus_client *c = connected(&e, &offer, false);
	struct vmbus_server_stats st, st2;
	struct vmbus_msg_relid m;
	uint8_t buf[VMBUS_MESSAGE_MAX_SIZE];
	size_t len;

	assert_int_equal(vmbus_client_open(c, &offer, 2, 2, 0, &ch), 0);
	/* Hot remove while open: the VSP's close runs, the guest gets RESCIND. */
	vmbus_channel_free(e.ch);
	assert_int_equal(atomic_load(&e.closes), 1);
	assert_int_equal(vmbus_client_expect(c, VMBUS_MSG_RESCIND_CHANNELOFFER, buf, &len, 5000),
			 0);
	memcpy(&m, buf, sizeof(m));
	assert_int_equal(m.child_relid, 1);
	/* The relid is not reused before the guest releases it. */
	assert_int_equal(echo_vsp_add(vmbus_client_server(c), &e2, "two", 2), 0);
	assert_int_equal(vmbus_client_expect(c, VMBUS_MSG_OFFERCHANNEL, buf, &len, 5000), 0);
	assert_int_equal(vmbus_channel_relid(e2.ch), 2);
	/* Guest: tears down the ring GPADL (no close for a rescinded channel), releases. */
	assert_int_equal(vmbus_client_gpadl_teardown(c, 1, vmbus_client_channel_gpadl(ch), true),
			 0);
	vmbus_client_channel_forget(ch);
	/* A late CLOSECHANNEL of the rescinded channel is no mistake; it is not reopened. */
	vmbus_server_get_stats(vmbus_client_server(c), &st);
	m.header.msgtype = VMBUS_MSG_CLOSECHANNEL;
	assert_int_equal(vmbus_client_post(c, 1, &m, sizeof(m)), VMBUS_POST_OK);
	assert_true(WAIT_FOR((vmbus_server_get_stats(vmbus_client_server(c), &st2),
			      st2.messages == st.messages + 1)));
	assert_int_equal(st2.bad_messages, st.bad_messages);
	/* Nor does it take new GPADLs. */
	assert_int_equal(vmbus_client_open(c, &offer, 2, 2, 0, &ch) == 0, 0);
	/* Its signals reach nobody. */
	vmbus_server_handle_signal(vmbus_client_server(c), VMBUS_CHANNEL_CONNECTION_BASE + 1);
	vmbus_server_get_stats(vmbus_client_server(c), &st2);
	assert_int_equal(st2.signals_unknown, st.signals_unknown + 1);
	m.header.msgtype = VMBUS_MSG_RELID_RELEASED;
	assert_int_equal(vmbus_client_post(c, 1, &m, sizeof(m)), VMBUS_POST_OK);
	assert_true(WAIT_FOR(vmbus_client_pending_msgs(c) == 0));
	usleep(20000);
	assert_int_equal(echo_vsp_add(vmbus_client_server(c), &e3, "three", 3), 0);
	assert_int_equal(vmbus_channel_relid(e3.ch), 1);
	assert_int_equal(vmbus_client_expect(c, VMBUS_MSG_OFFERCHANNEL, buf, &len, 5000), 0);
	/* A second release of a relid that is in use again is the guest's mistake. */
	vmbus_server_get_stats(vmbus_client_server(c), &st);
	assert_int_equal(vmbus_client_post(c, 1, &m, sizeof(m)), VMBUS_POST_OK);
	assert_true(WAIT_FOR((vmbus_server_get_stats(vmbus_client_server(c), &st2),
			      st2.bad_messages == st.bad_messages + 1)));
	/* Rescinded and never released: the server frees it with itself (ASan: no leak). */
	vmbus_channel_free(e2.ch);
	assert_int_equal(vmbus_client_expect(c, VMBUS_MSG_RESCIND_CHANNELOFFER, buf, &len, 5000),
			 0);
	vmbus_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_every_linux_version, setup_quiet),
		cmocka_unit_test_setup(test_best_version_first_try, setup_quiet),
		cmocka_unit_test_setup(test_refused_versions, setup_quiet),
		cmocka_unit_test_setup(test_max_version_cap, setup_quiet),
		cmocka_unit_test_setup(test_connection_id_rule, setup_quiet),
		cmocka_unit_test_setup(test_offers, setup_quiet),
		cmocka_unit_test_setup(test_gpadl_multi_message, setup_quiet),
		cmocka_unit_test_setup(test_gpadl_bad, setup_quiet),
		cmocka_unit_test_setup(test_gpadl_limit, setup_quiet),
		cmocka_unit_test_setup(test_unload_and_reconnect, setup_quiet),
		cmocka_unit_test_setup(test_rescind, setup_quiet),
		cmocka_unit_test_setup(test_log_flood, setup_quiet),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

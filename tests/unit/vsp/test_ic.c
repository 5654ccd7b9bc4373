/*
 * The integration services against a guest played by the test: the
 * guest-side client opens each IC channel and answers as Linux's hv_utils
 * does (version choice per hv_util.c and hv_kvp.c, answers in the same
 * buffer with the response flag), so each IC's host side is checked
 * without booting a kernel.
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
#include "hvdef/ic_proto.h"
#include "vmbus_client.h"
#include "vsp/ic/heartbeat.h"
#include "vsp/ic/kvp.h"
#include "vsp/ic/shutdown.h"
#include "vsp/ic/timesync.h"
#include "test_util.h"

static void quiet(void *opaque, enum log_level level, const char *line)
{
}

/* What the played guest supports, newest first (Linux 6.1 hv_util.c / hv_kvp.c). */
static const uint32_t fw_guest[] = {IC_VERSION(3, 0), IC_VERSION(1, 0)};

struct guest_ic {
	struct vmbus_client_channel *ch;
	const uint32_t *versions;
	unsigned nversions;
	uint32_t chosen;
	bool refuse_versions;
	uint8_t last[8192]; /* the last non-negotiate request */
	size_t last_len;
	unsigned requests;
};

static bool listed(const uint8_t *vers, unsigned n, uint32_t v)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		struct ic_version x;

		memcpy(&x, vers + 4 * i, 4);
		if (IC_VERSION(x.major, x.minor) == v)
			return true;
	}
	return false;
}

/* Answers one host packet like hv_utils; the body is modified by fn for non-negotiate messages. */
static int guest_serve(struct guest_ic *g,
		       void (*fn)(struct guest_ic *, struct ic_msg_header *, uint8_t *, size_t),
		       unsigned timeout_ms)
{
	struct vmbus_packet_desc d;
	uint8_t buf[8192];
	struct ic_msg_header h;
	size_t len = sizeof(buf);
	int r = vmbus_client_recv_wait(g->ch, &d, buf, &len, timeout_ms);

	if (r < 0)
		return r;
	assert_true(len >= IC_PREFIX_SIZE);
	memcpy(&h, buf + 8, sizeof(h));
	assert_true(h.icflags & IC_FLAG_REQUEST);
	if (h.icmsgtype == IC_MSGTYPE_NEGOTIATE) {
		struct ic_negotiate n;
		const uint8_t *vers = buf + IC_PREFIX_SIZE + sizeof(n);
		uint32_t fw = 0, msg = 0;
		unsigned i;

		memcpy(&n, buf + IC_PREFIX_SIZE, sizeof(n));
		for (i = 0; i < 2 && !fw; i++)
			if (listed(vers, n.icframe_vercnt, fw_guest[i]))
				fw = fw_guest[i];
		for (i = 0; i < g->nversions && !msg; i++)
			if (listed(vers + 4 * n.icframe_vercnt, n.icmsg_vercnt, g->versions[i]))
				msg = g->versions[i];
		n.icframe_vercnt = n.icmsg_vercnt = (fw && msg && !g->refuse_versions) ? 1 : 0;
		memcpy(buf + IC_PREFIX_SIZE, &n, sizeof(n));
		memcpy(buf + IC_PREFIX_SIZE + 8, &(struct ic_version){fw >> 16, fw & 0xFFFF}, 4);
		memcpy(buf + IC_PREFIX_SIZE + 12, &(struct ic_version){msg >> 16, msg & 0xFFFF}, 4);
		h.icmsgsize = 16;
		g->chosen = msg;
	} else {
		g->requests++;
		memcpy(g->last, buf, len);
		g->last_len = len;
		if (fn)
			fn(g, &h, buf + IC_PREFIX_SIZE, len - IC_PREFIX_SIZE);
	}
	h.icflags = IC_FLAG_TRANSACTION | IC_FLAG_RESPONSE;
	memcpy(buf + 8, &h, sizeof(h));
	return vmbus_client_send(g->ch, VMBUS_PKT_DATA_INBAND, 0, d.trans_id, buf, len);
}

static void open_ic(struct vmbus_client *c, const char *class_guid, struct guest_ic *g)
{
	struct vmbus_msg_offer_channel offers[8];
	struct guid want;
	int n, i;

	assert_int_equal(guid_parse(class_guid, &want), 0);
	assert_int_equal(vmbus_client_connect(c, VMBUS_VERSION_WIN10_V5_2), 1);
	n = vmbus_client_request_offers(c, offers, 8);
	assert_true(n >= 1);
	for (i = 0; i < n; i++)
		if (guid_equal(&offers[i].offer.if_type, &want))
			break;
	assert_true(i < n);
	/* The IC channels are message pipes (OpenVMM's ChannelType::Pipe{message_mode}). */
	assert_int_equal(offers[i].offer.chn_flags & VMBUS_OFFER_FLAG_NAMED_PIPE_MODE,
			 VMBUS_OFFER_FLAG_NAMED_PIPE_MODE);
	/* hv_util.c rings: 3 pages + header each way. */
	assert_int_equal(vmbus_client_open(c, &offers[i], 4, 4, 0, &g->ch), 0);
}

static struct vmbus_client *client(void)
{
	struct vmbus_client_config cfg = {0};
	struct vmbus_client *c;

	log_set_sink(quiet, NULL);
	assert_int_equal(vmbus_client_new(&cfg, &c), 0);
	return c;
}

static void hb_answer(struct guest_ic *g, struct ic_msg_header *h, uint8_t *body, size_t len)
{
	uint64_t seq;

	memcpy(&seq, body, 8);
	seq++;
	memcpy(body, &seq, 8);
}

static void hb_wrong(struct guest_ic *g, struct ic_msg_header *h, uint8_t *body, size_t len)
{
	memset(body, 0x77, 8);
}

static void test_heartbeat(void **state)
{
	static const uint32_t hb_guest[] = {IC_VERSION(3, 0), IC_VERSION(1, 0)};
	struct vmbus_client *c = client();
	struct guest_ic g = {.versions = hb_guest, .nversions = 2};
	struct ic_heartbeat *hb;
	struct ic_heartbeat_status st;
	unsigned i;

	assert_int_equal(ic_heartbeat_new(vmbus_client_server(c), 20000000, &hb), 0);
	ic_heartbeat_get_status(hb, &st);
	assert_string_equal(st.state, "closed");
	assert_false(st.alive);
	open_ic(c, IC_HEARTBEAT_CLASS_GUID, &g);
	assert_int_equal(guest_serve(&g, NULL, 5000), 0);
	assert_int_equal(g.chosen, IC_VERSION(3, 0));
	for (i = 0; i < 5; i++)
		assert_int_equal(guest_serve(&g, hb_answer, 5000), 0);
	assert_true(WAIT_FOR((ic_heartbeat_get_status(hb, &st), st.answers == 5)));
	assert_true(st.alive);
	assert_string_equal(st.state, "ready");
	assert_int_equal(st.version, IC_VERSION(3, 0));
	assert_true(st.first_ns && st.first_ns <= st.last_ns);
	assert_int_equal(guest_serve(&g, hb_wrong, 5000), 0);
	assert_true(WAIT_FOR((ic_heartbeat_get_status(hb, &st), st.wrong_answers == 1)));
	/* The guest stops answering: not alive after 3 periods. */
	usleep(100000);
	ic_heartbeat_get_status(hb, &st);
	assert_false(st.alive);
	ic_heartbeat_free(hb);
	vmbus_client_channel_forget(g.ch);
	vmbus_client_free(c);
}

static uint32_t sd_status = IC_STATUS_OK;

static void sd_answer(struct guest_ic *g, struct ic_msg_header *h, uint8_t *body, size_t len)
{
	h->status = sd_status;
}

static void test_shutdown(void **state)
{
	static const uint32_t sd_guest[] = {IC_VERSION(3, 2), IC_VERSION(3, 1), IC_VERSION(3, 0),
					    IC_VERSION(1, 0)};
	struct vmbus_client *c = client();
	struct guest_ic g = {.versions = sd_guest, .nversions = 4};
	struct ic_shutdown *sd;
	struct ic_shutdown_status st;
	struct ic_shutdown_msg m;
	struct ic_msg_header h;

	assert_int_equal(ic_shutdown_new(vmbus_client_server(c), &sd), 0);
	assert_int_equal(ic_shutdown_request(sd, IC_SHUTDOWN_POWER_OFF, true, "x"), -ENOTCONN);
	open_ic(c, IC_SHUTDOWN_CLASS_GUID, &g);
	assert_int_equal(guest_serve(&g, NULL, 5000), 0);
	assert_int_equal(g.chosen, IC_VERSION(3, 2));
	assert_true(WAIT_FOR(ic_shutdown_ready(sd)));
	assert_int_equal(ic_shutdown_request(sd, IC_SHUTDOWN_POWER_OFF, true, "maintenance é"), 0);
	assert_int_equal(ic_shutdown_request(sd, IC_SHUTDOWN_RESTART, false, "y"), -EBUSY);
	assert_int_equal(guest_serve(&g, sd_answer, 5000), 0);
	memcpy(&h, g.last + 8, sizeof(h));
	assert_int_equal(h.icmsgtype, IC_MSGTYPE_SHUTDOWN);
	assert_int_equal(h.icvermsg.major, 3);
	assert_int_equal(h.icvermsg.minor, 2);
	/* Linux needs ICMSG_HDR + sizeof(struct shutdown_msg_data) bytes. */
	assert_true(g.last_len >= IC_PREFIX_SIZE + sizeof(m));
	memcpy(&m, g.last + IC_PREFIX_SIZE, sizeof(m));
	assert_int_equal(m.flags, IC_SHUTDOWN_FLAG_FORCE);
	assert_int_equal(m.reason_code, IC_SHUTDOWN_REASON_PLANNED);
	assert_memory_equal(m.display_message, "m\0a\0i\0n\0", 8);
	assert_int_equal(m.display_message[24], 0xE9); /* é as UTF-16LE */
	assert_int_equal(m.display_message[25], 0x00);
	assert_true(WAIT_FOR((ic_shutdown_get_status(sd, &st), st.accepted == 1)));
	assert_false(st.pending);
	/* Restart, refused by the guest. */
	sd_status = IC_STATUS_FAIL;
	assert_int_equal(ic_shutdown_request(sd, IC_SHUTDOWN_RESTART, false, NULL), 0);
	assert_int_equal(guest_serve(&g, sd_answer, 5000), 0);
	memcpy(&m, g.last + IC_PREFIX_SIZE, sizeof(m));
	assert_int_equal(m.flags, IC_SHUTDOWN_FLAG_RESTART);
	assert_true(WAIT_FOR((ic_shutdown_get_status(sd, &st), st.refused == 1)));
	assert_int_equal(st.last_status, IC_STATUS_FAIL);
	sd_status = IC_STATUS_OK;
	ic_shutdown_free(sd);
	vmbus_client_channel_forget(g.ch);
	vmbus_client_free(c);
}

static uint64_t fake_now_ns(void *opaque)
{
	return UINT64_C(1700000000) * 1000000000u; /* 2023-11-14T22:13:20Z */
}

static void test_timesync(void **state)
{
	/* What Linux offers (hv_util.c ts_versions): the host picks 3.0, the highest it has. */
	static const uint32_t ts_guest[] = {IC_VERSION(4, 0), IC_VERSION(3, 0), IC_VERSION(1, 0)};
	struct vmbus_client *c = client();
	struct guest_ic g = {.versions = ts_guest, .nversions = 3};
	struct ic_timesync_config cfg = {.sample_period_ns = 30000000, .host_time_ns = fake_now_ns};
	struct ic_timesync *ts;
	struct ic_timesync_status st;
	struct ic_timesync_msg m;
	uint64_t want = UINT64_C(17000000000000000) + IC_TIME_UNIX_EPOCH_100NS;

	assert_int_equal(ic_timesync_new(vmbus_client_server(c), &cfg, &ts), 0);
	open_ic(c, IC_TIMESYNC_CLASS_GUID, &g);
	assert_int_equal(guest_serve(&g, NULL, 5000), 0);
	assert_int_equal(g.chosen, IC_VERSION(3, 0));
	assert_int_equal(guest_serve(&g, NULL, 5000), 0);
	memcpy(&m, g.last + IC_PREFIX_SIZE, sizeof(m));
	assert_int_equal(m.flags, IC_TIMESYNC_FLAG_SYNC);
	assert_int_equal(m.parenttime, want);
	/* Then samples, one per period. */
	assert_int_equal(guest_serve(&g, NULL, 5000), 0);
	assert_int_equal(g.last[IC_PREFIX_SIZE + 24], IC_TIMESYNC_FLAG_SAMPLE);
	/* After a pause the host asks for a hard sync again. */
	ic_timesync_sync_now(ts);
	assert_int_equal(guest_serve(&g, NULL, 5000), 0);
	assert_int_equal(g.last[IC_PREFIX_SIZE + 24], IC_TIMESYNC_FLAG_SYNC);
	assert_true(WAIT_FOR((ic_timesync_get_status(ts, &st), st.answers >= 3)));
	assert_int_equal(st.syncs, 2);
	assert_int_equal(st.version, IC_VERSION(3, 0));
	ic_timesync_free(ts);
	vmbus_client_channel_forget(g.ch);
	vmbus_client_free(c);
}

static void put_utf16(uint8_t *dst, const char *s, uint32_t *size)
{
	uint32_t i;

	for (i = 0; s[i]; i++) {
		dst[2 * i] = (uint8_t)s[i];
		dst[2 * i + 1] = 0;
	}
	dst[2 * i] = dst[2 * i + 1] = 0;
	*size = 2 * (i + 1);
}

/* The guest's daemon: two intrinsic items, one guest item, then "no more". */
static void kvp_answer(struct guest_ic *g, struct ic_msg_header *h, uint8_t *body, size_t len)
{
	static const char *autos[][2] = {{"FullyQualifiedDomainName", "guest1"},
					 {"OSName", "Debian GNU/Linux"}};
	struct ic_kvp_msg m;

	assert_true(len >= sizeof(m));
	memcpy(&m, body, sizeof(m));
	if (m.operation == IC_KVP_OP_ENUMERATE) {
		uint32_t i = m.body.enumerate.index;
		struct ic_kvp_value *v = &m.body.enumerate.value;

		if (m.pool == IC_KVP_POOL_AUTO && i < 2) {
			put_utf16(v->key, autos[i][0], &v->key_size);
			put_utf16(v->value, autos[i][1], &v->value_size);
			v->value_type = IC_KVP_REG_SZ;
		} else if (m.pool == IC_KVP_POOL_GUEST && i == 0) {
			put_utf16(v->key, "app", &v->key_size);
			v->value_type = IC_KVP_REG_U32;
			v->value_size = 4;
			memcpy(v->value, &(uint32_t){42}, 4);
		} else {
			h->status = IC_STATUS_NO_MORE_ITEMS;
		}
	}
	memcpy(body, &m, sizeof(m));
}

static void test_kvp(void **state)
{
	static const uint32_t kvp_guest[] = {IC_VERSION(4, 0), IC_VERSION(3, 0), IC_VERSION(1, 0)};
	struct vmbus_client *c = client();
	struct guest_ic g = {.versions = kvp_guest, .nversions = 3};
	static struct ic_kvp_item items[8];
	struct ic_kvp_status st;
	struct ic_kvp_msg m;
	struct ic_kvp *kvp;
	char big[2000];
	unsigned n, i;

	assert_int_equal(ic_kvp_new(vmbus_client_server(c), 0, &kvp), 0);
	assert_int_equal(ic_kvp_set(kvp, IC_KVP_POOL_EXTERNAL, "HostName", "parvis-host"), 0);
	open_ic(c, IC_KVP_CLASS_GUID, &g);
	assert_int_equal(guest_serve(&g, NULL, 5000), 0);
	assert_int_equal(g.chosen, IC_VERSION(4, 0));
	/* The queued SET goes first. */
	assert_int_equal(guest_serve(&g, kvp_answer, 5000), 0);
	memcpy(&m, g.last + IC_PREFIX_SIZE, sizeof(m));
	assert_int_equal(g.last_len, ALIGN_UP(IC_PREFIX_SIZE + sizeof(m), 8));
	assert_int_equal(m.operation, IC_KVP_OP_SET);
	assert_int_equal(m.pool, IC_KVP_POOL_EXTERNAL);
	assert_int_equal(m.body.value.key_size, 18);
	assert_memory_equal(m.body.value.key, "H\0o\0s\0t\0N\0a\0m\0e\0\0\0", 18);
	assert_int_equal(m.body.value.value_size, 24);
	assert_int_equal(m.body.value.value_type, IC_KVP_REG_SZ);
	/* Then the enumeration: AUTO 0, 1, 2 (end), GUEST 0, 1 (end). */
	for (i = 0; i < 5; i++)
		assert_int_equal(guest_serve(&g, kvp_answer, 5000), 0);
	assert_true(WAIT_FOR((ic_kvp_get_status(kvp, &st), st.refreshes == 1)));
	assert_int_equal(st.sets, 1);
	n = ic_kvp_get_items(kvp, items, 8);
	assert_int_equal(n, 3);
	assert_string_equal(items[0].key, "FullyQualifiedDomainName");
	assert_string_equal(items[0].value, "guest1");
	assert_int_equal(items[1].pool, IC_KVP_POOL_AUTO);
	assert_string_equal(items[1].value, "Debian GNU/Linux");
	assert_int_equal(items[2].pool, IC_KVP_POOL_GUEST);
	assert_string_equal(items[2].key, "app");
	assert_string_equal(items[2].value, "42");
	/* Limits: a key longer than 255 UTF-16 units, a bad pool. */
	memset(big, 'k', sizeof(big));
	big[300] = 0;
	assert_int_equal(ic_kvp_set(kvp, IC_KVP_POOL_EXTERNAL, big, "v"), -EINVAL);
	assert_int_equal(ic_kvp_set(kvp, 9, "k", "v"), -EINVAL);
	assert_int_equal(ic_kvp_set(kvp, IC_KVP_POOL_EXTERNAL, "", "v"), -EINVAL);
	ic_kvp_free(kvp);
	vmbus_client_channel_forget(g.ch);
	vmbus_client_free(c);
}

/*
 * A hostile guest's enumeration answers (issue 12, item 8): control characters and bidi
 * overrides in keys and values, a key with no NUL filling its field and a key_size far past
 * it, a value with no NUL. What reaches get-vmintegrationservice is bounded by the wire
 * sizes and carries no control character.
 */
static void kvp_hostile(struct guest_ic *g, struct ic_msg_header *h, uint8_t *body, size_t len)
{
	struct ic_kvp_msg m;
	struct ic_kvp_value *v = &m.body.enumerate.value;
	uint32_t i;

	memcpy(&m, body, sizeof(m));
	if (m.operation == IC_KVP_OP_ENUMERATE && m.pool == IC_KVP_POOL_AUTO &&
	    m.body.enumerate.index < 2) {
		v->value_type = IC_KVP_REG_SZ;
		if (m.body.enumerate.index == 0) {
			put_utf16(v->key, "\x1b[2Jname\r", &v->key_size);
			put_utf16(v->value, "v\x07\x7f", &v->value_size);
			v->value[6] = 0x2E; /* U+202E RIGHT-TO-LEFT OVERRIDE */
			v->value[7] = 0x20;
			v->value[8] = 'x';
			v->value[9] = 0;
			v->value[10] = v->value[11] = 0;
			v->value_size = 12;
		} else {
			for (i = 0; i < IC_KVP_MAX_KEY_SIZE; i += 2) {
				v->key[i] = 'A';
				v->key[i + 1] = 0;
			}
			v->key_size = UINT32_MAX;
			for (i = 0; i < IC_KVP_MAX_VALUE_SIZE; i += 2) {
				v->value[i] = 0x85; /* U+0085 NEXT LINE, a C1 control */
				v->value[i + 1] = 0;
			}
			v->value_size = UINT32_MAX;
		}
	} else if (m.operation == IC_KVP_OP_ENUMERATE) {
		h->status = IC_STATUS_NO_MORE_ITEMS;
	}
	memcpy(body, &m, sizeof(m));
}

static void test_kvp_hostile_strings(void **state)
{
	static const uint32_t kvp_guest[] = {IC_VERSION(4, 0)};
	struct vmbus_client *c = client();
	struct guest_ic g = {.versions = kvp_guest, .nversions = 1};
	static struct ic_kvp_item items[8];
	struct ic_kvp_status st;
	struct ic_kvp *kvp;
	unsigned n, i;

	assert_int_equal(ic_kvp_new(vmbus_client_server(c), 0, &kvp), 0);
	open_ic(c, IC_KVP_CLASS_GUID, &g);
	assert_int_equal(guest_serve(&g, NULL, 5000), 0);
	/* AUTO 0, 1, 2 (end), GUEST 0 (end). */
	for (i = 0; i < 4; i++)
		assert_int_equal(guest_serve(&g, kvp_hostile, 5000), 0);
	assert_true(WAIT_FOR((ic_kvp_get_status(kvp, &st), st.refreshes == 1)));
	n = ic_kvp_get_items(kvp, items, 8);
	assert_int_equal(n, 2);
	assert_string_equal(items[0].key, "?[2Jname?");
	assert_string_equal(items[0].value, "v???x");
	/* 256 UTF-16 units fill the key field: no more, whatever key_size says. */
	assert_int_equal(strlen(items[1].key), IC_KVP_MAX_KEY_SIZE / 2);
	assert_int_equal(strspn(items[1].key, "A"), IC_KVP_MAX_KEY_SIZE / 2);
	assert_int_equal(strlen(items[1].value), IC_KVP_MAX_VALUE_SIZE / 2);
	assert_int_equal(strspn(items[1].value, "?"), IC_KVP_MAX_VALUE_SIZE / 2);
	for (i = 0; i < n; i++)
		for (const char *p = items[i].value; *p; p++)
			assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p != 0x7F);
	ic_kvp_free(kvp);
	vmbus_client_channel_forget(g.ch);
	vmbus_client_free(c);
}

static void test_no_common_version(void **state)
{
	static const uint32_t hb_guest[] = {IC_VERSION(3, 0)};
	struct vmbus_client *c = client();
	struct guest_ic g = {.versions = hb_guest, .nversions = 1, .refuse_versions = true};
	struct ic_heartbeat *hb;
	struct ic_heartbeat_status st;

	assert_int_equal(ic_heartbeat_new(vmbus_client_server(c), 0, &hb), 0);
	open_ic(c, IC_HEARTBEAT_CLASS_GUID, &g);
	assert_int_equal(guest_serve(&g, NULL, 5000), 0);
	assert_true(WAIT_FOR((ic_heartbeat_get_status(hb, &st), strcmp(st.state, "failed") == 0)));
	/* Unsolicited garbage from the guest is counted, not trusted. */
	assert_int_equal(vmbus_client_send(g.ch, VMBUS_PKT_DATA_INBAND, 0, 0, "junk", 4), 0);
	assert_int_equal(vmbus_client_send(g.ch, VMBUS_PKT_COMP, 0, 0, "junk", 4), 0);
	usleep(20000);
	ic_heartbeat_free(hb);
	vmbus_client_channel_forget(g.ch);
	vmbus_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heartbeat),
		cmocka_unit_test(test_shutdown),
		cmocka_unit_test(test_timesync),
		cmocka_unit_test(test_kvp),
		cmocka_unit_test(test_kvp_hostile_strings),
		cmocka_unit_test(test_no_common_version),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

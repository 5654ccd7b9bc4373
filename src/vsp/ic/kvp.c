/*
 * KVP IC (kvp.h). The worker runs a small loop: pending SETs first, then,
 * when a refresh is due, ENUMERATE of pool AUTO then GUEST from index 0
 * until the guest answers with a failure (HV_S_CONT: no more items).
 * Items seen in one enumeration replace that pool's items at its end.
 */
#include "vsp/ic/kvp.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "hvdef/ic_proto.h"
#include "vsp/ic/ic_framework.h"

/* hv_kvp.c kvp_versions: 4.0, 3.0 (and 1.0, which Parvis does not offer). */
static const uint32_t versions[] = {IC_VERSION(4, 0), IC_VERSION(3, 0)};

#define QUEUE_LEN 16u
/* Enumerated pools, in order. */
static const unsigned enum_pools[] = {IC_KVP_POOL_AUTO, IC_KVP_POOL_GUEST};

struct set_req {
	unsigned pool;
	char key[IC_KVP_KEY_MAX];
	char value[IC_KVP_VALUE_MAX];
};

struct ic_kvp {
	struct ic_channel *ic;
	uint64_t refresh_ns;
	pthread_mutex_t lock; /* protects the queue, items and counters */
	struct set_req queue[QUEUE_LEN];
	unsigned qhead, qcount;
	bool refresh_requested;
	struct ic_kvp_item *items; /* committed: IC_KVP_MAX_ITEMS per enumerated pool */
	unsigned nitems[2];
	uint64_t refreshes, sets, set_errors;
	/* Worker only. */
	enum { KVP_IDLE, KVP_SETTING, KVP_ENUMERATING } op;
	unsigned enum_pool; /* index into enum_pools */
	uint32_t enum_index;
	struct ic_kvp_item *scratch; /* items of the enumeration in progress */
	unsigned nscratch;
	uint64_t last_refresh_ns;
	uint64_t sent_ns;
};

/* UTF-8 -> NUL-terminated UTF-16LE (BMP only; other bytes become '?'). Bytes written, NUL included.
 */
static uint32_t utf8_to_utf16(const char *s, uint8_t *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	while (*p && o + 4 <= outlen) {
		uint32_t c = *p++;

		if (c >= 0xC0 && c < 0xE0 && (*p & 0xC0) == 0x80) {
			c = (c & 0x1F) << 6 | (*p++ & 0x3F);
		} else if (c >= 0xE0 && c < 0xF0 && (p[0] & 0xC0) == 0x80 &&
			   (p[1] & 0xC0) == 0x80) {
			c = (c & 0x0F) << 12 | (uint32_t)(p[0] & 0x3F) << 6 | (p[1] & 0x3F);
			p += 2;
		} else if (c >= 0x80) {
			c = '?';
		}
		out[o++] = (uint8_t)c;
		out[o++] = (uint8_t)(c >> 8);
	}
	out[o++] = 0;
	out[o++] = 0;
	return (uint32_t)o;
}

/*
 * Characters a guest string must not carry to the administrator's terminal or to JSON
 * consumers: C0 and C1 controls (escape sequences, BEL, CR), DEL, the bidirectional
 * overrides and isolates that reorder what a terminal shows, line/paragraph separators.
 */
static bool unsafe_char(uint32_t c)
{
	return c < 0x20 || (c >= 0x7F && c < 0xA0) || (c >= 0x202A && c <= 0x202E) ||
	       (c >= 0x2066 && c <= 0x2069) || c == 0x2028 || c == 0x2029 || c == 0x200E ||
	       c == 0x200F || c == 0xFEFF;
}

/*
 * UTF-16LE (n bytes, a NUL may end it early; n bounds it when there is none) -> UTF-8 in out
 * (always terminated, truncated to outlen). Guest text: unsafe characters become '?'.
 */
static void utf16_to_utf8(const uint8_t *in, size_t n, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; i + 1 < n; i += 2) {
		uint32_t c = in[i] | (uint32_t)in[i + 1] << 8;

		if (c == 0)
			break;
		if ((c >= 0xD800 && c < 0xE000) || unsafe_char(c))
			c = '?'; /* surrogates: not worth decoding here */
		if (c < 0x80 && o + 1 < outlen) {
			out[o++] = (char)c;
		} else if (c < 0x800 && o + 2 < outlen) {
			out[o++] = (char)(0xC0 | c >> 6);
			out[o++] = (char)(0x80 | (c & 0x3F));
		} else if (c >= 0x800 && o + 3 < outlen) {
			out[o++] = (char)(0xE0 | c >> 12);
			out[o++] = (char)(0x80 | ((c >> 6) & 0x3F));
			out[o++] = (char)(0x80 | (c & 0x3F));
		} else {
			break;
		}
	}
	out[o] = 0;
}

/* True if s, as UTF-16 with its NUL, takes at most max_bytes. */
static bool utf16_fits(const char *s, size_t max_bytes)
{
	size_t chars = 0;
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p; p++)
		chars += (*p & 0xC0) != 0x80;
	return (chars + 1) * 2 <= max_bytes;
}

static void start_enumeration(struct ic_kvp *kvp)
{
	kvp->op = KVP_ENUMERATING;
	kvp->enum_pool = 0;
	kvp->enum_index = 0;
	kvp->nscratch = 0;
}

static void send_enumerate(struct ic_kvp *kvp)
{
	struct ic_kvp_msg m = {.operation = IC_KVP_OP_ENUMERATE,
			       .pool = (uint8_t)enum_pools[kvp->enum_pool]};

	m.body.enumerate.index = kvp->enum_index;
	if (ic_channel_send_request(kvp->ic, IC_MSGTYPE_KVPEXCHANGE, &m, sizeof(m)) == 0)
		kvp->sent_ns = time_monotonic_ns();
}

static void kvp_poll(void *opaque, struct ic_channel *ic)
{
	struct ic_kvp *kvp = opaque;
	uint64_t now = time_monotonic_ns();
	struct ic_kvp_msg m;
	struct set_req req;
	bool have_set, refresh;

	if (ic_channel_busy(ic)) {
		/* The guest answers within its own 30 s timeout (hv_kvp.c); give it 60. */
		if (now - kvp->sent_ns < 60000000000ull) {
			ic_channel_set_timer(ic, 1000000000ull);
			return;
		}
		ic_channel_abandon(ic);
		kvp->op = KVP_IDLE;
	}
	if (kvp->op == KVP_ENUMERATING) {
		send_enumerate(kvp);
		return;
	}
	pthread_mutex_lock(&kvp->lock);
	have_set = kvp->qcount > 0;
	if (have_set)
		req = kvp->queue[kvp->qhead];
	refresh = kvp->refresh_requested || now - kvp->last_refresh_ns >= kvp->refresh_ns;
	kvp->refresh_requested = false;
	pthread_mutex_unlock(&kvp->lock);
	if (have_set) {
		memset(&m, 0, sizeof(m));
		m.operation = IC_KVP_OP_SET;
		m.pool = (uint8_t)req.pool;
		m.body.value.value_type = IC_KVP_REG_SZ;
		m.body.value.key_size =
			utf8_to_utf16(req.key, m.body.value.key, IC_KVP_MAX_KEY_SIZE);
		m.body.value.value_size =
			utf8_to_utf16(req.value, m.body.value.value, IC_KVP_MAX_VALUE_SIZE);
		if (ic_channel_send_request(ic, IC_MSGTYPE_KVPEXCHANGE, &m, sizeof(m)) == 0) {
			kvp->op = KVP_SETTING;
			kvp->sent_ns = now;
			pthread_mutex_lock(&kvp->lock);
			kvp->qhead = (kvp->qhead + 1) % QUEUE_LEN;
			kvp->qcount--;
			pthread_mutex_unlock(&kvp->lock);
		}
		return;
	}
	if (refresh) {
		kvp->last_refresh_ns = now;
		start_enumeration(kvp);
		send_enumerate(kvp);
		return;
	}
	ic_channel_set_timer(ic, kvp->refresh_ns - (now - kvp->last_refresh_ns));
}

/* The end of one pool's enumeration: commit its items, go on with the next pool. */
static void pool_done(struct ic_kvp *kvp)
{
	pthread_mutex_lock(&kvp->lock);
	memcpy(kvp->items + kvp->enum_pool * IC_KVP_MAX_ITEMS, kvp->scratch,
	       kvp->nscratch * sizeof(*kvp->scratch));
	kvp->nitems[kvp->enum_pool] = kvp->nscratch;
	if (kvp->enum_pool + 1 == ARRAY_SIZE(enum_pools))
		kvp->refreshes++;
	pthread_mutex_unlock(&kvp->lock);
	kvp->nscratch = 0;
	kvp->enum_index = 0;
	if (++kvp->enum_pool == ARRAY_SIZE(enum_pools))
		kvp->op = KVP_IDLE;
}

static void kvp_response(void *opaque, struct ic_channel *ic, uint32_t status, const uint8_t *body,
			 size_t len)
{
	struct ic_kvp *kvp = opaque;
	struct ic_kvp_msg m = {0};

	if (kvp->op == KVP_SETTING) {
		pthread_mutex_lock(&kvp->lock);
		if (status == IC_STATUS_OK)
			kvp->sets++;
		else
			kvp->set_errors++;
		pthread_mutex_unlock(&kvp->lock);
		kvp->op = KVP_IDLE;
		return;
	}
	if (kvp->op != KVP_ENUMERATING)
		return;
	memcpy(&m, body, MIN(len, sizeof(m)));
	if (status != IC_STATUS_OK || len < sizeof(m) || kvp->enum_index >= IC_KVP_MAX_ITEMS) {
		pool_done(kvp);
		return;
	}
	{
		struct ic_kvp_item *it = &kvp->scratch[kvp->nscratch];
		const struct ic_kvp_value *v = &m.body.enumerate.value;

		it->pool = enum_pools[kvp->enum_pool];
		utf16_to_utf8(v->key, MIN(v->key_size, IC_KVP_MAX_KEY_SIZE), it->key,
			      sizeof(it->key));
		if (v->value_type == IC_KVP_REG_U32 && v->value_size >= 4) {
			uint32_t x;

			memcpy(&x, v->value, 4);
			snprintf(it->value, sizeof(it->value), "%u", x);
		} else if (v->value_type == IC_KVP_REG_U64 && v->value_size >= 8) {
			uint64_t x;

			memcpy(&x, v->value, 8);
			snprintf(it->value, sizeof(it->value), "%llu", (unsigned long long)x);
		} else {
			utf16_to_utf8(v->value, MIN(v->value_size, IC_KVP_MAX_VALUE_SIZE),
				      it->value, sizeof(it->value));
		}
		kvp->nscratch++;
	}
	kvp->enum_index++;
}

static void kvp_ready(void *opaque, struct ic_channel *ic)
{
	struct ic_kvp *kvp = opaque;

	kvp->op = KVP_IDLE;
	kvp->last_refresh_ns = 0;
	kvp_poll(kvp, ic);
}

/*
 * Saved state: the SETs not yet sent, the operation in flight (and an
 * enumeration's position and items so far), the items last enumerated.
 */
static void save_item(struct state_out *out, unsigned pool, const char *key, const char *value)
{
	state_out_u32(out, pool);
	state_out_bytes(out, key, IC_KVP_KEY_MAX);
	state_out_bytes(out, value, IC_KVP_VALUE_MAX);
}

static bool load_item(struct state_in *in, unsigned *pool, char *key, char *value)
{
	*pool = state_in_u32(in);
	state_in_bytes(in, key, IC_KVP_KEY_MAX);
	state_in_bytes(in, value, IC_KVP_VALUE_MAX);
	return !in->error && *pool < IC_KVP_POOL_COUNT && memchr(key, 0, IC_KVP_KEY_MAX) &&
	       memchr(value, 0, IC_KVP_VALUE_MAX);
}

static int kvp_save(void *opaque, struct ic_channel *ic, struct state_out *out)
{
	struct ic_kvp *kvp = opaque;
	unsigned i, p;

	pthread_mutex_lock(&kvp->lock);
	state_out_u32(out, kvp->qcount);
	for (i = 0; i < kvp->qcount; i++) {
		const struct set_req *q = &kvp->queue[(kvp->qhead + i) % QUEUE_LEN];

		save_item(out, q->pool, q->key, q->value);
	}
	for (p = 0; p < ARRAY_SIZE(enum_pools); p++) {
		state_out_u32(out, kvp->nitems[p]);
		for (i = 0; i < kvp->nitems[p]; i++) {
			const struct ic_kvp_item *it = &kvp->items[p * IC_KVP_MAX_ITEMS + i];

			save_item(out, it->pool, it->key, it->value);
		}
	}
	pthread_mutex_unlock(&kvp->lock);
	state_out_u32(out, (uint32_t)kvp->op);
	state_out_u32(out, kvp->enum_pool);
	state_out_u32(out, kvp->enum_index);
	state_out_u32(out, kvp->nscratch);
	for (i = 0; i < kvp->nscratch; i++)
		save_item(out, kvp->scratch[i].pool, kvp->scratch[i].key, kvp->scratch[i].value);
	return 0;
}

static int kvp_load(void *opaque, struct ic_channel *ic, struct state_in *in, char *err,
		    size_t errlen)
{
	struct ic_kvp *kvp = opaque;
	uint32_t n = state_in_u32(in), p, op;

	if (n > QUEUE_LEN)
		goto bad;
	pthread_mutex_lock(&kvp->lock);
	kvp->qhead = 0;
	for (kvp->qcount = 0; kvp->qcount < n; kvp->qcount++) {
		struct set_req *q = &kvp->queue[kvp->qcount];

		if (!load_item(in, &q->pool, q->key, q->value)) {
			pthread_mutex_unlock(&kvp->lock);
			goto bad;
		}
	}
	for (p = 0; p < ARRAY_SIZE(enum_pools); p++) {
		n = state_in_u32(in);
		if (n > IC_KVP_MAX_ITEMS) {
			pthread_mutex_unlock(&kvp->lock);
			goto bad;
		}
		for (kvp->nitems[p] = 0; kvp->nitems[p] < n; kvp->nitems[p]++) {
			struct ic_kvp_item *it = &kvp->items[p * IC_KVP_MAX_ITEMS + kvp->nitems[p]];

			if (!load_item(in, &it->pool, it->key, it->value)) {
				pthread_mutex_unlock(&kvp->lock);
				goto bad;
			}
		}
	}
	pthread_mutex_unlock(&kvp->lock);
	op = state_in_u32(in);
	kvp->enum_pool = state_in_u32(in);
	kvp->enum_index = state_in_u32(in);
	n = state_in_u32(in);
	if (op > KVP_ENUMERATING || kvp->enum_pool >= ARRAY_SIZE(enum_pools) ||
	    kvp->enum_index > IC_KVP_MAX_ITEMS || n > IC_KVP_MAX_ITEMS)
		goto bad;
	kvp->op = op;
	for (kvp->nscratch = 0; kvp->nscratch < n; kvp->nscratch++) {
		struct ic_kvp_item *it = &kvp->scratch[kvp->nscratch];

		if (!load_item(in, &it->pool, it->key, it->value))
			goto bad;
	}
	kvp->sent_ns = kvp->last_refresh_ns = time_monotonic_ns();
	return 0;
bad:
	kvp->qcount = 0;
	kvp->nitems[0] = kvp->nitems[1] = 0;
	kvp->nscratch = 0;
	kvp->op = KVP_IDLE;
	snprintf(err, errlen, "KVP state: a count, pool, operation or string is out of range");
	return -EINVAL;
}

static const struct ic_ops kvp_ops = {
	.ready = kvp_ready,
	.response = kvp_response,
	.poll = kvp_poll,
	.save = kvp_save,
	.load = kvp_load,
};

int ic_kvp_new(struct vmbus_server *s, uint64_t refresh_ns, struct ic_kvp **ret)
{
	struct ic_channel_config cfg = {
		.name = "kvp",
		.class_guid = IC_KVP_CLASS_GUID,
		.instance_guid = IC_KVP_INSTANCE_GUID,
		.versions = versions,
		.nversions = ARRAY_SIZE(versions),
	};
	struct ic_kvp *kvp = calloc(1, sizeof(*kvp));
	int r = -ENOMEM;

	if (!kvp)
		return -ENOMEM;
	kvp->refresh_ns = refresh_ns ? refresh_ns : 10000000000ull;
	pthread_mutex_init(&kvp->lock, NULL);
	kvp->items = calloc(ARRAY_SIZE(enum_pools) * IC_KVP_MAX_ITEMS, sizeof(*kvp->items));
	kvp->scratch = calloc(IC_KVP_MAX_ITEMS, sizeof(*kvp->scratch));
	if (kvp->items && kvp->scratch)
		r = ic_channel_new(s, &cfg, &kvp_ops, kvp, &kvp->ic);
	if (r < 0) {
		free(kvp->items);
		free(kvp->scratch);
		pthread_mutex_destroy(&kvp->lock);
		free(kvp);
		return r;
	}
	*ret = kvp;
	return 0;
}

struct ic_kvp *ic_kvp_free(struct ic_kvp *kvp)
{
	if (!kvp)
		return NULL;
	ic_channel_free(kvp->ic);
	free(kvp->items);
	free(kvp->scratch);
	pthread_mutex_destroy(&kvp->lock);
	free(kvp);
	return NULL;
}

int ic_kvp_set(struct ic_kvp *kvp, unsigned pool, const char *key, const char *value)
{
	struct set_req *q;

	if (pool >= IC_KVP_POOL_COUNT || !key || !*key || !value || strlen(key) >= IC_KVP_KEY_MAX ||
	    strlen(value) >= IC_KVP_VALUE_MAX || !utf16_fits(key, IC_KVP_MAX_KEY_SIZE) ||
	    !utf16_fits(value, IC_KVP_MAX_VALUE_SIZE))
		return -EINVAL;
	pthread_mutex_lock(&kvp->lock);
	if (kvp->qcount == QUEUE_LEN) {
		pthread_mutex_unlock(&kvp->lock);
		return -ENOSPC;
	}
	q = &kvp->queue[(kvp->qhead + kvp->qcount) % QUEUE_LEN];
	q->pool = pool;
	snprintf(q->key, sizeof(q->key), "%s", key);
	snprintf(q->value, sizeof(q->value), "%s", value);
	kvp->qcount++;
	pthread_mutex_unlock(&kvp->lock);
	ic_channel_wake(kvp->ic);
	return 0;
}

void ic_kvp_refresh(struct ic_kvp *kvp)
{
	pthread_mutex_lock(&kvp->lock);
	kvp->refresh_requested = true;
	pthread_mutex_unlock(&kvp->lock);
	ic_channel_wake(kvp->ic);
}

unsigned ic_kvp_get_items(struct ic_kvp *kvp, struct ic_kvp_item *out, unsigned max)
{
	unsigned p, i, n = 0;

	pthread_mutex_lock(&kvp->lock);
	for (p = 0; p < ARRAY_SIZE(enum_pools); p++)
		for (i = 0; i < kvp->nitems[p] && n < max; i++)
			out[n++] = kvp->items[p * IC_KVP_MAX_ITEMS + i];
	pthread_mutex_unlock(&kvp->lock);
	return n;
}

void ic_kvp_get_status(struct ic_kvp *kvp, struct ic_kvp_status *st)
{
	pthread_mutex_lock(&kvp->lock);
	*st = (struct ic_kvp_status){
		.state = ic_state_name(ic_channel_state(kvp->ic)),
		.version = ic_channel_version(kvp->ic),
		.refreshes = kvp->refreshes,
		.sets = kvp->sets,
		.set_errors = kvp->set_errors,
		.queued = kvp->qcount,
	};
	pthread_mutex_unlock(&kvp->lock);
}

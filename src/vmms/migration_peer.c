/*
 * The messages between two services during move-vm (migration_peer.h, wire format in
 * migration_proto.h). Everything parsed here was sent by the peer host: each field is checked
 * before use, lengths are bounded, the VM record goes through the inventory's own parser
 * (vm_record_parse) and each adapter through the network file's (net_adapter_parse).
 */
#include "vmms/migration_peer.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CPU_FEATURES_MAX 1024
#define CPU_FEATURE_LEN	 64

int peer_frame_check(const struct peer_frame_header *h, enum peer_frame_type *type, uint32_t *len,
		     char *err, size_t errlen)
{
	uint32_t t = le32toh(h->type), l = le32toh(h->length);
	uint32_t max;

	switch (t) {
	case PEER_FRAME_OFFER:
	case PEER_FRAME_VERDICT:
	case PEER_FRAME_DONE: max = PEER_JSON_MAX; break;
	case PEER_FRAME_DATA: max = PEER_DATA_MAX; break;
	case PEER_FRAME_EOF:
	case PEER_FRAME_COMMIT: max = 0; break;
	default:
		snprintf(err, errlen, "the peer sent a frame of unknown type %u", t);
		return -EPROTO;
	}
	if (l > max || (t == PEER_FRAME_DATA && l == 0)) {
		snprintf(err, errlen, "the peer sent a frame of type %u with %u bytes (at most %u)",
			 t, l, max);
		return -EPROTO;
	}
	*type = (enum peer_frame_type)t;
	*len = l;
	return 0;
}

void peer_frame_make(struct peer_frame_header *h, enum peer_frame_type type, uint32_t len)
{
	h->type = htole32((uint32_t)type);
	h->length = htole32(len);
}

int peer_offer_init(struct peer_offer *o)
{
	memset(o, 0, sizeof(*o));
	vm_record_init(&o->rec);
	o->adapters = calloc(NET_MAX_VM_ADAPTERS, sizeof(*o->adapters));
	return o->adapters ? 0 : -ENOMEM;
}

void peer_offer_fini(struct peer_offer *o)
{
	vm_record_fini(&o->rec);
	free(o->adapters);
	o->adapters = NULL;
	json_object_put(o->cpu_features);
	o->cpu_features = NULL;
}

struct json_object *peer_offer_to_json(const char *source, const struct vm_record *rec,
				       const struct net_adapter *const *adapters,
				       const char *const *switch_names, unsigned nadapters,
				       struct json_object *cpu_features)
{
	struct json_object *o = json_object_new_object(), *ads = json_object_new_array();
	unsigned i;

	json_object_object_add(o, "version", json_object_new_int(PEER_PROTO_VERSION));
	json_object_object_add(o, "source", json_object_new_string(source));
	json_object_object_add(o, "record", vm_record_to_json(rec));
	for (i = 0; i < nadapters; i++) {
		struct json_object *a = net_adapter_to_json(adapters[i]);

		json_object_object_add(a, "switch", json_object_new_string(switch_names[i]));
		json_object_array_add(ads, a);
	}
	json_object_object_add(o, "adapters", ads);
	if (cpu_features)
		json_object_object_add(o, "cpu_features", json_object_get(cpu_features));
	return o;
}

/* A printable copy of a peer's string (control characters become '?'). */
static void printable(char *dst, size_t dstlen, const char *src)
{
	size_t i;

	for (i = 0; src[i] && i + 1 < dstlen; i++)
		dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ? '?' : src[i];
	dst[i] = '\0';
}

static struct json_object *parse_object(const char *text, size_t len, char *err, size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *o;

	if (len > PEER_JSON_MAX || memchr(text, '\0', len)) {
		snprintf(err, errlen, "the peer's message is not JSON text of at most %u bytes",
			 PEER_JSON_MAX);
		return NULL;
	}
	tok = json_tokener_new_ex(32);
	if (!tok) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    tok->char_offset != (int)len || !json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "the peer's message is not one JSON object");
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

static int parse_adapters(struct json_object *ads, struct peer_offer *o, char *err, size_t errlen)
{
	size_t i, n;

	if (!ads)
		return 0;
	n = json_object_is_type(ads, json_type_array) ? json_object_array_length(ads) : SIZE_MAX;
	if (n > NET_MAX_VM_ADAPTERS) {
		snprintf(err, errlen, "\"adapters\" is not an array of at most %d",
			 NET_MAX_VM_ADAPTERS);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		struct json_object *a = json_object_array_get_idx(ads, i), *sw;
		const char *s = "";

		if (net_adapter_parse(a, &o->adapters[i], err, errlen) < 0)
			return -EINVAL;
		if (strcmp(o->adapters[i].vm_id, o->rec.id)) {
			snprintf(err, errlen, "adapter %s belongs to VM %s, not to VM %s",
				 o->adapters[i].id, o->adapters[i].vm_id, o->rec.id);
			return -EINVAL;
		}
		if (json_object_object_get_ex(a, "switch", &sw)) {
			if (!json_object_is_type(sw, json_type_string) ||
			    strlen(json_object_get_string(sw)) > VSW_NAME_MAX) {
				snprintf(err, errlen, "adapter %s: \"switch\" is not a switch name",
					 o->adapters[i].id);
				return -EINVAL;
			}
			s = json_object_get_string(sw);
		}
		if (!*s != !o->adapters[i].switch_id[0]) {
			snprintf(
				err, errlen,
				"adapter %s: a \"switch\" name goes with a \"switch_id\", and only "
				"with one",
				o->adapters[i].id);
			return -EINVAL;
		}
		snprintf(o->adapter_switch[i], sizeof(o->adapter_switch[i]), "%s", s);
		o->nadapters++;
	}
	return 0;
}

static int parse_cpu_features(struct json_object *f, struct peer_offer *o, char *err, size_t errlen)
{
	size_t i, n;

	if (!f)
		return 0;
	n = json_object_is_type(f, json_type_array) ? json_object_array_length(f) : SIZE_MAX;
	if (n > CPU_FEATURES_MAX) {
		snprintf(err, errlen, "\"cpu_features\" is not an array of at most %d names",
			 CPU_FEATURES_MAX);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		struct json_object *s = json_object_array_get_idx(f, i);

		if (!json_object_is_type(s, json_type_string) || !json_object_get_string_len(s) ||
		    json_object_get_string_len(s) > CPU_FEATURE_LEN) {
			snprintf(err, errlen, "\"cpu_features\"[%zu] is not a feature name", i);
			return -EINVAL;
		}
	}
	o->cpu_features = json_object_get(f);
	return 0;
}

int peer_offer_parse(const char *text, size_t len, struct peer_offer *o, char *err, size_t errlen)
{
	struct json_object *root = parse_object(text, len, err, errlen), *v, *rec = NULL,
			   *ads = NULL, *cpu = NULL;
	const char *rtext;
	int r = -EINVAL;

	if (!root)
		return -EINVAL;
	if (!json_object_object_get_ex(root, "version", &v) ||
	    !json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1) {
		snprintf(err, errlen, "the offer has no \"version\"");
		goto out;
	}
	if (json_object_get_int64(v) != PEER_PROTO_VERSION) {
		snprintf(err, errlen,
			 "the source speaks version %lld of the migration protocol; this host "
			 "speaks %d: update the older one",
			 (long long)json_object_get_int64(v), PEER_PROTO_VERSION);
		goto out;
	}
	o->version = PEER_PROTO_VERSION;
	if (!json_object_object_get_ex(root, "source", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    json_object_get_string_len(v) >= PEER_HOST_MAX) {
		snprintf(err, errlen, "the offer has no \"source\" host");
		goto out;
	}
	printable(o->source, sizeof(o->source), json_object_get_string(v));
	if (!json_object_object_get_ex(root, "record", &rec) ||
	    !json_object_is_type(rec, json_type_object)) {
		snprintf(err, errlen, "the offer has no VM \"record\"");
		goto out;
	}
	/* The inventory's own parser: the record is what a VM file holds. */
	rtext = json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PLAIN);
	if (vm_record_parse(rtext, strlen(rtext), &o->rec, err, errlen) < 0)
		goto out;
	if (json_object_object_get_ex(root, "adapters", &ads) &&
	    parse_adapters(ads, o, err, errlen) < 0)
		goto out;
	if (json_object_object_get_ex(root, "cpu_features", &cpu) &&
	    parse_cpu_features(cpu, o, err, errlen) < 0)
		goto out;
	r = 0;
out:
	json_object_put(root);
	return r;
}

int peer_result_parse(const char *text, size_t len, bool *ok, char *why, size_t whylen, char *err,
		      size_t errlen)
{
	struct json_object *root = parse_object(text, len, err, errlen), *v;
	int r = -EINVAL;

	if (!root)
		return -EINVAL;
	if (!json_object_object_get_ex(root, "ok", &v) ||
	    !json_object_is_type(v, json_type_boolean)) {
		snprintf(err, errlen, "the peer's answer has no \"ok\"");
		goto out;
	}
	*ok = json_object_get_boolean(v);
	why[0] = '\0';
	if (!*ok) {
		if (!json_object_object_get_ex(root, "error", &v) ||
		    !json_object_is_type(v, json_type_string)) {
			snprintf(err, errlen, "the peer refused without an \"error\"");
			goto out;
		}
		printable(why, whylen, json_object_get_string(v));
	}
	r = 0;
out:
	json_object_put(root);
	return r;
}

char *peer_result_text(bool ok, const char *why)
{
	struct json_object *o = json_object_new_object();
	char *s;

	json_object_object_add(o, "ok", json_object_new_boolean(ok));
	if (!ok)
		json_object_object_add(o, "error", json_object_new_string(why ? why : ""));
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

/*
 * Fuzz target: what a peer host sends during move-vm (src/vmms/migration_proto.h): the input is
 * the byte stream of frames as it comes out of the TLS session, each header checked and each
 * payload parsed as its type says (OFFER, VERDICT, DONE; DATA is the worker's stream, fuzzed by
 * migration_stream). The whole input is also read as a key file (mig_key_parse). An offer that
 * parses is written back and must parse again.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmms/migration_channel.h"
#include "vmms/migration_peer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void offer(const char *text, size_t len)
{
	static struct peer_offer o, again;
	const struct net_adapter *ads[NET_MAX_VM_ADAPTERS];
	const char *sws[NET_MAX_VM_ADAPTERS];
	struct json_object *j;
	const char *out;
	char err[512];
	unsigned i;

	if (peer_offer_init(&o) < 0)
		return;
	if (peer_offer_parse(text, len, &o, err, sizeof(err)) == 0) {
		for (i = 0; i < o.nadapters; i++) {
			ads[i] = &o.adapters[i];
			sws[i] = o.adapter_switch[i];
		}
		j = peer_offer_to_json(o.source, &o.rec, ads, sws, o.nadapters, o.cpu_features);
		out = json_object_to_json_string(j);
		/* what we send, the peer reads */
		if (peer_offer_init(&again) < 0 ||
		    peer_offer_parse(out, strlen(out), &again, err, sizeof(err)) != 0 ||
		    again.nadapters != o.nadapters || strcmp(again.rec.id, o.rec.id))
			__builtin_trap();
		peer_offer_fini(&again);
		json_object_put(j);
	}
	peer_offer_fini(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t key[MIG_KEY_MAX];
	size_t off = 0, keylen;
	char err[512], why[256];

	if (mig_key_parse((const char *)data, size, key, &keylen, err, sizeof(err)) == 0 &&
	    (keylen < MIG_KEY_MIN || keylen > MIG_KEY_MAX))
		__builtin_trap();
	while (size - off >= sizeof(struct peer_frame_header)) {
		struct peer_frame_header h;
		enum peer_frame_type t;
		uint32_t len;
		bool ok;

		memcpy(&h, data + off, sizeof(h));
		off += sizeof(h);
		if (peer_frame_check(&h, &t, &len, err, sizeof(err)) < 0 || len > size - off)
			break;
		if (t == PEER_FRAME_OFFER)
			offer((const char *)data + off, len);
		else if ((t == PEER_FRAME_VERDICT || t == PEER_FRAME_DONE) &&
			 peer_result_parse((const char *)data + off, len, &ok, why, sizeof(why),
					   err, sizeof(err)) == 0 &&
			 strlen(why) >= sizeof(why))
			__builtin_trap();
		off += len;
	}
	return 0;
}

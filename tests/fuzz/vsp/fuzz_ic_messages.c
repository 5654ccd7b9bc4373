/*
 * Fuzz target: the integration services' parsers (src/vsp/ic/), fed the
 * guest's answers as a hostile guest could write them into the ring.
 *
 *   byte 0      which IC: 0 heartbeat, 1 shutdown, 2 time sync, 3 KVP
 *   then records:
 *     bytes 0-1 payload length (little-endian, at most 8 KiB)
 *     byte 2    bit 0: make it an answer to the host's last request (copy
 *               its message type and transaction id, set the response flag)
 *     ...       the payload (pipe header, IC header, body)
 *
 * The guest side is the test client (tests/lib/vmbus_client.c); KVP and
 * shutdown requests are queued so that there is something to answer.
 * Seeds: corpus/ic_messages (tests/fuzz/vsp/make_corpus.py).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "hvdef/ic_proto.h"
#include "vmbus_client.h"
#include "vsp/ic/heartbeat.h"
#include "vsp/ic/kvp.h"
#include "vsp/ic/shutdown.h"
#include "vsp/ic/timesync.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet(void *opaque, enum log_level level, const char *line)
{
}

/* Waits (briefly) for the host to have read everything the guest wrote. */
static void settle(struct vmbus_client *c, struct vmbus_client_channel *ch)
{
	struct vmbus_ring_header h;
	int i;

	for (i = 0; i < 200; i++) {
		if (guest_memory_read(vmbus_client_memory(c), vmbus_client_channel_send_ring(ch),
				      &h, 16) < 0 ||
		    h.read_index == h.write_index)
			break;
		usleep(100);
	}
	usleep(200);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const classes[] = {IC_HEARTBEAT_CLASS_GUID, IC_SHUTDOWN_CLASS_GUID,
					      IC_TIMESYNC_CLASS_GUID, IC_KVP_CLASS_GUID};
	struct vmbus_client_config cfg = {.ram_size = 4 * MiB, .manual_dispatch = true};
	struct vmbus_msg_offer_channel offers[4];
	struct vmbus_client_channel *ch = NULL;
	struct ic_heartbeat *hb = NULL;
	struct ic_shutdown *sd = NULL;
	struct ic_timesync *ts = NULL;
	struct ic_kvp *kvp = NULL;
	struct vmbus_client *c;
	struct ic_msg_header last = {0};
	struct guid want;
	unsigned which;
	size_t off = 1;
	int n, i;

	if (size < 1)
		return 0;
	log_set_sink(quiet, NULL);
	which = data[0] % 4;
	if (vmbus_client_new(&cfg, &c) < 0)
		return 0;
	switch (which) {
	case 0: n = ic_heartbeat_new(vmbus_client_server(c), 1000000, &hb); break;
	case 1: n = ic_shutdown_new(vmbus_client_server(c), &sd); break;
	case 2: n = ic_timesync_new(vmbus_client_server(c), NULL, &ts); break;
	default: n = ic_kvp_new(vmbus_client_server(c), 1000000, &kvp); break;
	}
	if (n < 0 || vmbus_client_connect(c, VMBUS_VERSION_WIN10_V5_3) != 1 ||
	    vmbus_client_request_offers(c, offers, 4) != 1 || guid_parse(classes[which], &want) < 0)
		goto out;
	for (i = 0; i < 1; i++)
		if (!guid_equal(&offers[i].offer.if_type, &want))
			goto out;
	if (vmbus_client_open(c, &offers[0], 4, 4, 0, &ch) != 0)
		goto out;
	if (kvp && ic_kvp_set(kvp, IC_KVP_POOL_EXTERNAL, "k", "v") < 0)
		goto out;
	while (off + 3 <= size) {
		size_t len = (size_t)(data[off] | data[off + 1] << 8), got;
		uint8_t flags = data[off + 2], pkt[8192], host[8192];
		struct vmbus_packet_desc d;

		off += 3;
		len = MIN(MIN(len, size - off), sizeof(pkt));
		memcpy(pkt, data + off, len);
		off += len;
		/* The host's latest request, if any. */
		for (;;) {
			got = sizeof(host);
			if (vmbus_client_recv(ch, &d, host, &got) < 0)
				break;
			if (got >= IC_PREFIX_SIZE)
				memcpy(&last, host + 8, sizeof(last));
		}
		if ((flags & 1) && len >= IC_PREFIX_SIZE) {
			struct ic_msg_header h;

			memcpy(&h, pkt + 8, sizeof(h));
			h.icmsgtype = last.icmsgtype;
			h.ictransaction_id = last.ictransaction_id;
			h.icflags |= IC_FLAG_RESPONSE;
			memcpy(pkt + 8, &h, sizeof(h));
		}
		if (vmbus_client_send(ch, VMBUS_PKT_DATA_INBAND, 0, 0, pkt, len) < 0)
			break;
		settle(c, ch);
		if (sd && ic_shutdown_ready(sd) &&
		    ic_shutdown_request(sd, IC_SHUTDOWN_RESTART, true, "f") < 0) {
			/* one in flight already */
		}
	}
out:
	ic_heartbeat_free(hb);
	ic_shutdown_free(sd);
	ic_timesync_free(ts);
	ic_kvp_free(kvp);
	if (ch)
		vmbus_client_channel_forget(ch);
	vmbus_client_free(c);
	return 0;
}

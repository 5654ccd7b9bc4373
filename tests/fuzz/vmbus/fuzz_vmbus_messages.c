/*
 * Fuzz target: the VMBus server's message parser, fed as a vCPU's
 * HvPostMessage would feed it. The input is a sequence of records:
 *
 *   byte 0   bits 0-1: connection id (0: 1, 1: 4, 2: 2, 3: signal on
 *            channel 1's connection id 0x2001 instead of a message)
 *   byte 1   message length (lengths over 240 are refused at the door)
 *   ...      the message bytes
 *
 * The server (manual dispatch, so each message is processed at once) has
 * one channel whose VSP echoes packets; guest memory is 4 MiB, so GPADLs
 * naming low PFNs are real RAM and a channel can be opened. Seeds in
 * corpus/vmbus_messages: Linux's connect, offer, GPADL, open, close,
 * teardown and unload sequences (tests/fuzz/vmbus/make_corpus.py).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/log.h"
#include "hvdef/vmbus_proto.h"
#include "vmbus_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet(void *opaque, enum log_level level, const char *line)
{
}

static int echo_packet(void *opaque, struct vmbus_channel *ch, const struct vmbus_packet *pkt)
{
	if (vmbus_channel_send(ch, VMBUS_PKT_COMP, 0, pkt->trans_id, pkt->data, pkt->len) < 0) {
		/* a full or broken ring is a guest matter */
	}
	return VMBUS_PACKET_DONE;
}

static const struct vmbus_channel_ops ops = {.packet = echo_packet};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t conn[] = {1, 4, 2};
	struct vmbus_client_config cfg = {.vcpus = 2, .ram_size = 4 * MiB, .manual_dispatch = true};
	struct vmbus_channel_params p = {.name = "fuzz"};
	struct vmbus_channel *ch;
	struct vmbus_client *c;
	uint8_t buf[VMBUS_MESSAGE_MAX_SIZE];
	size_t off = 0, len;

	log_set_sink(quiet, NULL);
	if (vmbus_client_new(&cfg, &c) < 0)
		return 0;
	if (vmbus_channel_new(vmbus_client_server(c), &p, &ops, NULL, &ch) < 0) {
		vmbus_client_free(c);
		return 0;
	}
	while (off + 2 <= size) {
		unsigned sel = data[off] & 3;
		size_t n = data[off + 1];

		off += 2;
		n = MIN(n, size - off);
		if (sel == 3)
			vmbus_server_handle_signal(vmbus_client_server(c), 0x2001);
		else
			vmbus_client_post(c, conn[sel], data + off, n);
		off += n;
		/* Host messages are not looked at; keep the fake SynIC's queue short. */
		while (vmbus_client_pending_msgs(c) > 0)
			vmbus_client_recv_msg(c, buf, &len, 0);
	}
	vmbus_client_free(c);
	return 0;
}

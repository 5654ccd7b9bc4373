/*
 * VMBus channel throughput and signalling, host code only: the guest-side
 * client (tests/lib/vmbus_client.c) plays the guest on this thread, the
 * real server and a VSP run on their own threads, as in the worker.
 *
 *   vmbus-bench [packets] [payload bytes]
 *
 * Prints, per mode, packets/s, process CPU time per packet, and guest->host
 * signals and host->guest interrupts per 1,000 packets:
 *   qd1     the guest sends a request and waits for its completion
 *   stream  the guest sends as fast as the ring allows; the VSP only reads
 *   recv    the VSP sends as fast as the ring allows; the guest reads
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "vmbus_client.h"

struct vsp {
	atomic_bool reply;
	_Atomic long to_send;
	atomic_long received;
};

static int on_packet(void *opaque, struct vmbus_channel *ch, const struct vmbus_packet *pkt)
{
	struct vsp *v = opaque;

	/* No room for the answer: leave the packet in the ring until the guest frees some. */
	if (atomic_load(&v->reply) && vmbus_channel_send(ch, VMBUS_PKT_COMP, 0, pkt->trans_id,
							 pkt->data, pkt->len) == -EAGAIN)
		return VMBUS_PACKET_BUSY;
	atomic_fetch_add(&v->received, 1);
	return VMBUS_PACKET_DONE;
}

static void on_wake(void *opaque, struct vmbus_channel *ch)
{
	struct vsp *v = opaque;
	static const uint8_t buf[4096];

	while (atomic_load(&v->to_send) > 0) {
		if (vmbus_channel_send(ch, VMBUS_PKT_DATA_INBAND, 0, 1, buf, 64) < 0)
			return; /* full: woken again when the guest frees room */
		atomic_fetch_sub(&v->to_send, 1);
	}
}

static const struct vmbus_channel_ops ops = {.packet = on_packet, .wake = on_wake};

static void report(const char *mode, long n, uint64_t ns, uint64_t cpu_ns,
		   const struct vmbus_client_stats *a, const struct vmbus_client_stats *b)
{
	printf("%-7s %9.0f packets/s  %6.2f us CPU/packet  %7.1f signals/1000  %7.1f "
	       "interrupts/1000\n",
	       mode, n / (ns / 1e9), cpu_ns / 1e3 / n,
	       1000.0 * (double)(b->signals_sent - a->signals_sent) / n,
	       1000.0 * (double)(b->interrupts - a->interrupts) / n);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000, i;
	size_t payload = argc > 2 ? (size_t)atol(argv[2]) : 64;
	struct vmbus_client_config cfg = {.ram_size = 64 * MiB};
	struct vmbus_channel_params p = {.name = "bench", .max_packet_size = 8192};
	struct vmbus_msg_offer_channel offer;
	struct vmbus_client_channel *gch;
	struct vmbus_client_stats a, b;
	struct vmbus_channel *ch;
	struct vmbus_client *c;
	struct vsp v = {0};
	uint8_t data[8192] = {0}, rx[8192];
	uint64_t t0, c0;

	if (n <= 0 || payload == 0 || payload > 4096)
		return 2;
	if (vmbus_client_new(&cfg, &c) < 0 ||
	    vmbus_channel_new(vmbus_client_server(c), &p, &ops, &v, &ch) < 0 ||
	    vmbus_client_connect(c, VMBUS_VERSION_WIN10_V5_3) != 1 ||
	    vmbus_client_request_offers(c, &offer, 1) != 1 ||
	    vmbus_client_open(c, &offer, 33, 33, 0, &gch) != 0) {
		fprintf(stderr, "vmbus-bench: set-up failed\n");
		return 1;
	}
	printf("%ld packets of %zu bytes, rings of 128 KiB each way\n", n, payload);

	atomic_store(&v.reply, true);
	vmbus_client_get_stats(c, &a);
	t0 = time_monotonic_ns();
	c0 = time_process_cpu_ns();
	for (i = 0; i < n; i++) {
		struct vmbus_packet_desc d;
		size_t len = sizeof(rx);

		if (vmbus_client_send(gch, VMBUS_PKT_DATA_INBAND,
				      VMBUS_PKT_FLAG_COMPLETION_REQUESTED, (uint64_t)i, data,
				      payload) < 0 ||
		    vmbus_client_recv_wait(gch, &d, rx, &len, 5000) < 0) {
			fprintf(stderr, "vmbus-bench: qd1 stalled at %ld\n", i);
			return 1;
		}
	}
	vmbus_client_get_stats(c, &b);
	report("qd1", n, time_monotonic_ns() - t0, time_process_cpu_ns() - c0, &a, &b);

	atomic_store(&v.reply, false);
	atomic_store(&v.received, 0);
	vmbus_client_get_stats(c, &a);
	t0 = time_monotonic_ns();
	c0 = time_process_cpu_ns();
	for (i = 0; i < n;) {
		if (vmbus_client_send(gch, VMBUS_PKT_DATA_INBAND, 0, (uint64_t)i, data, payload) ==
		    0)
			i++;
	}
	while (atomic_load(&v.received) < n)
		;
	vmbus_client_get_stats(c, &b);
	report("stream", n, time_monotonic_ns() - t0, time_process_cpu_ns() - c0, &a, &b);

	vmbus_client_get_stats(c, &a);
	t0 = time_monotonic_ns();
	c0 = time_process_cpu_ns();
	atomic_store(&v.to_send, n);
	vmbus_channel_wake(ch);
	for (i = 0; i < n; i++) {
		struct vmbus_packet_desc d;
		size_t len = sizeof(rx);

		if (vmbus_client_recv_wait(gch, &d, rx, &len, 5000) < 0) {
			fprintf(stderr, "vmbus-bench: recv stalled at %ld\n", i);
			return 1;
		}
	}
	vmbus_client_get_stats(c, &b);
	report("recv", n, time_monotonic_ns() - t0, time_process_cpu_ns() - c0, &a, &b);
	vmbus_client_free(c);
	return 0;
}

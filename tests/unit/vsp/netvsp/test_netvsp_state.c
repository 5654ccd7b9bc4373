/*
 * Saved state of netvsp (src/vsp/netvsp/netvsp_state.c) through the
 * VMBus's quiesce/save/load, without /dev/kvm: the guest-side netvsc
 * client (tests/lib/netvsc_client.c) over a memfd as guest RAM, the back
 * end a real 4-queue TAP in a network namespace the test makes for itself.
 * The adapter, its server and its TAP are freed after the save and made
 * again over the same guest memory; the client goes on with its channels,
 * buffers and sections.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include "test_util.h"

#include "base/log.h"
#include "hvdef/netvsp_proto.h"
#include "net/tap.h"
#include "netvsc_client.h"
#include "state/state.h"
#include "vsp/netvsp/netvsp.h"

#define TAP    "nvs0"
#define VCPUS  4
#define QUEUES 4
#define RAM    (128u << 20)
#define TMO    5000

static const uint8_t guest_mac[6] = {0x00, 0x15, 0x5d, 0x00, 0x00, 0x01};
static const uint8_t host_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};

struct fx {
	struct vmbus_client *vc;
	struct netvsp *nv;
	struct netvsc_client *nc;
	int pkt; /* AF_PACKET on the TAP, with vnet headers */
};

static void quiet(void *opaque, enum log_level level, const char *line)
{
	if (getenv("NETVSP_TEST_LOG"))
		fprintf(stderr, "# %s\n", line);
}

static void if_up(const char *name)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr = {0};

	assert_true(s >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	test_if_no_ipv6(name);
	assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	close(s);
}

static int open_packet_socket(int ifindex)
{
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL)), one = 1;
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = ifindex};

	assert_true(s >= 0);
	assert_int_equal(setsockopt(s, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)), 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sll, sizeof(sll)), 0);
	return s;
}

/* The adapter on a new TAP (the old one went with the old adapter's fds). */
static void device_new(struct fx *f)
{
	struct netvsp_config nc = {.vcpus = VCPUS, .connected = true, .ntap = QUEUES};
	int fds[QUEUES], ifindex;

	assert_int_equal(tap_open(TAP, QUEUES, fds), 0);
	if_up(TAP);
	ifindex = (int)if_nametoindex(TAP);
	assert_true(ifindex > 0);
	f->pkt = open_packet_socket(ifindex);
	nc.server = vmbus_client_server(f->vc);
	nc.mem = vmbus_client_memory(f->vc);
	memcpy(nc.mac, guest_mac, 6);
	nc.tap_fds = fds;
	assert_int_equal(netvsp_new(&nc, &f->nv), 0);
}

static void device_free(struct fx *f)
{
	f->nv = netvsp_free(f->nv);
	close(f->pkt);
	f->pkt = -1;
}

static size_t eth(uint8_t *buf, const uint8_t *dst, const uint8_t *src, uint8_t tag, size_t payload)
{
	size_t i;

	memcpy(buf, dst, 6);
	memcpy(buf + 6, src, 6);
	buf[12] = 0x88;
	buf[13] = 0xb5;
	for (i = 0; i < payload; i++)
		buf[14 + i] = (uint8_t)(i * 7 + tag);
	return 14 + payload;
}

/* The next frame from the guest's MAC seen on the TAP (others: the kernel's own). */
static ssize_t host_recv(struct fx *f, uint8_t *buf, size_t len)
{
	int tries;

	for (tries = 0; tries < 500; tries++) {
		struct pollfd p = {.fd = f->pkt, .events = POLLIN};
		uint8_t raw[10000];
		ssize_t n;

		if (poll(&p, 1, 10) <= 0)
			continue;
		n = recv(f->pkt, raw, sizeof(raw), 0);
		if (n < (ssize_t)(sizeof(struct tap_vnet_hdr) + 14) ||
		    memcmp(raw + sizeof(struct tap_vnet_hdr) + 6, guest_mac, 6) != 0)
			continue;
		n -= (ssize_t)sizeof(struct tap_vnet_hdr);
		memcpy(buf, raw + sizeof(struct tap_vnet_hdr), MIN((size_t)n, len));
		return n;
	}
	return -ETIMEDOUT;
}

static void host_send_hdr(struct fx *f, const struct tap_vnet_hdr *h, const void *frame, size_t len)
{
	static uint8_t raw[70000];

	memcpy(raw, h, sizeof(*h));
	memcpy(raw + sizeof(*h), frame, len);
	assert_int_equal(send(f->pkt, raw, sizeof(*h) + len, 0), (ssize_t)(sizeof(*h) + len));
}

/* A 30,000-byte TCP/IPv4 frame the host stack hands over whole (RSC: one receive, many sections).
 */
static size_t tcp_frame(uint8_t *fr, struct tap_vnet_hdr *h)
{
	size_t len = 30000, i;

	memset(fr, 0, 54);
	memcpy(fr, guest_mac, 6);
	memcpy(fr + 6, host_mac, 6);
	fr[12] = 0x08;
	fr[14] = 0x45;
	fr[16] = (uint8_t)((len - 14) >> 8), fr[17] = (uint8_t)(len - 14);
	fr[22] = 64, fr[23] = 6;
	fr[26] = 10, fr[29] = 1, fr[30] = 10, fr[33] = 2;
	fr[46] = 5 << 4, fr[47] = 0x10;
	for (i = 54; i < len; i++)
		fr[i] = (uint8_t)(i * 5);
	*h = (struct tap_vnet_hdr){.flags = TAP_VNET_F_NEEDS_CSUM,
				   .gso_type = TAP_VNET_GSO_TCPV4,
				   .hdr_len = 54,
				   .gso_size = 1448,
				   .csum_start = 34,
				   .csum_offset = 16};
	return len;
}

static void host_send(struct fx *f, const void *frame, size_t len)
{
	static uint8_t raw[10000];
	struct tap_vnet_hdr zero = {0};

	memcpy(raw, &zero, sizeof(zero));
	memcpy(raw + sizeof(zero), frame, len);
	assert_int_equal(send(f->pkt, raw, sizeof(zero) + len, 0), (ssize_t)(sizeof(zero) + len));
}

/* Polls every channel until the client holds a frame from the host's MAC. */
static int guest_recv(struct fx *f, void *buf, size_t *len)
{
	unsigned i, ch;

	for (i = 0; i < 300; i++) {
		size_t n = *len;
		uint32_t csum;

		if (netvsc_client_recv_frame(f->nc, buf, &n, &csum) == 0) {
			if (n >= 12 && memcmp((uint8_t *)buf + 6, host_mac, 6) == 0) {
				*len = n;
				return 0;
			}
			continue;
		}
		for (ch = 0; ch < netvsc_client_channels(f->nc); ch++)
			if (netvsc_client_poll(f->nc, ch, 3) < 0)
				return -EPROTO;
	}
	return -ETIMEDOUT;
}

/* A frame out on every channel, each answered. The VSP reads a channel's ring in order, so
 * once it has answered these it has read every completion the guest wrote before them. */
static void tx_each(struct fx *f, uint8_t tag)
{
	uint8_t frame[1600], got[1600];
	unsigned ch;
	size_t len;

	for (ch = 0; ch < netvsc_client_channels(f->nc); ch++) {
		struct netvsc_tx tx = {.frame = frame, .len = 0, .gpa_direct = ch % 2 == 1};

		len = eth(frame, host_mac, guest_mac, (uint8_t)(tag + ch), 200 + ch);
		tx.len = len;
		assert_int_equal(netvsc_client_send(f->nc, ch, &tx), 0);
		assert_int_equal(netvsc_client_flush(f->nc, ch, TMO), 0);
		assert_int_equal(host_recv(f, got, sizeof(got)), (ssize_t)len);
		assert_memory_equal(got, frame, len);
	}
}

/* A frame out on every channel, one in. */
static void traffic(struct fx *f, uint8_t tag)
{
	uint8_t frame[1600], got[1600];
	size_t len, n;

	tx_each(f, tag);
	len = eth(frame, guest_mac, host_mac, tag, 300);
	host_send(f, frame, len);
	n = sizeof(got);
	assert_int_equal(guest_recv(f, got, &n), 0);
	assert_int_equal(n, len);
	assert_memory_equal(got, frame, len);
}

static void save_restore(struct fx *f)
{
	static const uint8_t digest[STATE_CONFIG_DIGEST_BYTES];
	struct state_writer *w;
	struct state_reader *rd;
	char err[256] = "";
	int fd = memfd_create("netvsp-state", 0);

	assert_int_equal(vmbus_server_quiesce(vmbus_client_server(f->vc), err, sizeof(err)), 0);
	assert_int_equal(state_writer_new(fd, digest, RAM, &w), 0);
	if (vmbus_server_save(vmbus_client_server(f->vc), w) < 0)
		fail_msg("save: %s", vmbus_server_save_error(vmbus_client_server(f->vc)));
	assert_int_equal(state_writer_finish(w), 0);
	state_writer_free(w);
	device_free(f);
	vmbus_server_free(vmbus_client_detach_server(f->vc));
	assert_int_equal(vmbus_client_attach_new_server(f->vc), 0);
	device_new(f);
	assert_int_equal(state_reader_new(fd, &rd, err, sizeof(err)), 0);
	if (vmbus_server_load(vmbus_client_server(f->vc), rd, err, sizeof(err)) < 0)
		fail_msg("load: %s", err);
	state_reader_free(rd);
	close(fd);
}

static void test_save_restore(void **state)
{
	struct vmbus_client_config cfg = {.vcpus = VCPUS, .ram_size = RAM};
	struct netvsc_client_config ncfg = {.subchannels = QUEUES - 1};
	struct vmbus_msg_offer_channel o[8];
	struct netvsp_stats before, after;
	struct fx f = {0};
	struct guid want;
	static uint8_t frame[1600], got[70000], big[70000];
	struct tap_vnet_hdr h;
	size_t len, n, blen;
	int i, k;

	log_set_sink(quiet, NULL);
	assert_int_equal(vmbus_client_new(&cfg, &f.vc), 0);
	device_new(&f);
	assert_int_equal(guid_parse(NETVSP_NIC_CLASS_GUID, &want), 0);
	assert_int_equal(vmbus_client_connect(f.vc, VMBUS_VERSION_WIN10_V5_2), 1);
	k = vmbus_client_request_offers(f.vc, o, 8);
	for (i = 0; i < k; i++)
		if (guid_equal(&o[i].offer.if_type, &want))
			break;
	assert_true(i < k);
	assert_int_equal(netvsc_client_open(f.vc, &o[i], &ncfg, &f.nc), 0);
	assert_int_equal(netvsc_client_channels(f.nc), QUEUES);
	traffic(&f, 1);
	netvsp_get_stats(f.nv, &before);
	/* A frame delivered into a receive section the guest has not completed at the save. */
	len = eth(frame, guest_mac, host_mac, 77, 500);
	host_send(&f, frame, len);
	/* And an RSC receive: many sections, chained to the first, held at the save too. */
	blen = tcp_frame(big, &h);
	host_send_hdr(&f, &h, big, blen);
	usleep(100000);
	netvsp_get_stats(f.nv, &before);
	assert_true(before.rsc_v4 && before.rsc_v6);
	assert_int_equal(before.rx_rsc, 1);
	save_restore(&f);
	netvsp_get_stats(f.nv, &after);
	assert_int_equal(after.state, NETVSP_READY);
	assert_int_equal(after.nvsp_version, before.nvsp_version);
	assert_int_equal(after.ndis_major, before.ndis_major);
	assert_true(after.rsc_v4 && after.rsc_v6);
	/* The guest takes them now and completes them: the restored adapter knows the sections. */
	for (k = 0; k < 2; k++) {
		n = sizeof(got);
		assert_int_equal(guest_recv(&f, got, &n), 0);
		if (n == blen) {
			assert_memory_equal(got + 54, big + 54, blen - 54);
		} else {
			assert_int_equal(n, len);
			assert_memory_equal(got, frame, len);
		}
	}
	traffic(&f, 2);
	save_restore(&f);
	traffic(&f, 3);
	tx_each(&f, 4); /* the last receive's completion read before the close */
	netvsp_get_stats(f.nv, &after);
	assert_int_equal(after.bad_releases, 0);
	assert_int_equal(after.bad_packets, 0);
	netvsc_client_close(f.nc);
	/* Every section came back, the RSC receive's later ones with its first. */
	netvsp_get_stats(f.nv, &after);
	assert_int_equal(after.unreleased, 0);
	device_free(&f);
	vmbus_client_free(f.vc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_save_restore),
	};

	/* Every TAP of this test lives in a network namespace of its own. */
	if (unshare(CLONE_NEWNET) < 0) {
		printf("1..0 # SKIP unshare(CLONE_NEWNET): %s (needs root)\n", strerror(errno));
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The synthetic NIC against a guest played by the test: the guest-side
 * netvsc client (tests/lib/netvsc_client.c) negotiates NVSP and RNDIS as
 * Linux's hv_netvsc does and sends and receives frames; the back end is a
 * real multi-queue TAP in a network namespace the test process makes for
 * itself (unshare(CLONE_NEWNET)), whose host side the test drives with
 * AF_PACKET sockets (with PACKET_VNET_HDR, to see and set offloads) and a
 * UDP socket (which only accepts datagrams whose checksum is right).
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
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "test_util.h"
#include "base/log.h"
#include "hvdef/netvsp_proto.h"
#include "net/tap.h"
#include "netvsc_client.h"
#include "vsp/netvsp/netvsp.h"
#include "vsp/netvsp/rss.h"

#define TAP    "nvt0"
#define VCPUS  4
#define QUEUES 4
#define TMO    5000

static const uint8_t guest_mac[6] = {0x00, 0x15, 0x5d, 0x00, 0x00, 0x01};
static const uint8_t host_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};

struct fx {
	struct vmbus_client *vc;
	struct netvsp *nv;
	struct vmbus_msg_offer_channel offer;
	struct netvsc_client *nc;
	int pkt;     /* AF_PACKET on the TAP, with vnet headers */
	int ifindex; /* of the TAP */
};

static void quiet(void *opaque, enum log_level level, const char *line)
{
	if (getenv("NETVSP_TEST_LOG"))
		fprintf(stderr, "%s\n", line);
}

static void if_up(const char *name, const char *addr)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr = {0};

	assert_true(s >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (addr) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;

		sin->sin_family = AF_INET;
		inet_pton(AF_INET, addr, &sin->sin_addr);
		assert_int_equal(ioctl(s, SIOCSIFADDR, &ifr), 0);
	}
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

static void offers(struct fx *f)
{
	struct vmbus_msg_offer_channel o[8];
	struct guid want;
	int n, i;

	assert_int_equal(guid_parse(NETVSP_NIC_CLASS_GUID, &want), 0);
	assert_int_equal(vmbus_client_connect(f->vc, VMBUS_VERSION_WIN10_V5_2), 1);
	n = vmbus_client_request_offers(f->vc, o, 8);
	for (i = 0; i < n; i++)
		if (guid_equal(&o[i].offer.if_type, &want))
			break;
	assert_true(i < n);
	f->offer = o[i];
}

static int setup_device(void **state, unsigned queues)
{
	struct vmbus_client_config cfg = {.vcpus = VCPUS, .ram_size = 128 << 20};
	struct netvsp_config nc = {.vcpus = VCPUS, .connected = true, .ntap = queues};
	struct fx *f = calloc(1, sizeof(*f));
	int fds[QUEUES];

	log_set_sink(quiet, NULL);
	assert_int_equal(tap_open(TAP, queues, fds), 0);
	if_up(TAP, "10.77.0.1");
	f->ifindex = (int)if_nametoindex(TAP);
	assert_true(f->ifindex > 0);
	f->pkt = open_packet_socket(f->ifindex);
	assert_int_equal(vmbus_client_new(&cfg, &f->vc), 0);
	nc.server = vmbus_client_server(f->vc);
	nc.mem = vmbus_client_memory(f->vc);
	memcpy(nc.mac, guest_mac, 6);
	nc.tap_fds = fds;
	assert_int_equal(netvsp_new(&nc, &f->nv), 0);
	offers(f);
	*state = f;
	return 0;
}

static int setup_bare(void **state)
{
	return setup_device(state, QUEUES);
}

static int setup(void **state)
{
	struct fx *f;

	setup_device(state, QUEUES);
	f = *state;
	assert_int_equal(netvsc_client_open(f->vc, &f->offer, NULL, &f->nc), 0);
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	netvsc_client_close(f->nc);
	netvsp_free(f->nv);
	vmbus_client_free(f->vc);
	close(f->pkt);
	free(f);
	return 0;
}

/* --- Frames --- */

static size_t eth(uint8_t *buf, const uint8_t *dst, const uint8_t *src, uint16_t type,
		  size_t payload)
{
	size_t i;

	memcpy(buf, dst, 6);
	memcpy(buf + 6, src, 6);
	buf[12] = (uint8_t)(type >> 8);
	buf[13] = (uint8_t)type;
	for (i = 0; i < payload; i++)
		buf[14 + i] = (uint8_t)(i * 7 + 3);
	return 14 + payload;
}

/* The next frame from the guest's MAC seen on the TAP (others: the kernel's own). */
static ssize_t host_recv(struct fx *f, struct tap_vnet_hdr *h, uint8_t *buf, size_t len)
{
	int tries;

	for (tries = 0; tries < 500; tries++) {
		struct pollfd p = {.fd = f->pkt, .events = POLLIN};
		uint8_t raw[70000];
		ssize_t n;

		if (poll(&p, 1, 10) <= 0)
			continue;
		n = recv(f->pkt, raw, sizeof(raw), 0);
		if (n < (ssize_t)(sizeof(*h) + 14) ||
		    memcmp(raw + sizeof(*h) + 6, guest_mac, 6) != 0)
			continue;
		memcpy(h, raw, sizeof(*h));
		n -= (ssize_t)sizeof(*h);
		memcpy(buf, raw + sizeof(*h), MIN((size_t)n, len));
		return n;
	}
	return -ETIMEDOUT;
}

static void host_send(struct fx *f, const struct tap_vnet_hdr *h, const void *frame, size_t len)
{
	static uint8_t raw[70000];
	struct tap_vnet_hdr zero = {0};

	memcpy(raw, h ? h : &zero, sizeof(zero));
	memcpy(raw + sizeof(zero), frame, len);
	assert_int_equal(send(f->pkt, raw, sizeof(zero) + len, 0), (ssize_t)(sizeof(zero) + len));
}

/* Polls the client until it holds a frame. */
static int guest_recv(struct fx *f, void *buf, size_t *len, uint32_t *csum)
{
	int i;

	for (i = 0; i < 500; i++) {
		size_t n = *len;

		/* The kernel's own frames (IPv6 neighbour discovery on the new link) are skipped.
		 */
		if (netvsc_client_recv_frame(f->nc, buf, &n, csum) == 0) {
			if (n >= 12 && memcmp((uint8_t *)buf + 6, host_mac, 6) == 0) {
				*len = n;
				return 0;
			}
			continue;
		}
		if (netvsc_client_poll(f->nc, 0, 10) < 0)
			return -EPROTO;
	}
	return -ETIMEDOUT;
}

/* --- Tests --- */

static void test_handshake(void **state)
{
	struct fx *f = *state;
	struct netvsp_stats st;
	const struct ndis_offload *caps = netvsc_client_hwcaps(f->nc);
	uint32_t v, status;
	size_t n = 4;

	assert_int_equal(netvsc_client_version(f->nc), NVSP_PROTOCOL_VERSION_61);
	assert_memory_equal(netvsc_client_mac(f->nc), guest_mac, 6);
	assert_int_equal(caps->header.revision, NDIS_OFFLOAD_REVISION_3);
	assert_int_equal(caps->header.size, NDIS_OFFLOAD_SIZE);
	assert_true(caps->lsov2_ip4_encap & NDIS_OFFLOAD_ENCAP_8023);
	assert_true(netvsc_client_recv_section_size(f->nc) >= 1500 + 14 + 44);
	assert_int_equal(
		netvsc_client_query(f->nc, RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE, &v, &n, &status), 0);
	assert_int_equal(status, RNDIS_STATUS_SUCCESS);
	assert_int_equal(v, 1500);
	n = 4;
	assert_int_equal(netvsc_client_query(f->nc, RNDIS_OID_GEN_LINK_SPEED, &v, &n, &status), 0);
	assert_int_equal(v, 100000000u);
	n = 4;
	assert_int_equal(netvsc_client_query(f->nc, 0x12345678u, &v, &n, &status), 0);
	assert_int_equal(status, RNDIS_STATUS_NOT_SUPPORTED);
	netvsp_get_stats(f->nv, &st);
	assert_int_equal(st.state, NETVSP_READY);
	assert_int_equal(st.nvsp_version, NVSP_PROTOCOL_VERSION_61);
	assert_int_equal(st.ndis_major, 6);
	assert_int_equal(st.ndis_minor, 30);
	assert_int_equal(st.mtu, 1500);
	assert_int_equal(st.channels, 1);
	assert_int_equal(st.packet_filter, RNDIS_PACKET_TYPE_DIRECTED |
						   RNDIS_PACKET_TYPE_BROADCAST |
						   RNDIS_PACKET_TYPE_ALL_MULTICAST);
	assert_int_equal(st.bad_packets, 0);
}

/* Every version Linux offers, alone; one we do not know is refused. */
static void test_versions(void **state)
{
	static const uint32_t all[] = {NVSP_PROTOCOL_VERSION_61, NVSP_PROTOCOL_VERSION_6,
				       NVSP_PROTOCOL_VERSION_5,	 NVSP_PROTOCOL_VERSION_4,
				       NVSP_PROTOCOL_VERSION_2,	 NVSP_PROTOCOL_VERSION_1};
	static const uint32_t unknown[] = {0x00070000u};
	struct fx *f = *state;
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(all); i++) {
		struct netvsc_client_config cfg = {.versions = &all[i], .nversions = 1};
		const struct ndis_offload *caps;
		struct netvsp_stats st;

		assert_int_equal(netvsc_client_open(f->vc, &f->offer, &cfg, &f->nc), 0);
		assert_int_equal(netvsc_client_version(f->nc), all[i]);
		caps = netvsc_client_hwcaps(f->nc);
		/* rndis_filter_query_hwcaps: 156 bytes from NVSP 5, 144 for 4, 112 before. */
		assert_int_equal(caps->header.size, all[i] >= NVSP_PROTOCOL_VERSION_5	? 156
						    : all[i] >= NVSP_PROTOCOL_VERSION_4 ? 144
											: 112);
		netvsp_get_stats(f->nv, &st);
		assert_int_equal(st.nvsp_version, all[i]);
		assert_int_equal(st.state, NETVSP_READY);
		netvsc_client_close(f->nc);
		f->nc = NULL;
	}
	{
		struct netvsc_client_config cfg = {.versions = unknown, .nversions = 1};

		assert_int_equal(netvsc_client_open(f->vc, &f->offer, &cfg, &f->nc), -EPROTO);
		f->nc = NULL;
	}
}

static void test_tx(void **state)
{
	struct fx *f = *state;
	uint8_t frame[2000], got[2000];
	struct tap_vnet_hdr h;
	struct netvsp_stats st;
	unsigned i;

	/* Small (copied whole), and larger through GPA-direct ranges and a send section (their
	 * tails go to the TAP from guest memory). */
	for (i = 0; i < 3; i++) {
		size_t len = eth(frame, host_mac, guest_mac, 0x88b5, i ? 1400 : 46);
		struct netvsc_tx tx = {.frame = frame, .len = len, .gpa_direct = i == 1};

		frame[14] = (uint8_t)i;
		assert_int_equal(netvsc_client_send(f->nc, 0, &tx), 0);
		assert_int_equal(netvsc_client_flush(f->nc, 0, TMO), 0);
		assert_int_equal(host_recv(f, &h, got, sizeof(got)), (ssize_t)len);
		assert_memory_equal(got, frame, len);
		assert_int_equal(h.flags, 0);
		assert_int_equal(h.gso_type, 0);
	}
	netvsp_get_stats(f->nv, &st);
	assert_int_equal(st.tx_packets, 3);
	assert_int_equal(st.tx_bytes, 60 + 2 * 1414);
}

static void test_rx(void **state)
{
	struct fx *f = *state;
	uint8_t frame[2000], got[2000];
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t other[6] = {0x00, 0x15, 0x5d, 0x00, 0x00, 0x99};
	size_t len = eth(frame, guest_mac, host_mac, 0x88b5, 1486), n = sizeof(got);
	struct netvsp_stats st;

	host_send(f, NULL, frame, len);
	assert_int_equal(guest_recv(f, got, &n, NULL), 0);
	assert_int_equal(n, len);
	assert_memory_equal(got, frame, len);
	/* Broadcast passes the filter; another unicast MAC does not. */
	len = eth(frame, bcast, host_mac, 0x88b5, 100);
	host_send(f, NULL, frame, len);
	n = sizeof(got);
	assert_int_equal(guest_recv(f, got, &n, NULL), 0);
	assert_memory_equal(got, frame, len);
	len = eth(frame, other, host_mac, 0x88b5, 100);
	host_send(f, NULL, frame, len);
	n = sizeof(got);
	assert_int_equal(guest_recv(f, got, &n, NULL), -ETIMEDOUT);
	netvsp_get_stats(f->nv, &st);
	assert_true(st.rx_packets >= 2); /* and the kernel's own */
	assert_true(st.drop_rx_filtered >= 1);
}

static void test_spoofed(void **state)
{
	struct fx *f = *state;
	static const uint8_t fake[6] = {0x00, 0x15, 0x5d, 0x00, 0x00, 0x42};
	uint8_t frame[200], got[200];
	size_t len = eth(frame, host_mac, fake, 0x88b5, 60);
	struct netvsc_tx tx = {.frame = frame, .len = len};
	struct netvsp_stats st;
	struct tap_vnet_hdr h;

	assert_int_equal(netvsc_client_send(f->nc, 0, &tx), 0);
	assert_int_equal(netvsc_client_flush(f->nc, 0, TMO), 0);
	netvsp_get_stats(f->nv, &st);
	assert_int_equal(st.drop_spoofed, 1);
	assert_int_equal(st.tx_packets, 0);
	/* Allowed on the port: it goes out. */
	netvsp_set_mac_spoofing(f->nv, true);
	assert_int_equal(netvsc_client_send(f->nc, 0, &tx), 0);
	assert_int_equal(netvsc_client_flush(f->nc, 0, TMO), 0);
	netvsp_get_stats(f->nv, &st);
	assert_int_equal(st.drop_spoofed, 1);
	assert_int_equal(st.tx_packets, 1);
	(void)h;
	(void)got;
}

static void test_link(void **state)
{
	struct fx *f = *state;
	struct netvsc_client_stats cs;
	struct netvsp_stats st;
	uint8_t frame[200];
	size_t len = eth(frame, host_mac, guest_mac, 0x88b5, 60);
	struct netvsc_tx tx = {.frame = frame, .len = len};
	int i;

	netvsp_set_connected(f->nv, false);
	for (i = 0; i < 500; i++) {
		netvsc_client_get_stats(f->nc, &cs);
		if (cs.link_down)
			break;
		netvsc_client_poll(f->nc, 0, 10);
	}
	assert_int_equal(cs.link_down, 1);
	assert_int_equal(netvsc_client_send(f->nc, 0, &tx), 0);
	assert_int_equal(netvsc_client_flush(f->nc, 0, TMO), 0);
	netvsp_get_stats(f->nv, &st);
	assert_int_equal(st.drop_tx_link_down, 1);
	assert_false(st.connected);
	netvsp_set_connected(f->nv, true);
	for (i = 0; i < 500; i++) {
		netvsc_client_get_stats(f->nc, &cs);
		if (cs.link_up)
			break;
		netvsc_client_poll(f->nc, 0, 10);
	}
	assert_int_equal(cs.link_up, 1);
	netvsp_get_stats(f->nv, &st);
	assert_int_equal(st.indications, 2);
}

/* A UDP datagram with a checksum PPI and only the pseudo-header sum: the kernel must accept it. */
static void test_tx_checksum_offload(void **state)
{
	struct fx *f = *state;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(7777)};
	uint8_t frame[200] = {0}, got[64];
	uint8_t *ip = frame + 14, *udp = frame + 34;
	uint32_t sum = 0;
	struct netvsc_tx tx = {.frame = frame, .len = 14 + 20 + 8 + 16};
	unsigned i;
	struct tap_vnet_hdr h;

	inet_pton(AF_INET, "10.77.0.1", &a.sin_addr);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	/* The TAP's own MAC as destination. */
	{
		struct ifreq ifr = {0};

		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), TAP);
		assert_int_equal(ioctl(s, SIOCGIFHWADDR, &ifr), 0);
		eth(frame, (uint8_t *)ifr.ifr_hwaddr.sa_data, guest_mac, 0x0800, 0);
	}
	ip[0] = 0x45;
	ip[3] = 20 + 8 + 16;
	ip[8] = 64;
	ip[9] = 17;
	inet_pton(AF_INET, "10.77.0.10", ip + 12);
	inet_pton(AF_INET, "10.77.0.1", ip + 16);
	for (i = 0; i < 20; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	ip[10] = (uint8_t)(~sum >> 8);
	ip[11] = (uint8_t)~sum;
	udp[0] = 0x12;
	udp[1] = 0x34;
	udp[2] = 7777 >> 8;
	udp[3] = 7777 & 0xff;
	udp[5] = 8 + 16;
	memcpy(udp + 8, "sixteen bytes!!", 16);
	/* Pseudo-header sum only (CHECKSUM_PARTIAL), as a guest with offload sends. */
	sum = 0;
	for (i = 12; i < 20; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	sum += 17 + 8 + 16;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	udp[6] = (uint8_t)(sum >> 8);
	udp[7] = (uint8_t)sum;
	tx.csum_ppi = NDIS_TX_CSUM_IS_IPV4 | NDIS_TX_CSUM_UDP | (34u << 16);
	assert_int_equal(netvsc_client_send(f->nc, 0, &tx), 0);
	assert_int_equal(netvsc_client_flush(f->nc, 0, TMO), 0);
	assert_int_equal(host_recv(f, &h, got, sizeof(got)) > 0, 1);
	assert_int_equal(h.flags, TAP_VNET_F_NEEDS_CSUM);
	assert_int_equal(h.csum_start, 34);
	assert_int_equal(h.csum_offset, 6);
	{
		struct pollfd p = {.fd = s, .events = POLLIN};

		assert_int_equal(poll(&p, 1, TMO), 1);
		assert_int_equal(recv(s, got, sizeof(got), 0), 16);
		assert_memory_equal(got, "sixteen bytes!!", 16);
	}
	close(s);
}

/* A 60 KiB TCP frame with an LSO PPI: a GSO frame on the TAP with real lengths. */
static void test_tx_lso(void **state)
{
	struct fx *f = *state;
	static uint8_t frame[62000], got[70000];
	uint8_t *ip = frame + 14, *tcp = frame + 34;
	size_t len = 14 + 20 + 20 + 60000;
	struct netvsc_tx tx = {.frame = frame, .len = len};
	struct tap_vnet_hdr h;

	eth(frame, host_mac, guest_mac, 0x0800, len - 14);
	ip[0] = 0x45;
	ip[2] = ip[3] = 0; /* tot_len 0, as NDIS LSO sends it */
	ip[8] = 64;
	ip[9] = 6;
	inet_pton(AF_INET, "10.77.0.10", ip + 12);
	inet_pton(AF_INET, "10.77.0.1", ip + 16);
	tcp[12] = 5 << 4;
	tcp[16] = tcp[17] = 0;
	tx.lso_ppi = 1448u | (34u << 20) | NDIS_LSO_TYPE_V2;
	assert_int_equal(netvsc_client_send(f->nc, 0, &tx), 0);
	assert_int_equal(netvsc_client_flush(f->nc, 0, TMO), 0);
	assert_int_equal(host_recv(f, &h, got, sizeof(got)), (ssize_t)len);
	assert_int_equal(h.gso_type, TAP_VNET_GSO_TCPV4);
	assert_int_equal(h.gso_size, 1448);
	assert_int_equal(h.hdr_len, 54);
	assert_int_equal(h.csum_start, 34);
	assert_int_equal(h.csum_offset, 16);
	/* tot_len fixed up; the checksum seed now holds the TCP length. */
	assert_int_equal(got[16] << 8 | got[17], len - 14);
	assert_int_equal(got[34 + 16] << 8 | got[34 + 17], (int)(len - 34));
	/* The payload, written from the guest's pages past the copied headers. */
	assert_memory_equal(got + 54, frame + 54, len - 54);
}

/* A NEEDS_CSUM frame from the host: the guest gets it checksummed and marked succeeded. */
static void test_rx_checksum(void **state)
{
	struct fx *f = *state;
	uint8_t frame[200] = {0}, got[200];
	uint8_t *ip = frame + 14, *udp = frame + 34;
	struct tap_vnet_hdr h = {
		.flags = TAP_VNET_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 6};
	size_t len = 14 + 20 + 8 + 8, n = sizeof(got);
	uint32_t csum, sum = 0;
	unsigned i;

	eth(frame, guest_mac, host_mac, 0x0800, 0);
	ip[0] = 0x45;
	ip[3] = 36;
	ip[9] = 17;
	inet_pton(AF_INET, "10.77.0.1", ip + 12);
	inet_pton(AF_INET, "10.77.0.10", ip + 16);
	udp[5] = 16;
	memcpy(udp + 8, "payload!", 8);
	for (i = 12; i < 20; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	sum += 17 + 16;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	udp[6] = (uint8_t)(sum >> 8);
	udp[7] = (uint8_t)sum;
	host_send(f, &h, frame, len);
	assert_int_equal(guest_recv(f, got, &n, &csum), 0);
	assert_int_equal(n, len);
	assert_true(csum & NDIS_RX_CSUM_UDP_SUCCEEDED);
	/* The full sum over pseudo-header and datagram folds to 0xffff. */
	sum = 0;
	for (i = 12; i < 20; i += 2)
		sum += (uint32_t)(got[14 + i] << 8 | got[14 + i + 1]);
	sum += 17 + 16;
	for (i = 34; i < len; i += 2)
		sum += (uint32_t)(got[i] << 8 | got[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	assert_int_equal(sum, 0xffff);
}

/* Polls the client until the VSP's send indirection table has arrived (at most 5 s). */
static void wait_send_table(struct fx *f, struct netvsc_client_stats *cs)
{
	for (int i = 0; i < 500; i++) {
		netvsc_client_get_stats(f->nc, cs);
		if (cs->tables)
			break;
		netvsc_client_poll(f->nc, 0, 10);
	}
	assert_int_equal(cs->tables, 1);
}

/* vRSS: sub-channels, one per TAP queue, and the send table after they are all open. */

static void test_subchannels(void **state)
{
	struct fx *f = *state;
	struct netvsc_client_config cfg = {.subchannels = 7};
	struct netvsc_client_stats cs;
	struct netvsp_stats st;
	uint8_t frame[200], got[200];
	unsigned c;
	int i;

	assert_int_equal(netvsc_client_open(f->vc, &f->offer, &cfg, &f->nc), 0);
	/* Capped by the vCPUs and TAP queues: 3 sub-channels. */
	assert_int_equal(netvsc_client_channels(f->nc), QUEUES);
	wait_send_table(f, &cs);
	for (i = 0; i < 16; i++)
		assert_int_equal(cs.send_table[i], (unsigned)i % QUEUES);
	for (c = 0; c < QUEUES; c++) {
		size_t len = eth(frame, host_mac, guest_mac, 0x88b5, 50);
		struct netvsc_tx tx = {.frame = frame, .len = len};
		struct tap_vnet_hdr h;

		frame[14] = (uint8_t)c;
		assert_int_equal(netvsc_client_send(f->nc, c, &tx), 0);
		assert_int_equal(netvsc_client_flush(f->nc, c, TMO), 0);
		assert_int_equal(host_recv(f, &h, got, sizeof(got)), (ssize_t)len);
		assert_int_equal(got[14], c);
	}
	netvsp_get_stats(f->nv, &st);
	assert_int_equal(st.channels, QUEUES);
	assert_int_equal(st.tx_packets, QUEUES);
}

/* The key of NDIS's "Verifying the RSS Hash Calculation", which Linux's netvsc sends too. */
static const uint8_t ms_key[40] = {
	0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
	0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
	0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

/* A TCP/IPv4 frame from src:sport to dst:dport (addresses in host order). */
static size_t tcp4(uint8_t *buf, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport)
{
	uint8_t *ip = buf + 14, *tcp = ip + 20;
	uint32_t s = htonl(src), d = htonl(dst);
	uint16_t sp = htons(sport), dp = htons(dport);

	eth(buf, guest_mac, host_mac, 0x0800, 40);
	memset(ip, 0, 40);
	ip[0] = 0x45;
	ip[3] = 40;
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, &s, 4);
	memcpy(ip + 16, &d, 4);
	memcpy(tcp, &sp, 2);
	memcpy(tcp + 2, &dp, 2);
	tcp[12] = 0x50;
	return 54;
}

/* The hash itself: NDIS's verification values, IPv4 with and without ports, and IPv6. */
static void test_rss_hash(void **state)
{
	static const uint8_t v6[] = {
		0x86,
		0xdd,
		0x60,
		0,
		0,
		0,
		0,
		20,
		6,
		64,
		/* src 3ffe:2501:200:1fff::7 */
		0x3f,
		0xfe,
		0x25,
		0x01,
		0x02,
		0x00,
		0x1f,
		0xff,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0x07,
		/* dst 3ffe:2501:200:3::1 */
		0x3f,
		0xfe,
		0x25,
		0x01,
		0x02,
		0x00,
		0x00,
		0x03,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0x01,
		/* sport 2794, dport 1766 */
		0x0a,
		0xea,
		0x06,
		0xe6,
	};
	const uint32_t all = NDIS_HASH_FUNC_TOEPLITZ | NDIS_HASH_IPV4 | NDIS_HASH_TCP_IPV4 |
			     NDIS_HASH_IPV6 | NDIS_HASH_TCP_IPV6;
	uint8_t frame[128];
	uint32_t h;
	size_t len;

	(void)state;
	len = tcp4(frame, 0x420995bb, 0xa18e6450, 2794, 1766); /* 66.9.149.187 -> 161.142.100.80 */
	assert_int_equal(rss_frame_hash(all, ms_key, 40, frame, len, &h), 0);
	assert_int_equal(h, 0x51ccc178);
	assert_int_equal(rss_frame_hash(all & ~NDIS_HASH_TCP_IPV4, ms_key, 40, frame, len, &h), 0);
	assert_int_equal(h, 0x323e8fc2);
	len = tcp4(frame, 0xc75c6f02, 0x41458c53, 14230, 4739); /* 199.92.111.2 -> 65.69.140.83 */
	assert_int_equal(rss_frame_hash(all, ms_key, 40, frame, len, &h), 0);
	assert_int_equal(h, 0xc626b0ea);
	frame[14 + 6] = 0x20; /* a fragment (MF): addresses only */
	assert_int_equal(rss_frame_hash(all, ms_key, 40, frame, len, &h), 0);
	assert_int_equal(h, 0xd718262a);
	memcpy(frame + 12, v6, sizeof(v6));
	len = 12 + sizeof(v6);
	assert_int_equal(rss_frame_hash(all, ms_key, 40, frame, len, &h), 0);
	assert_int_equal(h, 0x40207d3d);
	assert_int_equal(rss_frame_hash(all & ~NDIS_HASH_TCP_IPV6, ms_key, 40, frame, len, &h), 0);
	assert_int_equal(h, 0x2cc18cd5);
	/* Nothing to hash: not IP, truncated, a type not asked for, not Toeplitz. */
	assert_int_equal(rss_frame_hash(all, ms_key, 40, frame, 40, &h), -1);
	assert_int_equal(rss_frame_hash(NDIS_HASH_FUNC_TOEPLITZ | NDIS_HASH_IPV4, ms_key, 40, frame,
					len, &h),
			 -1);
	assert_int_equal(rss_frame_hash(all & ~NDIS_HASH_FUNC_TOEPLITZ, ms_key, 40, frame, len, &h),
			 -1);
	eth(frame, guest_mac, host_mac, 0x88b5, 60);
	assert_int_equal(rss_frame_hash(all, ms_key, 40, frame, 74, &h), -1);
}

/* Sets the guest's RSS: every one of the 128 table entries names channel chan. */
static void set_rss_all_to(struct fx *f, uint32_t chan)
{
	uint8_t buf[sizeof(struct ndis_recv_scale_param) + 128 * 4 + 40] = {0};
	struct ndis_recv_scale_param p = {
		.hdr = {.type = NDIS_OBJECT_TYPE_RSS_PARAMETERS,
			.revision = 2,
			.size = sizeof(struct ndis_recv_scale_param)},
		.hashinfo = NDIS_HASH_FUNC_TOEPLITZ | NDIS_HASH_IPV4 | NDIS_HASH_TCP_IPV4 |
			    NDIS_HASH_IPV6 | NDIS_HASH_TCP_IPV6,
		.indirect_tabsize = 128 * 4,
		.indirect_taboffset = sizeof(struct ndis_recv_scale_param),
		.hashkey_size = 40,
		.hashkey_offset = sizeof(struct ndis_recv_scale_param) + 128 * 4,
	};
	uint32_t status = 0;
	unsigned i;

	memcpy(buf, &p, sizeof(p));
	for (i = 0; i < 128; i++)
		memcpy(buf + p.indirect_taboffset + 4 * i, &chan, 4);
	memcpy(buf + p.hashkey_offset, ms_key, 40);
	assert_int_equal(netvsc_client_set(f->nc, RNDIS_OID_GEN_RECEIVE_SCALE_PARAMETERS, buf,
					   sizeof(buf), &status),
			 0);
	assert_int_equal(status, RNDIS_STATUS_SUCCESS);
}

/*
 * Flows the TAP spreads over its four queues arrive on the one channel the guest's table
 * names, whichever queue the kernel picked: only that channel is polled, so a frame left
 * on another channel is never seen.
 */
static void rss_flows_arrive_on(struct fx *f, unsigned chan, uint16_t port0)
{
	enum { FLOWS = 32 };
	uint8_t frame[128], got[2000];
	bool seen[FLOWS] = {false};
	unsigned i, nseen = 0;

	for (i = 0; i < FLOWS; i++) {
		size_t len = tcp4(frame, 0x0a000002, 0x0a000001, (uint16_t)(port0 + i), 80);

		host_send(f, NULL, frame, len);
	}
	for (i = 0; i < 1000 && nseen < FLOWS; i++) {
		size_t n = sizeof(got);

		if (netvsc_client_recv_frame(f->nc, got, &n, NULL) == 0) {
			uint16_t sport = (uint16_t)(got[34] << 8 | got[35]);

			if (n == 54 && got[23] == 6 && sport >= port0 && sport < port0 + FLOWS &&
			    !seen[sport - port0]) {
				seen[sport - port0] = true;
				nseen++;
			}
			continue;
		}
		netvsc_client_poll(f->nc, chan, 10);
	}
	assert_int_equal(nseen, FLOWS);
}

/* vRSS receive: the guest's indirection table picks the channel, not the TAP's queue. */
static void test_rss_table(void **state)
{
	struct fx *f = *state;
	struct netvsc_client_config cfg = {.subchannels = QUEUES - 1};
	struct netvsc_client_stats cs;
	struct netvsp_stats st;

	assert_int_equal(netvsc_client_open(f->vc, &f->offer, &cfg, &f->nc), 0);
	assert_int_equal(netvsc_client_channels(f->nc), QUEUES);
	wait_send_table(f, &cs);
	set_rss_all_to(f, 2);
	rss_flows_arrive_on(f, 2, 40000);
	set_rss_all_to(f, 1);
	rss_flows_arrive_on(f, 1, 41000);
	netvsp_get_stats(f->nv, &st);
	/* 64 flows over four TAP queues: some were read on a queue that was not theirs. */
	assert_true(st.rx_steered > 0);
	assert_int_equal(st.drop_rx_steer, 0);
}

/* Refusals: a section index outside the send buffer, a receive section completed twice. */
static void test_bad_sections(void **state)
{
	struct fx *f = *state;
	struct nvsp_send_rndis_pkt m = {NVSP_MSG1_TYPE_SEND_RNDIS_PKT, 0,
					netvsc_client_send_sections(f->nc), 60};
	uint8_t buf[NVSP_MESSAGE_SIZE] = {0}, comp[64], frame[200], got[200];
	size_t n = sizeof(comp), len;
	struct netvsp_stats st;
	uint32_t status;

	memcpy(buf, &m, sizeof(m));
	assert_int_equal(netvsc_client_send_nvsp(f->nc, 0, buf, sizeof(buf), 77), 0);
	assert_int_equal(netvsc_client_wait_completion(f->nc, 0, 77, comp, &n, TMO), 0);
	memcpy(&status, comp + 4, 4);
	assert_int_equal(status, NVSP_STAT_FAIL);
	netvsp_get_stats(f->nv, &st);
	assert_int_equal(st.bad_sections, 1);
	/* A receive completion naming no section in flight. */
	assert_int_equal(netvsc_client_complete_rx(f->nc, 0, 12345), 0);
	len = eth(frame, guest_mac, host_mac, 0x88b5, 60);
	host_send(f, NULL, frame, len);
	n = sizeof(got);
	assert_int_equal(guest_recv(f, got, &n, NULL), 0);
	/* The channel loop serves the TAP and the ring in the order its poll reports them:
	 * the frame can reach the guest before the bad completion is read. */
	assert_true(WAIT_FOR((netvsp_get_stats(f->nv, &st), st.bad_releases == 1)));
	/* And the kernel's own (its reaction to the TAP's offloads changing, at RSC on). */
	assert_true(st.rx_packets >= 1);
}

/* Jumbo frames: the guest's NDIS_CONFIG asks for MTU 9000; sections and answers follow. */
static void test_mtu_9000(void **state)
{
	struct fx *f = *state;
	struct netvsc_client_config cfg = {.mtu = 9000};
	static uint8_t frame[9100], got[9100];
	struct netvsp_stats st;
	struct tap_vnet_hdr h;
	struct ifreq ifr = {0};
	size_t len, n = sizeof(got);
	uint32_t v, status;
	size_t vn = 4;
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), TAP);
	ifr.ifr_mtu = 9000;
	assert_int_equal(ioctl(s, SIOCSIFMTU, &ifr), 0);
	close(s);
	assert_int_equal(netvsc_client_open(f->vc, &f->offer, &cfg, &f->nc), 0);
	assert_int_equal(
		netvsc_client_query(f->nc, RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE, &v, &vn, &status), 0);
	assert_int_equal(v, 9000);
	assert_true(netvsc_client_recv_section_size(f->nc) >= 9014 + 44);
	netvsp_get_stats(f->nv, &st);
	assert_int_equal(st.mtu, 9000);
	/* Out: a 9014-byte frame, through GPA-direct ranges (it does not fit a send section). */
	len = eth(frame, host_mac, guest_mac, 0x88b5, 9000);
	{
		struct netvsc_tx tx = {.frame = frame, .len = len};

		assert_int_equal(netvsc_client_send(f->nc, 0, &tx), 0);
		assert_int_equal(netvsc_client_flush(f->nc, 0, TMO), 0);
		assert_int_equal(host_recv(f, &h, got, sizeof(got)), (ssize_t)len);
		assert_memory_equal(got, frame, len);
	}
	/* In: one 9014-byte frame in one receive section. */
	len = eth(frame, guest_mac, host_mac, 0x88b5, 9000);
	host_send(f, NULL, frame, len);
	assert_int_equal(guest_recv(f, got, &n, NULL), 0);
	assert_int_equal(n, len);
	assert_memory_equal(got, frame, len);
}

/* --- RSC --- */

static uint32_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/*
 * A TCP/IPv4 frame of len bytes from the host to the guest as the host stack hands a TSO
 * frame to a device: real IP lengths, the IPv4 header checksum, the TCP checksum field
 * seeded with the pseudo-header (CHECKSUM_PARTIAL), and its GSO vnet header.
 */
static size_t tcp_frame(uint8_t *frame, size_t len, uint32_t seq, struct tap_vnet_hdr *h)
{
	uint8_t *ip = frame + 14, *tcp = frame + 34;
	size_t i;

	memset(frame, 0, 54);
	eth(frame, guest_mac, host_mac, 0x0800, 0);
	ip[0] = 0x45;
	ip[2] = (uint8_t)((len - 14) >> 8);
	ip[3] = (uint8_t)(len - 14);
	ip[8] = 64;
	ip[9] = 6;
	inet_pton(AF_INET, "10.77.0.1", ip + 12);
	inet_pton(AF_INET, "10.77.0.10", ip + 16);
	ip[10] = ip[11] = 0;
	{
		uint16_t c = (uint16_t)~fold(sum16(ip, 20, 0));

		ip[10] = (uint8_t)(c >> 8);
		ip[11] = (uint8_t)c;
	}
	tcp[0] = 0x30, tcp[1] = 0x39; /* 12345 -> 5001 */
	tcp[2] = 0x13, tcp[3] = 0x89;
	tcp[4] = (uint8_t)(seq >> 24), tcp[5] = (uint8_t)(seq >> 16);
	tcp[6] = (uint8_t)(seq >> 8), tcp[7] = (uint8_t)seq;
	tcp[12] = 5 << 4;
	tcp[13] = 0x18; /* PSH ACK */
	tcp[14] = 0xff, tcp[15] = 0xff;
	for (i = 54; i < len; i++)
		frame[i] = (uint8_t)(i * 13 + seq);
	{
		uint16_t seed = fold(sum16(ip + 12, 8, 6u + (uint32_t)(len - 34)));

		tcp[16] = (uint8_t)(seed >> 8);
		tcp[17] = (uint8_t)seed;
	}
	*h = (struct tap_vnet_hdr){.flags = TAP_VNET_F_NEEDS_CSUM,
				   .gso_type = TAP_VNET_GSO_TCPV4,
				   .hdr_len = 54,
				   .gso_size = 1448,
				   .csum_start = 34,
				   .csum_offset = 16};
	return len;
}

/* The TCP checksum over the pseudo-header and segment of an IPv4 frame folds to 0xffff. */
static bool tcp_csum_ok(const uint8_t *frame, size_t len)
{
	return fold(sum16(frame + 34, len - 34, sum16(frame + 26, 8, 6u + (uint32_t)(len - 34)))) ==
		       0xffff &&
	       fold(sum16(frame + 14, 20, 0)) == 0xffff;
}

/*
 * RSC on (as Linux 6.1 turns it on): a 60,000-byte TCP frame the host stack hands the TAP
 * whole arrives in the guest as one frame, reassembled from the ranges of one receive
 * packet, byte for byte, with a TCP checksum that is right and marked succeeded. Then 200
 * of them, more sections than the receive buffer has: every completion gave its packet's
 * sections back.
 */
static void test_rsc(void **state)
{
	struct fx *f = *state;
	static uint8_t frame[65600], want[65600], got[65600];
	size_t len = tcp_frame(frame, 60000, 1000, &(struct tap_vnet_hdr){0}), n = sizeof(got);
	uint32_t csum, section = netvsc_client_recv_section_size(f->nc), pieces;
	struct netvsc_client_stats cs;
	struct netvsp_stats st;
	struct tap_vnet_hdr h;
	unsigned i, got_n = 0;

	netvsc_client_get_stats(f->nc, &cs);
	assert_true(cs.rsc);
	netvsp_get_stats(f->nv, &st);
	assert_true(st.rsc_v4 && st.rsc_v6);
	assert_true(netvsc_client_hwcaps(f->nc)->rsc_ip4 && netvsc_client_hwcaps(f->nc)->rsc_ip6);
	len = tcp_frame(frame, 60000, 1000, &h);
	memcpy(want, frame, len);
	host_send(f, &h, frame, len);
	assert_int_equal(guest_recv(f, got, &n, &csum), 0);
	assert_int_equal(n, len);
	assert_memory_equal(got + 54, want + 54, len - 54);
	assert_memory_equal(got, want, 16); /* the headers up to the checksums */
	assert_true(csum & NDIS_RX_CSUM_TCP_SUCCEEDED);
	assert_true(tcp_csum_ok(got, n));
	/* One packet, each range a section's worth: 76 bytes of RNDIS header and PPIs each. */
	pieces = (uint32_t)((len + (section - 76) - 1) / (section - 76));
	netvsc_client_get_stats(f->nc, &cs);
	assert_int_equal(cs.rx_rsc, 1);
	assert_int_equal(cs.rx_rsc_pieces, pieces);
	assert_int_equal(cs.bad, 0);
	netvsp_get_stats(f->nv, &st);
	assert_int_equal(st.rx_rsc, 1);
	assert_int_equal(st.rx_rsc_segments, (60000 - 54 + 1447) / 1448);
	assert_int_equal(st.drop_rx_gso, 0);
	/* 200 frames of `pieces` sections each: far more than the buffer's sections. */
	for (i = 0; i < 200; i++) {
		len = tcp_frame(frame, 60000, 2000 + i, &h);
		host_send(f, &h, frame, len);
		n = sizeof(got);
		if (guest_recv(f, got, &n, &csum) == 0 && n == len && tcp_csum_ok(got, n))
			got_n++;
	}
	assert_true(200u * pieces > 4u * 1024 * 1024 / section);
	assert_int_equal(got_n, 200);
	netvsp_get_stats(f->nv, &st);
	assert_int_equal(st.rx_rsc, 201);
	assert_int_equal(st.bad_releases, 0);
	netvsc_client_get_stats(f->nc, &cs);
	assert_int_equal(cs.bad, 0);
}

/*
 * RSC off (`ethtool -K eth0 lro off`): the TAP takes no large frames, so the kernel cuts the
 * same 60,000-byte frame into MSS-sized segments before netvsp reads them; the guest gets
 * them one section each, and together they carry the same bytes.
 */
static void test_rsc_off(void **state)
{
	struct fx *f = *state;
	struct netvsc_client_config cfg = {.no_rsc = true};
	static uint8_t frame[65600], got[2000], all[65600];
	size_t len, n, pos = 54;
	uint32_t csum;
	struct netvsc_client_stats cs;
	struct netvsp_stats st;
	struct tap_vnet_hdr h;
	unsigned segs = 0;

	assert_int_equal(netvsc_client_open(f->vc, &f->offer, &cfg, &f->nc), 0);
	netvsp_get_stats(f->nv, &st);
	assert_false(st.rsc_v4 || st.rsc_v6);
	len = tcp_frame(frame, 60000, 1000, &h);
	host_send(f, &h, frame, len);
	memcpy(all, frame, 54);
	while (pos < len) {
		n = sizeof(got);
		assert_int_equal(guest_recv(f, got, &n, &csum), 0);
		assert_true(n <= 1514 && n > 54);
		assert_true(tcp_csum_ok(got, n));
		memcpy(all + pos, got + 54, n - 54);
		pos += n - 54;
		segs++;
	}
	assert_int_equal(pos, len);
	assert_memory_equal(all + 54, frame + 54, len - 54);
	assert_int_equal(segs, (60000 - 54 + 1447) / 1448);
	netvsp_get_stats(f->nv, &st);
	assert_int_equal(st.rx_rsc, 0);
	netvsc_client_get_stats(f->nc, &cs);
	assert_int_equal(cs.rx_rsc, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_handshake, setup, teardown),
		cmocka_unit_test_setup_teardown(test_versions, setup_bare, teardown),
		cmocka_unit_test_setup_teardown(test_tx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spoofed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_checksum_offload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_lso, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_checksum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subchannels, setup_bare, teardown),
		cmocka_unit_test(test_rss_hash),
		cmocka_unit_test_setup_teardown(test_rss_table, setup_bare, teardown),
		cmocka_unit_test_setup_teardown(test_bad_sections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mtu_9000, setup_bare, teardown),
		cmocka_unit_test_setup_teardown(test_rsc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rsc_off, setup_bare, teardown),
	};

	/* Every TAP and address of this test lives in a network namespace of its own. */
	if (unshare(CLONE_NEWNET) < 0) {
		printf("1..0 # SKIP unshare(CLONE_NEWNET): %s (needs root)\n", strerror(errno));
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}

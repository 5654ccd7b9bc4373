/*
 * The hostile-guest suite, network part: a netvsc that sends what Linux
 * never would, through open channels of the real netvsp over the real
 * VMBus server and a real TAP in a network namespace of the test's own
 * (tests/lib/netvsc_client.c for the handshake and well-formed frames,
 * raw NVSP and RNDIS for the rest). Every case checks the answer the
 * guest gets (an error status or a drop), the counter that says so, that
 * the adapter still passes a good frame afterwards, and a resident-memory
 * bound; under ASan, nothing outside guest RAM is touched.
 */
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

#include "base/log.h"
#include "hostile.h"
#include "hvdef/netvsp_proto.h"
#include "net/tap.h"
#include "netvsc_client.h"
#include "vsp/netvsp/netvsp.h"

#define TAP "hnv0"
#define TMO 5000

static const uint8_t guest_mac[6] = {0x00, 0x15, 0x5d, 0x00, 0x00, 0x01};
static const uint8_t host_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};

struct fx {
	struct vmbus_client *vc;
	struct netvsp *nv;
	struct vmbus_msg_offer_channel offer;
	struct netvsc_client *nc;
	int pkt;
	uint64_t rss0;
};

static void quiet(void *opaque, enum log_level level, const char *line)
{
}

static void if_up(const char *name)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr = {0};

	assert_true(s >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	close(s);
}

static int setup_with(void **state, bool hold_rx, unsigned recv_pages)
{
	struct vmbus_client_config cfg = {.vcpus = 2, .ram_size = 64 << 20};
	struct netvsp_config c = {.vcpus = 2, .connected = true, .ntap = 1};
	struct netvsc_client_config ncfg = {.recv_buf_pages = recv_pages, .hold_rx = hold_rx};
	struct fx *f = calloc(1, sizeof(*f));
	struct vmbus_msg_offer_channel o[4];
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
	int fd, one = 1;

	log_set_sink(quiet, NULL);
	assert_int_equal(tap_open(TAP, 1, &fd), 0);
	if_up(TAP);
	f->pkt = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));
	assert_true(f->pkt >= 0);
	assert_int_equal(setsockopt(f->pkt, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)), 0);
	sll.sll_ifindex = (int)if_nametoindex(TAP);
	assert_int_equal(bind(f->pkt, (struct sockaddr *)&sll, sizeof(sll)), 0);
	assert_int_equal(vmbus_client_new(&cfg, &f->vc), 0);
	c.server = vmbus_client_server(f->vc);
	c.mem = vmbus_client_memory(f->vc);
	memcpy(c.mac, guest_mac, 6);
	c.tap_fds = &fd;
	assert_int_equal(netvsp_new(&c, &f->nv), 0);
	assert_int_equal(vmbus_client_connect(f->vc, VMBUS_VERSION_WIN10_V5_2), 1);
	assert_int_equal(vmbus_client_request_offers(f->vc, o, 4), 1);
	f->offer = o[0];
	assert_int_equal(netvsc_client_open(f->vc, &f->offer, &ncfg, &f->nc), 0);
	f->rss0 = hostile_resident_bytes();
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, false, 64);
}

static int setup_hold(void **state)
{
	return setup_with(state, true, 64);
}

/* A receive buffer of 16 pages: 35 sections, fewer than one coalesced 60,000-byte frame needs. */
static int setup_tiny(void **state)
{
	return setup_with(state, false, 16);
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

static size_t eth(uint8_t *buf, const uint8_t *dst, const uint8_t *src, size_t payload)
{
	memcpy(buf, dst, 6);
	memcpy(buf + 6, src, 6);
	buf[12] = 0x88;
	buf[13] = 0xb5;
	memset(buf + 14, 0x5a, payload);
	return 14 + payload;
}

/* Frames from the guest seen on the TAP within 1 s. */
static unsigned host_count(struct fx *f)
{
	unsigned n = 0;
	int idle;

	for (idle = 0; idle < 50;) {
		struct pollfd p = {.fd = f->pkt, .events = POLLIN};
		uint8_t raw[70000];
		ssize_t r;

		if (poll(&p, 1, 20) <= 0) {
			idle++;
			continue;
		}
		r = recv(f->pkt, raw, sizeof(raw), 0);
		if (r >= (ssize_t)(sizeof(struct tap_vnet_hdr) + 14) &&
		    !memcmp(raw + sizeof(struct tap_vnet_hdr) + 6, guest_mac, 6))
			n++;
	}
	return n;
}

/* The adapter still works: one good frame goes out. */
static void assert_alive(struct fx *f)
{
	uint8_t frame[200];
	struct netvsc_tx tx = {.frame = frame, .len = eth(frame, host_mac, guest_mac, 60)};

	assert_int_equal(netvsc_client_send(f->nc, 0, &tx), 0);
	assert_int_equal(netvsc_client_flush(f->nc, 0, TMO), 0);
	assert_int_equal(host_count(f), 1);
}

/* One raw SEND_RNDIS_PKT naming send section 0 filled with msg; returns the NVSP status. */
static uint32_t send_in_section(struct fx *f, uint32_t index, uint32_t size, const void *msg,
				size_t len)
{
	struct nvsp_send_rndis_pkt m = {NVSP_MSG1_TYPE_SEND_RNDIS_PKT, NVSP_RNDIS_CHANNEL_DATA,
					index, size};
	uint8_t buf[NVSP_MESSAGE_SIZE] = {0}, comp[64];
	size_t n = sizeof(comp);
	uint32_t status;

	if (msg)
		assert_int_equal(netvsc_client_fill_section(f->nc, 0, msg, len), 0);
	memcpy(buf, &m, sizeof(m));
	assert_int_equal(netvsc_client_send_nvsp(f->nc, 0, buf, sizeof(buf), 4242), 0);
	assert_int_equal(netvsc_client_wait_completion(f->nc, 0, 4242, comp, &n, TMO), 0);
	memcpy(&status, comp + 4, 4);
	return status;
}

static size_t rndis_packet(uint8_t *out, uint32_t data_offset, uint32_t data_len,
			   uint32_t ppi_offset, const void *ppis, uint32_t ppi_len,
			   size_t frame_len)
{
	struct rndis_packet p = {.data_offset = data_offset,
				 .data_len = data_len,
				 .per_pkt_info_offset = ppi_offset,
				 .per_pkt_info_len = ppi_len};
	uint32_t hdr[2] = {RNDIS_MSG_PACKET, (uint32_t)(8 + 36 + ppi_len + frame_len)};

	memcpy(out, hdr, 8);
	memcpy(out + 8, &p, sizeof(p));
	if (ppi_len)
		memcpy(out + 44, ppis, ppi_len);
	eth(out + 44 + ppi_len, host_mac, guest_mac, frame_len - 14);
	return hdr[1];
}

/* RNDIS messages with bad lengths and offsets, and PPIs pointing outside their message. */
static void test_bad_rndis(void **state)
{
	struct fx *f = *state;
	struct netvsp_stats st;
	uint8_t msg[512];
	struct rndis_ppi zero[2] = {{0, NDIS_PPI_TCPIP_CHKSUM, 12}, {0, 0, 0}};
	struct rndis_ppi past[2] = {{16, NDIS_PPI_TCPIP_CHKSUM, 400}, {0, 0, 0}};
	struct rndis_ppi huge[2] = {{4000, NDIS_PPI_TCP_LARGESEND, 12}, {0, 0, 0}};
	struct {
		const char *what;
		size_t len;
		uint32_t section_size; /* 0: len */
	} cases[8];
	unsigned i, n = 0;
	uint64_t bad0;
	size_t len;

	netvsp_get_stats(f->nv, &st);
	bad0 = st.bad_packets;
	/* data_offset past the message */
	len = rndis_packet(msg, 9000, 60, 0, NULL, 0, 60);
	assert_int_equal(send_in_section(f, 0, (uint32_t)len, msg, len),
			 NVSP_STAT_INVALID_RNDIS_PKT);
	n++;
	/* data_len past the message */
	len = rndis_packet(msg, 36, 6000, 0, NULL, 0, 60);
	assert_int_equal(send_in_section(f, 0, (uint32_t)len, msg, len),
			 NVSP_STAT_INVALID_RNDIS_PKT);
	n++;
	/* a PPI of size 0 (Linux's own parser would loop for ever on it) */
	len = rndis_packet(msg, 36 + 12, 60, 36, zero, 12, 60);
	assert_int_equal(send_in_section(f, 0, (uint32_t)len, msg, len),
			 NVSP_STAT_INVALID_RNDIS_PKT);
	n++;
	/* a PPI whose payload offset is past the PPI */
	len = rndis_packet(msg, 36 + 16, 60, 36, past, 16, 60);
	assert_int_equal(send_in_section(f, 0, (uint32_t)len, msg, len),
			 NVSP_STAT_INVALID_RNDIS_PKT);
	n++;
	/* a PPI larger than its message */
	len = rndis_packet(msg, 36 + 16, 60, 36, huge, 16, 60);
	assert_int_equal(send_in_section(f, 0, (uint32_t)len, msg, len),
			 NVSP_STAT_INVALID_RNDIS_PKT);
	n++;
	/* the PPI area pointing outside the message */
	len = rndis_packet(msg, 36, 60, 5000, zero, 12, 60);
	assert_int_equal(send_in_section(f, 0, (uint32_t)len, msg, len),
			 NVSP_STAT_INVALID_RNDIS_PKT);
	n++;
	/* msg_len larger than the bytes the section holds */
	len = rndis_packet(msg, 36, 60, 0, NULL, 0, 60);
	assert_int_equal(send_in_section(f, 0, 50, msg, len), NVSP_STAT_INVALID_RNDIS_PKT);
	n++;
	/* msg_len 0 */
	memset(msg + 4, 0, 4);
	assert_int_equal(send_in_section(f, 0, 64, msg, 64), NVSP_STAT_INVALID_RNDIS_PKT);
	n++;
	(void)cases;
	netvsp_get_stats(f->nv, &st);
	assert_int_equal(st.bad_packets - bad0, n);
	assert_int_equal(st.tx_packets, 0);
	assert_int_equal(host_count(f), 0);
	assert_alive(f);
	hostile_assert_growth(f->rss0, 4 * MiB);
	for (i = 0; i < n; i++) {
		/* nothing more to check per case: each was answered above */
	}
}

/*
 * The same with messages longer than the bytes netvsp copies before it parses (256: larger
 * frames go to the TAP from guest memory past their headers): bad lengths and PPIs are
 * refused alike, and PPIs or offload headers that reach past the copied bytes take the
 * whole-copy path and still go out.
 */
static void test_bad_rndis_large(void **state)
{
	struct fx *f = *state;
	struct netvsp_stats st;
	static uint8_t msg[6144];
	struct rndis_ppi zero[2] = {{0, NDIS_PPI_TCPIP_CHKSUM, 12}, {0, 0, 0}};
	uint8_t many[25 * 16];
	uint8_t lso[16];
	struct rndis_ppi ph;
	uint32_t v;
	unsigned i;
	uint64_t bad0;
	size_t len;

	netvsp_get_stats(f->nv, &st);
	bad0 = st.bad_packets;
	/* data_offset past the message; data_len past it; a PPI of size 0 */
	len = rndis_packet(msg, 9000, 1400, 0, NULL, 0, 1400);
	assert_int_equal(send_in_section(f, 0, (uint32_t)len, msg, len),
			 NVSP_STAT_INVALID_RNDIS_PKT);
	len = rndis_packet(msg, 36, 6000, 0, NULL, 0, 1400);
	assert_int_equal(send_in_section(f, 0, (uint32_t)len, msg, len),
			 NVSP_STAT_INVALID_RNDIS_PKT);
	len = rndis_packet(msg, 36 + 12, 1400, 36, zero, 12, 1400);
	assert_int_equal(send_in_section(f, 0, (uint32_t)len, msg, len),
			 NVSP_STAT_INVALID_RNDIS_PKT);
	/* msg_len larger than the bytes the section holds */
	len = rndis_packet(msg, 36, 1400, 0, NULL, 0, 1400);
	assert_int_equal(send_in_section(f, 0, 600, msg, len), NVSP_STAT_INVALID_RNDIS_PKT);
	/* 400 bytes of PPIs (hash values): the frame starts past the copied bytes; it goes out */
	for (i = 0; i < 25; i++) {
		ph = (struct rndis_ppi){16, NDIS_PPI_NBL_HASH_VALUE, 12};
		memcpy(many + 16 * i, &ph, 12);
		memset(many + 16 * i + 12, 0x11, 4);
	}
	len = rndis_packet(msg, 36 + sizeof(many), 1400, 36, many, sizeof(many), 1400);
	assert_int_equal(send_in_section(f, 0, (uint32_t)len, msg, len), NVSP_STAT_SUCCESS);
	/* LSO whose TCP header starts at byte 400 of the frame, past the copy: it goes out */
	ph = (struct rndis_ppi){16, NDIS_PPI_TCP_LARGESEND, 12};
	memcpy(lso, &ph, 12);
	v = 1000u | (400u << 20) | NDIS_LSO_TYPE_V2;
	memcpy(lso + 12, &v, 4);
	len = rndis_packet(msg, 36 + 16, 1400, 36, lso, 16, 1400);
	{
		uint8_t *fr = msg + 44 + 16;

		fr[12] = 0x08, fr[13] = 0x00;
		memset(fr + 14, 0, 20);
		fr[14] = 0x4f; /* 60-byte IPv4 header */
		fr[23] = 6;
		fr[400 + 12] = 5 << 4;
	}
	assert_int_equal(send_in_section(f, 0, (uint32_t)len, msg, len), NVSP_STAT_SUCCESS);
	netvsp_get_stats(f->nv, &st);
	assert_int_equal(st.bad_packets - bad0, 4);
	assert_int_equal(st.tx_packets, 2);
	assert_int_equal(host_count(f), 2);
	assert_alive(f);
	hostile_assert_growth(f->rss0, 4 * MiB);
}

/* Send-buffer section indices out of range, sizes past the section, ranges outside RAM. */
static void test_bad_sections(void **state)
{
	struct fx *f = *state;
	uint32_t count = netvsc_client_send_sections(f->nc);
	struct netvsp_stats st;

	assert_int_equal(send_in_section(f, count, 60, NULL, 0), NVSP_STAT_FAIL);
	assert_int_equal(send_in_section(f, 0xfffffffe, 60, NULL, 0), NVSP_STAT_FAIL);
	assert_int_equal(send_in_section(f, 0, 6145, NULL, 0), NVSP_STAT_FAIL);
	netvsp_get_stats(f->nv, &st);
	assert_int_equal(st.bad_sections, 3);
	/* A GPA-direct range on a page that is not guest RAM. */
	{
		struct vmbus_packet_desc d = {.type = VMBUS_PKT_DATA_USING_GPA_DIRECT,
					      .flags = VMBUS_PKT_FLAG_COMPLETION_REQUESTED,
					      .trans_id = 99};
		struct nvsp_send_rndis_pkt m = {NVSP_MSG1_TYPE_SEND_RNDIS_PKT, 0,
						NVSP_INVALID_SECTION_INDEX, 0};
		uint8_t hdr[40] = {0}, body[NVSP_MESSAGE_SIZE] = {0}, comp[64];
		uint32_t cnt_off[2] = {100, 0}, one = 1, status;
		uint64_t pfn = (UINT64_C(1) << 40) / 4096;
		size_t n = sizeof(comp);

		memcpy(hdr, &d, 16);
		memcpy(hdr + 20, &one, 4);
		memcpy(hdr + 24, cnt_off, 8);
		memcpy(hdr + 32, &pfn, 8);
		memcpy(body, &m, sizeof(m));
		assert_int_equal(vmbus_client_send_raw(netvsc_client_vmbus(f->nc, 0), hdr, 40, body,
						       sizeof(body)),
				 0);
		assert_int_equal(netvsc_client_wait_completion(f->nc, 0, 99, comp, &n, TMO), 0);
		memcpy(&status, comp + 4, 4);
		assert_int_equal(status, NVSP_STAT_FAIL);
	}
	assert_alive(f);
	hostile_assert_growth(f->rss0, 4 * MiB);
}

static void host_send(struct fx *f, unsigned count)
{
	uint8_t raw[300] = {0};
	unsigned i;

	eth(raw + sizeof(struct tap_vnet_hdr), guest_mac, host_mac, 100);
	for (i = 0; i < count; i++) {
		struct pollfd p = {.fd = f->pkt, .events = POLLOUT};

		poll(&p, 1, 100);
		if (send(f->pkt, raw, sizeof(struct tap_vnet_hdr) + 114, 0) < 0) {
			/* the TAP's queue is full: the kernel drops, as a real port would */
		}
	}
}

/* Polls until the host has sent nothing more for 200 ms. */
static void poll_quiet(struct fx *f)
{
	int idle = 0;

	while (idle < 20)
		idle = netvsc_client_poll(f->nc, 0, 10) > 0 ? 0 : idle + 1;
}

/* Receive sections released twice, or never: counted; the held ones bound what is delivered. */
static void test_rx_sections(void **state)
{
	struct fx *f = *state;
	struct netvsc_client_stats cs;
	struct netvsp_stats st;
	uint64_t ids[4096];
	unsigned held, i;

	/* Released twice (no frame waits, so the section stays free in between). */
	host_send(f, 3);
	poll_quiet(f);
	held = netvsc_client_held_rx(f->nc, ids, 4096);
	assert_true(held >= 3);
	assert_int_equal(netvsc_client_complete_rx(f->nc, 0, ids[held - 1]), 0);
	poll_quiet(f);
	assert_int_equal(netvsc_client_complete_rx(f->nc, 0, ids[held - 1]), 0);
	assert_int_equal(netvsc_client_complete_rx(f->nc, 0, 0), 0);
	assert_int_equal(netvsc_client_complete_rx(f->nc, 0, UINT64_MAX), 0);
	for (i = 0; i < 500; i++) {
		netvsp_get_stats(f->nv, &st);
		if (st.bad_releases >= 3)
			break;
		usleep(10000);
	}
	assert_int_equal(st.bad_releases, 3);
	/* Never released: the host stops at the buffer's sections (minus its control reserve). */
	host_send(f, 1000);
	poll_quiet(f);
	held = netvsc_client_held_rx(f->nc, ids, 4096);
	netvsc_client_get_stats(f->nc, &cs);
	netvsp_get_stats(f->nv, &st);
	/* Held: the handshake's control replies and the frames, bounded by the buffer. */
	assert_int_equal(st.rx_packets, cs.rx_frames);
	assert_true(held >= cs.rx_frames);
	assert_true(cs.rx_frames > 3 && cs.rx_frames < 1000);
	hostile_assert_growth(f->rss0, 8 * MiB);
	/* The guest closes with sections still held: counted as never released. */
	netvsc_client_close(f->nc);
	f->nc = NULL;
	netvsp_get_stats(f->nv, &st);
	assert_true(st.unreleased >= held - 1);
}

/*
 * count 60,000-byte TCP frames from the host as its stack hands them to a device that takes
 * large frames (a GSO vnet header); with RSC on, the TAP passes them whole.
 */
static unsigned host_send_large(struct fx *f, unsigned count)
{
	static uint8_t raw[10 + 60000];
	struct tap_vnet_hdr h = {.flags = TAP_VNET_F_NEEDS_CSUM,
				 .gso_type = TAP_VNET_GSO_TCPV4,
				 .hdr_len = 54,
				 .gso_size = 1448,
				 .csum_start = 34,
				 .csum_offset = 16};
	uint8_t *fr = raw + sizeof(h);
	unsigned i, sent = 0;

	memcpy(raw, &h, sizeof(h));
	eth(fr, guest_mac, host_mac, 60000 - 14);
	fr[12] = 0x08, fr[13] = 0x00;
	memset(fr + 14, 0, 40);
	fr[14] = 0x45;
	fr[16] = (uint8_t)((60000 - 14) >> 8), fr[17] = (uint8_t)(60000 - 14);
	fr[22] = 64, fr[23] = 6;
	fr[26] = 10, fr[29] = 1, fr[30] = 10, fr[33] = 2;
	fr[46] = 5 << 4, fr[47] = 0x10;
	for (i = 0; i < count; i++) {
		struct pollfd p = {.fd = f->pkt, .events = POLLOUT};

		poll(&p, 1, 100);
		/* Refused (the socket's send buffer holds frames the TAP has not passed on) or
		 * dropped by the TAP's full queue, as a host TCP sender would be held back. */
		if (send(f->pkt, raw, sizeof(raw), 0) > 0)
			sent++;
	}
	return sent;
}

/*
 * RSC receives, each several sections named by its first: a completion naming a later
 * section of one is refused and counted, the right one frees them all, a second is counted.
 * A guest that never completes them stops the host at what the buffer holds; the kernel
 * queues and drops the rest behind the TAP, and the worker's memory stays bounded.
 */
static void test_rsc_sections(void **state)
{
	struct fx *f = *state;
	struct netvsc_client_stats cs;
	struct netvsp_stats st;
	uint64_t ids[4096], id;
	unsigned held, i, sent;

	netvsc_client_get_stats(f->nc, &cs);
	assert_true(cs.rsc);
	host_send_large(f, 1);
	poll_quiet(f);
	netvsc_client_get_stats(f->nc, &cs);
	assert_int_equal(cs.rx_rsc, 1);
	held = netvsc_client_held_rx(f->nc, ids, 4096);
	id = ids[held - 1];
	assert_int_equal(netvsc_client_complete_rx(f->nc, 0, id + 1), 0);
	assert_int_equal(netvsc_client_complete_rx(f->nc, 0, id), 0);
	poll_quiet(f);
	assert_int_equal(netvsc_client_complete_rx(f->nc, 0, id), 0);
	for (i = 0; i < 500; i++) {
		netvsp_get_stats(f->nv, &st);
		if (st.bad_releases >= 2)
			break;
		usleep(10000);
	}
	assert_int_equal(st.bad_releases, 2);
	/* Never completed: 64 pages hold 141 sections, 125 for frames, three 35-section frames. */
	sent = host_send_large(f, 800);
	poll_quiet(f);
	netvsp_get_stats(f->nv, &st);
	netvsc_client_get_stats(f->nc, &cs);
	assert_int_equal(st.rx_rsc, cs.rx_rsc);
	assert_true(st.rx_rsc >= 2 && st.rx_rsc <= 4);
	/*
	 * The rest stay with the kernel: the TAP's queue (500 frames), then its qdisc, drop
	 * and count them (tun.c; newer kernels pause the queue instead), not netvsp.
	 */
	assert_true(sent > 500);
	hostile_assert_growth(f->rss0, 8 * MiB);
	netvsc_client_close(f->nc);
	f->nc = NULL;
	netvsp_get_stats(f->nv, &st);
	assert_true(st.unreleased >= 3 * 35);
}

/* A coalesced frame that needs more sections than the buffer has: dropped and counted. */
static void test_rsc_too_big(void **state)
{
	struct fx *f = *state;
	struct netvsp_stats st;
	unsigned i;

	assert_int_equal(host_send_large(f, 5), 5);
	for (i = 0; i < 100; i++) {
		netvsc_client_poll(f->nc, 0, 10);
		netvsp_get_stats(f->nv, &st);
		if (st.drop_rx_gso >= 5)
			break;
	}
	assert_int_equal(st.drop_rx_gso, 5);
	assert_int_equal(st.rx_rsc, 0);
	assert_alive(f);
}

/* A flood far beyond the ring's capacity, both ways: drops and waits, bounded memory. */
static void test_flood(void **state)
{
	struct fx *f = *state;
	uint8_t frame[1600];
	struct netvsc_tx tx = {.frame = frame, .len = eth(frame, host_mac, guest_mac, 1400)};
	struct netvsp_stats st;
	unsigned sent = 0, full = 0, i;

	for (i = 0; i < 20000; i++) {
		int r = netvsc_client_send(f->nc, 0, &tx);

		if (r == -EAGAIN) {
			/* Ring or sections full: the guest waits for completions, as Linux does. */
			full++;
			netvsc_client_poll(f->nc, 0, 1);
			continue;
		}
		assert_int_equal(r, 0);
		sent++;
	}
	assert_int_equal(netvsc_client_flush(f->nc, 0, 30000), 0);
	assert_true(full > 0);
	netvsp_get_stats(f->nv, &st);
	assert_int_equal(st.tx_packets + st.drop_tx_error, sent);
	host_send(f, 5000);
	for (i = 0; i < 200; i++)
		netvsc_client_poll(f->nc, 0, 5);
	netvsp_get_stats(f->nv, &st);
	assert_true(st.rx_packets > 0);
	assert_int_equal(st.bad_packets, 0);
	hostile_assert_growth(f->rss0, 16 * MiB);
	while (host_count(f))
		;
	assert_alive(f);
}

/* NVSP messages out of place: unknown types, control on a sub-channel, short messages. */
static void test_bad_nvsp(void **state)
{
	struct fx *f = *state;
	uint8_t buf[NVSP_MESSAGE_SIZE] = {0}, comp[64];
	uint32_t t = 9999, status;
	size_t n = sizeof(comp);
	struct netvsp_stats st;

	memcpy(buf, &t, 4);
	assert_int_equal(netvsc_client_send_nvsp(f->nc, 0, buf, sizeof(buf), 5), 0);
	assert_int_equal(netvsc_client_wait_completion(f->nc, 0, 5, comp, &n, TMO), 0);
	memcpy(&status, comp + 4, 4);
	assert_int_equal(status, NVSP_STAT_FAIL);
	/* SEND_RNDIS_PKT of 6 bytes: too short for its fields. */
	t = NVSP_MSG1_TYPE_SEND_RNDIS_PKT;
	memcpy(buf, &t, 4);
	assert_int_equal(netvsc_client_send_nvsp(f->nc, 0, buf, 6, 6), 0);
	n = sizeof(comp);
	assert_int_equal(netvsc_client_wait_completion(f->nc, 0, 6, comp, &n, TMO), 0);
	netvsp_get_stats(f->nv, &st);
	assert_int_equal(st.bad_packets, 2);
	assert_alive(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bad_rndis, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_rndis_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_sections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_sections, setup_hold, teardown),
		cmocka_unit_test_setup_teardown(test_flood, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rsc_sections, setup_hold, teardown),
		cmocka_unit_test_setup_teardown(test_rsc_too_big, setup_tiny, teardown),
		cmocka_unit_test_setup_teardown(test_bad_nvsp, setup, teardown),
	};

	if (unshare(CLONE_NEWNET) < 0) {
		printf("1..0 # SKIP unshare(CLONE_NEWNET): %s (needs root)\n", strerror(errno));
		return 0;
	}
	/* No IPv6 in this namespace: the kernel then sends nothing of its own on the TAP. */
	{
		FILE *f = fopen("/proc/sys/net/ipv6/conf/default/disable_ipv6", "w");

		if (f) {
			fputs("1\n", f);
			fclose(f);
		}
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}

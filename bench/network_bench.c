/*
 * network-bench: the synthetic NIC (netvsp) driven by the guest-side netvsc
 * client (tests/lib/netvsc_client.c) on one thread, against the TAP's own
 * limit measured in the same run by a host program on the same TAP.
 * Everything runs in a network namespace of its own (unshare(CLONE_NEWNET)).
 *
 *   network-bench SECONDS   prints one JSON object:
 *     tx-64, tx-1500, tx-lso64k: guest -> TAP through netvsp (frames/s, Gbit/s, host CPU per
 *       frame without the client's thread, guest signals and host interrupts per 1,000)
 *     tap-write-64, tap-write-1500, tap-write-lso64k: the same frames written straight to a
 *       TAP queue by this program (the limit of the TX path)
 *     rx-64, rx-1500: frames injected into the TAP (AF_PACKET) delivered to the guest, and
 *     tap-read-64, tap-read-1500: the same injection read straight from the TAP queue
 */
#include <errno.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "net/tap.h"
#include "netvsc_client.h"
#include "vsp/netvsp/netvsp.h"

#define TAP "nvb0"

static const uint8_t guest_mac[6] = {0x00, 0x15, 0x5d, 0x00, 0x00, 0x01};
static const uint8_t host_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
static uint8_t frame[65600];

static void quiet(void *opaque, enum log_level level, const char *line)
{
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu(clockid_t c)
{
	struct timespec t;

	clock_gettime(c, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void if_up(const char *name)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr = {0};

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
			perror("SIOCSIFFLAGS");
	}
	close(s);
}

/* A TCP/IPv4 frame of len bytes from src to dst (LSO frames: lengths 0, as NDIS sends). */
static size_t make_frame(size_t len, const uint8_t *dst, const uint8_t *src, bool lso)
{
	memset(frame, 0, len);
	memcpy(frame, dst, 6);
	memcpy(frame + 6, src, 6);
	frame[12] = 0x08;
	frame[14] = 0x45;
	if (!lso) {
		frame[16] = (uint8_t)((len - 14) >> 8);
		frame[17] = (uint8_t)(len - 14);
	}
	frame[22] = 64;
	frame[23] = 6;
	frame[26] = 10, frame[29] = 2;
	frame[30] = 10, frame[33] = 1;
	frame[34 + 12] = 5 << 4;
	return len;
}

struct result {
	double frames_per_s, gbit_per_s, cpu_ns_per_frame, signals_per_1k, interrupts_per_1k;
	uint64_t frames;
};

static void print_result(const char *name, const struct result *r, bool last)
{
	printf("  \"%s\": {\"frames\": %llu, \"frames_per_s\": %.0f, \"gbit_per_s\": %.3f, "
	       "\"host_cpu_ns_per_frame\": %.0f, \"guest_signals_per_1k\": %.2f, "
	       "\"host_interrupts_per_1k\": %.2f}%s\n",
	       name, (unsigned long long)r->frames, r->frames_per_s, r->gbit_per_s,
	       r->cpu_ns_per_frame, r->signals_per_1k, r->interrupts_per_1k, last ? "" : ",");
}

struct rig {
	struct vmbus_client *vc;
	struct netvsp *nv;
	struct netvsc_client *nc;
	int pkt;    /* AF_PACKET on the TAP: injects frames towards the guest */
	int tap_fd; /* a second look at the same TAP for the limits: its own queue */
	_Atomic uint64_t rx;
};

/*
 * The socket that injects frames into the TAP (towards the guest). Send-only: protocol 0
 * registers no receive hook, so it does not take a copy of every frame the TAP passes (a
 * socket bound with ETH_P_ALL would clone each frame netvsp writes, a cost the TAP-limit
 * phases, which run with it unbound, did not pay; the copies it saw were never read).
 */
static int inject_socket(void)
{
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = 0};
	int s = socket(AF_PACKET, SOCK_RAW, 0);

	sll.sll_ifindex = (int)if_nametoindex(TAP);
	if (s < 0 || bind(s, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		if (s >= 0)
			close(s);
		return -1;
	}
	return s;
}

static void on_frame(void *opaque, unsigned chan, const uint8_t *f, size_t len, uint32_t csum)
{
	struct rig *r = opaque;

	atomic_fetch_add(&r->rx, 1);
}

static int rig_open(struct rig *r)
{
	struct vmbus_client_config cfg = {.vcpus = 2, .ram_size = 256 << 20};
	struct netvsp_config c = {.vcpus = 2, .connected = true, .ntap = 1};
	struct netvsc_client_config ncfg = {
		.on_frame = on_frame, .opaque = r, .ring_pages = 128, .recv_buf_pages = 4096};
	struct vmbus_msg_offer_channel o[4];
	int fd;

	if (tap_open(TAP, 1, &fd) < 0)
		return -1;
	if_up(TAP);
	r->pkt = inject_socket();
	if (r->pkt < 0)
		return -1;
	if (vmbus_client_new(&cfg, &r->vc) < 0)
		return -1;
	c.server = vmbus_client_server(r->vc);
	c.mem = vmbus_client_memory(r->vc);
	memcpy(c.mac, guest_mac, 6);
	c.tap_fds = &fd;
	if (netvsp_new(&c, &r->nv) < 0)
		return -1;
	if (vmbus_client_connect(r->vc, VMBUS_VERSION_WIN10_V5_2) != 1 ||
	    vmbus_client_request_offers(r->vc, o, 4) != 1)
		return -1;
	return netvsc_client_open(r->vc, &o[0], &ncfg, &r->nc);
}

/* guest -> TAP through netvsp, for `seconds`. */
static struct result run_tx(struct rig *r, size_t len, bool lso, double seconds)
{
	struct netvsc_tx tx = {.frame = frame, .len = make_frame(len, host_mac, guest_mac, lso)};
	struct vmbus_client_stats c0, c1;
	struct netvsp_stats s0, s1;
	struct result res = {0};
	double t0, t1, p0, p1, m0, m1;

	if (lso)
		tx.lso_ppi = 1448u | (34u << 20) | (1u << 30);
	vmbus_client_get_stats(r->vc, &c0);
	netvsp_get_stats(r->nv, &s0);
	t0 = now();
	p0 = cpu(CLOCK_PROCESS_CPUTIME_ID);
	m0 = cpu(CLOCK_THREAD_CPUTIME_ID);
	while (now() - t0 < seconds) {
		unsigned i;

		for (i = 0; i < 64; i++)
			if (netvsc_client_send(r->nc, 0, &tx) == -EAGAIN)
				break;
		netvsc_client_poll(r->nc, 0, i == 64 ? 0 : 1);
	}
	if (netvsc_client_flush(r->nc, 0, 10000) < 0)
		fprintf(stderr, "network-bench: tx did not drain\n");
	t1 = now();
	p1 = cpu(CLOCK_PROCESS_CPUTIME_ID);
	m1 = cpu(CLOCK_THREAD_CPUTIME_ID);
	vmbus_client_get_stats(r->vc, &c1);
	netvsp_get_stats(r->nv, &s1);
	res.frames = s1.tx_packets - s0.tx_packets;
	res.frames_per_s = (double)res.frames / (t1 - t0);
	res.gbit_per_s = res.frames_per_s * (double)len * 8 / 1e9;
	res.cpu_ns_per_frame = res.frames ? ((p1 - p0) - (m1 - m0)) * 1e9 / (double)res.frames : 0;
	res.signals_per_1k =
		res.frames ? (double)(c1.signals_sent - c0.signals_sent) * 1000 / (double)res.frames
			   : 0;
	res.interrupts_per_1k =
		res.frames ? (double)(c1.interrupts - c0.interrupts) * 1000 / (double)res.frames
			   : 0;
	return res;
}

/* The same frames written straight to a TAP queue by this thread. */
static struct result run_tap_write(int fd, size_t len, bool lso, double seconds)
{
	struct tap_vnet_hdr h = {0};
	struct iovec iov[2] = {{&h, sizeof(h)}, {frame, len}};
	struct result res = {0};
	double t0, c0;

	make_frame(len, host_mac, guest_mac, lso);
	if (lso) {
		frame[16] = (uint8_t)((len - 14) >> 8);
		frame[17] = (uint8_t)(len - 14);
		h = (struct tap_vnet_hdr){.flags = TAP_VNET_F_NEEDS_CSUM,
					  .gso_type = TAP_VNET_GSO_TCPV4,
					  .hdr_len = 54,
					  .gso_size = 1448,
					  .csum_start = 34,
					  .csum_offset = 16};
	}
	t0 = now();
	c0 = cpu(CLOCK_THREAD_CPUTIME_ID);
	while (now() - t0 < seconds) {
		unsigned i;

		for (i = 0; i < 64; i++)
			if (writev(fd, iov, 2) > 0)
				res.frames++;
	}
	res.frames_per_s = (double)res.frames / (now() - t0);
	res.gbit_per_s = res.frames_per_s * (double)len * 8 / 1e9;
	res.cpu_ns_per_frame =
		(cpu(CLOCK_THREAD_CPUTIME_ID) - c0) * 1e9 / (double)MAX(res.frames, 1);
	return res;
}

struct injector {
	int pkt;
	size_t len;
	double seconds;
	uint64_t sent;
};

static void *inject_main(void *arg)
{
	struct injector *in = arg;
	static uint8_t f[2000];
	double t0 = now();

	memcpy(f, guest_mac, 6);
	memcpy(f + 6, host_mac, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	while (now() - t0 < in->seconds)
		if (send(in->pkt, f, in->len, 0) > 0)
			in->sent++;
	return NULL;
}

/* Frames injected into the TAP (towards the guest), delivered by netvsp to the client. */
static struct result run_rx(struct rig *r, size_t len, double seconds)
{
	struct injector in = {.pkt = r->pkt, .len = len, .seconds = seconds};
	struct vmbus_client_stats c0, c1;
	struct result res = {0};
	pthread_t t;
	double t0, p0, m0, p1, m1;
	uint64_t rx0 = atomic_load(&r->rx);

	vmbus_client_get_stats(r->vc, &c0);
	t0 = now();
	p0 = cpu(CLOCK_PROCESS_CPUTIME_ID);
	m0 = cpu(CLOCK_THREAD_CPUTIME_ID);
	pthread_create(&t, NULL, inject_main, &in);
	while (now() - t0 < seconds + 0.2)
		netvsc_client_poll(r->nc, 0, 1);
	pthread_join(t, NULL);
	p1 = cpu(CLOCK_PROCESS_CPUTIME_ID);
	m1 = cpu(CLOCK_THREAD_CPUTIME_ID);
	vmbus_client_get_stats(r->vc, &c1);
	res.frames = atomic_load(&r->rx) - rx0;
	res.frames_per_s = (double)res.frames / seconds;
	res.gbit_per_s = res.frames_per_s * (double)len * 8 / 1e9;
	/* The VSP's threads: the process minus the client's thread (the injector is counted in). */
	res.cpu_ns_per_frame = res.frames ? ((p1 - p0) - (m1 - m0)) * 1e9 / (double)res.frames : 0;
	res.signals_per_1k =
		res.frames ? (double)(c1.signals_sent - c0.signals_sent) * 1000 / (double)res.frames
			   : 0;
	res.interrupts_per_1k =
		res.frames ? (double)(c1.interrupts - c0.interrupts) * 1000 / (double)res.frames
			   : 0;
	return res;
}

/* The same injection read straight from a TAP queue by this thread: the limit of the RX path. */
static struct result run_tap_read(int pkt, int fd, size_t len, double seconds)
{
	struct injector in = {.pkt = pkt, .len = len, .seconds = seconds};
	static uint8_t buf[70000];
	struct result res = {0};
	pthread_t t;
	double t0 = now();

	pthread_create(&t, NULL, inject_main, &in);
	while (now() - t0 < seconds + 0.2) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		if (poll(&p, 1, 5) > 0)
			while (read(fd, buf, sizeof(buf)) > 0)
				res.frames++;
	}
	pthread_join(t, NULL);
	res.frames_per_s = (double)res.frames / seconds;
	res.gbit_per_s = res.frames_per_s * (double)len * 8 / 1e9;
	return res;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 3;
	struct rig r = {0};
	struct result res;
	int limit_fd;

	log_set_sink(quiet, NULL);
	if (unshare(CLONE_NEWNET) < 0) {
		perror("network-bench: unshare(CLONE_NEWNET) (needs root)");
		return 2;
	}
	if (rig_open(&r) < 0) {
		fprintf(stderr, "network-bench: cannot set up the adapter\n");
		return 2;
	}
	printf("{\n");
	res = run_tx(&r, 64, false, seconds);
	print_result("tx-64", &res, false);
	res = run_tx(&r, 1500, false, seconds);
	print_result("tx-1500", &res, false);
	res = run_tx(&r, 65000, true, seconds);
	print_result("tx-lso64k", &res, false);
	res = run_rx(&r, 64, seconds);
	print_result("rx-64", &res, false);
	res = run_rx(&r, 1500, seconds);
	print_result("rx-1500", &res, false);
	/* The limits: netvsp's queue goes, a queue of this program's takes its place. */
	netvsc_client_close(r.nc);
	netvsp_free(r.nv);
	if (tap_open(TAP, 1, &limit_fd) < 0) {
		fprintf(stderr, "network-bench: cannot reopen the TAP\n");
		return 2;
	}
	if_up(TAP);
	res = run_tap_write(limit_fd, 64, false, seconds);
	print_result("tap-write-64", &res, false);
	res = run_tap_write(limit_fd, 1500, false, seconds);
	print_result("tap-write-1500", &res, false);
	res = run_tap_write(limit_fd, 65000, true, seconds);
	print_result("tap-write-lso64k", &res, false);
	/* The AF_PACKET socket was bound to the old ifindex: a new one for the new TAP. */
	close(r.pkt);
	r.pkt = inject_socket();
	if (r.pkt < 0)
		perror("network-bench: injection socket");
	res = run_tap_read(r.pkt, limit_fd, 64, seconds);
	print_result("tap-read-64", &res, false);
	res = run_tap_read(r.pkt, limit_fd, 1500, seconds);
	print_result("tap-read-1500", &res, true);
	printf("}\n");
	return 0;
}

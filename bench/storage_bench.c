/*
 * The storage VSP's own throughput, host code only: the guest-side storvsc
 * (tests/lib/storvsc_client.c) plays the guest on this program's main
 * thread, against the real VMBus server, storvsp and disk back end (the
 * channel's loop with its io_uring queue), exactly as in the worker.
 *
 *   storage-bench [--seconds S] [--size SIZE_MIB] [--job NAME]... [--poll-ns NS] FILE
 *
 * --poll-ns sets the channel loop's spin after the last packet
 * (vmbus_server_config.channel_poll_ns; default the server's, -1 none).
 *
 * FILE is any disk Parvis opens (raw or VHDX: detected by content). The
 * first SIZE_MIB MiB of the disk are the working set; it is written
 * sequentially first, so that reads hit allocated blocks in a dynamic VHDX.
 * Prints one JSON object per job on stdout:
 *   {"job": "randread-4k-qd32", "ios": N, "seconds": S, "iops": .., "mib_s": ..,
 *    "host_cpu_us_per_io": .., "signals_per_1000": .., "interrupts_per_1000": ..,
 *    "errors": 0}
 * host_cpu_us_per_io is the process's CPU time minus this (guest) thread's,
 * per I/O: what the VMBus server, storvsp and the disk back end spend.
 * Signals are guest->host HvSignalEvents, interrupts host->guest ones: the
 * exits a real guest pays, which carry over to hardware virtualization.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "disk/disk.h"
#include "storvsc_client.h"
#include "vsp/storvsp/storvsp.h"

#define MAX_DEPTH 64

struct job {
	const char *name;
	bool write, random;
	uint32_t block; /* bytes */
	unsigned depth;
};

/* The same jobs bench/storage.py gives fio on the host file (the limit). */
static const struct job jobs[] = {
	{"seqwrite-1m-qd8", true, false, 1 << 20, 8}, {"seqread-1m-qd8", false, false, 1 << 20, 8},
	{"randread-4k-qd1", false, true, 4096, 1},    {"randread-4k-qd32", false, true, 4096, 32},
	{"randwrite-4k-qd1", true, true, 4096, 1},    {"randwrite-4k-qd32", true, true, 4096, 32},
};

struct bench {
	struct vmbus_client *vc;
	struct storvsp *sp;
	struct storvsc_client *sc;
	struct storvsc_channel *ch;
	uint64_t buf_gpa[MAX_DEPTH];
	uint64_t size; /* working set, bytes */
	uint64_t rng;
};

static uint64_t cpu_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t next_random(struct bench *b)
{
	/* xorshift64*: deterministic, so runs are comparable. */
	b->rng ^= b->rng >> 12;
	b->rng ^= b->rng << 25;
	b->rng ^= b->rng >> 27;
	return b->rng * 0x2545f4914f6cdd1dull;
}

static int submit(struct bench *b, const struct job *j, unsigned slot, uint64_t *seq_off)
{
	uint64_t off;

	if (j->random) {
		off = next_random(b) % (b->size / j->block) * j->block;
	} else {
		off = *seq_off;
		*seq_off = (*seq_off + j->block) % b->size;
	}
	if (j->write)
		return storvsc_channel_submit_write(b->ch, 0, off / 512, j->block / 512,
						    b->buf_gpa[slot], slot, false);
	return storvsc_channel_submit_read(b->ch, 0, off / 512, j->block / 512, b->buf_gpa[slot],
					   slot);
}

/* Runs j for `seconds` (or until `bytes` are done when non-zero); prints its line. */
static int run_job(struct bench *b, const struct job *j, double seconds, uint64_t bytes, bool print)
{
	struct storvsc_completion done[MAX_DEPTH];
	struct vmbus_client_stats s0, s1;
	uint64_t seq_off = 0, ios = 0, errors = 0, inflight = 0, t0, t1, p0, p1, g0, g1;
	uint64_t deadline;
	bool stopping = false;
	unsigned i;

	vmbus_client_get_stats(b->vc, &s0);
	t0 = time_monotonic_ns();
	deadline = t0 + (uint64_t)(seconds * 1e9);
	p0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	g0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	for (i = 0; i < j->depth; i++) {
		if (submit(b, j, i, &seq_off) < 0)
			return -EIO;
		inflight++;
	}
	while (inflight) {
		int n = storvsc_channel_poll(b->ch, done, MAX_DEPTH, 5000);

		if (n <= 0) {
			fprintf(stderr, "storage-bench: %s: no completion for 5 s\n", j->name);
			return -ETIMEDOUT;
		}
		for (i = 0; i < (unsigned)n; i++) {
			inflight--;
			ios++;
			if (done[i].srb_status != 1 /* SRB_STATUS_SUCCESS */ || done[i].scsi_status)
				errors++;
			if (!stopping) {
				uint64_t now = (ios & 63) ? 0 : time_monotonic_ns();

				if (bytes ? ios * j->block >= bytes : (now && now >= deadline))
					stopping = true;
			}
			if (!stopping) {
				if (submit(b, j, (unsigned)done[i].tag, &seq_off) < 0)
					return -EIO;
				inflight++;
			}
		}
	}
	t1 = time_monotonic_ns();
	p1 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	g1 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	vmbus_client_get_stats(b->vc, &s1);
	if (print) {
		double secs = (double)(t1 - t0) / 1e9;

		printf("{\"job\": \"%s\", \"ios\": %llu, \"seconds\": %.3f, \"iops\": %.0f, "
		       "\"mib_s\": %.1f, \"host_cpu_us_per_io\": %.2f, \"signals_per_1000\": %.1f, "
		       "\"interrupts_per_1000\": %.1f, \"errors\": %llu}\n",
		       j->name, (unsigned long long)ios, secs, ios / secs,
		       ios * (double)j->block / secs / (1 << 20),
		       ((double)(p1 - p0) - (double)(g1 - g0)) / 1e3 / ios,
		       1000.0 * (double)(s1.signals_sent - s0.signals_sent) / ios,
		       1000.0 * (double)(s1.interrupts - s0.interrupts) / ios,
		       (unsigned long long)errors);
		fflush(stdout);
	}
	return errors ? -EIO : 0;
}

static int setup(struct bench *b, const char *path, uint64_t poll_ns)
{
	struct vmbus_client_config vcfg = {
		.vcpus = 1, .ram_size = 256 << 20, .channel_poll_ns = poll_ns};
	struct storvsp_config scfg = {.controller = 0, .vcpus = 1};
	struct storvsc_client_config ccfg = {.ring_pages = 64};
	struct vmbus_msg_offer_channel offers[8];
	struct disk_info info;
	struct guid want;
	struct disk *d;
	char err[256] = "";
	int r, n, i;

	r = disk_open(path, 0, &d, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "storage-bench: %s: %s\n", path, err[0] ? err : strerror(-r));
		return r;
	}
	disk_get_info(d, &info);
	if (info.size < b->size) {
		fprintf(stderr, "storage-bench: %s: disk smaller than the working set\n", path);
		disk_close(d);
		return -EINVAL;
	}
	r = vmbus_client_new(&vcfg, &b->vc);
	if (r < 0)
		return r;
	scfg.server = vmbus_client_server(b->vc);
	scfg.mem = vmbus_client_memory(b->vc);
	r = storvsp_new(&scfg, &b->sp);
	if (r < 0)
		return r;
	r = storvsp_add_disk(b->sp, 0, d, false);
	if (r < 0)
		return r;
	for (i = 0; i < MAX_DEPTH; i++)
		b->buf_gpa[i] = vmbus_client_alloc(b->vc, (1 << 20) / 4096);
	if (guid_parse(STORVSP_SCSI_CLASS_GUID, &want) < 0 ||
	    vmbus_client_connect(b->vc, VMBUS_VERSION_WIN10_V5_2) != 1)
		return -EPROTO;
	n = vmbus_client_request_offers(b->vc, offers, 8);
	for (i = 0; i < n; i++)
		if (guid_equal(&offers[i].offer.if_type, &want))
			break;
	if (i >= n)
		return -ENODEV;
	r = storvsc_client_open(b->vc, &offers[i], &ccfg, &b->sc);
	if (r < 0)
		return r;
	b->ch = storvsc_client_channel(b->sc, 0);
	printf("{\"file\": \"%s\", \"format\": \"%s\", \"direct\": %s, \"working_set_mib\": "
	       "%llu}\n",
	       path, disk_format_name(info.format), info.direct ? "true" : "false",
	       (unsigned long long)(b->size >> 20));
	return 0;
}

static void usage(void)
{
	fputs("usage: storage-bench [--seconds S] [--size MIB] [--job NAME]... [--poll-ns NS] "
	      "FILE\n",
	      stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"seconds", required_argument, NULL, 's'},
					     {"size", required_argument, NULL, 'z'},
					     {"job", required_argument, NULL, 'j'},
					     {"poll-ns", required_argument, NULL, 'p'},
					     {NULL, 0, NULL, 0}};
	struct bench b = {.size = 512ull << 20, .rng = 0x9e3779b97f4a7c15ull};
	const char *only[ARRAY_SIZE(jobs)];
	unsigned nonly = 0, i, k;
	double seconds = 3;
	uint64_t poll_ns = 0;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': seconds = atof(optarg); break;
		case 'z': b.size = strtoull(optarg, NULL, 0) << 20; break;
		case 'p':
			poll_ns = strtoll(optarg, NULL, 0) < 0 ? UINT64_MAX
							       : strtoull(optarg, NULL, 0);
			break;
		case 'j':
			if (nonly < ARRAY_SIZE(only))
				only[nonly++] = optarg;
			break;
		default: usage();
		}
	}
	if (optind + 1 != argc || seconds <= 0 || b.size < (1 << 20))
		usage();
	r = setup(&b, argv[optind], poll_ns);
	if (r < 0) {
		fprintf(stderr, "storage-bench: setup failed: %s\n", strerror(-r));
		return 1;
	}
	/* Fill the working set once (not timed) so reads find allocated data. */
	r = run_job(&b, &jobs[0], 1e9, b.size, false);
	for (i = 0; r == 0 && i < ARRAY_SIZE(jobs); i++) {
		bool wanted = !nonly;

		for (k = 0; k < nonly; k++)
			wanted |= !strcmp(only[k], jobs[i].name);
		if (wanted)
			r = run_job(&b, &jobs[i], seconds, 0, true);
	}
	storvsc_client_close(b.sc);
	storvsp_free(b.sp);
	vmbus_client_free(b.vc);
	if (r < 0)
		fprintf(stderr, "storage-bench: %s\n", strerror(-r));
	return r < 0;
}

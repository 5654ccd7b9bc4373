/*
 * Host-side cost of the Hyper-V interface, measured with the tiny guest
 * tests/guest/tiny/hv_bench.S in a real partition (run by bench/hv.py):
 *
 *   - a hypercall: the worker's CPU time per HvSignalEvent made through
 *     the hypercall page, against the same guest loop with no exit and
 *     with an exit to an unassigned port (so the hypercall's own cost is
 *     the difference to a plain port exit);
 *   - a SINT injection: per message posted with hv_synic_post_message (and
 *     per event with hv_synic_signal_event) from a host thread, the guest
 *     woken from hlt, taking the interrupt and acknowledging;
 *   - the dispatch alone: hv_hypercall() called in a loop, no guest; and
 *     the same from 1 and from 2 threads at once (two vCPUs signalling
 *     together: any partition-wide lock on the path shows as a higher
 *     cost per call with 2).
 *
 * CPU time is the process's (vCPU threads included: on PVM hosts the
 * guest's emulated kernel code is vCPU-thread CPU time too, which is why
 * the loops are compared with each other). Prints one JSON object.
 * Usage: hv-bench TINY_GUEST_DIR [ITERATIONS]
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/compiler.h"
#include "base/clock.h"
#include "base/log.h"
#include "boot/x86_entry.h"
#include "hv/hv.h"
#include "tiny/tiny.h"
#include "vid/partition.h"
#include "vmwp/sandbox.h"

enum mode { MODE_LOOP = 1, MODE_OUT, MODE_HYPERCALL, MODE_MESSAGE, MODE_EVENT };

struct run {
	struct partition *p;
	struct hv *hv;
	enum mode mode;
	unsigned count;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned acks;
	int exit_status;
	uint64_t start_ns, start_cpu_ns, end_ns, end_cpu_ns;
	struct partition_exit_stats exits_start;
	uint64_t post_cpu_ns; /* the posting thread's CPU inside hv_synic_* */
};

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t port_read(void *opaque, uint64_t offset, unsigned size)
{
	struct run *r = opaque;

	return offset == TINY_PORT_ECHO - TINY_PORT_LOG ? (r->count << 8 | r->mode) : 0;
}

static void port_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct run *r = opaque;

	if (offset + TINY_PORT_LOG == TINY_PORT_EXIT) {
		r->exit_status = (int)value;
		partition_request_stop(r->p, PARTITION_STOP_POWER_OFF);
		return;
	}
	if (offset + TINY_PORT_LOG != TINY_PORT_LOG)
		return;
	pthread_mutex_lock(&r->lock);
	if (value == TINY_HVB_START) {
		partition_get_exit_stats(r->p, &r->exits_start);
		r->start_ns = time_monotonic_ns();
		r->start_cpu_ns = time_process_cpu_ns();
		r->acks = 0;
	} else if (value == TINY_HVB_END) {
		r->end_ns = time_monotonic_ns();
		r->end_cpu_ns = time_process_cpu_ns();
	} else if (value == TINY_HVB_ACK) {
		r->acks++;
	}
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

static const struct io_ops port_ops = {.read = port_read, .write = port_write};

static uint16_t on_event(void *opaque, unsigned vp, uint32_t connection_id, uint16_t flag)
{
	return 0;
}

/* The host thread of modes 4 and 5: one message or event, then wait for the guest's ack. */
static void *poster(void *arg)
{
	struct run *r = arg;
	uint64_t payload[2] = {1, 2};
	unsigned i;

	pthread_mutex_lock(&r->lock);
	while (r->start_ns == 0 && r->exit_status < 0)
		pthread_cond_wait(&r->cond, &r->lock);
	pthread_mutex_unlock(&r->lock);
	for (i = 0; i < r->count; i++) {
		uint64_t t0 = thread_cpu_ns();
		int e = r->mode == MODE_MESSAGE
				? hv_synic_post_message(r->hv, 0, 2, 1, payload, sizeof(payload))
				: hv_synic_signal_event(r->hv, 0, 2, TINY_HV_EVENT_FLAG);

		r->post_cpu_ns += thread_cpu_ns() - t0;
		if (e < 0) {
			fprintf(stderr, "hv-bench: post %u: %s\n", i, strerror(-e));
			break;
		}
		pthread_mutex_lock(&r->lock);
		while (r->acks <= i && r->exit_status < 0)
			pthread_cond_wait(&r->cond, &r->lock);
		pthread_mutex_unlock(&r->lock);
	}
	return NULL;
}

/*
 * --seccomp: the vCPU thread runs under the jailed worker's filters (src/vmwp/sandbox.c): the
 * process filter and the vCPU filter stacked on it, as a jailed worker's vCPU thread does.
 */
static bool with_seccomp;

static int jail_filters(void *opaque, unsigned index)
{
	(void)opaque;
	return sandbox_thread_filters(true, index);
}

/*
 * The filters' own cost per system call of the exit path: CPU time of ioctl(KVM_GET_API_VERSION)
 * on /dev/kvm, a KVMIO ioctl as KVM_RUN is (the one call of an exit), on a thread without
 * filters and on one under both. Thread CPU time: little moved by a loaded host.
 */
struct ioctl_cost {
	int fd;
	unsigned count;
	bool filtered;
	double ns;
};

static void *ioctl_loop(void *arg)
{
	struct ioctl_cost *c = arg;
	struct timespec a, b;

	if (c->filtered && sandbox_thread_filters(true, 0) < 0)
		return NULL;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	for (unsigned i = 0; i < c->count; i++)
		IGNORE_RESULT(ioctl(c->fd, KVM_GET_API_VERSION, 0));
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
	c->ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / c->count;
	return NULL;
}

static int ioctl_cost(unsigned count, double *plain, double *filtered)
{
	struct ioctl_cost c = {.fd = open("/dev/kvm", O_RDWR | O_CLOEXEC), .count = count};
	pthread_t t;

	if (c.fd < 0)
		return -errno;
	for (int k = 0; k < 2; k++) {
		c.filtered = k;
		c.ns = -1;
		if (pthread_create(&t, NULL, ioctl_loop, &c) || pthread_join(t, NULL) || c.ns < 0) {
			close(c.fd);
			return -EIO;
		}
		*(k ? filtered : plain) = c.ns;
	}
	close(c.fd);
	return 0;
}

static int run_mode(const char *dir, enum mode mode, unsigned count, struct run *r)
{
	struct partition_config cfg = {
		.memory_bytes = 32 * MiB,
		.vcpus = 1,
		.vcpu_thread_init = with_seccomp ? jail_filters : NULL,
	};
	static uint8_t image[1 << 16];
	struct x86_boot_regs regs;
	struct boot_error berr;
	char path[4096], err[256];
	pthread_t t;
	FILE *f;
	size_t n;
	int e;

	memset(r, 0, sizeof(*r));
	r->mode = mode;
	r->count = count;
	r->exit_status = -1;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	snprintf(path, sizeof(path), "%s/hv_bench.bin", dir);
	f = fopen(path, "rb");
	if (!f)
		return -errno;
	n = fread(image, 1, sizeof(image), f);
	fclose(f);
	e = partition_new(&cfg, &r->p, err, sizeof(err));
	if (e < 0) {
		fprintf(stderr, "hv-bench: %s\n", err);
		return e;
	}
	if (guest_memory_write(partition_memory(r->p), TINY_LOAD_ADDR, image, n) < 0 ||
	    x86_entry_setup(partition_memory(r->p), TINY_LOAD_ADDR, 0, &regs, &berr) < 0)
		return -EIO;
	regs.rsp = TINY_STACK_TOP;
	e = partition_set_boot_regs(r->p, &regs);
	if (e == 0)
		e = io_bus_register(partition_pio_bus(r->p), TINY_PORT_LOG, 16, &port_ops, r,
				    "bench");
	if (e == 0)
		e = hv_new(r->p, &(struct hv_config){0}, &r->hv);
	if (e == 0)
		e = hv_register_event_handler(r->hv, TINY_HV_EVT_CONN, on_event, r);
	if (e == 0)
		e = partition_start(r->p);
	if (e < 0)
		return e;
	if (mode == MODE_MESSAGE || mode == MODE_EVENT)
		pthread_create(&t, NULL, poster, r);
	partition_wait(r->p);
	if (mode == MODE_MESSAGE || mode == MODE_EVENT) {
		pthread_mutex_lock(&r->lock);
		r->exit_status = r->exit_status < 0 ? 99 : r->exit_status;
		pthread_cond_broadcast(&r->cond);
		pthread_mutex_unlock(&r->lock);
		pthread_join(t, NULL);
	}
	partition_stop_and_join(r->p);
	return r->exit_status == 0 && r->end_ns ? 0 : -EIO;
}

static void report(const char *name, struct run *r, bool last)
{
	struct partition_exit_stats e;
	struct hv_stats s;
	double n = r->count;

	partition_get_exit_stats(r->p, &e);
	hv_get_stats(r->hv, &s);
	printf("  \"%s\": {\"iterations\": %u, \"wall_ns_per_op\": %.1f, \"cpu_ns_per_op\": %.1f, "
	       "\"exits_per_op\": %.2f, \"hypercalls\": %llu, \"interrupts_injected\": %llu, "
	       "\"host_post_cpu_ns_per_op\": %.1f}%s\n",
	       name, r->count, (r->end_ns - r->start_ns) / n, (r->end_cpu_ns - r->start_cpu_ns) / n,
	       (e.io + e.mmio + e.msr + e.hypercall - r->exits_start.io - r->exits_start.mmio -
		r->exits_start.msr - r->exits_start.hypercall) /
		       n,
	       (unsigned long long)s.hypercalls, (unsigned long long)s.interrupts_injected,
	       r->post_cpu_ns / n, last ? "" : ",");
	hv_free(r->hv);
	partition_free(r->p);
}

/* hv_hypercall() alone: the dispatch and the handler, no exit, no guest. */
static double dispatch_ns(struct run *r, unsigned count)
{
	uint64_t t0, t1;
	unsigned i;

	const struct vcpu_mode kernel64 = {.protected_mode = true, .long_mode = true};

	t0 = thread_cpu_ns();
	for (i = 0; i < count; i++) {
		struct vcpu_gprs regs = {.rcx = 0x1005D, .rdx = TINY_HV_EVT_CONN};

		if (!hv_hypercall(r->hv, 0, &regs, &kernel64))
			return -1;
	}
	t1 = thread_cpu_ns();
	return (double)(t1 - t0) / count;
}

struct par {
	struct hv *hv;
	unsigned vp, count;
	pthread_barrier_t *start;
	uint64_t ns, cpu_ns;
};

static void *par_main(void *arg)
{
	struct par *p = arg;
	struct vcpu_gprs regs;
	uint64_t t0;
	unsigned i;

	uint64_t c0;

	pthread_barrier_wait(p->start);
	t0 = time_monotonic_ns();
	c0 = thread_cpu_ns();
	for (i = 0; i < p->count; i++) {
		const struct vcpu_mode kernel = {
			.protected_mode = true, .long_mode = true, .cpl = 0};

		regs = (struct vcpu_gprs){.rcx = 0x1005D, .rdx = TINY_HV_EVT_CONN};
		if (!hv_hypercall(p->hv, p->vp, &regs, &kernel)) {
			fprintf(stderr, "hv-bench: the hypercall was refused; nothing measured\n");
			exit(1);
		}
	}
	p->cpu_ns = thread_cpu_ns() - c0;
	p->ns = time_monotonic_ns() - t0;
	return NULL;
}

/* The parallel measurement's own hv: two VPs, hypercalls enabled, no partition. */
static int par_msi(void *opaque, uint64_t address, uint32_t data)
{
	return 0;
}

static int par_tsc(void *opaque, unsigned vp, uint64_t *tsc)
{
	*tsc = time_monotonic_ns();
	return 0;
}

static uint64_t par_runtime(void *opaque, unsigned vp)
{
	return 0;
}

static const struct hv_platform_ops par_ops = {
	.signal_msi = par_msi, .read_tsc = par_tsc, .vp_runtime_ns = par_runtime};

/*
 * ns per HvSignalEvent dispatch (hv_hypercall) on each of `threads` VPs
 * calling at once, wall and thread CPU (CPU does not count a thread
 * waiting for the core on a busy host; a lock or a shared counter shows
 * in both).
 */
static int parallel_dispatch_ns(unsigned threads, unsigned count, double *wall, double *cpu)
{
	struct hv_platform pf = {.ops = &par_ops, .vp_count = 2, .tsc_hz = 1000000000u};
	struct par p[2];
	pthread_t t[2];
	pthread_barrier_t start;
	struct hv *hv;
	unsigned i;
	int e;

	e = guest_memory_new(1 * MiB, &pf.mem);
	if (e == 0)
		e = hv_create(&pf, &(struct hv_config){0}, &hv);
	if (e == 0)
		e = hv_msr_write(hv, 0, 0x40000000, UINT64_C(0x8100000000000000));
	if (e == 0)
		e = hv_msr_write(hv, 0, 0x40000001, 0x10000 | 1);
	if (e == 0)
		e = hv_register_event_handler(hv, TINY_HV_EVT_CONN, on_event, NULL);
	if (e < 0)
		return e;
	pthread_barrier_init(&start, NULL, threads);
	for (i = 0; i < threads; i++) {
		p[i] = (struct par){.hv = hv, .vp = i, .count = count, .start = &start};
		pthread_create(&t[i], NULL, par_main, &p[i]);
	}
	*wall = *cpu = 0;
	for (i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		*wall += (double)p[i].ns / count / threads;
		*cpu += (double)p[i].cpu_ns / count / threads;
	}
	pthread_barrier_destroy(&start);
	hv_free(hv);
	guest_memory_free(pf.mem);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		enum mode mode;
		unsigned divisor; /* fewer round trips: each one waits for the guest */
	} modes[] = {
		{"guest_loop_no_exit", MODE_LOOP, 1},
		{"port_exit", MODE_OUT, 1},
		{"hypercall_signal_event", MODE_HYPERCALL, 1},
		{"sint_message", MODE_MESSAGE, 10},
		{"sint_event", MODE_EVENT, 10},
	};
	unsigned count;
	struct run r;
	double dispatch = 0, par1 = 0, par2 = 0, cpu1 = 0, cpu2 = 0;
	unsigned i;

	if (argc > 1 && !strcmp(argv[argc - 1], "--seccomp")) {
		with_seccomp = true;
		argc--;
	}
	count = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) : 100000;
	if (argc < 2 || count == 0 || count >= (1u << 24)) {
		fprintf(stderr,
			"usage: %s TINY_GUEST_DIR [ITERATIONS < 16M] [--seccomp]\n"
			"       %s --ioctl-cost ITERATIONS\n",
			argv[0], argv[0]);
		return 2;
	}
	if (argc > 1 && !strcmp(argv[1], "--ioctl-cost")) {
		double plain = 0, filtered = 0;
		int e = ioctl_cost(count, &plain, &filtered);

		if (e < 0) {
			fprintf(stderr, "hv-bench: --ioctl-cost: %s\n", strerror(-e));
			return 1;
		}
		printf("{\"iterations\": %u, \"ioctl_cpu_ns\": %.1f, \"ioctl_filtered_cpu_ns\": "
		       "%.1f}\n",
		       count, plain, filtered);
		return 0;
	}
	log_set_level(LOG_WARN);
	printf("{\n  \"pvm\": %s,\n  \"seccomp\": %s,\n",
	       partition_host_is_pvm() ? "true" : "false", with_seccomp ? "true" : "false");
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		unsigned n = count / modes[i].divisor ? count / modes[i].divisor : 1;
		int e = run_mode(argv[1], modes[i].mode, n, &r);

		if (e < 0) {
			fprintf(stderr, "hv-bench: %s: %s (guest status %d)\n", modes[i].name,
				strerror(-e), r.exit_status);
			return 1;
		}
		if (modes[i].mode == MODE_HYPERCALL) {
			dispatch = dispatch_ns(&r, 1000000);
			if (parallel_dispatch_ns(1, 1000000, &par1, &cpu1) < 0 ||
			    parallel_dispatch_ns(2, 1000000, &par2, &cpu2) < 0) {
				fprintf(stderr, "hv-bench: parallel dispatch failed\n");
				return 1;
			}
		}
		report(modes[i].name, &r, false);
	}
	printf("  \"hv_hypercall_dispatch_cpu_ns\": %.1f,\n", dispatch);
	printf("  \"signal_event_1_vp_wall_ns\": %.1f,\n", par1);
	printf("  \"signal_event_2_vps_wall_ns\": %.1f,\n", par2);
	printf("  \"signal_event_1_vp_cpu_ns\": %.1f,\n", cpu1);
	printf("  \"signal_event_2_vps_cpu_ns\": %.1f\n}\n", cpu2);
	return 0;
}

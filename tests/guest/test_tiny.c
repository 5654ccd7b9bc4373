/*
 * Tiny test guests (the .S files in tests/guest/tiny) run in a real partition: the vCPU
 * loop, port I/O, MMIO, MSR exits, interrupts from another thread, the
 * worker's int3/popcnt completion, triple faults and emulation failures,
 * each in well under a second. Needs /dev/kvm; skipped without it.
 *
 * The guest binaries' directory is the first argument.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/log.h"
#include "tiny/tiny.h"
#include "tiny_guest.h"
#include "vid/partition.h"

#define MAX_LOG	       64
#define RUN_TIMEOUT_MS 20000

static const char *bin_dir;

struct harness {
	struct partition *p;
	pthread_mutex_t lock;
	uint32_t log[MAX_LOG];
	unsigned nlog;
	uint32_t echo;
	int exit_status; /* -1 until the guest writes TINY_PORT_EXIT */
	uint64_t msr_value;
	uint64_t mmio_last;
	pthread_t irq_thread;
	bool irq_thread_started;
};

static uint64_t port_read(void *opaque, uint64_t offset, unsigned size)
{
	struct harness *h = opaque;

	return offset == TINY_PORT_ECHO - TINY_PORT_LOG ? h->echo : 0;
}

static void *send_irq(void *arg)
{
	struct harness *h = arg;

	usleep(20000); /* let the guest reach hlt: the interrupt must wake it */
	assert_int_equal(partition_signal_msi(h->p, 0xFEE00000, TINY_IRQ_VECTOR), 0);
	return NULL;
}

static void port_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct harness *h = opaque;

	pthread_mutex_lock(&h->lock);
	switch (offset + TINY_PORT_LOG) {
	case TINY_PORT_LOG:
		if (h->nlog < MAX_LOG)
			h->log[h->nlog++] = (uint32_t)value;
		break;
	case TINY_PORT_ECHO: h->echo = (uint32_t)value; break;
	case TINY_PORT_EXIT:
		h->exit_status = (int)value;
		partition_request_stop(h->p, PARTITION_STOP_POWER_OFF);
		break;
	}
	pthread_mutex_unlock(&h->lock);
}

static const struct io_ops port_ops = {.read = port_read, .write = port_write};

/* MMIO test device: reads of offset 0-1 return the offset, others echo the last write. */
static uint64_t mmio_read(void *opaque, uint64_t offset, unsigned size)
{
	struct harness *h = opaque;

	return offset < 2 ? offset : h->mmio_last;
}

static void mmio_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct harness *h = opaque;

	h->mmio_last = value;
}

static const struct io_ops mmio_ops = {.read = mmio_read, .write = mmio_write};

static int msr_read(void *opaque, unsigned vp, uint32_t msr, uint64_t *value)
{
	struct harness *h = opaque;

	if (msr != TINY_MSR_SYNTHETIC)
		return -1;
	*value = h->msr_value;
	return 0;
}

static int msr_write(void *opaque, unsigned vp, uint32_t msr, uint64_t value)
{
	struct harness *h = opaque;

	if (msr != TINY_MSR_SYNTHETIC)
		return -1;
	h->msr_value = value;
	return 0;
}

static const struct partition_msr_ops msr_ops = {.read = msr_read, .write = msr_write};

static void load_guest(struct harness *h, const char *name)
{
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
	h->exit_status = -1;
	h->p = tiny_guest_partition(bin_dir, name);
	assert_int_equal(
		io_bus_register(partition_pio_bus(h->p), TINY_PORT_LOG, 16, &port_ops, h, "tiny"),
		0);
	assert_int_equal(io_bus_register(partition_mmio_bus(h->p), TINY_MMIO_BASE, 0x1000,
					 &mmio_ops, h, "tiny-mmio"),
			 0);
	partition_set_msr_ops(h->p, &msr_ops, h);
}

static enum partition_stop_reason run_guest(struct harness *h)
{
	enum partition_stop_reason why;

	assert_int_equal(partition_start(h->p), 0);
	why = partition_wait_timeout(h->p, RUN_TIMEOUT_MS);
	if (why == PARTITION_RUNNING)
		fail_msg("guest did not finish in %d ms", RUN_TIMEOUT_MS);
	if (why != PARTITION_STOP_POWER_OFF || h->exit_status != 0) {
		/* The detail has several lines (registers, code): each a TAP comment. */
		const char *d = partition_stop_detail(h->p);

		print_message("# stop: %s, guest status %d\n", partition_stop_reason_name(why),
			      h->exit_status);
		while (*d) {
			size_t n = strcspn(d, "\n");

			print_message("# %.*s\n", (int)n, d);
			d += n + (d[n] == '\n');
		}
	}
	return why;
}

static void finish(struct harness *h)
{
	if (h->irq_thread_started)
		pthread_join(h->irq_thread, NULL);
	partition_free(h->p);
	pthread_mutex_destroy(&h->lock);
}

static void expect_log(struct harness *h, const uint32_t *want, unsigned n)
{
	unsigned i;

	for (i = 0; i < h->nlog; i++)
		print_message("# log[%u] = %#x\n", i, h->log[i]);
	assert_int_equal(h->nlog, n);
	for (i = 0; i < n; i++)
		assert_int_equal(h->log[i], want[i]);
}

#define SKIP_WITHOUT_KVM()                                                                         \
	do {                                                                                       \
		if (access("/dev/kvm", R_OK | W_OK) != 0)                                          \
			skip();                                                                    \
	} while (0)

static void test_port_io(void **state)
{
	static const uint32_t want[] = {0x11, 0xBEEF, 0xCAFEF00D, 1, 2, 3, 0xFFFFFFFF};
	struct harness h;
	struct partition_exit_stats st;

	SKIP_WITHOUT_KVM();
	load_guest(&h, "io");
	assert_int_equal(run_guest(&h), PARTITION_STOP_POWER_OFF);
	assert_int_equal(h.exit_status, 0);
	expect_log(&h, want, 7);
	partition_get_exit_stats(h.p, &st);
	assert_true(st.unclaimed_io >= 2);
	finish(&h);
}

static void test_mmio(void **state)
{
	static const uint32_t want[] = {0x01,	    0x1234,	0x89ABCDEF,
					0x89ABCDEF, 0x01234567, 0xFFFFFFFF};
	struct harness h;

	SKIP_WITHOUT_KVM();
	load_guest(&h, "mmio");
	assert_int_equal(run_guest(&h), PARTITION_STOP_POWER_OFF);
	expect_log(&h, want, 6);
	finish(&h);
}

static void test_msr_exits(void **state)
{
	static const uint32_t want[] = {0x55667788, 0x11223344, 0x6F, 0x600D};
	struct harness h;

	SKIP_WITHOUT_KVM();
	load_guest(&h, "msr");
	assert_int_equal(run_guest(&h), PARTITION_STOP_POWER_OFF);
	expect_log(&h, want, 4);
	assert_int_equal(h.msr_value, 0x1122334455667788ull);
	finish(&h);
}

static void test_int3_completion(void **state)
{
	static const uint32_t want[] = {0xB0, 0x43, 0x44};
	struct harness h;
	struct partition_exit_stats st;

	SKIP_WITHOUT_KVM();
	load_guest(&h, "int3");
	assert_int_equal(run_guest(&h), PARTITION_STOP_POWER_OFF);
	expect_log(&h, want, 3);
	partition_get_exit_stats(h.p, &st);
	/* On PVM the worker completed both; on hardware the CPU did. */
	if (partition_is_pvm(h.p))
		assert_int_equal(st.completed_int3, 2);
	finish(&h);
}

static void test_popcnt_completion(void **state)
{
	static const uint32_t want[] = {32, 0, 7, 1, 1};
	struct harness h;
	struct partition_exit_stats st;

	SKIP_WITHOUT_KVM();
	load_guest(&h, "popcnt");
	assert_int_equal(run_guest(&h), PARTITION_STOP_POWER_OFF);
	expect_log(&h, want, 5);
	partition_get_exit_stats(h.p, &st);
	print_message("# popcnt completed by the worker: %llu\n",
		      (unsigned long long)st.completed_popcnt);
	/* The guest's five popcnts: on PVM each one completed by the worker; on hardware none. */
	assert_int_equal(st.completed_popcnt, partition_is_pvm(h.p) ? 5 : 0);
	finish(&h);
}

static void test_interrupt_from_another_thread(void **state)
{
	static const uint32_t want[] = {0x1, TINY_IRQ_VECTOR};
	struct harness h;

	SKIP_WITHOUT_KVM();
	load_guest(&h, "irq");
	assert_int_equal(partition_start(h.p), 0);
	assert_int_equal(pthread_create(&h.irq_thread, NULL, send_irq, &h), 0);
	h.irq_thread_started = true;
	assert_int_equal(partition_wait_timeout(h.p, RUN_TIMEOUT_MS), PARTITION_STOP_POWER_OFF);
	expect_log(&h, want, 2);
	finish(&h);
}

static void test_triple_fault(void **state)
{
	struct harness h;

	SKIP_WITHOUT_KVM();
	load_guest(&h, "triple_fault");
	assert_int_equal(run_guest(&h), PARTITION_STOP_TRIPLE_FAULT);
	assert_int_equal(h.nlog, 1);
	assert_non_null(strstr(partition_stop_detail(h.p), "triple fault"));
	finish(&h);
}

static void test_emulation_failure_is_reported(void **state)
{
	struct harness h;
	const char *detail;

	SKIP_WITHOUT_KVM();
	if (!partition_host_is_pvm())
		skip(); /* hardware runs fnclex itself */
	load_guest(&h, "bad_insn");
	assert_int_equal(run_guest(&h), PARTITION_STOP_EMULATION_FAILURE);
	detail = partition_stop_detail(h.p);
	assert_non_null(strstr(detail, "RIP="));
	assert_non_null(strstr(detail, "code at RIP: db e2")); /* fnclex */
	finish(&h);
}

static void test_no_kvm_signature(void **state)
{
	/* "KVMKVMKVM\0\0\0" as EBX, ECX, EDX */
	static const uint32_t kvm[3] = {0x4b4d564b, 0x564b4d56, 0x0000004d};
	struct harness h;
	unsigned i;

	SKIP_WITHOUT_KVM();
	load_guest(&h, "cpuid");
	assert_int_equal(run_guest(&h), PARTITION_STOP_POWER_OFF);
	assert_int_equal(h.nlog, 6);
	for (i = 0; i < 6; i += 3) {
		assert_false(h.log[i] == kvm[0] && h.log[i + 1] == kvm[1] &&
			     h.log[i + 2] == kvm[2]);
		assert_int_not_equal(h.log[i], kvm[0]); /* not even "KVMK" in EBX */
	}
	finish(&h);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port_io),
		cmocka_unit_test(test_mmio),
		cmocka_unit_test(test_msr_exits),
		cmocka_unit_test(test_int3_completion),
		cmocka_unit_test(test_popcnt_completion),
		cmocka_unit_test(test_interrupt_from_another_thread),
		cmocka_unit_test(test_triple_fault),
		cmocka_unit_test(test_emulation_failure_is_reported),
		cmocka_unit_test(test_no_kvm_signature),
	};

	return tiny_guest_run_tests(argc, argv, "tiny-guests", tests, ARRAY_SIZE(tests), &bin_dir);
}

/*
 * The Hyper-V interface in a real partition, with the tiny guest
 * tests/guest/tiny/hv.S: CPUID leaves, the hypercall page and the
 * hypercall port, statuses of good and bad hypercalls, #GP on bad MSR
 * accesses, the reference TSC page against TIME_REF_COUNT, and SINT
 * interrupts for messages and an event posted from another thread, with
 * the second message queued until the guest's EOM. Seconds, not minutes:
 * this is where the KVM plumbing of hv/ is proven. Needs /dev/kvm.
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
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/log.h"
#include "hv/hv.h"
#include "hvdef/tlfs_cpuid.h"
#include "hvdef/tlfs_hypercall.h"
#include "tiny/tiny.h"
#include "tiny_guest.h"
#include "vid/partition.h"

#define MAX_LOG	       64
#define RUN_TIMEOUT_MS 30000

static const char *bin_dir;

struct harness {
	struct partition *p;
	struct hv *hv;
	pthread_mutex_t lock;
	pthread_cond_t ready_cond;
	bool ready;
	uint32_t log[MAX_LOG];
	unsigned nlog;
	uint32_t echo;
	int exit_status;
	/* What the guest sent through its hypercalls. */
	unsigned messages, events;
	uint32_t msg_type, msg_size;
	uint8_t msg_payload[240];
	uint16_t event_flags[4];
	int post_results[3];
	pthread_t poster;
};

static uint64_t port_read(void *opaque, uint64_t offset, unsigned size)
{
	struct harness *h = opaque;
	uint32_t v;

	pthread_mutex_lock(&h->lock);
	v = offset == TINY_PORT_ECHO - TINY_PORT_LOG ? h->echo : 0;
	pthread_mutex_unlock(&h->lock);
	return v;
}

static void port_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct harness *h = opaque;

	pthread_mutex_lock(&h->lock);
	switch (offset + TINY_PORT_LOG) {
	case TINY_PORT_LOG:
		if (h->nlog < MAX_LOG)
			h->log[h->nlog++] = (uint32_t)value;
		if (value == TINY_HV_READY) {
			h->ready = true;
			pthread_cond_signal(&h->ready_cond);
		}
		break;
	case TINY_PORT_EXIT:
		h->exit_status = (int)value;
		partition_request_stop(h->p, PARTITION_STOP_POWER_OFF);
		break;
	}
	pthread_mutex_unlock(&h->lock);
}

static const struct io_ops port_ops = {.read = port_read, .write = port_write};

static uint16_t on_message(void *opaque, unsigned vp, uint32_t type, const void *payload,
			   uint32_t size)
{
	struct harness *h = opaque;

	pthread_mutex_lock(&h->lock);
	h->messages++;
	h->msg_type = type;
	h->msg_size = size;
	memcpy(h->msg_payload, payload, size);
	pthread_mutex_unlock(&h->lock);
	return vp == 0 ? HV_STATUS_SUCCESS : HV_STATUS_INVALID_VP_INDEX;
}

static uint16_t on_event(void *opaque, unsigned vp, uint32_t connection_id, uint16_t flag)
{
	struct harness *h = opaque;

	pthread_mutex_lock(&h->lock);
	if (h->events < 4)
		h->event_flags[h->events] = flag;
	h->events++;
	pthread_mutex_unlock(&h->lock);
	return HV_STATUS_SUCCESS;
}

/* Another host thread: once the guest is ready, two messages and an event for SINT 2. */
static void *poster(void *arg)
{
	struct harness *h = arg;
	uint32_t a = TINY_HV_MSG_A, b = TINY_HV_MSG_B;
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += RUN_TIMEOUT_MS / 1000;
	pthread_mutex_lock(&h->lock);
	while (!h->ready)
		if (pthread_cond_timedwait(&h->ready_cond, &h->lock, &deadline) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&h->lock);
	h->post_results[0] = hv_synic_post_message(h->hv, 0, TINY_HV_SINT, 1, &a, sizeof(a));
	h->post_results[1] = hv_synic_post_message(h->hv, 0, TINY_HV_SINT, 1, &b, sizeof(b));
	h->post_results[2] = hv_synic_signal_event(h->hv, 0, TINY_HV_SINT, TINY_HV_EVENT_FLAG);
	pthread_mutex_lock(&h->lock);
	h->echo = TINY_HV_POSTED;
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

static void load_guest(struct harness *h, const char *name)
{
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->ready_cond, NULL);
	h->exit_status = -1;
	h->p = tiny_guest_partition(bin_dir, name);
	assert_int_equal(
		io_bus_register(partition_pio_bus(h->p), TINY_PORT_LOG, 16, &port_ops, h, "tiny"),
		0);
	assert_int_equal(hv_new(h->p, &(struct hv_config){0}, &h->hv), 0);
	assert_int_equal(hv_register_message_handler(h->hv, TINY_HV_MSG_CONN, on_message, h), 0);
	assert_int_equal(hv_register_event_handler(h->hv, TINY_HV_EVT_CONN, on_event, h), 0);
}

static void finish(struct harness *h)
{
	partition_stop_and_join(h->p);
	hv_free(h->hv);
	partition_free(h->p);
	pthread_cond_destroy(&h->ready_cond);
	pthread_mutex_destroy(&h->lock);
}

#define SKIP_WITHOUT_KVM()                                                                         \
	do {                                                                                       \
		if (access("/dev/kvm", R_OK | W_OK) != 0)                                          \
			skip();                                                                    \
	} while (0)

static void test_hyperv_guest(void **state)
{
	struct hv_cpuid_leaf features, hints;
	struct harness h;
	struct hv_stats st;
	enum partition_stop_reason why;
	uint64_t posted = 0x1122334455667788ull;
	unsigned i;

	SKIP_WITHOUT_KVM();
	load_guest(&h, "hv");
	assert_int_equal(hv_cpuid(h.hv, HV_CPUID_FEATURES, &features), 0);
	assert_int_equal(hv_cpuid(h.hv, HV_CPUID_ENLIGHTENMENT_INFO, &hints), 0);
	{
		const uint32_t want[] = {
			/* discovery */
			0x40000006,
			1,
			0x31237648,
			features.eax,
			features.ebx,
			features.edx,
			hints.eax,
			1,
			0,
			/* hypercall page */
			0,
			TINY_HV_HYPERCALL_PAGE,
			TINY_HV_HYPERCALL_PAGE | 1,
			0xC39AE6,
			/* HvSignalEvent */
			0,
			0,
			HV_STATUS_INVALID_CONNECTION_ID,
			HV_STATUS_INVALID_HYPERCALL_INPUT,
			/* HvPostMessage */
			0,
			HV_STATUS_INVALID_ALIGNMENT,
			HV_STATUS_INVALID_ALIGNMENT,
			HV_STATUS_INVALID_ALIGNMENT,
			HV_STATUS_INVALID_ALIGNMENT,
			HV_STATUS_INVALID_PARAMETER,
			HV_STATUS_INVALID_PARAMETER,
			HV_STATUS_INVALID_PARAMETER,
			HV_STATUS_INVALID_CONNECTION_ID,
			HV_STATUS_INVALID_HYPERCALL_INPUT,
			HV_STATUS_INVALID_HYPERCALL_INPUT,
			HV_STATUS_INVALID_HYPERCALL_INPUT,
			HV_STATUS_INVALID_HYPERCALL_CODE,
			/* #GP */
			0x6F,
			0x6F,
			0x6F,
			0x6F,
			/* reference time */
			1,
			1,
			/* SynIC */
			1,
			0x10000,
			TINY_HV_READY,
			0,
			1,
			4,
			TINY_HV_MSG_A,
			1,
			TINY_HV_MSG_B,
			0,
			1u << TINY_HV_EVENT_FLAG,
			1,
		};

		assert_int_equal(partition_start(h.p), 0);
		assert_int_equal(pthread_create(&h.poster, NULL, poster, &h), 0);
		why = partition_wait_timeout(h.p, RUN_TIMEOUT_MS);
		if (why != PARTITION_STOP_POWER_OFF)
			print_message("# stop: %s\n# %s\n", partition_stop_reason_name(why),
				      partition_stop_detail(h.p));
		if (!h.ready) { /* let the poster finish on its own */
			pthread_mutex_lock(&h.lock);
			h.ready = true;
			pthread_cond_signal(&h.ready_cond);
			pthread_mutex_unlock(&h.lock);
		}
		pthread_join(h.poster, NULL);
		for (i = 0; i < h.nlog; i++)
			print_message("# log[%u] = %#x%s\n", i, h.log[i],
				      i < ARRAY_SIZE(want) && h.log[i] != want[i] ? " <-- differs"
										  : "");
		assert_int_equal(why, PARTITION_STOP_POWER_OFF);
		assert_int_equal(h.exit_status, 0);
		assert_int_equal(h.nlog, ARRAY_SIZE(want));
		for (i = 0; i < ARRAY_SIZE(want); i++)
			assert_int_equal(h.log[i], want[i]);
	}
	/* What the host side received from the guest's hypercalls. */
	assert_int_equal(h.messages, 1);
	assert_int_equal(h.msg_type, 1);
	assert_int_equal(h.msg_size, 8);
	assert_memory_equal(h.msg_payload, &posted, 8);
	assert_int_equal(h.events, 2);
	assert_int_equal(h.event_flags[0], 0);
	assert_int_equal(h.event_flags[1], 7);
	for (i = 0; i < 3; i++)
		assert_int_equal(h.post_results[i], 0);
	hv_get_stats(h.hv, &st);
	assert_int_equal(st.hypercalls, 17);
	assert_int_equal(st.hypercall_signal_event, 4);
	assert_int_equal(st.hypercall_post_message, 10);
	assert_int_equal(st.hypercall_unknown, 1);
	assert_int_equal(st.msr_gp, 4);
	assert_int_equal(st.messages_posted, 2);
	assert_int_equal(st.messages_queued, 1);
	assert_int_equal(st.messages_delivered, 2);
	assert_int_equal(st.eom_writes, 1);
	assert_int_equal(st.events_signaled, 1);
	assert_true(st.interrupts_deferred >= 1);
	assert_true(st.interrupts_injected >= 2);
	assert_int_equal(st.interrupt_errors, 0);
	finish(&h);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hyperv_guest),
	};

	return tiny_guest_run_tests(argc, argv, "tiny-hv", tests, ARRAY_SIZE(tests), &bin_dir);
}

/*
 * The hostile-guest suite, SynIC part (issue 12): a message storm. The
 * guest issues 100,000 HvPostMessage hypercalls to the VMBus server (real
 * hv over the fake platform, real server, glued as src/vmwp/vmbus_host.c
 * does) and never reads its message slot, so every answer the server
 * sends finds the slot busy. Host memory, queues and log lines stay
 * bounded; afterwards the guest reads its slot and the host answers.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "../unit/hv/hv_fakes.h"
#include "base/clock.h"
#include "base/log.h"
#include "hostile.h"
#include "hvdef/tlfs_hypercall.h"
#include "hvdef/tlfs_msr.h"
#include "hvdef/tlfs_synic.h"
#include "hvdef/vmbus_proto.h"
#include "vmbus/vmbus.h"

#define RAM	   (16 * MiB)
#define SIMP	   0x100000u
#define SIEFP	   0x101000u
#define INPUT	   0x102000u
#define HCALL_PAGE 0x103000u
#define STORM	   100000u

static unsigned log_lines;

static void count_lines(void *opaque, enum log_level level, const char *line)
{
	log_lines++;
}

struct glue {
	struct hv *hv;
	struct vmbus_server *server;
};

static int post_message(void *opaque, unsigned vp, unsigned sint, uint32_t type,
			const void *payload, size_t len)
{
	return hv_synic_post_message(((struct glue *)opaque)->hv, vp, sint, type, payload, len);
}

static int signal_event(void *opaque, unsigned vp, unsigned sint, unsigned flag)
{
	return hv_synic_signal_event(((struct glue *)opaque)->hv, vp, sint, flag);
}

static const struct vmbus_synic_ops synic_ops = {.post_message = post_message,
						 .signal_event = signal_event};

static uint16_t on_message_4(void *opaque, unsigned vp, uint32_t type, const void *payload,
			     uint32_t len)
{
	struct glue *g = opaque;

	switch (vmbus_server_handle_message(g->server, vp, VMBUS_MESSAGE_CONNECTION_ID_4, payload,
					    len)) {
	case VMBUS_POST_OK: return HV_STATUS_SUCCESS;
	case VMBUS_POST_RETRY: return HV_STATUS_INSUFFICIENT_BUFFERS;
	case VMBUS_POST_INVALID: break;
	}
	return HV_STATUS_INVALID_PARAMETER;
}

/* HvPostMessage of msg (len bytes) on connection 4, as the guest's hv_post_message does. */
static uint64_t guest_post(struct fake_platform *fp, struct hv *hv, const void *msg, uint32_t len)
{
	struct hv_input_post_message in = {.connection_id = VMBUS_MESSAGE_CONNECTION_ID_4,
					   .message_type = VMBUS_SYNIC_MESSAGE_TYPE,
					   .payload_size = len};

	memcpy(in.payload, msg, len);
	assert_int_equal(guest_memory_write(fp->mem, INPUT, &in, sizeof(in)), 0);
	return fake_hypercall(hv, 0, 0x5C, INPUT, 0);
}

/* The storm, as the guest's vCPU makes it: counts only (cmocka asserts on the main thread). */
struct storm {
	struct fake_platform *fp;
	struct hv *hv;
	const void *ic, *junk;
	uint64_t ok, busy, bad_status;
	unsigned bad_index;
};

static void *storm_main(void *arg)
{
	struct storm *sm = arg;

	for (unsigned i = 0; i < STORM && !sm->bad_status; i++) {
		uint64_t r = guest_post(sm->fp, sm->hv, i % 2 ? sm->junk : sm->ic,
					i % 2 ? sizeof(struct vmbus_msg_header)
					      : sizeof(struct vmbus_msg_initiate_contact));

		if ((r & 0xFFFF) == HV_STATUS_SUCCESS)
			sm->ok++;
		else if ((r & 0xFFFF) == HV_STATUS_INSUFFICIENT_BUFFERS)
			sm->busy++;
		else {
			sm->bad_status = r;
			sm->bad_index = i;
		}
	}
	return NULL;
}

static void test_message_storm(void **state)
{
	struct vmbus_msg_initiate_contact ic = {.header.msgtype = VMBUS_MSG_INITIATE_CONTACT,
						.vmbus_version_requested = VMBUS_VERSION_WIN10_V5_3,
						.interrupt_page_or_sint = VMBUS_MESSAGE_SINT,
						.monitor_page1 = 0x104000,
						.monitor_page2 = 0x105000};
	struct vmbus_msg_header junk = {.msgtype = 0x4242};
	struct vmbus_server_config cfg = {.vcpus = 1, .synic = &synic_ops};
	uint64_t ok = 0, busy = 0, start, windows, rss0 = hostile_resident_bytes();
	struct fake_platform fp;
	struct hv_stats st;
	struct glue g;
	struct hv_message m;

	log_lines = 0;
	log_set_sink(count_lines, NULL);
	fake_hv_new(&fp, 1, RAM, NULL, &g.hv);
	fake_enable_hypercalls(g.hv, HCALL_PAGE);
	assert_int_equal(hv_msr_write(g.hv, 0, HV_MSR_SIMP, SIMP | 1), 0);
	assert_int_equal(hv_msr_write(g.hv, 0, HV_MSR_SIEFP, SIEFP | 1), 0);
	assert_int_equal(hv_msr_write(g.hv, 0, HV_MSR_SINT0 + VMBUS_MESSAGE_SINT, 0xF3), 0);
	assert_int_equal(hv_msr_write(g.hv, 0, HV_MSR_SCONTROL, 1), 0);
	cfg.mem = fp.mem;
	cfg.synic_opaque = &g;
	assert_int_equal(vmbus_server_new(&cfg, &g.server), 0);
	assert_int_equal(
		hv_register_message_handler(g.hv, VMBUS_MESSAGE_CONNECTION_ID_4, on_message_4, &g),
		0);
	start = time_monotonic_ns();
	/* On a thread under the vCPU filter: in the worker, hypercalls run on vCPU threads. */
	struct storm sm = {.fp = &fp, .hv = g.hv, .ic = &ic, .junk = &junk};

	hostile_vcpu_run(storm_main, &sm);
	if (sm.bad_status)
		fail_msg("HvPostMessage %u: status %#llx", sm.bad_index,
			 (unsigned long long)sm.bad_status);
	ok = sm.ok;
	busy = sm.busy;
	windows = (time_monotonic_ns() - start) / 5000000000u + 1;
	/* Every call got an answer; the server's queue pushed back when full. */
	assert_int_equal(ok + busy, STORM);
	assert_true(ok > 0);
	hv_get_stats(g.hv, &st);
	/* The slot was never read: one message in it, a bounded queue behind, the rest dropped. */
	assert_true(st.messages_dropped > 0);
	assert_true(st.messages_delivered == 1);
	/* Lines: the server's guest_error_log and hv's own, each at most 10 per 5 s window. */
	if (log_lines > 3 * 10 * windows)
		fail_msg("%u log lines for a storm of %u messages", log_lines, STORM);
	hostile_assert_growth(rss0, 32 * MiB);
	/*
	 * The guest reads its slot now, as Linux's vmbus_signal_eom does: the type (acquire),
	 * the message, then the type cleared and the pending flag read with full barriers
	 * (src/hv/synic.c's handshake). The server still answers a new INITIATE_CONTACT.
	 */
	struct hv_message *slot = guest_memory_ptr(fp.mem, SIMP + VMBUS_MESSAGE_SINT * 256, 256);

	assert_non_null(slot);
	for (unsigned i = 0; i < 2 * 256 + 8; i++) {
		m.message_type = __atomic_load_n(&slot->message_type, __ATOMIC_ACQUIRE);
		if (!m.message_type)
			break;
		__atomic_store_n(&slot->message_type, 0, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&slot->message_flags, __ATOMIC_SEQ_CST) &
		    HV_MESSAGE_FLAG_PENDING)
			assert_int_equal(hv_msr_write(g.hv, 0, HV_MSR_EOM, 0), 0);
	}
	assert_int_equal(m.message_type, 0);
	/* The server may still be working through the storm's backlog: retry, as Linux does. */
	uint64_t r = HV_STATUS_INSUFFICIENT_BUFFERS;
	for (unsigned i = 0; i < 5000 && (r & 0xFFFF) == HV_STATUS_INSUFFICIENT_BUFFERS; i++) {
		r = guest_post(&fp, g.hv, &ic, sizeof(ic));
		if ((r & 0xFFFF) == HV_STATUS_INSUFFICIENT_BUFFERS)
			usleep(1000);
	}
	assert_int_equal(r & 0xFFFF, HV_STATUS_SUCCESS);
	/*
	 * As a guest reads its slot: the type first (acquire: the host writes it last), then the
	 * payload, which the host leaves alone while the slot is full. Not the flags: the host
	 * may set PENDING in them at any time (src/hv/synic.c), so they are read atomically.
	 */
	for (unsigned i = 0; i < 5000; i++) {
		m.message_type = __atomic_load_n(&slot->message_type, __ATOMIC_ACQUIRE);
		if (m.message_type)
			break;
		usleep(1000);
	}
	assert_int_equal(m.message_type, VMBUS_SYNIC_MESSAGE_TYPE);
	struct vmbus_msg_header h;
	memcpy(&h, slot->payload, sizeof(h));
	assert_int_equal(h.msgtype, VMBUS_MSG_VERSION_RESPONSE);
	vmbus_server_free(g.server);
	fake_hv_free(&fp, g.hv);
}

/* The jail's filters are on: a device thread's forbidden call kills with SIGSYS
 * (seccomp_threads.c). */
static void test_seccomp_is_on(void **state)
{
	int status;

	(void)state;
	if (!hostile_filters_on())
		skip(); /* ThreadSanitizer's build */
	status = hostile_filtered_syscall_status();
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seccomp_is_on),
		cmocka_unit_test(test_message_storm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

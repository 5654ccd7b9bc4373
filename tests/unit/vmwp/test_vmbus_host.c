/*
 * The worker's VMBus glue (src/vmwp/vmbus_host.c) over hv/ with a fake
 * platform: every channel connection id the server can hand out reaches
 * the server through one registration (16 vCPUs and 4 SCSI controllers
 * with a sub-channel per vCPU need relids past 64), and nothing past it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../hv/hv_fakes.h"
#include "hvdef/tlfs_hypercall.h"
#include "vmwp/vmbus_host.h"

#define RAM	   (16 * MiB)
#define HCALL_PAGE 0x10000u

static void test_doorbell_range(void **state)
{
	struct fake_platform fp;
	struct vmbus_server_stats st;
	struct vmbus_host *h;
	struct hv *hv;
	uint32_t id;

	fake_hv_new(&fp, 16, RAM, NULL, &hv);
	fake_enable_hypercalls(hv, HCALL_PAGE);
	assert_int_equal(vmbus_host_new(hv, fp.mem, 16, &h), 0);
	/* No channel is open: each signal reaches the server, which counts it as unknown. */
	for (id = VMBUS_CHANNEL_CONNECTION_FIRST;
	     id < VMBUS_CHANNEL_CONNECTION_FIRST + VMBUS_CHANNEL_CONNECTION_COUNT; id++)
		assert_int_equal(
			fake_hypercall(hv, id % 16, HVCALL_SIGNAL_EVENT | HV_HYPERCALL_FAST, id, 0),
			HV_STATUS_SUCCESS);
	vmbus_server_get_stats(vmbus_host_server(h), &st);
	assert_int_equal(st.signals_unknown, VMBUS_CHANNEL_CONNECTION_COUNT);
	/* The highest relid's connection id is the last of the range. */
	assert_int_equal(VMBUS_CHANNEL_CONNECTION_FIRST + VMBUS_CHANNEL_CONNECTION_COUNT - 1,
			 VMBUS_CHANNEL_CONNECTION_BASE + VMBUS_MAX_RELID);
	assert_int_equal(fake_hypercall(hv, 0, HVCALL_SIGNAL_EVENT | HV_HYPERCALL_FAST,
					VMBUS_CHANNEL_CONNECTION_BASE + VMBUS_MAX_RELID + 1, 0),
			 HV_STATUS_INVALID_CONNECTION_ID);
	assert_int_equal(fake_hypercall(hv, 0, HVCALL_SIGNAL_EVENT | HV_HYPERCALL_FAST,
					VMBUS_CHANNEL_CONNECTION_BASE, 0),
			 HV_STATUS_INVALID_CONNECTION_ID);
	vmbus_host_free(h);
	/* Unregistered with the host. */
	assert_int_equal(fake_hypercall(hv, 0, HVCALL_SIGNAL_EVENT | HV_HYPERCALL_FAST,
					VMBUS_CHANNEL_CONNECTION_FIRST, 0),
			 HV_STATUS_INVALID_CONNECTION_ID);
	fake_hv_free(&fp, hv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doorbell_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

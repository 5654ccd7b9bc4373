/*
 * Unit tests of the SynIC (hv/synic.c): its MSRs, message slots and
 * queues with EOM re-delivery and overflow, event flags, and when SINT
 * interrupts are injected (masked, SynIC disabled, polling), over real
 * guest memory and a fake MSI sink. The last test runs a host thread
 * posting against a thread playing the guest, as VMBus and a vCPU will.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hv_fakes.h"
#include "hvdef/tlfs_msr.h"
#include "hvdef/tlfs_synic.h"
#include "vid/pc_layout.h"

#define RAM    (16 * MiB)
#define SIMP   0x100000u
#define SIEFP  0x101000u
#define VECTOR 0xF3u

static struct hv_message read_slot(struct fake_platform *fp, unsigned sint)
{
	struct hv_message m;

	assert_int_equal(guest_memory_read(fp->mem, SIMP + sint * 256, &m, sizeof(m)), 0);
	return m;
}

/* What the guest does with a message: clear the type, EOM if more are pending. */
static void guest_consume(struct hv *hv, struct fake_platform *fp, unsigned vp, unsigned sint)
{
	struct hv_message m = read_slot(fp, sint);
	uint32_t none = 0;

	assert_int_equal(guest_memory_write(fp->mem, SIMP + sint * 256, &none, 4), 0);
	if (m.message_flags & HV_MESSAGE_FLAG_PENDING)
		assert_int_equal(hv_msr_write(hv, vp, HV_MSR_EOM, 0), 0);
}

/* The SynIC of vp as Linux's hv_synic_enable_regs leaves it, SINT sint unmasked. */
static void synic_enable(struct hv *hv, unsigned vp, unsigned sint, uint64_t sint_flags)
{
	assert_int_equal(hv_msr_write(hv, vp, HV_MSR_SIMP, SIMP | 1), 0);
	assert_int_equal(hv_msr_write(hv, vp, HV_MSR_SIEFP, SIEFP | 1), 0);
	assert_int_equal(hv_msr_write(hv, vp, HV_MSR_SINT0 + sint, VECTOR | sint_flags), 0);
	assert_int_equal(hv_msr_write(hv, vp, HV_MSR_SCONTROL, 1), 0);
}

static void test_registers(void **state)
{
	struct fake_platform fp;
	struct hv *hv;
	uint64_t v;
	uint8_t b;
	unsigned i;

	fake_hv_new(&fp, 2, RAM, NULL, &hv);
	assert_int_equal(hv_msr_read(hv, 0, HV_MSR_SVERSION, &v), 0);
	assert_int_equal(v, 1);
	assert_true(hv_msr_write(hv, 0, HV_MSR_SVERSION, 1) < 0);
	for (i = 0; i < 16; i++) {
		assert_int_equal(hv_msr_read(hv, 1, HV_MSR_SINT0 + i, &v), 0);
		assert_int_equal(v, HV_SINT_MASKED); /* power-on: masked */
	}
	assert_int_equal(hv_msr_read(hv, 0, HV_MSR_SCONTROL, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(hv_msr_read(hv, 0, HV_MSR_EOM, &v), 0);
	assert_int_equal(v, 0);
	/* SCONTROL: only bit 0. */
	assert_true(hv_msr_write(hv, 0, HV_MSR_SCONTROL, 3) < 0);
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_SCONTROL, 1), 0);
	assert_int_equal(hv_msr_read(hv, 0, HV_MSR_SCONTROL, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(hv_msr_read(hv, 1, HV_MSR_SCONTROL, &v), 0);
	assert_int_equal(v, 0); /* per VP */
	/* SINTs: vectors 0-15 only while masked; reserved bits; auto-EOI and polling accepted. */
	assert_true(hv_msr_write(hv, 0, HV_MSR_SINT0 + 2, 15) < 0);
	assert_true(hv_msr_write(hv, 0, HV_MSR_SINT0 + 2, 0) < 0);
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_SINT0 + 2, HV_SINT_MASKED | 5), 0);
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_SINT0 + 2, HV_SINT_MASKED), 0);
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_SINT0 + 2, 16), 0);
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_SINT0 + 2, 255 | HV_SINT_AUTO_EOI), 0);
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_SINT0 + 15, 0x40 | HV_SINT_POLLING), 0);
	assert_true(hv_msr_write(hv, 0, HV_MSR_SINT0 + 2, 0x40 | (1u << 8)) < 0);
	assert_true(hv_msr_write(hv, 0, HV_MSR_SINT0 + 2, 0x40 | (UINT64_C(1) << 19)) < 0);
	assert_int_equal(hv_msr_read(hv, 0, HV_MSR_SINT0 + 2, &v), 0);
	assert_int_equal(v, 255 | HV_SINT_AUTO_EOI);
	/* SIMP/SIEFP: reserved bits, pages outside RAM or in the MMIO hole refused; enabling
	 * zeroes. */
	assert_true(hv_msr_write(hv, 0, HV_MSR_SIMP, SIMP | 1 | 2) < 0);
	assert_true(hv_msr_write(hv, 0, HV_MSR_SIMP, RAM | 1) < 0);
	assert_true(hv_msr_write(hv, 0, HV_MSR_SIEFP, PC_MMIO_HOLE_START | 1) < 0);
	assert_true(hv_msr_write(hv, 0, HV_MSR_SIEFP, UINT64_C(0xFFFFFFFFFFFFF001)) < 0);
	assert_int_equal(hv_msr_read(hv, 0, HV_MSR_SIMP, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_SIMP, RAM), 0); /* disabled: any page */
	assert_int_equal(guest_memory_fill(fp.mem, SIMP, 0x5A, HV_PAGE_SIZE), 0);
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_SIMP, SIMP | 1), 0);
	assert_int_equal(guest_memory_read(fp.mem, SIMP + 4095, &b, 1), 0);
	assert_int_equal(b, 0);
	assert_int_equal(hv_msr_read(hv, 0, HV_MSR_SIMP, &v), 0);
	assert_int_equal(v, SIMP | 1);
	/* Unknown SynIC-range MSRs. */
	assert_true(hv_msr_read(hv, 0, 0x40000085, &v) < 0);
	assert_true(hv_msr_write(hv, 0, 0x4000008F, 0) < 0);
	fake_hv_free(&fp, hv);
}

static void test_post_message_and_eom(void **state)
{
	struct fake_platform fp;
	struct hv_stats st;
	struct hv_message m;
	struct hv *hv;
	uint32_t a = 0xAAAA0001, b = 0xBBBB0002, c = 0xCCCC0003;

	fake_hv_new(&fp, 2, RAM, NULL, &hv);
	/* Nowhere to deliver before the SIMP is enabled. */
	assert_int_equal(hv_synic_post_message(hv, 1, 2, 1, &a, 4), -ENXIO);
	assert_int_equal(hv_synic_post_message(hv, 2, 2, 1, &a, 4), -EINVAL);
	assert_int_equal(hv_synic_post_message(hv, 1, 16, 1, &a, 4), -EINVAL);
	assert_int_equal(hv_synic_post_message(hv, 1, 2, 0, &a, 4), -EINVAL);
	assert_int_equal(hv_synic_post_message(hv, 1, 2, 1, &a, 241), -EINVAL);
	assert_int_equal(hv_synic_post_message(hv, 1, 2, 1, NULL, 4), -EINVAL);
	synic_enable(hv, 1, 2, 0);

	assert_int_equal(hv_synic_post_message(hv, 1, 2, 1, &a, 4), 0);
	m = read_slot(&fp, 2);
	assert_int_equal(m.message_type, 1);
	assert_int_equal(m.payload_size, 4);
	assert_int_equal(m.message_flags, 0);
	assert_memory_equal(m.payload, &a, 4);
	assert_int_equal(fake_msi_count(&fp), 1);
	assert_int_equal(fp.msi_address[0], 0xFEE00000u | (1u << 12)); /* APIC ID = VP index */
	assert_int_equal(fp.msi_data[0], VECTOR);

	/* The slot is busy: queued, the guest is told to EOM. */
	assert_int_equal(hv_synic_post_message(hv, 1, 2, 7, &b, 4), 0);
	assert_int_equal(hv_synic_post_message(hv, 1, 2, 8, &c, 4), 0);
	m = read_slot(&fp, 2);
	assert_memory_equal(m.payload, &a, 4);
	assert_int_equal(m.message_flags, HV_MESSAGE_FLAG_PENDING);
	assert_int_equal(fake_msi_count(&fp), 1);
	/* EOM with the slot still full changes nothing. */
	assert_int_equal(hv_msr_write(hv, 1, HV_MSR_EOM, 0), 0);
	assert_int_equal(fake_msi_count(&fp), 1);

	guest_consume(hv, &fp, 1, 2);
	m = read_slot(&fp, 2);
	assert_int_equal(m.message_type, 7);
	assert_memory_equal(m.payload, &b, 4);
	assert_int_equal(m.message_flags, HV_MESSAGE_FLAG_PENDING); /* c still queued */
	assert_int_equal(fake_msi_count(&fp), 2);
	guest_consume(hv, &fp, 1, 2);
	m = read_slot(&fp, 2);
	assert_int_equal(m.message_type, 8);
	assert_memory_equal(m.payload, &c, 4);
	assert_int_equal(m.message_flags, 0);
	assert_int_equal(fake_msi_count(&fp), 3);
	guest_consume(hv, &fp, 1, 2);
	assert_int_equal(read_slot(&fp, 2).message_type, 0);

	/* Another SINT has its own slot. */
	assert_int_equal(hv_msr_write(hv, 1, HV_MSR_SINT0 + 5, 0x55), 0);
	assert_int_equal(hv_synic_post_message(hv, 1, 5, 3, NULL, 0), 0);
	assert_int_equal(read_slot(&fp, 5).message_type, 3);
	assert_int_equal(fp.msi_data[3], 0x55);

	hv_get_stats(hv, &st);
	assert_int_equal(st.messages_posted, 4);
	assert_int_equal(st.messages_queued, 2);
	assert_int_equal(st.messages_delivered, 4);
	assert_int_equal(st.eom_writes, 3);
	assert_int_equal(st.interrupts_injected, 4);
	fake_hv_free(&fp, hv);
}

static void test_queue_overflow(void **state)
{
	struct fake_platform fp;
	struct hv_stats st;
	struct hv *hv;
	uint32_t i;

	fake_hv_new(&fp, 1, RAM, &(struct hv_config){.queue_depth = 3}, &hv);
	synic_enable(hv, 0, 2, 0);
	for (i = 0; i < 4; i++) /* one in the slot, three queued */
		assert_int_equal(hv_synic_post_message(hv, 0, 2, 1, &i, 4), 0);
	assert_int_equal(hv_synic_post_message(hv, 0, 2, 1, &i, 4), -ENOBUFS);
	hv_get_stats(hv, &st);
	assert_int_equal(st.messages_dropped, 1);
	/* Everything accepted arrives, in order. */
	for (i = 0; i < 4; i++) {
		struct hv_message m = read_slot(&fp, 2);

		assert_int_equal(m.message_type, 1);
		assert_memory_equal(m.payload, &i, 4);
		guest_consume(hv, &fp, 0, 2);
	}
	assert_int_equal(read_slot(&fp, 2).message_type, 0);
	assert_int_equal(hv_synic_post_message(hv, 0, 2, 1, &i, 4), 0);
	fake_hv_free(&fp, hv);
}

static void test_masked_disabled_polling(void **state)
{
	struct fake_platform fp;
	struct hv_stats st;
	struct hv *hv;
	uint32_t a = 1;

	fake_hv_new(&fp, 1, RAM, NULL, &hv);
	/* Masked: the message lands, the interrupt waits for the unmask. */
	synic_enable(hv, 0, 2, HV_SINT_MASKED);
	assert_int_equal(hv_synic_post_message(hv, 0, 2, 1, &a, 4), 0);
	assert_int_equal(read_slot(&fp, 2).message_type, 1);
	assert_int_equal(fake_msi_count(&fp), 0);
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_SINT0 + 2, VECTOR), 0);
	assert_int_equal(fake_msi_count(&fp), 1);
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_SINT0 + 2, VECTOR), 0);
	assert_int_equal(fake_msi_count(&fp), 1); /* once */
	guest_consume(hv, &fp, 0, 2);

	/* SynIC disabled: nothing interrupts until SCONTROL enables it. */
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_SCONTROL, 0), 0);
	assert_int_equal(hv_synic_signal_event(hv, 0, 2, 3), 0);
	assert_int_equal(fake_msi_count(&fp), 1);
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_SCONTROL, 1), 0);
	assert_int_equal(fake_msi_count(&fp), 2);

	/* Polling: never an interrupt; the guest looks at the slot itself. */
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_SINT0 + 4, VECTOR | HV_SINT_POLLING), 0);
	assert_int_equal(hv_synic_post_message(hv, 0, 4, 9, &a, 4), 0);
	assert_int_equal(read_slot(&fp, 4).message_type, 9);
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_SINT0 + 4, VECTOR), 0);
	assert_int_equal(fake_msi_count(&fp), 2);

	/* The MSI failing (host error) is counted, not fatal. */
	fp.msi_fails = true;
	assert_int_equal(hv_synic_signal_event(hv, 0, 2, 4), 0);
	hv_get_stats(hv, &st);
	assert_int_equal(st.interrupt_errors, 1);
	assert_true(st.interrupts_deferred >= 3);
	fake_hv_free(&fp, hv);
}

static void test_event_flags(void **state)
{
	struct fake_platform fp;
	struct hv_stats st;
	struct hv *hv;
	uint8_t flags[256];
	uint64_t zero = 0;

	fake_hv_new(&fp, 1, RAM, NULL, &hv);
	assert_int_equal(hv_synic_signal_event(hv, 0, 2, 1), -ENXIO); /* no SIEFP */
	synic_enable(hv, 0, 2, 0);
	assert_int_equal(hv_synic_signal_event(hv, 0, 2, 2048), -EINVAL);
	assert_int_equal(hv_synic_signal_event(hv, 0, 16, 1), -EINVAL);
	assert_int_equal(hv_synic_signal_event(hv, 1, 2, 1), -EINVAL);
	assert_int_equal(hv_synic_signal_event(hv, 0, 2, 0), 0);
	assert_int_equal(hv_synic_signal_event(hv, 0, 2, 77), 0);
	assert_int_equal(hv_synic_signal_event(hv, 0, 2, 2047), 0);
	assert_int_equal(guest_memory_read(fp.mem, SIEFP + 2 * 256, flags, sizeof(flags)), 0);
	assert_int_equal(flags[0], 1);
	assert_int_equal(flags[77 / 8], 1u << (77 % 8));
	assert_int_equal(flags[255], 0x80);
	assert_int_equal(fake_msi_count(&fp), 3);
	/* Not consumed yet: no second interrupt. Consumed: interrupts again. */
	assert_int_equal(hv_synic_signal_event(hv, 0, 2, 77), 0);
	assert_int_equal(fake_msi_count(&fp), 3);
	assert_int_equal(guest_memory_write(fp.mem, SIEFP + 2 * 256 + 8, &zero, 8), 0);
	assert_int_equal(hv_synic_signal_event(hv, 0, 2, 77), 0);
	assert_int_equal(fake_msi_count(&fp), 4);
	hv_get_stats(hv, &st);
	assert_int_equal(st.events_signaled, 5);
	assert_int_equal(st.events_coalesced, 1);
	/* Other SINTs' flags untouched. */
	assert_int_equal(guest_memory_read(fp.mem, SIEFP + 3 * 256, flags, sizeof(flags)), 0);
	assert_int_equal(flags[0], 0);
	fake_hv_free(&fp, hv);
}

static void test_simp_moved_flushes_queue(void **state)
{
	struct fake_platform fp;
	struct hv *hv;
	uint32_t a = 1, b = 2;
	struct hv_message m;

	fake_hv_new(&fp, 1, RAM, NULL, &hv);
	synic_enable(hv, 0, 2, 0);
	assert_int_equal(hv_synic_post_message(hv, 0, 2, 1, &a, 4), 0);
	assert_int_equal(hv_synic_post_message(hv, 0, 2, 1, &b, 4), 0);
	/* The guest moves its SIMP (a new, zeroed page): the queued message goes there. */
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_SIMP, (SIMP + 0x10000) | 1), 0);
	assert_int_equal(guest_memory_read(fp.mem, SIMP + 0x10000 + 2 * 256, &m, sizeof(m)), 0);
	assert_int_equal(m.message_type, 1);
	assert_memory_equal(m.payload, &b, 4);
	/* Disabled SIMP: posting fails, as the TLFS's INVALID_SYNIC_STATE. */
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_SIMP, 0), 0);
	assert_int_equal(hv_synic_post_message(hv, 0, 2, 1, &a, 4), -ENXIO);
	fake_hv_free(&fp, hv);
}

/* A host thread posting against a thread playing the guest: nothing lost, nothing reordered. */
#define STRESS_MESSAGES 5000

struct stress {
	struct hv *hv;
	struct fake_platform *fp;
	unsigned received;
	bool order_ok;
};

static void *guest_thread(void *arg)
{
	struct stress *s = arg;
	struct hv_message *slot = guest_memory_ptr(s->fp->mem, SIMP + 2 * 256, 256);
	uint32_t want = 0;

	s->order_ok = true;
	while (want < STRESS_MESSAGES) {
		uint32_t got;
		uint8_t flags;

		if (__atomic_load_n(&slot->message_type, __ATOMIC_ACQUIRE) == 0)
			continue;
		memcpy(&got, slot->payload, 4);
		if (got != want)
			s->order_ok = false;
		want++;
		/* vmbus_signal_eom: clear the type, full barrier, then look at the flag. */
		__atomic_store_n(&slot->message_type, 0, __ATOMIC_SEQ_CST);
		flags = __atomic_load_n(&slot->message_flags, __ATOMIC_SEQ_CST);
		if (flags & HV_MESSAGE_FLAG_PENDING)
			hv_msr_write(s->hv, 0, HV_MSR_EOM, 0);
	}
	s->received = want;
	return NULL;
}

static void test_concurrent_post_and_consume(void **state)
{
	struct fake_platform fp;
	struct stress s;
	struct hv *hv;
	pthread_t t;
	uint32_t i;

	fake_hv_new(&fp, 1, RAM, &(struct hv_config){.queue_depth = 4}, &hv);
	synic_enable(hv, 0, 2, HV_SINT_POLLING);
	s = (struct stress){.hv = hv, .fp = &fp};
	assert_int_equal(pthread_create(&t, NULL, guest_thread, &s), 0);
	for (i = 0; i < STRESS_MESSAGES; i++) {
		int r;

		while ((r = hv_synic_post_message(hv, 0, 2, 1, &i, 4)) == -ENOBUFS)
			sched_yield();
		assert_int_equal(r, 0);
	}
	pthread_join(t, NULL);
	assert_int_equal(s.received, STRESS_MESSAGES);
	assert_true(s.order_ok);
	fake_hv_free(&fp, hv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registers),
		cmocka_unit_test(test_post_message_and_eom),
		cmocka_unit_test(test_queue_overflow),
		cmocka_unit_test(test_masked_disabled_polling),
		cmocka_unit_test(test_event_flags),
		cmocka_unit_test(test_simp_moved_flushes_queue),
		cmocka_unit_test(test_concurrent_post_and_consume),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests of the Hyper-V interface's saved state (src/hv/hv_state.c) over
 * fake platforms: registers, SynIC pages and queued messages survive a
 * save and a load into a fresh hv whose guest RAM was restored; reference
 * time continues from the saved value on a host whose TSC is elsewhere; a
 * state for another VP count or with bad registers is refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hv_fakes.h"
#include "hvdef/tlfs_msr.h"
#include "hvdef/tlfs_ref_tsc.h"
#include "hvdef/tlfs_synic.h"
#include "state/state.h"

#define RAM	 (16 * MiB)
#define HCPAGE	 0x200000u
#define TSCPAGE	 0x201000u
#define SIMP	 0x100000u
#define SIEFP	 0x101000u
#define VECTOR	 0xF3u
#define SINT	 2u
#define MSG_TYPE 0x77u

static void synic_enable(struct hv *hv, unsigned vp)
{
	assert_int_equal(hv_msr_write(hv, vp, HV_MSR_SIMP, SIMP | 1), 0);
	assert_int_equal(hv_msr_write(hv, vp, HV_MSR_SIEFP, SIEFP | 1), 0);
	assert_int_equal(hv_msr_write(hv, vp, HV_MSR_SINT0 + SINT, VECTOR), 0);
	assert_int_equal(hv_msr_write(hv, vp, HV_MSR_SCONTROL, 1), 0);
}

static struct hv_message slot(struct fake_platform *fp)
{
	struct hv_message m;

	assert_int_equal(guest_memory_read(fp->mem, SIMP + SINT * 256, &m, sizeof(m)), 0);
	return m;
}

/* The guest side of the reference TSC page (Linux's hv_read_tsc_page_tsc). */
static uint64_t page_ref_time(struct fake_platform *fp, uint64_t tsc, uint32_t *seq)
{
	struct hv_reference_tsc_page pg;

	assert_int_equal(guest_memory_read(fp->mem, TSCPAGE, &pg, sizeof(pg)), 0);
	*seq = pg.tsc_sequence;
	return (uint64_t)(((unsigned __int128)tsc * pg.tsc_scale) >> 64) + (uint64_t)pg.tsc_offset;
}

/* A running VM: hypercalls, TSC page, VP 1's SynIC with one message in the slot, two queued. */
static void make_busy(struct fake_platform *fp, struct hv **hv)
{
	uint32_t payload;
	unsigned i;

	fake_hv_new(fp, 2, RAM, NULL, hv);
	fake_enable_hypercalls(*hv, HCPAGE);
	assert_int_equal(hv_msr_write(*hv, 0, HV_MSR_REFERENCE_TSC, TSCPAGE | 1), 0);
	synic_enable(*hv, 1);
	for (i = 0; i < 3; i++) {
		payload = 0xA0 + i;
		assert_int_equal(hv_synic_post_message(*hv, 1, SINT, MSG_TYPE, &payload, 4), 0);
	}
	fp->tsc = UINT64_C(25000000000); /* 10 s at 2.5 GHz */
}

static void save(struct hv *hv, struct state_out *out)
{
	state_out_init(out);
	assert_int_equal(hv_save(hv, out), 0);
}

static int load(struct hv *hv, const struct state_out *out, char *err, size_t len)
{
	struct state_in in;
	int r;

	state_in_init(&in, out->buf, out->len);
	r = hv_load(hv, HV_STATE_VERSION, &in, err, len);
	if (r == 0)
		assert_int_equal(state_in_finish(&in), 0);
	return r;
}

/* The restore of guest RAM, as state_reader_load_ram does it. */
static void copy_ram(struct fake_platform *from, struct fake_platform *to)
{
	memcpy(guest_memory_ptr(to->mem, 0, 4 * MiB), guest_memory_ptr(from->mem, 0, 4 * MiB),
	       4 * MiB);
}

static void test_round_trip(void **state)
{
	struct fake_platform fa, fb;
	struct hv *a, *b;
	struct state_out out;
	struct hv_message m;
	char err[200] = "";
	uint64_t ref_a, ref_b, va, vb;
	uint32_t seq_a, seq_b, msrs[] = {HV_MSR_GUEST_OS_ID, HV_MSR_HYPERCALL, HV_MSR_REFERENCE_TSC,
					 HV_MSR_SIMP,	     HV_MSR_SIEFP,     HV_MSR_SINT0 + SINT,
					 HV_MSR_SCONTROL};
	unsigned i;

	make_busy(&fa, &a);
	assert_int_equal(hv_msr_read(a, 0, HV_MSR_TIME_REF_COUNT, &ref_a), 0);
	(void)page_ref_time(&fa, fa.tsc, &seq_a);
	save(a, &out);
	/* Restored on a host whose TSC is far lower. */
	fake_hv_new(&fb, 2, RAM, NULL, &b);
	fb.tsc = 12345;
	copy_ram(&fa, &fb);
	if (load(b, &out, err, sizeof(err)) < 0)
		fail_msg("load: %s", err);
	for (i = 0; i < ARRAY_SIZE(msrs); i++) {
		assert_int_equal(hv_msr_read(a, 1, msrs[i], &va), 0);
		assert_int_equal(hv_msr_read(b, 1, msrs[i], &vb), 0);
		assert_int_equal(vb, va);
	}
	/* Reference time: the saved value, from the MSR and from the rewritten page. */
	assert_int_equal(hv_msr_read(b, 0, HV_MSR_TIME_REF_COUNT, &ref_b), 0);
	assert_int_equal(ref_b, ref_a);
	assert_int_equal(page_ref_time(&fb, fb.tsc, &seq_b), ref_a);
	assert_int_not_equal(seq_b, seq_a);
	fb.tsc += FAKE_TSC_HZ; /* a second later */
	assert_int_equal(hv_msr_read(b, 0, HV_MSR_TIME_REF_COUNT, &ref_b), 0);
	assert_int_equal(ref_b, ref_a + 10000000);
	/* The SIMP slot kept its message; EOM brings the queued ones in order. */
	for (i = 0; i < 3; i++) {
		uint32_t none = 0, payload;

		m = slot(&fb);
		assert_int_equal(m.message_type, MSG_TYPE);
		memcpy(&payload, m.payload, 4);
		assert_int_equal(payload, 0xA0 + i);
		assert_int_equal(guest_memory_write(fb.mem, SIMP + SINT * 256, &none, 4), 0);
		assert_int_equal(hv_msr_write(b, 1, HV_MSR_EOM, 0), 0);
	}
	assert_int_equal(slot(&fb).message_type, 0);
	state_out_fini(&out);
	fake_hv_free(&fa, a);
	fake_hv_free(&fb, b);
}

static void test_refused(void **state)
{
	struct fake_platform fa, fb, fc;
	struct hv *a, *b, *c;
	struct state_out out;
	char err[200] = "";
	size_t simp_off = 8 * 3 + 4 + 8 + 4 + (8 * 4 + 8 * 16 + 4 + 4 * 16) + 8;

	make_busy(&fa, &a);
	save(a, &out);
	fake_hv_new(&fc, 1, RAM, NULL, &c);
	assert_int_equal(load(c, &out, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "virtual processors"));
	fake_hv_new(&fb, 2, RAM, NULL, &b);
	/* VP 1's SIMP with a reserved bit (VP 0 saved no messages: its record is fixed-size). */
	out.buf[simp_off] |= 0x2;
	assert_int_equal(load(b, &out, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "VP 1"));
	assert_non_null(strstr(err, "SIMP"));
	out.buf[simp_off] &= ~0x2;
	out.len -= 100; /* inside the last queued message */
	assert_int_equal(load(b, &out, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "too short"));
	state_out_fini(&out);
	fake_hv_free(&fa, a);
	fake_hv_free(&fb, b);
	fake_hv_free(&fc, c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

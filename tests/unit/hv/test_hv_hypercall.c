/*
 * Unit tests of the hypercall interface (hv/hypercall.c): the input value
 * and its reserved bits, rep semantics, both register conventions,
 * HvPostMessage and HvSignalEvent with good and bad input (unaligned,
 * page-crossing, outside RAM, in the MMIO hole), unknown codes, the
 * connection-id registries, and a trap while the page is disabled.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hv/hv_internal.h"
#include "hv_fakes.h"
#include "hvdef/tlfs_hypercall.h"
#include "hvdef/tlfs_msr.h"
#include "vid/pc_layout.h"

#define RAM	   (16 * MiB)
#define HCALL_PAGE 0x10000u
#define INPUT	   0x20000u
#define MSG_CONN   1u
#define EVT_CONN   0x2001u
#define FAST	   HV_HYPERCALL_FAST

struct recorder {
	unsigned messages, events;
	unsigned vp;
	uint32_t type, size, connection_id;
	uint16_t flag;
	uint8_t payload[240];
	uint16_t status;      /* what the handlers answer */
	struct hv *post_back; /* if set, the message handler posts a message itself */
};

static const struct vcpu_mode KERNEL64 = {.protected_mode = true, .long_mode = true};
static const struct vcpu_mode KERNEL32 = {.protected_mode = true};

static uint16_t on_message(void *opaque, unsigned vp, uint32_t type, const void *payload,
			   uint32_t size)
{
	struct recorder *r = opaque;

	r->messages++;
	r->vp = vp;
	r->type = type;
	r->size = size;
	memcpy(r->payload, payload, size);
	if (r->post_back)
		assert_int_equal(hv_synic_post_message(r->post_back, vp, 2, 5, payload, size), 0);
	return r->status;
}

static uint16_t on_event(void *opaque, unsigned vp, uint32_t connection_id, uint16_t flag)
{
	struct recorder *r = opaque;

	r->events++;
	r->vp = vp;
	r->connection_id = connection_id;
	r->flag = flag;
	return r->status;
}

static void setup(struct fake_platform *fp, struct hv **hv, struct recorder *rec, unsigned vps,
		  uint64_t ram)
{
	memset(rec, 0, sizeof(*rec));
	fake_hv_new(fp, vps, ram, NULL, hv);
	fake_enable_hypercalls(*hv, HCALL_PAGE);
	assert_int_equal(hv_register_message_handler(*hv, MSG_CONN, on_message, rec), 0);
	assert_int_equal(hv_register_event_handler(*hv, EVT_CONN, on_event, rec), 0);
}

static void write_post_input(struct fake_platform *fp, uint64_t gpa, uint32_t conn, uint32_t type,
			     uint32_t size)
{
	struct hv_input_post_message in = {
		.connection_id = conn, .message_type = type, .payload_size = size};
	unsigned i;

	for (i = 0; i < sizeof(in.payload); i++)
		in.payload[i] = (uint8_t)i;
	assert_int_equal(guest_memory_write(fp->mem, gpa, &in, sizeof(in)), 0);
}

static void test_decode(void **state)
{
	struct hv_hypercall_control c;

	assert_int_equal(hv_hypercall_decode(0x5C, false, &c), HV_STATUS_SUCCESS);
	assert_int_equal(c.code, 0x5C);
	assert_false(c.fast);
	assert_int_equal(hv_hypercall_decode(0x5D | FAST | (UINT64_C(3) << 17), false, &c), 0);
	assert_true(c.fast);
	assert_int_equal(c.var_header_qwords, 3);
	/* Reserved: 30:27, 31 (nested, unsupported), 47:44, 63:60. */
	assert_int_equal(hv_hypercall_decode(0x5C | (1u << 27), false, &c), 3);
	assert_int_equal(hv_hypercall_decode(0x5C | (1u << 31), false, &c), 3);
	assert_int_equal(hv_hypercall_decode(0x5C | (UINT64_C(1) << 44), false, &c), 3);
	assert_int_equal(hv_hypercall_decode(0x5C | (UINT64_C(1) << 63), false, &c), 3);
	/* Simple calls take no reps; rep calls need a count above the start index. */
	assert_int_equal(hv_hypercall_decode(0x5C | (UINT64_C(1) << 32), false, &c), 3);
	assert_int_equal(hv_hypercall_decode(0x5C | (UINT64_C(1) << 48), false, &c), 3);
	assert_int_equal(hv_hypercall_decode(0x3, true, &c), 3);
	assert_int_equal(
		hv_hypercall_decode(0x3 | (UINT64_C(5) << 32) | (UINT64_C(5) << 48), true, &c), 3);
	assert_int_equal(
		hv_hypercall_decode(0x3 | (UINT64_C(5) << 32) | (UINT64_C(4) << 48), true, &c), 0);
	assert_int_equal(c.rep_count, 5);
	assert_int_equal(c.rep_start, 4);
	assert_int_equal(hv_hypercall_decode(0x3 | (UINT64_C(0xFFF) << 32), true, &c), 0);
	assert_int_equal(c.rep_count, 0xFFF);
	/* The result value: status in 15:0, reps completed in 43:32. */
	assert_int_equal(hv_hypercall_result(5, 3), 5 | (UINT64_C(3) << 32));
	assert_int_equal(hv_hypercall_result(0, 0xFFF), UINT64_C(0xFFF) << 32);
}

static void test_signal_event(void **state)
{
	struct fake_platform fp;
	struct recorder rec;
	struct hv_input_signal_event ev = {.connection_id = EVT_CONN, .flag_number = 3};
	struct hv *hv;

	setup(&fp, &hv, &rec, 2, RAM);
	assert_int_equal(fake_hypercall(hv, 1, 0x5D | FAST, EVT_CONN, 0), 0);
	assert_int_equal(rec.events, 1);
	assert_int_equal(rec.vp, 1);
	assert_int_equal(rec.connection_id, EVT_CONN);
	assert_int_equal(rec.flag, 0);
	assert_int_equal(fake_hypercall(hv, 0, 0x5D | FAST, EVT_CONN | (UINT64_C(9) << 32), 0), 0);
	assert_int_equal(rec.flag, 9);
	/* The handler's status reaches the guest. */
	rec.status = HV_STATUS_INVALID_PORT_ID;
	assert_int_equal(fake_hypercall(hv, 0, 0x5D | FAST, EVT_CONN, 0),
			 HV_STATUS_INVALID_PORT_ID);
	rec.status = 0;
	/* Unknown connection, reserved bits of the input, the 8 reserved bits of the id. */
	assert_int_equal(fake_hypercall(hv, 0, 0x5D | FAST, 0x2002, 0), 0x12);
	assert_int_equal(fake_hypercall(hv, 0, 0x5D | FAST, EVT_CONN | (UINT64_C(1) << 63), 0), 3);
	assert_int_equal(fake_hypercall(hv, 0, 0x5D | FAST, EVT_CONN | (1u << 24), 0), 0x12);
	/* Memory input works too, with the usual GPA checks. */
	assert_int_equal(guest_memory_write(fp.mem, INPUT, &ev, sizeof(ev)), 0);
	assert_int_equal(fake_hypercall(hv, 0, 0x5D, INPUT, 0), 0);
	assert_int_equal(rec.flag, 3);
	assert_int_equal(fake_hypercall(hv, 0, 0x5D, INPUT + 4, 0), 4);
	assert_int_equal(fake_hypercall(hv, 0, 0x5D, RAM, 0), 4);
	assert_int_equal(rec.events, 4);
	fake_hv_free(&fp, hv);
}

/* One handler for a range of connection ids (a VMBus server's channels): every id reaches it. */
static void test_event_range(void **state)
{
	struct fake_platform fp;
	struct recorder rec, other = {0};
	struct hv *hv;
	uint32_t id;

	setup(&fp, &hv, &rec, 2, RAM);
	/* setup registered EVT_CONN alone: a range over it is refused, one after it is not. */
	assert_int_equal(hv_register_event_range(hv, EVT_CONN - 1, 2, on_event, &other), -EEXIST);
	assert_int_equal(hv_register_event_range(hv, EVT_CONN + 1, 2047, on_event, &other), 0);
	assert_int_equal(hv_register_event_range(hv, EVT_CONN + 2047, 1, on_event, &rec), -EEXIST);
	assert_int_equal(hv_register_event_range(hv, 0xFFFFFF, 2, on_event, &rec), -EINVAL);
	assert_int_equal(hv_register_event_range(hv, 0x100, 0, on_event, &rec), -EINVAL);
	for (id = EVT_CONN + 1; id <= EVT_CONN + 2047; id++)
		assert_int_equal(fake_hypercall(hv, 1, 0x5D | FAST, id, 0), 0);
	assert_int_equal(other.events, 2047);
	assert_int_equal(other.connection_id, EVT_CONN + 2047);
	assert_int_equal(rec.events, 0);
	assert_int_equal(fake_hypercall(hv, 1, 0x5D | FAST, EVT_CONN, 0), 0);
	assert_int_equal(rec.events, 1);
	/* Past either end: nobody. */
	assert_int_equal(fake_hypercall(hv, 1, 0x5D | FAST, EVT_CONN + 2048, 0), 0x12);
	assert_int_equal(fake_hypercall(hv, 1, 0x5D | FAST, EVT_CONN - 1, 0), 0x12);
	/* Removed by its first id; an id inside the range is not a registration of its own. */
	assert_int_equal(hv_register_event_handler(hv, EVT_CONN + 5, NULL, NULL), -ENOENT);
	assert_int_equal(hv_register_event_handler(hv, EVT_CONN + 1, NULL, NULL), 0);
	assert_int_equal(fake_hypercall(hv, 1, 0x5D | FAST, EVT_CONN + 5, 0), 0x12);
	assert_int_equal(other.events, 2047);
	fake_hv_free(&fp, hv);
}

static void test_post_message(void **state)
{
	struct fake_platform fp;
	struct recorder rec;
	struct hv_stats st;
	struct hv *hv;
	unsigned i;

	setup(&fp, &hv, &rec, 1, RAM);
	write_post_input(&fp, INPUT, MSG_CONN, 1, 24);
	assert_int_equal(fake_hypercall(hv, 0, 0x5C, INPUT, 0xFFFFFFFF /* no output: ignored */),
			 0);
	assert_int_equal(rec.messages, 1);
	assert_int_equal(rec.type, 1);
	assert_int_equal(rec.size, 24);
	for (i = 0; i < 24; i++)
		assert_int_equal(rec.payload[i], i);
	write_post_input(&fp, INPUT, MSG_CONN, 0x7FFFFFFF, 240);
	assert_int_equal(fake_hypercall(hv, 0, 0x5C, INPUT, 0), 0);
	assert_int_equal(rec.size, 240);
	/* The handler's status reaches the guest. */
	rec.status = HV_STATUS_INSUFFICIENT_BUFFERS;
	assert_int_equal(fake_hypercall(hv, 0, 0x5C, INPUT, 0), HV_STATUS_INSUFFICIENT_BUFFERS);
	rec.status = 0;

	/* Parameters (TLFS HvCallPostMessage): type 0, type with bit 31, payload > 240. */
	write_post_input(&fp, INPUT, MSG_CONN, 0, 8);
	assert_int_equal(fake_hypercall(hv, 0, 0x5C, INPUT, 0), HV_STATUS_INVALID_PARAMETER);
	write_post_input(&fp, INPUT, MSG_CONN, 0x80000000, 8);
	assert_int_equal(fake_hypercall(hv, 0, 0x5C, INPUT, 0), HV_STATUS_INVALID_PARAMETER);
	write_post_input(&fp, INPUT, MSG_CONN, 1, 241);
	assert_int_equal(fake_hypercall(hv, 0, 0x5C, INPUT, 0), HV_STATUS_INVALID_PARAMETER);
	write_post_input(&fp, INPUT, MSG_CONN, 1, 0xFFFFFFFF);
	assert_int_equal(fake_hypercall(hv, 0, 0x5C, INPUT, 0), HV_STATUS_INVALID_PARAMETER);
	write_post_input(&fp, INPUT, 77, 1, 8);
	assert_int_equal(fake_hypercall(hv, 0, 0x5C, INPUT, 0), HV_STATUS_INVALID_CONNECTION_ID);
	{
		uint32_t rsvd = 1;

		write_post_input(&fp, INPUT, MSG_CONN, 1, 8);
		assert_int_equal(guest_memory_write(fp.mem, INPUT + 4, &rsvd, 4), 0);
		assert_int_equal(fake_hypercall(hv, 0, 0x5C, INPUT, 0),
				 HV_STATUS_INVALID_HYPERCALL_INPUT);
	}

	/* The input block: aligned to 8, within one page, in RAM. */
	write_post_input(&fp, INPUT + 8, MSG_CONN, 1, 8);
	assert_int_equal(fake_hypercall(hv, 0, 0x5C, INPUT + 8, 0), 0);
	assert_int_equal(fake_hypercall(hv, 0, 0x5C, INPUT + 4, 0), HV_STATUS_INVALID_ALIGNMENT);
	assert_int_equal(fake_hypercall(hv, 0, 0x5C, INPUT + 1, 0), HV_STATUS_INVALID_ALIGNMENT);
	assert_int_equal(fake_hypercall(hv, 0, 0x5C, INPUT + 4096 - 248, 0),
			 HV_STATUS_INVALID_ALIGNMENT); /* crosses a page */
	write_post_input(&fp, INPUT + 4096 - 256, MSG_CONN, 1, 8);
	assert_int_equal(fake_hypercall(hv, 0, 0x5C, INPUT + 4096 - 256, 0), 0); /* ends on it */
	assert_int_equal(fake_hypercall(hv, 0, 0x5C, RAM, 0), HV_STATUS_INVALID_ALIGNMENT);
	assert_int_equal(fake_hypercall(hv, 0, 0x5C, RAM - 256, 0) == HV_STATUS_INVALID_ALIGNMENT,
			 0); /* the last 256 bytes of RAM are fine (a type-0 message there) */
	assert_int_equal(fake_hypercall(hv, 0, 0x5C, UINT64_C(0xFFFFFFFFFFFFFF00), 0),
			 HV_STATUS_INVALID_ALIGNMENT);
	assert_int_equal(fake_hypercall(hv, 0, 0x5C, PC_MMIO_HOLE_START, 0),
			 HV_STATUS_INVALID_ALIGNMENT);
	/* Fast: 256 bytes cannot come in registers. */
	assert_int_equal(fake_hypercall(hv, 0, 0x5C | FAST, INPUT, 0),
			 HV_STATUS_INVALID_HYPERCALL_INPUT);
	hv_get_stats(hv, &st);
	assert_int_equal(st.hypercall_post_message, 19);
	assert_int_equal(rec.messages, 5);
	fake_hv_free(&fp, hv);
}

static void test_mmio_hole_with_high_memory(void **state)
{
	struct fake_platform fp;
	struct recorder rec;
	struct hv *hv;

	/* 4 GiB of RAM: 3 GiB below the hole, 1 GiB above it. */
	setup(&fp, &hv, &rec, 1, 4 * GiB);
	write_post_input(&fp, PC_MMIO_HOLE_END, MSG_CONN, 1, 8);
	assert_int_equal(fake_hypercall(hv, 0, 0x5C, PC_MMIO_HOLE_END, 0), 0);
	assert_int_equal(fake_hypercall(hv, 0, 0x5C, PC_MMIO_HOLE_START, 0), 4);
	assert_int_equal(fake_hypercall(hv, 0, 0x5C, PC_MMIO_HOLE_START - 0x100, 0), 0x5);
	assert_int_equal(fake_hypercall(hv, 0, 0x5C, PC_LAPIC_BASE, 0), 4);
	/* Page registers cannot point into the hole either. */
	assert_true(hv_msr_write(hv, 0, HV_MSR_SIMP, PC_IOAPIC_BASE | 1) < 0);
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_SIMP, PC_MMIO_HOLE_END | 1), 0);
	fake_hv_free(&fp, hv);
}

static void test_control_word(void **state)
{
	struct fake_platform fp;
	struct recorder rec;
	struct hv_stats st;
	struct hv *hv;

	setup(&fp, &hv, &rec, 1, RAM);
	assert_int_equal(fake_hypercall(hv, 0, 0x99, 0, 0), HV_STATUS_INVALID_HYPERCALL_CODE);
	assert_int_equal(fake_hypercall(hv, 0, 0x0, 0, 0), HV_STATUS_INVALID_HYPERCALL_CODE);
	assert_int_equal(fake_hypercall(hv, 0, 0x8001, 0, 0), HV_STATUS_INVALID_HYPERCALL_CODE);
	assert_int_equal(fake_hypercall(hv, 0, 0xFFFF | (UINT64_C(1) << 63), 0, 0),
			 HV_STATUS_INVALID_HYPERCALL_CODE);
	assert_int_equal(fake_hypercall(hv, 0, 0x5D | FAST | (1u << 27), EVT_CONN, 0), 3);
	assert_int_equal(fake_hypercall(hv, 0, 0x5D | FAST | (UINT64_C(2) << 32), EVT_CONN, 0), 3);
	assert_int_equal(fake_hypercall(hv, 0, 0x5D | FAST | (UINT64_C(1) << 48), EVT_CONN, 0), 3);
	assert_int_equal(fake_hypercall(hv, 0, 0x5D | FAST | (UINT64_C(1) << 17), EVT_CONN, 0), 3);
	assert_int_equal(rec.events, 0);
	hv_get_stats(hv, &st);
	assert_int_equal(st.hypercalls, 8);
	assert_int_equal(st.hypercall_unknown, 4);
	assert_int_equal(st.hypercall_failed, 8);
	fake_hv_free(&fp, hv);
}

static void test_32bit_convention(void **state)
{
	struct fake_platform fp;
	struct recorder rec;
	struct hv *hv;
	struct vcpu_gprs regs;

	setup(&fp, &hv, &rec, 1, RAM);
	write_post_input(&fp, INPUT, MSG_CONN, 1, 8);
	/* EDX:EAX control, EBX:ECX input GPA, EDI:ESI output GPA; upper halves are junk. */
	regs = (struct vcpu_gprs){.rax = 0xFFFFFFFF0000005Cull,
				  .rdx = 0xAAAAAAAA00000000ull,
				  .rbx = 0xBBBBBBBB00000000ull,
				  .rcx = 0xCCCCCCCC00000000ull | INPUT,
				  .rdi = 0x1111111100000000ull,
				  .rsi = 0x2222222200000000ull};
	hv_hypercall(hv, 0, &regs, &KERNEL32);
	assert_int_equal(rec.messages, 1);
	assert_int_equal(regs.rax, 0); /* result in EDX:EAX */
	assert_int_equal(regs.rdx, 0);
	assert_int_equal(regs.rcx, 0xCCCCCCCC00000000ull | INPUT); /* nothing else touched */
	/* A status and the reps field both land in EDX:EAX. */
	regs = (struct vcpu_gprs){.rax = 0x5C, .rdx = 0x1 /* rep count 1 on a simple call */};
	hv_hypercall(hv, 0, &regs, &KERNEL32);
	assert_int_equal(regs.rax, HV_STATUS_INVALID_HYPERCALL_INPUT);
	assert_int_equal(regs.rdx, 0);
	/* Fast HvSignalEvent: the 8 input bytes in EBX:ECX. */
	regs = (struct vcpu_gprs){.rax = 0x1005D, .rbx = 5, .rcx = EVT_CONN};
	hv_hypercall(hv, 0, &regs, &KERNEL32);
	assert_int_equal(regs.rax, 0);
	assert_int_equal(rec.flag, 5);
	/* An input GPA above 4 GiB from EBX: outside this RAM. */
	regs = (struct vcpu_gprs){.rax = 0x5C, .rbx = 1, .rcx = INPUT};
	hv_hypercall(hv, 0, &regs, &KERNEL32);
	assert_int_equal(regs.rax, HV_STATUS_INVALID_ALIGNMENT);
	fake_hv_free(&fp, hv);
}

/*
 * Issue 12, item 8: the hypercall port answered at any CPL. Hyper-V raises #UD for a
 * hypercall from CPL > 0 or real mode (KVM's kvm_hv_hypercall, "per HYPER-V spec"): the
 * call does nothing and no register changes; the same call from the kernel works.
 */
static void test_refused_outside_kernel(void **state)
{
	static const struct vcpu_mode user64 = {.protected_mode = true,
						.long_mode = true,
						.cpl = 3},
				      ring1 = {.protected_mode = true, .cpl = 1}, real = {0};
	struct fake_platform fp;
	struct recorder rec;
	struct hv_stats st;
	struct vcpu_gprs regs, before;
	struct hv *hv;

	memset(&rec, 0, sizeof(rec));
	fake_hv_new(&fp, 1, RAM, NULL, &hv);
	assert_int_equal(hv_register_event_handler(hv, EVT_CONN, on_event, &rec), 0);
	fake_enable_hypercalls(hv, HCALL_PAGE);
	/* Fast HvSignalEvent, 64-bit convention. */
	before = regs = (struct vcpu_gprs){.rax = 0x1234, .rcx = 0x1005D, .rdx = EVT_CONN};
	assert_false(hv_hypercall(hv, 0, &regs, &user64));
	assert_memory_equal(&regs, &before, sizeof(regs));
	assert_int_equal(rec.events, 0);
	before = regs = (struct vcpu_gprs){.rax = 0x1005D, .rbx = 5, .rcx = EVT_CONN};
	assert_false(hv_hypercall(hv, 0, &regs, &ring1));
	assert_false(hv_hypercall(hv, 0, &regs, &real));
	assert_memory_equal(&regs, &before, sizeof(regs));
	assert_int_equal(rec.events, 0);
	hv_get_stats(hv, &st);
	assert_int_equal(st.hypercall_refused, 3);
	/* The kernel's call goes through. */
	regs = (struct vcpu_gprs){.rax = 0x1234, .rcx = 0x1005D, .rdx = EVT_CONN};
	assert_true(hv_hypercall(hv, 0, &regs, &KERNEL64));
	assert_int_equal(regs.rax, 0);
	assert_int_equal(rec.events, 1);
	fake_hv_free(&fp, hv);
}

static void test_disabled_page(void **state)
{
	struct fake_platform fp;
	struct recorder rec;
	struct hv_stats st;
	struct vcpu_gprs regs = {.rax = 0x1234, .rcx = 0x1005D, .rdx = EVT_CONN};
	struct hv *hv;

	memset(&rec, 0, sizeof(rec));
	fake_hv_new(&fp, 1, RAM, NULL, &hv);
	assert_int_equal(hv_register_event_handler(hv, EVT_CONN, on_event, &rec), 0);
	/* No hypercall page: the port is just an unassigned port, registers untouched. */
	hv_hypercall(hv, 0, &regs, &KERNEL64);
	assert_int_equal(regs.rax, 0x1234);
	assert_int_equal(rec.events, 0);
	fake_enable_hypercalls(hv, HCALL_PAGE);
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_HYPERCALL, HCALL_PAGE), 0);
	hv_hypercall(hv, 0, &regs, &KERNEL64);
	assert_int_equal(regs.rax, 0x1234);
	/* A VP index the partition does not have. */
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_HYPERCALL, HCALL_PAGE | 1), 0);
	hv_hypercall(hv, 1, &regs, &KERNEL64);
	assert_int_equal(regs.rax, 0x1234);
	hv_get_stats(hv, &st);
	assert_int_equal(st.hypercall_disabled, 3);
	fake_hv_free(&fp, hv);
}

static void test_registry(void **state)
{
	struct fake_platform fp;
	struct recorder rec[64];
	struct hv *hv;
	unsigned i;

	fake_hv_new(&fp, 1, RAM, NULL, &hv);
	fake_enable_hypercalls(hv, HCALL_PAGE);
	/* Many ids, registered out of order, each reaching its own handler. */
	for (i = 0; i < 64; i++) {
		uint32_t id = (i * 37) % 64 + 0x100;

		memset(&rec[id - 0x100], 0, sizeof(rec[0]));
		assert_int_equal(hv_register_event_handler(hv, id, on_event, &rec[id - 0x100]), 0);
	}
	for (i = 0; i < 64; i++)
		assert_int_equal(fake_hypercall(hv, 0, 0x5D | FAST, 0x100 + i, 0), 0);
	for (i = 0; i < 64; i++) {
		assert_int_equal(rec[i].events, 1);
		assert_int_equal(rec[i].connection_id, 0x100 + i);
	}
	assert_int_equal(hv_register_event_handler(hv, 0x100, on_event, &rec[0]), -EEXIST);
	assert_int_equal(hv_register_event_handler(hv, 0x1000000, on_event, &rec[0]), -EINVAL);
	assert_int_equal(hv_register_event_handler(hv, 0x100, NULL, NULL), 0);
	assert_int_equal(hv_register_event_handler(hv, 0x100, NULL, NULL), -ENOENT);
	assert_int_equal(fake_hypercall(hv, 0, 0x5D | FAST, 0x100, 0), 0x12);
	assert_int_equal(fake_hypercall(hv, 0, 0x5D | FAST, 0x13F, 0), 0);
	/* Messages and events are separate namespaces. */
	assert_int_equal(hv_register_message_handler(hv, 0x101, on_message, &rec[1]), 0);
	fake_hv_free(&fp, hv);
}

static void test_handler_posts_back(void **state)
{
	struct fake_platform fp;
	struct recorder rec;
	struct hv *hv;

	/* A handler answering at once (as VMBus may) from inside the hypercall. */
	setup(&fp, &hv, &rec, 1, RAM);
	rec.post_back = hv;
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_SIMP, 0x30000 | 1), 0);
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_SINT0 + 2, 0x40), 0);
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_SCONTROL, 1), 0);
	write_post_input(&fp, INPUT, MSG_CONN, 1, 16);
	assert_int_equal(fake_hypercall(hv, 0, 0x5C, INPUT, 0), 0);
	assert_int_equal(fake_msi_count(&fp), 1);
	fake_hv_free(&fp, hv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_signal_event),
		cmocka_unit_test(test_event_range),
		cmocka_unit_test(test_post_message),
		cmocka_unit_test(test_mmio_hole_with_high_memory),
		cmocka_unit_test(test_control_word),
		cmocka_unit_test(test_32bit_convention),
		cmocka_unit_test(test_disabled_page),
		cmocka_unit_test(test_refused_outside_kernel),
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_handler_posts_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

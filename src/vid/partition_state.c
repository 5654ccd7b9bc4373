/*
 * Saving and restoring KVM's part of a partition (docs/saved-state.md):
 * every vCPU's registers, special registers, XSAVE, XCRs, LAPIC, pending
 * events, debug registers, MP state and MSRs; the in-kernel PIC, IOAPIC
 * and PIT; kvmclock; and guest RAM. The encoding is kvm_state.c's.
 *
 * Save runs on the owner's thread while the partition is paused: every
 * vCPU thread is held outside KVM_RUN, after completing the instruction of
 * its last exit (vcpu.c), so no IN, MMIO read or RDMSR is left half done.
 * Restore runs before partition_start: RAM is read at once, the KVM state
 * is kept and set by partition_start in place of the boot registers.
 *
 * The TSC: its MSR is saved and set back, which keeps the guest's TSC
 * continuous on KVM with TSC offsetting; on PVM the write is ignored and
 * the guest TSC jumps by the time spent saved (research/STATE-AND-
 * MIGRATION.md 1.4). kvmclock is set back to its saved value (not
 * advanced by wall time), as the LAPIC timer is.
 */
#include "vid/partition_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "base/log.h"
#include "state/state_lazy.h"
#include "vid/kvm_state.h"

/*
 * MSRs KVM keeps but does not list in KVM_GET_MSR_INDEX_LIST, which the
 * guest still relies on (research/STATE-AND-MIGRATION.md 1.3): TSC_AUX
 * (Linux keeps the CPU number there) and the MTRRs.
 */
static const uint32_t unlisted_msrs[] = {
	0xc0000103,						     /* TSC_AUX */
	0x2ff,							     /* MTRRdefType */
	0x200,	    0x201, 0x202, 0x203, 0x204, 0x205, 0x206, 0x207, /* MTRRphysBase/Mask 0-3 */
	0x208,	    0x209, 0x20a, 0x20b, 0x20c, 0x20d, 0x20e, 0x20f, /* 4-7 */
	0x250,	    0x258, 0x259,				     /* fixed MTRRs */
	0x268,	    0x269, 0x26a, 0x26b, 0x26c, 0x26d, 0x26e, 0x26f,
};

#define MSR_IA32_TSC 0x10

static bool msr_listed(const struct vcpu_state *s, uint32_t index)
{
	unsigned i;

	for (i = 0; i < s->nmsrs; i++)
		if (s->msrs[i].index == index)
			return true;
	return false;
}

/* Reads one MSR into the list if KVM has it (a refused one is not state). */
static int add_msr(struct vcpu *v, struct vcpu_state *s, uint32_t index)
{
	uint64_t value = 0;
	int r;

	if (msr_listed(s, index) || (index >= 0x40000000 && index <= 0x400000ff))
		return 0; /* twice, or the Hyper-V range: hv/'s own state */
	r = vid_msr_ioctl(v->fd, KVM_GET_MSRS, index, &value);
	if (r == -EINVAL)
		return 0;
	if (r < 0)
		return r;
	if (s->nmsrs == VCPU_STATE_MAX_MSRS)
		return -E2BIG;
	s->msrs[s->nmsrs++] = (struct vcpu_state_msr){.index = index, .value = value};
	return 0;
}

static int get_msrs(struct vcpu *v, struct vcpu_state *s)
{
	struct partition *p = v->partition;
	struct kvm_msr_list probe = {.nmsrs = 0}, *list;
	unsigned i;
	int r;

	/* The TSC first: on restore it is set before TSC_DEADLINE, which is relative to it. */
	r = add_msr(v, s, MSR_IA32_TSC);
	if (r < 0)
		return r;
	if (ioctl(p->kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return -errno;
	list = calloc(1, sizeof(*list) + probe.nmsrs * sizeof(list->indices[0]));
	if (!list)
		return -ENOMEM;
	list->nmsrs = probe.nmsrs;
	r = ioctl(p->kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0 ? -errno : 0;
	for (i = 0; r == 0 && i < list->nmsrs; i++)
		r = add_msr(v, s, list->indices[i]);
	free(list);
	for (i = 0; r == 0 && i < ARRAY_SIZE(unlisted_msrs); i++)
		r = add_msr(v, s, unlisted_msrs[i]);
	for (i = 0; r == 0 && i < p->model.nmsrs; i++)
		r = add_msr(v, s, p->model.msrs[i].index);
	if (r == 0)
		s->present |= 1u << VCPU_TAG_MSRS;
	return r;
}

static int get_one(struct vcpu *v, unsigned long request, void *dst, struct vcpu_state *s,
		   enum vcpu_state_tag tag)
{
	if (ioctl(v->fd, request, dst) < 0)
		return -errno;
	s->present |= 1u << tag;
	return 0;
}

static int vcpu_get_state(struct vcpu *v, struct vcpu_state *s)
{
	struct partition *p = v->partition;
	int r;

	memset(s, 0, sizeof(*s));
	r = get_one(v, KVM_GET_REGS, &s->regs, s, VCPU_TAG_REGS);
	if (r == 0 && ioctl(p->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SREGS2) > 0)
		r = get_one(v, KVM_GET_SREGS2, &s->sregs2, s, VCPU_TAG_SREGS2);
	else if (r == 0)
		r = get_one(v, KVM_GET_SREGS, &s->sregs, s, VCPU_TAG_SREGS);
	if (r == 0)
		r = get_one(v, KVM_GET_XSAVE, s->xsave, s, VCPU_TAG_XSAVE);
	if (r == 0 && ioctl(p->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0)
		r = get_one(v, KVM_GET_XCRS, &s->xcrs, s, VCPU_TAG_XCRS);
	if (r == 0)
		r = get_one(v, KVM_GET_LAPIC, &s->lapic, s, VCPU_TAG_LAPIC);
	if (r == 0)
		r = get_one(v, KVM_GET_VCPU_EVENTS, &s->events, s, VCPU_TAG_EVENTS);
	if (r == 0)
		r = get_one(v, KVM_GET_DEBUGREGS, &s->debugregs, s, VCPU_TAG_DEBUGREGS);
	if (r == 0)
		r = get_one(v, KVM_GET_MP_STATE, &s->mp_state, s, VCPU_TAG_MP_STATE);
	if (r == 0)
		r = get_msrs(v, s);
	return r;
}

static bool has(const struct vcpu_state *s, enum vcpu_state_tag tag)
{
	return s->present & (1u << tag);
}

#define XSAVE_XSTATE_BV_OFFSET 512  /* the XSAVE header's first field (SDM vol. 1, 13.4.2) */
#define XSAVE_FP_SSE	       3ull /* x87 and SSE: always allowed (KVM adds them) */

/*
 * The saved XSAVE area with only the components this guest may enable. KVM_SET_XSAVE refuses
 * (EINVAL) an XSTATE_BV bit outside the guest's CPUID leaf 0xD. Such a component is invisible
 * to the guest: XSAVE and XRSTOR touch only what XCR0 enables (SDM vol. 1, 13.8), and
 * without the component's CPUID feature the guest cannot enable it. So its saved value is
 * dropped (the component goes to its initial state). Seen on PVM: the host's PKRU reaches
 * the XSAVE area of a guest whose model has no PKU. A state saved on a Zen 3 host had
 * XSTATE_BV 0x200 with XCR0 1, and a Zen 4 host refused it.
 */
static void xsave_fit_guest(uint32_t *xsave, uint64_t guest_xcr0, unsigned vcpu)
{
	uint64_t bv, allowed = guest_xcr0 | XSAVE_FP_SSE;

	memcpy(&bv, (uint8_t *)xsave + XSAVE_XSTATE_BV_OFFSET, sizeof(bv));
	if (!(bv & ~allowed))
		return;
	pv_log(LOG_INFO,
	       "vCPU %u: the saved XSAVE components 0x%llx are not in this guest's CPUID "
	       "(0x%llx): dropped",
	       vcpu, (unsigned long long)(bv & ~allowed), (unsigned long long)allowed);
	bv &= allowed;
	memcpy((uint8_t *)xsave + XSAVE_XSTATE_BV_OFFSET, &bv, sizeof(bv));
}

/* The order matters: APIC base (sregs) before the LAPIC, the LAPIC before TSC_DEADLINE. */
static int vcpu_set_state(struct vcpu *v, struct vcpu_state *s, char *errbuf, size_t errlen)
{
	struct vcpu_state_msr *m;
	uint64_t value;
	const char *what = NULL;
	unsigned i;
	int r;

	if (has(s, VCPU_TAG_SREGS2) && ioctl(v->fd, KVM_SET_SREGS2, &s->sregs2) < 0)
		what = "special registers (KVM_SET_SREGS2)";
	else if (has(s, VCPU_TAG_SREGS) && ioctl(v->fd, KVM_SET_SREGS, &s->sregs) < 0)
		what = "special registers";
	else if (ioctl(v->fd, KVM_SET_REGS, &s->regs) < 0)
		what = "registers";
	else if (has(s, VCPU_TAG_XCRS) && ioctl(v->fd, KVM_SET_XCRS, &s->xcrs) < 0)
		what = "XCRs";
	else if ((xsave_fit_guest(s->xsave, v->partition->model.xcr0, v->index),
		  ioctl(v->fd, KVM_SET_XSAVE, s->xsave) < 0))
		what = "XSAVE state";
	else if (ioctl(v->fd, KVM_SET_LAPIC, &s->lapic) < 0)
		what = "local APIC";
	if (what)
		goto fail;
	for (i = 0; i < s->nmsrs; i++) {
		m = (struct vcpu_state_msr *)&s->msrs[i];
		value = m->value;
		r = vid_msr_ioctl(v->fd, KVM_SET_MSRS, m->index, &value);
		if (r < 0) {
			snprintf(errbuf, errlen, "vCPU %u: KVM refuses MSR 0x%x = 0x%llx: %s",
				 v->index, m->index, (unsigned long long)m->value, strerror(-r));
			return r;
		}
	}
	if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &s->events) < 0)
		what = "pending events";
	else if (has(s, VCPU_TAG_DEBUGREGS) && ioctl(v->fd, KVM_SET_DEBUGREGS, &s->debugregs) < 0)
		what = "debug registers";
	else if (ioctl(v->fd, KVM_SET_MP_STATE, &s->mp_state) < 0)
		what = "MP state";
	if (!what)
		return 0;
fail:
	r = -errno;
	snprintf(errbuf, errlen, "vCPU %u: KVM refuses the saved %s: %s", v->index, what,
		 strerror(errno));
	return r;
}

static int vm_get_state(struct partition *p, struct kvm_vm_state *s)
{
	unsigned i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < ARRAY_SIZE(s->chips); i++) {
		s->chips[i].chip_id = i;
		if (ioctl(p->vm_fd, KVM_GET_IRQCHIP, &s->chips[i]) < 0)
			return -errno;
	}
	if (ioctl(p->vm_fd, KVM_GET_PIT2, &s->pit) < 0)
		return -errno;
	s->have_pit = true;
	return ioctl(p->vm_fd, KVM_GET_CLOCK, &s->clock) < 0 ? -errno : 0;
}

static int vm_set_state(struct partition *p, const struct kvm_vm_state *s, char *errbuf,
			size_t errlen)
{
	struct kvm_clock_data clock = {.clock = s->clock.clock};
	const char *what = NULL;
	unsigned i;

	for (i = 0; !what && i < ARRAY_SIZE(s->chips); i++)
		if (ioctl(p->vm_fd, KVM_SET_IRQCHIP, &s->chips[i]) < 0)
			what = i == 2 ? "IOAPIC" : "PIC";
	if (!what && s->have_pit && ioctl(p->vm_fd, KVM_SET_PIT2, &s->pit) < 0)
		what = "PIT";
	/* Flags 0: kvmclock goes on from its saved value, as the LAPIC timer does. */
	if (!what && ioctl(p->vm_fd, KVM_SET_CLOCK, &clock) < 0)
		what = "kvmclock";
	if (!what)
		return 0;
	snprintf(errbuf, errlen, "KVM refuses the saved %s: %s", what, strerror(errno));
	return -errno;
}

static int write_vm_sections(struct partition *p, struct state_writer *w)
{
	struct kvm_vm_state vm;
	struct state_out out;
	int r;

	r = vm_get_state(p, &vm);
	if (r < 0)
		return r;
	state_out_init(&out);
	kvm_vm_state_encode_irqchip(&vm, &out);
	r = state_writer_section_out(w, "kvm.irqchip", KVM_VM_STATE_VERSION, &out);
	state_out_fini(&out);
	kvm_vm_state_encode_pit(&vm, &out);
	if (r == 0)
		r = state_writer_section_out(w, "kvm.pit", KVM_VM_STATE_VERSION, &out);
	state_out_fini(&out);
	kvm_vm_state_encode_clock(&vm, &out);
	if (r == 0)
		r = state_writer_section_out(w, "kvm.clock", KVM_VM_STATE_VERSION, &out);
	state_out_fini(&out);
	return r;
}

static int save_state(struct partition *p, struct state_writer *w, bool with_ram, char *errbuf,
		      size_t errlen)
{
	const struct guest_memory_region *ram = guest_memory_region(p->mem, 0);
	struct vcpu_state *s;
	struct state_out out;
	char name[STATE_SECTION_NAME_LEN];
	unsigned i;
	int r;

	if (!p->started || !partition_is_paused(p) ||
	    atomic_load(&p->stop_reason) != PARTITION_RUNNING) {
		snprintf(errbuf, errlen, "the partition is not paused");
		return -EBUSY;
	}
	s = malloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	r = write_vm_sections(p, w);
	if (r < 0)
		snprintf(errbuf, errlen, "cannot save the interrupt controllers and PIT: %s",
			 strerror(-r));
	for (i = 0; r == 0 && i < p->nvcpus; i++) {
		r = vcpu_get_state(&p->vcpus[i], s);
		if (r < 0) {
			snprintf(errbuf, errlen, "cannot read vCPU %u's state: %s", i,
				 strerror(-r));
			break;
		}
		state_out_init(&out);
		vcpu_state_encode(s, &out);
		snprintf(name, sizeof(name), "vcpu.%u", i);
		r = state_writer_section_out(w, name, VCPU_STATE_VERSION, &out);
		state_out_fini(&out);
		if (r < 0)
			snprintf(errbuf, errlen, "cannot write vCPU %u's state: %s", i,
				 strerror(-r));
	}
	free(s);
	/* The writer skips the memfd's holes: a lazy restore's pages must all be in first. */
	if (r == 0 && with_ram && (r = state_lazy_wait(p->lazy)) < 0)
		snprintf(errbuf, errlen,
			 "guest RAM did not all come back from the saved state it was restored "
			 "from: %s",
			 strerror(-r));
	if (r == 0 && with_ram) {
		/* The memfd is mapped whole at region 0's address (guest_memory.c). */
		r = state_writer_ram(w, ram->hva, guest_memory_fd(p->mem));
		if (r < 0)
			snprintf(errbuf, errlen, "cannot write guest RAM: %s", strerror(-r));
	}
	return r;
}

int partition_save_state(struct partition *p, struct state_writer *w, char *errbuf, size_t errlen)
{
	return save_state(p, w, true, errbuf, errlen);
}

int partition_save_state_without_ram(struct partition *p, struct state_writer *w, char *errbuf,
				     size_t errlen)
{
	return save_state(p, w, false, errbuf, errlen);
}

/* Reads and decodes one section into dst with a kvm_state decoder. */
static int load_section(struct state_reader *r, const char *name,
			int (*decode)(struct state_in *, void *, char *, size_t), void *dst,
			char *errbuf, size_t errlen)
{
	struct state_in in;
	uint32_t version;
	void *data;
	size_t len;
	int err;

	err = state_reader_section(r, name, &version, &data, &len, errbuf, errlen);
	if (err < 0)
		return err;
	if (version != 1) {
		free(data);
		snprintf(errbuf, errlen, "section '%s' is version %u; this build reads 1", name,
			 version);
		return -EPROTONOSUPPORT;
	}
	state_in_init(&in, data, len);
	err = decode(&in, dst, errbuf, errlen);
	if (err == 0 && state_in_finish(&in) < 0) {
		snprintf(errbuf, errlen, "section '%s' has bytes after its fields", name);
		err = -EBADMSG;
	}
	free(data);
	return err;
}

static int decode_vcpu(struct state_in *in, void *dst, char *errbuf, size_t errlen)
{
	return vcpu_state_decode(in, dst, errbuf, errlen);
}
static int decode_irqchip(struct state_in *in, void *dst, char *errbuf, size_t errlen)
{
	return kvm_vm_state_decode_irqchip(in, dst, errbuf, errlen);
}
static int decode_pit(struct state_in *in, void *dst, char *errbuf, size_t errlen)
{
	return kvm_vm_state_decode_pit(in, dst, errbuf, errlen);
}
static int decode_clock(struct state_in *in, void *dst, char *errbuf, size_t errlen)
{
	return kvm_vm_state_decode_clock(in, dst, errbuf, errlen);
}

/* The lazy restore could not read a page: the guest cannot go on. */
static void lazy_failed(void *opaque, int err, const char *what)
{
	partition_stop_with_detail(opaque, PARTITION_STOP_HOST_ERROR, "lazy restore: %s: %s", what,
				   strerror(-err));
}

/* RAM: not (migration), read now (uffd -1), or lazily through uffd (>= 0, taken). */
enum { RAM_NONE = -2, RAM_EAGER = -1 };

static int load_ram(struct partition *p, struct state_reader *r, int uffd, char *errbuf,
		    size_t errlen)
{
	const struct guest_memory_region *ram = guest_memory_region(p->mem, 0);

	if (uffd == RAM_NONE)
		return 0;
	if (uffd == RAM_EAGER)
		return state_reader_load_ram(r, ram->hva, errbuf, errlen);
	/* The memfd is mapped whole at region 0's address (guest_memory.c). */
	return state_lazy_start(r, uffd, ram->hva, guest_memory_ram_size(p->mem), lazy_failed, p,
				&p->lazy, errbuf, errlen);
}

static int load_state(struct partition *p, struct state_reader *r, int uffd, char *errbuf,
		      size_t errlen)
{
	char name[STATE_SECTION_NAME_LEN];
	struct vcpu_state *vcpus;
	struct kvm_vm_state *vm;
	unsigned i;
	int err;

	if (p->started || p->lazy)
		err = -EINVAL;
	else if (state_reader_info(r)->memory_bytes != guest_memory_ram_size(p->mem))
		err = -ESTALE;
	else
		err = 0;
	if (err < 0 && uffd >= 0)
		close(uffd);
	if (err == -EINVAL)
		return err;
	if (err == -ESTALE) {
		snprintf(errbuf, errlen, "the saved state has %llu bytes of memory, the VM %llu",
			 (unsigned long long)state_reader_info(r)->memory_bytes,
			 (unsigned long long)guest_memory_ram_size(p->mem));
		return -ESTALE;
	}
	snprintf(name, sizeof(name), "vcpu.%u", p->nvcpus);
	if (state_reader_has(r, name)) {
		snprintf(errbuf, errlen, "the saved state has more than the VM's %u vCPUs",
			 p->nvcpus);
		if (uffd >= 0)
			close(uffd);
		return -ESTALE;
	}
	vcpus = calloc(p->nvcpus, sizeof(*vcpus));
	vm = calloc(1, sizeof(*vm));
	err = vcpus && vm ? 0 : -ENOMEM;
	for (i = 0; err == 0 && i < p->nvcpus; i++) {
		snprintf(name, sizeof(name), "vcpu.%u", i);
		err = load_section(r, name, decode_vcpu, &vcpus[i], errbuf, errlen);
	}
	if (err == 0)
		err = load_section(r, "kvm.irqchip", decode_irqchip, vm, errbuf, errlen);
	if (err == 0)
		err = load_section(r, "kvm.pit", decode_pit, vm, errbuf, errlen);
	if (err == 0)
		err = load_section(r, "kvm.clock", decode_clock, vm, errbuf, errlen);
	if (err == 0)
		err = load_ram(p, r, uffd, errbuf, errlen);
	else if (uffd >= 0)
		close(uffd);
	if (err < 0) {
		free(vcpus);
		free(vm);
		return err;
	}
	free(p->restore_vcpus);
	free(p->restore_vm);
	p->restore_vcpus = vcpus;
	p->restore_vm = vm;
	return 0;
}

int partition_load_state(struct partition *p, struct state_reader *r, char *errbuf, size_t errlen)
{
	return load_state(p, r, RAM_EAGER, errbuf, errlen);
}

int partition_load_state_lazy(struct partition *p, struct state_reader *r, int uffd, char *errbuf,
			      size_t errlen)
{
	return load_state(p, r, uffd < 0 ? RAM_EAGER : uffd, errbuf, errlen);
}

int partition_ram_settle(struct partition *p)
{
	return state_lazy_wait(p->lazy);
}

bool partition_lazy_ram_stats(struct partition *p, struct state_lazy_stats *ret)
{
	if (!p->lazy)
		return false;
	state_lazy_get_stats(p->lazy, ret);
	return true;
}

int partition_load_state_without_ram(struct partition *p, struct state_reader *r, char *errbuf,
				     size_t errlen)
{
	return load_state(p, r, RAM_NONE, errbuf, errlen);
}

int partition_apply_restored_state(struct partition *p)
{
	unsigned i;
	int r;

	r = vm_set_state(p, p->restore_vm, p->stop_detail, sizeof(p->stop_detail));
	for (i = 0; r == 0 && i < p->nvcpus; i++)
		r = vcpu_set_state(&p->vcpus[i], &p->restore_vcpus[i], p->stop_detail,
				   sizeof(p->stop_detail));
	free(p->restore_vcpus);
	free(p->restore_vm);
	p->restore_vcpus = NULL;
	p->restore_vm = NULL;
	return r;
}

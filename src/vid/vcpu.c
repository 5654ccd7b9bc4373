/*
 * vCPU threads: KVM_RUN and the dispatch of its exits (port I/O, MMIO,
 * MSRs, shutdown, system events, internal errors). Every exit is handled
 * on the vCPU's own thread; device callbacks lock their own state.
 *
 * Threat model (as Firecracker's): once a vCPU runs, everything it hands
 * us is hostile. Exit data is copied from the shared kvm_run page before
 * use, sizes are checked, and nothing a guest does can stop the worker
 * except as a stop reason of its own partition.
 */
#include "vid/partition_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "vid/pc_layout.h"
#include "vid/x86_mmu.h"

#define APIC_LVT0	   0x350
#define APIC_LVT1	   0x360
#define APIC_MODE_EXTINT   0x700u
#define APIC_MODE_NMI	   0x400u
#define APIC_LVT_MODE_MASK 0x700u

static int set_cpuid(struct vcpu *v)
{
	struct partition *p = v->partition;
	struct cpuid_table *t = malloc(sizeof(*t));
	struct kvm_cpuid2 *c = NULL;
	unsigned i;
	int r = -ENOMEM;

	if (!t)
		return -ENOMEM;
	cpu_model_vcpu_cpuid(&p->model, v->index, t);
	c = calloc(1, sizeof(*c) + t->n * sizeof(c->entries[0]));
	if (!c)
		goto out;
	c->nent = t->n;
	for (i = 0; i < t->n; i++) {
		const struct cpuid_leaf *l = &t->leaf[i];

		c->entries[i] = (struct kvm_cpuid_entry2){
			.function = l->function,
			.index = l->index,
			.flags = l->indexed ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0,
			.eax = l->reg[CPUID_EAX],
			.ebx = l->reg[CPUID_EBX],
			.ecx = l->reg[CPUID_ECX],
			.edx = l->reg[CPUID_EDX],
		};
	}
	r = ioctl(v->fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
out:
	free(c);
	free(t);
	return r;
}

/* One MSR, as the host sets it; -EINVAL if KVM refuses it. */
static int set_msr(struct vcpu *v, uint32_t index, uint64_t value)
{
	return vid_msr_ioctl(v->fd, KVM_SET_MSRS, index, &value);
}

int vcpu_apply_cpu(struct vcpu *v)
{
	struct cpu_model *m = &v->partition->model;
	unsigned i;
	int r;

	r = set_cpuid(v);
	for (i = 0; r == 0 && i < m->nmsrs; i++) {
		r = set_msr(v, m->msrs[i].index, m->msrs[i].value);
		if (r == -EINVAL) {
			/*
			 * Refused: keep the platform consistent without it (cpu_model_drop_msr,
			 * which records it for the owner to report once).
			 */
			cpu_model_drop_msr(m, m->msrs[i].index);
			r = set_cpuid(v);
			i = (unsigned)-1; /* the list changed: from the start (the loop adds 1) */
		}
	}
	return r;
}

/* The FPU as after FNINIT, and SSE with exceptions masked (as firmware leaves it). */
static int set_fpu(struct vcpu *v)
{
	struct kvm_fpu fpu = {.fcw = 0x37F, .mxcsr = 0x1F80};

	return ioctl(v->fd, KVM_SET_FPU, &fpu) < 0 ? -errno : 0;
}

/* LINT0 as ExtINT and LINT1 as NMI: the virtual-wire set-up firmware leaves for the OS. */
static int set_lapic_lint(struct vcpu *v)
{
	struct kvm_lapic_state lapic;
	uint32_t *lvt0 = (uint32_t *)&lapic.regs[APIC_LVT0];
	uint32_t *lvt1 = (uint32_t *)&lapic.regs[APIC_LVT1];

	if (ioctl(v->fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	*lvt0 = (*lvt0 & ~APIC_LVT_MODE_MASK) | APIC_MODE_EXTINT;
	*lvt1 = (*lvt1 & ~APIC_LVT_MODE_MASK) | APIC_MODE_NMI;
	return ioctl(v->fd, KVM_SET_LAPIC, &lapic) < 0 ? -errno : 0;
}

int vcpu_init(struct partition *p, struct vcpu *v, unsigned index)
{
	int r;

	v->partition = p;
	v->index = index;
	v->fd = ioctl(p->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (v->fd < 0)
		return -errno;
	v->run = mmap(NULL, p->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return -errno;
	}
	r = set_cpuid(v);
	if (r == 0)
		r = set_fpu(v);
	if (r == 0)
		r = set_lapic_lint(v);
	return r;
}

void vcpu_fini(struct vcpu *v)
{
	if (v->run)
		munmap(v->run, v->partition->run_size);
	if (v->fd >= 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}

static void segment_to_kvm(const struct x86_segment *s, struct kvm_segment *k)
{
	*k = (struct kvm_segment){
		.base = s->base,
		.limit = s->limit,
		.selector = s->selector,
		.type = s->type,
		.present = s->present,
		.dpl = s->dpl,
		.db = s->db,
		.s = s->s,
		.l = s->l,
		.g = s->g,
		.unusable = !s->present,
	};
}

int vcpu_apply_boot_regs(struct vcpu *v, const struct x86_boot_regs *b)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = {.rip = b->rip, .rsp = b->rsp, .rsi = b->rsi, .rflags = b->rflags};
	int r;

	/* CPUID must be final before the first KVM_SET_SREGS on some KVMs: re-apply. */
	r = set_cpuid(v);
	if (r < 0)
		return r;
	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	segment_to_kvm(&b->cs, &sregs.cs);
	segment_to_kvm(&b->ds, &sregs.ds);
	segment_to_kvm(&b->es, &sregs.es);
	segment_to_kvm(&b->fs, &sregs.fs);
	segment_to_kvm(&b->gs, &sregs.gs);
	segment_to_kvm(&b->ss, &sregs.ss);
	segment_to_kvm(&b->tr, &sregs.tr);
	segment_to_kvm(&b->ldt, &sregs.ldt);
	sregs.gdt.base = b->gdt_base;
	sregs.gdt.limit = b->gdt_limit;
	sregs.idt.base = b->idt_base;
	sregs.idt.limit = b->idt_limit;
	sregs.cr0 = b->cr0;
	sregs.cr3 = b->cr3;
	sregs.cr4 = b->cr4;
	sregs.efer = b->efer;
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;
	return ioctl(v->fd, KVM_SET_REGS, &regs) < 0 ? -errno : 0;
}

void vcpu_kick(struct vcpu *v)
{
	if (v->run)
		__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (v->thread_started)
		pthread_kill(v->thread, SIGUSR1);
}

static void gprs_from_kvm(const struct kvm_regs *k, struct vcpu_gprs *g)
{
	*g = (struct vcpu_gprs){
		.rax = k->rax,
		.rbx = k->rbx,
		.rcx = k->rcx,
		.rdx = k->rdx,
		.rsi = k->rsi,
		.rdi = k->rdi,
		.rsp = k->rsp,
		.rbp = k->rbp,
		.r8 = k->r8,
		.r9 = k->r9,
		.r10 = k->r10,
		.r11 = k->r11,
		.r12 = k->r12,
		.r13 = k->r13,
		.r14 = k->r14,
		.r15 = k->r15,
		.rip = k->rip,
		.rflags = k->rflags,
	};
}

static void gprs_to_kvm(const struct vcpu_gprs *g, struct kvm_regs *k)
{
	*k = (struct kvm_regs){
		.rax = g->rax,
		.rbx = g->rbx,
		.rcx = g->rcx,
		.rdx = g->rdx,
		.rsi = g->rsi,
		.rdi = g->rdi,
		.rsp = g->rsp,
		.rbp = g->rbp,
		.r8 = g->r8,
		.r9 = g->r9,
		.r10 = g->r10,
		.r11 = g->r11,
		.r12 = g->r12,
		.r13 = g->r13,
		.r14 = g->r14,
		.r15 = g->r15,
		.rip = g->rip,
		.rflags = g->rflags,
	};
}

/* #UD for a refused hypercall (RIP stays after the trapping out: the exit reports no length). */
static void inject_ud(struct vcpu *v)
{
	struct kvm_vcpu_events events;

	if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &events) == 0) {
		events.exception.injected = 1;
		events.exception.nr = 6;
		events.exception.has_error_code = 0;
		events.exception.error_code = 0;
		events.flags = 0;
		if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &events) == 0)
			return;
	}
	partition_stop_with_detail(v->partition, PARTITION_STOP_HOST_ERROR,
				   "vCPU %u: cannot raise #UD for a refused hypercall: %s",
				   v->index, strerror(errno));
}

/*
 * The hypercall page's "out imm8, al": registers in, the handler, registers
 * out. With KVM_CAP_SYNC_REGS the general-purpose registers come with the
 * exit in kvm_run and go back with the next KVM_RUN, which saves two of the
 * three ioctls a hypercall would otherwise cost (about 7 us on PVM).
 */
static void handle_hypercall(struct vcpu *v)
{
	struct partition *p = v->partition;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct vcpu_gprs g;
	struct vcpu_mode mode;
	int r = 0;

	atomic_fetch_add(&p->exits.hypercall, 1);
	if (p->sync_regs)
		regs = v->run->s.regs.regs;
	else
		r = ioctl(v->fd, KVM_GET_REGS, &regs);
	if (r < 0 || ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0) {
		partition_stop_with_detail(p, PARTITION_STOP_HOST_ERROR,
					   "vCPU %u: cannot read registers for a hypercall: %s",
					   v->index, strerror(errno));
		return;
	}
	mode = (struct vcpu_mode){
		.protected_mode = sregs.cr0 & 1,
		.long_mode = (sregs.efer & (1u << 10)) && sregs.cs.l, /* EFER.LMA, 64-bit CS */
		.cpl = x86_cpl(sregs.cr0, sregs.ss.dpl, regs.rflags),
	};
	gprs_from_kvm(&regs, &g);
	if (!p->hypercall_ops->hypercall(p->hypercall_opaque, v->index, &g, &mode)) {
		inject_ud(v);
		return;
	}
	gprs_to_kvm(&g, &regs);
	if (p->sync_regs) {
		v->run->s.regs.regs = regs;
		v->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
		return;
	}
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		partition_stop_with_detail(p, PARTITION_STOP_HOST_ERROR,
					   "vCPU %u: cannot write hypercall results: %s", v->index,
					   strerror(errno));
}

static void handle_io(struct vcpu *v)
{
	struct partition *p = v->partition;
	/* Copy what we use from the shared page once; the data area is ours to fill. */
	uint8_t direction = v->run->io.direction, size = v->run->io.size;
	uint16_t port = v->run->io.port;
	uint32_t count = v->run->io.count;
	uint64_t offset = v->run->io.data_offset;
	uint8_t *data;
	uint32_t i;

	if ((size != 1 && size != 2 && size != 4) || offset >= p->run_size ||
	    (uint64_t)size * count > p->run_size - offset) {
		partition_stop_with_detail(
			p, PARTITION_STOP_HOST_ERROR,
			"vCPU %u: malformed port I/O exit (port %#x size %u count %u)", v->index,
			port, size, count);
		return;
	}
	if (p->hypercall_ops && port == p->hypercall_port && direction == KVM_EXIT_IO_OUT &&
	    size == 1 && count == 1) {
		handle_hypercall(v);
		return;
	}
	data = (uint8_t *)v->run + offset;
	atomic_fetch_add(&p->exits.io, 1);
	for (i = 0; i < count; i++, data += size) {
		uint64_t value = 0;
		bool claimed;

		if (direction == KVM_EXIT_IO_OUT) {
			memcpy(&value, data, size);
			claimed = io_bus_write(p->pio, port, size, value);
		} else {
			claimed = io_bus_read(p->pio, port, size, &value);
			memcpy(data, &value, size);
		}
		if (!claimed) {
			atomic_fetch_add(&p->exits.unclaimed_io, 1);
			guest_log(&p->unclaimed_io_log, LOG_INFO,
				  "vCPU %u: %s of unassigned port %#x (size %u)", v->index,
				  direction == KVM_EXIT_IO_OUT ? "write" : "read", port, size);
		}
	}
}

static void handle_mmio(struct vcpu *v)
{
	struct partition *p = v->partition;
	uint64_t addr = v->run->mmio.phys_addr;
	uint32_t len = v->run->mmio.len;
	bool is_write = v->run->mmio.is_write;
	uint64_t value = 0;
	bool claimed;

	atomic_fetch_add(&p->exits.mmio, 1);
	if (len != 1 && len != 2 && len != 4 && len != 8) {
		/* KVM splits wider accesses; anything else is treated as unassigned. */
		claimed = false;
		if (!is_write)
			memset(v->run->mmio.data, 0xFF, sizeof(v->run->mmio.data));
	} else if (is_write) {
		memcpy(&value, v->run->mmio.data, len);
		claimed = io_bus_write(p->mmio, addr, len, value);
	} else {
		claimed = io_bus_read(p->mmio, addr, len, &value);
		memcpy(v->run->mmio.data, &value, len);
	}
	if (!claimed) {
		atomic_fetch_add(&p->exits.unclaimed_mmio, 1);
		guest_log(&p->unclaimed_mmio_log, LOG_INFO,
			  "vCPU %u: %s of unassigned MMIO %#llx (size %u)", v->index,
			  is_write ? "write" : "read", (unsigned long long)addr, len);
	}
}

static void handle_msr(struct vcpu *v, bool is_write)
{
	struct partition *p = v->partition;
	uint32_t index = v->run->msr.index;
	uint64_t value = is_write ? v->run->msr.data : 0;
	int r = -1;

	atomic_fetch_add(&p->exits.msr, 1);
	if (p->msr_ops) {
		if (is_write && p->msr_ops->write)
			r = p->msr_ops->write(p->msr_opaque, v->index, index, value);
		else if (!is_write && p->msr_ops->read)
			r = p->msr_ops->read(p->msr_opaque, v->index, index, &value);
	}
	if (r < 0)
		guest_log(&v->partition->msr_log, LOG_DEBUG, "vCPU %u: %s of MSR %#x -> #GP",
			  v->index, is_write ? "wrmsr" : "rdmsr", index);
	/* error = 1 makes KVM inject #GP, as hardware does for a missing MSR. */
	v->run->msr.error = r < 0;
	if (!is_write && r >= 0)
		v->run->msr.data = value;
}

static void handle_internal_error(struct vcpu *v)
{
	struct partition *p = v->partition;
	uint32_t suberror = v->run->internal.suberror;
	char detail[STOP_DETAIL_LEN];
	size_t n;

	atomic_fetch_add(&p->exits.internal_error, 1);
	if (suberror == KVM_INTERNAL_ERROR_EMULATION) {
		detail[0] = 0;
		if (pvm_complete_instruction(v, detail, sizeof(detail)) == 0)
			return;
		n = strlen(detail);
		vcpu_describe_state(v, detail + n, sizeof(detail) - n);
		partition_stop_with_detail(p, PARTITION_STOP_EMULATION_FAILURE,
					   "vCPU %u: KVM cannot emulate an instruction%s\n%s",
					   v->index, p->pvm ? " (PVM host)" : "", detail);
		return;
	}
	vcpu_describe_state(v, detail, sizeof(detail));
	partition_stop_with_detail(p, PARTITION_STOP_HOST_ERROR,
				   "vCPU %u: KVM internal error, suberror %u\n%s", v->index,
				   suberror, detail);
}

static void handle_system_event(struct vcpu *v)
{
	struct partition *p = v->partition;

	atomic_fetch_add(&p->exits.system_event, 1);
	switch (v->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN: partition_request_stop(p, PARTITION_STOP_POWER_OFF); break;
	case KVM_SYSTEM_EVENT_RESET: partition_request_stop(p, PARTITION_STOP_RESET); break;
	default:
		partition_stop_with_detail(p, PARTITION_STOP_HOST_ERROR, "vCPU %u: system event %u",
					   v->index, v->run->system_event.type);
	}
}

/* Handles one exit; false when the vCPU must stop. */
static bool dispatch_exit(struct vcpu *v)
{
	struct partition *p = v->partition;
	char detail[STOP_DETAIL_LEN];

	switch (v->run->exit_reason) {
	case KVM_EXIT_IO: handle_io(v); break;
	case KVM_EXIT_MMIO: handle_mmio(v); break;
	case KVM_EXIT_X86_RDMSR: handle_msr(v, false); break;
	case KVM_EXIT_X86_WRMSR: handle_msr(v, true); break;
	case KVM_EXIT_HLT:
		/* With the in-kernel LAPIC, HLT stays in KVM; count it if one comes. */
		atomic_fetch_add(&p->exits.hlt, 1);
		break;
	case KVM_EXIT_INTR: atomic_fetch_add(&p->exits.intr, 1); break;
	case KVM_EXIT_SHUTDOWN:
		atomic_fetch_add(&p->exits.shutdown, 1);
		vcpu_describe_state(v, detail, sizeof(detail));
		partition_stop_with_detail(p, PARTITION_STOP_TRIPLE_FAULT,
					   "vCPU %u: triple fault\n%s", v->index, detail);
		return false;
	case KVM_EXIT_SYSTEM_EVENT: handle_system_event(v); return false;
	case KVM_EXIT_INTERNAL_ERROR: handle_internal_error(v); break;
	case KVM_EXIT_FAIL_ENTRY:
		atomic_fetch_add(&p->exits.other, 1);
		partition_stop_with_detail(
			p, PARTITION_STOP_HOST_ERROR, "vCPU %u: VM entry failed, reason %#llx",
			v->index,
			(unsigned long long)v->run->fail_entry.hardware_entry_failure_reason);
		return false;
	default:
		atomic_fetch_add(&p->exits.other, 1);
		partition_stop_with_detail(p, PARTITION_STOP_HOST_ERROR,
					   "vCPU %u: unexpected KVM exit reason %u", v->index,
					   v->run->exit_reason);
		return false;
	}
	return true;
}

void *vcpu_thread_main(void *arg)
{
	struct vcpu *v = arg;
	struct partition *p = v->partition;
	char name[16];

	snprintf(name, sizeof(name), "vcpu%u", v->index);
	pthread_setname_np(pthread_self(), name);
	if (p->vcpu_thread_init) {
		int r = p->vcpu_thread_init(p->vcpu_thread_opaque, v->index);

		if (r < 0) {
			partition_stop_with_detail(p, PARTITION_STOP_HOST_ERROR,
						   "vCPU %u: thread set-up: %s", v->index,
						   strerror(-r));
			goto out;
		}
	}
	if (v->index == 0) {
		uint_fast64_t none = 0;

		if (atomic_compare_exchange_strong(&p->exits.first_run_ns, &none,
						   time_monotonic_ns()))
			atomic_store(&p->exits.first_run_cpu_ns, time_process_cpu_ns());
	}
	/* Ask KVM to copy the GPRs out at every exit (cheap: they are in memory already). */
	if (p->sync_regs)
		v->run->kvm_valid_regs = KVM_SYNC_X86_REGS;
	while (atomic_load(&p->stop_reason) == PARTITION_RUNNING) {
		if (atomic_load(&p->pause_requested)) {
			/*
			 * Held only with nothing half done: KVM finishes an IN, MMIO read or
			 * RDMSR on the next KVM_RUN, so one more with immediate_exit set
			 * (KVM's api.rst, KVM_RUN) before the state can be saved.
			 */
			if (!v->exit_pending) {
				vcpu_hold_if_paused(p);
				continue;
			}
			__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		}
		v->exit_pending = false;
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
				atomic_fetch_add(&p->exits.intr, 1);
				continue;
			}
			partition_stop_with_detail(p, PARTITION_STOP_HOST_ERROR,
						   "vCPU %u: KVM_RUN: %s", v->index,
						   strerror(errno));
			break;
		}
		v->exit_pending = true;
		if (!dispatch_exit(v))
			break;
	}
out:
	pthread_mutex_lock(&p->stop_lock);
	p->running_vcpus--;
	pthread_cond_broadcast(&p->stop_cond); /* partition_pause counts running vCPUs */
	pthread_mutex_unlock(&p->stop_lock);
	return NULL;
}

static const char *const gpr_names[] = {"RAX", "RBX", "RCX", "RDX", "RSI", "RDI", "RSP", "RBP",
					"R8",  "R9",  "R10", "R11", "R12", "R13", "R14", "R15"};

static uint64_t gpr_value(const struct kvm_regs *r, unsigned i)
{
	const __u64 v[] = {r->rax, r->rbx, r->rcx, r->rdx, r->rsi, r->rdi, r->rsp, r->rbp,
			   r->r8,  r->r9,  r->r10, r->r11, r->r12, r->r13, r->r14, r->r15};

	return v[i];
}

void vcpu_describe_state(struct vcpu *v, char *buf, size_t len)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct x86_paging paging;
	uint8_t bytes[16];
	size_t n = 0;
	unsigned i;

	if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0 || ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0) {
		snprintf(buf, len, "(registers unavailable: %s)", strerror(errno));
		return;
	}
	for (i = 0; i < 16 && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s=%016llx%s", gpr_names[i],
				      (unsigned long long)gpr_value(&regs, i),
				      (i % 4 == 3) ? "\n" : " ");
	if (n < len)
		n += (size_t)snprintf(
			buf + n, len - n,
			"RIP=%016llx RFLAGS=%08llx CS=%04x(base %llx l=%u db=%u dpl=%u)\n"
			"CR0=%llx CR2=%llx CR3=%llx CR4=%llx EFER=%llx\n",
			(unsigned long long)regs.rip, (unsigned long long)regs.rflags,
			sregs.cs.selector, (unsigned long long)sregs.cs.base, sregs.cs.l,
			sregs.cs.db, sregs.cs.dpl, (unsigned long long)sregs.cr0,
			(unsigned long long)sregs.cr2, (unsigned long long)sregs.cr3,
			(unsigned long long)sregs.cr4, (unsigned long long)sregs.efer);
	paging = (struct x86_paging){sregs.cr0, sregs.cr3, sregs.cr4, sregs.efer};
	if (n < len) {
		if (x86_mmu_read(v->partition->mem, &paging, sregs.cs.base + regs.rip, bytes,
				 sizeof(bytes)) == 0) {
			n += (size_t)snprintf(buf + n, len - n, "code at RIP:");
			for (i = 0; i < sizeof(bytes) && n < len; i++)
				n += (size_t)snprintf(buf + n, len - n, " %02x", bytes[i]);
		} else {
			snprintf(buf + n, len - n, "code at RIP: (not mapped in guest memory)");
		}
	}
}

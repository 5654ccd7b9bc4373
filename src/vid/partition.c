/*
 * Partition life cycle over /dev/kvm: VM, memory slots, in-kernel irqchip
 * and PIT, the MSR filter that sends the Hyper-V synthetic MSR range to
 * user space, CPUID, vCPUs and the stop protocol. See partition.h.
 */
#include "vid/partition_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cpuid.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "state/state_lazy.h"
#include "vid/pc_layout.h"

/* TLFS: synthetic MSRs live in 0x40000000-0x400000FF; they all exit to the worker. */
#define HV_MSR_RANGE_BASE  0x40000000u
#define HV_MSR_RANGE_COUNT 0x100u
/* Addresses KVM wants for VMX's real-mode helpers; inside the MMIO hole, never RAM. */
#define KVM_TSS_GPA	     0xFFFBD000u
#define KVM_IDENTITY_MAP_GPA 0xFFFBC000u

const char *partition_stop_reason_name(enum partition_stop_reason reason)
{
	switch (reason) {
	case PARTITION_RUNNING: return "running";
	case PARTITION_STOP_POWER_OFF: return "powered off";
	case PARTITION_STOP_RESET: return "reset";
	case PARTITION_STOP_TRIPLE_FAULT: return "triple fault";
	case PARTITION_STOP_EMULATION_FAILURE: return "emulation failure";
	case PARTITION_STOP_HOST_ERROR: return "host error";
	case PARTITION_STOP_REQUESTED: return "turned off";
	}
	return "?";
}

bool partition_host_is_pvm(void)
{
	return access("/sys/module/kvm_pvm", F_OK) == 0;
}

static int open_kvm(char *errbuf, size_t errlen)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		int r = -errno;

		snprintf(errbuf, errlen, "/dev/kvm: %s%s", strerror(errno),
			 errno == ENOENT ? " (is KVM loaded? load kvm_intel, kvm_amd or kvm_pvm)"
					 : "");
		return r;
	}
	if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		snprintf(errbuf, errlen, "/dev/kvm: unsupported KVM API version");
		close(fd);
		return -ENOTSUP;
	}
	return fd;
}

int partition_max_vcpus(void)
{
	char err[128];
	int fd = open_kvm(err, sizeof(err));
	int n;

	if (fd < 0)
		return fd;
	n = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (n <= 0)
		n = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	close(fd);
	return n > 0 ? n : 1;
}

static void irq_line_set_kvm(void *opaque, unsigned gsi, bool level)
{
	struct partition *p = opaque;
	struct kvm_irq_level irq = {.irq = gsi, .level = level};

	/* Fails only for a GSI outside the routing table: a wiring bug, not a guest error. */
	(void)ioctl(p->vm_fd, KVM_IRQ_LINE, &irq);
}

struct irq_line partition_irq_line(struct partition *p, unsigned gsi)
{
	return (struct irq_line){.set_level = irq_line_set_kvm, .opaque = p, .gsi = gsi};
}

static void power_request(void *opaque, enum power_request req)
{
	struct partition *p = opaque;

	partition_request_stop(p, req == POWER_REQUEST_OFF ? PARTITION_STOP_POWER_OFF
							   : PARTITION_STOP_RESET);
}

struct power_control partition_power_control(struct partition *p)
{
	return (struct power_control){.request = power_request, .opaque = p};
}

int partition_signal_msi(struct partition *p, uint64_t address, uint32_t data)
{
	struct kvm_msi msi = {
		.address_lo = (uint32_t)address,
		.address_hi = (uint32_t)(address >> 32),
		.data = data,
	};
	int r = ioctl(p->vm_fd, KVM_SIGNAL_MSI, &msi);

	return r < 0 ? -errno : 0;
}

static int add_memory_slots(struct partition *p)
{
	unsigned i;

	for (i = 0; i < guest_memory_region_count(p->mem); i++) {
		const struct guest_memory_region *r = guest_memory_region(p->mem, i);
		struct kvm_userspace_memory_region slot = {
			.slot = i,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uintptr_t)r->hva,
		};

		if (ioctl(p->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
			return -errno;
	}
	return 0;
}

/* Device slots come after every RAM region's (guest_memory has a handful). */
#define DEVICE_SLOT_BASE 32u

static int set_slot(struct partition *p, unsigned id, uint64_t gpa, uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region slot = {
		.slot = id,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	return ioctl(p->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0 ? -errno : 0;
}

int partition_set_device_memory(struct partition *p, unsigned slot, uint64_t gpa, void *hva,
				uint64_t size)
{
	unsigned id = DEVICE_SLOT_BASE + slot, i;
	int r;

	if (slot >= PARTITION_DEVICE_SLOTS)
		return -EINVAL;
	if (gpa != UINT64_MAX) {
		if (!size || !IS_ALIGNED(gpa | size | (uintptr_t)hva, 4096) || gpa + size < gpa)
			return -EINVAL;
		for (i = 0; i < guest_memory_region_count(p->mem); i++) {
			const struct guest_memory_region *m = guest_memory_region(p->mem, i);

			if (gpa < m->gpa + m->size && m->gpa < gpa + size)
				return -EINVAL;
		}
	}
	/* KVM moves a slot only at the same size: delete, then create (both no-ops if absent). */
	r = set_slot(p, id, 0, 0, NULL);
	if (r < 0 && r != -EINVAL)
		return r;
	if (gpa == UINT64_MAX)
		return 0;
	return set_slot(p, id, gpa, size, hva);
}

/* Sends the whole synthetic MSR range to user space, whatever KVM would do with it. */
static int install_msr_filter(struct partition *p)
{
	static uint8_t deny_all[HV_MSR_RANGE_COUNT / 8]; /* zero bits: deny, i.e. exit */
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_X86_USER_SPACE_MSR,
		.args[0] = KVM_MSR_EXIT_REASON_FILTER | KVM_MSR_EXIT_REASON_UNKNOWN,
	};
	struct kvm_msr_filter filter = {
		.flags = KVM_MSR_FILTER_DEFAULT_ALLOW,
		.ranges[0] =
			{
				.flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE,
				.nmsrs = HV_MSR_RANGE_COUNT,
				.base = HV_MSR_RANGE_BASE,
				.bitmap = deny_all,
			},
	};

	if (ioctl(p->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
		return -errno;
	if (ioctl(p->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_X86_MSR_FILTER) <= 0)
		return 0; /* without a filter the range still exits: KVM has no Hyper-V MSRs here */
	if (ioctl(p->vm_fd, KVM_X86_SET_MSR_FILTER, &filter) < 0)
		return -errno;
	return 0;
}

/* The host CPU's own feature words (leaves 1, 7.0, 0xD.1) and brand, with the cpuid instruction. */
static void probe_native(struct cpu_host *host)
{
	unsigned a, b, c, d, f;

	if (__get_cpuid(1, &a, &b, &c, &d))
		host->native_leaf1 = (struct cpuid_leaf){.function = 1, .reg = {a, b, c, d}};
	if (__get_cpuid_max(0, NULL) >= 7) {
		__cpuid_count(7, 0, a, b, c, d);
		host->native_leaf7 =
			(struct cpuid_leaf){.function = 7, .indexed = true, .reg = {a, b, c, d}};
	}
	if (__get_cpuid_max(0, NULL) >= 0xD) {
		__cpuid_count(0xD, 1, a, b, c, d);
		host->native_leafd1 = (struct cpuid_leaf){
			.function = 0xD, .index = 1, .indexed = true, .reg = {a, b, c, d}};
	}
	if ((unsigned)__get_cpuid_max(0x80000000, NULL) < 0x80000004u)
		return;
	for (f = 0; f < 3; f++) {
		uint32_t regs[4];

		__cpuid(0x80000002 + f, regs[0], regs[1], regs[2], regs[3]);
		memcpy(host->native_brand + 16 * f, regs, 16);
	}
	host->native_brand[48] = 0;
}

/* IA32_ARCH_CAPABILITIES as KVM would give a guest (a "feature MSR": KVM_GET_MSRS on /dev/kvm). */
static void probe_arch_capabilities(int kvm_fd, struct cpu_host *host)
{
	uint64_t v = 0;

	if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_GET_MSR_FEATURES) <= 0)
		return;
	if (vid_msr_ioctl(kvm_fd, KVM_GET_MSRS, MSR_IA32_ARCH_CAPABILITIES, &v) == 0) {
		host->have_arch_capabilities = true;
		host->arch_capabilities = v;
	}
}

static int probe_cpu_host(int kvm_fd, struct cpu_host *host)
{
	/* Room is left for the leaves Parvis adds (hv/'s, topology sub-leaves). */
	const unsigned max = CPUID_MAX_LEAVES - 32;
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + max * sizeof(c->entries[0]));
	unsigned i;

	if (!c)
		return -ENOMEM;
	memset(host, 0, sizeof(*host));
	c->nent = max;
	if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		free(c);
		return -errno;
	}
	for (i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];
		struct cpuid_leaf l = {
			.function = e->function,
			.index = e->index,
			.indexed = e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
			.reg = {e->eax, e->ebx, e->ecx, e->edx},
		};

		if (cpuid_table_set(&host->supported, &l) < 0)
			break;
	}
	free(c);
	host->pvm = partition_host_is_pvm();
	probe_arch_capabilities(kvm_fd, host);
	probe_native(host);
	return 0;
}

int partition_probe_cpu_host(struct cpu_host *host, char *errbuf, size_t errlen)
{
	int fd = open_kvm(errbuf, errlen), r;

	if (fd < 0)
		return fd;
	r = probe_cpu_host(fd, host);
	if (r < 0)
		snprintf(errbuf, errlen, "KVM_GET_SUPPORTED_CPUID: %s", strerror(-r));
	close(fd);
	return r;
}

static int build_cpu_model(struct partition *p, const char *name, unsigned vcpus, char *errbuf,
			   size_t errlen)
{
	struct cpu_host *host = calloc(1, sizeof(*host));
	int r;

	if (!host)
		return -ENOMEM;
	r = probe_cpu_host(p->kvm_fd, host);
	if (r < 0)
		snprintf(errbuf, errlen, "KVM_GET_SUPPORTED_CPUID: %s", strerror(-r));
	else
		r = cpu_model_build(name ? name : "host", host, vcpus, &p->model, errbuf, errlen);
	free(host);
	return r;
}

const struct cpu_model *partition_cpu_model(const struct partition *p)
{
	return &p->model;
}

int partition_set_cpuid(struct partition *p, uint32_t function, uint32_t index, uint32_t eax,
			uint32_t ebx, uint32_t ecx, uint32_t edx)
{
	struct cpuid_leaf l = {.function = function,
			       .index = index,
			       .indexed = index != 0,
			       .reg = {eax, ebx, ecx, edx}};

	if (p->started)
		return -EBUSY;
	return cpuid_table_set(&p->model.cpuid, &l);
}

static struct partition *partition_alloc(const struct partition_config *cfg)
{
	struct partition *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->kvm_fd = p->vm_fd = -1;
	pthread_mutex_init(&p->stop_lock, NULL);
	/* Linux probes a few absent ports at every boot: at most 5 of those lines a minute. */
	guest_error_log_init(&p->unclaimed_io_log, "vcpu");
	p->unclaimed_io_log.rl = (struct ratelimit)RATELIMIT_INIT(60000, 5);
	guest_error_log_init(&p->unclaimed_mmio_log, "vcpu");
	guest_error_log_init(&p->msr_log, "vcpu");
	cond_init_monotonic(&p->stop_cond);
	p->pvm = partition_host_is_pvm();
	p->vcpu_thread_init = cfg->vcpu_thread_init;
	p->vcpu_thread_opaque = cfg->vcpu_thread_opaque;
	return p;
}

/* /dev/kvm, what it allows (vCPU count, the run area, synced registers), and the VM. */
static int vm_create(struct partition *p, const struct partition_config *cfg, char *errbuf,
		     size_t errlen)
{
	int max_vcpus, r = open_kvm(errbuf, errlen);

	if (r < 0)
		return r;
	p->kvm_fd = r;
	max_vcpus = ioctl(p->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (cfg->vcpus == 0 || (max_vcpus > 0 && cfg->vcpus > (unsigned)max_vcpus)) {
		snprintf(errbuf, errlen, "cpus: %u is out of range (1..%d)", cfg->vcpus, max_vcpus);
		return -EINVAL;
	}
	r = (int)ioctl(p->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (r <= 0) {
		int e = errno;

		snprintf(errbuf, errlen, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(e));
		return -e;
	}
	p->run_size = (size_t)r;
	p->sync_regs = ioctl(p->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS) & KVM_SYNC_X86_REGS;
	p->vm_fd = ioctl(p->kvm_fd, KVM_CREATE_VM, 0);
	if (p->vm_fd < 0) {
		int e = errno;

		snprintf(errbuf, errlen, "KVM_CREATE_VM: %s", strerror(e));
		return -e;
	}
	return 0;
}

static int memory_attach(struct partition *p, const struct partition_config *cfg, char *errbuf,
			 size_t errlen)
{
	int r = guest_memory_new(cfg->memory_bytes, &p->mem);

	if (r < 0) {
		snprintf(errbuf, errlen, "memory: cannot allocate %llu bytes: %s",
			 (unsigned long long)cfg->memory_bytes, strerror(-r));
		return r;
	}
	r = add_memory_slots(p);
	if (r < 0)
		snprintf(errbuf, errlen, "KVM_SET_USER_MEMORY_REGION: %s", strerror(-r));
	return r;
}

/* KVM's in-kernel PIC, IOAPIC and LAPICs, and its PIT. */
static int irqchip_create(struct partition *p, char *errbuf, size_t errlen)
{
	struct kvm_pit_config pit = {.flags = 0};
	uint64_t idmap = KVM_IDENTITY_MAP_GPA;

	/* Only VMX needs these; other KVMs (SVM, PVM) may refuse them, which is harmless. */
	(void)ioctl(p->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_GPA);
	(void)ioctl(p->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap);
	if (ioctl(p->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		int e = errno;

		snprintf(errbuf, errlen, "KVM_CREATE_IRQCHIP: %s", strerror(e));
		return -e;
	}
	if (ioctl(p->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		int e = errno;

		snprintf(errbuf, errlen, "KVM_CREATE_PIT2: %s", strerror(e));
		return -e;
	}
	return 0;
}

static int vcpus_create(struct partition *p, unsigned count, char *errbuf, size_t errlen)
{
	p->vcpus = calloc(count, sizeof(*p->vcpus));
	if (!p->vcpus)
		return -ENOMEM;
	for (unsigned i = 0; i < count; i++) {
		int r;

		p->vcpus[i].fd = -1;
		r = vcpu_init(p, &p->vcpus[i], i);
		if (r < 0) {
			snprintf(errbuf, errlen, "vCPU %u: %s", i, strerror(-r));
			return r;
		}
		p->nvcpus++;
	}
	return 0;
}

int partition_new(const struct partition_config *cfg, struct partition **ret, char *errbuf,
		  size_t errlen)
{
	struct partition *p = partition_alloc(cfg);
	int r;

	if (!p)
		return -ENOMEM;
	r = vm_create(p, cfg, errbuf, errlen);
	if (r == 0)
		r = memory_attach(p, cfg, errbuf, errlen);
	if (r == 0)
		r = irqchip_create(p, errbuf, errlen);
	if (r == 0) {
		r = install_msr_filter(p);
		if (r < 0)
			snprintf(errbuf, errlen, "user-space MSR exits: %s", strerror(-r));
	}
	if (r == 0)
		r = build_cpu_model(p, cfg->cpu_model, cfg->vcpus, errbuf, errlen);
	if (r == 0)
		r = io_bus_new("pio", &p->pio);
	if (r == 0)
		r = io_bus_new("mmio", &p->mmio);
	if (r == 0)
		r = vcpus_create(p, cfg->vcpus, errbuf, errlen);
	if (r < 0) {
		partition_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

void partition_stop_and_join(struct partition *p)
{
	unsigned i;

	if (!p->started)
		return;
	partition_request_stop(p, PARTITION_STOP_REQUESTED);
	/*
	 * Kick every vCPU again: a stop that came while partition_start was
	 * still creating threads could not signal a thread not yet marked
	 * started, and a halted AP would then sit in KVM_RUN for ever.
	 */
	pthread_mutex_lock(&p->stop_lock);
	for (i = 0; i < p->nvcpus; i++)
		vcpu_kick(&p->vcpus[i]);
	pthread_mutex_unlock(&p->stop_lock);
	for (i = 0; i < p->nvcpus; i++) {
		if (p->vcpus[i].thread_started) {
			pthread_join(p->vcpus[i].thread, NULL);
			p->vcpus[i].thread_started = false;
		}
	}
}

struct partition *partition_free(struct partition *p)
{
	unsigned i;

	if (!p)
		return NULL;
	partition_stop_and_join(p);
	/* No vCPU runs: nothing waits in a fault any more; before RAM is unmapped. */
	p->lazy = state_lazy_free(p->lazy);
	for (i = 0; i < p->nvcpus; i++)
		vcpu_fini(&p->vcpus[i]);
	free(p->vcpus);
	io_bus_free(p->pio);
	io_bus_free(p->mmio);
	if (p->vm_fd >= 0)
		close(p->vm_fd);
	guest_memory_free(p->mem);
	free(p->restore_vcpus);
	free(p->restore_vm);
	if (p->kvm_fd >= 0)
		close(p->kvm_fd);
	pthread_cond_destroy(&p->stop_cond);
	pthread_mutex_destroy(&p->stop_lock);
	free(p);
	return NULL;
}

struct guest_memory *partition_memory(struct partition *p)
{
	return p->mem;
}

struct io_bus *partition_pio_bus(struct partition *p)
{
	return p->pio;
}

struct io_bus *partition_mmio_bus(struct partition *p)
{
	return p->mmio;
}

unsigned partition_vcpu_count(const struct partition *p)
{
	return p->nvcpus;
}

bool partition_is_pvm(const struct partition *p)
{
	return p->pvm;
}

void partition_set_msr_ops(struct partition *p, const struct partition_msr_ops *ops, void *opaque)
{
	p->msr_ops = ops;
	p->msr_opaque = opaque;
}

int partition_set_hypercall_port(struct partition *p, uint16_t port,
				 const struct partition_hypercall_ops *ops, void *opaque)
{
	if (p->started)
		return -EBUSY;
	p->hypercall_ops = ops;
	p->hypercall_opaque = opaque;
	p->hypercall_port = port;
	return 0;
}

int64_t partition_tsc_khz(struct partition *p)
{
	int khz = ioctl(p->vcpus[0].fd, KVM_GET_TSC_KHZ, 0);

	return khz > 0 ? khz : -errno;
}

int vid_msr_ioctl(int fd, unsigned long request, uint32_t index, uint64_t *value)
{
	_Alignas(struct kvm_msrs)
		uint8_t buf[sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)];
	struct kvm_msrs *msrs = (struct kvm_msrs *)buf;
	int r;

	memset(buf, 0, sizeof(buf));
	msrs->nmsrs = 1;
	msrs->entries[0].index = index;
	msrs->entries[0].data = *value;
	r = ioctl(fd, request, msrs);
	if (r < 0)
		return -errno;
	if (r != 1)
		return -EINVAL; /* KVM took none: it refuses this MSR or value */
	*value = msrs->entries[0].data;
	return 0;
}

int partition_vcpu_read_tsc(struct partition *p, unsigned vp_index, uint64_t *tsc)
{
	uint64_t v = 0;

	if (vp_index >= p->nvcpus)
		return -EINVAL;
	if (vid_msr_ioctl(p->vcpus[vp_index].fd, KVM_GET_MSRS, 0x10 /* IA32_TIME_STAMP_COUNTER */,
			  &v) < 0)
		return -EIO;
	*tsc = v;
	return 0;
}

int partition_set_boot_regs(struct partition *p, const struct x86_boot_regs *regs)
{
	if (p->started)
		return -EBUSY;
	p->boot_regs = *regs;
	p->have_boot_regs = true;
	return 0;
}

static void kick_signal_handler(int sig)
{
	(void)sig; /* only there to make KVM_RUN return -EINTR */
}

int partition_start(struct partition *p)
{
	struct sigaction sa = {.sa_handler = kick_signal_handler};
	unsigned i;
	int r;

	if (p->started || (!p->have_boot_regs && !p->restore_vcpus))
		return -EINVAL;
	/* No SA_RESTART: the signal must interrupt KVM_RUN. */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) < 0)
		return -errno;
	/* Every vCPU gets the final CPUID (hv/ has added its leaves since partition_new). */
	for (i = 0; i < p->nvcpus; i++) {
		r = vcpu_apply_cpu(&p->vcpus[i]);
		if (r < 0)
			return r;
	}
	if (p->restore_vcpus)
		r = partition_apply_restored_state(p);
	else
		r = vcpu_apply_boot_regs(&p->vcpus[0], &p->boot_regs);
	if (r < 0)
		return r;
	p->started = true;
	pthread_mutex_lock(&p->stop_lock);
	p->running_vcpus = p->nvcpus;
	pthread_mutex_unlock(&p->stop_lock);
	for (i = 0; i < p->nvcpus; i++) {
		r = pthread_create(&p->vcpus[i].thread, NULL, vcpu_thread_main, &p->vcpus[i]);
		if (r) {
			pthread_mutex_lock(&p->stop_lock);
			p->running_vcpus -= p->nvcpus - i;
			pthread_mutex_unlock(&p->stop_lock);
			partition_stop_with_detail(p, PARTITION_STOP_HOST_ERROR,
						   "cannot start vCPU thread %u: %s", i,
						   strerror(r));
			return -r;
		}
		p->vcpus[i].thread_started = true;
	}
	return 0;
}

static void stop_locked(struct partition *p, enum partition_stop_reason reason, const char *detail)
{
	int expected = PARTITION_RUNNING;
	unsigned i;

	if (!atomic_compare_exchange_strong(&p->stop_reason, &expected, (int)reason))
		return;
	if (detail)
		snprintf(p->stop_detail, sizeof(p->stop_detail), "%s", detail);
	for (i = 0; i < p->nvcpus; i++)
		vcpu_kick(&p->vcpus[i]);
	pthread_cond_broadcast(&p->stop_cond);
}

void partition_request_stop(struct partition *p, enum partition_stop_reason reason)
{
	pthread_mutex_lock(&p->stop_lock);
	stop_locked(p, reason, NULL);
	pthread_mutex_unlock(&p->stop_lock);
}

void partition_stop_with_detail(struct partition *p, enum partition_stop_reason reason,
				const char *fmt, ...)
{
	char detail[STOP_DETAIL_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&p->stop_lock);
	stop_locked(p, reason, detail);
	pthread_mutex_unlock(&p->stop_lock);
}

enum partition_stop_reason partition_wait_timeout(struct partition *p, unsigned timeout_ms)
{
	struct timespec deadline = monotonic_deadline_ns((uint64_t)timeout_ms * 1000000u);
	int reason;

	pthread_mutex_lock(&p->stop_lock);
	while (atomic_load(&p->stop_reason) == PARTITION_RUNNING)
		if (pthread_cond_timedwait(&p->stop_cond, &p->stop_lock, &deadline) == ETIMEDOUT)
			break;
	reason = atomic_load(&p->stop_reason);
	pthread_mutex_unlock(&p->stop_lock);
	return (enum partition_stop_reason)reason;
}

enum partition_stop_reason partition_wait(struct partition *p)
{
	int reason;

	pthread_mutex_lock(&p->stop_lock);
	while (atomic_load(&p->stop_reason) == PARTITION_RUNNING)
		pthread_cond_wait(&p->stop_cond, &p->stop_lock);
	reason = atomic_load(&p->stop_reason);
	pthread_mutex_unlock(&p->stop_lock);
	return (enum partition_stop_reason)reason;
}

const char *partition_stop_detail(const struct partition *p)
{
	return p->stop_detail;
}

void partition_get_exit_stats(const struct partition *p, struct partition_exit_stats *s)
{
	const struct exit_counters *c = &p->exits;

	*s = (struct partition_exit_stats){
		.io = c->io,
		.mmio = c->mmio,
		.msr = c->msr,
		.hlt = c->hlt,
		.intr = c->intr,
		.shutdown = c->shutdown,
		.system_event = c->system_event,
		.internal_error = c->internal_error,
		.other = c->other,
		.completed_int3 = c->completed_int3,
		.completed_popcnt = c->completed_popcnt,
		.refused_cpl = c->refused_cpl,
		.unclaimed_io = c->unclaimed_io,
		.unclaimed_mmio = c->unclaimed_mmio,
		.hypercall = c->hypercall,
		.first_run_ns = c->first_run_ns,
		.first_run_cpu_ns = c->first_run_cpu_ns,
	};
}

void vcpu_hold_if_paused(struct partition *p)
{
	pthread_mutex_lock(&p->stop_lock);
	p->paused_vcpus++;
	pthread_cond_broadcast(&p->stop_cond);
	while (atomic_load(&p->pause_requested) &&
	       atomic_load(&p->stop_reason) == PARTITION_RUNNING)
		pthread_cond_wait(&p->stop_cond, &p->stop_lock);
	p->paused_vcpus--;
	pthread_mutex_unlock(&p->stop_lock);
}

int partition_pause(struct partition *p)
{
	unsigned i;

	if (!p->started)
		return -EINVAL;
	pthread_mutex_lock(&p->stop_lock);
	atomic_store(&p->pause_requested, true);
	for (i = 0; i < p->nvcpus; i++)
		vcpu_kick(&p->vcpus[i]);
	while (p->paused_vcpus < p->running_vcpus &&
	       atomic_load(&p->stop_reason) == PARTITION_RUNNING)
		pthread_cond_wait(&p->stop_cond, &p->stop_lock);
	pthread_mutex_unlock(&p->stop_lock);
	return 0;
}

void partition_resume(struct partition *p)
{
	pthread_mutex_lock(&p->stop_lock);
	atomic_store(&p->pause_requested, false);
	pthread_cond_broadcast(&p->stop_cond);
	pthread_mutex_unlock(&p->stop_lock);
}

bool partition_is_paused(struct partition *p)
{
	return atomic_load(&p->pause_requested);
}

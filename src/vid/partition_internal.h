/*
 * State shared by the files of vid/ that implement a partition
 * (partition.c, vcpu.c, pvm.c). Nothing outside vid/ includes this.
 */
#pragma once

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>

#include "base/log.h"
#include "cpu/cpu_model.h"
#include "vid/partition.h"

struct vcpu_state;
struct kvm_vm_state;

#define STOP_DETAIL_LEN 2048

struct vcpu {
	struct partition *partition;
	unsigned index; /* VP index == APIC ID == KVM vcpu id */
	int fd;
	struct kvm_run *run; /* mmap of the vcpu fd, run_size bytes */
	pthread_t thread;
	bool thread_started;
	/*
	 * The last KVM_RUN returned an exit (not EINTR): an IN, MMIO read or
	 * RDMSR may still wait for its result to be written back, which only
	 * the next KVM_RUN does. A pause completes it first (vcpu.c).
	 */
	bool exit_pending;
};

/* Per-reason exit counters; atomics because every vCPU thread adds to them. */
struct exit_counters {
	atomic_uint_fast64_t io, mmio, msr, hlt, intr, shutdown, system_event, internal_error;
	atomic_uint_fast64_t other, completed_int3, completed_popcnt, unclaimed_io, unclaimed_mmio;
	atomic_uint_fast64_t refused_cpl;
	atomic_uint_fast64_t hypercall;
	atomic_uint_fast64_t first_run_ns, first_run_cpu_ns;
};

struct partition {
	int kvm_fd;
	int vm_fd;
	size_t run_size; /* KVM_GET_VCPU_MMAP_SIZE */
	bool pvm;	 /* /dev/kvm is kvm_pvm */
	bool sync_regs;	 /* KVM_CAP_SYNC_REGS covers the GPRs: hypercalls skip two ioctls */
	struct guest_memory *mem;
	struct io_bus *pio;
	struct io_bus *mmio;

	unsigned nvcpus;
	int (*vcpu_thread_init)(void *opaque, unsigned index); /* partition_config's */
	void *vcpu_thread_opaque;
	struct vcpu *vcpus; /* nvcpus entries */
	bool started;

	/*
	 * The virtual processor (src/cpu/): its CPUID template, with hv/'s
	 * leaves added by partition_set_cpuid, and the MSRs every vCPU starts
	 * with. Each vCPU gets its own APIC IDs when applied (vcpu_apply_cpu).
	 */
	struct cpu_model model;
	struct x86_boot_regs boot_regs;
	bool have_boot_regs;
	/* A saved state to set instead of the boot registers (partition_load_state). */
	struct vcpu_state *restore_vcpus; /* nvcpus entries, or NULL */
	struct kvm_vm_state *restore_vm;
	/* RAM still coming from the saved state (partition_load_state_lazy), or NULL. */
	struct state_lazy *lazy;

	const struct partition_msr_ops *msr_ops;
	void *msr_opaque;
	const struct partition_hypercall_ops *hypercall_ops;
	void *hypercall_opaque;
	uint16_t hypercall_port;

	/* Stop protocol: first reason wins; waiters block on stop_cond. */
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	_Atomic int stop_reason; /* enum partition_stop_reason */
	unsigned running_vcpus;	 /* threads still in their run loop */
	/* Pause protocol (partition_pause), under stop_lock; waiters block on stop_cond. */
	_Atomic bool pause_requested; /* vCPUs must hold before their next KVM_RUN */
	unsigned paused_vcpus;	      /* threads holding in vcpu_hold_if_paused */
	char stop_detail[STOP_DETAIL_LEN];

	struct exit_counters exits;
	/* Guest-triggered log lines of the exit handlers, rate-limited per partition. */
	struct guest_error_log unclaimed_io_log, unclaimed_mmio_log, msr_log;
};

int vcpu_init(struct partition *p, struct vcpu *v, unsigned index);
void vcpu_fini(struct vcpu *v);
/*
 * One MSR through KVM_GET_MSRS/KVM_SET_MSRS (request) on a vCPU or /dev/kvm
 * fd: 0 with *value read back, -EINVAL if KVM took none, or -errno.
 */
int vid_msr_ioctl(int fd, unsigned long request, uint32_t index, uint64_t *value);
/* CPUID and the model's MSRs on one vCPU (before it first runs). */
int vcpu_apply_cpu(struct vcpu *v) must_check;
int vcpu_apply_boot_regs(struct vcpu *v, const struct x86_boot_regs *regs);
void *vcpu_thread_main(void *arg);
void vcpu_kick(struct vcpu *v);
/* On the vCPU thread: holds while the partition is paused (and not stopping). */
void vcpu_hold_if_paused(struct partition *p);

/* Stops the partition with a reason and a detail text (printf-style). */
void partition_stop_with_detail(struct partition *p, enum partition_stop_reason reason,
				const char *fmt, ...) printf_like(3, 4);

/*
 * pvm.c: completes an instruction KVM's emulator gave up on (int3, popcnt).
 * 0 if completed (the vCPU may run on); -EOPNOTSUPP if not ours to complete,
 * with a description of the instruction in detail.
 */
int pvm_complete_instruction(struct vcpu *v, char *detail, size_t detail_len);
/* Appends registers and the bytes at RIP to buf. */
void vcpu_describe_state(struct vcpu *v, char *buf, size_t len);
/* partition_state.c: sets a state loaded by partition_load_state (from partition_start). */
int partition_apply_restored_state(struct partition *p) must_check;

/*
 * A partition: one KVM VM with its guest memory, in-kernel interrupt
 * controllers (LAPIC per vCPU, IOAPIC, PIC) and PIT, its port-I/O and MMIO
 * buses, and one thread per vCPU running KVM_RUN and dispatching exits.
 *
 * This directory (vid/) is the only code that issues /dev/kvm ioctls. Each
 * partition is owned by one worker process (parvis-vmwp). A reset is done
 * by the owner: it frees the partition and builds a new one.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vid/guest_memory.h"
#include "vid/io_bus.h"
#include "vid/irq.h"
#include "vid/x86_boot_regs.h"

struct partition;

struct partition_config {
	uint64_t memory_bytes; /* RAM, multiple of 4 KiB */
	unsigned vcpus;	       /* 1..partition_max_vcpus() */
	const char *cpu_model; /* a name of cpu_model_names (src/cpu/cpu_model.h); NULL: "host" */
	/*
	 * Called on each vCPU thread before its first KVM_RUN (the worker's jail loads the
	 * vCPU threads' own seccomp filter there); a negative return stops the partition with
	 * a host error. NULL: nothing to do.
	 */
	int (*vcpu_thread_init)(void *opaque, unsigned index);
	void *vcpu_thread_opaque;
};

struct cpu_model;
struct cpu_host;

/* Why the partition stopped running; PARTITION_RUNNING while it runs. */
enum partition_stop_reason {
	PARTITION_RUNNING,
	PARTITION_STOP_POWER_OFF,	  /* the guest turned itself off (ACPI S5) */
	PARTITION_STOP_RESET,		  /* the guest asked for a reset */
	PARTITION_STOP_TRIPLE_FAULT,	  /* KVM_EXIT_SHUTDOWN */
	PARTITION_STOP_EMULATION_FAILURE, /* an instruction neither KVM nor we can complete */
	PARTITION_STOP_HOST_ERROR,	  /* KVM_RUN failed, or an exit we cannot handle */
	PARTITION_STOP_REQUESTED,	  /* the owner asked (turn off) */
};

const char *partition_stop_reason_name(enum partition_stop_reason reason);

/*
 * Synthetic MSR handlers (the Hyper-V range, 0x40000000-0x400000FF, is
 * filtered to user space). Return 0, or a negative value to make the
 * access raise #GP in the guest. Called on the vCPU's own thread.
 */
struct partition_msr_ops {
	int (*read)(void *opaque, unsigned vp_index, uint32_t msr, uint64_t *value);
	int (*write)(void *opaque, unsigned vp_index, uint32_t msr, uint64_t value);
};

/*
 * The general-purpose registers of a vCPU at an exit, in struct kvm_regs
 * order but without KVM types, for handlers that implement calling
 * conventions (hypercalls). Changes are written back when the handler
 * returns.
 */
struct vcpu_gprs {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rip, rflags;
};

/*
 * A hypercall trap: the code the hypervisor puts in the guest's hypercall
 * page ends in "out imm8, al" to this port (KVM consumes vmcall/vmmcall
 * itself). Called on the vCPU's thread, RIP already past the out; long_mode
 * says which calling convention applies (TLFS §3.7: 64-bit RCX/RDX/R8 or
 * 32-bit EDX:EAX/EBX:ECX/EDI:ESI). The port is not on the I/O bus.
 */
/* The caller's mode at a hypercall trap (from the vCPU's segment and control registers). */
struct vcpu_mode {
	bool protected_mode; /* CR0.PE */
	bool long_mode;	     /* EFER.LMA and a 64-bit CS: the 64-bit register convention */
	unsigned cpl;	     /* 0-3 */
};

/* The hypercall trap. False: the call is refused with #UD (registers unchanged). */
struct partition_hypercall_ops {
	bool (*hypercall)(void *opaque, unsigned vp_index, struct vcpu_gprs *regs,
			  const struct vcpu_mode *mode);
};

/* Exits by reason, summed over vCPUs: what the benchmark reports. */
struct partition_exit_stats {
	uint64_t io, mmio, msr, hlt, intr, shutdown, system_event, internal_error;
	uint64_t other, completed_int3, completed_popcnt, unclaimed_io, unclaimed_mmio;
	uint64_t refused_cpl; /* emulation exits at CPL > 0: #UD, not completed (pvm.c) */
	uint64_t hypercall;
	uint64_t first_run_ns;	   /* CLOCK_MONOTONIC at the first KVM_RUN of vCPU 0, 0 if none */
	uint64_t first_run_cpu_ns; /* process CPU time consumed by then */
};

/* Fills errbuf with a one-line reason on failure. */
int partition_new(const struct partition_config *cfg, struct partition **ret, char *errbuf,
		  size_t errlen) must_check;
/* Stops the vCPU threads if running, frees everything; NULL is a no-op. Returns NULL. */
struct partition *partition_free(struct partition *p);

/* The largest vCPU count KVM allows here, or a negative errno. */
int partition_max_vcpus(void);
/* True when /dev/kvm is PVM (guest kernel code emulated; see docs/pvm.md). */
bool partition_host_is_pvm(void);

struct guest_memory *partition_memory(struct partition *p);
struct io_bus *partition_pio_bus(struct partition *p);
struct io_bus *partition_mmio_bus(struct partition *p);
unsigned partition_vcpu_count(const struct partition *p);
bool partition_is_pvm(const struct partition *p);

/* A GSI of the in-kernel IOAPIC/PIC, as a wire for device models. */
struct irq_line partition_irq_line(struct partition *p, unsigned gsi);
/* The wire devices use to ask for power off / reset: it stops the partition. */
struct power_control partition_power_control(struct partition *p);
/*
 * Device memory: host memory (hva, size bytes, both page-aligned) that the
 * guest sees at gpa as memory, through a KVM memory slot of its own, so the
 * guest's stores cost no exits: a video card's VRAM. `slot` is
 * 0..PARTITION_DEVICE_SLOTS-1; a new gpa replaces where that slot was;
 * gpa UINT64_MAX removes it. The range must not overlap RAM (-EINVAL) or
 * another slot (KVM's -EEXIST). Any thread; the caller keeps hva mapped
 * while the slot exists.
 */
#define PARTITION_DEVICE_SLOTS 4u
int partition_set_device_memory(struct partition *p, unsigned slot, uint64_t gpa, void *hva,
				uint64_t size) must_check;

/* Injects a message-signalled interrupt (any thread, does not stop vCPUs). */
int partition_signal_msi(struct partition *p, uint64_t address, uint32_t data) must_check;

void partition_set_msr_ops(struct partition *p, const struct partition_msr_ops *ops, void *opaque);
/* Routes "out imm8, al" to port to ops (before partition_start). */
int partition_set_hypercall_port(struct partition *p, uint16_t port,
				 const struct partition_hypercall_ops *ops,
				 void *opaque) must_check;
/* The guest TSC frequency in kHz (KVM_GET_TSC_KHZ), or a negative errno. */
int64_t partition_tsc_khz(struct partition *p);
/*
 * The guest's TSC as vCPU vp_index sees it now. Only on that vCPU's own
 * thread (from an MSR or hypercall handler), where KVM does not block.
 */
int partition_vcpu_read_tsc(struct partition *p, unsigned vp_index, uint64_t *tsc) must_check;

/* The virtual processor the vCPUs get (final once partition_start has run). */
const struct cpu_model *partition_cpu_model(const struct partition *p);
/*
 * What this host's KVM offers a processor (KVM_GET_SUPPORTED_CPUID, feature
 * MSRs, the host CPU's own leaf 1 and brand): the input of cpu_model_build.
 * Opens /dev/kvm itself; fills errbuf on failure.
 */
int partition_probe_cpu_host(struct cpu_host *host, char *errbuf, size_t errlen) must_check;

/*
 * Sets or replaces a CPUID leaf seen by every vCPU (before partition_start).
 * Leaves 0x40000000-0x4FFFFFFF are empty unless set here: no KVM signature
 * is ever shown.
 */
int partition_set_cpuid(struct partition *p, uint32_t function, uint32_t index, uint32_t eax,
			uint32_t ebx, uint32_t ecx, uint32_t edx) must_check;

/* The bootstrap processor's initial registers (before partition_start). */
int partition_set_boot_regs(struct partition *p, const struct x86_boot_regs *regs) must_check;

/*
 * Saved state (docs/saved-state.md; the file format is src/state/).
 * partition_save_state writes KVM's state of every vCPU, the in-kernel
 * PIC/IOAPIC/PIT, kvmclock and guest RAM as sections of w; the partition
 * must be paused (partition_pause), and the caller saves the devices' own
 * sections. partition_load_state, instead of partition_set_boot_regs and
 * before partition_start, checks and reads those sections and RAM from r;
 * partition_start then sets the state into KVM (if KVM refuses a part of
 * it, partition_start fails and partition_stop_detail names the part).
 * Errors fill errbuf with what is wrong.
 */
struct state_writer;
struct state_reader;
int partition_save_state(struct partition *p, struct state_writer *w, char *errbuf,
			 size_t errlen) must_check;
int partition_load_state(struct partition *p, struct state_reader *r, char *errbuf,
			 size_t errlen) must_check;
/*
 * As partition_load_state with RAM read lazily (src/state/state_lazy.h):
 * uffd (from state_lazy_open_uffd; taken, closed on failure too) serves
 * every first touch from the file while a thread prefetches the rest. The
 * loads that follow may touch RAM (their faults are served). A page that
 * cannot be read stops the partition (PARTITION_STOP_HOST_ERROR).
 */
int partition_load_state_lazy(struct partition *p, struct state_reader *r, int uffd, char *errbuf,
			      size_t errlen) must_check;
/*
 * Before anything reads the RAM memfd's holes as zero pages (a save, a
 * migration): waits until a lazy restore has all of RAM in. 0 (also when
 * RAM was never lazy), or the error that stopped the prefetch.
 */
int partition_ram_settle(struct partition *p) must_check;
/* A lazy restore's counters; false if RAM was not restored lazily. */
struct state_lazy_stats;
bool partition_lazy_ram_stats(struct partition *p, struct state_lazy_stats *ret);

/*
 * Live migration (partition_dirty.c; docs/migration.md): logs the pages the
 * vCPUs write in every RAM slot. partition_dirty_log_fetch ORs the pages
 * written since the last fetch (or the start) into bitmap, one bit per
 * 4 KiB page of RAM in memfd order (guest_memory_ram_size / 4096 bits),
 * and re-arms them. Any thread; the vCPUs may run.
 */
int partition_dirty_log_start(struct partition *p) must_check;
int partition_dirty_log_stop(struct partition *p);
int partition_dirty_log_fetch(struct partition *p, uint64_t *bitmap) must_check;
/*
 * As partition_save_state, without guest RAM (a migration sends RAM as
 * pages); partition_load_state_without_ram reads such sections into a
 * partition whose RAM the caller filled.
 */
int partition_save_state_without_ram(struct partition *p, struct state_writer *w, char *errbuf,
				     size_t errlen) must_check;
int partition_load_state_without_ram(struct partition *p, struct state_reader *r, char *errbuf,
				     size_t errlen) must_check;

/* Starts one thread per vCPU. */
int partition_start(struct partition *p) must_check;
/* Blocks until the partition stops; returns why. */
enum partition_stop_reason partition_wait(struct partition *p);
/* Like partition_wait with a timeout in ms; PARTITION_RUNNING if it expired. */
enum partition_stop_reason partition_wait_timeout(struct partition *p, unsigned timeout_ms);
/* Asks the vCPUs to stop (from any thread, async-signal-unsafe). First reason wins. */
void partition_request_stop(struct partition *p, enum partition_stop_reason reason);
/* Stops the vCPUs (if running) and waits for their threads to end. */
void partition_stop_and_join(struct partition *p);
/*
 * Pauses the vCPUs: kicks each out of KVM_RUN (immediate_exit and a signal,
 * as the stop protocol does) and holds it before its next KVM_RUN until
 * partition_resume(). Returns once every running vCPU is held (or the
 * partition stopped). Guest time is not frozen: KVM's TSC, and so the
 * Hyper-V reference TSC page, keep counting while paused, as on Hyper-V.
 * Devices keep running on their own threads; their interrupts are
 * delivered when the vCPUs run again. From any thread but a vCPU's.
 */
int partition_pause(struct partition *p) must_check;
/* Lets held vCPUs run again; a no-op if not paused. */
void partition_resume(struct partition *p);
bool partition_is_paused(struct partition *p);
/* After a stop: a multi-line description (registers, instruction bytes) or "". */
const char *partition_stop_detail(const struct partition *p);

void partition_get_exit_stats(const struct partition *p, struct partition_exit_stats *stats);

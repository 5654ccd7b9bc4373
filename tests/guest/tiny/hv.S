/*
 * A Hyper-V guest in miniature: it finds the hypervisor through CPUID,
 * sets up the hypercall page as Linux does, makes HvSignalEvent and
 * HvPostMessage hypercalls with good and bad input and logs each status,
 * checks #GP on bad MSR accesses, reads time through the reference TSC
 * page, then programs its SynIC and takes SINT interrupts for two messages
 * (the second queued behind the first until EOM) and an event flag that
 * the harness posts from another thread. Every logged value is checked by
 * tests/guest/test_tiny_hv.c.
 */
#include "common.S"

#define MSR_GUEST_OS_ID 0x40000000
#define MSR_HYPERCALL 0x40000001
#define MSR_VP_INDEX 0x40000002
#define MSR_TIME_REF_COUNT 0x40000020
#define MSR_REFERENCE_TSC 0x40000021
#define MSR_SCONTROL 0x40000080
#define MSR_SVERSION 0x40000081
#define MSR_SIEFP 0x40000082
#define MSR_SIMP 0x40000083
#define MSR_EOM 0x40000084
#define MSR_SINT2 0x40000092
#define LAPIC_SVR 0xFEE000F0
#define LAPIC_EOI 0xFEE000B0
/* SINT 2's slot in the SIMP and its flags in the SIEFP (no spaces: macro arguments). */
#define SLOT 0x302200
#define FLAGS 0x303200

/* WR_MSR \msr, \value (64-bit immediate) */
.macro WR_MSR msr, value
	mov $\msr, %ecx
	movabs $\value, %rax
	mov %rax, %rdx
	shr $32, %rdx
	wrmsr
.endm

/* RD_MSR \msr into %rax (64 bits) */
.macro RD_MSR msr
	mov $\msr, %ecx
	rdmsr
	shl $32, %rdx
	or %rdx, %rax
.endm

/* A hypercall through the page, the status logged. */
.macro HCALL control, input, output=0
	movabs $\control, %rcx
	movabs $\input, %rdx
	mov $\output, %r8
	mov $TINY_HV_HYPERCALL_PAGE, %rax
	call *%rax
	LOG %eax
.endm

/* Halts with interrupts on until the 32-bit value at \addr is non-zero. */
.macro WAIT_NONZERO addr
1:	cli
	mov \addr, %eax
	test %eax, %eax
	jnz 2f
	sti
	hlt
	jmp 1b
2:
.endm

	.code64
	.globl _start
_start:
	SET_GATE 13, gp_handler
	SET_GATE TINY_HV_VECTOR, sint_handler
	LOAD_IDT

	/* --- Discovery --- */
	mov $0x40000000, %eax
	cpuid
	LOG %eax                              /* 0x40000006 */
	xor %esi, %esi
	cmp $0x7263694D, %ebx                 /* "Micr" */
	jne 1f
	cmp $0x666F736F, %ecx                 /* "osof" */
	jne 1f
	cmp $0x76482074, %edx                 /* "t Hv" */
	jne 1f
	mov $1, %esi
1:	LOG %esi                              /* 1 */
	mov $0x40000001, %eax
	cpuid
	LOG %eax                              /* "Hv#1" */
	mov $0x40000003, %eax
	cpuid
	mov %ebx, %r12d
	mov %edx, %r13d
	LOG %eax                              /* privileges, low */
	LOG %r12d                             /* privileges, high */
	LOG %r13d                             /* misc features */
	mov $0x40000004, %eax
	cpuid
	LOG %eax                              /* hints */
	mov $0x40000005, %eax
	cpuid
	LOG %eax                              /* max VPs: 1 */
	mov $0x40000006, %eax
	cpuid
	or %ebx, %eax
	or %ecx, %eax
	or %edx, %eax
	LOG %eax                              /* 0 */

	/* --- Hypercall page, as Linux's hyperv_init does it --- */
	RD_MSR MSR_VP_INDEX
	LOG %eax                              /* 0 */
	WR_MSR MSR_HYPERCALL, (TINY_HV_HYPERCALL_PAGE|1)
	RD_MSR MSR_HYPERCALL
	LOG %eax                              /* no guest OS id yet: enable stays 0 */
	WR_MSR MSR_GUEST_OS_ID, 0x8100000006010000
	WR_MSR MSR_HYPERCALL, (TINY_HV_HYPERCALL_PAGE|1)
	RD_MSR MSR_HYPERCALL
	LOG %eax                              /* enabled */
	mov TINY_HV_HYPERCALL_PAGE, %eax
	and $0xFFFFFF, %eax
	LOG %eax                              /* e6 9a c3: out 0x9a, al; ret */

	/* --- HvSignalEvent (fast) --- */
	HCALL 0x1005D, TINY_HV_EVT_CONN                       /* 0 */
	HCALL 0x1005D, (TINY_HV_EVT_CONN|(7<<32))             /* 0, flag 7 */
	HCALL 0x1005D, 0x999                                  /* 0x12: no such connection */
	HCALL 0x1005D, (TINY_HV_EVT_CONN|(1<<48))             /* 3: reserved bits */

	/* --- HvPostMessage (memory input) --- */
	movl $TINY_HV_MSG_CONN, TINY_HV_INPUT_PAGE
	movl $0, TINY_HV_INPUT_PAGE + 4
	movl $1, TINY_HV_INPUT_PAGE + 8                       /* message type */
	movl $8, TINY_HV_INPUT_PAGE + 12                      /* payload size */
	movabs $0x1122334455667788, %rax
	mov %rax, TINY_HV_INPUT_PAGE + 16
	HCALL 0x5C, TINY_HV_INPUT_PAGE                        /* 0 */
	HCALL 0x5C, (TINY_HV_INPUT_PAGE+4)                    /* 4: unaligned */
	HCALL 0x5C, (TINY_HV_INPUT_PAGE+0xF80)                /* 4: crosses a page */
	HCALL 0x5C, 0x10000000                                /* 4: beyond RAM */
	HCALL 0x5C, 0xD0000000                                /* 4: the MMIO hole */
	movl $241, TINY_HV_INPUT_PAGE + 12
	HCALL 0x5C, TINY_HV_INPUT_PAGE                        /* 5: payload too large */
	movl $8, TINY_HV_INPUT_PAGE + 12
	movl $0, TINY_HV_INPUT_PAGE + 8
	HCALL 0x5C, TINY_HV_INPUT_PAGE                        /* 5: message type 0 */
	movl $0x80000001, TINY_HV_INPUT_PAGE + 8
	HCALL 0x5C, TINY_HV_INPUT_PAGE                        /* 5: a hypervisor message type */
	movl $1, TINY_HV_INPUT_PAGE + 8
	movl $0x777, TINY_HV_INPUT_PAGE
	HCALL 0x5C, TINY_HV_INPUT_PAGE                        /* 0x12: no such connection */
	movl $TINY_HV_MSG_CONN, TINY_HV_INPUT_PAGE
	HCALL 0x1005C, TINY_HV_INPUT_PAGE                     /* 3: fast post */
	HCALL 0x10000005C, TINY_HV_INPUT_PAGE                 /* 3: rep count on a simple call */
	HCALL 0x800005C, TINY_HV_INPUT_PAGE                   /* 3: reserved bit 27 */
	HCALL 0x99, 0                                         /* 2: unknown call code */

	/* --- #GP on bad accesses: the handler logs 0x6F and skips the instruction --- */
	mov $0x400000FF, %ecx
	rdmsr                                                 /* unknown MSR */
	WR_MSR MSR_SCONTROL, 2                                 /* reserved bit */
	WR_MSR MSR_SINT2, 5                                    /* unmasked vector below 16 */
	WR_MSR MSR_VP_INDEX, 1                                 /* read-only */

	/* --- Reference time: TSC page and TIME_REF_COUNT agree --- */
	WR_MSR MSR_REFERENCE_TSC, (TINY_HV_TSC_PAGE|1)
	mov TINY_HV_TSC_PAGE, %eax
	test %eax, %eax
	setnz %al
	movzbl %al, %eax
	LOG %eax                              /* 1: sequence valid */
	rdtsc
	shl $32, %rdx
	or %rdx, %rax
	mulq TINY_HV_TSC_PAGE + 8             /* rdx:rax = tsc * scale */
	add TINY_HV_TSC_PAGE + 16, %rdx       /* page time = high half + offset */
	mov %rdx, %r12
	RD_MSR MSR_TIME_REF_COUNT
	sub %r12, %rax                        /* MSR (later) - page: >= 0, < 1 s */
	xor %esi, %esi
	cmp $10000000, %rax
	jae 1f
	mov $1, %esi
1:	LOG %esi                              /* 1 */

	/* --- SynIC --- */
	RD_MSR MSR_SVERSION
	LOG %eax                              /* 1 */
	RD_MSR MSR_SINT2
	LOG %eax                              /* 0x10000: masked at power-on */
	mov $LAPIC_SVR, %rbx
	movl $0x1FF, (%rbx)                   /* LAPIC on */
	movq $0, irq_count(%rip)
	WR_MSR MSR_SIMP, (TINY_HV_SIMP|1)
	WR_MSR MSR_SIEFP, (TINY_HV_SIEFP|1)
	WR_MSR MSR_SINT2, (0x10000|TINY_HV_VECTOR)   /* still masked */
	WR_MSR MSR_SCONTROL, 1
	LOG $TINY_HV_READY                    /* the harness posts A, B and the event */
1:	in $TINY_PORT_ECHO, %eax
	cmp $TINY_HV_POSTED, %eax
	jne 1b
	sti
	nop
	cli
	mov irq_count(%rip), %eax
	LOG %eax                              /* 0: the SINT is masked */
	WR_MSR MSR_SINT2, TINY_HV_VECTOR       /* unmask: the deferred interrupt arrives */
	WAIT_NONZERO irq_count(%rip)
	WAIT_NONZERO SLOT
	LOG SLOT                              /* message type 1 */
	movzbl SLOT + 4, %eax
	LOG %eax                              /* payload size 4 */
	LOG SLOT+16                           /* A */
	movzbl SLOT + 5, %eax
	LOG %eax                              /* 1: pending, B is queued */
	xor %eax, %eax
	xchg %eax, SLOT                       /* free the slot (vmbus_signal_eom) */
	mfence
	testb $1, SLOT + 5
	jz 1f
	WR_MSR MSR_EOM, 0
1:	WAIT_NONZERO SLOT
	LOG SLOT+16                           /* B */
	movzbl SLOT + 5, %eax
	LOG %eax                              /* 0: nothing more queued */
	movl $0, SLOT
	WAIT_NONZERO FLAGS
	LOG FLAGS                             /* 1 << TINY_HV_EVENT_FLAG */
1:	cli                                   /* B's interrupt, pending since the EOM */
	cmpq $2, irq_count(%rip)
	jae 2f
	sti
	hlt
	jmp 1b
2:	LOG $1                                /* two SINT interrupts taken */
	EXIT 0

gp_handler:
	push %rax
	LOG $0x6F
	addq $2, 16(%rsp)                     /* skip the 2-byte rdmsr/wrmsr (RIP above rax, error code) */
	pop %rax
	add $8, %rsp                          /* pop the error code */
	iretq

sint_handler:
	push %rax
	incq irq_count(%rip)
	mov $LAPIC_EOI, %rax                  /* no auto-EOI: the guest EOIs (DEPRECATING_AEOI) */
	movl $0, (%rax)
	pop %rax
	iretq

	.balign 8
irq_count:
	.quad 0

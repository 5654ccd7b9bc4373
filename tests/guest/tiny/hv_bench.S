/*
 * The guest side of bench/hv_bench.c: loops that cost one exit each, so
 * the worker's CPU time per hypercall and per SINT injection can be read
 * off. It reads its mode and count from TINY_PORT_ECHO (mode in bits 0-7,
 * count in bits 8-31), logs TINY_HVB_START before the loop and
 * TINY_HVB_END after it, then exits:
 *   1  the loop alone: call a bare "ret" (the guest's own cost)
 *   2  call "out 0x98, al; ret": an exit to an unassigned port
 *   3  call the hypercall page: fast HvSignalEvent on TINY_HV_EVT_CONN
 *   4  take a message on SINT 2, free the slot (EOM if pending), ack it
 *   5  take an event flag on SINT 2, clear it, ack it
 * Acks are writes of TINY_HVB_ACK to TINY_PORT_LOG.
 */
#include "common.S"

#define SLOT 0x302200
#define FLAGS 0x303200

.macro WR_MSR msr, value
	mov $\msr, %ecx
	movabs $\value, %rax
	mov %rax, %rdx
	shr $32, %rdx
	wrmsr
.endm

	.code64
	.globl _start
_start:
	SET_GATE TINY_HV_VECTOR, sint_handler
	LOAD_IDT
	in $TINY_PORT_ECHO, %eax
	mov %eax, %r14d
	shr $8, %r14d                          /* count */
	and $0xFF, %eax                        /* mode */
	mov %eax, %r15d
	/* Linux's set-up: guest OS id, hypercall page, SynIC with SINT 2. */
	WR_MSR 0x40000000, 0x8100000006010000
	WR_MSR 0x40000001, (TINY_HV_HYPERCALL_PAGE|1)
	WR_MSR 0x40000083, (TINY_HV_SIMP|1)
	WR_MSR 0x40000082, (TINY_HV_SIEFP|1)
	WR_MSR 0x40000092, TINY_HV_VECTOR
	WR_MSR 0x40000080, 1
	mov $0xFEE000F0, %rbx
	movl $0x1FF, (%rbx)                    /* LAPIC on */
	lea bare_ret(%rip), %rbx
	cmp $2, %r15d
	jne 1f
	lea out_ret(%rip), %rbx
1:	cmp $3, %r15d
	jne 1f
	mov $TINY_HV_HYPERCALL_PAGE, %rbx
1:	LOG $TINY_HVB_START
	cmp $4, %r15d
	je messages
	cmp $5, %r15d
	je events

calls:
	mov $0x1005D, %rcx                     /* HvSignalEvent, fast */
	mov $TINY_HV_EVT_CONN, %rdx
	call *%rbx
	dec %r14d
	jnz calls
	jmp done

messages:
1:	cli
	mov SLOT, %eax
	test %eax, %eax
	jnz 2f
	sti
	hlt
	jmp 1b
2:	xor %eax, %eax
	xchg %eax, SLOT                        /* free the slot */
	testb $1, SLOT+5
	jz 3f
	mov $0x40000084, %ecx                  /* EOM */
	xor %eax, %eax
	xor %edx, %edx
	wrmsr
3:	LOG $TINY_HVB_ACK
	dec %r14d
	jnz 1b
	jmp done

events:
1:	cli
	mov FLAGS, %eax
	test %eax, %eax
	jnz 2f
	sti
	hlt
	jmp 1b
2:	lock btrl $TINY_HV_EVENT_FLAG, FLAGS
	LOG $TINY_HVB_ACK
	dec %r14d
	jnz 1b

done:
	LOG $TINY_HVB_END
	EXIT 0

bare_ret:
	ret
out_ret:
	out %al, $0x98
	ret

sint_handler:
	push %rax
	mov $0xFEE000B0, %rax                  /* EOI */
	movl $0, (%rax)
	pop %rax
	iretq

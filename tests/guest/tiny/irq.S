/*
 * An interrupt from another host thread: the harness sends an MSI for
 * TINY_IRQ_VECTOR to this halted vCPU; the handler EOIs the LAPIC.
 */
#include "common.S"
	.code64
	.globl _start
_start:
	SET_GATE TINY_IRQ_VECTOR, irq_handler
	LOAD_IDT
	mov $0xFEE000F0, %rbx         /* LAPIC spurious vector register: enable */
	movl $0x1FF, (%rbx)
	LOG $0x1                      /* tells the harness to send the interrupt */
	xor %r12d, %r12d
1:	sti
	hlt
	cli
	test %r12d, %r12d
	jz 1b
	LOG %r12d                     /* 0x40: the vector we were interrupted with */
	EXIT 0

irq_handler:
	push %rax
	mov $TINY_IRQ_VECTOR, %r12d
	mov $0xFEE000B0, %rax         /* LAPIC EOI register */
	movl $0, (%rax)
	pop %rax
	iretq

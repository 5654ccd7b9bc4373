/* Helpers included by every tiny guest: logging, exit, and an IDT builder. */
#include "tiny.h"

/* log the 32-bit immediate or register in \v */
.macro LOG v
	mov \v, %eax
	out %eax, $TINY_PORT_LOG
.endm

.macro EXIT code
	mov $\code, %eax
	out %eax, $TINY_PORT_EXIT
1:	hlt
	jmp 1b
.endm

/*
 * SET_GATE vector, handler: a 64-bit interrupt gate in the IDT at
 * TINY_IDT_ADDR, code selector 0x10 (the boot GDT's 64-bit code segment).
 */
.macro SET_GATE vec, handler
	lea \handler(%rip), %rax
	mov $(TINY_IDT_ADDR + \vec * 16), %rdi
	mov %ax, (%rdi)
	movw $0x10, 2(%rdi)
	movw $0x8E00, 4(%rdi)
	shr $16, %rax
	mov %ax, 6(%rdi)
	shr $16, %rax
	mov %eax, 8(%rdi)
	movl $0, 12(%rdi)
.endm

.macro LOAD_IDT
	sub $16, %rsp
	movw $(256 * 16 - 1), (%rsp)
	movq $TINY_IDT_ADDR, 2(%rsp)
	lidt (%rsp)
	add $16, %rsp
.endm

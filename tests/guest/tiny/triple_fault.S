/* An exception with no IDT: a triple fault, which stops the partition. */
#include "common.S"
	.code64
	.globl _start
_start:
	LOG $0x1
	sub $16, %rsp
	movw $0, (%rsp)
	movq $0, 2(%rsp)
	lidt (%rsp)
	ud2
	EXIT 1

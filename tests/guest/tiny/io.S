/* Port I/O: out/in of every size, string I/O, and an unassigned port. */
#include "common.S"
	.code64
	.globl _start
_start:
	mov $0x11, %al
	out %al, $TINY_PORT_ECHO
	xor %eax, %eax
	in $TINY_PORT_ECHO, %al
	LOG %eax                      /* 0x11 */
	mov $0xBEEF, %ax
	mov $TINY_PORT_ECHO, %dx
	out %ax, %dx
	xor %eax, %eax
	in %dx, %ax
	LOG %eax                      /* 0xBEEF */
	mov $0xCAFEF00D, %eax
	out %eax, %dx
	xor %eax, %eax
	in %dx, %eax
	LOG %eax                      /* 0xCAFEF00D */
	/* rep outsl: three values from memory in one instruction. */
	lea values(%rip), %rsi
	mov $3, %ecx
	mov $TINY_PORT_LOG, %dx
	rep outsl
	/* An unassigned port reads as all-ones. */
	xor %eax, %eax
	mov $0x5555, %dx
	in %dx, %eax
	LOG %eax                      /* 0xFFFFFFFF */
	mov $0x12, %al
	out %al, %dx                  /* dropped */
	EXIT 0
	.balign 4
values:	.long 1, 2, 3

/* popcnt, register and memory forms, and its flags; completed by the worker on PVM. */
#include "common.S"
	.code64
	.globl _start
_start:
	mov $0xF0F0F0F0F0F0F0F0, %rdi
	popcnt %rdi, %rax
	LOG %eax                      /* 32 */
	mov $0xFFFFFFFFFFFFFFFF, %rax
	mov $0x100000003, %rdi
	popcnt %edi, %eax             /* 32-bit: counts 2 and zero-extends */
	shr $32, %rax
	LOG %eax                      /* 0 */
	lea value(%rip), %rbx
	popcnt 8(%rbx), %rcx
	LOG %ecx                      /* 7 */
	popcnt zero(%rip), %rdx
	setz %al
	movzbl %al, %eax
	LOG %eax                      /* ZF set: 1 */
	mov $0x8000, %si
	popcnt %si, %r9w
	LOG %r9d                      /* 1 */
	EXIT 0
	.balign 8
value:	.quad 0, 0x7F
zero:	.quad 0

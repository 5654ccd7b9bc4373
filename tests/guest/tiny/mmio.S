/* MMIO: reads and writes of 1, 2, 4, 8 bytes to a device, and to nothing. */
#include "common.S"
	.code64
	.globl _start
_start:
	mov $TINY_MMIO_BASE, %rbx
	movb $0xA5, (%rbx)
	movzbl 1(%rbx), %eax
	LOG %eax                      /* harness: offset 1, size 1 -> 0x01 */
	movw $0x1234, 2(%rbx)
	movzwl 2(%rbx), %eax
	LOG %eax                      /* echo of the last write: 0x1234 */
	movl $0x89ABCDEF, 4(%rbx)
	mov 4(%rbx), %eax
	LOG %eax                      /* 0x89ABCDEF */
	mov $0x0123456789ABCDEF, %rax
	mov %rax, 8(%rbx)
	mov 8(%rbx), %rcx
	LOG %ecx                      /* low half 0x89ABCDEF (LOG clobbers RAX, not RCX) */
	shr $32, %rcx
	LOG %ecx                      /* high half 0x01234567 */
	mov $TINY_MMIO_UNASSIGNED, %rbx
	mov (%rbx), %eax
	LOG %eax                      /* 0xFFFFFFFF */
	movl $7, (%rbx)               /* dropped */
	EXIT 0

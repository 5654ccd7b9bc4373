/*
 * The guest's view of its processor, for tests/guest/test_tiny_cpu.c: every
 * leaf of the table below as (function, index, EAX, EBX, ECX, EDX), then
 * MSR_K7_HWCR and IA32_ARCH_CAPABILITIES as (index, low, high), or
 * (index, 0x6F, 0x6F) when the rdmsr raised #GP.
 */
#include "common.S"
	.code64
	.globl _start
_start:
	SET_GATE 13, gp_handler
	LOAD_IDT
	lea leaves(%rip), %rsi
1:	mov (%rsi), %eax
	mov 4(%rsi), %ecx
	cmp $0xFFFFFFFF, %eax
	je 2f
	LOG %eax
	mov 4(%rsi), %eax
	LOG %eax
	mov (%rsi), %eax
	mov 4(%rsi), %ecx
	cpuid
	mov %edx, %edi
	mov %ecx, %ebp
	LOG %eax
	LOG %ebx
	LOG %ebp
	LOG %edi
	add $8, %rsi
	jmp 1b
2:	mov $0xC0010015, %ecx
	call read_msr
	mov $0x10A, %ecx
	call read_msr
	EXIT 0

/* Logs ECX, then the MSR's EDX:EAX (low first), or 0x6F twice on #GP. */
read_msr:
	mov %ecx, %ebx
	LOG %ebx
	mov %ebx, %ecx
	rdmsr
	mov %edx, %edi
	LOG %eax
	LOG %edi
msr_done:
	ret

gp_handler:
	LOG $0x6F
	LOG $0x6F
	lea msr_done(%rip), %rax
	mov %rax, 8(%rsp)             /* resume at msr_done (the error code is at 0(%rsp)) */
	add $8, %rsp
	iretq

	.balign 8
leaves:
	.long 0x00000000, 0
	.long 0x00000001, 0
	.long 0x00000006, 0
	.long 0x00000007, 0
	.long 0x0000000B, 0
	.long 0x0000000B, 1
	.long 0x0000000B, 2
	.long 0x0000000D, 0
	.long 0x0000000D, 1
	.long 0x80000000, 0
	.long 0x80000001, 0
	.long 0x80000002, 0
	.long 0x80000007, 0
	.long 0x80000008, 0
	.long 0x8000001E, 0
	.long 0xFFFFFFFF, 0

/* Synthetic MSRs exit to the worker; one it refuses raises #GP in the guest. */
#include "common.S"
	.code64
	.globl _start
_start:
	SET_GATE 13, gp_handler
	LOAD_IDT
	mov $TINY_MSR_SYNTHETIC, %ecx
	mov $0x55667788, %eax
	mov $0x11223344, %edx
	wrmsr
	rdmsr
	LOG %eax                      /* harness stores and returns: 0x55667788 */
	LOG %edx                      /* 0x11223344 */
	mov $TINY_MSR_UNKNOWN, %ecx
	rdmsr                         /* #GP: the handler logs 0x6F and skips the rdmsr */
	LOG $0x600D
	EXIT 0

gp_handler:
	LOG $0x6F
	addq $2, 8(%rsp)              /* skip the 2-byte rdmsr (error code is at 0(%rsp)) */
	add $8, %rsp                  /* pop the error code */
	iretq

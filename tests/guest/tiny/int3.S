/*
 * int3 delivers #BP with the return address after the instruction. On PVM
 * the host's emulator refuses int3 at CPL0 and the worker completes it.
 */
#include "common.S"
	.code64
	.globl _start
_start:
	SET_GATE 3, bp_handler
	LOAD_IDT
	mov $0x42, %ebx
	int3
after_int3:
	LOG %ebx                      /* the handler changed it: 0x43 */
	int3
	LOG %ebx                      /* 0x44 */
	EXIT 0

bp_handler:
	lea after_int3(%rip), %rax
	cmp %rax, (%rsp)              /* first time: the pushed RIP is right after the int3 */
	jne 1f
	LOG $0xB0
1:	inc %ebx
	iretq

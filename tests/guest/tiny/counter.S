/*
 * The saved-state guest (tests/guest/test_tiny_state.c): reads numbers from
 * a device port (each read returns the next one, like a UART's receive
 * register) and logs each, 1..TINY_STATE_COUNT, also counting in memory.
 * Any number read twice or skipped, or a memory count that disagrees, and
 * it exits 1: a restore that replayed or lost a device read, a register or
 * a page shows here.
 */
#include "common.S"
	.code64
	.globl _start
_start:
	mov $1, %ebx                  /* the number expected next */
1:	in $TINY_PORT_SEQ, %eax
	cmp %ebx, %eax
	jne bad
	incl total(%rip)
	LOG %ebx
	inc %ebx
	cmp $(TINY_STATE_COUNT + 1), %ebx
	jne 1b
	mov total(%rip), %eax
	cmp $TINY_STATE_COUNT, %eax
	jne bad
	EXIT 0
bad:	LOG %eax
	EXIT 1
	.balign 4
total:	.long 0

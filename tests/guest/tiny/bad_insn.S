/*
 * An instruction no one completes on a PVM host (x87 fnclex at CPL0,
 * research/PVM-GROUND.md): the partition stops with an emulation failure
 * that names the bytes. On hardware it simply runs (the harness skips
 * this guest there).
 */
#include "common.S"
	.code64
	.globl _start
_start:
	LOG $0x1
	fnclex
	EXIT 0

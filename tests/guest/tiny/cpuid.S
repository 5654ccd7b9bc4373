/*
 * The guest's CPUID shows no KVM signature at 0x40000000 nor at 0x40000100
 * (where QEMU puts it when it also shows Hyper-V): Linux would take the
 * hypervisor for KVM (docs/pvm.md).
 */
#include "common.S"
	.code64
	.globl _start
_start:
	mov $0x40000000, %eax
	xor %ecx, %ecx
	cpuid
	LOG %ebx
	LOG %ecx
	LOG %edx
	mov $0x40000100, %eax
	xor %ecx, %ecx
	cpuid
	LOG %ebx
	LOG %ecx
	LOG %edx
	EXIT 0

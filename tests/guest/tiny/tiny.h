/*
 * Shared definitions for the tiny test guests (freestanding x86-64 code,
 * entered in 64-bit mode with identity-mapped page tables, RSP set, and
 * interrupts off) and their harness, tests/guest/test_tiny.c.
 *
 * A guest reports values by writing them to TINY_PORT_LOG (32-bit out) and
 * ends by writing a status to TINY_PORT_EXIT (0 = the guest saw nothing
 * wrong). The harness checks the log against what it expects.
 */
#define TINY_LOAD_ADDR 0x100000
#define TINY_STACK_TOP 0x80000
#define TINY_IDT_ADDR 0x70000
#define TINY_PORT_LOG 0xE0
#define TINY_PORT_ECHO 0xE8   /* reads return the last value written */
#define TINY_PORT_EXIT 0xE4
#define TINY_MMIO_BASE 0xD0000000
#define TINY_MMIO_UNASSIGNED 0xD8000000
#define TINY_MSR_SYNTHETIC 0x40000001
#define TINY_MSR_UNKNOWN 0x400000FF
#define TINY_IRQ_VECTOR 0x40

/*
 * Shared definitions for the tiny test guests (freestanding x86-64 code,
 * entered in 64-bit mode with identity-mapped page tables, RSP set, and
 * interrupts off) and their harness, tests/guest/test_tiny.c.
 *
 * A guest reports values by writing them to TINY_PORT_LOG (32-bit out) and
 * ends by writing a status to TINY_PORT_EXIT (0 = the guest saw nothing
 * wrong). The harness checks the log against what it expects.
 */
#define TINY_LOAD_ADDR	     0x100000
#define TINY_STACK_TOP	     0x80000
#define TINY_IDT_ADDR	     0x70000
#define TINY_PORT_LOG	     0xE0
#define TINY_PORT_ECHO	     0xE8 /* reads return the last value written */
#define TINY_PORT_EXIT	     0xE4
#define TINY_PORT_SEQ	     0xEC /* saved-state guest: each read returns the next number */
#define TINY_STATE_COUNT     400  /* the saved-state guest counts 1..this */
#define TINY_MMIO_BASE	     0xD0000000
#define TINY_MMIO_UNASSIGNED 0xD8000000
#define TINY_MSR_SYNTHETIC   0x40000001
#define TINY_MSR_UNKNOWN     0x400000FF
#define TINY_IRQ_VECTOR	     0x40

/* The Hyper-V guest (hv.S) and its harness (test_tiny_hv.c). */
#define TINY_HV_HYPERCALL_PAGE 0x300000
#define TINY_HV_INPUT_PAGE     0x301000
#define TINY_HV_SIMP	       0x302000
#define TINY_HV_SIEFP	       0x303000
#define TINY_HV_TSC_PAGE       0x304000
#define TINY_HV_MSG_CONN       0x1    /* HvPostMessage target the harness registers */
#define TINY_HV_EVT_CONN       0x2001 /* HvSignalEvent target the harness registers */
#define TINY_HV_SINT	       2
#define TINY_HV_VECTOR	       0x50
#define TINY_HV_EVENT_FLAG     9
#define TINY_HV_READY	       0x5EAD1 /* logged: the harness posts two messages and an event */
#define TINY_HV_POSTED	       0xD0E   /* echoed back by the harness once it has */
#define TINY_HV_MSG_A	       0xA1A1A1A1
#define TINY_HV_MSG_B	       0xB2B2B2B2
/* The benchmark guest (hv_bench.S) and bench/hv_bench.c. */
#define TINY_HVB_START 0x5747
#define TINY_HVB_END   0xE4D
#define TINY_HVB_ACK   0xAC

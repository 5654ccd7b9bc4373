/*
 * The hypercall ABI (TLFS: "Hypercall Interface" — Hypercall Inputs,
 * Hypercall Outputs/Result Value, Hypercall Status Codes, and the
 * reference pages of HvCallPostMessage and HvCallSignalEvent).
 *
 * x64 register conventions (TLFS "Hypercall Inputs"):
 *   64-bit: RCX = input value (control), RDX = input GPA or fast input 1,
 *           R8 = output GPA or fast input 2; RAX <- result value.
 *   32-bit: EDX:EAX = input value, EBX:ECX = input GPA or fast input 1,
 *           EDI:ESI = output GPA or fast input 2; EDX:EAX <- result value.
 */
#pragma once

#include <stdint.h>

/* Hypercall input value ("control"). */
#define HV_HYPERCALL_CODE_MASK	     UINT64_C(0xFFFF)	 /* 15:0 call code */
#define HV_HYPERCALL_FAST	     (UINT64_C(1) << 16) /* register-based input */
#define HV_HYPERCALL_VARHEAD_SHIFT   17			 /* 26:17 variable header, qwords */
#define HV_HYPERCALL_VARHEAD_MASK    (UINT64_C(0x3FF) << 17)
#define HV_HYPERCALL_NESTED	     (UINT64_C(1) << 31) /* to the L0 hypervisor */
#define HV_HYPERCALL_REP_COUNT_SHIFT 32			 /* 43:32 rep count */
#define HV_HYPERCALL_REP_COUNT_MASK  (UINT64_C(0xFFF) << 32)
#define HV_HYPERCALL_REP_START_SHIFT 48 /* 59:48 rep start index */
#define HV_HYPERCALL_REP_START_MASK  (UINT64_C(0xFFF) << 48)
/* 30:27, 47:44 and 63:60 are RsvdZ; Parvis also treats the nested bit as reserved. */
#define HV_HYPERCALL_RESERVED                                                                      \
	(~(HV_HYPERCALL_CODE_MASK | HV_HYPERCALL_FAST | HV_HYPERCALL_VARHEAD_MASK |                \
	   HV_HYPERCALL_REP_COUNT_MASK | HV_HYPERCALL_REP_START_MASK))

/* Hypercall result value: 15:0 status, 43:32 reps completed, the rest reserved. */
#define HV_HYPERCALL_RESULT_REPS_SHIFT 32
#define HV_HYPERCALL_RESULT_REPS_MASK  (UINT64_C(0xFFF) << 32)

/* Input and output blocks are 8-byte aligned and may not cross a page. */
#define HV_HYPERCALL_ALIGN 8u

/* Call codes (TLFS Appendix A, "Hypercall Code Reference"). */
#define HVCALL_SWITCH_VIRTUAL_ADDRESS_SPACE 0x0001u
#define HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE  0x0002u
#define HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST   0x0003u
#define HVCALL_NOTIFY_LONG_SPIN_WAIT	    0x0008u
#define HVCALL_SEND_IPI			    0x000Bu
#define HVCALL_SEND_IPI_EX		    0x0015u
#define HVCALL_GET_PARTITION_ID		    0x0046u
#define HVCALL_POST_MESSAGE		    0x005Cu
#define HVCALL_SIGNAL_EVENT		    0x005Du
#define HVCALL_RETARGET_INTERRUPT	    0x007Eu
#define HVCALL_EXT_QUERY_CAPABILITIES	    0x8001u

/* HV_STATUS (TLFS Appendix B, "Hypercall Status Code Reference"). */
#define HV_STATUS_SUCCESS		  0x0000u
#define HV_STATUS_INVALID_HYPERCALL_CODE  0x0002u
#define HV_STATUS_INVALID_HYPERCALL_INPUT 0x0003u
#define HV_STATUS_INVALID_ALIGNMENT	  0x0004u
#define HV_STATUS_INVALID_PARAMETER	  0x0005u
#define HV_STATUS_ACCESS_DENIED		  0x0006u
#define HV_STATUS_INVALID_PARTITION_STATE 0x0007u
#define HV_STATUS_OPERATION_DENIED	  0x0008u
#define HV_STATUS_INSUFFICIENT_MEMORY	  0x000Bu
#define HV_STATUS_INVALID_VP_INDEX	  0x000Eu
#define HV_STATUS_NOT_FOUND		  0x0010u
#define HV_STATUS_INVALID_PORT_ID	  0x0011u
#define HV_STATUS_INVALID_CONNECTION_ID	  0x0012u
#define HV_STATUS_INSUFFICIENT_BUFFERS	  0x0013u
#define HV_STATUS_INVALID_SYNIC_STATE	  0x0018u
#define HV_STATUS_OBJECT_IN_USE		  0x0019u

/*
 * HvCallPostMessage input (call code 0x005C, simple, memory input only):
 * the message type is non-zero with bit 31 clear, the payload at most 240
 * bytes (HV_STATUS_INVALID_PARAMETER otherwise). Linux: struct
 * hv_input_post_message, drivers/hv/hyperv_vmbus.h.
 */
struct hv_input_post_message {
	uint32_t connection_id;
	uint32_t reserved; /* RsvdZ */
	uint32_t message_type;
	uint32_t payload_size;
	uint8_t payload[240];
};
_Static_assert(sizeof(struct hv_input_post_message) == 256, "HvCallPostMessage input (TLFS)");
_Static_assert(__builtin_offsetof(struct hv_input_post_message, payload) == 16, "TLFS layout");

/*
 * HvCallSignalEvent input (call code 0x005D, simple, usually fast: the 8
 * bytes arrive in RDX). Linux: vmbus_set_event, drivers/hv/connection.c.
 */
struct hv_input_signal_event {
	uint32_t connection_id;
	uint16_t flag_number;
	uint16_t reserved; /* RsvdZ */
};
_Static_assert(sizeof(struct hv_input_signal_event) == 8, "HvCallSignalEvent input (TLFS)");

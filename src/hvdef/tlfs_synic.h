/*
 * Synthetic interrupt controller pages (TLFS: "Inter-Partition
 * Communication" — SynIC Message Page (SIMP), SynIC Event Flags Page
 * (SIEFP), HV_MESSAGE, HV_MESSAGE_TYPE). Both pages hold one 256-byte
 * slot per SINT. Guest side: include/asm-generic/hyperv-tlfs.h,
 * drivers/hv/hyperv_vmbus.h.
 */
#pragma once

#include <stdint.h>

#include "hvdef/tlfs_msr.h"

/* HV_MESSAGE_TYPE: 0 marks a free slot; bit 31 set means a hypervisor message. */
#define HV_MESSAGE_TYPE_NONE		0x00000000u
#define HV_MESSAGE_TYPE_HYPERVISOR_MASK 0x80000000u
#define HV_MESSAGE_TYPE_TIMER_EXPIRED	0x80000010u
/* What VMBus puts in the header of its channel messages (drivers/hv/hyperv_vmbus.h). */
#define HV_MESSAGE_TYPE_VMBUS 1u

#define HV_MESSAGE_SIZE		 256u
#define HV_MESSAGE_PAYLOAD_BYTES 240u

/* message_flags: the host has more messages queued for this slot; write EOM after freeing it. */
#define HV_MESSAGE_FLAG_PENDING 0x01u

/* HV_MESSAGE_HEADER followed by the payload: one SIMP slot. */
struct hv_message {
	uint32_t message_type;
	uint8_t payload_size;
	uint8_t message_flags;
	uint8_t reserved[2];
	uint64_t sender; /* HV_PARTITION_ID or HV_PORT_ID; zero from Parvis */
	uint8_t payload[HV_MESSAGE_PAYLOAD_BYTES];
};
_Static_assert(sizeof(struct hv_message) == HV_MESSAGE_SIZE, "HV_MESSAGE is 256 bytes (TLFS)");
_Static_assert(__builtin_offsetof(struct hv_message, message_flags) == 5, "TLFS layout");
_Static_assert(__builtin_offsetof(struct hv_message, payload) == 16, "TLFS layout");

/* The SIMP: one message slot per SINT. */
struct hv_message_page {
	struct hv_message sint_message[HV_SINT_COUNT];
};
_Static_assert(sizeof(struct hv_message_page) == HV_PAGE_SIZE, "SIMP is one page (TLFS)");

/* The SIEFP: 2048 event flags per SINT. */
#define HV_EVENT_FLAGS_COUNT 2048u
#define HV_EVENT_FLAGS_BYTES (HV_EVENT_FLAGS_COUNT / 8)

struct hv_event_flags_page {
	uint8_t sint_flags[HV_SINT_COUNT][HV_EVENT_FLAGS_BYTES];
};
_Static_assert(sizeof(struct hv_event_flags_page) == HV_PAGE_SIZE, "SIEFP is one page (TLFS)");

/* HV_CONNECTION_ID: 24 bits of id, 8 reserved (drivers/hv/hyperv_vmbus.h hv_connection_id). */
#define HV_CONNECTION_ID_MASK 0x00FFFFFFu

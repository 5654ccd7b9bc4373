/*
 * VMBus wire formats: the channel-management messages carried in SynIC
 * message payloads, the ring-buffer header shared with the guest, and the
 * packet descriptors inside the rings.
 *
 * Sources (read, not copied): the guest side in Linux 6.1,
 * include/linux/hyperv.h (struct vmbus_channel_*, struct hv_ring_buffer,
 * struct vmpacket_descriptor, struct gpa_range), drivers/hv/hyperv_vmbus.h
 * (connection ids), drivers/hv/connection.c (version table),
 * drivers/hv/channel_mgmt.c (minimum payload lengths the guest checks);
 * OpenVMM vm/devices/vmbus/vmbus_core/src/protocol.rs for the host's view.
 * All fields little-endian; structures packed by construction (every field
 * naturally aligned) and checked with _Static_assert. No bitfields: flag
 * bits are named constants.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/guid.h"

/* SynIC message type of every VMBus control message (HvPostMessage and host->guest). */
#define VMBUS_SYNIC_MESSAGE_TYPE 1u
/* A SynIC message payload is at most 240 bytes (TLFS HV_MESSAGE_PAYLOAD_BYTE_COUNT). */
#define VMBUS_MESSAGE_MAX_SIZE 240u

/* Connection ids (hyperv_vmbus.h). */
#define VMBUS_MESSAGE_CONNECTION_ID   1u /* messages, versions < 5.0 and after VERSION_RESPONSE */
#define VMBUS_EVENT_CONNECTION_ID     2u /* legacy shared event (not used: dedicated interrupts) */
#define VMBUS_MONITOR_CONNECTION_ID   3u
#define VMBUS_MESSAGE_CONNECTION_ID_4 4u /* INITIATE_CONTACT for versions >= 5.0 */
#define VMBUS_MESSAGE_SINT	      2u /* SINT of control messages and channel events */
/* Event flags per SINT (2048 bits per 256-byte SIEFP slot): relids are 1..2047. */
#define VMBUS_MAX_RELID 2047u

/* Protocol versions, major << 16 | minor (hyperv.h VERSION_*). */
#define VMBUS_VERSION(major, minor) ((uint32_t)(major) << 16 | (uint32_t)(minor))
#define VMBUS_VERSION_WIN8	    VMBUS_VERSION(2, 4)
#define VMBUS_VERSION_WIN8_1	    VMBUS_VERSION(3, 0)
#define VMBUS_VERSION_WIN10	    VMBUS_VERSION(4, 0)
#define VMBUS_VERSION_WIN10_V4_1    VMBUS_VERSION(4, 1)
#define VMBUS_VERSION_WIN10_V5	    VMBUS_VERSION(5, 0)
#define VMBUS_VERSION_WIN10_V5_1    VMBUS_VERSION(5, 1)
#define VMBUS_VERSION_WIN10_V5_2    VMBUS_VERSION(5, 2)
#define VMBUS_VERSION_WIN10_V5_3    VMBUS_VERSION(5, 3)

/* Channel message types (hyperv.h enum vmbus_channel_message_type). */
enum vmbus_msgtype {
	VMBUS_MSG_INVALID = 0,
	VMBUS_MSG_OFFERCHANNEL = 1,
	VMBUS_MSG_RESCIND_CHANNELOFFER = 2,
	VMBUS_MSG_REQUESTOFFERS = 3,
	VMBUS_MSG_ALLOFFERS_DELIVERED = 4,
	VMBUS_MSG_OPENCHANNEL = 5,
	VMBUS_MSG_OPENCHANNEL_RESULT = 6,
	VMBUS_MSG_CLOSECHANNEL = 7,
	VMBUS_MSG_GPADL_HEADER = 8,
	VMBUS_MSG_GPADL_BODY = 9,
	VMBUS_MSG_GPADL_CREATED = 10,
	VMBUS_MSG_GPADL_TEARDOWN = 11,
	VMBUS_MSG_GPADL_TORNDOWN = 12,
	VMBUS_MSG_RELID_RELEASED = 13,
	VMBUS_MSG_INITIATE_CONTACT = 14,
	VMBUS_MSG_VERSION_RESPONSE = 15,
	VMBUS_MSG_UNLOAD = 16,
	VMBUS_MSG_UNLOAD_RESPONSE = 17,
	VMBUS_MSG_TL_CONNECT_REQUEST = 21,
	VMBUS_MSG_MODIFYCHANNEL = 22,
	VMBUS_MSG_TL_CONNECT_RESULT = 23,
	VMBUS_MSG_MODIFYCHANNEL_RESPONSE = 24,
	VMBUS_MSG_COUNT = 25, /* Linux 6.1 drops anything >= this with a warning */
};

/* Every message starts with this header (struct vmbus_channel_message_header). */
struct vmbus_msg_header {
	uint32_t msgtype; /* enum vmbus_msgtype */
	uint32_t padding;
};
_Static_assert(sizeof(struct vmbus_msg_header) == 8, "vmbus_msg_header");

/* INITIATE_CONTACT (14), guest -> host (struct vmbus_channel_initiate_contact). */
struct vmbus_msg_initiate_contact {
	struct vmbus_msg_header header;
	uint32_t vmbus_version_requested;
	uint32_t target_vcpu; /* VP index the host sends control messages to */
	/*
	 * < 5.0: GPA of the guest's interrupt page (u64). >= 5.0: byte 0 is the
	 * SINT the guest takes messages on (always 2 for Linux), rest zero.
	 */
	uint64_t interrupt_page_or_sint;
	uint64_t monitor_page1; /* parent -> child monitor page */
	uint64_t monitor_page2; /* child -> parent monitor page */
};
_Static_assert(sizeof(struct vmbus_msg_initiate_contact) == 40, "initiate_contact");

/* VERSION_RESPONSE (15), host -> guest. Linux drops it if shorter than 16 bytes. */
struct vmbus_msg_version_response {
	struct vmbus_msg_header header;
	uint8_t version_supported; /* 0 = refused: the guest tries its next version */
	uint8_t connection_state;  /* 0 = successful */
	uint16_t padding;
	uint32_t msg_conn_id; /* >= 5.0: connection id of every later guest message */
};
_Static_assert(sizeof(struct vmbus_msg_version_response) == 16, "version_response");

/* Offer flags (hyperv.h VMBUS_CHANNEL_*). */
#define VMBUS_OFFER_FLAG_ENUMERATE_DEVICE_INTERFACE	0x0001u
#define VMBUS_OFFER_FLAG_NAMED_PIPE_MODE		0x0010u
#define VMBUS_OFFER_FLAG_REQUEST_MONITORED_NOTIFICATION 0x0400u
#define VMBUS_OFFER_FLAG_TLNPI_PROVIDER			0x2000u
/* Pipe modes (offer user_def bytes 0-3 when NAMED_PIPE_MODE). */
#define VMBUS_PIPE_TYPE_BYTE	       0x0u
#define VMBUS_PIPE_TYPE_MESSAGE	       0x4u
#define VMBUS_OFFER_USER_DEFINED_BYTES 120u

/* The offer proper (struct vmbus_channel_offer), 176 bytes. */
struct vmbus_channel_offer {
	struct guid if_type;	 /* device class: what the guest matches drivers on */
	struct guid if_instance; /* this device */
	uint32_t reserved[4];	 /* two u64 in Linux; u32 here so the message packs to 196 bytes */
	uint16_t chn_flags;	 /* VMBUS_OFFER_FLAG_* */
	uint16_t mmio_megabytes;
	uint8_t user_def[VMBUS_OFFER_USER_DEFINED_BYTES]; /* pipe: u32 pipe_mode, then 116 bytes */
	uint16_t sub_channel_index;			  /* 0 = primary channel (since Win8) */
	uint16_t reserved3;
};
_Static_assert(sizeof(struct vmbus_channel_offer) == 176, "vmbus_channel_offer");

/* Offer byte 189 bit 0 and bytes 190-191 bit 0 (bitfields in Linux). */
#define VMBUS_OFFER_MONITOR_ALLOCATED	0x01u
#define VMBUS_OFFER_DEDICATED_INTERRUPT 0x0001u
#define VMBUS_OFFER_NO_MONITOR_ID	0xFFu

/* OFFERCHANNEL (1), host -> guest (struct vmbus_channel_offer_channel). */
struct vmbus_msg_offer_channel {
	struct vmbus_msg_header header;
	struct vmbus_channel_offer offer;
	uint32_t child_relid; /* 1..2047: event flag number and channel id */
	uint8_t monitorid;
	uint8_t monitor_flags;	  /* VMBUS_OFFER_MONITOR_ALLOCATED */
	uint16_t interrupt_flags; /* VMBUS_OFFER_DEDICATED_INTERRUPT */
	uint32_t connection_id;	  /* what the guest passes to HvSignalEvent */
};
_Static_assert(offsetof(struct vmbus_msg_offer_channel, child_relid) == 184, "offer relid");
_Static_assert(sizeof(struct vmbus_msg_offer_channel) == 196, "offer_channel");

/* RESCIND_CHANNELOFFER (2) host -> guest; RELID_RELEASED (13) guest -> host;
 * CLOSECHANNEL (7) guest -> host: a relid only. */
struct vmbus_msg_relid {
	struct vmbus_msg_header header;
	uint32_t child_relid;
};
_Static_assert(sizeof(struct vmbus_msg_relid) == 12, "vmbus_msg_relid");

/* OPENCHANNEL (5), guest -> host (struct vmbus_channel_open_channel). */
struct vmbus_msg_open_channel {
	struct vmbus_msg_header header;
	uint32_t child_relid;
	uint32_t openid;			   /* echoed in the result (Linux: = relid) */
	uint32_t ringbuffer_gpadlhandle;	   /* both rings, guest->host first */
	uint32_t target_vp;			   /* VP index for this channel's interrupts */
	uint32_t downstream_ringbuffer_pageoffset; /* first page of the host->guest ring */
	uint8_t userdata[VMBUS_OFFER_USER_DEFINED_BYTES];
};
_Static_assert(sizeof(struct vmbus_msg_open_channel) == 148, "open_channel");

/* OPENCHANNEL_RESULT (6), host -> guest. status 0 = opened; else the guest fails with -EAGAIN. */
struct vmbus_msg_open_result {
	struct vmbus_msg_header header;
	uint32_t child_relid;
	uint32_t openid;
	uint32_t status;
};
_Static_assert(sizeof(struct vmbus_msg_open_result) == 20, "open_result");

/* GPA range (struct gpa_range): byte_offset into the first page, then one PFN per page. */
struct vmbus_gpa_range {
	uint32_t byte_count;
	uint32_t byte_offset;
	/* uint64_t pfn_array[] follows */
};
_Static_assert(sizeof(struct vmbus_gpa_range) == 8, "gpa_range");

/* GPADL_HEADER (8), guest -> host (struct vmbus_channel_gpadl_header). */
struct vmbus_msg_gpadl_header {
	struct vmbus_msg_header header;
	uint32_t child_relid;
	uint32_t gpadl;	       /* guest-chosen handle (Linux counts from 0xE1E10) */
	uint16_t range_buflen; /* bytes of all ranges with their PFNs */
	uint16_t rangecount;
	/* struct vmbus_gpa_range ranges[] follow, continued in GPADL_BODY messages */
};
_Static_assert(sizeof(struct vmbus_msg_gpadl_header) == 20, "gpadl_header");

/* GPADL_BODY (9), guest -> host: more PFNs (msgnumber is not filled in by Linux). */
struct vmbus_msg_gpadl_body {
	struct vmbus_msg_header header;
	uint32_t msgnumber;
	uint32_t gpadl;
	/* uint64_t pfn[] follow */
};
_Static_assert(sizeof(struct vmbus_msg_gpadl_body) == 16, "gpadl_body");

/* GPADL_CREATED (10), host -> guest. creation_status 0 = ok. */
struct vmbus_msg_gpadl_created {
	struct vmbus_msg_header header;
	uint32_t child_relid;
	uint32_t gpadl;
	uint32_t creation_status;
};
_Static_assert(sizeof(struct vmbus_msg_gpadl_created) == 20, "gpadl_created");

/* GPADL_TEARDOWN (11), guest -> host. */
struct vmbus_msg_gpadl_teardown {
	struct vmbus_msg_header header;
	uint32_t child_relid;
	uint32_t gpadl;
};
_Static_assert(sizeof(struct vmbus_msg_gpadl_teardown) == 16, "gpadl_teardown");

/* GPADL_TORNDOWN (12), host -> guest. */
struct vmbus_msg_gpadl_torndown {
	struct vmbus_msg_header header;
	uint32_t gpadl;
};
_Static_assert(sizeof(struct vmbus_msg_gpadl_torndown) == 12, "gpadl_torndown");

/* MODIFYCHANNEL (22), guest -> host: retarget a channel's interrupts. */
struct vmbus_msg_modifychannel {
	struct vmbus_msg_header header;
	uint32_t child_relid;
	uint32_t target_vp;
};
_Static_assert(sizeof(struct vmbus_msg_modifychannel) == 16, "modifychannel");

/* MODIFYCHANNEL_RESPONSE (24), host -> guest, protocol 5.3 only. */
struct vmbus_msg_modifychannel_response {
	struct vmbus_msg_header header;
	uint32_t child_relid;
	uint32_t status;
};
_Static_assert(sizeof(struct vmbus_msg_modifychannel_response) == 16, "modify_response");

/* TL_CONNECT_REQUEST (21), guest -> host: hv_sock connect (not supported here). */
struct vmbus_msg_tl_connect_request {
	struct vmbus_msg_header header;
	struct guid guest_endpoint_id;
	struct guid host_service_id;
};
_Static_assert(sizeof(struct vmbus_msg_tl_connect_request) == 40, "tl_connect_request");

/* NT status values the host puts in creation_status / open status. */
#define VMBUS_STATUS_SUCCESS	  0u
#define VMBUS_STATUS_UNSUCCESSFUL 0xC0000001u

/*
 * Ring buffer header: the first 4 KiB page of each ring (struct
 * hv_ring_buffer). Indices are byte offsets into the data area that
 * follows the header page. The writer owns write_index, the reader owns
 * read_index; interrupt_mask is set by the reader while it drains;
 * pending_send_sz by a writer waiting for that much free space.
 */
struct vmbus_ring_header {
	uint32_t write_index;
	uint32_t read_index;
	uint32_t interrupt_mask;
	uint32_t pending_send_sz;
	uint32_t reserved1[12];
	uint32_t feature_bits; /* VMBUS_RING_FEAT_PENDING_SEND_SZ */
	uint8_t reserved2[4096 - 68];
};
_Static_assert(offsetof(struct vmbus_ring_header, feature_bits) == 64, "ring feature bits");
_Static_assert(sizeof(struct vmbus_ring_header) == 4096, "vmbus_ring_header");

#define VMBUS_RING_FEAT_PENDING_SEND_SZ 0x1u
#define VMBUS_RING_HEADER_SIZE		4096u
/* After each packet: (u64)old_write_index << 32, informational (ring_buffer.c). */
#define VMBUS_PACKET_TRAILER_SIZE 8u

/* Packet types (hyperv.h enum vmbus_packet_type). */
enum vmbus_packet_type {
	VMBUS_PKT_INVALID = 0x0,
	VMBUS_PKT_SYNCH = 0x1,
	VMBUS_PKT_ADD_XFER_PAGESET = 0x2,
	VMBUS_PKT_RM_XFER_PAGESET = 0x3,
	VMBUS_PKT_ESTABLISH_GPADL = 0x4,
	VMBUS_PKT_TEARDOWN_GPADL = 0x5,
	VMBUS_PKT_DATA_INBAND = 0x6,
	VMBUS_PKT_DATA_USING_XFER_PAGES = 0x7,
	VMBUS_PKT_DATA_USING_GPADL = 0x8,
	VMBUS_PKT_DATA_USING_GPA_DIRECT = 0x9,
	VMBUS_PKT_CANCEL_REQUEST = 0xA,
	VMBUS_PKT_COMP = 0xB,
	VMBUS_PKT_DATA_USING_ADDITIONAL_PKT = 0xC,
	VMBUS_PKT_ADDITIONAL_DATA = 0xD,
};

#define VMBUS_PKT_FLAG_COMPLETION_REQUESTED 0x1u

/* Packet descriptor (struct vmpacket_descriptor): lengths in units of 8 bytes. */
struct vmbus_packet_desc {
	uint16_t type;	  /* enum vmbus_packet_type */
	uint16_t offset8; /* header length / 8: where the payload starts */
	uint16_t len8;	  /* descriptor + payload length / 8, trailer excluded */
	uint16_t flags;	  /* VMBUS_PKT_FLAG_* */
	uint64_t trans_id;
};
_Static_assert(sizeof(struct vmbus_packet_desc) == 16, "vmbus_packet_desc");

/* GPA-direct packet header after the descriptor (struct vmdata_gpa_direct). */
struct vmbus_gpa_direct_header {
	uint32_t reserved;
	uint32_t range_cnt;
	/* struct vmbus_gpa_range ranges[] follow */
};
_Static_assert(sizeof(struct vmbus_gpa_direct_header) == 8, "gpa_direct");

/* Transfer-page packet header after the descriptor (struct vmtransfer_page_packet_header). */
struct vmbus_xfer_page_header {
	uint16_t xfer_pageset_id;
	uint8_t sender_owns_set;
	uint8_t reserved;
	uint32_t range_cnt;
	/* struct { u32 byte_count, byte_offset; } ranges[] follow */
};
_Static_assert(sizeof(struct vmbus_xfer_page_header) == 8, "xfer_page");

/*
 * Pipe header at the start of each in-band payload on channels offered
 * in pipe mode (the integration services): OpenVMM vmbus_ring PipeHeader;
 * Linux's struct vmbuspipe_hdr {flags, msgsize}.
 */
struct vmbus_pipe_header {
	uint32_t packet_type; /* VMBUS_PIPE_PACKET_DATA */
	uint32_t len;	      /* bytes of data after this header */
};
_Static_assert(sizeof(struct vmbus_pipe_header) == 8, "vmbus_pipe_header");

#define VMBUS_PIPE_PACKET_DATA 1u

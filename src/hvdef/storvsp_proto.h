/*
 * The synthetic SCSI controller's VMBus protocol (storvsp/storvsc): what
 * travels inside a storage channel. Every message is a 64-byte
 * vstor_packet; SCSI commands are EXECUTE_SRB packets carrying a
 * vmscsi_request (a Windows SCSI_REQUEST_BLOCK flattened for the wire),
 * in-band when there is no data, else VMBUS_PKT_DATA_USING_GPA_DIRECT with
 * one multi-page range describing the guest buffer.
 *
 * Sources (read, not copied): Linux 6.1 drivers/scsi/storvsc_drv.c (enum
 * vstor_packet_operation, struct vmscsi_request, struct
 * vmstorage_channel_properties, struct vmstorage_protocol_version, struct
 * vstor_packet, the SRB_FLAGS_* and SRB_STATUS_* values, the protocol
 * versions), include/linux/hyperv.h (HV_SCSI_GUID); notes in
 * shared/research/STORAGE-PROTOCOLS.md parts A and B. Little-endian, no
 * bitfields, sizes asserted.
 */
#pragma once

#include <stdint.h>

/* Interface type of a synthetic SCSI controller (hyperv.h HV_SCSI_GUID). */
#define STORVSP_SCSI_CLASS_GUID "ba6163d9-04a1-4d29-b605-72e2ffb1dc7f"
/*
 * Hyper-V's IDE device class: a generation 1 VM's IDE disks are also offered over VMBus, one
 * device each (Linux: drivers/scsi/storvsc_drv.c, HV_IDE_GUID in include/linux/hyperv.h; the
 * guest adds the one disk at path 0, target dev_instance.b[5] << 8 | b[4], LUN 0).
 */
#define STORVSP_IDE_CLASS_GUID "32412632-86cb-44a2-9b5c-50d1417354f5"

/* Protocol versions: major << 8 | minor (storvsc_drv.c VMSTOR_PROTO_VERSION). */
#define VMSTOR_PROTO_VERSION(major, minor) ((uint16_t)(((major)&0xff) << 8 | ((minor)&0xff)))
#define VMSTOR_PROTO_VERSION_WIN6	   VMSTOR_PROTO_VERSION(2, 0) /* Windows Server 2008 */
#define VMSTOR_PROTO_VERSION_WIN7	   VMSTOR_PROTO_VERSION(4, 2)
#define VMSTOR_PROTO_VERSION_WIN8	   VMSTOR_PROTO_VERSION(5, 1)
#define VMSTOR_PROTO_VERSION_WIN8_1	   VMSTOR_PROTO_VERSION(6, 0) /* "Blue" */
#define VMSTOR_PROTO_VERSION_WIN10	   VMSTOR_PROTO_VERSION(6, 2) /* what Linux 6.1 tries first */

/* enum vstor_packet_operation (storvsc_drv.c). */
enum vstor_operation {
	VSTOR_OPERATION_COMPLETE_IO = 1,	    /* host -> guest: every completion */
	VSTOR_OPERATION_REMOVE_DEVICE = 2,	    /* host -> guest: Linux rescans, like 11 */
	VSTOR_OPERATION_EXECUTE_SRB = 3,	    /* a SCSI command */
	VSTOR_OPERATION_RESET_LUN = 4,		    /* not sent by Linux 6.1 */
	VSTOR_OPERATION_RESET_ADAPTER = 5,	    /* not sent by Linux 6.1 */
	VSTOR_OPERATION_RESET_BUS = 6,		    /* SCSI error handling's host reset */
	VSTOR_OPERATION_BEGIN_INITIALIZATION = 7,   /* first step of the handshake */
	VSTOR_OPERATION_END_INITIALIZATION = 8,	    /* the device is usable */
	VSTOR_OPERATION_QUERY_PROTOCOL_VERSION = 9, /* one try per version, newest first */
	VSTOR_OPERATION_QUERY_PROPERTIES = 10,	    /* answer: vmstorage_channel_properties */
	VSTOR_OPERATION_ENUMERATE_BUS = 11,	    /* host -> guest: rescan (hot add/remove) */
	VSTOR_OPERATION_FCHBA_DATA = 12,	    /* Fibre Channel only */
	VSTOR_OPERATION_CREATE_SUB_CHANNELS = 13,   /* payload: u16 count */
};

/* vstor_packet.flags: the guest wants a completion (always set by Linux). */
#define VSTOR_REQUEST_COMPLETION_FLAG 0x1u

/* NTSTATUS values in vstor_packet.status (any non-zero fails the step for Linux). */
#define VSTOR_STATUS_SUCCESS		  0x00000000u
#define VSTOR_STATUS_REVISION_MISMATCH	  0xC0000059u /* version refused: Linux tries the next */
#define VSTOR_STATUS_INVALID_DEVICE_STATE 0xC0000184u /* operation out of order */
#define VSTOR_STATUS_INVALID_PARAMETER	  0xC000000Du /* e.g. a bad sub-channel count */
#define VSTOR_STATUS_UNSUCCESSFUL	  0xC0000001u

/* vmscsi_request.data_in (storvsc_drv.c enum storvsc_request_type). */
#define VSTOR_WRITE_TYPE   0 /* guest -> device */
#define VSTOR_READ_TYPE	   1 /* device -> guest */
#define VSTOR_UNKNOWN_TYPE 2 /* no data */

/* vmscsi_request.srb_flags (storvsc_drv.c SRB_FLAGS_*; Linux sets the first group). */
#define SRB_FLAGS_QUEUE_ACTION_ENABLE	 0x00000002u
#define SRB_FLAGS_DISABLE_DISCONNECT	 0x00000004u
#define SRB_FLAGS_DISABLE_SYNCH_TRANSFER 0x00000008u
#define SRB_FLAGS_BYPASS_FROZEN_QUEUE	 0x00000010u
#define SRB_FLAGS_DISABLE_AUTOSENSE	 0x00000020u
#define SRB_FLAGS_DATA_IN		 0x00000040u
#define SRB_FLAGS_DATA_OUT		 0x00000080u
#define SRB_FLAGS_NO_QUEUE_FREEZE	 0x00000100u
#define SRB_FLAGS_ADAPTER_CACHE_ENABLE	 0x00000200u
#define SRB_FLAGS_FREE_SENSE_BUFFER	 0x00000400u
#define SRB_FLAGS_D3_PROCESSING		 0x00000800u

/*
 * vmscsi_request.srb_status: bits 0-5 a code, bit 6 QUEUE_FROZEN, bit 7
 * AUTOSENSE_VALID (sense_data holds sense). Linux compares the whole byte
 * with SUCCESS (0x81 is not success) and honours data_transfer_length
 * only for SUCCESS and DATA_OVERRUN (storvsc_command_completion);
 * INVALID_LUN makes it remove the device (storvsc_handle_error).
 */
#define SRB_STATUS_PENDING	   0x00
#define SRB_STATUS_SUCCESS	   0x01
#define SRB_STATUS_ABORTED	   0x02
#define SRB_STATUS_ERROR	   0x04
#define SRB_STATUS_BUSY		   0x05
#define SRB_STATUS_INVALID_REQUEST 0x06
#define SRB_STATUS_NO_DEVICE	   0x08
#define SRB_STATUS_DATA_OVERRUN	   0x12
#define SRB_STATUS_INVALID_LUN	   0x20
#define SRB_STATUS_QUEUE_FROZEN	   0x40
#define SRB_STATUS_AUTOSENSE_VALID 0x80

/* Sizes (storvsc_drv.c STORVSC_MAX_CMD_LEN, STORVSC_SENSE_BUFFER_SIZE). */
#define VSTOR_MAX_CDB_LEN 16
#define VSTOR_SENSE_LEN	  20

/*
 * struct vmscsi_request (storvsc_drv.c), 52 bytes since Win8 (the last 16
 * bytes are the Win8 extension; pre-Win8 requests are 36 bytes). On a
 * request, cdb; on a completion, sense_data in the same place.
 */
struct vmscsi_request {
	uint16_t length; /* 52 */
	uint8_t srb_status;
	uint8_t scsi_status; /* SAM status: 0 GOOD, 2 CHECK CONDITION */
	uint8_t port_number;
	uint8_t path_id;   /* SCSI channel 0..7 */
	uint8_t target_id; /* 0..1 */
	uint8_t lun;
	uint8_t cdb_length;
	uint8_t sense_info_length; /* request: room (20); completion: bytes valid */
	uint8_t data_in;	   /* VSTOR_*_TYPE */
	uint8_t reserved;
	uint32_t data_transfer_length; /* request: buffer bytes; completion: bytes moved */
	uint8_t cdb_or_sense[20];      /* union { cdb[16]; sense_data[20]; } */
	/* Win8 extension */
	uint16_t reserve;
	uint8_t queue_tag;    /* 0xFF untagged */
	uint8_t queue_action; /* 0x20 simple */
	uint32_t srb_flags;   /* SRB_FLAGS_* */
	uint32_t time_out_value;
	uint32_t queue_sort_key;
} __attribute__((packed));
_Static_assert(sizeof(struct vmscsi_request) == 52, "vmscsi_request");
#define VMSCSI_REQUEST_LEN_PRE_WIN8 36

/* struct vmstorage_channel_properties (storvsc_drv.c): the QUERY_PROPERTIES answer. */
struct vmstorage_channel_properties {
	uint32_t reserved;
	uint16_t max_channel_cnt; /* sub-channels the host will create at most */
	uint16_t reserved1;
	uint32_t flags; /* STORAGE_CHANNEL_SUPPORTS_MULTI_CHANNEL */
	uint32_t max_transfer_bytes;
	uint64_t reserved2;
} __attribute__((packed));
_Static_assert(sizeof(struct vmstorage_channel_properties) == 24, "channel_properties");
#define STORAGE_CHANNEL_SUPPORTS_MULTI_CHANNEL 0x1u

/* struct vmstorage_protocol_version (storvsc_drv.c). */
struct vmstorage_protocol_version {
	uint16_t major_minor; /* VMSTOR_PROTO_VERSION_* */
	uint16_t revision;    /* 0 from Linux */
} __attribute__((packed));
_Static_assert(sizeof(struct vmstorage_protocol_version) == 4, "protocol_version");

/* struct vstor_packet (storvsc_drv.c): 12-byte header and a 52-byte payload. */
struct vstor_packet {
	uint32_t operation; /* enum vstor_operation */
	uint32_t flags;	    /* VSTOR_REQUEST_COMPLETION_FLAG */
	uint32_t status;    /* NTSTATUS, host -> guest */
	union {
		struct vmscsi_request srb;
		struct vmstorage_channel_properties properties;
		struct vmstorage_protocol_version version;
		uint16_t sub_channel_count;
		uint8_t buffer[52];
	};
} __attribute__((packed));
_Static_assert(sizeof(struct vstor_packet) == 64, "vstor_packet");
#define VSTOR_PACKET_HEADER_LEN 12

/*
 * GPA-direct data packets (hyperv.h struct vmbus_channel_packet_multipage_buffer,
 * vmbus_sendpacket_mpb_desc): after the 16-byte descriptor and the 8-byte
 * vmbus_gpa_direct_header (vmbus_proto.h) come range_cnt ranges, each a
 * byte count, a byte offset into its first page, and the PFNs (4 KiB
 * pages) of the buffer; the vstor_packet starts at offset8 * 8.
 */
struct vstor_gpa_range {
	uint32_t byte_count;
	uint32_t byte_offset;
	/* uint64_t pfn_array[] follows */
} __attribute__((packed));
_Static_assert(sizeof(struct vstor_gpa_range) == 8, "gpa_range");
#define VSTOR_PAGE_SIZE 4096u

/*
 * Synthetic video (synthvid): the messages between the host's video VSP and
 * the guest's hyperv_fb (or hyperv_drm, or Windows' synthvid driver), carried
 * as in-band VMBus packets on a pipe-mode channel.
 *
 * Each packet's payload: struct vmbus_pipe_header (vmbus_proto.h, type 1 =
 * data, len = bytes after it), struct synthvid_msg_header, then the body.
 * Linux sets the synthvid header's size to 8 + body and reads only its type
 * from host messages.
 *
 * Sources (read, not copied): Linux 6.1 drivers/video/fbdev/hyperv_fb.c
 * (struct synthvid_msg and friends, what the guest sends and checks);
 * OpenVMM vm/devices/uidevices/src/video/protocol.rs (the Windows-only
 * messages). Research notes: shared/research/CONSOLE-PROTOCOLS.md section 2.
 * Little-endian, packed (the guest's own structs are __packed), sizes asserted.
 */
#pragma once

#include <stdint.h>

/* Class GUID hyperv_fb binds to; instance as OpenVMM's. */
#define SYNTHVID_CLASS_GUID    "da0a7802-e377-4aac-8e77-0558eb1073f8"
#define SYNTHVID_INSTANCE_GUID "5620e0c7-8062-4dce-aeb7-520c7ef76171"

/* Versions: major in the low 16 bits, minor in the high 16 (hyperv_fb.c SYNTHVID_VERSION). */
#define SYNTHVID_VERSION(major, minor) ((uint32_t)(minor) << 16 | (uint32_t)(major))
#define SYNTHVID_VERSION_WIN7	       SYNTHVID_VERSION(3, 0)
#define SYNTHVID_VERSION_WIN8	       SYNTHVID_VERSION(3, 2)
#define SYNTHVID_VERSION_WIN10	       SYNTHVID_VERSION(3, 5)
#define SYNTHVID_VERSION_MAJOR(v)      ((v)&0xFFFFu)
#define SYNTHVID_VERSION_MINOR(v)      ((v) >> 16)

enum synthvid_msg_type {
	SYNTHVID_ERROR = 0,
	SYNTHVID_VERSION_REQUEST = 1,
	SYNTHVID_VERSION_RESPONSE = 2,
	SYNTHVID_VRAM_LOCATION = 3,
	SYNTHVID_VRAM_LOCATION_ACK = 4,
	SYNTHVID_SITUATION_UPDATE = 5,
	SYNTHVID_SITUATION_UPDATE_ACK = 6,
	SYNTHVID_POINTER_POSITION = 7,
	SYNTHVID_POINTER_SHAPE = 8,
	SYNTHVID_FEATURE_CHANGE = 9,
	SYNTHVID_DIRT = 10,
	SYNTHVID_BIOS_INFO_REQUEST = 11,
	SYNTHVID_BIOS_INFO_RESPONSE = 12,
	SYNTHVID_RESOLUTION_REQUEST = 13,
	SYNTHVID_RESOLUTION_RESPONSE = 14,
	SYNTHVID_CAPABILITY_REQUEST = 15,
	SYNTHVID_CAPABILITY_RESPONSE = 16,
	SYNTHVID_MSG_TYPE_COUNT
};

struct synthvid_msg_header {
	uint32_t type; /* enum synthvid_msg_type */
	uint32_t size; /* header and body (Linux); OpenVMM sends the body's size */
} __attribute__((packed));
_Static_assert(sizeof(struct synthvid_msg_header) == 8, "synthvid_msg_header");

struct synthvid_version_req {
	uint32_t version;
} __attribute__((packed));
_Static_assert(sizeof(struct synthvid_version_req) == 4, "synthvid_version_req");

struct synthvid_version_resp {
	uint32_t version;	   /* the one asked for, echoed */
	uint8_t is_accepted;	   /* non-zero: accepted (hyperv_fb.c synthvid_negotiate_ver) */
	uint8_t max_video_outputs; /* 1 */
} __attribute__((packed));
_Static_assert(sizeof(struct synthvid_version_resp) == 6, "synthvid_version_resp");

#define SYNTHVID_EDID_SIZE	 128
#define SYNTHVID_MAX_RESOLUTIONS 64
struct synthvid_resolution {
	uint16_t width;
	uint16_t height;
} __attribute__((packed));
_Static_assert(sizeof(struct synthvid_resolution) == 4, "synthvid_resolution");

struct synthvid_resolution_req {
	uint8_t maximum_resolution_count;
} __attribute__((packed));
_Static_assert(sizeof(struct synthvid_resolution_req) == 1, "synthvid_resolution_req");

struct synthvid_resolution_resp {
	uint8_t edid_block[SYNTHVID_EDID_SIZE];
	uint8_t resolution_count;
	uint8_t default_resolution_index;
	uint8_t is_standard;
	struct synthvid_resolution supported_resolution[SYNTHVID_MAX_RESOLUTIONS];
} __attribute__((packed));
_Static_assert(sizeof(struct synthvid_resolution_resp) == 131 + 4 * SYNTHVID_MAX_RESOLUTIONS,
	       "synthvid_resolution_resp");

struct synthvid_vram_location {
	uint64_t user_ctx;	       /* echoed in the ack (Linux: the GPA) */
	uint8_t is_vram_gpa_specified; /* 0: no VRAM (unmapped) */
	uint64_t vram_gpa;
} __attribute__((packed));
_Static_assert(sizeof(struct synthvid_vram_location) == 17, "synthvid_vram_location");

struct synthvid_vram_location_ack {
	uint64_t user_ctx;
} __attribute__((packed));
_Static_assert(sizeof(struct synthvid_vram_location_ack) == 8, "synthvid_vram_location_ack");

struct synthvid_video_output_situation {
	uint8_t active;
	uint32_t vram_offset;
	uint8_t depth_bits;
	uint32_t width_pixels;
	uint32_t height_pixels;
	uint32_t pitch_bytes;
} __attribute__((packed));
_Static_assert(sizeof(struct synthvid_video_output_situation) == 18, "synthvid_output_situation");

/* Linux sends one output; the message has room for SYNTHVID_MAX_OUTPUTS (only the first is used).
 */
#define SYNTHVID_MAX_OUTPUTS 1
struct synthvid_situation_update {
	uint64_t user_ctx;
	uint8_t video_output_count;
	struct synthvid_video_output_situation video_output[SYNTHVID_MAX_OUTPUTS];
} __attribute__((packed));
_Static_assert(sizeof(struct synthvid_situation_update) == 27, "synthvid_situation_update");

struct synthvid_situation_update_ack {
	uint64_t user_ctx;
} __attribute__((packed));
_Static_assert(sizeof(struct synthvid_situation_update_ack) == 8, "synthvid_situation_ack");

struct synthvid_pointer_position {
	uint8_t is_visible;
	uint8_t video_output;
	int32_t image_x;
	int32_t image_y;
} __attribute__((packed));
_Static_assert(sizeof(struct synthvid_pointer_position) == 10, "synthvid_pointer_position");

#define SYNTHVID_CURSOR_MAX_X	 96
#define SYNTHVID_CURSOR_MAX_Y	 96
#define SYNTHVID_CURSOR_COMPLETE 0xFFu /* part_idx of the last (or only) part */
struct synthvid_pointer_shape {
	uint8_t part_idx;
	uint8_t is_argb;
	uint32_t width;
	uint32_t height;
	uint32_t hot_x;
	uint32_t hot_y;
	/* then pixel data: ARGB w*h*4 bytes, or monochrome AND+XOR masks ((w+7)/8)*h*2 */
} __attribute__((packed));
_Static_assert(sizeof(struct synthvid_pointer_shape) == 18, "synthvid_pointer_shape");
/* hyperv_fb.c declares data[4] after the fields: the 22 bytes CONSOLE-PROTOCOLS.md counts. */

struct synthvid_feature_change {
	uint8_t is_dirt_needed;
	uint8_t is_ptr_pos_needed;
	uint8_t is_ptr_shape_needed;
	uint8_t is_situ_needed;
} __attribute__((packed));
_Static_assert(sizeof(struct synthvid_feature_change) == 4, "synthvid_feature_change");

struct synthvid_rect {
	int32_t x1, y1; /* inclusive */
	int32_t x2, y2; /* exclusive */
} __attribute__((packed));
_Static_assert(sizeof(struct synthvid_rect) == 16, "synthvid_rect");

struct synthvid_dirt {
	uint8_t video_output;
	uint8_t dirt_count;
	/* then dirt_count struct synthvid_rect */
} __attribute__((packed));
_Static_assert(sizeof(struct synthvid_dirt) == 2, "synthvid_dirt");

/* The largest host -> guest packet hyperv_fb reads (MAX_VMBUS_PKT_SIZE); ours are far smaller. */
#define SYNTHVID_GUEST_MAX_PACKET 0x4000u

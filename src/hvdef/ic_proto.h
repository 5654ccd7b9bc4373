/*
 * Integration components (ICs): the wire format shared by heartbeat,
 * shutdown, time sync and key-value pair exchange, carried as in-band
 * VMBus packets on pipe-mode channels.
 *
 * Each packet's payload: struct vmbus_pipe_header (vmbus_proto.h), then
 * struct ic_msg_header, then the message body. The host starts with a
 * NEGOTIATE request listing framework and message versions; the guest
 * answers in the same buffer with one of each (or counts of 0).
 *
 * Sources (read, not copied): Linux 6.1 include/linux/hyperv.h (struct
 * icmsg_hdr, icmsg_negotiate, shutdown_msg_data, heartbeat_msg_data,
 * ictimesync_data, ictimesync_ref_data), include/uapi/linux/hyperv.h (KVP
 * messages, status codes), drivers/hv/hv_util.c and hv_kvp.c (what the
 * guest accepts); OpenVMM vm/devices/hyperv_ic_protocol (instance ids,
 * flag meanings). Little-endian, no bitfields, sizes asserted.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/guid.h"

/* Class (interface type) GUIDs the guest's hv_utils binds to; instance ids as OpenVMM's (heartbeat:
 * Parvis's own). */
#define IC_SHUTDOWN_CLASS_GUID	   "0e0b6031-5213-4934-818b-38d90ced39db"
#define IC_SHUTDOWN_INSTANCE_GUID  "b6650ff7-33bc-4840-8048-e0676786f393"
#define IC_TIMESYNC_CLASS_GUID	   "9527e630-d0ae-497b-adce-e80ab0175caf"
#define IC_TIMESYNC_INSTANCE_GUID  "2dd1ce17-079e-403c-b352-a1921ee207ee"
#define IC_HEARTBEAT_CLASS_GUID	   "57164f39-9115-4e78-ab55-382f3bd5422d"
#define IC_HEARTBEAT_INSTANCE_GUID "fedfe55d-1e0e-4ce6-a2c6-b1b5e9253bb8"
#define IC_KVP_CLASS_GUID	   "a9a0f4e7-5a45-4d96-b827-8a841e8c03e6"
#define IC_KVP_INSTANCE_GUID	   "242ff919-07db-4180-9c2e-b86cb68c8c55"

/* Versions: major << 16 | minor, as hv_util.c lists them. */
#define IC_VERSION(major, minor) ((uint32_t)(major) << 16 | (uint32_t)(minor))

struct ic_version {
	uint16_t major;
	uint16_t minor;
};
_Static_assert(sizeof(struct ic_version) == 4, "ic_version");

/* icmsg_hdr.icmsgtype */
enum ic_msgtype {
	IC_MSGTYPE_NEGOTIATE = 0,
	IC_MSGTYPE_HEARTBEAT = 1,
	IC_MSGTYPE_KVPEXCHANGE = 2,
	IC_MSGTYPE_SHUTDOWN = 3,
	IC_MSGTYPE_TIMESYNC = 4,
	IC_MSGTYPE_VSS = 5,
	IC_MSGTYPE_FCOPY = 7,
};

/* icmsg_hdr.icflags */
#define IC_FLAG_TRANSACTION 0x1u
#define IC_FLAG_REQUEST	    0x2u
#define IC_FLAG_RESPONSE    0x4u

/* Status codes (HRESULTs) in icmsg_hdr.status. */
#define IC_STATUS_OK		0x00000000u
#define IC_STATUS_FAIL		0x80004005u
#define IC_STATUS_NO_MORE_ITEMS 0x80070103u /* HV_S_CONT: end of a KVP enumeration */
#define IC_STATUS_NOT_SUPPORTED 0x80070032u
#define IC_STATUS_NOT_FOUND	0x80041002u

/* struct icmsg_hdr, after the pipe header. */
struct ic_msg_header {
	struct ic_version icverframe; /* framework version (negotiated) */
	uint16_t icmsgtype;	      /* enum ic_msgtype */
	struct ic_version icvermsg;   /* message version (negotiated) */
	uint16_t icmsgsize;	      /* bytes of body after this header */
	uint32_t status;	      /* IC_STATUS_*, set by the responder */
	uint8_t ictransaction_id;
	uint8_t icflags; /* IC_FLAG_* */
	uint8_t reserved[2];
};
_Static_assert(sizeof(struct ic_msg_header) == 20, "ic_msg_header");

/* Pipe header + IC header: the fixed prefix of every IC packet payload (Linux ICMSG_HDR). */
#define IC_PREFIX_SIZE (8u + sizeof(struct ic_msg_header))

/* NEGOTIATE body (struct icmsg_negotiate): counts, then framework versions, then message versions.
 */
struct ic_negotiate {
	uint16_t icframe_vercnt;
	uint16_t icmsg_vercnt;
	uint32_t reserved;
	/* struct ic_version versions[icframe_vercnt + icmsg_vercnt] follow */
};
_Static_assert(sizeof(struct ic_negotiate) == 8, "ic_negotiate");

/* The guest refuses more than this many versions of either kind (hyperv.h). */
#define IC_NEGOTIATE_MAX_VERSIONS 100u

/* HEARTBEAT body: the guest answers with seq_num + 1. Linux reads only seq_num. */
struct ic_heartbeat_msg {
	uint64_t seq_num;
	uint32_t reserved[8];
};
_Static_assert(sizeof(struct ic_heartbeat_msg) == 40, "ic_heartbeat_msg");

/* SHUTDOWN body (struct shutdown_msg_data). */
struct ic_shutdown_msg {
	uint32_t reason_code; /* IC_SHUTDOWN_REASON_PLANNED */
	uint32_t timeout_seconds;
	uint32_t flags;		       /* IC_SHUTDOWN_FLAG_* */
	uint8_t display_message[2048]; /* Parvis: UTF-16LE reason, NUL-terminated */
};
_Static_assert(sizeof(struct ic_shutdown_msg) == 2060, "ic_shutdown_msg");

#define IC_SHUTDOWN_FLAG_FORCE	   0x1u
#define IC_SHUTDOWN_FLAG_RESTART   0x2u
#define IC_SHUTDOWN_FLAG_HIBERNATE 0x4u
#define IC_SHUTDOWN_REASON_PLANNED 0x80000000u

/* Time: 100 ns units since 1601-01-01 UTC; this many of them before the Unix epoch. */
#define IC_TIME_UNIX_EPOCH_100NS UINT64_C(116444736000000000)

#define IC_TIMESYNC_FLAG_PROBE	0x0u
#define IC_TIMESYNC_FLAG_SYNC	0x1u /* the guest must set its clock (start, resume) */
#define IC_TIMESYNC_FLAG_SAMPLE 0x2u /* a sample the guest may use */

/* TIMESYNC body for message versions < 4.0 (struct ictimesync_data). */
struct ic_timesync_msg {
	uint64_t parenttime; /* host UTC, 100 ns since 1601 */
	uint64_t childtime;
	uint64_t roundtriptime;
	uint8_t flags;
	uint8_t reserved[7]; /* Linux reads 25 bytes; padded to the u64 alignment */
};
_Static_assert(sizeof(struct ic_timesync_msg) == 32, "ic_timesync_msg");

/* TIMESYNC body for version 4.0 (struct ictimesync_ref_data). */
struct ic_timesync_ref_msg {
	uint64_t parenttime;	  /* host UTC, 100 ns since 1601, sampled at... */
	uint64_t vmreferencetime; /* ...this partition reference time (100 ns) */
	uint8_t flags;
	uint8_t leapflags;
	uint8_t stratum;
	uint8_t reserved[5];
};
_Static_assert(sizeof(struct ic_timesync_ref_msg) == 24, "ic_timesync_ref_msg");

/* KVP (uapi hyperv.h). Keys and values travel as UTF-16LE with a NUL, sizes in bytes. */
#define IC_KVP_MAX_KEY_SIZE   512u
#define IC_KVP_MAX_VALUE_SIZE 2048u

enum ic_kvp_op {
	IC_KVP_OP_GET = 0,
	IC_KVP_OP_SET = 1,
	IC_KVP_OP_DELETE = 2,
	IC_KVP_OP_ENUMERATE = 3,
	IC_KVP_OP_GET_IP_INFO = 4,
	IC_KVP_OP_SET_IP_INFO = 5,
};

enum ic_kvp_pool {
	IC_KVP_POOL_EXTERNAL = 0,      /* written by the host, read by guest programs */
	IC_KVP_POOL_GUEST = 1,	       /* written by guest programs, read by the host */
	IC_KVP_POOL_AUTO = 2,	       /* the guest's intrinsic items (OS name, addresses) */
	IC_KVP_POOL_AUTO_EXTERNAL = 3, /* the host's intrinsic items (host name) */
	IC_KVP_POOL_AUTO_INTERNAL = 4,
	IC_KVP_POOL_COUNT = 5,
};

#define IC_KVP_REG_SZ  1u
#define IC_KVP_REG_U32 4u
#define IC_KVP_REG_U64 8u

/* struct hv_kvp_exchg_msg_value */
struct ic_kvp_value {
	uint32_t value_type; /* IC_KVP_REG_* */
	uint32_t key_size;   /* bytes, including the UTF-16 NUL */
	uint32_t value_size;
	uint8_t key[IC_KVP_MAX_KEY_SIZE];
	uint8_t value[IC_KVP_MAX_VALUE_SIZE];
};
_Static_assert(sizeof(struct ic_kvp_value) == 2572, "ic_kvp_value");

/*
 * struct hv_kvp_msg for GET/SET/DELETE/ENUMERATE: operation, pool, two
 * bytes of padding, then the body. SET/GET: the value at offset 4;
 * ENUMERATE: a u32 index at offset 4, the value at offset 8; DELETE: u32
 * key_size and the key at offset 4. Sized like the enumerate form, which
 * is the largest of the four (2580 bytes), as Hyper-V sends it.
 */
struct ic_kvp_msg {
	uint8_t operation; /* enum ic_kvp_op */
	uint8_t pool;	   /* enum ic_kvp_pool */
	uint16_t pad;
	union {
		struct ic_kvp_value value; /* GET, SET */
		struct {
			uint32_t index;
			struct ic_kvp_value value;
		} enumerate;
		struct {
			uint32_t key_size;
			uint8_t key[IC_KVP_MAX_KEY_SIZE];
		} del;
	} body;
};
_Static_assert(offsetof(struct ic_kvp_msg, body) == 4, "kvp body");
_Static_assert(sizeof(struct ic_kvp_msg) == 2580, "ic_kvp_msg");

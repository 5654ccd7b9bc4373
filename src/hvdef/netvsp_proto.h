/*
 * The synthetic NIC's VMBus protocols (netvsp/netvsc): NVSP, the Network
 * VSP protocol (versions, receive and send buffers, sub-channels, the send
 * indirection table), and RNDIS carried inside NVSP SEND_RNDIS_PKT
 * messages (initialize, query, set, indications, data packets with their
 * per-packet info).
 *
 * Sources (read, not copied): Linux 6.1 drivers/net/hyperv/hyperv_net.h
 * (struct nvsp_message and its members, the NVSP_* values, struct
 * rndis_*, struct ndis_offload, struct ndis_offload_params, struct
 * ndis_recv_scale_*), include/linux/rndis.h (message types, status codes,
 * OIDs); notes in shared/research/NETWORK-PROTOCOLS.md parts A and B.
 * Little-endian, no bitfields (bit positions are named instead), sizes
 * asserted.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Interface type of a synthetic NIC (hyperv.h HV_NIC_GUID). */
#define NETVSP_NIC_CLASS_GUID "f8615163-df3e-46c5-913f-f2d2f965ed0e"

/* --- NVSP (hyperv_net.h) --- */

/* Protocol versions: major << 16 | minor (NVSP_PROTOCOL_VERSION_*). */
#define NVSP_PROTOCOL_VERSION_1	 0x00000002u
#define NVSP_PROTOCOL_VERSION_2	 0x00030002u
#define NVSP_PROTOCOL_VERSION_4	 0x00040000u
#define NVSP_PROTOCOL_VERSION_5	 0x00050000u
#define NVSP_PROTOCOL_VERSION_6	 0x00060000u
#define NVSP_PROTOCOL_VERSION_61 0x00060001u

enum nvsp_msg_type {
	NVSP_MSG_TYPE_INIT = 1,
	NVSP_MSG_TYPE_INIT_COMPLETE = 2,
	NVSP_MSG1_TYPE_SEND_NDIS_VER = 100,
	NVSP_MSG1_TYPE_SEND_RECV_BUF = 101,
	NVSP_MSG1_TYPE_SEND_RECV_BUF_COMPLETE = 102,
	NVSP_MSG1_TYPE_REVOKE_RECV_BUF = 103,
	NVSP_MSG1_TYPE_SEND_SEND_BUF = 104,
	NVSP_MSG1_TYPE_SEND_SEND_BUF_COMPLETE = 105,
	NVSP_MSG1_TYPE_REVOKE_SEND_BUF = 106,
	NVSP_MSG1_TYPE_SEND_RNDIS_PKT = 107,
	NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE = 108,
	NVSP_MSG2_TYPE_SEND_NDIS_CONFIG = 125,
	NVSP_MSG4_TYPE_SEND_VF_ASSOCIATION = 128,
	NVSP_MSG4_TYPE_SWITCH_DATA_PATH = 129,
	NVSP_MSG5_TYPE_OID_QUERY_EX = 131,
	NVSP_MSG5_TYPE_OID_QUERY_EX_COMP = 132,
	NVSP_MSG5_TYPE_SUBCHANNEL = 133,
	NVSP_MSG5_TYPE_SEND_INDIRECTION_TABLE = 134,
	NVSP_MSG6_TYPE_PD_API = 135,
	NVSP_MSG6_TYPE_PD_POST_BATCH = 136,
};

enum nvsp_stat {
	NVSP_STAT_NONE = 0,
	NVSP_STAT_SUCCESS = 1,
	NVSP_STAT_FAIL = 2,
	NVSP_STAT_PROTOCOL_TOO_NEW = 3,
	NVSP_STAT_PROTOCOL_TOO_OLD = 4,
	NVSP_STAT_INVALID_RNDIS_PKT = 5,
	NVSP_STAT_BUSY = 6,
	NVSP_STAT_PROTOCOL_UNSUPPORTED = 7,
};

/*
 * Every NVSP message is this 40-byte struct (struct nvsp_message): a type and
 * a 36-byte body whose layout depends on the type. Shorter messages (the V1
 * 28-byte size) are zero-padded by the reader.
 */
#define NVSP_MESSAGE_SIZE 40u
#define NVSP_BODY_SIZE	  36u
struct nvsp_message {
	uint32_t msg_type;
	uint8_t body[NVSP_BODY_SIZE];
};
_Static_assert(sizeof(struct nvsp_message) == NVSP_MESSAGE_SIZE, "nvsp_message");

/* INIT (1): struct nvsp_message_init. */
struct nvsp_init {
	uint32_t msg_type;
	uint32_t min_protocol_ver;
	uint32_t max_protocol_ver;
};
_Static_assert(sizeof(struct nvsp_init) == 12, "nvsp_init");

/* INIT_COMPLETE (2): struct nvsp_message_init_complete. */
struct nvsp_init_complete {
	uint32_t msg_type;
	uint32_t negotiated_protocol_ver;
	uint32_t max_mdl_chain_len;
	uint32_t status;
};
_Static_assert(sizeof(struct nvsp_init_complete) == 16, "nvsp_init_complete");

/* SEND_NDIS_VER (100): struct nvsp_1_message_send_ndis_version. */
struct nvsp_send_ndis_ver {
	uint32_t msg_type;
	uint32_t ndis_major_ver;
	uint32_t ndis_minor_ver;
};
_Static_assert(sizeof(struct nvsp_send_ndis_ver) == 12, "nvsp_send_ndis_ver");

/* SEND_RECV_BUF (101) and SEND_SEND_BUF (104): struct nvsp_1_message_send_*_buffer. */
struct nvsp_send_buf {
	uint32_t msg_type;
	uint32_t gpadl_handle;
	uint16_t id; /* Linux: 0xCAFE for the receive buffer (the xfer pageset id), 0 for send */
	uint16_t reserved;
};
_Static_assert(sizeof(struct nvsp_send_buf) == 12, "nvsp_send_buf");
#define NETVSC_RECEIVE_BUFFER_ID 0xCAFEu
#define NETVSC_SEND_BUFFER_ID	 0u

/* A receive-buffer section (struct nvsp_1_receive_buffer_section). */
struct nvsp_recv_section {
	uint32_t offset;
	uint32_t sub_alloc_size;
	uint32_t num_sub_allocs;
	uint32_t end_offset;
};
_Static_assert(sizeof(struct nvsp_recv_section) == 16, "nvsp_recv_section");

/* SEND_RECV_BUF_COMPLETE (102): struct nvsp_1_message_send_receive_buffer_complete. */
struct nvsp_send_recv_buf_complete {
	uint32_t msg_type;
	uint32_t status;
	uint32_t num_sections;
	struct nvsp_recv_section section; /* Linux accepts exactly one */
};
_Static_assert(sizeof(struct nvsp_send_recv_buf_complete) == 28, "recv_buf_complete");

/* SEND_SEND_BUF_COMPLETE (105). */
struct nvsp_send_send_buf_complete {
	uint32_t msg_type;
	uint32_t status;
	uint32_t section_size;
};
_Static_assert(sizeof(struct nvsp_send_send_buf_complete) == 12, "send_buf_complete");

/* REVOKE_RECV_BUF (103) / REVOKE_SEND_BUF (106). */
struct nvsp_revoke_buf {
	uint32_t msg_type;
	uint16_t id;
	uint16_t reserved;
};
_Static_assert(sizeof(struct nvsp_revoke_buf) == 8, "nvsp_revoke_buf");

/* SEND_RNDIS_PKT (107): struct nvsp_1_message_send_rndis_packet. */
struct nvsp_send_rndis_pkt {
	uint32_t msg_type;
	uint32_t channel_type;		 /* NVSP_RNDIS_CHANNEL_* */
	uint32_t send_buf_section_index; /* NVSP_INVALID_SECTION_INDEX: none */
	uint32_t send_buf_section_size;	 /* bytes used in that section */
};
_Static_assert(sizeof(struct nvsp_send_rndis_pkt) == 16, "nvsp_send_rndis_pkt");
#define NVSP_RNDIS_CHANNEL_DATA	   0u
#define NVSP_RNDIS_CHANNEL_CONTROL 1u
#define NVSP_INVALID_SECTION_INDEX 0xFFFFFFFFu

/* SEND_RNDIS_PKT_COMPLETE (108). */
struct nvsp_send_rndis_pkt_complete {
	uint32_t msg_type;
	uint32_t status;
};
_Static_assert(sizeof(struct nvsp_send_rndis_pkt_complete) == 8, "rndis_pkt_complete");

/* SEND_NDIS_CONFIG (125): struct nvsp_2_send_ndis_config (packed: capability at 12). */
struct nvsp_send_ndis_config {
	uint32_t msg_type;
	uint32_t mtu; /* Linux: dev->mtu + ETH_HLEN */
	uint32_t reserved;
	uint8_t capability[8]; /* u64, unaligned: NDIS_CONFIG_CAP_* bits */
};
_Static_assert(sizeof(struct nvsp_send_ndis_config) == 20, "nvsp_send_ndis_config");
#define NDIS_CONFIG_CAP_SRIOV	(1u << 2)
#define NDIS_CONFIG_CAP_8021Q	(1u << 3)
#define NDIS_CONFIG_CAP_TEAMING (1u << 5)
#define NDIS_CONFIG_CAP_RSC	(1u << 7)

/* SUBCHANNEL (133): struct nvsp_5_subchannel_request / _complete. */
struct nvsp_subchannel_request {
	uint32_t msg_type;
	uint32_t op; /* NVSP_SUBCHANNEL_ALLOCATE */
	uint32_t num_subchannels;
};
_Static_assert(sizeof(struct nvsp_subchannel_request) == 12, "subchannel_request");
#define NVSP_SUBCHANNEL_ALLOCATE 1u
struct nvsp_subchannel_complete {
	uint32_t msg_type;
	uint32_t status;
	uint32_t num_subchannels; /* allocated */
};
_Static_assert(sizeof(struct nvsp_subchannel_complete) == 12, "subchannel_complete");

/*
 * SEND_INDIRECTION_TABLE (134), host -> guest: struct nvsp_5_send_indirect_table,
 * then `count` u32 channel indices at `offset` from the start of the message.
 */
#define NVSP_SEND_INDIRECTION_TABLE_ENTRIES 16u
struct nvsp_send_indirection_table {
	uint32_t msg_type;
	uint32_t count;	 /* must be 16 */
	uint32_t offset; /* of the table, from the start of the message */
	uint32_t table[NVSP_SEND_INDIRECTION_TABLE_ENTRIES];
};
_Static_assert(sizeof(struct nvsp_send_indirection_table) == 76, "send_indirection_table");

/* --- RNDIS (include/linux/rndis.h, hyperv_net.h) --- */

#define RNDIS_MSG_PACKET      0x00000001u
#define RNDIS_MSG_INIT	      0x00000002u
#define RNDIS_MSG_HALT	      0x00000003u
#define RNDIS_MSG_QUERY	      0x00000004u
#define RNDIS_MSG_SET	      0x00000005u
#define RNDIS_MSG_RESET	      0x00000006u
#define RNDIS_MSG_INDICATE    0x00000007u
#define RNDIS_MSG_KEEPALIVE   0x00000008u
#define RNDIS_MSG_COMPLETION  0x80000000u
#define RNDIS_MSG_INIT_C      (RNDIS_MSG_INIT | RNDIS_MSG_COMPLETION)
#define RNDIS_MSG_QUERY_C     (RNDIS_MSG_QUERY | RNDIS_MSG_COMPLETION)
#define RNDIS_MSG_SET_C	      (RNDIS_MSG_SET | RNDIS_MSG_COMPLETION)
#define RNDIS_MSG_RESET_C     (RNDIS_MSG_RESET | RNDIS_MSG_COMPLETION)
#define RNDIS_MSG_KEEPALIVE_C (RNDIS_MSG_KEEPALIVE | RNDIS_MSG_COMPLETION)

#define RNDIS_STATUS_SUCCESS	       0x00000000u
#define RNDIS_STATUS_FAILURE	       0xC0000001u
#define RNDIS_STATUS_NOT_SUPPORTED     0xC00000BBu
#define RNDIS_STATUS_INVALID_DATA      0xC0010015u
#define RNDIS_STATUS_BUFFER_OVERFLOW   0x80000005u
#define RNDIS_STATUS_MEDIA_CONNECT     0x4001000Bu
#define RNDIS_STATUS_MEDIA_DISCONNECT  0x4001000Cu
#define RNDIS_STATUS_LINK_SPEED_CHANGE 0x40010013u
#define RNDIS_STATUS_NETWORK_CHANGE    0x40010018u

/* OIDs (rndis.h). */
#define RNDIS_OID_GEN_SUPPORTED_LIST		 0x00010101u
#define RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE	 0x00010106u
#define RNDIS_OID_GEN_LINK_SPEED		 0x00010107u
#define RNDIS_OID_GEN_CURRENT_PACKET_FILTER	 0x0001010Eu
#define RNDIS_OID_GEN_MAXIMUM_TOTAL_SIZE	 0x00010111u
#define RNDIS_OID_GEN_MEDIA_CONNECT_STATUS	 0x00010114u
#define RNDIS_OID_GEN_RECEIVE_SCALE_CAPABILITIES 0x00010203u
#define RNDIS_OID_GEN_RECEIVE_SCALE_PARAMETERS	 0x00010204u
#define RNDIS_OID_GEN_FRIENDLY_NAME		 0x00020216u
#define RNDIS_OID_GEN_RNDIS_CONFIG_PARAMETER	 0x0001021Bu
#define RNDIS_OID_802_3_PERMANENT_ADDRESS	 0x01010101u
#define RNDIS_OID_802_3_CURRENT_ADDRESS		 0x01010102u
#define RNDIS_OID_802_3_MULTICAST_LIST		 0x01010103u
#define RNDIS_OID_802_3_MAXIMUM_LIST_SIZE	 0x01010104u
#define OID_TCP_OFFLOAD_PARAMETERS		 0xFC01020Cu
#define OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES	 0xFC01020Du

/* RNDIS_OID_GEN_CURRENT_PACKET_FILTER bits. */
#define RNDIS_PACKET_TYPE_DIRECTED	0x00000001u
#define RNDIS_PACKET_TYPE_MULTICAST	0x00000002u
#define RNDIS_PACKET_TYPE_ALL_MULTICAST 0x00000004u
#define RNDIS_PACKET_TYPE_BROADCAST	0x00000008u
#define RNDIS_PACKET_TYPE_PROMISCUOUS	0x00000020u

/* Every RNDIS message starts with this (struct rndis_message's first two fields). */
struct rndis_msg_header {
	uint32_t ndis_msg_type;
	uint32_t msg_len; /* the whole message, this header included */
};
_Static_assert(sizeof(struct rndis_msg_header) == 8, "rndis_msg_header");
#define RNDIS_HEADER_SIZE 8u

/* PACKET body (struct rndis_packet); offsets count from the start of this body. */
struct rndis_packet {
	uint32_t data_offset;
	uint32_t data_len;
	uint32_t oob_data_offset;
	uint32_t oob_data_len;
	uint32_t num_oob_data_elements;
	uint32_t per_pkt_info_offset;
	uint32_t per_pkt_info_len;
	uint32_t vc_handle;
	uint32_t reserved;
};
_Static_assert(sizeof(struct rndis_packet) == 36, "rndis_packet");

/* INITIALIZE (struct rndis_initialize_request) and its completion. */
struct rndis_initialize_request {
	uint32_t req_id;
	uint32_t major_ver;
	uint32_t minor_ver;
	uint32_t max_xfer_size;
};
_Static_assert(sizeof(struct rndis_initialize_request) == 16, "rndis_init_request");
struct rndis_initialize_complete {
	uint32_t req_id;
	uint32_t status;
	uint32_t major_ver;
	uint32_t minor_ver;
	uint32_t dev_flags;
	uint32_t medium;
	uint32_t max_pkt_per_msg;
	uint32_t max_xfer_size;
	uint32_t pkt_alignment_factor;
	uint32_t af_list_offset;
	uint32_t af_list_size;
};
_Static_assert(sizeof(struct rndis_initialize_complete) == 44, "rndis_init_complete");
#define RNDIS_DF_CONNECTIONLESS 0x00000001u
#define RNDIS_MEDIUM_802_3	0u

/* QUERY / SET requests (struct rndis_query_request, struct rndis_set_request). */
struct rndis_query_request {
	uint32_t req_id;
	uint32_t oid;
	uint32_t info_buflen;
	uint32_t info_buf_offset; /* from the start of this body (req_id) */
	uint32_t dev_vc_handle;
};
_Static_assert(sizeof(struct rndis_query_request) == 20, "rndis_query_request");
struct rndis_query_complete {
	uint32_t req_id;
	uint32_t status;
	uint32_t info_buflen;
	uint32_t info_buf_offset; /* from req_id; Linux requires >= 16 */
};
_Static_assert(sizeof(struct rndis_query_complete) == 16, "rndis_query_complete");
struct rndis_set_complete {
	uint32_t req_id;
	uint32_t status;
};
_Static_assert(sizeof(struct rndis_set_complete) == 8, "rndis_set_complete");
/* HALT, KEEPALIVE: req_id only; KEEPALIVE_C: req_id, status (as set_complete). */

/* INDICATE_STATUS body (struct rndis_indicate_status). */
struct rndis_indicate_status {
	uint32_t status;
	uint32_t status_buflen;
	uint32_t status_buf_offset;
};
_Static_assert(sizeof(struct rndis_indicate_status) == 12, "rndis_indicate_status");

/* Per-packet info header (struct rndis_per_packet_info): type in bits 0-30, internal bit 31. */
struct rndis_ppi {
	uint32_t size;	     /* header + payload */
	uint32_t type;	     /* NDIS_PPI_* | NDIS_PPI_INTERNAL */
	uint32_t ppi_offset; /* of the payload, from this header */
};
_Static_assert(sizeof(struct rndis_ppi) == 12, "rndis_ppi");
#define NDIS_PPI_INTERNAL	  0x80000000u
#define NDIS_PPI_TCPIP_CHKSUM	  0u
#define NDIS_PPI_TCP_LARGESEND	  2u
#define NDIS_PPI_IEEE_8021Q	  6u
#define NDIS_PPI_NBL_HASH_VALUE	  8u
#define NDIS_PPI_NBL_HASH_INFO	  9u /* the hash type, sent along with the value */
#define NDIS_PPI_RNDIS_PKTINFO_ID (1u | NDIS_PPI_INTERNAL)

/*
 * RNDIS_PKTINFO_ID (struct rndis_pktinfo_id, 4 bytes): marks the RNDIS packets of one
 * receive xfer-page packet that together carry one coalesced (RSC) frame, first to last
 * (hyperv_net.h; rndis_filter.c rndis_filter_receive_data).
 */
struct rndis_pktinfo_id {
	uint8_t ver; /* RNDIS_PKTINFO_ID_V1 */
	uint8_t flag;
	uint16_t pkt_id;
};
_Static_assert(sizeof(struct rndis_pktinfo_id) == 4, "rndis_pktinfo_id");
#define RNDIS_PKTINFO_ID_V1	1u
#define RNDIS_PKTINFO_SUBALLOC	(1u << 0)
#define RNDIS_PKTINFO_1ST_FRAG	(1u << 1)
#define RNDIS_PKTINFO_LAST_FRAG (1u << 2)
/* Ranges of one xfer-page packet Linux reassembles at most (NVSP_RSC_MAX). */
#define NVSP_RSC_MAX 562u

/* TCPIP_CHKSUM_PKTINFO (struct ndis_tcp_ip_checksum_info), transmit bits. */
#define NDIS_TX_CSUM_IS_IPV4	       (1u << 0)
#define NDIS_TX_CSUM_IS_IPV6	       (1u << 1)
#define NDIS_TX_CSUM_TCP	       (1u << 2)
#define NDIS_TX_CSUM_UDP	       (1u << 3)
#define NDIS_TX_CSUM_IP_HEADER	       (1u << 4)
#define NDIS_TX_CSUM_TCP_HDR_OFFSET(v) (((v) >> 16) & 0x3ffu)
/* Receive bits. */
#define NDIS_RX_CSUM_TCP_FAILED	   (1u << 0)
#define NDIS_RX_CSUM_UDP_FAILED	   (1u << 1)
#define NDIS_RX_CSUM_IP_FAILED	   (1u << 2)
#define NDIS_RX_CSUM_TCP_SUCCEEDED (1u << 3)
#define NDIS_RX_CSUM_UDP_SUCCEEDED (1u << 4)
#define NDIS_RX_CSUM_IP_SUCCEEDED  (1u << 5)

/* TCP_LARGESEND_PKTINFO (struct ndis_tcp_lso_info), LSO v2 transmit. */
#define NDIS_LSO_MSS(v)		   ((v)&0xfffffu)
#define NDIS_LSO_TCP_HDR_OFFSET(v) (((v) >> 20) & 0x3ffu)
#define NDIS_LSO_TYPE_V2	   (1u << 30)
#define NDIS_LSO_IPV6		   (1u << 31)

/* IEEE_8021Q_INFO. */
#define NDIS_8021Q_VLAN_ID(v)  (((v) >> 4) & 0xfffu)
#define NDIS_8021Q_PRIORITY(v) ((v)&7u)

/* --- Offload objects (hyperv_net.h) --- */

struct ndis_object_header {
	uint8_t type;
	uint8_t revision;
	uint16_t size;
};
_Static_assert(sizeof(struct ndis_object_header) == 4, "ndis_object_header");
#define NDIS_OBJECT_TYPE_DEFAULT	  0x80u
#define NDIS_OBJECT_TYPE_OFFLOAD	  0xA7u
#define NDIS_OBJECT_TYPE_RSS_CAPABILITIES 0x88u
#define NDIS_OBJECT_TYPE_RSS_PARAMETERS	  0x89u

/* struct ndis_offload: the answer to OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES. */
struct ndis_offload {
	struct ndis_object_header header;
	/* struct ndis_csum_offload */
	uint32_t ip4_txenc, ip4_txcsum, ip4_rxenc, ip4_rxcsum;
	uint32_t ip6_txenc, ip6_txcsum, ip6_rxenc, ip6_rxcsum;
	/* struct ndis_lsov1_offload */
	uint32_t lsov1_encap, lsov1_maxsize, lsov1_minsegs, lsov1_opts;
	uint8_t ipsecv1[28];
	/* struct ndis_lsov2_offload */
	uint32_t lsov2_ip4_encap, lsov2_ip4_maxsz, lsov2_ip4_minsg;
	uint32_t lsov2_ip6_encap, lsov2_ip6_maxsz, lsov2_ip6_minsg, lsov2_ip6_opts;
	uint32_t flags;
	uint8_t ipsecv2[32];
	uint8_t rsc_ip4, rsc_ip6, rsc_pad[2];
	uint8_t encap_gre[8];
};
_Static_assert(offsetof(struct ndis_offload, lsov2_ip4_encap) == 80, "ndis_offload lsov2");
_Static_assert(offsetof(struct ndis_offload, rsc_ip4) == 144, "ndis_offload rsc");
_Static_assert(sizeof(struct ndis_offload) == 156, "ndis_offload");
#define NDIS_OFFLOAD_REVISION_1 1u
#define NDIS_OFFLOAD_REVISION_3 3u
#define NDIS_OFFLOAD_SIZE_6_0	112u
#define NDIS_OFFLOAD_SIZE_6_30	144u
#define NDIS_OFFLOAD_SIZE	156u
/* ndis_csum_offload bits (NDIS_TXCSUM_CAP_*, NDIS_RXCSUM_CAP_*). */
#define NDIS_CSUM_CAP_IP4	0x001u /* IPv4 header checksum / IPv6 extension headers */
#define NDIS_CSUM_CAP_TCP_OPT	0x004u
#define NDIS_CSUM_CAP_TCP	0x010u
#define NDIS_CSUM_CAP_UDP	0x040u
#define NDIS_OFFLOAD_ENCAP_8023 0x002u
#define NDIS_LSOV2_IP6_OPTS	0x005u /* extension headers | TCP options */

/* struct ndis_offload_params: SET OID_TCP_OFFLOAD_PARAMETERS (22 bytes for NVSP <= 4). */
struct ndis_offload_params {
	struct ndis_object_header header;
	uint8_t ip_v4_csum, tcp_ip_v4_csum, udp_ip_v4_csum, tcp_ip_v6_csum, udp_ip_v6_csum;
	uint8_t lso_v1, ip_sec_v1, lso_v2_ipv4, lso_v2_ipv6, tcp_connection_ip_v4,
		tcp_connection_ip_v6;
	uint8_t pad;
	uint32_t flags;
	uint8_t ip_sec_v2, ip_sec_v2_ip_v4, rsc_ip_v4, rsc_ip_v6, encapsulated_packet_task_offload,
		encapsulation_types;
	uint8_t pad2[2];
};
_Static_assert(offsetof(struct ndis_offload_params, flags) == 16, "offload params flags");
_Static_assert(sizeof(struct ndis_offload_params) == 28, "ndis_offload_params");
#define NDIS_OFFLOAD_PARAMS_SIZE_V4	  22u
#define NDIS_OFFLOAD_PARAM_NO_CHANGE	  0u
#define NDIS_OFFLOAD_PARAM_TX_RX_DISABLED 1u
#define NDIS_OFFLOAD_PARAM_TX_ENABLED	  2u
#define NDIS_OFFLOAD_PARAM_RX_ENABLED	  3u
#define NDIS_OFFLOAD_PARAM_TX_RX_ENABLED  4u
#define NDIS_OFFLOAD_PARAM_LSOV2_DISABLED 1u
#define NDIS_OFFLOAD_PARAM_LSOV2_ENABLED  2u
#define NDIS_OFFLOAD_PARAM_RSC_DISABLED	  1u
#define NDIS_OFFLOAD_PARAM_RSC_ENABLED	  2u
/* The rsc_ip_v4/v6 bytes are in the 28-byte (NVSP >= 5) parameters only. */
#define NDIS_OFFLOAD_PARAMS_RSC_END 24u

/* struct ndis_recv_scale_cap (packed, 18 bytes): the answer to RECEIVE_SCALE_CAPABILITIES. */
struct ndis_recv_scale_cap {
	struct ndis_object_header hdr;
	uint8_t capabilities[4];	/* u32 */
	uint8_t num_int_msg[4];		/* u32 */
	uint8_t num_recv_que[4];	/* u32 */
	uint8_t num_indirect_tabent[2]; /* u16 */
};
_Static_assert(sizeof(struct ndis_recv_scale_cap) == 18, "ndis_recv_scale_cap");
#define NDIS_RSS_CAPS_REVISION_2 2u

/* struct ndis_recv_scale_param (40 bytes), then the indirection table and the key. */
struct ndis_recv_scale_param {
	struct ndis_object_header hdr;
	uint16_t flag;
	uint16_t base_cpu_number;
	uint32_t hashinfo;
	uint16_t indirect_tabsize; /* bytes: 4 per entry */
	uint16_t pad;
	uint32_t indirect_taboffset; /* from the start of this struct */
	uint16_t hashkey_size;
	uint16_t pad2;
	uint32_t hashkey_offset;
	uint32_t processor_masks_offset;
	uint32_t num_processor_masks;
	uint32_t processor_masks_entry_size;
};
_Static_assert(sizeof(struct ndis_recv_scale_param) == 40, "ndis_recv_scale_param");
#define NDIS_RSS_MAX_TABLE_ENTRIES 256u
#define NDIS_RSS_MAX_KEY_SIZE	   40u
/* ndis_recv_scale_param.flag (hyperv_net.h): RSS off. */
#define NDIS_RSS_PARAM_FLAG_DISABLE_RSS 0x0010u

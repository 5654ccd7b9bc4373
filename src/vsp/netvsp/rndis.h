/*
 * RNDIS inside NVSP (rndis.c): parsing of a guest's data message (PACKET
 * with its per-packet info), the control protocol as Linux's
 * rndis_filter drives it (INITIALIZE, QUERY, SET, HALT, KEEPALIVE,
 * RESET), and the messages the host builds (receive PACKET headers,
 * INDICATE_STATUS). Pure functions over copied bytes and a struct
 * rndis_device, fuzzed by tests/fuzz/vsp/fuzz_rndis.c.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "hvdef/netvsp_proto.h"

/* What a guest PACKET says about its frame. */
struct rndis_tx_info {
	uint32_t frame_offset; /* from the start of the message */
	uint32_t frame_len;
	bool has_csum, has_lso, has_vlan, has_hash;
	uint32_t csum; /* TCPIP_CHKSUM_PKTINFO (transmit bits) */
	uint32_t lso;  /* TCP_LARGESEND_PKTINFO (LSO v2) */
	uint32_t vlan; /* IEEE_8021Q_INFO */
	uint32_t hash;
	unsigned ppis;
};

/*
 * Parses a PACKET message (msg: len bytes, the message's msg_len, header
 * included). 0, or -EPROTO: a body shorter than struct rndis_packet, data
 * or PPI areas outside the message or overlapping, a PPI whose size is 0,
 * smaller than its header, past its area, or whose payload offset points
 * outside it, a known PPI with a short payload, an OOB area (never sent).
 */
int rndis_packet_parse(const uint8_t *msg, size_t len, struct rndis_tx_info *out) must_check;

/* The RNDIS view of the adapter (the primary's loop owns it). */
struct rndis_device {
	/* Set by the adapter. */
	uint8_t mac[6];
	uint32_t mtu;	       /* frame payload: what MAXIMUM_FRAME_SIZE answers */
	bool connected;	       /* MEDIA_CONNECT_STATUS */
	uint32_t nvsp_version; /* picks the offload object's revision */
	unsigned max_queues;   /* RSS: channels the adapter can give (1: no RSS) */
	uint64_t link_speed;   /* in 100 bps units */
	/* Set by the guest. */
	bool initialized;
	uint32_t packet_filter;
	struct ndis_offload_params offload; /* the last SET, zero-padded */
	/*
	 * RSC (receive segment coalescing), offered from NVSP 6.1 on: what the guest's
	 * OID_TCP_OFFLOAD_PARAMETERS asked for (rsc_ip_v4/v6; 0 keeps the last setting).
	 */
	bool rsc_v4, rsc_v6;
	unsigned rss_entries; /* indirection table entries of the last RSS SET */
	uint32_t rss_table[NDIS_RSS_MAX_TABLE_ENTRIES];
	uint32_t rss_hashinfo; /* hash function and types (rss.h) */
	uint8_t rss_key[NDIS_RSS_MAX_KEY_SIZE];
	uint16_t rss_key_size;
	uint64_t requests, unsupported, malformed;
};

/* Largest control reply rndis_control builds. */
#define RNDIS_REPLY_MAX 256u

/*
 * One control message (msg: len bytes, header included; its type is not
 * PACKET). Writes the reply into reply (RNDIS_REPLY_MAX bytes) and returns
 * its length, 0 when the message has none (HALT, or a message too short
 * to carry a request id), or -EPROTO when it is malformed and has no
 * request id to answer (counted in d->malformed; a malformed request with
 * an id is answered with RNDIS_STATUS_INVALID_DATA).
 */
int rndis_control(struct rndis_device *d, const uint8_t *msg, size_t len, uint8_t *reply);

/* INDICATE_STATUS carrying status; returns its length (<= RNDIS_REPLY_MAX). */
size_t rndis_build_indicate(uint32_t status, uint8_t *buf);

/*
 * The receive PACKET header for a frame of frame_len bytes placed at
 * frame_offset (from the start of the message) with an optional checksum
 * PPI (csum != 0: NDIS_RX_CSUM_* bits). Writes header and PPI into buf
 * (frame_offset bytes; frame_offset >= rndis_rx_header_len(csum)).
 */
size_t rndis_rx_header_len(uint32_t csum);
void rndis_build_rx_header(uint8_t *buf, uint32_t frame_offset, uint32_t frame_len, uint32_t csum);
/*
 * The same for one piece of a coalesced (RSC) frame: the checksum PPI (if csum) and an
 * RNDIS_PKTINFO_ID PPI with flag (RNDIS_PKTINFO_*) and pkt_id; frame_len is the piece's.
 */
size_t rndis_rsc_header_len(uint32_t csum);
void rndis_build_rsc_header(uint8_t *buf, uint32_t frame_offset, uint32_t frame_len, uint32_t csum,
			    uint8_t flag, uint16_t pkt_id);
/* True when the offload object offers RSC to a guest of this NVSP version (6.1 on). */
bool rndis_rsc_offered(uint32_t nvsp_version);

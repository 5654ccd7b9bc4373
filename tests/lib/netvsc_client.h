/*
 * A guest-side netvsc for tests and benchmarks, over the guest-side VMBus
 * client (vmbus_client.h): it plays Linux's hv_netvsc in user space,
 * written from the protocol (hvdef/netvsp_proto.h, docs/network.md):
 * NVSP INIT (versions newest first, one INIT each, as Linux 6.1),
 * NDIS_CONFIG, NDIS_VER, receive and send buffers as GPADLs, RNDIS
 * INITIALIZE/QUERY/SET over GPA-direct control packets, sub-channels,
 * frames out through send-buffer sections or GPA-direct page ranges (with
 * checksum/LSO PPIs), frames in through receive sections (completed at
 * once, or held for tests). One thread per channel at most.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvdef/netvsp_proto.h"
#include "vmbus_client.h"

#define NETVSC_CLIENT_MAX_CHANNELS 16
#define NETVSC_CLIENT_MAX_FRAME	   (64u * 1024u + 256u)

struct netvsc_client;

struct netvsc_client_config {
	unsigned ring_pages;	  /* per direction; default 32 */
	const uint32_t *versions; /* NVSP versions to try, newest first; default Linux 6.1's six */
	unsigned nversions;
	uint32_t mtu;		 /* SEND_NDIS_CONFIG frame size - 14; default 1500 */
	unsigned recv_buf_pages; /* default 1024 (4 MiB) */
	unsigned send_buf_pages; /* default 255 (Linux's 1 044 480 bytes) */
	unsigned subchannels;	 /* to ask for (vRSS); 0 = none */
	unsigned timeout_ms;	 /* per handshake step; default 5000 */
	bool hold_rx;		 /* do not complete receive packets: netvsc_client_complete_rx */
	/*
	 * RSC: like Linux 6.1 (LRO on by default), the client turns it on when the host offers
	 * it for IPv4 and IPv6, and reassembles a coalesced frame from the ranges of one
	 * receive packet; no_rsc turns it off (RSC_DISABLED), as `ethtool -K eth0 lro off`.
	 */
	bool no_rsc;
	/* Each received frame (else kept in a small queue for netvsc_client_recv_frame). */
	void (*on_frame)(void *opaque, unsigned chan, const uint8_t *frame, size_t len,
			 uint32_t csum_ppi);
	void *opaque;
};

/*
 * Opens the adapter offered by `offer` and runs the whole handshake up to
 * the packet filter (DIRECTED | BROADCAST | ALL_MULTICAST). 0, -EPROTO (a
 * step failed), -ETIMEDOUT, -errno.
 */
int netvsc_client_open(struct vmbus_client *vc, const struct vmbus_msg_offer_channel *offer,
		       const struct netvsc_client_config *cfg, struct netvsc_client **ret);
/* Revokes the buffers, closes the sub-channels then the primary; frees. NULL ok. */
void netvsc_client_close(struct netvsc_client *nc);

uint32_t netvsc_client_version(const struct netvsc_client *nc);
const uint8_t *netvsc_client_mac(const struct netvsc_client *nc);
unsigned netvsc_client_channels(const struct netvsc_client *nc);
struct vmbus_client_channel *netvsc_client_vmbus(struct netvsc_client *nc, unsigned chan);
/* The offload capabilities the host answered (OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES). */
const struct ndis_offload *netvsc_client_hwcaps(const struct netvsc_client *nc);
uint32_t netvsc_client_recv_section_size(const struct netvsc_client *nc);
uint32_t netvsc_client_send_sections(const struct netvsc_client *nc);

/* RNDIS QUERY / SET on the primary; *status is the RNDIS status. 0 or -errno. */
int netvsc_client_query(struct netvsc_client *nc, uint32_t oid, void *buf, size_t *len,
			uint32_t *status);
int netvsc_client_set(struct netvsc_client *nc, uint32_t oid, const void *buf, size_t len,
		      uint32_t *status);
/* Any RNDIS control message (msg_len inside msg); waits for a reply when want_reply. */
int netvsc_client_control_raw(struct netvsc_client *nc, const void *msg, size_t len,
			      bool want_reply, void *reply, size_t *reply_len);

/* A frame to send. */
struct netvsc_tx {
	const void *frame;
	size_t len;
	uint32_t csum_ppi; /* TCPIP_CHKSUM_PKTINFO value, 0 = none */
	uint32_t lso_ppi;  /* TCP_LARGESEND_PKTINFO value, 0 = none */
	bool gpa_direct;   /* even if it fits a send section */
};
/* Queues one frame on channel chan. 0, -EAGAIN (no section/slot/ring room: poll), -errno. */
int netvsc_client_send(struct netvsc_client *nc, unsigned chan, const struct netvsc_tx *tx);
/*
 * Processes what the host sent on channel chan (completions, frames,
 * indications), waiting up to timeout_ms for the first packet. Returns
 * packets processed (0 on timeout), or -EPROTO when the host sent
 * something a Linux guest would reject.
 */
int netvsc_client_poll(struct netvsc_client *nc, unsigned chan, unsigned timeout_ms);
/* Waits until every frame sent on chan is completed. 0 or -ETIMEDOUT. */
int netvsc_client_flush(struct netvsc_client *nc, unsigned chan, unsigned timeout_ms);
/* The oldest kept frame (no on_frame): 0, or -EAGAIN if none. */
int netvsc_client_recv_frame(struct netvsc_client *nc, void *buf, size_t *len, uint32_t *csum);
/* hold_rx: completes a held receive packet (trans_id as the host sent it). */
int netvsc_client_complete_rx(struct netvsc_client *nc, unsigned chan, uint64_t trans_id);
/* hold_rx: the held transaction ids, oldest first; returns how many (<= max). */
unsigned netvsc_client_held_rx(struct netvsc_client *nc, uint64_t *ids, unsigned max);

/* Raw NVSP for hostile tests: an in-band message, completion asked with trans_id if nonzero. */
int netvsc_client_send_nvsp(struct netvsc_client *nc, unsigned chan, const void *msg, size_t len,
			    uint64_t trans_id);
/* Waits for the completion of trans_id; its payload into buf. 0 or -ETIMEDOUT. */
int netvsc_client_wait_completion(struct netvsc_client *nc, unsigned chan, uint64_t trans_id,
				  void *buf, size_t *len, unsigned timeout_ms);
/* Writes bytes into send section i (for raw SEND_RNDIS_PKT messages). -EINVAL if out of range. */
int netvsc_client_fill_section(struct netvsc_client *nc, uint32_t i, const void *data, size_t len);

struct netvsc_client_stats {
	uint64_t tx_sent, tx_completed, tx_failed;  /* frames; completions with status != 1 */
	uint64_t rx_frames, rx_packets, rx_dropped; /* frames; xfer packets; frames not kept */
	uint64_t rx_rsc, rx_rsc_pieces; /* frames reassembled from several ranges; their ranges */
	bool rsc;			/* the client turned RSC on */
	uint64_t link_up, link_down, indications, tables;
	uint32_t send_table[NVSP_SEND_INDIRECTION_TABLE_ENTRIES];
	uint64_t bad; /* host packets a Linux guest would reject */
};
void netvsc_client_get_stats(struct netvsc_client *nc, struct netvsc_client_stats *st);

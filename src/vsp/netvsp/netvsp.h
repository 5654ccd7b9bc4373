/*
 * netvsp: the synthetic network adapter, the host side of Linux's
 * hv_netvsc (and Windows' netvsc) over VMBus. One adapter is one primary
 * channel (class NETVSP_NIC_CLASS_GUID, an instance GUID per adapter
 * index) plus the sub-channels the guest asks for (vRSS: at most one per
 * vCPU and per TAP queue), backed by a TAP: channel i reads and writes TAP
 * queue i.
 *
 * Protocols: NVSP (nvsp.c: versions, buffers, sub-channels, the send
 * indirection table) carrying RNDIS (rndis.c: initialize, query, set,
 * indications; data packets with per-packet info), and the data path
 * (netvsp_data.c: guest frames out of send-buffer sections and GPA
 * ranges onto the TAP with a virtio-net header; TAP frames into
 * receive-buffer sections).
 *
 * Threads: each channel's loop (vmbus.h) owns that channel's ring, its
 * TAP queue and its receive sections; the primary's loop also runs the
 * NVSP and RNDIS control protocol. netvsp_set_link/_set_mac_spoofing and
 * the getters may be called from any thread (the primary's loop sends the
 * link indication).
 *
 * Wire format: hvdef/netvsp_proto.h. Docs: docs/network.md.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/guid.h"
#include "vid/guest_memory.h"
#include "vmbus/vmbus.h"

struct netvsp;

#define NETVSP_MAX_CHANNELS 64 /* primary + sub-channels */
#define NETVSP_MAX_MTU	    9000u
#define NETVSP_MIN_MTU	    68u

struct netvsp_config {
	struct vmbus_server *server;
	struct guest_memory *mem;
	unsigned index; /* adapter index in the worker: picks the instance GUID */
	unsigned vcpus; /* sub-channels offered: vcpus - 1 at most */
	uint8_t mac[6];
	bool mac_spoofing; /* frames from the guest with another source MAC are sent */
	bool connected;	   /* link state at start */
	/*
	 * TAP queue fds (tap.h: vnet header set up, non-blocking); netvsp owns
	 * them from netvsp_new on (closed by netvsp_free, also on failure).
	 * Channel i uses queue i; the guest gets at most ntap - 1 sub-channels.
	 */
	const int *tap_fds;
	unsigned ntap;
};

int netvsp_new(const struct netvsp_config *cfg, struct netvsp **ret) must_check;
/* Rescinds the channels (the guest sees the adapter go), closes the TAP queues. NULL ok. */
struct netvsp *netvsp_free(struct netvsp *nv);

void netvsp_instance_guid(unsigned index, struct guid *ret);

/* Cable plugged in or out: the guest is told (RNDIS_STATUS_MEDIA_[DIS]CONNECT). Any thread. */
void netvsp_set_connected(struct netvsp *nv, bool connected);
void netvsp_set_mac_spoofing(struct netvsp *nv, bool allowed);

enum netvsp_state {
	NETVSP_CLOSED,	    /* primary not open */
	NETVSP_NEGOTIATING, /* open, NVSP/RNDIS handshake under way */
	NETVSP_READY,	    /* RNDIS initialized, buffers mapped */
};
const char *netvsp_state_name(enum netvsp_state s);

struct netvsp_stats {
	enum netvsp_state state;
	uint32_t nvsp_version;		 /* 0 before INIT */
	uint32_t ndis_major, ndis_minor; /* SEND_NDIS_VER */
	uint32_t mtu;			 /* from SEND_NDIS_CONFIG (frame size - 14), or 1500 */
	unsigned channels;		 /* open channels */
	bool connected, mac_spoofing;
	uint32_t packet_filter;
	uint64_t rx_packets, rx_bytes; /* host -> guest frames */
	uint64_t tx_packets, tx_bytes; /* guest -> host frames */
	uint64_t drop_spoofed;	       /* guest frames with a foreign source MAC */
	uint64_t drop_rx_no_buffer;    /* TAP frames with no receive section or ring room */
	uint64_t drop_rx_filtered;     /* TAP frames the guest's packet filter refuses */
	uint64_t rx_steered;	  /* TAP frames moved to the channel the guest's RSS table gives */
	uint64_t drop_rx_steer;	  /* ... dropped: that channel's handoff queue was full */
	uint64_t rx_rsc;	  /* coalesced TCP frames delivered as one RSC receive each */
	uint64_t rx_rsc_segments; /* ... the TCP segments they stand for (payload / MSS) */
	bool rsc_v4, rsc_v6;	  /* RSC the guest turned on */
	uint64_t drop_rx_gso;	  /* large TAP frames that could not go as RSC (RSC off, too big) */
	uint64_t drop_tx_error;	  /* guest frames the TAP refused */
	uint64_t drop_tx_link_down;	     /* guest frames while the cable is out */
	uint64_t bad_packets;		     /* malformed NVSP or RNDIS messages */
	uint64_t bad_sections;		     /* send-buffer section index/size out of range */
	uint64_t bad_releases;		     /* receive sections completed twice or never sent */
	uint64_t unreleased;		     /* receive sections the guest never completed */
	uint64_t indications;		     /* link-status indications sent */
	uint64_t rndis_requests;	     /* RNDIS control messages handled */
	uint64_t signals_in, interrupts_out; /* all channels */
};
void netvsp_get_stats(struct netvsp *nv, struct netvsp_stats *st);

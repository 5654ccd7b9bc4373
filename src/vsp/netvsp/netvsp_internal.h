/*
 * State shared by the files of netvsp (netvsp.h): netvsp.c (adapter,
 * channels, link, status), nvsp.c (NVSP messages), rndis.c (RNDIS
 * parsing and the control protocol), netvsp_data.c (frames both ways,
 * receive sections). Not for use outside src/vsp/netvsp/.
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>

#include "base/log.h"
#include "hvdef/netvsp_proto.h"
#include "hvdef/vmbus_proto.h"
#include "net/tap.h"
#include "vsp/netvsp/netvsp.h"
#include "vsp/netvsp/nvsp.h"
#include "vsp/netvsp/rndis.h"

/* Send-buffer sections we hand out (Linux and OpenVMM use 6144). */
#define NV_SEND_SECTION_SIZE 6144u
/* Receive-buffer sections kept for control replies and indications (OpenVMM keeps 16). */
#define NV_RX_CONTROL_RESERVE 16u
/* Receive sections: RNDIS header and PPIs (256 bytes) then the frame. */
#define NV_RX_HEADROOM 256u
/* Largest guest transmit stream (RNDIS header, PPIs and a 64 KiB LSO frame). */
#define NV_TX_STREAM_MAX (128u * 1024u)
/*
 * Largest frame read from the TAP: a coalesced TCP frame (an IPv4 packet of 65,535 bytes, or
 * IPv6 with a 65,535-byte payload, an Ethernet header and a VLAN tag). A frame larger than
 * the guest's MTU that is not such a frame is dropped.
 */
#define NV_RX_FRAME_MAX (64u * 1024u + 64u)

/*
 * Frames a channel's loop read from its TAP queue that the guest's RSS indirection table
 * gives to another channel wait in that channel's handoff queue (at most this many; more
 * are dropped and counted) until its loop delivers them.
 */
#define NV_HANDOFF_MAX 64u

/* A guest buffer mapped from its GPADL (receive or send buffer). */
struct nv_buffer {
	struct vmbus_gpadl_map map; /* pages == NULL: none */
	uint32_t section_size;
	uint32_t sections;
	uint16_t id; /* the guest's id (receive: the xfer pageset id) */
};

/* Receive-section states (nv->rx_owner[]). */
#define NV_RX_FREE 0u
/*
 * 1 + channel index: in flight on that channel, until the guest completes it. A packet
 * of several ranges (RSC) is named by its first section; the others carry NV_RX_MEMBER
 * too and follow it in nv->rx_next, released with it.
 */
#define NV_RX_MEMBER   0x80u
#define NV_RX_OWNER(o) ((o)&0x7fu)
#define NV_RX_END      UINT32_MAX /* rx_next: the last section of its packet */

/* nv->rsc: what the guest turned on, so what the TAP delivers (TUN_F_TSO4/6). */
#define NV_RSC_V4 1u
#define NV_RSC_V6 2u

/*
 * One VMBus channel of the adapter. The channel's loop owns everything
 * but the atomics; open and close touch it while the loop is not running.
 */
struct nv_channel {
	struct netvsp *nv;
	struct vmbus_channel *ch;
	unsigned index;	  /* sub-channel index, 0 = primary */
	bool stale;	  /* a sub-channel of an earlier session of the primary (nv->lock) */
	int tap_fd;	  /* TAP queue `index` (owned by nv) */
	int tap_handle;	  /* vmbus_channel_add_fd handle, -1 while not polled */
	bool rx_pending;  /* rxframe holds a frame that waits for a section or ring room */
	size_t rx_len;	  /* of it, vnet header included */
	uint16_t rsc_id;  /* RNDIS_PKTINFO_ID pkt_id of the next coalesced frame */
	bool open;	  /* between open and close callbacks */
	uint8_t *txbuf;	  /* NV_TX_STREAM_MAX: one guest packet's RNDIS stream, copied */
	uint8_t *rxframe; /* vnet header + NV_RX_FRAME_MAX */
	struct nvsp_parsed parsed; /* the packet being handled */
	/*
	 * The handoff queue (NV_HANDOFF_MAX): other channels' loops push under handoff_lock
	 * while handoff_open (between open and close), this channel's loop pops.
	 */
	pthread_mutex_t handoff_lock;
	bool handoff_open;
	unsigned handoff_head, handoff_n;
	uint8_t *handoff_frame[NV_HANDOFF_MAX]; /* vnet header + frame, malloc'd */
	size_t handoff_len[NV_HANDOFF_MAX];
	_Atomic uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
};

struct netvsp {
	struct netvsp_config cfg; /* tap_fds points to tap_fds below */
	int tap_fds[TAP_MAX_QUEUES];
	struct guid instance;
	char name[24];
	struct guest_error_log errlog;

	pthread_mutex_t lock; /* chans[], nchans, stale flags */
	struct nv_channel *chans[NETVSP_MAX_CHANNELS];
	unsigned nchans;
	_Atomic unsigned open_channels;
	atomic_bool table_pending;   /* send the indirection table when every sub-channel is open */
	unsigned subchannels_wanted; /* allocated by SUBCHANNEL (primary's loop) */

	/* The NVSP and RNDIS control state: the primary's loop (ctl_lock for status readers). */
	pthread_mutex_t ctl_lock;
	struct rndis_device rndis;
	_Atomic int state; /* enum netvsp_state */
	_Atomic uint32_t nvsp_version, ndis_major, ndis_minor, mtu;
	_Atomic bool connected, mac_spoofing;
	_Atomic int link_reported; /* -1: never; else the state last told the guest */
	_Atomic uint32_t packet_filter;
	atomic_bool rss_on;   /* rndis.rss_entries > 0: received frames go where its table says */
	_Atomic unsigned rsc; /* NV_RSC_*: the TAP's TSO offloads follow it (nv_rsc_apply) */

	/*
	 * The guest's buffers: written by the primary's loop (SEND_*_BUF,
	 * REVOKE, close) under the write lock; read by every channel's data
	 * path under the read lock.
	 */
	pthread_rwlock_t buf_lock;
	struct nv_buffer recv, send;
	/* Receive sections: rx_lock; owner per section, a stack of free ones. */
	pthread_mutex_t rx_lock;
	uint8_t *rx_owner;
	uint32_t *rx_next; /* the next section of the same packet, or NV_RX_END */
	uint32_t *rx_free;
	uint32_t rx_nfree;
	uint32_t rx_count;   /* sections of the mapped receive buffer */
	uint64_t rx_waiters; /* channels waiting for a free section (bit = index) */

	_Atomic uint64_t drop_spoofed, drop_rx_no_buffer, drop_rx_filtered, drop_tx_error,
		drop_tx_link_down, drop_rx_steer, rx_steered, bad_packets, bad_sections,
		bad_releases, unreleased, indications, rx_rsc, rx_rsc_segments, drop_rx_gso;
};

void nv_guest_error(struct netvsp *nv, const char *fmt, ...) printf_like(2, 3);

/* nvsp.c: one NVSP message on channel c's loop; VMBUS_PACKET_DONE or _BUSY. */
int nv_nvsp_packet(struct nv_channel *c, const struct vmbus_packet *pkt);
/*
 * netvsp_data.c: makes the TAP deliver what the guest's RSC setting (rndis.rsc_v4/v6, read
 * under ctl_lock by the caller: want) lets it take: large TCP frames or segments.
 */
void nv_rsc_apply(struct netvsp *nv, unsigned want);
/* Sends an NVSP completion (40 bytes) into room reserved for it. */
int nv_complete(struct nv_channel *c, uint64_t trans_id, const void *msg, size_t len);
/* The primary's loop: subchannel allocation (nvsp.c -> netvsp.c). Returns how many. */
unsigned nv_create_subchannels(struct netvsp *nv, unsigned count);
/* netvsp.c: the primary's loop sends what is pending (link indication, send table). */
void nv_send_pending(struct nv_channel *c);

/* netvsp.c: sub-channels 1..n-1 as a saved adapter had them (created, not offered). */
int nv_make_subchannels(struct netvsp *nv, unsigned n, const bool *stale);
/* netvsp_state.c: the vmbus_channel_ops saved-state callbacks (vmbus.h). */
int nv_state_save(void *opaque, struct vmbus_channel *ch, struct state_out *out);
int nv_state_load(void *opaque, struct vmbus_channel *ch, struct state_in *in, char *err,
		  size_t errlen);

/* netvsp_data.c */
/* SEND_RNDIS_PKT: the RNDIS stream of the packet, TX frames or a control request. */
int nv_data_send_rndis(struct nv_channel *c, const struct nvsp_parsed *p, uint64_t trans_id);
/* A receive completion from the guest (VMBUS_PKT_COMP with our trans_id). */
void nv_data_rx_complete(struct nv_channel *c, uint64_t trans_id);
/* The TAP queue is readable / the ring or the sections have room again. */
void nv_data_rx_ready(void *opaque, struct vmbus_channel *ch);
void nv_data_wake(struct nv_channel *c);
/*
 * Writes one RNDIS message (len bytes) into a receive section and sends it
 * as a one-range xfer-page packet: control replies and indications.
 * 0, -ENOBUFS (no section), -EAGAIN (ring full), -errno.
 */
int nv_data_send_control(struct nv_channel *c, const void *msg, size_t len);
/* Receive buffer section bookkeeping: set up at SEND_RECV_BUF, dropped at revoke/close. */
int nv_rx_sections_init(struct netvsp *nv, uint32_t count);
void nv_rx_sections_fini(struct netvsp *nv);
/* Open/close of a channel: the TAP queue joins or leaves the loop. */
int nv_data_channel_open(struct nv_channel *c);
void nv_data_channel_closed(struct nv_channel *c);

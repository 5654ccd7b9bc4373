/*
 * A guest-side VMBus client for tests and benchmarks: it plays the guest's
 * vmbus driver in user space, written from the protocol (docs/vmbus.md,
 * hvdef/vmbus_proto.h), not from Linux's code. It owns a real guest
 * memory (no /dev/kvm needed) holding its event-flag pages, GPADL pages
 * and rings, and a VMBus server it creates with a fake SynIC:
 *
 *   - guest -> host: messages go to vmbus_server_handle_message() and
 *     signals to vmbus_server_handle_signal(), the entry points a vCPU's
 *     HvPostMessage/HvSignalEvent reach;
 *   - host -> guest: the server's post_message lands in a queue the test
 *     reads; signal_event sets the flag in the client's event page (in
 *     guest memory) and counts an interrupt.
 *
 * Guest-side rings follow the rules Linux guests follow (signal only on
 * empty -> non-empty unless the host masked interrupts; tell the host when
 * room it waits for is freed), so tests can count signals.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/guid.h"
#include "hvdef/vmbus_proto.h"
#include "vid/guest_memory.h"
#include "vmbus/vmbus.h"

struct vmbus_client;
struct vmbus_client_channel;

struct vmbus_client_config {
	unsigned vcpus;	      /* default 1 */
	uint64_t ram_size;    /* default 64 MiB */
	uint32_t max_version; /* the server's; 0 = newest */
	bool manual_dispatch; /* server without message thread: posts are processed at once */
	unsigned timeout_ms;  /* how long the protocol helpers wait for an answer; default 5000 */
	uint64_t channel_poll_ns; /* the server's (vmbus_server_config); 0 = its default */
};

int vmbus_client_new(const struct vmbus_client_config *cfg, struct vmbus_client **ret);
/* Frees the server (closing its channels) and the memory. */
void vmbus_client_free(struct vmbus_client *c);

struct vmbus_server *vmbus_client_server(struct vmbus_client *c);
/*
 * Saved-state tests: the client lets go of its server (the caller frees
 * it, after its VSPs), keeping its memory, channels and messages; then a
 * new server like the first over the same guest memory (0 or -errno).
 */
struct vmbus_server *vmbus_client_detach_server(struct vmbus_client *c);
int vmbus_client_attach_new_server(struct vmbus_client *c);
struct guest_memory *vmbus_client_memory(struct vmbus_client *c);
/* npages of zeroed guest RAM, page aligned: its GPA. */
uint64_t vmbus_client_alloc(struct vmbus_client *c, unsigned npages);

/* --- Raw messages --- */
enum vmbus_post_result vmbus_client_post(struct vmbus_client *c, uint32_t connection_id,
					 const void *msg, size_t len);
/* The next host message (any type), waiting up to timeout_ms. 0, or -ETIMEDOUT. */
int vmbus_client_recv_msg(struct vmbus_client *c, void *buf, size_t *len, unsigned timeout_ms);
/* Like recv_msg, but -EPROTO if the message is not of type msgtype. */
int vmbus_client_expect(struct vmbus_client *c, uint32_t msgtype, void *buf, size_t *len,
			unsigned timeout_ms);
/* Host messages waiting. */
unsigned vmbus_client_pending_msgs(struct vmbus_client *c);
/* The VP the last host message was posted to. */
unsigned vmbus_client_last_msg_vp(struct vmbus_client *c);

/* --- The connection protocol --- */
/* INITIATE_CONTACT with version on the right connection id: 1 accepted, 0 refused, -errno. */
int vmbus_client_connect(struct vmbus_client *c, uint32_t version);
/* REQUESTOFFERS; collects the offers until ALLOFFERS_DELIVERED. Returns how many, or -errno. */
int vmbus_client_request_offers(struct vmbus_client *c, struct vmbus_msg_offer_channel *offers,
				unsigned max);
/* UNLOAD and its response. */
int vmbus_client_unload(struct vmbus_client *c);

/*
 * Describes npages pages at gpa as GPADL (header + bodies as a Linux guest
 * sends them) and waits for GPADL_CREATED. Returns its creation_status
 * (0 = created) or -errno; *ret_id is the handle used.
 */
int vmbus_client_gpadl_create(struct vmbus_client *c, uint32_t relid, uint64_t gpa, unsigned npages,
			      uint32_t *ret_id);
/* GPADL_TEARDOWN; waits for TORNDOWN if wait. 0 or -ETIMEDOUT. */
int vmbus_client_gpadl_teardown(struct vmbus_client *c, uint32_t relid, uint32_t id, bool wait);

/*
 * Allocates rings (send_pages and recv_pages, each with its header page),
 * their GPADL, and sends OPENCHANNEL. Returns the status of
 * OPENCHANNEL_RESULT (0 = open, *ret set) or -errno.
 */
int vmbus_client_open(struct vmbus_client *c, const struct vmbus_msg_offer_channel *offer,
		      unsigned send_pages, unsigned recv_pages, unsigned target_vp,
		      struct vmbus_client_channel **ret);
/* CLOSECHANNEL then GPADL teardown (waiting for TORNDOWN); frees ch. */
int vmbus_client_close(struct vmbus_client_channel *ch);
/* Forgets ch without telling the host (after UNLOAD or a rescind). */
void vmbus_client_channel_forget(struct vmbus_client_channel *ch);

uint32_t vmbus_client_channel_relid(const struct vmbus_client_channel *ch);
uint32_t vmbus_client_channel_gpadl(const struct vmbus_client_channel *ch);
/* GPAs of the two ring headers, for tests that corrupt them. */
uint64_t vmbus_client_channel_send_ring(const struct vmbus_client_channel *ch);
uint64_t vmbus_client_channel_recv_ring(const struct vmbus_client_channel *ch);

/* --- Rings, guest side --- */
/* Writes a packet (payload padded to 8). -EAGAIN if full; signals the host as a guest must. */
int vmbus_client_send(struct vmbus_client_channel *ch, uint16_t type, uint16_t flags,
		      uint64_t trans_id, const void *data, size_t len);
/*
 * A GPA-direct packet as Linux's vmbus_sendpacket_mpb_desc builds it: one
 * range (byte_offset into the first of npfn pages, byte_count bytes), then
 * data (the protocol's message). -EAGAIN if the ring is full.
 */
int vmbus_client_send_gpa_direct(struct vmbus_client_channel *ch, uint16_t flags, uint64_t trans_id,
				 uint32_t byte_offset, uint32_t byte_count, const uint64_t *pfns,
				 unsigned npfn, const void *data, size_t len);
/*
 * Any packet: hdr (hlen bytes, a multiple of 8, starting with a
 * vmbus_packet_desc whose offset8 and len8 are filled in here) then data.
 * For tests that send what a correct guest would not.
 */
int vmbus_client_send_raw(struct vmbus_client_channel *ch, void *hdr, size_t hlen, const void *data,
			  size_t len);
/*
 * Reads the next host packet: descriptor into *desc, payload (after
 * offset8) into data (up to *len; *len set to its length). -EAGAIN if
 * empty, -EMSGSIZE, -EPROTO.
 */
int vmbus_client_recv(struct vmbus_client_channel *ch, struct vmbus_packet_desc *desc, void *data,
		      size_t *len);
/* Like vmbus_client_recv, but data gets the whole packet, descriptor first (xfer-page ranges). */
int vmbus_client_recv_raw(struct vmbus_client_channel *ch, struct vmbus_packet_desc *desc,
			  void *data, size_t *len);
/* Waits until the host signals this channel (clears the flag). 0 or -ETIMEDOUT. */
int vmbus_client_wait_event(struct vmbus_client_channel *ch, unsigned timeout_ms);
/* Receives one packet, waiting for the host's signal when the ring is empty. */
int vmbus_client_recv_wait(struct vmbus_client_channel *ch, struct vmbus_packet_desc *desc,
			   void *data, size_t *len, unsigned timeout_ms);
/* interrupt_mask of the host->guest ring (the guest polls while set). */
void vmbus_client_set_interrupt_mask(struct vmbus_client_channel *ch, bool masked);
/* pending_send_sz of the guest->host ring (the guest waits for that much room). */
void vmbus_client_set_pending_send(struct vmbus_client_channel *ch, uint32_t bytes);

struct vmbus_client_stats {
	uint64_t signals_sent; /* guest -> host HvSignalEvent */
	uint64_t interrupts;   /* host -> guest signal_event calls */
	uint64_t messages;     /* host -> guest messages */
};
void vmbus_client_get_stats(struct vmbus_client *c, struct vmbus_client_stats *stats);

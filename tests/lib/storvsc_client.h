/*
 * A guest-side storvsc for tests and benchmarks, over the guest-side
 * VMBus client (vmbus_client.h): it plays Linux's hv_storvsc in user
 * space, written from the protocol (hvdef/storvsp_proto.h,
 * docs/storage.md): the initialization handshake (versions newest first,
 * properties, END, CREATE_SUB_CHANNELS), opening the sub-channels the host
 * offers, and SCSI requests with GPA-direct buffers in the client's guest
 * memory, many in flight per channel. Each channel may be driven by its
 * own thread (one thread per channel, like a CPU's blk-mq queue).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvdef/storvsp_proto.h"
#include "vmbus_client.h"

#define STORVSC_CLIENT_MAX_PFNS 512

struct storvsc_client;
struct storvsc_channel;

struct storvsc_client_config {
	unsigned ring_pages; /* per direction, header page excluded; default 32 (128 KiB) */
	/* Versions to try, newest first; default Linux 6.1's: WIN10, WIN8_1, WIN8. */
	const uint16_t *versions;
	unsigned nversions;
	unsigned subchannels; /* to ask for (capped by the host's max); 0 = none */
	unsigned timeout_ms;  /* for each handshake step; default 5000 */
};

/*
 * Opens the controller offered by `offer` and runs the handshake. The
 * sub-channel offers the host sends are taken from the client's message
 * queue and opened. 0, -EPROTO (a step failed: *ret_status says how if
 * not NULL), -ETIMEDOUT, -errno.
 */
int storvsc_client_open(struct vmbus_client *vc, const struct vmbus_msg_offer_channel *offer,
			const struct storvsc_client_config *cfg, struct storvsc_client **ret);
/* Closes the sub-channels then the primary; frees. NULL ok. */
void storvsc_client_close(struct storvsc_client *sc);
/* Frees without telling the host (it is gone: the VM is being torn down). NULL ok. */
void storvsc_client_forget(struct storvsc_client *sc);

uint16_t storvsc_client_version(const struct storvsc_client *sc);
const struct vmstorage_channel_properties *
storvsc_client_properties(const struct storvsc_client *sc);
unsigned storvsc_client_channel_count(const struct storvsc_client *sc); /* primary included */
struct storvsc_channel *storvsc_client_channel(struct storvsc_client *sc, unsigned i);
struct vmbus_client_channel *storvsc_channel_vmbus(struct storvsc_channel *ch);

/*
 * Sends one control packet (in-band, transaction id = the init id Linux
 * uses) and waits for its completion, which replaces *pkt. 0, -ETIMEDOUT, -EPROTO.
 */
int storvsc_channel_control(struct storvsc_channel *ch, struct vstor_packet *pkt,
			    unsigned timeout_ms);

/* A SCSI request. */
struct storvsc_request {
	uint8_t path, target, lun;
	uint8_t cdb[16];
	unsigned cdb_len;
	uint64_t buf_gpa; /* guest buffer (any alignment); len 0: in-band, no data */
	uint32_t len;
	bool data_in; /* device -> guest */
	uint64_t tag; /* returned in the completion; the transaction id is tag + 1 */
};

struct storvsc_completion {
	uint64_t tag;
	uint32_t status; /* the packet's NTSTATUS */
	uint8_t srb_status, scsi_status;
	uint32_t transferred;
	uint8_t sense_len;
	uint8_t sense[VSTOR_SENSE_LEN];
};

/* Queues a request (no waiting). 0, -EAGAIN when the ring is full, -EINVAL. */
int storvsc_channel_submit(struct storvsc_channel *ch, const struct storvsc_request *rq);
/* READ(10)/(16) or WRITE(10)/(16) of sectors 512-byte blocks at lba into/from buf_gpa. */
int storvsc_channel_submit_read(struct storvsc_channel *ch, uint8_t lun, uint64_t lba,
				uint32_t sectors, uint64_t buf_gpa, uint64_t tag);
int storvsc_channel_submit_write(struct storvsc_channel *ch, uint8_t lun, uint64_t lba,
				 uint32_t sectors, uint64_t buf_gpa, uint64_t tag, bool fua);
/*
 * Collects up to max completions; waits up to timeout_ms for the first.
 * Returns how many (0 on timeout). Unsolicited host packets (rescans) are
 * counted, not returned.
 */
int storvsc_channel_poll(struct storvsc_channel *ch, struct storvsc_completion *out, unsigned max,
			 unsigned timeout_ms);
/* Submit and wait for that one request. 0 or -errno (-ETIMEDOUT). */
int storvsc_channel_scsi(struct storvsc_channel *ch, const struct storvsc_request *rq,
			 struct storvsc_completion *out, unsigned timeout_ms);
/* ENUMERATE_BUS / REMOVE_DEVICE packets seen on this channel. */
unsigned storvsc_channel_rescans(const struct storvsc_channel *ch);

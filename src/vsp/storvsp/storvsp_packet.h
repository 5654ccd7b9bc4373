/*
 * Parsing of the packets a storage channel receives (storvsp_packet.c):
 * the VMBus packet (in-band or GPA direct, already copied out of the ring
 * by the channel) into a vstor_packet and, for GPA direct, the one page
 * range of the data buffer; then that range into host iovecs through
 * guest_memory (the only door to guest RAM). Pure functions, fuzzed by
 * tests/fuzz/vsp/fuzz_storvsp_packet.c.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/compiler.h"
#include "hvdef/storvsp_proto.h"
#include "hvdef/vmbus_proto.h"
#include "vid/guest_memory.h"
#include "vmbus/vmbus.h"

/* Largest buffer one request may describe (QUERY_PROPERTIES max_transfer_bytes). */
#define STORVSP_MAX_TRANSFER (1u << 20)
/* PFNs of such a buffer at any page offset. */
#define STORVSP_MAX_PFNS (STORVSP_MAX_TRANSFER / VSTOR_PAGE_SIZE + 1)

struct storvsp_parsed {
	struct vstor_packet pkt; /* what the guest sent, zero-padded to 64 bytes */
	size_t pkt_len;		 /* bytes of it the guest sent (<= 64) */
	bool has_range;		 /* GPA direct: the fields below describe the buffer */
	uint32_t byte_count;	 /* of the range */
	uint32_t byte_offset;	 /* into the first page */
	unsigned npfn;
	const uint8_t *pfns; /* npfn little-endian u64, inside the packet copy */
};

/*
 * 0, or -EPROTO for a packet the protocol does not allow (wrong type,
 * ranges that do not fit the packet, more than one range, a vstor packet
 * shorter than its header, a buffer larger than STORVSP_MAX_TRANSFER).
 */
int storvsp_packet_parse(const struct vmbus_packet *pkt, struct storvsp_parsed *out) must_check;

/*
 * The first len bytes of the parsed range as host iovecs (contiguous pages
 * merged). 0; -EINVAL if len exceeds the range; -EFAULT if a page is not
 * guest RAM; -E2BIG if more than max iovecs would be needed.
 */
int storvsp_range_iov(struct guest_memory *mem, const struct storvsp_parsed *p, uint32_t len,
		      struct iovec *iov, unsigned max, unsigned *ret_cnt) must_check;

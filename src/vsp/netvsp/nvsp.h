/*
 * Parsing of the packets a network channel receives (nvsp.c): the VMBus
 * packet (in-band, GPA direct, or a completion) into a zero-padded
 * nvsp_message and, for GPA direct, its page ranges (Linux's
 * vmbus_sendpacket_pagebuffer: one range per page piece; the general
 * multi-page form is accepted too). Pure functions on the channel's
 * private copy of the packet, fuzzed by tests/fuzz/vsp/fuzz_nvsp.c.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "hvdef/netvsp_proto.h"
#include "vid/guest_memory.h"
#include "vmbus/vmbus.h"

/* Most ranges one packet may carry (Linux: MAX_PAGE_BUFFER_COUNT 32 plus headroom). */
#define NVSP_MAX_RANGES 64u

struct nvsp_range {
	uint32_t byte_count;
	uint32_t byte_offset; /* into the first page */
	unsigned npfn;
	const uint8_t *pfns; /* npfn little-endian u64, inside the packet copy */
};

struct nvsp_parsed {
	struct nvsp_message msg; /* what the guest sent, zero-padded to 40 bytes */
	size_t msg_len;		 /* bytes of it the guest sent (<= 40) */
	unsigned nranges;
	struct nvsp_range ranges[NVSP_MAX_RANGES];
	uint64_t range_bytes; /* sum of byte_count */
};

/*
 * 0, or -EPROTO for a packet the protocol does not allow: a type other
 * than in-band, GPA direct or completion; ranges that do not fit the
 * packet; more than NVSP_MAX_RANGES; an NVSP message shorter than the
 * minimum its type needs (nvsp_min_len).
 */
int nvsp_packet_parse(const struct vmbus_packet *pkt, struct nvsp_parsed *out) must_check;
/* The bytes a guest message of msg_type needs (type included); 0 for an unknown type. */
size_t nvsp_min_len(uint32_t msg_type);
/*
 * Copies bytes [off, off + len) of the parsed ranges (one stream, range
 * after range) into dst through guest_memory. 0; -EINVAL if beyond the
 * ranges; -EFAULT if a page is not guest RAM.
 */
int nvsp_ranges_read(struct guest_memory *mem, const struct nvsp_parsed *p, uint64_t off, void *dst,
		     size_t len) must_check;
/*
 * The same bytes as host iovecs into guest RAM (for a write straight to the TAP, no copy):
 * at most max, pieces that follow each other in host memory merged. The count; -EINVAL
 * beyond the ranges, -EFAULT a page that is not guest RAM, -E2BIG more than max pieces.
 */
struct iovec;
int nvsp_ranges_iov(struct guest_memory *mem, const struct nvsp_parsed *p, uint64_t off, size_t len,
		    struct iovec *iov, unsigned max) must_check;

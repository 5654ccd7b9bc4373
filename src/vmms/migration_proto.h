/*
 * The wire format between two parvis-vmms services during move-vm (docs/migration.md, "Between
 * services"). It runs inside a TLS session (migration_service.c); every message is a frame:
 * an 8-byte header, then length bytes. Frames:
 *
 *   OFFER   source -> destination: JSON, the VM's record and adapters and what the move needs
 *   VERDICT destination -> source: JSON {"ok":true} or {"ok":false,"error":"..."}
 *   DATA    either way: bytes of the workers' migration stream (src/migration/migration_format.h)
 *           source -> destination, and the destination worker's ack back
 *   EOF     either way: that side's worker closed its socket (no DATA follows that way)
 *   COMMIT  source -> destination: the source worker took the ack and ended; the VM is yours
 *   DONE    destination -> source: JSON, whether the VM runs on the destination
 *
 * All little-endian, no padding. Everything a peer sends is parsed by migration_peer.c,
 * which is fuzzed (tests/fuzz/vmms/fuzz_migration_peer.c).
 */
#pragma once

#include <stdint.h>

#define PEER_PROTO_VERSION 1
#define PEER_JSON_MAX	   (1u << 20)	/* an OFFER, VERDICT or DONE */
#define PEER_DATA_MAX	   (256u << 10) /* one DATA frame */

enum peer_frame_type {
	PEER_FRAME_OFFER = 1,
	PEER_FRAME_VERDICT = 2,
	PEER_FRAME_DATA = 3,
	PEER_FRAME_EOF = 4,
	PEER_FRAME_COMMIT = 5,
	PEER_FRAME_DONE = 6,
};

struct peer_frame_header {
	uint32_t type;	 /* enum peer_frame_type */
	uint32_t length; /* bytes after the header: JSON frames <= PEER_JSON_MAX, DATA <=
			    PEER_DATA_MAX */
};
_Static_assert(sizeof(struct peer_frame_header) == 8, "peer frame header is 8 bytes");

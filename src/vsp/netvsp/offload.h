/*
 * Checksum and segmentation offloads between RNDIS per-packet info and the
 * TAP's virtio-net header (offload.c), both directions, on frames the host
 * owns (copies). Pure functions, fuzzed with the RNDIS parser
 * (tests/fuzz/vsp/fuzz_rndis.c). Mapping and LSO fix-ups:
 * shared/research/NETWORK-PROTOCOLS.md C.2.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "net/tap.h"
#include "vsp/netvsp/rndis.h"

/*
 * Guest -> TAP: the vnet header for a frame (frame_len bytes, modified in
 * place: LSO frames get real IP lengths, the IPv4 header checksum and a
 * TCP pseudo-header seed with the length; ip_hdr_csum frames their IPv4
 * header checksum). 0, or -EPROTO when the PPIs do not fit the frame
 * (header offsets past its end, an MSS of 0, not IPv4/IPv6 for LSO).
 */
int nv_offload_tx(const struct rndis_tx_info *info, uint8_t *frame, size_t frame_len,
		  struct tap_vnet_hdr *ret) must_check;
/*
 * The same when only the frame's first head bytes are the host's copy (the headers; the
 * rest goes to the TAP straight from guest memory): everything read or patched lies in
 * them (-EPROTO otherwise), the lengths written are frame_len's.
 */
int nv_offload_tx_head(const struct rndis_tx_info *info, uint8_t *frame, size_t head,
		       size_t frame_len, struct tap_vnet_hdr *ret) must_check;
/*
 * TAP -> guest: finishes a NEEDS_CSUM frame's checksum in software and
 * returns the receive checksum PPI bits to send (0: none): TCP/UDP
 * "succeeded" for checksummed or DATA_VALID frames. -EPROTO if the
 * header's checksum offsets are outside the frame.
 */
int nv_offload_rx(const struct tap_vnet_hdr *h, uint8_t *frame, size_t frame_len,
		  uint32_t *ret_csum) must_check;
/*
 * TAP -> guest, a large TCP frame the TAP handed over whole (a GSO vnet header: the host
 * stack's coalesced or unsegmented TCP stream) to go to the guest as one RSC receive: the
 * frame must be TCP over IPv4 (TCPV4) or IPv6 (TCPV6) with IP lengths that match the frame.
 * Finishes the TCP checksum (NEEDS_CSUM), recomputes the IPv4 header checksum (the guest
 * trusts "IP succeeded"), and returns the checksum PPI bits and the segments the frame
 * stands for (its TCP payload over gso_size, as NDIS_RSC_NBL_INFO's CoalescedSegCount
 * counts them). 0 or -EPROTO.
 */
int nv_offload_rx_rsc(const struct tap_vnet_hdr *h, uint8_t *frame, size_t frame_len,
		      uint32_t *ret_csum, uint32_t *ret_segments) must_check;

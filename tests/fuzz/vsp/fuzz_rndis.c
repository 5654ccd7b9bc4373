/*
 * Fuzz target: RNDIS inside NVSP (vsp/netvsp/rndis.c) and the offload
 * mapping (offload.c). The first byte picks what the rest is:
 *   0: a guest PACKET message, parsed with its per-packet info; its frame
 *      (a copy, as the data path has) mapped to a TAP vnet header;
 *   1: a control message (INITIALIZE, QUERY, SET, ...) answered by a
 *      device model that keeps its state across inputs;
 *   2: a TAP frame (vnet header first) made ready for the guest, and its
 *      RSS hash (rss.c) with the key and hash types the guest last set in
 *      a mode-1 input (or all types and an all-ones key before any); and
 *      the same frame, as a large TCP frame, through the RSC checks
 *      (nv_offload_rx_rsc) and the RSC piece header its pieces would get.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vsp/netvsp/offload.h"
#include "vsp/netvsp/rndis.h"
#include "vsp/netvsp/rss.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rndis_device dev = {.mac = {0x00, 0x15, 0x5d, 0, 0, 1},
					  .mtu = 1500,
					  .connected = true,
					  .nvsp_version = 0x00060001,
					  .max_queues = 4,
					  .link_speed = 100000000};
	static uint8_t reply[RNDIS_REPLY_MAX];
	struct rndis_tx_info info;
	struct tap_vnet_hdr h;
	uint8_t *copy;
	int n;

	if (size < 1 || size > 128 * 1024)
		return 0;
	copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	switch (data[0] % 3) {
	case 0:
		if (rndis_packet_parse(copy, size - 1, &info) == 0 &&
		    nv_offload_tx(&info, copy + info.frame_offset, info.frame_len, &h) < 0) {
			/* PPIs that do not fit the frame: refused */
		}
		break;
	case 1:
		n = rndis_control(&dev, copy, size - 1, reply);
		if (n > (int)RNDIS_REPLY_MAX)
			abort();
		break;
	default:
		if (size - 1 >= sizeof(h)) {
			uint32_t csum;

			memcpy(&h, copy, sizeof(h));
			static const uint8_t ones[NDIS_RSS_MAX_KEY_SIZE] = {
				0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
			uint32_t hash;
			bool set = dev.rss_entries > 0;

			memcpy(&h, copy, sizeof(h));
			if (nv_offload_rx(&h, copy + sizeof(h), size - 1 - sizeof(h), &csum) < 0) {
				/* offsets outside the frame: dropped */
			}
			memcpy(copy, data + 1, size - 1);
			{
				uint32_t segs;
				uint8_t hdr[256];

				if (nv_offload_rx_rsc(&h, copy + sizeof(h), size - 1 - sizeof(h),
						      &csum, &segs) == 0) {
					size_t hl = rndis_rsc_header_len(csum);

					if (hl > sizeof(hdr) || segs > size)
						abort();
					rndis_build_rsc_header(hdr, (uint32_t)hl, 1500, csum,
							       (uint8_t)segs, (uint16_t)size);
				}
			}
			if (rss_frame_hash(set ? dev.rss_hashinfo : 0x1701u,
					   set ? dev.rss_key : ones,
					   set ? dev.rss_key_size : sizeof(ones), copy + sizeof(h),
					   size - 1 - sizeof(h), &hash) == 0 &&
			    set && dev.rss_table[hash % dev.rss_entries] == UINT32_MAX - 1) {
				/* a table entry naming no channel: the frame stays where it was
				 * read */
			}
		}
		break;
	}
	free(copy);
	return 0;
}

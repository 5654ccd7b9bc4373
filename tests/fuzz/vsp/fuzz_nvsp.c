/*
 * Fuzz target: the network channel's packet parser (vsp/netvsp/nvsp_parse.c)
 * as the channel calls it: the input is one VMBus packet as the guest wrote
 * it into the ring (descriptor first; offset8 says where the nvsp_message
 * starts), parsed, and its GPA ranges read as one stream against 1 MiB of
 * guest RAM, the way the data path gathers a SEND_RNDIS_PKT.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "vsp/netvsp/nvsp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct guest_memory *mem;
	static uint8_t stream[256 * 1024];
	struct vmbus_packet_desc d;
	struct vmbus_packet pkt;
	struct nvsp_parsed p;
	uint8_t *copy;
	size_t hdr;

	if (!mem && guest_memory_new(1 << 20, &mem) < 0)
		abort();
	if (size < sizeof(d) || size > 65536)
		return 0;
	copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	memcpy(&d, copy, sizeof(d));
	hdr = (size_t)d.offset8 * 8;
	if (hdr < sizeof(d) || hdr > size) {
		free(copy);
		return 0;
	}
	pkt = (struct vmbus_packet){.type = d.type,
				    .flags = d.flags,
				    .trans_id = d.trans_id,
				    .data = copy + hdr,
				    .len = size - hdr,
				    .raw = copy,
				    .raw_len = size};
	if (nvsp_packet_parse(&pkt, &p) == 0 && p.nranges) {
		size_t n = (size_t)MIN(p.range_bytes, (uint64_t)sizeof(stream));

		/* The whole stream, then a piece from the middle (an offset inside a range). */
		if (nvsp_ranges_read(mem, &p, 0, stream, n) < 0) {
			/* outside RAM or past the ranges: refused */
		}
		if (n > 2 && nvsp_ranges_read(mem, &p, n / 2, stream, n - n / 2) < 0) {
			/* as above */
		}
		/* The same bytes as iovecs (netvsp's direct write): they must match the copy. */
		{
			struct iovec iov[64];
			int k = nvsp_ranges_iov(mem, &p, 0, n, iov, 64);
			bool have = nvsp_ranges_read(mem, &p, 0, stream, n) == 0;
			size_t pos = 0;

			for (int i = 0; i < k; i++) {
				if (pos + iov[i].iov_len > n ||
				    (have && memcmp(stream + pos, iov[i].iov_base, iov[i].iov_len)))
					abort();
				pos += iov[i].iov_len;
			}
			if (k >= 0 && pos != n)
				abort();
		}
	}
	free(copy);
	return 0;
}

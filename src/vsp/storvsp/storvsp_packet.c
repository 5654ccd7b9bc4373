/*
 * Storage channel packet parsing (storvsp_packet.h). Layout of a GPA-direct
 * packet as Linux's vmbus_sendpacket_mpb_desc builds it (notes in
 * shared/research/STORAGE-PROTOCOLS.md A.4): descriptor (16), reserved
 * (4), range count (4), then per range byte count (4), byte offset (4)
 * and the PFNs (8 each); the vstor_packet at offset8 * 8. Everything is
 * checked against the packet's length; the packet is already the
 * channel's private copy, so nothing here can change under us.
 */
#include <errno.h>
#include <string.h>

#include "base/compiler.h"
#include "vsp/storvsp/storvsp_packet.h"

static int take_vstor(const uint8_t *data, size_t len, struct storvsp_parsed *out)
{
	if (len < VSTOR_PACKET_HEADER_LEN)
		return -EPROTO;
	out->pkt_len = MIN(len, sizeof(out->pkt));
	memset(&out->pkt, 0, sizeof(out->pkt));
	memcpy(&out->pkt, data, out->pkt_len);
	return 0;
}

int storvsp_packet_parse(const struct vmbus_packet *pkt, struct storvsp_parsed *out)
{
	struct vmbus_gpa_direct_header h;
	struct vstor_gpa_range range;
	size_t hdr_end, pfn_bytes;
	uint64_t span;

	memset(out, 0, sizeof(*out));
	if (pkt->raw_len < sizeof(struct vmbus_packet_desc) || pkt->data < pkt->raw ||
	    pkt->data + pkt->len != pkt->raw + pkt->raw_len)
		return -EPROTO;
	hdr_end = (size_t)(pkt->data - pkt->raw);
	if (pkt->type == VMBUS_PKT_DATA_INBAND)
		return take_vstor(pkt->data, pkt->len, out);
	if (pkt->type != VMBUS_PKT_DATA_USING_GPA_DIRECT)
		return -EPROTO;
	if (hdr_end < sizeof(struct vmbus_packet_desc) + sizeof(h) + sizeof(range))
		return -EPROTO;
	memcpy(&h, pkt->raw + sizeof(struct vmbus_packet_desc), sizeof(h));
	/* Linux sends exactly one range per request. */
	if (h.range_cnt != 1)
		return -EPROTO;
	memcpy(&range, pkt->raw + sizeof(struct vmbus_packet_desc) + sizeof(h), sizeof(range));
	if (range.byte_offset >= VSTOR_PAGE_SIZE || range.byte_count == 0 ||
	    range.byte_count > STORVSP_MAX_TRANSFER)
		return -EPROTO;
	span = (uint64_t)range.byte_offset + range.byte_count;
	out->npfn = (unsigned)((span + VSTOR_PAGE_SIZE - 1) / VSTOR_PAGE_SIZE);
	pfn_bytes = (size_t)out->npfn * 8;
	if (sizeof(struct vmbus_packet_desc) + sizeof(h) + sizeof(range) + pfn_bytes > hdr_end)
		return -EPROTO;
	out->pfns = pkt->raw + sizeof(struct vmbus_packet_desc) + sizeof(h) + sizeof(range);
	out->has_range = true;
	out->byte_count = range.byte_count;
	out->byte_offset = range.byte_offset;
	return take_vstor(pkt->data, pkt->len, out);
}

int storvsp_range_iov(struct guest_memory *mem, const struct storvsp_parsed *p, uint32_t len,
		      struct iovec *iov, unsigned max, unsigned *ret_cnt)
{
	uint32_t done = 0, off = p->byte_offset;
	unsigned cnt = 0, i;

	if (!p->has_range || len > p->byte_count)
		return -EINVAL;
	for (i = 0; done < len; i++) {
		uint64_t pfn;
		uint32_t n = MIN(VSTOR_PAGE_SIZE - off, len - done);
		uint8_t *host;

		if (i >= p->npfn)
			return -EINVAL;
		memcpy(&pfn, p->pfns + 8 * (size_t)i, 8);
		host = guest_memory_pfn_ptr(mem, pfn, off, n);
		if (!host)
			return -EFAULT;
		if (cnt && (uint8_t *)iov[cnt - 1].iov_base + iov[cnt - 1].iov_len == host) {
			iov[cnt - 1].iov_len += n;
		} else {
			if (cnt == max)
				return -E2BIG;
			iov[cnt++] = (struct iovec){.iov_base = host, .iov_len = n};
		}
		done += n;
		off = 0;
	}
	*ret_cnt = cnt;
	return 0;
}

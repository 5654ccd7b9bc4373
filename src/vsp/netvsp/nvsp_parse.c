/*
 * NVSP packet parsing (nvsp.h). Layout of a GPA-direct packet (Linux
 * vmbus_sendpacket_pagebuffer / _mpb_desc): descriptor (16), reserved (4),
 * range count (4), then per range byte count (4), byte offset (4) and one
 * PFN (8) per page the range touches; the nvsp_message at offset8 * 8.
 * Everything is checked against the packet's length; the packet is the
 * channel's private copy, so nothing here changes under us.
 */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "vsp/netvsp/nvsp.h"

#define PAGE 4096u

/* Minimum lengths of the guest's messages (hyperv_net.h struct sizes, type included). */
static const struct {
	uint32_t type;
	uint8_t len;
} min_lens[] = {
	{NVSP_MSG_TYPE_INIT, 12},
	{NVSP_MSG1_TYPE_SEND_NDIS_VER, 12},
	{NVSP_MSG1_TYPE_SEND_RECV_BUF, 10},
	{NVSP_MSG1_TYPE_REVOKE_RECV_BUF, 6},
	{NVSP_MSG1_TYPE_SEND_SEND_BUF, 10},
	{NVSP_MSG1_TYPE_REVOKE_SEND_BUF, 6},
	{NVSP_MSG1_TYPE_SEND_RNDIS_PKT, 16},
	{NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE, 8},
	{NVSP_MSG2_TYPE_SEND_NDIS_CONFIG, 20},
	{NVSP_MSG4_TYPE_SEND_VF_ASSOCIATION, 12},
	{NVSP_MSG4_TYPE_SWITCH_DATA_PATH, 8},
	{NVSP_MSG5_TYPE_SUBCHANNEL, 12},
	{NVSP_MSG5_TYPE_SEND_INDIRECTION_TABLE, 12},
	{NVSP_MSG5_TYPE_OID_QUERY_EX, 4},
	{NVSP_MSG6_TYPE_PD_API, 4},
	{NVSP_MSG6_TYPE_PD_POST_BATCH, 4},
};

size_t nvsp_min_len(uint32_t msg_type)
{
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(min_lens); i++)
		if (min_lens[i].type == msg_type)
			return min_lens[i].len;
	return 0;
}

static int take_msg(const uint8_t *data, size_t len, bool completion, struct nvsp_parsed *out)
{
	size_t need;

	if (len < 4)
		return -EPROTO;
	out->msg_len = MIN(len, sizeof(out->msg));
	memcpy(&out->msg, data, out->msg_len);
	/* A completion of ours is checked by whoever matches its transaction id. */
	if (completion)
		return 0;
	need = nvsp_min_len(out->msg.msg_type);
	if (need == 0 || out->msg_len < need)
		return -EPROTO;
	return 0;
}

static int take_ranges(const struct vmbus_packet *pkt, size_t hdr_end, struct nvsp_parsed *out)
{
	struct vmbus_gpa_direct_header h;
	size_t pos = sizeof(struct vmbus_packet_desc) + sizeof(h);
	unsigned i;

	if (hdr_end < pos)
		return -EPROTO;
	memcpy(&h, pkt->raw + sizeof(struct vmbus_packet_desc), sizeof(h));
	if (h.range_cnt == 0 || h.range_cnt > NVSP_MAX_RANGES)
		return -EPROTO;
	for (i = 0; i < h.range_cnt; i++) {
		struct nvsp_range *r = &out->ranges[i];
		uint32_t rc[2];
		uint64_t span;

		if (hdr_end - pos < sizeof(rc))
			return -EPROTO;
		memcpy(rc, pkt->raw + pos, sizeof(rc));
		pos += sizeof(rc);
		r->byte_count = rc[0];
		r->byte_offset = rc[1];
		if (r->byte_offset >= PAGE || r->byte_count == 0 || r->byte_count > (1u << 20))
			return -EPROTO;
		span = (uint64_t)r->byte_offset + r->byte_count;
		r->npfn = (unsigned)((span + PAGE - 1) / PAGE);
		if ((hdr_end - pos) / 8 < r->npfn)
			return -EPROTO;
		r->pfns = pkt->raw + pos;
		pos += (size_t)r->npfn * 8;
		out->range_bytes += r->byte_count;
	}
	out->nranges = h.range_cnt;
	return 0;
}

int nvsp_packet_parse(const struct vmbus_packet *pkt, struct nvsp_parsed *out)
{
	size_t hdr_end;
	int r;

	memset(out, 0, sizeof(*out));
	if (pkt->raw_len < sizeof(struct vmbus_packet_desc) || pkt->data < pkt->raw ||
	    pkt->data + pkt->len != pkt->raw + pkt->raw_len)
		return -EPROTO;
	hdr_end = (size_t)(pkt->data - pkt->raw);
	switch (pkt->type) {
	case VMBUS_PKT_DATA_INBAND: return take_msg(pkt->data, pkt->len, false, out);
	case VMBUS_PKT_COMP: return take_msg(pkt->data, pkt->len, true, out);
	case VMBUS_PKT_DATA_USING_GPA_DIRECT:
		r = take_ranges(pkt, hdr_end, out);
		return r < 0 ? r : take_msg(pkt->data, pkt->len, false, out);
	default: return -EPROTO;
	}
}

int nvsp_ranges_read(struct guest_memory *mem, const struct nvsp_parsed *p, uint64_t off, void *dst,
		     size_t len)
{
	uint8_t *out = dst;
	unsigned i;

	if (off > p->range_bytes || len > p->range_bytes - off)
		return -EINVAL;
	for (i = 0; i < p->nranges && len; i++) {
		const struct nvsp_range *r = &p->ranges[i];
		uint64_t pos;

		if (off >= r->byte_count) {
			off -= r->byte_count;
			continue;
		}
		/* Inside range i: from byte r->byte_offset + off of its first page. */
		pos = r->byte_offset + off;
		while (len && off < r->byte_count) {
			uint64_t pfn;
			unsigned pg = (unsigned)(pos / PAGE);
			uint32_t in = (uint32_t)(pos % PAGE);
			size_t n =
				MIN((size_t)(PAGE - in), MIN(len, (size_t)(r->byte_count - off)));

			memcpy(&pfn, r->pfns + 8 * (size_t)pg, 8);
			if (pfn >= (UINT64_C(1) << 52) ||
			    guest_memory_read(mem, pfn * PAGE + in, out, n) < 0)
				return -EFAULT;
			out += n;
			len -= n;
			off += n;
			pos += n;
		}
		off = 0;
	}
	return len ? -EINVAL : 0;
}

int nvsp_ranges_iov(struct guest_memory *mem, const struct nvsp_parsed *p, uint64_t off, size_t len,
		    struct iovec *iov, unsigned max)
{
	unsigned i, n = 0;

	if (off > p->range_bytes || len > p->range_bytes - off)
		return -EINVAL;
	for (i = 0; i < p->nranges && len; i++) {
		const struct nvsp_range *r = &p->ranges[i];
		uint64_t pos;

		if (off >= r->byte_count) {
			off -= r->byte_count;
			continue;
		}
		pos = r->byte_offset + off;
		while (len && off < r->byte_count) {
			uint64_t pfn;
			unsigned pg = (unsigned)(pos / PAGE);
			uint32_t in = (uint32_t)(pos % PAGE);
			size_t k =
				MIN((size_t)(PAGE - in), MIN(len, (size_t)(r->byte_count - off)));
			uint8_t *host;

			memcpy(&pfn, r->pfns + 8 * (size_t)pg, 8);
			host = pfn < (UINT64_C(1) << 52) ? guest_memory_ptr(mem, pfn * PAGE + in, k)
							 : NULL;
			if (!host)
				return -EFAULT;
			if (n && (uint8_t *)iov[n - 1].iov_base + iov[n - 1].iov_len == host) {
				iov[n - 1].iov_len += k;
			} else {
				if (n == max)
					return -E2BIG;
				iov[n++] = (struct iovec){.iov_base = host, .iov_len = k};
			}
			len -= k;
			off += k;
			pos += k;
		}
		off = 0;
	}
	return len ? -EINVAL : (int)n;
}

/*
 * Offloads (offload.h). The checksum arithmetic is RFC 1071's: 16-bit
 * ones-complement sums of big-endian words. Each frame is the host's own
 * copy, so reading and patching it has no race with the guest.
 */
#include <errno.h>
#include <string.h>

#include "vsp/netvsp/offload.h"

#define ETH_HLEN     14u
#define ETH_P_IP     0x0800u
#define ETH_P_IPV6   0x86DDu
#define IPPROTO_TCP_ 6u
#define IPPROTO_UDP_ 17u
#define TCP_CSUM_OFF 16u
#define UDP_CSUM_OFF 6u

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint32_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += be16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static void ipv4_header_csum(uint8_t *ip, size_t ihl)
{
	put_be16(ip + 10, 0);
	put_be16(ip + 10, (uint16_t)~fold(sum16(ip, ihl, 0)));
}

/* The L3 header after the Ethernet header: its ethertype, offset and IPv4 header length. */
static int l3(const uint8_t *frame, size_t len, uint16_t *type, size_t *ihl)
{
	if (len < ETH_HLEN + 20)
		return -EPROTO;
	*type = be16(frame + 12);
	if (*type == ETH_P_IP) {
		*ihl = (size_t)(frame[ETH_HLEN] & 0xf) * 4;
		return *ihl >= 20 && ETH_HLEN + *ihl <= len ? 0 : -EPROTO;
	}
	if (*type == ETH_P_IPV6) {
		*ihl = 40;
		return ETH_HLEN + 40 <= len ? 0 : -EPROTO;
	}
	return -EPROTO;
}

/*
 * NDIS LSO frames carry IPv4 tot_len 0 (IPv6 payload_len 0) and a TCP
 * checksum seeded with a length-0 pseudo-header (netvsc_drv.c); Linux GSO
 * on the TAP wants real lengths and a seed with the TCP length in it.
 * frame: the first head bytes of a frame of len bytes (the headers).
 */
static int lso_fixup(uint8_t *frame, size_t head, size_t len, size_t thoff, bool v6)
{
	uint16_t type;
	size_t ihl;
	uint8_t *check;

	if (l3(frame, head, &type, &ihl) < 0 || type != (v6 ? ETH_P_IPV6 : ETH_P_IP) ||
	    len - ETH_HLEN > 0xffff)
		return -EPROTO;
	if (v6) {
		put_be16(frame + ETH_HLEN + 4, (uint16_t)(len - ETH_HLEN - 40));
	} else {
		put_be16(frame + ETH_HLEN + 2, (uint16_t)(len - ETH_HLEN));
		ipv4_header_csum(frame + ETH_HLEN, ihl);
	}
	check = frame + thoff + TCP_CSUM_OFF;
	put_be16(check, fold((uint32_t)be16(check) + (uint32_t)(len - thoff)));
	return 0;
}

int nv_offload_tx(const struct rndis_tx_info *info, uint8_t *frame, size_t len,
		  struct tap_vnet_hdr *h)
{
	return nv_offload_tx_head(info, frame, len, len, h);
}

int nv_offload_tx_head(const struct rndis_tx_info *info, uint8_t *frame, size_t head, size_t len,
		       struct tap_vnet_hdr *h)
{
	memset(h, 0, sizeof(*h));
	if (head > len)
		return -EPROTO;
	if (info->has_lso) {
		bool v6 = (info->lso & NDIS_LSO_IPV6) != 0;
		size_t thoff = NDIS_LSO_TCP_HDR_OFFSET(info->lso), doff;
		uint32_t mss = NDIS_LSO_MSS(info->lso);

		if (mss == 0 || mss > 0xffff || thoff < ETH_HLEN + 20 || thoff + 20 > head)
			return -EPROTO;
		doff = (size_t)(frame[thoff + 12] >> 4) * 4;
		if (doff < 20 || thoff + doff > head)
			return -EPROTO;
		if (lso_fixup(frame, head, len, thoff, v6) < 0)
			return -EPROTO;
		h->flags = TAP_VNET_F_NEEDS_CSUM;
		h->gso_type = v6 ? TAP_VNET_GSO_TCPV6 : TAP_VNET_GSO_TCPV4;
		h->gso_size = (uint16_t)mss;
		h->hdr_len = (uint16_t)(thoff + doff);
		h->csum_start = (uint16_t)thoff;
		h->csum_offset = TCP_CSUM_OFF;
		return 0;
	}
	if (!info->has_csum)
		return 0;
	if (info->csum & NDIS_TX_CSUM_IP_HEADER) {
		uint16_t type;
		size_t ihl;

		/* Windows guests leave the IPv4 header checksum to the host too. */
		if (l3(frame, head, &type, &ihl) < 0 || type != ETH_P_IP)
			return -EPROTO;
		ipv4_header_csum(frame + ETH_HLEN, ihl);
	}
	if (info->csum & (NDIS_TX_CSUM_TCP | NDIS_TX_CSUM_UDP)) {
		size_t thoff = NDIS_TX_CSUM_TCP_HDR_OFFSET(info->csum);
		uint16_t off = (info->csum & NDIS_TX_CSUM_TCP) ? TCP_CSUM_OFF : UDP_CSUM_OFF;

		/* The field already holds the folded pseudo-header sum (CHECKSUM_PARTIAL). */
		if (thoff < ETH_HLEN || thoff + off + 2 > head)
			return -EPROTO;
		h->flags = TAP_VNET_F_NEEDS_CSUM;
		h->csum_start = (uint16_t)thoff;
		h->csum_offset = off;
	}
	return 0;
}

/* Which L4 protocol a frame carries (0 if neither TCP nor UDP over IPv4/IPv6). */
static unsigned l4_proto(const uint8_t *frame, size_t len)
{
	uint16_t type;
	size_t ihl;

	if (l3(frame, len, &type, &ihl) < 0)
		return 0;
	return type == ETH_P_IP ? frame[ETH_HLEN + 9] : frame[ETH_HLEN + 6];
}

static uint32_t succeeded(const uint8_t *frame, size_t len)
{
	switch (l4_proto(frame, len)) {
	case IPPROTO_TCP_: return NDIS_RX_CSUM_TCP_SUCCEEDED | NDIS_RX_CSUM_IP_SUCCEEDED;
	case IPPROTO_UDP_: return NDIS_RX_CSUM_UDP_SUCCEEDED | NDIS_RX_CSUM_IP_SUCCEEDED;
	default: return 0;
	}
}

int nv_offload_rx(const struct tap_vnet_hdr *h, uint8_t *frame, size_t len, uint32_t *ret_csum)
{
	*ret_csum = 0;
	if (h->flags & TAP_VNET_F_NEEDS_CSUM) {
		size_t start = h->csum_start, off = h->csum_offset;
		uint8_t *field;

		/* skb_checksum_help: sum from csum_start to the end, into the seeded field. */
		if (start >= len || off + 2 > len - start)
			return -EPROTO;
		field = frame + start + off;
		put_be16(field, (uint16_t)~fold(sum16(frame + start, len - start, 0)));
		if (be16(field) == 0 && off == UDP_CSUM_OFF)
			put_be16(field, 0xffff); /* UDP: 0 means "no checksum" */
		*ret_csum = succeeded(frame, len);
		return 0;
	}
	if (h->flags & TAP_VNET_F_DATA_VALID)
		*ret_csum = succeeded(frame, len);
	return 0;
}

int nv_offload_rx_rsc(const struct tap_vnet_hdr *h, uint8_t *frame, size_t len, uint32_t *ret_csum,
		      uint32_t *ret_segments)
{
	unsigned gso = h->gso_type & ~TAP_VNET_GSO_ECN;
	uint16_t type;
	size_t ihl, thoff, doff, payload;

	*ret_csum = 0;
	*ret_segments = 0;
	if ((gso != TAP_VNET_GSO_TCPV4 && gso != TAP_VNET_GSO_TCPV6) ||
	    l3(frame, len, &type, &ihl) < 0 ||
	    type != (gso == TAP_VNET_GSO_TCPV4 ? ETH_P_IP : ETH_P_IPV6) ||
	    l4_proto(frame, len) != IPPROTO_TCP_)
		return -EPROTO;
	/* IPv6 extension headers are not coalesced by Linux's GRO into such frames: none here. */
	if (type == ETH_P_IP ? be16(frame + ETH_HLEN + 2) != len - ETH_HLEN
			     : be16(frame + ETH_HLEN + 4) != len - ETH_HLEN - 40)
		return -EPROTO;
	thoff = ETH_HLEN + ihl;
	if (thoff + 20 > len)
		return -EPROTO;
	doff = (size_t)(frame[thoff + 12] >> 4) * 4;
	if (doff < 20 || thoff + doff > len)
		return -EPROTO;
	if (nv_offload_rx(h, frame, len, ret_csum) < 0)
		return -EPROTO;
	if (type == ETH_P_IP)
		ipv4_header_csum(frame + ETH_HLEN, ihl);
	/* Checked by the host stack (DATA_VALID) or computed here (NEEDS_CSUM); else verify. */
	if (!(*ret_csum & NDIS_RX_CSUM_TCP_SUCCEEDED)) {
		uint32_t sum = sum16(frame + thoff, len - thoff, 0);

		if (type == ETH_P_IP)
			sum = sum16(frame + ETH_HLEN + 12, 8, sum);
		else
			sum = sum16(frame + ETH_HLEN + 8, 32, sum);
		sum += IPPROTO_TCP_ + (uint32_t)(len - thoff);
		*ret_csum = fold(sum) == 0xffff
				    ? NDIS_RX_CSUM_TCP_SUCCEEDED | NDIS_RX_CSUM_IP_SUCCEEDED
				    : NDIS_RX_CSUM_TCP_FAILED | NDIS_RX_CSUM_IP_SUCCEEDED;
	}
	payload = len - thoff - doff;
	*ret_segments = h->gso_size ? (uint32_t)((payload + h->gso_size - 1) / h->gso_size) : 1;
	return 0;
}

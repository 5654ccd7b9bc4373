#!/usr/bin/env python3
"""Writes the seed corpora of fuzz_nvsp.c (../corpus/nvsp_packet) and fuzz_rndis.c
(../corpus/rndis): the packets and messages Linux 6.1's hv_netvsc sends
(netvsc.c, rndis_filter.c, netvsc_drv.c), and a few of what a hostile guest would."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def out(corpus, name, data):
    d = os.path.join(HERE, '..', 'corpus', corpus)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def nvsp(*words):
    m = b''.join(struct.pack('<I', w) for w in words)
    return m + bytes(40 - len(m))


def inband(msg, flags=1, tid=1):
    size = 16 + len(msg)
    return struct.pack('<HHHHQ', 6, 2, size // 8, flags, tid) + msg


def gpa_direct(msg, ranges, tid=7):
    hdr = struct.pack('<II', 0, len(ranges))
    for count, off, pfns in ranges:
        hdr += struct.pack('<II', count, off) + b''.join(struct.pack('<Q', p) for p in pfns)
    hl = 16 + len(hdr)
    return struct.pack('<HHHHQ', 9, hl // 8, (hl + len(msg)) // 8, 1, tid) + hdr + msg


# --- NVSP packets ---
out('nvsp_packet', 'init_61', inband(nvsp(1, 0x60001, 0x60001)))
out('nvsp_packet', 'ndis_config', inband(nvsp(125, 1514, 0) + b'', 0))
out('nvsp_packet', 'ndis_ver', inband(nvsp(100, 6, 30), 0))
out('nvsp_packet', 'recv_buf', inband(nvsp(101, 0xe1e10, 0xcafe)))
out('nvsp_packet', 'send_buf', inband(nvsp(104, 0xe1e11, 0)))
out('nvsp_packet', 'subchannel', inband(nvsp(133, 1, 3)))
out('nvsp_packet', 'rndis_section', inband(nvsp(107, 0, 5, 60)))
out('nvsp_packet', 'rndis_control_gpa', gpa_direct(nvsp(107, 1, 0xffffffff, 0),
                                                   [(24, 0x10, [3])]))
out('nvsp_packet', 'rndis_data_pages', gpa_direct(nvsp(107, 0, 0xffffffff, 0),
                                                  [(60, 0, [4]), (4096, 0, [5]), (100, 0xf00, [6, 7])]))
out('nvsp_packet', 'completion', struct.pack('<HHHHQ', 11, 2, 3, 0, 9) + nvsp(108, 1)[:8])
out('nvsp_packet', 'bad_range_count', gpa_direct(nvsp(107, 0, 0xffffffff, 0), [(60, 0, [4])])
    [:20] + struct.pack('<I', 1000) + bytes(40))
out('nvsp_packet', 'short', inband(struct.pack('<I', 1)))

# --- RNDIS ---
def rndis(mtype, body):
    return struct.pack('<II', mtype, 8 + len(body)) + body


def packet(frame, ppis=b''):
    body = struct.pack('<9I', 36 + len(ppis), len(frame), 0, 0, 0, 36 if ppis else 0, len(ppis), 0, 0)
    return rndis(1, body + ppis + frame)


def ppi(kind, val):
    return struct.pack('<IIII', 16, kind, 12, val)


eth = bytes.fromhex('020000000002' '00155d000001' '0800')
ip = bytes.fromhex('4500' '0000' '0000' '4000' '4006' '0000') + bytes([10, 77, 0, 10, 10, 77, 0, 1])
tcp = struct.pack('!HHIIBBHHH', 1234, 80, 1, 0, 5 << 4, 0x18, 65535, 0, 0)
lso_frame = eth + ip + tcp + bytes(3000)
udp_frame = eth + bytes.fromhex('4500002400004000401100000a4d000a0a4d0001') + \
    struct.pack('!HHHH', 1, 7777, 16, 0) + b'payload!'
out('rndis', 'packet_plain', b'\x00' + packet(eth + bytes(46)))
out('rndis', 'packet_csum_udp', b'\x00' + packet(udp_frame, ppi(0, 0x1 | 0x8 | (34 << 16))))
out('rndis', 'packet_lso', b'\x00' + packet(lso_frame, ppi(2, 1448 | (34 << 20) | (1 << 30))))
out('rndis', 'packet_vlan_hash', b'\x00' + packet(eth + bytes(46), ppi(6, 5 << 4) + ppi(8, 0x1234)))
out('rndis', 'packet_zero_ppi', b'\x00' + packet(eth + bytes(46), struct.pack('<III', 0, 0, 12)))
out('rndis', 'packet_bad_offset', b'\x00' + rndis(1, struct.pack('<9I', 9999, 60, 0, 0, 0, 0, 0, 0, 0)))
out('rndis', 'init', b'\x01' + rndis(2, struct.pack('<4I', 1, 1, 0, 0x4000)))
for i, oid in enumerate((0x00010106, 0x01010101, 0xFC01020D, 0x00010114, 0x00010107, 0x00010203,
                         0x00020216)):
    out('rndis', f'query_{oid:08x}', b'\x01' + rndis(4, struct.pack('<5I', i + 2, oid, 0, 0, 0)))
offload = struct.pack('<BBH', 0x80, 3, 28) + bytes([4, 4, 4, 4, 4, 0, 0, 2, 2, 0, 0, 0]) + bytes(12)
out('rndis', 'set_offload', b'\x01' + rndis(5, struct.pack('<5I', 9, 0xFC01020C, len(offload), 20, 0) + offload))
out('rndis', 'set_filter', b'\x01' + rndis(5, struct.pack('<6I', 10, 0x0001010E, 4, 20, 0, 0xd)))
rss = struct.pack('<BBHHHIHHIHHIIII', 0x89, 2, 40, 0, 0, 0x1701, 16 * 4, 0, 40, 40, 0, 40 + 64, 0, 0, 0)
out('rndis', 'set_rss', b'\x01' + rndis(5, struct.pack('<5I', 11, 0x00010204, len(rss) + 104, 20, 0) +
                                         rss + bytes(104)))
out('rndis', 'set_bad_offset', b'\x01' + rndis(5, struct.pack('<6I', 12, 0x0001010E, 4, 9999, 0, 0)))
out('rndis', 'halt', b'\x01' + rndis(3, struct.pack('<I', 13)))
out('rndis', 'keepalive', b'\x01' + rndis(8, struct.pack('<I', 14)))
out('rndis', 'rx_needs_csum', b'\x02' + struct.pack('<BBHHHH', 1, 0, 0, 0, 34, 6) + udp_frame)
out('rndis', 'rx_data_valid', b'\x02' + struct.pack('<BBHHHH', 2, 0, 0, 0, 0, 0) + udp_frame)
out('rndis', 'rx_bad_csum_offset', b'\x02' + struct.pack('<BBHHHH', 1, 0, 0, 0, 60000, 6) + udp_frame)
# TAP frames the guest's RSS hash reads (rss.c): TCP over IPv4, TCP over IPv6, a VLAN tag.
ip6 = bytes.fromhex('6000000000140640') + bytes.fromhex('3ffe25010200' '1fff' + '00' * 7 + '07') + \
    bytes.fromhex('3ffe25010200' '0003' + '00' * 7 + '01')
out('rndis', 'rx_tcp4_rss', b'\x02' + bytes(10) + eth + ip + tcp)
out('rndis', 'rx_tcp6_rss', b'\x02' + bytes(10) + eth[:12] + b'\x86\xdd' + ip6 + tcp)
out('rndis', 'rx_vlan_tcp4_rss', b'\x02' + bytes(10) + eth[:12] + b'\x81\x00\x00\x05\x08\x00' + ip + tcp)
# RSC: the guest turns it on (rsc_ip_v4/v6 = 2 in the 28-byte parameters), and large TCP frames
# the TAP hands over whole (a GSO vnet header, real IP lengths) go through the RSC checks.
offload_rsc = struct.pack('<BBH', 0x80, 3, 28) + bytes([4, 4, 4, 4, 4, 0, 0, 2, 2, 0, 0, 0]) + \
    bytes(4) + bytes([0, 0, 2, 2]) + bytes(4)
out('rndis', 'set_offload_rsc', b'\x01' + rndis(5, struct.pack('<5I', 15, 0xFC01020C, len(offload_rsc), 20, 0) +
                                                 offload_rsc))
big = bytes(i * 7 & 0xff for i in range(8000))
ip_big = bytes.fromhex('4500') + struct.pack('!H', 20 + 20 + len(big)) + ip[4:]
out('rndis', 'rx_gso_tcp4', b'\x02' + struct.pack('<BBHHHH', 1, 1, 54, 1448, 34, 16) + eth + ip_big + tcp + big)
ip6_big = ip6[:4] + struct.pack('!H', 20 + len(big)) + ip6[6:]
out('rndis', 'rx_gso_tcp6', b'\x02' + struct.pack('<BBHHHH', 2, 4, 74, 1428, 0, 0) + eth[:12] + b'\x86\xdd' +
    ip6_big + tcp + big)

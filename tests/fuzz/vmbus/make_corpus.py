#!/usr/bin/env python3
"""Writes the seed inputs of the VMBus fuzz targets (run from anywhere):
corpus/vmbus_messages: message sequences as a Linux 6.1 guest sends them;
corpus/vmbus_ring: ring contents with good and bad indices.
Formats: see the header comments of fuzz_vmbus_messages.c and fuzz_vmbus_ring.c."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, '..', 'corpus')


def rec(conn_sel, msg):
    assert len(msg) <= 255
    return bytes([conn_sel, len(msg)]) + msg


def hdr(t):
    return struct.pack('<II', t, 0)


def initiate(version, conn_sel=1, vp=0):
    sint_or_page = 2 if version >= 0x50000 else 0x3000
    return rec(conn_sel, hdr(14) + struct.pack('<IIQQQ', version, vp, sint_or_page, 0x5000, 0x6000))


def request_offers():
    return rec(0, hdr(3))


def gpadl(relid, gid, first_pfn, npages):
    pfns = [first_pfn + i for i in range(npages)]
    out = b''
    head = pfns[:26]
    msg = hdr(8) + struct.pack('<IIHH', relid, gid, 8 + 8 * npages, 1)
    msg += struct.pack('<II', npages * 4096, 0) + b''.join(struct.pack('<Q', p) for p in head)
    out += rec(0, msg)
    rest = pfns[26:]
    while rest:
        chunk, rest = rest[:28], rest[28:]
        out += rec(0, hdr(9) + struct.pack('<II', 0, gid) + b''.join(struct.pack('<Q', p) for p in chunk))
    return out


def open_channel(relid, gid, offset, vp=0):
    return rec(0, hdr(5) + struct.pack('<IIIII', relid, relid, gid, vp, offset) + bytes(120))


def close(relid):
    return rec(0, hdr(7) + struct.pack('<I', relid))


def teardown(relid, gid):
    return rec(0, hdr(11) + struct.pack('<II', relid, gid))


def unload():
    return rec(0, hdr(16))


def signal():
    return bytes([3, 0])


def write(name, data):
    os.makedirs(os.path.dirname(name), exist_ok=True)
    with open(name, 'wb') as f:
        f.write(data)


def messages():
    d = os.path.join(CORPUS, 'vmbus_messages')
    base = initiate(0x50003, 1) + request_offers()
    write(os.path.join(d, 'connect_5_3'), base)
    write(os.path.join(d, 'connect_walk_down'),
          initiate(0x50003, 1) + initiate(0x60000, 1) + initiate(0x40000, 0) + request_offers())
    # Rings: 4 pages from PFN 0x100, guest->host ring = first 2 pages.
    opened = base + gpadl(1, 0xE1E10, 0x100, 4) + open_channel(1, 0xE1E10, 2)
    write(os.path.join(d, 'open_close'), opened + signal() + close(1) + teardown(1, 0xE1E10))
    write(os.path.join(d, 'open_unload_reconnect'),
          opened + unload() + initiate(0x40001, 0) + request_offers() +
          gpadl(1, 0xE1E11, 0x200, 60) + open_channel(1, 0xE1E11, 30, 1))
    write(os.path.join(d, 'gpadl_multi'), base + gpadl(1, 0xE1E12, 0x10, 100) + teardown(1, 0xE1E12))
    write(os.path.join(d, 'teardown_in_use'), opened + teardown(1, 0xE1E10) + close(1))
    write(os.path.join(d, 'modify_release'),
          opened + rec(0, hdr(22) + struct.pack('<II', 1, 1)) + rec(0, hdr(13) + struct.pack('<I', 1)))


def ring():
    d = os.path.join(CORPUS, 'vmbus_ring')
    pkt = struct.pack('<HHHHQ', 6, 2, 4, 1, 77) + b'abcdefghijklmnop' + struct.pack('<Q', 0)
    write(os.path.join(d, 'one_packet'), struct.pack('<IIII', 40, 0, 0, 0) + bytes([1, 3]) + pkt)
    two = pkt + struct.pack('<HHHHQ', 11, 2, 2, 0, 78) + struct.pack('<Q', 40 << 32)
    write(os.path.join(d, 'two_packets'), struct.pack('<IIII', 64, 0, 0, 100) + bytes([1, 9]) + two)
    write(os.path.join(d, 'bad_len'), struct.pack('<IIII', 40, 0, 0, 0) + bytes([1, 3]) +
          struct.pack('<HHHHQ', 6, 2, 200, 0, 1) + bytes(24))
    write(os.path.join(d, 'bad_index'), struct.pack('<IIII', 8190, 13, 1, 5000) + bytes([0, 1]) + pkt)
    wrap = bytearray(8192)
    wrap[8192 - 24:] = pkt[:24]
    wrap[:16] = pkt[24:]
    write(os.path.join(d, 'wraps'), struct.pack('<IIII', 16, 8192 - 24, 0, 0) + bytes([1, 2]) + bytes(wrap))


if __name__ == '__main__':
    messages()
    ring()

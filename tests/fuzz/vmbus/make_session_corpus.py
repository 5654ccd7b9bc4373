#!/usr/bin/env python3
"""Seeds of fuzz_vmbus_session (corpus/vmbus_session): sessions that reach an
open channel of each integration service and talk to it as Linux 6.1's
hv_utils does, and the hostile sequences of issue 12 (an OPENCHANNEL past
a GPADL's end, GPADLs naming pages that are not RAM, the teardown of an
open channel's rings, UNLOAD with packets in flight, ring headers changed
under the host). Format: see fuzz_vmbus_session.c (each operation is its
code, a channel selector, then its arguments)."""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'corpus', 'vmbus_session')
(CONNECT, OFFERS, OPEN, SEND, RECV, CLOSE, GPADL, OPEN_RAW, TEARDOWN, UNLOAD, RAW, SIGNAL,
 RING_HEADER, HOST, SETTLE) = range(15)
HEARTBEAT, SHUTDOWN, TIMESYNC, KVP = range(4)  # offer order: creation order


def op(code, idx=0, *args):
    return bytes([code, idx]) + bytes(args)


def start():
    return op(CONNECT, 0, 0) + op(OFFERS)


def open_(idx, pages=2):
    return op(OPEN, idx, pages, pages, 0)


def send(idx, payload, answer=True, trans_id=0):
    return (op(SEND, idx) + struct.pack('<HB', len(payload), 1 if answer else 0) + payload +
            struct.pack('<I', trans_id))


def settle():
    return op(SETTLE, 0, 7) + op(SETTLE, 0, 7)


def ic(body, status=0):
    hdr = struct.pack('<HHHHHHIBBH', 3, 0, 0, 0, 0, len(body), status, 0, 5, 0)
    return struct.pack('<II', 1, len(hdr) + len(body)) + hdr + body


def negotiate(major, minor):
    return ic(struct.pack('<HHI', 1, 1, 0) + struct.pack('<HHHH', 3, 0, major, minor))


def utf16(s):
    return (s + '\0').encode('utf-16-le')


def kvp_enum(pool, index, key, value):
    k, v = utf16(key), utf16(value)
    body = struct.pack('<BBHI', 3, pool, 0, index) + struct.pack('<III', 1, len(k), len(v))
    return ic(body + k.ljust(512, b'\0') + v.ljust(2048, b'\0'))


def talk(idx, answers):
    s = start() + open_(idx) + settle() + op(RECV, idx)
    for a in answers:
        s += send(idx, a) + settle() + op(RECV, idx)
    return s + op(CLOSE, idx) + op(UNLOAD)


def gpadl(npages, relid_sel=0, flags=0, pool=0, extra=b''):
    return op(GPADL, 0, npages - 1, pool, flags, relid_sel) + extra


seeds = {
    'heartbeat': talk(HEARTBEAT, [negotiate(3, 0), ic(struct.pack('<Q', 2) + bytes(32))]),
    'shutdown': start() + open_(SHUTDOWN) + settle() + op(RECV, SHUTDOWN) +
                send(SHUTDOWN, negotiate(3, 2)) + op(HOST, 0, 1) + settle() +
                op(RECV, SHUTDOWN) + send(SHUTDOWN, ic(bytes(2060))) + op(CLOSE, SHUTDOWN),
    'timesync': talk(TIMESYNC, [negotiate(3, 0), ic(bytes(32))]) ,
    'kvp': start() + op(HOST, 0, 0, 1, 1) + open_(KVP) + settle() + op(RECV, KVP) +
           send(KVP, negotiate(4, 0)) + settle() + op(RECV, KVP) +
           send(KVP, kvp_enum(2, 0, 'FullyQualifiedDomainName', 'guest1')) + settle() +
           op(RECV, KVP) + send(KVP, kvp_enum(2, 1, 'Bad\x1b[2Jname', 'v\x07' * 500)) +
           settle() + op(RECV, KVP) + send(KVP, ic(bytes(2580), 0x80070103)) +
           op(CLOSE, KVP),
    # Issue 12, item 1: a one-page GPADL, then OPENCHANNEL with page offsets 2, 1 and 40.
    'open_past_gpadl': start() + gpadl(1) + op(OPEN_RAW, 0, 0, 0, 2, 0) +
                       op(OPEN_RAW, 0, 0, 0, 1, 0) + op(OPEN_RAW, 0, 0, 0, 40, 0) +
                       gpadl(4, pool=4) + op(OPEN_RAW, 0, 0, 1, 4, 0) +
                       op(OPEN_RAW, 0, 0, 1, 2, 0) + settle(),
    # PFNs in the MMIO hole, RAM's last page, past RAM, past 2^52; then opens over them.
    'gpadl_not_ram': start() + gpadl(4, flags=0x10, extra=bytes([0, 1, 2, 3])) +
                     gpadl(4, flags=0x10, extra=bytes([5, 5, 5, 1])) +
                     gpadl(3, flags=0x10 | 0x02, extra=bytes([8]) + bytes([4, 5, 5])) +
                     op(OPEN_RAW, 0, 0, 1, 2, 0) + op(OPEN_RAW, 0, 0, 2, 1, 0),
    # GPADL_TEARDOWN of the GPADL holding an open channel's rings, then traffic and close.
    'teardown_open_ring': start() + open_(HEARTBEAT) + op(TEARDOWN, HEARTBEAT, 0, 0x80) +
                          send(HEARTBEAT, negotiate(3, 0)) + settle() +
                          op(RECV, HEARTBEAT) + op(CLOSE, HEARTBEAT) + op(UNLOAD),
    # UNLOAD and a second INITIATE_CONTACT with packets in flight, then all over again.
    'unload_in_flight': start() + open_(KVP) + open_(TIMESYNC) +
                        b''.join(send(KVP, negotiate(4, 0)) for _ in range(8)) +
                        op(CONNECT, 0, 0) + op(UNLOAD) + start() + open_(KVP) + settle() +
                        op(RECV, KVP),
    # Indices written under the host: read index past the end, write index unaligned, a
    # write index moved back so that old packets are read again.
    'ring_headers': start() + open_(TIMESYNC) + send(TIMESYNC, negotiate(3, 0)) +
                    op(RING_HEADER, TIMESYNC, 0, 0, 0, 0, 0) +
                    op(RING_HEADER, TIMESYNC, 2, 0xF8, 0xFF, 0, 0) +
                    op(RING_HEADER, TIMESYNC, 1, 0x0C, 0, 0, 0) +
                    op(RING_HEADER, TIMESYNC, 4, 1, 0, 0, 0) + settle() +
                    op(RECV, TIMESYNC) + op(CLOSE, TIMESYNC),
}
os.makedirs(OUT, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(OUT, name), 'wb') as f:
        f.write(data)

#!/usr/bin/env python3
# Writes the seed corpus of the vmbus_state fuzz target (tests/fuzz/corpus/vmbus_state/):
# "vmbus" section payloads (src/vmbus/vmbus_state.c, version 1) written
# independently of the C code, for the channels fuzz_vmbus_state.c creates
# (relids 1..9: shutdown, timesync, heartbeat, kvp, SCSI controller 0, network adapter 0,
# video, keyboard, mouse):
# a bus the guest never connected to; a connected one with the heartbeat,
# the controller and one sub-channel open, GPADLs (one half-built) and a
# queued message; and near misses.
# Usage: tests/fuzz/vmbus/make_vmbus_state_corpus.py tests/fuzz/corpus/vmbus_state
import os
import struct
import sys
import uuid

SHUTDOWN = ("0e0b6031-5213-4934-818b-38d90ced39db", "b6650ff7-33bc-4840-8048-e0676786f393")
TIMESYNC = ("9527e630-d0ae-497b-adce-e80ab0175caf", "2dd1ce17-079e-403c-b352-a1921ee207ee")
HEARTBEAT = ("57164f39-9115-4e78-ab55-382f3bd5422d", "fedfe55d-1e0e-4ce6-a2c6-b1b5e9253bb8")
KVP = ("a9a0f4e7-5a45-4d96-b827-8a841e8c03e6", "242ff919-07db-4180-9c2e-b86cb68c8c55")
SCSI = ("ba6163d9-04a1-4d29-b605-72e2ffb1dc7f", "7a1b2c30-5d4e-4f60-8a9b-706172760000")
VIDEO = ("da0a7802-e377-4aac-8e77-0558eb1073f8", "5620e0c7-8062-4dce-aeb7-520c7ef76171")
KBD = ("f912ad6d-2b17-48ea-bd65-f927a61c7684", "d34b2567-b9b6-42b9-8778-0a4ec0b955bf")
MOUSE = ("cfa8b69e-5b4a-4cc0-b98b-8ba1a1f3f95a", "58f75a6d-d949-4320-99e1-a2a2576d581c")
NIC = ("f8615163-df3e-46c5-913f-f2d2f965ed0e", "7a1b2c31-5d4e-4f60-8a9b-706172760000")
OFFERED, OPEN = 1, 2
IC_CLOSED, IC_READY = 0, 2
V30 = (3 << 16) | 0
VMBUS_5_2 = (5 << 16) | 2
STOR_WIN10 = (6 << 8) | 2


def u8(v): return struct.pack("<B", v)
def u32(v): return struct.pack("<I", v)
def u64(v): return struct.pack("<Q", v)
def guid(s): return uuid.UUID(s).bytes_le


def ic(state=IC_CLOSED, fw=0, msg=0, sent=0, busy=0, busy_type=0, tid=0):
    return u32(1) + u32(state) + u32(fw) + u32(msg) + u8(sent) + u8(busy) + u32(busy_type) + u8(tid)


def shutdown_blob(**kw): return ic(**kw) + u8(0) + u8(0) + b"\0" * 2060
def timesync_blob(**kw): return ic(**kw) + u8(1)
def heartbeat_blob(seq=0, **kw): return ic(**kw) + u64(seq)
def kvp_blob(**kw): return ic(**kw) + u32(0) + u32(0) + u32(0) + u32(0) * 4


def scsi_primary(version=0, stage=0, nchans=1):
    return u32(1) + u32(0) + u32(version) + u32(stage) + u8(0) + u32(nchans) + u8(0) * (nchans - 1)


def netvsp_primary():
    """A closed adapter (src/vsp/netvsp/netvsp_state.c, format 1)."""
    out = u32(1) + u32(0) + u32(0) * 4 + u32(1500) + u32(0xFFFFFFFF) + u8(0) + u32(0) + u32(1)
    out += u8(0) + u32(0) + b"\0" * 28 + u32(0) + u32(0) * 256 + u32(0) + u32(0) + b"\0" * 40
    out += (u8(0) + u32(0) * 4) * 2 + u32(0)
    return out


def netvsp_ready(sections=78):
    """An initialized adapter with its receive buffer (GPADL 0x110, 32 pages, sections of 1664
    bytes, a few held by the guest) and send buffer (GPADL 0x111, 16 pages)."""
    out = u32(1) + u32(0) + u32(2) + u32(0x60001) + u32(6) + u32(30) + u32(1500) + u32(1)
    out += u8(0) + u32(0) + u32(1)
    out += u8(1) + u32(0xB) + b"\0" * 28 + u32(0) + u32(0) * 256 + u32(0) + u32(0) + b"\0" * 40
    out += u8(1) + u32(0x110) + u32(0xCAFE) + u32(1664) + u32(sections)
    out += u8(1) + u32(0x111) + u32(0xBEEF) + u32(6144) + u32(10)
    owners = bytearray(sections)
    owners[3] = owners[4] = 1
    return out + u32(sections) + bytes(owners)


def netvsp_ready_rsc(sections=78, chain=(3, 4, 5)):
    """Format 2: RSC on for IPv4 and IPv6, and one RSC receive held by the guest: its first
    section (owner 1) and the later ones (owner 0x81), linked first to last."""
    out = u32(2) + u32(0) + u32(2) + u32(0x60001) + u32(6) + u32(30) + u32(1500) + u32(1)
    out += u8(0) + u32(0) + u32(1)
    out += u8(1) + u32(0xB) + b"\0" * 28 + u32(0) + u32(0) * 256 + u32(0) + u32(0) + b"\0" * 40
    out += u8(3)
    out += u8(1) + u32(0x110) + u32(0xCAFE) + u32(1664) + u32(sections)
    out += u8(1) + u32(0x111) + u32(0xBEEF) + u32(6144) + u32(10)
    owners = bytearray(sections)
    nxt = [0xFFFFFFFF] * sections
    for i, x in enumerate(chain):
        owners[x] = 1 if i == 0 else 0x81
        if i + 1 < len(chain):
            nxt[x] = chain[i + 1]
    return out + u32(sections) + bytes(owners) + b"".join(u32(v) for v in nxt)


def video_blob():
    """synthvid not negotiated, VRAM not placed (src/vsp/synthvid/synthvid.c)."""
    return u32(1) + u32(0) + u64(0xFFFFFFFFFFFFFFFF) + u32(0xFFFFFFFF) + u8(0) + u32(0) * 4 \
        + u8(0) + u32(0) * 6 + u8(0) + u32(0)


def kbd_blob(): return u32(1) + u8(0) + u32(0) + u32(0)
def mouse_blob(): return u32(1) + u32(0) + u8(0) + u32(0)


def console(state):
    return [channel(VIDEO, 7, state, video_blob()), channel(KBD, 8, state, kbd_blob()),
            channel(MOUSE, 9, state, mouse_blob())]


def channel(ids, relid, state, blob, sub=0, vp=0, ring=None):
    out = guid(ids[0]) + guid(ids[1]) + u32(sub) + u32(relid) + u32(state) + u32(vp)
    if state == OPEN:
        gpadl, offset = ring
        out += u32(gpadl) + u32(offset) + u32(0) + u32(0) + u32(0) + u32(0) + u8(0)
    return out + u32(len(blob)) + blob


def gpadl_done(gid, relid, first_pfn, npages):
    out = u32(gid) + u32(relid) + u8(1) + u8(0) + u32(1) + u32(npages * 4096) + u32(0) + u32(npages)
    return out + b"".join(u64(first_pfn + i) for i in range(npages))


def gpadl_pending(gid, relid, total_pfns, received_pfns):
    head = u32(total_pfns * 4096) + u32(0) + b"".join(u64(0x500 + i) for i in range(received_pfns))
    return u32(gid) + u32(relid) + u8(0) + u32(8 + 8 * total_pfns) + u32(1) + u32(len(head)) + head


def bus(conn, version, offers, gpadls, channels, queued=()):
    out = u32(conn) + u32(version) + u32(0) + u8(offers) + u64(2) + u64(0x7000) + u64(0x8000)
    out += u32(len(gpadls)) + b"".join(gpadls)
    out += u32(len(channels)) + b"".join(channels)
    out += u32(len(queued))
    for conn_id, msg in queued:
        out += u32(0) + u32(conn_id) + u32(len(msg)) + msg
    return out


def unconnected():
    return bus(0, 0, 0, [], [
        channel(SHUTDOWN, 1, 0, shutdown_blob()),
        channel(TIMESYNC, 2, 0, timesync_blob()),
        channel(HEARTBEAT, 3, 0, heartbeat_blob()),
        channel(KVP, 4, 0, kvp_blob()),
        channel(SCSI, 5, 0, scsi_primary()),
        channel(NIC, 6, 0, netvsp_primary()),
    ] + console(0))


def connected(queued=(), pending=True):
    gpadls = [gpadl_done(0x100, 3, 0x200, 8), gpadl_done(0x101, 5, 0x300, 8),
              gpadl_done(0x102, 10, 0x400, 8)]
    if pending:
        gpadls.append(gpadl_pending(0x103, 4, 40, 20))
    return bus(1, VMBUS_5_2, 1, gpadls, [
        channel(SHUTDOWN, 1, OFFERED, shutdown_blob()),
        channel(TIMESYNC, 2, OFFERED, timesync_blob()),
        channel(HEARTBEAT, 3, OPEN, heartbeat_blob(41, state=IC_READY, fw=V30, msg=V30, sent=1,
                                                   busy=1, busy_type=1, tid=7), ring=(0x100, 4)),
        channel(KVP, 4, OFFERED, kvp_blob()),
        channel(SCSI, 5, OPEN, scsi_primary(STOR_WIN10, 2, 2), ring=(0x101, 4)),
        channel(NIC, 6, OFFERED, netvsp_primary()),
    ] + console(OFFERED) + [
        channel(SCSI, 10, OPEN, u32(1) + u32(1), sub=1, vp=1, ring=(0x102, 4)),
    ], queued)


def netvsp_open(blob=None):
    gpadls = [gpadl_done(0x110, 6, 0x600, 32), gpadl_done(0x111, 6, 0x700, 16),
              gpadl_done(0x112, 6, 0x800, 8)]
    return bus(1, VMBUS_5_2, 1, gpadls, [
        channel(SHUTDOWN, 1, OFFERED, shutdown_blob()),
        channel(TIMESYNC, 2, OFFERED, timesync_blob()),
        channel(HEARTBEAT, 3, OFFERED, heartbeat_blob()),
        channel(KVP, 4, OFFERED, kvp_blob()),
        channel(SCSI, 5, OFFERED, scsi_primary()),
        channel(NIC, 6, OPEN, blob if blob is not None else netvsp_ready(), ring=(0x112, 4)),
    ] + console(OFFERED))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fuzz/corpus/vmbus_state"
    os.makedirs(out, exist_ok=True)
    unload = u32(16) + u32(0)
    seeds = {
        "unconnected": unconnected(),
        "connected": connected(),
        "connected-unload-queued": connected(queued=[(4, unload)]),
        "connected-no-pending-gpadl": connected(pending=False),
        "truncated": connected()[:300],
        "netvsp-open": netvsp_open(),
        "netvsp-too-many-sections": netvsp_open().replace(u32(1664) + u32(78), u32(1664) + u32(79), 1),
        "netvsp-rsc-held": netvsp_open(netvsp_ready_rsc()),
        # A later section linked back to an earlier one of its packet: a cycle, refused.
        "netvsp-rsc-cycle": netvsp_open(netvsp_ready_rsc(chain=(3, 4, 5, 4))),
        "bad-relid": connected().replace(u32(10) + u32(OPEN), u32(4096) + u32(OPEN), 1),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()

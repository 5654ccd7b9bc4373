#!/usr/bin/env python3
"""Seeds for the console devices' fuzz targets: what Linux's hyperv_fb,
hyperv_keyboard and hid_hyperv send (hvdef/synthvid_proto.h and friends),
plus a few broken ones. Writes ../corpus/synthvid_msg and ../corpus/input_msgs."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def vid(t, body):
    return struct.pack("<II", 1, 8 + len(body)) + struct.pack("<II", t, 8 + len(body)) + body


def hid(t, body):
    return struct.pack("<II", 1, 8 + len(body)) + struct.pack("<II", t, len(body)) + body


synthvid = {
    "version": vid(1, struct.pack("<I", 0x00050003)),
    "resolution": vid(13, bytes([64])),
    "vram": vid(3, struct.pack("<QBQ", 0x40000000, 1, 0x40000000)),
    "situation": vid(5, struct.pack("<QBBIBIII", 0, 1, 1, 0, 32, 1024, 768, 4096)),
    "situation_huge": vid(5, struct.pack("<QBBIBIII", 0, 1, 1, 0, 32, 0xFFFFFFFF, 2, 4)),
    "pointer_pos": vid(7, struct.pack("<BBii", 1, 0, 10, 20)),
    "pointer_shape": vid(8, struct.pack("<BBIIII", 0xFF, 1, 1, 1, 0, 0) + bytes([0, 0, 0, 1])),
    "dirt": vid(10, struct.pack("<BB", 0, 2) + struct.pack("<iiii", 0, 0, 1024, 16)
                + struct.pack("<iiii", -5, -5, 99999, 99999)),
    "dirt_short": vid(10, struct.pack("<BB", 0, 9) + struct.pack("<iiii", 0, 0, 1, 1)),
    "bad_pipe": struct.pack("<II", 7, 8) + struct.pack("<II", 1, 8),
}
inputs = {
    "kbd_protocol": b"\0" + struct.pack("<II", 1, 0x00010000),
    "kbd_led": b"\0" + struct.pack("<IHH", 4, 4, 0),
    "kbd_unknown": b"\0" + struct.pack("<II", 99, 0),
    "hid_protocol": b"\1" + hid(0, struct.pack("<I", 0x00020000)),
    "hid_ack": b"\1" + hid(3, b"\0"),
    "hid_oversize": b"\1" + struct.pack("<II", 1, 12) + struct.pack("<II", 0, 9999),
}
web = {
    "page": b"GET /vnc.html?autoconnect=1 HTTP/1.1\r\nHost: x\r\n\r\n",
    "websocket": b"GET /console/0123456789abcdef0123456789abcdef HTTP/1.1\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    "dotdot": b"GET /../etc/passwd HTTP/1.1\r\n\r\n",
    "post": b"POST / HTTP/1.1\r\n\r\n",
}


def rfb_server(w, h, rects):
    out = b"RFB 003.008\n" + bytes([1, 1]) + struct.pack(">I", 0)
    out += struct.pack(">HH", w, h) + bytes(16) + struct.pack(">I", 4) + b"test"
    out += bytes([0, 0]) + struct.pack(">H", len(rects))
    for x, y, rw, rh, enc in rects:
        out += struct.pack(">HHHHi", x, y, rw, rh, enc)
        if enc == 0:
            out += bytes(rw * rh * 4)
    return out


rfb = {
    "full": rfb_server(16, 8, [(0, 0, 16, 8, 0)]),
    "resize": rfb_server(16, 8, [(0, 0, 8, 4, -223), (0, 0, 8, 4, 0)]),
    "outside": rfb_server(16, 8, [(10, 0, 16, 8, 0)]),
    "auth_only": b"RFB 003.008\n" + bytes([1, 2]),
}
for name, seeds in (("synthvid_msg", synthvid), ("input_msgs", inputs), ("web_request", web),
                    ("rfb_capture", rfb)):
    d = os.path.join(HERE, "..", "corpus", name)
    os.makedirs(d, exist_ok=True)
    for k, v in seeds.items():
        with open(os.path.join(d, k), "wb") as f:
            f.write(v)

#!/usr/bin/env python3
"""Seeds of fuzz_ic_messages (corpus/ic_messages): for each IC, the answers a
Linux 6.1 guest gives (version choice, then the IC's own answers).
Format: see fuzz_ic_messages.c."""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'corpus', 'ic_messages')


def answer(body, status=0, answer_flag=1):
    ic = struct.pack('<HHHHHHIBBH', 3, 0, 0, 0, 0, len(body), status, 0, 5, 0)
    payload = struct.pack('<II', 1, len(ic) + len(body)) + ic + body
    return struct.pack('<HB', len(payload), answer_flag) + payload


def negotiate(major, minor):
    return answer(struct.pack('<HHI', 1, 1, 0) + struct.pack('<HHHH', 3, 0, major, minor))


def utf16(s):
    return (s + '\0').encode('utf-16-le')


def kvp_enum(pool, index, key, value):
    k, v = utf16(key), utf16(value)
    body = struct.pack('<BBHI', 3, pool, 0, index) + struct.pack('<III', 1, len(k), len(v))
    body += k.ljust(512, b'\0') + v.ljust(2048, b'\0')
    return answer(body)


def write(name, which, records):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name), 'wb') as f:
        f.write(bytes([which]) + b''.join(records))


write('heartbeat', 0, [negotiate(3, 0), answer(struct.pack('<Q', 2) + bytes(32)),
                       answer(struct.pack('<Q', 99) + bytes(32))])
write('shutdown', 1, [negotiate(3, 2), answer(bytes(2060)), answer(bytes(2060), 0x80004005)])
write('timesync', 2, [negotiate(3, 0), answer(bytes(32)), answer(bytes(32))])
write('kvp', 3, [negotiate(4, 0), answer(bytes(2580)),
                 kvp_enum(2, 0, 'FullyQualifiedDomainName', 'guest1'),
                 kvp_enum(2, 1, 'OSName', 'Linux'), answer(bytes(2580), 0x80070103),
                 answer(bytes(2580), 0x80070103)])
write('no_version', 3, [answer(struct.pack('<HHI', 0, 0, 0) + bytes(8))])
write('garbage', 1, [struct.pack('<HB', 5, 0) + b'hello', answer(b'x'), answer(bytes(3))])

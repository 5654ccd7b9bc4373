#!/usr/bin/env python3
# Writes the seed corpus of the migration_stream fuzz target (tests/fuzz/corpus/migration_stream/):
# small migration streams in the layout of src/migration/migration_format.h, written
# independently of the C writer: a good stream (pages, zero pages, two rounds, the device
# state as a saved-state image, the end), and near misses (truncated, page outside memory,
# a newer version, device state with RAM, a round out of order).
# Usage: tests/fuzz/state/make_migration_corpus.py tests/fuzz/corpus/migration_stream
import os
import struct
import sys

PAGE = 4096
DIGEST = b"\x5a" * 32
MEMORY = 16 * PAGE


def state_image(sections, ram_pages=None):
    """A saved-state file image (src/state/state_format.h), as make_state_corpus.py writes."""
    header_len = 80
    body = bytearray(header_len)
    table = []
    for name, version, data in sections:
        table.append((name, version, len(body), len(data)))
        body += data
    if ram_pages is not None:
        while len(body) % PAGE:
            body += b"\0"
        start = len(body)
        body += b"\1" * PAGE
        table.append(("ram", 1, start, PAGE))
        index = struct.pack("<QQQ", 0, PAGE, start)
        table.append(("ram.index", 1, len(body), len(index)))
        body += index
    table_offset = len(body)
    for name, version, off, length in table:
        body += struct.pack("<32sIIQQ", name.encode(), version, 0, off, length)
    body[:header_len] = struct.pack("<8sII32sQQIIQ", b"PRVSTATE", 1, header_len, DIGEST, MEMORY,
                                    table_offset, len(table), 0, len(body))
    return bytes(body)


def header(version=1, memory=MEMORY):
    return struct.pack("<8sII32sQII", b"PRVMIGRT", version, 64, DIGEST, memory, 0, 0)


def rec(kind, payload):
    return struct.pack("<IIQ", kind, 0, len(payload)) + payload


def pages(first, data):
    return rec(1, struct.pack("<QQ", first, len(data) // PAGE) + data)


def zero(first, count):
    return rec(2, struct.pack("<QQ", first, count))


def round_end(n, count):
    return rec(3, struct.pack("<IIQ", n, 0, count))


def stream(body_records, rounds, version=1):
    records = body_records + [rec(5, struct.pack("<QQ", len(body_records), rounds))]
    return header(version) + b"".join(records)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    devices = rec(4, state_image([("uart.com1", 1, b"abcd"), ("hv", 1, b"\0" * 8)]))
    good_records = [pages(0, b"\x11" * PAGE + b"\x22" * PAGE), zero(2, 14), round_end(0, 16),
                    pages(1, b"\x33" * PAGE), round_end(1, 1), devices]
    good = stream(good_records, 2)
    files = {
        "good": good,
        "truncated": good[:-5],
        "outside": stream([pages(16, b"\x44" * PAGE), round_end(0, 1), devices], 1),
        "newer": stream(good_records, 2, version=2),
        "devices-with-ram": stream([zero(0, 16), round_end(0, 16),
                                    rec(4, state_image([("hv", 1, b"x")], {0: 1}))], 1),
        "round-order": stream([zero(0, 16), round_end(1, 16), devices], 1),
        "header-only": header(),
    }
    for name, data in files.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


main()

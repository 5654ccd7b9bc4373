#!/usr/bin/env python3
# Writes the seed corpus of the state_file fuzz target (tests/fuzz/corpus/state_file/):
# small saved-state files in the layout of src/state/state_format.h, written
# independently of the C writer: a good file with sections and sparse RAM,
# one without RAM, and a few near misses (truncated, bad RAM extent).
# Usage: tests/fuzz/state/make_state_corpus.py tests/fuzz/corpus/state_file
import os
import struct
import sys

PAGE = 4096
HEADER = 80


def state_file(sections, ram_pages=None, memory_bytes=1 << 20, digest=b"\x5a" * 32):
    """sections: [(name, version, bytes)]; ram_pages: {page_index: byte}."""
    body = bytearray(b"\0" * HEADER)
    table = []
    for name, version, data in sections:
        table.append((name, version, len(body), len(data)))
        body += data
    if ram_pages is not None:
        while len(body) % PAGE:
            body += b"\0"
        start = len(body)
        extents = []
        for page in sorted(ram_pages):
            if extents and extents[-1][0] + extents[-1][1] == page * PAGE:
                extents[-1][1] += PAGE
            else:
                extents.append([page * PAGE, PAGE, len(body)])
            body += bytes([ram_pages[page]]) * PAGE
        table.append(("ram", 1, start, len(body) - start))
        index = b"".join(struct.pack("<QQQ", *e) for e in extents)
        table.append(("ram.index", 1, len(body), len(index)))
        body += index
    table_offset = len(body)
    for name, version, off, length in table:
        body += struct.pack("<32sIIQQ", name.encode(), version, 0, off, length)
    header = struct.pack("<8sII32sQQIIQ", b"PRVSTATE", 1, HEADER, digest, memory_bytes,
                         table_offset, len(table), 0, len(body))
    body[:HEADER] = header
    return bytes(body)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    regs = struct.pack("<18Q", *range(18))
    good = state_file([("vcpu.0", 1, regs), ("kvm.clock", 1, b"\1" * 16)],
                      {0: 0x11, 1: 0x22, 9: 0x33})
    files = {
        "good": good,
        "no-ram": state_file([("dev", 2, b"abc")]),
        "truncated": good[:-1],
        "unfinished": b"\0" * HEADER + good[HEADER:],
        "ram-beyond": state_file([], {0: 1}, memory_bytes=0),
        "empty": state_file([]),
    }
    for name, data in files.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


main()

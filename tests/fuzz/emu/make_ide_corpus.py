#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_ide.c into tests/fuzz/corpus/ide/.

Each seed is a sequence of 6-byte operations (see fuzz_ide.c): what Linux's
libata does to probe the channel and move data, by PIO and by DMA.
"""
import os
import struct
import sys

CMD, CTL, BM, MEM, MEDIA = range(5)
SIZE = {1: 0, 2: 1, 4: 2}


def op(target, offset, value=0, size=1, write=True, mem_slot=0):
    b0 = target | SIZE[size] << 3 | (0x20 if write else 0) | (mem_slot << 6)
    return struct.pack('<BBI', b0, offset, value & 0xFFFFFFFF)


def rd(target, offset, size=1):
    return op(target, offset, 0, size, write=False)


def tf(dev, lba, count, lba48=False):
    out = b''
    if lba48:
        out += op(CMD, 6, 0x40 | dev << 4)
        out += op(CMD, 2, count >> 8) + op(CMD, 3, lba >> 24) + op(CMD, 4, lba >> 32) + op(CMD, 5, lba >> 40)
    else:
        out += op(CMD, 6, 0xE0 | dev << 4 | (lba >> 24 & 0xF))
    return out + op(CMD, 2, count) + op(CMD, 3, lba) + op(CMD, 4, lba >> 8) + op(CMD, 5, lba >> 16)


def pio_in(words):
    return b''.join(rd(CMD, 0, 2) for _ in range(words))


def probe():
    s = op(CTL, 0, 0x04) + op(CTL, 0, 0x00) + rd(CMD, 7)
    for dev, cmd in ((0, 0xEC), (1, 0xA1)):
        s += op(CMD, 6, 0xA0 | dev << 4) + op(CMD, 7, cmd) + rd(CMD, 7) + pio_in(256)
    return s


def pio_rw():
    s = tf(0, 5, 2) + op(CMD, 7, 0x20) + rd(CMD, 7) + pio_in(256) + rd(CMD, 7) + pio_in(256)
    s += tf(0, 9, 1, lba48=True) + op(CMD, 7, 0x34) + b''.join(op(CMD, 0, 0x01020304, 4) for _ in range(128))
    return s + rd(CMD, 7)


def dma(cmd, to_memory, lba48=False):
    # A PRD table at 0x1000: 0x2000 bytes at 0x3000, end of table.
    s = op(MEM, 1, 0x3000, mem_slot=0) + op(MEM, 1, 0x80002000, mem_slot=1)
    s += op(BM, 4, 0x1000, 4) + op(BM, 2, 0x06) + op(BM, 0, 0x08 if to_memory else 0)
    s += tf(0, 3, 16, lba48) + op(CMD, 7, cmd) + op(BM, 0, 0x09 if to_memory else 0x01)
    return s + rd(BM, 2) + rd(CMD, 7) + op(BM, 0, 0)


def packet(cdb, limit=2048, dma_=False):
    cdb = bytes(cdb) + bytes(12 - len(cdb))
    s = op(CMD, 6, 0xB0) + op(CMD, 1, 1 if dma_ else 0) + op(CMD, 4, limit & 0xFF) + op(CMD, 5, limit >> 8)
    s += op(CMD, 7, 0xA0)
    s += b''.join(op(CMD, 0, cdb[i] | cdb[i + 1] << 8, 2) for i in range(0, 12, 2))
    return s + rd(CMD, 7) + pio_in(limit // 2) + rd(CMD, 7)


SEEDS = {
    'probe': probe(),
    'pio_rw': pio_rw(),
    'dma_read': dma(0xC8, True),
    'dma_write_ext': dma(0x35, False, lba48=True),
    'atapi_inquiry_tur': packet([0x12, 0, 0, 0, 36]) + packet([0x00]) + packet([0x03, 0, 0, 0, 18]),
    'atapi_read10': packet([0x28, 0, 0, 0, 0, 2, 0, 0, 2]) + packet([0x25]),
    'atapi_media': op(MEDIA, 0, 1) + op(MEDIA, 0, 0) + packet([0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8])
    + packet([0x1E, 0, 0, 0, 1]) + packet([0x1B, 0, 0, 0, 2]) + packet([0x43, 0, 0, 0, 0, 0, 0, 0, 20])
    + packet([0x46, 0, 0, 0, 0, 0, 0, 0, 16]) + packet([0x5A, 0, 0x2A, 0, 0, 0, 0, 0, 40]),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', 'corpus', 'ide')
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()

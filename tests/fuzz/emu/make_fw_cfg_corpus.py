#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_fw_cfg.c into tests/fuzz/corpus/fw_cfg/.

Each seed is a sequence of 6-byte operations (see fuzz_fw_cfg.c): what
SeaBIOS's src/fw/paravirt.c does to find fw_cfg and read its items, by the
data port and by DMA, and DMA descriptors a hostile guest could write.
"""
import os
import struct
import sys

WRITE, READ, MEM = range(3)
SIZE = {1: 0, 2: 1, 4: 2}
SEL, DATA, DMA_HI, DMA_LO = 0, 1, 4, 8
DESC_PAGE = 1  # descriptors at 0x1000


def op(kind, offset, value=0, size=1, slot=0):
    return struct.pack('<BBI', kind | SIZE[size] << 3 | slot << 6, offset, value & 0xFFFFFFFF)


def be(v):
    return struct.unpack('<I', struct.pack('>I', v & 0xFFFFFFFF))[0]


def select(sel):
    return op(WRITE, SEL, sel, 2)


def read_bytes(n):
    return b''.join(op(READ, DATA) for _ in range(n))


def dma(control, length, address, page=DESC_PAGE):
    """The descriptor at page * 0x1000 (four 4-byte slots), then the register writes."""
    out = op(MEM, page, be(control), 4, 0) + op(MEM, page, be(length), 4, 1)
    out += op(MEM, page, be(address >> 32), 4, 2) + op(MEM, page, be(address), 4, 3)
    return out + op(WRITE, DMA_HI, 0, 4) + op(WRITE, DMA_LO, be(page * 0x1000), 4)


SEEDS = {
    'detect': select(0) + read_bytes(4) + select(1) + read_bytes(4),
    'directory': select(0x19) + read_bytes(4 + 64 * 3),
    'ram_size': select(3) + read_bytes(8),
    'dma_dir': dma(0x19 << 16 | 0x08 | 0x02, 4 + 64 * 3, 0x8000),
    'dma_file_skip': dma(0x20 << 16 | 0x08 | 0x04, 4, 0) + dma(0x02, 64, 0x9000),
    'dma_outside_ram': dma(0x20 << 16 | 0x0A, 20, 0xFFFFF000) + dma(0x02, 0xFFFFFFFF, 0x1000),
    'dma_desc_outside': op(WRITE, DMA_HI, be(1), 4) + op(WRITE, DMA_LO, be(0x10), 4),
    'dma_write': dma(0x21 << 16 | 0x08 | 0x10, 4, 0x9000),
    'bad_sizes': op(WRITE, SEL, 0, 4) + op(READ, DATA, 0, 2) + op(WRITE, DMA_LO, 0, 2) +
    op(READ, DMA_HI, 0, 4) + op(READ, DMA_LO + 2, 0, 2),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), '..', 'corpus', 'fw_cfg')
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()

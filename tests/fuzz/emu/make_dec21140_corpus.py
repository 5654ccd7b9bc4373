#!/usr/bin/env python3
"""Seeds for fuzz_dec21140 (see the op format there): Linux's bring-up of the
21140A, a transmit, a receive, and rings that loop or point outside RAM.
Writes tests/fuzz/corpus/dec21140/."""
import os
import struct

OUT = os.path.join(os.path.dirname(__file__), '..', 'corpus', 'dec21140')


def op(kind, b1, value, cable_out=False, sub=0):
    return bytes([kind | (sub & 15) << 3 | (0x80 if cable_out else 0), b1 & 0xFF]) + struct.pack('<I', value & 0xFFFFFFFF)


def csr(n, v):
    return op(0, n, v)


def mem(gpa, v):
    """A longword at gpa (< 16 KiB, 4-aligned)."""
    return op(2, gpa // 64, v, sub=(gpa % 64) // 4)


def desc(at, status, control, b1, b2):
    return mem(at + 4, control) + mem(at + 8, b1) + mem(at + 12, b2) + mem(at, status)


OWN, SET, FS, LS, IC, RER, RCH = 1 << 31, 1 << 27, 1 << 29, 1 << 30, 1 << 31, 1 << 25, 1 << 24
RX, TX, BUF = 0x0000, 0x0400, 0x2000


def bringup():
    s = csr(0, 1) + csr(0, 0x01A08000)
    for i in range(4):
        s += desc(RX + 16 * i, OWN, 1540 | (RER if i == 3 else 0), BUF + 0x200 * i, 0)
    s += mem(BUF, 0x5d150000) + mem(BUF + 4, 0x03020100)
    s += desc(TX, OWN, SET | 192, BUF, 0)
    s += csr(3, RX) + csr(4, TX) + csr(5, 0x1ebef) + csr(7, 0x1ebef) + csr(6, 0x020E2002)
    return s + op(4, 0, 0)


seeds = {
    'bringup': bringup(),
    'transmit': bringup() + desc(TX + 16, OWN, IC | FS | LS | 60, BUF, 0) + csr(1, 0) + op(4, 0, 0),
    'receive': bringup() + mem(BUF, 0xffffffff) + mem(BUF + 4, 0xffff) + op(3, 0, 64) + op(3, 0, 1600),
    'receive_csum': bringup() + csr(6, 0x020E2042) + op(3, 0, 0x010000 | 80),
    'tx_outside_ram': bringup() + csr(6, 0) + csr(4, 0xF0000000) + csr(6, 0x2000) + op(4, 0, 0),
    'tx_loop_chain': bringup() + desc(TX + 16, OWN, FS | RCH | 1, BUF, TX + 16) + csr(1, 0) + op(4, 0, 0),
    'rx_zero_ring': bringup() + b''.join(desc(RX + 16 * i, OWN, RCH, BUF, RX + 16 * ((i + 1) % 4)) for i in range(4))
    + csr(6, 0x020E2042) + op(3, 0, 64),
    'rx_buffer_outside': bringup() + desc(RX, OWN, 1540, 0xFFFFF000, 0) + op(3, 0, 64),
    'mii_srom': b''.join(csr(9, v) for v in (0x4800, 0x4801, 0x4805, 0x4807, 0x4801, 0x4803) * 8)
    + b''.join(csr(9, v) for v in (0x20000, 0x30000) * 34) + op(1, 9, 0),
    'timer': bringup() + csr(11, 0x10001) + op(1, 11, 0) + op(4, 0, 0),
}
os.makedirs(OUT, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(OUT, name), 'wb') as f:
        f.write(data)

#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_vga_render.c into tests/fuzz/corpus/vga_render/.

Each seed is a sequence of 4-byte operations (see fuzz_vga_render.c): the
register writes vgabios-stdvga makes for mode 3 and mode 13h (vgasrc/stdvga.c,
vgasrc/vgatables.c), Bochs VBE modes as bochs-drm sets them, text in the
window, and layouts a hostile guest could make (start addresses at the
window's end, X/Y offsets past the framebuffer, a 4 bpp mode).
"""
import os
import struct
import sys

PORT, READ, VBE, MEM = range(4)
DRAW = 4


def port(p, v, draw=False):
    return struct.pack('<BBBB', PORT | (DRAW if draw else 0), p - 0x3B0, v, 0)


def vbe(index, v, draw=False):
    return struct.pack('<BBH', VBE | (DRAW if draw else 0), index, v)


def mem(off, v):
    return struct.pack('<BHB', MEM, off, v)


def crtc(i, v):
    return port(0x3D4, i) + port(0x3D5, v)


def attr(i, v):
    return struct.pack('<BBBB', READ, 0x3DA - 0x3B0, 0, 0) + port(0x3C0, i) + port(0x3C0, v)


def mode3():
    s = port(0x3C2, 0x67) + port(0x3C4, 1) + port(0x3C5, 0)
    for i, v in {1: 0x4F, 7: 0x1F, 9: 0x4F, 0x12: 0x8F, 0x0A: 0x0D, 0x0B: 0x0E, 0x0F: 81}.items():
        s += crtc(i, v)
    for i in range(16):
        s += attr(i, i)
    s += attr(0x10, 0x0C) + port(0x3C0, 0x20) + port(0x3C8, 0)
    for i in range(48):
        s += port(0x3C9, (i * 7) & 0x3F)
    return s


def text(s_):
    # the window is 0xB8000 = 0x18000 from 0xA0000: offsets are in 2-byte units
    out = b''
    for i, ch in enumerate(s_.encode()):
        out += mem(0xC000 + i, ch)
    return out


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'corpus', 'vga_render')
    os.makedirs(out, exist_ok=True)
    seeds = {
        'mode3_text': mode3() + text('SeaBIOS (version 1.16.2)') + port(0x3C0, 0x20, True),
        'mode3_wrap': mode3() + crtc(0x0C, 0x3F) + crtc(0x0D, 0xFF) + text('x' * 8),
        'mode13h': mode3() + port(0x3CE, 6) + port(0x3CF, 5) + port(0x3C4, 4) + port(0x3C5, 0x0E)
        + attr(0x10, 0x41) + crtc(9, 0x41) + crtc(0x13, 0x28) + mem(100, 5),
        'vbe_1024x768x32': vbe(1, 1024) + vbe(2, 768) + vbe(3, 32) + vbe(4, 0x41, True)
        + mem(0x10, 0xFF),
        'vbe_800x600x16': vbe(1, 800) + vbe(2, 600) + vbe(3, 16) + vbe(4, 0x41) + mem(0x20, 0xF8),
        'vbe_offsets_past_end': vbe(1, 640) + vbe(2, 480) + vbe(3, 32) + vbe(4, 0x41)
        + vbe(8, 0xFFFF) + vbe(9, 0xFFFF, True) + vbe(6, 0xFFFF),
        'vbe_4bpp': vbe(1, 640) + vbe(2, 480) + vbe(3, 4) + vbe(4, 0x41),
        'vbe_8bpp_dac': mode3() + vbe(1, 320) + vbe(2, 200) + vbe(3, 8) + vbe(4, 0x41)
        + mem(0, 3),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)
    print(f'{len(seeds)} seeds in {out}', file=sys.stderr)


main()

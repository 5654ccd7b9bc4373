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


def record(tag, payload):
    return struct.pack("<II", tag, len(payload)) + payload


def kvm_sections():
    """KVM's state as src/vid/kvm_state.c encodes it (sizes of this kernel's structures)."""
    msrs = b"".join(struct.pack("<IIQ", i, 0, v) for i, v in ((0x10, 10 ** 9), (0xc0000081, 0x23001000000000)))
    vcpu = record(1, struct.pack("<18Q", *range(18))) + record(3, bytes(320)) \
        + record(4, bytes(4096)) + record(6, bytes(1024)) + record(7, bytes(64)) \
        + record(9, struct.pack("<I", 0)) + record(10, msrs)
    chips = b"".join(struct.pack("<II", i, 0) + bytes(512) for i in range(3))
    return [("vcpu.0", 1, vcpu), ("kvm.irqchip", 1, chips), ("kvm.pit", 1, bytes(112)),
            ("kvm.clock", 1, struct.pack("<Q", 10 ** 9) + bytes(40))]


def devices():
    """Sections of the emulated devices and the Hyper-V interface, as their loads accept."""
    uart = bytes([0x05, 0xC1, 0x03, 0x0B, 0, 0, 0x5A, 0]) + struct.pack("<IBI", 12, 1, 2) + b"hi"
    bridge = bytearray(256)
    bridge[0:8] = struct.pack("<HHHH", 0x8086, 0x7192, 0x0006, 0x0200)
    bridge[8], bridge[0x0B], bridge[0x3C] = 0x03, 0x06, 0x0B
    pci = struct.pack("<I", 0x80000008) + bytes(bridge)
    video = bytearray(256)
    video[0:8] = struct.pack("<HHHH", 0x1414, 0x5353, 0x0002, 0x0200)
    video[0x0B], video[0x3C] = 0x03, 0x0B
    video[0x10:0x14] = struct.pack("<I", 0xE0000008)
    video[0x2C:0x2E] = struct.pack("<H", 0x1414)
    kbc = bytes([0x65] + [0] * 31) + bytes([0xCF, 0x61, 1, 0, 0, 2, 0]) \
        + struct.pack("<I", 1) + bytes([0xAA, 0])
    rtc = bytes([0x0A, 0]) + bytes([0] * 10 + [0x26, 0x02] + [0] * 116) + struct.pack("<qBB", 0, 0, 0x10)
    pm = struct.pack("<IIIQ", 0x0100, 0x0100, 0, 12345)
    sint_masked = struct.pack("<16Q", *([1 << 16] * 16))
    vp = struct.pack("<4Q", 1, 0x100001, 0x101001, 0) + sint_masked + struct.pack("<I", 0)
    vp_queued = vp + struct.pack("<I", 1) + struct.pack("<IBBHQ", 1, 4, 0, 0, 0) + bytes(240) \
        + struct.pack("<15I", *([0] * 15))
    vp += struct.pack("<16I", *([0] * 16))
    hv = struct.pack("<QQQIQI", 0x8100000000000000, 0x200001, 0x201001, 1, 10 ** 8, 2) + vp + vp_queued
    return [("uart.com1", 1, uart), ("pci.host", 1, pci), ("pci.video", 1, bytes(video)),
            ("i8042", 1, kbc),
            ("cmos.rtc", 1, rtc), ("post", 1, b"\x5a"), ("acpi.pm", 1, pm), ("hv", 1, hv)]


def piix4():
    """Section "ide.piix4" (src/emu/ide/ide_state.c): both configuration spaces as the PIIX4
    starts, then two channels: the primary with an ATA disk in the middle of a PIO read (step
    1, pio_read_next), the secondary empty."""
    isa = bytearray(256)
    isa[0:8] = struct.pack("<HHHH", 0x8086, 0x7110, 0x0007, 0x0280)
    isa[0x0A], isa[0x0B], isa[0x0E] = 0x01, 0x06, 0x80
    isa[0x60:0x64] = b"\x80" * 4
    ide = bytearray(256)
    ide[0:8] = struct.pack("<HHHH", 0x8086, 0x7111, 0x0005, 0x0280)
    ide[8:0x0C] = bytes([0x01, 0x80, 0x01, 0x01])
    ide[0x20:0x24] = struct.pack("<I", 0xC001)
    ide[0x40:0x44] = struct.pack("<HH", 0x8000, 0x8000)

    def channel(kind0, reading):
        tf = bytes([0, 3, 5, 0, 0, 0, 0, 0, 0, 0, 0xE0, 0, 0x58, 0, 1, 1])
        if reading:
            xfer = struct.pack("<IIBBBQIBIIB", 256, 512, 1, 0, 1, 7, 1, 0, 0, 0, 0) + bytes(512)
        else:
            xfer = struct.pack("<IIBBBQIBIIB", 0, 0, 0, 0, 0, 0, 0, 0xFF, 0, 0, 0)
        bm = struct.pack("<BBIQQQIB", 0, 0x20, 0x1000, 0, 0, 0, 0, 0)
        drives = bytes([kind0, 0x0C, 1, 0, 0, 0, 0, 0, 0]) + bytes([0, 0, 0, 0, 0, 0, 0, 0, 0])
        return tf + xfer + bm + drives

    return [("ide.piix4", 1, bytes(isa) + bytes(ide) + channel(1, True) + channel(0, False))]


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def bios():
    """A BIOS machine's sections (docs/saved-state.md) as the fuzz target's devices accept them:
    "bios" (src/vmwp/firmware_state.c: 256 KiB image, ACPI area below 128 MiB, a VGA), fw_cfg's
    cursor 3 bytes into "etc/e820" (the first file, selector 0x20; its length and FNV-1a hash),
    the debug port's half line, the VGA's registers (src/emu/vga.c: 871 bytes, the VBE index and
    11 VBE registers, a 640x480x32 mode on), one framebuffer chunk and the image's chunk."""
    e820 = b"0123456789"
    firmware = struct.pack("<QQB", 256 << 10, (128 << 20) - (128 << 10), 1)
    fw_cfg = struct.pack("<IIIIQI", 1, 0x20, 3, len(e820), fnv1a64(e820), 0)
    debugcon = struct.pack("<I", 6) + b"ata0-0"
    regs = bytearray(871)
    regs[0] = 0x67                 # misc
    regs[13 + 6] = 0x0E            # graphics controller 6: text at 0xB8000
    regs[96] = 0xFF                # DAC mask
    regs[102:105] = b"\x2a\x2a\x2a"  # DAC entry 0
    vbe = [0xB0C5, 640, 480, 32, 0x41, 0, 640, 480, 0, 0, 256]
    vga = bytes(regs) + struct.pack("<I", 4) + struct.pack("<11I", *vbe)
    lfb = struct.pack("<QI", 4 << 20, 1) + struct.pack("<I", 7) + b"\x33" * 4096
    rom = struct.pack("<QI", 0, 2) + struct.pack("<I", 0) + b"\xea" * 4096 \
        + struct.pack("<I", 63) + b"\x90" * 4096
    return [("bios", 1, firmware), ("fw_cfg", 1, fw_cfg), ("debugcon", 1, debugcon),
            ("vga", 1, vga), ("vga.lfb.1", 1, lfb), ("bios.rom.0", 1, rom)]


def dec21140():
    """Section "dec21140.0" (src/emu/dec21140/dec21140_state.c, version 1): the legacy adapter
    with MAC 00:15:5d:00:00:21 running both processes, TI and RI pending (the line high), the
    continuous timer with 0.1 s left, a perfect filter for its own address and broadcast, a
    serial ROM read eight bits into word 10, and 40 bytes of a frame gathered from one
    descriptor (the rest at tx_cur)."""
    mac = bytes([0x00, 0x15, 0x5d, 0x00, 0x00, 0x21])
    config = bytearray(256)
    config[0:8] = struct.pack("<HHHH", 0x1011, 0x0009, 0x0007, 0x0280)
    config[8], config[0x0B] = 0x20, 0x02
    config[0x10:0x18] = struct.pack("<II", 0xC101, 0xFEBF0000)
    config[0x3C:0x40] = bytes([16, 1, 0x14, 0x28])
    ti, ri, nis = 1 << 0, 1 << 6, 1 << 16
    csr = [0] * 16
    csr[0] = 0xFE000000 | 0x01A08000
    csr[3], csr[4] = 0x10000, 0x11000
    csr[5] = 0xFC000000 | 1 << 20 | 3 << 17 | ti | ri | nis
    csr[6] = 0x020E0000 | 1 << 13 | 1 << 1
    csr[7] = 0x0001EBEF
    csr[9] = 0xFFF403F7
    csr[11] = 1 << 16 | 0x1000
    flags = bytes([1, 0, 1, 0, 1])  # irq_level bus_fault tx_kick rx_kick gpt_running
    timer = struct.pack("<IIQQB", 0x10010, 0x11020, 10 ** 8, 0x1000 * 81920, 0)
    perfect = mac + b"\xff" * 90
    srom = struct.pack("<6I2B", 3, 6, 2, 10, 0x1234, 8, 1, 1)
    mii = struct.pack("<6I3B2I", 0, 0, 0, 0, 0, 0, 0, 1, 0, 0x1000, 0x01E1)
    frame = b"\xff" * 6 + mac + b"\x08\x00" + bytes(range(26))
    data = mac + bytes(config) + struct.pack("<16I", *csr) + flags + timer + bytes([0]) \
        + perfect + bytes(64) + srom + mii + struct.pack("<II", 1, len(frame)) + frame
    return [("dec21140.0", 1, data)]


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
        "devices": state_file(devices(), {0: 1}, memory_bytes=16 << 20),
        "kvm": state_file(kvm_sections(), {0: 1, 1: 2}, memory_bytes=16 << 20),
        "gen1": state_file(piix4(), {0: 1}, memory_bytes=16 << 20),
        "bios": state_file(bios(), {0: 1}, memory_bytes=16 << 20),
        "dec21140": state_file(dec21140(), {0: 1}, memory_bytes=16 << 20),
        # src/vmwp/vram_state.c: chunk 1 (VRAM offset 4 MiB) with two pages.
        "vram": state_file([("video.vram.1", 1, struct.pack("<QI", 4 << 20, 2)
                             + struct.pack("<I", 3) + b"\x11" * 4096
                             + struct.pack("<I", 300) + b"\x22" * 4096)], {0: 1}),
        # The worker's hardware text (src/vmwp/config_digest.c): one disk fewer than the VM's.
        "config": state_file([("config", 1, b"parvis-hardware 1\nmemory=268435456\ncpus=2\n"
                                            b"cpu-model=host\nvideo=1\n")]),
    }
    for name, data in files.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


main()

"""The idle initramfs of the VMBus guest test (see test_linux_vmbus.py), shared with bench/vmbus.py."""
import struct


def idle_init_elf():
    """A static x86-64 ELF whose code is `pause; jmp .-2`: no system call, ever."""
    code = b'\xf3\x90\xeb\xfc'
    base, off = 0x400000, 64 + 56
    ehdr = (b'\x7fELF' + bytes([2, 1, 1, 0]) + bytes(8) +
            struct.pack('<HHIQQQIHHHHHH', 2, 0x3e, 1, base + off, 64, 0, 0, 64, 56, 1, 64, 0, 0))
    phdr = struct.pack('<IIQQQQQQ', 1, 5, 0, base, base, off + len(code), off + len(code), 0x1000)
    return ehdr + phdr + code


def cpio_newc(entries):
    """entries: (name, mode, data). An uncompressed newc archive."""
    out = b''
    for ino, (name, mode, data) in enumerate(entries + [('TRAILER!!!', 0, b'')], 1):
        nm = name.encode() + b'\0'
        hdr = '070701' + ''.join(f'{v:08x}' for v in
                                 (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nm), 0))
        out += hdr.encode() + nm
        out += bytes((4 - len(out) % 4) % 4) + data
        out += bytes((4 - len(out) % 4) % 4)
    return out

#!/usr/bin/env python3
"""Seeds of fuzz_storvsp_session (corpus/storvsp_session): an initialized
controller doing what Linux 6.1's storvsc does (INQUIRY, READ CAPACITY,
REPORT LUNS, reads and writes of the writable and the read-only LUN,
UNMAP), and what issue 12's hostile suite asks for: buffers whose byte
offset and length cross pages and run past the disk, GPA-direct ranges
naming the MMIO hole and PFNs past RAM and 2^52, an UNMAP parameter list
longer than its buffer, ring indices written under the host, a hot-added
disk, close and reopen. Format: see fuzz_storvsp_session.c."""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'corpus', 'storvsp_session')
(SRB, READ_WRITE, GPA_DIRECT, INBAND, POLL, CONTROL, FILL, RING_HEADER, HOT_ADD, REOPEN,
 SETTLE) = range(11)
EXECUTE_SRB = 3


def srb(lun, cdb, data_in=False, buf=None):
    """buf: (offset in the guest buffer, length) or None for no data."""
    flags = (4 if buf else 0) | (8 if data_in else 0)
    s = bytes([SRB, flags, lun]) + bytes(cdb).ljust(16, b'\0') + bytes([len(cdb) - 6])
    if buf:
        s += struct.pack('<HI', buf[0], buf[1])
    return s


def rw(write, lun, lba, sectors, off):
    flags = (1 if write else 0) | (2 if lun else 0)
    return bytes([READ_WRITE, flags]) + struct.pack('<IBHI', lba, sectors, off, sectors * 512)


def poll():
    return bytes([POLL, 2])


def fill(off, data):
    return bytes([FILL]) + struct.pack('<H', off) + bytes(data).ljust(64, b'\0')


def vstor_srb(lun, cdb, data_in, length):
    req = struct.pack('<HBBBBBBBBBBI', 52, 0, 0, 0, 0, 0, lun, len(cdb), 20,
                      1 if data_in else 0, 0, length)
    req += bytes(cdb).ljust(20, b'\0') + struct.pack('<HBBIII', 0, 0xFF, 0x20, 0, 60, 0)
    return struct.pack('<III', EXECUTE_SRB, 1, 0) + req


def gpa_direct(pfn_sels, offset, count, packet):
    return (bytes([GPA_DIRECT, len(pfn_sels) - 1]) + struct.pack('<HI', offset, count) +
            bytes(pfn_sels) + packet)


INQUIRY = [0x12, 0, 0, 0, 36, 0]
READ_CAP10 = [0x25] + [0] * 9
REPORT_LUNS = [0xA0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]
MODE_SENSE6 = [0x1A, 0, 0x3F, 0, 192, 0]
TUR = [0] * 6


def read10(lba, n):
    return [0x28, 0] + list(struct.pack('>I', lba)) + [0] + list(struct.pack('>H', n)) + [0]


def unmap(param_len):
    return [0x42, 0, 0, 0, 0, 0, 0] + list(struct.pack('>H', param_len)) + [0]


seeds = {
    'linux_probe': b'\0' + srb(0, INQUIRY, True, (0, 36)) + srb(0, READ_CAP10, True, (64, 8)) +
                   srb(0, REPORT_LUNS, True, (128, 256)) + srb(1, MODE_SENSE6, True, (512, 192)) +
                   srb(0, TUR) + srb(3, INQUIRY, True, (0, 36)) + poll(),
    'read_write': b'\0' + fill(0, range(64)) + rw(True, 0, 0, 8, 0) + poll() +
                  rw(False, 0, 0, 8, 8192) + rw(True, 1, 0, 1, 0) + rw(False, 0, 2047, 8, 0) +
                  rw(False, 0, 2049, 1, 0) + poll(),
    # Buffers at odd byte offsets whose length crosses pages; a length past the CDB's.
    'cross_pages': b'\0' + srb(0, read10(0, 16), True, (4000, 8192)) +
                   srb(0, read10(0, 2), True, (4095, 1024)) +
                   srb(0, read10(1, 1), True, (123, 512 * 9)) + poll(),
    # The UNMAP parameter list claims 16 descriptors (and 0xFFFF bytes); the buffer holds 24.
    'unmap_long': b'\0' + fill(0, struct.pack('>HH4x', 0xFFFF, 16 * 16) +
                              struct.pack('>QI4x', 0, 8)) +
                  srb(0, unmap(24), False, (0, 24)) + srb(0, unmap(0xFFFF), False, (0, 24)) +
                  srb(1, unmap(24), False, (0, 24)) + poll(),
    # GPA-direct ranges over the MMIO hole, RAM's last page, past RAM, past 2^52; offsets and
    # counts past the page list.
    'gpa_hostile': b'\0' + gpa_direct([0, 1, 2, 3], 0, 16384, vstor_srb(0, read10(0, 32), True, 16384)) +
                   gpa_direct([4], 4095, 8192, vstor_srb(0, read10(0, 16), True, 8192)) +
                   gpa_direct([4, 12], 0xFFFF, 0xFFFFFFFF, vstor_srb(0, read10(0, 8), False, 4096)) +
                   poll(),
    'ring_headers': b'\0' + rw(False, 0, 0, 8, 0) + bytes([RING_HEADER, 0]) + struct.pack('<I', 0xFFFFFFF8) +
                    bytes([RING_HEADER, 3]) + struct.pack('<I', 12) + poll() +
                    rw(False, 0, 0, 8, 0) + poll(),
    'hot_add_reopen': b'\x02' + bytes([HOT_ADD, 3]) + srb(3, INQUIRY, True, (0, 36)) + poll() +
                      bytes([REOPEN]) + srb(3, INQUIRY, True, (0, 36)) + poll() +
                      bytes([CONTROL]) + struct.pack('<III', 6, 1, 0) + bytes(52),
}
os.makedirs(OUT, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(OUT, name), 'wb') as f:
        f.write(data)

#!/usr/bin/env python3
"""Writes the seed corpora of the storvsp_packet and scsi_cdb fuzz targets
(tests/fuzz/corpus/...): the packets and CDBs Linux's storvsc and sd send."""
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))
corpus = os.path.join(here, '..', 'corpus')

CDBS = {
    'inquiry': bytes([0x12, 0, 0, 0, 36, 0]),
    'inquiry_vpd00': bytes([0x12, 1, 0x00, 0, 255, 0]),
    'inquiry_vpd83': bytes([0x12, 1, 0x83, 0, 255, 0]),
    'inquiry_vpdb0': bytes([0x12, 1, 0xB0, 0, 64, 0]),
    'inquiry_vpdb2': bytes([0x12, 1, 0xB2, 0, 8, 0]),
    'rc10': bytes([0x25] + [0] * 9),
    'rc16': bytes([0x9E, 0x10] + [0] * 11 + [32, 0, 0]),
    'mode_sense6': bytes([0x1A, 0x08, 0x3F, 0, 255, 0]),
    'mode_sense10': bytes([0x5A, 0, 0x08, 0, 0, 0, 0, 0, 255, 0]),
    'read10': bytes([0x28, 0, 0, 0, 0, 8, 0, 0, 8, 0]),
    'write10_fua': bytes([0x2A, 8, 0, 0, 0, 8, 0, 0, 8, 0]),
    'read16': bytes([0x88, 0] + [0] * 7 + [16] + [0, 0, 0, 8, 0, 0]),
    'sync10': bytes([0x35] + [0] * 9),
    'report_luns': bytes([0xA0] + [0] * 8 + [255, 0, 0]),
    'unmap': bytes([0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0]),
}
DATA_OUT = {'write10_fua': b'\xab' * 4096,
            'unmap': struct.pack('>HHI', 22, 16, 0) + struct.pack('>QII', 16, 8, 0)}


def cdb_seed(name, cdb):
    data = DATA_OUT.get(name, b'')
    buflen = len(data) if data else 4096
    flags = 1 if data else 0
    return bytes([flags, len(cdb)]) + cdb.ljust(16, b'\0') + struct.pack('<H', buflen) + data


def vstor(op, srb=b''):
    return struct.pack('<III', op, 1, 0) + srb.ljust(52, b'\0')


def srb(cdb, length, data_in):
    return struct.pack('<HBBBBBBBBBBI', 52, 0, 0, 0, 0, 0, 0, len(cdb), 20, data_in, 0,
                       length) + cdb.ljust(20, b'\0') + struct.pack('<HBBIII', 0, 0xff, 0x20, 0x48, 60, 0)


def inband(payload, tid=1):
    body = payload + bytes((8 - len(payload) % 8) % 8)
    return struct.pack('<HHHHQ', 6, 2, (16 + len(body)) // 8, 1, tid) + body


def gpa_direct(payload, offset, count, pfns, tid=2):
    hdr = struct.pack('<II', 0, 1) + struct.pack('<II', count, offset) + b''.join(
        struct.pack('<Q', p) for p in pfns)
    off8 = (16 + len(hdr)) // 8
    body = payload + bytes((8 - len(payload) % 8) % 8)
    return struct.pack('<HHHHQ', 9, off8, off8 + len(body) // 8, 1, tid) + hdr + body


def main():
    d = os.path.join(corpus, 'scsi_cdb')
    os.makedirs(d, exist_ok=True)
    for name, cdb in CDBS.items():
        with open(os.path.join(d, name), 'wb') as f:
            f.write(cdb_seed(name, cdb))
    d = os.path.join(corpus, 'storvsp_packet')
    os.makedirs(d, exist_ok=True)
    seeds = {
        'begin': inband(vstor(7)),
        'version': inband(struct.pack('<III', 9, 1, 0) + struct.pack('<HH', 0x0602, 0).ljust(52, b'\0')),
        'tur': inband(vstor(3, srb(bytes(6), 0, 2))),
        'inquiry': gpa_direct(vstor(3, srb(CDBS['inquiry'], 36, 1)), 0, 36, [16]),
        'read10_2pages': gpa_direct(vstor(3, srb(CDBS['read10'], 4096, 1)), 2048, 4096, [16, 17]),
        'write10': gpa_direct(vstor(3, srb(CDBS['write10_fua'], 4096, 0)), 0, 4096, [20]),
        'unmap': gpa_direct(vstor(3, srb(CDBS['unmap'], 24, 0)), 0, 24, [30]),
    }
    for name, data in seeds.items():
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()

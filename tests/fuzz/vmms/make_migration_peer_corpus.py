#!/usr/bin/env python3
"""Seeds for fuzz-migration_peer: frames as a source and a destination send them during move-vm
(src/vmms/migration_proto.h): an offer with a VM record (history included), one adapter on a
switch and CPU features; verdicts and DONE both ways; DATA, EOF, COMMIT; key files.
Usage: make_migration_peer_corpus.py DIR"""
import json
import os
import struct
import sys

OFFER, VERDICT, DATA, EOF, COMMIT, DONE = 1, 2, 3, 4, 5, 6
VM_ID = '26abc262-f13d-4414-994a-d4bf589f5399'


def frame(t, payload=b''):
    if isinstance(payload, (dict, list)):
        payload = json.dumps(payload).encode()
    return struct.pack('<II', t, len(payload)) + payload


record = {
    'version': 1, 'id': VM_ID, 'name': 'web', 'cpus': 2,
    'processor_compatibility_for_migration': False, 'video': True, 'console_tcp': False,
    'processor_maximum': 100, 'processor_reserve': 0, 'processor_relative_weight': 100,
    'memory_bytes': 536870912, 'jail_uid': 2130706433, 'kernel': '/srv/vm/vmlinuz',
    'initrd': '/srv/vm/initrd', 'cmdline': 'console=ttyS0', 'boot_disk': None, 'notes': None,
    'disks': [{'path': '/srv/vm/root.vhdx', 'readonly': False, 'controller': 0, 'lun': 0}],
    'state': 'Running', 'status': '',
    'history': [{'time_ms': 1796393881480, 'from': 'Off', 'to': 'Off', 'reason': 'new-vm',
                 'uid': 0},
                {'time_ms': 1796393881508, 'from': 'Off', 'to': 'Starting',
                 'reason': 'start-vm', 'uid': 0}],
}
adapter = {
    'vm_id': VM_ID, 'id': 'nic0', 'name': 'Network Adapter',
    'switch_id': '0ec1f55f-e1ab-41f3-bd7e-0ce72812cac2', 'mac_address': '00:15:5d:de:e2:00',
    'dynamic_mac': True, 'mac_address_spoofing': False, 'dhcp_guard': False,
    'router_guard': False, 'maximum_bandwidth': 0, 'port_mirroring': 'none', 'vlan_id': 0,
    'tap': 'pvt1', 'ifb': 'pvi1', 'acls': [], 'switch': 'lan',
}
offer = {'version': 1, 'source': '10.0.0.1:6600', 'record': record, 'adapters': [adapter],
         'cpu_features': ['sse2', 'avx2', 'x2apic']}
seeds = {
    'source-session': frame(OFFER, offer) + frame(DATA, b'PRVMIGRT' + bytes(56)) +
    frame(EOF) + frame(COMMIT),
    'destination-session': frame(VERDICT, {'ok': True}) + frame(DATA, b'PRVMACK1') +
    frame(EOF) + frame(DONE, {'ok': True}),
    'refused': frame(VERDICT, {'ok': False, 'error': "adapter 'Network Adapter' is on switch "
                               "'lan', which this host does not have"}),
    'offer-plain': frame(OFFER, dict(offer, adapters=[], cpu_features=[])),
    'offer-newer': frame(OFFER, dict(offer, version=2)),
    'done-failed': frame(DONE, {'ok': False, 'error': 'the guest did not run here'}),
    'key-file': (os.urandom(32).hex() + '\n').encode(),
    'key-short': b'0011223344\n',
}
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)

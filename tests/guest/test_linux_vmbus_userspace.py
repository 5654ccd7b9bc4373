#!/usr/bin/env python3
"""VMBus seen from guest user space, where it can run (hardware virtualization).

The kit kernel with the kit's busybox /init, which starts hv_kvp_daemon:
/sys/bus/vmbus/devices lists each offered device with its class ID, and the
host reads the guest's KVP pools (host name, OS) through the worker's
control socket; a value the host writes with the control socket's kvp-set
arrives in the guest's external pool file (hv_kvp_daemon's
/var/lib/hyperv/.kvp_pool_0). On PVM hosts guest user space cannot make system calls
(docs/pvm.md), so this test is skipped there with that reason; the kernel
side of the same devices is checked by test_linux_vmbus.py.
"""
import json
import os
import tempfile
import time
import urllib.parse

import linux_checks as lc
from parvis_test import Tap, Worker, control, host_is_pvm, kit, kvm_available, skip_all, wait_status

if not kvm_available():
    skip_all('no /dev/kvm')
if host_is_pvm():
    skip_all('PVM host: guest user space cannot run (docs/pvm.md)')
k = kit()
if not k:
    skip_all('guest kit not built (tools/guest-kit/build.sh)')
vmlinux, initramfs, cmdline = k
# Class IDs of the integration services Parvis offers (include/linux/hyperv.h).
CLASSES = {
    'heartbeat': '57164f39-9115-4e78-ab55-382f3bd5422d',
    'shutdown': '0e0b6031-5213-4934-818b-38d90ced39db',
    'timesync': '9527e630-d0ae-497b-adce-e80ab0175caf',
    'kvp': 'a9a0f4e7-5a45-4d96-b827-8a841e8c03e6',
}
tap = Tap()
tmp = tempfile.mkdtemp(prefix='parvis-vmbus-user-')
console, sock = os.path.join(tmp, 'console'), os.path.join(tmp, 'control.sock')
# The guest lists its VMBus devices, names itself, waits for the host's KVP write to reach
# its external pool (records of a 512-byte key and a 2048-byte value, NUL-padded:
# tools/hv/hv_kvp_daemon.c), prints that pool, and waits for the host to read KVP.
KVP_KEY, KVP_VALUE = 'ParvisTestKey', 'parvis-kvp-set-19'
POOL0 = '/var/lib/hyperv/.kvp_pool_0'
run = ('hostname parvis-guest; cat /sys/bus/vmbus/devices/*/class_id; '
       f'for i in $(seq 90); do grep -q {KVP_KEY} {POOL0} 2>/dev/null && break; sleep 1; done; '
       f'echo "PARVIS-POOL0 $(tr -s \'\\000\' \' \' < {POOL0})"; sleep 30')
run = urllib.parse.quote(run, safe='._~/=,:+@-')
stats = os.path.join(tmp, 'stats.json')
w = Worker(['--kernel', vmlinux, '--initrd', initramfs, '--memory', '256M', '--cpus', '2',
            '--cmdline', f'{cmdline} parvis.run={run}', '--serial', 'file:' + console,
            '--control', sock, '--exit-stats', stats],
           console, os.path.join(tmp, 'stderr'))
up = w.wait_console(lambda c: 'PARVIS-GUEST-UP' in c, timeout=120)
tap.ok(up, 'guest user space is up', w.console()[-2000:])
listed = w.wait_console(lambda c: all(g in c for g in CLASSES.values()), timeout=60)
con = w.console()
tap.ok(*lc.check_firmware_clean(con))
for name, guid in CLASSES.items():
    tap.ok(guid in con, f'/sys/bus/vmbus/devices lists {name} ({guid})', con[-1500:])
r = control(sock, {'command': 'kvp-set', 'pool': 'external', 'key': KVP_KEY, 'value': KVP_VALUE})
tap.ok(r.get('ok'), 'control kvp-set accepted', json.dumps(r))
seen = w.wait_console(lambda c: 'PARVIS-POOL0' in c, timeout=120)
pool = [l for l in w.console().splitlines() if 'PARVIS-POOL0' in l]
tap.ok(seen and pool and f'{KVP_KEY} {KVP_VALUE}' in pool[-1],
       "kvp-set: the key and value arrived in the guest's external pool (hv_kvp_daemon's file)",
       '\n'.join(pool) or w.console()[-1500:])
control(sock, {'command': 'kvp-refresh'})
ok, status = wait_status(sock, lambda s: any(i.get('key') == 'FullyQualifiedDomainName'
                                             for i in ((s.get('vmbus') or {}).get('kvp') or {}).get('items', [])),
                         timeout=60)
items = {i['key']: i['value'] for i in ((status or {}).get('vmbus') or {}).get('kvp', {}).get('items', [])}
tap.ok(ok and items.get('FullyQualifiedDomainName', '').startswith('parvis-guest'),
       "the host reads the guest's host name through KVP", json.dumps(items))
tap.ok(items.get('OSName', '') != '', "the host reads the guest's OS name through KVP", json.dumps(items))
# IP addresses come with the synthetic network adapter (a later issue): not checked here.
control(sock, {'command': 'shutdown', 'reason': 'test done'})
rc = w.wait(timeout=120)
tap.ok(rc == 0, 'graceful shutdown through the shutdown service: exit 0', w.stderr()[-2000:])
con = w.console()
w.close()
s = json.load(open(stats)) if os.path.exists(stats) else None
tap.ok(*lc.check_guest_health(con, stats=s))
kvp = ((((s or {}).get('boot_status') or [{}])[-1].get('vmbus') or {}).get('kvp') or {})
tap.ok(kvp.get('sets') == 1, 'the worker counted the one kvp-set it delivered', json.dumps(kvp)[:1500])
tap.done()

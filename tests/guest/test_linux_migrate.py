#!/usr/bin/env python3
"""A Linux guest (the kit kernel) live-migrated in the middle of its boot, and
again once its VMBus channels are open (issue 16; docs/migration.md).

The worker boots the kit kernel with the idle initramfs (PVM: guest user space
cannot run). At an early line of the boot ("smp: Brought up", before hv_vmbus
connects) the running guest is migrated with "migrate-send" to a second
worker started with --incoming on a Unix socket, appending to the same console
log: the source exits 0, the boot goes on on the destination with no second
"Linux version" line and printk times that never go back, VMBus and the
integration services bind there. Then, with the channels open (VMBus quiesced
and sent in the device state, the pages the host wrote found at the stop),
it moves again to a third worker: the heartbeat goes on answering there, and
a graceful shutdown through the shutdown IC powers it off.
"""
import json
import os
import re
import tempfile
import time

from idle_initramfs import cpio_newc, idle_init_elf
import linux_checks as lc
from parvis_test import Tap, Worker, control, kit, kvm_available, skip_all, wait_status

if not kvm_available():
    skip_all('no /dev/kvm')
k = kit()
if not k:
    skip_all('guest kit not built (tools/guest-kit/build.sh)')
vmlinux, _, cmdline = k
BOOT_TIMEOUT = 900
MIGRATE_AT = 'smp: Brought up'

tap = Tap()
tmp = tempfile.mkdtemp(prefix='parvis-linux-migrate-')
initramfs = os.path.join(tmp, 'idle.cpio')
with open(initramfs, 'wb') as f:
    f.write(cpio_newc([('init', 0o100755, idle_init_elf())]))
console = os.path.join(tmp, 'console')
args = ['--kernel', vmlinux, '--initrd', initramfs, '--memory', '128M', '--cpus', '1',
        '--cmdline', cmdline + ' reboot=acpi', '--serial', 'file:' + console,
        '--shutdown-timeout', '600']


def ready(st):
    v = (st or {}).get('vmbus') or {}
    return (v.get('heartbeat', {}).get('alive') and v.get('shutdown', {}).get('state') == 'ready'
            and v.get('timesync', {}).get('syncs', 0) >= 1)


def printk_times(text):
    return [float(m.group(1)) for m in re.finditer(r'^\[\s*(\d+\.\d+)\]', text, re.M)]


def wait_line(path, line, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if line in open(path, errors='replace').read():
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def destination(n):
    ctl, sock = os.path.join(tmp, f'control{n}'), os.path.join(tmp, f'incoming{n}')
    stats = os.path.join(tmp, f'stats{n}.json')
    w = Worker(args + ['--control', ctl, '--exit-stats', stats, '--incoming', sock], console,
               os.path.join(tmp, f'stderr{n}'))
    deadline = time.monotonic() + 60
    while not os.path.exists(sock) and time.monotonic() < deadline:
        time.sleep(0.05)
    return w, ctl, sock, stats


def migrate(src, src_ctl, n, desc):
    dst, ctl, sock, stats = destination(n)
    r = control(src_ctl, {'command': 'migrate-send', 'path': sock}, 900)
    m = (r or {}).get('migration', {})
    tap.ok(r and r.get('ok') and m.get('rounds', 0) >= 2,
           f'{desc}: migrated ({m.get("rounds")} rounds, {m.get("bytes")} bytes, '
           f'downtime {m.get("downtime_ms")} ms)', str(r) + src.stderr()[-800:] + dst.stderr())
    rc = src.wait(120)
    tap.ok(rc == 0 and 'migrated' in src.stderr(), f'{desc}: the source exited 0 (status {rc})',
           src.stderr()[-800:])
    src.close()
    return dst, ctl, stats


ctl1 = os.path.join(tmp, 'control1')
w = Worker(args + ['--control', ctl1], console, os.path.join(tmp, 'stderr1'))
ok = wait_line(console, MIGRATE_AT, BOOT_TIMEOUT)
tap.ok(ok, f'the guest reached "{MIGRATE_AT}"', w.console()[-1500:] + w.stderr())
w, ctl, stats = migrate(w, ctl1, 2, 'in the middle of the boot')
before = open(console, errors='replace').read()
tap.ok('hv_vmbus: Vmbus version' not in before, 'moved before VMBus connected', before[-800:])
ok, st = wait_status(ctl, ready, BOOT_TIMEOUT)
tap.ok(ok, 'on the destination: VMBus up, heartbeat alive, shutdown IC ready, clock synced',
       json.dumps(st) + w.console()[-2000:] + w.stderr()[-800:])
text = w.console()
times = printk_times(text)
back = [(a, b) for a, b in zip(times, times[1:]) if b < a]
tap.ok(text.count('Linux version') == 1 and not back,
       f'one boot, printk times never go back ({len(times)} lines)', str(back[:5]))

# --- again with the channels open ---
w, ctl, stats = migrate(w, ctl, 3, 'with the channels open')
ok, st = wait_status(ctl, lambda s: ready(s) and s['vmbus']['heartbeat'].get('answers', 0) >= 3,
                     300)
tap.ok(ok, 'the heartbeat goes on on the third worker (3 answers to it)',
       json.dumps((st or {}).get('vmbus')) + w.stderr()[-800:])
r = control(ctl, {'command': 'shutdown', 'reason': 'test shutdown after migration'})
tap.ok(r and r.get('ok') and r.get('method') == 'shutdown integration service',
       'control "shutdown" goes through the shutdown IC', json.dumps(r))
rc = w.wait(BOOT_TIMEOUT)
con, err = w.console(), w.stderr()
w.close()
tap.ok(rc == 0 and 'Shutdown request received' in con and 'the guest powered off' in err,
       f'the migrated guest powered off (exit {rc})', err[-1500:] + con[-1500:])
ok, desc, diag = lc.check_guest_health(con, stats=json.load(open(stats)) if os.path.exists(stats)
                                       else None)
tap.ok(ok, 'migrated boot: ' + desc, diag)
tap.done()

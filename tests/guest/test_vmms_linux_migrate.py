#!/usr/bin/env python3
"""A Linux guest (the kit kernel) moved between two parvis-vmms in the middle of its boot
(docs/migration.md, "Between services"; tests/lib/migration_pair.py: two services in two
network namespaces joined by a veth pair, the kernel and initramfs as shared storage).

The VM boots on the source with the idle initramfs (PVM: guest user space cannot run); at an
early line ("smp: Brought up", before hv_vmbus connects) `move-vm` takes it to the other
service: the destination's console log goes on from there (no second "Linux version", printk
times later than the source's last), VMBus and the integration services bind there, the
heartbeat answers the destination's worker (get-vm: heartbeat OK), and a graceful `stop-vm`
on the destination shuts the guest down through the shutdown IC. The source has no entry left.
"""
import os
import re
import shutil
import tempfile
import time

from idle_initramfs import cpio_newc, idle_init_elf
from migration_pair import Pair
from parvis_test import Tap, kit, kvm_available, skip_all

if not kvm_available():
    skip_all('no /dev/kvm')
if os.geteuid() != 0:
    skip_all('network namespaces and veth pairs need root')
k = kit()
if not k:
    skip_all('guest kit not built (tools/guest-kit/build.sh)')
vmlinux, _, cmdline = k
BOOT_TIMEOUT = 900
MIGRATE_AT = 'smp: Brought up'

tap = Tap()
tmp = tempfile.mkdtemp(prefix='pvlmig-', dir='/tmp')
os.chmod(tmp, 0o755)
pair = Pair(tmp)
a, b = pair.a, pair.b
shared = os.path.join(tmp, 'shared')
os.makedirs(shared)
kernel, initramfs = os.path.join(shared, 'vmlinux'), os.path.join(shared, 'idle.cpio')
shutil.copy(vmlinux, kernel)
with open(initramfs, 'wb') as f:
    f.write(cpio_newc([('init', 0o100755, idle_init_elf())]))

tap.ok(a.start() and b.start() and pair.enable(),
       'two services in two network namespaces, migration enabled on both',
       a.read_log() + b.read_log())


def console(svc, name):
    v = svc.vm(name)
    try:
        with open(os.path.join(svc.state_dir, 'run', v['id'], 'console.log'), errors='replace') \
                as f:
            return f.read()
    except (OSError, TypeError):
        return ''


def printk_times(text):
    return [float(m.group(1)) for m in re.finditer(r'^\[\s*(\d+\.\d+)\]', text, re.M)]


rc, out, err = a.cli('new-vm', 'lin', '--memory', '128M', '--cpus', '1', '--kernel', kernel,
                     '--initrd', initramfs, '--cmdline', cmdline + ' reboot=acpi')
tap.ok(rc == 0, 'new-vm with the kit kernel on the source', out + err)
rc, out, err = a.cli('start-vm', 'lin')
tap.ok(rc == 0, 'start-vm', out + err)
deadline = time.monotonic() + BOOT_TIMEOUT
while time.monotonic() < deadline and MIGRATE_AT not in console(a, 'lin'):
    time.sleep(0.1)
before = console(a, 'lin')
tap.ok(MIGRATE_AT in before and 'hv_vmbus: Vmbus version' not in before,
       f'the guest reached "{MIGRATE_AT}", before VMBus connected', before[-1500:])
rc, res, err = a.cli_json('move-vm', 'lin', '--destination-host', pair.dest_b, timeout=1200)
m = (res or {}).get('migration', {})
tap.ok(rc == 0 and res.get('destination_state') == 'Running',
       f'move-vm in the middle of the boot ({m.get("rounds")} rounds, {m.get("bytes")} bytes, '
       f'downtime {m.get("downtime_ms")} ms)', f'{res}\n{err}\n{b.read_log()[-1500:]}')
tap.ok(a.vm('lin') is None and not os.listdir(os.path.join(a.state_dir, 'vms')),
       'the source has no entry left', str(a.vm('lin')))
ok, v = b.wait_vm('lin', lambda v: v.get('heartbeat') == 'OK', BOOT_TIMEOUT)
tap.ok(ok, 'on the destination: the heartbeat IC answers its worker (get-vm: heartbeat OK)',
       f'{v}\n{console(b, "lin")[-2000:]}')
rc, ics, err = b.cli_json('get-vmintegrationservice', 'lin')
tap.ok(rc == 0 and 'Shutdown' in str(ics) and 'Heartbeat' in str(ics),
       'get-vmintegrationservice on the destination', f'{ics}\n{err}')
after = console(b, 'lin')
ta, tb = printk_times(before), printk_times(after)
tap.ok('Linux version' not in after and 'hv_vmbus: Vmbus version' in after and ta and tb and
       tb[0] >= ta[-1] and all(y >= x for x, y in zip(tb, tb[1:])),
       'the console goes on on the destination: no reboot, printk times go on, VMBus bound',
       f'source last {ta[-1:]}, destination first {tb[:1]}\n{after[:1500]}')
rc, res, err = b.cli_json('stop-vm', 'lin', timeout=BOOT_TIMEOUT)
tap.ok(rc == 0 and res.get('method') == 'shutdown integration service' and
       b.state('lin') == 'Off', 'graceful stop-vm on the destination (the shutdown IC)',
       f'{res}\n{err}\n{console(b, "lin")[-1500:]}')
rc, hist, err = b.cli_json('get-vmhistory', 'lin')
reasons = [h['reason'] for h in (hist or {}).get('history', [])]
tap.ok('start-vm' in reasons and 'move-vm: arrived' in reasons,
       'get-vmhistory on the destination: from new-vm to the move and the stop', str(reasons))
a.stop()
b.stop()
logs = a.read_log() + b.read_log()
tap.ok(not any(m in logs for m in ('AddressSanitizer', 'LeakSanitizer', 'runtime error:')),
       'no sanitizer report in either service\'s log (sanitizer builds)', logs[-3000:])
if not tap.failed:
    shutil.rmtree(tmp, ignore_errors=True)  # kept when something failed: the services' logs
tap.done()

#!/usr/bin/env python3
"""VMBus and the integration services with the kit kernel (Linux 6.1's own
hv_vmbus and hv_utils), checked from the guest's log and from the host's
control socket.

On PVM hosts guest user space cannot run (docs/pvm.md): init would die and
panic the kernel at once. So this test boots with a tiny initramfs of its
own whose /init is a static program that never makes a system call (a
`pause; jmp` loop, which runs natively at CPL3): the kernel stays up, and
its kworkers run hv_utils' shutdown and restart work. That initramfs has no
/sbin/poweroff or /sbin/reboot, so Linux's orderly_poweroff(true) and
orderly_reboot() cannot start them and power off or restart from the kernel
(kernel/reboot.c) - which is what a host request must end in.

Boots, to keep them few (each takes minutes on PVM):
  1 vCPU:  boot -> versions, offers, heartbeat -> restart -> boot 2
           (VMBus reconnects) -> restart -> boot 3 -> control "shutdown" -> exit 0
  2 vCPUs: boot -> restart -> boot 2 -> SIGTERM -> graceful shutdown -> exit 0
"""
import json
import os
import re
import signal
import socket
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


def boots(con):
    return con.count('Linux version')


def nth_boot(con, n):
    parts = con.split('Linux version')
    return parts[n] if len(parts) > n else ''


IC_LINES = ('Heartbeat IC version', 'Shutdown IC version')
# Linux offers time sync 4.0, 3.0 and 1.0 (hv_util.c); Parvis offers 3.0 and 1.0 (src/vsp/ic/timesync.c).
TIMESYNC_VERSION = '3.0'


def ic_lines_printed(text):
    """The lines hv_utils prints as each IC negotiates."""
    return all(re.search(l + r' \d+\.\d+', text) for l in IC_LINES + ('TimeSync IC version',))


def wait_ic_lines(w, n=None):
    """The guest prints an IC's version before it answers the host, but its console (an
    emulated UART, another vCPU may hold the console lock) can show the line later than the
    host sees the answer: wait for the lines themselves before checking them."""
    w.wait_console(lambda c: ic_lines_printed(nth_boot(c, n) if n else c), timeout=300)


def check_boot_log(tap, text, label):
    ok, desc, diag = lc.check_firmware_clean(text)
    tap.ok(ok, f'{label}: {desc}', diag)
    m = re.search(r'hv_vmbus: Vmbus version:(\d+\.\d+)', text)
    tap.ok(m is not None and m.group(1) == '5.3', f'{label}: VMBus 5.3 negotiated',
           '\n'.join(l for l in text.splitlines() if 'vmbus' in l.lower())[-2000:])
    for line in IC_LINES:
        tap.ok(re.search(line + r' \d+\.\d+', text) is not None, f'{label}: hv_utils: "{line}"',
               '\n'.join(l for l in text.splitlines() if 'hv_utils' in l)[-2000:])
    tap.ok(re.search(r'TimeSync IC version ' + re.escape(TIMESYNC_VERSION) + r'\b', text) is not None,
           f'{label}: hv_utils: "TimeSync IC version {TIMESYNC_VERSION}"',
           '\n'.join(l for l in text.splitlines() if 'hv_utils' in l)[-2000:])


tap = Tap()
tmp = tempfile.mkdtemp(prefix='parvis-vmbus-')
initramfs = os.path.join(tmp, 'idle.cpio')
with open(initramfs, 'wb') as f:
    f.write(cpio_newc([('init', 0o100755, idle_init_elf())]))


def start(cpus, name, cpu_model='host'):
    d = os.path.join(tmp, name)
    os.mkdir(d)
    ctl = os.path.join(d, 'control')
    w = Worker(['--kernel', vmlinux, '--initrd', initramfs, '--memory', '128M', '--cpus', str(cpus),
                '--cmdline', cmdline + ' reboot=acpi', '--serial', 'file:' + os.path.join(d, 'console'),
                '--control', ctl, '--shutdown-timeout', '600', '--cpu-model', cpu_model,
                '--exit-stats', os.path.join(d, 'stats.json')],
               os.path.join(d, 'console'), os.path.join(d, 'stderr'))
    return w, ctl


def stats(ctl):
    """The --exit-stats JSON of the worker whose control socket is ctl, or None."""
    path = os.path.join(os.path.dirname(ctl), 'stats.json')
    return json.load(open(path)) if os.path.exists(path) else None


def ready(st):
    v = (st or {}).get('vmbus') or {}
    return (v.get('heartbeat', {}).get('alive') and v.get('shutdown', {}).get('state') == 'ready'
            and v.get('timesync', {}).get('syncs', 0) >= 1)


# --- 1 vCPU: two restarts in a row, then a shutdown through the control socket ---
w, ctl = start(1, 'one')
ok, st = wait_status(ctl, ready, BOOT_TIMEOUT)
tap.ok(ok, 'boot 1: heartbeat alive, shutdown IC ready, clock synced (control status)', json.dumps(st))
wait_ic_lines(w)
check_boot_log(tap, w.console(), 'boot 1')
v = (st or {}).get('vmbus') or {}
chans = {c['name']: c['state'] for c in v.get('channels', [])}
tap.ok(chans.get('heartbeat') == 'open' and chans.get('shutdown') == 'open' and
       chans.get('timesync') == 'open', 'the guest opened the heartbeat, shutdown and timesync channels',
       json.dumps(chans))
# hv_utils opens every IC channel at its own probe, which may come after timesync's first
# sample; hv_kvp then waits for its daemon (which cannot run here) before answering the version
# request, for good (drivers/hv/hv_kvp.c: the 55 s handshake retry sees no daemon either): open,
# still negotiating.
def kvp_waiting(s):
    sv = (s or {}).get('vmbus') or {}
    return ({c['name']: c['state'] for c in sv.get('channels', [])}.get('kvp') == 'open'
            and (sv.get('kvp') or {}).get('state') == 'negotiating')


ok, kst = wait_status(ctl, kvp_waiting, BOOT_TIMEOUT)
kv = (kst or {}).get('vmbus') or {}
tap.ok(ok, 'the guest opened the KVP channel (negotiating: no hv_kvp_daemon)',
       json.dumps([kv.get('channels'), kv.get('kvp')]))
tap.ok((v.get('timesync') or {}).get('version') == TIMESYNC_VERSION,
       f'time sync negotiated version {TIMESYNC_VERSION} (control status)', json.dumps(v.get('timesync')))
for n in (2, 3):
    r = control(ctl, {'command': 'restart', 'reason': f'test restart {n - 1}'})
    tap.ok(r.get('ok'), f'restart {n - 1} accepted by the host', json.dumps(r))
    again = w.wait_console(lambda c: boots(c) >= n, timeout=BOOT_TIMEOUT)
    tap.ok(again and 'Restart request received' in nth_boot(w.console(), n - 1),
           f'restart {n - 1}: the guest logged the request and rebooted', w.console()[-2000:])
    ok, st = wait_status(ctl, lambda s: ready(s) and s.get('boots') == n, BOOT_TIMEOUT)
    tap.ok(ok, f'boot {n}: VMBus reconnected, heartbeat alive again', json.dumps(st))
    wait_ic_lines(w, n)
    check_boot_log(tap, nth_boot(w.console(), n), f'boot {n}')
r = control(ctl, {'command': 'shutdown', 'reason': 'test shutdown'})
tap.ok(r.get('ok') and r.get('method') == 'shutdown integration service',
       'control "shutdown" goes through the shutdown IC', json.dumps(r))
rc = w.wait(timeout=BOOT_TIMEOUT)
con, err = w.console(), w.stderr()
w.close()
tap.ok(rc == 0 and 'Shutdown request received' in con and 'the guest powered off' in err,
       'the guest powered off (exit 0)', f'exit {rc}\n{err[-1500:]}\n{con[-1500:]}')
ok, desc, diag = lc.check_guest_health(con, stats=stats(ctl))
tap.ok(ok, '1 vCPU, 3 boots: ' + desc, diag)

# --- 2 vCPUs on the baseline CPU model (compatibility for migration): a restart, then SIGTERM ---
w, ctl = start(2, 'two', 'baseline')
ok, st = wait_status(ctl, ready, BOOT_TIMEOUT)
tap.ok(ok, '2 vCPUs: heartbeat alive, shutdown IC ready', json.dumps(st))
wait_ic_lines(w)
check_boot_log(tap, w.console(), '2 vCPUs boot 1')
cpu = control(ctl, {'command': 'cpu'}).get('cpu') or {}
tap.ok(cpu.get('model', '').startswith('baseline-') and cpu.get('count') == 2,
       'control "cpu": the baseline model on 2 vCPUs', json.dumps(cpu)[:1500])
# Linux names the boot CPU by the model's brand and signature (smpboot: CPU0: ...).
m = re.search(r'smpboot: CPU0: (.*) \(family: (0x[0-9a-f]+), model: (0x[0-9a-f]+), stepping: (0x[0-9a-f]+)\)',
              w.console())
tap.ok(m is not None and m.group(1).strip() == cpu.get('brand') and int(m.group(2), 16) == cpu.get('family')
       and int(m.group(3), 16) == cpu.get('model-number') and int(m.group(4), 16) == cpu.get('stepping'),
       'the guest sees the model\'s brand and signature', m.group(0) if m else
       '\n'.join(l for l in w.console().splitlines() if 'smpboot' in l))
tap.ok(lc.check_cpus(w.console(), 2)[0], '2 CPUs brought up on the baseline model', '')
r = control(ctl, {'command': 'restart'})
again = w.wait_console(lambda c: boots(c) >= 2, timeout=BOOT_TIMEOUT)
ok, st = wait_status(ctl, lambda s: ready(s) and s.get('boots') == 2, BOOT_TIMEOUT)
tap.ok(r.get('ok') and again and ok, '2 vCPUs: restart, VMBus reconnected', json.dumps(st))
w.kill(signal.SIGTERM)
rc = w.wait(timeout=BOOT_TIMEOUT)
con, err = w.console(), w.stderr()
w.close()
tap.ok(rc == 0 and 'shutdown integration service' in err and 'the guest powered off' in err,
       'SIGTERM: graceful shutdown through the shutdown IC, exit 0', f'exit {rc}\n{err[-1500:]}')
ok, desc, diag = lc.check_guest_health(con, stats=stats(ctl))
tap.ok(ok, '2 vCPUs, 2 boots: ' + desc, diag)
tap.done()

#!/usr/bin/env python3
"""A Linux guest (the kit kernel) saved in the middle of its boot and restored
(issue 15; docs/saved-state.md).

The worker boots the kit kernel with the idle initramfs of test_linux_vmbus.py
(PVM: guest user space cannot run). As soon as the console shows an early line
of the boot ("smp: Brought up", before hv_vmbus's subsys_initcall connects to
VMBus) the test pauses the VM and saves it through the control socket; the
worker exits 0. A new worker with the same configuration and --restore FILE
continues it, appending to the same console log: no second "Linux version"
line, the printk times do not go back, and the boot goes on to VMBus, whose
integration services bind (heartbeat alive, shutdown IC ready, a time sample
taken, as test_linux_vmbus.py checks); the status says restored_from. Then,
with the channels open, it is saved again (VMBus quiesced and saved with the
integration services' state) and restored by a third worker: the heartbeat
stays healthy and a graceful shutdown through the shutdown IC powers it off;
the guest's log and the worker's counters show no fault. The VM has the
synthetic video, keyboard and mouse (hyperv_fb, hyperv_keyboard and
hid_hyperv open their channels: saved with the rest of VMBus).
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
SAVE_AT = 'smp: Brought up'  # before VMBus: hv_vmbus connects at subsys_initcall

tap = Tap()
tmp = tempfile.mkdtemp(prefix='parvis-linux-save-')
initramfs = os.path.join(tmp, 'idle.cpio')
with open(initramfs, 'wb') as f:
    f.write(cpio_newc([('init', 0o100755, idle_init_elf())]))
console = os.path.join(tmp, 'console')
state = os.path.join(tmp, 'boot.state')
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
    """Polls the console file often (the save must land before VMBus connects)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if line in open(path, errors='replace').read():
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


# --- boot, pause and save before VMBus ---
ctl = os.path.join(tmp, 'control1')
w = Worker(args + ['--control', ctl, '--exit-stats', os.path.join(tmp, 'stats1.json')], console,
           os.path.join(tmp, 'stderr1'))
ok = wait_line(console, SAVE_AT, BOOT_TIMEOUT)
r = control(ctl, {'command': 'pause'}, 60) if ok else None
tap.ok(ok and r and r.get('paused'), f'the guest reached "{SAVE_AT}" and was paused',
       w.console()[-1500:] + w.stderr())
r = control(ctl, {'command': 'save', 'path': state}, 300)
tap.ok(r and r.get('ok'), f'saved in the middle of the boot ({r})', str(r) + w.stderr())
rc = w.wait(120)
tap.ok(rc == 0, f'the worker exited 0 after the save (status {rc})', w.stderr())
w.close()
before = w.console()
tap.ok('hv_vmbus: Vmbus version' not in before and 'Linux version' in before,
       'saved while the kernel was initialising, before VMBus', before[-1500:])

# --- restore and boot on ---
ctl2 = os.path.join(tmp, 'control2')
stats2 = os.path.join(tmp, 'stats2.json')
w2 = Worker(args + ['--control', ctl2, '--exit-stats', stats2, '--restore', state], console,
            os.path.join(tmp, 'stderr2'))
ok, st = wait_status(ctl2, lambda s: s and s.get('restored_from') == state, 120)
tap.ok(ok, 'the restored worker reports restored_from', json.dumps(st) + w2.stderr())
ok, st = wait_status(ctl2, ready, BOOT_TIMEOUT)
tap.ok(ok, 'after the restore: VMBus up, heartbeat alive, shutdown IC ready, clock synced',
       json.dumps(st) + w2.console()[-2000:])
# The guest prints an IC's version before it answers, but its console can show the line
# after the host has the answer: wait for the lines themselves.
w2.wait_console(lambda c: all(re.search(l + r' \d+\.\d+', c) for l in (
    'Heartbeat IC version', 'Shutdown IC version', 'TimeSync IC version')), 300)
text = w2.console()
tap.ok(text.count('Linux version') == 1, f'no second boot: {text.count("Linux version")} '
       '"Linux version" line(s)', text[-2000:])
tap.ok(text.startswith(before) and len(text) > len(before),
       'the console goes on after what was printed before the save')
times = printk_times(text)
back = [(a, b) for a, b in zip(times, times[1:]) if b < a]
tap.ok(len(times) > len(printk_times(before)) and not back,
       f'printk times go on and never go back ({len(times)} lines, '
       f'{times[len(printk_times(before)) - 1] if before else 0:.3f} s at the save)', str(back[:5]))
m = re.search(r'hv_vmbus: Vmbus version:(\d+\.\d+)', text)
tap.ok(m is not None and m.group(1) == '5.3', 'VMBus 5.3 negotiated after the restore')
for line in ('Heartbeat IC version', 'Shutdown IC version', 'TimeSync IC version'):
    tap.ok(re.search(line + r' \d+\.\d+', text) is not None, f'hv_utils bound: "{line}"',
           '\n'.join(l for l in text.splitlines() if 'hv_utils' in l))
time.sleep(5)
ok, st = wait_status(ctl2, ready, 120)
tap.ok(ok, 'the heartbeat stays healthy', json.dumps((st or {}).get('vmbus', {}).get('heartbeat')))

# --- saved again with the channels open, restored by a third worker ---
beats = ((st or {}).get('vmbus') or {}).get('heartbeat', {})
state2 = os.path.join(tmp, 'open.state')
r = control(ctl2, {'command': 'save', 'path': state2}, 300)
tap.ok(r and r.get('ok'), f'saved again with VMBus and the ICs open ({r})', str(r) + w2.stderr())
rc = w2.wait(120)
tap.ok(rc == 0, f'the second worker exited 0 after the save (status {rc})', w2.stderr())
w2.close()
mid = w2.console()
ctl3 = os.path.join(tmp, 'control3')
stats3 = os.path.join(tmp, 'stats3.json')
w3 = Worker(args + ['--control', ctl3, '--exit-stats', stats3, '--restore', state2], console,
            os.path.join(tmp, 'stderr3'))
ok, st = wait_status(ctl3, lambda s: s and s.get('restored_from') == state2 and ready(s), 300)
tap.ok(ok, 'restored with the channels open: heartbeat alive, shutdown IC ready, clock synced',
       json.dumps(st) + w3.stderr())
chans = {c['name']: c['state'] for c in ((st or {}).get('vmbus') or {}).get('channels', [])}
tap.ok(chans.get('heartbeat') == 'open' and chans.get('shutdown') == 'open',
       'the heartbeat and shutdown channels are open after the restore', json.dumps(chans))
ok, st = wait_status(ctl3, lambda s: ready(s) and s['vmbus']['heartbeat'].get('answers', 0) >= 3,
                     300)
tap.ok(ok, 'the heartbeat goes on after the second restore (3 answers to this worker)',
       json.dumps([beats, ((st or {}).get('vmbus') or {}).get('heartbeat')]))
text = w3.console()
tap.ok(text.startswith(mid) and text.count('Linux version') == 1 and
       not [(a, b) for a, b in zip(printk_times(text), printk_times(text)[1:]) if b < a],
       'one boot, printk times never go back, across both restores', text[-1500:])
w2, ctl2, stats2 = w3, ctl3, stats3

# --- graceful shutdown through the shutdown IC ---
r = control(ctl2, {'command': 'shutdown', 'reason': 'test shutdown after restore'})
tap.ok(r and r.get('ok') and r.get('method') == 'shutdown integration service',
       'control "shutdown" goes through the shutdown IC', json.dumps(r))
rc = w2.wait(BOOT_TIMEOUT)
con, err = w2.console(), w2.stderr()
w2.close()
tap.ok(rc == 0 and 'Shutdown request received' in con and 'the guest powered off' in err,
       f'the restored guest powered off (exit {rc})', err[-1500:] + con[-1500:])
ok, desc, diag = lc.check_guest_health(con, stats=json.load(open(stats2)) if os.path.exists(stats2)
                                       else None)
tap.ok(ok, 'restored boot: ' + desc, diag)
tap.done()

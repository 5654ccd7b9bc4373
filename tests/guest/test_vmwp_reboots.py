#!/usr/bin/env python3
"""A guest that reboots 1,000 times in a row (issue 12's hostile-guest suite).

The tiny kernel in "reset" mode resets through the ACPI reset register at
once; the worker builds a new machine each time. After the 100th boot and
after the 1,000th, the worker's resident memory, its open descriptors and
its log are compared: nothing may grow with the number of boots beyond a
small, stated bound, and the worker must still answer its control socket
and turn the VM off on request.
"""
import os
import signal
import subprocess
import tempfile
import time

from parvis_test import Tap, control, kvm_available, skip_all, vmwp, wait_status

BOOTS = 1000
RSS_GROWTH_MAX_KIB = 8 * 1024  # between boot 100 and boot 1,000
LOG_LINES_MAX = 40             # the reset line is rate-limited to 10 a minute

if not kvm_available():
    skip_all('no /dev/kvm')
tap = Tap()
tiny = os.environ['PARVIS_TINY_KERNEL']
tmp = tempfile.mkdtemp(prefix='parvis-reboots-')
ctl = os.path.join(tmp, 'control')
stderr = open(os.path.join(tmp, 'stderr'), 'w+')
p = subprocess.Popen([vmwp(), '--kernel', tiny, '--cmdline', 'reset', '--memory', '32M',
                      '--serial', 'none', '--control', ctl, '--shutdown-timeout', '1'],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)


def rss_kib(pid):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def fds(pid):
    return len(os.listdir(f'/proc/{pid}/fd'))


def quiet(pid):
    """Resident memory and open descriptors with the guest held still: a machine being
    torn down or built holds its KVM descriptors and guest RAM for a moment, so readings
    taken while the guest resets every few milliseconds differ by one or two from run to
    run. Pausing holds one whole machine; the reading counts only if the worker was paused
    in the same boot before and after it (a reset that raced the pause starts a new boot,
    which is not paused)."""
    deadline = time.monotonic() + 60  # a pause lands in a boot's short running window
    while time.monotonic() < deadline:
        r = control(ctl, {'command': 'pause'})
        before = control(ctl, {'command': 'status'}) if r and r.get('paused') else None
        if before and before.get('paused'):
            values = (min(rss_kib(pid) for _ in range(5)), min(fds(pid) for _ in range(5)))
            after = control(ctl, {'command': 'status'})
            control(ctl, {'command': 'resume'})
            if after and after.get('paused') and after.get('boots') == before.get('boots'):
                return values
        time.sleep(0.01)
    return None, None


ok, st = wait_status(ctl, lambda s: (s or {}).get('boots', 0) >= 100, 300)
tap.ok(ok, 'the guest rebooted 100 times', str(st))
rss100, fds100 = quiet(p.pid)
tap.ok(fds100 is not None, 'the worker paused the guest in one boot for the reading at boot 100')
t0 = time.monotonic()
ok, st = wait_status(ctl, lambda s: (s or {}).get('boots', 0) >= BOOTS, 1200)
tap.ok(ok, f'the guest rebooted {BOOTS} times ({time.monotonic() - t0:.0f} s for the last {BOOTS - 100})',
       str(st))
rss1000, fds1000 = quiet(p.pid)
tap.ok(fds1000 is not None, f'the worker paused the guest in one boot for the reading at boot {BOOTS}')
rss100, fds100, rss1000, fds1000 = (v or 0 for v in (rss100, fds100, rss1000, fds1000))
tap.ok(rss1000 - rss100 <= RSS_GROWTH_MAX_KIB,
       f'resident memory bounded: {rss100} KiB at boot 100, {rss1000} KiB at boot {BOOTS} '
       f'(at most {RSS_GROWTH_MAX_KIB} KiB more)')
tap.ok(fds1000 <= fds100, f'no descriptor leak: {fds100} open at boot 100, {fds1000} at boot {BOOTS}')
r = control(ctl, {'command': 'turn-off'})
tap.ok(r and r.get('ok'), 'the worker still answers its control socket', str(r))
try:
    rc = p.wait(timeout=60)
except subprocess.TimeoutExpired:
    p.kill()
    rc = p.wait()
stderr.seek(0)
log = stderr.read()
lines = [l for l in log.splitlines() if l.strip()]
tap.ok(len(lines) <= LOG_LINES_MAX and 'the guest reset: restarting it' in log,
       f'the log stays bounded: {len(lines)} lines for {BOOTS} boots (at most {LOG_LINES_MAX})',
       '\n'.join(lines[-20:]))
tap.ok(rc == 5, 'turned off on request: exit 5 (docs/control.md)', f'exit {rc}')
tap.done()

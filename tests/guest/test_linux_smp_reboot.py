#!/usr/bin/env python3
"""Boots the kit kernel on 2 vCPUs, lets it reboot through the i8042 reset
line, and checks that the worker boots it again (no --no-reboot); then
SIGTERM turns the VM off once the guest has had its shutdown timeout.
"""
import json
import os
import re
import signal
import tempfile
import time

import linux_checks as lc
from parvis_test import Tap, Worker, host_is_pvm, kit, kvm_available, skip_all

if not kvm_available():
    skip_all('no /dev/kvm')
k = kit()
if not k:
    skip_all('guest kit not built (tools/guest-kit/build.sh)')
vmlinux, initramfs, cmdline = k
tap = Tap()
tmp = tempfile.mkdtemp(prefix='parvis-smp-')
console = os.path.join(tmp, 'console')
# reboot=k: the keyboard controller's reset line. Where user space runs, /init reboots itself.
stats = os.path.join(tmp, 'stats.json')
w = Worker(['--kernel', vmlinux, '--initrd', initramfs, '--memory', '128M', '--cpus', '2',
            '--cmdline', cmdline + ' reboot=k parvis.run=reboot%20-f', '--serial', 'file:' + console,
            '--shutdown-timeout', '2', '--exit-stats', stats],
           console, os.path.join(tmp, 'stderr'))
second_boot = w.wait_console(lambda c: len(re.findall(r'Linux version', c)) >= 2, timeout=1500)
con = w.console()
tap.ok(*lc.check_firmware_clean(con))
tap.ok(lc.check_cpus(con, 2)[0], 'both vCPUs brought up ("smp: Brought up 1 node, 2 CPUs")',
       '\n'.join(l for l in con.splitlines() if 'smp' in l.lower() or 'CPU' in l)[-2000:])
tap.ok(second_boot, 'the guest rebooted through the i8042 reset line and booted again',
       w.stderr()[-2000:] + '\n' + con[-2000:])
first = con.split('Linux version')[1] if con.count('Linux version') >= 2 else con
tap.ok('Run /init' in first or 'PARVIS-GUEST-UP' in first, 'the first boot reached init', first[-2000:])
# Hyper-V on both vCPUs (src/hv/): detection, features, clock and frequencies, first boot.
for ok, desc, diag in (lc.check_hyperv_detected(first), lc.check_hyperv_features(first),
                       lc.check_hyperv_clean(con), lc.check_hyperv_clocksource(first),
                       lc.check_hyperv_frequencies(first)):
    tap.ok(ok, desc, diag)
t0 = time.monotonic()
w.kill(signal.SIGTERM)
rc = w.wait(timeout=60)
err = w.stderr()
w.close()
tap.ok(rc == 5 and time.monotonic() - t0 >= 1.5, 'SIGTERM: turned off after the shutdown timeout (exit 5)',
       f'exit {rc}\n{err}')
tap.ok('the guest reset: restarting it' in err, 'the worker logged the restart', err)
# Summed over both boots (a new hv per boot; the second is cut short by SIGTERM).
s = json.load(open(stats)) if os.path.exists(stats) else {}
ok, desc, diag = lc.check_hyperv_exits(s, 2)
tap.ok(ok, desc + ' (both vCPUs)', diag)
# Both boots' logs, the second up to SIGTERM.
tap.ok(*lc.check_guest_health(w.console(), stats=s or None, init_panic=host_is_pvm()))
tap.done()

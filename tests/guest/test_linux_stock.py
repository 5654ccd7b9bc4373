#!/usr/bin/env python3
"""Debian's stock kernel (a bzImage) with busybox user space, where it can run.

On hosts with hardware virtualization the stock kernel boots in well under
a second and its user space runs: the kit's /init prints its marker, loads
the hv_* modules it ships, runs a command and powers off. On PVM hosts the
stock kernel spends minutes of emulated time before FPU set-up and its
user space cannot make system calls (docs/pvm.md): the test is skipped
there, with that reason.
"""
import json
import os
import tempfile

import linux_checks as lc
from parvis_test import Tap, Worker, host_is_pvm, kvm_available, skip_all

if not kvm_available():
    skip_all('no /dev/kvm')
if host_is_pvm():
    skip_all('PVM host: the stock kernel needs hardware virtualization (docs/pvm.md)')
vmlinuz, initramfs, cmdline = (os.environ.get(k) for k in ('STOCK_VMLINUZ', 'STOCK_INITRAMFS', 'STOCK_CMDLINE'))
if not vmlinuz or not os.path.exists(vmlinuz):
    skip_all('stock kernel not fetched (tools/guest-kit/build.sh --stock)')
tap = Tap()
tmp = tempfile.mkdtemp(prefix='parvis-stock-')
console = os.path.join(tmp, 'console')
stats = os.path.join(tmp, 'stats.json')
w = Worker(['--kernel', vmlinuz, '--initrd', initramfs, '--memory', '512M', '--cpus', '2',
            '--cmdline', cmdline + ' parvis.run=uname%20-r', '--serial', 'file:' + console,
            '--exit-stats', stats],
           console, os.path.join(tmp, 'stderr'))
rc = w.wait(timeout=300)
con, err = w.console(), w.stderr()
tap.ok(*lc.check_firmware_clean(con))
w.close()
tap.ok(*lc.check_guest_health(con, stats=json.load(open(stats)) if os.path.exists(stats) else None))
tap.ok(rc == 0, 'the stock kernel booted and powered off (exit 0)', f'exit {rc}\n{err}\n{con[-3000:]}')
tap.ok('PARVIS-GUEST-UP' in con, "busybox user space ran the kit's /init", con[-2000:])
tap.ok('PARVIS-GUEST-RC 0' in con, 'the command given on the command line ran', con[-2000:])
tap.done()

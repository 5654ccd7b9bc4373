#!/usr/bin/env python3
"""A Linux guest saved while its ext4 root on storvsp is being written, and
restored (issue 15; docs/saved-state.md).

The kit's root disk (raw, a sparse copy; env KIT_ROOTDISK) is the guest's
root, mounted read-write (root=/dev/sda1 rw). The moment the console shows
ext4's "mounted filesystem" line (its mount writes the superblock and the
journal), the VM is saved through the control socket: the worker pauses the
vCPUs and quiesces VMBus, which waits until every disk request storvsp took
has completed and been answered, then saves; the worker exits 0. A new
worker restores it; the guest goes on from the mount to init (on PVM init
cannot run: the kernel panics and, with --no-reboot, the worker exits 0;
elsewhere /bin/sh prints the Debian version and reboots). Then: one boot on
the console, no guest fault, and `e2fsck -fn` finds the file system clean.
"""
import json
import os
import shutil
import subprocess
import tempfile
import time

import linux_checks as lc
from parvis_test import Tap, Worker, control, host_is_pvm, kit, kvm_available, skip_all

if not kvm_available():
    skip_all('no /dev/kvm')
k = kit()
rootdisk = os.environ.get('KIT_ROOTDISK')
if not k or not rootdisk:
    skip_all('guest kit or its root disk not built (tools/guest-kit/build.sh --rootdisk)')
if not shutil.which('e2fsck'):
    skip_all('e2fsck not installed (e2fsprogs)')
vmlinux, _, cmdline = k
BOOT_TIMEOUT = 1500
MOUNTED = 'EXT4-fs (sda1): mounted filesystem'

tap = Tap()
tmp = tempfile.mkdtemp(prefix='parvis-save-root-')
disk = os.path.join(tmp, 'root.img')
subprocess.run(['cp', '--sparse=always', rootdisk, disk], check=True)
pvm = host_is_pvm()
guest_cmdline = cmdline + ' root=/dev/sda1 rw rootwait'
if not pvm:
    guest_cmdline += (' init=/bin/sh -- -c "echo PARVIS-DEBIAN $(cat /etc/debian_version);'
                      ' exec /usr/bin/systemctl reboot -ff"')
console = os.path.join(tmp, 'console')
state = os.path.join(tmp, 'root.state')
args = ['--kernel', vmlinux, '--memory', '512M', '--cpus', '1', '--no-reboot', '--no-video',
        '--serial', 'file:' + console, '--disk', disk, '--cmdline', guest_cmdline]


def wait_line(line, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if line in open(console, errors='replace').read():
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


ctl = os.path.join(tmp, 'control1')
w = Worker(args + ['--control', ctl], console, os.path.join(tmp, 'stderr1'))
ok = wait_line(MOUNTED, BOOT_TIMEOUT)
r = control(ctl, {'command': 'save', 'path': state}, 600) if ok else None
tap.ok(ok and r and r.get('ok'), f'saved as ext4 mounted its root read-write ({r})',
       str(r) + w.stderr() + w.console()[-1500:])
rc = w.wait(120)
tap.ok(rc == 0, f'the worker exited 0 after the save (status {rc})', w.stderr())
w.close()
before = w.console()

stats = os.path.join(tmp, 'stats2.json')
w2 = Worker(args + ['--control', os.path.join(tmp, 'control2'), '--exit-stats', stats,
                    '--restore', state], console, os.path.join(tmp, 'stderr2'))
rc = w2.wait(BOOT_TIMEOUT)
con = w2.console()
w2.close()
reached = 'as init process' in con or 'PARVIS-DEBIAN' in con
tap.ok(rc == 0 and reached, f'the restored guest went on to init and ended (exit {rc})',
       w2.stderr()[-1500:] + con[-1500:])
tap.ok(con.startswith(before) and con.count('Linux version') == 1,
       f'one boot: {con.count("Linux version")} "Linux version" line(s), the console goes on')
ok, desc, diag = lc.check_guest_health(con, stats=json.load(open(stats)) if os.path.exists(stats)
                                       else None, init_panic=pvm)
tap.ok(ok, 'restored boot: ' + desc, diag)
fsck = subprocess.run(['e2fsck', '-fn', disk + '?offset=1048576'], capture_output=True, text=True,
                      timeout=600)
tap.ok(fsck.returncode == 0, f'e2fsck -fn: the root file system is clean (exit {fsck.returncode})',
       fsck.stdout[-2000:] + fsck.stderr[-1000:])
shutil.rmtree(tmp, ignore_errors=True)
tap.done()

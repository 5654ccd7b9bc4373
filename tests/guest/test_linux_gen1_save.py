#!/usr/bin/env python3
"""A generation 1 Linux guest saved while libata probes and reads its IDE disk, and
restored (issue 15; docs/saved-state.md, section "ide.piix4").

The worker runs with --generation 1 and the kit's root disk (raw, a sparse copy;
env KIT_ROOTDISK) on IDE 0:0, the guest without its VMBus driver
(initcall_blacklist=hv_acpi_init, ata_piix.prefer_ms_hyperv=0: a guest without
integration components, as test_linux_gen1_ide.py). The moment the console shows
libata's IDENTIFY of the disk ("ata1.00: ATA-7: Virtual HD"), with the partition scan
and the root mount still to come, the VM is saved through the control socket (the
PIIX4's configuration, both channels' taskfiles, any transfer in progress with its
next step, the bus master); the worker exits 0. A new worker restores it: the guest
goes on to find sda1, mount ext4 read-write from the IDE disk and reach init (on PVM
init cannot run: the kernel panics and, with --no-reboot, the worker exits 0). Then:
one "Linux version" line, no ATA, I/O or ext4 errors, the mount count reached the
disk, and `e2fsck -fn` finds the file system clean.
"""
import os
import re
import shutil
import subprocess
import tempfile
import time

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
PROBED = 'ata1.00: ATA-7: Virtual HD'

tap = Tap()
tmp = tempfile.mkdtemp(prefix='parvis-gen1-save-')
disk = os.path.join(tmp, 'root.img')
subprocess.run(['cp', '--sparse=always', rootdisk, disk], check=True, timeout=300)
pvm = host_is_pvm()
guest_cmdline = (cmdline + ' initcall_blacklist=hv_acpi_init ata_piix.prefer_ms_hyperv=0'
                 ' root=/dev/sda1 rw rootwait')
console = os.path.join(tmp, 'console')
state = os.path.join(tmp, 'gen1.state')
args = ['--kernel', vmlinux, '--memory', '512M', '--cpus', '1', '--no-reboot', '--no-video',
        '--generation', '1', '--serial', 'file:' + console, '--disk', disk,
        '--cmdline', guest_cmdline]


def mount_count(image):
    out = subprocess.run(['dumpe2fs', '-h', f'{image}?offset=1048576'], capture_output=True,
                         text=True, timeout=60).stdout
    m = re.search(r'^Mount count:\s*(\d+)', out, re.M)
    return int(m.group(1)) if m else None


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


before_count = mount_count(disk)
ctl = os.path.join(tmp, 'control1')
w = Worker(args + ['--control', ctl], console, os.path.join(tmp, 'stderr1'))
ok = wait_line(PROBED, BOOT_TIMEOUT)
r = control(ctl, {'command': 'save', 'path': state}, 600) if ok else None
tap.ok(ok and r and r.get('ok'), f'generation 1 saved as libata probed the IDE disk ({r})',
       str(r) + w.stderr() + w.console()[-1500:])
rc = w.wait(120)
tap.ok(rc == 0, f'the worker exited 0 after the save (status {rc})', w.stderr())
w.close()
before = w.console()
tap.ok('EXT4-fs (sda1): mounted' not in before, 'the root was not mounted yet when saved',
       before[-1500:])

w2 = Worker(args + ['--control', os.path.join(tmp, 'control2'), '--restore', state], console,
            os.path.join(tmp, 'stderr2'))
rc = w2.wait(BOOT_TIMEOUT)
con = w2.console()
w2.close()
reached = 'as init process' in con or 'Kernel panic - not syncing: Attempted to kill init' in con \
    or 'Run /sbin/init' in con or 'VFS: Mounted root (ext4 filesystem) on device' in con
tap.ok(rc == 0 and reached, f'the restored guest went on and ended (exit {rc})',
       w2.stderr()[-1500:] + con[-1500:])
tap.ok(con.startswith(before) and con.count('Linux version') == 1,
       f'one boot: {con.count("Linux version")} "Linux version" line(s), the console goes on')
tap.ok(re.search(r'\bsda: sda1\b', con) and 'EXT4-fs (sda1): mounted filesystem' in con and
       'VFS: Mounted root (ext4 filesystem) on device' in con,
       'after the restore: the partition scan and the read-write ext4 mount went through IDE',
       '\n'.join(l for l in con.splitlines() if re.search(r'ata|sd |EXT4|VFS', l))[-2000:])
bad = [l for l in con.splitlines()
       if re.search(r'I/O error|EXT4-fs error|exception Emask|failed command|timeout', l)]
tap.ok(not bad, 'no I/O, ATA or ext4 errors in the guest log', '\n'.join(bad[:20]))
after_count = mount_count(disk)
tap.ok(before_count is not None and after_count == before_count + 1,
       'dumpe2fs: the restored guest\'s mount reached the disk',
       f'before {before_count}, after {after_count}')
fsck = subprocess.run(['e2fsck', '-fn', disk + '?offset=1048576'], capture_output=True, text=True,
                      timeout=600)
tap.ok(fsck.returncode == 0, f'e2fsck -fn: the root file system is clean (exit {fsck.returncode})',
       fsck.stdout[-2000:] + fsck.stderr[-1000:])
shutil.rmtree(tmp, ignore_errors=True)
tap.done()

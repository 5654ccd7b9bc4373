#!/usr/bin/env python3
"""A real root disk: the kit's Debian root file system on a VHDX, mounted
read-write by the guest through storvsp.

The guest kit's root disk (tools/guest-kit/build-rootdisk.sh: debootstrap,
an MBR partition table, ext4 made with mke2fs -d; env KIT_ROOTDISK) is
converted to a dynamic VHDX by `parvis vhd convert`, attached with --disk,
and the kit kernel boots with root=/dev/sda1 rw. The guest's own drivers
must show: storvsc negotiating and finding the disk, sd reading its size
and cache mode, the partition scan finding sda1, ext4 mounting it, and the
kernel starting Debian's init from it. Then, on the host: the VHDX is sound
by `qemu-img check` (another implementation), converts with qemu-img to
exactly the bytes our own tool converts it to, and `dumpe2fs` shows that
the guest's mount updated the superblock (mount count, last mount time,
the journal's needs_recovery flag since nobody unmounted it).

Where guest user space runs (hardware virtualization), Debian's /bin/sh
runs as init and prints the Debian version before rebooting; on PVM hosts
user space cannot make system calls, so init dies at once and the kernel
panics and reboots (panic=1): the worker exits with --no-reboot either way.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile

import linux_checks as lc
from parvis_test import Tap, Worker, host_is_pvm, kit, kvm_available, skip_all

tap = Tap()
if not kvm_available():
    skip_all('no /dev/kvm')
k = kit()
rootdisk = os.environ.get('KIT_ROOTDISK')
if not k or not rootdisk:
    skip_all('guest kit or its root disk not built (tools/guest-kit/build.sh --rootdisk)')
vmlinux, _, cmdline = k


def vhd(*args):
    tool = os.environ.get('PARVIS_VHD', 'parvis')
    cmd = [tool] + (['vhd'] if os.path.basename(tool) == 'parvis' else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def superblock(image):
    """dumpe2fs -h of the partition at 1 MiB of a raw image, as a dict."""
    out = subprocess.run(['dumpe2fs', '-h', f'{image}?offset=1048576'], capture_output=True,
                         text=True, timeout=60).stdout
    return dict((m.group(1).strip(), m.group(2).strip())
                for m in re.finditer(r'^([^:\n]+):\s*(.*)$', out, re.M))


work = tempfile.mkdtemp(prefix='parvis-rootdisk-')
try:
    before = superblock(rootdisk)
    disk = os.path.join(work, 'root.vhdx')
    r = vhd('convert', rootdisk, disk, '--format', 'vhdx', '--dynamic')
    tap.ok(r.returncode == 0 and os.path.exists(disk), 'parvis vhd convert: the raw root disk to a dynamic VHDX',
           r.stderr)
    info = vhd('inspect', disk, '--json')
    tap.ok(info.returncode == 0 and '"vhdx"' in info.stdout.lower(), 'parvis vhd inspect: a VHDX', info.stdout + info.stderr)

    pvm = host_is_pvm()
    args = cmdline + ' root=/dev/sda1 rw rootwait'
    if not pvm:
        args += (' init=/bin/sh -- -c "echo PARVIS-DEBIAN $(cat /etc/debian_version);'
                 ' exec /usr/bin/systemctl reboot -ff"')
    console = os.path.join(work, 'console.log')
    stats = os.path.join(work, 'stats.json')
    w = Worker(['--kernel', vmlinux, '--memory', '512M', '--cpus', '2', '--no-reboot',
                '--serial', 'file:' + console, '--disk', disk, '--cmdline', args, '--exit-stats', stats],
               console, os.path.join(work, 'stderr.log'))
    rc = w.wait(1500)
    con = w.console()
    tap.ok(*lc.check_firmware_clean(con))
    tap.ok(*lc.check_guest_health(con, stats=json.load(open(stats)) if os.path.exists(stats) else None,
                                  init_panic=pvm))
    tap.ok(rc == 0, 'the worker ends with status 0 once the guest reboots (--no-reboot)',
           f'status {rc}\n{w.stderr()[-2000:]}\n{con[-3000:]}')
    tap.ok(re.search(r'scsi host\d+: storvsc_host_t', con) is not None, 'storvsc found the controller',
           con[-2000:])
    m = re.search(r'sd \d+:0:0:0: \[sda\] (\d+) 512-byte logical blocks', con)
    tap.ok(m is not None and int(m.group(1)) * 512 == os.path.getsize(rootdisk),
           'sd: sda has the root disk\'s size', m and m.group(0))
    tap.ok(re.search(r'\[sda\] Write cache: enabled', con) is not None, 'sd: write cache enabled (MODE SENSE caching page)')
    tap.ok(re.search(r'\[sda\] Write Protect is off', con) is not None, 'sd: write protect off')
    tap.ok(re.search(r'\bsda: sda1\b', con) is not None, 'the partition scan found sda1 (MBR)')
    tap.ok(re.search(r'EXT4-fs \(sda1\): mounted filesystem', con) is not None and
           'VFS: Mounted root (ext4 filesystem) on device' in con, 'ext4 mounted sda1 as the root file system')
    tap.ok(re.search(r'EXT4-fs \(sda1\): mounted filesystem.*read-only', con) is None,
           'mounted read-write')
    tap.ok(re.search(r'Run /(sbin/init|bin/sh) as init process', con) is not None,
           'the kernel ran init from the Debian root')
    if pvm:
        tap.skip('Debian\'s shell ran', 'guest user space cannot make system calls on PVM hosts')
        tap.ok(*lc.check_init_panic(con))
    else:
        tap.ok(re.search(r'PARVIS-DEBIAN 12', con) is not None, 'Debian\'s shell ran from the root disk')
    tap.ok('I/O error' not in con and 'EXT4-fs error' not in con, 'no I/O or ext4 errors in the guest log')

    chk = subprocess.run(['qemu-img', 'check', disk], capture_output=True, text=True, timeout=300)
    tap.ok(chk.returncode == 0, 'qemu-img check: the VHDX the guest wrote is sound', chk.stdout + chk.stderr)
    theirs, ours = os.path.join(work, 'qemu.raw'), os.path.join(work, 'ours.raw')
    subprocess.run(['qemu-img', 'convert', '-O', 'raw', disk, theirs], check=True, timeout=600)
    r = vhd('convert', disk, ours, '--format', 'raw')
    same = r.returncode == 0 and subprocess.run(['cmp', '-s', theirs, ours]).returncode == 0
    tap.ok(same, 'qemu-img and parvis vhd convert the VHDX to identical raw bytes', r.stderr)
    after = superblock(theirs)
    tap.ok(int(after.get('Mount count', '0')) == int(before.get('Mount count', '0')) + 1,
           'dumpe2fs: the guest\'s mount raised the mount count',
           f'before {before.get("Mount count")}, after {after.get("Mount count")}')
    tap.ok(after.get('Last mount time', 'n/a') not in ('n/a', before.get('Last mount time')),
           'dumpe2fs: the last mount time is the guest\'s', after.get('Last mount time'))
    if pvm:
        tap.ok('needs_recovery' in after.get('Filesystem features', ''),
               'dumpe2fs: the journal is in use (mounted read-write, never unmounted)',
               after.get('Filesystem features'))
    # The guest never unmounted: replay its journal (on the host's copy), then a full check.
    part = os.path.join(work, 'part.raw')
    subprocess.run(['dd', f'if={theirs}', f'of={part}', 'bs=1M', 'skip=1', 'conv=sparse', 'status=none'],
                   check=True, timeout=300)
    replay = subprocess.run(['e2fsck', '-fy', part], capture_output=True, text=True, timeout=300)
    fsck = subprocess.run(['e2fsck', '-fn', part], capture_output=True, text=True, timeout=300)
    tap.ok(replay.returncode in (0, 1) and fsck.returncode == 0,
           'e2fsck: after the journal replay, the file system the guest mounted is clean',
           replay.stdout[-1000:] + fsck.stdout[-1500:] + fsck.stderr[-500:])
finally:
    if tap.failed and os.environ.get('PARVIS_KEEP'):
        print(f'# files kept in {work}')
    else:
        shutil.rmtree(work, ignore_errors=True)
tap.done()

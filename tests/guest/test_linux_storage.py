#!/usr/bin/env python3
"""Synthetic storage with the kit kernel (Linux 6.1's own hv_storvsc, sd and
ext4), checked from the guest's log, from the host's control socket, and
from the disk images afterwards with e2fsprogs.

One boot, 2 vCPUs (so the guest asks for a sub-channel), three disks:
  controller 0, LUN 0: a raw disk with an MBR partition table (sfdisk) and
                       an ext4 file system made with `mke2fs -d`: the root,
                       `root=/dev/sda1 rw`;
  controller 0, LUN 1: a dynamic VHDX made by qemu-img, read-only;
  controller 1:        a raw disk (a second storvsc host).
Guest user space cannot run on PVM hosts (docs/pvm.md), so the root holds
as /sbin/init the tiny static program of idle_initramfs.py (`pause; jmp`,
no system call): the kernel mounts the root, starts it, and stays up. A
disk is then hot-added and hot-removed through the control socket, and the
second controller gets a hot-added VHDX with 4 KiB logical sectors (made by
`parvis vhd new --sector-size 4096`), which the guest must attach with
4096-byte blocks. The VM is shut down through the shutdown integration service (Linux's
orderly_poweroff cannot start /sbin/poweroff, so it syncs and powers off
from the kernel). On the host: dumpe2fs shows the guest's mount (mount
count, last mount time, the "not clean" state of a file system mounted
read-write), and e2fsck -fn finds no errors.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile

from idle_initramfs import idle_init_elf
import linux_checks as lc
from parvis_test import Tap, Worker, control, kit, kvm_available, skip_all, wait_status

if not kvm_available():
    skip_all('no /dev/kvm')
k = kit()
if not k:
    skip_all('guest kit not built (tools/guest-kit/build.sh)')
for tool in ('sfdisk', 'mke2fs', 'dumpe2fs', 'e2fsck', 'qemu-img'):
    if not shutil.which(tool):
        skip_all(f'{tool} not installed (tools/packages.txt)')
vmlinux, _, cmdline = k
BOOT_TIMEOUT = 1500
MiB = 1 << 20
PART_OFFSET = 1 * MiB

tap = Tap()
tmp = tempfile.mkdtemp(prefix='parvis-storage-')


def p(name):
    return os.path.join(tmp, name)


def sparse(name, size):
    with open(p(name), 'wb') as f:
        f.truncate(size)
    return p(name)


# --- the images ---
tree = p('tree')
os.makedirs(os.path.join(tree, 'sbin'))
with open(os.path.join(tree, 'sbin', 'init'), 'wb') as f:
    f.write(idle_init_elf())
os.chmod(os.path.join(tree, 'sbin', 'init'), 0o755)
with open(os.path.join(tree, 'hello.txt'), 'w') as f:
    f.write('written by the host with mke2fs -d\n')
root = sparse('root.img', 64 * MiB)
subprocess.run(['sfdisk', '-q', root], input=b'label: dos\nlabel-id: 0x50617276\nstart=2048, type=83\n',
               check=True)
subprocess.run(['mke2fs', '-q', '-F', '-t', 'ext4', '-L', 'parvisroot', '-E', f'offset={PART_OFFSET}',
                '-d', tree, root, f'{(64 * MiB - PART_OFFSET) // 1024}k'], check=True)
ro = p('ro.vhdx')
subprocess.run(['qemu-img', 'create', '-q', '-f', 'vhdx', ro, '16M'], check=True)
second = sparse('c1.img', 8 * MiB)
hot = sparse('hot.img', 4 * MiB)
k4 = p('k4.vhdx')
cli = os.environ.get('PARVIS_CLI', 'parvis')
subprocess.run([cli, 'vhd', 'new', k4, '--size', '4M', '--sector-size', '4096'], check=True,
               capture_output=True)


def partition_copy():
    """The file system's bytes, for e2fsprogs."""
    out = p('part.img')
    with open(root, 'rb') as src, open(out, 'wb') as dst:
        src.seek(PART_OFFSET)
        shutil.copyfileobj(src, dst)
    return out


def dumpe2fs(img):
    r = subprocess.run(['dumpe2fs', '-h', img], capture_output=True, text=True)
    return {m.group(1).strip(): m.group(2).strip()
            for m in re.finditer(r'^([^:\n]+):\s*(.*)$', r.stdout, re.M)}


before = dumpe2fs(partition_copy())

ctl = p('control')
w = Worker(['--kernel', vmlinux, '--memory', '256M', '--cpus', '2',
            # The partition by its MBR identity: the two controllers are scanned in parallel, so
            # which disk is named sda is not fixed.
            '--cmdline', cmdline + ' root=PARTUUID=50617276-01 rw rootwait',
            '--serial', 'file:' + p('console'), '--control', ctl, '--shutdown-timeout', '900',
            '--no-reboot', '--exit-stats', p('stats.json'),
            '--disk', root, '--disk', ro + ',readonly,lun=1', '--disk', second + ',controller=1'],
           p('console'), p('stderr'))


def storage(st):
    return ((st or {}).get('storage') or {}).get('controllers') or []


def subchannels_open(st):
    ctls = storage(st)
    return bool(ctls) and any(c['subchannel_index'] > 0 and c['state'] == 'open'
                              for c in ctls[0]['channels'])


# The VFS line comes after ext4's own: wait for it, so both are in the log checked below.
mounted = w.wait_console(lambda c: (re.search(r'EXT4-fs \(sd\w+1\): mounted filesystem', c) and
                                    'VFS: Mounted root' in c) or 'Kernel panic' in c,
                         timeout=BOOT_TIMEOUT)
con = w.console()
names = dict(re.findall(r'sd (\d+:0:0:\d+): \[(sd\w+)\] Attached SCSI disk', con))
root_dev = names.get('0:0:0:0', 'sd?')
tap.ok(mounted and 'Kernel panic' not in con, 'the guest mounted its root file system from the SCSI disk',
       con[-3000:] + w.stderr()[-1000:])
m = re.search(r'VFS: Mounted root \(ext4 filesystem\)( readonly)? on device \d+:\d+\.', con)
tap.ok(re.search(r'EXT4-fs \(' + root_dev + r'1\): mounted filesystem', con) is not None and
       m is not None and not m.group(1), 'EXT4 root mounted read-write from partition 1',
       '\n'.join(l for l in con.splitlines() if 'EXT4' in l or 'VFS' in l))
tap.ok(re.search(r'scsi host\d+: storvsc_host_t', con) is not None and
       len(re.findall(r'scsi host\d+: storvsc_host_t', con)) >= 2,
       'storvsc bound both controllers', '\n'.join(l for l in con.splitlines() if 'scsi' in l)[-2000:])
tap.ok(re.search(r'scsi 0:0:0:0: Direct-Access\s+Msft\s+Virtual Disk\s+1\.0\s+PQ: 0 ANSI: 5', con)
       is not None, 'INQUIRY: Msft Virtual Disk, SPC-3', '\n'.join(l for l in con.splitlines() if 'scsi' in l)[-2000:])
tap.ok(re.search(r'sd 0:0:0:0: \[sd\w+\] 131072 512-byte logical blocks', con) is not None,
       'LUN 0: 64 MiB in 512-byte blocks (READ CAPACITY)', '\n'.join(l for l in con.splitlines() if 'sd ' in l)[-2000:])
tap.ok(re.search(r'sd 0:0:0:1: \[sd\w+\] 32768 512-byte logical blocks', con) is not None,
       'LUN 1: the 16 MiB VHDX', '\n'.join(l for l in con.splitlines() if 'sd ' in l)[-2000:])
tap.ok(re.search(r'sd 0:0:0:1: \[sd\w+\] Write Protect is on', con) is not None and
       re.search(r'sd 0:0:0:0: \[sd\w+\] Write Protect is off', con) is not None,
       'MODE SENSE: write protect on for the read-only disk only',
       '\n'.join(l for l in con.splitlines() if 'Write Protect' in l))
tap.ok(re.search(r'sd 0:0:0:0: \[sd\w+\] Write cache: enabled', con) is not None,
       'MODE SENSE caching page: write cache enabled', '\n'.join(l for l in con.splitlines() if 'cache' in l))
for addr in ('0:0:0:0', '0:0:0:1', '1:0:0:0'):
    tap.ok(addr in names, f'sd {addr} attached', '\n'.join(l for l in con.splitlines() if 'sd ' in l)[-2000:])
tap.ok(re.search(r'\b' + root_dev + ': ' + root_dev + r'1\b', con) is not None,
       f'the guest read the partition table: {root_dev}: {root_dev}1', con[-1500:])

ok, st = wait_status(ctl, subchannels_open, 600)
ctls = storage(st)
tap.ok(ok, 'the guest opened a sub-channel of controller 0 (2 vCPUs)', json.dumps(ctls)[:3000])
tap.ok(len(ctls) == 2 and all(c.get('protocol') == '6.2' for c in ctls),
       'both controllers negotiated protocol 6.2 (Windows 10)', json.dumps(ctls)[:2000])
disks0 = {d['lun']: d for d in (ctls[0]['disks'] if ctls else [])}
tap.ok(disks0.get(0, {}).get('reads', 0) > 0 and disks0.get(0, {}).get('format') == 'raw' and
       disks0.get(1, {}).get('format') == 'vhdx' and disks0.get(1, {}).get('readonly'),
       'status: per-disk counters, raw root and read-only VHDX', json.dumps(disks0))

# --- hot add and hot remove ---
r = control(ctl, {'command': 'disk-add', 'path': hot, 'controller': 0})
tap.ok(r.get('ok') and r.get('lun') == 2, 'disk-add: LUN 2 on controller 0', json.dumps(r))
added = w.wait_console(lambda c: re.search(r'sd 0:0:0:2: \[sd\w+\] Attached SCSI disk', c) is not None,
                       timeout=900)
tap.ok(added, 'hot add: the guest rescanned and attached 0:0:0:2',
       '\n'.join(l for l in w.console().splitlines() if 'scsi' in l or 'sd ' in l)[-2000:])
r = control(ctl, {'command': 'disk-add', 'path': p('nonexistent.img')})
tap.ok(not r.get('ok') and 'nonexistent.img' in r.get('error', ''), 'disk-add of a missing file: an error',
       json.dumps(r))
r = control(ctl, {'command': 'disk-remove', 'controller': 0, 'lun': 2})
tap.ok(r.get('ok'), 'disk-remove accepted', json.dumps(r))
ok, st = wait_status(ctl, lambda s: bool(storage(s)) and storage(s)[0].get('rescans', 0) >= 2, 60)
tap.ok(ok, 'the guest was told to rescan twice', json.dumps(storage(st))[:1500])
ok, st = wait_status(ctl, lambda s: bool(storage(s)) and sum(
    c['bad_packets'] for c in storage(s)[0]['channels']) == 0 and storage(s)[0]['protocol_errors'] == 0, 30)
tap.ok(ok, 'no bad packets or protocol errors from the guest', json.dumps(storage(st))[:1500])
gone = wait_status(ctl, lambda s: bool(storage(s)) and all(d['lun'] != 2 for d in storage(s)[0]['disks']), 30)[0]
tap.ok(gone, 'hot remove: the disk is gone from the controller', '')
# Linux drops the device once its TEST UNIT READY fails with INVALID_LUN; sd's removal then
# tries to flush the write cache of the disk that had one.
removed = w.wait_console(lambda c: re.search(r'sd 0:0:0:2: \[sd\w+\] Synchronizing SCSI cache', c) is not None,
                         timeout=600)
tap.ok(removed, 'hot remove: the guest removed 0:0:0:2 (sd flushes its cache on removal)',
       '\n'.join(l for l in w.console().splitlines() if '0:0:0:2' in l)[-2000:])

# --- hot add to the second controller: a disk with 4 KiB logical sectors ---
r = control(ctl, {'command': 'disk-add', 'path': k4, 'controller': 1})
tap.ok(r.get('ok') and r.get('controller') == 1 and r.get('lun') == 1, 'disk-add: LUN 1 on controller 1',
       json.dumps(r))
added = w.wait_console(lambda c: re.search(r'sd 1:0:0:1: \[sd\w+\] Attached SCSI disk', c) is not None,
                       timeout=900)
tap.ok(added and re.search(r'sd 1:0:0:1: \[sd\w+\] 1024 4096-byte logical blocks', w.console()) is not None,
       'hot add on controller 1: the guest attached 1:0:0:1 with 1024 4096-byte logical blocks',
       '\n'.join(l for l in w.console().splitlines() if '1:0:0:1' in l)[-2000:])
ok, st = wait_status(ctl, lambda s: len(storage(s)) == 2 and any(
    d['lun'] == 1 and d.get('reads', 0) > 0 for d in storage(s)[1]['disks']), 60)
tap.ok(ok, 'status: the guest read the 4 KiB-sector disk on controller 1', json.dumps(storage(st))[:2000])

r = control(ctl, {'command': 'shutdown', 'reason': 'storage test done'})
tap.ok(r.get('ok'), 'shutdown requested', json.dumps(r))
rc = w.wait(timeout=900)
con, err = w.console(), w.stderr()
tap.ok(*lc.check_firmware_clean(con))
w.close()
tap.ok(*lc.check_guest_health(con, stats=json.load(open(p('stats.json'))) if os.path.exists(p('stats.json'))
                              else None))
tap.ok(rc == 0, 'the guest powered off (exit 0)', f'exit {rc}\n{err[-1500:]}\n{con[-1500:]}')

# --- the file system, from the host ---
part = partition_copy()
after = dumpe2fs(part)
tap.ok(after.get('Mount count') == str(int(before.get('Mount count', '0')) + 1),
       'dumpe2fs: the mount count went up by one', f"before {before.get('Mount count')}, after {after.get('Mount count')}")
tap.ok(before.get('Last mount time') in (None, 'n/a') and after.get('Last mount time') not in (None, 'n/a'),
       'dumpe2fs: last mount time set by the guest', f"{before.get('Last mount time')} -> {after.get('Last mount time')}")
tap.ok(after.get('Filesystem state') != before.get('Filesystem state') or
       after.get('Last write time') != before.get('Last write time'),
       'dumpe2fs: the guest wrote the superblock (state or write time)',
       f"state {before.get('Filesystem state')} -> {after.get('Filesystem state')}, "
       f"write {before.get('Last write time')} -> {after.get('Last write time')}")
r = subprocess.run(['e2fsck', '-fn', part], capture_output=True, text=True)
tap.ok(r.returncode == 0, 'e2fsck -fn: clean', r.stdout[-2000:] + r.stderr[-500:])
r = subprocess.run(['qemu-img', 'check', ro], capture_output=True, text=True)
tap.ok(r.returncode == 0, 'qemu-img check of the read-only VHDX after the run', r.stdout + r.stderr)
shutil.rmtree(tmp, ignore_errors=True)
tap.done()

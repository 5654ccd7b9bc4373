#!/usr/bin/env python3
"""Checkpoints, export and import through parvis-vmms (docs/checkpoints.md), tiny ELF kernel.

A VM that is Off with a VHDX disk: checkpoints (two levels and a branch), get-vmsnapshot's
tree, restore (the disk's bytes back, written and read through src/disk with tests/disk-io:
QEMU does not open differencing VHDX), remove with its merge (qemu-img check clean on the
result, the contents those of the merged chain), remove cancelled by ^C of the CLI and by
kill -9 of the service (the VM's disk unchanged and openable, the merge run again), export
and import with --generate-new-id into a second service that starts it, and the refusals: a
raw disk, a running VM, a corrupt checkpoint record, a missing differencing parent, an export
with a missing disk, an id that exists.
"""
import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from parvis_test import Tap, kvm_available
from vmms_test import Service, cli_bin

tap = Tap()
tiny = os.environ['PARVIS_TINY_KERNEL']
disk_io = os.environ['PARVIS_DISK_IO']
tmp = tempfile.mkdtemp(prefix='pvk-', dir='/tmp')
svc = Service(tmp)
MiB = 1 << 20


def dio(*args):
    p = subprocess.run([disk_io] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=600)
    return p.returncode, p.stderr


def expect(path, off, length, byte):
    rc, err = dio('expect', path, off, length, byte)
    return rc == 0, err


def write(path, off, length, byte):
    rc, err = dio('write', path, off, length, byte)
    if rc:
        print(f'# disk-io write {path}: {err}')
    return rc == 0


def vm_disk(name, s=None):
    v = (s or svc).vm(name)
    return v['disks'][0]['path'] if v and v['disks'] else None


def snapshots(name, s=None):
    rc, out, err = (s or svc).cli_json('get-vmsnapshot', name)
    return out['snapshots'] if rc == 0 and out else None, out, err


def files_under(d):
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(d, '*')))


def qemu_check(path):
    p = subprocess.run(['qemu-img', 'check', '-f', 'vhdx', path], capture_output=True, text=True)
    return p.returncode == 0 and 'No errors' in p.stdout, p.stdout + p.stderr


def qemu_read(path, *patterns):
    cmds = []
    for off, length, byte in patterns:
        cmds += ['-c', f'read -P {byte} {off} {length}']
    p = subprocess.run(['qemu-io', '-f', 'vhdx', '-r'] + cmds + [path], capture_output=True,
                       text=True)
    return p.returncode == 0 and 'Pattern verification failed' not in p.stdout, p.stdout + p.stderr


def refused(args, desc, *needles, files_dir=None):
    before = files_under(files_dir) if files_dir else None
    rc, out, err = svc.cli(*args)
    after = files_under(files_dir) if files_dir else None
    good = rc == 1 and all(n.lower() in err.lower() for n in needles) and before == after
    tap.ok(good, desc, f'rc {rc}\nstdout: {out}\nstderr: {err}\nfiles: {before} -> {after}')


tap.ok(svc.start(), 'parvis-vmms starts', svc.read_log())
ddir = os.path.join(tmp, 'disks')
os.mkdir(ddir)
base = os.path.join(ddir, 'data.vhdx')
subprocess.run(['qemu-img', 'create', '-q', '-f', 'vhdx', base, '64M'], check=True)
qemu_ok = subprocess.run(['qemu-io', '-f', 'vhdx', '-c', 'write -P 0x11 0 1M', base],
                         capture_output=True).returncode == 0
rc, out, err = svc.cli('new-vm', 'cp', '--memory', '32M', '--kernel', tiny, '--cmdline', 'idle',
                       '--disk', base)
tap.ok(rc == 0 and qemu_ok, 'a VM with a VHDX disk written by qemu-io', out + err)

# --- checkpoints of an Off VM: two levels and a branch ------------------------------------
rc, res, err = svc.cli_json('checkpoint-vm', 'cp', '--snapshot-name', 'A')
leaf1 = vm_disk('cp')
tap.ok(rc == 0 and res['name'] == 'A' and res['current'] and leaf1 != base and
       leaf1.endswith('.avhdx') and os.path.dirname(leaf1) == ddir,
       'checkpoint-vm A: the VM goes on with a differencing child beside its disk', json.dumps(res) + err)
ok, e = expect(leaf1, 0, MiB, 0x11)
tap.ok(ok, 'the child shows its parent\'s bytes', e)
tap.ok(write(leaf1, MiB, MiB, 0x22), 'bytes written into the child (after A)')
rc, out, err = svc.cli('checkpoint-vm', 'cp', '--snapshot-name', 'B')
leaf2 = vm_disk('cp')
tap.ok(rc == 0 and leaf2 not in (leaf1, base), 'checkpoint-vm B (below A)', out + err)
tap.ok(write(leaf2, 2 * MiB, MiB, 0x33), 'bytes written after B')
rc, out, err = svc.cli('restore-vmsnapshot', 'cp', 'A')
leaf3 = vm_disk('cp')
ok1, e1 = expect(leaf3, 0, MiB, 0x11)
ok2, e2 = expect(leaf3, MiB, 2 * MiB, 0)
tap.ok(rc == 0 and ok1 and ok2 and not os.path.exists(leaf2),
       'restore-vmsnapshot A: the disk is back to A (what came after is gone, and the old '
       'current state discarded)', out + err + e1 + e2)
rc, out, err = svc.cli('checkpoint-vm', 'cp', '--snapshot-name', 'C')
tap.ok(rc == 0, 'checkpoint-vm C (a branch below A)', out + err)
tap.ok(write(vm_disk('cp'), 3 * MiB, MiB, 0x44), 'bytes written after C')
snaps, res, err = snapshots('cp')
by = {s['name']: s for s in snaps or []}
tap.ok(snaps is not None and set(by) == {'A', 'B', 'C'} and by['A']['parent_id'] is None and
       by['B']['parent_id'] == by['A']['id'] and by['C']['parent_id'] == by['A']['id'] and
       by['C']['current'] and not by['A']['current'] and not by['B']['current'] and
       res['current'] == 'C' and all(s['created'].endswith('Z') and s['created_ms'] > 0 for s in snaps),
       'get-vmsnapshot --json: A with children B and C, C current, creation times', json.dumps(res) + err)
rc, out, err = svc.cli('get-vmsnapshot', 'cp')
lines = out.splitlines()
tap.ok(rc == 0 and len(lines) == 3 and lines[0].startswith('A ') and
       all(l.startswith('  └ ') for l in lines[1:]) and '(current)' in out,
       'get-vmsnapshot: the tree, children indented under their parent', out + err)

# --- refusals --------------------------------------------------------------------------
refused(['checkpoint-vm', 'cp', '--snapshot-name', 'A'], 'a second checkpoint named A',
        "named 'A' already", files_dir=ddir)
refused(['restore-vmsnapshot', 'cp', 'Z'], 'restore of a checkpoint that does not exist',
        "no checkpoint named 'Z'", files_dir=ddir)
refused(['remove-vmsnapshot', 'cp', 'A'], 'remove of A, on which B, C and the VM depend',
        'depend on its disk', '--include-all-child-snapshots', files_dir=ddir)
raw = os.path.join(ddir, 'raw.img')
with open(raw, 'wb') as f:
    f.truncate(16 * MiB)
svc.cli('new-vm', 'rawvm', '--memory', '32M', '--kernel', tiny, '--cmdline', 'idle', '--disk', raw)
refused(['checkpoint-vm', 'rawvm'], 'checkpoint-vm of a VM with a raw disk', raw, 'raw image',
        'convert', files_dir=ddir)
if kvm_available():
    rc, out, err = svc.cli('start-vm', 'cp')
    tap.ok(rc == 0, 'start-vm cp', out + err)
    refused(['remove-vmsnapshot', 'cp', 'B'], 'remove-vmsnapshot of a running VM: refused, saying '
            'to turn it off', 'turn it off', files_dir=ddir)
    refused(['restore-vmsnapshot', 'cp', 'B'], 'restore-vmsnapshot of a running VM: refused',
            'turn it off', files_dir=ddir)
    rc, out, err = svc.cli('stop-vm', 'cp', '--turn-off')
    tap.ok(rc == 0, 'stop-vm --turn-off cp', out + err)
else:
    tap.skip('running VM refusals', 'no /dev/kvm')

# a corrupt checkpoint record: refused by name, nothing changes; put back, all is well
vm_id = svc.vm('cp')['id']
rec = os.path.join(svc.state_dir, 'snapshots', vm_id + '.json')
with open(rec) as f:
    good_rec = f.read()
with open(rec, 'w') as f:
    f.write(good_rec.replace('"parent":', '"parent":"00000000-0000-0000-0000-00000000000f","x":', 1))
refused(['get-vmsnapshot', 'cp'], 'get-vmsnapshot with a corrupt checkpoint record', rec, 'damaged')
refused(['checkpoint-vm', 'cp'], 'checkpoint-vm with a corrupt checkpoint record', rec,
        files_dir=ddir)
refused(['restore-vmsnapshot', 'cp', 'B'], 'restore-vmsnapshot with a corrupt checkpoint record',
        rec, files_dir=ddir)
with open(rec, 'w') as f:
    f.write('{"version": 1, "snapshots": [')
refused(['remove-vmsnapshot', 'cp', 'B'], 'remove-vmsnapshot with a truncated checkpoint record',
        rec, files_dir=ddir)
with open(rec, 'w') as f:
    f.write(good_rec)

# a missing differencing parent: B's disk has A's file as parent
b_disk = by['B']['disks'][0]
a_disk = by['A']['disks'][0]
moved = a_disk + '.away'
os.rename(a_disk, moved)
refused(['restore-vmsnapshot', 'cp', 'B'], 'restore of B with its parent disk missing: refused '
        'naming it', os.path.basename(a_disk), 'missing', files_dir=ddir)
refused(['checkpoint-vm', 'cp'], 'checkpoint-vm with the chain\'s parent missing',
        os.path.basename(a_disk), files_dir=ddir)
os.rename(moved, a_disk)

# --- remove with merge ------------------------------------------------------------------
cur = vm_disk('cp')
rc, out, err = svc.cli('remove-vmsnapshot', 'cp', 'B')
snaps, _, _ = snapshots('cp')
ok1, e1 = expect(cur, 3 * MiB, MiB, 0x44)
ok2, e2 = expect(cur, 0, MiB, 0x11)
tap.ok(rc == 0 and sorted(s['name'] for s in snaps) == ['A', 'C'] and ok1 and ok2 and
       not os.path.exists(b_disk),
       'remove-vmsnapshot B (a leaf checkpoint, not current): its file goes, the VM is untouched',
       out + err + e1 + e2)
rc, out, err = svc.cli('remove-vmsnapshot', 'cp', 'C')
snaps, res, _ = snapshots('cp')
ok1, e1 = expect(vm_disk('cp'), 3 * MiB, MiB, 0x44)
ok2, e2 = expect(vm_disk('cp'), 0, MiB, 0x11)
tap.ok(rc == 0 and [s['name'] for s in snaps] == ['A'] and snaps[0]['current'] and
       vm_disk('cp') == cur and ok1 and ok2,
       'remove-vmsnapshot C (the current one): merged into the VM\'s disk, same path and bytes, '
       'A now current', out + err + e1 + e2)

# ^C during the merge of A: a lot of data in the child makes a long merge
tap.ok(write(cur, 4 * MiB, 56 * MiB, 0x55), 'bytes written for a long merge')
p = subprocess.Popen([cli_bin(), '--socket', svc.sock, 'remove-vmsnapshot', 'cp', 'A', '--progress'],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
seen = b''
while b'merge' not in seen:
    c = p.stderr.read1(4096)
    if not c:
        break
    seen += c
p.send_signal(signal.SIGINT)
out, err = p.communicate(timeout=300)
err = seen + err
snaps, _, _ = snapshots('cp')
if p.returncode == 0:
    tap.skip('^C of remove-vmsnapshot', 'the merge ended before the ^C arrived')
else:
    # the service ends the helper and answers nobody: wait until the VM is no longer busy
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and 'busy' in svc.cli('restore-vmsnapshot', 'cp', 'A')[2]:
        time.sleep(0.2)
    snaps, _, _ = snapshots('cp')
    ok1, e1 = expect(cur, 4 * MiB, 56 * MiB, 0x55)
    ok2, e2 = expect(cur, 0, MiB, 0x11)
    tap.ok(p.returncode == 130 and b'cancelled' in err and snaps and snaps[0]['name'] == 'A' and
           ok1 and ok2,
           '^C of remove-vmsnapshot: cancelled, the checkpoint stays (merge pending) and the VM\'s '
           'disk shows the same bytes', f'rc {p.returncode}\n{err.decode(errors="replace")}\n'
           f'{json.dumps(snaps)}\n{e1}{e2}')
    refused(['restore-vmsnapshot', 'cp', 'A'], 'restore of a checkpoint whose merge is pending: '
            'refused, saying to run remove-vmsnapshot again', 'merged away', 'remove-vmsnapshot')

# kill -9 of the service during the merge: the disks open, a second run finishes it
p = subprocess.Popen([cli_bin(), '--socket', svc.sock, 'remove-vmsnapshot', 'cp', 'A', '--progress'],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
seen = b''
while b'merge' not in seen:
    c = p.stderr.read1(4096)
    if not c:
        break
    seen += c
svc.proc.send_signal(signal.SIGKILL)
svc.proc.wait()
p.communicate(timeout=300)
# the helper may still be merging: it is not the service's child any more
deadline = time.monotonic() + 300
while time.monotonic() < deadline and subprocess.run(
        ['pgrep', '-f', f'parvis-vmdisk merge {cur}'], capture_output=True).returncode == 0:
    time.sleep(0.5)
ok1, e1 = expect(cur, 4 * MiB, 56 * MiB, 0x55)
ok2, e2 = expect(cur, 0, MiB, 0x11)
tap.ok(ok1 and ok2, 'kill -9 of the service during the merge: the VM\'s disk opens with its bytes',
       e1 + e2)
tap.ok(svc.start(), 'the service starts again', svc.read_log())
rc, out, err = svc.cli('remove-vmsnapshot', 'cp', 'A')
snaps, _, _ = snapshots('cp')
chk, ce = qemu_check(cur)
rd, re_ = qemu_read(cur, (0, MiB, 0x11), (MiB, MiB, 0), (3 * MiB, MiB, 0x44), (4 * MiB, 56 * MiB, 0x55))
tap.ok(rc == 0 and snaps == [] and files_under(ddir) == sorted([os.path.basename(cur), 'raw.img']),
       'remove-vmsnapshot A again: done, one disk file left', out + err + str(files_under(ddir)))
tap.ok(chk, 'qemu-img check of the merged disk: clean', ce)
tap.ok(rd, 'qemu-io reads the merged chain\'s bytes in the merged disk', re_)

# --- export and import ----------------------------------------------------------------
svc.cli('checkpoint-vm', 'cp', '--snapshot-name', 'E1')
write(vm_disk('cp'), 62 * MiB, MiB, 0x77)
exp = os.path.join(tmp, 'export')
os.mkdir(exp)
rc, out, err = svc.cli('export-vm', 'cp', exp, '--progress')
edir = os.path.join(exp, 'cp')
tap.ok(rc == 0 and os.path.isfile(os.path.join(edir, 'vm.json')) and
       len(glob.glob(os.path.join(edir, 'Virtual Hard Disks', '*'))) == 2 and
       os.path.isfile(os.path.join(edir, 'boot', os.path.basename(tiny))) and 'export:' in err,
       'export-vm: configuration, both files of the chain, the kernel; progress shown', out + err)
refused(['export-vm', 'cp', exp], 'export-vm into a directory that has the VM already', 'exists')
refused(['import-vm', edir], 'import-vm of an id this service has', 'registered already',
        '--generate-new-id')

svc2 = Service(tmp, state_dir=os.path.join(tmp, 'state2'), sock=os.path.join(tmp, 'api2.sock'))
tap.ok(svc2.start(), 'a second service on another state directory', svc2.read_log())
broken = os.path.join(tmp, 'broken')
shutil.copytree(edir, broken)
for p_ in glob.glob(os.path.join(broken, 'Virtual Hard Disks', '*'))[:1]:
    os.unlink(p_)
rc, out, err = svc2.cli('import-vm', broken)
tap.ok(rc == 1 and 'missing' in err and 'Virtual Hard Disks' in err and svc2.vm('cp') is None,
       'import-vm of an export with a missing disk: refused naming it, nothing imported', out + err)
rc, res, err = svc2.cli_json('import-vm', edir, '--generate-new-id', '--copy')
tap.ok(rc == 0 and res['name'] == 'cp' and res['id'] != vm_id and
       res['disks'][0]['path'].startswith(svc2.state_dir),
       'import-vm --copy --generate-new-id on the second service: a new id, files copied',
       json.dumps(res) + err)
snaps, _, err = snapshots('cp', svc2)
d2 = vm_disk('cp', svc2)
ok1, e1 = expect(d2, 62 * MiB, MiB, 0x77) if d2 else (False, 'no disk')
tap.ok(snaps and [s['name'] for s in snaps] == ['E1'] and snaps[0]['current'] and ok1,
       'the imported VM has its checkpoint and its disk\'s bytes', json.dumps(snaps) + err + e1)
rc, out, err = svc2.cli('restore-vmsnapshot', 'cp', 'E1')
ok1, e1 = expect(vm_disk('cp', svc2), 62 * MiB, MiB, 0)
tap.ok(rc == 0 and ok1, 'restore-vmsnapshot on the imported VM works', out + err + e1)
if kvm_available():
    rc, out, err = svc2.cli('start-vm', 'cp')
    ok, v = svc2.wait_vm('cp', lambda v: v['state'] == 'Running', 60)
    tap.ok(rc == 0 and ok, 'the imported VM starts (Running)', out + err + json.dumps(v))
    svc2.cli('stop-vm', 'cp', '--turn-off')
else:
    tap.skip('the imported VM starts', 'no /dev/kvm')
rc, res, err = svc2.cli_json('import-vm', edir)
tap.ok(rc == 1 and 'exists already' in err, 'import-vm of the same VM by name again: refused',
       err)
svc2.stop()


# --- save-vm, and checkpoints of a running VM (the tiny kernel counts 1..3000) ----------------
def console_of(name):
    v = svc.vm(name)
    try:
        with open(v['console_log']) as f:
            return f.read()
    except (OSError, TypeError):
        return ''


def numbers(text):
    return [int(l) for l in text.splitlines() if l.isdigit()]


def banners(text):
    return text.count('Parvis tiny kernel')


def wait_numbers(name, n, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(numbers(console_of(name))) >= n:
            return True
        time.sleep(0.05)
    return False


def wait_state(name, state, timeout=300):
    ok, v = svc.wait_vm(name, lambda v: v['state'] == state, timeout)
    return ok, (v or {}).get('state')


if kvm_available():
    svd = os.path.join(ddir, 'sv.vhdx')
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'vhdx', svd, '16M'], check=True)
    svc.cli('new-vm', 'sv', '--memory', '32M', '--kernel', tiny, '--cmdline', 'numbers',
            '--disk', svd)
    rc, out, err = svc.cli('start-vm', 'sv')
    # suspended first, so that the guest cannot finish its count before the save
    got = wait_numbers('sv', 50) and svc.cli('suspend-vm', 'sv')[0] == 0
    tap.ok(rc == 0 and got, 'a counting VM started and suspended after some numbers',
           out + err + console_of('sv')[-300:])
    rc, out, err = svc.cli('save-vm', 'sv')
    saved_file = os.path.join(svc.state_dir, 'saved', svc.vm('sv')['id'], 'vm.vmrs')
    before = numbers(console_of('sv'))
    tap.ok(rc == 0 and "is Saved" in out and svc.state('sv') == 'Saved' and
           os.path.getsize(saved_file) > 0 and svc.vm('sv')['pid'] is None,
           'save-vm: Saved, its state in the state directory, no worker', out + err)
    refused(['stop-vm', 'sv'], 'stop-vm of a Saved VM without --turn-off: refused, saying what '
            'resumes and what discards', 'start-vm', '--turn-off')
    rc, out, err = svc.cli('start-vm', 'sv')
    ok, st = wait_state('sv', 'Off')
    text = console_of('sv')
    tap.ok(rc == 0 and ok and numbers(text) == list(range(1, 3001)) and banners(text) == 1 and
           'numbers: done' in text and not os.path.exists(saved_file),
           f'start-vm resumes the saved VM: after {len(before)} numbers it goes on to 3000, each '
           'once, no second boot; the saved state is used up',
           f'rc {rc} {out}{err} state {st}\n{text[-400:]}')

    # a running checkpoint: saved, checkpointed, resumed at once; restored later as Saved
    svc.cli('set-vm', 'sv', '--notes', 'checkpointed')
    rc, out, err = svc.cli('start-vm', 'sv')
    got = wait_numbers('sv', 3000 + 50) and svc.cli('suspend-vm', 'sv')[0] == 0
    tap.ok(rc == 0 and got, 'the VM counts again, suspended', out + err)
    mark = len(console_of('sv'))
    rc, res, err = svc.cli_json('checkpoint-vm', 'sv', '--snapshot-name', 'live')
    ok, st = wait_state('sv', 'Off')
    text = console_of('sv')
    tap.ok(rc == 0 and res['saved_state'] and ok and banners(text) == 2 and
           'numbers: done' in text[mark:],
           'checkpoint-vm of a running VM: taken with its saved state, the VM resumed at once and '
           'counted to its end', json.dumps(res) + err + text[-300:])
    k = len(numbers(text[:mark])) - 3000
    mark = len(text)
    rc, out, err = svc.cli('restore-vmsnapshot', 'sv', 'live')
    tap.ok(rc == 0 and svc.state('sv') == 'Saved',
           'restore-vmsnapshot of that checkpoint: the VM is Saved', out + err)
    rc, out, err = svc.cli('start-vm', 'sv')
    ok, st = wait_state('sv', 'Off')
    text = console_of('sv')
    after = numbers(text[mark:])
    tap.ok(rc == 0 and ok and banners(text) == 2 and after and after[0] > k and
           after[-1] == 3000 and after == list(range(after[0], 3001)),
           f'start-vm resumes the checkpoint: the count goes on from where it was taken ({k}), '
           'no boot', f'rc {rc} {out}{err} {st}\n{text[mark:mark + 200]}...{text[-200:]}')
    svc.cli('restore-vmsnapshot', 'sv', 'live')
    # export-vm of a Saved VM takes its saved state; the import is Saved and resumes
    exp2 = os.path.join(tmp, 'export-saved')
    os.mkdir(exp2)
    rc, out, err = svc.cli('export-vm', 'sv', exp2)
    doc = {}
    try:
        doc = json.load(open(os.path.join(exp2, 'sv', 'vm.json')))
    except (OSError, ValueError):
        pass
    exported = os.path.join(exp2, 'sv') + (doc.get('saved_state') or '/none')
    tap.ok(rc == 0 and os.path.isfile(exported) and
           os.path.getsize(exported) == os.path.getsize(saved_file),
           'export-vm of a Saved VM: its saved state goes with it', out + err + json.dumps(doc))
    svc3 = Service(tmp, state_dir=os.path.join(tmp, 'state3'), sock=os.path.join(tmp, 'api3.sock'))
    tap.ok(svc3.start(), 'a third service on another state directory', svc3.read_log())
    rc, res, err = svc3.cli_json('import-vm', os.path.join(exp2, 'sv'), '--generate-new-id',
                                 '--copy')
    tap.ok(rc == 0 and res['state'] == 'Saved' and os.path.isfile(os.path.join(
           svc3.state_dir, 'saved', res['id'], 'vm.vmrs')),
           'import-vm of it: the new VM is Saved, its state in the new service\'s directory',
           json.dumps(res) + err)
    rc, out, err = svc3.cli('start-vm', 'sv')
    ok, v = svc3.wait_vm('sv', lambda v: v['state'] == 'Off', 300)
    try:
        text3 = open(v['console_log']).read()
    except (OSError, TypeError, KeyError):
        text3 = ''
    after3 = numbers(text3)
    tap.ok(rc == 0 and ok and banners(text3) == 0 and after3 and after3[0] > k and
           after3[-1] == 3000 and after3 == list(range(after3[0], 3001)),
           'start-vm of the imported Saved VM resumes the count where it was saved, no boot',
           f'rc {rc} {out}{err}\n{text3[:200]}...{text3[-200:]}')
    svc3.stop()
    rc, out, err = svc.cli('stop-vm', 'sv', '--turn-off')
    tap.ok(rc == 0 and svc.state('sv') == 'Off' and not os.path.exists(saved_file) and
           snapshots('sv')[0][0]['saved_state'],
           'stop-vm --turn-off of a Saved VM discards its saved state (the checkpoint keeps its '
           'own)', out + err)
    # save-vm --progress of a VM with 1 GiB written, and ^C during the save: it goes on running
    svc.cli('new-vm', 'big', '--memory', '1024M', '--kernel', tiny, '--cmdline', 'fill')
    rc, out, err = svc.cli('start-vm', 'big')
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and not ('filled' in console_of('big') and
                                               len(numbers(console_of('big'))) >= 3):
        time.sleep(0.2)
    tap.ok(rc == 0 and 'filled' in console_of('big'), 'a 1 GiB VM filled its memory', out + err)
    p = subprocess.Popen([cli_bin(), '--socket', svc.sock, 'save-vm', 'big', '--progress'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = b''
    while b'save:' not in seen:
        c = p.stderr.read1(4096)
        if not c:
            break
        seen += c
    p.send_signal(signal.SIGINT)
    out_b, err_b = p.communicate(timeout=120)
    ok, st = wait_state('big', 'Running', 120)
    before = len(numbers(console_of('big')))
    going = wait_numbers('big', before + 20)
    saved_big = os.path.join(svc.state_dir, 'saved', svc.vm('big')['id'], 'vm.vmrs')
    tap.ok(b'save:' in seen and p.returncode != 0 and b'cancelled' in err_b + seen and ok and
           going and not os.path.exists(saved_big),
           'save-vm --progress shows progress; ^C cancels it: the VM goes on Running, counting, '
           'nothing saved', f'rc {p.returncode} {seen + err_b} state {st}')
    rc, out, err = svc.cli('save-vm', 'big', '--progress')
    tap.ok(rc == 0 and 'save:' in err and '100%' in err and svc.state('big') == 'Saved',
           'save-vm --progress to its end: progress to 100%, Saved', out + err)
    svc.cli('stop-vm', 'big', '--turn-off')
else:
    tap.skip('save-vm and checkpoints of a running VM', 'no /dev/kvm')
svc.stop()
shutil.rmtree(tmp, ignore_errors=True)
tap.done()

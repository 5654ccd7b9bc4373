#!/usr/bin/env python3
"""The worker's jail (docs/security.md), for workers started by parvis-vmms.

A VM started through the service: its worker runs as a non-zero uid/gid of
the service's range with no groups, no capabilities, no_new_privs and a
seccomp filter; its mount, PID, network, IPC and UTS namespaces are not the
host's; its root holds /dev/kvm and nothing of the host's. A test-only
control command (built with -Dtest_hooks=true) makes the worker call
socket(2): it dies with SIGSYS, only its VM goes Critical, and get-vm names
the call. A second VM keeps its uid while it exists and gets another one;
--no-jail runs workers as root, as before.

Files come as descriptors: the service opens the kernel, the disks and each
parent of a differencing VHDX chain and the worker inherits them (its
configuration names descriptors, its open files are those), also for a
differencing disk hot-added to the jailed VM; a chain whose locator leads
outside the disk's directory and the storage directories, or to another
VM's read-write disk, is refused before anything opens it.
"""
import json
import os
import signal
import socket
import subprocess
import tempfile

from parvis_test import Tap, kvm_available, skip_all
from vmms_test import Service, cli_bin

if not kvm_available():
    skip_all('no /dev/kvm')
if os.geteuid() != 0:
    skip_all('the jail needs root')

tap = Tap()
tiny = os.environ['PARVIS_TINY_KERNEL']
tmp = tempfile.mkdtemp(prefix='pvj-', dir='/tmp')
FIRST = 2130706432
svc = Service(tmp, extra=['--jail-uids', f'{FIRST}-{FIRST + 15}'])
tap.ok(svc.start(), 'the service starts with a jail uid range', svc.read_log()[-800:])


def status_fields(pid):
    out = {}
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            k, _, v = line.partition(':')
            out[k] = v.strip()
    return out


def control(path, request):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(path)
    s.sendall(json.dumps(request).encode() + b'\n')
    data = b''
    while not data.endswith(b'\n'):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return json.loads(data) if data.strip() else None


def start(name):
    svc.cli('new-vm', name, '--memory', '32M', '--kernel', tiny, '--cmdline', 'idle')
    rc, out, err = svc.cli('start-vm', name)
    ok, v = svc.wait_vm(name, lambda v: v['state'] == 'Running' and v['pid'], 30)
    return ok, v, err


ok, a, err = start('jailed')
tap.ok(ok, 'a VM starts jailed', json.dumps(a) + err)
pid = a['pid'] if a else 0
st = status_fields(pid) if pid else {}
uids = st.get('Uid', '0').split()
gids = st.get('Gid', '0').split()
tap.ok(len(set(uids)) == 1 and int(uids[0]) >= FIRST and int(uids[0]) <= FIRST + 15,
       'the worker runs as a uid of the range (real, effective, saved, fs)', st.get('Uid'))
tap.ok(len(set(gids)) == 1 and gids[0] == uids[0], 'and the gid of the same number', st.get('Gid'))
tap.ok(st.get('Groups', 'x') == '', 'no supplementary groups', repr(st.get('Groups')))
tap.ok(all(st.get(k) == '0000000000000000' for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd',
                                                       'CapAmb')),
       'no capabilities (inheritable, permitted, effective, bounding, ambient)', json.dumps(st))
tap.ok(st.get('NoNewPrivs') == '1', 'NoNewPrivs 1', st.get('NoNewPrivs'))
tap.ok(st.get('Seccomp') == '2', 'Seccomp 2 (filter)', st.get('Seccomp'))
filters = {}
for tid in (os.listdir(f'/proc/{pid}/task') if pid else []):
    with open(f'/proc/{pid}/task/{tid}/comm') as f:
        comm = f.read().strip()
    with open(f'/proc/{pid}/task/{tid}/status') as f:
        n = [l.split()[1] for l in f if l.startswith('Seccomp_filters:')]
    filters[comm] = n[0] if n else '?'
# (kvm-nx-lpage-recovery is KVM's own kernel worker, made from the vCPU thread's first KVM_RUN.)
tap.ok(filters.get('vcpu0') == '2' and
       all(v == '1' for k, v in filters.items() if k != 'vcpu0' and not k.startswith('kvm-')),
       'the vCPU thread has its own filter stacked on the process filter, every other thread '
       'the process filter', json.dumps(filters))
tap.ok(st.get('NSpid', '').split()[-1:] == ['1'], 'PID 1 of its own PID namespace',
       st.get('NSpid'))
for ns in ('mnt', 'pid', 'net', 'ipc', 'uts'):
    mine = os.readlink(f'/proc/self/ns/{ns}')
    theirs = os.readlink(f'/proc/{pid}/ns/{ns}') if pid else mine
    tap.ok(mine != theirs, f'its {ns} namespace is not the host\'s', f'{mine} {theirs}')
root = f'/proc/{pid}/root'
entries = sorted(os.listdir(root)) if pid else []
tap.ok(set(entries) <= {'dev', 'sys'} and os.listdir(f'{root}/dev') == ['kvm'],
       '/proc/PID/root holds /dev/kvm (and the PVM marker) and none of the host\'s files',
       repr(entries))
tap.ok(not os.path.exists(f'{root}/etc') and not os.path.exists(f'{root}/proc') and
       not os.path.exists(f'{root}{tmp}'), 'no /etc, no /proc, no state directory inside')
kvm = os.stat(f'{root}/dev/kvm') if pid else None
tap.ok(kvm and kvm.st_uid == int(uids[0]) and (kvm.st_mode & 0o777) == 0o600,
       'its /dev/kvm is its own (mode 0600, owned by its uid)', repr(kvm))
with open(f'/proc/{pid}/mountinfo') as f:
    mounts = f.read().splitlines()
tap.ok(len(mounts) == 1 and ' / / ro,' in mounts[0], 'one mount in its namespace: / read-only',
       '\n'.join(mounts))
with open(f'/proc/{pid}/limits') as f:
    limits = f.read()
tap.ok('Max core file size        0' in limits, 'core dumps off', limits)

# The same VM keeps its uid; another VM gets another one.
svc.cli('stop-vm', 'jailed', '--turn-off')
ok, a2, err = start('jailed')
uid2 = status_fields(a2['pid'])['Uid'].split()[0] if ok else None
tap.ok(uid2 == uids[0], 'restarted, the VM has the same uid', f'{uid2} {uids[0]}')
ok, b, err = start('second')
uid_b = status_fields(b['pid'])['Uid'].split()[0] if ok else None
tap.ok(ok and uid_b != uids[0] and int(uid_b) >= FIRST, 'a second VM gets a uid of its own',
       f'{uid_b} {uids[0]}')

# Files come as descriptors (docs/security.md): a differencing chain base <- mid <- top.
ddir = os.path.join(tmp, 'disks')
os.mkdir(ddir)


def vhd(*args):
    p = subprocess.run([cli_bin(), 'vhd', 'new'] + list(args), capture_output=True, text=True)
    return p.returncode == 0, p.stderr


def worker_files(pid):
    """The host files the worker holds open (readlink of each descriptor)."""
    out = set()
    for fd in os.listdir(f'/proc/{pid}/fd'):
        try:
            out.add(os.readlink(f'/proc/{pid}/fd/{fd}'))
        except OSError:
            pass
    return out


base, mid, top = (os.path.join(ddir, n) for n in ('base.vhdx', 'mid.vhdx', 'top.vhdx'))
made = [vhd(base, '--size', '16M'), vhd(mid, '--parent', base), vhd(top, '--parent', mid)]
tap.ok(all(m[0] for m in made), 'a chain of three VHDX files', repr(made))
svc.cli('new-vm', 'chain', '--memory', '32M', '--kernel', tiny, '--cmdline', 'idle',
        '--disk', top)
rc, out, err = svc.cli('start-vm', 'chain')
ok, ch = svc.wait_vm('chain', lambda v: v['state'] == 'Running' and v['pid'], 30)
tap.ok(ok, 'a jailed VM with a differencing disk starts', json.dumps(ch) + err)
with open(os.path.join(svc.state_dir, 'run', ch['id'], 'vm.json')) as f:
    wcfg = json.load(f)
d0 = (wcfg.get('disks') or [{}])[0]
tap.ok(isinstance(wcfg.get('jail-mntns-fd'), int),
       'the worker gets the service\'s mount namespace template (no unmount at its start)',
       json.dumps(wcfg))
tap.ok(isinstance(wcfg.get('kernel-fd'), int) and isinstance(d0.get('fd'), int) and
       [p['path'] for p in d0.get('parents', [])] == [mid, base] and
       all(isinstance(p['fd'], int) for p in d0['parents']),
       'its configuration names descriptors: kernel-fd, the disk\'s fd, its parents nearest first',
       json.dumps(wcfg))
files = worker_files(ch['pid']) if ok else set()
tap.ok({tiny, top, mid, base} <= files,
       'the jailed worker holds the kernel, the disk and both parents open', repr(files))
st = control(os.path.join(svc.state_dir, 'run', ch['id'], 'control.sock'), {'command': 'status'})
paths = [d.get('path') for c in (st or {}).get('storage', {}).get('controllers', [])
         for d in c.get('disks', [])]
tap.ok(top in paths, 'the worker attached the disk', json.dumps(st)[:1500])

# Hot add of a differencing disk to the jailed VM (it cannot open the parent itself).
hot = os.path.join(ddir, 'hot.vhdx')
tap.ok(vhd(hot, '--parent', base)[0], 'a second child of the same base')
rc, res, err = svc.cli_json('add-vmharddiskdrive', 'chain', hot, '--readonly')
tap.ok(rc == 0 and hot in [d['path'] for d in res['disks']],
       'add-vmharddiskdrive of a differencing disk to a running jailed VM', json.dumps(res) + err)
files = worker_files(ch['pid'])
tap.ok({hot, base} <= files, 'its worker now holds the child and its parent', repr(files))

# A locator that leads outside the disk's directory (no storage directory here): refused.
odir = os.path.join(tmp, 'elsewhere')
os.mkdir(odir)
outside = os.path.join(odir, 'base2.vhdx')
stray = os.path.join(ddir, 'stray.vhdx')
tap.ok(vhd(outside, '--size', '16M')[0] and vhd(stray, '--parent', outside)[0],
       'a child in one directory of a parent in another')
rc, out, err = svc.cli('add-vmharddiskdrive', 'chain', stray)
tap.ok(rc != 0 and 'outside the disk\'s directory and the storage directories' in err,
       'a parent outside the disk\'s directory and the storage directories is refused', out + err)
# A parent that is another VM's read-write disk: refused (it would change under its child).
rw = os.path.join(ddir, 'rw.vhdx')
child_of_rw = os.path.join(ddir, 'child-of-rw.vhdx')
tap.ok(vhd(rw, '--size', '16M')[0] and vhd(child_of_rw, '--parent', rw)[0], 'a child of a disk')
svc.cli('new-vm', 'owner', '--memory', '32M', '--kernel', tiny, '--disk', rw)
rc, out, err = svc.cli('add-vmharddiskdrive', 'chain', child_of_rw)
tap.ok(rc != 0 and "read-write disk of VM 'owner'" in err,
       'a parent that is another VM\'s read-write disk is refused', out + err)
svc.cli('stop-vm', 'chain', '--turn-off')
svc.cli('remove-vm', 'owner')

# A forbidden system call: SIGSYS, only that VM Critical, get-vm names the call.
ctl = os.path.join(svc.state_dir, 'run', a2['id'], 'control.sock')
try:
    ans = control(ctl, {'command': 'test-forbidden-syscall'})
except (OSError, ValueError) as e:
    ans = repr(e)
ok, v = svc.wait_vm('jailed', lambda v: v['state'] == 'Critical', 20)
tap.ok(ok and 'signal 31' in v['status'] and 'socket' in v['status'] and
       'thread control' in v['status'],
       'a forbidden system call kills the worker with SIGSYS; get-vm names the call and thread',
       json.dumps(v) + ' ' + repr(ans))
tap.ok(svc.state('second') == 'Running', 'the other VM still runs', svc.state('second'))
rc, out, err = svc.cli('stop-vm', 'jailed', '--turn-off')
tap.ok(rc == 0 and svc.state('jailed') == 'Off', 'the Critical VM is acknowledged', out + err)
svc.cli('stop-vm', 'second', '--turn-off')
tap.ok(svc.stop() == 0, 'the service stops', svc.read_log()[-800:])

# --no-jail: workers run as root (development, benchmarks).
svc2 = Service(os.path.join(tmp, 'nj'), extra=['--no-jail'])
os.makedirs(svc2.base, exist_ok=True)
tap.ok(svc2.start(), 'the service starts with --no-jail', svc2.read_log()[-800:])
svc = svc2
ok, c, err = start('plain')
st = status_fields(c['pid']) if ok else {}
tap.ok(ok and st.get('Uid', '').split()[0] == '0' and st.get('Seccomp') == '0',
       '--no-jail: the worker runs as root without a filter', json.dumps(st))
svc2.cli('stop-vm', 'plain', '--turn-off')
tap.ok(svc2.stop() == 0, 'that service stops too', svc2.read_log()[-800:])

# --exit-stats in the jail: the file and /proc/self/status are opened before it.
stats = os.path.join(tmp, 'stats.json')
p = subprocess.run([os.environ['PARVIS_VMWP'], '--kernel', tiny, '--cmdline', 'poweroff',
                    '--memory', '32M', '--serial', 'none', '--jail', str(FIRST + 100),
                    '--exit-stats', stats], capture_output=True, text=True, timeout=120)
try:
    with open(stats) as f:
        js = json.load(f)
except (OSError, ValueError) as e:
    js = {'error': repr(e)}
tap.ok(p.returncode == 0 and 'jailed as uid' in p.stderr and js.get('boots') == 1 and
       js.get('rss_bytes', 0) > 0 and js.get('startup_ns', 0) > 0 and js.get('exits', {}).get('io', 0) > 0,
       'a standalone jailed worker writes --exit-stats, memory figures included',
       p.stderr[-600:] + json.dumps(js)[:600])
tap.done()

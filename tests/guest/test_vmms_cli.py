#!/usr/bin/env python3
"""parvis-vmms and the parvis command with the tiny ELF kernel (seconds per VM).

Every verb, every bad input of the issue (each a clear error naming the
problem, the inventory unchanged), concurrent clients, garbage on the API
socket, restarts of the service with and without running VMs, a worker
killed with SIGKILL, a corrupt VM file, a second service on the same state
directory, and suspend/resume observed on a guest that counts on its console.
The tiny kernel's modes (tests/guest/tiny/tiny_kernel.S): idle (halts
forever: a VM that stays Running), count (prints a dot every 2^18 loop
iterations), echo, poweroff, triple.
"""
import glob
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

from parvis_test import Tap, control, kvm_available
from vmms_test import Service, cli_bin, vmms_bin

tap = Tap()
tiny = os.environ['PARVIS_TINY_KERNEL']
tmp = tempfile.mkdtemp(prefix='pvc-', dir='/tmp')  # short: socket paths live under it
svc = Service(tmp)


def inventory():
    """The VM files' names and contents (what 'inventory unchanged' compares)."""
    out = {}
    for p in sorted(glob.glob(os.path.join(svc.state_dir, 'vms', '*'))):
        with open(p, 'rb') as f:
            out[os.path.basename(p)] = f.read()
    return out


def refused(args, desc, *needles, rc_want=1):
    """The call must fail with rc_want, an error naming needles, and leave the inventory alone."""
    before = inventory()
    rc, out, err = svc.cli(*args)
    after = inventory()
    good = rc == rc_want and all(n.lower() in err.lower() for n in needles) and before == after
    tap.ok(good, desc, f'rc {rc}\nstdout: {out}\nstderr: {err}\ninventory changed: {before != after}')


def ok_call(args, desc, *needles, timeout=120):
    rc, out, err = svc.cli(*args, timeout=timeout)
    tap.ok(rc == 0 and all(n in out for n in needles), desc, f'rc {rc}\n{out}\n{err}')
    return out


def new_vm(name, mode='idle', *extra):
    return svc.cli('new-vm', name, '--memory', '32M', '--kernel', tiny, '--cmdline', mode, *extra)


# --- no service ----------------------------------------------------------------------
rc, out, err = svc.cli('get-vm')
tap.ok(rc == 3 and 'cannot connect to parvis-vmms' in err and svc.sock in err,
       'no service: a clear error naming the socket, exit 3', err)
rc, out, err = svc.cli('help')
tap.ok(rc == 0 and all(v in out for v in ('new-vm', 'get-vm', 'start-vm', 'stop-vm', 'restart-vm',
                                          'suspend-vm', 'resume-vm', 'remove-vm', 'set-vm',
                                          'add-vmharddiskdrive', 'remove-vmharddiskdrive',
                                          'get-vmintegrationservice', 'console')),
       'parvis help lists every verb', out)
rc, out, err = svc.cli('help', 'stop-vm')
tap.ok(rc == 0 and '--turn-off' in out and '--force' in out, 'parvis help stop-vm', out)
rc, out, err = svc.cli('frobnicate-vm')
tap.ok(rc == 2 and 'unknown verb' in err, 'unknown verb: usage error', err)
rc, out, err = svc.cli('start-vm')
tap.ok(rc == 2 and 'which VM' in err, 'a verb without its VM name: usage error', err)
rc, out, err = svc.cli('new-vm', 'x', '--memory', 'lots', '--kernel', tiny)
tap.ok(rc == 2 and '--memory' in err and 'lots' in err, 'memory not a size: usage error', err)
rc, out, err = svc.cli('get-vm', '--turn-off')
tap.ok(rc == 2 and 'does not apply' in err, 'an option of another verb: usage error', err)

tap.ok(svc.start(), 'parvis-vmms starts', svc.read_log())
st = os.stat(svc.sock)
tap.ok(oct(st.st_mode & 0o777) == oct(0o666), 'the API socket is mode 0666 (the service decides '
       'who may do what: test_vmms_access.py)', oct(st.st_mode))

# --- a second service on the same state directory ---------------------------------------
p = subprocess.run([vmms_bin(), '--state-dir', svc.state_dir, '--socket', os.path.join(tmp, 'b.sock')]
                   + (['--vmwp', os.environ['PARVIS_VMWP']] if 'PARVIS_VMWP' in os.environ else []),
                   capture_output=True, text=True, timeout=20)
tap.ok(p.returncode != 0 and 'in use by another parvis-vmms' in p.stderr and
       str(svc.proc.pid) in p.stderr, 'a second service on the same state directory is refused',
       p.stderr)
p = subprocess.run([vmms_bin(), '--state-dir', os.path.join(tmp, 'other'), '--socket', svc.sock],
                   capture_output=True, text=True, timeout=20)
tap.ok(p.returncode != 0 and 'another service is listening' in p.stderr,
       'a second service on the same socket is refused', p.stderr)
p = subprocess.run([vmms_bin(), '--socket', svc.sock], capture_output=True, text=True, timeout=20)
tap.ok(p.returncode != 0 and '--state-dir' in p.stderr, 'the service needs --state-dir', p.stderr)

# --- new-vm and bad input --------------------------------------------------------------
rc, out, err = new_vm('alpha')
tap.ok(rc == 0 and "VM 'alpha' created" in out, 'new-vm alpha', out + err)
rc, res, err = svc.cli_json('new-vm', 'beta', '--memory', '48M', '--cpus', '2', '--kernel', tiny,
                            '--cmdline', 'count', '--notes', 'the counting one')
tap.ok(rc == 0 and res['name'] == 'beta' and res['state'] == 'Off' and res['cpus'] == 2 and
       res['memory_bytes'] == 48 << 20 and len(res['id']) == 36 and res['notes'] == 'the counting one',
       'new-vm --json: the VM with its ID and settings', json.dumps(res) + err)
tap.ok(os.path.exists(os.path.join(svc.state_dir, 'vms', res['id'] + '.json')),
       'the VM file is named by its GUID')
disk = os.path.join(tmp, 'disk.img')
with open(disk, 'wb') as f:
    f.truncate(1 << 20)

refused(['new-vm', 'alpha', '--kernel', tiny], 'duplicate name', "'alpha' already exists")
refused(['new-vm', 'a/b', '--kernel', tiny], 'name with /', "contains '/'")
refused(['new-vm', 'a\x01b', '--kernel', tiny], 'name with a control character', 'control character')
refused(['new-vm', 'tab\there', '--kernel', tiny], 'name with a tab', 'control character')
refused(['new-vm', '', '--kernel', tiny], 'empty name', 'cannot be empty')
refused(['new-vm', 'n' * 101, '--kernel', tiny], 'name too long', 'at most 100')
refused(['new-vm', 'big', '--memory', '64T', '--kernel', tiny], 'memory larger than the host',
        'more than this host has')
refused(['new-vm', 'zero', '--cpus', '0', '--kernel', tiny], '0 vCPUs', 'cpus', '0 is not')
refused(['new-vm', 'nok', '--kernel', '/nonexistent/vmlinux'], 'kernel that does not exist',
        '/nonexistent/vmlinux', 'does not exist')
refused(['new-vm', 'noi', '--kernel', tiny, '--initrd', '/nonexistent/initrd'],
        'initrd that does not exist', '/nonexistent/initrd')
refused(['new-vm', 'nod', '--kernel', tiny, '--disk', '/nonexistent/disk.img'],
        'disk that does not exist', '/nonexistent/disk.img', 'does not exist')
refused(['new-vm', 'nokernel'], 'neither kernel nor boot disk', 'kernel', 'boot disk')
refused(['new-vm', 'both', '--kernel', tiny, '--boot-disk', disk], 'both kernel and boot disk',
        'not both')
for verb in ('get-vm', 'start-vm', 'stop-vm', 'restart-vm', 'suspend-vm', 'resume-vm', 'remove-vm',
             'set-vm', 'get-vmintegrationservice', 'get-vmhistory', 'console'):
    refused([verb, 'nosuch'], f'{verb} of an unknown VM', "no VM named 'nosuch'")
refused(['add-vmharddiskdrive', 'nosuch', disk], 'add-vmharddiskdrive to an unknown VM',
        "no VM named 'nosuch'")
refused(['remove-vmharddiskdrive', 'nosuch', disk], 'remove-vmharddiskdrive of an unknown VM',
        "no VM named 'nosuch'")

# --- get-vm ---------------------------------------------------------------------------
out = ok_call(['get-vm'], 'get-vm: a Get-VM-like table', 'Name', 'State', 'CPUUsage(%)',
              'MemoryAssigned(M)', 'Uptime', 'Status', 'alpha', 'beta')
rc, res, err = svc.cli_json('get-vm')
tap.ok(rc == 0 and sorted(v['name'] for v in res['vms']) == ['alpha', 'beta'] and
       all(v['state'] == 'Off' for v in res['vms']), 'get-vm --json', json.dumps(res))

if not kvm_available():
    tap.skip('the checks of VMs that run (set-vm, disks, workers, restarts, suspend)', 'no /dev/kvm')
    svc.stop()
    tap.done()

# --- start, suspend/resume on the counting guest ---------------------------------------
rc, res, err = svc.cli_json('start-vm', 'beta')
tap.ok(rc == 0 and res['state'] == 'Running' and res['pid'] > 0, 'start-vm beta: Running',
       json.dumps(res) + err)
refused(['start-vm', 'beta'], 'start-vm of a running VM', 'Running')
refused(['set-vm', 'beta', '--memory', '64M'], 'set-vm memory while Running', 'Running',
        'only while Off')
refused(['new-vm', 'beta2', '--kernel', tiny, '--memory', '0'], 'memory 0', 'memory')
con_log = res['console_log']


def con_size():
    return os.path.getsize(con_log)


def grows(timeout=20):
    """Whether the counting guest's console grows within timeout (it is slow on PVM, slower
    on a loaded host)."""
    a = con_size()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if con_size() > a:
            return True
        time.sleep(0.1)
    return False


def alive(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] not in ('Z', 'X')
    except OSError:
        return False


grow_running = grows()
rc, out, err = svc.cli('suspend-vm', 'beta')
tap.ok(rc == 0 and "is Paused" in out, 'suspend-vm: Paused', out + err)
rc, out, err = svc.cli('get-vm')
tap.ok('Paused' in out, 'get-vm shows Paused', out)
a = con_size()
time.sleep(2)
b = con_size()
tap.ok(grow_running and a == b, 'the counting guest does not advance while paused',
       f'running: grew {grow_running}; paused: {a} -> {b}')
refused(['suspend-vm', 'beta'], 'suspend-vm of a paused VM', 'Paused')
rc, out, err = svc.cli('resume-vm', 'beta')
tap.ok(rc == 0 and 'is Running' in out, 'resume-vm: Running', out + err)
tap.ok(grows(), 'the guest counts again after resume', f'{b} -> {con_size()}')
refused(['resume-vm', 'beta'], 'resume-vm of a running VM', 'Running')
ok, v = svc.wait_vm('beta', lambda v: v['uptime_s'] >= 1 and v['cpu_usage_percent'] > 0, 10)
tap.ok(ok, 'get-vm: uptime and CPU usage of a running VM', json.dumps(v))

# --- console ----------------------------------------------------------------------------
new_vm('echoer', 'echo')
rc, out, err = svc.cli('start-vm', 'echoer')
time.sleep(1)
p = subprocess.Popen([cli_bin(), '--socket', svc.sock, 'console', 'echoer'], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
time.sleep(1)
rc2, out2, err2 = svc.cli('console', 'echoer', stdin='')
tap.ok(rc2 != 0 and 'in use by another client' in err2, 'a second console client is told it is busy',
       err2)
p.stdin.write(b'hello parvis')
p.stdin.flush()
time.sleep(2)
p.stdin.write(b'\x1d')
p.stdin.flush()
try:
    out, err = p.communicate(timeout=20)
except subprocess.TimeoutExpired:
    p.kill()
    out, err = p.communicate()
tap.ok(p.returncode == 0 and b'hello parvis' in out and b'detached' in err and b'Ctrl-]' in err,
       'console: input reaches the guest, its echo comes back, Ctrl-] detaches', repr(out) + repr(err))
p = subprocess.Popen([cli_bin(), '--socket', svc.sock, 'console', 'echoer'], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
time.sleep(1)
try:
    out, err = p.communicate(input=b'again q', timeout=20)
except subprocess.TimeoutExpired:
    p.kill()
    out, err = p.communicate()
tap.ok(b'again' in out and b'console closed' in err, 'console: reattach; the guest powers off ("q"), '
       'the console closes', repr(out) + repr(err))
ok, v = svc.wait_vm('echoer', lambda v: v['state'] == 'Off', 20)
tap.ok(ok and v['status'] == '', 'a guest that powers off itself: Off', json.dumps(v))
with open(v['console_log'], 'rb') as f:
    log = f.read()
tap.ok(b'hello parvis' in log and b'echo: ready' in log, 'the console log has the whole session',
       repr(log[-300:]))
refused(['console', 'echoer'], 'console of an Off VM', 'Off')

# --- stop-vm: graceful timeout, --force, --turn-off ------------------------------------
svc.cli('start-vm', 'alpha')
rc, out, err = svc.cli('stop-vm', 'alpha', '--timeout', '1')
tap.ok(rc == 1 and 'did not shut down within 1 s' in err and svc.state('alpha') == 'Running',
       'stop-vm: a guest that ignores the request stays Running after the timeout', err)
rc, res, err = svc.cli_json('stop-vm', 'alpha', '--timeout', '1', '--force')
tap.ok(rc == 0 and res['state'] == 'Off' and 'force' in res.get('method', ''),
       'stop-vm --force: turned off after the timeout', json.dumps(res) + err)
refused(['stop-vm', 'alpha'], 'stop-vm of an Off VM', 'already Off')
svc.cli('start-vm', 'alpha')
rc, out, err = svc.cli('stop-vm', 'alpha', '--turn-off')
tap.ok(rc == 0 and 'is Off' in out, 'stop-vm --turn-off', out + err)

# --- restart-vm ---------------------------------------------------------------------------
svc.cli('start-vm', 'alpha')
pid_before = svc.vm('alpha')['pid']
refused(['restart-vm', 'alpha'], 'restart-vm without the guest\'s shutdown service', 'not ready',
        '--force')
rc, res, err = svc.cli_json('restart-vm', 'alpha', '--force')
tap.ok(rc == 0 and res['state'] == 'Running' and res['pid'] != pid_before,
       'restart-vm --force: turned off and started again', json.dumps(res) + err)

# --- get-vmintegrationservice, history ---------------------------------------------------
rc, out, err = svc.cli('get-vmintegrationservice', 'alpha')
tap.ok(rc == 0 and 'Heartbeat' in out and 'No Contact' in out,
       'get-vmintegrationservice: a guest without VMBus drivers has no contact', out + err)
refused(['get-vmintegrationservice', 'echoer'], 'get-vmintegrationservice of an Off VM', 'Off')
rc, out, err = svc.cli('get-vmhistory', 'alpha')
tap.ok(rc == 0 and 'Starting' in out and 'Stopping' in out and 'turned off' in out and
       'stop-vm --force' in out, 'get-vmhistory: every transition with its reason', out)

# --- set-vm -----------------------------------------------------------------------------
svc.cli('stop-vm', 'alpha', '--turn-off')
rc, res, err = svc.cli_json('set-vm', 'alpha', '--cpus', '2', '--memory', '64M', '--cmdline', 'idle x')
tap.ok(rc == 0 and res['cpus'] == 2 and res['memory_bytes'] == 64 << 20 and res['cmdline'] == 'idle x',
       'set-vm while Off', json.dumps(res) + err)
refused(['set-vm', 'alpha', '--cpus', '0'], 'set-vm 0 vCPUs', '0 is not')
refused(['set-vm', 'alpha', '--memory', '64T'], 'set-vm memory beyond the host', 'more than this host')
refused(['set-vm', 'alpha', '--name', 'beta'], 'set-vm to a taken name', "'beta' already exists")
refused(['set-vm', 'alpha', '--name', 'x/y'], 'set-vm to a bad name', "contains '/'")
rc, res, err = svc.cli_json('set-vm', 'alpha', '--name', 'gamma')
tap.ok(rc == 0 and res['name'] == 'gamma' and svc.vm('alpha') is None, 'set-vm --name renames',
       json.dumps(res) + err)
rc, res, err = svc.cli_json('set-vm', 'beta', '--notes', 'changed while running')
tap.ok(rc == 0 and res['notes'] == 'changed while running', 'set-vm --notes while Running', err)

# --- disks --------------------------------------------------------------------------------
rc, res, err = svc.cli_json('add-vmharddiskdrive', 'gamma', disk)
tap.ok(rc == 0 and [d['path'] for d in res['disks']] == [disk] and res['disks'][0]['lun'] == 0,
       'add-vmharddiskdrive while Off', json.dumps(res) + err)
refused(['add-vmharddiskdrive', 'gamma', disk], 'the same disk twice', 'already attached')
refused(['add-vmharddiskdrive', 'gamma', '/nonexistent.img'], 'add a disk that does not exist',
        '/nonexistent.img', 'does not exist')
rc, out, err = svc.cli('start-vm', 'gamma')
tap.ok(rc == 0, 'start-vm of a VM with a disk', err)
refused(['new-vm', 'thief', '--kernel', tiny, '--disk', disk],
        'a disk attached to another running VM', 'attached to VM', 'gamma')
# Hot add and remove: the worker attaches the disk to the running VM's SCSI controller.
disk2 = os.path.join(tmp, 'hot.img')
with open(disk2, 'wb') as f:
    f.truncate(8 << 20)
rc, res, err = svc.cli_json('add-vmharddiskdrive', 'gamma', disk2)
tap.ok(rc == 0 and [d['path'] for d in res['disks']] == [disk, disk2] and res['disks'][1]['lun'] == 1,
       'add-vmharddiskdrive while Running: hot add at the next LUN', json.dumps(res) + err)
rc, res, err = svc.cli_json('remove-vmharddiskdrive', 'gamma', disk2)
tap.ok(rc == 0 and [d['path'] for d in res['disks']] == [disk],
       'remove-vmharddiskdrive while Running: hot remove', json.dumps(res) + err)
svc.cli('stop-vm', 'gamma', '--turn-off')
rc, res, err = svc.cli_json('remove-vmharddiskdrive', 'gamma', disk)
tap.ok(rc == 0 and res['disks'] == [], 'remove-vmharddiskdrive while Off', json.dumps(res) + err)
refused(['remove-vmharddiskdrive', 'gamma', disk], 'remove a disk the VM does not have', 'has no disk')
# SCSI controllers 1-3 through the API (docs/api.md; the CLI's verbs use controller 0). LUNs are
# per controller; a hot add to controller 1 reaches the worker's controller 1.


def api_disk(call, **params):
    return svc.call({'api': 1, 'id': 1, 'call': call, 'params': dict(name='gamma', **params)}) or {}


def slots(res):
    return sorted((d['controller'], d['lun']) for d in (res.get('result') or {}).get('disks', []))


disk3 = os.path.join(tmp, 'c1-hot.img')
with open(disk3, 'wb') as f:
    f.truncate(4 << 20)
a0 = api_disk('add-vmharddiskdrive', path=disk)
a1 = api_disk('add-vmharddiskdrive', path=disk2, controller=1)
tap.ok(a0.get('ok') and a1.get('ok') and slots(a1) == [(0, 0), (1, 0)],
       'API add-vmharddiskdrive controller 1 while Off: LUN 0 of controller 1 beside LUN 0 of controller 0',
       json.dumps([a0, a1]))
bad = api_disk('add-vmharddiskdrive', path=disk3, controller=4)
taken = api_disk('add-vmharddiskdrive', path=disk3, controller=1, lun=0)
tap.ok(bad.get('ok') is False and 'controller' in json.dumps(bad) and taken.get('ok') is False and
       'taken' in json.dumps(taken), 'API: controller 4 refused, and a taken LUN of controller 1',
       json.dumps([bad, taken]))
rc, out, err = svc.cli('start-vm', 'gamma')
hot = api_disk('add-vmharddiskdrive', path=disk3, controller=1)
ctl = os.path.join(svc.state_dir, 'run', (svc.vm('gamma') or {}).get('id', '?'), 'control.sock')
try:
    wst = control(ctl, {'command': 'status'}) or {}
except OSError as e:
    wst = {'error': str(e)}
c1 = [c for c in ((wst.get('storage') or {}).get('controllers') or []) if c.get('controller') == 1]
tap.ok(rc == 0 and hot.get('ok') and slots(hot) == [(0, 0), (1, 0), (1, 1)] and c1 and
       sorted(d['lun'] for d in c1[0]['disks']) == [0, 1] and
       any(d['path'] == disk3 for d in c1[0]['disks']),
       'API hot add to controller 1 while Running: LUN 1 of the worker\'s controller 1',
       json.dumps([hot, c1]) + err)
rm = api_disk('remove-vmharddiskdrive', controller=1, lun=1)
tap.ok(rm.get('ok') and slots(rm) == [(0, 0), (1, 0)], 'API remove-vmharddiskdrive controller 1, LUN 1 while Running',
       json.dumps(rm))
svc.cli('stop-vm', 'gamma', '--turn-off')
for d in (disk, disk2):
    svc.cli('remove-vmharddiskdrive', 'gamma', d)
if svc.state('gamma') == 'Critical':
    svc.cli('stop-vm', 'gamma', '--turn-off')

# --- worker failures -------------------------------------------------------------------------
new_vm('crasher', 'triple')
svc.cli('start-vm', 'crasher')
ok, v = svc.wait_vm('crasher', lambda v: v['state'] == 'Critical', 20)
tap.ok(ok and 'status 3' in v['status'] and 'triple fault' in v['status'],
       'a worker that exits with an error: Critical with its exit status', json.dumps(v))
refused(['stop-vm', 'crasher'], 'stop-vm of a Critical VM wants --turn-off', '--turn-off')
rc, out, err = svc.cli('stop-vm', 'crasher', '--turn-off')
tap.ok(rc == 0 and svc.state('crasher') == 'Off', 'stop-vm --turn-off acknowledges it', out + err)
new_vm('vanish', 'idle')
os.link(tiny, os.path.join(tmp, 'k2')) if not os.path.exists(os.path.join(tmp, 'k2')) else None
svc.cli('set-vm', 'vanish', '--cmdline', 'idle')
rc, out, err = svc.cli('new-vm', 'gone', '--kernel', os.path.join(tmp, 'k2'), '--cmdline', 'idle')
os.unlink(os.path.join(tmp, 'k2'))
refused(['start-vm', 'gone'], 'start-vm when the kernel has disappeared', 'k2', 'does not exist')
tap.ok(svc.state('gone') == 'Off', 'and the VM stays Off')

# kill -9 of one worker while two run
svc.cli('start-vm', 'gamma')
tap.ok(svc.state('beta') == 'Running' and svc.state('gamma') == 'Running', 'two VMs Running')
os.kill(svc.vm('gamma')['pid'], signal.SIGKILL)
ok, v = svc.wait_vm('gamma', lambda v: v['state'] == 'Critical', 20)
tap.ok(ok and 'killed by signal 9' in v['status'], 'kill -9 of a worker: its VM Critical, '
       '"killed by signal 9"', json.dumps(v))
tap.ok(svc.state('beta') == 'Running', 'the other VM is still Running')
rc, out, err = svc.cli('get-vm')
tap.ok('killed by signal 9' in out, 'get-vm shows why in Status', out)
svc.cli('stop-vm', 'gamma', '--turn-off')

# --- garbage and disconnects on the API socket -----------------------------------------------
def raw(data, read=True):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(svc.sock)
    s.sendall(data)
    buf = b''
    if read:
        try:
            while b'\n' not in buf:
                c = s.recv(65536)
                if not c:
                    break
                buf += c
        except socket.timeout:
            pass
    return s, buf


s, buf = raw(b'this is not json\n')
a = json.loads(buf)
tap.ok(a['ok'] is False and a['error']['code'] == 'bad-request', 'garbage: a bad-request error',
       buf)
s.sendall(b'{"api":1,"id":5,"call":"version"}\n')
buf2 = s.recv(65536)
a = json.loads(buf2)
tap.ok(a['ok'] and a['id'] == 5 and a['result']['api'] == 1,
       'the same connection still works after garbage', buf2)
s.close()
s, buf = raw(b'{"api":2,"id":1,"call":"get-vm"}\n')
tap.ok(b'unsupported-version' in buf, 'another API version: unsupported-version', buf)
s.close()
s, buf = raw(b'{"api":1,"id":1,"call":"drop-tables"}\n')
tap.ok(b'unknown-call' in buf and b'drop-tables' in buf, 'unknown call: unknown-call', buf)
s.close()
s, buf = raw(b'{"api":1,"id":1,"call":"new-vm","params":{"name":7}}\n')
tap.ok(b'bad-request' in buf and b'name' in buf, 'mistyped parameter: bad-request naming it', buf)
s.close()
s, buf = raw(b'\x00\xff\xfe garbage \x01\n')
tap.ok(b'bad-request' in buf, 'binary garbage: bad-request', buf)
s.close()
s, buf = raw(b'x' * 70000)
tap.ok(b'longer than' in buf, 'a request line beyond 64 KiB: error and disconnect', buf[:200])
s.close()
s, _ = raw(b'{"api":1,"id":1,"call":"get-v', read=False)
s.close()  # disconnects mid-request
s, _ = raw(b'{"api":1,"id":1,"call":"start-vm","params":{"name":"gamma"}}\n', read=False)
s.close()  # disconnects mid-call
ok, v = svc.wait_vm('gamma', lambda v: v['state'] == 'Running', 30)
tap.ok(ok and svc.proc.poll() is None, 'a client that disconnects mid-call: the call completes, '
       'the service goes on', json.dumps(v))
svc.cli('stop-vm', 'gamma', '--turn-off')

# --- events ------------------------------------------------------------------------------
ev = subprocess.Popen([cli_bin(), '--socket', svc.sock, 'events'], stdout=subprocess.PIPE, text=True)
time.sleep(0.5)
svc.cli('start-vm', 'gamma')
svc.cli('stop-vm', 'gamma', '--turn-off')
time.sleep(0.5)
ev.terminate()
evs = [json.loads(l) for l in ev.communicate()[0].splitlines() if l.strip()]
tos = [e['to'] for e in evs if e.get('event') == 'state-changed' and e.get('name') == 'gamma']
tap.ok(tos == ['Starting', 'Running', 'Stopping', 'Off'], 'events: the state changes in order',
       json.dumps(evs))

# --- concurrent clients -------------------------------------------------------------------
script = r'''
import subprocess, sys
cli, sock, kernel, name = sys.argv[1:5]
def run(*a):
    return subprocess.run([cli, '--socket', sock] + list(a), capture_output=True, text=True)
fails = []
for step in (['new-vm', name, '--memory', '32M', '--kernel', kernel, '--cmdline', 'idle'],
             ['start-vm', name], ['get-vm'], ['suspend-vm', name], ['resume-vm', name],
             ['stop-vm', name, '--turn-off'], ['start-vm', name]):
    p = run(*step)
    if p.returncode != 0:
        fails.append(' '.join(step) + ': ' + p.stderr)
print('\n'.join(fails))
sys.exit(1 if fails else 0)
'''
procs = [subprocess.Popen(['python3', '-c', script, cli_bin(), svc.sock, tiny, f'par{i}'],
                          stdout=subprocess.PIPE, text=True) for i in range(8)]
outs = [(p.wait(timeout=300), p.stdout.read()) for p in procs]
tap.ok(all(rc == 0 for rc, _ in outs), '8 clients at once create, start, pause, resume, stop, start',
       '\n'.join(o for _, o in outs))
rc, res, err = svc.cli_json('get-vm')
par = sorted((v['name'], v['state']) for v in res['vms'] if v['name'].startswith('par'))
tap.ok(par == [(f'par{i}', 'Running') for i in range(8)], 'the inventory is consistent afterwards',
       json.dumps(par))
files = inventory()
ids = sorted(v['id'] + '.json' for v in res['vms'])
tap.ok(sorted(files) == ids and all(json.loads(c)['state'] in ('Running', 'Off', 'Critical')
                                     for c in files.values()),
       'one file per VM, each parses', json.dumps(sorted(files)))
procs = [subprocess.Popen([cli_bin(), '--socket', svc.sock, 'remove-vm', f'par{i}', '--force'],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(8)]
tap.ok(all(p.wait(timeout=120) == 0 for p in procs) and
       not any(v['name'].startswith('par') for v in svc.cli_json('get-vm')[1]['vms']),
       'remove-vm --force of 8 running VMs at once')

# --- service restarts --------------------------------------------------------------------
svc.cli('start-vm', 'gamma')
pids = {n: svc.vm(n)['pid'] for n in ('beta', 'gamma')}
ids_before = sorted((v['name'], v['id']) for v in svc.cli_json('get-vm')[1]['vms'])
svc.stop()
tap.ok(all(alive(p) for p in pids.values()), 'stopping the service leaves the '
       'workers running')
tap.ok(svc.start(), 'the service starts again', svc.read_log()[-2000:])
ids_after = sorted((v['name'], v['id']) for v in svc.cli_json('get-vm')[1]['vms'])
tap.ok(ids_before == ids_after, 'the state directory survives a restart (same VMs, same IDs)',
       f'{ids_before}\n{ids_after}')
tap.ok(all(svc.vm(n)['state'] == 'Running' and svc.vm(n)['pid'] == p for n, p in pids.items()),
       'running VMs are found again with their workers', svc.cli('get-vm')[1])
tap.ok(grows(), 'the counting guest kept running across the restart')
rc, out, err = svc.cli('suspend-vm', 'beta')
rc2, out2, err2 = svc.cli('resume-vm', 'beta')
tap.ok(rc == 0 and rc2 == 0, 'the new service controls them (suspend, resume)', err + err2)
# Killed while the service is down: found Critical at the next start.
svc.stop(signal.SIGKILL)
os.kill(pids['gamma'], signal.SIGKILL)
time.sleep(0.5)
svc.start()
v = svc.vm('gamma')
tap.ok(v['state'] == 'Critical' and ('gone' in v['status'] or 'no exit status' in v['status']),
       'a worker that died while the service was down: Critical on restart', json.dumps(v))
tap.ok(svc.state('beta') == 'Running', 'a SIGKILLed service left the other VM Running')
rc, res, err = svc.cli_json('stop-vm', 'beta', '--turn-off')
tap.ok(rc == 0 and res['state'] == 'Off' and not alive(pids['beta']),
       'a VM found again is stoppable', json.dumps(res) + err)
svc.cli('stop-vm', 'gamma', '--turn-off')

# --- a corrupt VM file ---------------------------------------------------------------------
svc.stop()
bad_id = '12345678-1234-4234-8234-123456789abc'
with open(os.path.join(svc.state_dir, 'vms', bad_id + '.json'), 'w') as f:
    f.write('{"version": 1, "id": "12345678-1234-4234-8234-1234567')
good_before = sorted((v[0], v[1]) for v in ids_after)
svc.start()
rc, res, err = svc.cli_json('get-vm')
bad = [v for v in res['vms'] if v['id'] == bad_id]
tap.ok(bad and bad[0]['state'] == 'Critical' and bad[0]['status'].startswith('configuration unreadable:'),
       'a corrupt VM file: that VM Critical, "configuration unreadable: ..."', json.dumps(bad))
tap.ok(sorted((v['name'], v['id']) for v in res['vms'] if v['id'] != bad_id) == good_before,
       'the other VMs load', json.dumps(res))
refused(['start-vm', bad_id], 'start-vm of an unreadable VM', 'only remove-vm')
rc, out, err = svc.cli('remove-vm', bad_id)
tap.ok(rc == 0 and not os.path.exists(os.path.join(svc.state_dir, 'vms', bad_id + '.json')),
       'remove-vm of the unreadable VM', out + err)

# --- the processor: set-vmprocessor, get-vmprocessor, get-vmhostprocessor -------------------------
rc, host, err = svc.cli_json('get-vmhostprocessor')
models = (host or {}).get('models', {})
tap.ok(rc == 0 and host.get('vendor') in ('GenuineIntel', 'AuthenticAMD') and host.get('kvm-features') and
       models.get('host', {}).get('available') and
       any(m.get('available') for n, m in models.items() if n.startswith('baseline-')),
       'get-vmhostprocessor --json: the vendor, what KVM offers, the host and baseline models',
       json.dumps(host)[:2000] + err)
rc, out, err = svc.cli('get-vmhostprocessor')
tap.ok(rc == 0 and 'KVM offers' in out and 'baseline-' in out, 'get-vmhostprocessor: a table', out + err)
new_vm('cpuvm', 'idle', '--cpus', '2')
rc, res, err = svc.cli_json('get-vmprocessor', 'cpuvm')
p = (res or {}).get('processor', {})
tap.ok(rc == 0 and res.get('compatibility_for_migration') is False and p.get('model') == 'host' and
       p.get('count') == 2 and 'hypervisor' in p.get('features', []) + p.get('host-features', []),
       'get-vmprocessor of a VM that is off: the host model on 2 vCPUs', json.dumps(res)[:2000] + err)
refused(['set-vmprocessor', 'cpuvm', '--compatibility-for-migration', 'maybe'],
        'set-vmprocessor: a bad value', 'on or off', rc_want=2)
rc, res, err = svc.cli_json('set-vmprocessor', 'cpuvm', '--compatibility-for-migration', 'on')
tap.ok(rc == 0 and res.get('compatibility_for_migration') is True and
       res.get('processor', {}).get('model', '').startswith('baseline-'),
       'set-vmprocessor --compatibility-for-migration on: the baseline model', json.dumps(res)[:1500] + err)
vm_file = json.loads(inventory().get(svc.vm('cpuvm')['id'] + '.json', b'{}'))
tap.ok(vm_file.get('processor_compatibility_for_migration') is True, 'the setting is in the VM\'s file',
       json.dumps(vm_file)[:1500])
svc.cli('start-vm', 'cpuvm')
ok, v = svc.wait_vm('cpuvm', lambda v: v['state'] == 'Running', 20)
rc, res, err = svc.cli_json('get-vmprocessor', 'cpuvm')
p = (res or {}).get('processor', {})
tap.ok(ok and rc == 0 and p.get('model', '').startswith('baseline-') and p.get('cpuid') and p.get('count') == 2,
       'get-vmprocessor of the running VM: its worker\'s baseline processor, leaves included',
       json.dumps(res)[:1500] + err)
refused(['set-vmprocessor', 'cpuvm', '--compatibility-for-migration', 'off'],
        'set-vmprocessor while Running', 'Off')
rc, out, err = svc.cli('get-vmprocessor', 'cpuvm')
tap.ok(rc == 0 and 'Compatible' in out and 'on (for migration)' in out and 'Features' in out,
       'get-vmprocessor: a table', out + err)
svc.cli('stop-vm', 'cpuvm', '--turn-off')
svc.cli('remove-vm', 'cpuvm', '--force')

# --- remove-vm -------------------------------------------------------------------------------
svc.cli('start-vm', 'gamma')
refused(['remove-vm', 'gamma'], 'remove-vm of a running VM', 'Running', '--force')
rc, out, err = svc.cli('remove-vm', 'gamma', '--force')
tap.ok(rc == 0 and svc.vm('gamma') is None and os.path.exists(disk),
       'remove-vm --force: gone from the inventory (disk files are kept)', out + err)
for n in ('beta', 'echoer', 'crasher', 'vanish', 'gone'):
    svc.cli('remove-vm', n, '--force')
rc, res, err = svc.cli_json('get-vm')
tap.ok(rc == 0 and res['vms'] == [] and inventory() == {}, 'every VM removed, no files left',
       json.dumps(res))
tap.ok(svc.stop() == 0, 'SIGTERM: the service exits 0', svc.read_log()[-1500:])
tap.done()

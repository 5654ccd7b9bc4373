#!/usr/bin/env python3
"""The worker's command line and exit paths, with bad input and the tiny ELF kernel.

Bad configuration must give one clear error line naming the setting and a
non-zero exit, never a crash or a hang. The tiny kernel (tests/guest/tiny/
tiny_kernel.S) boots through the real Linux boot path in milliseconds and
exercises power off, the two reset lines, a triple fault, an emulation
failure, console output and input, and the RTC.
"""
import atexit
import datetime
import json
import os
import signal
import subprocess
import tempfile
import time

from parvis_test import Tap, control, host_is_pvm, kvm_available, run_vmwp, vmwp

tap = Tap()
tiny = os.environ['PARVIS_TINY_KERNEL']
tmp = tempfile.mkdtemp(prefix='parvis-cli-')


def path(name, content=b''):
    p = os.path.join(tmp, name)
    with open(p, 'wb') as f:
        f.write(content)
    return p


def bad(args, desc, *needles, status=1):
    """The worker must refuse args with `status` and one error line containing needles."""
    try:
        rc, out, err = run_vmwp(args, timeout=30)
    except subprocess.TimeoutExpired:
        tap.ok(False, desc + ' (hung)')
        return
    lines = [l for l in err.splitlines() if l.strip()]
    good = rc == status and len(lines) == 1 and all(n.lower() in err.lower() for n in needles)
    tap.ok(good, desc, f'exit {rc}, stderr:\n{err}')


# --- configuration errors (no KVM needed) ---------------------------------
bad([], 'no kernel', 'no kernel')
bad(['--kernel', '/nonexistent/vmlinux'], 'missing kernel file', '/nonexistent/vmlinux', 'No such file')
bad(['--kernel', path('empty')], 'empty kernel file', 'empty')
bad(['--kernel', path('text', b'hello, I am not a kernel\n' * 100)], 'neither ELF nor bzImage',
    'kernel', 'neither')
with open(tiny, 'rb') as f:
    elf = f.read()
bad(['--kernel', path('truncated', elf[:200])], 'truncated ELF kernel', 'kernel', 'truncated')
bad(['--kernel', tiny, '--memory', '0'], 'memory 0', 'memory')
bad(['--kernel', tiny, '--memory', '64T'], 'memory beyond the host', 'memory', 'host')
bad(['--kernel', tiny, '--memory', 'lots'], 'memory not a size', '--memory', 'lots')
bad(['--kernel', tiny, '--cpus', '0'], 'zero cpus', 'cpus')
bad(['--kernel', tiny, '--cpus', 'two'], 'cpus not a number', '--cpus')
bad(['--kernel', tiny, '--serial', 'tcp:1'], 'unknown serial back end', '--serial')
bad(['--kernel', tiny, '--serial', 'socket:/tmp/x,speed=9600'], 'serial socket with an unknown option',
    '--serial', 'socket:PATH')
bad(['--kernel', tiny, '--serial', 'socket:'], 'serial socket without a path', '--serial')
bad(['--kernel', tiny, '--bogus'], 'unknown option', 'bogus')
bad(['--config', '/nonexistent.json'], 'missing config file', '/nonexistent.json')
bad(['--config', path('bad.json', b'{"kernel": ')], 'config not JSON', 'not valid JSON')
bad(['--config', path('unk.json', b'{"kernal": "x"}')], 'config unknown key', 'kernal')
bad(['--config', path('type.json', b'{"cpus": "many"}')], 'config wrong type', 'cpus')
bad(['--config', path('noperm.json', b'{}'), '--kernel', '/nonexistent'], 'config then missing kernel',
    '/nonexistent')
disk = path('disk.img', b'\0' * 65536)
bad(['--kernel', tiny, '--disk', disk + ',bogus'], '--disk unknown option', '--disk', 'bogus')
bad(['--kernel', tiny, '--disk', disk + ',lun=64'], '--disk lun out of range', '--disk', 'lun')
bad(['--kernel', tiny, '--disk', disk + ',controller=x'], '--disk bad controller', 'controller')
bad(['--kernel', tiny, '--disk', ',readonly'], '--disk without a file', '--disk', 'file')
bad(['--kernel', tiny, '--disk', disk + ',lun=2', '--disk', path('disk2.img') + ',lun=2'],
    '--disk duplicate LUN', 'controller 0', 'lun 2')
bad(['--config', path('disks.json', b'{"disks": [{"path": "a", "lun": "one"}]}'), '--kernel', tiny],
    'config disk with a bad lun', 'disks', 'lun')
bad(['--config', path('disks2.json', b'{"disks": [{"readonly": true}]}'), '--kernel', tiny],
    'config disk without a path', 'disks', 'path')
# Network adapters (docs/network.md): refused before anything runs.
bad(['--kernel', tiny, '--nic', 'tap=t0,bogus=1'], '--nic unknown option', '--nic', 'bogus')
bad(['--kernel', tiny, '--nic', 'mac=00:15:5d:00:00:01'], '--nic without tap or fd', '--nic', 'tap')
bad(['--kernel', tiny, '--nic', 'tap=t0,legacy=on'], '--nic legacy=on without generation 1',
    'legacy network adapter', 'generation 1')
bad(['--kernel', tiny, '--generation', '1', '--nic', 'tap=t0,legacy=on,queues=2'],
    '--nic legacy=on with two queues', 'one queue')
bad(['--kernel', tiny, '--nic', 'tap=t0,mac=01:15:5d:00:00:01'], '--nic multicast MAC', '--nic', 'mac')
bad(['--kernel', tiny, '--nic', 'fd=9'], '--nic fd= without mac and id', 'mac=', 'id=')
bad(['--kernel', tiny, '--nic', 'fd=0,mac=00:15:5d:00:00:01,id=a'], '--nic fd below 3', '--nic', 'fd')
bad(['--kernel', tiny, '--nic', 'fd=2000,mac=00:15:5d:00:00:01,id=a'], '--nic fd not a TAP queue',
    'fd 2000', 'TAP')
bad(['--kernel', tiny, '--nic', 'tap=t0,id=x', '--nic', 'tap=t1,id=x'], '--nic duplicate id',
    'both', '"x"')
bad(['--config', path('nics.json', b'{"nics": [{"tap": "t0", "queues": 0}]}'), '--kernel', tiny],
    'config nic with 0 queues', 'nics', 'queues')
# An unreadable config. Root reads any file, so as root the worker runs as a uid no account
# has (setpriv needs none: nothing to create or remove) for this one check; the file sits in
# a directory that uid may search, so the open itself is what fails.
ro_dir = tempfile.mkdtemp(prefix='parvis-cli-unreadable-')
os.chmod(ro_dir, 0o711)
unreadable = os.path.join(ro_dir, 'unreadable.json')
with open(unreadable, 'w') as f:
    f.write('{}')
os.chmod(unreadable, 0)
if os.geteuid() == 0:
    import pwd
    used = {u.pw_uid for u in pwd.getpwall()}
    nobody = next(u for u in range(61000, 65000) if u not in used)
    p = subprocess.run(['setpriv', f'--reuid={nobody}', f'--regid={nobody}', '--clear-groups', vmwp(),
                        '--config', unreadable], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=30)
    tap.ok(p.returncode == 1 and 'Permission denied' in p.stderr and unreadable in p.stderr,
           f'unreadable config (as uid {nobody}, which may not read it)', f'exit {p.returncode}\n{p.stderr}')
else:
    bad(['--config', unreadable], 'unreadable config', 'Permission')
# A directory is unreadable as a file for root too.
bad(['--config', ro_dir], 'a directory as config', 'config', ro_dir, 'read error')

bad(['--kernel', 'k', '--generation', '3'], '--generation out of range', 'generation', '3', 'not 1 or 2')
bad(['--kernel', 'k', '--generation', '1x'], '--generation not a number', '--generation', '1x')
bad(['--kernel', 'k', '--dvd', '/tmp/x.iso'], '--dvd without generation 1', '/tmp/x.iso', '--generation 1')

rc, out, err = run_vmwp(['--help'])
tap.ok(rc == 0 and '--kernel' in out and 'Exit status' in out, '--help')

if not kvm_available():
    for d in ('cpus beyond KVM', 'initrd too large', 'power off', 'ACPI reset', 'i8042 reset',
              'reboot loop', 'triple fault', 'emulation failure', 'JSON config boot',
              'console input', 'RTC', 'SIGTERM', 'pause', 'resume', 'exit status file',
              '--disk missing file'):
        tap.skip(d, 'no /dev/kvm')
    tap.done()

# --- errors found when building the partition ------------------------------
bad(['--kernel', tiny, '--disk', '/nonexistent/disk.img'], '--disk missing file',
    '--disk /nonexistent/disk.img', 'No such file')
bad(['--kernel', tiny, '--cpus', '5000'], 'cpus beyond KVM', 'cpus', 'range')
bad(['--kernel', tiny, '--memory', '64M', '--initrd', path('big.img', b'\0' * (80 << 20))],
    'initrd too large', 'initrd')


def boot(cmd, *extra, timeout=60, stdin=None):
    console = os.path.join(tmp, 'console-' + cmd.split()[0] + str(time.monotonic_ns()))
    args = [vmwp(), '--kernel', tiny, '--memory', '64M', '--cmdline', cmd,
            '--serial', 'file:' + console] + list(extra)
    p = subprocess.run(args, input=stdin, capture_output=True, timeout=timeout)
    text = open(console, errors='replace').read() if os.path.exists(console) else ''
    return p.returncode, text, p.stderr.decode(errors='replace')


rc, con, err = boot('poweroff')
tap.ok(rc == 0 and 'Parvis tiny kernel' in con and 'powering off' in con,
       'power off: exit 0, console output', f'exit {rc}\n{con}\n{err}')
rc, con, err = boot('reset', '--no-reboot')
tap.ok(rc == 0 and 'reset' in err, 'ACPI reset with --no-reboot: exit 0', f'exit {rc}\n{err}')
rc, con, err = boot('kbdreset', '--no-reboot', '--cpus', '2')
tap.ok(rc == 0 and con.count('Parvis tiny kernel') == 1, 'i8042 reset with --no-reboot: exit 0',
       f'exit {rc}\n{con}\n{err}')

# Without --no-reboot a reset boots the guest again; it keeps resetting until we stop it.
console = os.path.join(tmp, 'console-loop')
p = subprocess.Popen([vmwp(), '--kernel', tiny, '--memory', '64M', '--cmdline', 'reset',
                      '--serial', 'file:' + console, '--shutdown-timeout', '1'],
                     stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
deadline = time.monotonic() + 30
boots = 0
while time.monotonic() < deadline and p.poll() is None:
    boots = open(console, errors='replace').read().count('Parvis tiny kernel') if os.path.exists(console) else 0
    if boots >= 3:
        break
    time.sleep(0.05)
p.send_signal(signal.SIGTERM)
try:
    rc = p.wait(timeout=20)
except subprocess.TimeoutExpired:
    p.kill()
    rc = None
err = p.stderr.read().decode(errors='replace')
# After SIGTERM the guest is not restarted: either its next reset ends the
# worker (exit 0) or the shutdown timeout turns it off (exit 5), whichever
# comes first for a guest that resets in a loop.
ended = (rc == 0 and 'exiting (a shutdown was requested)' in err) or (rc == 5 and 'turned off' in err)
tap.ok(boots >= 3 and ended, 'reset without --no-reboot restarts the guest; after SIGTERM it is not restarted',
       f'boots {boots}, exit {rc}\n{err}')

rc, con, err = boot('triple')
tap.ok(rc == 3 and 'triple fault' in err and 'RIP=' in err, 'triple fault: exit 3 with registers',
       f'exit {rc}\n{err}')
if host_is_pvm():
    rc, con, err = boot('badinsn')
    tap.ok(rc == 4 and 'code at RIP: db e2' in err, 'emulation failure: exit 4, bytes logged',
           f'exit {rc}\n{err}')
else:
    tap.skip('emulation failure', 'hardware virtualization runs fnclex')

cfg = path('vm.json', ('{"kernel": "%s", "memory": 64, "cpus": 2, "cmdline": "poweroff", "serial": "none"}'
                       % tiny).encode())
rc, out, err = run_vmwp(['--config', cfg])
tap.ok(rc == 0, 'boot from a JSON config', f'exit {rc}\n{err}')

# Console input: stdin reaches the guest's UART and comes back on stdout.
p = subprocess.Popen([vmwp(), '--kernel', tiny, '--memory', '64M', '--cmdline', 'echo'],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
seen = b''
while b'echo: ready' not in seen:
    chunk = p.stdout.read1(4096)
    if not chunk:
        break
    seen += chunk
try:
    out, err = p.communicate(b'hello from the host, a longer line than the 16-byte FIFO q', timeout=30)
except subprocess.TimeoutExpired:
    p.kill()
    out, err = p.communicate()
tap.ok(p.returncode == 0 and b'hello from the host, a longer line than the 16-byte FIFO ' in out,
       'console input over stdio (more than a FIFO full)', (seen + out + err).decode(errors='replace'))

# The RTC shows the host's UTC time.
before = datetime.datetime.now(datetime.timezone.utc)
rc, con, err = boot('rtc')
line = [l for l in con.splitlines() if l.count(':') == 2 and len(l.strip()) == 8]
ok = False
if line:
    h, m, s = (int(x) for x in line[0].strip().split(':'))
    guest = before.replace(hour=h, minute=m, second=s, microsecond=0)
    ok = abs((guest - before).total_seconds()) < 5 or abs((guest - before).total_seconds()) > 86390
tap.ok(rc == 0 and ok, 'CMOS RTC reads the host time (UTC)', f'{con}\nhost {before}')

# SIGTERM to a guest that ignores the power button: turned off after the timeout, exit 5.
console = os.path.join(tmp, 'console-term')
p = subprocess.Popen([vmwp(), '--kernel', tiny, '--memory', '64M', '--cmdline', 'echo',
                      '--serial', 'file:' + console, '--shutdown-timeout', '1'],
                     stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
time.sleep(0.5)
t0 = time.monotonic()
p.send_signal(signal.SIGTERM)
try:
    rc = p.wait(timeout=20)
except subprocess.TimeoutExpired:
    p.kill()
    rc = None
tap.ok(rc == 5 and time.monotonic() - t0 >= 0.9, 'SIGTERM: power button, then turned off after the timeout',
       f'exit {rc}\n{p.stderr.read().decode(errors="replace")}')
# Pause and resume through the control socket: a guest counting on its console stops advancing.
d = tempfile.mkdtemp(prefix='pause-', dir='/tmp')
ctl, console, status_file = (os.path.join(d, n) for n in ('ctl', 'con', 'status'))
p = subprocess.Popen([vmwp(), '--kernel', tiny, '--memory', '32M', '--cmdline', 'count',
                      '--serial', f'socket:{d}/sock,log={console}', '--control', ctl,
                      '--exit-status-file', status_file],
                     stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
atexit.register(lambda: p.poll() is None and p.kill())


def grows(timeout):
    a = os.path.getsize(console) if os.path.exists(console) else 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(console) and os.path.getsize(console) > a:
            return True
        time.sleep(0.05)
    return False


running = grows(20)
r = control(ctl, {'command': 'pause'})
st = control(ctl, {'command': 'status'})
a = os.path.getsize(console)
time.sleep(2)
b = os.path.getsize(console)
tap.ok(running and r.get('paused') and st.get('state') == 'paused' and a == b,
       'pause: the vCPUs are held, the counting guest does not advance', f'{r} {st.get("state")} {a} {b}')
r = control(ctl, {'command': 'resume'})
tap.ok(r.get('paused') is False and grows(20) and control(ctl, {'command': 'status'})['state'] == 'running',
       'resume: the guest counts again')
# kvp-set (docs/control.md): the tiny guest never opens the KVP channel, so writes stay queued,
# 16 at most; keys up to 255 characters, values up to 1023, one of five pools.
def kvp_set(key, value, pool=None):
    req = {'command': 'kvp-set', 'key': key, 'value': value}
    if pool:
        req['pool'] = pool
    return control(ctl, req)


accepted = [kvp_set('k', 'v'), kvp_set('K' * 255, 'v'), kvp_set('k', 'V' * 1023)] + \
    [kvp_set('k', 'v', pool) for pool in ('external', 'guest', 'auto', 'auto-external', 'auto-internal')]
tap.ok(all(r.get('ok') for r in accepted), 'kvp-set: queued in every pool, key 255 and value 1023 characters',
       json.dumps(accepted))
refused = [kvp_set('K' * 256, 'v'), kvp_set('k', 'V' * 1024), kvp_set('k', 'v', 'nowhere'), kvp_set('', 'v'),
           control(ctl, {'command': 'kvp-set', 'key': 'k'})]
tap.ok(all(r.get('ok') is False and '255/1023' in r.get('error', '') for r in refused),
       'kvp-set: a longer key or value, an unknown pool, an empty key or no value is refused',
       json.dumps(refused))
more = [kvp_set(f'k{i}', 'v') for i in range(16 - len(accepted))]
full = kvp_set('one-too-many', 'v')
st = control(ctl, {'command': 'status'})
kvp = ((st.get('vmbus') or {}).get('kvp') or {})
tap.ok(all(r.get('ok') for r in more) and full.get('ok') is False and 'too many' in full.get('error', '') and
       kvp.get('sets') == 0, 'kvp-set: the 17th queued write is refused; none delivered (no KVP channel open)',
       json.dumps([full, kvp]))
control(ctl, {'command': 'turn-off'})
try:
    rc = p.wait(timeout=20)
except subprocess.TimeoutExpired:
    p.kill()
    rc = None
with open(status_file) if os.path.exists(status_file) else open(os.devnull) as f:
    written = f.read()
tap.ok(rc == 5 and written == '5\n', 'turn-off: exit 5, and the exit status file says so',
       f'exit {rc}, file {written!r}')

# A differencing disk whose parent is in another directory: refused unless that directory
# is a storage directory (--storage-dir; the service passes its own, docs/disks.md).
vhd_tool = os.environ['PARVIS_CLI']
pdir, cdir = os.path.join(tmp, 'parents'), os.path.join(tmp, 'children')
os.makedirs(pdir)
os.makedirs(cdir)
parent, child = os.path.join(pdir, 'base.vhdx'), os.path.join(cdir, 'child.vhdx')
made = subprocess.run([vhd_tool, 'vhd', 'new', parent, '--size', '16M'], capture_output=True).returncode == 0 \
    and subprocess.run([vhd_tool, 'vhd', 'new', child, '--parent', parent], capture_output=True).returncode == 0
rc, con, err = boot('poweroff', '--disk', child)
tap.ok(made and rc == 1 and 'base.vhdx' in err, 'a parent outside the child\'s directory is refused',
       f'exit {rc}\n{err}')
rc, con, err = boot('poweroff', '--disk', child, '--storage-dir', pdir)
tap.ok(rc == 0 and 'powering off' in con, '... and opened from a --storage-dir', f'exit {rc}\n{err}')
tap.done()

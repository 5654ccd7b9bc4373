#!/usr/bin/env python3
"""The management service with real Linux guests (the kit kernel), through
the parvis command only.

Guest boots cost minutes of emulated CPU on PVM hosts, so one sequence with
two VMs does everything: both start and reach a live heartbeat
(get-vmintegrationservice), one is suspended and resumed, one worker is
killed with SIGKILL (that VM Critical, the other Running), the service is
restarted (the VM still Running, found again, and stoppable), and stop-vm
shuts the guest down through its shutdown service (Off). The workers run
jailed (the service's default): lin1 has a disk, which its guest finds, and
reboots (restart-vm) inside the same jailed worker.

The idle initramfs (idle_initramfs.py) keeps the kernel up on hosts where
guest user space cannot run; hv_utils' shutdown then powers off from the
kernel, which is what a graceful stop must end in.
"""
import json
import os
import re
import signal
import subprocess
import tempfile
import time

from idle_initramfs import cpio_newc, idle_init_elf
import linux_checks as lc
from parvis_test import Tap, control, kit, kvm_available, skip_all
from vmms_test import Service

if not kvm_available():
    skip_all('no /dev/kvm')
k = kit()
if not k:
    skip_all('guest kit not built (tools/guest-kit/build.sh)')
vmlinux, _, cmdline = k
BOOT_TIMEOUT = 1200

tap = Tap()
tmp = tempfile.mkdtemp(prefix='pvl-', dir='/tmp')
initramfs = os.path.join(tmp, 'idle.cpio')
with open(initramfs, 'wb') as f:
    f.write(cpio_newc([('init', 0o100755, idle_init_elf())]))

svc = Service(tmp)
tap.ok(svc.start(), 'parvis-vmms starts', svc.read_log())
events = subprocess.Popen([os.environ.get('PARVIS_CLI', 'parvis'), '--socket', svc.sock, 'events'],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

disk = os.path.join(tmp, 'lin1-data.img')
with open(disk, 'wb') as f:
    f.truncate(4096 * 512)
for name in ('lin1', 'lin2'):
    rc, out, err = svc.cli('new-vm', name, '--memory', '128M', '--cpus', '1', '--kernel', vmlinux,
                           '--initrd', initramfs, '--cmdline', cmdline + ' reboot=acpi',
                           *(['--disk', disk] if name == 'lin1' else []))
    tap.ok(rc == 0, f'new-vm {name}', err)
for name in ('lin1', 'lin2'):
    rc, out, err = svc.cli('start-vm', name)
    tap.ok(rc == 0 and 'Running' in out, f'start-vm {name}: Running', out + err)

rc, out, err = svc.cli('get-vm')
tap.ok(rc == 0 and out.count('Running') == 2 and 'MemoryAssigned(M)' in out,
       'get-vm: both Running, in a Get-VM-like table', out + err)


def heartbeat_ok(name):
    rc, res, err = svc.cli_json('get-vmintegrationservice', name)
    if rc != 0 or not res:
        return False, err
    hb = [s for s in res['services'] if s['name'] == 'Heartbeat']
    sd = [s for s in res['services'] if s['name'] == 'Shutdown']
    return bool(hb and hb[0]['status'] == 'OK' and sd and sd[0]['status'] == 'OK'), res


def wait_heartbeat(name, timeout):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        ok, last = heartbeat_ok(name)
        if ok:
            return True, last
        if svc.state(name) not in ('Running', 'Paused'):
            return False, last
        time.sleep(3)
    return False, last


for name in ('lin1', 'lin2'):
    ok, res = wait_heartbeat(name, BOOT_TIMEOUT)
    tap.ok(ok, f'{name}: the guest\'s heartbeat is live and its shutdown service ready '
           '(get-vmintegrationservice)', json.dumps(res)[-3000:])
rc, out, err = svc.cli('get-vmintegrationservice', 'lin1')
tap.ok(rc == 0 and 'Heartbeat' in out and 'OK' in out, 'get-vmintegrationservice table', out + err)
ok, v = svc.wait_vm('lin1', lambda v: v['heartbeat'] == 'OK' and v['uptime_s'] > 0, 30)
tap.ok(ok, 'get-vm --json: heartbeat OK, uptime counting', json.dumps(v))


def lin1_console():
    with open(os.path.join(svc.state_dir, 'run', svc.vm('lin1')['id'], 'console.log'),
              errors='replace') as f:
        return f.read()


# The jailed worker opened the disk before its jail; the guest's storvsc finds it (SCSI
# probing may come after the heartbeat: wait for the line).
DISK_SEEN = r'sd 0:0:0:0: \[sd\w+\] 4096 512-byte logical blocks'


def wait_console(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        con = lin1_console()
        if pred(con):
            return True, con
        time.sleep(3)
    return False, lin1_console()


ok, con = wait_console(lambda c: len(re.findall(DISK_SEEN, c)) == 1, BOOT_TIMEOUT)
tap.ok(ok, 'lin1 (jailed): the guest sees its disk', con[-3000:])
# A guest reboot rebuilds the partition inside the jail (/dev/kvm of the jail's root).
pid_before = svc.vm('lin1')['pid']
rc, out, err = svc.cli('restart-vm', 'lin1', timeout=300)
tap.ok(rc == 0, 'restart-vm lin1: the guest is asked to restart', out + err)
wait_console(lambda c: c.count('Linux version') >= 2, BOOT_TIMEOUT)
ok, res = wait_heartbeat('lin1', BOOT_TIMEOUT)
seen, con = wait_console(lambda c: len(re.findall(DISK_SEEN, c)) == 2, BOOT_TIMEOUT)
tap.ok(ok and seen and con.count('Linux version') == 2 and svc.vm('lin1')['pid'] == pid_before,
       'lin1 rebooted in the same jailed worker: booted again, its disk again, heartbeat live',
       con[-3000:] + json.dumps(res)[-1000:])

# Suspend and resume lin2.
rc, out, err = svc.cli('suspend-vm', 'lin2')
tap.ok(rc == 0 and svc.state('lin2') == 'Paused', 'suspend-vm lin2: Paused', out + err)
time.sleep(3)
rc, out, err = svc.cli('resume-vm', 'lin2')
tap.ok(rc == 0 and svc.state('lin2') == 'Running', 'resume-vm lin2: Running', out + err)
ok, res = wait_heartbeat('lin2', 300)
tap.ok(ok, 'lin2: heartbeat live again after resume', json.dumps(res)[-2000:])


def run_file(name, file):
    return os.path.join(svc.state_dir, 'run', svc.vm(name)['id'], file)


def worker_status(name):
    """The VM's worker's own status (its control socket), for its error counters."""
    try:
        return control(run_file(name, 'control.sock'), {'command': 'status'})
    except OSError:
        return None


# kill -9 of lin2's worker: only lin2 goes Critical.
status2 = worker_status('lin2')
pid = svc.vm('lin2')['pid']
os.kill(pid, signal.SIGKILL)
ok, v = svc.wait_vm('lin2', lambda v: v['state'] == 'Critical', 30)
tap.ok(ok and 'killed by signal 9' in v['status'], 'kill -9 of a worker: that VM Critical, '
       '"killed by signal 9"', json.dumps(v))
tap.ok(svc.state('lin1') == 'Running', 'the other VM is still Running', svc.cli('get-vm')[1])

# Restart the service: lin1 is found again and stays Running.
pid1 = svc.vm('lin1')['pid']
svc.stop()
tap.ok(os.path.exists(f'/proc/{pid1}'), 'the worker outlives the service')
tap.ok(svc.start(), 'the service starts again on the same state directory', svc.read_log())
v = svc.vm('lin1')
tap.ok(v and v['state'] == 'Running' and v['pid'] == pid1,
       'after the restart lin1 is Running with the same worker', json.dumps(v))
tap.ok(svc.state('lin2') == 'Critical', 'and lin2 is still Critical', svc.cli('get-vm')[1])
ok, res = wait_heartbeat('lin1', 60)
tap.ok(ok, 'the new service reads lin1\'s heartbeat', json.dumps(res)[-2000:])

# Graceful stop through the guest's shutdown service.
status1 = worker_status('lin1')
rc, res, err = svc.cli_json('stop-vm', 'lin1', '--timeout', '900', timeout=1000)
tap.ok(rc == 0 and res and res['state'] == 'Off' and res.get('method') == 'shutdown integration service',
       'stop-vm lin1: graceful through the shutdown service, Off', json.dumps(res) + err)
con = open(run_file('lin1', 'console.log'), errors='replace').read()
tap.ok(*lc.check_firmware_clean(con))
ok, desc, diag = lc.check_guest_health(con, status=status1)
tap.ok(ok, 'lin1: ' + desc, diag)
ok, desc, diag = lc.check_guest_health(open(run_file('lin2', 'console.log'), errors='replace').read(),
                                       status=status2)
tap.ok(ok, 'lin2 (until its worker was killed): ' + desc, diag)
tap.ok('Shutdown request received' in con, 'the guest logged the shutdown request', con[-1500:])
rc, out, err = svc.cli('get-vmhistory', 'lin1')
tap.ok(rc == 0 and 'the guest shut down' in out and 'stop-vm' in out,
       'the history records the stop', out)
rc, out, err = svc.cli('stop-vm', 'lin2', '--turn-off')
tap.ok(rc == 0 and svc.state('lin2') == 'Off', 'stop-vm --turn-off acknowledges the Critical VM',
       out + err)
for name in ('lin1', 'lin2'):
    rc, out, err = svc.cli('remove-vm', name)
    tap.ok(rc == 0, f'remove-vm {name}', err)
svc.stop()
events.kill()
ev = events.communicate()[0]
tap.ok('"state-changed"' in ev and '"Critical"' in ev, 'the event stream carried the state changes',
       ev[-2000:])
tap.done()

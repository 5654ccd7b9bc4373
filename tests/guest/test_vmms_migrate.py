#!/usr/bin/env python3
"""move-vm between two parvis-vmms services (docs/migration.md, "Between services").

Two services on this machine, each in a network namespace of its own, joined by a veth pair
(10.77.x.1 and 10.77.x.2: addresses that exist only inside those namespaces); the VMs' files
(the tiny kernel) are shared storage: the same path on both. Workers run jailed (as root).

- enable-vmmigration: a key file too short, not hex, a --listen that is no ADDR:PORT: each
  refused naming the problem; get-vmhost shows the listener and its authentication; the
  setting survives a restart of the service.
- The tiny guest in "fill" mode (writes every page above 32 MiB, then prints 1..3000) moved in
  the middle of its counting: the destination's console goes on from where the source's was,
  no banner again (no reboot), to the end; the source has no entry left and get-vm there says
  where the VM went; get-vmhistory on the destination holds the source's history and the move.
- A destination with another key: the TLS handshake fails, refused (logged there), the VM
  runs on at the source, the destination has nothing.
- A VM with an adapter on a switch the destination lacks: refused with the switch named,
  before any memory moved (no worker was started there, nothing registered); with the switch
  made there, the move goes through and the adapter is on it.
- A destination whose processor lacks features the VM has (its worker's CPU reports give the
  baseline model, as an older host's would): refused before any memory moved, the missing
  feature named.
- Per-host certificates: a certificate without its key, or with another's key, refused;
  hosts whose certificates one CA signed move a VM, and a generation 1 VM started from its
  BIOS (no kernel to check at the destination); a host whose certificate another CA signed
  is refused in the handshake, nothing created.
- The link cut in the middle (the veth taken down while the stream crawls through a 16 kbit/s
  qdisc): move-vm fails, the VM still runs on the source (its console still growing), the
  destination has no VM, no worker, no file.
"""
import glob
import os
import re
import shutil
import subprocess
import tempfile
import time

from migration_pair import Pair, sh
from parvis_test import Tap, kvm_available, skip_all

if not kvm_available():
    skip_all('no /dev/kvm')
if os.geteuid() != 0:
    skip_all('network namespaces and veth pairs need root')

tap = Tap()
tiny = os.environ['PARVIS_TINY_KERNEL']
tmp = tempfile.mkdtemp(prefix='pvmig-', dir='/tmp')
os.chmod(tmp, 0o755)
pair = Pair(tmp)
a, b = pair.a, pair.b
ns_a, veth_a = pair.ns_a, pair.veth_a
ip_a, dest_a, dest_b = pair.ip_a, pair.dest_a, pair.dest_b
# Shared storage: the kernel at one path both hosts reach.
shared = os.path.join(tmp, 'shared')
os.makedirs(shared)
kernel = os.path.join(shared, 'tiny.elf')
shutil.copy(tiny, kernel)
key, other_key = pair.key, os.path.join(tmp, 'other-key')
with open(other_key, 'w') as f:
    f.write(os.urandom(48).hex() + '\n')
os.chmod(other_key, 0o600)

tap.ok(a.start() and b.start(), 'two services, each in its own network namespace',
       a.read_log() + b.read_log())


def ok_cli(svc, desc, *args, timeout=300):
    rc, out, err = svc.cli(*args, timeout=timeout)
    tap.ok(rc == 0, desc, f'rc {rc}\n{out}\n{err}')
    return out, err


def refused(svc, desc, args, *needles):
    rc, out, err = svc.cli(*args, timeout=300)
    good = rc == 1 and all(n.lower() in err.lower() for n in needles)
    tap.ok(good, desc, f'rc {rc}\n{out}\n{err}')
    return err


def vm_files(svc):
    return sorted(os.listdir(os.path.join(svc.state_dir, 'vms')))


def workers(svc):
    return glob.glob(os.path.join(svc.state_dir, 'run', '*', 'worker.json'))


def console(svc, name):
    v = svc.vm(name)
    if not v:
        return ''
    try:
        with open(os.path.join(svc.state_dir, 'run', v['id'], 'console.log'), errors='replace') \
                as f:
            return f.read()
    except OSError:
        return ''


def numbers(text):
    return [int(x) for x in re.findall(r'^(\d+)\r?$', text, re.M)]


# --- enable-vmmigration and its bad input --------------------------------------------------
bad = os.path.join(tmp, 'bad')
with open(bad, 'w') as f:
    f.write('00' * 16 + '\n')
os.chmod(bad, 0o600)
refused(a, 'a key of 16 bytes: refused, at least 32 named',
        ('enable-vmmigration', '--listen', dest_a, '--key-file', bad), '16 bytes', '32')
with open(bad, 'w') as f:
    f.write('zz' * 40 + '\n')
refused(a, 'a key that is not hex: refused', ('enable-vmmigration', '--listen', dest_a,
                                             '--key-file', bad), 'not a hex digit')
refused(a, 'a key file that does not exist: refused, the path named',
        ('enable-vmmigration', '--listen', dest_a, '--key-file', bad + '.none'), bad + '.none')
os.chmod(key, 0o644)
refused(a, 'a key file anyone may read: refused', ('enable-vmmigration', '--listen', dest_a,
                                                   '--key-file', key), 'chmod o-rw')
os.chmod(key, 0o600)
refused(a, '--listen without a port: refused', ('enable-vmmigration', '--listen', ip_a,
                                                '--key-file', key), 'ADDR:PORT')
rc, host, err = a.cli_json('get-vmhost')
tap.ok(rc == 0 and host['migration']['enabled'] is False,
       'get-vmhost: migration is off by default', str(host) + err)
ok_cli(a, 'enable-vmmigration on the source', 'enable-vmmigration', '--listen', dest_a,
       '--key-file', key)
ok_cli(b, 'enable-vmmigration on the destination', 'enable-vmmigration', '--listen', dest_b,
       '--key-file', key)
rc, host, err = b.cli_json('get-vmhost')
m = (host or {}).get('migration', {})
tap.ok(rc == 0 and m.get('enabled') and m.get('listening') and m.get('listen') == dest_b and
       m.get('authentication') == 'tls-psk', 'get-vmhost shows the listener and TLS-PSK',
       str(host) + err)
b.stop()
tap.ok(b.start(), 'the destination restarts', b.read_log())
rc, host, err = b.cli_json('get-vmhost')
tap.ok(rc == 0 and host['migration'].get('listening') and host['migration']['listen'] == dest_b,
       'the migration setting survives a restart (DIR/migration.json)', str(host) + err)

# --- a VM moved in the middle of its counting ---------------------------------------------
ok_cli(a, 'new-vm fill', 'new-vm', 'mv1', '--memory', '64M', '--kernel', kernel, '--cmdline',
       'fill')
ok_cli(a, 'start-vm', 'start-vm', 'mv1')
deadline = time.monotonic() + 120
while time.monotonic() < deadline and len(numbers(console(a, 'mv1'))) < 100:
    time.sleep(0.2)
before = console(a, 'mv1')
tap.ok('filled' in before and len(numbers(before)) >= 100, 'the guest filled its memory and counts',
       before[-300:])
mv_id = a.vm('mv1')['id']
rc, res, err = a.cli_json('move-vm', 'mv1', '--destination-host', dest_b, timeout=600)
mig = (res or {}).get('migration', {})
tap.ok(rc == 0 and res['destination_state'] == 'Running' and mig.get('rounds', 0) >= 1 and
       mig.get('bytes', 0) > 32 << 20, 'move-vm: the destination runs it (rounds, bytes sent)',
       f'{res}\n{err}\n{b.read_log()[-2000:]}')
tap.ok(vm_files(a) == [] and not workers(a), 'the source keeps no entry and no worker',
       str(vm_files(a)))
rc, out, err = a.cli('get-vm', 'mv1')
tap.ok(rc == 1 and dest_b in err and 'moved' in err, 'get-vm on the source says where it went',
       err)
v = b.vm('mv1')
tap.ok(v and v['state'] == 'Running' and v['id'] == mv_id,
       'get-vm on the destination: Running, the same VM id', str(v))
rc, hist, err = b.cli_json('get-vmhistory', 'mv1')
reasons = [h['reason'] for h in (hist or {}).get('history', [])]
tap.ok(rc == 0 and 'new-vm' in reasons and 'start-vm' in reasons and
       any(r.startswith('move-vm to ' + dest_b) for r in reasons) and 'move-vm: arrived' in reasons,
       'get-vmhistory on the destination: the source\'s history and the move', str(reasons))
ok_b, v = b.wait_vm('mv1', lambda v: v['state'] == 'Off', 300)
after = console(b, 'mv1')
nb = numbers(after)
na = numbers(before)
# The move may fall between two digits of a number: the destination's first line is then the
# rest of the number the source began.
first = after.split('\n', 1)[0].strip()
if len(nb) > 1 and nb[0] != nb[1] - 1 and str(nb[1] - 1).endswith(first):
    nb = [nb[1] - 1] + nb[1:]
tap.ok(ok_b and 'filled' not in after and nb and nb[0] > na[-1] and
       nb == list(range(nb[0], 3001)) and 'powering off' in after,
       'the destination\'s console goes on where the source was, to the end, no reboot',
       f'{after[:200]}\n{after[-200:]}\nsource up to {na[-1] if na else None}, destination '
       f'{nb[:3]}..{nb[-3:]} ({len(nb)} numbers), Off: {ok_b}')

# --- wrong key -------------------------------------------------------------------------------
ok_cli(a, 'new-vm count (runs until stopped)', 'new-vm', 'mv2', '--memory', '32M', '--kernel',
       kernel, '--cmdline', 'count')
ok_cli(a, 'start-vm mv2', 'start-vm', 'mv2')
ok_cli(b, 'the destination takes another key', 'enable-vmmigration', '--listen', dest_b,
       '--key-file', other_key)
before_b = vm_files(b)
refused(a, 'move-vm to a host with another key: refused in the TLS handshake',
        ('move-vm', 'mv2', '--destination-host', dest_b), 'TLS handshake', 'still runs here')
tap.ok(a.state('mv2') == 'Running' and vm_files(b) == before_b and not workers(b),
       'the VM runs on at the source; the destination has nothing new', str(vm_files(b)))
tap.ok('refused a connection: TLS handshake' in b.read_log(),
       'the destination logged the untrusted peer', b.read_log()[-1000:])
ok_cli(b, 'the destination takes the shared key again', 'enable-vmmigration', '--listen', dest_b,
       '--key-file', key)

# --- a switch the destination lacks ------------------------------------------------------------
ok_cli(a, 'a private switch on the source', 'new-vmswitch', 'lan', '--switch-type', 'private')
ok_cli(a, 'new-vm with an adapter on it', 'new-vm', 'mv3', '--memory', '32M', '--kernel', kernel,
       '--cmdline', 'count')
ok_cli(a, 'add-vmnetworkadapter --switch lan', 'add-vmnetworkadapter', 'mv3', '--switch', 'lan')
ok_cli(a, 'start-vm mv3', 'start-vm', 'mv3')
runs_b = set(os.listdir(os.path.join(b.state_dir, 'run')))
refused(a, 'move-vm to a host without switch "lan": refused, the switch named',
        ('move-vm', 'mv3', '--destination-host', dest_b), "switch 'lan'", 'still runs here')
tap.ok(a.state('mv3') == 'Running' and vm_files(b) == before_b and
       set(os.listdir(os.path.join(b.state_dir, 'run'))) == runs_b,
       'refused before any memory moved: no worker was started there, nothing registered',
       str(vm_files(b)))
ok_cli(b, 'the switch made on the destination', 'new-vmswitch', 'lan', '--switch-type', 'private')
rc, out, err = a.cli('move-vm', 'mv3', '--destination-host', dest_b, '--progress', timeout=600)
tap.ok(rc == 0 and b.state('mv3') == 'Running', 'now the move goes through', f'{out}\n{err}')
tap.ok(re.search(r'MiB sent .*; round \d+: \d+ pages dirty \(\d+/s\), expected downtime \d+ ms',
                 err) and 'downtime' in out,
       'move-vm --progress: bytes sent, rounds, dirty rate, expected downtime', f'{out}\n{err}')
rc, ads, err = b.cli_json('get-vmnetworkadapter', 'mv3')
tap.ok(rc == 0 and str(ads).count("'lan'") >= 1, 'its adapter is on the destination\'s switch',
       f'{ads}\n{err}')

# --- the link cut in the middle ------------------------------------------------------------------
# 16 kbit/s: the guest's first round (its kernel and stack pages, ~100 KiB) crawls.
sh('ip', 'netns', 'exec', ns_a, 'tc', 'qdisc', 'add', 'dev', veth_a, 'root', 'tbf', 'rate',
   '16kbit', 'burst', '4kb', 'latency', '10s')
log_mark = len(b.read_log())
mover = subprocess.Popen([os.environ.get('PARVIS_CLI', 'parvis'), '--socket', a.sock, 'move-vm',
                          'mv2', '--destination-host', dest_b], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
deadline = time.monotonic() + 120
while time.monotonic() < deadline and 'checks passed' not in b.read_log()[log_mark:]:
    time.sleep(0.2)
time.sleep(3)
started = 'checks passed' in b.read_log()[log_mark:] and mover.poll() is None
sh('ip', '-n', ns_a, 'link', 'set', veth_a, 'down')
try:
    out, err = mover.communicate(timeout=240)
except subprocess.TimeoutExpired:
    mover.kill()
    out, err = mover.communicate()
tap.ok(started and mover.returncode == 1 and 'still runs here' in err,
       'link cut in the middle: move-vm fails, the VM still runs here', f'{started}\n{out}\n{err}')
c1 = len(console(a, 'mv2'))
time.sleep(2)
tap.ok(a.state('mv2') == 'Running' and len(console(a, 'mv2')) > c1,
       'the VM runs on at the source (its console grows)', str(a.vm('mv2')))
deadline = time.monotonic() + 60
while time.monotonic() < deadline and (b.vm('mv2') or workers(b)[1:]):
    time.sleep(0.5)
tap.ok(b.vm('mv2') is None and 'mv2' not in str([b.vm(n) for n in ('mv1', 'mv3')]) and
       len(vm_files(b)) == 2, 'the destination has nothing of it (no entry, no worker)',
       f'{vm_files(b)}\n{b.read_log()[log_mark:]}')
rc, hist, err = a.cli_json('get-vmhistory', 'mv2')
reasons = [h['reason'] for h in (hist or {}).get('history', [])]
tap.ok(any('failed' in r for r in reasons), 'get-vmhistory on the source records the failure',
       str(reasons))

# --- a destination whose processor lacks what the VM has ------------------------------------
# It stands for an older host: its worker's CPU reports (get-vmprocessor's, the checks') give
# the baseline model whatever is asked, so the host model's extra features are missing there.
sh('ip', 'netns', 'exec', ns_a, 'tc', 'qdisc', 'del', 'dev', veth_a, 'root')
sh('ip', '-n', ns_a, 'link', 'set', veth_a, 'up')
vmwp = os.environ['PARVIS_VMWP']
older = os.path.join(tmp, 'vmwp-older-host')
with open(older, 'w') as f:
    f.write(f'#!/bin/sh\nif [ "$1" = --print-cpu ]; then exec {vmwp} "$@" --cpu-model baseline; fi\n'
            f'exec {vmwp} "$@"\n')
os.chmod(older, 0o755)
b.stop()
os.environ['PARVIS_VMWP'] = older
started = b.start()
os.environ['PARVIS_VMWP'] = vmwp
runs_b = set(os.listdir(os.path.join(b.state_dir, 'run')))
files_b = vm_files(b)
err = refused(a, 'move-vm to a host whose processor lacks a feature the VM has: refused',
              ('move-vm', 'mv2', '--destination-host', dest_b), 'processor lacks',
              'compatibility-for-migration', 'still runs here')
tap.ok(started and a.state('mv2') == 'Running' and vm_files(b) == files_b and
       set(os.listdir(os.path.join(b.state_dir, 'run'))) == runs_b,
       'refused before any memory moved: nothing registered or started there', err)

# --- per-host certificates ----------------------------------------------------------------------
b.stop()
tap.ok(b.start(), 'the destination back with its own worker', b.read_log()[-500:])


def openssl(*args):
    sh('openssl', *args)


def make_ca(name):
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
            '-keyout', os.path.join(tmp, name + '.key'), '-out', os.path.join(tmp, name + '.pem'),
            '-days', '2', '-subj', '/CN=' + name)


def make_host(name, ca):
    key, csr, pem = (os.path.join(tmp, name + x) for x in ('.key', '.csr', '.pem'))
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
            '-keyout', key, '-out', csr, '-subj', '/CN=' + name)
    openssl('x509', '-req', '-in', csr, '-CA', os.path.join(tmp, ca + '.pem'), '-CAkey',
            os.path.join(tmp, ca + '.key'), '-CAcreateserial', '-out', pem, '-days', '2')
    os.chmod(key, 0o600)
    return pem, key


make_ca('ca1')
make_ca('ca2')
cert_a, key_a = make_host('hosta', 'ca1')
cert_b, key_b = make_host('hostb', 'ca1')
rogue, rogue_key = make_host('rogue', 'ca2')
ca1 = os.path.join(tmp, 'ca1.pem')
refused(a, 'a certificate without its private key: refused',
        ('enable-vmmigration', '--listen', dest_a, '--certificate', cert_a, '--trusted-ca', ca1),
        '--private-key')
refused(a, 'a private key that is not the certificate\'s: refused, the files named',
        ('enable-vmmigration', '--listen', dest_a, '--certificate', cert_a, '--private-key',
         key_b, '--trusted-ca', ca1), cert_a)
ok_cli(a, 'enable-vmmigration with certificates on the source', 'enable-vmmigration',
       '--listen', dest_a, '--certificate', cert_a, '--private-key', key_a, '--trusted-ca', ca1)
ok_cli(b, 'and on the destination', 'enable-vmmigration', '--listen', dest_b, '--certificate',
       cert_b, '--private-key', key_b, '--trusted-ca', ca1)
rc, host, err = b.cli_json('get-vmhost')
tap.ok(rc == 0 and host['migration'].get('authentication') == 'tls-x509',
       'get-vmhost: tls-x509', str(host))
rc, out, err = a.cli('move-vm', 'mv2', '--destination-host', dest_b, timeout=600)
tap.ok(rc == 0 and b.state('mv2') == 'Running' and a.vm('mv2') is None,
       'move-vm between hosts whose certificates one CA signed', out + err)
# A generation 1 VM started from its BIOS (no kernel, no disk: SeaBIOS finds nothing to boot and
# keeps trying): the destination needs no kernel, its BIOS boots the VM after a reboot.
ok_cli(a, 'new-vm mv4 --generation 1 (no kernel: SeaBIOS)', 'new-vm', 'mv4', '--generation',
       '1', '--memory', '64M')
ok_cli(a, 'start-vm mv4', 'start-vm', 'mv4')
rc, out, err = a.cli('move-vm', 'mv4', '--destination-host', dest_b, timeout=600)
tap.ok(rc == 0 and b.state('mv4') == 'Running' and a.vm('mv4') is None,
       'move-vm of a generation 1 VM started from its BIOS (its fw_cfg, VGA, image copy)',
       out + err)
b.cli('stop-vm', 'mv4', '--turn-off')
ok_cli(b, 'the destination takes a certificate of another CA', 'enable-vmmigration', '--listen',
       dest_b, '--certificate', rogue, '--private-key', rogue_key, '--trusted-ca', ca1)
files_a = vm_files(a)
refused(b, 'move-vm from a host whose certificate the other does not trust: refused',
        ('move-vm', 'mv2', '--destination-host', dest_a), 'TLS handshake', 'still runs here')
tap.ok(b.state('mv2') == 'Running' and vm_files(a) == files_a,
       'the VM runs on; the host that refused has nothing new', str(vm_files(a)))
tap.ok('refused a connection: TLS handshake' in a.read_log(),
       'the refusing host logged the untrusted certificate', a.read_log()[-800:])

for name in ('mv2',):
    b.cli('stop-vm', name, '--turn-off')
for name in ('mv3',):
    b.cli('stop-vm', name, '--turn-off')
a.stop()
b.stop()
logs = a.read_log() + b.read_log()
tap.ok(not any(m in logs for m in ('AddressSanitizer', 'LeakSanitizer', 'runtime error:')),
       'no sanitizer report in either service\'s log (sanitizer builds)', logs[-3000:])
if not tap.failed:
    shutil.rmtree(tmp, ignore_errors=True)  # kept when something failed: the services' logs
tap.done()

#!/usr/bin/env python3
"""Who may do what through parvis-vmms's socket (docs/security.md, "The management socket").

The test makes three accounts and two groups of its own (useradd, groupadd;
removed at the end): an admin (in the group given as --admin-group), an
operator (--operator-group) and a stranger (in neither), and a storage
directory (--storage-dir). The admin may create VMs only from files in the
storage directory that it can open itself: /etc/shadow, a symlink to it, a
file outside, a block device, a file it cannot read or write, and another VM's
disk are each refused with a message naming the rule, the inventory unchanged.
The operator can start and stop a VM and use its console (passed to it by
the service) but not create or change one; the stranger is refused as it
connects. Every state-changing call, refused or
not, is in the audit log with the caller's uid; get-vmhistory names who
started and stopped the VM.
"""
import atexit
import glob
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time

from parvis_test import Tap, kvm_available, skip_all
from vmms_test import Service, cli_bin

if os.geteuid() != 0:
    skip_all('making accounts needs root')
if not shutil.which('useradd'):
    skip_all('no useradd')

tap = Tap()
tiny = os.environ['PARVIS_TINY_KERNEL']
tmp = tempfile.mkdtemp(prefix='pva-', dir='/tmp')
os.chmod(tmp, 0o755)  # the accounts reach the socket under it
tag = f'pv{os.getpid() % 100000}'
admins, operators = f'{tag}adm', f'{tag}ops'
users = {'admin': f'{tag}a', 'oper': f'{tag}o', 'stranger': f'{tag}s'}


def cleanup():
    for u in users.values():
        subprocess.run(['userdel', u], capture_output=True)
    for g in (admins, operators):
        subprocess.run(['groupdel', g], capture_output=True)


atexit.register(cleanup)
for g in (admins, operators):
    subprocess.run(['groupadd', g], check=True, capture_output=True)
for role, u in users.items():
    groups = {'admin': [admins], 'oper': [operators], 'stranger': []}[role]
    subprocess.run(['useradd', '--no-create-home', '--shell', '/usr/sbin/nologin', '-M']
                   + (['-G', ','.join(groups)] if groups else []) + [u],
                   check=True, capture_output=True)
ids = {role: pwd.getpwnam(u) for role, u in users.items()}


def gid_of(name):
    import grp
    return grp.getgrnam(name).gr_gid


storage = os.path.join(tmp, 'storage')
os.mkdir(storage, 0o755)
admin_pw = ids['admin']
kernel = os.path.join(storage, 'tiny.elf')
shutil.copy(tiny, kernel)
os.chmod(kernel, 0o644)


def disk(name, owner=admin_pw, mode=0o600):
    p = os.path.join(storage, name)
    with open(p, 'wb') as f:
        f.truncate(1 << 20)
    os.chown(p, owner.pw_uid, owner.pw_gid)
    os.chmod(p, mode)
    return p


d1, d2 = disk('d1.img'), disk('d2.img')
rootonly = disk('root.img', owner=pwd.getpwuid(0))
readonly = disk('ro.img', owner=pwd.getpwuid(0), mode=0o644)
outside = os.path.join(tmp, 'outside.img')
with open(outside, 'wb') as f:
    f.truncate(1 << 20)
os.chown(outside, admin_pw.pw_uid, admin_pw.pw_gid)
link = os.path.join(storage, 'shadow.img')
os.symlink('/etc/shadow', link)
blk = os.path.join(storage, 'blk.img')
os.mknod(blk, 0o666 | 0o060000, os.makedev(7, 0))  # a block device node (loop0)

audit = os.path.join(tmp, 'audit.log')
svc = Service(tmp, extra=['--admin-group', admins, '--operator-group', operators,
                          '--storage-dir', storage, '--audit-log', audit])
tap.ok(svc.start(), 'the service starts with an admin group, an operator group and a storage '
       'directory', svc.read_log()[-1000:])
st = os.stat(svc.sock)
tap.ok(st.st_mode & 0o777 == 0o666, 'the API socket is mode 0666: who may do what is decided '
       'from the caller\'s credentials', oct(st.st_mode))


def cli_as(role, *args, timeout=120):
    pw = ids[role]
    groups = {'admin': [gid_of(admins)], 'oper': [gid_of(operators)], 'stranger': []}[role]
    p = subprocess.run([cli_bin(), '--socket', svc.sock] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=timeout, user=pw.pw_uid,
                       group=pw.pw_gid, extra_groups=groups, env={'PATH': '/usr/bin:/bin'})
    return p.returncode, p.stdout, p.stderr


def inventory():
    out = {}
    for p in sorted(glob.glob(os.path.join(svc.state_dir, 'vms', '*'))):
        with open(p, 'rb') as f:
            out[os.path.basename(p)] = f.read()
    return out


def refused(role, args, desc, *needles):
    before = inventory()
    rc, out, err = cli_as(role, *args)
    good = rc == 1 and all(n.lower() in err.lower() for n in needles) and before == inventory()
    tap.ok(good, desc, f'rc {rc}\nstdout: {out}\nstderr: {err}')


def new_vm(role, name, *extra):
    return cli_as(role, 'new-vm', name, '--memory', '32M', '--kernel', kernel, '--cmdline', 'idle',
                  *extra)


# --- the admin: everything, from the storage directory only -------------------------------
rc, out, err = new_vm('admin', 'one', '--disk', d1)
tap.ok(rc == 0 and "VM 'one' created" in out, 'the admin creates a VM from files in the storage '
       'directory', out + err)
refused('admin', ['new-vm', 'k1', '--kernel', '/etc/shadow'], 'the admin cannot name /etc/shadow '
        'as a kernel', '/etc/shadow', 'outside the storage directories')
refused('admin', ['new-vm', 'k2', '--kernel', kernel, '--initrd', '/etc/shadow'],
        'nor as an initrd', 'initrd', 'outside the storage directories')
refused('admin', ['new-vm', 'k3', '--kernel', kernel, '--disk', '/etc/shadow'],
        'nor as a disk', 'disk', 'outside the storage directories')
refused('admin', ['new-vm', 'k4', '--kernel', kernel, '--disk', link],
        'a symlink in the storage directory to /etc/shadow is resolved and refused',
        'resolved to', '/etc/shadow', 'outside the storage directories')
refused('admin', ['new-vm', 'k5', '--kernel', kernel, '--disk', outside],
        'a file of its own outside the storage directories is refused', outside,
        'outside the storage directories')
refused('admin', ['new-vm', 'k6', '--kernel', kernel, '--disk', blk],
        'a block device in the storage directory is refused', 'is a block device',
        'only root')
refused('admin', ['new-vm', 'k7', '--kernel', kernel, '--disk', rootonly],
        'a file the admin itself cannot open is refused (checked with its credentials)',
        'cannot be opened read-write by user', users['admin'], 'Permission denied')
refused('admin', ['new-vm', 'k8', '--kernel', kernel, '--disk', d1],
        "another VM's disk is refused", "belongs to VM 'one'")
refused('admin', ['add-vmharddiskdrive', 'one', '/etc/shadow'],
        'add-vmharddiskdrive /etc/shadow is refused', 'outside the storage directories')
refused('admin', ['add-vmharddiskdrive', 'one', blk], 'add-vmharddiskdrive of a block device '
        'is refused', 'block device')
refused('admin', ['add-vmharddiskdrive', 'one', outside],
        'add-vmharddiskdrive of a file outside the storage directories is refused',
        'outside the storage directories')
refused('admin', ['add-vmharddiskdrive', 'one', readonly],
        'a disk the admin may only read is refused read-write', 'cannot be opened read-write',
        '--readonly')
rc, out, err = new_vm('admin', 'two')
tap.ok(rc == 0, 'new-vm two', err)
refused('admin', ['add-vmharddiskdrive', 'two', d1],
        "add-vmharddiskdrive of another VM's disk (that VM Off) is refused", "belongs to VM 'one'")
rc, res, err = svc.cli_json('get-vm', 'one')
tap.ok(rc == 0 and [d['path'] for d in res['vms'][0]['disks']] == [d1],
       'the refusals left the VM as it was', json.dumps(res) + err)
rc, out, err = cli_as('admin', 'add-vmharddiskdrive', 'two', readonly, '--readonly')
tap.ok(rc == 0, 'the same file --readonly is accepted', out + err)
rc, out, err = cli_as('admin', 'add-vmharddiskdrive', 'two', d2)
tap.ok(rc == 0, 'a disk of its own in the storage directory is accepted', out + err)
rc, out, err = svc.cli('add-vmharddiskdrive', 'two', outside)
tap.ok(rc == 0, 'root may attach a file outside the storage directories', out + err)

# --- the operator: power and reads, no configuration -------------------------------------
refused('oper', ['new-vm', 'op1', '--memory', '32M', '--kernel', kernel],
        'the operator cannot create a VM', 'needs root or the admin group', admins,
        'an operator only')
refused('oper', ['set-vm', 'one', '--notes', 'x'], 'nor change one', 'set-vm',
        'needs root or the admin group')
refused('oper', ['remove-vm', 'one'], 'nor remove one', 'remove-vm', 'admin group')
refused('oper', ['add-vmharddiskdrive', 'one', d2], 'nor attach a disk', 'admin group')
# The switch verbs change the host's network: admin only (refused before anything is made).
for args, what in ((['new-vmswitch', 'sw1', '--switch-type', 'private'], 'create a switch'),
                   (['remove-vmswitch', 'sw1'], 'remove a switch'),
                   (['add-vmnetworkadapter', 'one'], 'give a VM a network adapter'),
                   (['set-vmnetworkadapter', 'one', '--mac-address-spoofing', 'on'],
                    'change its port features'),
                   (['add-vmnetworkadapteracl', 'one', '--remote-ip-address', '10.0.0.0/8',
                     '--direction', 'both', '--action', 'allow'], 'add an ACL entry')):
    refused('oper', args, f'nor {what} ({args[0]})', args[0], 'admin group')
refused('stranger', ['get-vmswitch'], 'a stranger cannot list the switches', 'not')
rc, out, err = cli_as('oper', 'get-vmswitch')
tap.ok(rc == 0 and 'Name' in out, 'the operator reads the switches (get-vmswitch)', out + err)
rc, out, err = cli_as('oper', 'get-vm')
tap.ok(rc == 0 and 'one' in out and 'two' in out, 'the operator reads the VMs (get-vm)', out + err)
if kvm_available():
    rc, out, err = cli_as('oper', 'start-vm', 'one', timeout=180)
    tap.ok(rc == 0 and svc.state('one') == 'Running', 'the operator starts a VM', out + err)
    rc, out, err = cli_as('oper', 'stop-vm', 'one', '--turn-off', timeout=180)
    tap.ok(rc == 0 and svc.state('one') == 'Off', 'and stops it', out + err)
    rc, res, err = svc.cli_json('get-vmhistory', 'one')
    hist = res['history'] if res else []
    by = {(h['to'], h.get('user')) for h in hist}
    tap.ok(('Starting', users['oper']) in by and ('Stopping', users['oper']) in by and
           ('Off', users['admin']) in by,
           'get-vmhistory names who created, started and stopped the VM', json.dumps(hist))
    rc, out, err = svc.cli('get-vmhistory', 'one')
    tap.ok(rc == 0 and users['oper'] in out, 'and so does its table', out + err)
    # The console: the state directory is root's; the service passes the connected socket.
    rc, out, err = cli_as('admin', 'new-vm', 'echoer', '--memory', '32M', '--kernel', kernel,
                          '--cmdline', 'echo')
    rc2, out2, err2 = cli_as('oper', 'start-vm', 'echoer', timeout=180)
    time.sleep(1)
    pw = ids['oper']
    p = subprocess.Popen([cli_bin(), '--socket', svc.sock, 'console', 'echoer'],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         user=pw.pw_uid, group=pw.pw_gid, extra_groups=[gid_of(operators)],
                         env={'PATH': '/usr/bin:/bin'})
    time.sleep(1)
    try:
        cout, cerr = p.communicate(input=b'operator here q', timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        cout, cerr = p.communicate()
    tap.ok(rc == 0 and rc2 == 0 and b'operator here' in cout and b'console closed' in cerr,
           "the operator uses the VM's console (the service passes it the connected socket)",
           err + err2 + repr(cout) + repr(cerr))
    ok, v = svc.wait_vm('echoer', lambda v: v['state'] == 'Off', 30)  # 'q' powered it off
    tap.ok(ok, 'the echo guest powered off ("q")', json.dumps(v))
    refused('stranger', ['console', 'echoer'], 'the stranger cannot use a console',
            'may not use this parvis-vmms')
else:
    tap.skip('the operator starts and stops a VM', 'no /dev/kvm')

# --- the stranger: refused at connect ------------------------------------------------------
for args in (['get-vm'], ['start-vm', 'one'], ['new-vm', 's1', '--kernel', kernel]):
    refused('stranger', args, f'a user in neither group is refused at connect ({args[0]})',
            'may not use this parvis-vmms', users['stranger'], admins, operators,
            'permission-denied')

# --- the audit log ---------------------------------------------------------------------------
with open(audit) as f:
    recs = [json.loads(line) for line in f if line.strip()]
aid, oid, sid = (ids[r].pw_uid for r in ('admin', 'oper', 'stranger'))
have = lambda uid, call, ok, vm=None: any(
    r['uid'] == uid and r['call'] == call and r['ok'] == ok and (vm is None or r.get('vm') == vm)
    for r in recs)
tap.ok(have(aid, 'new-vm', True, 'one') and have(aid, 'new-vm', False, 'k1') and
       have(oid, 'new-vm', False, 'op1') and have(0, 'add-vmharddiskdrive', True, 'two') and
       have(sid, 'connect', False) and
       (not kvm_available() or (have(oid, 'start-vm', True, 'one') and
                                have(oid, 'stop-vm', True, 'one'))),
       'the audit log has every state-changing call with uid, VM and result, and the refused '
       'connection', '\n'.join(json.dumps(r) for r in recs[-30:]))
tap.ok(not any(r['call'] in ('get-vm', 'get-vmhistory') for r in recs),
       'reads are not audited', '')
failed = [r for r in recs if not r['ok']]
tap.ok(failed and all(r.get('error') for r in failed), 'refused calls carry their reason',
       json.dumps(failed[:3]))

svc.cli('stop-vm', 'one', '--turn-off')
svc.stop()
tap.done()

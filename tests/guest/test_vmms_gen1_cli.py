#!/usr/bin/env python3
"""Generation 1 through parvis-vmms and the parvis command, without a Linux guest (seconds).

Every refusal of the generation 1 verbs (each an error naming what is wrong, the inventory
unchanged): new-vm --generation and --boot-disk on generation 2, IDE disks, DVD drives,
legacy network adapters and set-vmbios on generation 2, IDE places out of range, taken or
all used, media changes without media or with both, drives that do not exist, IDE changes
while running. Then what works, with the tiny kernel (tests/guest/tiny) and SeaBIOS:
  - a generation 1 VM with an IDE disk, two DVD drives and an (unconnected) legacy adapter
    made purely with the verbs starts; its worker's configuration names them (generation 1,
    "ide", "dvds" with inherited descriptors, "legacy"), the worker reports the DEC 21140A;
    save-vm saves it with the adapter and start-vm restores it;
  - media change on the running VM: set-vmdvddrive --path and --no-media reach the jailed
    worker (its log says so) and the inventory keeps the new media across a service restart;
  - a generation 1 VM made with new-vm --boot-disk and no kernel starts its BIOS: SeaBIOS's
    debug log in the worker's log (the disk is empty: "No bootable device"), with the
    startup order of set-vmbios as its boot order.
"""
import glob
import json
import os
import tempfile
import time

from parvis_test import Tap, control, kvm_available, skip_all
from vmms_test import Service

tap = Tap()
if not kvm_available():
    skip_all('no /dev/kvm')
tiny = os.environ['PARVIS_TINY_KERNEL']
tmp = tempfile.mkdtemp(prefix='pvg1-', dir='/tmp')
svc = Service(tmp)


def sized(name, mib):
    p = os.path.join(tmp, name)
    with open(p, 'wb') as f:
        f.truncate(mib << 20)
    return p


def inventory():
    out = {}
    for p in sorted(glob.glob(os.path.join(svc.state_dir, 'vms', '*'))):
        with open(p, 'rb') as f:
            out[os.path.basename(p)] = f.read()
    return out


def refused(args, desc, *needles, rc_want=1):
    before = inventory()
    rc, out, err = svc.cli(*args)
    after = inventory()
    good = rc == rc_want and all(n.lower() in err.lower() for n in needles) and before == after
    tap.ok(good, desc, f'rc {rc}\nstdout: {out}\nstderr: {err}\ninventory changed: {before != after}')


def ok_json(desc, *args):
    rc, res, err = svc.cli_json(*args)
    tap.ok(rc == 0 and res is not None, desc, f'rc {rc}\n{json.dumps(res)}\n{err}')
    return res or {}


def run_dir(name):
    return os.path.join(svc.state_dir, 'run', svc.vm(name)['id'])


def wait_log(name, text, timeout):
    path = os.path.join(run_dir(name), 'worker.log')
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path, errors='replace') as f:
                log = f.read()
        except OSError:
            log = ''
        if text in log:
            return True, log
        time.sleep(0.5)
    return False, log


disk = sized('ide.img', 16)
disk2 = sized('ide2.img', 16)
scsi = sized('scsi.img', 16)
iso = sized('a.iso', 1)
iso2 = sized('b.iso', 1)
bootdisk = sized('boot.img', 16)

# --- the command line -----------------------------------------------------------------------
rc, out, err = svc.cli('help')
tap.ok(rc == 0 and all(v in out for v in ('add-vmdvddrive', 'get-vmdvddrive', 'set-vmdvddrive',
                                          'remove-vmdvddrive', 'set-vmbios', 'get-vmbios',
                                          '--generation 1|2', '--controller-type')),
       'parvis help lists the generation 1 verbs and options', out)
rc, out, err = svc.cli('new-vm', 'x', '--generation', '3', '--kernel', tiny)
tap.ok(rc == 2 and '--generation' in err and "'3'" in err, '--generation 3: usage error', err)
rc, out, err = svc.cli('add-vmharddiskdrive', 'x', disk, '--controller-type', 'floppy')
tap.ok(rc == 2 and '--controller-type' in err and 'floppy' in err,
       '--controller-type floppy: usage error', err)

tap.ok(svc.start(), 'parvis-vmms starts', svc.read_log())

# --- generation 2 refusals ------------------------------------------------------------------
refused(['new-vm', 'g2', '--boot-disk', bootdisk], 'generation 2 with --boot-disk is refused',
        'generation 2', 'UEFI', '--generation 1')
refused(['new-vm', 'g2', '--generation', '2', '--boot-disk', bootdisk],
        '--generation 2 --boot-disk is refused', 'generation 2 VM cannot boot from a disk')
refused(['new-vm', 'g2'], 'generation 2 without a kernel is refused', 'kernel', 'boot disk')
refused(['new-vm', 'g1both', '--generation', '1', '--kernel', tiny, '--boot-disk', bootdisk],
        'generation 1 with both a kernel and a boot disk', 'not both')
refused(['new-vm', 'g1cmd', '--generation', '1', '--boot-disk', bootdisk, '--cmdline', 'quiet'],
        'a command line without a kernel', 'command line needs a kernel', 'boot loader')
g2 = ok_json('new-vm generation 2 (the default)', 'new-vm', 'g2', '--memory', '32M', '--kernel',
             tiny, '--cmdline', 'idle', '--no-video')
tap.ok(g2.get('generation') == 2 and 'dvd_drives' not in g2, 'get-vm: generation 2',
       json.dumps(g2))
refused(['add-vmdvddrive', 'g2', '--path', iso], 'add-vmdvddrive on generation 2',
        'generation 2', 'generation 1', 'add-vmharddiskdrive --readonly')
refused(['add-vmharddiskdrive', 'g2', disk, '--controller-type', 'ide'],
        'an IDE disk on generation 2', 'generation 2', 'no IDE', 'scsi')
refused(['add-vmnetworkadapter', 'g2', '--is-legacy'], 'a legacy adapter on generation 2',
        'generation 2', 'synthetic', 'drop --is-legacy')
refused(['set-vmbios', 'g2', '--startup-order', 'IDE,CD'], 'set-vmbios on generation 2',
        'generation 2', 'no BIOS', 'UEFI')
refused(['get-vmbios', 'g2'], 'get-vmbios on generation 2', 'generation 2', 'no BIOS')
refused(['get-vmdvddrive', 'nosuch'], 'get-vmdvddrive of an unknown VM', "no VM named 'nosuch'")
refused(['set-vmdvddrive', 'g2', '--no-media'], 'set-vmdvddrive on generation 2', 'no DVD drive')

# --- generation 1: IDE places ------------------------------------------------------------------
g1 = ok_json('new-vm --generation 1 with a kernel and a disk', 'new-vm', 'g1', '--generation',
             '1', '--memory', '32M', '--kernel', tiny, '--cmdline', 'idle', '--no-video',
             '--disk', disk, '--disk', scsi)
disks = g1.get('disks', [])
tap.ok(g1.get('generation') == 1 and len(disks) == 2 and disks[0]['controller_type'] == 'IDE' and
       (disks[0]['controller'], disks[0]['lun']) == (0, 0) and disks[1]['controller_type'] == 'SCSI'
       and g1.get('dvd_drives') == [] and g1.get('boot_disk') is None,
       'generation 1: the first --disk on IDE 0:0, the next on SCSI; no BIOS boot disk with a '
       'kernel', json.dumps(g1))
refused(['add-vmharddiskdrive', 'g1', disk2, '--controller-type', 'ide', '--controller-number',
         '2'], 'IDE controller 2 does not exist', 'controller 2', 'controllers 0 and 1')
refused(['add-vmharddiskdrive', 'g1', disk2, '--controller-type', 'ide', '--controller-number',
         '0', '--controller-location', '0'], 'a taken IDE place', 'IDE 0:0', 'taken', disk)
refused(['add-vmdvddrive', 'g1', '--path', '/nonexistent.iso'], 'an ISO that does not exist',
        '/nonexistent.iso', 'does not exist')
dvd = ok_json('add-vmdvddrive with an ISO: IDE 1:0 (as Hyper-V puts it)', 'add-vmdvddrive', 'g1',
              '--path', iso)
tap.ok((dvd.get('controller_number'), dvd.get('controller_location'), dvd.get('path'),
        dvd.get('media')) == (1, 0, iso, 'ISO'), 'the drive: IDE 1:0 with its ISO', json.dumps(dvd))
dvd2 = ok_json('add-vmdvddrive without media', 'add-vmdvddrive', 'g1')
tap.ok((dvd2.get('controller_number'), dvd2.get('controller_location'), dvd2.get('media')) ==
       (1, 1, 'None'), 'the empty drive: IDE 1:1', json.dumps(dvd2))
res = ok_json('add-vmharddiskdrive --controller-type ide: the last free place',
              'add-vmharddiskdrive', 'g1', disk2, '--controller-type', 'ide')
tap.ok([(d['controller_type'], d['controller'], d['lun']) for d in res.get('disks', [])][-1] ==
       ('IDE', 0, 1), 'the second IDE disk on IDE 0:1', json.dumps(res))
refused(['add-vmdvddrive', 'g1'], 'all four IDE places taken', 'no free IDE location')
refused(['remove-vmharddiskdrive', 'g1', '--controller-type', 'ide', '--controller-number', '1',
         '--controller-location', '1'], 'remove an IDE disk where a DVD drive is', 'no disk at',
        'IDE controller 1')
res = ok_json('remove-vmharddiskdrive of the IDE disk at 0:1 (Off)', 'remove-vmharddiskdrive',
              'g1', '--controller-type', 'ide', '--controller-location', '1')
tap.ok(disk2 not in [d['path'] for d in res.get('disks', [])], 'the IDE disk is detached',
       json.dumps(res))
refused(['set-vmdvddrive', 'g1', '--path', iso2], 'set-vmdvddrive with two drives, none named',
        '2 DVD drives', '--controller-location')
refused(['set-vmdvddrive', 'g1', '--controller-location', '0'],
        'set-vmdvddrive without media or --no-media', '--path', '--no-media')
refused(['set-vmdvddrive', 'g1', '--controller-location', '0', '--path', iso2, '--no-media'],
        'set-vmdvddrive with both media and --no-media', 'one of them')
refused(['set-vmdvddrive', 'g1', '--controller-number', '0', '--controller-location', '1',
         '--no-media'], 'set-vmdvddrive of a drive that does not exist', 'no DVD drive at IDE 0:1')
refused(['set-vmbios', 'g1', '--startup-order', 'IDE,Tape'], 'a startup order naming no device',
        "'Tape' is not a device")
refused(['set-vmbios', 'g1', '--startup-order', 'IDE,ide'], 'a startup order naming one twice',
        'named twice')
bios = ok_json('get-vmbios: the default order', 'get-vmbios', 'g1')
tap.ok(bios.get('startup_order') == ['IDE', 'CD', 'LegacyNetworkAdapter', 'Floppy'],
       'the default startup order is IDE, CD, LegacyNetworkAdapter, Floppy', json.dumps(bios))
nic = ok_json('add-vmnetworkadapter --is-legacy (unconnected)', 'add-vmnetworkadapter', 'g1',
              '--is-legacy', '--name', 'Legacy')
tap.ok(nic.get('is_legacy') is True, 'the adapter is legacy', json.dumps(nic))

# --- the running generation 1 VM ---------------------------------------------------------------
rc, out, err = svc.cli('start-vm', 'g1')
tap.ok(rc == 0 and svc.state('g1') == 'Running', 'start-vm of the generation 1 VM', err + out)
rd = run_dir('g1')
with open(os.path.join(rd, 'vm.json')) as f:
    cfg = json.load(f)
ide = [d for d in cfg.get('disks', []) if d.get('ide')]
tap.ok(cfg.get('generation') == 1 and len(ide) == 1 and (ide[0]['controller'], ide[0]['lun']) ==
       (0, 0) and isinstance(ide[0].get('fd'), int) and
       [(d['controller'], d['lun'], 'fd' in d) for d in cfg.get('dvds', [])] ==
       [(1, 0, True), (1, 1, False)] and
       [n.get('legacy') for n in cfg.get('nics', [])] == [True] and
       [n.get('queues') for n in cfg.get('nics', [])] == [1],
       "the worker's configuration: generation 1, the IDE disk, both drives (the ISO as an "
       'inherited descriptor), the legacy adapter with one queue', json.dumps(cfg, indent=1))
st = control(os.path.join(rd, 'control.sock'), {'command': 'status'})
legacy = [n for n in (st or {}).get('network') or [] if n.get('legacy')]
tap.ok(len(legacy) == 1, 'the worker has the DEC 21140A', json.dumps((st or {}).get('network')))
# save-vm with the legacy adapter (its section dec21140.0), start-vm restores it
rc, out, err = svc.cli('save-vm', 'g1')
tap.ok(rc == 0 and svc.state('g1') == 'Saved' and svc.vm('g1')['pid'] is None,
       'save-vm of the generation 1 VM with its legacy adapter: Saved, no worker', out + err)
rc, out, err = svc.cli('start-vm', 'g1')
rd = run_dir('g1')
st = control(os.path.join(rd, 'control.sock'), {'command': 'status'}) if rc == 0 else None
legacy = [n for n in (st or {}).get('network') or [] if n.get('legacy')]
tap.ok(rc == 0 and svc.state('g1') == 'Running' and (st or {}).get('restored_from') and
       len(legacy) == 1, 'start-vm restores it: a new worker from the saved state, with the DEC 21140A',
       out + err + json.dumps(st)[:1500])
refused(['add-vmdvddrive', 'g1'], 'add-vmdvddrive while Running', 'while it is Off')
refused(['add-vmharddiskdrive', 'g1', disk2, '--controller-type', 'ide'],
        'an IDE disk while Running', 'added while it is Off')
refused(['remove-vmharddiskdrive', 'g1', disk], 'remove the IDE disk while Running',
        'no hot removal')
refused(['add-vmnetworkadapter', 'g1', '--is-legacy', '--name', 'L2'],
        'a legacy adapter while Running', 'while it is Off')
refused(['set-vmbios', 'g1', '--startup-order', 'CD,IDE'], 'set-vmbios while Running', 'Off')
res = ok_json('set-vmdvddrive --path on the running VM', 'set-vmdvddrive', 'g1',
              '--controller-location', '0', '--path', iso2)
ok, log = wait_log('g1', 'IDE 1:0: media changed', 30)
tap.ok(res.get('path') == iso2 and ok, 'the jailed worker changed the media of IDE 1:0',
       json.dumps(res) + log[-2000:])
res = ok_json('set-vmdvddrive --no-media on the running VM', 'set-vmdvddrive', 'g1',
              '--controller-location', '0', '--no-media')
ok, log = wait_log('g1', 'IDE 1:0: media ejected', 30)
tap.ok(res.get('media') == 'None' and ok, 'the worker ejected it', json.dumps(res) + log[-2000:])
res = ok_json('set-vmdvddrive --path into the empty drive', 'set-vmdvddrive', 'g1',
              '--controller-location', '1', '--path', iso)
ok, log = wait_log('g1', 'IDE 1:1: media changed', 30)
tap.ok(ok, 'the worker put media in IDE 1:1', log[-2000:])
rc, out, err = svc.cli('stop-vm', 'g1', '--turn-off')
tap.ok(rc == 0, 'stop-vm --turn-off', err)
svc.stop()
tap.ok(svc.start(), 'the service starts again', svc.read_log())
res = ok_json('get-vmdvddrive after the restart', 'get-vmdvddrive', 'g1')
tap.ok([(d['controller_location'], d['path']) for d in res.get('dvd_drives', [])] ==
       [(0, None), (1, iso)], 'the inventory kept the media changes', json.dumps(res))
res = ok_json('remove-vmdvddrive', 'remove-vmdvddrive', 'g1', '--controller-number', '1',
              '--controller-location', '0')
tap.ok([d['controller_location'] for d in res.get('dvd_drives', [])] == [1],
       'the drive at 1:0 is gone', json.dumps(res))

# --- BIOS boot ---------------------------------------------------------------------------------
b = ok_json('new-vm --generation 1 --boot-disk (no kernel)', 'new-vm', 'bios', '--generation',
            '1', '--memory', '64M', '--boot-disk', bootdisk, '--no-video')
tap.ok(b.get('boot_disk') == bootdisk and b.get('kernel') is None and
       [(d['controller_type'], d['controller'], d['lun']) for d in b.get('disks', [])] ==
       [('IDE', 0, 0)], 'the boot disk is on IDE 0:0 and is what the BIOS boots', json.dumps(b))
res = ok_json('set-vmbios --startup-order', 'set-vmbios', 'bios', '--startup-order',
              'cd,ide,floppy')
tap.ok(res.get('startup_order') == ['CD', 'IDE', 'Floppy'],
       "set-vmbios keeps the order in Hyper-V's spelling", json.dumps(res))
rc, out, err = svc.cli('start-vm', 'bios')
tap.ok(rc == 0, 'start-vm of a VM that boots through its BIOS (the old "cannot do yet" is gone)',
       err + out)
ok, log = wait_log('bios', 'No bootable device', 600)
tap.ok(ok and 'bios: Found QEMU fw_cfg' in log and
       'bios: 1: /pci@i0cf8/ide@1,1/drive@0/disk@0' in log,
       "SeaBIOS runs in the jailed worker, boots in set-vmbios's order (no CD-ROM: IDE first) "
       'and finds the empty disk unbootable', log[-3000:])
rc, out, err = svc.cli('stop-vm', 'bios', '--turn-off')
tap.ok(rc == 0, 'stop-vm --turn-off of the BIOS VM', err)
svc.stop()
tap.done()

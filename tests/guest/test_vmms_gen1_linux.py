#!/usr/bin/env python3
"""Generation 1 VMs made purely with the parvis verbs, booted by parvis-vmms in jailed workers
(the service's default), in a network namespace of its own (docs/generation1.md).

Three VMs boot at the same time (each Linux boot costs minutes on PVM hosts):
  bios: new-vm --generation 1 --boot-disk IMG (no kernel) with set-vmbios --startup-order
    IDE,CD: SeaBIOS boots the disk's MBR and GRUB (the image of tests/lib/grub_disk.py) prints
    the marker its grub.cfg echoes on COM1, in the VM's console log;
  lin: new-vm --generation 1 --kernel (the kit kernel, as a guest without integration
    components: initcall_blacklist=hv_acpi_init, ata_piix.prefer_ms_hyperv=0) with an idle
    initramfs (PVM hosts cannot run guest user space: the guest must stay up to answer
    pings), then add-vmharddiskdrive --controller-type ide (a copy of the kit's root disk),
    add-vmdvddrive --path (an ISO 9660 image), add-vmnetworkadapter --is-legacy --switch (an
    internal switch with the service's dnsmasq). The guest log must show ata_piix with the
    IDE disk and the ATAPI drive, sr0, the partition scan, the tulip driver on the DEC 21140A
    with the adapter's MAC and the kernel's DHCP answer from the switch; the host pings it;
  root: the same kernel with root=/dev/sda1 rw on IDE 0:0: a differencing VHDX (parvis vhd
    new --parent) over the kit's root disk converted to a dynamic VHDX by qemu-img, so that
    every guest write allocates a block in the child. ext4 mounts it read-write through IDE;
    afterwards the child has blocks allocated, the parent is unchanged and sound for
    qemu-img check, and the chain read back (parvis vhd convert) holds the mount count the
    guest wrote: block allocation through IDE inside the jail.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

from grub_disk import BIOS, GRUB_DIR, TOOLS, make_grub_disk
from idle_initramfs import cpio_newc, idle_init_elf
from netns_test import in_private_netns, sh
from parvis_test import Tap, kit, kvm_available, skip_all
from vmms_test import Service

MARKER = 'PARVIS_GEN1_SERVICE_GRUB'
LABEL = 'PARVIS_GEN1_SVC_ISO'
BOOT_TIMEOUT = 1800
if not kvm_available():
    skip_all('no /dev/kvm')
k = kit()
rootdisk = os.environ.get('KIT_ROOTDISK')
if not k or not rootdisk:
    skip_all('guest kit or its root disk not built (tools/guest-kit/build.sh --rootdisk)')
for need in (BIOS, os.path.join(GRUB_DIR, 'boot.img')):
    if not os.path.exists(need):
        skip_all(f'{need} is missing (seabios, grub-pc-bin: tools/packages.txt)')
for tool in TOOLS + ('genisoimage', 'qemu-img', 'dumpe2fs'):
    if not shutil.which(tool):
        skip_all(f'{tool} is not installed (tools/packages.txt)')
in_private_netns()
vmlinux, _, cmdline = k

tap = Tap()
tmp = tempfile.mkdtemp(prefix='pvg1l-', dir='/tmp')
sh('ip', 'link', 'set', 'lo', 'up')
svc = Service(tmp)
tap.ok(svc.start(), 'parvis-vmms starts in its own network namespace', svc.read_log())


def ok(desc, *args, timeout=120):
    rc, out, err = svc.cli(*args, timeout=timeout)
    tap.ok(rc == 0, desc, f'rc {rc}\n{out}\n{err}')
    return out


def console(name):
    try:
        with open(svc.vm(name)['console_log'], errors='replace') as f:
            return f.read()
    except (OSError, TypeError, KeyError):
        return ''


def wait_console(name, pattern, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(pattern, console(name), re.M)
        if m or svc.state(name) not in ('Running', 'Starting'):
            return m
        time.sleep(3)
    return None


def found(con, pattern, desc):
    m = re.search(pattern, con, re.M)
    tap.ok(m is not None, desc, 'not in the guest log: ' + pattern + '\n' + '\n'.join(
        l for l in con.splitlines()
        if re.search(r'ata|scsi|sd |sr |EXT4|VFS|tulip|eth0|IP-Config', l))[-3000:])
    return m


def vhdx_check(path):
    p = subprocess.run(['qemu-img', 'check', '-f', 'vhdx', path], capture_output=True, text=True,
                       timeout=300)
    return p.returncode == 0 and 'No errors were found' in p.stdout, p.stdout + p.stderr


# The disks, the ISO and the switch.
grub = make_grub_disk(tmp, MARKER)
vhdx = os.path.join(tmp, 'root.vhdx')
subprocess.run(['qemu-img', 'convert', '-O', 'vhdx', '-o', 'subformat=dynamic', rootdisk, vhdx],
               check=True, timeout=600)
child = os.path.join(tmp, 'root-child.vhdx')
subprocess.run([os.environ['PARVIS_CLI'], 'vhd', 'new', child, '--parent', vhdx], check=True,
               timeout=60)


def vhd_info(path):
    p = subprocess.run([os.environ['PARVIS_CLI'], 'vhd', 'inspect', path, '--json'],
                       capture_output=True, text=True, timeout=60)
    return json.loads(p.stdout) if p.returncode == 0 else {}


def mount_count(image):
    out = subprocess.run(['dumpe2fs', '-h', f'{image}?offset=1048576'], capture_output=True,
                         text=True, timeout=60).stdout
    m = re.search(r'^Mount count:\s*(\d+)', out, re.M)
    return int(m.group(1)) if m else None


count_before = mount_count(rootdisk)
rawcopy = os.path.join(tmp, 'root.raw')
subprocess.run(['cp', '--sparse=always', rootdisk, rawcopy], check=True, timeout=300)
initramfs = os.path.join(tmp, 'idle.cpio')
with open(initramfs, 'wb') as f:
    f.write(cpio_newc([('init', 0o100755, idle_init_elf())]))
tree = os.path.join(tmp, 'iso')
os.mkdir(tree)
with open(os.path.join(tree, 'README'), 'w') as f:
    f.write('the generation 1 service test ISO\n')
iso = os.path.join(tmp, 'test.iso')
subprocess.run(['genisoimage', '-quiet', '-r', '-V', LABEL, '-o', iso, tree], check=True,
               timeout=120)
ok('new-vmswitch lab (internal, dnsmasq)', 'new-vmswitch', 'lab', '--switch-type', 'internal',
   '--subnet', '10.79.0.0/24', '--dhcp', 'on')

# The BIOS VM.
ok('new-vm bios --generation 1 --boot-disk', 'new-vm', 'bios', '--generation', '1', '--memory',
   '128M', '--boot-disk', grub, '--no-video')
ok('set-vmbios bios --startup-order IDE,CD', 'set-vmbios', 'bios', '--startup-order', 'IDE,CD')

# The Linux VMs, purely from the verbs.
base = cmdline + ' initcall_blacklist=hv_acpi_init ata_piix.prefer_ms_hyperv=0'
ok('new-vm lin --generation 1 --kernel --initrd', 'new-vm', 'lin', '--generation', '1',
   '--memory', '256M', '--kernel', vmlinux, '--initrd', initramfs, '--no-video', '--cmdline',
   base + ' ip=dhcp')
ok('add-vmharddiskdrive lin --controller-type ide', 'add-vmharddiskdrive', 'lin', rawcopy,
   '--controller-type', 'ide', '--controller-number', '0', '--controller-location', '0')
ok('add-vmdvddrive lin --path ISO', 'add-vmdvddrive', 'lin', '--path', iso)
ok('add-vmnetworkadapter lin --is-legacy --switch lab', 'add-vmnetworkadapter', 'lin',
   '--is-legacy', '--switch', 'lab')
rc, ad, err = svc.cli_json('get-vmnetworkadapter', 'lin')
adapter = (ad or {}).get('adapters', [{}])[0]
mac = adapter.get('mac_address', '?').lower()
tap.ok(adapter.get('is_legacy') is True and adapter.get('connected'),
       'get-vmnetworkadapter: legacy, on the lab switch', str(ad) + err)
ok('new-vm root --generation 1 --kernel', 'new-vm', 'root', '--generation', '1', '--memory',
   '256M', '--kernel', vmlinux, '--no-video', '--cmdline', base + ' root=/dev/sda1 rw rootwait')
ok('add-vmharddiskdrive root VHDX --controller-type ide', 'add-vmharddiskdrive', 'root', child,
   '--controller-type', 'ide')

for name in ('bios', 'lin', 'root'):
    out = ok(f'start-vm {name}', 'start-vm', name, timeout=300)

# The BIOS VM: SeaBIOS to GRUB.
m = wait_console('bios', MARKER, BOOT_TIMEOUT)
con = console('bios')
tap.ok(m is not None and 'Booting from Hard Disk' in con,
       "SeaBIOS booted the IDE disk and GRUB printed its configuration's marker on COM1",
       con[-3000:])
ok('stop-vm bios --turn-off', 'stop-vm', 'bios', '--turn-off')

# The Linux VM.
m = wait_console('lin', r'IP-Config: Got DHCP answer from ([0-9.]+), my address is ([0-9.]+)',
                 BOOT_TIMEOUT)
tap.ok(m is not None and m.group(1) == '10.79.0.1',
       "the guest kernel's DHCP answer came through the DEC 21140A from the switch's dnsmasq",
       console('lin')[-3000:])
guest_ip = m.group(2) if m else '10.79.0.250'
subprocess.run(['ping', '-c', '3', '-W', '10', guest_ip], capture_output=True, timeout=60)
p = subprocess.run(['ping', '-c', '10', '-W', '10', '-i', '0.5', guest_ip], capture_output=True,
                   text=True, timeout=180)
got = re.search(r'(\d+) received', p.stdout)
tap.ok(got and int(got.group(1)) >= 3, 'the host pings the guest through the legacy adapter',
       p.stdout)
con = console('lin')
found(con, r'scsi host\d+: ata_piix', 'ata_piix bound the PIIX4 IDE function')
found(con, r'ata1\.00: ATA-7: Virtual HD, 1\.1\.0, max UDMA/33', 'the IDE disk on the primary channel')
found(con, r'ata2\.00: ATAPI: Msft Virtual CD/ROM', 'the ATAPI drive on the secondary channel')
found(con, r'sr \d+:0:0:0: \[sr0\] scsi3-mmc drive', 'sr: the CD-ROM')
found(con, r'\bsda: sda1\b', 'the partition scan read the disk through IDE')
found(con, rf'net eth0: Digital DS21140 Tulip rev 32 at Port 0xc100, {re.escape(mac)}',
      "tulip found the DEC 21140A with the adapter's MAC")
ok('stop-vm lin --turn-off', 'stop-vm', 'lin', '--turn-off')

m = wait_console('root', r'VFS: Mounted root \(ext4 filesystem\)|Kernel panic', BOOT_TIMEOUT)
con = console('root')
found(con, r'EXT4-fs \(sda1\): mounted filesystem', 'ext4 mounted sda1 from the IDE disk (VHDX)')
tap.ok(re.search(r'EXT4-fs \(sda1\): mounted filesystem.*read-only', con) is None and
       'VFS: Mounted root (ext4 filesystem) on device' in con, 'mounted read-write as the root',
       con[-2000:])
for name in ('lin', 'root'):
    bad = [l for l in console(name).splitlines()
           if re.search(r'I/O error|EXT4-fs error|exception Emask|failed command|timeout', l)]
    tap.ok(not bad, f'{name}: no I/O, ATA or ext4 errors in the guest log', '\n'.join(bad[:20]))
ok('stop-vm root --turn-off', 'stop-vm', 'root', '--turn-off')
info = vhd_info(child)
tap.ok(info.get('blocks_allocated', 0) > 0,
       "the child VHDX has blocks allocated: the guest's writes through IDE in the jail",
       json.dumps(info))
good, out = vhdx_check(vhdx)
tap.ok(good, 'qemu-img check: the parent is sound (and was never written)', out)
flat = os.path.join(tmp, 'flat.raw')
r = subprocess.run([os.environ['PARVIS_CLI'], 'vhd', 'convert', child, flat, '--format', 'raw'],
                   capture_output=True, text=True, timeout=600)
after = mount_count(flat) if r.returncode == 0 else None
tap.ok(count_before is not None and after == count_before + 1,
       'the chain read back holds the mount count the guest wrote through IDE',
       f'before {count_before}, after {after}; {r.stderr}')
svc.stop()
if tap.failed:
    print(f'# files kept in {tmp}')
else:
    shutil.rmtree(tmp, ignore_errors=True)
tap.done()

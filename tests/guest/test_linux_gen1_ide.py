#!/usr/bin/env python3
"""Generation 1 storage: the kit kernel as a guest without integration
components finds the PIIX4 IDE controller, mounts its ext4 root from the IDE
disk read-write, and reads an ISO 9660 image from the ATAPI CD-ROM.

The command line asks for the guest's VMBus driver to be kept from
starting (initcall_blacklist=hv_acpi_init: drivers/hv/vmbus_drv.c's init)
and for ata_piix.prefer_ms_hyperv=0, as a guest without integration
components behaves (initcall_blacklist matches by name: the kit kernel
has CONFIG_KALLSYMS for it). The worker runs with --generation 1: the kit's root
disk (tools/guest-kit/build-rootdisk.sh, raw) is on IDE 0:0 and an ISO made
by genisoimage (volume label PARVIS_GEN1_ISO) on IDE 1:0 (--dvd).

Boot 1, root=/dev/sda1 rw: libata must show the ATA disk's IDENTIFY (model
"Virtual HD", its LBA48 size) and the ATAPI drive's, sd and the partition
scan must read the disk, ext4 must mount it read-write, sr must find the
CD-ROM (INQUIRY, MODE SENSE page 2Ah) - and dumpe2fs on the host sees the
mount count the guest wrote through IDE.
Boot 2, root=/dev/sr0 (iso9660, no rootwait: the kernel waits for the
device probes before it mounts root, and a missing sr0 must panic and end
the boot rather than wait for ever) with init=/PARVIS_GEN1_ISO, a file on the
ISO named after its volume label: the kernel mounts the ISO as its root
and finds that file (exec fails with ENOEXEC, -8, as it is text; a file
the kernel could not find would be ENOENT, -2) - the directory and file
reads went through ATAPI READ(10).
Boot 3, the same VM with VMBus allowed (no blacklist, ata_piix's default): the
IDE disk is also offered over VMBus (storvsp with Hyper-V's IDE device class)
and the VM's SMBIOS says Hyper-V, so hv_storvsc owns the disk (ext4 root
mounted through it) and ata_piix keeps only the CD-ROM.
On PVM hosts init cannot run either way; the checks are in the kernel log.
"""
import os
import re
import shutil
import subprocess
import tempfile

from parvis_test import Tap, Worker, kit, kvm_available, skip_all

LABEL = 'PARVIS_GEN1_ISO'
tap = Tap()
if not kvm_available():
    skip_all('no /dev/kvm')
k = kit()
rootdisk = os.environ.get('KIT_ROOTDISK')
if not k or not rootdisk:
    skip_all('guest kit or its root disk not built (tools/guest-kit/build.sh --rootdisk)')
if not shutil.which('genisoimage'):
    skip_all('genisoimage is not installed (tools/packages.txt)')
vmlinux, _, cmdline = k
base = cmdline + ' initcall_blacklist=hv_acpi_init ata_piix.prefer_ms_hyperv=0'


def mount_count(image):
    out = subprocess.run(['dumpe2fs', '-h', f'{image}?offset=1048576'], capture_output=True,
                         text=True, timeout=60).stdout
    m = re.search(r'^Mount count:\s*(\d+)', out, re.M)
    return int(m.group(1)) if m else None


def boot(work, name, disk, iso, args, base_cmdline=None):
    console = os.path.join(work, name + '.log')
    w = Worker(['--kernel', vmlinux, '--memory', '512M', '--cpus', '1', '--no-reboot', '--no-video',
                '--generation', '1', '--serial', 'file:' + console, '--disk', disk, '--dvd', iso,
                '--cmdline', (base_cmdline or base) + ' ' + args], console,
               os.path.join(work, name + '.stderr'))
    rc = w.wait(1500)
    con = w.console()
    tap.ok(rc == 0, f'{name}: the worker ends with status 0 once the guest reboots (--no-reboot)',
           f'status {rc}\n{w.stderr()[-2000:]}\n{con[-3000:]}')
    w.close()
    return con


def found(con, pattern, desc):
    m = re.search(pattern, con, re.M)
    tap.ok(m is not None, desc, 'not in the guest log: ' + pattern + '\n' +
           '\n'.join(l for l in con.splitlines() if re.search(r'ata|scsi|sd |sr |ISO|EXT4|VFS|init', l))[-3000:])
    return m


work = tempfile.mkdtemp(prefix='parvis-gen1-')
try:
    disk = os.path.join(work, 'root.raw')
    subprocess.run(['cp', '--sparse=always', rootdisk, disk], check=True, timeout=300)
    before = mount_count(disk)
    tree = os.path.join(work, 'iso')
    os.mkdir(tree)
    with open(os.path.join(tree, LABEL), 'w') as f:
        f.write('the volume label of the Generation 1 test ISO\n')
    os.chmod(os.path.join(tree, LABEL), 0o755)
    iso = os.path.join(work, 'test.iso')
    r = subprocess.run(['genisoimage', '-quiet', '-r', '-V', LABEL, '-o', iso, tree],
                       capture_output=True, text=True, timeout=120)
    tap.ok(r.returncode == 0, 'genisoimage made the test ISO', r.stderr)

    con = boot(work, 'boot 1 (ext4 root on IDE)', disk, iso, 'root=/dev/sda1 rw rootwait')
    found(con, r'scsi host\d+: ata_piix', 'ata_piix bound the PIIX4 IDE function (8086:7111)')
    found(con, r'ata\d\.00: ATA-7: Virtual HD, 1\.1\.0, max UDMA/33', 'libata: the IDE disk\'s IDENTIFY model string')
    sectors = os.path.getsize(rootdisk) // 512
    found(con, rf'ata\d\.00: {sectors} sectors, multi 0: LBA48', 'libata: the disk\'s LBA48 capacity from IDENTIFY')
    found(con, r'ata\d\.00: ATAPI: Msft Virtual CD/ROM, 1\.0, max UDMA/33', 'libata: the ATAPI drive\'s IDENTIFY PACKET DEVICE')
    found(con, rf'sd \d+:0:0:0: \[sda\] {sectors} 512-byte logical blocks', 'sd: sda has the root disk\'s size')
    found(con, r'\bsda: sda1\b', 'the partition scan read the MBR through IDE')
    found(con, r'sr \d+:0:0:0: \[sr0\] scsi3-mmc drive', 'sr: the CD-ROM (INQUIRY, MODE SENSE capabilities page)')
    found(con, r'EXT4-fs \(sda1\): mounted filesystem', 'ext4 mounted sda1 from the IDE disk')
    tap.ok(re.search(r'EXT4-fs \(sda1\): mounted filesystem.*read-only', con) is None and
           'VFS: Mounted root (ext4 filesystem) on device' in con, 'mounted read-write as the root')
    bad = [l for l in con.splitlines() if re.search(r'I/O error|EXT4-fs error|exception Emask|failed command|timeout', l)]
    tap.ok(not bad, 'no I/O, ATA or ext4 errors in the guest log', '\n'.join(bad[:20]))
    after = mount_count(disk)
    tap.ok(before is not None and after == before + 1, 'dumpe2fs: the guest\'s mount count reached the disk through IDE',
           f'before {before}, after {after}')

    con = boot(work, 'boot 2 (ISO 9660 root on the CD-ROM)', disk, iso,
               f'root=/dev/sr0 rootfstype=iso9660 ro init=/{LABEL}')
    found(con, r'VFS: Mounted root \(iso9660 filesystem\) readonly on device 11:0',
          'the kernel mounted the ISO 9660 image on sr0 as its root')
    found(con, rf'Requested init /{LABEL} failed \(error -8\)',
          f'the ISO\'s file /{LABEL} (its volume label) was found and read: exec says ENOEXEC, not ENOENT')
    bad = [l for l in con.splitlines() if re.search(r'I/O error|exception Emask|failed command|Buffer I/O', l)]
    tap.ok(not bad, 'no I/O or ATA errors in the guest log', '\n'.join(bad[:20]))

    # Boot 3: the same VM with the guest's VMBus drivers allowed, as an enlightened guest on
    # Hyper-V: the IDE disk is also offered over VMBus (storvsp, IDE device class) and the
    # SMBIOS says Hyper-V, so hv_storvsc owns the disk and ata_piix keeps only the CD-ROM.
    before = mount_count(disk)
    con = boot(work, 'boot 3 (VMBus allowed)', disk, iso, 'root=/dev/sda1 rw rootwait',
               base_cmdline=cmdline)
    found(con, r'DMI: Microsoft Corporation Virtual Machine', "the guest reads the VM's SMBIOS")
    found(con, r'hv_vmbus: Vmbus version', 'VMBus came up')
    found(con, r'scsi host\d+: storvsc_host_t', 'hv_storvsc bound the IDE disk\'s VMBus offer')
    found(con, r'Hyper-V Virtual Machine detected, ATA device ignore set',
          'ata_piix saw Hyper-V in the SMBIOS and leaves the ATA disks')
    found(con, r'scsi \d+:0:0:0: Direct-Access\s+Msft\s+Virtual Disk',
          'the disk is storvsc\'s (INQUIRY "Msft Virtual Disk")')
    found(con, rf'sd \d+:0:0:0: \[sda\] {sectors} 512-byte logical blocks', 'sda is the root disk')
    tap.ok(re.search(r'ata\d\.00: ATA-7: Virtual HD', con) is None,
           'ata_piix did not attach the IDE disk', con[-3000:])
    found(con, r'ata\d\.00: ATAPI: Msft Virtual CD/ROM', 'ata_piix kept the CD-ROM')
    found(con, r'sr \d+:0:0:0: \[sr0\] scsi3-mmc drive', 'sr: the CD-ROM through ata_piix')
    found(con, r'EXT4-fs \(sda1\): mounted filesystem', 'ext4 mounted sda1 through hv_storvsc')
    tap.ok(re.search(r'EXT4-fs \(sda1\): mounted filesystem.*read-only', con) is None and
           'VFS: Mounted root (ext4 filesystem) on device' in con, 'mounted read-write as the root')
    bad = [l for l in con.splitlines() if re.search(r'I/O error|EXT4-fs error|exception Emask|failed command', l)]
    tap.ok(not bad, 'no I/O, ATA or ext4 errors in the guest log', '\n'.join(bad[:20]))
    after = mount_count(disk)
    tap.ok(before is not None and after == before + 1,
           'dumpe2fs: the mount count reached the disk through storvsp', f'before {before}, after {after}')
finally:
    if tap.failed and os.environ.get('PARVIS_KEEP'):
        print(f'# files kept in {work}')
    else:
        shutil.rmtree(work, ignore_errors=True)
tap.done()

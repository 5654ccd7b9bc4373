#!/usr/bin/env python3
"""Generation 1 BIOS boot: a Generation 1 VM given no kernel boots its IDE
disk through SeaBIOS (docs/generation1.md).

The disk is a raw image made here as a BIOS boot disk is made: an MBR
partition table (sfdisk) with one ext2 partition holding /boot/grub/grub.cfg
(mke2fs -d), GRUB's boot.img in the MBR and its core image (grub-mkimage -O
i386-pc, with the biosdisk, part_msdos and ext2 modules and the prefix
(hd0,msdos1)/boot/grub) in the sectors after it, as grub-bios-setup writes
them. grub.cfg sets GRUB's terminal to COM1 and echoes PARVIS_GRUB_MARKER.

What must be seen, in order, each waited for with a generous timeout (real
mode is emulated on PVM hosts: QEMU took 6.5 s to "Booting from Hard Disk"
and ~50 s more for GRUB's core image over IDE PIO there):
  - SeaBIOS's debug log (port 0x402) in the worker's log: fw_cfg found with
    its DMA interface, the e820 map from "etc/e820" (RAM up to the ACPI area
    at the top of low RAM), the boot order from --startup-order, the FADT
    of the worker's own ACPI tables found through the XSDT;
  - its banner and "Booting from Hard Disk..." on COM1 (SeaBIOS's serial
    console, "etc/sercon-port");
  - GRUB's marker from grub.cfg on COM1: GRUB read its core image and its
    configuration through the BIOS's disk services over the emulated IDE.
Then the worker's command line: --startup-order and --bios are refused
where they mean nothing.
"""
import os
import re
import shutil
import subprocess
import tempfile

import time

from grub_disk import BIOS, GRUB_DIR, make_grub_disk
from parvis_test import Tap, Worker, control, kvm_available, run_vmwp, skip_all

MARKER = 'PARVIS_GRUB_MARKER'
MEMORY_MIB = 128
tap = Tap()
if not kvm_available():
    skip_all('no /dev/kvm')
for need in (BIOS, os.path.join(GRUB_DIR, 'boot.img')):
    if not os.path.exists(need):
        skip_all(f'{need} is missing (seabios, grub-pc-bin: tools/packages.txt)')
for tool in ('grub-mkimage', 'sfdisk', 'mke2fs'):
    if not shutil.which(tool):
        skip_all(f'{tool} is not installed (tools/packages.txt)')


def make_disk(work):
    return make_grub_disk(work, MARKER)


def wait_for(w, source, pattern, timeout, desc):
    """Waits until pattern is in the console or the worker's log; says what was seen if not."""
    text = (lambda: w.console()) if source == 'console' else (lambda: w.stderr())
    ok = w.wait_console(lambda _: re.search(pattern, text(), re.M) is not None, timeout)
    seen = text()
    if source == 'stderr':
        seen = '\n'.join(l for l in seen.splitlines() if 'unassigned' not in l)
    tap.ok(ok, desc, f'not seen ({pattern}) in the {source}; it has:\n{seen[-3000:]}')
    return ok


work = tempfile.mkdtemp(prefix='parvis-gen1-bios-')
disk = make_disk(work)
console = os.path.join(work, 'com1.log')
ctl = os.path.join(work, 'control.sock')
w = Worker(['--generation', '1', '--memory', f'{MEMORY_MIB}M', '--cpus', '1', '--control', ctl,
            '--no-reboot', '--serial', 'file:' + console, '--disk', disk,
            '--startup-order', 'IDE,CD,LegacyNetworkAdapter,Floppy'],
           console, os.path.join(work, 'worker.stderr'))
acpi_area = (MEMORY_MIB << 20) - (128 << 10)
if wait_for(w, 'stderr', r'bios: SeaBIOS \(version', 600, 'SeaBIOS runs from the reset vector'):
    wait_for(w, 'stderr', r'bios: QEMU fw_cfg DMA interface supported', 300,
             'SeaBIOS finds fw_cfg and its DMA interface')
    wait_for(w, 'stderr', r'bios: qemu/e820: addr 0x0+ len 0x0*%x \[RAM\]' % acpi_area, 300,
             'SeaBIOS reads the e820 map from etc/e820: RAM up to the ACPI area')
    wait_for(w, 'stderr', r'bios: 1: /pci@i0cf8/ide@1,1/drive@0/disk@0\n.*bios: 2: '
             r'/pci@i0cf8/isa@1/fdc@03f0/floppy@0', 300,
             'SeaBIOS reads the boot order: the IDE disk first (no CD, the adapter has no ROM)')
    wait_for(w, 'stderr', r'bios: PCI: init bdf=00:00.0 id=8086:1237', 300,
             'SeaBIOS finds the i440FX host bridge')
    # The area's layout (boot/acpi_tables.c): RSDP at +0, FACS at +0x40, FADT at +0x80.
    wait_for(w, 'stderr', r'bios: table\(50434146\)=0x0*%x \(via xsdt\)' % (acpi_area + 0x80), 300,
             "SeaBIOS finds the worker's FADT through the RSDP that etc/table-loader placed")
    wait_for(w, 'stderr', r'bios: ata0-0: Virtual HD ATA', 300, 'SeaBIOS finds the IDE disk')
    wait_for(w, 'console', r'SeaBIOS \(version', 300, "SeaBIOS's banner on COM1 (sercon)")
    if wait_for(w, 'console', r'Booting from Hard Disk', 600,
                'SeaBIOS boots from the hard disk'):
        wait_for(w, 'console', MARKER, 1800, "GRUB's grub.cfg prints its marker on COM1")
        # The VGA's text screen (vgabios-stdvga drove it; sercon split the output to COM1).
        screen, deadline = [], time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                screen = (control(ctl, {'command': 'vga-text'}) or {}).get('rows') or []
            except OSError:
                screen = []
            if any('Booting from Hard Disk' in r for r in screen):
                break
            time.sleep(1)
        tap.ok(any(r.startswith('SeaBIOS (version') for r in screen) and
               any('Booting from Hard Disk' in r for r in screen),
               'the VGA text screen shows the banner and "Booting from Hard Disk"',
               'vga-text rows: ' + repr([r.rstrip() for r in screen if r.strip()]))
w.close()
tap.ok(w.proc.poll() is not None, 'the worker is gone once killed')

# The command line: the BIOS settings only mean something for generation 1 without a kernel.
rc, _, err = run_vmwp(['--generation', '1', '--disk', disk, '--startup-order', 'IDE,Tape'])
tap.ok(rc == 1 and "'Tape' is not IDE, CD, LegacyNetworkAdapter or Floppy" in err,
       '--startup-order with an unknown device is refused, naming it', f'status {rc}: {err}')
rc, _, err = run_vmwp(['--generation', '1', '--disk', disk, '--startup-order', 'IDE,CD,IDE'])
tap.ok(rc == 1 and 'IDE is named twice' in err, '--startup-order naming a device twice is refused',
       f'status {rc}: {err}')
rc, _, err = run_vmwp(['--kernel', disk, '--disk', disk, '--startup-order', 'IDE'])
tap.ok(rc == 1 and 'only a generation 1 VM without --kernel boots through the BIOS' in err,
       '--startup-order with a kernel (direct boot) is refused', f'status {rc}: {err}')
rc, _, err = run_vmwp(['--generation', '1', '--disk', disk, '--bios', console])
tap.ok(rc == 1 and 'is not a BIOS image' in err, 'a file that is not a BIOS image is refused',
       f'status {rc}: {err}')
shutil.rmtree(work, ignore_errors=True)
tap.done()

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
Then the console server (--vnc, the socket VMConnect and noVNC use) shows the
VGA: the screen is the text mode's size (80 x 25 cells of 9 x 16), each cell's
pixels are the 8x16 VGA font's glyph of the character vga-text reads there
(the font as src/emu/vga_font.c has it, taken from console-setup-linux), in
SeaBIOS's light grey on black (GRUB's "Welcome to GRUB!" line in reverse
video); while nothing changes, no update bigger than
one band of lines arrives (the blinking cursor's cell at most).
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
from rfb_client import RfbClient

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


def load_font():
    """{code: 16 row bytes} from the generated table (tools/gen_vga_font.py)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'src', 'emu',
                        'vga_font.c')
    font = {}
    with open(path) as f:
        for m in re.finditer(r'\[0x([0-9a-f]{2})\] = \{([^}]*)\}', f.read()):
            font[int(m.group(1), 16)] = [int(v, 16) for v in m.group(2).split(',')]
    return font


def check_screen(c, rows, tap):
    """Every cell of the RFB picture against vga-text's character there: its glyph, fg, bg."""
    font, bad, colours, cells = load_font(), [], set(), 0
    for cy, row in enumerate(rows):
        for cx, ch in enumerate(row):
            if ch == '.' or cy * 16 + 16 > c.height or cx * 9 + 9 > c.width:
                continue  # a byte vga-text does not show as itself
            x0, y0 = cx * 9, cy * 16
            bg = c.pixel(x0 + 8, y0)  # column 8 of a letter cell is background
            fg = None
            # Lines 0-12: the cursor (CRTC 0x0A-0x0B, lines 13-14 in vgabios's mode 3) is not in them.
            for y in range(13):
                bits = 0
                for x in range(8):
                    p = c.pixel(x0 + x, y0 + y)
                    if p != bg:
                        bits |= 0x80 >> x
                        fg = fg or p
                        if p != fg:
                            bad.append((cx, cy, 'two foreground colours'))
                if bits != font[ord(ch)][y]:
                    bad.append((cx, cy, ch, y, bits, font[ord(ch)][y]))
                    break
            cells += 1
            colours.add((fg or bg, bg))
    want = sum(1 for row in rows for ch in row if ch != '.')
    tap.ok(cells == want and cells > 0 and not bad,
           'the console server shows the VGA text: each cell is the VGA font\'s glyph of vga-text\'s character',
           f'{cells} of {want} cells compared; mismatches (cell, char, line, seen, font): {bad[:8]}')
    grey, black = (0xAA, 0xAA, 0xAA), (0, 0, 0)
    tap.ok(((grey, black) in colours and ((black, grey) in colours) and
            colours <= {(grey, black), (black, grey), (black, black), (grey, grey)}),
           "in the BIOS's colours: light grey (VGA colour 7 through the DAC) on black, and "
           "GRUB's 'Welcome to GRUB!' in reverse video (attribute 0x70)",
           f'(foreground, background) pairs: {colours}')


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
vnc = os.path.join(work, 'vnc.sock')
w = Worker(['--generation', '1', '--memory', f'{MEMORY_MIB}M', '--cpus', '1', '--control', ctl,
            '--no-reboot', '--serial', 'file:' + console, '--disk', disk, '--vnc', vnc,
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
        c = RfbClient(vnc)
        c.update(incremental=False)
        tap.ok((c.width, c.height) == (720, 400), 'the screen is 80 x 25 cells of 9 x 16 pixels',
               f'{c.width} x {c.height}')
        check_screen(c, screen, tap)
        # Nothing changes on the screen now (GRUB writes to COM1 only): what still arrives is
        # at most the cursor's blinking, a band of lines, never the whole screen again.
        rects, deadline = [], time.monotonic() + 3
        c.sock.settimeout(1.5)
        while time.monotonic() < deadline:
            try:
                rects += c.update(incremental=True, timeout=1)
            except Exception:
                pass
        c.sock.settimeout(30)
        c.tap(0x61)  # 'a': while the VGA is shown, keys go to the i8042 (the BIOS reads it)
        time.sleep(1)
        st = ((control(ctl, {'command': 'status'}) or {}).get('console') or {}).get('server', {})
        tap.ok(st.get('i8042_keys') == 2 and st.get('keys_unmapped') == 0,
               "the console's keys go to the i8042 while the VGA is shown (press and release)",
               f'console server status {st}')
        tap.ok(all(r[3] <= 16 and r[2] * r[3] < 720 * 400 // 8 for r in rects) and
               st.get('source') == 'vga' and st.get('vga_frames', 0) > 0,
               'an unchanged text screen sends no full update (only changed bands); status: source vga',
               f'rectangles {rects[:10]}, console server status {st}')
        c.close()
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

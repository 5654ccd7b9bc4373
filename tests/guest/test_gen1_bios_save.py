#!/usr/bin/env python3
"""A generation 1 VM started from its BIOS, saved and restored (docs/saved-state.md).

The disk is test_gen1_bios.py's (tests/lib/grub_disk.py) with a grub.cfg of its own: GRUB
writes to COM1 and to the screen (through the BIOS's int 10h, vgabios-stdvga on the VGA), echoes
PARVIS_GRUB_MARKER and then reads a line from the keyboard (GRUB's "read", the BIOS's int 16h
over the i8042), which it echoes back in PARVIS_ANSWER_<line>_END.

SeaBIOS is first saved in the middle of its POST, as soon as its debug log says it found fw_cfg
(it then reads its items: the e820 map, the boot order, the ACPI tables, the VGA BIOS), and
restored: it goes on (its debug log does not start again: no second "Found QEMU fw_cfg") to
the IDE disk and GRUB. Once the
marker is on COM1 the first key ('o') is typed through the console
server (RFB, as VMConnect types: the i8042 while the VGA is shown) and GRUB's echo of it waited
for. Then the control command "save" writes the VM to a file while GRUB waits in its read, and
the worker exits 0. `parvis-vmwp --restore FILE` (lazily, userfaultfd, where it can) with the
same configuration:
  - VGA text (control "vga-text") is the same, row for row, as just before the save (the
    registers from section "vga", the text from the RAM's 0xB8000), and so is the console
    server's picture but for the blinking cursor's cell (the DAC, palette and CRTC: without
    them the screen is black);
  - the restored guest did not boot again (one SeaBIOS banner and one marker on COM1);
  - GRUB still answers: 'k' and Return typed into the restored worker's console reach GRUB's
    read, which prints PARVIS_ANSWER_ok_END: the 'o' typed before the save was kept in GRUB's
    buffer, the i8042, PIC and BIOS keyboard state came back.
Once grub.cfg is done GRUB shows its command line ("grub>"); then the restored VM saves again
(its state, built by a restored machine) and a third worker restores it eagerly: its screen is
that of the second, and 'h' typed into it shows at GRUB's prompt. Last it migrates live
(control "migrate-send") to a fourth worker (--incoming): the same screen and picture, and 'i'
typed there shows as "grub> hi". The disk is read-only (GRUB only reads it; a shared lock), so
that source and destination can both hold it: handing a writable disk over at the switch-over
is not in the workers yet (docs/migration.md).

Every wait is for an event (a line on COM1, a status, a screen), with generous deadlines: real
mode is emulated on PVM hosts.
"""
import os
import shutil
import tempfile
import time

from grub_disk import BIOS, GRUB_DIR, TOOLS, make_grub_disk
from parvis_test import Tap, Worker, control, kvm_available, skip_all, wait_status
from rfb_client import RfbClient

MARKER = 'PARVIS_GRUB_MARKER'
ANSWER = 'PARVIS_ANSWER_ok_END'
CFG = f"""serial --unit=0 --speed=115200
terminal_input console
terminal_output serial console
echo {MARKER}
read answer
echo PARVIS_ANSWER_${{answer}}_END
"""
XK_O, XK_K, XK_H, XK_I, XK_RETURN = 0x6F, 0x6B, 0x68, 0x69, 0xFF0D

tap = Tap()
if not kvm_available():
    skip_all('no /dev/kvm')
for need in (BIOS, os.path.join(GRUB_DIR, 'boot.img'), os.path.join(GRUB_DIR, 'read.mod')):
    if not os.path.exists(need):
        skip_all(f'{need} is missing (seabios, grub-pc-bin: tools/packages.txt)')
for tool in TOOLS:
    if not shutil.which(tool):
        skip_all(f'{tool} is not installed (tools/packages.txt)')

work = tempfile.mkdtemp(prefix='parvis-gen1-bios-save-')
disk = make_grub_disk(work, MARKER, cfg=CFG, modules=('read',))
console = os.path.join(work, 'com1.log')
state_dir = os.path.join(work, 'states')
os.mkdir(state_dir)
state = os.path.join(state_dir, 'vm.state')
base = ['--generation', '1', '--memory', '128M', '--cpus', '1', '--no-reboot',
        '--serial', 'file:' + console, '--disk', disk + ',readonly', '--state-dir', state_dir]


def after_marker(text):
    """What COM1 has after GRUB's marker (GRUB's echo of typed keys, its answer)."""
    at = text.find(MARKER)
    return text[at + len(MARKER):] if at >= 0 else ''


def vga_text(ctl):
    r = control(ctl, {'command': 'vga-text'}, 60) or {}
    return r.get('rows') if r.get('ok') else None


def wait_screen(w, ctl, pred, timeout=600):
    """Polls vga-text until pred(rows); returns the last rows (None if never read)."""
    deadline, rows = time.monotonic() + timeout, None
    while time.monotonic() < deadline and w.proc.poll() is None:
        rows = vga_text(ctl)
        if rows and pred(rows):
            break
        time.sleep(0.5)
    return rows


def prompt_with(text):
    """GRUB's command line (normal mode, after grub.cfg) showing text typed at it."""
    return lambda rows: any(r.rstrip() == 'grub> ' + text or (not text and r.rstrip() == 'grub>')
                            for r in rows)


def typed(w, vnc, keysym, until, what, timeout=600):
    """Types keysym through the worker's console server; waits for until(COM1 after marker)."""
    c = RfbClient(vnc)
    c.tap(keysym)
    ok = w.wait_console(lambda t: until(after_marker(t)), timeout)
    c.close()
    tap.ok(ok, what, f'COM1 after the marker: {after_marker(w.console())!r}\n{w.stderr()[-2000:]}')
    return ok


def picture(vnc):
    """The console server's whole picture: (width, height, BGRX bytes)."""
    c = RfbClient(vnc)
    c.update(incremental=False)
    pic = (c.width, c.height, bytes(c.fb))
    c.close()
    return pic


def same_picture(a, b):
    """The text cells (9 x 16) whose pixels differ: at most the blinking cursor's may."""
    if a[:2] != b[:2]:
        return False, f'{a[:2]} against {b[:2]}'
    w, cells = a[0], set()
    for o in range(0, len(a[2]), 4):
        if a[2][o:o + 3] != b[2][o:o + 3]:
            cells.add(((o // 4) % w // 9, (o // 4) // w // 16))
    return len(cells) <= 1, f'cells that differ: {sorted(cells)[:20]}'


def done():
    shutil.rmtree(work, ignore_errors=True)
    tap.done()
    raise SystemExit(0)


# Saved in the middle of SeaBIOS's POST, as soon as it has found fw_cfg (it goes on reading its
# items: the RAM map, the boot order, the ACPI tables, the VGA BIOS).
ctl0 = os.path.join(work, 'control0')
w = Worker(base + ['--control', ctl0], console, os.path.join(work, 'stderr0'))
ok = w.wait_console(lambda _: 'bios: QEMU fw_cfg DMA interface supported' in w.stderr(), 1200)
tap.ok(ok, 'SeaBIOS runs and finds fw_cfg', w.stderr()[-2000:])
r = control(ctl0, {'command': 'save', 'path': state}, 300) if ok else None
tap.ok(r and r.get('ok'), f'saved during the POST ({r})', w.stderr()[-2000:])
tap.ok(w.wait(120) == 0, 'the worker exits 0 after the save', w.stderr()[-2000:])
w.close()
if not (r and r.get('ok')):
    done()
saved_bios_lines = w.stderr().count('bios: ')

# Restored, SeaBIOS goes on with fw_cfg where it was and boots GRUB.
ctl1, vnc1 = os.path.join(work, 'control1'), os.path.join(work, 'vnc1')
w = Worker(base + ['--control', ctl1, '--vnc', vnc1, '--restore', state], console,
           os.path.join(work, 'stderr1'))
ok = w.wait_console(lambda t: MARKER in t, 2400)
tap.ok(ok, 'restored in the POST, SeaBIOS boots GRUB, which prints its marker on COM1',
       w.console()[-2000:] + w.stderr()[-2000:])
if not ok:
    w.close()
    done()
err1 = w.stderr()
# "Found QEMU fw_cfg" comes before the line the save waited for: a second start would repeat it.
tap.ok('bios: Found QEMU fw_cfg' not in err1 and 'bios: ata0-0: Virtual HD' in err1,
       'SeaBIOS went on from where it was saved (no second start) and found the IDE disk',
       f'{saved_bios_lines} BIOS lines before the save; after:\n{err1[-3000:]}')
typed(w, vnc1, XK_O, lambda t: 'o' in t, "a key typed on the console before the save reaches GRUB's read (echoed)")
screen = vga_text(ctl1)
tap.ok(screen and any(MARKER in r for r in screen), "the VGA text screen shows GRUB's marker",
       repr(screen))
pic = picture(vnc1)
tap.ok(len({pic[2][o:o + 3] for o in range(0, len(pic[2]), 4)}) > 1,
       'the console server shows the VGA text (more than one colour) before the save',
       f'picture {pic[:2]}')
r = control(ctl1, {'command': 'save', 'path': state}, 300)
tap.ok(r and r.get('ok') and r.get('bytes', 0) > 0,
       f'a VM started from its BIOS saves while GRUB waits for a key ({r})', w.stderr()[-2000:])
rc = w.wait(120)
tap.ok(rc == 0, f'the worker exits 0 after the save (status {rc})', w.stderr()[-2000:])
w.close()
if not (r and r.get('ok')):
    done()
before = w.console()


def restored(n, extra, screen_before, pic_before, what):
    ctl, vnc = os.path.join(work, f'control{n}'), os.path.join(work, f'vnc{n}')
    w = Worker(base + ['--control', ctl, '--vnc', vnc] + extra, console,
               os.path.join(work, f'stderr{n}'))
    # restored_from is there from the start; "running" once the machine is built and loaded.
    ok, st = wait_status(ctl, lambda s: s and s.get('restored_from') and s.get('state') == 'running',
                         120)
    tap.ok(ok, f'{what}: the worker restores the saved state', w.stderr()[-3000:])
    if not ok:
        w.close()
        done()
    got = vga_text(ctl)
    tap.ok(got == screen_before, f'{what}: the VGA text screen is the one saved, row for row',
           f'saved {screen_before!r}\nrestored {got!r}')
    # The picture too: the registers (DAC, palette, CRTC, clocking) came back, not only RAM.
    ok, why = same_picture(pic_before, picture(vnc))
    tap.ok(ok, f"{what}: the console server's picture is the saved one's (but the cursor's cell)",
           why)
    return w, ctl, vnc, got


w2, ctl2, vnc2, screen2 = restored(2, ['--restore', state], screen, pic, 'restored')
ram = ((control(ctl2, {'command': 'status'}) or {}).get('restore_ram') or {})
tap.ok(ram.get('mode') == 'lazy' or (os.geteuid() != 0 and ram.get('why')),
       f'the RAM came lazily (userfaultfd) as root, or eagerly saying why ({ram})', '')
text = w2.console()
tap.ok(text.count('SeaBIOS (version') == 1 and text.count(MARKER) == 1,
       'the restored guest did not boot again (one banner, one marker on COM1)', text[-2000:])
typed(w2, vnc2, XK_K, lambda t: 'ok' in t, "a key typed into the restored worker's console reaches GRUB")
typed(w2, vnc2, XK_RETURN, lambda t: ANSWER in t,
      f"GRUB still answers: Return ends its read, which prints {ANSWER} (the key typed before the save is in it)")
# grub.cfg is done: GRUB clears the screen for its command line and waits for keys there.
screen2 = wait_screen(w2, ctl2, prompt_with(''))
tap.ok(screen2 and prompt_with('')(screen2), "then GRUB's command line is on the restored VGA screen",
       repr(screen2))
pic2 = picture(vnc2)

# Saved again by the restored machine, restored eagerly by a third worker.
state2 = os.path.join(state_dir, 'vm2.state')
r = control(ctl2, {'command': 'save', 'path': state2}, 300)
tap.ok(r and r.get('ok'), f'the restored VM saves again ({r})', w2.stderr()[-2000:])
rc = w2.wait(120)
w2.close()
if r and r.get('ok'):
    w3, ctl3, _, _ = restored(3, ['--restore', state2, '--restore-ram', 'eager'], screen2,
                              pic2, 'restored again, eagerly')
    # GRUB's command line, restored, still takes keys: 'h' typed shows at its prompt.
    c = RfbClient(os.path.join(work, 'vnc3'))
    c.tap(XK_H)
    rows = wait_screen(w3, ctl3, prompt_with('h'))
    c.close()
    tap.ok(rows and prompt_with('h')(rows), "GRUB's command line answers a key after the second restore",
           repr(rows))
    pic3 = picture(os.path.join(work, 'vnc3'))
    # Live migration to a fourth worker: the same device sections over the migration stream.
    sock, ctl4, vnc4 = (os.path.join(work, n) for n in ('incoming', 'control4', 'vnc4'))
    w4 = Worker(base + ['--control', ctl4, '--vnc', vnc4, '--incoming', sock], console,
                os.path.join(work, 'stderr4'))
    while not os.path.exists(sock) and w4.proc.poll() is None:
        time.sleep(0.1)
    r = control(ctl3, {'command': 'migrate-send', 'path': sock}, 600)
    tap.ok(r and r.get('ok') and (r.get('migration') or {}).get('state') == 'migrated',
           f'the restored BIOS VM migrates live to another worker ({r})', w3.stderr()[-2000:])
    rc = w3.wait(120)
    w3.close()
    ok, st = wait_status(ctl4, lambda s: s and s.get('state') == 'running', 120)
    got = vga_text(ctl4) if ok else None
    tap.ok(got == rows, 'after the migration the VGA text screen is the same',
           f'before {rows!r}\nafter {got!r}\n{w4.stderr()[-2000:]}')
    ok, why = same_picture(pic3, picture(vnc4))
    tap.ok(ok, "after the migration the console server's picture is the same", why)
    c = RfbClient(vnc4)
    c.tap(XK_I)
    rows = wait_screen(w4, ctl4, prompt_with('hi'))
    c.close()
    tap.ok(rows and prompt_with('hi')(rows), "GRUB answers a key on the destination",
           repr(rows))
    w4.close()
done()

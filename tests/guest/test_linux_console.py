#!/usr/bin/env python3
"""The VM's screen, keyboard and mouse with the kit kernel (Linux 6.1's own
hyperv_fb, fbcon, hyperv_keyboard and hid_hyperv), in one boot of a VM run by
parvis-vmms (so its worker is jailed, seccomp filters included), checked
from the guest's serial log, the worker's control status, the parvis
command (connect, get-vmscreenshot, get-vm --json, connect --web), an RFB
client of the test's own (tests/lib/rfb_client.py) and headless Chromium:

  - hyperv_fb binds (Generation 1 path: it finds the PCI function 1414:5353,
    its VRAM lands in the VMBus window), fbcon switches to it, the keyboard
    and the mouse bind;
  - a capture over the VM's RFB socket is neither blank nor uniform where
    the console's text is; get-vmscreenshot saves the same screen;
  - Alt+SysRq+H sent over RFB reaches the guest kernel, which prints its
    SysRq help ("sysrq: HELP") on the serial console, and the screen changes
    (DIRT updates); pointer events reach the mouse VSP (its counters);
  - two clients at once; one that disconnects mid-update and one that sends
    garbage leave the VM and the others running;
  - the web console (noVNC from the service) in headless Chromium shows the
    same screen as the RFB capture.
The TCP listener with its password is checked by test_console_server.py.

On PVM hosts guest user space cannot run; the idle initramfs keeps the kernel
up (see test_linux_vmbus.py). Every glyph is emulated kernel code there, so
the screen is 640x480 (video=hyperv_fb:640x480)."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

from idle_initramfs import cpio_newc, idle_init_elf
import linux_checks as lc
from parvis_test import Tap, control, kit, kvm_available, skip_all, wait_status
from headless_browser import BrowserError, HeadlessBrowser
from rfb_client import RfbClient, read_png_rgb
from vmms_test import Service

if not kvm_available():
    skip_all('no /dev/kvm')
if os.geteuid() != 0:
    skip_all('the jail needs root')
k = kit()
if not k:
    skip_all('guest kit not built (tools/guest-kit/build.sh)')
vmlinux, _, cmdline = k
BOOT_TIMEOUT = 2400

tap = Tap()
tmp = tempfile.mkdtemp(prefix='pvc-', dir='/tmp')
initramfs = os.path.join(tmp, 'idle.cpio')
with open(initramfs, 'wb') as f:
    f.write(cpio_newc([('init', 0o100755, idle_init_elf())]))
s = socket.socket()
s.bind(('127.0.0.1', 0))
web_port = s.getsockname()[1]
s.close()
svc = Service(tmp, extra=['--web', f'127.0.0.1:{web_port}'])
tap.ok(svc.start(), 'parvis-vmms starts with the web console', svc.read_log()[-800:])
rc, out, err = svc.cli('new-vm', 'screen', '--memory', '256M', '--kernel', vmlinux, '--initrd', initramfs,
                       '--cmdline', cmdline + ' console=tty0 console=ttyS0 video=hyperv_fb:640x480')
tap.ok(rc == 0, 'new-vm: video, keyboard and mouse by default', err)
vmj = svc.vm('screen') or {}
tap.ok(vmj.get('video') is True and (vmj.get('console') or {}).get('attached') is False,
       'get-vm --json: video on, no console attached', json.dumps(vmj.get('console')))
rc, out, err = svc.cli('start-vm', 'screen')
tap.ok(rc == 0, 'start-vm', out + err)
vmj = svc.vm('screen') or {}
con_path = vmj.get('console_log')
ctl = os.path.join(os.path.dirname(con_path), 'control.sock')
rc, out, err = svc.cli('connect', 'screen')
vnc = out.strip()
tap.ok(rc == 0 and vnc.endswith('/vnc.sock') and os.path.exists(vnc),
       'parvis connect prints the RFB socket\'s absolute path', out + err)


def console():
    try:
        return open(con_path, errors='replace').read()
    except OSError:
        return ''


def wait_console(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred(console()):
            return True
        time.sleep(1)
    return False


def lines(pattern):
    return '\n'.join(l for l in console().splitlines() if re.search(pattern, l, re.I))[-2500:]


def rgb_at(fb, i):
    """Pixel i of a B, G, R, X frame buffer as R, G, B bytes."""
    return bytes((fb[4 * i + 2], fb[4 * i + 1], fb[4 * i]))


def screen_ready(st):
    c = (st or {}).get('console') or {}
    v = c.get('video') or {}
    return v.get('width') == 640 and (c.get('mouse') or {}).get('ready') and \
        (c.get('keyboard') or {}).get('ready')


ok, st = wait_status(ctl, screen_ready, BOOT_TIMEOUT)
tap.ok(ok, 'the guest drives the video (640x480), keyboard and mouse (control status)',
       json.dumps((st or {}).get('console'))[:2000] + '\n' + console()[-1500:])
fb = wait_console(lambda c: 'Console: switching to colour frame buffer device' in c, BOOT_TIMEOUT)
con = console()
tap.ok('Synthvid Version major 3, minor 5' in con and 'Unable to find PCI Hyper-V video' not in con,
       'hyperv_fb: synthvid 3.5 negotiated, the PCI video function found', lines('hyperv_fb|synthvid'))
tap.ok(re.search(r'Screen resolution: 640x480, Color depth: 32', con) is not None,
       'hyperv_fb: 640x480, 32 bits (the guest\'s request honoured)', lines('hyperv_fb'))
tap.ok(fb, 'fbcon switched to the frame buffer', lines('Console:|fbcon|frame buffer'))
cv = ((st or {}).get('console') or {}).get('video') or {}
tap.ok(cv.get('version') == '3.5' and isinstance(cv.get('vram-gpa'), int) and cv['vram-gpa'] >= 1 << 30,
       'the VRAM is in the VMBus window (placed by a memory slot)', json.dumps(cv))
tap.ok(wait_console(lambda c: re.search(r'input: Microsoft Vmbus HID-compliant Mouse', c), 300),
       'the mouse binds ("input: Microsoft Vmbus HID-compliant Mouse")', lines('hid|mouse'))
tap.ok(re.search(r'input: AT Translated Set 2 keyboard', console()) is not None,
       'the keyboard binds (atkbd on hyperv_keyboard\'s port)', lines('keyboard|serio'))

# The screen over the Unix socket: not blank, not uniform where the text is.
a = RfbClient(vnc, timeout=120)
a.update(False, timeout=120)
tap.ok((a.width, a.height) == (640, 480) and a.security_types == [1],
       'Unix socket: no password, desktop 640x480', f'{a.security_types} {a.width}x{a.height}')


def text_visible(c):
    return len(c.colours(0, 0, c.width, c.height // 2, step=1)) >= 2


deadline = time.monotonic() + 600
while not text_visible(a) and time.monotonic() < deadline:
    time.sleep(2)
    a.update(False, timeout=120)
a.png(os.path.join(tmp, 'screen.png'))
top = a.colours(0, 0, a.width, a.height // 2)
tap.ok(len(top) >= 2 and top != {b'\0\0\0'}, 'the capture shows the console\'s text (not blank, not uniform)',
       f'{len(top)} colours in the top half; {tmp}/screen.png')

# A second client at once, and get-vmscreenshot: the same screen.
b = RfbClient(vnc, timeout=120)
# fbcon's cursor blinks: one 8x16 cell may differ between the two captures. The guest may
# also print a line between them (a loaded host stretches the gap): capture both again, a
# few times, until the screen holds still.
for _ in range(5):
    b.update(False, timeout=120)
    a.update(False, timeout=120)
    ndiff = sum(1 for i in range(0, 640 * 480) if b.fb[4 * i:4 * i + 3] != a.fb[4 * i:4 * i + 3])
    if ndiff <= 8 * 16:
        break
    time.sleep(2)
tap.ok((b.width, b.height) == (a.width, a.height) and ndiff <= 8 * 16,
       'two clients at once: the same screen (but the blinking cursor)', f'{ndiff} pixels differ')
shot = os.path.join(tmp, 'shot.png')
rc, out, err = svc.cli('get-vmscreenshot', 'screen', shot)
w, h, rgb = read_png_rgb(shot) if rc == 0 else (0, 0, b'')
a.update(False, timeout=120)
same = sum(1 for i in range(0, w * h, 97) if rgb[3 * i:3 * i + 3] == rgb_at(a.fb, i))
tap.ok(rc == 0 and (w, h) == (640, 480) and same >= 0.95 * len(range(0, w * h, 97)),
       'get-vmscreenshot saves the screen (PNG, the same pixels)', f'{out}{err} {w}x{h} {same}')
vmj = svc.vm('screen') or {}
tap.ok((vmj.get('console') or {}).get('attached') is True, 'get-vm --json: a console is attached',
       json.dumps(vmj.get('console')))

# A client that leaves mid-update and one that sends garbage.
c = RfbClient(vnc, timeout=60)
c.request(False)
c.sock.recv(64)
c.close()
g = socket.socket(socket.AF_UNIX)
g.connect(vnc)
g.sendall(b'RFB 003.008\n\x01' + os.urandom(300))
g.close()

# Alt+SysRq+H through the guest's own keyboard driver: the kernel prints its SysRq help.
before = bytes(a.fb)
a.tap(0xffe9, 0xff15, ord('h'))
tap.ok(wait_console(lambda c: 'sysrq: HELP' in c, 600), 'Alt+SysRq+H over RFB: the guest kernel printed "sysrq: HELP"',
       lines('sysrq'))
# More than the blinking cursor's cell: the help's text lines.
changed = False
deadline = time.monotonic() + 300
while not changed and time.monotonic() < deadline:
    rects = a.update(True, timeout=300)
    changed = sum(1 for i in range(0, 640 * 480, 3) if a.fb[4 * i:4 * i + 3] != before[4 * i:4 * i + 3]) > 8 * 16
tap.ok(changed and all(x + w <= a.width and y + h <= a.height for x, y, w, h, _ in rects),
       'the help text reached the screen through DIRT updates', str(rects[:4]))

# The pointer: absolute events reach the mouse VSP.
for x, y, mask in ((10, 10, 0), (320, 240, 1), (320, 240, 0), (639, 479, 0)):
    a.pointer(mask, x, y)
ok, st = wait_status(ctl, lambda s: ((s or {}).get('console') or {}).get('mouse', {}).get('reports_sent', 0) >= 4, 60)
cs = (st or {}).get('console') or {}
tap.ok(ok and cs.get('server', {}).get('pointer_events', 0) >= 4, 'pointer events reached the mouse VSP',
       json.dumps(cs)[:1500])
tap.ok(cs.get('attached') is True and cs.get('server', {}).get('clients') == 2,
       'the worker\'s status: a console is attached (2 clients)', json.dumps(cs.get('server')))
ks = cs.get('keyboard') or {}
tap.ok(ks.get('events_sent', 0) >= 6 and ks.get('bad_messages') == 0, 'the keyboard VSP sent the 6 key events',
       json.dumps(ks))
tap.ok(svc.state('screen') == 'Running', 'the VM kept running through the garbage and the disconnects')

# The web console: noVNC from the service, in headless Chromium, shows the same screen.
rc, out, err = svc.cli('connect', 'screen', '--web')
url = out.strip()
tap.ok(rc == 0 and url.startswith(f'http://127.0.0.1:{web_port}/vnc.html?') and 'path=console/' in url,
       'parvis connect --web prints the web console\'s URL', out + err)
chromium = shutil.which('chromium')
if not chromium:
    tap.skip('the web console in headless Chromium', 'chromium is not installed (tools/packages.txt)')
else:
    # The page is driven over the DevTools protocol (tests/lib/headless_browser.py) and waited
    # for in real time: noVNC's own status line says when it has connected. Chromium's screenshot
    # and the RFB capture are taken at different moments: compare the page with the captures just
    # before and just after it, a few times until they agree.
    pts = [(x, y) for y in range(0, 480, 23) for x in range(0, 640, 29)]

    def page_matches(prgb, pw, ph, fb):
        """How many sampled pixels match at the best offset of the 640x480 canvas on the page."""
        cap = {(x, y): rgb_at(fb, y * 640 + x) for x, y in pts}
        best = 0
        for dy in range(0, max(0, ph - 480) + 1, 2):
            for dx in range(0, max(0, pw - 640) + 1, 2):
                def px(x, y):
                    o = ((y + dy) * pw + x + dx) * 3
                    return prgb[o:o + 3]
                if sum(1 for (x, y) in pts[::7] if px(x, y) == cap[(x, y)]) >= 0.9 * len(pts[::7]):
                    best = max(best, sum(1 for (x, y) in pts if px(x, y) == cap[(x, y)]))
        return best, len(set(cap.values()))

    page = os.path.join(tmp, 'page.png')
    best, colours, pw, status = 0, 0, 0, None
    try:
        with HeadlessBrowser(chromium, 800, 600, cwd=tmp) as browser:
            browser.open(url.replace('resize=scale', 'resize=off'))
            status = browser.wait_for("((document.getElementById('noVNC_status') || {}).textContent || '')"
                                      ".includes('Connected') && document.getElementById('noVNC_status').textContent",
                                      240)
            for _ in range(10):
                a.update(False, timeout=120)
                before_fb = bytes(a.fb)
                with open(page, 'wb') as f:
                    f.write(browser.screenshot_png())
                a.update(False, timeout=120)
                pw, ph, prgb = read_png_rgb(page)
                for fb in (before_fb, bytes(a.fb)):
                    n, c = page_matches(prgb, pw, ph, fb)
                    if n > best:
                        best, colours = n, c
                if best >= 0.95 * len(pts) and colours >= 2:
                    break
                time.sleep(2)
    except BrowserError as e:
        status = f'{status}; {e}'
    tap.ok(pw and best >= 0.95 * len(pts) and colours >= 2,
           'the web console in headless Chromium: the page connects and shows the same screen as the RFB '
           'capture', f'{best} of {len(pts)} sampled pixels match; noVNC status {status!r}; {page}')
a.close()
b.close()
r = control(ctl, {'command': 'status'})
vs = ((r.get('console') or {}).get('video') or {})
tap.ok(vs.get('bad_messages') == 0 and vs.get('refused_vram') == 0 and vs.get('refused_modes') == 0,
       'the guest\'s video messages were all well-formed', json.dumps(vs))
rc, out, err = svc.cli('stop-vm', 'screen', '--turn-off')
ok, desc, diag = lc.check_guest_health(console(), status=r)
tap.ok(ok, desc, diag)
tap.done()
svc.stop()

#!/usr/bin/env python3
"""The VM's screen, keyboard and mouse with the kit kernel (Linux 6.1's own
hyperv_fb, fbcon, hyperv_keyboard and hid_hyperv), in one boot of a jailed
worker (its seccomp filters included), checked from the guest's serial log,
the worker's control status and RFB clients of the test's own
(tests/lib/rfb_client.py):

  - hyperv_fb binds (Generation 1 path: it finds the PCI function 1414:5353,
    its VRAM lands in the VMBus window), fbcon switches to it, the keyboard
    and the mouse bind;
  - a capture over the Unix socket is neither blank nor uniform where the
    console's text is; a second client over TCP (VNC authentication) gets the
    same screen, a wrong password is refused;
  - Alt+SysRq+H sent over RFB reaches the guest kernel, which prints its
    SysRq help ("sysrq: HELP") on the serial console, and the screen changes
    (DIRT updates);
  - pointer events reach the mouse VSP (its input-report counter);
  - a client that disconnects mid-update and one that sends garbage leave the
    VM and the other clients running.

On PVM hosts guest user space cannot run; the idle initramfs keeps the kernel
up (see test_linux_vmbus.py). Every glyph is emulated kernel code there, so
the screen is 640x480 (video=hyperv_fb:640x480)."""
import json
import os
import re
import socket
import subprocess
import tempfile
import time

from idle_initramfs import cpio_newc, idle_init_elf
import linux_checks as lc
from parvis_test import Tap, control, kit, kvm_available, skip_all, vmwp, wait_status
from rfb_client import RfbClient, RfbError

if not kvm_available():
    skip_all('no /dev/kvm')
if os.geteuid() != 0:
    skip_all('the jail needs root')
k = kit()
if not k:
    skip_all('guest kit not built (tools/guest-kit/build.sh)')
vmlinux, _, cmdline = k
BOOT_TIMEOUT = 1500
JAIL_UID = 2130707300
PASSWORD = 'screen42'

tap = Tap()
tmp = tempfile.mkdtemp(prefix='parvis-console-')
os.chmod(tmp, 0o755)
initramfs = os.path.join(tmp, 'idle.cpio')
with open(initramfs, 'wb') as f:
    f.write(cpio_newc([('init', 0o100755, idle_init_elf())]))
pwfile = os.path.join(tmp, 'password')
with open(pwfile, 'w') as f:
    f.write(PASSWORD + '\n')
vnc = os.path.join(tmp, 'vnc.sock')
ctl = os.path.join(tmp, 'control')
con_path = os.path.join(tmp, 'console')
# The jailed worker's network namespace is empty: the TCP listener is made here and inherited.
lsock = socket.socket()
lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lsock.bind(('127.0.0.1', 0))
lsock.listen(8)
port = lsock.getsockname()[1]
args = [vmwp(), '--kernel', vmlinux, '--initrd', initramfs, '--memory', '256M',
        '--cmdline', cmdline + ' console=tty0 console=ttyS0 video=hyperv_fb:640x480',
        '--serial', 'file:' + con_path, '--control', ctl, '--shutdown-timeout', '30',
        '--vnc', vnc, '--vnc-tcp-fd', str(lsock.fileno()), '--vnc-password-file', pwfile,
        '--jail', f'{JAIL_UID}:{JAIL_UID}', '--exit-stats', os.path.join(tmp, 'stats.json')]
stderr = open(os.path.join(tmp, 'stderr'), 'w')
proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                        pass_fds=[lsock.fileno()])
lsock.close()


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
        if proc.poll() is not None:
            return pred(console())
        time.sleep(1)
    return False


def lines(pattern):
    return '\n'.join(l for l in console().splitlines() if re.search(pattern, l, re.I))[-2500:]


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

# TCP: a wrong password is refused; the right one shows the same screen.
try:
    RfbClient(('127.0.0.1', port), password='wrong!', timeout=60)
    refused = False
except RfbError as e:
    refused = 'failed' in str(e)
tap.ok(refused, 'TCP: a wrong password is refused')
b = RfbClient(('127.0.0.1', port), password=PASSWORD, timeout=120)
b.update(False, timeout=120)
a.update(False, timeout=120)
tap.ok(b.security == 2 and b.fb == a.fb, 'TCP with VNC authentication: the same screen as the Unix socket',
       f'{b.width}x{b.height}')

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
changed = False
deadline = time.monotonic() + 300
while not changed and time.monotonic() < deadline:
    rects = a.update(True, timeout=300)
    changed = bytes(a.fb) != before
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
       'the status says a console is attached (2 clients)', json.dumps(cs.get('server')))
ks = cs.get('keyboard') or {}
tap.ok(ks.get('events_sent', 0) >= 6 and ks.get('bad_messages') == 0, 'the keyboard VSP sent the 6 key events',
       json.dumps(ks))
tap.ok(proc.poll() is None, 'the VM kept running through the garbage and the disconnects')
a.close()
b.close()
r = control(ctl, {'command': 'status'})
vs = ((r.get('console') or {}).get('video') or {})
tap.ok(vs.get('bad_messages') == 0 and vs.get('refused_vram') == 0 and vs.get('refused_modes') == 0,
       'the guest\'s video messages were all well-formed', json.dumps(vs))
proc.kill()
proc.wait()
stderr.close()
ok, desc, diag = lc.check_guest_health(console(), status=r)
tap.ok(ok, desc, diag)
tap.done()

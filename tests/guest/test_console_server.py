#!/usr/bin/env python3
"""The console server (src/vmwp/rfb_server.c) with its devices, over a guest
played by tests/lib/console_driver.c (no kernel, no /dev/kvm): RFB on the
Unix socket (no password) and on loopback TCP (VNC authentication), several
clients at once, updates from the guest's DIRT, the desktop size following
the guest's mode, keys as set-1 scan codes with modifiers and SysRq, the
pointer as absolute HID reports; and hostile peers: a wrong password, a
client that leaves in the middle of an update, a client sending garbage, a
guest sending malformed messages. Each ends in an error and a counter,
and the server keeps serving."""
import json
import os
import socket
import subprocess
import tempfile
import time

from parvis_test import Tap
from rfb_client import RfbClient, RfbError, read_messages

DRIVER = os.environ['PARVIS_CONSOLE_DRIVER']
tap = Tap()
tmp = tempfile.mkdtemp(prefix='parvis-console-')
sock_path = os.path.join(tmp, 'vnc.sock')
s = socket.socket()
s.bind(('127.0.0.1', 0))
port = s.getsockname()[1]
s.close()
PASSWORD = 'pa55word'
drv = subprocess.Popen([DRIVER, sock_path, f'127.0.0.1:{port}', PASSWORD], stdin=subprocess.PIPE,
                       stdout=subprocess.PIPE, text=True)


def cmd(line, until=None):
    drv.stdin.write(line + '\n')
    drv.stdin.flush()
    out = []
    while True:
        ln = drv.stdout.readline()
        if not ln:
            raise RuntimeError('the driver exited')
        ln = ln.strip()
        out.append(ln)
        if until is None or ln == until:
            return out


def stats():
    return json.loads(cmd('stats')[0])


tap.ok(drv.stdout.readline().strip() == 'ready', 'the played guest has its 1024x768 screen')
a = RfbClient(sock_path)
tap.ok(a.security_types == [1] and (a.width, a.height) == (1024, 768),
       'Unix socket: security None, desktop 1024x768', f'{a.security_types} {a.width}x{a.height}')
a.update(False)
b = RfbClient(('127.0.0.1', port), password=PASSWORD)
tap.ok(b.security == 2 and (b.width, b.height) == (1024, 768), 'TCP: VNC authentication, desktop 1024x768')
b.update(False)
try:
    RfbClient(('127.0.0.1', port), password='wrong')
    refused = False
except RfbError as e:
    refused = 'failed' in str(e)
tap.ok(refused, 'TCP: a wrong password is refused')
try:
    RfbClient(('127.0.0.1', port))
    refused = False
except RfbError:
    refused = True
tap.ok(refused, 'TCP: no password, no access (only VNC authentication offered)')

# Two clients at once get the same update from one DIRT.
a.request(True)
b.request(True)
cmd('fill 10 200 30')
read_messages([a, b])
tap.ok(a.pixel(100, 100) == (10, 200, 30) and b.pixel(1000, 700) == (10, 200, 30),
       'two clients: both show the guest\'s new screen', f'{a.pixel(100, 100)} {b.pixel(1000, 700)}')
# A one-line DIRT gives a one-line update.
a.request(True)
cmd('line 320')
m = a.read_message()
tap.ok(m[0] == 'update' and m[1] and all(y >= 320 and y + h <= 336 for _, y, _, h, _ in m[1]),
       'a DIRT of one text line is sent as that line only', str(m))
tap.ok(len(a.colours(0, 320, 1024, 336)) >= 2, 'the line\'s pixels arrived (not uniform)')

# The guest changes its resolution: the desktop follows (DesktopSize), then absurd ones are refused.
a.request(True)
tap.ok(cmd('mode 1280 1024') == ['ok'], 'the guest sets 1280x1024')
m = a.read_message()
tap.ok(m[0] == 'update' and (a.width, a.height) == (1280, 1024), 'the client\'s desktop is now 1280x1024',
       f'{m} {a.width}x{a.height}')
a.drain()
tap.ok(cmd('mode 9000 9000') == ['refused'] and stats()['width'] == 1280,
       'an absurd resolution (9000x9000) is refused; the screen keeps 1280x1024')
cmd('mode 1024 768')
time.sleep(0.3)
a.update(False)
b.update(False)
a.drain()
b.drain()

# Keys: keysyms to set 1 with modifiers, E0 keys, Alt+SysRq.
cmd('keys', 'end')
a.tap(0xffe9, 0xff15, ord('h'))          # Alt_L + Sys_Req + h
a.tap(0xffe1, ord('A'))                  # Shift_L + 'A'
a.tap(0xffe4, 0xff52)                    # Control_R + Up
a.tap(0x1234567)                         # no such key
time.sleep(0.5)
keys = [tuple(int(v, 16) for v in ln.split()[1:]) for ln in cmd('keys', 'end') if ln.startswith('key')]
want = [(0x38, 0), (0x54, 0), (0x23, 0), (0x23, 2), (0x54, 2), (0x38, 2),
        (0x2a, 0), (0x1e, 0), (0x1e, 2), (0x2a, 2),
        (0x1d, 4), (0x48, 4), (0x48, 6), (0x1d, 6)]
tap.ok(keys == want, 'keys: Alt+SysRq+H, Shift+A, Right Ctrl+Up as set-1 codes (E0 and break flags)',
       f'{keys}')
tap.ok(stats()['keys_unmapped'] == 2, 'a keysym with no key is counted (press and release), not sent')

# Pointer: absolute, scaled to 0..32767, buttons mapped (RFB middle/right to HID's order).
cmd('mouse', 'end')
a.pointer(0, 0, 0)
a.pointer(1, 1023, 767)
a.pointer(4, 512, 384)
a.pointer(0, 512, 384)
a.pointer(8, 512, 384)
time.sleep(0.5)
reps = [ln.split()[1] for ln in cmd('mouse', 'end') if ln.startswith('report')]
want = ['00000000000000', '01ff7fff7f0000', '020f4014400000', '000f4014400000', '000f4014400100']
tap.ok(reps == want, 'pointer: absolute reports, left and right buttons, a wheel step', f'{reps}')

# A client that leaves mid-update: asks for the whole screen and closes before reading it.
for _ in range(3):
    c = RfbClient(sock_path)
    c.request(False)
    c.sock.recv(100)
    c.close()
cmd('fill 1 2 3')
a.update(True)
tap.ok(a.pixel(0, 0) == (1, 2, 3), 'clients leaving mid-update: the others still get updates')
# Garbage: a client speaking nonsense after the handshake, and one before it.
g = RfbClient(sock_path)
g.sock.sendall(bytes([0xC7] * 64) + b'\x03' * 3)
g2 = socket.socket(socket.AF_UNIX)
g2.connect(sock_path)
g2.sendall(b'GET / HTTP/1.0\r\n\r\n' + os.urandom(200))
time.sleep(1)
st = stats()
cmd('fill 4 5 6')
a.update(True)
tap.ok(a.pixel(5, 5) == (4, 5, 6) and st['clients'] >= 2, 'garbage clients: dropped, the server keeps serving',
       json.dumps(st))
# The guest's malformed messages: errors and counters.
tap.ok(cmd('garbage') == ['done'], 'the played guest sent malformed video, keyboard and mouse messages')


def counted(s):
    return s['video_bad_messages'] >= 1 and s['dirt_clipped'] >= 1 and s['refused_modes'] >= 1 and \
        s['keyboard_bad_messages'] >= 1 and s['mouse_bad_messages'] >= 1


deadline = time.monotonic() + 10  # the channels' loops take them in their own time
st = stats()
while not counted(st) and time.monotonic() < deadline:
    time.sleep(0.1)
    st = stats()
tap.ok(st['video_bad_messages'] >= 1 and st['dirt_clipped'] >= 1 and st['refused_modes'] >= 1 and
       st['keyboard_bad_messages'] >= 1 and st['mouse_bad_messages'] >= 1,
       'each device counted its malformed messages', json.dumps(st))
cmd('fill 7 8 9')
b.update(True)
tap.ok(b.pixel(9, 9) == (7, 8, 9), 'and the screen still updates')
a.close()
b.close()
# The guest's pointer shape as the cursor of a client that takes cursor shapes (RichCursor,
# PointerPos); the raw-only clients above are gone: with one of them connected the server
# installs no cursor (libvncserver would draw it into the guest's VRAM).
r = RfbClient(sock_path, cursor=True)
r.update(False)
tap.ok(cmd('cursor') == ['done'], 'the played guest sent a pointer shape and position')


def wait_cursor(client, want, timeout=20):
    deadline = time.monotonic() + timeout
    old = client.sock.gettimeout()
    client.sock.settimeout(1)
    try:
        while time.monotonic() < deadline and not want(client):
            client.request(True)
            try:
                client.read_message()
            except (socket.timeout, TimeoutError):
                pass
    finally:
        client.sock.settimeout(old)
    return want(client)


got = wait_cursor(r, lambda c: c.cursor is not None and c.pointer_pos == (100, 50))
cur = r.cursor or {}
px = cur.get('pixels', b'')
tap.ok(got and cur['size'] == (3, 2) and cur['hot'] == (1, 1) and cur['mask'] == b'\xc0\xc0' and
       px[0:4] == b'\x00\x00\xff\x00' and px[12:16] == b'\xff\x00\x00\x00',
       'RichCursor: the guest\'s 3x2 shape, hot spot, mask from its alpha; PointerPos 100,50',
       f'{cur.get("size")} {cur.get("hot")} {cur.get("mask")!r} {px[:16].hex()} pos {r.pointer_pos}')
cmd('cursor bad')
deadline = time.monotonic() + 10
while stats()['cursor_refused'] < 1 and time.monotonic() < deadline:
    time.sleep(0.1)
st = stats()
tap.ok(st['cursor_shapes'] == 1 and st['cursor_refused'] == 1,
       'a shape whose hot spot is outside it is counted, not sent', json.dumps(st))
got = wait_cursor(r, lambda c: c.cursor is not None and c.cursor['size'] == (0, 0))
tap.ok(got, 'and the client is given back its own pointer (an empty cursor)', str(r.cursor and r.cursor['size']))
r.close()
drv.stdin.write('quit\n')
drv.stdin.flush()
tap.ok(drv.wait(timeout=30) == 0, 'the driver (server and devices) shut down cleanly')
tap.done()

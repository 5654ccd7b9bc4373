#!/usr/bin/env python3
"""The screen through the service, with the tiny kernel (seconds per VM; it
drives no video, so the screen is the worker's blank 640x480): parvis
connect (the RFB socket's path), connect-vm with a passed connection,
get-vmscreenshot, get-vm's console/attached, --no-video and set-vm --video,
and the web console (parvis-vmms --web): noVNC's files with their types,
paths outside them refused, a websocket only with a token the API gave,
bridged to the worker's RFB socket (libvncserver answers the handshake),
and the page in headless Chromium connecting. The workers run jailed (the
service's default): libvncserver's websocket code runs under the seccomp
filters."""
import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

from headless_browser import BrowserError, HeadlessBrowser
from parvis_test import Tap, kvm_available, skip_all
from rfb_client import RfbClient, read_png_rgb
from vmms_test import Service

if not kvm_available():
    skip_all('no /dev/kvm')
if os.geteuid() != 0:
    skip_all('the jail needs root')
tiny = os.environ['PARVIS_TINY_KERNEL']
tap = Tap()
tmp = tempfile.mkdtemp(prefix='pvw-', dir='/tmp')
s = socket.socket()
s.bind(('127.0.0.1', 0))
port = s.getsockname()[1]
s.close()
svc = Service(tmp, extra=['--web', f'127.0.0.1:{port}'])
tap.ok(svc.start(), 'parvis-vmms starts with --web', svc.read_log()[-600:])
rc, _, err = svc.cli('new-vm', 'scr', '--memory', '32M', '--kernel', tiny, '--cmdline', 'idle')
tap.ok(rc == 0 and (svc.vm('scr') or {}).get('video') is True, 'new-vm: video by default', err)
rc, _, err = svc.cli('new-vm', 'blind', '--memory', '32M', '--kernel', tiny, '--cmdline', 'idle', '--no-video')
tap.ok(rc == 0 and (svc.vm('blind') or {}).get('video') is False, 'new-vm --no-video', err)
rc, out, err = svc.cli('set-vm', 'scr', '--console-tcp', 'on')
tap.ok(rc == 0 and (svc.vm('scr') or {}).get('console_tcp') is True, 'set-vm --console-tcp on', out + err)
for n in ('scr', 'blind'):
    rc, out, err = svc.cli('start-vm', n)
    tap.ok(rc == 0, f'start-vm {n}', out + err)
rc, out, err = svc.cli('connect', 'blind')
tap.ok(rc != 0 and 'no video' in err, 'connect: a VM without video says so', err)
rc, out, err = svc.cli('set-vm', 'blind', '--video', 'on')
tap.ok(rc != 0 and 'Off' in err, 'set-vm --video only while Off', err)

rc, out, err = svc.cli('connect', 'scr')
path = out.strip()
tap.ok(rc == 0 and path.startswith('/') and path.endswith('/vnc.sock'), 'connect prints the RFB socket', out + err)
deadline = time.monotonic() + 30
while not os.path.exists(path) and time.monotonic() < deadline:
    time.sleep(0.2)
c = RfbClient(path)
c.update(False)
tap.ok((c.width, c.height) == (640, 480) and c.security_types == [1], 'the socket serves RFB, no password, 640x480')
deadline = time.monotonic() + 15
while (svc.vm('scr') or {}).get('console', {}).get('attached') is not True and time.monotonic() < deadline:
    time.sleep(0.5)
tap.ok((svc.vm('scr') or {}).get('console', {}).get('attached') is True, 'get-vm --json: console attached')
shot = os.path.join(tmp, 's.png')
rc, out, err = svc.cli('get-vmscreenshot', 'scr', shot)
w, h, rgb = read_png_rgb(shot) if rc == 0 else (0, 0, b'')
tap.ok(rc == 0 and (w, h) == (640, 480) and len(rgb) == 640 * 480 * 3, 'get-vmscreenshot writes a 640x480 PNG',
       out + err)
c.close()

# The loopback TCP console: the service's listener in the jailed worker, a per-VM password.
rc, out, err = svc.cli('connect', 'scr', '--tcp')
hostport = out.strip()
tap.ok(rc == 0 and hostport.startswith('127.0.0.1:') and hostport.split(':')[1].isdigit(),
       'connect --tcp prints 127.0.0.1:PORT', out + err)
rc, out, err = svc.cli('connect', 'scr', '--tcp', '--json')
ans = json.loads(out) if rc == 0 else {}
pw = ans.get('password', '')
tap.ok(ans.get('tcp') == hostport and len(pw) == 8, 'connect --tcp --json: the address and, for root, the password',
       out + err)
pwfile = os.path.join(os.path.dirname(path), 'vnc.password')
mode = os.stat(pwfile).st_mode & 0o777 if os.path.exists(pwfile) else None
tap.ok(mode == 0o600, 'the password file is 0600 in the VM\'s run directory', oct(mode or 0))
pid = (svc.vm('scr') or {}).get('pid')
cmdline = open(f'/proc/{pid}/cmdline', 'rb').read() if pid else b''
tap.ok(pid and pw and pw.encode() not in cmdline, 'the password is not on the worker\'s command line',
       cmdline[:200])
addr = (hostport.split(':')[0], int(hostport.split(':')[1] or 0)) if ':' in hostport else ('127.0.0.1', 0)
try:
    c = RfbClient(addr, password=pw)
    c.update(False)
    tap.ok(c.security == 2 and (c.width, c.height) == (640, 480),
           'TCP: VNC authentication with the password, then the screen', c.security_types)
    c.close()
except Exception as e:  # noqa: BLE001 - the diagnostic
    tap.ok(False, 'TCP: VNC authentication with the password, then the screen', repr(e))
try:
    c = RfbClient(addr, password='wrong-pw')
    c.update(False)
    tap.ok(False, 'TCP: a wrong password is refused', 'the server let it in')
except Exception as e:  # noqa: BLE001 - what was refused
    tap.ok('security failed' in str(e) or 'closed' in str(e), 'TCP: a wrong password is refused', repr(e))
try:
    c = RfbClient(addr)
    tap.ok(False, 'TCP: no password, no screen', c.security_types)
except Exception as e:  # noqa: BLE001
    tap.ok('password' in str(e), 'TCP: no password, no screen', repr(e))
rc, out, err = svc.cli('connect', 'blind', '--tcp')
tap.ok(rc != 0 and err.strip(), 'connect --tcp on a VM without it is refused with a reason', err)


def http(raw, timeout=10):
    s = socket.create_connection(('127.0.0.1', port), timeout=timeout)
    s.sendall(raw)
    buf = b''
    try:
        while True:
            k = s.recv(65536)
            if not k:
                break
            buf += k
            if raw.startswith(b'GET /console') and b'\r\n\r\n' in buf:
                break
    except socket.timeout:
        pass
    s.close()
    return buf


r = http(b'GET /vnc.html HTTP/1.1\r\nHost: x\r\n\r\n')
tap.ok(r.startswith(b'HTTP/1.1 200') and b'text/html' in r.split(b'\r\n\r\n')[0], 'web: vnc.html served as HTML')
r = http(b'GET /core/rfb.js HTTP/1.1\r\nHost: x\r\n\r\n')
tap.ok(r.startswith(b'HTTP/1.1 200') and b'application/javascript' in r.split(b'\r\n\r\n')[0],
       'web: noVNC\'s modules served as JavaScript')
tap.ok(http(b'GET /../../etc/passwd HTTP/1.1\r\n\r\n').startswith(b'HTTP/1.1 400') and
       http(b'GET /vendor/../../../etc/passwd HTTP/1.1\r\n\r\n').startswith(b'HTTP/1.1 400') and
       http(b'GET /nope.html HTTP/1.1\r\n\r\n').startswith(b'HTTP/1.1 404'),
       'web: paths outside noVNC refused, missing files 404')
tap.ok(http(b'\x00\x01garbage\r\n\r\n').startswith(b'HTTP/1.1 400'), 'web: garbage gets 400')
key = base64.b64encode(os.urandom(16))
ws = (b'Host: 127.0.0.1\r\nOrigin: http://127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
      b'Sec-WebSocket-Key: ' + key + b'\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: binary\r\n\r\n')
r = http(b'GET /console/00000000000000000000000000000000 HTTP/1.1\r\n' + ws)
tap.ok(r.startswith(b'HTTP/1.1 403'), 'web: a websocket without a valid token is refused', r[:80])
rc, out, err = svc.cli('connect', 'scr', '--web')
url = out.strip()
tok = url.split('path=console/')[-1]
tap.ok(rc == 0 and url.startswith(f'http://127.0.0.1:{port}/vnc.html?') and len(tok) == 32,
       'connect --web prints a URL with a token', out + err)
r = http(f'GET /console/{tok} HTTP/1.1\r\n'.encode() + ws)
tap.ok(r.startswith(b'HTTP/1.1 101'), 'web: with the token, the worker answers the websocket handshake', r[:120])
chromium = shutil.which('chromium')
if not chromium:
    tap.skip('noVNC in headless Chromium', 'chromium is not installed (tools/packages.txt)')
else:
    # noVNC's page says what it did in its status line: wait for it in real time (DevTools over
    # a pipe, tests/lib/headless_browser.py), not for a virtual-time budget.
    status = None
    try:
        with HeadlessBrowser(chromium, cwd=tmp) as browser:
            browser.open(url)
            status = browser.wait_for("((document.getElementById('noVNC_status') || {}).textContent || '')"
                                      ".includes('Connected (unencrypted)') && "
                                      "document.getElementById('noVNC_status').textContent", 240)
            if not status:
                status = browser.evaluate("(document.getElementById('noVNC_status') || {}).textContent")
    except BrowserError as e:
        status = f'{status}; {e}'
    tap.ok('Connected (unencrypted)' in (status or ''), 'noVNC in headless Chromium: "Connected (unencrypted)"',
           repr(status))
st = json.dumps(svc.vm('scr'))
tap.ok(svc.state('scr') == 'Running', 'the VM kept running', st[:500])
for n in ('scr', 'blind'):
    svc.cli('stop-vm', n, '--turn-off')
rc, out, err = svc.cli('set-vm', 'blind', '--video', 'on')
tap.ok(rc == 0 and (svc.vm('blind') or {}).get('video') is True, 'set-vm --video on (Off)', err)
svc.stop()
tap.done()

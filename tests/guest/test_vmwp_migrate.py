#!/usr/bin/env python3
"""Live migration between two workers on one machine (docs/migration.md).

The tiny kernel in "fill" mode writes every page above 32 MiB (so that the
stream carries real pages, more than a socket buffer holds), then prints
1..3000 on COM1. A destination that
goes away in the middle of the stream (a peer that reads part of it and
closes) and one that reads the whole stream but never acknowledges it each
leave the VM running on the source, which goes on counting. The stream that
second peer kept is then sent corrupted to a real destination (`parvis-vmwp
--incoming PATH`): it refuses it with exit 2 and runs nothing. Then the real
migration: `migrate-send` to a destination listening on a Unix socket; the
source answers with rounds, bytes and downtime and exits 0, the destination
runs the guest to the end: the two consoles together hold every number
exactly once, in order, and one banner. As root the source runs jailed
(--jail, seccomp on), as the service runs it: the connected socket then comes
with the request (SCM_RIGHTS), and a "path" is refused.
"""
import json
import os
import shutil
import socket
import struct
import tempfile
import threading

from parvis_test import Tap, Worker, control, kvm_available, run_vmwp, skip_all, wait_status

LAST = 3000
MIGRATE_AFTER = 200
JAIL_UID = 64124

if not kvm_available():
    skip_all('no /dev/kvm')
tap = Tap()
tiny = os.environ['PARVIS_TINY_KERNEL']
tmp = tempfile.mkdtemp(prefix='parvis-migrate-')
c1, c2 = os.path.join(tmp, 'console1.log'), os.path.join(tmp, 'console2.log')
ctl1, ctl2 = os.path.join(tmp, 'control1'), os.path.join(tmp, 'control2')
base = ['--kernel', tiny, '--cmdline', 'fill', '--memory', '64M']
jailed = os.geteuid() == 0


def migrate_send(path, timeout):
    """migrate-send to the Unix socket path: as "path", or (jailed) its connected socket."""
    if not jailed:
        return control(ctl1, {'command': 'migrate-send', 'path': path}, timeout)
    peer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    peer.connect(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(ctl1)
    socket.send_fds(s, [(json.dumps({'command': 'migrate-send'}) + '\n').encode()],
                    [peer.fileno()])
    peer.close()  # the worker has its own copy
    buf = b''
    while not buf.endswith(b'\n'):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    return json.loads(buf) if buf else None


def numbers(text):
    return [int(l) for l in text.splitlines() if l.isdigit()]


class Peer(threading.Thread):
    """A fake destination: accepts one connection, reads up to limit bytes (or until the
    source goes quiet for idle seconds: it waits for an ack), keeps them, closes."""

    def __init__(self, path, limit, idle=10):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(1)
        self.limit, self.idle, self.data = limit, idle, b''
        self.start()

    def run(self):
        self.sock.settimeout(120)
        c, _ = self.sock.accept()
        c.settimeout(self.idle)
        try:
            while len(self.data) < self.limit:
                chunk = c.recv(1 << 20)
                if not chunk:
                    break
                self.data += chunk
        except socket.timeout:
            pass
        c.close()
        self.sock.close()


def still_counting(w, desc):
    before = len(numbers(w.console()))
    ok, st = wait_status(ctl1, lambda s: s and s.get('state') == 'running', 60)
    tap.ok(ok, f'{desc}: the VM is running on the source', str(st))
    ok = w.wait_console(lambda t: len(numbers(t)) > before + 20, 300)
    tap.ok(ok, f'{desc}: the guest goes on counting on the source', w.console()[-200:])


w1 = Worker(base + ['--serial', 'file:' + c1, '--control', ctl1]
            + (['--jail', str(JAIL_UID)] if jailed else []), c1, os.path.join(tmp, 'err1'))
ok = w1.wait_console(lambda t: len(numbers(t)) >= MIGRATE_AFTER, 300)
tap.ok(ok, f'the guest printed {MIGRATE_AFTER} numbers' + (' (jailed)' if jailed else ''),
       w1.console()[-300:] + w1.stderr())
if jailed:
    r = control(ctl1, {'command': 'migrate-send', 'path': os.path.join(tmp, 'x')}, 60)
    tap.ok(r and not r.get('ok') and 'descriptor' in r.get('error', ''),
           'a jailed source refuses a "path": the socket must come with the request', str(r))

# A destination gone in the middle of the stream.
sock = os.path.join(tmp, 'peer1')
peer = Peer(sock, 1 << 20)
r = migrate_send(sock, 300)
peer.join(60)
tap.ok(r and not r.get('ok') and 'sending round 0' in r.get('error', '')
       and len(peer.data) >= 1 << 20,
       f'a destination gone in the middle: migrate-send fails ({len(peer.data)} bytes read)',
       str(r))
still_counting(w1, 'after the lost destination')

# A destination that reads everything and never acknowledges.
sock = os.path.join(tmp, 'peer2')
peer = Peer(sock, 1 << 30, idle=10)
r = migrate_send(sock, 600)
peer.join(60)
stream = peer.data
tap.ok(r and not r.get('ok') and 'acknowledge' in r.get('error', '')
       and stream[:8] == b'PRVMIGRT' and r.get('migration', {}).get('rounds', 0) >= 2
       and len(stream) > 32 << 20,
       f'no ack: migrate-send fails after the whole stream ({len(stream)} bytes)', str(r))
still_counting(w1, 'after the silent destination')


def refused(desc, data, *words):
    """A real destination fed data: exit 2, the words in its message, nothing on its console."""
    path = os.path.join(tmp, 'in-' + desc.replace(' ', '-'))
    cons = os.path.join(tmp, 'bad-console')
    open(cons, 'w').close()
    d = Worker(base + ['--serial', 'file:' + cons, '--incoming', path], cons,
               os.path.join(tmp, 'err-bad'))
    for _ in range(600):
        if os.path.exists(path):
            break
        d.wait_console(lambda t: False, 0.1)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        ack = s.recv(16)
    except OSError:
        ack = b''
    s.close()
    rc = d.wait(120)
    err = d.stderr().lower()
    tap.ok(rc == 2 and not ack and all(x in err for x in words) and not d.console(),
           f'{desc}: the destination refuses it (exit {rc})', d.stderr()[-600:])
    d.close()


if len(stream) > 200:
    end = stream[-32:]  # the end record: header and counts
    bad = bytearray(stream)
    bad[-16:-8] = struct.pack('<Q', struct.unpack('<Q', bytes(end[-16:-8]))[0] + 1)
    refused('a stream with a wrong end record', bytes(bad), 'end record')
    refused('a truncated stream', stream[:len(stream) // 2], 'truncated')
    bad = bytearray(stream)
    bad[8] = 9  # format version
    refused('a stream of a newer version', bytes(bad), 'version 9')
    cons = os.path.join(tmp, 'bad-console')
    path = os.path.join(tmp, 'in-other')
    d = Worker(base[:4] + ['--memory', '128M', '--serial', 'file:' + cons, '--incoming', path],
               cons, os.path.join(tmp, 'err-bad'))
    for _ in range(600):
        if os.path.exists(path):
            break
        d.wait_console(lambda t: False, 0.1)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    try:
        s.sendall(stream)
    except OSError:
        pass
    s.close()
    rc = d.wait(120)
    tap.ok(rc == 2 and 'memory' in d.stderr().lower(),
           f'another memory size: refused (exit {rc})', d.stderr()[-400:])
    d.close()

# The migration.
sock = os.path.join(tmp, 'incoming')
w2 = Worker(base + ['--serial', 'file:' + c2, '--control', ctl2, '--incoming', sock], c2,
            os.path.join(tmp, 'err2'))
for _ in range(600):
    if os.path.exists(sock):
        break
    w2.wait_console(lambda t: False, 0.1)
r = migrate_send(sock, 600)
m = (r or {}).get('migration', {})
tap.ok(r and r.get('ok') and m.get('state') == 'migrated' and m.get('rounds', 0) >= 2
       and m.get('bytes', 0) > 0 and 'downtime_ms' in m,
       f'migrate-send answers ok: {m.get("rounds")} rounds, {m.get("bytes")} bytes, '
       f'downtime {m.get("downtime_ms")} ms', str(r) + w1.stderr()[-400:])
rc = w1.wait(60)
tap.ok(rc == 0 and 'migrated' in w1.stderr(), f'the source exits 0, migrated (status {rc})',
       w1.stderr()[-400:])
ok = w2.wait_console(lambda t: 'numbers: done' in t, 600)
rc2 = w2.wait(120)
tap.ok(ok and rc2 == 0, f'the destination runs the guest to the end (exit {rc2})',
       w2.console()[-300:] + w2.stderr()[-400:])
t1, t2 = w1.console(), w2.console()
got = numbers(t1 + t2)
dups = len(got) - len(set(got))
tap.ok(got == list(range(1, LAST + 1)),
       f'every number once, in order, on the two consoles: {len(got)}, {dups} repeated, '
       f'{len(numbers(t1))} on the source', f'source ends {t1[-40:]!r}, destination starts '
       f'{t2[:40]!r}')
tap.ok((t1 + t2).count('Parvis tiny kernel') == 1 and len(numbers(t2)) > 0,
       'the destination went on without a boot (one banner)')
w1.close()
w2.close()
shutil.rmtree(tmp, ignore_errors=True)
tap.done()

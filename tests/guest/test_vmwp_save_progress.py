#!/usr/bin/env python3
"""A save with progress, and one cancelled by its requester (docs/control.md "save",
docs/saved-state.md).

The tiny kernel in "fill" mode writes a word into every page of its 1 GiB above 32 MiB,
then prints numbers. A save asked with "progress": true answers with progress lines first
({"progress":{"operation":"save","done":N,"total":T}}, done rising to T), then its answer.
Another worker is asked the same and its requester hangs up after the first progress line
(what ^C in `parvis save-vm` does through the service): the worker cancels, removes its
.tmp, and the VM goes on running (status "running", the guest prints more numbers); no file
is left. The worker looks for its requester at every progress step (64 MiB of RAM); the
requester here hangs up as soon as it reads the first line, sent before any RAM is written.
"""
import json
import os
import shutil
import signal
import socket
import tempfile

from parvis_test import Tap, Worker, control, kvm_available, skip_all, wait_status

if not kvm_available():
    skip_all('no /dev/kvm')
tap = Tap()
tiny = os.environ['PARVIS_TINY_KERNEL']
tmp = tempfile.mkdtemp(prefix='parvis-save-progress-')


def numbers(text):
    return [int(l) for l in text.splitlines() if l.isdigit()]


def start(name):
    con, ctl = os.path.join(tmp, name + '.con'), os.path.join(tmp, name + '.ctl')
    w = Worker(['--kernel', tiny, '--cmdline', 'fill', '--memory', '1024M', '--no-video',
                '--serial', 'file:' + con, '--control', ctl], con,
               os.path.join(tmp, name + '.err'))
    ok = w.wait_console(lambda t: 'filled' in t and len(numbers(t)) >= 3, 900)
    tap.ok(ok, f'{name}: the guest filled 1 GiB and prints numbers', w.console()[-300:] + w.stderr())
    return w, ctl


def save_lines(ctl, path, hang_up_after=None, on_first=None):
    """The save's lines, as dicts; with hang_up_after=n, closes after n progress lines;
    on_first() runs once the first line came."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(600)
    s.connect(ctl)
    s.sendall((json.dumps({'command': 'save', 'path': path, 'progress': True}) + '\n').encode())
    lines, buf = [], b''
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            lines.append(json.loads(line))
            if on_first and len(lines) == 1:
                on_first()
            if hang_up_after is not None and len(lines) >= hang_up_after:
                s.close()
                return lines
            if 'progress' not in lines[-1]:
                s.close()
                return lines
    s.close()
    return lines


# The requester hangs up after the first progress line: cancelled, the VM goes on.
w, ctl = start('cancelled')
state = os.path.join(tmp, 'cancelled.state')
lines = save_lines(ctl, state, hang_up_after=1)
tap.ok(lines and 'progress' in lines[0] and lines[0]['progress'].get('operation') == 'save',
       'the save sends a progress line first', str(lines))
ok, st = wait_status(ctl, lambda s: s and s.get('state') == 'running', 120)
tap.ok(ok, 'after the requester went away the VM is running again', str(st) + w.stderr())
before = len(numbers(w.console()))
ok = w.wait_console(lambda t: len(numbers(t)) > before + 20, 300)
tap.ok(ok, 'the guest goes on printing', w.console()[-200:])
tap.ok(not os.path.exists(state) and not os.path.exists(state + '.tmp'),
       'no saved state and no .tmp left', str(os.listdir(tmp)))
tap.ok('cancelled' in w.stderr(), 'the worker logs the cancelled save', w.stderr()[-600:])
control(ctl, {'command': 'turn-off'})
w.wait(60)
w.close()

# A save with progress, to its end; a SIGTERM comes after its first progress line. The save
# runs without the worker's lock, so the signal is answered at once: the shutdown waits for
# the save, which ends the VM (the guest is never asked).
w, ctl = start('progress')
state = os.path.join(tmp, 'progress.state')
lines = save_lines(ctl, state, on_first=lambda: w.proc.send_signal(signal.SIGTERM))
prog = [l['progress'] for l in lines if 'progress' in l]
answer = lines[-1] if lines else {}
done = [p.get('done', -1) for p in prog]
tap.ok(answer.get('ok') and len(prog) >= 10 and done == sorted(done) and
       prog[-1].get('done') == prog[-1].get('total') == 1024 << 20,
       f'progress lines rise to the total, then the answer ({len(prog)} lines, {answer})',
       str(lines[:3]) + str(lines[-3:]))
rc = w.wait(60)
tap.ok(rc == 0 and os.path.getsize(state) > 900 << 20, 'the worker exits 0, the file holds the '
       f'filled memory ({os.path.getsize(state) if os.path.exists(state) else 0} bytes)',
       w.stderr()[-500:])
err = w.stderr()
tap.ok(('graceful shutdown via nothing yet' in err or 'between boots' in err or
        'no longer runs here' in err) and
       'shutdown integration' not in err and 'power button' not in err,
       'the SIGTERM during the save was deferred: the save ended the VM, so the guest was '
       'never asked (nor resumed from the save\'s pause)', err[-800:])
w.close()
shutil.rmtree(tmp, ignore_errors=True)
tap.done()

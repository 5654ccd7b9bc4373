#!/usr/bin/env python3
"""Saving and restoring a whole VM through the real worker (docs/saved-state.md).

The tiny kernel in "numbers" mode prints 1..3000 on COM1, one a line. In the
middle the control command "save" writes the VM to a file and the worker exits
0; `parvis-vmwp --restore FILE` with the same configuration continues it: the
console log (appended to by both workers) holds every number exactly once, in
order, and the banner once (the kernel did not boot again). Before that, a
save into a directory that does not exist fails and leaves the VM running; a
configuration with another memory size or another disk set, a truncated file,
an unfinished one (zero header) and one with a corrupt section table are each
refused with exit status 2 and a message naming what is wrong, and write
nothing to the console. As root the first worker runs jailed (--jail, seccomp
on, the file written through --state-dir), as the service runs it.
"""
import os
import shutil
import subprocess
import tempfile
import time

from parvis_test import Tap, Worker, control, kvm_available, run_vmwp, skip_all, wait_status

LAST = 3000
SAVE_AFTER = 300  # numbers on the console before the save
JAIL_UID = 64123

if not kvm_available():
    skip_all('no /dev/kvm')
tap = Tap()
tiny = os.environ['PARVIS_TINY_KERNEL']
tmp = tempfile.mkdtemp(prefix='parvis-save-')
console = os.path.join(tmp, 'console.log')
ctl = os.path.join(tmp, 'control')
state_dir = os.path.join(tmp, 'states')
os.mkdir(state_dir)
jailed = os.geteuid() == 0
if jailed:
    os.chown(state_dir, JAIL_UID, JAIL_UID)
state = os.path.join(state_dir, 'vm.state')
disk = os.path.join(tmp, 'disk.img')
with open(disk, 'wb') as f:
    f.truncate(8 << 20)
base = ['--kernel', tiny, '--cmdline', 'numbers', '--memory', '64M',
        '--serial', 'file:' + console, '--state-dir', state_dir]


def numbers(text):
    return [int(l) for l in text.splitlines() if l.isdigit()]


def count_numbers(text):
    return len(numbers(text))


w = Worker(base + ['--control', ctl] + (['--jail', str(JAIL_UID)] if jailed else []),
           console, os.path.join(tmp, 'stderr1'))
ok = w.wait_console(lambda t: count_numbers(t) >= SAVE_AFTER, 300)
tap.ok(ok, f'the guest printed {SAVE_AFTER} numbers' + (' (jailed)' if jailed else ''),
       w.console()[-500:] + w.stderr())

# Failed saves: the VM goes on. The second fails after the pause, creating its .tmp file.
r = control(ctl, {'command': 'save', 'path': os.path.join(tmp, 'no-such-dir', 'vm.state')}, 60)
tap.ok(r and not r.get('ok') and ('no-such-dir' in r.get('error', '') or jailed),
       'a save into a missing directory fails, naming it', str(r))
os.mkdir(os.path.join(state_dir, 'busy.state.tmp'))
r = control(ctl, {'command': 'save', 'path': os.path.join(state_dir, 'busy.state')}, 60)
tap.ok(r and not r.get('ok') and 'busy.state.tmp' in r.get('error', ''),
       'a save whose .tmp cannot be created fails, naming it', str(r))
os.rmdir(os.path.join(state_dir, 'busy.state.tmp'))
before = count_numbers(w.console())
ok, st = wait_status(ctl, lambda s: s and s.get('state') == 'running', 30)
tap.ok(ok, 'after the failed save the VM is running', str(st))
ok = w.wait_console(lambda t: count_numbers(t) > before + 20, 120)
tap.ok(ok, 'after the failed save the guest goes on printing', w.console()[-200:])
if jailed:
    r = control(ctl, {'command': 'save', 'path': os.path.join(tmp, 'vm.state')}, 60)
    tap.ok(r and not r.get('ok') and '--state-dir' in r.get('error', ''),
           'a jailed worker refuses a path outside --state-dir', str(r))

# The save.
r = control(ctl, {'command': 'save', 'path': state}, 120)
tap.ok(r and r.get('ok') and r.get('bytes', 0) > 0 and 'ms' in r,
       f'save answers ok with the size and time ({r})', str(r))
rc = w.wait(60)
tap.ok(rc == 0, f'the worker exits 0 after the save (status {rc})', w.stderr())
tap.ok('saved' in w.stderr(), 'the worker says the VM was saved', w.stderr())
size = os.path.getsize(state) if os.path.exists(state) else 0
tap.ok(size == (r or {}).get('bytes') and not os.path.exists(state + '.tmp'),
       f'the file is there ({size} bytes), the .tmp is gone', str(os.listdir(state_dir)))
w.close()
# Whole lines only: the save can stop the guest between a number's digits, whose rest the
# restored guest prints (the check over all three workers joins them).
saved_text = w.console()
saved_text = saved_text[:saved_text.rfind('\n') + 1]
saved_count = count_numbers(saved_text)
tap.ok(SAVE_AFTER <= saved_count < LAST and numbers(saved_text) == list(range(1, saved_count + 1)),
       f'before the save the guest printed 1..{saved_count}')


def refused(desc, args, *words):
    """A restore that must be refused with exit 2 and a message with each of words."""
    n = len(open(console).read())
    rc, _, err = run_vmwp(args, timeout=120)
    low = err.lower()
    tap.ok(rc == 2 and all(word in low for word in words) and len(open(console).read()) == n,
           f'{desc}: refused (exit {rc})', err)


refused('another memory size', base[:4] + ['--memory', '128M'] + base[6:] + ['--restore', state],
        'memory', '64', '128')
refused('another disk set', base + ['--disk', disk, '--restore', state], 'disk0')
data = open(state, 'rb').read()
bad = os.path.join(tmp, 'bad.state')
with open(bad, 'wb') as f:
    f.write(data[:len(data) // 2])
refused('a truncated file', base + ['--restore', bad], bad)
with open(bad, 'wb') as f:
    f.write(bytes(80) + data[80:])
refused('an unfinished file (zero header)', base + ['--restore', bad], 'unfinished')
with open(bad, 'wb') as f:
    f.write(data[:-40] + bytes([0xff]) * 40)
refused('a file with a corrupt section table', base + ['--restore', bad], bad)
refused('a file that is not there', base + ['--restore', os.path.join(tmp, 'none.state')],
        'none.state')

# The restore: lazily (userfaultfd, made before the jail), jailed as the first; once the
# guest goes on, saved again (the save waits for the lazy RAM) and restored eagerly.
ctl2 = os.path.join(tmp, 'control2')
w2 = Worker(base + ['--control', ctl2, '--restore', state]
            + (['--jail', str(JAIL_UID)] if jailed else []), console, os.path.join(tmp, 'stderr2'))
ok, st = wait_status(ctl2, lambda s: s and s.get('restored_from') == state, 60)
tap.ok(ok, 'the restored worker reports restored_from', str(st))
ram = (st or {}).get('restore_ram') or {}
if jailed:
    tap.ok(ram.get('mode') == 'lazy', f'as root the RAM comes lazily ({ram})', w2.stderr())
else:
    tap.ok(ram.get('mode') in ('lazy', 'eager') and (ram['mode'] == 'lazy' or ram.get('why')),
           f'lazy, or eager with the reason ({ram})', w2.stderr())
ok = w2.wait_console(lambda t: count_numbers(t) >= saved_count + 200, 300)
tap.ok(ok, 'the lazily restored guest goes on printing', w2.console()[-200:] + w2.stderr())
ok, st = wait_status(ctl2, lambda s: s and (s.get('restore_ram') or {}).get('done'), 60)
ram = (st or {}).get('restore_ram') or {}
tap.ok(ok or ram.get('mode') == 'eager',
       f'the prefetch ends; faults were served ({ram})', str(st))
state2 = os.path.join(state_dir, 'vm2.state')
r = control(ctl2, {'command': 'save', 'path': state2}, 120)
tap.ok(r and r.get('ok'), f'the restored VM saves again ({r})', w2.stderr())
rc = w2.wait(60)
tap.ok(rc == 0, f'the second worker exits 0 after its save (status {rc})', w2.stderr())
w2.close()
ctl3 = os.path.join(tmp, 'control3')
w3 = Worker(base + ['--control', ctl3, '--restore', state2, '--restore-ram', 'eager'], console,
            os.path.join(tmp, 'stderr3'))
ok, st = wait_status(ctl3, lambda s: s and s.get('restored_from') == state2, 60)
ram = (st or {}).get('restore_ram') or {}
tap.ok(ok and ram.get('mode') == 'eager' and 'eager' in ram.get('why', ''),
       f'--restore-ram eager reads RAM at once, saying why ({ram})', str(st))
ok = w3.wait_console(lambda t: 'numbers: done' in t, 600)
rc = w3.wait(120)
text = w3.console()
got = numbers(text)
tap.ok(ok and rc == 0, f'the restored guest runs to the end and powers off (exit {rc})',
       text[-300:] + w3.stderr())
dups = len(got) - len(set(got))
tap.ok(got == list(range(1, LAST + 1)),
       f'every number once, in order, over three workers: {len(got)} numbers, {dups} repeated',
       f'around the save: {got[max(0, saved_count - 5):saved_count + 5]}')
tap.ok(text.count('Parvis tiny kernel') == 1, 'the kernel did not boot again (one banner)')
w3.close()
shutil.rmtree(tmp, ignore_errors=True)
tap.done()

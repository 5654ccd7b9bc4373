#!/usr/bin/env python3
"""Saved states written by earlier builds still restore (issue 15, docs/saved-state.md).

Each fixture in tests/data/state/ (FIXTURE.state with FIXTURE.json, written
once by make_fixture.py and never regenerated) is restored by this build's
worker with the arguments it was saved with: the tiny kernel, saved while
counting on COM1, must go on from the number after the last one it printed
before the save to the end, each number once, without booting again (the
kernel's banner is not printed), and power off. A build that can no longer
read an old format, or restores it wrongly, fails here.

A state restores only on a host of the CPU vendor it was saved on (FIXTURE.json's
"vendor"): a fixture of the other vendor must be refused cleanly instead, the worker
exiting with an error and the guest never running.
"""
import glob
import json
import os
import shutil
import tempfile

from parvis_test import Tap, Worker, kvm_available, skip_all, wait_status

if not kvm_available():
    skip_all('no /dev/kvm')
here = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data', 'state')
fixtures = sorted(glob.glob(os.path.join(here, '*.state')))
tap = Tap()
tap.ok(fixtures, f'{len(fixtures)} saved-state fixtures in tests/data/state', here)


def host_vendor():
    for line in open('/proc/cpuinfo'):
        if line.startswith('vendor_id'):
            return line.split(':', 1)[1].strip()
    return 'unknown'


def refused_elsewhere(fixture, name, meta):
    """A fixture saved on another vendor's CPU: refused with an error, nothing run."""
    tmp = tempfile.mkdtemp(prefix='parvis-fixture-')
    state = os.path.join(tmp, name)
    shutil.copyfile(fixture, state)
    console = os.path.join(tmp, 'console.log')
    w = Worker(['--kernel', os.environ['PARVIS_TINY_KERNEL'], '--serial', 'file:' + console,
                '--control', os.path.join(tmp, 'control'), '--restore', state] + meta['args'],
               console, os.path.join(tmp, 'stderr'))
    rc = w.wait(120)
    text = w.console()
    tap.ok(rc not in (0, None) and rc > 0 and 'error' in w.stderr(),
           f'{name} (saved on {meta["vendor"]}, this host is {vendor}): refused with an error '
           f'(exit {rc})', w.stderr()[-400:])
    tap.ok(not any(l.isdigit() for l in text.splitlines()),
           f'{name}: the guest did not run on another vendor\'s host', text[-200:])
    w.close()
    shutil.rmtree(tmp, ignore_errors=True)


vendor = host_vendor()
tap.ok(any(json.load(open(f[:-len('.state')] + '.json')).get('vendor') == vendor
           for f in fixtures), f'a fixture saved on this host\'s CPU vendor ({vendor})')
for fixture in fixtures:
    name = os.path.basename(fixture)
    meta = json.load(open(fixture[:-len('.state')] + '.json'))
    if meta['vendor'] != vendor:
        refused_elsewhere(fixture, name, meta)
        continue
    tmp = tempfile.mkdtemp(prefix='parvis-fixture-')
    state = os.path.join(tmp, name)
    shutil.copyfile(fixture, state)  # the worker gets a copy: the fixture stays as it is
    console = os.path.join(tmp, 'console.log')
    ctl = os.path.join(tmp, 'control')
    w = Worker(['--kernel', os.environ['PARVIS_TINY_KERNEL'], '--serial', 'file:' + console,
                '--control', ctl, '--restore', state] + meta['args'], console,
               os.path.join(tmp, 'stderr'))
    ok, st = wait_status(ctl, lambda s: s and s.get('restored_from') == state, 60)
    tap.ok(ok, f'{name} (written {meta["written"]}): the worker restores it', w.stderr())
    ok = w.wait_console(lambda t: 'numbers: done' in t, 600)
    rc = w.wait(120)
    text = w.console()
    got = [int(l) for l in text.splitlines() if l.isdigit()]
    want = list(range(meta['counted'] + 1, meta['last'] + 1))
    tap.ok(ok and rc == 0, f'{name}: the guest runs to the end and powers off (exit {rc})',
           text[-300:] + w.stderr())
    tap.ok(got == want, f'{name}: it goes on from {meta["counted"] + 1} to {meta["last"]}, '
           f'each once ({len(got)} numbers, first {got[:1]}, last {got[-1:]})')
    tap.ok('Parvis tiny kernel' not in text, f'{name}: the kernel did not boot again')
    tap.ok(open(fixture, 'rb').read() == open(state, 'rb').read(),
           f'{name}: restoring does not change the file')
    w.close()
    shutil.rmtree(tmp, ignore_errors=True)
tap.done()

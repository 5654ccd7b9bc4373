#!/usr/bin/env python3
"""Writes the saved-state fixture that every later build must restore.

    PARVIS_VMWP=build/src/vmwp/parvis-vmwp PARVIS_TINY_KERNEL=build/tests/guest/tiny/tiny-kernel \
        python3 tests/data/state/make_fixture.py tests/data/state/tiny-numbers-v1-intel

The tiny kernel in "numbers" mode prints 1..3000 on COM1; the worker saves it
after a few hundred numbers. The fixture is the state file (FIXTURE.state)
and what restoring it needs (FIXTURE.json: the worker's arguments without
the paths, and how far the guest had counted). Run it once per saved-state
format change that must stay readable; never regenerate an existing
fixture: test_vmwp_state_fixture.py restores each one (docs/saved-state.md). A saved state
restores only on a host of the CPU vendor it was saved on (registers, MSRs and XSAVE are the
vendor's), so each format version has one fixture per vendor, each made on such a host.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', 'lib'))
from parvis_test import Worker, control  # noqa: E402

SAVE_AFTER = 300
# The virtual hardware is in the file's configuration digest: restores must pass the same.
ARGS = ['--cmdline', 'numbers', '--memory', '64M', '--cpus', '1', '--cpu-model', 'baseline']


def host_vendor():
    """The CPU vendor the fixture is saved on: it restores only on that vendor's hosts."""
    for line in open('/proc/cpuinfo'):
        if line.startswith('vendor_id'):
            return line.split(':', 1)[1].strip()
    return 'unknown'


def main(out):
    tmp = tempfile.mkdtemp(prefix='parvis-fixture-')
    console = os.path.join(tmp, 'console.log')
    ctl = os.path.join(tmp, 'control')
    state = os.path.join(tmp, 'vm.state')
    w = Worker(['--kernel', os.environ['PARVIS_TINY_KERNEL'], '--serial', 'file:' + console,
                '--control', ctl] + ARGS, console, os.path.join(tmp, 'stderr'))
    if not w.wait_console(lambda t: sum(l.isdigit() for l in t.splitlines()) >= SAVE_AFTER, 300):
        sys.exit('the guest did not count: ' + w.stderr())
    r = control(ctl, {'command': 'save', 'path': state}, 120)
    if not r or not r.get('ok') or w.wait(60) != 0:
        sys.exit(f'save failed: {r} {w.stderr()}')
    w.close()
    counted = [int(l) for l in open(console).read().splitlines() if l.isdigit()]
    if counted != list(range(1, len(counted) + 1)):
        sys.exit('the guest did not count 1..n before the save')
    shutil.copyfile(state, out + '.state')
    with open(out + '.json', 'w') as f:
        json.dump({'args': ARGS, 'counted': len(counted), 'last': 3000, 'vendor': host_vendor(),
                   'written': time.strftime('%Y-%m-%d'),
                   'bytes': os.path.getsize(state)}, f, indent=1)
        f.write('\n')
    shutil.rmtree(tmp, ignore_errors=True)
    print(f'{out}.state: {os.path.getsize(out + ".state")} bytes, saved after {len(counted)}')


if __name__ == '__main__':
    main(sys.argv[1])

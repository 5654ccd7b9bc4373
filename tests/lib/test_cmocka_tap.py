#!/usr/bin/env python3
"""cmocka's skip() through meson, as every cmocka test here runs.

A throw-away meson project runs tests/lib/cmocka_tap_probe.c (one case that
skips, one that passes) the way tests/meson.build runs every cmocka program:
through tests/lib/cmocka_tap.py, protocol 'tap'. The meson that runs this
suite must read it as passed, and tests/summarize.py over its testlog.json
must print "1 passed, 0 failed, 1 skipped".
Usage: test_cmocka_tap.py PROBE FILTER SUMMARIZE
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

from parvis_test import Tap

MESON_BUILD = """project('cmocka-tap-probe')
test('probe', find_program('{python}'), args : ['{filter}', '{probe}'], protocol : 'tap',
  env : ['CMOCKA_MESSAGE_OUTPUT=TAP'])
"""


def main(argv):
    probe, filt, summarize = (os.path.abspath(a) for a in argv[1:4])
    tap = Tap()
    raw = subprocess.run([probe], env=dict(os.environ, CMOCKA_MESSAGE_OUTPUT='TAP'),
                         capture_output=True, text=True).stdout
    print('# cmocka prints: ' + ' | '.join(raw.splitlines()), flush=True)
    work = tempfile.mkdtemp(prefix='parvis-cmocka-tap-')
    try:
        src, build = os.path.join(work, 'src'), os.path.join(work, 'build')
        os.mkdir(src)
        with open(os.path.join(src, 'meson.build'), 'w') as f:
            f.write(MESON_BUILD.format(python=sys.executable, filter=filt, probe=probe))
        meson = shutil.which('meson') or 'meson'
        setup = subprocess.run([meson, 'setup', build, src], capture_output=True, text=True)
        if not tap.ok(setup.returncode == 0, 'meson sets up the probe project', setup.stdout + setup.stderr):
            tap.done()
        run = subprocess.run([meson, 'test', '-C', build], capture_output=True, text=True)
        log = os.path.join(build, 'meson-logs', 'testlog.json')
        results = [json.loads(l) for l in open(log)] if os.path.exists(log) else []
        result = results[0].get('result') if results else None
        tap.ok(run.returncode == 0 and result == 'OK',
               'meson counts a cmocka skip() as a skip: the probe passes', f'result {result}\n' + run.stdout)
        summary = subprocess.run([sys.executable, summarize, log], capture_output=True, text=True)
        last = (summary.stdout.strip().splitlines() or [''])[-1]
        tap.ok(summary.returncode == 0 and last == '1 passed, 0 failed, 1 skipped',
               'summarize.py: "1 passed, 0 failed, 1 skipped"', summary.stdout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    tap.done()


if __name__ == '__main__':
    main(sys.argv)

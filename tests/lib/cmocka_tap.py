#!/usr/bin/env python3
"""Runs a cmocka test program and passes its TAP on, skips as skips.

cmocka (1.1.5 in Debian 12, 1.1.7 too) reports skip() as "not ok N # SKIP
name"; TAP 13 and meson's parser (mesonbuild/mtest.py, TAPParser.parse_test)
take a "not ok" with SKIP as a failure, so a skipped case would fail its
test. This rewrites exactly that line to "ok N - name # SKIP" and passes
every other line, the exit status and a death by signal through unchanged.
Usage: cmocka_tap.py PROGRAM [ARG...]
"""
import os
import re
import signal
import subprocess
import sys

CMOCKA_SKIP = re.compile(r'^not ok (\d+) # SKIP\s*(.*)$')


def main(argv):
    child = subprocess.Popen(argv[1:], stdout=subprocess.PIPE, text=True, bufsize=1)
    for line in child.stdout:
        m = CMOCKA_SKIP.match(line.rstrip('\n'))
        if m:
            line = f'ok {m.group(1)} - {m.group(2)} # SKIP\n'
        sys.stdout.write(line)
        sys.stdout.flush()
    rc = child.wait()
    if rc < 0:
        signal.signal(-rc, signal.SIG_DFL)
        os.kill(os.getpid(), -rc)
    return rc


if __name__ == '__main__':
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""Counts test results from meson test logs (testlog.json) and TAP files.

A TAP test counts each of its cases ("ok"/"not ok" lines); any other test
counts once. Prints failures by name, then "N passed, N failed, N skipped".
Exits 1 if anything failed.
"""
import json
import re
import sys

TAP_LINE = re.compile(r'^(not )?ok\b[^#]*(#\s*(SKIP|TODO)\b.*)?', re.IGNORECASE)


def count_tap(text, name, totals, failures):
    found = False
    for line in text.splitlines():
        m = TAP_LINE.match(line.strip())
        if not m:
            if re.match(r'^1\.\.0\s*#\s*SKIP', line.strip(), re.IGNORECASE):
                totals['skipped'] += 1
                found = True
            continue
        found = True
        if m.group(3) and m.group(3).upper() == 'SKIP':
            totals['skipped'] += 1
        elif m.group(1):
            totals['failed'] += 1
            failures.append(f'{name}: {line.strip()}')
        else:
            totals['passed'] += 1
    return found


def main(argv):
    totals = {'passed': 0, 'failed': 0, 'skipped': 0}
    failures = []
    args = iter(argv[1:])
    for arg in args:
        if arg == '--tap':
            path = next(args)
            try:
                with open(path) as f:
                    count_tap(f.read(), path, totals, failures)
            except OSError as e:
                failures.append(f'{path}: {e}')
                totals['failed'] += 1
            continue
        try:
            lines = open(arg).read().splitlines()
        except OSError as e:
            failures.append(f'{arg}: {e}')
            totals['failed'] += 1
            continue
        for line in lines:
            t = json.loads(line)
            name, result = t.get('name', '?'), t.get('result', 'ERROR')
            stdout = t.get('stdout') or ''
            if re.search(r'^1\.\.\d+', stdout, re.M) or re.search(r'^(not )?ok \d', stdout, re.M):
                if count_tap(stdout, name, totals, failures) and result in ('OK', 'SKIP'):
                    continue
                if result not in ('OK', 'SKIP'):
                    totals['failed'] += 1
                    failures.append(f'{name}: {result}')
                continue
            if result == 'OK':
                totals['passed'] += 1
            elif result == 'SKIP':
                totals['skipped'] += 1
            else:
                totals['failed'] += 1
                failures.append(f'{name}: {result}')
    for f in failures:
        print('FAILED', f)
    print(f"{totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
    return 1 if totals['failed'] else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))

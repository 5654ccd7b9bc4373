#!/usr/bin/env python3
"""The console server (src/vmwp/rfb_server.c) with its devices, driven by a
played hyperv_fb (tests/lib/console_driver.c, on the guest-side VMBus
client): for a full 1024x768 redraw and for one text line (1024x16), at 1
and at 4 RFB clients (tests/lib/rfb_client.py, raw encoding, on the Unix
socket): the delay from the guest's DIRT message to every client holding
the update, the host CPU the server (and devices) spend per update, and the
bytes each client receives per update.

Counts that carry over to hardware: bytes per update (raw encoding: the
rectangle's pixels plus 16 bytes of headers), CPU per update. Latency and CPU
are noisy on a loaded machine. QEMU's own VNC server (-vnc on its standard
VGA) is not measured beside it (see bench/README.md: no way here to make a
QEMU guest redraw on command without guest user space).

Usage: bench/console.py [--build DIR] [--updates 30] [--json FILE]
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'lib'))
from rfb_client import RfbClient, read_messages  # noqa: E402



def cpu_s(pid):
    """CPU time of every thread of pid, in seconds (schedstat: nanoseconds on CPU)."""
    total = 0
    for t in os.listdir(f'/proc/{pid}/task'):
        try:
            with open(f'/proc/{pid}/task/{t}/schedstat') as f:
                total += int(f.read().split()[0])
        except OSError:
            pass  # a thread that ended meanwhile
    return total / 1e9


def run(driver, kind, nclients, updates):
    tmp = tempfile.mkdtemp(prefix='pvbench-console-')
    sock = os.path.join(tmp, 'vnc.sock')
    p = subprocess.Popen([driver, sock], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == 'ready'
    clients = [RfbClient(sock) for _ in range(nclients)]
    for c in clients:
        c.update(False)
    lat, nbytes = [], []
    cpu0 = cpu_s(p.pid)
    for i in range(updates):
        for c in clients:
            c.request(True)
        time.sleep(0.02)  # the requests are in before the DIRT
        before = [c.bytes_in for c in clients]
        p.stdin.write(f'fill {i % 256} {(i * 7) % 256} 9\n' if kind == 'full' else f'line {(i * 16) % 752}\n')
        p.stdin.flush()
        sent = int(p.stdout.readline().split()[1])
        read_messages(clients)
        done = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        lat.append((done - sent) / 1e6)
        nbytes.append(statistics.mean(c.bytes_in - b for c, b in zip(clients, before)))
    cpu = cpu_s(p.pid) - cpu0
    for c in clients:
        c.close()
    p.stdin.write('quit\n')
    p.stdin.flush()
    p.wait(timeout=30)
    # The CPU includes the driver's own guest side (filling the VRAM for 'full'): an upper bound.
    return {'kind': kind, 'clients': nclients, 'updates': updates,
            'latency_ms_median': statistics.median(lat), 'latency_ms_max': max(lat),
            'cpu_ms_per_update': cpu * 1000 / updates, 'bytes_per_update_per_client': statistics.mean(nbytes)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default=os.path.join(HERE, '..', 'build'))
    ap.add_argument('--updates', type=int, default=30)
    ap.add_argument('--json')
    a = ap.parse_args()
    driver = os.path.join(a.build, 'tests', 'console-driver')
    if not os.path.exists(driver):
        sys.exit(f'{driver}: build first (meson setup {a.build}; ninja -C {a.build})')
    rows = [run(driver, kind, n, a.updates) for kind in ('full', 'line') for n in (1, 4)]
    print(f'{"update":<6} {"clients":>7} {"latency ms (median/max)":>24} {"CPU ms/update":>14} {"bytes/update/client":>20}')
    for r in rows:
        print(f'{r["kind"]:<6} {r["clients"]:>7} {r["latency_ms_median"]:>12.2f} / {r["latency_ms_max"]:<9.2f} '
              f'{r["cpu_ms_per_update"]:>14.3f} {r["bytes_per_update_per_client"]:>20.0f}')
    full1 = next(r for r in rows if r['kind'] == 'full' and r['clients'] == 1)
    line1 = next(r for r in rows if r['kind'] == 'line' and r['clients'] == 1)
    raw_full = 1024 * 768 * 4 + 16
    print(f'full redraw: {full1["bytes_per_update_per_client"] / raw_full:.3f} x the raw frame '
          f'({raw_full} bytes); one line: {line1["bytes_per_update_per_client"] / raw_full:.4f} x the frame')
    print('QEMU -vnc peer: not measured (no guest here can redraw on command without user space)')
    out = {'date': datetime.datetime.now(datetime.timezone.utc).isoformat(), 'rows': rows,
           'qemu': None, 'note': 'loaded shared 2-core PVM machine: latency and CPU are noisy'}
    path = a.json or os.path.join(HERE, 'results',
                                  'console-' + datetime.datetime.now().strftime('%Y%m%d-%H%M%S') + '.json')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(out, f, indent=1)
    print(f'results: {path}')


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
"""The console server (src/vmwp/rfb_server.c) with its devices, driven by a
played hyperv_fb (tests/lib/console_driver.c, on the guest-side VMBus
client): for a full 1024x768 redraw and for one text line (1024x16), at 1
and at 4 RFB clients (tests/lib/rfb_client.py, raw encoding, on the Unix
socket): the delay from the guest's DIRT message to every client holding
the update, the host CPU the server (and devices) spend per update, and the
bytes each client receives per update.

Beside it, in the same run, QEMU's own VNC server (-vnc) on its standard
VGA with a guest of the bench's own doing the same redraws on command
(bench/console_qemu.py, console_qemu_guest.S), measured the same way; the
ratios Parvis/QEMU of CPU per update, bytes and latency are printed.

CPU: the Parvis column is the server's threads (RFB server, the VSPs'
channel loops, VMBus) without the played guest's own thread (which writes
the VRAM, as QEMU's vCPU does); the all-threads total is kept as an upper
bound. The QEMU column is QEMU without its vCPU thread, minus the same
schedule run with no client connected (its idle main loop): the VNC work.

Counts that carry over to hardware: bytes per update (raw encoding: the
rectangle's pixels plus headers), CPU per update. Latency and CPU are noisy
on a loaded machine.

Usage: bench/console.py [--build DIR] [--updates 30] [--no-qemu] [--json FILE]
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
import console_qemu  # noqa: E402



def cpu_s(pid):
    """(CPU time of every thread of pid, of its main thread), seconds (schedstat: ns on CPU).
    console-driver's main thread is the played guest (it writes the VRAM and sends DIRT)."""
    total = main = 0
    for t in os.listdir(f'/proc/{pid}/task'):
        try:
            with open(f'/proc/{pid}/task/{t}/schedstat') as f:
                ns = int(f.read().split()[0])
        except OSError:
            continue  # a thread that ended meanwhile
        total += ns
        if int(t) == pid:
            main = ns
    return total / 1e9, main / 1e9


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
    cpu1 = cpu_s(p.pid)
    cpu, guest = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
    for c in clients:
        c.close()
    p.stdin.write('quit\n')
    p.stdin.flush()
    p.wait(timeout=30)
    return {'kind': kind, 'clients': nclients, 'updates': updates,
            'latency_ms_median': statistics.median(lat), 'latency_ms_max': max(lat),
            'cpu_ms_per_update': (cpu - guest) * 1000 / updates,
            'cpu_ms_per_update_all_threads': cpu * 1000 / updates,
            'bytes_per_update_per_client': statistics.mean(nbytes)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default=os.path.join(HERE, '..', 'build'))
    ap.add_argument('--updates', type=int, default=30)
    ap.add_argument('--no-qemu', action='store_true', help='leave out the QEMU -vnc column')
    ap.add_argument('--json')
    a = ap.parse_args()
    driver = os.path.join(a.build, 'tests', 'console-driver')
    if not os.path.exists(driver):
        sys.exit(f'{driver}: build first (meson setup {a.build}; ninja -C {a.build})')
    rows = [run(driver, kind, n, a.updates) for kind in ('full', 'line') for n in (1, 4)]
    qemu, qemu_why = [], None if not a.no_qemu else '--no-qemu'
    if not a.no_qemu:
        qemu_why = console_qemu.available()
    if qemu_why is None:
        tmp = tempfile.mkdtemp(prefix='pvbench-console-guest-')
        elf = console_qemu.build_guest(tmp)
        for kind in ('full', 'line'):
            base = console_qemu.run_qemu(kind, 0, a.updates, elf)
            for n in (1, 4):
                r = console_qemu.run_qemu(kind, n, a.updates, elf)
                r['baseline_other_cpu_ms_per_update'] = base['other_cpu_ms_per_update']
                r['cpu_ms_per_update'] = r['other_cpu_ms_per_update'] - base['other_cpu_ms_per_update']
                qemu.append(r)
    print('Parvis console server (rfb_server.c + synthvid VSP), raw encoding, Unix socket')
    print(f'{"update":<6} {"clients":>7} {"latency ms (median/max)":>24} {"CPU ms/update":>14} '
          f'{"(all threads)":>14} {"bytes/update/client":>20}')
    for r in rows:
        print(f'{r["kind"]:<6} {r["clients"]:>7} {r["latency_ms_median"]:>12.2f} / {r["latency_ms_max"]:<9.2f} '
              f'{r["cpu_ms_per_update"]:>14.3f} {r["cpu_ms_per_update_all_threads"]:>14.3f} '
              f'{r["bytes_per_update_per_client"]:>20.0f}')
    full1 = next(r for r in rows if r['kind'] == 'full' and r['clients'] == 1)
    line1 = next(r for r in rows if r['kind'] == 'line' and r['clients'] == 1)
    raw_full = 1024 * 768 * 4 + 16
    print(f'full redraw: {full1["bytes_per_update_per_client"] / raw_full:.3f} x the raw frame '
          f'({raw_full} bytes); one line: {line1["bytes_per_update_per_client"] / raw_full:.4f} x the frame')
    ratios = []
    if qemu:
        print('QEMU -vnc on -vga std (TCG guest, console_qemu_guest.S), raw encoding, Unix socket')
        print('  CPU = QEMU without its vCPU thread, minus the same schedule with no client (baseline)')
        print(f'{"update":<6} {"clients":>7} {"latency ms (median/max)":>24} {"CPU ms/update":>14} '
              f'{"(baseline)":>11} {"vCPU ms":>8} {"bytes/update/client":>20}')
        for r in qemu:
            print(f'{r["kind"]:<6} {r["clients"]:>7} {r["latency_ms_median"]:>12.2f} / {r["latency_ms_max"]:<9.2f} '
                  f'{r["cpu_ms_per_update"]:>14.3f} {r["baseline_other_cpu_ms_per_update"]:>11.3f} '
                  f'{r["vcpu_cpu_ms_per_update"]:>8.2f} {r["bytes_per_update_per_client"]:>20.0f}')
        print('ratios Parvis/QEMU (lower is better; target: CPU per update < 1)')
        print(f'{"update":<6} {"clients":>7} {"CPU":>8} {"CPU all threads":>16} {"latency":>8} {"bytes":>8}')
        for p, q in zip(rows, qemu):
            def ratio(x, y):
                return x / y if y > 0 else None
            rt = {'kind': p['kind'], 'clients': p['clients'],
                  'cpu': ratio(p['cpu_ms_per_update'], q['cpu_ms_per_update']),
                  'cpu_all_threads': ratio(p['cpu_ms_per_update_all_threads'], q['cpu_ms_per_update']),
                  'latency': ratio(p['latency_ms_median'], q['latency_ms_median']),
                  'bytes': ratio(p['bytes_per_update_per_client'], q['bytes_per_update_per_client'])}
            ratios.append(rt)

            def f(v):
                return f'{v:.3f}' if v is not None else 'n/a'
            print(f'{rt["kind"]:<6} {rt["clients"]:>7} {f(rt["cpu"]):>8} {f(rt["cpu_all_threads"]):>16} '
                  f'{f(rt["latency"]):>8} {f(rt["bytes"]):>8}')
    else:
        print(f'QEMU -vnc peer: not measured ({qemu_why})')
    out = {'date': datetime.datetime.now(datetime.timezone.utc).isoformat(), 'rows': rows,
           'qemu': qemu or None, 'qemu_not_measured': qemu_why, 'ratios_parvis_over_qemu': ratios, 'note': 'loaded shared 2-core PVM machine: latency and CPU are noisy'}
    path = a.json or os.path.join(HERE, 'results',
                                  'console-' + datetime.datetime.now().strftime('%Y%m%d-%H%M%S') + '.json')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(out, f, indent=1)
    print(f'results: {path}')


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
"""Live migration between two workers, Parvis against QEMU in the same run.

  bench/migration.py [--build DIR] [--sizes 512,2048] [--no-qemu] [--veth]

The guest is the tiny kernel (tests/guest/tiny/tiny_kernel.S) with guest RAM
of each size, twice: "numbers" (idle memory: it prints numbers on COM1) and
"fill" (a non-zero word written into every page above 32 MiB, then the
numbers: the stream carries that RAM). Once it prints numbers it is migrated,
running, to a second process on this machine over a Unix socket:
  - Parvis: a destination `parvis-vmwp --incoming SOCK` with the same
    configuration, the source's control command {"command":"migrate-send",
    "path":SOCK}; the answer's rounds, bytes and downtime (vCPUs paused to
    the destination's ack, sent once its vCPUs run);
  - QEMU (Debian's qemu-system-x86, -M microvm, KVM): a destination with
    `-incoming unix:SOCK`, HMP `migrate unix:SOCK` on the running source
    (no bandwidth cap), its own "info migrate" total time, downtime,
    transferred bytes and dirty sync count.
With --veth (root), also between two hosts as the services do it: two parvis-vmms in two
network namespaces joined by a veth pair (tests/lib/migration_pair.py), `parvis move-vm`
over TLS with the pre-shared key ("parvis-veth"), beside QEMU over the same veth
(`-incoming tcp:` in the destination's namespace, `migrate tcp:`: no encryption, "qemu-veth").
Total: request to completion (Parvis: to the answer). Ratios Parvis/QEMU are
printed (lower is better). Counts that carry over: bytes sent per GiB of RAM,
rounds. The downtimes are each side's own measure (QEMU's ends when its
destination is told to run). On this loaded, PVM host (2 shared cores) the
numbers are noisy; one run each. Results: bench/results/DATE-migration.json.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'bench'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import qemu_peer  # noqa: E402
from parvis_test import control  # noqa: E402
from saved_state import Hmp, printing, read, wait_for, FILL_TIMEOUT  # noqa: E402


def spawn(args, log):
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(log, 'a'))


def stop(*procs):
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def parvis(b, kernel, mib, mode, tmp):
    vmwp = os.path.join(b, 'src', 'vmwp', 'parvis-vmwp')
    con, ctl, sock, log = (os.path.join(tmp, f'parvis-{mib}-{mode}.{x}')
                           for x in ('con', 'ctl', 'sock', 'log'))
    base = [vmwp, '--kernel', kernel, '--cmdline', mode, '--memory', f'{mib}M', '--no-video']
    src = spawn(base + ['--serial', 'file:' + con, '--control', ctl], log)
    dst = None
    try:
        if not wait_for(lambda: printing(con, mode), FILL_TIMEOUT, 0.2):
            return {'error': 'the guest did not start printing: ' + read(con)[-200:]}
        dst = spawn(base + ['--serial', 'file:' + con + '2', '--control', ctl + '2',
                            '--incoming', sock], log)
        if not wait_for(lambda: os.path.exists(sock), 60):
            return {'error': 'the destination does not listen: ' + read(log)[-300:]}
        t0 = time.monotonic()
        r = control(ctl, {'command': 'migrate-send', 'path': sock}, 900)
        total = time.monotonic() - t0
        m = (r or {}).get('migration', {})
        if not r or not r.get('ok'):
            return {'error': f'migrate-send: {r}'}
        if not wait_for(lambda: os.path.exists(con + '2') and os.path.getsize(con + '2'), 120):
            return {'error': 'the destination printed nothing: ' + read(log)[-300:]}
        return {'total_s': total, 'downtime_s': m.get('downtime_ms', 0) / 1000,
                'bytes': m.get('bytes'), 'rounds': m.get('rounds'),
                'last_dirty_pages': m.get('last_dirty_pages'),
                'throttle_pauses': m.get('throttle_pauses')}
    finally:
        stop(src, *([dst] if dst else []))


def parvis_veth(kernel, mib, mode, tmp, pair):
    """move-vm between the two services of pair (TLS over the veth)."""
    a, b, name = pair.a, pair.b, f'bench-{mib}-{mode}'
    rc, out, err = a.cli('new-vm', name, '--memory', f'{mib}M', '--kernel', kernel, '--cmdline',
                         mode, '--no-video')
    if rc:
        return {'error': 'new-vm: ' + err.strip()}
    try:
        rc, out, err = a.cli('start-vm', name, timeout=600)
        if rc:
            return {'error': 'start-vm: ' + err.strip()}
        con = os.path.join(a.state_dir, 'run', a.vm(name)['id'], 'console.log')
        if not wait_for(lambda: printing(con, mode), FILL_TIMEOUT, 0.2):
            return {'error': 'the guest did not start printing: ' + read(con)[-200:]}
        t0 = time.monotonic()
        rc, res, err = a.cli_json('move-vm', name, '--destination-host', pair.dest_b,
                                  timeout=1800)
        total = time.monotonic() - t0
        if rc:
            return {'error': 'move-vm: ' + err.strip()}
        m = res.get('migration', {})
        return {'total_s': total, 'downtime_s': m.get('downtime_ms', 0) / 1000,
                'bytes': m.get('bytes'), 'rounds': m.get('rounds'),
                'last_dirty_pages': m.get('last_dirty_pages'),
                'throttle_pauses': m.get('throttle_pauses'),
                'worker_total_s': m.get('total_ms', 0) / 1000}
    finally:
        for svc in (a, b):
            svc.cli('stop-vm', name, '--turn-off')
            svc.cli('remove-vm', name, '--force')


def qemu_veth(kernel, mib, mode, tmp, cpu, pair):
    """QEMU's own migration over the same veth: source in one namespace, destination in the other."""
    con, mon, log = (os.path.join(tmp, f'qemuv-{mib}-{mode}.{x}') for x in ('con', 'mon', 'log'))
    base = ['qemu-system-x86_64', '-M', 'microvm', '-enable-kvm', '-cpu', cpu, '-m', f'{mib}M',
            '-nodefaults', '-no-user-config', '-display', 'none', '-kernel', kernel,
            '-append', mode, '-no-reboot']
    port = 4444
    src = spawn(['ip', 'netns', 'exec', pair.ns_a] + base +
                ['-serial', 'file:' + con, '-monitor', f'unix:{mon},server,nowait'], log)
    dst = None
    try:
        if not wait_for(lambda: printing(con, mode), FILL_TIMEOUT, 0.2):
            return {'error': 'the guest did not start printing: ' + read(con)[-200:]}
        dst = spawn(['ip', 'netns', 'exec', pair.ns_b] + base +
                    ['-serial', 'file:' + con + '2', '-incoming', f'tcp:{pair.ip_b}:{port}'], log)
        listening = lambda: subprocess.run(  # noqa: E731
            ['ip', 'netns', 'exec', pair.ns_b, 'ss', '-Hltn', f'sport = :{port}'],
            capture_output=True, text=True).stdout.strip()
        if not wait_for(listening, 60, 0.1):
            return {'error': 'the destination does not listen: ' + read(log)[-300:]}
        h = Hmp(mon)
        h.cmd('migrate_set_parameter max-bandwidth 100G')
        t0 = time.monotonic()
        h.cmd(f'migrate tcp:{pair.ip_b}:{port}')
        status = ''
        while 'completed' not in status and 'failed' not in status:
            status = h.cmd('info migrate')
            time.sleep(0.005)
        total = time.monotonic() - t0
        if 'completed' not in status:
            return {'error': 'migrate: ' + status[-300:]}
        kb = info_number(status, 'transferred ram')
        return {'total_s': total, 'total_ms_reported': info_number(status, 'total time'),
                'downtime_s': (info_number(status, 'downtime') or 0) / 1000,
                'bytes': kb * 1024 if kb is not None else None,
                'rounds': info_number(status, 'dirty sync count')}
    finally:
        stop(src, *([dst] if dst else []))


def info_number(text, key):
    m = re.search(re.escape(key) + r':\s*([0-9]+)', text)
    return int(m.group(1)) if m else None


def qemu(kernel, mib, mode, tmp, cpu):
    con, mon, sock, log = (os.path.join(tmp, f'qemu-{mib}-{mode}.{x}')
                           for x in ('con', 'mon', 'sock', 'log'))
    base = ['qemu-system-x86_64', '-M', 'microvm', '-enable-kvm', '-cpu', cpu, '-m', f'{mib}M',
            '-nodefaults', '-no-user-config', '-display', 'none', '-kernel', kernel,
            '-append', mode, '-no-reboot']
    src = spawn(base + ['-serial', 'file:' + con, '-monitor', f'unix:{mon},server,nowait'], log)
    dst = None
    try:
        if not wait_for(lambda: printing(con, mode), FILL_TIMEOUT, 0.2):
            return {'error': 'the guest did not start printing: ' + read(con)[-200:]}
        dst = spawn(base + ['-serial', 'file:' + con + '2', '-incoming', f'unix:{sock}'], log)
        if not wait_for(lambda: os.path.exists(sock), 60):
            return {'error': 'the destination does not listen: ' + read(log)[-300:]}
        h = Hmp(mon)
        h.cmd('migrate_set_parameter max-bandwidth 100G')
        t0 = time.monotonic()
        h.cmd(f'migrate unix:{sock}')
        status = ''
        while 'completed' not in status and 'failed' not in status:
            status = h.cmd('info migrate')
            time.sleep(0.005)
        total = time.monotonic() - t0
        if 'completed' not in status:
            return {'error': 'migrate: ' + status[-300:]}
        kb = info_number(status, 'transferred ram')
        return {'total_s': total, 'total_ms_reported': info_number(status, 'total time'),
                'downtime_s': (info_number(status, 'downtime') or 0) / 1000,
                'bytes': kb * 1024 if kb is not None else None,
                'rounds': info_number(status, 'dirty sync count')}
    finally:
        stop(src, *([dst] if dst else []))


def ms(v):
    return f'{v * 1000:8.1f} ms' if isinstance(v, (int, float)) else '       -   '


def mib(v):
    return f'{v / 2**20:9.2f} MiB' if isinstance(v, (int, float)) else '        -    '


def ratio(a, b):
    return a / b if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else None


def line(name, v):
    return (f'{name:12} total {ms(v.get("total_s"))} downtime {ms(v.get("downtime_s"))} '
            f'sent {mib(v.get("bytes"))} rounds {v.get("rounds")}'
            + (f'  {v["error"]}' if 'error' in v else ''))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', default=os.path.join(ROOT, 'build'))
    ap.add_argument('--sizes', default='512', help='guest RAM sizes in MiB')
    ap.add_argument('--no-qemu', action='store_true')
    ap.add_argument('--veth', action='store_true',
                    help='also between two services over a veth pair (root)')
    args = ap.parse_args()
    kernel = os.path.join(args.build, 'tests', 'guest', 'tiny-kernel.elf')
    if not os.path.exists(kernel):
        print(f'no {kernel}: build first (meson setup build && ninja -C build)')
        return 1
    cpu, why = (None, 'not asked (--no-qemu)') if args.no_qemu else \
        qemu_peer.cpu_model() if shutil.which('qemu-system-x86_64') else (None, 'not installed')
    tmp = tempfile.mkdtemp(prefix='parvis-bench-mig-', dir=os.environ.get('TMPDIR', '/var/tmp'))
    res = {'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H%M%SZ'),
           'host': os.uname().nodename, 'pvm': os.path.exists('/sys/module/kvm_pvm'),
           'qemu_cpu': cpu, 'qemu_missing': None if cpu else why, 'runs': []}
    pair = None
    if args.veth:
        from migration_pair import Pair
        os.environ.setdefault('PARVIS_VMMS', os.path.join(args.build, 'src', 'vmms', 'parvis-vmms'))
        os.environ.setdefault('PARVIS_CLI', os.path.join(args.build, 'src', 'cli', 'parvis'))
        os.environ.setdefault('PARVIS_VMWP', os.path.join(args.build, 'src', 'vmwp', 'parvis-vmwp'))
        os.chmod(tmp, 0o755)
        pair = Pair(tmp)
        if not (pair.a.start() and pair.b.start() and pair.enable()):
            print('the two services did not start: ' + pair.a.read_log()[-500:])
            return 1
        shared = os.path.join(tmp, 'tiny.elf')
        shutil.copy(kernel, shared)
        os.chmod(shared, 0o644)
    try:
        for size in (int(s) for s in args.sizes.split(',')):
            for mode in ('numbers', 'fill'):
                row = {'memory_mib': size, 'memory': 'idle' if mode == 'numbers' else 'filled',
                       'parvis': parvis(args.build, kernel, size, mode, tmp)}
                print(f'{size:5} MiB {row["memory"]:6} ' + line('parvis:', row['parvis']),
                      flush=True)
                if cpu:
                    row['qemu'] = qemu(kernel, size, mode, tmp, cpu)
                    print(f'{"":16}' + line('qemu:', row['qemu']), flush=True)
                    pv, qv = row['parvis'], row['qemu']
                    row['ratios'] = {k: ratio(pv.get(k), qv.get(k))
                                     for k in ('total_s', 'downtime_s', 'bytes')}
                    print(f'{"":16}ratio parvis/qemu: '
                          + ', '.join(f'{k.split("_")[0]} {v:.2f}' if v is not None
                                      else f'{k.split("_")[0]} -'
                                      for k, v in row['ratios'].items()) + ' (lower is better)',
                          flush=True)
                if pair:
                    row['parvis_veth'] = parvis_veth(shared, size, mode, tmp, pair)
                    print(f'{"":16}' + line('parvis-veth:', row['parvis_veth']), flush=True)
                    if cpu:
                        row['qemu_veth'] = qemu_veth(kernel, size, mode, tmp, cpu, pair)
                        print(f'{"":16}' + line('qemu-veth:', row['qemu_veth']), flush=True)
                        pv, qv = row['parvis_veth'], row['qemu_veth']
                        row['ratios_veth'] = {k: ratio(pv.get(k), qv.get(k))
                                              for k in ('total_s', 'downtime_s', 'bytes')}
                        print(f'{"":16}ratio parvis-veth/qemu-veth: '
                              + ', '.join(f'{k.split("_")[0]} {v:.2f}' if v is not None
                                          else f'{k.split("_")[0]} -'
                                          for k, v in row['ratios_veth'].items()), flush=True)
                if isinstance(row['parvis'].get('bytes'), int):
                    row['parvis_bytes_per_gib'] = row['parvis']['bytes'] / (size / 1024)
                res['runs'].append(row)
    finally:
        if pair:
            pair.a.stop()
            pair.b.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if not cpu:
        print(f'QEMU peer: not measured ({why})')
    os.makedirs(os.path.join(ROOT, 'bench', 'results'), exist_ok=True)
    path = os.path.join(ROOT, 'bench', 'results', f'{res["date"]}-migration.json')
    with open(path, 'w') as f:
        json.dump(res, f, indent=1)
    print(f'written to {os.path.relpath(path, ROOT)} (one run each, on a loaded host: noisy)')
    return 0


if __name__ == '__main__':
    sys.exit(main())

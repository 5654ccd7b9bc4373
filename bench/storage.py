#!/usr/bin/env python3
"""Storage benchmark: the storage VSP against the host's own I/O, and the
exits a real guest pays per I/O against QEMU's virtio-blk.

One command:  bench/storage.py [--build DIR] [--seconds S] [--size MIB] [--dir DIR]
                               [--no-vsp] [--no-guest] [--no-qemu] [--json FILE]

1. VSP throughput (host code only, carries over to hardware virtualization):
   DIR/bench/storage-bench plays the guest's storvsc with the guest-side
   client (tests/lib/storvsc_client.c) on one thread against the real
   VMBus server, storvsp and disk back end, on a raw file and on a dynamic
   VHDX made by `parvis vhd new`. Beside it, in the same run, fio with
   io_uring on the same raw file with the same jobs: the limit. The three
   alternate in --rounds rounds (default 5; the order rotates each round),
   so that a noisy host slows all of them alike. Printed per job: the
   median IOPS of each, the spread ((max - min) / median), the ratios of
   the medians to fio's, host CPU per I/O (medians; the VSP's threads,
   without the thread playing the guest; fio: its whole process), the
   raw-vs-VHDX gap, and guest->host signals and host->guest interrupts per
   1,000 requests. Every run's numbers go to bench/results/ as dated JSON.
2. With a real guest (unless --no-guest): the kit kernel mounts the kit's
   Debian root disk (a VHDX) read-write and its ext4 lazy inode-table
   initialisation writes in the background; the storage counters of the
   worker's control socket give guest signals and host interrupts per
   1,000 requests. Guest user space cannot run on PVM hosts, so there the
   guest's I/O is the kernel's own (mount, journal, lazy init).
3. QEMU's virtio-blk under TCG (unless --no-qemu): bench/storage_qemu.py
   runs the same fio jobs in Debian's stock kernel and counts virtqueue
   kicks and interrupts per 1,000 requests.

Prints numbers and ratios; asserts nothing (timings belong here, not in tests).
"""
import argparse
import datetime
import json
import os
import statistics
import resource
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'bench'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))

# name: (fio rw, block size, iodepth) -- the jobs of bench/storage_bench.c.
JOBS = {
    'seqwrite-1m-qd8': ('write', '1m', 8),
    'seqread-1m-qd8': ('read', '1m', 8),
    'randread-4k-qd1': ('randread', '4k', 1),
    'randread-4k-qd32': ('randread', '4k', 32),
    'randwrite-4k-qd1': ('randwrite', '4k', 1),
    'randwrite-4k-qd32': ('randwrite', '4k', 32),
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def storage_bench(build, path, seconds, size, poll_ns=None):
    extra = ['--poll-ns', str(poll_ns)] if poll_ns is not None else []
    out = subprocess.run([os.path.join(build, 'bench', 'storage-bench'), '--seconds', str(seconds),
                          '--size', str(size)] + extra + [path],
                         capture_output=True, text=True, timeout=900)
    if out.returncode:
        raise RuntimeError(f'storage-bench {path}: {out.stderr.strip()}')
    lines = [json.loads(l) for l in out.stdout.splitlines() if l.strip()]
    return {l['job']: l for l in lines if 'job' in l}, lines[0]


def fio(path, name, seconds, size, direct):
    rw, bs, qd = JOBS[name]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(['fio', '--name', name, '--filename', path, '--size', f'{size}M',
                          '--rw', rw, '--bs', bs, '--iodepth', str(qd), '--ioengine', 'io_uring',
                          f'--direct={int(direct)}', '--invalidate=0', '--time_based',
                          '--runtime', str(seconds), '--randrepeat=0', '--output-format=json'],
                         capture_output=True, text=True, timeout=seconds * 10 + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode:
        raise RuntimeError(f'fio {name}: {out.stderr.strip()}')
    job = json.loads(out.stdout)['jobs'][0]
    side = job['write'] if 'write' in rw else job['read']
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    ios = side['total_ios'] or 1
    return {'iops': side['iops'], 'mib_s': side['bw'] / 1024, 'cpu_us_per_io': cpu * 1e6 / ios}


def vhd_tool(build):
    for cand in (os.path.join(build, 'src', 'cli', 'parvis'),
                 os.path.join(build, 'src', 'cli', 'parvis-vhd')):
        if os.path.exists(cand):
            return [cand, 'vhd'] if cand.endswith('parvis') else [cand]
    raise RuntimeError(f'no parvis command under {build}/src/cli (build the project first)')


def median_of(runs, key):
    return statistics.median(r[key] for r in runs)


def spread(runs, key):
    vals = [r[key] for r in runs]
    med = statistics.median(vals)
    return (max(vals) - min(vals)) / med if med else 0.0


def vsp_throughput(args, work):
    raw = os.path.join(work, 'disk.raw')
    vhdx = os.path.join(work, 'disk.vhdx')
    with open(raw, 'wb') as f:
        f.truncate((args.size + 64) << 20)
    subprocess.run(vhd_tool(args.build) + ['new', vhdx, '--size', f'{args.size + 64}M', '--dynamic'],
                   check=True, capture_output=True)
    runs = {'fio': {n: [] for n in JOBS}, 'raw': {n: [] for n in JOBS}, 'vhdx': {n: [] for n in JOBS}}
    direct = None
    engines = ['fio', 'raw', 'vhdx']
    for rnd in range(args.rounds):
        # Rotate the order so that none always runs first (warm caches, a quiet moment).
        order = engines[rnd % 3:] + engines[:rnd % 3]
        for eng in order:
            log(f'round {rnd + 1}/{args.rounds}: {eng} ({args.size} MiB working set, '
                f'{args.seconds} s per job)')
            if eng == 'fio':
                if direct is None:
                    _, info = storage_bench(args.build, raw, 0.001, 1, args.poll_ns)
                    direct = bool(info.get('direct', False))
                for name in JOBS:
                    runs['fio'][name].append(fio(raw, name, args.seconds, args.size, direct))
            else:
                res, info = storage_bench(args.build, raw if eng == 'raw' else vhdx, args.seconds,
                                          args.size, args.poll_ns)
                if eng == 'raw':
                    direct = bool(info.get('direct', False))
                for name in JOBS:
                    runs[eng][name].append(res[name])

    med = {eng: {n: {'iops': median_of(runs[eng][n], 'iops'),
                     'iops_spread': spread(runs[eng][n], 'iops'),
                     'cpu_us_per_io': median_of(runs[eng][n], 'cpu_us_per_io' if eng == 'fio'
                                                else 'host_cpu_us_per_io')}
                 for n in JOBS} for eng in engines}
    for eng in ('raw', 'vhdx'):
        for n in JOBS:
            med[eng][n]['signals_per_1000'] = median_of(runs[eng][n], 'signals_per_1000')
            med[eng][n]['interrupts_per_1000'] = median_of(runs[eng][n], 'interrupts_per_1000')
    print(f'\n== storage VSP vs the host\'s own I/O (fio io_uring, direct={int(bool(direct))}), '
          f'{args.size} MiB working set, medians of {args.rounds} alternating rounds')
    print(f'{"job":<18} {"fio IOPS":>9} {"spr":>5} {"raw IOPS":>9} {"spr":>5} {"ratio":>6} '
          f'{"vhdx IOPS":>9} {"spr":>5} {"ratio":>6} {"gap":>6} | {"CPU us/IO fio":>13} {"raw":>6} '
          f'{"vhdx":>6} | {"sig/1000":>8} {"int/1000":>8}')
    idle = {n: [e for e in engines if not med[e][n]['iops']] for n in JOBS}
    for name in JOBS:
        f, r, v = med['fio'][name], med['raw'][name], med['vhdx'][name]
        if idle[name]:
            print(f'{name:<18} not measured: no I/O completed ({", ".join(idle[name])})')
            continue
        gap = 1 - v['iops'] / r['iops']
        print(f'{name:<18} {f["iops"]:9.0f} {f["iops_spread"]:5.0%} {r["iops"]:9.0f} '
              f'{r["iops_spread"]:5.0%} {r["iops"] / f["iops"]:6.2f} {v["iops"]:9.0f} '
              f'{v["iops_spread"]:5.0%} {v["iops"] / f["iops"]:6.2f} {gap:6.1%} | '
              f'{f["cpu_us_per_io"]:13.2f} {r["cpu_us_per_io"]:6.2f} {v["cpu_us_per_io"]:6.2f} | '
              f'{r["signals_per_1000"]:8.1f} {r["interrupts_per_1000"]:8.1f}')
    ratios = {}
    for eng in ('raw', 'vhdx'):
        for q in ('randread-4k-qd1', 'randwrite-4k-qd1', 'randread-4k-qd32', 'randwrite-4k-qd32'):
            ratios[f'{eng} {q}'] = (None if idle[q] else med[eng][q]['iops'] / med['fio'][q]['iops'])
    print('ratio of medians to fio (targets: >= 0.85 at QD1, >= 0.95 at QD32):')
    for k, v in ratios.items():
        print(f'  {k:<26} ' + (f'{v:5.2f}' if v is not None else
                               f'not measured: no I/O completed ({", ".join(idle[k.split()[1]])})'))
    measured = [n for n in JOBS if not idle[n]]
    if len(measured) == len(JOBS):
        print(f'raw-vs-VHDX gap: {max(1 - med["vhdx"][n]["iops"] / med["raw"][n]["iops"] for n in JOBS):.1%} '
              f'(worst job)')
    else:
        print('raw-vs-VHDX gap: not measured: no I/O completed in ' +
              ', '.join(n for n in JOBS if idle[n]))
    return {'rounds': args.rounds, 'seconds': args.seconds, 'size_mib': args.size,
            'direct': bool(direct), 'poll_ns': args.poll_ns, 'median': med, 'ratios': ratios,
            'runs': runs}


def compare(guest, qemu):
    """Exits per I/O: Parvis (guest signals + host interrupts) against QEMU (kicks + interrupts)."""
    if not guest:
        return
    print('\n== exits per 1,000 requests (guest->host + host->guest)')
    if isinstance(guest, list):
        by_job = {r['job']: r for r in guest}
        for q in qemu:
            g = by_job.get(q['job'])
            if g:
                pe = g['signals_per_1000'] + g['interrupts_per_1000']
                qe = q['kicks_per_1000'] + q['interrupts_per_1000']
                print(f'{q["job"]:<16} Parvis {pe:8.1f}  QEMU {qe:8.1f}  ratio {pe / qe:5.2f}')
    else:
        pe = guest['signals_per_1000'] + guest['interrupts_per_1000']
        print(f'Parvis, the guest kernel\'s own I/O ({guest["requests"]} requests): {pe:.1f}')
        for q in qemu:
            qe = q['kicks_per_1000'] + q['interrupts_per_1000']
            print(f'QEMU {q["job"]:<16} {qe:8.1f}   (Parvis/QEMU {pe / qe:5.2f}; different workloads: '
                  f'fio cannot run in a guest on PVM hosts)')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', default=os.path.join(ROOT, 'build'))
    ap.add_argument('--seconds', type=float, default=3)
    ap.add_argument('--size', type=int, default=512, help='working set, MiB')
    ap.add_argument('--dir', default='/var/tmp', help='where the disk files go (not tmpfs)')
    ap.add_argument('--no-vsp', action='store_true', help='leave out the VSP throughput part')
    ap.add_argument('--rounds', type=int, default=5,
                    help='alternating rounds of fio, raw and VHDX (medians; at least 5 for a ratio '
                    'worth reading)')
    ap.add_argument('--poll-ns', type=int, default=None,
                    help='channel loop spin after the last packet (default: the server\'s; -1 none)')
    ap.add_argument('--no-guest', action='store_true')
    ap.add_argument('--no-qemu', action='store_true')
    ap.add_argument('--guest-seconds', type=int, default=240,
                    help='PVM hosts: seconds of the guest kernel\'s own I/O to count')
    ap.add_argument('--qemu-runs', type=int, default=1, help='QEMU boots (medians)')
    ap.add_argument('--json', help='also write all results to this file')
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(dir=args.dir, prefix='parvis-bench-') as work:
        if not args.no_vsp:
            results['vsp'] = vsp_throughput(args, work)
        if not args.no_guest:
            import storage_guest
            results['guest'] = storage_guest.run(args, work)
        if not args.no_qemu:
            import storage_qemu
            log('QEMU virtio-blk under TCG: the same fio jobs in the stock guest')
            try:
                q = storage_qemu.run_qemu_runs(args.qemu_runs, cpus=2, log=log)
            except storage_qemu.BenchError as e:
                print(f'QEMU column: not measured: {e}')
            else:
                print('\n== QEMU virtio-blk under TCG (2 vCPUs and queues): guest->host kicks and '
                      'host->guest interrupts per 1,000 requests')
                storage_qemu.print_table(q)
                results['qemu'] = q
                compare(results.get('guest'), q)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H%M%SZ')
    results['date'] = stamp
    results['args'] = vars(args)
    outdir = os.path.join(ROOT, 'bench', 'results')
    os.makedirs(outdir, exist_ok=True)
    dated = os.path.join(outdir, f'storage-{stamp}.json')
    for path in [dated] + ([args.json] if args.json else []):
        with open(path, 'w') as f:
            json.dump(results, f, indent=1)
    log(f'results: {dated}')


if __name__ == '__main__':
    main()

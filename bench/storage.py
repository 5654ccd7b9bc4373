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
   io_uring on the same raw file with the same jobs: the limit. Printed per
   job: IOPS, MiB/s, host CPU per I/O (the VSP's threads, without the
   thread playing the guest; fio: its whole process), the ratio to fio,
   the raw-vs-VHDX gap, and guest->host signals and host->guest interrupts
   per 1,000 requests.
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
import json
import os
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


def storage_bench(build, path, seconds, size):
    out = subprocess.run([os.path.join(build, 'bench', 'storage-bench'), '--seconds', str(seconds),
                          '--size', str(size), path], capture_output=True, text=True, timeout=600)
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


def vsp_throughput(args, work):
    raw = os.path.join(work, 'disk.raw')
    vhdx = os.path.join(work, 'disk.vhdx')
    with open(raw, 'wb') as f:
        f.truncate((args.size + 64) << 20)
    subprocess.run(vhd_tool(args.build) + ['new', vhdx, '--size', f'{args.size + 64}M', '--dynamic'],
                   check=True, capture_output=True)
    log(f'storage-bench on a raw file ({args.size} MiB working set, {args.seconds} s per job)')
    raw_res, info = storage_bench(args.build, raw, args.seconds, args.size)
    direct = bool(info.get('direct', False))
    log('storage-bench on a dynamic VHDX')
    vhdx_res, _ = storage_bench(args.build, vhdx, args.seconds, args.size)
    log(f'fio (io_uring, direct={int(direct)}: as the back end opened the file) on the raw file')
    fio_res = {name: fio(raw, name, args.seconds, args.size, direct) for name in JOBS}

    print(f'\n== storage VSP vs the host\'s own I/O (fio io_uring, direct={int(direct)}), '
          f'{args.size} MiB working set')
    print(f'{"job":<18} {"fio IOPS":>9} {"raw IOPS":>9} {"ratio":>6} {"vhdx IOPS":>9} {"ratio":>6} '
          f'{"gap":>6} | {"CPU us/IO fio":>13} {"raw":>6} {"vhdx":>6} | {"sig/1000":>8} '
          f'{"int/1000":>8}')
    idle = {name: [side for side, res in (('fio', fio_res), ('raw', raw_res), ('vhdx', vhdx_res))
                   if not res[name]['iops']] for name in JOBS}
    for name in JOBS:
        f, r, v = fio_res[name], raw_res[name], vhdx_res[name]
        if idle[name]:
            print(f'{name:<18} not measured: no I/O completed ({", ".join(idle[name])})')
            continue
        gap = 1 - v['iops'] / r['iops']
        print(f'{name:<18} {f["iops"]:9.0f} {r["iops"]:9.0f} {r["iops"] / f["iops"]:6.2f} '
              f'{v["iops"]:9.0f} {v["iops"] / f["iops"]:6.2f} {gap:6.1%} | '
              f'{f["cpu_us_per_io"]:13.2f} {r["host_cpu_us_per_io"]:6.2f} '
              f'{v["host_cpu_us_per_io"]:6.2f} | {r["signals_per_1000"]:8.1f} '
              f'{r["interrupts_per_1000"]:8.1f}')
    q = 'randread-4k-qd32'
    if any(idle.values()):
        print('target: not measured: ' + '; '.join(f'{n}: no I/O ({", ".join(s)})'
                                                   for n, s in idle.items() if s))
    else:
        print(f'target: >= 0.90 of the host at QD32: randread {raw_res[q]["iops"] / fio_res[q]["iops"]:.2f}, '
              f'randwrite {raw_res["randwrite-4k-qd32"]["iops"] / fio_res["randwrite-4k-qd32"]["iops"]:.2f}; '
              f'raw-vs-VHDX gap < 10%: '
              f'{max(1 - vhdx_res[n]["iops"] / raw_res[n]["iops"] for n in JOBS):.1%} (worst job)')
    return {'fio': fio_res, 'raw': raw_res, 'vhdx': vhdx_res}


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
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
"""Network benchmark: the synthetic NIC (netvsp) against the TAP's own limit.

One command:  bench/network.py [--build DIR] [--seconds S] [--rounds N] [--json FILE]

DIR/bench/network-bench (root: it makes its own network namespace) plays the
guest's hv_netvsc with the guest-side client (tests/lib/netvsc_client.c) on
one thread against the real VMBus server, netvsp and a TAP, then measures, in
the same run, a host program writing and reading the same TAP directly (the
TAP's own limit, what netvsp's system calls cost at best):
  - guest -> host: 64-byte frames (frames/s), 1,500-byte frames (Gbit/s) and
    64 KiB LSO frames (Gbit/s, the TAP segments them: virtio GSO);
  - host -> guest: 64- and 1,500-byte frames injected into the TAP;
  - host CPU per frame (the process minus the client's thread), guest->host
    signals and host->guest interrupts per 1,000 frames (the counts that carry
    over to hardware virtualization: they are exits and injected interrupts).
Rounds alternate with the limit inside each run; medians and spreads are
printed. The machine is shared and loaded: the numbers are noisy, ratios
between runs of the same round mean more than absolute values.
Beside it, in the same run, QEMU's virtio-net (bench/network_qemu.py: the
stock guest under TCG, user-space back end `-netdev tap,vhost=off`, pktgen
sending and the host injecting the same frame sizes): kicks and interrupts
per 1,000 packets, printed next to netvsp's guest signals and host
interrupts per 1,000 frames (the exits that carry over to hardware), with
their ratio. --no-qemu leaves it out.
--baseline-build DIR runs DIR's network-bench (another build of the tree, e.g.
the commit before a change) in every round too, alternating with this build's,
and prints each path's median beside the baseline's: before and after in the
same conditions.
Not measured: RSC on receive (the injector writes MTU-sized frames; RSC is
tested for correctness in tests/unit/vsp/netvsp), and 64 KiB LSO on QEMU's
side (pktgen sends no GSO frames).
Prints numbers and ratios; asserts nothing. Results: bench/results/network-*.json.
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import network_qemu  # noqa: E402
import storage_qemu  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAIRS = [('tx-64', 'tap-write-64', 'frames_per_s'), ('tx-1500', 'tap-write-1500', 'gbit_per_s'),
         ('tx-lso64k', 'tap-write-lso64k', 'gbit_per_s'), ('rx-64', 'tap-read-64', 'frames_per_s'),
         ('rx-1500', 'tap-read-1500', 'gbit_per_s')]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', default=os.path.join(ROOT, 'build'))
    ap.add_argument('--seconds', type=float, default=3)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--json')
    ap.add_argument('--no-qemu', action='store_true', help="leave out QEMU's virtio-net peer")
    ap.add_argument('--qemu-packets', type=int, default=10000, help='packets per phase in the QEMU guest')
    ap.add_argument('--baseline-build', help="another build's network-bench, run alternating with this one")
    args = ap.parse_args()
    exe = os.path.join(args.build, 'bench', 'network-bench')
    base_exe = os.path.join(args.baseline_build, 'bench', 'network-bench') if args.baseline_build else None
    runs, base_runs = [], []

    def one(path):
        p = subprocess.run([path, str(args.seconds)], capture_output=True, text=True)
        if p.returncode:
            sys.exit(f'network-bench ({path}) failed: {p.stderr}')
        return json.loads(p.stdout)

    for i in range(args.rounds):
        # Alternate which goes first, so that neither always gets the quieter moment.
        order = [(runs, exe)] + ([(base_runs, base_exe)] if base_exe else [])
        for out, path in (order if i % 2 == 0 else order[::-1]):
            out.append(one(path))
        print(f'round {i + 1}/{args.rounds} done', file=sys.stderr, flush=True)
    summary = {}
    print(f'{"path":12} {"netvsp":>12} {"TAP limit":>12} {"ratio":>6} {"spread":>7} '
          f'{"CPU ns/frame":>12} {"sig/1k":>7} {"irq/1k":>7}')
    for vsp, lim, key in PAIRS:
        v = [r[vsp][key] for r in runs]
        l = [r[lim][key] for r in runs]
        mv, ml = statistics.median(v), statistics.median(l)
        cpu = statistics.median(r[vsp]['host_cpu_ns_per_frame'] for r in runs)
        sig = statistics.median(r[vsp]['guest_signals_per_1k'] for r in runs)
        irq = statistics.median(r[vsp]['host_interrupts_per_1k'] for r in runs)
        spread = (max(v) - min(v)) / mv if mv else 0
        unit = 'f/s' if key == 'frames_per_s' else 'Gbit/s'
        summary[vsp] = {'median': mv, 'limit_median': ml, 'unit': unit,
                        'ratio_to_limit': mv / ml if ml else None, 'spread': spread,
                        'host_cpu_ns_per_frame': cpu, 'guest_signals_per_1k': sig,
                        'host_interrupts_per_1k': irq}
        fmt = (lambda x: f'{x:,.0f}') if key == 'frames_per_s' else (lambda x: f'{x:.2f}')
        print(f'{vsp:12} {fmt(mv):>12} {fmt(ml):>12} {mv / ml if ml else 0:6.2f} {spread:7.2f} '
              f'{cpu:12.0f} {sig:7.2f} {irq:7.2f}  ({unit})')
    baseline = compare(base_runs, summary) if base_runs else None
    qemu = qemu_peer(args, summary)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%SZ')
    results = {'date': stamp, 'args': vars(args), 'summary': summary, 'runs': runs, 'qemu_virtio_net': qemu,
               'baseline': baseline, 'baseline_runs': base_runs or None,
               'not_measured': ['receive RSC throughput (the injector writes MTU-sized frames)',
                                'QEMU with 64 KiB LSO frames (pktgen sends no GSO frames)']}
    outdir = os.path.join(ROOT, 'bench', 'results')
    os.makedirs(outdir, exist_ok=True)
    dated = os.path.join(outdir, f'network-{stamp}.json')
    for path in [dated] + ([args.json] if args.json else []):
        with open(path, 'w') as f:
            json.dump(results, f, indent=1)
    print(f'results: {dated}', file=sys.stderr)


def compare(base_runs, summary):
    """The baseline build's medians beside this build's, per path (same rounds, alternating)."""
    print()
    print(f'{"path":12} {"baseline":>12} {"ratio":>6} {"this build":>12} {"ratio":>6} {"speed-up":>8}')
    out = {}
    for vsp, lim, key in PAIRS:
        b = statistics.median(r[vsp][key] for r in base_runs)
        bl = statistics.median(r[lim][key] for r in base_runs)
        v = summary[vsp]
        fmt = (lambda x: f'{x:,.0f}') if key == 'frames_per_s' else (lambda x: f'{x:.2f}')
        out[vsp] = {'median': b, 'limit_median': bl, 'ratio_to_limit': b / bl if bl else None,
                    'speedup': v['median'] / b if b else None}
        print(f'{vsp:12} {fmt(b):>12} {b / bl if bl else 0:6.2f} {fmt(v["median"]):>12} '
              f'{v["ratio_to_limit"] or 0:6.2f} {v["median"] / b if b else 0:8.2f}')
    return out


def qemu_peer(args, summary):
    """QEMU's virtio-net column: its kicks and interrupts per 1,000 packets beside netvsp's."""
    if args.no_qemu:
        return None
    print("QEMU virtio-net (TCG, vhost=off) ...", file=sys.stderr, flush=True)
    try:
        rows = network_qemu.run_qemu(packets=args.qemu_packets,
                                     log=lambda msg: print(msg, file=sys.stderr, flush=True))
    except storage_qemu.BenchError as e:
        print(f'QEMU virtio-net peer not measured: {e}', file=sys.stderr)
        return {'error': str(e)}
    print()
    print('exits per 1,000 packets under load: netvsp (guest signals / host interrupts) beside '
          "QEMU virtio-net (kicks / interrupts); 'exit ratio' is netvsp's notifications both ways\n"
          "over virtio-net's (signals + interrupts) / (kicks + interrupts): on hardware each kick or\n"
          "signal is an exit and each interrupt an injection plus its EOI)")
    print(f'{"path":12} {"netvsp sig":>10} {"netvsp irq":>10} {"virtio kick":>11} {"virtio irq":>10} '
          f'{"exit ratio":>10}')
    for r in rows:
        v = summary.get(r['phase'])
        if not v:
            continue
        sig, irq = v['guest_signals_per_1k'], v['host_interrupts_per_1k']
        peer = r['kicks_per_1000'] + r['interrupts_per_1000']
        ratio = (sig + irq) / peer if peer else None
        r['netvsp_signals_per_1k'], r['netvsp_interrupts_per_1k'], r['exit_ratio'] = sig, irq, ratio
        rs = f'{ratio:10.3f}' if ratio is not None else f'{"-":>10}'
        print(f'{r["phase"]:12} {sig:10.2f} {irq:10.2f} {r["kicks_per_1000"]:11.2f} '
              f'{r["interrupts_per_1000"]:10.2f} {rs}')
    tx = summary.get('tx-1500')
    if tx and tx['ratio_to_limit'] is not None:
        print(f'target: tx-1500 at >= 0.9 of the TAP limit: {tx["ratio_to_limit"]:.2f} '
              f'({"met" if tx["ratio_to_limit"] >= 0.9 else "not met"} in this run)')
    return rows


if __name__ == '__main__':
    main()

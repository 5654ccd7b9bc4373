#!/usr/bin/env python3
"""Hyper-V interface benchmark: host cost of a hypercall and of a SINT injection,
and what a Linux guest asks of src/hv while it boots.

One command:  bench/hv.py [--build DIR] [--iterations 100000] [--no-linux] [--cpus 1]

1. bench/hv_bench.c (built as DIR/bench/hv-bench) runs the tiny guest
   tests/guest/tiny/hv_bench.S in loops of one exit each and reports the
   worker's CPU time per operation: the guest loop alone, the loop with an
   exit to an unassigned port, with a fast HvSignalEvent through the
   hypercall page, and round trips of a message (hv_synic_post_message)
   and of an event (hv_synic_signal_event) posted by a host thread and
   taken by the guest as a SINT interrupt. Differences between the loops
   isolate each layer: the guest's own (on PVM, emulated) instructions,
   the exit, and hv's dispatch. It also times hv_hypercall() alone.
2. Unless --no-linux: boots the guest kit's kernel with --exit-stats and
   prints the exits into src/hv by kind: hypercalls by call code and
   synthetic MSR reads and writes by MSR (the "hv" object of the JSON).

3. The jail's cost per exit: the same loops with the vCPU thread under the
   jailed worker's filters (hv-bench --seccomp: the process filter and the
   vCPU filter stacked on it, src/vmwp/sandbox.c) against without,
   alternated --seccomp-rounds times (medians); the port exit's cost beyond
   the guest's loop is what an exit costs. Then the filters' own cost per
   exit, which the loops cannot resolve on a loaded host: thread CPU time
   of a KVM ioctl with and without them (hv-bench --ioctl-cost). Written
   with the date to bench/results/DATE-hv-seccomp.json.

Prints numbers and ratios; asserts nothing (timings never go in tests).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MSR_NAMES = {
    0x40000000: 'GUEST_OS_ID', 0x40000001: 'HYPERCALL', 0x40000002: 'VP_INDEX',
    0x40000010: 'VP_RUNTIME', 0x40000020: 'TIME_REF_COUNT', 0x40000021: 'REFERENCE_TSC',
    0x40000022: 'TSC_FREQUENCY', 0x40000023: 'APIC_FREQUENCY', 0x40000073: 'VP_ASSIST_PAGE',
    0x40000080: 'SCONTROL', 0x40000081: 'SVERSION', 0x40000082: 'SIEFP', 0x40000083: 'SIMP',
    0x40000084: 'EOM',
}
for _i in range(16):
    MSR_NAMES[0x40000090 + _i] = f'SINT{_i}'


def build(build_dir):
    exe = os.path.join(build_dir, 'bench', 'hv-bench')
    if not os.path.exists(os.path.join(build_dir, 'build.ninja')):
        subprocess.run(['meson', 'setup', build_dir], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(['ninja', '-C', build_dir, 'bench/hv-bench', 'src/vmwp/parvis-vmwp'], check=True,
                   stdout=subprocess.DEVNULL)
    return exe


def micro(exe, build_dir, iterations, seccomp=False):
    out = subprocess.run([exe, os.path.join(build_dir, 'tests', 'guest'), str(iterations)]
                         + (['--seccomp'] if seccomp else []),
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def seccomp_cost(exe, build_dir, iterations, rounds):
    """Medians over alternated runs without and with the vCPU filter."""
    import statistics
    runs = {False: [], True: []}
    for _ in range(rounds):
        for sc in (False, True):
            runs[sc].append(micro(exe, build_dir, iterations, sc))
    out = {}
    for sc, rs in runs.items():
        key = 'seccomp' if sc else 'no_seccomp'
        out[key] = {k: {m: statistics.median(r[k][m] for r in rs)
                        for m in ('wall_ns_per_op', 'cpu_ns_per_op')}
                    for k in ('guest_loop_no_exit', 'port_exit', 'hypercall_signal_event')}
        out[key]['exit_cpu_ns'] = statistics.median(
            r['port_exit']['cpu_ns_per_op'] - r['guest_loop_no_exit']['cpu_ns_per_op'] for r in rs)
        out[key]['exit_wall_ns'] = statistics.median(
            r['port_exit']['wall_ns_per_op'] - r['guest_loop_no_exit']['wall_ns_per_op'] for r in rs)
    out['rounds'], out['iterations'] = rounds, iterations
    return out


def print_seccomp(c):
    a, b = c['no_seccomp'], c['seccomp']
    print()
    print(f"The jail's seccomp filter on the vCPU thread ({c['rounds']} alternated rounds of "
          f"{c['iterations']} iterations, medians):")
    for k in ('port_exit', 'hypercall_signal_event'):
        print(f"  {k:<24} CPU {a[k]['cpu_ns_per_op']:8.0f} ns without, {b[k]['cpu_ns_per_op']:8.0f} ns with "
              f"({(b[k]['cpu_ns_per_op'] / a[k]['cpu_ns_per_op'] - 1) * 100:+.1f}%)")
    print(f"  one port exit beyond the guest's loop: {a['exit_cpu_ns']:.0f} ns CPU without, "
          f"{b['exit_cpu_ns']:.0f} ns with ({(b['exit_cpu_ns'] / a['exit_cpu_ns'] - 1) * 100:+.1f}%); "
          f"wall {a['exit_wall_ns']:.0f} / {b['exit_wall_ns']:.0f} ns")


def print_micro(m):
    print(f"Hyper-V interface, host cost per operation ({'PVM: guest kernel code emulated' if m['pvm'] else 'hardware virtualization'})")
    print(f"{'loop':<26}{'iterations':>11}{'wall ns/op':>12}{'CPU ns/op':>11}{'exits/op':>10}")
    for name in ('guest_loop_no_exit', 'port_exit', 'hypercall_signal_event', 'sint_message', 'sint_event'):
        r = m[name]
        print(f"{name:<26}{r['iterations']:>11}{r['wall_ns_per_op']:>12.0f}{r['cpu_ns_per_op']:>11.0f}"
              f"{r['exits_per_op']:>10.2f}")
    loop, port, hc = (m[k]['cpu_ns_per_op'] for k in ('guest_loop_no_exit', 'port_exit', 'hypercall_signal_event'))
    print()
    print(f"  a port-I/O exit, beyond the guest's loop:          {port - loop:9.0f} ns CPU")
    print(f"  a hypercall, beyond the guest's loop:              {hc - loop:9.0f} ns CPU")
    print(f"  a hypercall, beyond a plain port exit:             {hc - port:9.0f} ns CPU"
          f"  (KVM_GET_SREGS for the calling convention; GPRs through KVM_CAP_SYNC_REGS when KVM has it)")
    print(f"  hv_hypercall() alone (decode, lookup, handler):    {m['hv_hypercall_dispatch_cpu_ns']:9.0f} ns CPU")
    for name, what in (('sint_message', 'message'), ('sint_event', 'event')):
        r = m[name]
        print(f"  SINT {what} round trip (post, MSI, guest wakes, ack): {r['cpu_ns_per_op']:7.0f} ns CPU, "
              f"{r['wall_ns_per_op']:.0f} ns wall; the host call itself: {r['host_post_cpu_ns_per_op']:.0f} ns CPU")
    for unit in ('wall', 'cpu'):
        one, two = m[f'signal_event_1_vp_{unit}_ns'], m[f'signal_event_2_vps_{unit}_ns']
        print(f"  HvSignalEvent dispatch, 1 VP / 2 VPs at once:      {one:6.0f} / {two:6.0f} ns {unit} per call"
              f"  (ratio 2/1: {two / max(one, 1e-9):.2f})")
    if hc > loop:
        print(f"  ratio hypercall/port exit (exit cost only):        {(hc - loop) / max(port - loop, 1):9.2f}")


def guest_kit():
    out = subprocess.run([os.path.join(ROOT, 'tools/guest-kit/build.sh')], check=True,
                         capture_output=True, text=True).stdout
    kit = dict(re.findall(r"^(\w+)='(.*)'$", out, re.M))
    return kit['KIT_VMLINUX'], kit['KIT_INITRAMFS'], kit['KIT_CMDLINE']


def linux(vmwp, cpus, timeout):
    vmlinux, initramfs, cmdline = guest_kit()
    tmp = tempfile.mkdtemp(prefix='parvis-hvbench-')
    stats, console = os.path.join(tmp, 'stats.json'), os.path.join(tmp, 'console')
    t0 = time.monotonic()
    p = subprocess.run([vmwp, '--kernel', vmlinux, '--initrd', initramfs, '--memory', '128M',
                        '--cpus', str(cpus), '--cmdline', cmdline + ' reboot=acpi parvis.run=true',
                        '--serial', 'file:' + console, '--no-reboot', '--exit-stats', stats],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    wall = time.monotonic() - t0
    if not os.path.exists(stats):
        sys.exit(f'the worker wrote no exit stats (exit {p.returncode}): {p.stderr[-2000:]}')
    return json.load(open(stats)), wall, p.returncode


def print_linux(s, wall, rc, cpus):
    hv, exits = s['hv'], s['exits']
    print()
    print(f'Linux guest (kit kernel, {cpus} vCPU, boot to init and reset; {wall:.0f} s wall, worker exit {rc}):'
          ' exits into src/hv')
    print(f"  hypercalls: {hv['hypercalls']} "
          + ', '.join(f'{k}: {v}' for k, v in hv['hypercalls_by_code'].items()))
    rows = sorted(set(hv['msr_reads']) | set(hv['msr_writes']), key=lambda k: int(k, 16))
    print(f"  {'MSR':<12}{'name':<16}{'reads':>7}{'writes':>8}")
    for k in rows:
        print(f"  {k:<12}{MSR_NAMES.get(int(k, 16), '?'):<16}{hv['msr_reads'].get(k, 0):>7}"
              f"{hv['msr_writes'].get(k, 0):>8}")
    total = sum(hv['msr_reads'].values()) + sum(hv['msr_writes'].values())
    print(f"  MSR accesses outside the Hyper-V range (KVM's unknown MSRs): {hv['msr_other']}, #GP: {hv['msr_gp']}")
    print(f"  share of all exits: {total + hv['hypercalls']} of "
          f"{sum(v for k, v in exits.items() if k in ('io', 'mmio', 'msr', 'hypercall'))} "
          f"(port I/O {exits['io']}, MMIO {exits['mmio']}, MSR {exits['msr']})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--build', default=os.path.join(ROOT, 'build'), help='meson build directory')
    ap.add_argument('--iterations', type=int, default=100000)
    ap.add_argument('--no-linux', action='store_true', help='skip the Linux boot (minutes on PVM hosts)')
    ap.add_argument('--cpus', type=int, default=1)
    ap.add_argument('--timeout', type=int, default=900, help='seconds for the Linux boot')
    ap.add_argument('--seccomp-rounds', type=int, default=5,
                    help='alternated runs with and without the vCPU filter (0: skip)')
    args = ap.parse_args()
    build_dir = os.path.abspath(args.build)
    exe = build(build_dir)
    print_micro(micro(exe, build_dir, args.iterations))
    if args.seccomp_rounds:
        c = seccomp_cost(exe, build_dir, args.iterations, args.seccomp_rounds)
        print_seccomp(c)
        # The filters' own cost per KVM ioctl (thread CPU time, hardly moved by load).
        io = [json.loads(subprocess.run([exe, '--ioctl-cost', '1000000'], check=True,
                                        capture_output=True, text=True).stdout)
              for _ in range(args.seccomp_rounds)]
        import statistics
        plain = statistics.median(x['ioctl_cpu_ns'] for x in io)
        filt = statistics.median(x['ioctl_filtered_cpu_ns'] for x in io)
        exit_ns = c['no_seccomp']['exit_cpu_ns']
        print(f"  a KVM ioctl (KVM_GET_API_VERSION) on a thread under both filters: {filt:.0f} ns CPU, "
              f"without: {plain:.0f} ns: the filters cost {filt - plain:.0f} ns per exit, "
              f"{(filt - plain) / exit_ns * 100:.1f}% of this host's exit ({exit_ns:.0f} ns)")
        c['ioctl_cost'] = {'runs': io, 'median_cpu_ns': plain, 'median_filtered_cpu_ns': filt,
                           'filters_ns_per_exit': filt - plain,
                           'share_of_exit': (filt - plain) / exit_ns}
        c['date'] = time.strftime('%Y-%m-%d')
        c['host'] = {'cpus': os.cpu_count(), 'pvm': os.path.exists('/sys/module/kvm_pvm')}
        os.makedirs(os.path.join(ROOT, 'bench', 'results'), exist_ok=True)
        path = os.path.join(ROOT, 'bench', 'results', f"{c['date']}-hv-seccomp.json")
        with open(path, 'w') as f:
            json.dump(c, f, indent=1)
        print(f'  written to {os.path.relpath(path, ROOT)}')
    if not args.no_linux:
        s, wall, rc = linux(os.path.join(build_dir, 'src/vmwp/parvis-vmwp'), args.cpus, args.timeout)
        print_linux(s, wall, rc, args.cpus)


if __name__ == '__main__':
    main()

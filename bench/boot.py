#!/usr/bin/env python3
"""Boot benchmark: the kit kernel to "Run /init", in Parvis and in QEMU.

One command:  bench/boot.py [--runs 5] [--memory 128] [--cpus 1] [--timeout 600]

For each of N runs it boots the guest kit's kernel and initramfs with the
same memory, vCPUs and command line in parvis-vmwp and in QEMU from Debian
(-M microvm, KVM), and records:
  - wall time from process start to "Run /init as init process" on the
    console, and the guest's own uptime at that line (printk time);
  - how far the guest got and how the VMM ended (QEMU may not get there:
    on PVM hosts it stops at the first instruction PVM cannot emulate);
  - Parvis only (from --exit-stats): exits by reason over the whole run,
    process start to first KVM_RUN (wall and CPU ms), and the worker's own
    memory (its RSS without guest RAM: anonymous and file pages, not the guest's memfd).
Then it prints medians, the Parvis/QEMU ratios where both reached init,
and the targets (start-up <= 8 ms CPU, overhead <= 5 MiB). A figure or a
verdict that a side did not produce is printed as "not measured: <why>",
never as a number. Timings are measured, never asserted: nothing here
fails a test.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_peer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INIT_LINE = 'Run /init as init process'
STARTUP_CPU_TARGET_MS = 8
OVERHEAD_TARGET_MIB = 5


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def guest_kit():
    out = sh([os.path.join(ROOT, 'tools/guest-kit/build.sh')])
    kit = dict(re.findall(r"^(\w+)='(.*)'$", out, re.M))
    return kit['KIT_VMLINUX'], kit['KIT_INITRAMFS'], kit['KIT_CMDLINE']


def uptime_at(console, needle):
    for line in console.splitlines():
        if needle in line:
            m = re.match(r'\[\s*(\d+\.\d+)\]', line)
            return float(m.group(1)) if m else None
    return None


def last_line(console):
    lines = [l for l in console.splitlines() if l.strip()]
    return lines[-1][:100] if lines else '(no output)'


def watch(proc, console_path, timeout, stop_at_init):
    """Polls the console; returns (seconds to the init line or None, console text)."""
    t0 = time.monotonic()
    reached = None
    while time.monotonic() - t0 < timeout:
        text = open(console_path, errors='replace').read() if os.path.exists(console_path) else ''
        if reached is None and INIT_LINE in text:
            reached = time.monotonic() - t0
            if stop_at_init:
                break
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    return reached, open(console_path, errors='replace').read() if os.path.exists(console_path) else ''


def run_parvis(vmwp, kit, args, tmp, i):
    vmlinux, initramfs, cmdline = kit
    console = os.path.join(tmp, f'parvis-{i}.console')
    stats = os.path.join(tmp, f'parvis-{i}.json')
    t0 = time.monotonic()
    proc = subprocess.Popen([vmwp, '--kernel', vmlinux, '--initrd', initramfs, '--memory', f'{args.memory}M',
                             '--cpus', str(args.cpus), '--cmdline', cmdline + ' reboot=acpi',
                             '--serial', 'file:' + console, '--no-reboot', '--exit-stats', stats],
                            stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    reached, text = watch(proc, console, args.timeout, stop_at_init=False)
    try:
        rc = proc.wait(timeout=max(1, args.timeout - (time.monotonic() - t0)))
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    s = json.load(open(stats)) if os.path.exists(stats) else {}

    def scaled(key, div):
        return s[key] / div if isinstance(s.get(key), (int, float)) else None

    return {
        'reached_init_s': reached, 'uptime_s': uptime_at(text, INIT_LINE), 'exit': rc,
        'last': last_line(text), 'exits': s.get('exits', {}), 'stats': bool(s),
        'startup_ms': scaled('startup_ns', 1e6), 'startup_cpu_ms': scaled('startup_cpu_ns', 1e6),
        'overhead_mib': scaled('rss_bytes', 2**20),
        'total_s': time.monotonic() - t0,
    }


def run_qemu(kit, args, tmp, i, timeout):
    vmlinux, initramfs, cmdline = kit
    console = os.path.join(tmp, f'qemu-{i}.console')
    cmd = ['qemu-system-x86_64', '-M', 'microvm', '-enable-kvm', '-cpu', args.qemu_cpu, '-m', f'{args.memory}M',
           '-smp', str(args.cpus), '-nodefaults', '-no-user-config', '-display', 'none',
           '-serial', 'file:' + console, '-kernel', vmlinux, '-initrd', initramfs,
           '-append', cmdline, '-no-reboot']
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    reached, text = watch(proc, console, timeout, stop_at_init=True)
    rss_mib = None
    try:
        with open(f'/proc/{proc.pid}/status') as f:
            rss_mib = int(re.search(r'VmRSS:\s+(\d+)', f.read()).group(1)) / 1024
    except (OSError, AttributeError):
        pass
    if proc.poll() is None:
        proc.kill()
    rc = proc.wait()
    err = proc.stderr.read()
    if reached:
        ended = 'killed after init'
    elif rc < 0:
        ended = f'still running after {timeout:.0f} s, killed'
    else:
        ended = f'exit {rc}: ' + (err.strip().splitlines() or [''])[0][:80]
    return {'reached_init_s': reached, 'uptime_s': uptime_at(text, INIT_LINE), 'last': last_line(text),
            'ended': ended, 'rss_mib': rss_mib, 'total_s': time.monotonic() - t0}


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, unit='', nd=2, why='no value'):
    return f'not measured: {why}' if v is None else f'{v:.{nd}f}{unit}'


def target(v, limit, unit):
    return 'no verdict' if v is None else f'target <= {limit} {unit}: ratio {v / limit:.2f}'


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--runs', type=int, default=5)
    ap.add_argument('--memory', type=int, default=128, help='MiB')
    ap.add_argument('--cpus', type=int, default=1)
    ap.add_argument('--timeout', type=int, default=600, help='seconds per boot')
    ap.add_argument('--no-qemu', action='store_true')
    args = ap.parse_args()
    args.qemu_cpu = None
    if not args.no_qemu and shutil.which('qemu-system-x86_64'):
        args.qemu_cpu, why = qemu_peer.cpu_model()
        print(f'QEMU peer: -cpu {args.qemu_cpu}' if args.qemu_cpu else
              f'QEMU peer: not measured: no CPU model QEMU starts with here ({why})', flush=True)

    vmwp = os.path.join(ROOT, 'build/src/vmwp/parvis-vmwp')
    if not os.path.exists(vmwp):
        subprocess.run(['meson', 'setup', os.path.join(ROOT, 'build')], cwd=ROOT, check=False)
        subprocess.run(['ninja', '-C', os.path.join(ROOT, 'build')], check=True)
    kit = guest_kit()
    tmp = tempfile.mkdtemp(prefix='parvis-bench-')
    host = 'PVM (guest kernel code emulated)' if os.path.exists('/sys/module/kvm_pvm') else 'hardware virtualization'
    print(f'host: {host}; guest: kit kernel, {args.memory} MiB, {args.cpus} vCPU(s); {args.runs} runs; logs in {tmp}')

    parvis, qemu = [], []
    for i in range(args.runs):
        p = run_parvis(vmwp, kit, args, tmp, i)
        parvis.append(p)
        nostats = 'the worker wrote no --exit-stats'
        print(f'parvis run {i + 1}: init at {fmt(p["reached_init_s"], " s", why="no init line")} wall, '
              f'{fmt(p["uptime_s"], " s", why="no init line")} guest; exit {p["exit"]}; '
              f'start-up {fmt(p["startup_ms"], " ms", 1, nostats)} '
              f'({fmt(p["startup_cpu_ms"], " ms", 1, nostats)} CPU); '
              f'overhead {fmt(p["overhead_mib"], " MiB", 1, nostats)}', flush=True)
        if not args.no_qemu and shutil.which('qemu-system-x86_64') and args.qemu_cpu:
            # QEMU gets three times what Parvis needed (at least 2 minutes): on
            # PVM hosts it may spin forever, and how far it got is the result.
            budget = max(120.0, 3 * (p['reached_init_s'] or args.timeout / 3))
            q = run_qemu(kit, args, tmp, i, min(budget, args.timeout))
            qemu.append(q)
            print(f'qemu   run {i + 1}: init at {fmt(q["reached_init_s"], " s", why=q["ended"])} wall, '
                  f'{fmt(q["uptime_s"], " s", why=q["ended"])} guest; {q["ended"]}; last line: {q["last"]}',
                  flush=True)

    print('\n== medians')
    pw, pu = med([p['reached_init_s'] for p in parvis]), med([p['uptime_s'] for p in parvis])
    print(f'parvis: "Run /init" after {fmt(pw, " s", why="no run reached it")} wall, '
          f'{fmt(pu, " s", why="no run reached it")} guest uptime '
          f'({sum(p["reached_init_s"] is not None for p in parvis)}/{len(parvis)} runs reached it)')
    if qemu:
        qw, qu = med([q['reached_init_s'] for q in qemu]), med([q['uptime_s'] for q in qemu])
        n = sum(q['reached_init_s'] is not None for q in qemu)
        why = f'no QEMU run reached init ({qemu[-1]["ended"]})'
        print(f'qemu:   "Run /init" after {fmt(qw, " s", why=why)} wall, {fmt(qu, " s", why=why)} guest uptime '
              f'({n}/{len(qemu)} runs reached it)')
        print(f'qemu got as far as: {qemu[-1]["last"]!r} ({qemu[-1]["ended"]})')
        if pw and qw:
            print(f'ratio parvis/qemu, wall time to init: {pw / qw:.2f} (lower is better)')
        else:
            print('ratio parvis/qemu, wall time to init: not measured: ' +
                  ('neither reached init' if not pw and not qw else
                   'QEMU did not reach init' if pw else 'Parvis did not reach init'))
    else:
        print('qemu: not measured: ' + ('--no-qemu' if args.no_qemu else
                                        'qemu-system-x86_64 is not installed'
                                        if not shutil.which('qemu-system-x86_64') else
                                        'no CPU model QEMU starts with here'))
    exits = {}
    for p in parvis:
        for k, v in p['exits'].items():
            exits.setdefault(k, []).append(v)
    print('parvis exits by reason (median per boot): ' +
          ', '.join(f'{k} {statistics.median(v):.0f}' for k, v in exits.items() if any(v)))
    cpu = med([p['startup_cpu_ms'] for p in parvis])
    over = med([p['overhead_mib'] for p in parvis])
    nostats = 'no run wrote --exit-stats'
    print(f'parvis start-up to first KVM_RUN: {fmt(med([p["startup_ms"] for p in parvis]), " ms", why=nostats)} '
          f'wall, {fmt(cpu, " ms", why=nostats)} CPU ({target(cpu, STARTUP_CPU_TARGET_MS, "ms")})')
    print(f'parvis memory overhead (RSS without guest RAM): {fmt(over, " MiB", why=nostats)} '
          f'({target(over, OVERHEAD_TARGET_MIB, "MiB")})')
    if qemu:
        print(f'qemu RSS (guest RAM included): '
              f'{fmt(med([q["rss_mib"] for q in qemu]), " MiB", why="QEMU had exited before it was read")}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/env python3
"""The management service's own overhead, with the tiny test guest.

  bench/vmms.py [--build DIR] [--runs 10] [--vms 20] [--no-qemu]

Measures, through the API socket (no CLI process in the timed path):
  - start-vm -> the worker's first KVM_RUN (its status' first_run_monotonic_ns,
    CLOCK_MONOTONIC like Python's time.monotonic()), and start-vm -> the
    guest's first console byte, and how long the start-vm call itself takes;
  - the guest's shutdown -> Off: the echo guest is sent 'q' on its console,
    it powers off, and the time until the service's event says Off;
  - N VMs created and started at once (N clients in parallel): time until all
    are Running, VMs created+started per second;
  - memory per VM beyond guest RAM: each worker's RSS without its shared
    memory (guest RAM is a memfd), and the service's RSS growth over N VMs;
  - beside it, QEMU (Debian's qemu-system-x86, -M microvm, KVM) started
    directly on the same tiny kernel through its PVH entry: spawn -> the
    guest's first console byte, and its RSS.
  - the jail's cost: start-vm -> first KVM_RUN with the jail (the default)
    against a second service run with --no-jail, same runs, each VM started
    once untimed first (its first start also records its jail uid, with an
    fsync); medians and minimums, the worker's CPU time to its first
    KVM_RUN (which load hardly moves), and the load average;
    and the jail's root made the two ways (bench/jail_root_bench.c); written
    with the date to bench/results/DATE-vmms-jail.json.
Prints numbers and ratios; no thresholds.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_peer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def rss(pid):
    """(VmRSS, RssShmem) in KiB of a process."""
    v = {}
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            k, _, rest = line.partition(':')
            if k in ('VmRSS', 'RssShmem'):
                v[k] = int(rest.split()[0])
    return v.get('VmRSS', 0), v.get('RssShmem', 0)


class Api:
    def __init__(self, sock):
        self.sock = sock

    def call(self, call_name, **params):
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.sock)
        s.sendall((json.dumps({"api": 1, "id": 1, "call": call_name, "params": params}) + '\n').encode())
        buf = b''
        while not buf.endswith(b'\n'):
            c = s.recv(1 << 20)
            if not c:
                break
            buf += c
        s.close()
        a = json.loads(buf)
        if not a['ok']:
            raise RuntimeError(f"{call_name}: {a['error']['message']}")
        return a['result']


def control(path, cmd):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall((json.dumps({'command': cmd}) + '\n').encode())
    buf = b''
    while not buf.endswith(b'\n'):
        buf += s.recv(1 << 20)
    s.close()
    return json.loads(buf)


def wait_file_nonempty(path, timeout, after=0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.path.getsize(path) > after:
                return time.monotonic()
        except OSError:
            pass
        time.sleep(0.0005)
    return None


def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


def ms(v):
    return '-' if v is None else f'{v * 1000:.1f} ms'


def measure_start(api, run, name='lat'):
    """One start-vm of VM name (run: its run directory), stopped again: (to first KVM_RUN,
    to its first console byte, the call's own time, the worker's CPU to its first KVM_RUN)."""
    con = os.path.join(run, 'console.log')
    before = os.path.getsize(con) if os.path.exists(con) else 0
    t0 = time.monotonic()
    api.call('start-vm', name=name)
    t1 = time.monotonic()
    tb = wait_file_nonempty(con, 30, before)
    st = control(os.path.join(run, 'control.sock'), 'status')
    for _ in range(100):
        if st.get('first_run_monotonic_ns'):
            break
        time.sleep(0.01)
        st = control(os.path.join(run, 'control.sock'), 'status')
    first = st.get('first_run_monotonic_ns')
    api.call('stop-vm', name=name, turn_off=True)
    return (first / 1e9 - t0 if first else None, tb - t0 if tb else None, t1 - t0,
            st['first_run_cpu_ns'] / 1e9 if st.get('first_run_cpu_ns') else None)


def bench_start(api, state, kernel, runs):
    vm = api.call('new-vm', name='lat', memory_bytes=32 << 20, kernel=kernel, cmdline='idle')
    run = os.path.join(state, 'run', vm['id'])
    to_kvm, to_byte, call_s = [], [], []
    for _ in range(runs):
        k, b, c, _cpu = measure_start(api, run)
        to_kvm.append(k)
        to_byte.append(b)
        call_s.append(c)
    api.call('remove-vm', name='lat')
    return to_kvm, to_byte, call_s


def alternate(services, kernel, runs):
    """start-vm -> first KVM_RUN (and the worker's CPU by then) of one VM per service, runs
    alternated between the services. Each VM is started once first, untimed: its first start
    also gives it its jail uid (a write of its record, with fsync), which later starts skip."""
    runs_of = []
    for api, state in services:
        vm = api.call('new-vm', name='alt', memory_bytes=32 << 20, kernel=kernel, cmdline='idle')
        run = os.path.join(state, 'run', vm['id'])
        measure_start(api, run, 'alt')
        runs_of.append(run)
    wall = [[] for _ in services]
    cpu = [[] for _ in services]
    for _ in range(runs):
        for i, (api, _state) in enumerate(services):
            k, _b, _c, c = measure_start(api, runs_of[i], 'alt')
            wall[i].append(k)
            cpu[i].append(c)
    for api, _state in services:
        api.call('remove-vm', name='alt')
    return wall, cpu


def bench_shutdown(api, state, kernel, runs, sock):
    vm = api.call('new-vm', name='off', memory_bytes=32 << 20, kernel=kernel, cmdline='echo')
    run = os.path.join(state, 'run', vm['id'])
    out = []
    for _ in range(runs):
        ev = socket.socket(socket.AF_UNIX)
        ev.connect(sock)
        ev.sendall(b'{"api":1,"id":1,"call":"subscribe"}\n')
        f = ev.makefile('r')
        f.readline()
        api.call('start-vm', name='off')
        wait_file_nonempty(os.path.join(run, 'console.log'), 30)
        # wait for "echo: ready" so that the 'q' is not lost
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(os.path.join(run, 'console.log'), 'rb') as c:
                if c.read().count(b'echo: ready') >= len(out) + 1:
                    break
            time.sleep(0.002)
        con = socket.socket(socket.AF_UNIX)
        con.connect(os.path.join(run, 'console.sock'))
        time.sleep(0.05)
        t0 = time.monotonic()
        con.sendall(b'q')
        t1 = None
        while t1 is None:
            line = f.readline()
            if not line:
                break
            e = json.loads(line)
            if e.get('event') == 'state-changed' and e.get('name') == 'off' and e.get('to') == 'Off':
                t1 = time.monotonic()
        out.append(t1 - t0 if t1 else None)
        con.close()
        ev.close()
    api.call('remove-vm', name='off')
    return out


def bench_many(api, state, kernel, n, svc_pid):
    rss0 = rss(svc_pid)[0]
    done = [None] * n
    errors = []

    def one(i):
        try:
            api.call('new-vm', name=f'm{i}', memory_bytes=32 << 20, kernel=kernel, cmdline='idle')
            api.call('start-vm', name=f'm{i}')
            done[i] = time.monotonic()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(str(e))

    t0 = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    all_running = max(d for d in done if d) - t0 if any(done) else None
    vms = api.call('get-vm')['vms']
    running = [v for v in vms if v['state'] == 'Running']
    time.sleep(1.5)  # let every guest reach its idle loop
    overheads, shmem = [], []
    for v in running:
        r, s = rss(v['pid'])
        overheads.append((r - s) / 1024)
        shmem.append(s / 1024)
    rss1 = rss(svc_pid)[0]
    for i in range(n):
        try:
            api.call('remove-vm', name=f'm{i}', force=True)
        except Exception:  # noqa: BLE001
            pass
    return {'all_running_s': all_running, 'per_s': n / all_running if all_running else None,
            'running': len(running), 'errors': errors, 'worker_overhead_mib': overheads,
            'guest_ram_touched_mib': shmem, 'service_growth_mib': (rss1 - rss0) / 1024,
            'service_rss_mib': rss1 / 1024}


def bench_qemu(kernel, runs, tmp, cpu):
    out, rss_mib = [], []
    for i in range(runs):
        con = os.path.join(tmp, f'qemu-{i}.con')
        cmd = ['qemu-system-x86_64', '-M', 'microvm', '-enable-kvm', '-cpu', cpu, '-m', '32M',
               '-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'file:' + con,
               '-kernel', kernel, '-append', 'idle', '-no-reboot']
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        tb = wait_file_nonempty(con, 30)
        out.append(tb - t0 if tb else None)
        try:
            rss_mib.append(rss(p.pid)[0] / 1024)
        except OSError:
            pass
        p.kill()
        p.wait()
    return out, rss_mib


def start_service(b, tmp, name, extra=()):
    state, sock = os.path.join(tmp, name), os.path.join(tmp, name + '.sock')
    log = open(os.path.join(tmp, name + '.log'), 'w')
    svc = subprocess.Popen([os.path.join(b, 'src/vmms/parvis-vmms'), '--state-dir', state,
                            '--socket', sock, '--vmwp', os.path.join(b, 'src/vmwp/parvis-vmwp')]
                           + list(extra), stdout=log, stderr=log)
    for _ in range(200):
        if os.path.exists(sock):
            break
        time.sleep(0.01)
    return svc, state, sock, log


def stop_service(svc, state, log):
    svc.send_signal(signal.SIGTERM)
    svc.wait()
    log.close()
    # the service leaves workers running by design: end the benchmark's own
    for rec in __import__('glob').glob(os.path.join(state, 'run', '*', 'worker.json')):
        try:
            os.kill(json.load(open(rec))['pid'], signal.SIGKILL)
        except (OSError, ValueError):
            pass


def bench_jail(b, tmp, kernel, runs, jailed):
    """start-vm -> first KVM_RUN with and without the jail, runs alternated between the two."""
    nj = start_service(b, tmp, 'nojail', ['--no-jail'])
    try:
        wall, cpu = alternate([jailed, (Api(nj[2]), nj[1])], kernel, runs)
    finally:
        stop_service(nj[0], nj[1], nj[3])
    bench_jail.cpu = {'jailed': cpu[0], 'no_jail': cpu[1]}
    return wall[0], wall[1]


def bench_peer(b, peer, tmp, kernel, runs, jailed):
    """start-vm -> first KVM_RUN, jailed, of this build against another build's, alternated."""
    pb = start_service(peer, tmp, 'peer', [])
    try:
        wall, _cpu = alternate([jailed, (Api(pb[2]), pb[1])], kernel, runs)
    finally:
        stop_service(pb[0], pb[1], pb[3])
    return wall[0], wall[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', default=os.path.join(ROOT, 'build'))
    ap.add_argument('--runs', type=int, default=10)
    ap.add_argument('--vms', type=int, default=20)
    ap.add_argument('--no-qemu', action='store_true')
    ap.add_argument('--peer-build', help='another build directory (e.g. of main): its jailed '
                    'start-vm -> first KVM_RUN alternated with this one\'s')
    args = ap.parse_args()
    b = os.path.abspath(args.build)
    subprocess.run(['ninja', '-C', b, 'src/vmms/parvis-vmms', 'src/vmwp/parvis-vmwp',
                    'tests/guest/tiny-kernel.elf', 'bench/jail-root-bench'], check=True,
                   stdout=subprocess.DEVNULL)
    kernel = os.path.join(b, 'tests/guest/tiny-kernel.elf')
    tmp = tempfile.mkdtemp(prefix='pvb-', dir='/tmp')
    state, sock = os.path.join(tmp, 'state'), os.path.join(tmp, 'api.sock')
    log = open(os.path.join(tmp, 'vmms.log'), 'w')
    svc = subprocess.Popen([os.path.join(b, 'src/vmms/parvis-vmms'), '--state-dir', state,
                            '--socket', sock, '--vmwp', os.path.join(b, 'src/vmwp/parvis-vmwp')],
                           stdout=log, stderr=log)
    for _ in range(200):
        if os.path.exists(sock):
            break
        time.sleep(0.01)
    api = Api(sock)
    try:
        print(f'host: {os.cpu_count()} CPUs, /dev/kvm is '
              f"{'PVM (guest kernel code emulated)' if os.path.exists('/sys/module/kvm_pvm') else 'hardware'}")
        to_kvm, to_byte, call_s = bench_start(api, state, kernel, args.runs)
        print(f'start-vm -> first KVM_RUN:          median {ms(med(to_kvm))} '
              f'(min {ms(min(x for x in to_kvm if x))}, {args.runs} runs)')
        print(f'start-vm -> guest\'s first byte:     median {ms(med(to_byte))}')
        print(f'start-vm call (until Running):      median {ms(med(call_s))}')
        off = bench_shutdown(api, state, kernel, max(3, args.runs // 2), sock)
        print(f'guest powers off -> Off (event):    median {ms(med(off))} ({len(off)} runs; '
              'includes the emulated guest reading its input)')
        wj, nj = bench_jail(b, tmp, kernel, args.runs, (api, state))
        jw, jn = med(wj), med(nj)
        mw, mn = (min((x for x in v if x), default=None) for v in (wj, nj))
        print(f'start-vm -> first KVM_RUN, jailed:  median {ms(jw)}; with --no-jail: median '
              f'{ms(jn)}; the jail adds {ms(jw - jn) if jw and jn else "-"} '
              f'({args.runs} alternated runs each)')
        print(f'                                    minimum {ms(mw)} against {ms(mn)}: the jail adds '
              f'{ms(mw - mn) if mw and mn else "-"} (the minimum is the least disturbed by load)')
        cw, cn = med(bench_jail.cpu['jailed']), med(bench_jail.cpu['no_jail'])
        print(f'worker CPU to its first KVM_RUN:    jailed median {ms(cw)}, --no-jail {ms(cn)}: the '
              f'jail costs {ms(cw - cn) if cw and cn else "-"} of CPU (load hardly moves this one)')
        # The jail's root, the two ways (docs/security.md, step 1), in isolation.
        root = json.loads(subprocess.run([os.path.join(b, 'bench/jail-root-bench'), str(4 * args.runs)],
                                         check=True, capture_output=True, text=True).stdout)
        print(f"jail root, pivot_root + unmount of the host's tree: median "
              f"{root['pivot_ms']['median']:.3f} ms (min {root['pivot_ms']['min']:.3f}); "
              f"the service's template (setns, unshare, chroot): median "
              f"{root['template_ms']['median']:.3f} ms (min {root['template_ms']['min']:.3f})")
        res = {'date': time.strftime('%Y-%m-%d'), 'runs': args.runs,
               'host': {'cpus': os.cpu_count(), 'pvm': os.path.exists('/sys/module/kvm_pvm'),
                        'loadavg': os.getloadavg()},
               'start_to_first_kvm_run_s': {'jailed': wj, 'no_jail': nj,
                                            'median_jailed': jw, 'median_no_jail': jn,
                                            'min_jailed': mw, 'min_no_jail': mn},
               'worker_cpu_to_first_kvm_run_s': {'jailed': bench_jail.cpu['jailed'],
                                                 'no_jail': bench_jail.cpu['no_jail'],
                                                 'median_jailed': cw, 'median_no_jail': cn},
               'jail_root_ms': root}
        if args.peer_build:
            mine, theirs = bench_peer(b, os.path.abspath(args.peer_build), tmp, kernel, args.runs,
                                      (api, state))
            pm, pt = med(mine), med(theirs)
            lm, lt = (min((x for x in v if x), default=None) for v in (mine, theirs))
            print(f'jailed, this build against {args.peer_build}: median {ms(pm)} against {ms(pt)}, '
                  f'minimum {ms(lm)} against {ms(lt)} ({args.runs} alternated runs each)')
            res['peer'] = {'build': os.path.abspath(args.peer_build), 'this': mine, 'peer': theirs,
                           'median_this': pm, 'median_peer': pt, 'min_this': lm, 'min_peer': lt}
        os.makedirs(os.path.join(ROOT, 'bench', 'results'), exist_ok=True)
        path = os.path.join(ROOT, 'bench', 'results', f"{res['date']}-vmms-jail.json")
        with open(path, 'w') as f:
            json.dump(res, f, indent=1)
        print(f'                                    written to {os.path.relpath(path, ROOT)}')
        m = bench_many(api, state, kernel, args.vms, svc.pid)
        print(f'{args.vms} VMs created+started at once: all Running after '
              f'{ms(m["all_running_s"])}, {m["per_s"]:.1f} VMs/s ({m["running"]} Running'
              f'{", errors: " + "; ".join(m["errors"][:3]) if m["errors"] else ""})')
        print(f'memory per VM beyond guest RAM:     worker RSS without guest RAM median '
              f'{med(m["worker_overhead_mib"]):.2f} MiB (guest RAM touched: median '
              f'{med(m["guest_ram_touched_mib"]):.2f} MiB of 32)')
        print(f'service:                            RSS {m["service_rss_mib"]:.2f} MiB, grew '
              f'{m["service_growth_mib"]:.2f} MiB over {args.vms} VMs '
              f'({m["service_growth_mib"] / args.vms * 1024:.0f} KiB/VM)')
        if not args.no_qemu and shutil.which('qemu-system-x86_64'):
            cpu, why = qemu_peer.cpu_model()
            q, qrss = bench_qemu(kernel, args.runs, tmp, cpu) if cpu else ([], [])
            if not cpu:
                print(f'QEMU peer: not measured: no CPU model QEMU starts with here ({why})')
            elif not [v for v in q if v is not None]:
                print(f'QEMU peer (-cpu {cpu}): failed: no guest output in any of {args.runs} runs')
            else:
                print(f'QEMU -M microvm (KVM, -cpu {cpu}), spawn -> guest\'s first byte: median {ms(med(q))}, '
                      f'RSS {med(qrss):.1f} MiB (guest RAM included)')
            if med(q) and med(to_byte):
                print(f'ratio parvis start-vm/QEMU spawn, to the first byte: '
                      f'{med(to_byte) / med(q):.2f} (lower is better)')
    finally:
        svc.send_signal(signal.SIGTERM)
        svc.wait()
        log.close()
        # the service leaves workers running by design: end the benchmark's own
        for rec in __import__('glob').glob(os.path.join(state, 'run', '*', 'worker.json')):
            try:
                os.kill(json.load(open(rec))['pid'], signal.SIGKILL)
            except (OSError, ValueError):
                pass
    return 0


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/env python3
"""Saved state: save and restore of a whole VM, Parvis against QEMU in the same run.

  bench/saved_state.py [--build DIR] [--sizes 512,2048] [--no-qemu]

The guest is the tiny kernel (tests/guest/tiny/tiny_kernel.S) with guest RAM
of each size, twice: "numbers" (memory untouched: it prints numbers on COM1)
and "fill" (a non-zero word written into every page above 32 MiB, then the
numbers). Once it prints numbers, it is saved:
  - Parvis: the worker's control command {"command":"save","path":FILE}
    (pause, write FILE.tmp, fdatasync, rename; the worker exits);
  - QEMU (Debian's qemu-system-x86, -M microvm, KVM, the same ELF through its
    PVH entry): HMP "stop", then migrate "exec:cat > FILE" until "info
    migrate" says completed; the restored QEMU is paused as the source was,
    and gets "cont" on its monitor as soon as "info status" leaves inmigrate.
Measured: the save's time (request to answer / to completed), the file's size
(and the disk blocks it takes), and the restore: from the spawn of
`parvis-vmwp --restore FILE` / `qemu-system-x86_64 -incoming "exec:cat FILE"`
to the guest's first COM1 byte after it (its first instruction that shows);
for Parvis also to the first KVM_RUN (status "first_run_monotonic_ns"). Parvis
restores the same file twice: --restore-ram lazy (userfaultfd: the guest runs
before its RAM is read; also when the prefetch had all of it in, and how many
faults it served) and --restore-ram eager (all of RAM read first).
Ratios Parvis/QEMU are printed (lower is better). Counts that carry over to
hardware: bytes written per GiB of guest RAM, pages written.

On this loaded, PVM host (guest CPL0 emulated, 2 shared cores) the times are
noisy; each is one run. Results: bench/results/DATE-saved-state.json.
"""
import argparse
import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'bench'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import qemu_peer  # noqa: E402
from parvis_test import control  # noqa: E402

FILL_TIMEOUT = 900  # a 2 GiB fill runs emulated on PVM: minutes


def wait_for(pred, timeout, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return None


def read(path):
    try:
        with open(path, errors='replace') as f:
            return f.read()
    except OSError:
        return ''


def printing(path, mode):
    """The guest is past its fill (if any) and printing numbers."""
    t = read(path)
    return (mode != 'fill' or 'filled' in t) and sum(1 for l in t.splitlines() if l.isdigit()) >= 3


def first_byte(path):
    return os.path.exists(path) and os.path.getsize(path) > 0


def file_info(path):
    st = os.stat(path)
    return {'bytes': st.st_size, 'disk_bytes': st.st_blocks * 512}


def parvis(b, kernel, mib, mode, tmp):
    vmwp = os.path.join(b, 'src', 'vmwp', 'parvis-vmwp')
    con, ctl, f, log = (os.path.join(tmp, f'parvis-{mib}-{mode}.{x}')
                        for x in ('con', 'ctl', 'state', 'log'))
    base = [vmwp, '--kernel', kernel, '--cmdline', mode, '--memory', f'{mib}M', '--no-video']
    p = subprocess.Popen(base + ['--serial', 'file:' + con, '--control', ctl],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(log, 'a'))
    try:
        if not wait_for(lambda: printing(con, mode), FILL_TIMEOUT, 0.2):
            return {'error': 'the guest did not start printing: ' + read(con)[-200:]}
        t0 = time.monotonic()
        r = control(ctl, {'command': 'save', 'path': f}, 600)
        save_s = time.monotonic() - t0
        if not r or not r.get('ok'):
            return {'error': f'save: {r}'}
        p.wait(120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    out = {'save_s': save_s, 'save_ms_reported': r.get('ms'), **file_info(f)}
    # The same file restored both ways: lazily (userfaultfd: the guest runs at once, RAM comes
    # on first touch and from a prefetch thread) and eagerly (all of RAM read first).
    for ram in ('lazy', 'eager'):
        res = restore(base, f, con + '.' + ram, ctl + '.' + ram, log, ram)
        out.update({f'{k}_{ram}' if k != 'error' else 'error': v for k, v in res.items()})
        if 'error' in res:
            break
    os.unlink(f)
    return out


def restore(base, f, con2, ctl2, log, ram):
    out = {}
    t0 = time.monotonic()
    q = subprocess.Popen(base + ['--serial', 'file:' + con2, '--control', ctl2, '--restore', f,
                                 '--restore-ram', ram],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(log, 'a'))
    try:
        tb = wait_for(lambda: first_byte(con2) and time.monotonic(), 300)
        st = control(ctl2, {'command': 'status'}) if os.path.exists(ctl2) else None
        if not tb:
            return {'error': f'the {ram} restored guest printed nothing: ' + read(log)[-300:]}
        out['restore_to_first_byte_s'] = tb - t0
        fr = (st or {}).get('first_run_monotonic_ns')
        if fr:
            out['restore_to_first_run_s'] = fr / 1e9 - t0
        rr = (st or {}).get('restore_ram') or {}
        out['ram_mode'] = rr.get('mode')
        if rr.get('mode') != ram:
            out['ram_mode_why'] = rr.get('why')
        # The lazy restore's prefetch: when all of RAM was in (the guest ran meanwhile).
        if ram == 'lazy':
            done = wait_for(lambda: ((control(ctl2, {'command': 'status'}) or {})
                                     .get('restore_ram') or {}).get('done') and True, 120, 0.05)
            st = control(ctl2, {'command': 'status'}) or {}
            rr = st.get('restore_ram') or {}
            out['prefetch_ms'] = rr.get('prefetch_ms') if done else None
            out['faults'] = rr.get('faults')
            out['prefetched_pages'] = rr.get('prefetched_pages')
        control(ctl2, {'command': 'turn-off'})
        q.wait(60)
    finally:
        if q.poll() is None:
            q.kill()
            q.wait()
    return out


class Hmp:
    """QEMU's human monitor on a Unix socket."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(600)
        self.s.connect(path)
        self.read_prompt()

    def read_prompt(self):
        buf = b''
        while not buf.endswith(b'(qemu) '):
            d = self.s.recv(4096)
            if not d:
                break
            buf += d
        return buf.decode(errors='replace')

    def cmd(self, line):
        self.s.sendall(line.encode() + b'\n')
        return self.read_prompt()


def qemu(kernel, mib, mode, tmp, cpu):
    con, mon, f, log = (os.path.join(tmp, f'qemu-{mib}-{mode}.{x}')
                        for x in ('con', 'mon', 'state', 'log'))
    base = ['qemu-system-x86_64', '-M', 'microvm', '-enable-kvm', '-cpu', cpu, '-m', f'{mib}M',
            '-nodefaults', '-no-user-config', '-display', 'none', '-kernel', kernel,
            '-append', mode, '-no-reboot']
    p = subprocess.Popen(base + ['-serial', 'file:' + con, '-monitor', f'unix:{mon},server,nowait'],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(log, 'a'))
    try:
        if not wait_for(lambda: printing(con, mode), FILL_TIMEOUT, 0.2):
            return {'error': 'the guest did not start printing: ' + read(con)[-200:]}
        h = Hmp(mon)
        t0 = time.monotonic()
        # No bandwidth cap (QEMU's default, 128 MiB/s, would make it wait, not work).
        h.cmd('migrate_set_parameter max-bandwidth 100G')
        h.cmd('stop')
        h.cmd(f'migrate "exec:cat > {f}"')
        status = ''
        while 'completed' not in status and 'failed' not in status:
            status = h.cmd('info migrate')
            time.sleep(0.005)
        save_s = time.monotonic() - t0
        if 'completed' not in status:
            return {'error': 'migrate: ' + status[-300:]}
        h.cmd('quit')
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
    out = {'save_s': save_s, **file_info(f)}
    con2 = con + '.restored'
    t0 = time.monotonic()
    mon2 = mon + '2'
    q = subprocess.Popen(base + ['-serial', 'file:' + con2, '-incoming', f'exec:cat {f}',
                                 '-monitor', f'unix:{mon2},server,nowait'],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(log, 'a'))
    try:
        # The source was stopped before its migrate, so the destination stays paused once the
        # state is in (QEMU migrates the run state): "cont" then, as soon as it is.
        if not wait_for(lambda: os.path.exists(mon2), 60, 0.002):
            return {**out, 'error': 'no monitor socket: ' + read(log)[-300:]}
        h = Hmp(mon2)
        while 'inmigrate' in h.cmd('info status'):
            time.sleep(0.002)
        h.cmd('cont')
        tb = wait_for(lambda: first_byte(con2) and time.monotonic(), 300)
        if not tb:
            return {**out, 'error': 'the restored guest printed nothing: ' + read(log)[-300:]}
        out['restore_to_first_byte_s'] = tb - t0
    finally:
        q.kill()
        q.wait()
    os.unlink(f)
    return out


def ms(v):
    return f'{v * 1000:8.1f} ms' if isinstance(v, (int, float)) else '       -   '


def mib(v):
    return f'{v / 2**20:9.2f} MiB' if isinstance(v, (int, float)) else '        -    '


def ratio(a, b):
    return a / b if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', default=os.path.join(ROOT, 'build'))
    ap.add_argument('--sizes', default='512,2048', help='guest RAM sizes in MiB')
    ap.add_argument('--no-qemu', action='store_true')
    args = ap.parse_args()
    kernel = os.path.join(args.build, 'tests', 'guest', 'tiny-kernel.elf')
    if not os.path.exists(kernel):
        print(f'no {kernel}: build first (meson setup build && ninja -C build)')
        return 1
    cpu, why = (None, 'not asked (--no-qemu)') if args.no_qemu else \
        qemu_peer.cpu_model() if shutil.which('qemu-system-x86_64') else (None, 'not installed')
    tmp = tempfile.mkdtemp(prefix='parvis-bench-state-', dir=os.environ.get('TMPDIR', '/var/tmp'))
    res = {'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H%M%SZ'),
           'host': os.uname().nodename, 'pvm': os.path.exists('/sys/module/kvm_pvm'),
           'qemu_cpu': cpu, 'qemu_missing': None if cpu else why, 'runs': []}
    try:
        for size in (int(s) for s in args.sizes.split(',')):
            for mode in ('numbers', 'fill'):
                row = {'memory_mib': size, 'memory': 'untouched' if mode == 'numbers' else 'filled',
                       'parvis': parvis(args.build, kernel, size, mode, tmp)}
                if cpu:
                    row['qemu'] = qemu(kernel, size, mode, tmp, cpu)
                res['runs'].append(row)
                pv, qv = row['parvis'], row.get('qemu', {})
                print(f'{size:5} MiB {row["memory"]:9}  parvis: save {ms(pv.get("save_s"))} '
                      f'file {mib(pv.get("bytes"))}' + (f'  {pv["error"]}' if 'error' in pv else ''),
                      flush=True)
                for ram in ('lazy', 'eager'):
                    print(f'{"":19}  restore {ram:5}: ->1st byte '
                          f'{ms(pv.get("restore_to_first_byte_s_" + ram))} (->KVM_RUN '
                          f'{ms(pv.get("restore_to_first_run_s_" + ram)).strip()})'
                          + (f' prefetch done after {pv.get("prefetch_ms_lazy")} ms, '
                             f'{pv.get("faults_lazy")} faults' if ram == 'lazy' else ''),
                          flush=True)
                if cpu:
                    print(f'{"":19}qemu:   save {ms(qv.get("save_s"))} file {mib(qv.get("bytes"))} '
                          f'restore->1st byte {ms(qv.get("restore_to_first_byte_s"))}'
                          + (f'  {qv["error"]}' if 'error' in qv else ''), flush=True)
                    row['ratios'] = {
                        'save_s': ratio(pv.get('save_s'), qv.get('save_s')),
                        'bytes': ratio(pv.get('bytes'), qv.get('bytes')),
                        'restore_lazy': ratio(pv.get('restore_to_first_byte_s_lazy'),
                                              qv.get('restore_to_first_byte_s')),
                        'restore_eager': ratio(pv.get('restore_to_first_byte_s_eager'),
                                               qv.get('restore_to_first_byte_s')),
                    }
                    print(f'{"":19}ratio parvis/qemu: '
                          + ', '.join(f'{k} {v:.2f}' if v is not None else f'{k} -'
                                      for k, v in row['ratios'].items()) + ' (lower is better)',
                          flush=True)
                if isinstance(pv.get('bytes'), int):
                    row['parvis_bytes_per_gib'] = pv['bytes'] / (size / 1024)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not cpu:
        print(f'QEMU peer: not measured ({why})')
    os.makedirs(os.path.join(ROOT, 'bench', 'results'), exist_ok=True)
    path = os.path.join(ROOT, 'bench', 'results', f'{res["date"]}-saved-state.json')
    with open(path, 'w') as f:
        json.dump(res, f, indent=1)
    print(f'written to {os.path.relpath(path, ROOT)} (one run each, on a loaded host: noisy)')
    return 0


if __name__ == '__main__':
    sys.exit(main())

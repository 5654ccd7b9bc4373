#!/usr/bin/env python3
"""VMBus benchmark: one channel's packet rate, CPU time per packet and
signalling, and what a real guest's integration services cost in exits.

One command:  bench/vmbus.py [--build DIR] [--packets 200000] [--payload 64] [--linux]

1. bench/vmbus_bench.c (DIR/bench/vmbus-bench) drives one channel with
   the guest-side client (tests/lib/vmbus_client.c) on its own thread
   against the real server and a VSP on theirs: queue depth 1 (request,
   completion), a guest->host stream into a busy ring, and a host->guest
   stream. It prints packets/s, process CPU per packet, and guest->host
   signals (HvSignalEvent) and host->guest interrupts per 1,000 packets:
   the ring's interrupt masking and pending_send_sz at work.
2. With --linux: boots the guest kit's kernel (with an idle /init, as
   tests/guest/test_linux_vmbus.py does) and, once its heartbeat has run
   for --seconds, reads each IC channel's packets, guest signals and host
   interrupts from the control socket: a real guest at queue depth 1.

Prints numbers; asserts nothing.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'guest'))


def status(path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(path)
    s.sendall(b'{"command":"status"}\n')
    buf = b''
    while not buf.endswith(b'\n'):
        buf += s.recv(65536)
    return json.loads(buf)


def linux(build, seconds):
    from parvis_test import kit
    k = kit()
    if not k:
        out = subprocess.run([os.path.join(ROOT, 'tools/guest-kit/build.sh')], capture_output=True,
                             text=True).stdout
        for line in out.splitlines():
            key, _, val = line.partition('=')
            os.environ[key] = val.strip("'")
        k = kit()
    import idle_initramfs as tl
    tmp = tempfile.mkdtemp(prefix='parvis-vmbus-bench-')
    initrd = os.path.join(tmp, 'idle.cpio')
    with open(initrd, 'wb') as f:
        f.write(tl.cpio_newc([('init', 0o100755, tl.idle_init_elf())]))
    ctl = os.path.join(tmp, 'control')
    p = subprocess.Popen([os.path.join(build, 'src/vmwp/parvis-vmwp'), '--kernel', k[0], '--initrd', initrd,
                          '--memory', '128M', '--cmdline', k[2], '--serial', 'none', '--control', ctl],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 900
        st = None
        while time.monotonic() < deadline:
            try:
                st = status(ctl)
                if ((st.get('vmbus') or {}).get('heartbeat') or {}).get('alive'):
                    break
            except OSError:
                pass
            time.sleep(1)
        first = status(ctl)
        time.sleep(seconds)
        last = status(ctl)
    finally:
        p.kill()
        p.wait()
    print(f'\nLinux guest (kit kernel), integration services over {seconds} s at queue depth 1:')
    before = {c['name']: c for c in first['vmbus']['channels']}
    for c in last['vmbus']['channels']:
        b = before[c['name']]
        pk = c['packets_in'] - b['packets_in']
        if pk <= 0:
            print(f"  {c['name']:<10} no traffic ({c['state']})")
            continue
        print(f"  {c['name']:<10} {pk:5d} packets  {1000 * (c['signals_in'] - b['signals_in']) / pk:7.1f} guest "
              f"signals/1000  {1000 * (c['interrupts_out'] - b['interrupts_out']) / pk:7.1f} host interrupts/1000")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default=os.path.join(ROOT, 'build'))
    ap.add_argument('--packets', type=int, default=200000)
    ap.add_argument('--payload', type=int, default=64)
    ap.add_argument('--linux', action='store_true')
    ap.add_argument('--seconds', type=int, default=30)
    a = ap.parse_args()
    subprocess.run([os.path.join(a.build, 'bench', 'vmbus-bench'), str(a.packets), str(a.payload)], check=True)
    if a.linux:
        linux(a.build, a.seconds)


if __name__ == '__main__':
    main()

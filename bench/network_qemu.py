#!/usr/bin/env python3
"""QEMU's virtio-net kicks and interrupts per 1,000 packets under TCG, for bench/network.

One command (root):  bench/network_qemu.py [--packets N] [--json FILE]

Boots Debian's stock kernel with the guest kit's initramfs (busybox,
virtio_pci, virtio_net, virtio_blk and pktgen; tools/guest-kit/build.sh
--stock) under `qemu-system-x86_64 -accel tcg`, one vCPU, with a
virtio-net adapter on a TAP (`-netdev tap,vhost=off`: QEMU's user-space
back end) in a network namespace this program creates and removes. The
guest runs the transfers of bench/network's netvsp rows (PHASES):
  - tx-64, tx-1500: the guest kernel's packet generator (pktgen) sends N
    frames of 64 and 1,500 bytes to the TAP (to an address nobody has, so
    the host's kernel drops them without answering);
  - rx-64, rx-1500: this program writes N frames of 64 and 1,500 bytes
    (an unused EtherType, so the guest's kernel counts and drops them) into
    the TAP with an AF_PACKET socket, paced so that the TAP's queue to QEMU
    never overflows by more than a burst; it tells the guest it is done
    on the guest's second serial port.
QEMU's trace events, written to a log file, count per phase on the
virtio-net device:
  - kicks       virtio_queue_notify: guest->host notifications (each is an
                exit with KVM; under TCG every one reaches the trace);
  - interrupts  virtio_notify + virtio_notify_irqfd: host->guest
                notifications after EVENT_IDX suppression.
Phases are separated by markers on a tiny second virtio-blk disk, as in
bench/storage_qemu.py: before phase k and after the last, the guest reads
block MARKER_BLOCK0 + k. Per 1,000 packets means per 1,000 packets the
guest's own counters (/sys/class/net/eth0/statistics) saw in the phase;
the guest's /proc/interrupts for the adapter cross-checks the interrupts.
Packets per second inside TCG are printed for information only: guest
code is emulated, so they measure the emulator.
"""
import argparse
import dataclasses
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import storage_qemu as sq  # noqa: E402

GUEST_MAC = '52:54:00:12:34:56'
HOST_ADDR, GUEST_ADDR, NOBODY = '10.77.0.1', '10.77.0.2', '10.77.0.9'
TAP = 'pvq0'
ETHERTYPE_UNUSED = 0x88B5       # IEEE 802 local experimental: no handler in the guest
BURST = 32                      # frames written before the pacing looks at the TAP's queue


@dataclasses.dataclass(frozen=True)
class Phase:
    name: str
    direction: str   # 'tx' guest->host (pktgen), 'rx' host->guest (injected)
    size: int        # frame bytes, without the FCS, as bench/network-bench counts them


PHASES = (Phase('tx-64', 'tx', 64), Phase('tx-1500', 'tx', 1500),
          Phase('rx-64', 'rx', 64), Phase('rx-1500', 'rx', 1500))


def guest_script(phases, packets, host_mac):
    """The busybox sh script the guest runs; per phase one PARVIS-NET line.

    PARVIS-NET <name> <packets counted by eth0 in the phase's direction>
    <adapter interrupts in /proc/interrupts> <seconds>."""
    lines = [
        'set -u',
        'rc=0',
        '[ -e /sys/class/net/eth0 ] || { echo "PARVIS-ERROR no eth0 (virtio_net missing?)"; exit 2; }',
        '[ -e /proc/net/pktgen/pgctrl ] || { echo "PARVIS-ERROR no pktgen"; exit 2; }',
        'ip link set eth0 up && ip addr add ' + GUEST_ADDR + '/24 dev eth0 || exit 2',
        'v=$(basename "$(readlink /sys/class/net/eth0/device)")',
        "irqs() { grep \" $v-\" /proc/interrupts | "
        "awk '{ for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i } END { print s + 0 }'; }",
        'count() { cat /sys/class/net/eth0/statistics/$1_packets; }',
        f'mark() {{ dd if=/dev/vda of=/dev/null bs=4096 count=1 skip=$(({sq.MARKER_BLOCK0} + $1)) '
        'iflag=direct 2>/dev/null || { echo "PARVIS-ERROR marker $1"; rc=1; }; }',
        'P=/proc/net/pktgen',
        'echo "rem_device_all" >$P/kpktgend_0 && echo "add_device eth0" >$P/kpktgend_0 || exit 2',
        'pg() { echo "$1" >$P/eth0 || { echo "PARVIS-ERROR pktgen: $1"; rc=1; }; }',
        f'pg "count {packets}"; pg "delay 0"; pg "clone_skb 0"; pg "dst {NOBODY}"; pg "dst_mac {host_mac}"',
        # Opened once for the whole run: the UART's FIFO is reset at each open,
        # which would lose a line the host sent between two opens.
        'exec 3</dev/ttyS1 && stty -F /dev/ttyS1 -echo 2>/dev/null',
        'sleep 2',   # the link's carrier and the first ARP/IPv6 frames settle before phase 0
    ]
    for k, ph in enumerate(phases):
        lines.append(f'mark {k}')
        lines.append(f'b=$(count {ph.direction}); i=$(irqs); t0=$(cut -d" " -f1 /proc/uptime)')
        if ph.direction == 'tx':
            lines.append(f'pg "pkt_size {ph.size}"; echo start >$P/pgctrl || rc=1')
        else:
            lines.append(f'echo "PARVIS-NET-READY {ph.name}"; read -r _ <&3')
        lines.append(f'echo "PARVIS-NET {ph.name} $(($(count {ph.direction}) - b)) $(($(irqs) - i)) '
                     '$t0 $(cut -d" " -f1 /proc/uptime)"')
    lines += [f'mark {len(phases)}', 'exit $rc']
    return '\n'.join(lines) + '\n'


def count_events(events, nphases):
    """Per phase {'kicks', 'interrupts', 'queues'} on the virtio-net device.

    The marker disk is the device that read block MARKER_BLOCK0 + k for
    k = 0..nphases, in order; the network device is the only other device
    kicked after marker 0."""
    marker_sectors = {(sq.MARKER_BLOCK0 + k) * 8: k for k in range(nphases + 1)}
    marks = [(i, marker_sectors[int(a['sector'])], a['vdev']) for i, (e, a) in enumerate(events)
             if e == 'virtio_blk_handle_read' and int(a.get('sector', -1)) in marker_sectors]
    vdevs = {v for _, _, v in marks}
    seen = [k for _, k, _ in marks]
    if len(vdevs) != 1 or seen != list(range(nphases + 1)):
        raise sq.BenchError(f'markers in the trace: {seen} on {len(vdevs)} device(s), '
                            f'expected 0..{nphases} on one (did the guest script run?)')
    marker = vdevs.pop()
    bounds = [i for i, _, _ in marks]
    nets = {a['vdev'] for e, a in events[bounds[0]:] if e == 'virtio_queue_notify' and a['vdev'] != marker}
    if len(nets) != 1:
        raise sq.BenchError(f'expected kicks on one network device after marker 0, saw {len(nets)} devices')
    net = nets.pop()
    out = []
    for k in range(nphases):
        c = {'kicks': 0, 'interrupts': 0, 'queues': set()}
        for e, a in events[bounds[k]:bounds[k + 1]]:
            if a.get('vdev') != net:
                continue
            if e == 'virtio_queue_notify':
                c['kicks'] += 1
                c['queues'].add(int(a['n']))
            elif e in ('virtio_notify', 'virtio_notify_irqfd'):
                c['interrupts'] += 1
        c['queues'] = sorted(c['queues'])
        out.append(c)
    return out


def ns_run(ns, *cmd, check=True):
    return subprocess.run(['ip', 'netns', 'exec', ns, *cmd], check=check, capture_output=True, text=True)


def tap_stat(ns, name):
    return int(ns_run(ns, 'cat', f'/sys/class/net/{TAP}/statistics/{name}').stdout)


def inject(ns, size, count):
    """Write `count` frames of `size` bytes into the TAP (AF_PACKET, from its namespace), paced.

    Returns (frames written, frames the TAP dropped). Run as a child in
    the namespace: the frames go only to the guest on this TAP."""
    code = f'''
import os, socket, sys, time
def st(n): return int(open("/sys/class/net/{TAP}/statistics/" + n).read())
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("{TAP}", 0))
dst = bytes.fromhex("{GUEST_MAC.replace(':', '')}")
src = bytes.fromhex(open("/sys/class/net/{TAP}/address").read().strip().replace(":", ""))
frame = dst + src + ({ETHERTYPE_UNUSED}).to_bytes(2, "big") + bytes({size} - 14)
base_tx, base_drop = st("tx_packets"), st("tx_dropped")
sent = 0
while sent < {count}:
    for _ in range(min({BURST}, {count} - sent)):
        s.send(frame)
        sent += 1
    # Wait (bounded) until QEMU has read all but one burst: the TAP's queue
    # then holds at most two bursts and drops nothing while QEMU keeps up.
    deadline = time.monotonic() + 2
    while st("tx_packets") - base_tx + st("tx_dropped") - base_drop < sent - {BURST} and time.monotonic() < deadline:
        time.sleep(0.0005)
time.sleep(0.5)
print(sent, st("tx_dropped") - base_drop)
'''
    r = ns_run(ns, sys.executable, '-c', code)
    sent, dropped = map(int, r.stdout.split())
    return sent, dropped


class Control:
    """The guest's second serial port (a UNIX socket QEMU serves): 'done' lines to the guest."""

    def __init__(self, path):
        self.path = path
        self.sock = None

    def send(self, line, timeout=60):
        deadline = time.monotonic() + timeout
        while self.sock is None:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.path)
                self.sock = s
                # Drain whatever the guest's tty echoes, so that QEMU never blocks on it.
                threading.Thread(target=self._drain, daemon=True).start()
            except OSError:
                if time.monotonic() > deadline:
                    raise sq.BenchError(f'cannot connect to QEMU\'s serial socket {self.path}')
                time.sleep(0.2)
        self.sock.sendall(line.encode() + b'\n')

    def _drain(self):
        try:
            while self.sock.recv(4096):
                pass
        except OSError:
            pass


def run_qemu(phases=PHASES, packets=10000, memory_mib=512, timeout=1200, workdir=None, kit=None, log=None,
             qemu='qemu-system-x86_64'):
    """One TCG boot runs every phase; returns a list of dicts, one per phase.

    Each: phase, direction, size, packets (the guest's count), kicks,
    interrupts, kicks_per_1000, interrupts_per_1000, queues,
    guest_interrupts, tcg_packets_per_s, plus injected/tap_dropped (rx)."""
    say = log or (lambda msg: None)
    qemu_path = shutil.which(qemu)
    if not qemu_path:
        raise sq.BenchError(f'{qemu} not found: apt-get install qemu-system-x86')
    if os.geteuid() != 0:
        raise sq.BenchError('run as root: the benchmark makes a network namespace and a TAP in it')
    vmlinuz, base_initramfs, cmdline = kit or sq.stock_kit()
    own_dir = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix='parvis-network-qemu-', dir=os.environ.get('TMPDIR', '/var/tmp'))
    os.makedirs(workdir, exist_ok=True)
    p = {n: os.path.join(workdir, n) for n in ('marker.img', 'initramfs.cpio', 'console.txt', 'qemu.stderr',
                                               'trace.log', 'ctl.sock')}
    for name in ('console.txt', 'trace.log', 'ctl.sock'):
        if os.path.exists(p[name]):
            os.unlink(p[name])
    with open(p['marker.img'], 'wb') as f:
        os.posix_fallocate(f.fileno(), 0, sq.MARKER_DISK_SIZE)
    ns = f'parvis-nq-{os.getpid()}'
    subprocess.run(['ip', 'netns', 'add', ns], check=True)
    proc = None
    try:
        ns_run(ns, 'ip', 'link', 'set', 'lo', 'up')
        ns_run(ns, 'ip', 'tuntap', 'add', 'dev', TAP, 'mode', 'tap')
        ns_run(ns, 'ip', 'addr', 'add', f'{HOST_ADDR}/24', 'dev', TAP)
        ns_run(ns, 'ip', 'link', 'set', TAP, 'up')
        host_mac = ns_run(ns, 'cat', f'/sys/class/net/{TAP}/address').stdout.strip()
        sq.initramfs_with_script(base_initramfs, guest_script(phases, packets, host_mac), p['initramfs.cpio'])
        cmd = ['ip', 'netns', 'exec', ns, qemu_path, '-accel', 'tcg', '-M', 'q35', '-m', str(memory_mib),
               '-smp', '1', '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
               '-serial', 'file:' + p['console.txt'],
               '-chardev', f'socket,id=ctl,path={p["ctl.sock"]},server=on,wait=off', '-serial', 'chardev:ctl',
               '-kernel', vmlinuz, '-initrd', p['initramfs.cpio'],
               '-append', f'{cmdline} loglevel=4 parvis.run=sh%20/bench.sh',
               # The marker disk first: it is /dev/vda.
               '-drive', f'file={p["marker.img"]},if=none,id=marker,format=raw,cache=none,aio=threads',
               '-device', 'virtio-blk-pci,drive=marker,num-queues=1',
               '-netdev', f'tap,id=net0,ifname={TAP},script=no,downscript=no,vhost=off',
               '-device', f'virtio-net-pci,netdev=net0,mac={GUEST_MAC}',
               '-D', p['trace.log']]
        for e in sq.TRACE_EVENTS:
            cmd += ['-trace', e]
        say(f'qemu: 1 vCPU, {memory_mib} MiB, virtio-net on {TAP} (vhost=off), {packets} packets per phase; '
            f'files in {workdir}')
        t0 = time.monotonic()
        err = open(p['qemu.stderr'], 'w')
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        ctl = Control(p['ctl.sock'])
        injected = {}
        pending = [ph for ph in phases if ph.direction == 'rx']
        while proc.poll() is None:
            if time.monotonic() - t0 > timeout:
                proc.kill()
                proc.wait()
                raise sq.BenchError(f'QEMU still running after {timeout} s, killed; console ends with:\n'
                                    + sq._last_lines(p['console.txt']))
            console = open(p['console.txt'], errors='replace').read() if os.path.exists(p['console.txt']) else ''
            if pending and f'PARVIS-NET-READY {pending[0].name}' in console:
                ph = pending.pop(0)
                injected[ph.name] = inject(ns, ph.size, packets)
                say(f'qemu: {ph.name}: injected {injected[ph.name][0]}, the TAP dropped {injected[ph.name][1]}')
                ctl.send('done')
            time.sleep(0.2)
        rc = proc.wait()
        err.close()
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        subprocess.run(['ip', 'netns', 'del', ns], check=False)
    console = open(p['console.txt'], errors='replace').read() if os.path.exists(p['console.txt']) else ''
    if rc != 0:
        raise sq.BenchError(f'QEMU exited with status {rc}: {sq._last_lines(p["qemu.stderr"], 5)}'
                            f'console ends with:\n{console[-1500:]}')
    m = re.search(r'PARVIS-GUEST-RC (\d+)', console)
    errors = re.findall(r'PARVIS-ERROR .*', console)
    if not m or m.group(1) != '0' or errors:
        if any('virtio_net' in e or 'pktgen' in e for e in errors):
            errors.append('(an initramfs without virtio_net or pktgen: rebuild it, tools/guest-kit/build.sh --stock)')
        raise sq.BenchError(f'the guest script failed ({errors or "status " + (m.group(1) if m else "missing")}); '
                            f'console in {p["console.txt"]}, ends with:\n{console[-1500:]}')
    guest = {m.group(1): (int(m.group(2)), int(m.group(3)), float(m.group(5)) - float(m.group(4)))
             for m in re.finditer(r'PARVIS-NET (\S+) (\d+) (\d+) ([\d.]+) ([\d.]+)', console)}
    counts = count_events(sq.parse_trace(p['trace.log']), len(phases))
    say(f'qemu: boot and {len(phases)} phases in {time.monotonic() - t0:.1f} s')
    results = []
    for ph, c in zip(phases, counts):
        if ph.name not in guest:
            raise sq.BenchError(f'no PARVIS-NET line for {ph.name} on the console')
        n, irqs, secs = guest[ph.name]
        if n == 0:
            raise sq.BenchError(f'{ph.name}: the guest counted no packets')
        r = {'phase': ph.name, 'direction': ph.direction, 'size': ph.size, 'packets': n, **c,
             'kicks_per_1000': 1000 * c['kicks'] / n, 'interrupts_per_1000': 1000 * c['interrupts'] / n,
             'guest_interrupts': irqs, 'guest_interrupts_per_1000': 1000 * irqs / n,
             'tcg_packets_per_s': n / secs if secs > 0 else None}
        if ph.name in injected:
            r['injected'], r['tap_dropped'] = injected[ph.name]
        results.append(r)
    if own_dir:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def print_table(results, out=sys.stdout):
    print(f'{"phase":<10}{"packets":>9}{"kicks":>8}{"kicks/1k":>10}{"irqs":>8}{"irqs/1k":>9}{"guest irqs/1k":>15}'
          f'{"pkt/s (TCG)":>13}', file=out)
    for r in results:
        print(f'{r["phase"]:<10}{r["packets"]:>9}{r["kicks"]:>8}{r["kicks_per_1000"]:>10.1f}{r["interrupts"]:>8}'
              f'{r["interrupts_per_1000"]:>9.1f}{r["guest_interrupts_per_1000"]:>15.1f}'
              f'{r["tcg_packets_per_s"] or 0:>13.0f}', file=out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--packets', type=int, default=10000, help='packets per phase (default 10,000)')
    ap.add_argument('--memory', type=int, default=512, help='guest MiB (default 512; the initramfs is ~95 MB)')
    ap.add_argument('--timeout', type=int, default=1200, help='seconds for the whole run')
    ap.add_argument('--workdir', help='keep the console, trace log and images in DIR')
    ap.add_argument('--json', help='also write the results to this file')
    args = ap.parse_args()
    try:
        results = run_qemu(packets=args.packets, memory_mib=args.memory, timeout=args.timeout,
                           workdir=args.workdir, log=lambda msg: print(msg, flush=True))
    except sq.BenchError as e:
        print(f'network_qemu: {e}', file=sys.stderr)
        return 1
    print('QEMU virtio-net (vhost=off) under TCG: guest->host kicks and host->guest interrupts per 1,000 packets')
    print_table(results)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())

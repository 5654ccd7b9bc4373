#!/usr/bin/env python3
"""bench/network_qemu.py: its trace accounting, and virtio-net transfers in the stock guest.

1. Without a guest: count_events() on a made-up QEMU trace (boot traffic and the marker disk
   left out, events split at the markers, a missing marker refused); the guest script parsed
   by busybox sh -n.
2. With the stock kernel (STOCK_* from tools/guest-kit/build.sh --stock), qemu-system-x86_64
   and root: one TCG boot with virtio-net on a TAP in a namespace of the benchmark's own;
   pktgen's frames reach the TAP, the injected frames reach the guest, and QEMU's trace sees
   kicks and interrupts of each phase (counts checked for being there and consistent, never
   against a timing).
"""
import os
import shutil
import subprocess
import sys
import tempfile

from parvis_test import Tap

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'bench'))
import network_qemu as nq  # noqa: E402
import storage_qemu as sq  # noqa: E402

tap = Tap()
tmp = tempfile.mkdtemp(prefix='parvis-network-qemu-test-')
NET, MARK = '0x5600000a0000', '0x5600000c0000'


def marker(k):
    return [f'virtio_queue_notify vdev {MARK} n 0 vq 0x1',
            f'virtio_blk_handle_read vdev {MARK} req 0x9 sector {(sq.MARKER_BLOCK0 + k) * 8} nsectors 8',
            f'virtio_notify vdev {MARK} vq 0x1']


trace = [f'virtio_queue_notify vdev {NET} n 0 vq 0x2', f'virtio_notify vdev {NET} vq 0x2']  # boot
trace += marker(0)
trace += [f'virtio_queue_notify vdev {NET} n 1 vq 0x3'] * 3 + [f'virtio_notify vdev {NET} vq 0x3'] * 2
trace += ['garbage line'] + marker(1)
trace += [f'1234@1700000000.000001:virtio_notify_irqfd vdev {NET} vq 0x2'] + marker(2)
path = os.path.join(tmp, 'trace.log')
with open(path, 'w') as f:
    f.write('\n'.join(trace) + '\n')
counts = nq.count_events(sq.parse_trace(path), 2)
tap.ok(counts[0] == {'kicks': 3, 'interrupts': 2, 'queues': [1]},
       'phase 0: its kicks and interrupts; boot traffic and the marker disk left out', counts)
tap.ok(counts[1] == {'kicks': 0, 'interrupts': 1, 'queues': []}, 'phase 1: a timestamped irqfd line',
       counts)
with open(path, 'w') as f:
    f.write('\n'.join(t for t in trace if f'sector {(sq.MARKER_BLOCK0 + 1) * 8} ' not in t) + '\n')
try:
    nq.count_events(sq.parse_trace(path), 2)
    tap.ok(False, 'a trace missing a marker is refused')
except sq.BenchError as e:
    tap.ok('markers' in str(e), 'a trace missing a marker is refused', e)
script = nq.guest_script(nq.PHASES, 100, '02:00:00:00:00:01')
r = subprocess.run(['busybox', 'sh', '-n', '-c', script], capture_output=True, text=True)
tap.ok(r.returncode == 0, 'the guest script parses in busybox sh', r.stderr)

kit = tuple(os.environ.get(k) for k in ('STOCK_VMLINUZ', 'STOCK_INITRAMFS', 'STOCK_CMDLINE'))
why = None
if not shutil.which('qemu-system-x86_64'):
    why = 'qemu-system-x86_64 missing'
elif not kit[0] or not os.path.exists(kit[0]):
    why = 'stock kernel not fetched (tools/guest-kit/build.sh --stock)'
elif os.geteuid() != 0:
    why = 'not root (the benchmark makes a network namespace)'
if why:
    tap.skip('virtio-net transfers in the stock guest under QEMU TCG', why)
    shutil.rmtree(tmp, ignore_errors=True)
    tap.done()

N = 500
try:
    results = nq.run_qemu(packets=N, timeout=900, workdir=os.path.join(tmp, 'run'), kit=kit)
except sq.BenchError as e:
    tap.ok(False, 'QEMU booted the stock guest and ran the transfers on virtio-net', e)
    tap.done()
tap.ok([r['phase'] for r in results] == [p.name for p in nq.PHASES],
       'QEMU booted the stock guest and ran every transfer on virtio-net')
for r in results:
    if r['direction'] == 'tx':
        # pktgen's count, plus at most the guest's own few frames (IPv6 neighbour discovery).
        tap.ok(N <= r['packets'] <= N + 20, f'{r["phase"]}: the guest sent its {N} frames', r)
        tap.ok(0 < r['kicks'] <= r['packets'], f'{r["phase"]}: kicks seen, none more than frames', r)
    else:
        tap.ok(r['injected'] == N and r['packets'] >= N - r['tap_dropped'],
               f'{r["phase"]}: the guest counted the frames the TAP passed on', r)
        tap.ok(0 < r['interrupts'] <= r['packets'], f'{r["phase"]}: interrupts seen, none more than frames', r)
    tap.ok(r['guest_interrupts'] > 0, f'{r["phase"]}: the guest counted interrupts from the adapter', r)
shutil.rmtree(tmp, ignore_errors=True)
tap.done()

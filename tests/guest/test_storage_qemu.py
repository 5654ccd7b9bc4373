#!/usr/bin/env python3
"""bench/storage_qemu.py: its trace accounting, and fio on virtio-blk in the stock guest.

1. Without a guest: count_events() on a made-up QEMU trace (boot I/O and
   the marker disk left out, events split at the markers, a missing marker
   refused); the appended cpio read back by GNU cpio; the guest script
   parsed by busybox sh -n.
2. With the stock kernel (STOCK_* from tools/guest-kit/build.sh --stock)
   and qemu-system-x86_64: one TCG boot runs small fio jobs on a virtio-blk
   disk; fio succeeds, and QEMU's trace sees the requests, kicks and
   interrupts of each job (counts checked for being there and consistent,
   never against a timing).
"""
import os
import shutil
import subprocess
import sys
import tempfile

from parvis_test import Tap

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'bench'))
import storage_qemu as sq  # noqa: E402

tap = Tap()
tmp = tempfile.mkdtemp(prefix='parvis-storage-qemu-test-')

# ---- 1. accounting, without a guest
D, M = '0x5600000a0000', '0x5600000b0000'


def ev(name, vdev, **kw):
    return name + ' vdev ' + vdev + ''.join(f' {k} {v}' for k, v in kw.items())


def request(vdev, sector=0, kick=True, irq='virtio_notify_irqfd', n=0):
    lines = [ev('virtio_queue_notify', vdev, n=n, vq='0x1')] if kick else []
    lines += [ev('virtio_blk_handle_read', vdev, req='0x9', sector=sector, nsectors=8),
              ev('virtio_blk_req_complete', vdev, req='0x9', status=0)]
    if irq:
        lines.append(ev(irq, vdev, vq='0x1'))
    return lines


def marker(k):
    return request(M, sector=(sq.MARKER_BLOCK0 + k) * 8)


trace = []
trace += request(D, 0) + request(D, 8) + request(M, 0)            # boot: partition scans
trace += marker(0)
trace += request(D, 64) + request(D, 72, kick=False, irq=None) + request(D, 80, irq='virtio_notify', n=1)
trace += ['virtio_set_status vdev ' + D + ' val 15', 'garbage line']
trace += marker(1)
trace += [f'1234@1700000000.000001:{line}' for line in request(D, 96)]   # -msg timestamp=on form
trace += marker(2)
path = os.path.join(tmp, 'trace.log')
with open(path, 'w') as f:
    f.write('\n'.join(trace) + '\n')
counts = sq.count_events(sq.parse_trace(path), 2)
tap.ok(counts[0] == {'requests': 3, 'kicks': 2, 'interrupts': 2, 'queues': [0, 1]},
       'job 0: its 3 requests, 2 kicks and 2 interrupts; boot I/O and marker disk left out', counts)
tap.ok(counts[1] == {'requests': 1, 'kicks': 1, 'interrupts': 1, 'queues': [0]},
       'job 1: one request, timestamped trace lines parsed', counts)
with open(path, 'w') as f:
    f.write('\n'.join(t for t in trace if f'sector {(sq.MARKER_BLOCK0 + 1) * 8} ' not in t) + '\n')
try:
    sq.count_events(sq.parse_trace(path), 2)
    tap.ok(False, 'a trace missing a marker is refused')
except sq.BenchError as e:
    tap.ok('markers' in str(e), 'a trace missing a marker is refused', e)

script = sq.guest_script(sq.FIO_JOBS, '/dev/vda', '/dev/vdb')
base = os.path.join(tmp, 'base.cpio')
subprocess.run('echo hello >hello.txt; echo hello.txt | cpio --quiet -o -H newc >base.cpio', shell=True,
               cwd=tmp, check=True)
sq.initramfs_with_script(base, script, os.path.join(tmp, 'both.cpio'))
out = os.path.join(tmp, 'out')
os.mkdir(out)
# GNU cpio reads one archive per run: skip the first archive, then read the second.
with open(os.path.join(tmp, 'both.cpio'), 'rb') as f:
    f.seek(os.path.getsize(base))
    f.seek(-f.tell() % 4, 1)
    r = subprocess.run(['cpio', '--quiet', '-i', '-d'], stdin=f, cwd=out, capture_output=True)
got = open(os.path.join(out, 'bench.sh')).read() if os.path.exists(os.path.join(out, 'bench.sh')) else None
tap.ok(r.returncode == 0 and got == script and os.access(os.path.join(out, 'bench.sh'), os.X_OK),
       'the appended cpio holds /bench.sh, executable, byte for byte (read by GNU cpio)', r.stderr)
r = subprocess.run(['busybox', 'sh', '-n', '-c', script], capture_output=True, text=True)
tap.ok(r.returncode == 0, "the guest script parses in busybox sh", r.stderr)
for job in sq.FIO_JOBS:
    tap.ok(' '.join(sq.fio_command(job, '/dev/vda')) in script and f'--number_ios={job.count}' in script,
           f'the script runs job {job.name} as fio_command() builds it')

# ---- 2. fio on virtio-blk in the stock guest, under QEMU TCG
kit = tuple(os.environ.get(k) for k in ('STOCK_VMLINUZ', 'STOCK_INITRAMFS', 'STOCK_CMDLINE'))
why = None
if not shutil.which('qemu-system-x86_64'):
    why = 'qemu-system-x86_64 missing'
elif not kit[0] or not os.path.exists(kit[0]):
    why = 'stock kernel not fetched (tools/guest-kit/build.sh --stock)'
if why:
    tap.skip('fio on virtio-blk in the stock guest under QEMU TCG', why)
    shutil.rmtree(tmp, ignore_errors=True)
    tap.done()

CPUS = 2
jobs = (sq.FioJob('t-randread-qd1', 'randread', 4096, 1, 300),
        sq.FioJob('t-randwrite-qd1', 'randwrite', 4096, 1, 300),
        sq.FioJob('t-randread-qd16', 'randread', 4096, 16, 300))
try:
    results = sq.run_qemu(jobs, cpus=CPUS, memory_mib=512, timeout=900, workdir=os.path.join(tmp, 'run'), kit=kit)
except sq.BenchError as e:
    tap.ok(False, 'QEMU booted the stock guest and ran fio on virtio-blk', e)
    tap.done()
tap.ok(len(results) == len(jobs), 'QEMU booted the stock guest and ran fio on virtio-blk')
for job, r in zip(jobs, results):
    tap.ok(r['fio_error'] == 0 and r['fio_ios'] == job.count, f'{job.name}: fio did its {job.count} I/Os', r)
    # At queue depth 1 nothing can merge: one virtio request per fio I/O.
    if job.iodepth == 1:
        tap.ok(r['requests'] == job.count, f'{job.name}: the trace has one request per I/O', r)
    else:
        tap.ok(0 < r['requests'] <= job.count, f'{job.name}: the trace has at most one request per I/O', r)
    # EVENT_IDX (negotiated by default): a kick or an interrupt only for new buffers.
    tap.ok(0 < r['kicks'] <= r['requests'] and 0 < r['interrupts'] <= r['requests'],
           f'{job.name}: kicks and interrupts seen, none more than requests', r)
    tap.ok(set(r['queues']) <= set(range(CPUS)), f'{job.name}: only the disk\'s {CPUS} queues kicked', r)
    tap.ok((r['guest_interrupts'] or 0) > 0, f'{job.name}: the guest counted interrupts from the disk', r)
shutil.rmtree(tmp, ignore_errors=True)
tap.done()

#!/usr/bin/env python3
"""QEMU's virtio-blk notifications per I/O under TCG, for bench/storage.

One command:  bench/storage_qemu.py [--runs 3] [--cpus 2] [--memory 512] [--json FILE]

Boots Debian's stock kernel with the guest kit's initramfs (busybox, fio,
virtio_pci and virtio_blk; tools/guest-kit/build.sh --stock) under
`qemu-system-x86_64 -accel tcg`, with a virtio-blk disk backed by a raw file
on the host, and runs inside the guest the fio jobs of FIO_JOBS against
/dev/vda. QEMU's trace events, written to a log file, count per job:
  - requests    virtio_blk_req_complete on the disk;
  - kicks       virtio_queue_notify on the disk: the guest's writes to the
                queue-notify register, i.e. guest->host notifications (with
                KVM each is an exit; under TCG the write reaches virtio-pci's
                handler, which traces it and then sets the queue's host
                notifier, so every kick is seen, ioeventfd or not);
  - interrupts  virtio_notify + virtio_notify_irqfd on the disk: the
                host->guest notifications QEMU actually sent (both trace
                only after virtio_should_notify() said yes, i.e. after
                EVENT_IDX / NO_INTERRUPT suppression).
The guest's own /proc/interrupts for the disk's request queues is read
before and after each job as a cross-check of the interrupt count.

Jobs are separated by markers: before each job and after the last, the
guest reads one 4 KiB block at a distinctive offset of a second, tiny
virtio-blk disk (the marker disk). Events of the benchmark disk between
marker k and marker k+1 belong to job k; everything before marker 0 (the
boot's own I/O: partition scans) and all of the marker disk's events are
left out. One boot runs all jobs.

The lead's bench/storage.py imports FIO_JOBS, fio_command() and
guest_script() so that the Parvis guest runs exactly the same jobs, and
run_qemu() for QEMU's column. fio's IOPS inside TCG are reported for
information only: guest code is emulated, so they measure the emulator.
"""
import argparse
import dataclasses
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KIT_BUILD = os.path.join(ROOT, 'tools/guest-kit/build.sh')


@dataclasses.dataclass(frozen=True)
class FioJob:
    """One fio job: a fixed number of I/Os of one kind at one queue depth."""
    name: str
    rw: str        # fio --rw
    bs: int        # bytes per I/O
    iodepth: int
    count: int     # I/Os (fio --number_ios)


# The jobs of the "exits per I/O" benchmark: 4 KiB random read and
# write at queue depth 1 and 32. 4,000 I/Os each give the per-1000 values
# to 0.25 and take seconds under TCG.
FIO_JOBS = (
    FioJob('randread-qd1', 'randread', 4096, 1, 4000),
    FioJob('randread-qd32', 'randread', 4096, 32, 4000),
    FioJob('randwrite-qd1', 'randwrite', 4096, 1, 4000),
    FioJob('randwrite-qd32', 'randwrite', 4096, 32, 4000),
)

# Options every job shares. io_uring with O_DIRECT: each I/O reaches the
# device, none is served by the guest's page cache. The random offsets fall
# in the first FIO_REGION bytes (fio's --size); --number_ios ends the job
# after `count` I/Os, long before the region is used up, so the count is
# exact. --thread: fio's jobs as threads (no SysV shared memory needed in
# the initramfs). Submission and completion batching are fio's defaults
# (iodepth_batch_submit=1, iodepth_batch_complete_min=1): one io_uring_enter
# per I/O, as most applications do.
FIO_REGION = 256 << 20
FIO_COMMON = ('--ioengine=io_uring', '--direct=1', '--thread', '--randrepeat=1',
              f'--size={FIO_REGION}', '--output-format=json')
# The benchmark disk must hold the region; the marker disk, the markers.
DISK_SIZE = 512 << 20
MARKER_DISK_SIZE = 1 << 20
MARKER_BLOCK0 = 100    # marker k reads 4 KiB block MARKER_BLOCK0 + k of the marker disk

TRACE_EVENTS = ('virtio_queue_notify', 'virtio_notify', 'virtio_notify_irqfd',
                'virtio_blk_req_complete', 'virtio_blk_handle_read')


class BenchError(Exception):
    """Something the user must fix (missing QEMU or kit) or a failed run."""


def fio_command(job, filename):
    """The fio command line (a list) that runs `job` against `filename`."""
    return ['fio', f'--name={job.name}', f'--filename={filename}', f'--rw={job.rw}', f'--bs={job.bs}',
            f'--iodepth={job.iodepth}', f'--number_ios={job.count}', *FIO_COMMON]


def guest_script(jobs=FIO_JOBS, disk='/dev/vda', marker_disk=None, irq_grep=None):
    """The busybox sh script the guest runs: each job's fio JSON on one line.

    Prints, per job,  PARVIS-FIO <name> <fio JSON on one line>  and
    PARVIS-IRQ <name> <before> <after>: the sum over all CPUs of the
    /proc/interrupts lines matching irq_grep (an extended regex; default:
    the request queues of the virtio device behind `disk`, "virtioN-req";
    on Hyper-V, '^ *HYP:' counts VMBus interrupts, all channels). With
    marker_disk, reads marker k (one direct 4 KiB read of block
    MARKER_BLOCK0 + k) before job k and after the last job. Ends with
    status 0 only if every job succeeded.
    """
    dev = os.path.basename(disk)
    if irq_grep is None:
        # The disk's virtio device (virtioN) names its interrupt lines.
        irq_setup = f'v=$(basename "$(readlink /sys/block/{dev}/device)")'
        irq_select = 'grep " $v-req" /proc/interrupts'
    else:
        if "'" in irq_grep:
            raise ValueError('irq_grep must not contain a single quote')
        irq_setup = ':'
        irq_select = f"grep -E '{irq_grep}' /proc/interrupts"
    lines = [
        'set -u -o pipefail',
        f'[ -b {disk} ] || {{ echo "PARVIS-ERROR no block device {disk}"; exit 2; }}',
        'command -v fio >/dev/null || { echo "PARVIS-ERROR no fio in the guest"; exit 2; }',
        irq_setup,
        # Sum of all CPUs' counts (the numeric fields after the first) over the lines.
        f'irqs() {{ {irq_select} | '
        "awk '{ for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i } END { print s + 0 }'; }",
        'rc=0',
    ]
    if marker_disk:
        lines.append(f'mark() {{ dd if={marker_disk} of=/dev/null bs=4096 count=1 skip=$(({MARKER_BLOCK0} + $1)) '
                     'iflag=direct 2>/dev/null || { echo "PARVIS-ERROR marker $1"; rc=1; }; }')
    for k, job in enumerate(jobs):
        if marker_disk:
            lines.append(f'mark {k}')
        cmd = ' '.join(fio_command(job, disk))
        lines += [
            'b=$(irqs)',
            f'out=$({cmd} | tr -d "\\n") || rc=1',
            f'echo "PARVIS-FIO {job.name} $out"',
            f'echo "PARVIS-IRQ {job.name} $b $(irqs)"',
        ]
    if marker_disk:
        lines.append(f'mark {len(jobs)}')
    lines.append('exit $rc')
    return '\n'.join(lines) + '\n'


def cpio_newc(files):
    """A newc cpio archive of {path: (mode, bytes)}, ended by its trailer.

    Appended to an initramfs, the kernel unpacks it over the first archive:
    that is how the guest gets its script without a long command line."""
    out = bytearray()
    entries = list(files.items()) + [('TRAILER!!!', (0, b''))]
    for ino, (path, (mode, data)) in enumerate(entries, 1):
        name = path.encode() + b'\0'
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name), 0)
        out += b'070701' + b''.join(b'%08X' % f for f in fields) + name
        out += b'\0' * (-len(out) % 4)
        out += data
        out += b'\0' * (-len(out) % 4)
    out += b'\0' * (-len(out) % 512)
    return bytes(out)


def initramfs_with_script(base, script, out):
    """Write `base` with /bench.sh (the script) appended as a second cpio."""
    with open(out, 'wb') as dst, open(base, 'rb') as src:
        shutil.copyfileobj(src, dst, 1 << 20)
        dst.write(b'\0' * (-dst.tell() % 4))
        dst.write(cpio_newc({'bench.sh': (0o100755, script.encode())}))


def stock_kit():
    """(vmlinuz, initramfs, cmdline) of the guest kit's stock kernel."""
    env = {k: os.environ.get(k) for k in ('STOCK_VMLINUZ', 'STOCK_INITRAMFS', 'STOCK_CMDLINE')}
    if not all(env.values()):
        if not os.path.exists(KIT_BUILD):
            raise BenchError(f'{KIT_BUILD} missing')
        r = subprocess.run([KIT_BUILD, '--stock'], capture_output=True, text=True)
        if r.returncode != 0:
            raise BenchError('tools/guest-kit/build.sh --stock failed:\n' + r.stderr[-2000:])
        env = dict(re.findall(r"^(STOCK_\w+)='(.*)'$", r.stdout, re.M))
    for k in ('STOCK_VMLINUZ', 'STOCK_INITRAMFS'):
        if not env.get(k) or not os.path.exists(env[k]):
            raise BenchError(f'{k} ({env.get(k)}) does not exist: run tools/guest-kit/build.sh --stock')
    return env['STOCK_VMLINUZ'], env['STOCK_INITRAMFS'], env.get('STOCK_CMDLINE') or ''


# A log-backend trace line: "[pid@sec.usec:]event key value key value ...".
TRACE_LINE = re.compile(r'^(?:\d+@[\d.]+:)?(\w+) (.*)$')


def parse_trace(path):
    """The trace log as a list of (event, {key: value}), in order."""
    events = []
    with open(path, errors='replace') as f:
        for line in f:
            m = TRACE_LINE.match(line.strip())
            if not m or m.group(1) not in TRACE_EVENTS:
                continue
            words = m.group(2).split()
            events.append((m.group(1), dict(zip(words[0::2], words[1::2]))))
    return events


def count_events(events, njobs):
    """Per-job counts from the trace: [{'requests', 'kicks', 'interrupts', 'queues'}].

    The marker disk is the device that read block MARKER_BLOCK0 + k for
    every k in 0..njobs; the benchmark disk is the other device with
    requests after marker 0."""
    marker_sectors = {(MARKER_BLOCK0 + k) * 8: k for k in range(njobs + 1)}
    marks = [(i, marker_sectors[int(a['sector'])], a['vdev']) for i, (e, a) in enumerate(events)
             if e == 'virtio_blk_handle_read' and a.get('nsectors') == '8'
             and int(a.get('sector', -1)) in marker_sectors]
    marker_vdevs = {v for _, _, v in marks}
    seen = [k for _, k, _ in marks]
    if len(marker_vdevs) != 1 or seen != list(range(njobs + 1)):
        raise BenchError(f'markers in the trace: {seen} on {len(marker_vdevs)} device(s), '
                         f'expected 0..{njobs} on one (did the guest script run?)')
    marker_vdev = marker_vdevs.pop()
    bounds = [i for i, _, _ in marks]
    disks = {a['vdev'] for e, a in events[bounds[0]:] if e == 'virtio_blk_req_complete' and a['vdev'] != marker_vdev}
    if len(disks) != 1:
        raise BenchError(f'expected requests on one benchmark disk after marker 0, saw {len(disks)} devices')
    disk = disks.pop()
    results = []
    for k in range(njobs):
        c = {'requests': 0, 'kicks': 0, 'interrupts': 0, 'queues': set()}
        for e, a in events[bounds[k]:bounds[k + 1]]:
            if a.get('vdev') != disk:
                continue
            if e == 'virtio_blk_req_complete':
                c['requests'] += 1
            elif e == 'virtio_queue_notify':
                c['kicks'] += 1
                c['queues'].add(int(a['n']))
            elif e in ('virtio_notify', 'virtio_notify_irqfd'):
                c['interrupts'] += 1
        c['queues'] = sorted(c['queues'])
        results.append(c)
    return results


def parse_console(text, jobs):
    """fio's JSON and the guest's interrupt counts per job, from the console."""
    fio, irq = {}, {}
    for line in text.splitlines():
        m = re.search(r'PARVIS-FIO (\S+) (.*)$', line)
        if m:
            try:
                fio[m.group(1)] = json.loads(m.group(2))
            except ValueError:
                fio[m.group(1)] = None
        m = re.search(r'PARVIS-IRQ (\S+) (\d+) (\d+)', line)
        if m:
            irq[m.group(1)] = int(m.group(3)) - int(m.group(2))
    out = {}
    for job in jobs:
        j = fio.get(job.name)
        if not j or not j.get('jobs'):
            raise BenchError(f'no fio result for {job.name} on the console')
        side = j['jobs'][0]['write' if 'write' in job.rw else 'read']
        out[job.name] = {'fio_ios': side['total_ios'], 'fio_iops': side['iops'],
                         'fio_lat_us': side['lat_ns']['mean'] / 1000, 'fio_error': j['jobs'][0]['error'],
                         'guest_interrupts': irq.get(job.name)}
    return out


def _last_lines(path, n=15):
    try:
        with open(path, errors='replace') as f:
            return ''.join(f.readlines()[-n:])
    except OSError:
        return '(none)'


def run_qemu(jobs=FIO_JOBS, cpus=2, memory_mib=512, aio='io_uring', timeout=900, workdir=None,
             qemu='qemu-system-x86_64', kit=None, log=None):
    """Run `jobs` in one TCG boot; return a list of dicts, one per job.

    Each dict: job, rw, bs, iodepth, count, requests, kicks, interrupts,
    kicks_per_1000, interrupts_per_1000 (per 1,000 requests), queues (the
    virtqueues kicked), guest_interrupts (guest's /proc/interrupts delta),
    fio_ios, fio_iops and fio_lat_us (inside TCG: informational),
    fio_error. Raises BenchError with the reason on any failure.
    workdir (default: a new temporary directory, removed on success) keeps
    the console, QEMU's stderr, the trace log and the disk images."""
    say = log or (lambda msg: None)
    qemu_path = shutil.which(qemu)
    if not qemu_path:
        raise BenchError(f'{qemu} not found: apt-get install qemu-system-x86')
    vmlinuz, base_initramfs, cmdline = kit or stock_kit()
    own_dir = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix='parvis-storage-qemu-', dir=os.environ.get('TMPDIR', '/var/tmp'))
    os.makedirs(workdir, exist_ok=True)
    p = {n: os.path.join(workdir, n) for n in ('disk.img', 'marker.img', 'initramfs.cpio', 'console.txt',
                                               'qemu.stderr', 'trace.log')}
    for name in ('console.txt', 'trace.log'):
        if os.path.exists(p[name]):
            os.unlink(p[name])
    # Allocated (unwritten extents), so that guest writes do not grow the file.
    for name, size in (('disk.img', DISK_SIZE), ('marker.img', MARKER_DISK_SIZE)):
        with open(p[name], 'wb') as f:
            os.posix_fallocate(f.fileno(), 0, size)
    initramfs_with_script(base_initramfs, guest_script(jobs, '/dev/vda', '/dev/vdb'), p['initramfs.cpio'])

    # cache=none: O_DIRECT on the host, as Parvis's back end; aio=io_uring,
    # the host I/O path Parvis uses too (aio=threads where QEMU lacks it).
    # num-queues = vCPUs (QEMU 7.2's default for virtio-blk-pci, set
    # explicitly): one request queue per guest CPU, as storvsc's sub-channels.
    drive = f'format=raw,cache=none,aio={aio}'
    cmd = [qemu_path, '-accel', 'tcg', '-M', 'q35', '-m', str(memory_mib), '-smp', str(cpus),
           '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
           '-serial', 'file:' + p['console.txt'],
           '-kernel', vmlinuz, '-initrd', p['initramfs.cpio'],
           # loglevel=4: kernel messages below warnings stay off the console,
           # which carries fio's JSON.
           '-append', f'{cmdline} loglevel=4 parvis.run=sh%20/bench.sh',
           '-drive', f'file={p["disk.img"]},if=none,id=disk,{drive}',
           '-device', f'virtio-blk-pci,drive=disk,num-queues={cpus}',
           '-drive', f'file={p["marker.img"]},if=none,id=marker,{drive}',
           '-device', 'virtio-blk-pci,drive=marker,num-queues=1',
           '-D', p['trace.log']]
    for e in TRACE_EVENTS:
        cmd += ['-trace', e]
    say(f'qemu: {cpus} vCPUs, {memory_mib} MiB, aio={aio}; files in {workdir}')
    t0 = time.monotonic()
    with open(p['qemu.stderr'], 'w') as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise BenchError(f'QEMU still running after {timeout} s, killed; console ends with:\n'
                             + _last_lines(p['console.txt']))
    wall = time.monotonic() - t0
    console = open(p['console.txt'], errors='replace').read() if os.path.exists(p['console.txt']) else ''
    if rc != 0:
        raise BenchError(f'QEMU exited with status {rc}: {_last_lines(p["qemu.stderr"], 5)}'
                         f'console ends with:\n{console[-1500:]}')
    m = re.search(r'PARVIS-GUEST-RC (\d+)', console)
    errors = re.findall(r'PARVIS-ERROR .*', console)
    if not m or m.group(1) != '0' or errors:
        if any('no block device' in e or 'no fio' in e for e in errors):
            errors.append('(an initramfs without virtio_blk or fio: rebuild it, tools/guest-kit/build.sh --stock)')
        raise BenchError(f'the guest script failed ({errors or "status " + (m.group(1) if m else "missing")}); '
                         f'console in {p["console.txt"]}, ends with:\n{console[-1500:]}')
    say(f'qemu: boot and {len(jobs)} jobs in {wall:.1f} s')
    if not os.path.exists(p['trace.log']) or os.path.getsize(p['trace.log']) == 0:
        raise BenchError('QEMU wrote no trace events: is its trace backend "log"? (qemu -d trace:help)')
    counts = count_events(parse_trace(p['trace.log']), len(jobs))
    fio = parse_console(console, jobs)
    results = []
    for job, c in zip(jobs, counts):
        r = {**dataclasses.asdict(job), 'job': job.name, **c, **fio[job.name]}
        del r['name']
        if r['requests'] == 0:
            raise BenchError(f'{job.name}: no requests on the disk in the trace')
        if r['kicks'] == 0:
            raise BenchError(f'{job.name}: {r["requests"]} requests but no virtio_queue_notify: '
                             'this QEMU does not trace kicks (KVM ioeventfd?)')
        r['kicks_per_1000'] = 1000 * r['kicks'] / r['requests']
        r['interrupts_per_1000'] = 1000 * r['interrupts'] / r['requests']
        results.append(r)
    if own_dir:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def run_qemu_runs(runs=3, **kw):
    """run_qemu() `runs` times (one boot each); per job, the medians.

    Under TCG the queue-depth-32 counts move from boot to boot (how often
    the guest finds notifications suppressed depends on how fast the
    emulated guest runs against QEMU's native I/O thread, i.e. on the
    host's load): each dict is run_qemu()'s for that job with requests,
    kicks, interrupts, guest_interrupts, the per-1000 values and fio_iops
    replaced by their medians over the runs, and 'runs' holding every
    run's (kicks_per_1000, interrupts_per_1000). With workdir, run i keeps
    its files in workdir/run<i>."""
    if kw.get('kit') is None:
        kw['kit'] = stock_kit()
    workdir = kw.pop('workdir', None)
    all_runs = [run_qemu(workdir=workdir and os.path.join(workdir, f'run{i}'), **kw) for i in range(runs)]
    out = []
    for per_job in zip(*all_runs):
        r = dict(per_job[0])
        for key in ('requests', 'kicks', 'interrupts', 'guest_interrupts', 'kicks_per_1000',
                    'interrupts_per_1000', 'fio_iops', 'fio_lat_us'):
            values = [x[key] for x in per_job if x[key] is not None]
            r[key] = statistics.median(values) if values else None
        r['queues'] = sorted(set().union(*(x['queues'] for x in per_job)))
        r['runs'] = [(x['kicks_per_1000'], x['interrupts_per_1000']) for x in per_job]
        out.append(r)
    return out


def print_table(results, out=sys.stdout):
    """One line per job; with run_qemu_runs() results, medians and each run's values."""
    runs = 'runs' in results[0]
    print(f'{"job":<16}{"requests":>9}{"kicks":>8}{"kicks/1000":>12}{"irqs":>8}{"irqs/1000":>11}'
          f'{"guest irqs":>12}{"queues":>8}{"fio IOPS (TCG)":>16}' + ('  per run: kicks/1000 irqs/1000' if runs else ''),
          file=out)
    for r in results:
        gi = '-' if r['guest_interrupts'] is None else f'{r["guest_interrupts"]:.0f}'
        line = (f'{r["job"]:<16}{r["requests"]:>9.0f}{r["kicks"]:>8.0f}{r["kicks_per_1000"]:>12.1f}'
                f'{r["interrupts"]:>8.0f}{r["interrupts_per_1000"]:>11.1f}{gi:>12}'
                f'{",".join(map(str, r["queues"])):>8}{r["fio_iops"]:>16.0f}')
        if runs:
            line += '  ' + ', '.join(f'{k:.0f} {i:.0f}' for k, i in r['runs'])
        print(line, file=out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--runs', type=int, default=3, help='boots (each runs every job); medians are shown')
    ap.add_argument('--cpus', type=int, default=2, help='guest vCPUs, and virtio-blk queues (default 2)')
    ap.add_argument('--memory', type=int, default=512, help='guest MiB (default 512; the initramfs is ~95 MB)')
    ap.add_argument('--aio', default='io_uring', choices=('io_uring', 'threads', 'native'))
    ap.add_argument('--timeout', type=int, default=900, help='seconds for the whole run')
    ap.add_argument('--workdir', help='keep each run\'s console, trace log and images in DIR/run<i>')
    ap.add_argument('--json', help='also write the results to this file')
    args = ap.parse_args()
    try:
        results = run_qemu_runs(args.runs, cpus=args.cpus, memory_mib=args.memory, aio=args.aio,
                                timeout=args.timeout, workdir=args.workdir,
                                log=lambda msg: print(msg, flush=True))
    except BenchError as e:
        print(f'storage_qemu: {e}', file=sys.stderr)
        return 1
    print(f'QEMU virtio-blk under TCG, {args.cpus} vCPUs and queues, aio={args.aio}: guest->host kicks and '
          f'host->guest interrupts per 1,000 requests (medians of {args.runs} boots)')
    print_table(results)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())

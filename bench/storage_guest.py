"""The Parvis column of bench/storage.py's "exits per I/O": a real guest on
storvsp, counted by the worker (guest->host signals and host->guest
interrupts on the storage channels, per 1,000 SCSI requests).

Where guest user space runs (hardware virtualization), the guest runs the
fio jobs of bench/storage_qemu.py (FIO_JOBS, the same command lines QEMU's
guest runs) against /dev/sda, and the worker's counters are read between
jobs. On PVM hosts guest user space cannot make system calls, so the I/O
is the guest kernel's own: the kit kernel mounts an ext4 root made with
lazy inode-table initialisation and its ext4lazyinit thread zeroes the
inode tables (writes), jbd2 and writeback add their own; an idle init
(no system calls) keeps the kernel up meanwhile.
"""
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'guest'))


def status(path):
    from parvis_test import control
    return control(path, {'command': 'status'})


def storage_counts(st):
    """Totals over every storage channel: requests, completions, signals in, interrupts out."""
    tot = {'requests': 0, 'completions': 0, 'signals_in': 0, 'interrupts_out': 0, 'channels': 0,
           'channels_used': 0}
    for ctl in ((st or {}).get('storage') or {}).get('controllers', []):
        for ch in ctl['channels']:
            tot['channels'] += 1
            tot['channels_used'] += ch['requests'] > 0
            for k in ('requests', 'completions', 'signals_in', 'interrupts_out'):
                tot[k] += ch[k]
    return tot


def per_1000(delta):
    n = delta['requests'] or 1
    return {'requests': delta['requests'],
            'signals_per_1000': 1000.0 * delta['signals_in'] / n,
            'interrupts_per_1000': 1000.0 * delta['interrupts_out'] / n}


def diff(a, b):
    return {k: b[k] - a[k] for k in ('requests', 'completions', 'signals_in', 'interrupts_out')}


def kernel_workload_disk(work, vhd):
    """A VHDX holding an ext4 root with uninitialised inode tables and an idle /sbin/init."""
    from idle_initramfs import idle_init_elf
    tree = os.path.join(work, 'tree')
    os.makedirs(os.path.join(tree, 'sbin'), exist_ok=True)
    with open(os.path.join(tree, 'sbin', 'init'), 'wb') as f:
        f.write(idle_init_elf())
    os.chmod(os.path.join(tree, 'sbin', 'init'), 0o755)
    raw = os.path.join(work, 'lazy.raw')
    subprocess.run(['mke2fs', '-q', '-F', '-t', 'ext4', '-E',
                    'lazy_itable_init=1,lazy_journal_init=1', '-d', tree, raw, '8G'], check=True)
    out = os.path.join(work, 'lazy.vhdx')
    subprocess.run(vhd + ['convert', raw, out, '--format', 'vhdx', '--dynamic'], check=True,
                   capture_output=True)
    os.unlink(raw)
    return out


def run(args, work, log=lambda m: print(m, file=sys.stderr, flush=True)):
    from parvis_test import host_is_pvm, kit
    from storage import vhd_tool
    os.environ.setdefault('PARVIS_VMWP', os.path.join(args.build, 'src', 'vmwp', 'parvis-vmwp'))
    from parvis_test import vmwp
    k = kit()
    if not k:
        out = subprocess.run([os.path.join(ROOT, 'tools/guest-kit/build.sh')], capture_output=True,
                             text=True, check=True)
        env = dict(line.split('=', 1) for line in out.stdout.split('\n') if '=' in line)
        k = tuple(env[n].strip("'") for n in ('KIT_VMLINUX', 'KIT_INITRAMFS', 'KIT_CMDLINE'))
    vmlinux, _, cmdline = k
    control = os.path.join(work, 'guest.sock')
    console = os.path.join(work, 'guest-console.log')
    seconds = getattr(args, 'guest_seconds', 240)
    pvm = host_is_pvm()
    if not pvm:
        return run_fio_jobs(args, work, log)
    disk = kernel_workload_disk(work, vhd_tool(args.build))
    cmd = [vmwp(), '--kernel', vmlinux, '--memory', '512M', '--cpus', '2', '--no-reboot',
           '--serial', 'file:' + console, '--control', control, '--disk', disk,
           '--cmdline', cmdline + ' root=/dev/sda rw rootwait']
    log(f'Parvis guest: kit kernel, ext4 root with lazy inode-table init on a VHDX; '
        f'counting for {seconds} s after the root is mounted')
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(console + '.err', 'w'))
    try:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline and p.poll() is None:
            if os.path.exists(console):
                with open(console, errors='replace') as f:
                    if 'mounted filesystem' in f.read():
                        break
            time.sleep(2)
        else:
            raise RuntimeError(f'the guest did not mount its root (see {console})')
        first = storage_counts(status(control))
        time.sleep(seconds)
        st = status(control)
        last = storage_counts(st)
    finally:
        p.terminate()
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
    res = per_1000(diff(first, last))
    res['channels'] = last['channels']
    res['channels_used'] = last['channels_used']
    res['workload'] = 'guest kernel: ext4 lazy inode-table init, journal, writeback (PVM host)'
    print(f'\n== Parvis guest on storvsp ({res["workload"]}), {seconds} s after mount')
    print(f'{res["requests"]} requests on {res["channels_used"]} of {res["channels"]} channels: '
          f'{res["signals_per_1000"]:.1f} guest signals and {res["interrupts_per_1000"]:.1f} host '
          f'interrupts per 1,000 requests')
    return res


def run_fio_jobs(args, work, log):
    """Hardware virtualization: the fio jobs of QEMU's column, in the stock guest on /dev/sda."""
    import storage_qemu as q
    from parvis_test import vmwp
    vmlinuz, base_initramfs, cmdline = q.stock_kit()
    disk = os.path.join(work, 'fio.raw')
    with open(disk, 'wb') as f:
        f.truncate(q.DISK_SIZE)
    initrd = os.path.join(work, 'fio-initramfs.cpio')
    q.initramfs_with_script(base_initramfs, q.guest_script(disk='/dev/sda', irq_grep='^ *HYP:'),
                            initrd)
    control = os.path.join(work, 'fio.sock')
    console = os.path.join(work, 'fio-console.log')
    p = subprocess.Popen([vmwp(), '--kernel', vmlinuz, '--initrd', initrd, '--memory', '1G',
                          '--cpus', '2', '--no-reboot', '--serial', 'file:' + console,
                          '--control', control, '--disk', disk,
                          '--cmdline', cmdline + ' parvis.run=sh%20/bench.sh'],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results, snaps, seen = [], [], 0
    try:
        deadline = time.monotonic() + 900
        while p.poll() is None and time.monotonic() < deadline:
            try:
                snap = storage_counts(status(control))
            except OSError:
                snap = None
            text = open(console, errors='replace').read() if os.path.exists(console) else ''
            done = [l for l in text.splitlines() if l.startswith('PARVIS-FIO ')]
            if snap and not snaps:
                snaps.append(snap)
            while snap and seen < len(done):
                snaps.append(snap)
                seen += 1
            time.sleep(0.2)
    finally:
        if p.poll() is None:
            p.kill()
    for i, job in enumerate(q.FIO_JOBS[:len(snaps) - 1]):
        r = per_1000(diff(snaps[i], snaps[i + 1]))
        r['job'] = job.name
        results.append(r)
    print('\n== Parvis guest on storvsp: the fio jobs of QEMU\'s column')
    for r in results:
        print(f'{r["job"]:<16}{r["requests"]:>9} requests {r["signals_per_1000"]:8.1f} signals/1000 '
              f'{r["interrupts_per_1000"]:8.1f} interrupts/1000')
    return results

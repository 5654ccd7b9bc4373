#!/usr/bin/env python3
"""The seeds' claim measured: emulated devices (IDE, the DEC 21140A "tulip")
cost a guest much more than the synthetic ones (storvsp, netvsp).

One command (root: network namespaces):
    bench/emulated.py [--build DIR] [--quick] [--seconds S] [--pings N] [--no-qemu] [--json FILE]

The same guest kernel (the guest kit's) does the same I/O four times in
Parvis, each in a boot of its own so that no other device's exits mix in:
  - storage, IDE:     a Generation 1 VM (VMBus kept from starting:
                      initcall_blacklist=hv_acpi_init), the root disk on IDE
                      0:0, ata_piix;
  - storage, storvsp: a Generation 2 VM, the same disk on synthetic SCSI;
    the I/O: the kernel mounts an ext4 root made with lazy inode-table
    initialisation and its ext4lazyinit thread zeroes the inode tables, with
    jbd2 and writeback (on PVM hosts guest user space cannot make system
    calls, so the I/O is the kernel's own: bench/storage_guest.py does the
    same); counted for S seconds after the mount;
  - network, tulip:   Generation 1, a legacy network adapter;
  - network, netvsp:  Generation 2, a synthetic adapter;
    the I/O: the kernel's ip=dhcp through dnsmasq on a bridge in a namespace
    of this program's, then N pings from the host (-i 0.02).
Counted from the worker's control status between the start and the end of
the workload: the exits the device costs, the devices' own counters (IDE
commands and sectors, storvsp requests and bytes; pings answered) and the
worker's CPU time (cpu_s). The device's exits: for IDE and the tulip the
guest's accesses to its ports and registers (`io_accesses`: the ranges
"ide0", "ide1", "piix4-bm"; "dec21140" in port and memory space; a string
I/O exit counts each element, as QEMU's trace does), for storvsp and netvsp
the guest's signals on their VMBus channels (each an HvSignalEvent
hypercall exit). All of the boot's exits by reason over the same window
("exits": timers, the serial console, other devices too) are printed
beside them ("all exits/req").

Beside it, QEMU (the same kernel and disk image, `-M pc` under TCG) with its
own IDE (PIIX3, `-drive if=ide`) and tulip (`-device tulip`): there are no
exits under TCG, so what would be one under KVM is counted from QEMU's trace
events: every IDE register, data-port and bus-master access
(ide_ioport_*, ide_status_read, ide_ctrl_write, ide_data_*, bmdma_*), and
every tulip CSR access (tulip_reg_*); requests are ide_exec_cmd events and
the pings answered. QEMU's CPU per request includes emulating the guest
(TCG), so it is shown for information only. Parvis's CPU per request is the
worker's whole CPU time over the window divided by the requests: on PVM
hosts that includes the guest kernel's own execution, so it measures the
guest's cost of a request as much as the device's.

Prints per run: requests, exits (device accesses for QEMU) per request and
per MiB, host CPU per request; then the ratios synthetic/emulated. Writes
bench/results/DATE-emulated.json.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'guest'))
sys.path.insert(0, os.path.join(ROOT, 'bench'))

NS = f'pvemu{os.getpid()}'
BRIDGE_IP, GUEST_IP = '10.81.0.1', '10.81.0.10'
MAC = '00:15:5d:00:00:31'
BOOT_TIMEOUT = 1500
DISK_SIZE = '2G'


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sh(*args, check=True, **kw):
    p = subprocess.run(list(args), capture_output=True, text=True, **kw)
    if check and p.returncode:
        raise RuntimeError(f'{" ".join(args)}: {p.stderr.strip()}')
    return p


def ns(*args, check=True):
    return sh('ip', 'netns', 'exec', NS, *args, check=check)


class Fixture:
    """The namespace: a bridge with an address, dnsmasq for DHCP, TAPs made on demand."""

    def __init__(self, work):
        self.work, self.dnsmasq, self.taps = work, None, 0
        sh('ip', 'netns', 'add', NS)
        sh('ip', '-n', NS, 'link', 'set', 'lo', 'up')
        sh('ip', '-n', NS, 'link', 'add', 'br0', 'type', 'bridge')
        sh('ip', '-n', NS, 'addr', 'add', BRIDGE_IP + '/24', 'dev', 'br0')
        sh('ip', '-n', NS, 'link', 'set', 'br0', 'up')
        self.dnsmasq = subprocess.Popen(
            ['ip', 'netns', 'exec', NS, 'dnsmasq', '--no-daemon', '--conf-file=/dev/null',
             '--port=0', '--interface=br0', '--bind-interfaces',
             '--dhcp-range=10.81.0.50,10.81.0.99,255.255.255.0,1h', f'--dhcp-host={MAC},{GUEST_IP}',
             '--dhcp-authoritative', f'--dhcp-leasefile={os.path.join(work, "leases")}'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def tap(self):
        """A new TAP on the bridge (vnet_hdr, as the worker wants; QEMU takes it too)."""
        name = f'tap{self.taps}'
        self.taps += 1
        sh('ip', '-n', NS, 'tuntap', 'add', 'dev', name, 'mode', 'tap', 'vnet_hdr')
        sh('ip', '-n', NS, 'link', 'set', name, 'master', 'br0')
        sh('ip', '-n', NS, 'link', 'set', name, 'up')
        return name

    def close(self):
        if self.dnsmasq:
            self.dnsmasq.terminate()
            self.dnsmasq.wait()
        sh('ip', 'netns', 'del', NS, check=False)


def lazy_disk(work, name):
    """A raw disk: ext4 with uninitialised inode tables (ext4lazyinit's work) and an idle init."""
    from idle_initramfs import idle_init_elf
    tree = os.path.join(work, 'tree')
    if not os.path.isdir(tree):
        os.makedirs(os.path.join(tree, 'sbin'))
        with open(os.path.join(tree, 'sbin', 'init'), 'wb') as f:
            f.write(idle_init_elf())
        os.chmod(os.path.join(tree, 'sbin', 'init'), 0o755)
    path = os.path.join(work, name)
    sh('mke2fs', '-q', '-F', '-t', 'ext4', '-E', 'lazy_itable_init=1,lazy_journal_init=1', '-d',
       tree, path, DISK_SIZE)
    return path


def idle_initrd(work):
    from idle_initramfs import cpio_newc, idle_init_elf
    path = os.path.join(work, 'idle.cpio')
    with open(path, 'wb') as f:
        f.write(cpio_newc([('init', 0o100755, idle_init_elf())]))
    return path


def console_has(path, pattern):
    try:
        with open(path, errors='replace') as f:
            return re.search(pattern, f.read()) is not None
    except OSError:
        return False


def wait_console(path, pattern, proc, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if console_has(path, pattern):
            return
        if proc.poll() is not None:
            break
        time.sleep(1)
    tail = open(path, errors='replace').read()[-1500:] if os.path.exists(path) else ''
    raise RuntimeError(f'{what}: not seen ({pattern}) in {path}:\n{tail}')


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


# --- Parvis ---

def status(ctl):
    from parvis_test import control
    return control(ctl, {'command': 'status'}, timeout=30)


def sum_keys(o, keys):
    """The sum of every member named in keys anywhere in o."""
    if isinstance(o, dict):
        return sum(v if k in keys and isinstance(v, (int, float)) else sum_keys(v, keys)
                   for k, v in o.items())
    if isinstance(o, list):
        return sum(sum_keys(v, keys) for v in o)
    return 0


DEVICE_RANGES = {'ide': ('ide0', 'ide1', 'piix4-bm'), 'tulip': ('dec21140',)}


def device_exits(st, kind):
    """The exits the device costs (see the module's doc)."""
    if kind in DEVICE_RANGES:
        acc = st.get('io_accesses') or {}
        return sum((acc.get(bus) or {}).get(name, 0) for bus in ('pio', 'mmio')
                   for name in DEVICE_RANGES[kind])
    if kind == 'storvsp':
        return sum_keys(st.get('storage'), {'signals_in'})
    return sum_keys([n for n in st.get('network') or [] if n.get('id') == 'nic0'], {'signals_in'})


def snapshot(ctl, kind):
    st = status(ctl)
    exits = st.get('exits') or {}
    s = {'t': time.monotonic(), 'cpu_s': st.get('cpu_s', 0.0), 'exits': dict(exits),
         'device_exits': device_exits(st, kind)}
    if kind == 'ide':
        s['requests'] = sum_keys(st.get('ide'), {'commands'})
        s['bytes'] = 512 * sum_keys(st.get('ide'), {'sectors_read', 'sectors_written'})
    elif kind == 'storvsp':
        s['requests'] = sum(ch['requests'] for c in (st.get('storage') or {}).get('controllers', [])
                            for ch in c['channels'])
        s['bytes'] = sum_keys(st.get('storage'), {'bytes_read', 'bytes_written'})
    else:
        s['packets'] = sum_keys([n for n in st.get('network') or [] if n.get('id') == 'nic0'],
                                {'rx_packets', 'tx_packets'})
    return s


def delta(a, b):
    d = {'seconds': b['t'] - a['t'], 'cpu_s': b['cpu_s'] - a['cpu_s'],
         'exits': {k: b['exits'].get(k, 0) - a['exits'].get(k, 0) for k in b['exits']}}
    for k in ('requests', 'bytes', 'packets'):
        if k in b:
            d[k] = b[k] - a[k]
    d['exits_total'] = sum(d['exits'].values())
    d['device_exits'] = b['device_exits'] - a['device_exits']
    return d


def worker(args, work, name, generation, extra, cmdline):
    from parvis_test import vmwp
    ctl, console = os.path.join(work, name + '.sock'), os.path.join(work, name + '.console')
    cmd = ['ip', 'netns', 'exec', NS, vmwp(), '--generation', str(generation), '--kernel',
           args.vmlinux, '--memory', '256M', '--cpus', '1', '--no-video', '--no-reboot',
           '--serial', 'file:' + console, '--control', ctl, '--cmdline', cmdline] + extra
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(work, name + '.stderr'), 'w'))
    return proc, ctl, console


def parvis_storage(args, work, kind):
    gen1 = kind == 'ide'
    disk = lazy_disk(work, f'{kind}.raw')
    cmdline = args.cmdline + ' root=/dev/sda rw rootwait' + (
        ' initcall_blacklist=hv_acpi_init' if gen1 else '')
    proc, ctl, console = worker(args, work, kind, 1 if gen1 else 2, ['--disk', disk], cmdline)
    try:
        log(f'Parvis {kind}: booting the kit kernel, root on {"IDE 0:0" if gen1 else "storvsp"}')
        wait_console(console, r'EXT4-fs \(sda\): mounted filesystem', proc, BOOT_TIMEOUT,
                     f'Parvis {kind}')
        a = snapshot(ctl, kind)
        time.sleep(args.seconds)
        b = snapshot(ctl, kind)
    finally:
        stop(proc)
        os.unlink(disk)
    d = delta(a, b)
    d['workload'] = f'ext4 mount + lazy inode-table init, {args.seconds} s'
    return d


def ping(n, interval='0.02'):
    p = ns('ping', '-q', '-c', str(n), '-i', interval, '-W', '5', GUEST_IP, check=False)
    m = re.search(r'(\d+) received', p.stdout)
    return int(m.group(1)) if m else 0


def warm_up(what, timeout=120):
    """Pings until the guest answers (ARP done, the adapter's link up), so the counted pings all
    find it ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ping(1, '0.2') == 1:
            return
    raise RuntimeError(f'{what}: the guest does not answer pings')


def parvis_network(args, work, fx, kind):
    gen1 = kind == 'tulip'
    tap = fx.tap()
    nic = f'tap={tap},mac={MAC},id=nic0' + (',legacy=on' if gen1 else '')
    cmdline = args.cmdline + ' ip=dhcp' + (' initcall_blacklist=hv_acpi_init' if gen1 else '')
    proc, ctl, console = worker(args, work, kind, 1 if gen1 else 2,
                                ['--initrd', idle_initrd(work), '--nic', nic], cmdline)
    try:
        log(f'Parvis {kind}: booting the kit kernel, ip=dhcp over {"the legacy adapter" if gen1 else "netvsp"}')
        wait_console(console, r'IP-Config: Complete', proc, BOOT_TIMEOUT, f'Parvis {kind}')
        if gen1:  # tulip's media timer reads the PHY after ip=dhcp (drivers/net/ethernet/dec/tulip)
            wait_console(console, r'Setting full-duplex based on MII#1', proc, 300, 'Parvis tulip')
        warm_up(f'Parvis {kind}')
        a = snapshot(ctl, kind)
        answered = ping(args.pings)
        b = snapshot(ctl, kind)
    finally:
        stop(proc)
    d = delta(a, b)
    d['requests'] = answered
    d['workload'] = f'{args.pings} pings from the host (-i 0.02) after ip=dhcp'
    return d


# --- QEMU (TCG) ---

IDE_ACCESS = ('ide_ioport_read', 'ide_ioport_write', 'ide_status_read', 'ide_ctrl_write',
              'ide_data_readw', 'ide_data_writew', 'ide_data_readl', 'ide_data_writel',
              'bmdma_read', 'bmdma_write', 'bmdma_cmd_writeb', 'bmdma_addr_read',
              'bmdma_addr_write')
TULIP_ACCESS = ('tulip_reg_read', 'tulip_reg_write')
TRACE = re.compile(r'^(?:\d+@[\d.]+:)?(\w+) ?(.*)$')


def trace_counts(path, start, end):
    """Events by name between two byte offsets of the trace log; DMA sectors from ide_dma_cb."""
    counts, sectors = {}, 0
    with open(path, 'rb') as f:
        f.seek(start)
        data = f.read(end - start).decode(errors='replace')
    for line in data.splitlines():
        m = TRACE.match(line.strip())
        if not m:
            continue
        counts[m.group(1)] = counts.get(m.group(1), 0) + 1
        if m.group(1) == 'ide_dma_cb':
            n = re.search(r'\bn[= ](\d+)', m.group(2))
            sectors += int(n.group(1)) if n else 0
        elif m.group(1) in ('ide_sector_read', 'ide_sector_write'):
            n = re.search(r'\bnsectors[= ](\d+)', m.group(2))
            sectors += int(n.group(1)) if n else 0
    return counts, sectors


def proc_cpu_s(pid):
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def qemu(args, work, kind, fx):
    storage = kind == 'qemu-ide'
    console, trace = os.path.join(work, kind + '.console'), os.path.join(work, kind + '.trace')
    cmd = ['ip', 'netns', 'exec', NS, 'qemu-system-x86_64', '-accel', 'tcg', '-M', 'pc',
           '-cpu', 'max', '-m', '256', '-smp', '1', '-nodefaults', '-no-user-config',
           '-display', 'none', '-kernel', args.vmlinux, '-serial', 'file:' + console,
           '-D', trace]
    if storage:
        disk = lazy_disk(work, 'qemu.raw')
        cmd += ['-drive', f'file={disk},format=raw,if=ide', '-append',
                args.cmdline + ' root=/dev/sda rw rootwait']
        cmd += sum((['-trace', e] for e in IDE_ACCESS + ('ide_exec_cmd', 'ide_dma_cb',
                                                          'ide_sector_read', 'ide_sector_write')), [])
    else:
        tap = fx.tap()
        cmd += ['-initrd', idle_initrd(work), '-append', args.cmdline + ' ip=dhcp',
                '-netdev', f'tap,id=n0,ifname={tap},script=no,downscript=no,vhost=off',
                '-device', f'tulip,netdev=n0,mac={MAC}']
        cmd += sum((['-trace', e] for e in TULIP_ACCESS), [])
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(work, kind + '.stderr'), 'w'))
    try:
        log(f'QEMU {kind[5:]}: booting the kit kernel under TCG')
        if storage:
            wait_console(console, r'EXT4-fs \(sda\): mounted filesystem', proc, BOOT_TIMEOUT,
                         f'QEMU {kind}')
        else:
            wait_console(console, r'IP-Config: Complete', proc, BOOT_TIMEOUT, f'QEMU {kind}')
            warm_up(f'QEMU {kind}')
        pid = find_qemu_pid(proc.pid)
        t0, c0, o0 = time.monotonic(), proc_cpu_s(pid), os.path.getsize(trace)
        answered = 0
        if storage:
            time.sleep(args.seconds)
        else:
            answered = ping(args.pings)
        t1, c1, o1 = time.monotonic(), proc_cpu_s(pid), os.path.getsize(trace)
    finally:
        stop(proc)
        if storage:
            os.unlink(disk)
    counts, sectors = trace_counts(trace, o0, o1)
    access = sum(counts.get(e, 0) for e in (IDE_ACCESS if storage else TULIP_ACCESS))
    d = {'seconds': t1 - t0, 'cpu_s': c1 - c0, 'events': counts, 'device_exits': access}
    if storage:
        d['requests'] = counts.get('ide_exec_cmd', 0)
        d['bytes'] = 512 * sectors
        d['workload'] = f'ext4 mount + lazy inode-table init, {args.seconds} s'
    else:
        d['requests'] = answered
        d['workload'] = f'{args.pings} pings from the host (-i 0.02) after ip=dhcp'
    return d


def find_qemu_pid(parent):
    """`ip netns exec` execs QEMU in place (same pid), but look for a child just in case."""
    try:
        with open(f'/proc/{parent}/comm') as f:
            if f.read().strip().startswith('qemu'):
                return parent
    except OSError:
        pass
    out = sh('pgrep', '-P', str(parent), check=False).stdout.split()
    return int(out[0]) if out else parent


# --- report ---

def per(run):
    n = run.get('requests') or 0
    mib = (run.get('bytes') or 0) / (1 << 20)
    exits, total = run['device_exits'], run.get('exits_total')
    return {
        'exits_per_request': exits / n if n else None,
        'exits_per_mib': exits / mib if mib else None,
        'cpu_us_per_request': 1e6 * run['cpu_s'] / n if n else None,
        'all_exits_per_request': total / n if n and total is not None else None,
    }


def fmt(v, w=10, p=1):
    return f'{v:{w}.{p}f}' if isinstance(v, (int, float)) else f'{"-":>{w}}'


def report(results):
    print('\n== The same guest kernel I/O through emulated and synthetic devices')
    print('(exits: the device\'s own, see bench/emulated.py; QEMU: its trace events for the same'
          ' accesses)')
    print(f'{"run":<12}{"requests":>9}{"MiB":>7}{"exits/req":>11}{"exits/MiB":>11}'
          f'{"CPU us/req":>12}{"all exits/req":>15}  all exits by reason')
    for name, r in results.items():
        if not isinstance(r, dict) or 'device_exits' not in r:
            continue
        q = r['per'] = per(r)
        reasons = r.get('exits') or {}
        top = ', '.join(f'{k} {v}' for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]) if v)
        print(f'{name:<12}{r.get("requests", 0):>9}{(r.get("bytes") or 0) / 2**20:>7.1f}'
              f'{fmt(q["exits_per_request"], 11)}{fmt(q["exits_per_mib"], 11)}'
              f'{fmt(q["cpu_us_per_request"], 12)}{fmt(q["all_exits_per_request"], 15)}  {top}')
    for name, r in results.items():
        if isinstance(r, dict) and 'error' in r:
            print(f'{name:<12}failed: {r["error"].splitlines()[0][:100]}')
    ratios = {}
    for synth, emu in (('storvsp', 'ide'), ('netvsp', 'tulip')):
        if synth in results and emu in results and 'per' in results[synth] and 'per' in results[emu]:
            a, b = results[synth]['per'], results[emu]['per']
            ratios[f'{synth}/{emu}'] = {k: (a[k] / b[k] if a[k] is not None and b[k] else None)
                                        for k in ('exits_per_request', 'exits_per_mib',
                                                  'cpu_us_per_request')}
    for emu, peer in (('ide', 'qemu-ide'), ('tulip', 'qemu-tulip')):
        if emu in results and peer in results and 'per' in results[peer]:
            a, b = results[emu]['per'], results[peer]['per']
            ratios[f'{emu}/{peer}'] = {'exits_per_request': (
                a['exits_per_request'] / b['exits_per_request']
                if a['exits_per_request'] is not None and b['exits_per_request'] else None)}
    print('\nratios (lower is better for the first):')
    for k, v in ratios.items():
        print(f'  {k:<18}' + '  '.join(f'{m} {fmt(x, 7, 3).strip()}' for m, x in v.items()))
    return ratios


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', default=os.path.join(ROOT, 'build'))
    ap.add_argument('--quick', action='store_true',
                    help='short windows (20 s of disk I/O, 50 pings)')
    ap.add_argument('--seconds', type=int, help='disk workload window after the mount (120)')
    ap.add_argument('--pings', type=int, help='pings from the host (500)')
    ap.add_argument('--no-qemu', action='store_true')
    ap.add_argument('--only', help='comma-separated runs: ide,storvsp,tulip,netvsp,qemu-ide,qemu-tulip')
    ap.add_argument('--json', help='output file (default bench/results/DATE-emulated.json)')
    ap.add_argument('--workdir', help='keep consoles, logs and traces in DIR')
    args = ap.parse_args()
    args.seconds = args.seconds or (20 if args.quick else 120)
    args.pings = args.pings or (50 if args.quick else 500)
    if os.geteuid() != 0:
        sys.exit('bench/emulated.py needs root (network namespaces, TAPs)')
    for prog in ('ip', 'dnsmasq', 'ping', 'mke2fs'):
        if not shutil.which(prog):
            sys.exit(f'{prog} is not installed (tools/packages.txt)')
    os.environ.setdefault('PARVIS_VMWP', os.path.join(args.build, 'src', 'vmwp', 'parvis-vmwp'))
    if not os.path.exists(os.environ['PARVIS_VMWP']):
        sys.exit(f'{os.environ["PARVIS_VMWP"]} is missing: build first (ninja -C {args.build})')
    from parvis_test import kit
    k = kit()
    if not k:
        sys.exit('the guest kit is not built: tools/guest-kit/build.sh, then export its KIT_* lines')
    args.vmlinux, _, args.cmdline = k
    runs = ['ide', 'storvsp', 'tulip', 'netvsp'] + ([] if args.no_qemu else ['qemu-ide', 'qemu-tulip'])
    if args.only:
        runs = [r for r in runs if r in args.only.split(',')]
    work = args.workdir or tempfile.mkdtemp(prefix='parvis-emulated-')
    os.makedirs(work, exist_ok=True)
    results = {'date': datetime.datetime.now(datetime.timezone.utc).isoformat(),
               'quick': args.quick, 'seconds': args.seconds, 'pings': args.pings,
               'kernel': args.vmlinux}
    fx = Fixture(work)
    try:
        for r in runs:
            t = time.monotonic()
            try:
                if r in ('ide', 'storvsp'):
                    results[r] = parvis_storage(args, work, r)
                elif r in ('tulip', 'netvsp'):
                    results[r] = parvis_network(args, work, fx, r)
                else:
                    results[r] = qemu(args, work, r, fx)
            except (RuntimeError, OSError, ValueError) as e:
                results[r] = {'error': str(e)[:2000]}
                log(f'{r}: {e}')
            log(f'{r}: {time.monotonic() - t:.0f} s')
    finally:
        fx.close()
    results['ratios'] = report(results)
    out = args.json or os.path.join(
        ROOT, 'bench', 'results',
        datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H%M%SZ') + '-emulated.json')
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, 'w') as f:
        json.dump(results, f, indent=1)
    log(f'wrote {out}')
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()

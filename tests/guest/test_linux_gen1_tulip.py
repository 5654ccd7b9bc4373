#!/usr/bin/env python3
"""Generation 1's legacy network adapter: the kit kernel as a guest without
integration components (initcall_blacklist=hv_acpi_init: VMBus never starts,
drivers/hv/vmbus_drv.c) finds the emulated DEC 21140A with Linux's own
`tulip` driver, reads its serial ROM and MII PHY, gets an address with the
kernel's ip=dhcp from dnsmasq over the TAP, and answers the host's pings.
Then the VM is paused, pings reach the adapter that the guest has not seen
(RI pending, INTA# high), the VM is saved (control "save": the adapter's
section "dec21140.0", docs/saved-state.md) and restored by a new worker on
the same TAP: the guest goes on without booting again, takes those frames
and answers the pings as before; then
it is live-migrated (control "migrate-send") to a third worker on the same
TAP while the host pings it: no reply comes twice, and it answers after.

Fixture, all inside the namespace pvtulip<pid>: a bridge br0 (10.79.0.1/24),
a TAP tap0 on it, dnsmasq serving DHCP on br0; the worker runs inside the
namespace with --generation 1 --nic tap=tap0,...,legacy=on and an idle
initramfs (PVM hosts cannot run guest user space; the checks are the
guest's kernel log and what the host sees).
"""
import os
import re
import shutil
import subprocess
import tempfile
import time

from idle_initramfs import cpio_newc, idle_init_elf
from parvis_test import Tap, Worker, control, kit, kvm_available, skip_all, wait_status

if not kvm_available():
    skip_all('no /dev/kvm')
if os.geteuid() != 0:
    skip_all('needs root (network namespaces)')
k = kit()
if not k:
    skip_all('guest kit not built (tools/guest-kit/build.sh)')
for prog in ('ip', 'dnsmasq', 'ping'):
    if not shutil.which(prog):
        skip_all(f'{prog} not installed (tools/packages.txt)')
vmlinux, _, cmdline = k
BOOT_TIMEOUT = 1500
NS = f'pvtulip{os.getpid()}'
MAC = '00:15:5d:00:00:21'
IP_HOST, IP_GUEST = '10.79.0.1', '10.79.0.10'
tap = Tap()


def sh(*args, check=True):
    p = subprocess.run(list(args), capture_output=True, text=True)
    if check and p.returncode:
        raise RuntimeError(f'{" ".join(args)}: {p.stderr}')
    return p


def ns(*args, check=True):
    return sh('ip', 'netns', 'exec', NS, *args, check=check)


def nic(st):
    for n in (st or {}).get('network') or []:
        if n.get('id') == 'nic0':
            return n
    return {}


work = tempfile.mkdtemp(prefix='parvis-tulip-')
procs = []
workers = []
w = None
try:
    sh('ip', 'netns', 'add', NS)
    sh('ip', '-n', NS, 'link', 'set', 'lo', 'up')
    sh('ip', '-n', NS, 'link', 'add', 'br0', 'type', 'bridge')
    sh('ip', '-n', NS, 'addr', 'add', IP_HOST + '/24', 'dev', 'br0')
    sh('ip', '-n', NS, 'link', 'set', 'br0', 'up')
    # multi_queue: a migration's source and destination each attach a queue at once
    sh('ip', '-n', NS, 'tuntap', 'add', 'dev', 'tap0', 'mode', 'tap', 'vnet_hdr', 'multi_queue')
    sh('ip', '-n', NS, 'link', 'set', 'tap0', 'master', 'br0')
    sh('ip', '-n', NS, 'link', 'set', 'tap0', 'up')
    dns_log = os.path.join(work, 'dnsmasq.log')
    procs.append(subprocess.Popen(
        ['ip', 'netns', 'exec', NS, 'dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=0',
         '--interface=br0', '--bind-interfaces', '--dhcp-range=10.79.0.50,10.79.0.99,255.255.255.0,1h',
         f'--dhcp-host={MAC},{IP_GUEST}', '--dhcp-authoritative',
         f'--dhcp-leasefile={os.path.join(work, "leases")}', '--log-dhcp', '--log-facility=-'],
        stdout=subprocess.DEVNULL, stderr=open(dns_log, 'w')))
    initramfs = os.path.join(work, 'idle.cpio')
    with open(initramfs, 'wb') as f:
        f.write(cpio_newc([('init', 0o100755, idle_init_elf())]))
    console = os.path.join(work, 'console')
    ctl = os.path.join(work, 'control')

    def start(control_path, stderr_name, extra=()):
        """A worker inside the namespace (Worker runs it outside)."""
        v = Worker.__new__(Worker)
        v.console_path, v.stderr_path = console, os.path.join(work, stderr_name)
        v.stderr_file = open(v.stderr_path, 'w')
        v.start = time.monotonic()
        v.proc = subprocess.Popen(
            ['ip', 'netns', 'exec', NS, os.environ.get('PARVIS_VMWP', 'parvis-vmwp'),
             '--generation', '1', '--kernel', vmlinux, '--initrd', initramfs, '--memory', '256M',
             '--cpus', '1', '--no-video', '--serial', 'file:' + console, '--control', control_path,
             '--cmdline', f'{cmdline} initcall_blacklist=hv_acpi_init ip=dhcp',
             '--nic', f'tap=tap0,mac={MAC},id=nic0,legacy=on', *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=v.stderr_file)
        workers.append(v)
        return v

    w = start(ctl, 'stderr')

    got = w.wait_console(lambda c: re.search(r'IP-Config: (Complete|Auto-configuration of network failed)', c)
                         or 'Kernel panic' in c, BOOT_TIMEOUT)
    con = w.console()
    diag = '\n'.join(l for l in con.splitlines() if re.search(r'tulip|eth0|IP-Config|0000:00:0a|vmbus|PCI INT|panic', l))[-3000:]
    tap.ok(re.search(r'tulip0: EEPROM default media type Autosense', con) is not None and
           re.search(r'tulip0: +MII transceiver #1 config 1000 status 782d advertising 01e1', con) is not None,
           'tulip read the serial ROM (new format, autosense, a 21140 MII PHY block) and found the PHY at MII address 1',
           diag)
    m = re.search(r'(\S+): Digital DS21140 Tulip rev 32 at Port 0xc100, ([0-9a-f:]{17}), IRQ (\d+)', con)
    tap.ok(m is not None and m.group(2) == MAC,
           'the tulip driver bound 1011:0009 with the MAC from the serial ROM ("Digital DS21140 Tulip rev 32 at Port 0xc100")',
           diag + '\n' + w.stderr()[-1500:])
    m = re.search(r'IP-Config: Got DHCP answer from ([\d.]+), my address is ([\d.]+)', con)
    tap.ok(got and m is not None and m.group(2) == IP_GUEST,
           'the guest kernel\'s ip=dhcp got its address from dnsmasq through the legacy adapter',
           diag + '\n' + open(dns_log).read()[-1500:])
    tap.ok('hv_vmbus: Vmbus version' not in con,
           'VMBus did not start (initcall_blacklist=hv_acpi_init): the guest behaves without integration components',
           '\n'.join(l for l in con.splitlines() if 'vmbus' in l.lower())[-1000:])
    link = w.wait_console(lambda c: re.search(r'Setting full-duplex based on MII#1 link partner capability of 41e1', c), 120)
    tap.ok(link, 'the media timer read the PHY: link up, 100 Mb/s full duplex negotiated', diag)
    ns('ping', '-c', '3', '-W', '10', IP_GUEST, check=False)
    p = ns('ping', '-c', '20', '-i', '0.5', '-W', '10', IP_GUEST, check=False)
    rec = re.search(r'(\d+) received', p.stdout)
    tap.ok(rec is not None and int(rec.group(1)) >= 18,
           'the host pings the guest kernel through the legacy adapter', p.stdout[-500:])
    ok, st = wait_status(ctl, lambda s: nic(s).get('rx_packets', 0) >= 20 and nic(s).get('tx_packets', 0) >= 20, 60)
    n0 = nic(st)
    tap.ok(ok and n0.get('legacy') is True and n0.get('state') == 'ready' and n0.get('mac') == MAC and
           n0.get('setup_frames', 0) >= 1 and n0.get('drops', {}).get('bus_errors') == 0 and
           n0.get('drops', {}).get('ring_errors') == 0,
           'worker status: the legacy adapter ready, frames both ways, a setup frame, no bus or ring errors',
           str(n0))

    # Saved with the adapter running (its rings, filter, PHY, the media timer's CSR11) and
    # frames received while the vCPUs were paused (RI pending, INTA# high), and restored on
    # the same TAP by a new worker.
    state = os.path.join(work, 'tulip.state')
    r = control(ctl, {'command': 'pause'})
    ns('ping', '-c', '3', '-i', '0.2', '-W', '1', IP_GUEST, check=False)
    ok, st = wait_status(ctl, lambda s: nic(s).get('csr5', 0) & 0x40, 30)
    tap.ok(r is not None and r.get('ok') is True and ok,
           'paused: the adapter took frames the guest has not seen (CSR5 RI)', str(r) + str(nic(st)))
    r = control(ctl, {'command': 'save', 'path': state}, 600)
    tap.ok(r is not None and r.get('ok') is True, f'saved with the legacy adapter running ({r})',
           str(r) + w.stderr()[-1500:])
    rc = w.wait(120)
    tap.ok(rc == 0, f'the worker exited 0 after the save (status {rc})', w.stderr()[-1500:])
    before = w.console()
    ctl2 = os.path.join(work, 'control2')
    w = start(ctl2, 'stderr2', ('--restore', state))
    ok, st = wait_status(ctl2, lambda s: s.get('restored_from') == state, 120)
    tap.ok(ok, 'a new worker restored the state', w.stderr()[-1500:])
    p = ns('ping', '-c', '20', '-i', '0.5', '-W', '10', IP_GUEST, check=False)
    rec = re.search(r'(\d+) received', p.stdout)
    tap.ok(rec is not None and int(rec.group(1)) >= 18,
           'after the restore the host pings the guest through the legacy adapter',
           p.stdout[-500:] + w.stderr()[-1500:])
    ok, st = wait_status(ctl2, lambda s: nic(s).get('rx_packets', 0) >= 18 and nic(s).get('tx_packets', 0) >= 18, 60)
    n0 = nic(st)
    tap.ok(ok and n0.get('legacy') is True and n0.get('drops', {}).get('bus_errors') == 0 and
           n0.get('drops', {}).get('ring_errors') == 0,
           'the restored adapter: frames both ways, no bus or ring errors', str(n0))
    con = w.console()
    bad = [l for l in con.splitlines() if re.search(r'NETDEV WATCHDOG|timed out|tulip.*error|Oops|BUG', l)]
    tap.ok(con.startswith(before) and con.count('Linux version') == 1 and not bad,
           f'one boot ({con.count("Linux version")} "Linux version" lines), no transmit timeout or error in the guest',
           '\n'.join(bad[:10]) + con[len(before):][-1500:])

    # Live migration to a third worker while the host pings: the adapter quiesces between
    # frames at the stop, the frames it wrote into RAM before go with the host-written pages.
    sock, ctl3 = os.path.join(work, 'incoming3'), os.path.join(work, 'control3')
    w3 = start(ctl3, 'stderr3', ('--incoming', sock))
    deadline = time.monotonic() + 60
    while not os.path.exists(sock) and time.monotonic() < deadline:
        time.sleep(0.05)
    bg = subprocess.Popen(['ip', 'netns', 'exec', NS, 'ping', '-c', '40', '-i', '0.2', '-W', '5',
                           IP_GUEST], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(2)
    r = control(ctl2, {'command': 'migrate-send', 'path': sock}, 900)
    m = (r or {}).get('migration', {})
    tap.ok(r is not None and r.get('ok') is True,
           f'live-migrated with the legacy adapter in use (downtime {m.get("downtime_ms")} ms)',
           str(r) + w.stderr()[-1000:] + w3.stderr()[-1000:])
    rc = w.wait(120)
    tap.ok(rc == 0, f'the source exited 0 (status {rc})', w.stderr()[-1000:])
    w = w3
    out = bg.communicate(timeout=120)[0]
    p = ns('ping', '-c', '20', '-i', '0.5', '-W', '10', IP_GUEST, check=False)
    rec = re.search(r'(\d+) received', p.stdout)
    tap.ok(rec is not None and int(rec.group(1)) >= 18 and 'DUP!' not in out,
           'after the migration the guest answers through the legacy adapter; no reply came twice '
           'during it', out[-800:] + p.stdout[-500:] + w.stderr()[-1000:] +
           str(nic(control(ctl3, {'command': 'status'}))))
    con = w.console()
    tap.ok(con.count('Linux version') == 1 and not [l for l in con.splitlines() if re.search(r'NETDEV WATCHDOG|timed out|Oops|BUG', l)],
           'still one boot, no transmit timeout in the guest', con[-1500:])
finally:
    for v in workers:
        if v.proc.poll() is None:
            v.proc.terminate()
            try:
                v.proc.wait(30)
            except subprocess.TimeoutExpired:
                v.proc.kill()
    for p in procs:
        p.terminate()
        p.wait()
    sh('ip', 'netns', 'del', NS, check=False)
    if tap.failed and os.environ.get('PARVIS_KEEP'):
        print(f'# files kept in {work}')
    else:
        shutil.rmtree(work, ignore_errors=True)
tap.done()

#!/usr/bin/env python3
"""Switches and adapters with real Linux guests (the kit kernel's hv_netvsc), through the
parvis command, in network namespaces the test makes (docs/switches.md).

Two VMs boot at once (a Linux boot costs minutes on PVM hosts), each configuring its address
in its own kernel (ip=dhcp: no guest user space is needed):
  lan1 on an internal switch with the service's dnsmasq: the guest's DHCP answer comes from
    the switch, get-vmnetworkadapter shows the lease, the host pings the guest; an ACL that
    denies the host's address stops the pings (its nftables counter counts them), its removal
    lets them through; moved to a private switch the guest cannot be reached from the host,
    moved back it can; a maximum bandwidth holds within 10% on a bulk UDP transfer from the
    host into the guest (the port's HTB counts what it let through);
  ext1 on an external switch bridged to a veth whose peer sits in another namespace with its
    own dnsmasq: the guest's address comes from there, and that namespace reaches it;
  nat1 on a nat switch made as tools/demo.sh makes its "Default Switch" (no subnet given,
    ip=dhcp): its address comes from the service's dnsmasq, and its kernel's netconsole to a
    UDP listener in the uplink's namespace (a veth, the test namespace's only way out) arrives
    masqueraded, from the uplink's address.
The worker runs jailed (the service's default), with its TAP queues passed in.
"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

from idle_initramfs import cpio_newc, idle_init_elf
from netns_test import Netns, in_private_netns, sh
from parvis_test import Tap, kit, kvm_available, skip_all
from vmms_test import Service

if not kvm_available():
    skip_all('no /dev/kvm')
k = kit()
if not k:
    skip_all('guest kit not built (tools/guest-kit/build.sh)')
in_private_netns()
vmlinux, _, cmdline = k
BOOT_TIMEOUT = 1500

tap = Tap()
tmp = tempfile.mkdtemp(prefix='pvn-', dir='/tmp')
initramfs = os.path.join(tmp, 'idle.cpio')
with open(initramfs, 'wb') as f:
    f.write(cpio_newc([('init', 0o100755, idle_init_elf())]))
sh('ip', 'link', 'set', 'lo', 'up')
svc = Service(tmp)
tap.ok(svc.start(), 'parvis-vmms starts in its own network namespace', svc.read_log())

# The external network: a namespace with its own DHCP server on 198.18.5.0/24.
remote = Netns('pvn-remote')
remote.veth_from_here('ext0', 'ext1')
remote.run('ip', 'addr', 'add', '198.18.5.1/24', 'dev', 'ext1')
remote.run('ip', 'link', 'set', 'ext1', 'up')
remote_leases = os.path.join(tmp, 'remote.leases')
remote.popen('dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--interface=ext1',
             '--bind-interfaces', '--except-interface=lo', '--port=0',
             '--dhcp-range=198.18.5.50,198.18.5.99,255.255.255.0,1h', '--dhcp-authoritative',
             '--no-ping', f'--dhcp-leasefile={remote_leases}',
             f'--pid-file={tmp}/remote.pid', f'--log-facility={tmp}/remote.log',
             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

# The NAT switch's uplink: a veth into a namespace of its own (198.18.1.0/24), with a UDP
# listener that writes down each datagram's source address and text.
uplink = Netns('pvn-uplink')
uplink.veth_from_here('upl0', 'upl1')
sh('ip', 'addr', 'add', '198.18.1.1/24', 'dev', 'upl0')
sh('ip', 'link', 'set', 'upl0', 'up')
uplink.run('ip', 'addr', 'add', '198.18.1.2/24', 'dev', 'upl1')
uplink.run('ip', 'link', 'set', 'upl1', 'up')
nat_log = os.path.join(tmp, 'nat-netconsole.jsonl')
uplink.popen(sys.executable, '-c', '''
import json, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.1.2", 6666))
with open(sys.argv[1], "a") as f:
    while True:
        d, a = s.recvfrom(65536)
        f.write(json.dumps([a[0], d.decode("utf-8", "replace")]) + "\\n")
        f.flush()
''', nat_log, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
rc, nat_sw, err = svc.cli_json('new-vmswitch', 'Default Switch', '--switch-type', 'nat')
tap.ok(rc == 0 and nat_sw and nat_sw.get('subnet'), 'new-vmswitch "Default Switch" --switch-type nat '
       '(as the demo makes it)', err)
nat_net = (nat_sw or {}).get('subnet', '172.29.0.0/24').split('/')[0].rsplit('.', 1)[0]
nat_bridge = (nat_sw or {}).get('bridge', 'lo')
# (ip, not /sys/class/net: sysfs shows the namespace it was mounted in.)
nat_gw_mac = json.loads(sh('ip', '-j', 'link', 'show', 'dev', nat_bridge))[0]['address']
# netconsole starts before ip=dhcp configures eth0, so its source address is its own (in the
# switch's subnet; the masquerade covers the subnet); its target MAC is the switch's gateway,
# the host's bridge, whose address stays as ports join (src/net/switch/link.c).
NAT_CMD = f' ip=dhcp ignore_loglevel netconsole=6665@{nat_net}.250/eth0,6666@198.18.1.2/{nat_gw_mac}'

for args in (('new-vmswitch', 'lab', '--switch-type', 'internal', '--subnet', '10.77.0.0/24',
              '--dhcp', 'on'),
             ('new-vmswitch', 'island', '--switch-type', 'private'),
             ('new-vmswitch', 'outside', '--switch-type', 'external', '--net-adapter', 'ext0')):
    rc, out, err = svc.cli(*args)
    tap.ok(rc == 0, ' '.join(args[:2]), err)

for name, sw, extra in (('lan1', 'lab', ' ip=dhcp'), ('ext1', 'outside', ' ip=dhcp'),
                        ('nat1', 'Default Switch', NAT_CMD)):
    rc, out, err = svc.cli('new-vm', name, '--memory', '128M', '--cpus', '1', '--kernel', vmlinux,
                           '--initrd', initramfs, '--cmdline', cmdline + extra)
    tap.ok(rc == 0, f'new-vm {name}', err)
    rc, out, err = svc.cli('add-vmnetworkadapter', name, '--switch', sw)
    tap.ok(rc == 0, f'add-vmnetworkadapter {name} --switch {sw}', err)
for name in ('lan1', 'ext1', 'nat1'):
    rc, out, err = svc.cli('start-vm', name, timeout=300)
    tap.ok(rc == 0 and 'Running' in out, f'start-vm {name}: Running', out + err)


def adapter(name):
    rc, out, _ = svc.cli_json('get-vmnetworkadapter', name)
    return out['adapters'][0] if rc == 0 and out and out['adapters'] else {}


def console(name):
    try:
        with open(svc.vm(name)['console_log'], errors='replace') as f:
            return f.read()
    except (OSError, TypeError, KeyError):
        return ''


DHCP = re.compile(r'IP-Config: Got DHCP answer from ([0-9.]+), my address is ([0-9.]+)')


def wait_dhcp(name, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = DHCP.search(console(name))
        if m or svc.state(name) != 'Running':
            return m
        time.sleep(3)
    return None


lan = adapter('lan1')
tap.ok(lan.get('tap') and lan.get('connected'), 'lan1: its adapter is a TAP on the lab switch', lan)
m_lan = wait_dhcp('lan1', BOOT_TIMEOUT)
tap.ok(m_lan and m_lan.group(1) == '10.77.0.1' and m_lan.group(2).startswith('10.77.0.'),
       "lan1: the guest kernel's DHCP answer came from the internal switch's dnsmasq",
       console('lan1')[-3000:])
guest_ip = m_lan.group(2) if m_lan else '10.77.0.250'
lan = adapter('lan1')
tap.ok(guest_ip in lan.get('ip_addresses', []), 'get-vmnetworkadapter shows the DHCP lease', lan)
tap.ok(lan.get('status') not in ('', 'No Contact'), "the worker reports the adapter's state", lan)


def pings(count=3):
    p = subprocess.run(['ping', '-c', str(count), '-W', '3', '-i', '0.5', guest_ip],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r'(\d+) received', p.stdout)
    return int(m.group(1)) if m else 0, p.stdout


got, out = pings(5)
tap.ok(got >= 3, 'the host pings the guest (its kernel answers)', out)

# An ACL that denies the host's address.
rc, out, err = svc.cli('add-vmnetworkadapteracl', 'lan1', '--remote-ip-address', '10.77.0.1',
                       '--direction', 'inbound', '--action', 'deny')
got, out = pings(3)
rules = sh('nft', 'list', 'table', 'bridge', 'parvis_ports')
m = re.search(r'ip saddr 10\.77\.0\.1 counter packets (\d+)', rules)
tap.ok(rc == 0 and got == 0 and m and int(m.group(1)) >= 3,
       'an ACL denying the host stops its pings, its rule counts them', out + rules + err)
rc, out, err = svc.cli('remove-vmnetworkadapteracl', 'lan1', '--remote-ip-address', '10.77.0.1',
                       '--direction', 'inbound')
got, out = pings(3)
tap.ok(rc == 0 and got >= 2, 'removed, the pings go through again', out + err)

# Private switch: the host cannot reach the guest; back on the internal one it can.
rc, out, err = svc.cli('connect-vmnetworkadapter', 'lan1', '--switch', 'island')
got, out = pings(3)
tap.ok(rc == 0 and got == 0, 'on a private switch the host cannot reach the guest', out + err)
rc, out, err = svc.cli('connect-vmnetworkadapter', 'lan1', '--switch', 'lab')
# The guest sees its link come back (netvsp's indication) at its own, emulated, pace.
deadline = time.monotonic() + 300
got, out = 0, ''
while time.monotonic() < deadline and got == 0:
    got, out = pings(1)
got, out2 = pings(3) if got else (0, '')
tap.ok(rc == 0 and got >= 2, 'connected to the internal switch again, it can', out + out2 + err +
       json.dumps(adapter('lan1').get('worker')))

# Maximum bandwidth, host -> guest: the port's HTB lets through what the limit says. Last for
# lan1: the frames it lets through keep the emulated guest busy for a while.
LIMIT = 8_000_000
rc, out, err = svc.cli('set-vmnetworkadapter', 'lan1', '--maximum-bandwidth', '8M')
tapdev = lan.get('tap')


def htb_bytes():
    out = sh('tc', '-s', 'class', 'show', 'dev', tapdev)
    m = re.search(r'class htb 1:1 .*?Sent (\d+) bytes', out, re.S)
    return int(m.group(1)) if m else None


stop = threading.Event()
sent = [0]


def blast():
    """
    UDP offered at 3x the limit into the guest (its kernel drops it: no listener). The socket
    does not block: a datagram the full shaper queue leaves in the socket's buffer refuses the
    next one (EAGAIN), and the offer counts every datagram tried, taken or not.
    """
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    payload = b'\0' * 1400
    t0 = time.monotonic()
    while not stop.is_set():
        try:
            s.sendto(payload, (guest_ip, 9))
        except OSError:
            pass
        sent[0] += len(payload) + 42
        ahead = sent[0] * 8 / (3 * LIMIT) - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)


th = threading.Thread(target=blast)
th.start()
time.sleep(2)
b0, t0 = htb_bytes(), time.monotonic()
s0 = sent[0]
time.sleep(8)
b1, t1 = htb_bytes(), time.monotonic()
s1 = sent[0]
stop.set()
th.join()
rate = (b1 - b0) * 8 / (t1 - t0) if b0 is not None and b1 is not None else 0
offered = (s1 - s0) * 8 / (t1 - t0)
tap.ok(rc == 0 and offered > 2 * LIMIT and abs(rate - LIMIT) <= 0.1 * LIMIT,
       f'maximum bandwidth 8 Mbit/s holds within 10% ({rate / 1e6:.2f} Mbit/s let through of '
       f'{offered / 1e6:.1f} offered)', err + sh('tc', '-s', 'class', 'show', 'dev', tapdev or 'lo',
                                                 check=False))
svc.cli('set-vmnetworkadapter', 'lan1', '--maximum-bandwidth', '0')

# External switch: the guest's address comes from the remote namespace's DHCP server.
m_ext = wait_dhcp('ext1', BOOT_TIMEOUT)
tap.ok(m_ext and m_ext.group(1) == '198.18.5.1' and m_ext.group(2).startswith('198.18.5.'),
       "ext1: the guest's DHCP answer came from the external network's server",
       console('ext1')[-3000:])
if m_ext:
    p = subprocess.run(['ip', 'netns', 'exec', remote.name, 'ping', '-c', '3', '-W', '3',
                        m_ext.group(2)], capture_output=True, text=True, timeout=60)
    tap.ok(p.returncode == 0, 'the external network reaches the guest through the bridge',
           p.stdout)
# NAT switch: the address from the service's dnsmasq; netconsole out of the uplink, masqueraded.
m_nat = wait_dhcp('nat1', BOOT_TIMEOUT)
tap.ok(m_nat and m_nat.group(1) == f'{nat_net}.1' and m_nat.group(2).startswith(f'{nat_net}.'),
       "nat1: the guest kernel's DHCP answer came from the nat switch's dnsmasq",
       console('nat1')[-3000:])
nat_ip = m_nat.group(2) if m_nat else None
nat_nic = adapter('nat1')
tap.ok(nat_ip and nat_ip in nat_nic.get('ip_addresses', []), 'get-vmnetworkadapter shows its lease',
       nat_nic)


def nat_datagrams():
    try:
        with open(nat_log) as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError):
        return []


deadline = time.monotonic() + 300
while time.monotonic() < deadline and not any('IP-Config: Complete' in t for _, t in nat_datagrams()):
    time.sleep(2)
dgrams = nat_datagrams()
sources = sorted({a for a, _ in dgrams})
tap.ok(dgrams and sources == ['198.18.1.1'] and any('IP-Config: Complete' in t for _, t in dgrams),
       f"nat1: its netconsole reached the uplink's namespace masqueraded as the uplink's address "
       f'({len(dgrams)} datagrams, from {sources})',
       json.dumps(dgrams[-5:]) + '\n' + sh('nft', 'list', 'table', 'ip', 'parvis_nat', check=False))
p = subprocess.run(['ip', 'netns', 'exec', uplink.name, 'ping', '-c', '1', '-W', '2', nat_ip or f'{nat_net}.2'],
                   capture_output=True, text=True, timeout=30)
tap.ok(p.returncode != 0, 'the uplink cannot reach the guest behind the NAT', p.stdout)

for name in ('lan1', 'ext1', 'nat1'):
    rc, out, err = svc.cli('stop-vm', name, '--turn-off', timeout=120)
    tap.ok(rc == 0, f'stop-vm {name} --turn-off', err)
tap.ok(not os.path.exists(f'/sys/class/net/{tapdev}'), "the VM's TAP is gone with its worker")
for name in ('lab', 'island', 'outside', 'Default Switch'):
    svc.cli('remove-vmswitch', name, '--force')
svc.stop()
tap.done()

#!/usr/bin/env python3
"""The virtual switches of parvis-vmms without a guest (docs/switches.md).

Runs in a network namespace of its own (with further ones for peers), the service inside
it: each switch type created, checked with ip, nft and /proc (bridge, host address, uplink,
dnsmasq), persisted and set up again by a restarted service (a bridge deleted meanwhile is
made again, its dnsmasq restarted), removed (refused while adapters are connected unless
--force); adapters on a VM that is Off: dynamic MACs in 00:15:5d without collisions, static
MACs checked, ACL entries, VLAN refused with the kernel's reason where bridge VLAN filtering
is missing; every bad input refused with a message naming its field; the NAT switch end to
end with a stand-in guest (a veth on its bridge with an adapter's MAC, busybox udhcpc in its
namespace): a DHCP lease that get-vmnetworkadapter reports, masquerade out of a fake uplink
into another namespace, nothing from that namespace reaching in; the audit log.
"""
import atexit
import glob
import json
import os
import signal
import re
import socket
import subprocess
import sys
import tempfile
import time

from netns_test import Netns, addrs, in_private_netns, links, sh
from parvis_test import Tap, kvm_available
from vmms_test import Service

in_private_netns()
tap = Tap()
tmp = tempfile.mkdtemp(prefix='pvsw-', dir='/tmp')
audit = os.path.join(tmp, 'audit.log')
svc = Service(tmp, extra=['--audit-log', audit])
sh('ip', 'link', 'set', 'lo', 'up')


@atexit.register
def stop_dnsmasq():
    """The switches' dnsmasq outlive the service by design: a failed test stops them here."""
    for f in glob.glob(os.path.join(svc.state_dir, 'net', '*.pid')):
        try:
            pid = int(open(f).read())
            if b'dnsmasq' in open(f'/proc/{pid}/cmdline', 'rb').read():
                os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass


def ok_json(desc, *args):
    rc, out, err = svc.cli_json(*args)
    tap.ok(rc == 0 and out is not None, desc, f'rc {rc}\n{out}\n{err}')
    return out or {}


def refused(desc, args, *needles, rc_want=1):
    before = open(os.path.join(svc.state_dir, 'network.json')).read()
    rc, out, err = svc.cli(*args)
    after = open(os.path.join(svc.state_dir, 'network.json')).read()
    tap.ok(rc == rc_want and all(n.lower() in err.lower() for n in needles) and before == after,
           desc, f'rc {rc}\nstdout: {out}\nstderr: {err}\nstate changed: {before != after}')


def switch(name):
    rc, out, _ = svc.cli_json('get-vmswitch', name)
    return out['switches'][0] if rc == 0 and out else None


def dnsmasq_of(sw):
    pid = sw.get('dhcp_server_pid')
    if not pid:
        return None
    with open(f'/proc/{pid}/cmdline', 'rb') as f:
        return pid, f.read().split(b'\0')


rc, out, err = svc.cli('help')
tap.ok(rc == 0 and all(v in out for v in (
    'new-vmswitch', 'get-vmswitch', 'set-vmswitch', 'remove-vmswitch', 'add-vmnetworkadapter',
    'get-vmnetworkadapter', 'connect-vmnetworkadapter', 'disconnect-vmnetworkadapter',
    'set-vmnetworkadapter', 'remove-vmnetworkadapter', 'add-vmnetworkadapteracl',
    'get-vmnetworkadapteracl', 'remove-vmnetworkadapteracl')), 'parvis help lists the network verbs',
       out)
rc, out, err = svc.cli('new-vmswitch', 'x', '--vlan-id', '3')
tap.ok(rc == 2 and ('unknown option' in err or 'does not apply' in err),
       'a flag another verb takes: usage error', err)
rc, out, err = svc.cli('set-vmnetworkadapter', 'vm', '--maximum-bandwidth', 'fast')
tap.ok(rc == 2 and 'fast' in err and 'bits per second' in err, 'a rate that is no rate: usage error',
       err)

tap.ok(svc.start(), 'parvis-vmms starts in its own network namespace', svc.read_log())

# --- the four types -------------------------------------------------------------------------
uplink = Netns('pvsw-up')          # the NAT switch's "internet": 198.18.1.0/24
uplink.veth_from_here('upl0', 'upl1')
sh('ip', 'addr', 'add', '198.18.1.1/24', 'dev', 'upl0')
sh('ip', 'link', 'set', 'upl0', 'up')
uplink.run('ip', 'addr', 'add', '198.18.1.2/24', 'dev', 'upl1')
uplink.run('ip', 'link', 'set', 'upl1', 'up')
remote = Netns('pvsw-ext')         # the network an external switch bridges
remote.veth_from_here('ext0', 'ext1')

nat = ok_json('new-vmswitch nat (the Default Switch)', 'new-vmswitch', 'Default Switch',
              '--switch-type', 'nat')
internal = ok_json('new-vmswitch internal with a subnet and DHCP', 'new-vmswitch', 'lab',
                   '--switch-type', 'internal', '--subnet', '10.77.0.0/24', '--dhcp', 'on')
private = ok_json('new-vmswitch private', 'new-vmswitch', 'island', '--switch-type', 'private')
external = ok_json('new-vmswitch external on a veth', 'new-vmswitch', 'outside', '--net-adapter',
                   'ext0')
L = links()
tap.ok(all(sw.get('bridge') in L and L[sw['bridge']]['linkinfo']['info_kind'] == 'bridge'
           for sw in (nat, internal, private, external)), 'each switch is a kernel bridge',
       json.dumps([nat, internal, private, external]))
tap.ok(nat.get('subnet') == '172.29.0.0/24' and addrs(nat['bridge']) == ['172.29.0.1/24'],
       'nat: a free 172.29.N.0/24 picked, the host is .1 on its bridge', addrs(nat.get('bridge', 'lo')))
tap.ok(addrs(internal['bridge']) == ['10.77.0.1/24'], 'internal: the host has its interface on it',
       addrs(internal['bridge']))
tap.ok(addrs(private['bridge']) == [] and
       open(f"/proc/sys/net/ipv6/conf/{private['bridge']}/disable_ipv6").read().strip() == '1',
       'private: the host has no address on it, not even an IPv6 link-local one')
tap.ok(L['ext0'].get('master') == external['switch_type'] or L['ext0'].get('master') == external['bridge'],
       'external: the host interface is a port of its bridge', json.dumps(L['ext0']))
d = dnsmasq_of(nat)
tap.ok(d is not None and b'--interface=' + nat['bridge'].encode() in d[1] and
       b'--dhcp-option=option:router,172.29.0.1' in d[1],
       'nat: dnsmasq serves its bridge, the host as router', d)
d2 = dnsmasq_of(internal)
tap.ok(d2 is not None and b'--dhcp-range=10.77.0.2,10.77.0.254,255.255.255.0,1h' in d2[1],
       'internal --dhcp on: dnsmasq serves its subnet', d2)
tap.ok(switch('island')['dhcp_server_pid'] is None and switch('outside')['dhcp_server_pid'] is None,
       'private and external switches run no DHCP server')
rules = sh('nft', 'list', 'table', 'ip', 'parvis_nat')
tap.ok(f'ip saddr 172.29.0.0/24 oifname != "{nat["bridge"]}"' in rules and 'masquerade' in rules,
       'nat: the masquerade rule is loaded (libnftables)', rules)
tap.ok(open('/proc/sys/net/ipv4/ip_forward').read().strip() == '1', 'nat: forwarding on')

# --- bad switch input -------------------------------------------------------------------------
refused('a switch name with a slash', ('new-vmswitch', 'a/b'), 'name', "'/'")
refused('an unknown switch type', ('new-vmswitch', 'x', '--switch-type', 'bridge'), 'switch_type',
        'bridge')
refused('external without --net-adapter', ('new-vmswitch', 'x', '--switch-type', 'external'),
        'net_adapter', 'needs')
refused('an interface name that is no interface name', ('new-vmswitch', 'x', '--net-adapter',
                                                         'eth0:1'), 'net_adapter', "':'")
refused('a host interface that does not exist', ('new-vmswitch', 'x', '--net-adapter', 'nosuch0'),
        'net_adapter', 'nosuch0')
refused('an interface another switch bridges', ('new-vmswitch', 'x', '--net-adapter', 'ext0'),
        'net_adapter', 'outside')
refused('a subnet on a private switch', ('new-vmswitch', 'x', '--switch-type', 'private',
                                         '--subnet', '10.1.0.0/24'), 'subnet')
refused('a subnet that is not one', ('new-vmswitch', 'x', '--switch-type', 'internal',
                                     '--subnet', '10.1.0.0/33'), 'subnet', '/33')
refused('a subnet taken by another switch', ('new-vmswitch', 'x', '--switch-type', 'internal',
                                             '--subnet', '10.77.0.128/25'), 'subnet', 'overlaps')
refused('nat without DHCP', ('new-vmswitch', 'x', '--switch-type', 'nat', '--dhcp', 'off'), 'dhcp')
refused('a name taken (names compare without case)', ('new-vmswitch', 'LAB'), 'already exists')

# --- adapters on a VM that is Off --------------------------------------------------------------
kernel = os.path.join(tmp, 'vmlinuz')
open(kernel, 'wb').write(b'\0' * 4096)
rc, out, err = svc.cli('new-vm', 'web', '--kernel', kernel, '--memory', '32M')
tap.ok(rc == 0, 'a VM to give adapters to', err)
rc, out, err = svc.cli('new-vm', 'db', '--kernel', kernel, '--memory', '32M')
a1 = ok_json('add-vmnetworkadapter on the nat switch', 'add-vmnetworkadapter', 'web', '--switch',
             'Default Switch')
a1 = a1.get('adapters', [a1])[0] if 'adapters' in a1 else a1
macs = [a1.get('mac_address')]
for i in range(5):
    r = ok_json(f'add-vmnetworkadapter #{i + 2}', 'add-vmnetworkadapter',
                'db' if i % 2 else 'web', '--name', f'n{i}')
    macs.append(r.get('mac_address'))
tap.ok(all(m and re.fullmatch(r'00:15:5d:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}', m) for m in macs) and
       len(set(macs)) == len(macs) and len({m[:14] for m in macs}) == 1,
       'dynamic MACs: 00:15:5d, this host\'s pool, no two alike', macs)
refused('a static MAC another adapter has', ('add-vmnetworkadapter', 'db', '--name', 'x',
                                             '--static-mac-address', macs[0].upper()),
        'static_mac_address', 'another adapter')
refused('a multicast static MAC', ('add-vmnetworkadapter', 'db', '--name', 'x',
                                   '--static-mac-address', '01:00:5e:00:00:01'),
        'static_mac_address', 'multicast')
refused('a MAC that is no MAC', ('add-vmnetworkadapter', 'db', '--name', 'x',
                                 '--static-mac-address', '00:15:5d:zz:00:01'),
        'static_mac_address', 'not a mac')
r = ok_json('a static MAC written as Hyper-V does', 'add-vmnetworkadapter', 'db', '--name', 'fixed',
            '--static-mac-address', '00155D0A0B0C')
tap.ok(r.get('mac_address') == '00:15:5d:0a:0b:0c' and r.get('dynamic_mac_address') is False,
       'it is kept as given, not dynamic', r)
refused('an adapter on a switch that does not exist', ('add-vmnetworkadapter', 'db', '--name',
                                                        'y', '--switch', 'nope'), 'switch', 'nope')
refused('a second adapter of the same name', ('add-vmnetworkadapter', 'web', '--name', 'n0'),
        'adapter', 'already')
refused('an adapter of a VM that does not exist', ('add-vmnetworkadapter', 'ghost'), 'ghost')
# ACLs
acl = ok_json('add-vmnetworkadapteracl deny a prefix', 'add-vmnetworkadapteracl', 'web', '--name',
              'Network Adapter', '--remote-ip-address', '10.77.0.1/32', '--direction', 'inbound',
              '--action', 'deny')
tap.ok(acl.get('acls') == [{'adapter': 'Network Adapter', 'direction': 'inbound', 'action': 'deny',
                            'remote_ip_address': '10.77.0.1/32'}], 'the entry as kept', acl)
ok_json('add-vmnetworkadapteracl allow a MAC both ways', 'add-vmnetworkadapteracl', 'web', '--name',
        'Network Adapter', '--remote-mac-address', '02:00:00:00:00:01', '--direction', 'both',
        '--action', 'allow')
refused('an ACL with a bad prefix', ('add-vmnetworkadapteracl', 'web', '--remote-ip-address',
                                     '10.0.0.0/40', '--direction', 'in', '--action', 'deny'),
        'remote_ip_address', '/40')
refused('an ACL with a bad direction', ('add-vmnetworkadapteracl', 'web', '--remote-ip-address',
                                        '10.0.0.0/8', '--direction', 'up', '--action', 'deny'),
        'direction', "'up'")
refused('an ACL with a bad action', ('add-vmnetworkadapteracl', 'web', '--remote-ip-address',
                                     '10.0.0.0/8', '--direction', 'in', '--action', 'meter'),
        'action', 'meter')
refused('an ACL with no remote address', ('add-vmnetworkadapteracl', 'web', '--direction', 'in',
                                          '--action', 'deny'), 'remote_ip_address')
refused('an ACL with a bad MAC', ('add-vmnetworkadapteracl', 'web', '--remote-mac-address', 'xx',
                                  '--direction', 'in', '--action', 'deny'), 'remote_mac_address')
rc, out, err = svc.cli('remove-vmnetworkadapteracl', 'web', '--remote-mac-address',
                       '02:00:00:00:00:01', '--direction', 'both')
rc2, out2, _ = svc.cli_json('get-vmnetworkadapteracl', 'web')
tap.ok(rc == 0 and out2 and len(out2['acls']) == 1, 'remove-vmnetworkadapteracl removes the entry',
       f'{err}\n{out2}')
# VLAN
filtering = True
try:
    sh('ip', 'link', 'add', 'pvswprobe', 'type', 'bridge', 'vlan_filtering', '1')
    sh('ip', 'link', 'del', 'pvswprobe')
except RuntimeError:
    filtering = False
    subprocess.run(['ip', 'link', 'del', 'pvswprobe'], capture_output=True)
if filtering:
    r = ok_json('set-vmnetworkadapter --vlan-id where the kernel filters VLANs',
                'set-vmnetworkadapter', 'web', '--name', 'Network Adapter', '--vlan-id', '12')
else:
    refused('a VLAN ID on this host: refused, saying the kernel lacks bridge VLAN filtering',
            ('set-vmnetworkadapter', 'web', '--vlan-id', '12'), 'vlan_id',
            'CONFIG_BRIDGE_VLAN_FILTERING')
refused('a VLAN ID out of range', ('set-vmnetworkadapter', 'web', '--vlan-id', '4095'), 'vlan_id')
refused('port mirroring that is no mode', ('set-vmnetworkadapter', 'web', '--port-mirroring',
                                           'both'), 'port_mirroring')
r = ok_json('set-vmnetworkadapter port features', 'set-vmnetworkadapter', 'web', '--name', 'n0',
            '--dhcp-guard', 'on', '--router-guard', 'on', '--maximum-bandwidth', '20M',
            '--port-mirroring', 'source', '--mac-address-spoofing', 'on')
r = (r.get('adapters') or [{}])[0]
tap.ok(r.get('dhcp_guard') and r.get('router_guard') and r.get('maximum_bandwidth') == 20000000 and
       r.get('port_mirroring') == 'source' and r.get('mac_address_spoofing'), 'they are kept', r)

# --- remove-vmswitch while connected ---------------------------------------------------------
ok_json('connect-vmnetworkadapter', 'connect-vmnetworkadapter', 'db', '--name', 'fixed',
        '--switch', 'island')
refused('remove-vmswitch with an adapter connected', ('remove-vmswitch', 'island'), 'island',
        '1 network adapter', '--force')
rc, out, err = svc.cli('remove-vmswitch', 'island', '--force')
rc2, ad, _ = svc.cli_json('get-vmnetworkadapter', 'db')
fixed = [a for a in (ad or {}).get('adapters', []) if a['name'] == 'fixed']
tap.ok(rc == 0 and private['bridge'] not in links() and fixed and fixed[0]['switch'] is None,
       'remove-vmswitch --force: bridge gone, the adapter stays, disconnected', f'{err}\n{fixed}')

# --- persistence ---------------------------------------------------------------------------
before = json.load(open(os.path.join(svc.state_dir, 'network.json')))
old_dnsmasq = switch('lab')['dhcp_server_pid']
svc.stop()
sh('ip', 'link', 'del', internal['bridge'])   # gone while the service is down
tap.ok(svc.start(), 'the service starts again', svc.read_log())
L = links()
after = json.load(open(os.path.join(svc.state_dir, 'network.json')))
tap.ok(before == after, 'network.json is what it was', f'{before}\n{after}')
tap.ok(all(sw in L for sw in (nat['bridge'], internal['bridge'], external['bridge'])) and
       addrs(internal['bridge']) == ['10.77.0.1/24'] and L['ext0'].get('master') == external['bridge'],
       'every switch is set up again, the deleted bridge made anew', svc.read_log())
lab = switch('lab')
tap.ok(lab['status'] == 'Up' and lab['dhcp_server_pid'] and lab['dhcp_server_pid'] != old_dnsmasq,
       'its dnsmasq was restarted on the new bridge', lab)
tap.ok(switch('Default Switch')['dhcp_server_pid'] == nat['dhcp_server_pid'],
       'the other dnsmasq ran on through the restart (guests keep their leases)')
rc, out, _ = svc.cli_json('get-vmnetworkadapter')
tap.ok(rc == 0 and sorted(a['mac_address'] for a in out['adapters']) ==
       sorted(macs + ['00:15:5d:0a:0b:0c']), 'the adapters and their MACs are kept', out)

# --- the NAT switch end to end, a veth standing in for the guest's port ------------------------
guest = Netns('pvsw-guest')
guest.veth_from_here('pvswg0', 'eth0')
sh('ip', 'link', 'set', 'pvswg0', 'master', nat['bridge'])
sh('ip', 'link', 'set', 'pvswg0', 'up')
guest.run('ip', 'link', 'set', 'eth0', 'address', macs[0])
guest.run('ip', 'link', 'set', 'eth0', 'up')
script = os.path.join(tmp, 'udhcpc.sh')
with open(script, 'w') as f:
    f.write('#!/bin/sh\n[ "$1" = bound ] || exit 0\nip addr add $ip/${mask:-24} dev $interface\n'
            'ip route add default via $router\n')
os.chmod(script, 0o755)
out = guest.run('busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-f', '-t', '5', '-T', '2', '-s', script,
                check=False, timeout=60)
gaddr = json.loads(guest.run('ip', '-j', 'addr', 'show', 'dev', 'eth0'))
gips = [a['local'] for e in gaddr for a in e.get('addr_info', []) if a.get('family') == 'inet']
tap.ok(len(gips) == 1 and gips[0].startswith('172.29.0.'), 'the stand-in guest got an address from '
       "the nat switch's dnsmasq", out)
rc, out, _ = svc.cli_json('get-vmnetworkadapter', 'web')
webnic = [a for a in (out or {}).get('adapters', []) if a['name'] == 'Network Adapter']
tap.ok(webnic and webnic[0]['ip_addresses'] == gips, 'get-vmnetworkadapter shows the DHCP lease',
       out)
# A UDP server in the uplink namespace says whom it saw.
srv = uplink.popen(sys.executable, '-c', '''
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.1.2", 7777)); s.settimeout(20)
d, a = s.recvfrom(100); print(a[0], flush=True)
''', stdout=subprocess.PIPE, text=True)
time.sleep(0.5)
guest.run(sys.executable, '-c', 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM);'
          's.sendto(b"hello", ("198.18.1.2", 7777))')
try:
    seen = srv.communicate(timeout=25)[0].strip()
except subprocess.TimeoutExpired:
    srv.kill()
    seen = 'nothing'
tap.ok(seen == '198.18.1.1', 'out of the fake uplink the guest is masqueraded as the host', seen)
uplink.run('ip', 'route', 'add', '172.29.0.0/24', 'via', '198.18.1.1', check=False)
p = subprocess.run(['ip', 'netns', 'exec', uplink.name, 'ping', '-c', '1', '-W', '2',
                    gips[0] if gips else '172.29.0.2'], capture_output=True, text=True)
tap.ok(p.returncode != 0, 'nothing from outside reaches the guest behind the NAT', p.stdout)

# --- ports of a running worker (the tiny kernel: no guest driver, the host side only) -----------
tiny = os.environ.get('PARVIS_TINY_KERNEL')
if not kvm_available() or not tiny:
    tap.skip('ports of a running worker', 'no /dev/kvm or no tiny kernel')
else:
    def nic(vm, name):
        rc, out, _ = svc.cli_json('get-vmnetworkadapter', vm)
        return next((a for a in (out or {}).get('adapters', []) if a['name'] == name), {})

    def port_rules():
        return sh('nft', 'list', 'table', 'bridge', 'parvis_ports', check=False)

    svc.cli('new-vm', 'tiny', '--memory', '32M', '--cpus', '2', '--kernel', tiny, '--cmdline',
            'idle')
    svc.cli('add-vmnetworkadapter', 'tiny', '--switch', 'lab', '--name', 'a')
    svc.cli('add-vmnetworkadapter', 'tiny', '--switch', 'lab', '--name', 'b')
    svc.cli('set-vmnetworkadapter', 'tiny', '--name', 'a', '--dhcp-guard', 'on', '--router-guard',
            'on', '--maximum-bandwidth', '20M', '--port-mirroring', 'source')
    svc.cli('set-vmnetworkadapter', 'tiny', '--name', 'b', '--port-mirroring', 'destination')
    svc.cli('add-vmnetworkadapteracl', 'tiny', '--name', 'a', '--remote-ip-address', '10.77.0.0/24',
            '--direction', 'outbound', '--action', 'deny')
    rc, out, err = svc.cli('start-vm', 'tiny')
    tap.ok(rc == 0, 'start-vm: a (jailed) worker with two adapters', out + err + svc.read_log()[-2000:])
    A, B = nic('tiny', 'a'), nic('tiny', 'b')
    L = links()
    ta, tb = L.get(A.get('tap'), {}), L.get(B.get('tap'), {})
    info = ta.get('linkinfo', {}).get('info_data', {})
    tap.ok(info.get('type') == 'tap' and info.get('vnet_hdr') and info.get('multi_queue') and
           info.get('numqueues', 0) + info.get('numdisabled', 0) == 2 and ta.get('master') == internal['bridge'] and
           tb.get('master') == internal['bridge'],
           "each adapter's TAP: vnet header, one queue per vCPU held by the worker (attached or "
           "detached while no channel uses it), on its switch",
           json.dumps([ta, tb]))
    w = A.get('worker') or {}
    tap.ok(w.get('mac') == A.get('mac_address') and w.get('queues') == 2 and w.get('connected'),
           "the worker has the adapter, its MAC and both queues (its status)", A)
    r = port_rules()
    tap.ok(f"chain from_{A['tap']}" in r and f'ether saddr != {A["mac_address"]}' in r and
           'udp sport 67 udp dport 68' in r and 'nd-router-advert' in r and
           'ip daddr 10.77.0.0/24 counter packets 0 bytes 0 drop' in r and
           f'iifname "{A["tap"]}" jump from_{A["tap"]}' in r,
           'the port rules on its TAP: MAC-spoofing, DHCP and router guards, the ACL', r)
    q = sh('tc', '-s', 'class', 'show', 'dev', A['tap'])
    f = sh('tc', 'filter', 'show', 'dev', A['tap'], 'ingress')
    f2 = sh('tc', 'filter', 'show', 'dev', A['tap'], 'parent', '1:')
    tap.ok('rate 20Mbit' in q and A['tap'].replace('pvt', 'pvi') in links() and
           f'Egress Mirror to device {B["tap"]}' in f and f'Egress Mirror to device {B["tap"]}' in f2
           and 'Egress Redirect to device ' + A['tap'].replace('pvt', 'pvi') in f,
           'tc: 20 Mbit/s each way (HTB, IFB), both directions mirrored to the destination port',
           q + f + f2)
    # Mirroring with traffic: the host sends datagrams to a's guest; copies must leave b's port.
    # A static FDB entry puts a's MAC on a's TAP, so the bridge sends them there only (never
    # flooded to b): what b's TAP transmits of them came through the mirror. A packet socket on
    # b's TAP sees each frame it transmits (PACKET_OUTGOING), read or not by the tiny guest.
    sh('bridge', 'fdb', 'add', A['mac_address'], 'dev', A['tap'], 'master', 'static', check=False)
    sh('ip', 'neigh', 'replace', '10.77.0.77', 'lladdr', A['mac_address'], 'dev', internal['bridge'],
       'nud', 'permanent')
    cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    cap.bind((B['tap'], 0))
    cap.settimeout(0.5)
    capa = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    capa.bind((A['tap'], 0))
    capa.settimeout(0.5)
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    PROBES = 20
    for i in range(PROBES):
        probe.sendto(b'parvis-mirror-probe-%d' % i, ('10.77.0.77', 9))
        time.sleep(0.02)

    def probes_seen(s):
        seen, deadline = set(), time.monotonic() + 20
        while len(seen) < PROBES and time.monotonic() < deadline:
            try:
                frame, addr = s.recvfrom(65536)
            except socket.timeout:
                continue
            m = re.search(rb'parvis-mirror-probe-(\d+)', frame)
            if m and addr[2] == socket.PACKET_OUTGOING and frame[:6] == bytes.fromhex(
                    A['mac_address'].replace(':', '')):
                seen.add(int(m.group(1)))
        return seen

    on_b, on_a = probes_seen(cap), probes_seen(capa)
    cap.close()
    capa.close()
    mirred = sh('tc', '-s', 'filter', 'show', 'dev', A['tap'], 'parent', '1:')
    tap.ok(len(on_a) == PROBES and len(on_b) == PROBES,
           f"mirroring: the {PROBES} frames the host sent to a's guest also left b's port "
           f'(a: {len(on_a)}, b: {len(on_b)} seen)', mirred)
    sh('ip', 'neigh', 'del', '10.77.0.77', 'dev', internal['bridge'], check=False)
    sh('bridge', 'fdb', 'del', A['mac_address'], 'dev', A['tap'], 'master', check=False)
    # hot add and remove
    rc, out, err = svc.cli('add-vmnetworkadapter', 'tiny', '--switch', 'Default Switch', '--name', 'c')
    C = nic('tiny', 'c')
    ok_w = False
    for _ in range(30):
        C = nic('tiny', 'c')
        if C.get('worker'):
            ok_w = True
            break
        time.sleep(0.2)
    tap.ok(rc == 0 and ok_w and links().get(C.get('tap'), {}).get('master') == nat['bridge'],
           'hot add: the worker takes the new TAP (nic-add, queues by SCM_RIGHTS)', f'{err}\n{C}')
    rc, out, err = svc.cli('disconnect-vmnetworkadapter', 'tiny', '--name', 'c')
    time.sleep(1.5)
    C = nic('tiny', 'c')
    tap.ok(rc == 0 and links().get(C.get('tap'), {}).get('master') is None and
           (C.get('worker') or {}).get('connected') is False,
           'disconnect: the TAP leaves the bridge, the worker is told (nic-set)', f'{err}\n{C}')
    ctap = C.get('tap')
    rc, out, err = svc.cli('remove-vmnetworkadapter', 'tiny', '--name', 'c')
    time.sleep(1)
    tap.ok(rc == 0 and ctap not in links(), 'hot remove: nic-remove, and the TAP is gone', err)
    # a restart of the service keeps the ports
    svc.stop()
    sh('nft', 'delete', 'table', 'bridge', 'parvis_ports')
    tap.ok(svc.start(), 'the service restarts while the worker runs', svc.read_log())
    r = port_rules()
    tap.ok(f"chain from_{A['tap']}" in r and links().get(A['tap'], {}).get('master') == internal['bridge'],
           'the restarted service loads the ports\' rules again', r)
    rc, out, err = svc.cli('stop-vm', 'tiny', '--turn-off')
    time.sleep(1)
    L = links()
    tap.ok(rc == 0 and A['tap'] not in L and B['tap'] not in L and
           A['tap'].replace('pvt', 'pvi') not in L and f"from_{A['tap']}" not in port_rules(),
           'stop-vm: the TAPs go with the worker, the IFB and the rules with them', err)
    svc.cli('remove-vm', 'tiny')

# --- audit and bad input to the API ------------------------------------------------------------
with open(audit) as f:
    lines = [json.loads(line) for line in f if line.strip()]
calls = {e.get('call') for e in lines}
tap.ok({'new-vmswitch', 'remove-vmswitch', 'add-vmnetworkadapter', 'set-vmnetworkadapter',
        'add-vmnetworkadapteracl', 'connect-vmnetworkadapter'} <= calls and
       not {'get-vmswitch', 'get-vmnetworkadapter'} & calls,
       'every state-changing network call is audited, reads are not', calls)
rc, out, err = svc.cli('remove-vmnetworkadapter', 'web', '--name', 'n0')
rc2, out2, _ = svc.cli_json('get-vmnetworkadapter', 'web')
tap.ok(rc == 0 and all(a['name'] != 'n0' for a in out2['adapters']), 'remove-vmnetworkadapter', err)
rc, out, err = svc.cli('remove-vm', 'db')
st = json.load(open(os.path.join(svc.state_dir, 'network.json')))
tap.ok(rc == 0 and all(a['name'] not in ('fixed',) for a in st['adapters']),
       "remove-vm: the VM's adapters go with it", st)
for name in ('Default Switch', 'lab', 'outside'):
    svc.cli('remove-vmswitch', name, '--force')
tap.ok(not any(k.startswith('pvbr') for k in links()) and 'ext0' in links() and
       links()['ext0'].get('master') is None, 'removing the switches leaves no bridge, frees ext0')
tap.ok(not any(f.endswith('.pid') for f in os.listdir(os.path.join(svc.state_dir, 'net'))),
       'and no dnsmasq')
svc.stop()
tap.done()

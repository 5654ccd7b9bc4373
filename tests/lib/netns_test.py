"""Network namespaces for the switch tests: every network a test uses lives in namespaces it
creates, nothing is sent outside them.

in_private_netns() re-executes the test inside a new network namespace of its own (unshare
--net), where the service and everything it makes (bridges, TAPs, nftables, dnsmasq) live;
Netns(name) is a further named namespace (ip netns) standing for a guest's peer, a remote
network's DHCP server or a NAT switch's uplink, removed at exit.
"""
import atexit
import json
import os
import subprocess
import sys


def in_private_netns():
    """Runs the rest of the calling script in a fresh network namespace (execs itself once)."""
    if os.environ.get('PARVIS_PRIVATE_NETNS') == str(os.getppid()) or \
            os.environ.get('PARVIS_PRIVATE_NETNS') == 'yes':
        return
    env = dict(os.environ, PARVIS_PRIVATE_NETNS='yes')
    os.execvpe('unshare', ['unshare', '--net', '--', sys.executable] + sys.argv, env)


def sh(*args, check=True, timeout=30):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f'{" ".join(map(str, args))}: {p.stderr.strip()}')
    return p.stdout


def links():
    """The namespace's links, name -> ip -j -d link entry."""
    return {e['ifname']: e for e in json.loads(sh('ip', '-j', '-d', 'link', 'show'))}


def addrs(dev):
    out = json.loads(sh('ip', '-j', 'addr', 'show', 'dev', dev))
    return [a['local'] + '/' + str(a['prefixlen']) for e in out for a in e.get('addr_info', [])
            if a.get('family') == 'inet']


class Netns:
    def __init__(self, name):
        self.name = f'{name}-{os.getpid()}'
        sh('ip', 'netns', 'add', self.name)
        self.run('ip', 'link', 'set', 'lo', 'up')
        self.procs = []
        atexit.register(self.delete)

    def run(self, *args, check=True, timeout=30):
        return sh('ip', 'netns', 'exec', self.name, *args, check=check, timeout=timeout)

    def popen(self, *args, **kw):
        p = subprocess.Popen(['ip', 'netns', 'exec', self.name] + [str(a) for a in args], **kw)
        self.procs.append(p)
        return p

    def veth_from_here(self, here, there):
        """A veth pair: `here` in the caller's namespace, `there` in this one."""
        sh('ip', 'link', 'add', here, 'type', 'veth', 'peer', 'name', there, 'netns', self.name)

    def delete(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        subprocess.run(['ip', 'netns', 'del', self.name], capture_output=True)

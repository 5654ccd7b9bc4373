"""Two parvis-vmms services on this machine for the move-vm tests, each in a network namespace
of its own, joined by a veth pair (10.77.N.1 and 10.77.N.2: addresses that exist only inside
those namespaces), with a key file both use; removed at exit.

    pair = Pair(tmp)            # pair.a, pair.b: Service objects; pair.dest_a, pair.dest_b
    pair.a.start(); pair.enable()
"""
import atexit
import os
import subprocess

from vmms_test import Service, vmms_bin


def sh(*args, check=True):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60)
    if check and p.returncode:
        raise RuntimeError(f'{" ".join(map(str, args))}: {p.stderr}')
    return p.stdout


class NsService(Service):
    """A service run inside a network namespace (through a wrapper: ip netns exec)."""

    def __init__(self, base, ns):
        super().__init__(base)
        self.ns = ns

    def start(self, wait=True):
        wrapper = os.path.join(self.base, 'vmms-in-netns')
        with open(wrapper, 'w') as f:
            f.write(f'#!/bin/sh\nexec ip netns exec {self.ns} {vmms_bin()} "$@"\n')
        os.chmod(wrapper, 0o755)
        saved = os.environ.get('PARVIS_VMMS')
        os.environ['PARVIS_VMMS'] = wrapper
        try:
            return super().start(wait)
        finally:
            if saved is None:
                del os.environ['PARVIS_VMMS']
            else:
                os.environ['PARVIS_VMMS'] = saved


class Pair:
    def __init__(self, tmp):
        pid = os.getpid()
        self.ns_a, self.ns_b = f'pvmiga-{pid}', f'pvmigb-{pid}'
        net = 10 + pid % 200
        self.ip_a, self.ip_b = f'10.77.{net}.1', f'10.77.{net}.2'
        self.dest_a, self.dest_b = f'{self.ip_a}:6600', f'{self.ip_b}:6600'
        self.veth_a, self.veth_b = f'pvm{pid % 10000}a', f'pvm{pid % 10000}b'
        atexit.register(self.delete)
        for ns in (self.ns_a, self.ns_b):
            sh('ip', 'netns', 'add', ns)
            sh('ip', '-n', ns, 'link', 'set', 'lo', 'up')
        sh('ip', 'link', 'add', self.veth_a, 'netns', self.ns_a, 'type', 'veth', 'peer', 'name',
           self.veth_b, 'netns', self.ns_b)
        sh('ip', '-n', self.ns_a, 'addr', 'add', f'{self.ip_a}/24', 'dev', self.veth_a)
        sh('ip', '-n', self.ns_b, 'addr', 'add', f'{self.ip_b}/24', 'dev', self.veth_b)
        sh('ip', '-n', self.ns_a, 'link', 'set', self.veth_a, 'up')
        sh('ip', '-n', self.ns_b, 'link', 'set', self.veth_b, 'up')
        base_a, base_b = os.path.join(tmp, 'a'), os.path.join(tmp, 'b')
        os.makedirs(base_a)
        os.makedirs(base_b)
        self.a, self.b = NsService(base_a, self.ns_a), NsService(base_b, self.ns_b)
        self.key = os.path.join(tmp, 'key')
        with open(self.key, 'w') as f:
            f.write(os.urandom(32).hex() + '\n')
        os.chmod(self.key, 0o600)

    def enable(self):
        """enable-vmmigration on both with the shared key: True if both took it."""
        ra = self.a.cli('enable-vmmigration', '--listen', self.dest_a, '--key-file', self.key)
        rb = self.b.cli('enable-vmmigration', '--listen', self.dest_b, '--key-file', self.key)
        return ra[0] == 0 and rb[0] == 0

    def delete(self):
        for ns in (self.ns_a, self.ns_b):
            subprocess.run(['ip', 'netns', 'del', ns], capture_output=True)

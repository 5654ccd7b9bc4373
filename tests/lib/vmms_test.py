"""A parvis-vmms service for tests, and the parvis command run against it.

Service(dir) starts `parvis-vmms --state-dir DIR/state --socket DIR/api.sock`
(env PARVIS_VMMS, PARVIS_VMWP); cli(...) runs `parvis --socket ...` (env
PARVIS_CLI) and returns (exit status, stdout, stderr); cli_json(...) adds
--json and parses stdout.
"""
import atexit
import glob
import json
import os
import signal
import socket
import subprocess
import time
from parvis_test import control


def vmms_bin():
    return os.environ.get('PARVIS_VMMS', 'parvis-vmms')


def cli_bin():
    return os.environ.get('PARVIS_CLI', 'parvis')


class Service:
    def __init__(self, base, state_dir=None, sock=None, extra=()):
        self.base = base
        self.state_dir = state_dir or os.path.join(base, 'state')
        self.sock = sock or os.path.join(base, 'api.sock')
        self.log_path = os.path.join(base, 'vmms.log')
        self.proc = None
        self.extra = list(extra)
        atexit.register(self.cleanup)

    def cleanup(self):
        """Kills the service and the workers it left (their runtime records), for atexit."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for rec in glob.glob(os.path.join(self.state_dir, 'run', '*', 'worker.json')):
            try:
                with open(rec) as f:
                    pid = json.load(f)['pid']
                with open(f'/proc/{pid}/cmdline', 'rb') as f:
                    if self.state_dir.encode() in f.read():
                        os.kill(pid, signal.SIGKILL)
            except (OSError, ValueError, KeyError):
                pass

    def start(self, wait=True):
        self.log = open(self.log_path, 'a')
        args = [vmms_bin(), '--state-dir', self.state_dir, '--socket', self.sock]
        if os.environ.get('PARVIS_VMWP'):
            args += ['--vmwp', os.environ['PARVIS_VMWP']]
        self.proc = subprocess.Popen(args + self.extra, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        if wait:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    return False
                try:
                    s = socket.socket(socket.AF_UNIX)
                    s.connect(self.sock)
                    s.close()
                    return True
                except OSError:
                    time.sleep(0.05)
            return False
        return True

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        return self.proc.returncode if self.proc else None

    def read_log(self):
        with open(self.log_path, errors='replace') as f:
            return f.read()

    def cli(self, *args, timeout=120, stdin=None):
        p = subprocess.run([cli_bin(), '--socket', self.sock] + [str(a) for a in args],
                           input=stdin, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr

    def cli_json(self, *args, timeout=120):
        rc, out, err = self.cli(*args, '--json', timeout=timeout)
        try:
            return rc, json.loads(out) if out.strip() else None, err
        except ValueError:
            return rc, None, err + '\n[stdout not JSON]\n' + out

    def vm(self, name):
        """The VM's get-vm --json entry, or None."""
        rc, out, _ = self.cli_json('get-vm', name)
        return out['vms'][0] if rc == 0 and out and out.get('vms') else None

    def state(self, name):
        v = self.vm(name)
        return v['state'] if v else None

    def wait_vm(self, name, pred, timeout):
        deadline = time.monotonic() + timeout
        v = None
        while time.monotonic() < deadline:
            v = self.vm(name)
            if v and pred(v):
                return True, v
            time.sleep(0.2)
        return False, v

    def call(self, request, timeout=30):
        """One raw API request (a dict or bytes); returns the answer line parsed (or None)."""
        return control(self.sock, request, timeout)

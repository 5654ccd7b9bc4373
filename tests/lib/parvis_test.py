"""Helpers for Parvis's process-level tests (worker command line, guest boots).

Tests print TAP (counted case by case by meson and tests/summarize.py).
Paths come from the environment that tests/meson.build sets:
PARVIS_VMWP (the worker binary), and the guest kit from tools/guest-kit/build.sh:
KIT_VMLINUX, KIT_INITRAMFS, KIT_CMDLINE.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time


class Tap:
    """Minimal TAP producer: plan at the end, one line per check."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, desc, diag=None):
        self.n += 1
        print(f"{'ok' if cond else 'not ok'} {self.n} - {desc}", flush=True)
        if not cond:
            self.failed += 1
            if diag:
                for line in str(diag).splitlines()[-40:]:
                    print(f"# {line}", flush=True)
        return cond

    def skip(self, desc, reason):
        self.n += 1
        print(f"ok {self.n} - {desc} # SKIP {reason}", flush=True)

    def done(self):
        print(f"1..{self.n}", flush=True)
        sys.exit(1 if self.failed else 0)


def skip_all(reason):
    """TAP's skip-all plan; meson and tests/summarize.py count it as skipped."""
    print(f"1..0 # SKIP {reason}", flush=True)
    sys.exit(0)


def kvm_available():
    return os.access('/dev/kvm', os.R_OK | os.W_OK)


def host_is_pvm():
    return os.path.exists('/sys/module/kvm_pvm')


def vmwp():
    return os.environ.get('PARVIS_VMWP', 'parvis-vmwp')


# On PVM hosts the kit kernel's boot runs emulated, ~1,500x slower: a non-preemptible
# initcall then holds a CPU for minutes of wall time without an RCU quiescent state, and
# RCU reports a stall (21 s) that is the emulator's speed, not a fault (seen in every
# kind of boot here: "rcu_sched detected stalls", "kthread starved"). There, stall reports
# are suppressed until the kernel starts init (rcu_end_inkernel_boot, kernel/rcu/rcu.h);
# every stall after that is reported, and check_guest_health fails on it. Hardware hosts
# keep every report.
PVM_CMDLINE = 'rcupdate.rcu_cpu_stall_suppress_at_boot=1'


def kit():
    """(vmlinux, initramfs, cmdline) of the guest kit, or None if not built."""
    v, i, c = (os.environ.get(k) for k in ('KIT_VMLINUX', 'KIT_INITRAMFS', 'KIT_CMDLINE'))
    if not v or not os.path.exists(v):
        return None
    c = c or ''
    if host_is_pvm():
        c = f'{c} {PVM_CMDLINE}'.strip()
    return v, i, c


class Worker:
    """A parvis-vmwp process with its console captured in a file."""

    def __init__(self, args, console_path, stderr_path):
        self.console_path = console_path
        self.stderr_path = stderr_path
        self.stderr_file = open(stderr_path, 'w')
        self.start = time.monotonic()
        self.proc = subprocess.Popen([vmwp()] + args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.stderr_file)

    def console(self):
        try:
            with open(self.console_path, errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def stderr(self):
        with open(self.stderr_path, errors='replace') as f:
            return f.read()

    def wait_console(self, predicate, timeout):
        """Polls the console until predicate(text) or the worker exits or timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.console()
            if predicate(text):
                return True
            if self.proc.poll() is not None:
                return predicate(self.console())
            time.sleep(0.5)
        return False

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            return None

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def close(self):
        self.kill()
        self.proc.wait()
        self.stderr_file.close()


def run_vmwp(args, timeout=60):
    """Runs the worker to completion; returns (exit status, stdout, stderr)."""
    p = subprocess.run([vmwp()] + args, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def control(path, request, timeout=10):
    """One JSON-lines request on a Unix socket (a worker's control socket, docs/control.md, or
    the service's API); request is a dict or raw bytes. Returns the answer, or None if the
    other side closed without one."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(request if isinstance(request, bytes) else (json.dumps(request) + '\n').encode())
    buf = b''
    while not buf.endswith(b'\n'):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    return json.loads(buf) if buf else None


def wait_status(path, pred, timeout):
    """Polls the worker's status until pred(status); returns (met, last status)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = control(path, {'command': 'status'})
            if pred(last):
                return True, last
        except (OSError, ValueError):
            pass
        time.sleep(1)
    return False, last

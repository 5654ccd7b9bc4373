"""QEMU's column of bench/console.py: QEMU's own VNC server (-vnc on a Unix
socket) on its standard VGA (-vga std, Bochs VBE at 1024x768x32), with a
guest of the bench's own (console_qemu_guest.S, a multiboot ELF under TCG)
doing the same redraws as the Parvis side on command over COM1: a full
1024x768 fill, or one 1024x16 text line.

What is measured, per update, at N raw-encoding RFB clients
(tests/lib/rfb_client.py):
- latency: from the guest's "done" byte on the serial line (after its last
  framebuffer store) to every client holding the new pixels (QEMU finds
  changes by scanning on its display refresh timer, 30 ms when busy, so an
  update can be partly sent before "done": the clients re-request until
  they hold all of it);
- CPU: of QEMU's threads except the vCPU thread ("CPU 0/TCG", named with
  -name debug-threads=on), i.e. the main loop (VGA dirty scan, VNC change
  detection) and the vnc_worker thread (encoding, sending). The vCPU
  thread's CPU (TCG running the guest's stores) is reported apart, and so
  is a baseline run of the same schedule with no client connected, whose
  non-vCPU CPU is subtracted: what remains is the VNC work;
- bytes each client receives per update.

Usage (from console.py): run_qemu(kind, nclients, updates) -> dict
"""
import os
import shutil
import subprocess
import tempfile
import threading
import time

from rfb_client import RfbClient

HERE = os.path.dirname(os.path.abspath(__file__))
GUEST_SRC = os.path.join(HERE, 'console_qemu_guest.S')


def build_guest(tmp):
    """The guest ELF, assembled and linked with binutils (32-bit multiboot)."""
    obj, elf = os.path.join(tmp, 'guest.o'), os.path.join(tmp, 'guest.elf')
    subprocess.run(['as', '--32', '-o', obj, GUEST_SRC], check=True)
    subprocess.run(['ld', '-m', 'elf_i386', '-Ttext', '0x100000', '-o', elf, obj], check=True)
    return elf


def available():
    """None if QEMU and binutils are here, else why not."""
    for tool in ('qemu-system-x86_64', 'as', 'ld'):
        if not shutil.which(tool):
            return f'{tool} not found (tools/packages.txt: qemu-system-x86, binutils)'
    return None


def thread_cpu(pid):
    """(vCPU threads' CPU, the other threads' CPU), seconds, from /proc/PID/task/*/schedstat (ns on CPU)."""
    vcpu = other = 0.0
    for t in os.listdir(f'/proc/{pid}/task'):
        try:
            with open(f'/proc/{pid}/task/{t}/comm') as f:
                comm = f.read().strip()
            with open(f'/proc/{pid}/task/{t}/schedstat') as f:
                ns = int(f.read().split()[0])
        except OSError:
            continue  # a thread that ended meanwhile
        if comm.startswith('CPU '):
            vcpu += ns / 1e9
        else:
            other += ns / 1e9
    return vcpu, other


def colour(c):
    """The guest's colour for command byte c (console_qemu_guest.S: c*0x010101^0x402000) as (r, g, b)."""
    v = (c * 0x010101) ^ 0x402000
    return (v >> 16) & 255, (v >> 8) & 255, v & 255


class Qemu:
    def __init__(self, elf, tmp):
        self.sock = os.path.join(tmp, 'vnc.sock')
        cmd = ['qemu-system-x86_64', '-M', 'pc', '-accel', 'tcg', '-m', '64', '-nodefaults',
               '-no-user-config', '-vga', 'std', '-display', 'none', '-vnc', 'unix:' + self.sock,
               '-serial', 'stdio', '-kernel', elf, '-name', 'parvis-console-bench,debug-threads=on']
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        first = self.p.stdout.read(1)
        if first != b'R':
            self.p.kill()
            raise RuntimeError(f'QEMU guest: expected "R", got {first!r}: '
                               f'{self.p.stderr.read().decode(errors="replace")[:300]}')

    def command(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()
        done = self.p.stdout.read(1)
        t = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        if done != b'D':
            raise RuntimeError(f'QEMU guest: expected "D", got {done!r}')
        return t

    def close(self):
        self.p.kill()
        self.p.wait(timeout=30)


def connect(sock):
    """A client that holds QEMU's 1024x768 screen (the resize reaches QEMU's VNC on its
    next display refresh)."""
    c = RfbClient(sock)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        c.update(False)
        if (c.width, c.height) == (1024, 768):
            return c
        time.sleep(0.2)
    raise RuntimeError(f'QEMU VNC: the screen stayed {c.width}x{c.height}')


def wait_holding(c, probes, want, out, i):
    """Reads updates (re-requesting) until every probe pixel is want; out[i] = the time."""
    try:
        while True:
            m = c.read_message()
            if m[0] == 'update' and all(c.pixel(x, y) == want for x, y in probes):
                out[i] = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
                return
            if m[0] == 'update':
                c.request(True)
    except Exception as e:  # noqa: BLE001 - handed to the caller
        out[i] = e


def schedule(i, kind):
    """Update i's command bytes, probe pixels and colour (a new colour every time: QEMU's VNC
    sends only what differs from what it sent)."""
    c = i % 255 + 1
    if kind == 'full':
        return bytes([ord('F'), c]), [(0, 0), (512, 384), (1023, 767)], colour(c)
    row = i % 48
    return bytes([ord('L'), row, c]), [(0, row * 16), (1023, row * 16 + 15)], colour(c)


def run_qemu(kind, nclients, updates, elf):
    tmp = tempfile.mkdtemp(prefix='pvbench-console-qemu-')
    q = Qemu(elf, tmp)
    try:
        clients = [connect(q.sock) for _ in range(nclients)]
        q.command(schedule(updates, kind)[0])  # warm-up: one redraw before the clock runs
        for c in clients:
            c.drain()
        lat, nbytes = [], []
        vcpu0, other0 = thread_cpu(q.p.pid)
        for i in range(updates):
            data, probes, want = schedule(i, kind)
            for c in clients:
                c.request(True)
            before = [c.bytes_in for c in clients]
            out = [None] * nclients
            threads = [threading.Thread(target=wait_holding, args=(c, probes, want, out, k))
                       for k, c in enumerate(clients)]
            for t in threads:
                t.start()
            t_done = q.command(data)
            for t in threads:
                t.join(timeout=60)
            for o in out:
                if not isinstance(o, int):
                    raise RuntimeError(f'QEMU VNC client: {o!r}')
            if nclients:
                lat.append((max(out) - t_done) / 1e6)
                nbytes.append(sum(c.bytes_in - b for c, b in zip(clients, before)) / nclients)
            else:
                time.sleep(0.01)
        vcpu1, other1 = thread_cpu(q.p.pid)
        for c in clients:
            c.close()
    finally:
        q.close()
        shutil.rmtree(tmp, ignore_errors=True)
    row = {'kind': kind, 'clients': nclients, 'updates': updates,
           'vcpu_cpu_ms_per_update': (vcpu1 - vcpu0) * 1000 / updates,
           'other_cpu_ms_per_update': (other1 - other0) * 1000 / updates}
    if nclients:
        row.update({'latency_ms_median': sorted(lat)[len(lat) // 2], 'latency_ms_max': max(lat),
                    'bytes_per_update_per_client': sum(nbytes) / len(nbytes)})
    return row

"""The QEMU peer of the benchmarks: which named CPU model to give it.

`-cpu host` passes the host's MSRs through, and some KVMs refuse them
(PVM: "failed to set MSR 0x10a to 0x69", IA32_ARCH_CAPABILITIES), so QEMU
aborts before the guest runs. The peers run a named model instead, like
Parvis's own baseline models (docs/cpu.md): the first of the vendor's
candidates that QEMU starts with here.
"""
import subprocess
import time

CANDIDATES = {'AuthenticAMD': ['EPYC', 'qemu64'], 'GenuineIntel': ['Skylake-Server', 'Nehalem', 'qemu64']}


def host_vendor():
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('vendor_id'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return ''


def starts(model):
    """True if QEMU on KVM keeps running for a second with this model (-S: no guest code)."""
    cmd = ['qemu-system-x86_64', '-M', 'microvm', '-enable-kvm', '-cpu', model, '-m', '16M',
           '-nodefaults', '-no-user-config', '-display', 'none', '-S']
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    time.sleep(1)
    alive = p.poll() is None
    p.kill()
    _, err = p.communicate()
    return alive, (err.strip().splitlines() or [''])[0][:120]


def cpu_model():
    """(model, None) for the first candidate QEMU accepts, or (None, why none did)."""
    why = []
    for model in CANDIDATES.get(host_vendor(), ['qemu64']):
        ok, err = starts(model)
        if ok:
            return model, None
        why.append(f'-cpu {model}: {err or "exited"}')
    return None, '; '.join(why)

"""What a Linux guest's own boot log tells about the platform Parvis gives it.

Each check reads the kernel's console output (the kit kernel prints with
printk timestamps) and returns (ok, description, diagnostic).
"""
import datetime
import json
import os
import re


def reached_init(con):
    return 'Run /init as init process' in con


def check_memory(con, memory_mib):
    m = re.search(r'Memory: (\d+)K/(\d+)K available', con)
    if not m:
        return False, 'memory size seen by the guest', 'no "Memory:" line'
    total_k = int(m.group(2))
    # The e820 map gives all RAM but the legacy holes and the boot area.
    ok = memory_mib * 1024 * 0.95 <= total_k <= memory_mib * 1024
    return ok, f'guest sees {total_k // 1024} MiB of {memory_mib} MiB', m.group(0)


def check_acpi(con):
    tables = [t for t in ('RSDP', 'XSDT', 'FACP', 'DSDT', 'APIC') if re.search(rf'ACPI: {t} ', con)]
    # What ACPICA and Linux print about tables they dislike (not "Early table
    # checksum verification disabled", which is normal).
    complaints = [l for l in con.splitlines()
                  if re.search(r'ACPI (BIOS )?(Error|Warning)|Incorrect checksum|ACPI: .*\b(invalid|bad)\b',
                               l, re.IGNORECASE)]
    ok = len(tables) == 5 and not complaints
    return ok, 'ACPI tables accepted without complaint', f'tables {tables}\n' + '\n'.join(complaints)


# What Linux prints when the platform contradicts itself: FW_BUG, FW_WARN and
# FW_INFO (include/linux/printk.h), and the CPU checks that use them
# (arch/x86/kernel/cpu/amd.c's "TSC doesn't count with P0 frequency!").
FIRMWARE_COMPLAINT = re.compile(r'\[Firmware (Bug|Warn|Info)\]', re.IGNORECASE)


def check_firmware_clean(con):
    bad = [l for l in con.splitlines() if FIRMWARE_COMPLAINT.search(l)]
    return not bad, 'no [Firmware Bug]/[Firmware Warn]/[Firmware Info] line from the guest', '\n'.join(bad[:20])


# What the guest kernel prints when it finds a fault of its own or of the
# platform under it: WARN() and BUG() (include/asm-generic/bug.h, lib/bug.c:
# "WARNING: CPU: N PID: N at", "kernel BUG at", "BUG: ..."), oopses
# (arch/x86/kernel/dumpstack.c), the stack dumps that go with them, the
# soft/hard lockup watchdog (kernel/watchdog.c), RCU stalls
# (kernel/rcu/tree_stall.h) and hung tasks (kernel/hung_task.c). A kernel general
# protection fault comes with its Oops; a user-space one ("traps: init[1] general
# protection fault") is how init dies on PVM, and is no fault of the kernel.
GUEST_FAULT = re.compile(
    r'------------\[ cut here \]------------|WARNING: CPU: \d+ PID: \d+ at |\bkernel BUG at |'
    r'\bBUG: |\bOops\b|\bCall Trace:|soft lockup|hard LOCKUP|'
    r'rcu: INFO: \S+ (self-)?detected stalls?|rcu_\w+ (self-)?detected stall|'
    r'blocked for more than \d+ seconds|Kernel panic')
# Where init cannot run (PVM: no system calls from guest user space, docs/pvm.md),
# init dies and the kernel panics with this cause (kernel/exit.c, do_exit of init).
INIT_PANIC = 'Kernel panic - not syncing: Attempted to kill init!'

# The worker's counters of what went wrong, by path in its status JSON
# (docs/control.md) and --exit-stats (docs/vmwp.md): each must be zero after
# a boot, unless the test provoked it (then exactly what it provoked).
HV_ERRORS = ('hypercall_failed', 'hypercall_unknown', 'messages_dropped', 'interrupt_errors',
             'guest_errors')
VMBUS_ERRORS = ('bad_messages', 'gpadl_errors', 'open_errors')


def error_counters(status=None, stats=None):
    """{name: value} of every error counter in a status (or --exit-stats) JSON."""
    out = {}
    for n in HV_ERRORS:
        if stats and n in stats.get('hv', {}):
            out['hv.' + n] = stats['hv'][n]
    boots = [status] if status else []
    if stats:
        boots += stats.get('boot_status') or []
    for b, st in enumerate(boots):
        tag = f'boot{b}.' if len(boots) > 1 else ''
        v = (st or {}).get('vmbus') or {}
        for n in VMBUS_ERRORS:
            if n in v.get('counters', {}):
                out[f'{tag}vmbus.{n}'] = out.get(f'{tag}vmbus.{n}', 0) + v['counters'][n]
        for c in v.get('channels', []):
            out[f'{tag}vmbus.{c.get("name")}.bad_packets'] = c.get('bad_packets', 0)
        for c in ((st or {}).get('storage') or {}).get('controllers', []):
            pre = f'{tag}storage{c.get("controller")}'
            out[pre + '.bad_packets'] = c.get('bad_packets', 0)
            out[pre + '.protocol_errors'] = c.get('protocol_errors', 0)
            for ch in c.get('channels', []):
                out[f'{pre}.channel{ch.get("subchannel_index")}.bad_packets'] = ch.get('bad_packets', 0)
            for d in c.get('disks', []):
                out[f'{pre}.lun{d.get("lun")}.errors_io'] = d.get('errors_io', 0)
        for n in (st or {}).get('network') or []:
            drops = n.get('drops') or {}
            for k in ('bad_packets', 'bad_sections', 'bad_releases'):
                out[f'{tag}network.{n.get("id")}.{k}'] = drops.get(k, 0)
    return out


def check_guest_health(con, status=None, stats=None, provoked=None, init_panic=False):
    """The guest kernel logged no fault of its own, and the worker counted no error.

    con: the boot's console; status: a control-socket status of it; stats: the
    worker's --exit-stats JSON (the hv counters, and each boot's status at its
    stop). At least one of status/stats is needed: a boot whose counters nobody
    read is not healthy. provoked: {counter: exact value} for errors the test
    caused on purpose. init_panic: init cannot run (PVM), so each boot's log
    ends in the panic INIT_PANIC; what follows it in that boot is not a fault.
    """
    provoked = provoked or {}
    faults = []
    for boot in re.split(r'(?=Linux version )', con):
        if init_panic and INIT_PANIC in boot:
            boot = boot[:boot.index(INIT_PANIC)]
        faults += [l for l in boot.splitlines() if GUEST_FAULT.search(l)]
    counters = error_counters(status, stats)
    bad = {k: v for k, v in counters.items() if v != provoked.get(k, 0)}
    missing = [k for k in provoked if k not in counters]
    ok = not faults and not bad and not missing and bool(counters)
    return ok, 'guest health: no WARN/BUG/Oops/Call Trace/lockup/stall/hung task, error counters ' + \
        (f'as provoked ({provoked})' if provoked else 'zero'), '\n'.join(
            faults[:20] + [f'{k} = {v}' for k, v in bad.items()] + [f'{k}: not reported' for k in missing] +
            ([] if counters else ['no error counters: neither a status nor --exit-stats']))


def check_init_panic(con):
    """PVM: the one panic is init's death, not any other (a VMBus BUG after "Run /init" too)."""
    panics = [l for l in con.splitlines() if 'Kernel panic' in l]
    ok = len(panics) >= 1 and all(INIT_PANIC in l for l in panics)
    return ok, 'the kernel panicked because init died ("Attempted to kill init"), nothing else', \
        '\n'.join(panics) or 'no panic'


def check_serial(con):
    ok = re.search(r'ttyS0 at I/O 0x3f8 \(irq = 4, base_baud = \d+\) is a 16550A', con) is not None
    return ok, 'COM1 detected as a 16550A on IRQ 4', ''


def check_com2(con):
    ok = re.search(r'ttyS1 at I/O 0x2f8 \(irq = 3, base_baud = \d+\) is a 16550A', con) is not None
    return ok, 'COM2 detected as a 16550A on IRQ 3', '\n'.join(l for l in con.splitlines() if 'ttyS' in l)


def check_rtc(con, started_utc):
    m = re.search(r'rtc_cmos \S+: setting system clock to (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d) UTC', con)
    if not m:
        return False, 'guest clock set from the CMOS RTC', 'no rtc_cmos line'
    guest = datetime.datetime.fromisoformat(m.group(1)).replace(tzinfo=datetime.timezone.utc)
    # Read during the boot: after the start, at most the boot's length later.
    ok = started_utc - datetime.timedelta(seconds=5) <= guest <= datetime.datetime.now(
        datetime.timezone.utc) + datetime.timedelta(seconds=5)
    return ok, 'guest clock set from the CMOS RTC (host UTC time)', m.group(0)


def check_cpus(con, n):
    ok = re.search(rf'smp: Brought up 1 node, {n} CPUs?', con) is not None
    return ok, f'{n} CPU(s) brought up', ''


def check_pci(con):
    ok = 'PCI host bridge to bus 0000:00' in con and 'pci 0000:00:00.0: [' in con
    return ok, 'PCI host bridge found through ACPI, bus 0 enumerated', ''


# --- Hyper-V (src/hv/, docs/hyperv.md) -----------------------------------------

# What src/hv/cpuid.c advertises: CPUID 0x40000003 EAX/EBX/EDX and 0x40000004 EAX.
# Low: VP run time, reference counter, SynIC, hypercall MSRs, VP index, reference
# TSC, frequency MSRs. High: PostMessages, SignalEvents. Hints: relaxed timing,
# deprecating auto-EOI. Misc: frequency MSRs available.
HV_PRIVILEGES_LOW, HV_PRIVILEGES_HIGH, HV_HINTS, HV_MISC = 0xA67, 0x30, 0x220, 0x100
# KVM's LAPIC timer counts at 1 GHz; Linux logs HV_X64_MSR_APIC_FREQUENCY / HZ.
LAPIC_HZ = 1000000000


def host_tsc_khz():
    """The TSC frequency KVM gives a new vCPU (KVM_GET_TSC_KHZ), or None."""
    import fcntl
    kvm = vm = vcpu = -1
    try:
        kvm = os.open('/dev/kvm', os.O_RDWR)
        vm = fcntl.ioctl(kvm, 0xAE01, 0)        # KVM_CREATE_VM
        vcpu = fcntl.ioctl(vm, 0xAE41, 0)       # KVM_CREATE_VCPU
        return fcntl.ioctl(vcpu, 0xAEA3, 0)     # KVM_GET_TSC_KHZ
    except OSError:
        return None
    finally:
        for fd in (vcpu, vm, kvm):
            if fd >= 0:
                os.close(fd)


def check_hyperv_detected(con):
    ok = 'Hypervisor detected: Microsoft Hyper-V' in con and \
        'Booting paravirtualized kernel on Hyper-V' in con
    return ok, 'Linux detected Microsoft Hyper-V', '\n'.join(
        l for l in con.splitlines() if 'ypervisor' in l or 'Hyper-V' in l)


def check_hyperv_features(con):
    m = re.search(r'Hyper-V: privilege flags low 0x([0-9a-f]+), high 0x([0-9a-f]+), '
                  r'hints 0x([0-9a-f]+), misc 0x([0-9a-f]+)', con)
    want = (HV_PRIVILEGES_LOW, HV_PRIVILEGES_HIGH, HV_HINTS, HV_MISC)
    ok = m is not None and tuple(int(g, 16) for g in m.groups()) == want
    return ok, 'Hyper-V privileges, hints and features as advertised (0x%x, 0x%x, 0x%x, 0x%x)' % want, \
        m.group(0) if m else 'no "Hyper-V: privilege flags" line'


def check_hyperv_clean(con):
    bad = [l for l in con.splitlines()
           if re.search(r'Hyper-V: .*(fail|error)|hv_vmbus: .*(fail|error)|hyperv.*(fail|error)|'
                        r'unchecked MSR access|unsupported MSR|x86/hyperv: .*not available', l,
                        re.IGNORECASE)]
    return not bad, 'no Hyper-V failure, no unchecked MSR access', '\n'.join(bad)


def check_hyperv_clocksource(con):
    ok = 'clocksource: Switched to clocksource hyperv_clocksource_tsc_page' in con
    return ok, 'clocksource: the Hyper-V reference TSC page', '\n'.join(
        l for l in con.splitlines() if 'clocksource' in l)


def check_hyperv_frequencies(con):
    """TSC and LAPIC frequencies from the TLFS frequency MSRs, no calibration."""
    calibration = [l for l in con.splitlines()
                   if re.search(r'calibrat(e|ion) against PIT|PMTIMER reference calibration|'
                                r'Fast TSC calibration|TSC: PIT calibration|'
                                r'Refined TSC clocksource calibration', l)]
    # Without TSC invariance (not promised: src/hv/cpuid.c) Linux marks the TSC
    # unstable "due to running on Hyper-V"; any other reason would be a problem.
    unstable = [l for l in con.splitlines() if 'Marking TSC unstable' in l and 'running on Hyper-V' not in l]
    m = re.search(r'tsc: Detected (\d+)\.(\d{3}) MHz processor', con)
    khz = host_tsc_khz()
    freq_ok = m is not None and (khz is None or int(m.group(1)) * 1000 + int(m.group(2)) == khz)
    lapic = re.search(r'Hyper-V: LAPIC Timer Frequency: 0x([0-9a-f]+)', con)
    lapic_ok = lapic is not None and LAPIC_HZ % int(lapic.group(1), 16) == 0 and \
        LAPIC_HZ // int(lapic.group(1), 16) in (100, 250, 300, 1000)
    ok = not calibration and not unstable and freq_ok and lapic_ok
    return ok, 'TSC (%s kHz, as KVM gives it) and LAPIC frequencies from the frequency MSRs, no calibration' \
        % khz, '\n'.join(calibration + unstable + [m.group(0) if m else 'no "tsc: Detected" line',
                                                   lapic.group(0) if lapic else 'no LAPIC frequency line'])


def check_hyperv_exits(stats, vcpus):
    """What the guest did in src/hv (the worker's --exit-stats), boot by boot summed."""
    hv = stats.get('hv', {})
    reads, writes = hv.get('msr_reads', {}), hv.get('msr_writes', {})
    ok = (writes.get('0x40000000', 0) >= 1 and writes.get('0x40000001', 0) >= 1 and
          # hyperv_init reads it, then hv_acpi_init's hv_is_hyperv_initialized() does
          reads.get('0x40000001', 0) >= 2 and
          reads.get('0x40000002', 0) >= vcpus and writes.get('0x40000021', 0) >= 1 and
          # every #GP was for an MSR outside the Hyper-V range (KVM's unknown MSRs)
          hv.get('msr_gp', -1) == hv.get('msr_other', -2) and hv.get('guest_errors', -1) == 0)
    return ok, 'guest OS id and hypercall page set, VP index read on every CPU, TSC page on, no #GP in the Hyper-V range', \
        json.dumps(hv, indent=1)

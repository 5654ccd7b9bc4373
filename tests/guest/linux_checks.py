"""What a Linux guest's own boot log tells about the platform Parvis gives it.

Each check reads the kernel's console output (the kit kernel prints with
printk timestamps) and returns (ok, description, diagnostic).
"""
import datetime
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
                  if re.search(r'ACPI (BIOS )?(Error|Warning)|Incorrect checksum|ACPI: .*\b(invalid|bad)\b|'
                               r'\[Firmware Bug\]', l, re.IGNORECASE)]
    ok = len(tables) == 5 and not complaints
    return ok, 'ACPI tables accepted without complaint', f'tables {tables}\n' + '\n'.join(complaints)


def check_serial(con):
    ok = re.search(r'ttyS0 at I/O 0x3f8 \(irq = 4, base_baud = \d+\) is a 16550A', con) is not None
    return ok, 'COM1 detected as a 16550A on IRQ 4', ''


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

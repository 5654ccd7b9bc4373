#!/usr/bin/env python3
"""Boots the kit kernel on 1 vCPU (COM1 the console, COM2 to a file) and checks
what its own log shows.

On hosts without hardware virtualization (PVM) guest user space cannot run:
the kernel reaches "Run /init", init dies, panic=1 reboots through the ACPI
reset register, and the worker (--no-reboot) exits 0. Where user space runs,
the kit's /init prints its marker and powers off.
"""
import datetime
import json
import os
import tempfile

import linux_checks as lc
from parvis_test import Tap, Worker, host_is_pvm, kit, kvm_available, skip_all

if not kvm_available():
    skip_all('no /dev/kvm')
k = kit()
if not k:
    skip_all('guest kit not built (tools/guest-kit/build.sh)')
vmlinux, initramfs, cmdline = k
tap = Tap()
tmp = tempfile.mkdtemp(prefix='parvis-boot-')
memory = 128
stats = os.path.join(tmp, 'stats.json')
started = datetime.datetime.now(datetime.timezone.utc)
w = Worker(['--kernel', vmlinux, '--initrd', initramfs, '--memory', f'{memory}M', '--cpus', '1',
            '--cmdline', cmdline + ' reboot=acpi parvis.run=true', '--serial',
            'file:' + os.path.join(tmp, 'console'), '--com2', 'file:' + os.path.join(tmp, 'com2'),
            '--no-reboot', '--exit-stats', stats],
           os.path.join(tmp, 'console'), os.path.join(tmp, 'stderr'))
rc = w.wait(timeout=1500)
con, err = w.console(), w.stderr()
tap.ok(*lc.check_firmware_clean(con))
w.close()
s = json.load(open(stats)) if os.path.exists(stats) else {}
tap.ok(*lc.check_guest_health(con, stats=s, init_panic=host_is_pvm()))

tap.ok(rc == 0, 'worker exits 0 after the guest reboots (--no-reboot)', f'exit {rc}\n{err}\n{con[-3000:]}')
tap.ok(lc.reached_init(con), 'kernel reached "Run /init"', con[-3000:])
for ok, desc, diag in (lc.check_memory(con, memory), lc.check_acpi(con), lc.check_serial(con), lc.check_com2(con),
                       lc.check_rtc(con, started), lc.check_cpus(con, 1), lc.check_pci(con)):
    tap.ok(ok, desc, diag)
# Every VM is a Hyper-V child partition (src/hv/, docs/hyperv.md). VMBus has no
# ACPI device yet: hv_vmbus finds none and returns at once, the boot goes on.
for ok, desc, diag in (lc.check_hyperv_detected(con), lc.check_hyperv_features(con),
                       lc.check_hyperv_clean(con), lc.check_hyperv_clocksource(con),
                       lc.check_hyperv_frequencies(con),
                       lc.check_hyperv_exits(s, 1)):
    tap.ok(ok, desc, diag)
if host_is_pvm():
    tap.ok(*lc.check_init_panic(con))
    tap.ok('the guest reset' in err, 'init cannot run on PVM: panic=1 rebooted through the ACPI reset register',
           err)
    tap.ok(s.get('exits', {}).get('completed_int3', 0) >= 1,
           "the worker completed the guest's int3 self-test", json.dumps(s))
else:
    tap.ok('PARVIS-GUEST-UP' in con and 'the guest powered off' in err,
           "guest user space ran the kit's /init, which powered off", con[-2000:])
    tap.skip('int3 completion', 'hardware virtualization runs int3 itself')
tap.done()

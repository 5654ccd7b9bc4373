#!/bin/bash
# The README's demo: on a fresh Debian 12 machine, installs what is needed,
# builds Parvis and the guest kit (the kit kernel takes minutes the first
# time, then comes from the cache), and boots the demo VM with its serial
# console on this terminal. Ctrl-A x turns the VM off.
#
# On hosts with hardware virtualization the kit's busybox user space runs
# (a shell on the console); on PVM hosts (research: shared/research/PVM-GROUND.md)
# the guest kernel boots to "Run /init" and, since user space cannot make
# system calls there, panics and restarts: Ctrl-A x to leave.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

tools/setup.sh
[[ -d build ]] || meson setup build >/dev/null
ninja -C build >/dev/null
echo "demo: building the guest kit (cached after the first time)..." >&2
eval "$(tools/guest-kit/build.sh)"
echo "demo: booting: 2 vCPUs, 256 MiB, kit kernel; Ctrl-A x turns the VM off" >&2
exec build/src/vmwp/parvis-vmwp --kernel "$KIT_VMLINUX" --initrd "$KIT_INITRAMFS" \
	--cmdline "$KIT_CMDLINE parvis.run=sh" --memory 256M --cpus 2 --serial stdio "$@"

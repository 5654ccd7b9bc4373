#!/bin/bash
# The README's demo: on a fresh Debian 12 machine, installs what is needed,
# builds Parvis and the guest kit (the kit kernel takes minutes the first
# time, then comes from the cache), starts the management service
# (parvis-vmms) in the background on a temporary state directory, creates
# the demo VM with `parvis new-vm`, starts it and attaches this terminal to
# its serial console with `parvis console`. Ctrl-] detaches; the script then
# turns the VM off, removes its switch and stops the service.
#
# The demo VM has a synthetic network adapter on a NAT switch, Hyper-V's
# Default Switch (docs/switches.md): the service's dnsmasq gives the guest an
# address (the guest kernel asks with ip=dhcp) and the host masquerades it out
# of its own uplink.
#
# The demo VM boots the kit kernel from the kit's Debian root disk (bookworm,
# debootstrap from Debian's archive on the first run), converted to a
# dynamic VHDX by `parvis vhd convert` and attached to the synthetic SCSI
# controller: the kernel finds it through storvsc and mounts /dev/sda1
# read-write. On hosts with hardware virtualization Debian's shell runs as
# init on the console; on PVM hosts (shared/research/PVM-GROUND.md) user
# space cannot make system calls, so init dies at once and the kernel
# panics and restarts: Ctrl-] to leave.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

tools/setup.sh
[[ -d build ]] || meson setup build >/dev/null
ninja -C build >/dev/null
echo "demo: building the guest kit (cached after the first time)..." >&2
eval "$(tools/guest-kit/build.sh --rootdisk)"

state=$(mktemp -d /tmp/parvis-demo.XXXXXX)
export PARVIS_SOCKET="$state/vmms.sock"
parvis=build/src/cli/parvis
# --web: the VMs' screens in a browser (docs/console.md), on loopback port 6080.
build/src/vmms/parvis-vmms --state-dir "$state/state" --socket "$PARVIS_SOCKET" \
	--web 127.0.0.1:6080 2>"$state/vmms.log" &
vmms=$!
cleanup() {
	"$parvis" stop-vm demo --turn-off >/dev/null 2>&1 || true
	"$parvis" remove-vmswitch "Default Switch" --force >/dev/null 2>&1 || true
	kill "$vmms" 2>/dev/null || true
	wait "$vmms" 2>/dev/null || true
	echo "demo: service log and VM files in $state" >&2
}
trap cleanup EXIT
for _ in $(seq 100); do [[ -S "$PARVIS_SOCKET" ]] && break; sleep 0.05; done

echo "demo: converting the Debian root disk to VHDX..." >&2
"$parvis" vhd convert "$KIT_ROOTDISK" "$state/debian.vhdx" --format vhdx --dynamic
"$parvis" new-vm demo --memory 512M --cpus 2 --kernel "$KIT_VMLINUX" --disk "$state/debian.vhdx" \
	--cmdline "$KIT_CMDLINE console=tty0 console=ttyS0 root=/dev/sda1 rw rootwait init=/bin/bash ip=dhcp" "$@"
"$parvis" new-vmswitch "Default Switch" --switch-type nat
"$parvis" add-vmnetworkadapter demo --switch "Default Switch"
"$parvis" start-vm demo
"$parvis" get-vm
"$parvis" get-vmnetworkadapter demo
echo "demo: its screen: open $("$parvis" connect demo --web) in a browser," >&2
echo "      or: $parvis get-vmscreenshot demo screen.png; vncviewer $("$parvis" connect demo)" >&2
echo "demo: attaching the console; Ctrl-] detaches (the VM is then turned off)" >&2
"$parvis" console demo

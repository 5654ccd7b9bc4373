#!/usr/bin/env bash
# build-rootdisk.sh OUTPUT: write the kit's Debian root disk to OUTPUT: a raw
# disk image (sparse, 1 GiB) with an MBR partition table and one Linux
# partition (1 MiB aligned) holding an ext4 file system labelled
# "parvis-root", made with `mke2fs -d` from a Debian bookworm tree that
# debootstrap fetches from Debian's archive. Tests and the demo convert it
# to VHDX with `parvis vhd convert` (the kit keeps the raw image so that the
# conversion itself is exercised by every user of it).
#
# The tree: debootstrap's minbase plus systemd (an init for hosts where guest
# user space runs), hyperv-daemons (KVP, VSS and file-copy daemons, as on
# Hyper-V guests) and fio (the in-guest storage check). Root has no password
# and a shell is started on the serial console (ttyS0), so the demo VM lands
# at a prompt; nothing listens on a network.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly SUITE=bookworm
readonly MIRROR=http://deb.debian.org/debian
readonly INCLUDE=systemd-sysv,udev,hyperv-daemons,fio,e2fsprogs,util-linux,procps
readonly DISK_SIZE_MIB=1024
readonly PART_START_MIB=1

[[ $# -eq 1 ]] || die "usage: build-rootdisk.sh OUTPUT"
out=$1
[[ $(id -u) -eq 0 ]] || die "debootstrap needs root (run as root or with sudo)"
command -v debootstrap >/dev/null || die "debootstrap is not installed (see $KIT_DIR/packages.txt)"

work=$(mktemp -d "${out}.work.XXXXXX")
trap 'umount -R "$work/root/proc" 2>/dev/null || true; rm -rf -- "$work"' EXIT
logfile=$work/build.log
root=$work/root

log "debootstrap $SUITE (minbase + $INCLUDE) from $MIRROR; log: $logfile"
kit_run_logged "$logfile" debootstrap --variant=minbase --include="$INCLUDE" \
    "$SUITE" "$root" "$MIRROR" || die "debootstrap failed"

log "configuring the tree"
printf 'parvis-guest\n' >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 parvis-guest\n' >"$root/etc/hosts"
printf '# <device> <mount point> <type> <options> <dump> <pass>\nLABEL=parvis-root / ext4 defaults 0 1\n' \
    >"$root/etc/fstab"
chroot "$root" passwd -d root >>"$logfile" 2>&1 || die "cannot clear root's password"
# A root shell on the serial console, without a login prompt.
mkdir -p "$root/etc/systemd/system/serial-getty@ttyS0.service.d"
cat >"$root/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf" <<'UNIT'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %I $TERM
UNIT
chroot "$root" apt-get clean >>"$logfile" 2>&1 || true
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/debconf/*-old "$root"/var/log/*.log

log "writing the disk image (MBR, one ext4 partition)"
img=$work/disk.img
truncate -s "${DISK_SIZE_MIB}M" "$img"
printf 'label: dos\nstart=%dMiB, type=83, bootable\n' "$PART_START_MIB" |
    kit_run_logged "$logfile" sfdisk --quiet "$img" || die "sfdisk failed"
part_kib=$(((DISK_SIZE_MIB - PART_START_MIB) * 1024))
kit_run_logged "$logfile" mke2fs -q -F -t ext4 -L parvis-root -d "$root" \
    -E offset=$((PART_START_MIB << 20)) "$img" "${part_kib}k" || die "mke2fs failed"
mv -f "$img" "$out"
log "root disk: $out"

#!/usr/bin/env bash
# build.sh [--stock] [--rootdisk]: build (or find in the cache) everything a
# Parvis test guest needs, and print it as shell assignments:
#   KIT_VMLINUX=...  KIT_INITRAMFS=...  KIT_CMDLINE='...'
# with --stock, Debian's stock kernel as well:
#   STOCK_VMLINUZ=...  STOCK_INITRAMFS=...  STOCK_CMDLINE='...'
# and with --rootdisk, the Debian root disk (a raw image, see build-rootdisk.sh):
#   KIT_ROOTDISK=...
# Use as:  eval "$(tools/guest-kit/build.sh)"
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The kit initramfs, cached like the kernels (it is reproducible, so its
# inputs name it); prints its path.
kit_initramfs() {
    local hash final
    hash=$(kit_hash "$KIT_DIR/init" "$KIT_DIR/build-initramfs.sh" "$KIT_DIR/lib.sh" \
        "busybox-static $(kit_pkg_version busybox-static)" \
        "hyperv-daemons $(kit_pkg_version hyperv-daemons)")
    final=$(kit_cache_root)/kit-initramfs-$hash.cpio
    [[ -f $final ]] || "$KIT_DIR/build-initramfs.sh" "$final"
    printf '%s\n' "$final"
}

# The Debian root disk, cached by the hash of its recipe and of debootstrap's
# version (the archive moves on, but a cached disk stays a valid bookworm
# system); prints its path. Callers copy or convert it, never write it.
kit_rootdisk() {
    local hash final
    hash=$(kit_hash "$KIT_DIR/build-rootdisk.sh" "$KIT_DIR/lib.sh" \
        "debootstrap $(kit_pkg_version debootstrap)")
    final=$(kit_cache_root)/kit-rootdisk-$hash.img
    if [[ ! -f $final ]]; then
        mkdir -p "$(kit_cache_root)"
        kit_lock "$final.lock"
        [[ -f $final ]] || "$KIT_DIR/build-rootdisk.sh" "$final"
    fi
    printf '%s\n' "$final"
}

# assign NAME VALUE: print NAME='VALUE', quoted for sh.
assign() {
    local quoted=${2//\'/\'\\\'\'}
    printf "%s='%s'\n" "$1" "$quoted"
}

main() {
    local stock=0 rootdisk=0 arg
    for arg in "$@"; do
        case $arg in
        --stock) stock=1 ;;
        --rootdisk) rootdisk=1 ;;
        *) die "usage: build.sh [--stock] [--rootdisk]" ;;
        esac
    done

    # Everything is computed before anything is printed: a failure prints
    # no partial set of assignments.
    local vmlinux initramfs cmdline stock_dir='' stock_cmdline='' rootdisk_img=''
    vmlinux=$("$KIT_DIR/build-kit-kernel.sh")
    initramfs=$(kit_initramfs)
    cmdline=$("$KIT_DIR/cmdline.sh")
    if ((stock)); then
        stock_dir=$("$KIT_DIR/fetch-stock-kernel.sh")
        stock_cmdline=$("$KIT_DIR/cmdline.sh" "$KIT_DIR/cmdline-stock.txt")
    fi

    if ((rootdisk)); then
        rootdisk_img=$(kit_rootdisk)
    fi

    assign KIT_VMLINUX "$vmlinux"
    assign KIT_INITRAMFS "$initramfs"
    assign KIT_CMDLINE "$cmdline"
    if ((stock)); then
        assign STOCK_VMLINUZ "$stock_dir/vmlinuz"
        assign STOCK_INITRAMFS "$stock_dir/initramfs.cpio"
        assign STOCK_CMDLINE "$stock_cmdline"
    fi
    if ((rootdisk)); then
        assign KIT_ROOTDISK "$rootdisk_img"
    fi
}

main "$@"

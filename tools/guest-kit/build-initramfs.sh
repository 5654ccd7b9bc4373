#!/usr/bin/env bash
# build-initramfs.sh OUT.cpio [--modules-from DIR] [--program PATH]...:
# build the guest-kit initramfs.
#
# An uncompressed newc cpio (the guest kernel unpacks it without a
# decompressor) holding busybox-static as /bin/busybox with a symlink per
# applet, the kit's /init and a /dev/console node. With --modules-from, it
# also carries the kernel modules in DIR, a directory laid out like
# /lib/modules/<version> (its name is the version), with modules.dep made
# by depmod, and the list of modules /init loads (stock-modules.txt). Each
# --program PATH adds a dynamically linked program of this host (e.g.
# /usr/bin/fio) with every shared library it needs, at the same paths.
# The archive is reproducible: the same inputs give the same bytes.
# Must run as root to create /dev/console (without it, /init still
# reopens the console once devtmpfs is mounted).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly BUSYBOX=/bin/busybox

# Scratch paths, global so that the EXIT trap can see them.
stage='' partial=''
trap 'rm -rf -- ${stage:+"$stage"} ${partial:+"$partial"}' EXIT

usage() { die "usage: build-initramfs.sh OUT.cpio [--modules-from DIR] [--program PATH]..."; }

# populate_root ROOT: busybox, its applet links, /init, mount points.
populate_root() {
    local root=$1 applet
    mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,root,etc,lib/modules}
    install -m 0755 "$BUSYBOX" "$root/bin/busybox"
    # What `busybox --install -s` would do at boot, done here once.
    while IFS= read -r applet; do
        [[ -e $root/$applet ]] || ln -s /bin/busybox "$root/$applet"
    done < <("$BUSYBOX" --list-full)
    install -m 0755 "$KIT_DIR/init" "$root/init"
    if ((EUID == 0)); then
        mknod -m 0600 "$root/dev/console" c 5 1
    else
        log "not root: no /dev/console node (the kernel will warn once)"
    fi
}

# add_program ROOT PROGRAM: PROGRAM (an absolute path on this host, from a
# Debian package) with the dynamic loader and every shared library ldd names,
# each at the same path in ROOT. The loader needs no ld.so.cache: Debian's
# default search path covers /lib/x86_64-linux-gnu and /usr/lib/..., and
# libraries in other directories (e.g. ceph/) are found through their users'
# RUNPATH, which the same paths keep valid.
add_program() {
    local root=$1 program=$2 lib
    [[ -x $program ]] || die "$program missing (see $KIT_DIR/packages.txt)"
    install -D -m 0755 "$program" "$root$program"
    while read -r lib; do
        [[ -e $root$lib ]] || install -D -m 0755 "$lib" "$root$lib"
    done < <(ldd "$program" | grep -o '/[^ ]*')
}

# add_kvp_daemon ROOT: hv_kvp_daemon (hyperv-daemons), its shared libraries
# and helper scripts. Linux's KVP driver only relays: without the daemon
# the guest never answers the host's KVP requests.
add_kvp_daemon() {
    local root=$1
    [[ -x /usr/sbin/hv_kvp_daemon ]] ||
        die "/usr/sbin/hv_kvp_daemon missing: apt-get install hyperv-daemons"
    add_program "$root" /usr/sbin/hv_kvp_daemon
    mkdir -p "$root/usr/libexec/hypervkvpd" "$root/var/lib/hyperv"
    cp -a /usr/libexec/hypervkvpd/. "$root/usr/libexec/hypervkvpd/"
}

# add_modules ROOT DIR: copy the modules of DIR into ROOT, index them, and
# tell /init which ones to load (stock-modules.txt).
add_modules() {
    local root=$1 dir=$2 version
    version=$(basename "$dir")
    [[ -d $dir/kernel ]] || die "$dir does not look like /lib/modules/<version>"
    cp -a "$dir" "$root/lib/modules/$version"
    depmod -b "$root" "$version"
    mkdir -p "$root/etc/parvis"
    kit_stock_modules >"$root/etc/parvis/modules"
}

main() {
    local out='' modules='' program
    local -a programs=()
    while (($#)); do
        case $1 in
        --modules-from) (($# >= 2)) || usage; modules=$2; shift 2 ;;
        --program) (($# >= 2)) || usage; programs+=("$2"); shift 2 ;;
        -*) usage ;;
        *) [[ -z $out ]] || usage; out=$1; shift ;;
        esac
    done
    [[ -n $out ]] || usage

    # A dynamically linked busybox (package "busybox") would not run alone.
    [[ $(dpkg-query -S "$BUSYBOX" 2>/dev/null) == busybox-static:* ]] ||
        die "$BUSYBOX is not from busybox-static: apt-get install busybox-static"

    mkdir -p "$(dirname "$out")"
    stage=$(mktemp -d)
    # Written beside OUT.cpio, then renamed: readers never see half of it.
    partial=$(mktemp "$out.partial.XXXXXX")
    populate_root "$stage"
    add_kvp_daemon "$stage"
    [[ -z $modules ]] || add_modules "$stage" "$modules"
    for program in ${programs[@]+"${programs[@]}"}; do
        add_program "$stage" "$program"
    done

    # Fixed times and owners, sorted names: reproducible bytes.
    find "$stage" -exec touch -h -d @0 {} +
    (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort |
        cpio --quiet -o -H newc --owner=0:0 --reproducible) >"$partial"
    chmod 0644 "$partial"
    mv -f "$partial" "$out"
}

main "$@"

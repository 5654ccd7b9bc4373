#!/usr/bin/env bash
# fetch-stock-kernel.sh [OUTDIR]: Debian's stock kernel for Parvis guests on
# hosts with hardware virtualization.
#
# Downloads the linux-image-6.1.0-*-amd64 that linux-image-amd64 currently
# depends on (apt-get download: Debian's archive only), unpacks it, and
# keeps its vmlinuz (a bzImage), its config, the modules named in
# stock-modules.txt (Hyper-V guest drivers, drivers for Parvis's emulated
# devices, virtio-blk for the QEMU side of bench/storage) with every module
# they depend on, and an initramfs with them and the EXTRA_PACKAGES' programs
# (fio) (build-initramfs.sh). The result is cached under
#   $PARVIS_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/parvis)/stock-kernel-<hash>/
#     vmlinuz  config  initramfs.cpio  modules/<version>/...
# where <hash> covers the package name and version and the kit's scripts.
# Prints that directory on stdout; with OUTDIR, copies it there and prints
# OUTDIR instead. apt's package lists must be current (apt-get update).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly META_PKG=linux-image-amd64

# ---- EXTRA PACKAGES ------------------------------------------------------
# More of Debian's packages in the stock initramfs, as PACKAGE:PROGRAM: the
# program, as installed on this host by apt-get (tools/guest-kit/packages.txt),
# goes in with every shared library ldd names (build-initramfs.sh --program).
# Copied from the host rather than from `apt-get download`ed .debs: ldd gives
# the exact library closure (fio's is 63 files from 57 packages: ceph,
# gluster, ICU, ...), where apt-get download fetches no dependencies and
# would need a resolver of its own. Both come from Debian's archive.
#   fio  in-guest storage benchmark and check (bench/storage_qemu.py): its
#        io_uring and libaio engines are built in; with its libraries it
#        adds ~84 MB to the initramfs (libicudata alone is 31 MB), so give
#        the guest 512 MiB or more.
# The entries, the packages' installed versions and the libraries' resolved
# paths are part of the cache key.
readonly EXTRA_PACKAGES=(fio:/usr/bin/fio)

# What the EXTRA_PACKAGES bring in, for the cache key: each entry with its
# package's installed version, and the files ldd resolves for its program.
extra_packages_key() {
    local entry pkg program
    for entry in ${EXTRA_PACKAGES[@]+"${EXTRA_PACKAGES[@]}"}; do
        pkg=${entry%%:*} program=${entry#*:}
        printf '%s %s %s\n' "$pkg" "$(kit_pkg_version "$pkg")" "$program"
        [[ -x $program ]] || die "$program missing: apt-get install $pkg"
        ldd "$program" | grep -o '/[^ ]*' | xargs -r readlink -f | LC_ALL=C sort
    done
}

# The versioned kernel package linux-image-amd64 depends on right now.
resolve_kernel_package() {
    local pkg
    pkg=$(apt-cache depends --no-recommends --no-suggests "$META_PKG" 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n 1)
    [[ -n $pkg ]] || die "cannot resolve $META_PKG (run apt-get update?)"
    printf '%s\n' "$pkg"
}

candidate_version() {
    local v
    v=$(apt-cache policy "$1" | sed -n 's/^ *Candidate: //p')
    [[ -n $v && $v != '(none)' ]] || die "no installable version of $1"
    printf '%s\n' "$v"
}

# copy_module SRC DEST.ko: copy one module, decompressing it if needed, so
# that neither busybox's modprobe nor the guest kernel has to.
copy_module() {
    local src=$1 dest=$2
    mkdir -p "$(dirname "$dest")"
    case $src in
    *.ko.xz) xz -dc "$src" >"$dest" ;;
    *.ko) cp "$src" "$dest" ;;
    *) die "unexpected module file $src" ;;
    esac
}

# collect_modules ROOT VERSION DEST: copy the modules of stock-modules.txt and
# all they depend on (hid, scsi_transport_fc, vsock, drm, ...) from the
# unpacked package ROOT into DEST (laid out like /lib/modules/VERSION).
collect_modules() {
    local root=$1 version=$2 dest=$3 src=$1/lib/modules/$2
    local module deps line path
    depmod -b "$root" "$version"
    mkdir -p "$dest"
    for module in $(kit_stock_modules); do
        # "insmod <file>" for the module and each module it needs,
        # dependencies first ("builtin <name>" for built-in ones).
        deps=$(modprobe -d "$root" -S "$version" --show-depends "$module") ||
            die "module $module is not in the $version package"
        while IFS= read -r line; do
            [[ $line == insmod\ * ]] || continue
            path=${line#insmod }
            path=${path%% *}                 # drop module parameters, if any
            path=${path#"$src/"}
            [[ -e $dest/${path%.ko*}.ko ]] ||
                copy_module "$src/$path" "$dest/${path%.ko*}.ko"
        done <<<"$deps"
    done
    # depmod (at initramfs build time) wants these next to the modules.
    cp "$src"/modules.{order,builtin,builtin.modinfo} "$dest/"
}

# build_into WORK LOG PKG VERSION: download and unpack in WORK, with the
# tools' output in LOG; leave the result in WORK/out.
build_into() {
    local work=$1 logfile=$2 pkg=$3 version=$4
    local root=$work/root out=$work/out deb kver entry
    local -a programs=()
    mkdir -p "$root" "$out"

    log "downloading $pkg $version"
    # apt's _apt user must be able to write the download directory.
    chmod 0755 "$work"
    (cd "$work" && kit_run_logged "$logfile" apt-get download "$pkg=$version")
    deb=$(find "$work" -maxdepth 1 -name "${pkg}_*.deb" | head -n 1)
    [[ -n $deb ]] || die "apt-get download left no .deb for $pkg"

    log "unpacking $(basename "$deb")"
    dpkg-deb -x "$deb" "$root"
    kver=$(cd "$root/lib/modules" && ls)
    [[ -n $kver && $kver != *$'\n'* ]] || die "expected one kernel version in $deb"

    cp "$root/boot/vmlinuz-$kver" "$out/vmlinuz"
    cp "$root/boot/config-$kver" "$out/config"
    collect_modules "$root" "$kver" "$out/modules/$kver"
    log "building initramfs with $(find "$out/modules" -name '*.ko' | wc -l) modules"
    for entry in ${EXTRA_PACKAGES[@]+"${EXTRA_PACKAGES[@]}"}; do
        programs+=(--program "${entry#*:}")
    done
    "$KIT_DIR/build-initramfs.sh" "$out/initramfs.cpio" --modules-from "$out/modules/$kver" \
        ${programs[@]+"${programs[@]}"}
}

main() {
    (($# <= 1)) || die "usage: fetch-stock-kernel.sh [OUTDIR]"
    local outdir=${1:-} pkg version extra hash cache final
    pkg=$(resolve_kernel_package)
    version=$(candidate_version "$pkg")
    extra=$(extra_packages_key)
    hash=$(kit_hash "$pkg $version" "extra: $extra" \
        "$KIT_DIR/fetch-stock-kernel.sh" "$KIT_DIR/build-initramfs.sh" \
        "$KIT_DIR/init" "$KIT_DIR/lib.sh" "$KIT_DIR/stock-modules.txt")
    cache=$(kit_cache_root)
    final=$cache/stock-kernel-$hash
    mkdir -p "$cache"

    if [[ ! -f $final/initramfs.cpio ]]; then
        kit_lock "$final.lock"
        if [[ ! -f $final/initramfs.cpio ]]; then  # not built while we waited
            work=$(mktemp -d "$cache/stock-kernel-$hash.tmp.XXXXXX")
            # Outside the scratch directory, so that it outlives a failure.
            local logfile=$final.log
            : >"$logfile"
            build_into "$work" "$logfile" "$pkg" "$version"
            rm -f -- "$logfile"
            kit_publish "$work/out" "$final"
            log "done: $final"
        fi
    fi

    if [[ -n $outdir ]]; then
        mkdir -p "$outdir"
        cp -a "$final/." "$outdir/"
        (cd "$outdir" && pwd)
    else
        printf '%s\n' "$final"
    fi
}

# Scratch directory, global so that the EXIT trap can see it.
work=''
trap 'rm -rf -- ${work:+"$work"}' EXIT

main "$@"

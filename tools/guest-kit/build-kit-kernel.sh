#!/usr/bin/env bash
# build-kit-kernel.sh [OUTDIR]: build the Parvis kit kernel.
#
# Builds an uncompressed ELF vmlinux from Debian's unmodified
# linux-source-6.1 with tinyconfig + kit-kernel.config, and caches it under
#   $PARVIS_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/parvis)/kit-kernel-<hash>/
# with its .config, System.map and build.log; <hash> covers the config fragment, these
# scripts and the installed linux-source-6.1 version. A second run with the
# same inputs returns at once. Prints the path of vmlinux on stdout; with
# OUTDIR, copies the three files there and prints OUTDIR/vmlinux.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly SRC_PKG=linux-source-6.1
readonly SRC_TARBALL=/usr/src/linux-source-6.1.tar.xz
readonly FRAGMENT=$KIT_DIR/kit-kernel.config

# check_config FRAGMENT DOTCONFIG: every "CONFIG_X=v" line of the fragment
# must be in .config as is, and no "# CONFIG_X is not set" option may have
# ended up =y or =m (olddefconfig silently drops what it cannot satisfy).
check_config() {
    local fragment=$1 dotconfig=$2 line opt bad=0
    while IFS= read -r line; do
        if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=.*$ ]]; then
            opt=${BASH_REMATCH[1]}
            if ! grep -qxF -- "$line" "$dotconfig"; then
                log "config: $line did not survive olddefconfig;" \
                    "got: $(grep -E "^$opt=|^# $opt is not set" "$dotconfig" || echo absent)"
                bad=1
            fi
        elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
            opt=${BASH_REMATCH[1]}
            if grep -qE "^$opt=[ym]$" "$dotconfig"; then
                log "config: $opt must be off but is $(grep -E "^$opt=" "$dotconfig")" \
                    "(something selects it)"
                bad=1
            fi
        fi
    done <"$fragment"
    ((bad == 0)) || die "kit-kernel.config did not apply (options named above)"
}

# build_into DIR LOG: extract, configure and build in DIR, with the tools'
# output in LOG; leave vmlinux, .config and System.map in DIR/out.
build_into() {
    local work=$1 buildlog=$2 tree=$1/linux-source-6.1
    mkdir -p "$work/out"

    log "extracting $SRC_TARBALL"
    tar -xf "$SRC_TARBALL" -C "$work"
    [[ -d $tree ]] || die "$SRC_TARBALL did not contain linux-source-6.1/"

    log "configuring (tinyconfig + kit-kernel.config)"
    kit_run_logged "$buildlog" make -C "$tree" tinyconfig
    kit_run_logged "$buildlog" \
        env -C "$tree" scripts/kconfig/merge_config.sh -m .config "$FRAGMENT"
    kit_run_logged "$buildlog" make -C "$tree" olddefconfig
    check_config "$FRAGMENT" "$tree/.config"

    log "building vmlinux with $(nproc) jobs (6-9 minutes on 2 cores)"
    # Fixed user and host names keep the banner free of machine details.
    kit_run_logged "$buildlog" make -C "$tree" -j"$(nproc)" \
        KBUILD_BUILD_USER=parvis KBUILD_BUILD_HOST=guest-kit vmlinux

    cp "$tree/vmlinux" "$tree/.config" "$tree/System.map" "$work/out/"
}

main() {
    (($# <= 1)) || die "usage: build-kit-kernel.sh [OUTDIR]"
    local outdir=${1:-}

    [[ -r $SRC_TARBALL ]] || die "$SRC_TARBALL missing: apt-get install $SRC_PKG"
    local hash cache final
    hash=$(kit_hash "$FRAGMENT" "$KIT_DIR/build-kit-kernel.sh" "$KIT_DIR/lib.sh" \
        "$SRC_PKG $(kit_pkg_version "$SRC_PKG")")
    cache=$(kit_cache_root)
    final=$cache/kit-kernel-$hash
    mkdir -p "$cache"

    if [[ ! -f $final/vmlinux ]]; then
        kit_lock "$final.lock"
        if [[ ! -f $final/vmlinux ]]; then   # not built while we waited
            work=$(mktemp -d "$cache/kit-kernel-$hash.tmp.XXXXXX")
            # Outside the scratch directory, so that it outlives a failure.
            local buildlog=$final.log start=$SECONDS
            : >"$buildlog"
            build_into "$work" "$buildlog"
            mv "$buildlog" "$work/out/build.log"
            kit_publish "$work/out" "$final"
            log "built in $((SECONDS - start)) s: $final/vmlinux"
        fi
    fi

    if [[ -n $outdir ]]; then
        mkdir -p "$outdir"
        cp "$final/vmlinux" "$final/.config" "$final/System.map" "$outdir/"
        printf '%s\n' "$(cd "$outdir" && pwd)/vmlinux"
    else
        printf '%s\n' "$final/vmlinux"
    fi
}

# Scratch directory, global so that the EXIT trap can see it. The source
# tree is ~1.5 GB once built: never leave it behind.
work=''
trap 'rm -rf -- ${work:+"$work"}' EXIT

main "$@"

# lib.sh: helpers shared by the guest-kit scripts (sourced, not run).
# shellcheck shell=bash
#
# Conventions: progress and errors go to stderr prefixed with the script's
# name; stdout is kept for each script's result (a path or assignments).

# The directory holding the guest-kit scripts and data files.
KIT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly KIT_DIR

kit_prog=$(basename "$0" .sh)

log() { printf '%s: %s\n' "$kit_prog" "$*" >&2; }
die() { printf '%s: error: %s\n' "$kit_prog" "$*" >&2; exit 1; }

# Root of the build cache (artefacts are keyed by the hash of their inputs).
kit_cache_root() {
    printf '%s\n' "${PARVIS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/parvis}"
}

# Installed version of a Debian package; fails if it is not installed.
kit_pkg_version() {
    local v
    v=$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$1" 2>/dev/null) ||
        die "package $1 is not installed (see $KIT_DIR/packages.txt)"
    [[ $v == installed\ * ]] || die "package $1 is not installed"
    printf '%s\n' "${v#installed }"
}

# kit_hash ITEM...: sha256 over the named files' contents and literal
# strings. An ITEM naming an existing file contributes its contents, any
# other ITEM contributes itself; each is framed so that no two different
# lists can hash alike.
kit_hash() {
    local item
    for item in "$@"; do
        if [[ -f $item ]]; then
            printf 'file %s\n' "$(sha256sum <"$item" | cut -d' ' -f1)"
        else
            printf 'text %s\n' "$item"
        fi
    done | sha256sum | cut -d' ' -f1
}

# The names in stock-modules.txt, one per line, without comments.
kit_stock_modules() {
    sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$KIT_DIR/stock-modules.txt"
}

# kit_run_logged LOG CMD...: run CMD with all output appended to LOG; on
# failure show the end of LOG and return CMD's status.
kit_run_logged() {
    local logfile=$1 rc=0
    shift
    "$@" >>"$logfile" 2>&1 || rc=$?
    if ((rc != 0)); then
        log "command failed (status $rc): $*"
        tail -n 40 "$logfile" | sed 's/^/    /' >&2
        log "full log: $logfile"
    fi
    return "$rc"
}

# kit_publish TMPDIR FINALDIR: move a finished artefact directory into place
# atomically. If another run published the same key first, keep its copy.
kit_publish() {
    local tmp=$1 final=$2
    if ! mv -T "$tmp" "$final" 2>/dev/null; then
        [[ -d $final ]] || die "cannot move $tmp to $final"
        rm -rf -- "$tmp"
    fi
}

# kit_lock FILE: hold an exclusive lock on FILE until the script exits, so
# that two runs building the same artefact wait for each other.
kit_lock() {
    exec {kit_lock_fd}>"$1"
    flock "$kit_lock_fd"
}

#!/usr/bin/env bash
# cmdline.sh [FILE]: print the kit kernel's base command line on one line.
#
# Joins the options of FILE (default: cmdline.txt beside this script), one
# per line, dropping '#' comments and blank lines.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

(($# <= 1)) || die "usage: cmdline.sh [FILE]"
file=${1:-$KIT_DIR/cmdline.txt}
[[ -r $file ]] || die "cannot read $file"

options=()
while IFS= read -r line; do
    line=${line%%#*}
    read -r -a words <<<"$line"
    ((${#words[@]} <= 1)) || die "$file: more than one option on a line: $line"
    options+=("${words[@]}")
done <"$file"
((${#options[@]} > 0)) || die "$file holds no options"

printf '%s\n' "${options[*]}"

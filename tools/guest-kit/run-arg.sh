#!/usr/bin/env bash
# run-arg.sh COMMAND: print the kernel command-line word that makes the
# kit's /init run COMMAND, i.e. parvis.run= with COMMAND percent-encoded:
#   run-arg.sh 'echo hello; ls /sys/bus/vmbus/devices'
#   -> parvis.run=echo%20hello%3B%20ls%20/sys/bus/vmbus/devices
# Bytes outside [A-Za-z0-9._~/=,:+@-] are written as %XX (see ./init).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

(($# == 1)) || die "usage: run-arg.sh COMMAND"

# Byte by byte, whatever the locale's character set.
export LC_ALL=C
cmd=$1
encoded=''
for ((i = 0; i < ${#cmd}; i++)); do
    char=${cmd:i:1}
    case $char in
    [A-Za-z0-9._~/=,:+@-]) encoded+=$char ;;
    *) printf -v char '%%%02X' "'$char"; encoded+=$char ;;
    esac
done
printf 'parvis.run=%s\n' "$encoded"

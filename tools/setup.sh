#!/bin/bash
# Installs every Debian package Parvis needs (tools/packages.txt and
# tools/guest-kit/packages.txt), running apt-get only for what is missing.
# Idempotent; needs root (or sudo) the first time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

lists=("$here/packages.txt")
[[ -f $here/guest-kit/packages.txt ]] && lists+=("$here/guest-kit/packages.txt")
wanted=$(cat "${lists[@]}" |
	 sed -e 's/#.*//' -e 's/[[:space:]]\+$//' | awk 'NF {print $1}' | sort -u)
missing=()
for pkg in $wanted; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	[[ $status == "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]} == 0)); then
	exit 0
fi
sudo=""
[[ $(id -u) -eq 0 ]] || sudo=sudo
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

#!/usr/bin/env bash
# Build the module with DKMS against the installed Debian headers, as
# "dkms install" would for a user, in a scratch DKMS tree (nothing is
# installed), and check dkms.conf's version against the module's.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/kernel.sh
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' dkms.conf)
modver=$(sed -n 's/^#define CKPT_PIDS_MODULE_VERSION "\(.*\)"/\1/p' kmod/ckpt_pids.h)
if [[ $ver != "$modver" ]]; then
	echo "dkms-check: dkms.conf says $ver, kmod/ckpt_pids.h says $modver" >&2
	exit 1
fi
rel=$(kernel_release)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
src=$tmp/src/ckpt-nl-$ver
mkdir -p "$src" "$tmp/tree"
cp -r Kbuild dkms.conf kmod "$src/"
dkms build --dkmstree "$tmp/tree" --sourcetree "$tmp/src" -m ckpt-nl -v "$ver" -k "$rel" \
	--kernelsourcedir "$(kernel_kdir)" >"$tmp/log" 2>&1 || {
	cat "$tmp/log" >&2
	find "$tmp/tree" -name make.log -exec cat {} + >&2 || true
	exit 1
}
ko=$(find "$tmp/tree" -name 'ckpt_pids.ko*' | head -1)
[[ -n $ko ]] || { echo "dkms-check: no module built" >&2; exit 1; }
echo "dkms-check: built $(basename "$ko") $ver for $rel with dkms"

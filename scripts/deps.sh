#!/usr/bin/env bash
# Install what building and testing ckpt-nl needs on Debian 12, idempotently.
#
# Debian packages come from apt; only missing ones are installed, so a re-run
# with everything present takes a second or two. The VM kernel image is never
# installed on the host (its postinst would build an initramfs for a kernel
# the host does not boot): its .deb is fetched and unpacked into the cache
# that the VM harness reads (see scripts/kernel.sh).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/kernel.sh
. "$here/kernel.sh"

pkgs=(
	build-essential bc flex bison libelf-dev kmod
	clang llvm libbpf-dev bpftool
	qemu-system-x86 xz-utils cpio graphviz dkms
	sparse criu
	linux-headers-amd64
)

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if ((${#missing[@]})); then
	echo "deps: installing ${missing[*]}"
	if [[ $(id -u) -ne 0 ]]; then
		echo "deps: need root to install Debian packages: run 'sudo make deps'" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y --no-install-recommends "${missing[@]}"; then
		apt-get update
		apt-get install -y --no-install-recommends "${missing[@]}"
	fi
fi

kernel_fetch_image
"$here/checkpatch.sh" --fetch
echo "deps: ok (VM kernel $(kernel_release): $(kernel_image))"

# shellcheck shell=bash
# The one place that knows which kernel the module and the VM harness use.
#
# Sourced by scripts/deps.sh and scripts/vmtest.sh, and run by the Makefile as
# "scripts/kernel.sh release|kdir|image|modules". Defaults to Debian's
# linux-headers-amd64 / linux-image-amd64; point it at another kernel with
#   KDIR=/path/to/kernel/build   (a configured tree or headers, for the module)
#   VM_KERNEL=/path/to/bzImage   (the image QEMU boots; its release must match KDIR)
#   VM_MODULES=/path/to/lib/modules/RELEASE   (optional, the guest's own modules)
# The Debian image is cached in ${CKPT_CACHE:-<repo>/.cache}/kernel/RELEASE.

_kernel_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${CKPT_CACHE:=$_kernel_repo/.cache}"

# kernel_release prints the release (uname -r) of the kernel we build for.
kernel_release() {
	if [[ -n ${KDIR:-} ]]; then
		if [[ ! -r $KDIR/include/config/kernel.release ]]; then
			echo "kernel: KDIR=$KDIR has no include/config/kernel.release (not a prepared kernel tree)" >&2
			return 1
		fi
		cat "$KDIR/include/config/kernel.release"
		return
	fi
	local dep
	dep=$(dpkg-query -W -f='${Depends}' linux-headers-amd64 2>/dev/null) || {
		echo "kernel: linux-headers-amd64 is not installed: run 'make deps'" >&2
		return 1
	}
	# "linux-headers-6.1.0-48-amd64 (= 6.1.172-1)" -> "6.1.0-48-amd64"
	dep=${dep%% *}
	echo "${dep#linux-headers-}"
}

kernel_kdir() {
	if [[ -n ${KDIR:-} ]]; then
		echo "$KDIR"
		return
	fi
	local rel
	rel=$(kernel_release) || return 1
	echo "/usr/src/linux-headers-$rel"
}

kernel_cache_dir() {
	local rel
	rel=$(kernel_release) || return 1
	echo "$CKPT_CACHE/kernel/$rel"
}

# kernel_image prints the image QEMU boots: an uncompressed vmlinux (booted
# through PVH, seconds faster under TCG) when one was extracted, else vmlinuz.
kernel_image() {
	if [[ -n ${VM_KERNEL:-} ]]; then
		echo "$VM_KERNEL"
		return
	fi
	local dir rel
	dir=$(kernel_cache_dir) || return 1
	rel=$(kernel_release) || return 1
	if [[ -s $dir/vmlinux ]]; then
		echo "$dir/vmlinux"
	else
		echo "$dir/boot/vmlinuz-$rel"
	fi
}

kernel_modules() {
	if [[ -n ${VM_MODULES:-} ]]; then
		echo "$VM_MODULES"
		return
	fi
	if [[ -n ${VM_KERNEL:-} ]]; then
		return # a custom kernel brings its own modules, or none
	fi
	local dir rel
	dir=$(kernel_cache_dir) || return 1
	rel=$(kernel_release) || return 1
	echo "$dir/lib/modules/$rel"
}

# kernel_fetch_image downloads Debian's image package for the release and
# unpacks it (no postinst), then extracts an uncompressed vmlinux from it.
kernel_fetch_image() {
	[[ -n ${VM_KERNEL:-} ]] && return 0
	local rel dir tmp deb
	rel=$(kernel_release) || return 1
	dir=$(kernel_cache_dir) || return 1
	if [[ ! -s $dir/boot/vmlinuz-$rel ]]; then
		tmp=$(mktemp -d)
	chmod 0755 "$tmp" # apt-get download runs as _apt
		# shellcheck disable=SC2064
		trap "rm -rf '$tmp'" RETURN
		echo "kernel: fetching linux-image-$rel"
		(cd "$tmp" && apt-get download "linux-image-$rel" >/dev/null 2>&1) ||
			(cd "$tmp" && apt-get download "linux-image-$rel-unsigned" >/dev/null) || {
			echo "kernel: cannot download linux-image-$rel (apt-get update?)" >&2
			return 1
		}
		deb=$(ls "$tmp"/*.deb)
		mkdir -p "$dir.tmp"
		dpkg-deb -x "$deb" "$dir.tmp"
		rm -rf "$dir"
		mv "$dir.tmp" "$dir"
	fi
	if [[ ! -s $dir/vmlinux ]]; then
		kernel_extract_vmlinux "$dir/boot/vmlinuz-$rel" "$dir/vmlinux" ||
			echo "kernel: could not extract vmlinux, the VM boots vmlinuz (slower)" >&2
	fi
}

# kernel_extract_vmlinux finds the XZ payload of a bzImage and unpacks it to
# an ELF file (the same idea as the kernel's scripts/extract-vmlinux).
kernel_extract_vmlinux() {
	local in=$1 out=$2 off
	for off in $(LC_ALL=C grep -aboP '\xfd7zXZ\x00' "$in" | cut -d: -f1); do
		if tail -c +$((off + 1)) "$in" | xz -dcq >"$out.tmp" 2>/dev/null ||
			[[ -s $out.tmp ]]; then
			if [[ $(head -c 4 "$out.tmp" | od -An -tx1 | tr -d ' ') == 7f454c46 ]]; then
				mv "$out.tmp" "$out"
				return 0
			fi
		fi
	done
	rm -f "$out.tmp"
	return 1
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	set -euo pipefail
	case ${1:-} in
	release) kernel_release ;;
	kdir) kernel_kdir ;;
	image) kernel_image ;;
	modules) kernel_modules ;;
	fetch) kernel_fetch_image ;;
	*)
		echo "usage: $0 release|kdir|image|modules|fetch" >&2
		exit 2
		;;
	esac
fi

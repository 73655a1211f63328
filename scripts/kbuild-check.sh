#!/usr/bin/env bash
# Build the module against every kernel-headers tree installed in
# /usr/src (Debian's 6.1 for the VM, and 6.12 once
# `apt-get install linux-headers-6.12-amd64` has run), in a scratch
# directory, and check what each build links against:
#  - every undefined symbol is one that kernel exports (its Module.symvers);
#  - no kallsyms, kprobe or hard-coded address lookup: the module reaches
#    the kernel through exported API only (see docs/SECURITY.md).
# Offline; about 10 s per kernel. Part of make lint.
set -euo pipefail
cd "$(dirname "$0")/.."

forbidden='kallsyms|kprobe|tasklist_lock|ptrace_may_access'

built=0
for kdir in /usr/src/linux-headers-*; do
	[[ -f $kdir/Module.symvers && -f $kdir/Makefile ]] || continue
	case $kdir in *-common | *-common-rt) continue ;; esac
	rel=${kdir#/usr/src/linux-headers-}
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	cp -r Kbuild kmod "$tmp"/
	if ! make -s -C "$kdir" M="$tmp" modules >"$tmp/log" 2>&1; then
		cat "$tmp/log"
		echo "kbuild-check: the module does not build against $rel"
		exit 1
	fi
	if grep -E 'WARNING|ERROR' "$tmp/log" | grep -v 'Skipping BTF'; then
		echo "kbuild-check: modpost complained for $rel (above)"
		exit 1
	fi
	missing=0
	while read -r sym; do
		if ! awk -v s="$sym" '$2 == s { found = 1 } END { exit !found }' "$kdir/Module.symvers"; then
			echo "kbuild-check: $rel does not export $sym"
			missing=1
		fi
	done < <(nm -u "$tmp/ckpt_pids.ko" | awk '{print $2}')
	if nm -u "$tmp/ckpt_pids.ko" | grep -Ei "$forbidden"; then
		echo "kbuild-check: the $rel build refers to kallsyms, kprobes or unexported symbols"
		exit 1
	fi
	[[ $missing == 0 ]] || exit 1
	rm -rf "$tmp"
	trap - EXIT
	echo "kbuild-check: builds against $rel, exported symbols only"
	built=$((built + 1))
done
if [[ $built == 0 ]]; then
	echo "kbuild-check: no kernel headers in /usr/src (make deps installs them)"
	exit 1
fi

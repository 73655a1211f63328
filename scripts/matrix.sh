#!/usr/bin/env bash
# The module's VM tests on the kernels other than the default one: every
# Debian kernel with headers in /usr/src and its image in /boot
# (apt-get install linux-headers-6.12-amd64 brings both, as does
# linux-headers-6.12-rt-amd64), the module built for each in
# build/kmod-RELEASE. Logs in build/vm/log-RELEASE. Run by make matrix,
# after make vm-tests.
#   MATRIX_RUN      go test -run pattern (default: the module's tests)
#   MATRIX_KERNELS  only the releases this pattern (a bash glob) matches
set -euo pipefail
cd "$(dirname "$0")/.."

run=${MATRIX_RUN:-'TestContext|TestCommit|TestAbortSpares|TestKernelStateFuzz|TestKernelFuzz|TestKernelRefusesWrongTree|TestAttachFromOutside|TestSocketCloseKills|TestUnloadWithLiveContext|TestBackendsAgree|TestRaceCheckpoints|TestRoundTrip|TestPermissions|TestSnapshot|TestModule'}
default=$(scripts/kernel.sh release)
tests=()
for t in build/vm/tests/*.test; do tests+=(-test "$t"); done
status=0 ran=0
for kdir in /usr/src/linux-headers-*-amd64; do
	rel=${kdir#/usr/src/linux-headers-}
	[[ $rel == "$default" ]] && continue
	# shellcheck disable=SC2053 # a glob on purpose
	[[ $rel == ${MATRIX_KERNELS:-*} ]] || continue
	img=/boot/vmlinuz-$rel
	if [[ ! -r $img ]]; then
		echo "matrix: $rel: no $img, skipped"
		continue
	fi
	out=build/kmod-$rel
	rm -rf "$out"
	mkdir -p "$out"
	cp -r Kbuild kmod "$out"/
	make -s -C "$kdir" M="$PWD/$out" modules 2>&1 | grep -v 'Skipping BTF' || true
	echo "=== matrix: $rel ==="
	if ! build/vm/run -kernel "$img" -init build/vm/init -module "$out/ckpt_pids.ko" \
		-bin build/ckpt-nl "${tests[@]}" -log "build/vm/log-$rel" -timeout 15m \
		-append "ckptnl.run=$run ckptnl.require=root,kmod,bpf,settid"; then
		status=1
	fi
	ran=$((ran + 1))
done
if [[ $ran == 0 ]]; then
	echo "matrix: no other kernel installed (apt-get install linux-headers-6.12-amd64)"
fi
exit $status

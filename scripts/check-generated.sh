#!/usr/bin/env bash
# Fail when a committed generated file differs from what its source gives
# now: the uapi and executor-layout constants, the BPF objects and the
# executor binary.
set -euo pipefail
cd "$(dirname "$0")/.."
generated=(go/uapi/zz_generated.go go/bpfprog/*_bpfel.go go/bpfprog/*_bpfel.o go/executor/zz_generated.go go/executor/executor.bin)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in "${generated[@]}"; do
	mkdir -p "$tmp/$(dirname "$f")"
	cp "$f" "$tmp/$f"
done
go generate ./go/uapi ./go/bpfprog ./go/executor
stale=0
for f in "${generated[@]}"; do
	if [[ ! -e $tmp/$f ]] || ! cmp -s "$f" "$tmp/$f"; then
		echo "check-generated: $f was stale (now regenerated; commit it)" >&2
		stale=1
	fi
done
exit $stale

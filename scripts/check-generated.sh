#!/usr/bin/env bash
# Fail when a committed generated file differs from what its source gives
# now: the uapi constants (go/uapi) and the BPF objects (go/bpfprog).
set -euo pipefail
cd "$(dirname "$0")/.."
generated=(go/uapi/zz_generated.go go/bpfprog/*_bpfel.go go/bpfprog/*_bpfel.o)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in "${generated[@]}"; do
	mkdir -p "$tmp/$(dirname "$f")"
	cp "$f" "$tmp/$f"
done
go generate ./go/uapi ./go/bpfprog
stale=0
for f in go/uapi/zz_generated.go go/bpfprog/*_bpfel.go go/bpfprog/*_bpfel.o; do
	if [[ ! -e $tmp/$f ]] || ! cmp -s "$f" "$tmp/$f"; then
		echo "check-generated: $f was stale (now regenerated; commit it)" >&2
		stale=1
	fi
done
exit $stale

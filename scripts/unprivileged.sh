#!/usr/bin/env bash
# go test -exec helper: run a test binary as user nobody with no capabilities,
# so that unit tests prove they need no privilege. The binary is copied out
# of the Go build directory (mode 0700, owned by root) first. When not root,
# it just runs the binary.
set -euo pipefail
bin=$1
shift
if [[ $(id -u) -ne 0 ]]; then
	exec "$bin" "$@"
fi
dir=$(mktemp -d /tmp/ckpt-nl-unit.XXXXXX)
trap 'rm -rf "$dir"' EXIT
chmod 0755 "$dir"
cp "$bin" "$dir/"
mkdir -m 1777 "$dir/tmp"
setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
	env HOME="$dir/tmp" TMPDIR="$dir/tmp" GOCACHE="$dir/tmp/gocache" \
	"$dir/$(basename "$bin")" "$@"

#!/usr/bin/env bash
# Run every native Go fuzz target for FUZZTIME each (default 5s; the test
# command's short run). For a long run: FUZZTIME=30m scripts/fuzz.sh, or
# name targets: scripts/fuzz.sh ./go/image:FuzzDecode
set -euo pipefail
cd "$(dirname "$0")/.."
: "${FUZZTIME:=5s}"
targets=("$@")
if ((${#targets[@]} == 0)); then
	# Every func Fuzz* in a _test.go file, as package:Name.
	while IFS=: read -r file _ line; do
		name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' <<<"$line")
		targets+=("./$(dirname "$file"):$name")
	done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' go tests)
fi
for t in "${targets[@]}"; do
	pkg=${t%%:*}
	name=${t##*:}
	echo "fuzz: $pkg $name for $FUZZTIME"
	if ! out=$(go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" 2>&1); then
		echo "$out"
		echo "fuzz: $pkg $name FAILED (the failing input is under $pkg/testdata/fuzz/$name)" >&2
		exit 1
	fi
	tail -n 1 <<<"$out"
done

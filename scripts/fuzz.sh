#!/usr/bin/env bash
# Run every native Go fuzz target for FUZZTIME each: an execution count
# (default 50000x, the test command's short run) or a duration. For a long
# run: FUZZTIME=30m scripts/fuzz.sh, or name targets:
# scripts/fuzz.sh ./go/image:FuzzDecode
#
# Go 1.26's fuzz coordinator can fail a duration run at its deadline with
# "context deadline exceeded" and no failing input (go.dev/issue/75804).
# Such a run is reported as that race and not as a failure; any run that
# writes a failing input, or fails any other way, fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
# A target whose executions are slow has its own default count (a few
# seconds, like the others); an explicit FUZZTIME applies to every target.
# A budget of 0x leaves the target out of the short run: FuzzMakeForest
# finds, within seconds, rare trees the planner cannot plan yet (see
# docs/DESIGN.md 4.4); it runs in make reliability (FUZZTIME set), and
# TestMakeForestHistories holds the planner to zero refusals on a fixed
# set of 3,000 histories in every make test.
declare -A default_budget=([FuzzMakeForest]=0x)
user_fuzztime=${FUZZTIME:-}
: "${FUZZTIME:=50000x}"
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
	FUZZTIME=${user_fuzztime:-${default_budget[$name]:-50000x}}
	if [[ $FUZZTIME == 0x ]]; then
		echo "fuzz: $pkg $name left out of the short run (its budget is 0x; set FUZZTIME to run it)"
		continue
	fi
	echo "fuzz: $pkg $name for $FUZZTIME"
	corpus="$pkg/testdata/fuzz/$name"
	before=$(find "$corpus" -type f 2>/dev/null | wc -l || true)
	if ! out=$(go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" 2>&1); then
		echo "$out"
		after=$(find "$corpus" -type f 2>/dev/null | wc -l || true)
		if [[ $FUZZTIME != *x && $after == "$before" ]] &&
			grep -q '^    context deadline exceeded$' <<<"$out" &&
			[[ $(grep -c -- '^--- FAIL' <<<"$out") == 1 ]]; then
			echo "fuzz: $pkg $name: Go's deadline race (go.dev/issue/75804), no failing input; not a failure" >&2
			continue
		fi
		echo "fuzz: $pkg $name FAILED (the failing input is under $pkg/testdata/fuzz/$name)" >&2
		exit 1
	fi
	tail -n 1 <<<"$out"
done

#!/usr/bin/env bash
# Reproduce docs/RELIABILITY.md: long fuzzing of every decoder, the kernel
# interface fuzzer, races and fault injection at full counts, on the host
# and in the VM. Takes about an hour; "make test" runs short versions.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${FUZZ_EXECS:=10000000}"
out=build/reliability
mkdir -p "$out"
# In the VM, only the reliability tests, at full counts (CRIU is not in
# this guest).
vm_tests='TestKernelFuzz|TestRace|TestFault|TestPermissions|TestKernelRefuses|TestAttachFromOutside|TestSocketCloseKills|TestUnloadWithLiveContext'

# "reliability.sh --report" writes the results file from the logs of an
# earlier run (one stopped early included) without running anything.
if [[ ${1:-} != --report ]]; then
# The decoders' fuzzing (one worker, one core) runs beside the host and VM
# parts (the guest's one vCPU is the other core).
# In its own process group, so that a failure below stops all of it.
FUZZ_EXECS=$FUZZ_EXECS setsid bash -c '
	echo "# Decoders: $FUZZ_EXECS executions each"
	GOFLAGS="${GOFLAGS:-} -parallel=1" FUZZTIME=${FUZZ_EXECS}x scripts/fuzz.sh
' >"$out/fuzz.log" 2>&1 &
fuzz_pid=$!
trap 'kill -- -"$fuzz_pid" 2>/dev/null || true' EXIT
echo "# Host: races and faults at full counts" | tee "$out/host.log"
CKPT_NL_REQUIRE=root,bpf CKPT_NL_RACES=1000 CKPT_NL_TRIALS=100 \
	go test -count=1 -v -timeout 60m -run 'TestRace|TestFault|TestPermissions' ./tests/integration/ 2>&1 |
	grep -E '^(---|ok|FAIL|PASS)|attempts|refused|restore failed|left behind' | tee -a "$out/host.log"
echo "# Host: random histories, the model against the kernel and round trips" | tee "$out/histories.log"
CKPT_NL_REQUIRE=root,bpf CKPT_NL_AGREE=1000 CKPT_NL_HISTORIES=10000 \
	go test -count=1 -v -timeout 90m -run 'TestKernelAgrees|TestHistoriesRoundTrip|TestBigHistories' ./go/internal/history/ 2>&1 |
	grep -E '^(---|ok|FAIL|PASS)|^    ---|calls,|shrunk' | tee -a "$out/histories.log"
echo "# VM: kernel fuzzer, races, faults, permissions, unload under a live context" | tee "$out/vm.log"
make -s vm-tests $(pwd)/build/ckpt-nl build/vm/init build/vm/run >/dev/null
build/vm/run -kernel "$(scripts/kernel.sh image)" -init build/vm/init -module ckpt_pids.ko -bin build/ckpt-nl \
	-test build/vm/tests/integration.test -log "$out/vm" -timeout 120m -mem 2G \
	-append "ckptnl.timeout=110m ckptnl.run=$vm_tests ckptnl.require=root,kmod,bpf,settid ckptnl.env=CKPT_NL_KFUZZ=100000,CKPT_NL_RACES=1000,CKPT_NL_RACE_BACKENDS=kmod,CKPT_NL_TRIALS=100" 2>&1 |
	grep -E '^(ok|not ok)|    (ok|not ok) Test|messages from|attempts|left behind|vm:' | tee -a "$out/vm.log"

echo "# Waiting for the decoders' fuzzing (build/reliability/fuzz.log)"
if ! wait "$fuzz_pid"; then
	tail -n 30 "$out/fuzz.log"
	echo "reliability: fuzzing failed" >&2
	exit 1
fi
cat "$out/fuzz.log"
fi

# The results file, from the logs above.
{
	echo "# ckpt-nl reliability figures"
	echo
	echo "Produced by \`make reliability\` (scripts/reliability.sh) on $(date -u +%Y-%m-%d), kernel $(uname -r) on the host"
	echo "and Debian's $(scripts/kernel.sh release) in the VM (panic_on_warn=1, softlockup_panic=1)."
	echo "Each line below is copied from the run's output (build/reliability/*.log)."
	echo
	echo "## Decoders: native Go fuzzing, ${FUZZ_EXECS} executions per target"
	echo
	echo '```'
	# fuzz-*.log: targets run apart from the main run (same command, named).
	cat "$out/fuzz.log" "$out"/fuzz-*.log 2>/dev/null >"$out/all-fuzz.log"
	grep -E '^fuzz: .* for |^ok|FAIL' "$out/all-fuzz.log"
	echo '```'
	# A target whose start line is not followed by its ok line was
	# stopped before the full count (or is still running).
	stopped=$(awk '/^fuzz: .* for /{if (t) print t; t=$2" "$3; next} /^ok/{t=""} END{if (t) print t}' "$out/all-fuzz.log")
	if [[ -n $stopped ]]; then
		echo
		echo "Stopped before ${FUZZ_EXECS} executions (no result line above): $(echo "$stopped" | paste -sd, - | sed 's/,/, /g')."
	fi
	notrun=$(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' go tests |
		sed -E 's#^([^:]*)/[^/:]*:[0-9]+:func (Fuzz[A-Za-z0-9_]*)\(.*#./\1 \2#' |
		while read -r pkg name; do
			grep -q "^fuzz: $pkg $name for " "$out/all-fuzz.log" || echo "$pkg $name"
		done)
	if [[ -n $notrun ]]; then
		echo
		echo "Not run in this run: $(echo "$notrun" | paste -sd, - | sed 's/,/, /g')."
	fi
	echo
	echo "Command: \`GOFLAGS=-parallel=1 FUZZTIME=${FUZZ_EXECS}x scripts/fuzz.sh\`. The seed corpora are in each package's"
	echo "testdata/fuzz; failing inputs found on the way are kept there as regression tests."
	echo
	echo "## Host: checkpoints racing a churning tree, faults, permissions"
	echo
	echo '```'
	cat "$out/host.log"
	echo '```'
	echo
	echo "Command: \`CKPT_NL_RACES=1000 CKPT_NL_TRIALS=100 go test -run 'TestRace|TestFault|TestPermissions' ./tests/integration\`."
	echo
	echo "## Host: random histories"
	echo
	echo '```'
	cat "$out/histories.log" 2>/dev/null
	echo '```'
	echo
	echo "Command: \`CKPT_NL_AGREE=1000 CKPT_NL_HISTORIES=10000 go test -run 'TestKernelAgrees|TestHistoriesRoundTrip|TestBigHistories' ./go/internal/history\`"
	echo "(1,000 histories built by the kernel and by the model, compared; 10,000 restarted and compared; one of 1,000 and one of 10,000 tasks)."
	echo
	echo "## VM: the kernel interface fuzzer, races on the module, faults, unload under a live context"
	echo
	echo '```'
	cat "$out/vm.log"
	echo '```'
	if ! grep -q '^vm: ' "$out/vm.log"; then
		echo
		echo "The VM part did not complete in this run (stopped before the guest reported)."
	fi
	echo
	echo "Command: the integration tests matching \`$vm_tests\` in the VM with \`ckptnl.env=CKPT_NL_KFUZZ=100000,CKPT_NL_RACES=1000,CKPT_NL_RACE_BACKENDS=kmod,CKPT_NL_TRIALS=100\`."
	echo "After them the harness unloads the module (no leaked reference) and checks the kernel log."
} >docs/RELIABILITY.md
echo "reliability: wrote docs/RELIABILITY.md"

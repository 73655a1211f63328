#!/usr/bin/env bash
# Reproduce docs/RELIABILITY.md: long fuzzing of every decoder, the kernel
# interface fuzzer, races and fault injection at full counts, on the host
# and in the VM. Takes about an hour; "make test" runs short versions.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${FUZZ_EXECS:=10000000}"
out=build/reliability
mkdir -p "$out"
{
	echo "# Decoders: $FUZZ_EXECS executions each"
	FUZZTIME=${FUZZ_EXECS}x scripts/fuzz.sh
} 2>&1 | tee "$out/fuzz.log"
echo "# Host: races and faults at full counts" | tee "$out/host.log"
CKPT_NL_REQUIRE=root,bpf CKPT_NL_RACES=1000 CKPT_NL_TRIALS=100 \
	go test -count=1 -v -timeout 60m -run 'TestRace|TestFault|TestPermissions' ./tests/integration/ 2>&1 |
	grep -E '^(---|ok|FAIL|PASS)|attempts|refused|restore failed|left behind' | tee -a "$out/host.log"
echo "# VM: kernel fuzzer, races, faults, permissions, unload under a live context" | tee "$out/vm.log"
make -s vm-tests $(pwd)/build/ckpt-nl build/vm/init build/vm/run >/dev/null
build/vm/run -kernel "$(scripts/kernel.sh image)" -init build/vm/init -module ckpt_pids.ko -bin build/ckpt-nl \
	-test build/vm/tests/integration.test -log "$out/vm" -timeout 120m -mem 2G \
	-append "ckptnl.timeout=110m ckptnl.env=CKPT_NL_KFUZZ=100000,CKPT_NL_RACES=1000,CKPT_NL_RACE_BACKENDS=kmod,CKPT_NL_TRIALS=100" 2>&1 |
	grep -E '^(ok|not ok)|    (ok|not ok) Test|messages from|attempts|left behind|vm:' | tee -a "$out/vm.log"

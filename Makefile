# ckpt-nl: build, test and demo. The two commands a newcomer needs:
#   make demo   build everything, boot the VM, load the module, run the demo
#   make test   Go unit tests, host integration tests (root), VM tests (KTAP)
# Both install what is missing first (make deps: apt and a kernel cache).
#
# Another kernel: KDIR=/path/to/build VM_KERNEL=/path/to/bzImage make vmtest
# (see scripts/kernel.sh).

SHELL := /bin/bash
.DEFAULT_GOAL := all

KERNEL_SH := scripts/kernel.sh
KVER      := $(shell $(KERNEL_SH) release 2>/dev/null)
KDIR_USED  = $(shell $(KERNEL_SH) kdir)
VM_IMAGE   = $(shell $(KERNEL_SH) image)

BUILD     := build
GO        ?= go
GOFLAGS_STATIC := CGO_ENABLED=0
BIN       := $(BUILD)/ckpt-nl
MODULE    := ckpt_pids.ko
VM_TIMEOUT ?= 15m
# Extra guest kernel command line, e.g. ckptnl.run=TestCRIU (a go test -run
# pattern) or ckptnl.require=root,kmod,bpf,settid (what must work rather than
# skip; the default adds criu).
VM_APPEND ?=

# Packages whose tests run in the VM (they need the module, BPF, or root).
VM_TEST_PKGS := ./go/kmod ./go/bpfprog ./go/status ./go/executor ./go/internal/history ./tests/integration
# What the host's integration level demands (root runs make test).
HOST_REQUIRE ?= root,bpf,settid

# Debian's criu, for the CRIU round trip and benchmark in the VM (it does not
# run on every host kernel), with the modules its kernel checks need.
CRIU      := $(shell command -v criu 2>/dev/null || echo /usr/sbin/criu)
VM_MODULES = $(shell $(KERNEL_SH) modules)
VM_CRIU_KMODS = $(if $(VM_MODULES),$(addprefix -kmod $(VM_MODULES)/kernel/,\
	crypto/crc32c_generic.ko lib/libcrc32c.ko net/netfilter/nfnetlink.ko \
	net/netfilter/nf_tables.ko drivers/net/veth.ko))
VM_CRIU   = -elf $(CRIU) $(VM_CRIU_KMODS)

GO_SOURCES := $(shell find go tests -name '*.go' 2>/dev/null) go.mod go.sum
KMOD_SOURCES := $(wildcard kmod/*.c kmod/*.h kmod/uapi/*.h) Kbuild

.PHONY: all deps module build generate check-generated lint checkpatch kbuild-check \
	unit integration fuzz vmtest matrix test demo bench reliability man install install-check \
	dkms-check clean

all: module build

deps:
	@scripts/deps.sh

# --- the kernel module -------------------------------------------------------

$(MODULE): $(KMOD_SOURCES)
	$(MAKE) -C $(KDIR_USED) M=$(CURDIR) modules

module: $(MODULE)

checkpatch:
	@scripts/checkpatch.sh kmod/*.c kmod/*.h kmod/uapi/*.h

# The module against every kernel-headers tree in /usr/src (6.1 for the VM;
# 6.12 after apt-get install linux-headers-6.12-amd64), exported symbols
# only: no kallsyms, no kprobes.
kbuild-check:
	@scripts/kbuild-check.sh

# --- Go ------------------------------------------------------------------------

$(BIN): $(GO_SOURCES)
	@mkdir -p $(BUILD)
	$(GOFLAGS_STATIC) $(GO) build -o $@ ./go/cmd/ckpt-nl

build: $(BIN)

generate:
	$(GO) generate ./go/uapi ./go/bpfprog ./go/executor

# Regenerate into the tree and fail if anything changed: the committed
# generated files must match their sources.
check-generated:
	@scripts/check-generated.sh

lint: check-generated checkpatch kbuild-check install-check dkms-check
	$(GO) vet ./...
	@test -z "$$(gofmt -l go tests)" || { gofmt -l go tests; echo "gofmt: files above need formatting"; exit 1; }

# Go unit tests, run as an unprivileged user: privileged tests skip.
unit:
	$(GO) test -count=1 -exec $(CURDIR)/scripts/unprivileged.sh ./...

# Every fuzz target for a few seconds: an execution count per target
# (scripts/fuzz.sh: 50000x, fewer for slow targets), or FUZZTIME for all
# (FUZZTIME=30m for a long run). Counts are the default because Go 1.26's
# coordinator can fail a duration run with a spurious "context deadline
# exceeded" (go.dev/issue/75804).
fuzz:
	$(if $(FUZZTIME),FUZZTIME=$(FUZZTIME)) scripts/fuzz.sh

# Every Go test as root on the host: BPF and procfs backends, real trees.
integration:
	CKPT_NL_REQUIRE=$(HOST_REQUIRE) $(GO) test -count=1 ./...

# Long fuzzing, kernel fuzzer, races and faults at full counts (about an
# hour): the figures of docs/RELIABILITY.md.
reliability: deps $(MODULE) $(BIN)
	scripts/reliability.sh

# --- installing ------------------------------------------------------------------

PREFIX ?= /usr/local
MAN := $(BUILD)/ckpt-nl.1

$(MAN): $(BIN)
	$(BIN) man > $@

man: $(MAN)

# The binary, the module (then depmod, so the family autoloads through
# MODULE_ALIAS_GENL_FAMILY) and the man page. DKMS users: dkms.conf.
install: $(MODULE) $(BIN) $(MAN)
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/ckpt-nl
	install -D -m 0644 $(MODULE) $(DESTDIR)/lib/modules/$(KVER)/extra/ckpt_pids.ko
	install -D -m 0644 $(MAN) $(DESTDIR)$(PREFIX)/share/man/man1/ckpt-nl.1
	if [ -z "$(DESTDIR)" ]; then depmod -a $(KVER); fi

# make install into a scratch root: every file lands where it should.
install-check: $(MODULE) $(BIN)
	@d=$$(mktemp -d) && $(MAKE) -s install DESTDIR=$$d >/dev/null && \
	test -x $$d$(PREFIX)/bin/ckpt-nl && test -s $$d/lib/modules/$(KVER)/extra/ckpt_pids.ko && \
	grep -q '^.TH CKPT-NL 1' $$d$(PREFIX)/share/man/man1/ckpt-nl.1 && rm -rf $$d && \
	echo "install-check: binary, module and man page install"

dkms-check:
	@scripts/dkms-check.sh

# --- the VM --------------------------------------------------------------------

VM_DIR := $(BUILD)/vm

$(VM_DIR)/init: $(GO_SOURCES)
	@mkdir -p $(VM_DIR)
	$(GOFLAGS_STATIC) $(GO) build -o $@ ./tests/vm/init

$(VM_DIR)/run: $(GO_SOURCES)
	@mkdir -p $(VM_DIR)
	$(GO) build -o $@ ./tests/vm/run

vm-tests: $(GO_SOURCES)
	@mkdir -p $(VM_DIR)/tests
	@rm -f $(VM_DIR)/tests/*.test
	@for p in $(VM_TEST_PKGS); do \
		$(GOFLAGS_STATIC) $(GO) test -c -o $(VM_DIR)/tests/$$(basename $$p).test $$p || exit 1; \
	done

vmtest: deps $(MODULE) $(BIN) $(VM_DIR)/init $(VM_DIR)/run vm-tests
	$(VM_DIR)/run -kernel $(VM_IMAGE) -init $(VM_DIR)/init -module $(MODULE) $(VM_CRIU) \
		-bin $(BIN) $(addprefix -test ,$(wildcard $(VM_DIR)/tests/*.test)) \
		-log $(VM_DIR)/log -timeout $(VM_TIMEOUT) -append "$(VM_APPEND)"

# The module's VM tests on every other installed Debian kernel (headers in
# /usr/src, image in /boot: apt-get install linux-headers-6.12-amd64), each
# with the module built for it; not part of make test.
matrix: deps $(BIN) $(VM_DIR)/init $(VM_DIR)/run vm-tests
	scripts/matrix.sh

# --- the two commands ----------------------------------------------------------

test: deps
	$(MAKE) lint
	$(MAKE) unit
	$(MAKE) fuzz
	$(MAKE) integration
	$(MAKE) vmtest

demo: deps $(MODULE) $(BIN) $(VM_DIR)/init $(VM_DIR)/run
	@echo "=== guest: Debian $(KVER) under QEMU, with the ckpt_pids module ==="
	@$(VM_DIR)/run -mode demo -kernel $(VM_IMAGE) -init $(VM_DIR)/init -module $(MODULE) \
		-bin $(BIN) -log $(VM_DIR)/demo-log -timeout 5m \
		-demo "ckpt-nl status" -demo "ckpt-nl demo"
	@echo "=== host: $$(uname -r), without the module ==="
	$(BIN) status
	@mkdir -p $(BUILD)/demo
	$(BIN) demo --dir $(BUILD)/demo
	$(BIN) show --format dot $(BUILD)/demo/demo.img | dot -Tsvg -o docs/demo-tree.svg
	@echo "=== the demo tree, drawn: docs/demo-tree.svg ==="

# Benchmarks (not part of make test): the host's backends, then the VM's
# with the module and against Debian's criu, merged into docs/BENCHMARKS.md
# and docs/bench.svg.
BENCH_SIZES ?= 1000,3000,10000,30000
VM_BENCH_SIZES ?= 1000,3000,10000
BENCH_CRIU ?= 1000
bench: deps $(MODULE) $(BIN) $(VM_DIR)/init $(VM_DIR)/run
	@mkdir -p $(BUILD)/bench
	$(GO) build -o $(BUILD)/bench/bench ./tests/bench
	$(GOFLAGS_STATIC) $(GO) build -o $(VM_DIR)/bench ./tests/bench
	$(BUILD)/bench/bench -sizes $(BENCH_SIZES) -o $(BUILD)/bench/host.json -ckpt-nl $(BIN)
	$(VM_DIR)/run -mode demo -mem 4G -kernel $(VM_IMAGE) -init $(VM_DIR)/init -module $(MODULE) $(VM_CRIU) \
		-bin $(BIN) -bin $(VM_DIR)/bench -log $(VM_DIR)/bench-log -timeout 90m \
		-demo "bench -sizes $(VM_BENCH_SIZES) -runs 3 -criu $(BENCH_CRIU) -o /tmp/vm.json -ckpt-nl /bin/ckpt-nl -print"
	sed -n '/^BEGIN-JSON/,/^END-JSON/p' $(VM_DIR)/bench-log/results.txt | sed '1d;$$d' > $(BUILD)/bench/vm.json
	$(BUILD)/bench/bench -report "host (no module)=$(BUILD)/bench/host.json,VM (module loaded)=$(BUILD)/bench/vm.json" \
		-md docs/BENCHMARKS.md -svg docs/bench.svg
	@# Restart of random-history images (1,000 and 10,000 tasks) against
	@# their clone3 floor, side by side in one run.
	$(GO) test -count=1 -run '^$$' -bench BenchmarkRestartHistory -benchtime 3x ./go/internal/history | \
		tee docs/bench-history.txt

clean:
	-$(MAKE) -C $(KDIR_USED) M=$(CURDIR) clean
	rm -rf $(BUILD)

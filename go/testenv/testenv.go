// Package testenv tells tests what the machine they run on provides, and
// whether a missing capability is a skip or a failure.
//
// The VM harness sets CKPT_NL_REQUIRE (a comma-separated list such as
// "root,kmod,bpf") so that a test which would skip on a developer's host
// fails in the VM, where the feature must be present.
package testenv

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// Required reports whether the environment demands feature.
func Required(feature string) bool {
	return slices.Contains(strings.Split(os.Getenv("CKPT_NL_REQUIRE"), ","), feature)
}

// Need skips t (or fails it, when feature is required) unless ok.
func Need(t testing.TB, feature string, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if Required(feature) {
		t.Fatalf("%s is required here but unavailable: %s", feature, why)
	}
	t.Skipf("%s unavailable: %s", feature, why)
}

// NeedRoot skips t unless it runs as root.
func NeedRoot(t testing.TB) {
	t.Helper()
	Need(t, "root", os.Geteuid() == 0, "not running as root")
}

// InVM reports whether the test runs inside the ckpt-nl VM harness.
func InVM() bool { return os.Getenv("CKPT_NL_VM") == "1" }

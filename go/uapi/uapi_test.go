package uapi

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ckpt-nl/ckpt-nl/go/cheader"
)

// TestGeneratedMatchesHeader fails when kmod/uapi/ckpt_pids.h changed and
// "go generate" was not run: the header is the one source of the numbers.
func TestGeneratedMatchesHeader(t *testing.T) {
	src, err := os.ReadFile("../../kmod/uapi/ckpt_pids.h")
	if err != nil {
		t.Fatal(err)
	}
	want, err := cheader.GoFile(src, "uapi", "ckpt_pids.h", "CKPT_PIDS_")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("zz_generated.go")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("zz_generated.go is stale; run go generate ./go/uapi (-want +got):\n%s", diff)
	}
}

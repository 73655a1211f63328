package history

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/restore"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot/procfs"
	"github.com/ckpt-nl/ckpt-nl/go/testenv"
)

// errSetup marks a round trip that failed before the restart: the
// history's tree could not be built or read (not the planner's failure).
var errSetup = errors.New("history: setup")

// roundTrip builds history h for real, checkpoints it, restarts the image
// and checkpoints the restored tree: the two images must be equal. It
// returns the image and how long the restart took.
func roundTrip(h *History) (*model.Snapshot, time.Duration, error) {
	r, err := h.Build(time.Minute)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", errSetup, err)
	}
	defer r.Kill()
	img, err := settledImage(h, r.Pid(1))
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", errSetup, err)
	}
	r.Kill()
	start := time.Now()
	res, err := restore.Restore(img, restore.Options{Reader: procfs.Backend{}})
	took := time.Since(start)
	if err != nil {
		return img, took, fmt.Errorf("restart: %w", err)
	}
	defer res.Kill()
	got, err := procfs.Backend{}.Snapshot(snapshot.Request{Pid: res.Root, Mode: model.ModeContainer})
	if err != nil {
		return img, took, fmt.Errorf("checkpoint of the restored tree: %w", err)
	}
	if d := model.Diff(img, got); len(d) > 0 {
		return img, took, fmt.Errorf("the restored tree differs from the image:\n  %s", strings.Join(d, "\n  "))
	}
	return img, took, nil
}

// roundTripOK is roundTrip for tests: a failure of a small history is
// shrunk to a minimal history that still fails, and both are printed.
func roundTripOK(t *testing.T, h *History) (*model.Snapshot, time.Duration) {
	t.Helper()
	img, took, err := roundTrip(h)
	if err == nil {
		return img, took
	}
	if errors.Is(err, errSetup) || len(h.Calls) > 300 {
		t.Fatalf("%v\n%s", err, h)
	}
	var last error
	small := Shrink(h, func(c *History) bool {
		_, _, e := roundTrip(c)
		if e != nil && !errors.Is(e, errSetup) {
			last = e
			return true
		}
		return false
	})
	t.Fatalf("%v\n%s\nshrunk to %d calls: %v\n%s", err, h, len(small.Calls), last, small)
	return nil, 0
}

// TestHistoriesRoundTrip: trees the kernel built from random histories
// (5 to 60 tasks) come back equal at every level, with no refusal: 2,000
// on the host (CKPT_NL_HISTORIES changes it), 20 in the VM, in two
// workers. Histories here do not enter nested namespaces with setns: the
// planner does not restore a task whose parent is in an ancestor
// namespace yet (TestKernelAgrees covers setns in the model).
func TestHistoriesRoundTrip(t *testing.T) {
	testenv.NeedRoot(t)
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("CKPT_NL_HISTORIES")); err == nil {
		n = v
	}
	if testing.Short() || testenv.InVM() {
		n = 20
	}
	const workers = 2
	for w := 0; w < workers; w++ {
		t.Run(fmt.Sprint("worker", w), func(t *testing.T) {
			t.Parallel()
			for seed := uint64(w); seed < uint64(n); seed += workers {
				o := opts(5 + int(seed%56))
				o.Setns = false
				roundTripOK(t, Generate(seed, o))
			}
		})
	}
}

// TestBigHistories: one history of 1,000 tasks and, outside the VM, one
// of 10,000.
func TestBigHistories(t *testing.T) {
	testenv.NeedRoot(t)
	sizes := []int{1000, 10000}
	if testing.Short() || testenv.InVM() {
		sizes = []int{300}
	}
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			o := opts(n)
			o.Setns = false
			h := Generate(uint64(n), o)
			img, took := roundTripOK(t, h)
			t.Logf("%d calls, %d tasks in the image, restart %v", len(h.Calls), len(img.Tasks), took)
		})
	}
}

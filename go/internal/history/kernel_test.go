package history

import (
	"fmt"
	"testing"
	"time"

	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot/procfs"
	"github.com/ckpt-nl/ckpt-nl/go/testenv"
)

// kernelTree builds h for real and checkpoints it (container mode), with
// the time stopped tasks need to show as stopped.
func kernelTree(t *testing.T, h *History, b snapshot.Backend, want *model.Snapshot) (*model.Snapshot, []string) {
	t.Helper()
	r, err := h.Build(30 * time.Second)
	if err != nil {
		t.Fatalf("%v\n%s", err, h)
	}
	defer r.Kill()
	var got *model.Snapshot
	var diff []string
	for try := 0; try < 40; try++ {
		got, err = b.Snapshot(snapshot.Request{Pid: r.Pid(1), Mode: model.ModeContainer})
		if err != nil {
			t.Fatalf("checkpoint: %v\n%s", err, h)
		}
		if diff = model.Diff(want, got); len(diff) == 0 {
			break
		}
		time.Sleep(25 * time.Millisecond) // a SIGSTOP still on its way
	}
	return got, diff
}

// TestKernelAgrees runs random histories through the simulator and through
// the real kernel and requires identical trees: a disagreement is a
// simulator bug (or a kernel change), printed with its history shrunk.
func TestKernelAgrees(t *testing.T) {
	testenv.NeedRoot(t)
	n := 300
	if testing.Short() || testenv.InVM() {
		n = 40
	}
	for seed := uint64(0); seed < uint64(n); seed++ {
		h := Generate(seed, opts(5+int(seed%56)))
		want, err := h.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		_, diff := kernelTree(t, h, procfs.Backend{}, want)
		if len(diff) > 0 {
			t.Fatalf("seed %d: the kernel and the simulator disagree:\n%s\n%s", seed, fmt.Sprint(diff), h)
		}
	}
}

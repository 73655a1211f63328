package history

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot/bpfsnap"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot/procfs"
	"github.com/ckpt-nl/ckpt-nl/go/testenv"
)

// reader is the backend that reads history trees: bpf, which sees every
// number of a pid object. procfs cannot: /proc/PID/status lists a group
// or session id only down to the reading task's own level, so the numbers
// of a dead leader's pid in namespaces where none of its users live are
// invisible to it (a history makes that by moving a task into a group led
// from a nested namespace and reaping the leader).
func reader(t testing.TB) snapshot.Backend {
	t.Helper()
	if ok, why := bpfsnap.Available(); !ok {
		t.Skipf("the bpf backend is unavailable (%s): procfs cannot see every level of a dead leader's pid", why)
	}
	return bpfsnap.Backend{}
}

// TestKernelAgrees runs random histories through the simulator and through
// the real kernel and requires identical trees: a disagreement is a
// simulator bug (or a kernel change), printed with its history shrunk.
func TestKernelAgrees(t *testing.T) {
	testenv.NeedRoot(t)
	n := 150 // each loads the bpf programs for its namespace: ~0.3 s
	if v, err := strconv.Atoi(os.Getenv("CKPT_NL_AGREE")); err == nil {
		n = v
	}
	if testing.Short() || testenv.InVM() {
		n = 40
	}
	b := reader(t)
	for seed := uint64(0); seed < uint64(n); seed++ {
		h := Generate(seed, opts(5+int(seed%56)))
		if _, err := h.Snapshot(); err != nil {
			t.Fatal(err)
		}
		if diff := disagree(h, b); len(diff) > 0 {
			small := Shrink(h, func(c *History) bool { return len(disagree(c, b)) > 0 })
			t.Fatalf("seed %d: the kernel and the simulator disagree:\n%s\n%s\nshrunk: %s\n%s",
				seed, fmt.Sprint(diff), h, fmt.Sprint(disagree(small, b)), small)
		}
	}
}

// disagree is what differs between the model's tree of h and the
// kernel's as b reads it (retrying while a SIGSTOP is still on its way),
// or why the kernel could not build it.
func disagree(h *History, b snapshot.Backend) []string {
	want, err := h.Snapshot()
	if err != nil {
		return nil // not a history the model accepts: not this failure
	}
	r, err := h.Build(30 * time.Second)
	if err != nil {
		return []string{err.Error()}
	}
	defer r.Kill()
	var d []string
	for try := 0; try < 40; try++ {
		got, err := b.Snapshot(snapshot.Request{Pid: r.Pid(1), Mode: model.ModeContainer})
		if err != nil {
			return []string{err.Error()}
		}
		if d = model.Diff(want, got); len(d) == 0 {
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return d
}

// settled checkpoints the tree of h under root once every stop it makes
// has landed (a task settles just before its SIGSTOP takes effect). It
// reads with procfs, which is what restore checks with too.
func settled(t testing.TB, h *History, root int) *model.Snapshot {
	t.Helper()
	img, err := settledImage(h, root)
	if err != nil {
		t.Fatalf("%v\n%s", err, h)
	}
	return img
}

func settledImage(h *History, root int) (*model.Snapshot, error) {
	want, err := h.Snapshot()
	if err != nil {
		return nil, err
	}
	stopped := func(s *model.Snapshot) int {
		n := 0
		for i := range s.Tasks {
			if s.Tasks[i].State == model.Stopped {
				n++
			}
		}
		return n
	}
	for try := 0; ; try++ {
		img, err := procfs.Backend{}.Snapshot(snapshot.Request{Pid: root, Mode: model.ModeContainer})
		if err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
		if stopped(img) == stopped(want) && len(img.Tasks) == len(want.Tasks) {
			return img, nil
		}
		if try == 40 {
			return nil, fmt.Errorf("the history's tree has %d tasks, %d stopped; the model %d, %d",
				len(img.Tasks), stopped(img), len(want.Tasks), stopped(want))
		}
		time.Sleep(25 * time.Millisecond)
	}
}

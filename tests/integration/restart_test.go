package integration

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/restore"
	"github.com/ckpt-nl/ckpt-nl/go/restore/kctx"
	"github.com/ckpt-nl/ckpt-nl/go/scenario"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot/kmodsnap"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot/procfs"
)

// restoreAndCheck restores image s, checkpoints the restored root with
// every backend and compares; then kills the tree and checks it is gone.
func restoreAndCheck(t *testing.T, s *model.Snapshot, opt restore.Options) *restore.Result {
	t.Helper()
	if opt.Reader == nil {
		opt.Reader = procfs.Backend{}
	}
	if ok, _ := kmodsnap.Available(); ok && !opt.NoPids && opt.Validator == nil {
		v, err := kctx.New()
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		opt.Validator = v
	}
	res, err := restore.Restore(s, opt)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	defer func() {
		res.Kill()
		gone(t, res)
	}()
	if opt.NoPids {
		return res
	}
	for _, be := range backends(t) {
		got, err := be.Snapshot(snapshot.Request{Pid: res.Root, Mode: s.Mode})
		if err != nil {
			t.Fatalf("%s: checkpoint of the restored tree: %v", be.Name(), err)
		}
		if d := model.Diff(s, got); len(d) > 0 {
			t.Fatalf("%s: restored tree differs from the image:\n%s", be.Name(), lines(d))
		}
	}
	return res
}

// gone waits until the restored tree's top process has disappeared.
func gone(t *testing.T, res *restore.Result) {
	t.Helper()
	pid := res.Top
	if pid == 0 {
		pid = res.Root
	}
	for i := 0; i < 200; i++ {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); os.IsNotExist(err) {
			return
		}
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if len(b) > 0 && containsAny(string(b), ") Z ") {
			return // a zombie of ours until our reaper runs: it holds nothing
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("restored tree (top %d) still alive after kill", pid)
}

// TestRoundTrip: checkpoint, restart, checkpoint the restored root, and
// the two images describe the same identity, numbers at every level
// included, for every scenario.
func TestRoundTrip(t *testing.T) {
	for _, name := range scenario.Names() {
		t.Run(name, func(t *testing.T) {
			b := build(t, name, 3)
			s, err := procfs.Backend{}.Snapshot(snapshot.Request{Pid: b.root, Mode: b.sc.Mode})
			if err != nil {
				t.Fatal(err)
			}
			b.run.Kill() // the pids must be free again
			restoreAndCheck(t, s, restore.Options{})
		})
	}
}

// TestRoundTripRandom restores many random trees (the seed is in the
// subtest's name).
func TestRoundTripRandom(t *testing.T) {
	n := 150
	if testing.Short() {
		n = 12
	}
	for seed := uint64(100); seed < uint64(100+n); seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			restoreAndCheck(t, b2s(t, "random", seed), restore.Options{})
		})
	}
}

// b2s is the snapshot a scenario would have, from the simulator.
func b2s(t *testing.T, name string, seed uint64) *model.Snapshot {
	t.Helper()
	b := build(t, name, seed)
	s := b.want
	b.run.Kill()
	return s
}

// TestRoundTripNoPids restores without asking for any pid: the structure
// (sharing, parentage, groups, sessions, namespaces) must come back, and
// the mapping must cover every task.
func TestRoundTripNoPids(t *testing.T) {
	for _, name := range []string{"demo", "nested-chain", "sibling-namespaces", "dead-session-leader", "job-control", "random"} {
		t.Run(name, func(t *testing.T) {
			s := b2s(t, name, 5)
			res := restoreAndCheck(t, s, restore.Options{NoPids: true})
			if len(res.Map) != len(s.Tasks) {
				t.Errorf("mapping has %d entries for %d tasks", len(res.Map), len(s.Tasks))
			}
		})
	}
}

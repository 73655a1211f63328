package plan_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/plan"
	"github.com/ckpt-nl/ckpt-nl/go/sim"
)

// checkRoundTrip is roundTrip as an error, for loops over many trees.
func checkRoundTrip(s *model.Snapshot, opt plan.Options) error {
	p, err := plan.MakeForest(s, opt)
	if err != nil {
		return fmt.Errorf("MakeForest: %w", err)
	}
	root := -1
	for i, pt := range p.Tasks {
		if pt.Image == 0 {
			root = i
		}
	}
	for _, order := range []sim.Order{sim.Forward, sim.Reverse} {
		res, err := sim.Run(p, order)
		if err != nil {
			return fmt.Errorf("simulating the plan (order %d): %w", order, err)
		}
		got, err := res.Snapshot(root, s.Mode)
		if err != nil {
			return fmt.Errorf("snapshot of the simulated restore: %w", err)
		}
		if d := model.Diff(s, got); len(d) != 0 {
			return fmt.Errorf("restore differs from the image (order %d):\n%v", order, d)
		}
	}
	return nil
}

// Trees from random global-order histories (histgen_test.go) of every
// call the planner must handle: each plans and simulates back to itself.
func TestMakeForestLocalHistories(t *testing.T) {
	n := 5000
	if testing.Short() {
		n = 300
	}
	fails := 0
	for seed := uint64(1); seed <= uint64(n); seed++ {
		rng := rand.New(rand.NewPCG(seed, 11))
		steps := 10 + rng.IntN(150)
		s := randomHistory(rng, steps, 1+rng.IntN(5), int32(40+rng.IntN(200)))
		if s == nil {
			t.Fatalf("seed %d: the model's tree is inconsistent", seed)
		}
		err := checkRoundTrip(s, plan.Options{})
		if err == nil {
			err = checkNoPids(s)
		}
		if err != nil {
			fails++
			if fails <= 5 {
				t.Errorf("seed %d (%d steps, %d tasks): %v", seed, steps, len(s.Tasks), err)
			}
		}
	}
	if fails > 0 {
		t.Errorf("%d of %d histories failed", fails, n)
	}
}

// The same in subtree mode, with NoPids and Attach plans.
func TestMakeForestLocalHistoriesModes(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 200
	}
	fails, skipped := 0, 0
	for seed := uint64(1); seed <= uint64(n); seed++ {
		rng := rand.New(rand.NewPCG(seed, 12))
		steps := 10 + rng.IntN(150)
		s := randomHistoryMode(rng, steps, 1+rng.IntN(5), int32(40+rng.IntN(200)), model.ModeSubtree)
		if s == nil || usesPid1(s) {
			skipped++ // pid 1 is the tool's init's
			continue
		}
		var err error
		for _, opt := range []plan.Options{{}, {Attach: true}} {
			if err = checkRoundTrip(s, opt); err != nil {
				break
			}
		}
		if err != nil {
			fails++
			if fails <= 5 {
				t.Errorf("seed %d (%d steps, %d tasks): %v", seed, steps, len(s.Tasks), err)
			}
		}
	}
	if fails > 0 {
		t.Errorf("%d of %d histories failed (%d skipped)", fails, n, skipped)
	}
}

func usesPid1(s *model.Snapshot) bool {
	for i := range s.Pids {
		if s.Pids[i].Numbers[0] == 1 {
			return true
		}
	}
	return false
}

// checkNoPids plans s without pid numbers (the simulator cannot run such a
// plan): every setpgid argument left to the coordinator is filled in at a
// barrier, never before the first.
func checkNoPids(s *model.Snapshot) error {
	p, err := plan.MakeForest(s, plan.Options{NoPids: true})
	if err != nil {
		return fmt.Errorf("MakeForest NoPids: %w", err)
	}
	for _, j := range p.Joins {
		if j.Phase < plan.BarrierCreated {
			return fmt.Errorf("NoPids: task %d joins group %d before any barrier", j.Task, j.Group)
		}
	}
	return nil
}

// Big histories: the plan of a 10,000-task tree simulates back to it, a
// 100,000-task tree plans (the time is logged: about linear, 1-3 s here).
func TestMakeForestBigHistories(t *testing.T) {
	if testing.Short() {
		t.Skip("big histories in the long run")
	}
	for _, size := range []int{1000, 10000, 100000} {
		rng := rand.New(rand.NewPCG(uint64(size), 13))
		s := randomHistory(rng, size*5/2, 6, 4*1024*1024-1)
		if s == nil {
			t.Fatalf("%d: the model's tree is inconsistent", size)
		}
		start := time.Now()
		p, err := plan.MakeForest(s, plan.Options{})
		if err != nil {
			t.Fatalf("%d tasks: %v", len(s.Tasks), err)
		}
		t.Logf("%d tasks, %d namespaces: plan of %d tasks in %v", len(s.Tasks), len(s.Namespaces), len(p.Tasks), time.Since(start))
		if size <= 10000 {
			if err := checkRoundTrip(s, plan.Options{}); err != nil {
				t.Fatalf("%d tasks: %v", len(s.Tasks), err)
			}
		}
	}
}

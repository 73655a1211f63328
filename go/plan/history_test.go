package plan_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

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
		if err := checkRoundTrip(s, plan.Options{}); err != nil {
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

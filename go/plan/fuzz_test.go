package plan_test

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/ckpt-nl/ckpt-nl/go/internal/history"
	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/plan"
)

// FuzzMakeForest: random valid snapshots (the trees of random histories,
// from go/internal/history or, with kind odd, from histgen_test.go's
// model, which also kills namespaces) plan without refusal, and the plan
// simulated in both schedules gives the snapshot back.
func FuzzMakeForest(f *testing.F) {
	f.Add(uint64(1), uint8(20), uint8(2), uint8(0))
	f.Add(uint64(877), uint8(11), uint8(1), uint8(0))
	f.Add(uint64(2079), uint8(49), uint8(3), uint8(0))
	f.Add(uint64(251), uint8(100), uint8(3), uint8(1))
	f.Add(uint64(642), uint8(120), uint8(5), uint8(1))
	f.Fuzz(func(t *testing.T, seed uint64, size, levels, kind uint8) {
		var s *model.Snapshot
		if kind%2 == 0 {
			h := history.Generate(seed, history.Options{Tasks: 2 + int(size)%60, MaxLevel: 1 + int(levels)%6,
				Wrap: kind&2 == 0, Stops: kind&4 == 0})
			var err error
			if s, err = h.Snapshot(); err != nil {
				t.Skip("not a tree the model builds:", err)
			}
		} else {
			rng := rand.New(rand.NewPCG(seed, uint64(kind)))
			if s = randomHistory(rng, 5+int(size), 1+int(levels)%6, int32(40+rng.IntN(200))); s == nil {
				t.Skip("the small model's tree is inconsistent")
			}
		}
		if err := checkRoundTrip(s, plan.Options{}); errors.Is(err, plan.ErrNotYet) {
			// A documented gap (docs/DESIGN.md 4.4), not a wrong plan:
			// TestMakeForestHistories holds its rate at zero on the
			// histories make test runs.
			t.Skip(err)
		} else if err != nil {
			t.Fatal(err)
		}
	})
}

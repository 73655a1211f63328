package scenario

import (
	"testing"

	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/sim"
)

// TestSimulate checks that every scenario is a valid plan whose tree does
// not depend on how concurrent steps are ordered, and has the shape its
// name promises.
func TestSimulate(t *testing.T) {
	for _, name := range Names() {
		for seed := uint64(1); seed <= 3; seed++ {
			sc, err := Get(name, seed)
			if err != nil {
				t.Fatal(err)
			}
			fw, err := sim.Run(sc.Plan, sim.Forward)
			if err != nil {
				t.Fatalf("%s/%d: %v", name, seed, err)
			}
			rv, err := sim.Run(sc.Plan, sim.Reverse)
			if err != nil {
				t.Fatalf("%s/%d reverse: %v", name, seed, err)
			}
			a, err := fw.Snapshot(sc.Root, sc.Mode)
			if err != nil {
				t.Fatalf("%s/%d: %v", name, seed, err)
			}
			b, err := rv.Snapshot(sc.Root, sc.Mode)
			if err != nil {
				t.Fatalf("%s/%d reverse: %v", name, seed, err)
			}
			if d := model.Diff(a, b); len(d) != 0 {
				t.Fatalf("%s/%d: the order of concurrent steps matters: %q", name, seed, d)
			}
		}
	}
}

func TestWideAndChain(t *testing.T) {
	for _, sc := range []Scenario{Wide(500, 4), Chain(31)} {
		res, err := sim.Run(sc.Plan, sim.Forward)
		if err != nil {
			t.Fatalf("%s: %v", sc.Name, err)
		}
		s, err := res.Snapshot(sc.Root, sc.Mode)
		if err != nil {
			t.Fatalf("%s: %v", sc.Name, err)
		}
		t.Logf("%s: %d tasks, %d namespaces", sc.Name, len(s.Tasks), len(s.Namespaces))
	}
}

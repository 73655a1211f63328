package plan_test

import (
	"testing"

	"github.com/ckpt-nl/ckpt-nl/go/plan"
	"github.com/ckpt-nl/ckpt-nl/go/sim"
)

// TestFloor: the floor of a restore plan creates the same tasks with the
// same numbers and does nothing else.
func TestFloor(t *testing.T) {
	p, err := plan.MakeForest(scenarioSnapshot(t, "large", 3), plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := plan.Floor(p)
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	if f.Barriers() != 1 || len(f.Tasks) != len(p.Tasks) {
		t.Fatalf("floor: %d barriers, %d tasks; want 1 barrier and the plan's %d tasks", f.Barriers(), len(f.Tasks), len(p.Tasks))
	}
	for i, ft := range f.Tasks {
		for _, a := range ft.Actions {
			if a.Op != plan.OpClone && a.Op != plan.OpSetns && a.Op != plan.OpBarrier {
				t.Errorf("task %d: %s in the floor", i, a.Op)
			}
		}
		if len(ft.Numbers) != len(p.Tasks[i].Numbers) || ft.Flags != p.Tasks[i].Flags || ft.Creator != p.Tasks[i].Creator {
			t.Errorf("task %d differs from the plan's", i)
		}
	}
	if _, err := sim.Run(f, sim.Forward); err != nil {
		t.Errorf("the floor does not run: %v", err)
	}
}

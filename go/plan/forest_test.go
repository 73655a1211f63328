package plan_test

import (
	"os"
	"path/filepath"

	"fmt"
	"github.com/ckpt-nl/ckpt-nl/go/image"
	"testing"

	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/plan"
	"github.com/ckpt-nl/ckpt-nl/go/scenario"
	"github.com/ckpt-nl/ckpt-nl/go/sim"
)

// roundTrip plans the restore of s and simulates the plan in both
// schedules: the restored tree must be s again.
func roundTrip(t *testing.T, s *model.Snapshot, opt plan.Options) {
	t.Helper()
	p, err := plan.MakeForest(s, opt)
	if err != nil {
		t.Fatalf("MakeForest: %v", err)
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
			t.Fatalf("simulating the plan (order %d): %v", order, err)
		}
		got, err := res.Snapshot(root, s.Mode)
		if err != nil {
			t.Fatalf("snapshot of the simulated restore: %v", err)
		}
		if d := model.Diff(s, got); len(d) != 0 {
			t.Fatalf("restore differs from the image (order %d):\n%v", order, d)
		}
	}
}

func scenarioSnapshot(t *testing.T, name string, seed uint64) *model.Snapshot {
	t.Helper()
	sc, err := scenario.Get(name, seed)
	if err != nil {
		t.Fatal(err)
	}
	res, err := sim.Run(sc.Plan, sim.Forward)
	if err != nil {
		t.Fatal(err)
	}
	s, err := res.Snapshot(sc.Root, sc.Mode)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMakeForestScenarios(t *testing.T) {
	for _, name := range scenario.Names() {
		t.Run(name, func(t *testing.T) {
			roundTrip(t, scenarioSnapshot(t, name, 1), plan.Options{})
		})
	}
}

func TestMakeForestRandom(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 50
	}
	for seed := uint64(1); seed <= uint64(n); seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			roundTrip(t, scenarioSnapshot(t, "random", seed), plan.Options{})
		})
	}
}

func readImage(t *testing.T, name string) *model.Snapshot {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	s, err := image.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The five kinds of tree the planner once refused (issue 11), each an
// image of a real tree the kernel built from a random history.
func TestMakeForestRestartCases(t *testing.T) {
	for _, name := range []string{
		"parent-setsid-after-fork.img",
		"group-from-ancestor-ns.img",
		"group-of-a-session-leaders-child.img",
		"session-across-ns.img",
		"group-creator-cannot-name.img",
	} {
		t.Run(name, func(t *testing.T) {
			s := readImage(t, name)
			roundTrip(t, s, plan.Options{})
			roundTrip(t, s, plan.Options{Attach: true})
		})
	}
}

package history

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/plan"
	"github.com/ckpt-nl/ckpt-nl/go/sim"
)

func opts(n int) Options {
	return Options{Tasks: n, MaxLevel: 3, Wrap: true, Setns: true, Stops: true}
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, b := Generate(7, opts(40)), Generate(7, opts(40))
	if d := cmp.Diff(a.Calls, b.Calls); d != "" {
		t.Fatalf("same seed, different histories (-first +second):\n%s", d)
	}
}

// The plan of a history, run by the plan simulator in either order, must
// build the tree the machine built call by call: the barriers sequence the
// calls exactly as the history orders them.
func TestPlanMatchesMachine(t *testing.T) {
	for seed := uint64(0); seed < 300; seed++ {
		h := Generate(seed, opts(5+int(seed%56)))
		want, err := h.Snapshot()
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		p, err := h.plan(true)
		if err != nil {
			t.Fatalf("seed %d: %v\n%s", seed, err, h)
		}
		for _, order := range []sim.Order{sim.Forward, sim.Reverse} {
			res, err := sim.Run(p, order)
			if err != nil {
				t.Fatalf("seed %d order %d: %v\n%s", seed, order, err, h)
			}
			got, err := res.Snapshot(1, model.ModeContainer)
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			if d := model.Diff(want, got); len(d) > 0 {
				t.Fatalf("seed %d order %d: plan and machine disagree: %v\n%s", seed, order, d, h)
			}
		}
	}
}

// The generator reaches the shapes the issue names, over a few hundred
// seeds: pids lower than their parent's, groups and sessions read as 0 in
// a task's own namespace, dead leaders, zombies, stopped tasks, threads
// and tasks whose parent is in an ancestor namespace (setns).
func TestGeneratorReachesShapes(t *testing.T) {
	seen := map[string]int{}
	for seed := uint64(0); seed < 300; seed++ {
		h := Generate(seed, opts(40))
		s, err := h.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		for i := range s.Tasks {
			tk := &s.Tasks[i]
			p := s.Pid(tk.Pid)
			if par := s.Owner(tk.PPid); par != nil && par != tk {
				pp := s.Pid(par.Pid)
				if len(pp.Numbers) == len(p.Numbers) && p.Numbers[len(p.Numbers)-1] < pp.Numbers[len(pp.Numbers)-1] {
					seen["pid lower than its parent's"]++
				}
				if len(p.Numbers) > len(pp.Numbers)+1 || (len(p.Numbers) == len(pp.Numbers)+1 && p.Numbers[len(p.Numbers)-1] != 1) {
					seen["parent in an ancestor namespace, not an init"]++
				}
			}
			if g := s.Pid(tk.Pgid); g != nil && len(g.Numbers) < len(p.Numbers) {
				seen["group from an ancestor namespace"]++
			}
			if ss := s.Pid(tk.Sid); ss != nil && len(ss.Numbers) < len(p.Numbers) {
				seen["session from an ancestor namespace"]++
			}
			if s.Owner(tk.Sid) == nil {
				seen["dead session leader"]++
			}
			if s.Owner(tk.Pgid) == nil {
				seen["dead group leader"]++
			}
			switch tk.State {
			case model.Zombie:
				seen["zombie"]++
			case model.Stopped:
				seen["stopped"]++
			case model.Dead:
				seen["dead thread-group leader"]++
			}
			if tk.IsThread() {
				seen["thread"]++
			}
		}
	}
	for _, want := range []string{"pid lower than its parent's", "parent in an ancestor namespace, not an init",
		"group from an ancestor namespace", "session from an ancestor namespace", "dead session leader",
		"dead group leader", "zombie", "stopped", "dead thread-group leader", "thread"} {
		if seen[want] == 0 {
			t.Errorf("no %s in 300 histories (seen: %v)", want, seen)
		}
	}
}

// TestShrink: a history failing for a property of a few of its calls
// shrinks to those calls and what they need.
func TestShrink(t *testing.T) {
	h := Generate(5, opts(60))
	// "Fails" while some thread exists: the smallest such history is the
	// root, its setsid and one CLONE_THREAD (from the root).
	hasThread := func(h *History) bool {
		for _, c := range h.Calls {
			if c.Op == Fork && c.Flags&plan.Thread != 0 {
				return true
			}
		}
		return false
	}
	if !hasThread(h) {
		t.Fatal("seed 5 makes no thread; pick another")
	}
	got := Shrink(h, hasThread)
	if len(got.Calls) > 4 || !hasThread(got) {
		t.Fatalf("shrunk to %d calls:\n%s", len(got.Calls), got)
	}
	if _, err := got.Replay(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d calls shrunk to %d:\n%s", len(h.Calls), len(got.Calls), got)
}

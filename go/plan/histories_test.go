package plan_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/ckpt-nl/ckpt-nl/go/internal/history"
	"github.com/ckpt-nl/ckpt-nl/go/plan"
)

// histOptions are the histories the planner must handle whole: every
// call but setns (whose trees need the executor's setns).
func histOptions(tasks, level int) history.Options {
	return history.Options{Tasks: tasks, MaxLevel: level, Wrap: true, Stops: true}
}

// Trees of random global-order histories (go/internal/history): each
// plans without refusal and simulates back to itself, in both schedules,
// and plans without pid numbers too.
// Sizes are bucketed so that a failure says where refusals start.
func TestMakeForestHistories(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 600
	}
	type bucket struct{ runs, fails int }
	buckets := map[int]*bucket{}
	var first []string
	noPidsParentMoves := 0
	for seed := uint64(1); seed <= uint64(n); seed++ {
		tasks := 5 + int(seed*7919%56) // 5..60
		h := history.Generate(seed, histOptions(tasks, 1+int(seed%6)))
		s, err := h.Snapshot()
		if err != nil {
			t.Fatalf("seed %d: the model's tree: %v", seed, err)
		}
		b := buckets[len(s.Tasks)/10*10]
		if b == nil {
			b = &bucket{}
			buckets[len(s.Tasks)/10*10] = b
		}
		b.runs++
		err = checkRoundTrip(s, plan.Options{})
		if err == nil {
			// --no-pids plans cannot have a parent move its namespace
			// init (the coordinator fills in only group numbers): those
			// are counted, any other refusal fails.
			if err = checkNoPids(s); err != nil && strings.Contains(err.Error(), "MakeForest NoPids") {
				noPidsParentMoves++
				err = nil
			}
		}
		if err != nil {
			b.fails++
			if len(first) < 8 {
				first = append(first, fmt.Sprintf("seed %d (%d tasks): %v\n%v", seed, len(s.Tasks), err, h))
			}
		}
	}
	var keys []int
	for k := range buckets {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var report []string
	failed := 0
	for _, k := range keys {
		b := buckets[k]
		failed += b.fails
		report = append(report, fmt.Sprintf("%d-%d tasks: %d/%d", k, k+9, b.fails, b.runs))
	}
	t.Logf("failures by tree size: %s; --no-pids refusals (inits their parent moves): %d", strings.Join(report, ", "), noPidsParentMoves)
	if noPidsParentMoves > n/100 {
		t.Errorf("%d of %d histories refused with --no-pids", noPidsParentMoves, n)
	}
	if failed > 0 {
		t.Errorf("%d of %d histories failed; the first:\n%s", failed, n, strings.Join(first, "\n"))
	}
}

// A few bigger histories, up to 6 namespace levels.
func TestMakeForestBigHistoriesKernelModel(t *testing.T) {
	if testing.Short() {
		t.Skip("in the long run")
	}
	for _, size := range []int{120, 500, 2000} {
		for seed := uint64(1); seed <= 5; seed++ {
			h := history.Generate(seed, histOptions(size, 6))
			s, err := h.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			if err := checkRoundTrip(s, plan.Options{}); err != nil {
				t.Errorf("%d tasks, seed %d: %v", size, seed, err)
			}
		}
	}
}

package plan_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/model/modeltest"
	"github.com/ckpt-nl/ckpt-nl/go/plan"
	"github.com/ckpt-nl/ckpt-nl/go/sim"
)

// Every refusal MakeForest can still make: images no history of fork,
// clone, setsid, setpgid and exit can produce. Each is refused before
// anything is created, naming the task (and the other task involved) and
// the kernel rule.
func TestMakeForestRefusals(t *testing.T) {
	ns2 := []uint64{1, 2}
	for _, tc := range []struct {
		name  string
		tasks []modeltest.T
		mode  model.Mode
		nr    int32    // the task the refusal names
		says  []string // parts of the message
	}{{
		name: "session leader in another group",
		tasks: []modeltest.T{
			{Nr: 1, Pgid: 1, Sid: 1},
			{Nr: 2, PPid: 1, Pgid: 3, Sid: 2},
			{Nr: 3, PPid: 2, Pgid: 3, Sid: 2},
		},
		nr: 2, says: []string{"leads session 2", "process group 3", "setpgid refuses a session leader"},
	}, {
		name: "session member outside the leader's namespace",
		tasks: []modeltest.T{
			{Nr: 1, Pgid: 1, Sid: 1},
			{Pid: []int32{2, 1}, NS: ns2, PPid: 1, Pgid: 2, Sid: 2},
			{Nr: 3, PPid: 1, Pgid: 3, Sid: 2},
		},
		nr: 3, says: []string{"session 2", "clone creates only in the creator's namespace"},
	}, {
		name: "two sessions from outside one namespace",
		tasks: []modeltest.T{
			{Nr: 1, Pgid: 1, Sid: 1},
			{Nr: 2, PPid: 1, Pgid: 2, Sid: 2},
			{Pid: []int32{3, 1}, NS: ns2, PPid: 1, Pgid: 3, Sid: 1},
			{Pid: []int32{4, 2}, NS: ns2, PPid: 3, Pgid: 4, Sid: 2},
		},
		nr: 4, says: []string{"task 3", "sessions 2 and 1", "born in one session"},
	}, {
		name: "group owner in another session than its group",
		tasks: []modeltest.T{
			{Nr: 1, Pgid: 1, Sid: 1},
			{Nr: 2, PPid: 1, Pgid: 1, Sid: 1},
			{Nr: 3, PPid: 1, Pgid: 3, Sid: 3},
			{Nr: 4, PPid: 3, Pgid: 2, Sid: 3},
		},
		nr: 2, says: []string{"process group 2", "session 3", "setsid fails while a group with its pid exists"},
	}, {
		name: "namespace init in a session made inside its namespace",
		tasks: []modeltest.T{
			{Nr: 1, Pgid: 1, Sid: 1},
			{Pid: []int32{2, 1}, NS: ns2, PPid: 1, Pgid: 3, Sid: 3},
			{Pid: []int32{3, 2}, NS: ns2, PPid: 2, Pgid: 3, Sid: 3},
		},
		nr: 2, says: []string{"init of its namespace", "session 3", "never called setsid"},
	}, {
		name: "parent two namespaces up",
		tasks: []modeltest.T{
			{Nr: 1, Pgid: 1, Sid: 1},
			{Pid: []int32{2, 1}, NS: ns2, PPid: 1, Pgid: 1, Sid: 1},
			{Pid: []int32{3, 3, 1}, NS: []uint64{1, 2, 3}, PPid: 2, Pgid: 1, Sid: 1},
			{Pid: []int32{4, 4, 2}, NS: []uint64{1, 2, 3}, PPid: 1, Pgid: 1, Sid: 1},
		},
		nr: 4, says: []string{"neither its parent's nor a child of it"},
	}, {
		name: "entered with setns (not restored yet)",
		tasks: []modeltest.T{
			{Nr: 1, Pgid: 1, Sid: 1},
			{Pid: []int32{2, 1}, NS: ns2, PPid: 1, Pgid: 1, Sid: 1},
			{Pid: []int32{3, 2}, NS: ns2, PPid: 1, Pgid: 1, Sid: 1},
		},
		nr: 3, says: []string{"not that namespace's init", "setns"},
	}, {
		name: "pid 1 of a subtree image",
		mode: model.ModeSubtree,
		tasks: []modeltest.T{
			{Nr: 1, Pgid: 1, Sid: 1},
		},
		says: []string{"pid 1", "--in-place"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			mode := tc.mode
			if mode == 0 {
				mode = model.ModeContainer
			}
			s := modeltest.Build(t, mode, tc.tasks)
			_, err := plan.MakeForest(s, plan.Options{})
			checkRefusal(t, err, tc.nr, tc.says)
		})
	}
}

// Two tasks claiming one pid: a number of one namespace, or one pid object.
func TestMakeForestRefusesClaims(t *testing.T) {
	base := func() *model.Snapshot {
		return &model.Snapshot{Mode: model.ModeContainer,
			Namespaces: []model.Namespace{{Tag: 1}},
			Pids:       []model.Pid{{Tag: 1, NS: 1, Numbers: []int32{1}}, {Tag: 2, NS: 1, Numbers: []int32{2}}, {Tag: 3, NS: 1, Numbers: []int32{2}}},
			Tasks: []model.Task{
				{Pid: 1, Tgid: 1, Pgid: 1, Sid: 1, State: model.Alive},
				{Pid: 2, Tgid: 2, PPid: 1, Pgid: 1, Sid: 1, State: model.Alive},
				{Pid: 3, Tgid: 3, PPid: 1, Pgid: 1, Sid: 1, State: model.Alive},
			}}
	}
	s := base()
	_, err := plan.MakeForest(s, plan.Options{})
	checkRefusal(t, err, 2, []string{"task 2 (entry 1)", "both claim pid 2"})
	s = base()
	s.Pids = s.Pids[:2]
	s.Tasks[2].Pid, s.Tasks[2].Tgid = 2, 2
	_, err = plan.MakeForest(s, plan.Options{})
	checkRefusal(t, err, 2, []string{"task entry 1 claim one pid"})
}

func checkRefusal(t *testing.T, err error, nr int32, says []string) {
	t.Helper()
	var pe *plan.PlanError
	if !errors.As(err, &pe) {
		t.Fatalf("MakeForest: %v, want a refusal", err)
	}
	if diff := cmp.Diff(nr, pe.Nr); diff != "" {
		t.Errorf("the refusal names another task (-want +got):\n%s\n%v", diff, err)
	}
	for _, w := range says {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("refusal %q does not say %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "unsupported shape") {
		t.Errorf("refusal %q", err)
	}
}

// The simulator catches a plan whose waits form a cycle (the deadlock an
// earlier planner produced: a creator waiting for a child that waits, before
// its first barrier, for something that comes only after that barrier), and
// a barrier that a task can never reach.
func TestSimCatchesWaitCycles(t *testing.T) {
	task := func(creator int, ns int, nr int32, acts ...plan.Action) plan.Task {
		return plan.Task{Kind: plan.Placeholder, Creator: creator, NS: ns, Numbers: []int32{nr}, Image: -1, Actions: acts, Name: fmt.Sprint("t", nr)}
	}
	a := func(op plan.Op, x int32) plan.Action { return plan.Action{Op: op, A: x} }
	for _, tc := range []struct {
		name string
		p    plan.Plan
		want string
	}{{
		name: "creator waits for a child that reaps a task waiting at the barrier",
		p: plan.Plan{Base: 1, NSParent: []int{-1, 0}, NSLevel: []int{0, 1}, Tasks: []plan.Task{
			{Kind: plan.Launcher, Creator: -1, Image: -1, Actions: []plan.Action{a(plan.OpClone, 1), a(plan.OpBarrier, 1)}},
			func() plan.Task {
				x := task(0, 1, 1, a(plan.OpClone, 2), a(plan.OpBarrier, 1))
				x.Flags = plan.NewPID
				return x
			}(),
			task(1, 1, 2, a(plan.OpClone, 3), a(plan.OpReap, 3), a(plan.OpBarrier, 1)),
			task(2, 1, 3, a(plan.OpBarrier, 1), a(plan.OpExit, 0)),
		}},
		want: "blocks before its first barrier",
	}, {
		name: "a barrier a task created after it must reach",
		p: plan.Plan{Base: 1, NSParent: []int{-1, 0}, NSLevel: []int{0, 1}, Tasks: []plan.Task{
			{Kind: plan.Launcher, Creator: -1, Image: -1, Actions: []plan.Action{a(plan.OpClone, 1), a(plan.OpBarrier, 1), a(plan.OpBarrier, 2)}},
			func() plan.Task {
				x := task(0, 1, 1, a(plan.OpBarrier, 1), a(plan.OpClone, 2), a(plan.OpBarrier, 2))
				x.Flags = plan.NewPID
				return x
			}(),
			task(1, 1, 2, a(plan.OpBarrier, 1), a(plan.OpBarrier, 2)),
		}},
		want: "barrier 1",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sim.Run(&tc.p, sim.Forward)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("sim.Run: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

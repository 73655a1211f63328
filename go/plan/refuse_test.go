package plan_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/model/modeltest"
	"github.com/ckpt-nl/ckpt-nl/go/plan"
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

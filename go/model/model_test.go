package model_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/model/modeltest"
)

func TestBuildCanonical(t *testing.T) {
	want := modeltest.Build(t, model.ModeContainer, modeltest.JobControl())
	// Any order of the raw tasks gives the same snapshot, and tasks
	// outside the root's tree are ignored.
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 50; i++ {
		raw := modeltest.Raw(model.ModeContainer, modeltest.JobControl())
		rng.Shuffle(len(raw.Tasks), func(a, b int) { raw.Tasks[a], raw.Tasks[b] = raw.Tasks[b], raw.Tasks[a] })
		raw.Pids[500] = &model.RawPid{Numbers: []int32{500}, NS: []uint64{1}}
		raw.Tasks = append(raw.Tasks, model.RawTask{Pid: 500, Tgid: 500, PPid: 0, State: model.Alive})
		got, err := model.Build(raw)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("shuffle %d: snapshot differs (-want +got):\n%s", i, diff)
		}
	}
}

// TestBuildListedTwice: a process listed twice (here the root, once more
// as its own child) is refused, not walked forever; found by FuzzParse.
func TestBuildListedTwice(t *testing.T) {
	for _, dup := range []model.RawTask{
		{Pid: 1, Tgid: 1, PPid: 1, State: model.Alive},
		{Pid: 2, Tgid: 2, PPid: 1, State: model.Alive},
	} {
		raw := modeltest.Raw(model.ModeContainer, modeltest.JobControl())
		raw.Tasks = append(raw.Tasks, dup)
		_, err := model.Build(raw)
		want := fmt.Sprintf("process %d is listed twice", dup.Pid)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Build with task %d twice = %v, want an error containing %q", dup.Pid, err, want)
		}
	}
}

// TestBuildTraced: a task in a tracing stop in the tree is refused with
// ErrTraced naming it; one outside the tree does not matter.
func TestBuildTraced(t *testing.T) {
	raw := modeltest.Raw(model.ModeContainer, modeltest.JobControl())
	raw.Pids[500] = &model.RawPid{Numbers: []int32{500}, NS: []uint64{1}}
	raw.Tasks = append(raw.Tasks, model.RawTask{Pid: 500, Tgid: 500, PPid: 0, State: model.Traced})
	if _, err := model.Build(raw); err != nil {
		t.Fatalf("a traced task outside the tree: %v", err)
	}
	raw.Tasks[1].State = model.Traced
	_, err := model.Build(raw)
	var te *model.TracedError
	if !errors.Is(err, model.ErrTraced) || !errors.As(err, &te) || te.Nr != int32(raw.Pids[raw.Tasks[1].Pid].Numbers[0]) {
		t.Fatalf("Build with a traced task = %v, want a TracedError naming it", err)
	}
}

func TestBuildTags(t *testing.T) {
	s := modeltest.Build(t, model.ModeContainer, modeltest.JobControl())
	// Tags follow first reference in depth-first order: init(1), sh(2),
	// job1(3), job1b(4), job2(6) then its group 5, z(7), mt(8), thread 9...
	var order []int32
	for i := range s.Pids {
		order = append(order, s.Pids[i].Numbers[0])
	}
	if diff := cmp.Diff([]int32{1, 2, 3, 4, 6, 5, 7, 8, 9, 10, 11}, order); diff != "" {
		t.Errorf("pid objects in tag order (-want +got):\n%s", diff)
	}
	if got := s.Tasks[len(s.Tasks)-1]; got.Depth != 1 || s.Pid(got.Pid).NS != 2 {
		t.Errorf("nested task: depth %d ns %d, want 1 and 2", got.Depth, s.Pid(got.Pid).NS)
	}
	if mt := s.Tasks[6]; mt.State != model.Dead || mt.Comm != "mt" {
		t.Errorf("task 6 = %+v, want the dead leader mt", mt)
	}
	if diff := cmp.Diff([]model.Namespace{{Tag: 1}, {Tag: 2, Parent: 1, Level: 1}}, s.Namespaces); diff != "" {
		t.Errorf("namespaces (-want +got):\n%s", diff)
	}
	ghosts := s.Ghosts()
	if len(ghosts) != 1 || s.Nr(ghosts[0].Tag) != 5 || !strings.Contains(ghosts[0].Why, "process-group") {
		t.Errorf("ghosts = %+v, want pgid 5", ghosts)
	}
}

func TestBuildModes(t *testing.T) {
	subtree := []modeltest.T{
		{Nr: 20, Pgid: 20, Sid: modeltest.RootSession},
		{Nr: 21, PPid: 20, Pgid: 20, Sid: modeltest.RootSession},
		{Nr: 22, PPid: 20, Pgid: 0, Sid: modeltest.RootSession}, // group from an ancestor namespace
	}
	s := modeltest.Build(t, model.ModeSubtree, subtree)
	for i, task := range s.Tasks {
		if task.Sid != model.TagRootSession {
			t.Errorf("task %d sid tag %d, want the root-session tag", i, task.Sid)
		}
	}
	if s.Tasks[2].Pgid != model.TagOutside {
		t.Errorf("outside pgid tagged %d", s.Tasks[2].Pgid)
	}

	_, err := model.Build(modeltest.Raw(model.ModeContainer, subtree))
	if err == nil || !strings.Contains(err.Error(), "init of a pid namespace") {
		t.Errorf("container mode with a non-init root: %v", err)
	}
	outside := []modeltest.T{
		{Nr: 1, Pgid: 1, Sid: 1},
		{Nr: 2, PPid: 1, Pgid: 0, Sid: 1, Comm: "leaky"},
	}
	_, err = model.Build(modeltest.Raw(model.ModeContainer, outside))
	var oe *model.OutsideError
	if !errors.As(err, &oe) || oe.Nr != 2 || oe.Field != "process group" {
		t.Errorf("container with an outside pgid: %v, want an OutsideError naming task 2", err)
	}
}

func TestValidate(t *testing.T) {
	base := func() *model.Snapshot { return modeltest.Build(t, model.ModeContainer, modeltest.JobControl()) }
	tests := []struct {
		name   string
		mutate func(s *model.Snapshot)
		want   string
	}{
		{"depth beyond 32", func(s *model.Snapshot) { s.Pids[0].Numbers = make([]int32, 40) }, "depth 39 exceeds 31"},
		{"pid tag order", func(s *model.Snapshot) { s.Pids[1].Tag = 7 }, "pid section: entry 1: tag 7, want 2"},
		{"missing pid", func(s *model.Snapshot) { s.Tasks[1].Pgid = 99 }, "pgid tag 99 does not exist"},
		{"duplicate number", func(s *model.Snapshot) { s.Pids[2].Numbers[0] = 2 }, "number 2 at level 0 is also pid object 2's"},
		{"zero number", func(s *model.Snapshot) { s.Pids[2].Numbers[0] = 0 }, "out of range"},
		{"two owners", func(s *model.Snapshot) { s.Tasks[2].Pid = s.Tasks[1].Pid }, "is also task entry 1's"},
		{"thread before leader", func(s *model.Snapshot) { s.Tasks[6], s.Tasks[7] = s.Tasks[7], s.Tasks[6] }, "comes before (or without) its leader"},
		{"zombie thread", func(s *model.Snapshot) { s.Tasks[7].State = model.Zombie }, "cannot be a zombie"},
		{"group across sessions", func(s *model.Snapshot) { s.Tasks[3].Sid = s.Tasks[0].Sid }, "spans two sessions"},
		{"parent after child", func(s *model.Snapshot) { s.Tasks[2].PPid = s.Tasks[4].Tgid }, "not a process earlier"},
		{"exit code alive", func(s *model.Snapshot) { s.Tasks[1].ExitCode = 1 }, "not a zombie"},
		{"root session in container", func(s *model.Snapshot) { s.Tasks[1].Sid = model.TagRootSession }, "outside its namespace"},
		{"ns level", func(s *model.Snapshot) { s.Namespaces[1].Level = 3 }, "level 3, but its parent is at level 0"},
		{"depth mismatch", func(s *model.Snapshot) { s.Tasks[1].Depth = 1 }, "depth 1, but its pid object has depth 0"},
		{"session leader moved", func(s *model.Snapshot) {
			for i := range s.Tasks {
				if s.Tasks[i].Sid == s.Tasks[1].Pid {
					s.Tasks[i].Sid = s.Tasks[0].Sid
				}
			}
			s.Tasks[2].Sid = s.Tasks[1].Pid
			s.Tasks[3].Sid = s.Tasks[1].Pid
		}, "owner is in another session"},
	}
	if err := base().Validate(); err != nil {
		t.Fatalf("base snapshot invalid: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base()
			tt.mutate(s)
			err := s.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	a := modeltest.Build(t, model.ModeContainer, modeltest.JobControl())
	if d := model.Diff(a, a); len(d) != 0 {
		t.Fatalf("Diff(a, a) = %q", d)
	}
	tasks := modeltest.JobControl()
	tasks[3].State = model.Alive                                         // job1b no longer stopped
	tasks[5].Exit = 4 << 8                                               // z exited differently
	tasks[8].Pid = []int32{10, 3}                                        // nsinit has another number inside
	tasks[9].Pid = []int32{11, 2}                                        // unchanged
	tasks = append(tasks, modeltest.T{Nr: 12, PPid: 1, Pgid: 1, Sid: 1}) // extra task
	tasks[0].Comm = "other"                                              // metadata: ignored
	b := modeltest.Build(t, model.ModeContainer, tasks)
	want := []string{
		"pid 10: numbers per level [10 1] vs [10 3]",
		"pid 12: only in the second ([pid])",
		"task 4: state stopped vs alive",
		"task 7: exit status 0x300 vs 0x400",
		"task 12: only in the second",
	}
	if diff := cmp.Diff(want, model.Diff(a, b)); diff != "" {
		t.Errorf("Diff (-want +got):\n%s", diff)
	}
}

func TestWriteText(t *testing.T) {
	s := modeltest.Build(t, model.ModeContainer, modeltest.JobControl())
	var b bytes.Buffer
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"container snapshot: 10 tasks, 11 pid objects (2 numbers beyond level 0), 2 pid namespaces",
		"1 init pgid 1 sid 1",
		"├─ 2 sh pgid 2 sid 2",
		"7 z pgid 5 sid 2 <zombie, status 0x300>",
		"{9 mt-thread}",
		"8 mt pgid 8 sid 8 <dead leader>",
		"10/1 nsinit (ns2) pgid 10 sid 10",
		"5: dead process-group leader of 6 7",
		"ns2: level 1, child of ns1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteDot(t *testing.T) {
	s := modeltest.Build(t, model.ModeContainer, modeltest.JobControl())
	var b bytes.Buffer
	if err := s.WriteDot(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"digraph ckptnl", "subgraph cluster_ns1", "subgraph cluster_ns2", "t1 -> t2;",
		"<zombie 0x300>", "<stopped>", "<dead leader>", "ghost: dead process-group leader", "threads 9"} {
		if !strings.Contains(out, want) {
			t.Errorf("dot output lacks %q:\n%s", want, out)
		}
	}
}

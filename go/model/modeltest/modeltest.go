// Package modeltest builds snapshots from short tables for tests.
package modeltest

import (
	"testing"

	"github.com/ckpt-nl/ckpt-nl/go/model"
)

// RootSession in T.Sid means "the root's inherited session": the root's own
// Sid is then an outside number that Build replaces.
const RootSession = -1

// T is one task. Pids are named by their number at level 0.
type T struct {
	// Pid is the task's numbers per level, root namespace first. Nil means
	// {Nr}.
	Pid []int32
	Nr  int32 // shorthand for a one-level Pid
	// NS names the namespace at each level (default: 1 for level 0, then a
	// chain 2, 3, ...). Tasks sharing a namespace must use the same names.
	NS                    []uint64
	Tgid, PPid, Pgid, Sid int32 // level-0 numbers; 0 = outside (PPid: none)
	State                 model.State
	Exit                  int32
	Comm                  string
}

// P is a pid object with no task of its own (a dead leader's).
type P struct {
	Numbers []int32
	NS      []uint64
}

func (t *T) numbers() []int32 {
	if t.Pid != nil {
		return t.Pid
	}
	return []int32{t.Nr}
}

func chain(n int) []uint64 {
	ns := make([]uint64, n)
	for i := range ns {
		ns[i] = uint64(i + 1)
	}
	return ns
}

// Raw turns the table into the raw snapshot a backend would report, with
// the first task as the root. Pid keys are level-0 numbers.
func Raw(mode model.Mode, tasks []T, extra ...P) *model.Raw {
	r := &model.Raw{Mode: mode, Pids: map[uint64]*model.RawPid{}}
	add := func(nums []int32, ns []uint64) {
		if ns == nil {
			ns = chain(len(nums))
		}
		r.Pids[uint64(nums[0])] = &model.RawPid{Numbers: nums, NS: ns}
	}
	for _, p := range extra {
		add(p.Numbers, p.NS)
	}
	for i := range tasks {
		t := &tasks[i]
		add(t.numbers(), t.NS)
	}
	// Groups and sessions of tasks in nested namespaces default to their
	// own pid's namespaces when not given.
	key := func(nr int32) uint64 {
		if nr <= 0 {
			return 0
		}
		if r.Pids[uint64(nr)] == nil {
			r.Pids[uint64(nr)] = &model.RawPid{Numbers: []int32{nr}, NS: []uint64{1}}
		}
		return uint64(nr)
	}
	rootSid := int32(0)
	for i := range tasks {
		t := &tasks[i]
		nr := t.numbers()[0]
		tgid := t.Tgid
		if tgid == 0 {
			tgid = nr
		}
		state := t.State
		if state == 0 {
			state = model.Alive
		}
		if state == model.Dead {
			state = model.Zombie // backends report dead leaders as zombies
		}
		sid := t.Sid
		if i == 0 && sid == RootSession {
			sid = 999999 // an outside session in the root's namespace
			rootSid = sid
		} else if sid == RootSession {
			sid = rootSid
		}
		r.Tasks = append(r.Tasks, model.RawTask{
			Pid: key(nr), Tgid: key(tgid), PPid: key(t.PPid), Pgid: key(t.Pgid), Sid: key(sid),
			State: state, ExitCode: t.Exit, Comm: t.Comm,
		})
	}
	r.RootPid = r.Tasks[0].Pid
	return r
}

// Build is Raw followed by model.Build; it fails the test on error.
func Build(tb testing.TB, mode model.Mode, tasks []T, extra ...P) *model.Snapshot {
	tb.Helper()
	s, err := model.Build(Raw(mode, tasks, extra...))
	if err != nil {
		tb.Fatalf("model.Build: %v", err)
	}
	return s
}

// JobControl is a small tree with most of what a snapshot can hold: a
// container init, a shell session with two jobs (one with a dead group
// leader), a zombie, a stopped task, a thread group whose leader is dead,
// and a nested namespace.
func JobControl() []T {
	return []T{
		{Nr: 1, Pgid: 1, Sid: 1, Comm: "init"},
		{Nr: 2, PPid: 1, Pgid: 2, Sid: 2, Comm: "sh"},
		{Nr: 3, PPid: 2, Pgid: 3, Sid: 2, Comm: "job1"},
		{Nr: 4, PPid: 2, Pgid: 3, Sid: 2, Comm: "job1b", State: model.Stopped},
		{Nr: 6, PPid: 2, Pgid: 5, Sid: 2, Comm: "job2"},
		{Nr: 7, PPid: 6, Pgid: 5, Sid: 2, Comm: "z", State: model.Zombie, Exit: 3 << 8},
		{Nr: 8, PPid: 1, Pgid: 8, Sid: 8, Comm: "mt", State: model.Dead},
		{Nr: 9, Tgid: 8, PPid: 1, Pgid: 8, Sid: 8, Comm: "mt-thread"},
		{Pid: []int32{10, 1}, PPid: 1, Pgid: 10, Sid: 10, Comm: "nsinit"},
		{Pid: []int32{11, 2}, PPid: 10, Pgid: 10, Sid: 10, Comm: "nschild"},
	}
}

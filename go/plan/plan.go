// Package plan is the creation forest of a restart (docs/DESIGN.md
// section 4): who creates each task, with which clone flags and pid
// numbers, and what each task does, in order: create children, setsid,
// setpgid, meet the coordinator at barriers, and exit, stop or sleep.
//
// A plan is the executor's program (go/executor runs it; executor/plan.h
// lays it out in memory) and the simulator's input (go/sim predicts the
// tree it makes). MakeForest computes the plan that restores a snapshot;
// Builder writes plans by hand for test trees.
//
// Semantics the executor guarantees and the simulator models: a task runs
// its actions in order; OpClone returns only after the child has reached
// its first barrier (or exited); tasks waiting at barrier k all continue
// together once every task that has a barrier k reached it; what tasks do
// between two barriers happens concurrently, so a valid plan does not
// depend on the order.
package plan

import (
	"fmt"
	"strings"
)

// Op is an action; the values are executor/plan.h's CR_OP_*.
type Op uint32

const (
	OpNone       Op = 0
	OpClone      Op = 1  // A: child task index
	OpSetsid     Op = 2  //
	OpSetpgid    Op = 3  // A: pgid as the task sees it (0: own); B: a child's pid (0: itself)
	OpSubreaper  Op = 4  //
	OpBarrier    Op = 5  // A: barrier number (1..MaxBarriers-1)
	OpExit       Op = 6  // A: wait status (exit code << 8, or a signal)
	OpExitThread Op = 7  //
	OpStop       Op = 8  //
	OpReap       Op = 9  // A: child task index; B: its pid as the reaper sees it (0: as its creator saw it)
	OpReapAll    Op = 10 //
	OpAttach     Op = 11 // A: kernel restart context id
	OpPdeathsig  Op = 12 // A: signal on the parent's death (0: none)
	OpSetns      Op = 13 // A: a pid whose namespace the task's children go to
	OpLastPid    Op = 14 // A: written to ns_last_pid (the next pid is A+1)
	OpWaitExit   Op = 15 // A: child task index, B: its pid here; waits until it is a zombie
	OpWaitGone   Op = 16 // A: task index, B: its pid here; waits until the pid is free (a released thread)
)

var opNames = [...]string{"none", "clone", "setsid", "setpgid", "subreaper", "barrier", "exit", "exit-thread", "stop", "reap", "reap-all", "attach", "pdeathsig", "setns", "last-pid", "wait-exit", "wait-gone"}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", uint32(o))
}

// Flags of a task's creation; the values are executor/plan.h's CR_F_*.
type Flags uint32

const (
	Thread Flags = 1 << 0 // CLONE_THREAD (with VM, files, sighand...)
	Parent Flags = 1 << 1 // CLONE_PARENT: a sibling of its creator
	NewPID Flags = 1 << 2 // CLONE_NEWPID: init of a new pid namespace
)

func (f Flags) String() string {
	var s []string
	for _, x := range []struct {
		f    Flags
		name string
	}{{Thread, "CLONE_THREAD"}, {Parent, "CLONE_PARENT"}, {NewPID, "CLONE_NEWPID"}} {
		if f&x.f != 0 {
			s = append(s, x.name)
		}
	}
	return strings.Join(s, "|")
}

// MaxBarriers bounds barrier numbers. The executor keeps one arrival
// counter per barrier after the plan's actions (executor/plan.h), so the
// bound only keeps a corrupt plan from asking for gigabytes.
const MaxBarriers = 1 << 20

// Kind says why a task exists.
type Kind uint8

const (
	Launcher    Kind = iota // the executor process the coordinator starts
	Restored                // a task of the image
	Ghost                   // holds a dead leader's pid, exits once others joined
	Placeholder             // gives an orphan its parent history, then exits
	Init                    // an init the tool provides for a subtree restart
)

func (k Kind) String() string {
	return [...]string{"launcher", "task", "ghost", "placeholder", "init"}[k]
}

// Action is one step of a task.
type Action struct {
	Op   Op
	A, B int32
}

// Task is one task of the plan.
type Task struct {
	Kind    Kind
	Creator int // task index; -1 for the launcher
	Flags   Flags
	// Numbers are the pid to ask for at each namespace level, from level
	// Plan.Base (the image's root namespace) down to the task's own
	// namespace. Nil: whatever the kernel gives.
	Numbers []int32
	// NS identifies the task's pid namespace (the plan's own numbering:
	// 0 is the namespace of the launcher, 1 the image's root namespace).
	NS int
	// Expect is the pid clone3 must return to the creator (0: unchecked).
	Expect int32
	// ExitSignal is the signal the parent gets when the task ends.
	ExitSignal int32
	Actions    []Action
	// Image is the index of the snapshot task this task restores, or -1.
	Image int
	// Tag is the snapshot pid object whose pid the task holds (tasks and
	// ghosts), or 0.
	Tag uint32
	// Session and Group are a ghost's session and group tags (0 when
	// they are not to be checked).
	Session, Group uint32
	// Name says what the task is for, in messages.
	Name string
	// Comm is the name the task gives itself (at most 15 bytes).
	Comm string
}

// Plan is a creation forest: Tasks[0] is the launcher.
type Plan struct {
	Tasks []Task
	// NSParent[i] is the parent of plan namespace i (NSParent[0] = -1).
	NSParent []int
	// NSLevel[i] is the level of plan namespace i below the launcher's (0).
	NSLevel []int
	// Base is the level of the image's root namespace: 1 when the plan
	// creates it (the usual case), 0 when it restores into the launcher's.
	Base int
	// Joins are setpgid arguments to fill in at run time (NoPids plans).
	Joins []Join
	// Release is the barrier where the tree is validated and released
	// (0: the last one); barriers after it order what follows.
	Release int
}

// ReleaseBarrier is the barrier where the tree is validated and released.
func (p *Plan) ReleaseBarrier() int {
	if p.Release > 0 {
		return p.Release
	}
	return p.Barriers()
}

// Expected returns, for each barrier number k from 0 to Barriers(), how
// many tasks meet at it.
func (p *Plan) Expected() []uint32 {
	e := make([]uint32, p.Barriers()+1)
	for i := range p.Tasks {
		for _, a := range p.Tasks[i].Actions {
			if a.Op == OpBarrier && a.A > 0 && a.A < MaxBarriers {
				e[a.A]++
			}
		}
	}
	return e
}

// Barriers is the highest barrier number the plan uses.
func (p *Plan) Barriers() int {
	n := 0
	for i := range p.Tasks {
		for _, a := range p.Tasks[i].Actions {
			if a.Op == OpBarrier && a.A < MaxBarriers && int(a.A) > n {
				n = int(a.A)
			}
		}
	}
	return n
}

// Validate checks the plan's structure: creators exist and come first,
// each task is created exactly once by its creator, numbers fit their
// namespaces, actions are known, barriers are in order.
func (p *Plan) Validate() error {
	if len(p.Tasks) == 0 || p.Tasks[0].Kind != Launcher || p.Tasks[0].Creator != -1 {
		return fmt.Errorf("plan: task 0 must be the launcher")
	}
	if len(p.NSParent) != len(p.NSLevel) || len(p.NSParent) == 0 || p.NSParent[0] != -1 {
		return fmt.Errorf("plan: bad namespace table")
	}
	created := make([]int, len(p.Tasks))
	for i := range p.Tasks {
		t := &p.Tasks[i]
		bad := func(format string, args ...any) error {
			return fmt.Errorf("plan: task %d (%s): %s", i, t.Name, fmt.Sprintf(format, args...))
		}
		if i > 0 && (t.Creator < 0 || t.Creator >= len(p.Tasks)) {
			return bad("creator %d does not exist", t.Creator)
		}
		if t.NS < 0 || t.NS >= len(p.NSLevel) {
			return bad("namespace %d does not exist", t.NS)
		}
		if t.Numbers != nil && len(t.Numbers) != p.NSLevel[t.NS]-p.Base+1 {
			return bad("%d numbers for a namespace at level %d (base %d)", len(t.Numbers), p.NSLevel[t.NS], p.Base)
		}
		if len(t.Numbers) > 32 {
			return bad("%d levels", len(t.Numbers))
		}
		last := 0
		for _, a := range t.Actions {
			switch a.Op {
			case OpClone, OpReap, OpWaitExit, OpWaitGone:
				if a.A <= 0 || int(a.A) >= len(p.Tasks) {
					return bad("%s of task %d, which does not exist", a.Op, a.A)
				}
				if a.Op == OpClone {
					if c := &p.Tasks[a.A]; c.Creator != i {
						return bad("clones task %d, whose creator is %d", a.A, c.Creator)
					}
					created[a.A]++
				}
			case OpBarrier:
				if a.A <= int32(last) || a.A >= MaxBarriers {
					return bad("barrier %d after barrier %d", a.A, last)
				}
				last = int(a.A)
			case OpSetsid, OpSetpgid, OpSubreaper, OpExit, OpExitThread, OpStop, OpReapAll, OpAttach, OpPdeathsig,
				OpSetns, OpLastPid:
			default:
				return bad("unknown action %d", a.Op)
			}
		}
	}
	for i := 1; i < len(p.Tasks); i++ {
		if created[i] != 1 {
			return fmt.Errorf("plan: task %d (%s) is cloned %d times", i, p.Tasks[i].Name, created[i])
		}
	}
	return nil
}

// NSAt is the ancestor at level of plan namespace ns (ns itself when it
// is not deeper).
func (p *Plan) NSAt(ns, level int) int {
	for p.NSLevel[ns] > level {
		ns = p.NSParent[ns]
	}
	return ns
}

// SetTID returns the clone3 set_tid array for task i: its numbers,
// innermost namespace first.
func (t *Task) SetTID() []int32 {
	out := make([]int32, len(t.Numbers))
	for i, n := range t.Numbers {
		out[len(out)-1-i] = n
	}
	return out
}

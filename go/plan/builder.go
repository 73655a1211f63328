package plan

import (
	"fmt"
	"math/rand/v2"
	"syscall"
)

// Builder writes a plan by hand, for the trees tests build. Calls on a
// task's handle append to that task's actions, so a scenario reads in the
// order the tree comes to be: a.Fork() runs the child's whole creation
// (everything called on the child before a's next call) before a goes on.
// Pid numbers are chosen per namespace, in order or at random, and asked
// for with set_tid, so the builder knows every task's identity.
type Builder struct {
	p      Plan
	next   []int32 // per plan namespace: the next number to hand out
	rng    *rand.Rand
	used   []map[int32]bool
	post   [][]Action // actions after the park barrier, per task
	exited []bool
	group  []int // thread-group leader of each task
}

// T is a handle on one task of a Builder.
type T struct {
	b   *Builder
	idx int
}

// NewBuilder starts a plan whose image root namespace the launcher
// creates. With rng, pids are random (below 32768) rather than sequential.
func NewBuilder(rng *rand.Rand) *Builder {
	b := &Builder{rng: rng}
	b.p.Base = 1
	b.p.NSParent = []int{-1}
	b.p.NSLevel = []int{0}
	b.next = []int32{1}
	b.used = []map[int32]bool{{}}
	b.p.Tasks = []Task{{Kind: Launcher, Creator: -1, Image: -1, Name: "launcher", Comm: "ckpt-nl-launch", ExitSignal: int32(syscall.SIGCHLD)}}
	b.post = [][]Action{nil}
	b.exited = []bool{false}
	b.group = []int{0}
	return b
}

// Launcher is the handle of task 0.
func (b *Builder) Launcher() *T { return &T{b: b, idx: 0} }

func (b *Builder) newNS(parent int) int {
	b.p.NSParent = append(b.p.NSParent, parent)
	b.p.NSLevel = append(b.p.NSLevel, b.p.NSLevel[parent]+1)
	b.next = append(b.next, 1)
	b.used = append(b.used, map[int32]bool{})
	return len(b.p.NSParent) - 1
}

// number picks a free number in plan namespace ns.
func (b *Builder) number(ns int) int32 {
	used := b.used[ns]
	var n int32
	if b.rng != nil && len(used) > 0 { // a namespace's init is always 1
		for {
			n = int32(2 + b.rng.IntN(32766))
			if !used[n] {
				break
			}
		}
	} else {
		for n = b.next[ns]; used[n]; n++ {
		}
		b.next[ns] = n + 1
	}
	used[n] = true
	return n
}

func (b *Builder) add(creator int, flags Flags, name string) *T {
	c := &b.p.Tasks[creator]
	ns := c.NS
	if flags&NewPID != 0 {
		ns = b.newNS(c.NS)
	}
	t := Task{Kind: Restored, Creator: creator, Flags: flags, NS: ns, Image: -1, Name: name, Comm: name,
		ExitSignal: int32(syscall.SIGCHLD)}
	if flags&Thread != 0 {
		t.ExitSignal = 0
	}
	// Numbers from the image root namespace (level Base) down to ns.
	var chain []int
	for n := ns; n >= 0 && b.p.NSLevel[n] >= b.p.Base; n = b.p.NSParent[n] {
		chain = append([]int{n}, chain...)
	}
	for _, n := range chain {
		t.Numbers = append(t.Numbers, b.number(n))
	}
	if lc := b.p.NSLevel[c.NS]; lc >= b.p.Base {
		t.Expect = t.Numbers[lc-b.p.Base]
	}
	b.p.Tasks = append(b.p.Tasks, t)
	b.post = append(b.post, nil)
	b.exited = append(b.exited, false)
	idx := len(b.p.Tasks) - 1
	if flags&Thread != 0 {
		b.group = append(b.group, b.group[creator])
	} else {
		b.group = append(b.group, idx)
	}
	if t.Name == "" {
		b.p.Tasks[idx].Name = fmt.Sprintf("t%d", idx)
	}
	b.p.Tasks[creator].Actions = append(b.p.Tasks[creator].Actions, Action{Op: OpClone, A: int32(idx)})
	return &T{b: b, idx: idx}
}

func (t *T) do(op Op, a int32) *T {
	tk := &t.b.p.Tasks[t.idx]
	tk.Actions = append(tk.Actions, Action{Op: op, A: a})
	return t
}

func (t *T) later(op Op, a int32) *T {
	t.b.post[t.idx] = append(t.b.post[t.idx], Action{Op: op, A: a})
	return t
}

// Index is the task's index in the plan.
func (t *T) Index() int { return t.idx }

// Fork creates a child process in the same pid namespace.
func (t *T) Fork(name string) *T { return t.b.add(t.idx, 0, name) }

// ForkParent creates a sibling (CLONE_PARENT).
func (t *T) ForkParent(name string) *T { return t.b.add(t.idx, Parent, name) }

// ForkNS creates a child that is the init of a new pid namespace.
func (t *T) ForkNS(name string) *T { return t.b.add(t.idx, NewPID, name) }

// Thread creates a thread in the task's thread group.
func (t *T) Thread(name string) *T { return t.b.add(t.idx, Thread, name) }

// Setsid makes the task a session leader.
func (t *T) Setsid() *T { return t.do(OpSetsid, 0) }

// Setpgid moves the task to the group of leader (nil: its own group).
func (t *T) Setpgid(leader *T) *T {
	if leader == nil {
		return t.do(OpSetpgid, 0)
	}
	return t.do(OpSetpgid, t.b.PidIn(leader, t))
}

// Subreaper makes the task a child subreaper.
func (t *T) Subreaper() *T { return t.do(OpSubreaper, 0) }

// Exit ends the task's whole thread group now with a wait status (code
// << 8, or a signal).
func (t *T) Exit(status int32) *T {
	for i, g := range t.b.group {
		if g == t.b.group[t.idx] {
			t.b.exited[i] = true
		}
	}
	return t.do(OpExit, status)
}

// ExitThread ends the task's thread now (a group leader becomes dead).
func (t *T) ExitThread() *T {
	t.b.exited[t.idx] = true
	return t.do(OpExitThread, 0)
}

// Reap waits for child c, which must have exited, and reaps it now.
func (t *T) Reap(c *T) *T { return t.do(OpReap, int32(c.idx)) }

// Zombie makes the task exit with status once the tree is parked; its
// parent does not reap it.
func (t *T) Zombie(status int32) *T { return t.later(OpExit, status) }

// Stop makes the task stop (SIGSTOP) once the tree is parked.
func (t *T) Stop() *T { return t.later(OpStop, 0) }

// LaterExitThread ends the task's thread once the tree is parked.
func (t *T) LaterExitThread() *T { return t.later(OpExitThread, 0) }

// ReapAll makes the task reap every child forever once the tree is
// parked, as an init does.
func (t *T) ReapAll() *T { return t.later(OpReapAll, 0) }

// Numbers returns the task's numbers from the image root namespace down.
func (t *T) Numbers() []int32 { return t.b.p.Tasks[t.idx].Numbers }

// PidIn is the number of task x's pid as task viewer sees it.
func (b *Builder) PidIn(x, viewer *T) int32 {
	lv := b.p.NSLevel[b.p.Tasks[viewer.idx].NS]
	return b.p.Tasks[x.idx].Numbers[lv-b.p.Base]
}

// Plan finishes the plan: every task that has not exited meets at barrier
// 1 (the tree is parked), then does what was asked for later.
func (b *Builder) Plan() *Plan {
	p := b.p
	p.Tasks = append([]Task(nil), b.p.Tasks...)
	for i := range p.Tasks {
		if b.exited[i] {
			continue
		}
		p.Tasks[i].Actions = append(append(append([]Action(nil), p.Tasks[i].Actions...),
			Action{Op: OpBarrier, A: 1}), b.post[i]...)
	}
	return &p
}

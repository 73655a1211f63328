package sim

import (
	"errors"
	"fmt"
	"slices"
	"syscall"

	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/plan"
)

// Machine is the simulated kernel driven one call at a time, in a global
// order, the way a history runs: the random-history generator's model of
// what each call does (go/internal/history), and the oracle checked
// against the real kernel by replaying the same calls there.
//
// Task 0 is the launcher, outside every namespace the machine creates;
// its first child with plan.NewPID opens plan namespace 1 at level 1 (the
// image's root namespace, plan.Base). Pid numbers are allocated as
// kernel/pid.c alloc_pid does when no set_tid is given: at each level,
// innermost first, the lowest free number from the namespace's cursor up,
// wrapping to RESERVED_PIDS (300), or to 1 while the cursor has not passed
// it; ns_last_pid moves the cursor (kernel/pid_namespace.c).
//
// Every call returns nil or an error that wraps the errno the kernel
// would return (errors.Is(err, syscall.EPERM)).
type Machine struct {
	st     *state
	cursor []int32 // per plan namespace: the next number to try
}

// PidMax is the highest pid plus one that Machine allocates: the default
// kernel.pid_max of a machine with up to 32 CPUs.
const PidMax = 32768

const reservedPids = 300

// NewMachine returns a machine holding only the launcher.
func NewMachine() *Machine {
	p := &plan.Plan{Tasks: []plan.Task{{Kind: plan.Launcher, Creator: -1, Image: -1, Name: "launcher"}},
		NSParent: []int{-1}, NSLevel: []int{0}, Base: 1}
	st := &state{p: p, threads: []*thread{nil}, pc: []int{0}, blocked: []bool{false}, done: []bool{false},
		used: map[[2]int64]*pidObj{}, reaper: map[int]*proc{}}
	st.threads[0] = st.launcher()
	return &Machine{st: st, cursor: []int32{0}}
}

// Plan is the creation forest of the tasks made so far: creators, flags,
// namespaces and the numbers the machine gave them (no actions).
func (m *Machine) Plan() *plan.Plan { return m.st.p }

// Len is the number of tasks made so far, the launcher included.
func (m *Machine) Len() int { return len(m.st.threads) }

// Result is the tree as it stands, for Snapshot.
func (m *Machine) Result() *Result { return &Result{st: m.st} }

func (m *Machine) thread(i int) (*thread, error) {
	if i < 0 || i >= len(m.st.threads) {
		return nil, refuse(syscall.ESRCH, "task %d does not exist", i)
	}
	th := m.st.threads[i]
	if th.exited || th.proc.zombie || th.proc.gone {
		return nil, refuse(syscall.ESRCH, "task %d has exited", i)
	}
	if th.proc.stopped {
		return nil, refuse(syscall.EINVAL, "task %d is stopped and cannot call", i)
	}
	return th, nil
}

// alloc is idr_alloc_cyclic over the numbers of plan namespace ns.
func (m *Machine) alloc(ns int) (int32, error) {
	min := int32(1)
	if m.cursor[ns] > reservedPids {
		min = reservedPids
	}
	free := func(nr int32) bool { return m.st.used[[2]int64{int64(ns), int64(nr)}] == nil }
	for nr := max(m.cursor[ns], min); nr < PidMax; nr++ {
		if free(nr) {
			m.cursor[ns] = nr + 1
			return nr, nil
		}
	}
	for nr := min; nr < max(m.cursor[ns], min); nr++ {
		if free(nr) {
			m.cursor[ns] = nr + 1
			return nr, nil
		}
	}
	return 0, refuse(syscall.EAGAIN, "no free pid in namespace %d", ns)
}

// Clone is clone3 by task creator with flags (no set_tid); it returns the
// new task's index. comm names it.
func (m *Machine) Clone(creator int, flags plan.Flags, comm string) (int, error) {
	c, err := m.thread(creator)
	if err != nil {
		return 0, err
	}
	st := m.st
	if flags&plan.Parent != 0 && c.proc.parent == nil {
		return 0, refuse(syscall.EINVAL, "CLONE_PARENT by a task without a parent in the machine")
	}
	// copy_process refuses these before alloc_pid: no number is used up.
	if flags&plan.Parent != 0 && flags&plan.Thread == 0 && st.reaper[c.ns] == c.proc {
		return 0, refuse(syscall.EINVAL, "an init cannot CLONE_PARENT")
	}
	if flags&(plan.Thread|plan.NewPID) != 0 && c.nsKids != c.ns {
		return 0, refuse(syscall.EINVAL, "CLONE_THREAD or CLONE_NEWPID after setns to another pid namespace")
	}
	// undo takes back a clone the kernel would refuse: the pids it took
	// and the namespace it opened.
	saved := slices.Clone(m.cursor)
	undo := func() {
		m.cursor = saved
		st.p.NSParent, st.p.NSLevel = st.p.NSParent[:len(saved)], st.p.NSLevel[:len(saved)]
	}
	ns := c.nsKids
	if flags&plan.NewPID != 0 {
		if flags&plan.Thread != 0 {
			return 0, refuse(syscall.EINVAL, "CLONE_NEWPID with CLONE_THREAD")
		}
		if st.p.NSLevel[ns]+1 > model.MaxDepth {
			return 0, refuse(syscall.ENOSPC, "pid namespaces nest %d deep at most", model.MaxDepth)
		}
		st.p.NSParent = append(st.p.NSParent, ns)
		st.p.NSLevel = append(st.p.NSLevel, st.p.NSLevel[ns]+1)
		m.cursor = append(m.cursor, 0)
		ns = len(st.p.NSParent) - 1
	}
	if st.p.NSLevel[ns] < st.p.Base {
		return 0, refuse(syscall.EINVAL, "the machine models namespaces from level %d", st.p.Base)
	}
	numbers := make([]int32, st.p.NSLevel[ns]-st.p.Base+1)
	for l := len(numbers) - 1; l >= 0; l-- {
		nr, err := m.alloc(st.nsAt(ns, st.p.Base+l))
		if err != nil {
			undo()
			return 0, err
		}
		numbers[l] = nr
	}
	i := len(st.threads)
	exitSignal := int32(syscall.SIGCHLD)
	if flags&(plan.Thread|plan.Parent) != 0 {
		exitSignal = 0 // clone3 takes the creator's (kernel/fork.c clone3_args_valid)
	}
	st.p.Tasks = append(st.p.Tasks, plan.Task{Kind: plan.Restored, Creator: creator, Flags: flags, NS: ns,
		Numbers: numbers, Image: -1, Name: comm, Comm: comm, ExitSignal: exitSignal})
	st.threads = append(st.threads, nil)
	st.pc = append(st.pc, 0)
	st.blocked = append(st.blocked, false)
	st.done = append(st.done, false)
	if err := st.clone(creator, i); err != nil {
		st.p.Tasks = st.p.Tasks[:i]
		st.threads, st.pc, st.blocked, st.done = st.threads[:i], st.pc[:i], st.blocked[:i], st.done[:i]
		undo()
		var se *Error
		if errors.As(err, &se) {
			return 0, refuse(syscall.EINVAL, "%s", se.Err)
		}
		return 0, err
	}
	return i, nil
}

// Setsid is setsid() by task i.
func (m *Machine) Setsid(i int) error {
	th, err := m.thread(i)
	if err != nil {
		return err
	}
	if e := m.st.setsid(th); e != nil {
		return e
	}
	return nil
}

// Setpgid is setpgid(pid, pgid) by task i, with numbers as i sees them.
func (m *Machine) Setpgid(i int, pid, pgid int32) error {
	th, err := m.thread(i)
	if err != nil {
		return err
	}
	if e := m.st.setpgid(th, pid, pgid); e != nil {
		return e
	}
	return nil
}

// Setns is setns(pidfd_open(nr), CLONE_NEWPID) by task i.
func (m *Machine) Setns(i int, nr int32) error {
	th, err := m.thread(i)
	if err != nil {
		return err
	}
	if e := m.st.setns(th, nr); e != nil {
		return e
	}
	return nil
}

// Subreaper is prctl(PR_SET_CHILD_SUBREAPER, 1) by task i.
func (m *Machine) Subreaper(i int) error {
	th, err := m.thread(i)
	if err != nil {
		return err
	}
	th.proc.subreaper = true
	m.st.propagateSubreaper(th.proc)
	return nil
}

// SetLastPid is task i writing nr to /proc/sys/kernel/ns_last_pid: the
// next number its own namespace hands out is the lowest free one above nr.
func (m *Machine) SetLastPid(i int, nr int32) error {
	th, err := m.thread(i)
	if err != nil {
		return err
	}
	if nr < 0 || nr >= PidMax {
		return refuse(syscall.EINVAL, "ns_last_pid %d out of range", nr)
	}
	if m.st.p.NSLevel[th.ns] < m.st.p.Base {
		return refuse(syscall.EINVAL, "the launcher's namespace is not modelled")
	}
	m.cursor[th.ns] = nr + 1
	return nil
}

// Exit is exit_group(status>>8) by task i (status: a wait status).
func (m *Machine) Exit(i int, status int32) error {
	th, err := m.thread(i)
	if err != nil {
		return err
	}
	if m.st.reaper[th.ns] == th.proc {
		return refuse(syscall.EINVAL, "task %d is its namespace's init: its exit kills the namespace", i)
	}
	return m.st.exitGroup(th.proc, status)
}

// ExitThread is exit() of thread i alone; its group lives on in others.
func (m *Machine) ExitThread(i int) error {
	th, err := m.thread(i)
	if err != nil {
		return err
	}
	if liveThreads(th.proc) < 2 {
		return refuse(syscall.EINVAL, "task %d is its group's last live thread: use Exit", i)
	}
	return m.st.exitThread(th)
}

func liveThreads(pr *proc) int {
	n := 0
	for _, t := range pr.threads {
		if !t.exited {
			n++
		}
	}
	return n
}

// Reap is wait4 by task i for its zombie child c.
func (m *Machine) Reap(i, c int) error {
	th, err := m.thread(i)
	if err != nil {
		return err
	}
	if c <= 0 || c >= len(m.st.threads) {
		return refuse(syscall.ECHILD, "task %d does not exist", c)
	}
	ch := m.st.threads[c]
	if ch.proc.gone || ch.proc.parent == nil || ch.proc.parent.proc != th.proc {
		return refuse(syscall.ECHILD, "task %d is not a child of task %d", c, i)
	}
	if !ch.proc.zombie || ch.proc.leader != ch {
		return refuse(syscall.EINVAL, "task %d is not a zombie (wait4 would block)", c)
	}
	m.st.reap(ch.proc)
	return nil
}

// Stop is a group stop of task i's process (SIGSTOP).
func (m *Machine) Stop(i int) error {
	th, err := m.thread(i)
	if err != nil {
		return err
	}
	if m.st.reaper[th.ns] == th.proc {
		return refuse(syscall.EINVAL, "an init ignores SIGSTOP")
	}
	th.proc.stopped = true
	return nil
}

// TaskState is what Machine knows of one task, for a generator's choices.
type TaskState struct {
	Exists  bool // not reaped (a zombie or dead leader still exists)
	Live    bool // can still make calls: not exited, not stopped
	Zombie  bool
	Stopped bool
	Thread  bool // not its thread group's leader
	Leader  int  // its group leader's task index
	Parent  int  // its parent's task index (a thread of it), -1 outside
	Init    bool // its namespace's init
	NS      int  // plan namespace
	NSKids  int  // where its children go (pid_ns_for_children)
	Threads int  // live threads of its group
	// SessionLeader: it leads its session (setpgid refuses).
	SessionLeader bool
}

// Task describes task i.
func (m *Machine) Task(i int) TaskState {
	th := m.st.threads[i]
	pr := th.proc
	ts := TaskState{Exists: !pr.gone, Zombie: pr.zombie, Stopped: pr.stopped, Thread: pr.leader != th,
		Leader: pr.leader.task, Parent: -1, NS: th.ns, NSKids: th.nsKids,
		Init: m.st.reaper[th.ns] == pr, Threads: liveThreads(pr), SessionLeader: pr.sess == pr.leader.pid}
	ts.Live = ts.Exists && !th.exited && !pr.zombie && !pr.stopped
	if pr.parent != nil {
		ts.Parent = pr.parent.task
	}
	return ts
}

// Children lists the task indices of the processes whose parent is a
// thread of task i's group.
func (m *Machine) Children(i int) []int {
	var out []int
	for _, t := range m.st.threads[i].proc.threads {
		for _, c := range t.children {
			out = append(out, c.leader.task)
		}
	}
	return out
}

// Number kinds for Nr.
const (
	PidOf  = iota // the task's own pid
	PgidOf        // its process group id
	SidOf         // its session id
)

// Nr is task i's pid, pgid or sid (kind) as task viewer sees it: 0 when
// it is not visible in the viewer's pid namespace.
func (m *Machine) Nr(kind, i, viewer int) int32 {
	th := m.st.threads[i]
	var o *pidObj
	switch kind {
	case PidOf:
		o = th.pid
	case PgidOf:
		o = th.proc.pgrp
	case SidOf:
		o = th.proc.sess
	default:
		panic(fmt.Sprintf("sim: Nr kind %d", kind))
	}
	if o == nil {
		return 0
	}
	return m.st.nrIn(o, m.st.threads[viewer].ns)
}

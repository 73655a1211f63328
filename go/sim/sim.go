// Package sim predicts the process tree a plan builds, by running the plan
// against a model of the kernel's rules: clone (threads, CLONE_PARENT, new
// pid namespaces, set_tid collisions), setsid and setpgid with their EPERM
// cases, exit and thread exit (zombies, dead group leaders), re-parenting
// of orphans to a live thread, the nearest child subreaper or the
// namespace's init, and reaping.
//
// The simulator is the test builder's knowledge of what it created, and
// the planner's proof without privileges: simulating MakeForest(s) must
// give back s. Since tasks between two barriers run concurrently in the
// executor, Run can schedule them in different orders; a valid plan gives
// the same tree in every order.
package sim

import (
	"fmt"
	"syscall"

	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/plan"
)

// Order is how runnable tasks are scheduled within a phase.
type Order int

const (
	Forward Order = iota // lowest task index first
	Reverse              // highest first
)

type pidObj struct {
	id      uint64
	ns      int     // plan namespace it was allocated in
	numbers []int32 // from the plan's Base level down to ns
	refs    int
	members int     // processes whose group it is
	session *pidObj // the session of its group, while members > 0
}

type proc struct {
	leader       *thread
	threads      []*thread // alive or dead (leader), in creation order
	parent       *thread   // real parent
	pgrp, sess   *pidObj
	zombie       bool // all threads exited, not reaped
	status       int32
	stopped      bool
	subreaper    bool
	hasSubreaper bool
	reapAll      bool
	gone         bool
}

type thread struct {
	task     int // plan task index
	pid      *pidObj
	proc     *proc
	ns       int
	nsKids   int // pid_ns_for_children: ns, or a descendant after setns
	exited   bool
	children []*proc
}

type state struct {
	p       *plan.Plan
	threads []*thread // by plan task index (nil until created)
	pc      []int     // next action per task
	blocked []bool
	done    []bool
	phase   int
	used    map[[2]int64]*pidObj // (ns, number) -> object
	nextID  uint64
	reaper  map[int]*proc // namespace -> its init
	order   Order
}

// Error is a plan step the kernel would refuse.
type Error struct {
	Task   int
	Name   string
	Action int
	Op     plan.Op
	Err    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("sim: task %d (%s): action %d (%s): %s", e.Task, e.Name, e.Action, e.Op, e.Err)
}

// Result is the simulated tree.
type Result struct {
	st *state
}

// Run simulates p to the end: every phase opened, every task done, exited
// or blocked for good (a parked task).
func Run(p *plan.Plan, order Order) (*Result, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	n := len(p.Tasks)
	st := &state{p: p, threads: make([]*thread, n), pc: make([]int, n), blocked: make([]bool, n),
		done: make([]bool, n), used: map[[2]int64]*pidObj{}, reaper: map[int]*proc{}, order: order}
	// The launcher exists already, outside the plan's namespaces.
	st.threads[0] = st.launcher()
	if err := st.schedule(); err != nil {
		return nil, err
	}
	expected := p.Expected()
	for k := 1; k < len(expected); k++ {
		if expected[k] == 0 {
			continue
		}
		arrived := 0
		for i := range st.threads {
			if st.atBarrier(i, k) {
				arrived++
			}
		}
		if arrived != int(expected[k]) {
			return nil, fmt.Errorf("sim: barrier %d: %d tasks arrived, the plan expects %d", k, arrived, expected[k])
		}
		st.phase = k
		if err := st.schedule(); err != nil {
			return nil, err
		}
	}
	return &Result{st: st}, nil
}

// launcher is task 0: it exists already, outside the plan's namespaces.
func (st *state) launcher() *thread {
	l := &thread{task: 0, ns: 0}
	l.pid = st.newPid(0, nil)
	l.proc = &proc{leader: l, threads: []*thread{l}}
	l.proc.sess = st.ref(l.pid)
	st.setGroup(l.proc, l.pid)
	return l
}

// setGroup moves pr into the process group o (nil: out of any group).
func (st *state) setGroup(pr *proc, o *pidObj) {
	if old := pr.pgrp; old != nil {
		old.members--
		if old.members == 0 {
			old.session = nil
		}
		st.unref(old)
	}
	pr.pgrp = nil
	if o != nil {
		pr.pgrp = st.ref(o)
		o.members++
		o.session = pr.sess
	}
}

func (st *state) newPid(ns int, numbers []int32) *pidObj {
	st.nextID++
	o := &pidObj{id: st.nextID, ns: ns, numbers: numbers}
	return o
}

func (st *state) ref(o *pidObj) *pidObj {
	o.refs++
	return o
}

func (st *state) unref(o *pidObj) {
	o.refs--
	if o.refs == 0 {
		for l, nr := range o.numbers {
			delete(st.used, [2]int64{int64(st.nsAt(o.ns, st.p.Base+l)), int64(nr)})
		}
	}
}

// nsAt is the ancestor of plan namespace ns at level.
func (st *state) nsAt(ns, level int) int { return st.p.NSAt(ns, level) }

// parked reports whether task i is where a creator stops waiting for it:
// at a barrier, done, or exited.
func (st *state) parked(i int) bool {
	t := &st.p.Tasks[i]
	th := st.threads[i]
	if st.done[i] || th.exited || th.proc.zombie || th.proc.stopped || st.pc[i] >= len(t.Actions) {
		return true
	}
	return t.Actions[st.pc[i]].Op == plan.OpBarrier
}

func (st *state) atBarrier(i, k int) bool {
	t := &st.p.Tasks[i]
	if st.threads[i] == nil || st.done[i] || st.pc[i] >= len(t.Actions) {
		return false
	}
	a := t.Actions[st.pc[i]]
	return a.Op == plan.OpBarrier && int(a.A) == k
}

// schedule runs every runnable task until none can move.
func (st *state) schedule() error {
	for {
		progress := false
		n := len(st.threads)
		for j := 0; j < n; j++ {
			i := j
			if st.order == Reverse {
				i = n - 1 - j
			}
			if st.threads[i] == nil || st.done[i] {
				continue
			}
			before := st.pc[i]
			if err := st.runUntilBlocked(i); err != nil {
				return err
			}
			if st.pc[i] != before || st.done[i] {
				progress = true
			}
		}
		if !progress {
			return nil
		}
	}
}

func (st *state) fail(i int, op plan.Op, format string, args ...any) error {
	return &Error{Task: i, Name: st.p.Tasks[i].Name, Action: st.pc[i], Op: op, Err: fmt.Sprintf(format, args...)}
}

// runUntilBlocked runs task i's actions until it waits at a closed
// barrier, on a child that has not exited, or is done.
func (st *state) runUntilBlocked(i int) error {
	t := &st.p.Tasks[i]
	th := st.threads[i]
	for !st.done[i] && st.pc[i] < len(t.Actions) {
		a := t.Actions[st.pc[i]]
		if th.exited || th.proc.zombie {
			st.done[i] = true
			return nil
		}
		if th.proc.stopped {
			return nil // a stopped task does nothing more
		}
		switch a.Op {
		case plan.OpBarrier:
			if int(a.A) > st.phase {
				return nil
			}
		case plan.OpClone:
			if err := st.clone(i, int(a.A)); err != nil {
				return err
			}
			st.pc[i]++
			if err := st.runUntilBlocked(int(a.A)); err != nil {
				return err
			}
			if !st.parked(int(a.A)) {
				return st.fail(i, a.Op, "child %d blocks before its first barrier: the creator would wait for it forever", a.A)
			}
			continue
		case plan.OpSetsid:
			if err := st.setsid(th); err != nil {
				return st.fail(i, a.Op, "%s", err)
			}
		case plan.OpSetpgid:
			if err := st.setpgid(th, a.B, a.A); err != nil {
				return st.fail(i, a.Op, "%s", err)
			}
		case plan.OpSetns:
			if err := st.setns(th, a.A); err != nil {
				return st.fail(i, a.Op, "%s", err)
			}
		case plan.OpLastPid:
			// Numbers come from the plan (set_tid); the cursor matters
			// only to Machine.
		case plan.OpWaitGone:
			if c := st.threads[a.A]; c == nil || !c.exited {
				return nil // blocks until the thread has exited
			}
		case plan.OpWaitExit:
			c := st.threads[a.A]
			if c == nil || c.proc.gone {
				return st.fail(i, a.Op, "task %d does not exist (ECHILD)", a.A)
			}
			if !c.proc.zombie {
				return nil // blocks until the child exits
			}
		case plan.OpSubreaper:
			th.proc.subreaper = true
			st.propagateSubreaper(th.proc)
		case plan.OpExit:
			st.pc[i]++
			st.done[i] = true
			return st.exitGroup(th.proc, a.A)
		case plan.OpExitThread:
			st.pc[i]++
			st.done[i] = true
			return st.exitThread(th)
		case plan.OpStop:
			th.proc.stopped = true
			st.pc[i]++
			st.done[i] = true
			return nil
		case plan.OpReap:
			c := st.threads[a.A]
			if c == nil {
				return st.fail(i, a.Op, "task %d was never created", a.A)
			}
			if c.proc.gone {
				return st.fail(i, a.Op, "task %d was already reaped (ECHILD)", a.A)
			}
			if c.proc.parent == nil || c.proc.parent.proc != th.proc {
				return st.fail(i, a.Op, "task %d is not its child (ECHILD)", a.A)
			}
			if !c.proc.zombie {
				return nil // blocks until the child exits
			}
			st.reap(c.proc)
		case plan.OpReapAll:
			th.proc.reapAll = true
			st.reapZombiesOf(th.proc)
		case plan.OpAttach, plan.OpPdeathsig:
		default:
			return st.fail(i, a.Op, "unknown action")
		}
		st.pc[i]++
	}
	st.done[i] = true
	return nil
}

func (st *state) clone(ci, child int) error {
	c := st.threads[ci]
	t := &st.p.Tasks[child]
	ns := c.nsKids
	if t.Flags&(plan.Thread|plan.NewPID) != 0 && c.nsKids != c.ns {
		// kernel/fork.c copy_process, kernel/pid_namespace.c copy_pid_ns
		return st.fail(ci, plan.OpClone, "CLONE_THREAD or CLONE_NEWPID after setns to another pid namespace (EINVAL)")
	}
	if t.Flags&plan.NewPID != 0 {
		ns = t.NS
		if st.p.NSParent[ns] != c.nsKids {
			return st.fail(ci, plan.OpClone, "new namespace %d is not a child of the creator's %d", ns, c.nsKids)
		}
	} else if t.NS != ns {
		return st.fail(ci, plan.OpClone, "child in namespace %d, creator in %d", t.NS, ns)
	}
	if t.Flags&(plan.Thread|plan.Parent) != 0 && t.ExitSignal != 0 {
		return st.fail(ci, plan.OpClone, "clone3 with CLONE_THREAD or CLONE_PARENT takes no exit signal (EINVAL)")
	}
	if t.Flags&plan.Parent != 0 && t.Flags&plan.Thread == 0 && st.reaper[c.ns] == c.proc {
		return st.fail(ci, plan.OpClone, "an init cannot CLONE_PARENT (EINVAL)")
	}
	if c.proc.zombie || c.exited {
		return st.fail(ci, plan.OpClone, "creator exited")
	}
	// Numbers: given by set_tid from Base down, else free ones.
	numbers := t.Numbers
	if numbers == nil {
		return st.fail(ci, plan.OpClone, "the simulator needs set_tid numbers for every task")
	}
	o := st.newPid(ns, numbers)
	for l, nr := range numbers {
		k := [2]int64{int64(st.nsAt(ns, st.p.Base+l)), int64(nr)}
		if st.used[k] != nil {
			return st.fail(ci, plan.OpClone, "pid %d is taken at level %d (EEXIST)", nr, st.p.Base+l)
		}
	}
	for l, nr := range numbers {
		st.used[[2]int64{int64(st.nsAt(ns, st.p.Base+l)), int64(nr)}] = o
	}
	if lc := st.p.NSLevel[c.ns]; t.Expect != 0 && (lc < st.p.Base || numbers[lc-st.p.Base] != t.Expect) {
		return st.fail(ci, plan.OpClone, "clone3 would return another pid than %d", t.Expect)
	}
	th := &thread{task: child, pid: st.ref(o), ns: ns, nsKids: ns}
	st.threads[child] = th
	if t.Flags&plan.Thread != 0 {
		th.proc = c.proc
		c.proc.threads = append(c.proc.threads, th)
		return nil
	}
	parent := c
	if t.Flags&plan.Parent != 0 {
		parent = c.proc.parent
	}
	pr := &proc{leader: th, threads: []*thread{th}, sess: st.ref(c.proc.sess),
		hasSubreaper: parent.proc.subreaper || parent.proc.hasSubreaper}
	st.setGroup(pr, c.proc.pgrp)
	th.proc = pr
	pr.parent = parent
	parent.children = append(parent.children, pr)
	if t.Flags&plan.NewPID != 0 {
		st.reaper[ns] = pr
	}
	return nil
}

// opError is a call the kernel refuses: its errno and why.
type opError struct {
	errno syscall.Errno
	msg   string
}

func (e *opError) Error() string { return e.msg + " (" + errnoName(e.errno) + ")" }
func (e *opError) Unwrap() error { return e.errno }

func errnoName(e syscall.Errno) string {
	switch e {
	case syscall.EPERM:
		return "EPERM"
	case syscall.ESRCH:
		return "ESRCH"
	case syscall.EINVAL:
		return "EINVAL"
	case syscall.ECHILD:
		return "ECHILD"
	case syscall.EEXIST:
		return "EEXIST"
	}
	return e.Error()
}

func refuse(errno syscall.Errno, format string, args ...any) *opError {
	return &opError{errno: errno, msg: fmt.Sprintf(format, args...)}
}

// setsid is kernel/sys.c ksys_setsid.
func (st *state) setsid(th *thread) *opError {
	pr := th.proc
	lp := pr.leader.pid
	if pr.sess == lp {
		return refuse(syscall.EPERM, "already a session leader")
	}
	if lp.members > 0 {
		return refuse(syscall.EPERM, "a process group with its pid exists")
	}
	st.unref(pr.sess)
	pr.sess = st.ref(lp)
	st.setGroup(pr, lp)
	return nil
}

// number of object o as seen from plan namespace ns, or 0.
func (st *state) nrIn(o *pidObj, ns int) int32 {
	l := st.p.NSLevel[ns] - st.p.Base
	if l < 0 || l >= len(o.numbers) || st.nsAt(o.ns, st.p.NSLevel[ns]) != ns {
		return 0
	}
	return o.numbers[l]
}

// setpgid is kernel/sys.c setpgid(pid, pgid) called by th: pid is the
// caller's own process (0) or one of its children, pgid its own group
// (0) or an existing group of the caller's session, both numbers as th
// sees them (find_vpid).
func (st *state) setpgid(th *thread, pid, pgid int32) *opError {
	caller := th.proc
	target := caller
	if pid != 0 && pid != st.nrIn(caller.leader.pid, th.ns) {
		target = nil
		for _, t := range caller.threads {
			for _, c := range t.children {
				if st.nrIn(c.leader.pid, th.ns) == pid {
					target = c
				}
			}
		}
		if target == nil {
			return refuse(syscall.ESRCH, "pid %d is neither the caller nor its child", pid)
		}
		if target.sess != caller.sess {
			return refuse(syscall.EPERM, "child %d is in another session", pid)
		}
	}
	if target.sess == target.leader.pid {
		return refuse(syscall.EPERM, "a session leader cannot change its group")
	}
	if pgid == 0 || pgid == st.nrIn(target.leader.pid, th.ns) {
		st.setGroup(target, target.leader.pid)
		return nil
	}
	g := st.used[[2]int64{int64(th.ns), int64(pgid)}]
	if g == nil || g.members == 0 || st.nrIn(g, th.ns) != pgid {
		return refuse(syscall.EPERM, "no process group %d", pgid)
	}
	if g.session != caller.sess {
		return refuse(syscall.EPERM, "group %d is in another session", pgid)
	}
	st.setGroup(target, g)
	return nil
}

func (st *state) propagateSubreaper(pr *proc) {
	for _, th := range pr.threads {
		for _, c := range th.children {
			if !c.hasSubreaper {
				c.hasSubreaper = true
				st.propagateSubreaper(c)
			}
		}
	}
}

func liveThread(pr *proc) *thread {
	for _, t := range pr.threads {
		if !t.exited {
			return t
		}
	}
	return nil
}

// newReaper is the kernel's find_new_reaper for the children of father.
func (st *state) newReaper(father *thread) (*thread, error) {
	if t := liveThread(father.proc); t != nil {
		return t, nil
	}
	init := st.reaper[father.ns]
	if init == father.proc {
		return nil, fmt.Errorf("the init of plan namespace %d exits: the kernel kills the namespace", father.ns)
	}
	if father.proc.hasSubreaper {
		level := st.p.NSLevel[father.ns]
		for r := father.proc.parent; r != nil && st.p.NSLevel[r.ns] == level; r = r.proc.parent {
			if r.proc == init {
				break
			}
			if !r.proc.subreaper {
				continue
			}
			if t := liveThread(r.proc); t != nil {
				return t, nil
			}
		}
	}
	if init == nil {
		if father.ns == 0 {
			return nil, nil // the launcher's namespace: adopted outside the plan
		}
		return nil, fmt.Errorf("no init in plan namespace %d to adopt orphans", father.ns)
	}
	return liveThread(init), nil
}

func (st *state) reparentChildren(th *thread) error {
	if len(th.children) == 0 {
		return nil
	}
	r, err := st.newReaper(th)
	if err != nil {
		return err
	}
	for _, c := range th.children {
		c.parent = r
		if r == nil {
			continue
		}
		r.children = append(r.children, c)
		if r.proc.reapAll && c.zombie {
			st.reap(c)
		}
	}
	th.children = nil
	return nil
}

func (st *state) exitGroup(pr *proc, status int32) error {
	for _, t := range pr.threads {
		if !t.exited {
			t.exited = true
			st.done[t.task] = true
		}
	}
	// Non-leader threads are released at once; the leader stays a zombie.
	var keep []*thread
	for _, t := range pr.threads {
		if err := st.reparentChildren(t); err != nil {
			return err
		}
		if t != pr.leader {
			st.unref(t.pid)
		} else {
			keep = append(keep, t)
		}
	}
	pr.threads = keep
	pr.zombie = true
	pr.status = status
	if pr.parent != nil && pr.parent.proc.reapAll {
		st.reap(pr)
	}
	return nil
}

func (st *state) exitThread(th *thread) error {
	pr := th.proc
	th.exited = true
	if liveThread(pr) == nil {
		// The last thread: the whole group ends with status 0.
		return st.exitGroup(pr, 0)
	}
	if err := st.reparentChildren(th); err != nil {
		return err
	}
	if th != pr.leader {
		st.unref(th.pid)
		for k, t := range pr.threads {
			if t == th {
				pr.threads = append(pr.threads[:k], pr.threads[k+1:]...)
				break
			}
		}
	}
	return nil
}

func (st *state) reap(pr *proc) {
	pr.gone = true
	pr.zombie = false
	for _, t := range pr.threads {
		st.unref(t.pid)
	}
	st.setGroup(pr, nil)
	st.unref(pr.sess)
	pr.threads = nil
	if pr.parent != nil {
		ch := pr.parent.children
		for k, c := range ch {
			if c == pr {
				pr.parent.children = append(ch[:k], ch[k+1:]...)
				break
			}
		}
	}
}

func (st *state) reapZombiesOf(pr *proc) {
	for _, t := range pr.threads {
		for _, c := range append([]*proc(nil), t.children...) {
			if c.zombie {
				st.reap(c)
			}
		}
	}
}

// Raw returns the simulated tree under plan task root as a backend would
// report it, for model.Build.
func (r *Result) Raw(root int, mode model.Mode) (*model.Raw, error) {
	st := r.st
	rt := st.threads[root]
	if rt == nil || rt.proc.gone {
		return nil, fmt.Errorf("sim: root task %d does not exist", root)
	}
	raw := &model.Raw{Mode: mode, Pids: map[uint64]*model.RawPid{}}
	key := func(o *pidObj) uint64 {
		if o == nil || len(o.numbers) == 0 {
			return 0
		}
		// The object seen from the root's namespace: its numbers from
		// the root's level down, if it is visible there.
		rl := st.p.NSLevel[rt.ns]
		if st.p.NSLevel[o.ns] < rl || st.nsAt(o.ns, rl) != rt.ns {
			return 0
		}
		if raw.Pids[o.id] == nil {
			nums := o.numbers[rl-st.p.Base:]
			ns := make([]uint64, len(nums))
			for l := range nums {
				ns[l] = uint64(st.nsAt(o.ns, rl+l)) + 1
			}
			raw.Pids[o.id] = &model.RawPid{Numbers: append([]int32(nil), nums...), NS: ns}
		}
		return o.id
	}
	var visit func(pr *proc)
	visit = func(pr *proc) {
		state := model.Alive
		switch {
		case pr.zombie:
			state = model.Zombie
		case pr.stopped:
			state = model.Stopped
		}
		ppid := uint64(0)
		if pr.parent != nil {
			ppid = key(pr.parent.proc.leader.pid)
		}
		for _, t := range pr.threads {
			ts := state
			if t.exited && t == pr.leader && !pr.zombie {
				ts = model.Zombie // a dead leader; Build calls it Dead
			}
			rt := model.RawTask{Pid: key(t.pid), Tgid: key(pr.leader.pid), Pgid: key(pr.pgrp), Sid: key(pr.sess),
				PPid: ppid, State: ts, Comm: st.p.Tasks[t.task].Comm}
			if pr.zombie {
				rt.ExitCode = pr.status
			}
			raw.Tasks = append(raw.Tasks, rt)
		}
		for _, t := range pr.threads {
			for _, c := range t.children {
				visit(c)
			}
		}
	}
	visit(rt.proc)
	raw.RootPid = key(rt.pid)
	return raw, nil
}

// Snapshot is Raw followed by model.Build.
func (r *Result) Snapshot(root int, mode model.Mode) (*model.Snapshot, error) {
	raw, err := r.Raw(root, mode)
	if err != nil {
		return nil, err
	}
	return model.Build(raw)
}

// Alive reports whether plan task i exists (alive, zombie or dead leader).
func (r *Result) Alive(i int) bool {
	t := r.st.threads[i]
	return t != nil && !t.proc.gone
}

// setns is setns(pidfd of pid nr, CLONE_NEWPID) by th: the children th
// creates from now on go to nr's pid namespace, which must be th's own or
// a descendant (kernel/pid_namespace.c pidns_install).
func (st *state) setns(th *thread, nr int32) *opError {
	o := st.used[[2]int64{int64(th.ns), int64(nr)}]
	if o == nil || st.nrIn(o, th.ns) != nr {
		return refuse(syscall.ESRCH, "no pid %d in its namespace", nr)
	}
	var target *thread
	for _, t := range st.threads {
		if t != nil && t.pid == o && !t.exited && !t.proc.zombie {
			target = t
		}
	}
	if target == nil {
		return refuse(syscall.ESRCH, "pid %d has no live task", nr)
	}
	th.nsKids = target.ns
	return nil
}

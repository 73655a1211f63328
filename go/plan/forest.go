package plan

import (
	"fmt"
	"slices"

	"syscall"

	"github.com/ckpt-nl/ckpt-nl/go/model"
)

// Barriers of a restore plan. Between creation and the release:
// phase 1 creates the namespace inits that had to wait for a group to
// exist, phase 2 joins groups that did not exist when their members were
// created, phase 3 moves group owners out to their final groups and
// attaches every task to the kernel's restart context.
const (
	BarrierCreated  = 1 // the tree exists, but for late namespace inits
	BarrierLate     = 2 // every task exists
	BarrierGroups   = 3 // every member is in its group
	BarrierFinal    = 4 // owners moved, tasks attached: validate here
	restoreBarriers = BarrierFinal
)

// Options of MakeForest.
type Options struct {
	// InPlace restores a subtree image into the launcher's own pid
	// namespace (its numbers must be free there) instead of under an init
	// the plan provides.
	InPlace bool
	// NoPids asks for no pid numbers: the kernel chooses, and the
	// coordinator fills in setpgid arguments (Plan.Joins) once the tree
	// exists.
	NoPids bool
	// Attach makes every task attach to the kernel's restart context
	// (whose id the coordinator puts in the plan's memory) before the
	// final barrier.
	Attach bool
}

// PlanError is a snapshot MakeForest cannot restore, and why.
type PlanError struct {
	Task int // image task index, or -1
	Nr   int32
	Why  string
}

func (e *PlanError) Error() string {
	if e.Task < 0 {
		return "plan: " + e.Why
	}
	return fmt.Sprintf("plan: task %d (image entry %d): %s", e.Nr, e.Task, e.Why)
}

// node is one task of the forest being built.
type node struct {
	kind      Kind
	image     int    // image task index, or -1
	tag       uint32 // pid object (own pid for tasks and ghosts), 0 for placeholders
	numbers   []int32
	ns        uint32 // namespace tag (0: the launcher's)
	sid, pgid uint32 // final tags
	leads     bool   // leads its session (calls setsid)
	thread    bool
	creator   *node
	flags     Flags
	early     bool // created before its creator's setsid
	children  []*node
	post      []Action
	name      string
	idx       int
	exits     bool // ends after the release (ghost, placeholder, zombie)
	// computed while emitting
	cur      uint32  // current process group during creation
	born     int     // the phase it is created in: 0, or 1 when late
	late     []*node // children it creates in phase 1
	lateActs []Action
	joins    []Action // setpgid(group tag) in phase 2
	moves    []Action // setpgid(group tag) in phase 3
}

type forest struct {
	s        *model.Snapshot
	opt      Options
	tasks    []*node          // by image index
	owner    map[uint32]*node // pid tag -> node whose pid it is (tasks and ghosts)
	nsInit   map[uint32]*node // namespace tag -> its init
	launcher *node
	top      *node // creator of the image root: launcher or tool init
	base     int   // plan level of the image's level 0
	nodes    []*node
	used     map[[2]int64]bool // (ns tag, number) in use by the image
	groups   map[uint32]int    // group tag -> processes in it during creation
}

// MakeForest computes the plan that restores snapshot s: creators, clone
// flags and pids for every task, ghosts for dead session and group
// leaders, placeholders for orphans, the setsid and setpgid order, and
// what ends, stops or exits after the release.
func MakeForest(s *model.Snapshot, opt Options) (*Plan, error) {
	if err := s.Validate(); err != nil {
		return nil, &PlanError{Task: -1, Why: "invalid snapshot: " + err.Error()}
	}
	if opt.InPlace && s.Mode == model.ModeContainer {
		return nil, &PlanError{Task: -1, Why: "a container image restores into a new pid namespace, not in place"}
	}
	f := &forest{s: s, opt: opt, owner: map[uint32]*node{}, nsInit: map[uint32]*node{},
		used: map[[2]int64]bool{}, groups: map[uint32]int{}}
	for i := range s.Pids {
		p := &s.Pids[i]
		for l, nr := range p.Numbers {
			f.used[[2]int64{int64(s.NamespaceAt(p, l)), int64(nr)}] = true
		}
	}
	if err := f.nodesForTasks(); err != nil {
		return nil, err
	}
	if err := f.ghosts(); err != nil {
		return nil, err
	}
	if err := f.creators(); err != nil {
		return nil, err
	}
	return f.emit()
}

func (f *forest) add(n *node) *node {
	f.nodes = append(f.nodes, n)
	return n
}

func (f *forest) nsOf(tag uint32) uint32 { return f.s.Pid(tag).NS }

func (f *forest) level(ns uint32) int {
	if ns == 0 {
		return -1
	}
	return f.s.Namespace(ns).Level
}

func (f *forest) nodesForTasks() error {
	s := f.s
	f.launcher = f.add(&node{kind: Launcher, image: -1, name: "launcher"})
	f.base = 1
	if f.opt.InPlace {
		f.base = 0
	}
	for i := range s.Tasks {
		t := &s.Tasks[i]
		p := s.Pid(t.Pid)
		n := f.add(&node{kind: Restored, image: i, tag: t.Pid, numbers: p.Numbers, ns: p.NS,
			sid: t.Sid, pgid: t.Pgid, leads: t.Sid == t.Pid, thread: t.IsThread(), name: fmt.Sprintf("task %d", p.Numbers[0])})
		if t.Comm != "" {
			n.name = fmt.Sprintf("task %d (%s)", p.Numbers[0], t.Comm)
		}
		f.tasks = append(f.tasks, n)
		f.owner[t.Pid] = n
		if p.Numbers[len(p.Numbers)-1] == 1 && !n.thread {
			f.nsInit[p.NS] = n
		}
		// The group's state is the leader's to restore: a stop takes
		// every thread with it (threads are never zombies).
		switch {
		case n.thread:
		case t.State == model.Zombie:
			n.exits = true
			n.post = append(n.post, Action{Op: OpExit, A: t.ExitCode})
		case t.State == model.Dead:
			n.post = append(n.post, Action{Op: OpExitThread})
		case t.State == model.Stopped:
			n.post = append(n.post, Action{Op: OpStop})
		}
	}
	root := f.tasks[0]
	switch {
	case s.Mode == model.ModeContainer:
		f.top = f.launcher
		root.flags = NewPID
	case f.opt.InPlace:
		f.top = f.launcher
	default:
		if f.used[[2]int64{1, 1}] {
			return &PlanError{Task: -1, Why: "the image uses pid 1 in its root namespace, where the tool's init must go; restore it with --in-place"}
		}
		f.top = f.add(&node{kind: Init, image: -1, ns: 1, numbers: []int32{1}, creator: f.launcher,
			flags: NewPID, name: "init (ckpt-nl)", pgid: model.TagOutside, sid: model.TagRootSession})
		f.top.post = append(f.top.post, Action{Op: OpReapAll})
		f.launcher.children = append(f.launcher.children, f.top)
		f.nsInit[1] = f.top
	}
	root.creator = f.top
	f.top.children = append(f.top.children, root)
	return nil
}

// ghosts adds a task for every session and group id whose owner is gone.
func (f *forest) ghosts() error {
	s := f.s
	sessionOf := map[uint32]uint32{}
	for i := range s.Tasks {
		t := &s.Tasks[i]
		if t.Pgid != model.TagOutside {
			sessionOf[t.Pgid] = t.Sid
		}
	}
	ghost := func(tag, sid, pgid uint32, why string) *node {
		p := s.Pid(tag)
		n := f.add(&node{kind: Ghost, image: -1, tag: tag, numbers: p.Numbers, ns: p.NS, sid: sid, pgid: pgid,
			leads: sid == tag, exits: true, name: fmt.Sprintf("ghost %d (%s)", p.Numbers[0], why)})
		n.post = append(n.post, Action{Op: OpExit})
		f.owner[tag] = n
		return n
	}
	for i := range s.Tasks {
		t := &s.Tasks[i]
		if t.Sid != model.TagOutside && t.Sid != model.TagRootSession && f.owner[t.Sid] == nil {
			ghost(t.Sid, t.Sid, t.Sid, "dead session leader")
		}
	}
	for i := range s.Tasks {
		t := &s.Tasks[i]
		if t.Pgid != model.TagOutside && f.owner[t.Pgid] == nil {
			ghost(t.Pgid, sessionOf[t.Pgid], t.Pgid, "dead group leader")
		}
	}
	return nil
}

func (f *forest) fail(n *node, format string, args ...any) error {
	if n.image < 0 {
		return &PlanError{Task: -1, Why: n.name + ": " + fmt.Sprintf(format, args...)}
	}
	return &PlanError{Task: n.image, Nr: n.numbers[0], Why: fmt.Sprintf(format, args...)}
}

// parentOf is the process node that is n's parent in the image.
func (f *forest) parentOf(n *node) *node {
	return f.owner[f.s.Tasks[n.image].PPid]
}

// sessionAt is the session n is in while it creates: its own once it has
// called setsid, before that the one it inherited.
func (f *forest) preSession(n *node) uint32 {
	if !n.leads {
		return n.sid
	}
	c := n.creator
	if c == nil {
		return model.TagOutside
	}
	if n.early {
		return f.preSession(c)
	}
	return c.sid
}

// makeEarly arranges for n, a session leader, to be in session sid before
// its setsid, by having its creator (its parent) create it before the
// creator's own setsid, up the chain as far as needed.
func (f *forest) makeEarly(n *node, sid uint32) bool {
	if !n.leads || n.creator == nil || n.creator.thread {
		return false
	}
	c := n.creator
	if c.sid == sid && !c.leads {
		return true
	}
	if c.leads && c.sid == sid {
		return true // created after c's setsid: in c's session
	}
	if c.leads && f.makeEarly(c, sid) {
		n.early = true
		return true
	}
	return false
}

func (f *forest) setCreator(n, c *node, flags Flags) {
	n.creator = c
	n.flags |= flags
	c.children = append(c.children, n)
}

// creators picks who creates every ghost and task (docs/DESIGN.md §4).
func (f *forest) creators() error {
	s := f.s
	// Ghost session leaders are created by their namespace's init.
	for _, n := range f.nodes {
		if n.kind != Ghost || !n.leads {
			continue
		}
		init := f.nsInit[n.ns]
		if init == nil {
			return f.fail(n, "its pid namespace has no init in the image")
		}
		f.setCreator(n, init, 0)
	}
	// Ghost group leaders: by the session's leader when it is in their
	// namespace, else by the first process of the session there.
	for _, n := range f.nodes {
		if n.kind != Ghost || n.leads {
			continue
		}
		var c *node
		if l := f.owner[n.sid]; l != nil && l.ns == n.ns && !l.thread {
			c = l
		} else {
			for _, t := range f.tasks {
				if !t.thread && t.sid == n.sid && t.ns == n.ns {
					c = t
					break
				}
			}
		}
		if c == nil {
			return f.fail(n, "no process of its session in its pid namespace to create it")
		}
		f.setCreator(n, c, 0)
	}

	for i, n := range f.tasks {
		if i == 0 {
			continue
		}
		t := &s.Tasks[i]
		if n.thread {
			f.setCreator(n, f.owner[t.Tgid], Thread)
			continue
		}
		p := f.parentOf(n)
		if p == nil {
			return f.fail(n, "its parent is not in the image")
		}
		var flags Flags
		switch {
		case f.level(n.ns) == f.level(p.ns)+1:
			flags = NewPID
			if f.nsInit[n.ns] != n {
				return f.fail(n, "it is one namespace below its parent but is not that namespace's init")
			}
		case n.ns != p.ns:
			return f.fail(n, "its pid namespace is neither its parent's nor a child of it")
		}
		switch {
		case flags&NewPID != 0 && p == f.nsInit[p.ns] && !n.leads && f.nrIn(n.pgid, n) == 0 && p.pgid != n.pgid && p.sid == n.sid:
			// An orphaned namespace init born in a group its adopter is
			// not in: a placeholder of that group creates it.
			if err := f.adopt(n, p, flags); err != nil {
				return err
			}
		case n.leads || p.sid == n.sid:
			// Session leaders make their own session; others inherit.
			f.setCreator(n, p, flags)
		case p.leads && f.makeEarly(p, n.sid):
			// The parent is in n's session until its setsid.
			n.early = true
			f.setCreator(n, p, flags)
		default:
			if err := f.adopt(n, p, flags); err != nil {
				return err
			}
		}
	}
	return nil
}

// adopt places n, whose parent p cannot create it (another session for
// good, or another group it cannot join when n must inherit it), under a
// task of n's session: one whose exit leaves n to p (p the init of the
// namespace n is created from), or n's session leader with CLONE_PARENT
// (p their common parent).
func (f *forest) adopt(n, p *node, flags Flags) error {
	l := f.owner[n.sid]
	if l == nil || l.thread {
		return f.fail(n, "its session %d has no leader to create it", f.s.Nr(n.sid))
	}
	home := p.ns // where n's creator must live
	init := f.nsInit[home]
	switch {
	case p == init && l.ns == home && l != init && l.exits && f.nrIn(n.pgid, n) != 0:
		// The leader exits after the release: n is re-parented to init.
		f.setCreator(n, l, flags)
	case p == init && l.ns == home && l != init:
		// A placeholder under the leader creates n and exits.
		x := f.placeholder(l, home)
		f.setCreator(n, x, flags)
	case p == init && l == init:
		// The init leads the session but is in another group: a
		// placeholder of its own lends itself to n's group.
		f.setCreator(n, f.placeholder(init, home), flags)
	case p == init && l.ns != home && l.sid == n.sid:
		// The session came from an ancestor namespace: a placeholder
		// under any other process of the session in home.
		for _, t := range f.tasks {
			if !t.thread && t != init && t.ns == home && t.sid == n.sid && t.image < n.image {
				f.setCreator(n, f.placeholder(t, home), flags)
				return nil
			}
		}
		return f.fail(n, "no process of its session %d in its parent's namespace to create it", f.s.Nr(n.sid))
	case flags == 0 && l.creator == p && l.ns == n.ns && f.nsInit[l.ns] != l:
		// A sibling of the session leader: created by it, CLONE_PARENT.
		f.setCreator(n, l, Parent)
	default:
		return f.fail(n, "its parent %d is in session %d and it in %d: no creator can give it both (unsupported shape)",
			f.s.Nr(p.tag), f.s.Nr(p.sid), f.s.Nr(n.sid))
	}
	return nil
}

// placeholder adds a task in namespace ns under c that creates a task and
// exits after the release, so that the task ends up with the namespace's
// init as its parent.
func (f *forest) placeholder(c *node, ns uint32) *node {
	x := f.add(&node{kind: Placeholder, image: -1, ns: ns, sid: c.sid, pgid: model.TagOutside, exits: true,
		name: fmt.Sprintf("placeholder under %s", c.name)})
	x.post = append(x.post, Action{Op: OpExit})
	x.numbers = f.freeNumbers(ns)
	f.setCreator(x, c, 0)
	return x
}

// freeNumbers picks a pid the image does not use at every level of ns.
func (f *forest) freeNumbers(ns uint32) []int32 {
	lv := f.level(ns)
	out := make([]int32, lv+1)
	for l := lv; l >= 0; l-- {
		at := ns
		for f.level(at) > l {
			at = f.s.Namespace(at).Parent
		}
		for nr := int32(2); ; nr++ {
			k := [2]int64{int64(at), int64(nr)}
			if !f.used[k] {
				f.used[k] = true
				out[l] = nr
				break
			}
		}
	}
	return out
}

// Join is a setpgid in a NoPids plan whose argument the coordinator fills
// in before it opens Phase: the number, in the namespace of task Task, of
// the snapshot's pid object Group.
type Join struct {
	Task   int
	Action int
	Phase  int
	Group  uint32
}

// emitter lays the forest out as a plan in the order the executor runs
// it, tracking each process's group so that setpgid happens when it can.
type emitter struct {
	*forest
	p    *Plan
	used map[uint32]bool // group tags some other process will be in
	err  error
	// groups in phase 1: those that exist after phase 0; joins to others
	// wait for phase 2.
	settled map[uint32]bool
}

func (f *forest) emit() (*Plan, error) {
	s := f.s
	e := &emitter{forest: f, p: &Plan{Base: f.base}, used: map[uint32]bool{}}
	p := e.p
	// Plan namespaces: 0 is the launcher's. With base 1 image namespace k
	// is plan namespace k; in place, the image's root namespace is the
	// launcher's.
	shift := 1 - f.base
	p.NSParent = []int{-1}
	p.NSLevel = []int{0}
	for _, ns := range s.Namespaces {
		if int(ns.Tag)-shift == 0 {
			continue
		}
		p.NSParent = append(p.NSParent, int(ns.Parent)-shift)
		p.NSLevel = append(p.NSLevel, ns.Level+f.base)
	}
	for _, n := range f.nodes {
		if n.kind == Restored && !n.thread && n.pgid != n.tag {
			e.used[n.pgid] = true
		}
	}
	e.visit(f.launcher, 0)
	// Phase 1: the late inits, each creator in turn. Joins in their trees
	// rely only on groups that exist after phase 0 or in the same tree.
	e.settled = map[uint32]bool{}
	for g, c := range f.groups {
		if c > 0 {
			e.settled[g] = true
		}
	}
	for _, n := range f.nodes {
		for _, c := range n.late {
			if e.err != nil {
				break
			}
			e.lateClone(n, c)
		}
	}
	if e.err != nil {
		return nil, e.err
	}
	for _, n := range f.nodes {
		e.finish(n)
	}
	if f.opt.NoPids {
		collectJoins(p)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("plan: internal error: %w", err)
	}
	return p, nil
}

// visit adds n (created in phase) and, depth first, what it creates.
func (e *emitter) visit(n *node, phase int) []Action {
	s, p := e.s, e.p
	n.idx = len(p.Tasks)
	n.born = phase
	t := Task{Kind: n.kind, Creator: -1, Flags: n.flags, Image: n.image, Tag: n.tag, Name: n.name,
		ExitSignal: int32(syscall.SIGCHLD)}
	if n.kind == Ghost {
		t.Session, t.Group = n.sid, n.pgid
	}
	if n.creator != nil {
		t.Creator = n.creator.idx
	}
	switch {
	case n.image >= 0:
		t.Comm = s.Tasks[n.image].Comm
	case n.kind == Ghost:
		t.Comm = "ckpt-nl-ghost"
	case n.kind == Placeholder:
		t.Comm = "ckpt-nl-place"
	}
	if n.thread {
		t.ExitSignal = 0
	}
	shift := 1 - e.base
	if n.kind != Launcher {
		t.NS = int(n.ns) - shift
		if !e.opt.NoPids {
			t.Numbers = n.numbers
			if lc := p.NSLevel[p.Tasks[t.Creator].NS]; lc >= e.base {
				t.Expect = n.numbers[lc-e.base]
			}
		}
	}
	p.Tasks = append(p.Tasks, t)
	if n.creator != nil {
		n.cur = n.creator.cur
	}
	if !n.thread {
		e.groups[n.cur]++
	}
	var acts []Action
	if n.creator == e.launcher {
		// Until the release, the tree dies with the launcher (which dies
		// with the coordinator): the launcher's child, the init of the
		// restart's namespace, takes the namespace along.
		acts = append(acts, Action{Op: OpPdeathsig, A: int32(syscall.SIGKILL)})
	}
	if !n.thread {
		for _, c := range n.children {
			if c.early {
				acts = e.clone(n, c, acts, phase)
			}
		}
		if n.leads {
			acts = append(acts, Action{Op: OpSetsid})
			e.move(n, n.tag)
			if n.pgid != n.tag {
				e.err = e.fail(n, "a session leader in another group (%d)", s.Nr(n.pgid))
			}
		} else if n.kind == Restored || n.kind == Ghost {
			// Children that must inherit the group n was born in, and
			// cannot name, come before n changes its group.
			inherited := map[*node]bool{}
			for _, c := range n.children {
				if !c.early && c.kind == Restored && !c.leads && c.pgid == n.cur && c.pgid != n.pgid && e.nrIn(c.pgid, c) == 0 {
					inherited[c] = true
					acts = e.clone(n, c, acts, phase)
				}
			}
			acts = e.group(n, acts, true, phase)
			for _, c := range n.children {
				if !c.early && !inherited[c] {
					acts = e.clone(n, c, acts, phase)
				}
			}
			p.Tasks[n.idx].Actions = acts
			return acts
		}
	}
	for _, c := range n.children {
		if n.thread || !c.early {
			acts = e.clone(n, c, acts, phase)
		}
	}
	p.Tasks[n.idx].Actions = acts
	return acts
}

// clone adds the creation of c by n. A new namespace's init that must
// inherit a group it cannot name has n join that group for the clone; if
// the group is still empty in phase 0, the clone waits for phase 1.
func (e *emitter) clone(n, c *node, acts []Action, phase int) []Action {
	if e.err != nil {
		return acts
	}
	borrow := c.kind == Restored && !c.leads && c.flags&NewPID != 0 && c.pgid != n.cur && e.nrIn(c.pgid, c) == 0
	if borrow {
		nr := e.nrIn(c.pgid, n)
		why := ""
		switch {
		case nr == 0:
			why = "cannot name it"
		case n.leads:
			why = "leads a session"
		case phase == 0 && (e.groups[c.pgid] == 0 || e.opt.NoPids):
			n.late = append(n.late, c) // in phase 1, when the group exists
			return acts
		case phase == 1 && !e.settled[c.pgid]:
			why = "finds it empty"
		}
		if why != "" {
			e.err = e.fail(c, "it must be born in process group %d, which its creator %s %s (unsupported shape)",
				e.s.Nr(c.pgid), n.name, why)
			return acts
		}
		acts = e.setpgid(n, acts, c.pgid, phase)
		e.move(n, c.pgid)
	}
	acts = append(acts, Action{Op: OpClone, A: int32(len(e.p.Tasks))})
	e.visit(c, phase)
	if borrow && n.kind == Restored {
		acts = e.group(n, acts, false, phase)
	}
	return acts
}

// lateClone is phase 1's creation of c by n.
func (e *emitter) lateClone(n, c *node) {
	n.lateActs = append(n.lateActs, e.clone(n, c, nil, 1)...)
}

// setpgid appends a join of group g by n: with its number, or, in a NoPids
// plan, as a Join the coordinator fills in.
func (e *emitter) setpgid(n *node, acts []Action, g uint32, phase int) []Action {
	if e.opt.NoPids {
		// Marked with the negated tag; collectJoins turns it into a Join.
		return append(acts, Action{Op: OpSetpgid, A: -int32(g)})
	}
	return append(acts, Action{Op: OpSetpgid, A: e.nrIn(g, n)})
}

// collectJoins lists the setpgid arguments a NoPids plan leaves for the
// coordinator, with the phase each runs in.
func collectJoins(p *Plan) {
	for i := range p.Tasks {
		phase := 0
		for k, a := range p.Tasks[i].Actions {
			switch {
			case a.Op == OpBarrier:
				phase = int(a.A)
			case a.Op == OpSetpgid && a.A < 0:
				p.Joins = append(p.Joins, Join{Task: i, Action: k, Phase: phase, Group: uint32(-a.A)})
			}
		}
	}
}

// group puts process n in its group as soon as it can: joining now when
// the group has a process, else in phase 2. An owner whose group others
// join but which ends in another group makes its group first and moves
// in phase 3. A group n cannot name (from an ancestor namespace) must be
// inherited. first is false when n comes back from lending itself.
func (e *emitter) group(n *node, acts []Action, first bool, phase int) []Action {
	want := n.pgid
	if e.used[n.tag] && want != n.tag {
		if n.cur != n.tag {
			acts = append(acts, Action{Op: OpSetpgid})
			e.move(n, n.tag)
		}
		if first {
			n.moves = append(n.moves, Action{Op: OpSetpgid, A: int32(want)})
		}
		return acts
	}
	switch {
	case want == n.cur:
	case want == n.tag:
		acts = append(acts, Action{Op: OpSetpgid})
		e.move(n, n.tag)
	case want == model.TagOutside || e.nrIn(want, n) == 0:
		e.err = e.fail(n, "its process group %d is in an ancestor namespace and its creator is not in it (unsupported shape)",
			e.s.Nr(want))
	case phase == 0 && e.groups[want] > 0 && !e.opt.NoPids:
		acts = e.setpgid(n, acts, want, phase)
		e.move(n, want)
	default:
		if !slices.Contains(n.joins, Action{Op: OpSetpgid, A: int32(want)}) {
			n.joins = append(n.joins, Action{Op: OpSetpgid, A: int32(want)})
		}
	}
	return acts
}

// finish appends n's actions after creation: barriers, late clones,
// joins, moves, attach, and the release.
func (e *emitter) finish(n *node) {
	p := e.p
	t := &p.Tasks[n.idx]
	if n.kind == Launcher {
		// It stays until the coordinator lets the tree go (and kills it).
		t.Actions = append(t.Actions, Action{Op: OpBarrier, A: BarrierCreated},
			Action{Op: OpBarrier, A: BarrierLate}, Action{Op: OpBarrier, A: BarrierGroups},
			Action{Op: OpBarrier, A: BarrierFinal})
		return
	}
	if n.born == 0 {
		t.Actions = append(t.Actions, Action{Op: OpBarrier, A: BarrierCreated})
	}
	t.Actions = append(t.Actions, n.lateActs...)
	t.Actions = append(t.Actions, Action{Op: OpBarrier, A: BarrierLate})
	for _, j := range n.joins {
		t.Actions = e.setpgid(n, t.Actions, uint32(j.A), 2)
	}
	t.Actions = append(t.Actions, Action{Op: OpBarrier, A: BarrierGroups})
	for _, m := range n.moves {
		t.Actions = e.setpgid(n, t.Actions, uint32(m.A), 3)
	}
	if e.opt.Attach {
		t.Actions = append(t.Actions, Action{Op: OpAttach})
	}
	t.Actions = append(t.Actions, Action{Op: OpBarrier, A: BarrierFinal})
	if n.creator == e.launcher {
		t.Actions = append(t.Actions, Action{Op: OpPdeathsig, A: 0})
	}
	for _, c := range n.children {
		if c.kind == Ghost || c.kind == Placeholder {
			t.Actions = append(t.Actions, Action{Op: OpReap, A: int32(c.idx)})
		}
	}
	t.Actions = append(t.Actions, n.post...)
}

func (f *forest) move(n *node, group uint32) {
	f.groups[n.cur]--
	n.cur = group
	f.groups[group]++
}

// nrIn is the number of pid object tag in n's namespace, or 0.
func (f *forest) nrIn(tag uint32, n *node) int32 {
	pid := f.s.Pid(tag)
	lv := f.level(n.ns)
	if pid == nil || lv < 0 || lv >= len(pid.Numbers) || f.s.NamespaceAt(pid, lv) != n.ns {
		return 0
	}
	return pid.Numbers[lv]
}

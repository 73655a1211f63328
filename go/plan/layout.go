package plan

import (
	"fmt"
	"slices"
	"syscall"

	"github.com/ckpt-nl/ckpt-nl/go/model"
)

// Laying the forest out as the executor's program.
//
// Creation phase 0 is one sequential depth-first walk: a creator's clone
// returns only once the child has parked at its first barrier, so
// everything a child does before that happens before its creator's next
// step. The only step that can wait is a placeholder joining a group that
// does not exist yet (or whose number a NoPids plan does not know yet): it
// parks, and runs in the next creation phase if the group existed by the
// end of the previous one. Phases run until nothing waits. Then every task
// meets at the next barrier, joins its group (every group exists: its
// owner made it at its setup), meets again, and group owners that end in
// another group move there (a group that would empty while they move is
// kept by a holder placeholder). The last barrier is where the tree is
// validated; after it, ghosts and placeholders exit and are reaped,
// zombies exit, stopped tasks stop.
//
// No wait can be circular: before its first barrier a task only clones
// (waiting for a newer task) or calls setsid or setpgid; reaps come after
// the last barrier, parents reaping their ghosts and placeholders, which
// reap theirs first. A task created in phase k meets barriers k+1 on.

// opAwaitMove is a step that waits until the task's parent has moved it
// to a group (not an executor op).
const opAwaitMove Op = 1 << 30

// opWaitMoves is a step: wait until a child, a namespace's init, has been
// moved to every group its birth-state children need (its mover must stay
// in its session until then).
const opWaitMoves Op = 1<<30 + 2

// hasMoves reports whether n waits for its parent to move it.
func (l *layout) hasMoves(n *node) bool {
	for _, c := range n.kids[0] {
		if c.viaMove != 0 {
			return true
		}
	}
	return false
}

// opMoveChild is a step: setpgid of a child, a namespace's init, to its
// final group, right after the birth-state clones.
const opMoveChild Op = 1<<30 + 1

// step is one thing a task does while the tree is created.
type step struct {
	op    Op
	child *node  // OpClone
	group uint32 // OpSetpgid: a group tag; 0 its own
}

type layout struct {
	*forest
	p       *Plan
	used    map[uint32]bool // group tags someone is in or borrows
	exists  map[uint32]int  // group tag -> 1 + the phase it was made in
	pending []*node
	phase   int
	moveAt  int  // the phase where owners move
	stops   bool // some task stops after the release
	err     error
	// moveReqs are namespace inits waiting for their parent to move them.
	moveReqs []moveReq
}

type moveReq struct {
	n *node
	g uint32
}

// insertAfterBarrier puts a right after barrier k in acts.
func insertAfterBarrier(acts []Action, k int32, a Action) []Action {
	for i, x := range acts {
		if x.Op == OpBarrier && x.A == k {
			return append(acts[:i+1:i+1], append([]Action{a}, acts[i+1:]...)...)
		}
	}
	return acts
}

func (f *forest) layout() (*Plan, error) {
	s := f.s
	l := &layout{forest: f, p: &Plan{Base: f.base}, used: make(map[uint32]bool, len(f.tasks)),
		exists: make(map[uint32]int, len(f.tasks))}
	p := l.p
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
		if n.kind == Restored && !n.thread && n.pgid != model.TagOutside {
			l.used[n.pgid] = true
		}
		if n.borrow != 0 {
			l.used[n.borrow] = true
		}
	}
	l.holders()
	for _, n := range f.nodes {
		n.steps = l.stepsOf(n)
	}
	l.emit(f.launcher)
	for phase := 1; len(l.pending) > 0; phase++ {
		l.phase = phase
		// Parents move their namespace inits first; the inits go on in
		// the next phase.
		reqs := l.moveReqs
		l.moveReqs = nil
		for _, r := range reqs {
			pp := r.n.parent
			if realParent(r.n) != pp {
				return nil, f.fail(r.n, "its parent must move it to process group %d, but did not create it (not supported yet)", f.s.Nr(r.g))
			}
			a := l.setpgid(pp, r.g)
			a.B = l.nrIn(r.n.tag, pp)
			l.act(pp, a)
			if r.n.moved == nil {
				r.n.moved = map[uint32]int{}
			}
			r.n.moved[r.g] = phase + 1
			if !l.visible(r.n.pgid, r.n.ns) && !l.owns(r.n) && !slices.Contains(pp.movesKids, r.n) {
				pp.movesKids = append(pp.movesKids, r.n) // and back to its own group at the end
			}
		}
		waiting := l.pending
		l.pending = nil
		progress := len(reqs) > 0
		for _, n := range waiting {
			n.pending = false
			before := n.pc
			l.run(n)
			if n.pc != before {
				progress = true
			}
		}
		if !progress {
			n := waiting[0]
			return nil, f.fail(n, "internal error: it waits for process group %d, which is never made", f.s.Nr(n.steps[n.pc].group))
		}
	}
	creation := l.phase + 1 // creation phases: 0 .. creation-1
	// Then subreapers are set, shallowest first, each level's orphans
	// left to them by placeholders exiting in the next phase.
	levels := 0
	for _, n := range f.nodes {
		if n.subreaper {
			for x := n.parent; x != nil && x.ns == n.ns; x = x.parent {
				if x.subreaper {
					n.depth++
				}
			}
			levels = max(levels, n.depth+1)
		}
	}
	l.moveAt = creation + max(2*levels-1, 1)
	final := l.moveAt + 1
	if final >= MaxBarriers {
		return nil, &PlanError{Task: -1, Why: fmt.Sprintf("the plan needs %d barriers, the executor has %d", final, MaxBarriers-1)}
	}
	for _, n := range f.tasks {
		if l.lateParentMove(n) && !slices.Contains(n.parent.movesKids, n) {
			n.parent.movesKids = append(n.parent.movesKids, n)
		}
	}
	for _, n := range f.nodes {
		if (n.kind == Ghost || n.kind == Placeholder) && !n.reaped {
			r := realParent(n)
			if r.stopper != nil {
				r = r.stopper // a thread of the group reaps its children
			}
			// A placeholder that exits during the creation is reaped by
			// its parent in the same phase: the kernel re-parents its
			// children inside exit(), after the task has settled, and
			// the next phase may set a subreaper that must not catch
			// them (or must). The phase waits for the whole exit.
			if e := l.exitPhase(n, creation); e >= 0 && l.livesThrough(r, e, creation) {
				if r.reapIn == nil {
					r.reapIn = map[int][]*node{}
				}
				r.reapIn[e] = append(r.reapIn[e], n)
				continue
			}
			r.reaps = append(r.reaps, n)
		}
	}
	for _, n := range f.nodes {
		if slices.Contains(n.post, Action{Op: OpStop}) {
			l.stops = true
		}
		if n.kind == Restored && n.parent != nil && n.exits {
			w := n.parent
			if w.stopper != nil {
				w = w.stopper
			}
			w.zombieKids = append(w.zombieKids, n)
		}
	}
	for _, n := range f.nodes {
		l.finish(n, creation)
	}
	l.p.Release = l.moveAt + 1
	if l.err != nil {
		return nil, l.err
	}
	if f.opt.NoPids {
		collectJoins(p, f.nodes)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("plan: internal error: %w", err)
	}
	return p, nil
}

// owns reports whether n makes its own group at its setup.
func (l *layout) owns(n *node) bool {
	switch n.kind {
	case Ghost:
		return true
	case Restored:
		return !n.thread && (n.leads || n.pgid == n.tag || l.used[n.tag])
	}
	return false
}

// moves reports whether n makes its group for others, then ends in
// another.
func (l *layout) moves(n *node) bool {
	return n.kind == Restored && !n.thread && !n.leads && n.pgid != n.tag && l.used[n.tag]
}

// lateParentMove reports whether n's parent puts it in its final group
// in the move phase (n, a namespace's init, cannot name it).
func (l *layout) lateParentMove(n *node) bool {
	return n.kind == Restored && !n.thread && l.parentMoves(n) && !n.earlyMove && (l.owns(n) || !n.hasBG || n.bg != n.pgid)
}

// holders adds a placeholder in every group that a moving owner enters
// while its own owner leaves it and no one else stays in it.
func (l *layout) holders() {
	stays := map[uint32]bool{}
	target := map[uint32]bool{}
	for _, n := range l.tasks {
		if n.thread || n.pgid == model.TagOutside {
			continue
		}
		if l.moves(n) || l.lateParentMove(n) {
			target[n.pgid] = true
		} else {
			stays[n.pgid] = true
		}
	}
	for _, n := range l.tasks {
		if n.earlyMove && l.owns(n) {
			l.placeholder(n, 1, 0, "holds its group once its parent moves it")
			n.kids[1][len(n.kids[1])-1].holder = true
			continue
		}
		if target[n.tag] && !stays[n.tag] && l.moves(n) {
			l.placeholder(n, 1, 0, "holds its group while owners move")
			n.kids[1][len(n.kids[1])-1].holder = true
		}
	}
}

// stepsOf lists what n does while the tree is created: clones of its
// birth-state children, its setup, then its other clones, ghosts first
// (groups others borrow) and placeholders last (borrowers).
func (l *layout) stepsOf(n *node) []step {
	var st []step
	if n.creator == l.launcher {
		// Until the release, the tree dies with the launcher (which dies
		// with the coordinator).
		st = append(st, step{op: OpPdeathsig})
	}
	clones := func(kids []*node) {
		defer func() {
			for _, c := range kids {
				if c.earlyMove && c.flags&Parent == 0 {
					st = append(st, step{op: opMoveChild, child: c, group: c.pgid})
				}
				if c.kind == Placeholder && c.borrow != 0 {
					for _, x := range c.kids[1] {
						if x.earlyMove {
							st = append(st, step{op: opMoveChild, child: x, group: x.pgid})
						}
					}
				}
			}
		}()
		for _, pass := range []func(*node) bool{
			func(c *node) bool { return c.kind == Ghost || c.holder },
			func(c *node) bool { return c.kind != Ghost && c.kind != Placeholder },
			func(c *node) bool { return c.kind == Placeholder && !c.holder },
		} {
			for _, c := range kids {
				if pass(c) {
					st = append(st, step{op: OpClone, child: c})
				}
			}
		}
	}
	var plain []*node
	var order []uint32
	byGroup := map[uint32][]*node{}
	for _, c := range n.kids[0] {
		if c.viaMove == 0 {
			plain = append(plain, c)
			continue
		}
		if byGroup[c.viaMove] == nil {
			order = append(order, c.viaMove)
		}
		byGroup[c.viaMove] = append(byGroup[c.viaMove], c)
	}
	clones(plain)
	for _, g := range order {
		// The parent moves n to g (setpgid of a child) between phases.
		st = append(st, step{op: opAwaitMove, group: g})
		clones(byGroup[g])
	}
	// A leader that moves its namespace-init children between groups of
	// its birth session stays in that session until they are done.
	for _, c := range n.kids[0] {
		if c.kind == Restored && l.hasMoves(c) && n.leads {
			st = append(st, step{op: opWaitMoves, child: c})
		}
	}
	for _, z := range n.kids[0] {
		if z.kind == Placeholder && z.borrow != 0 && n.leads {
			for _, x := range z.kids[1] {
				if x.kind == Restored && x.flags&Parent != 0 && l.hasMoves(x) {
					st = append(st, step{op: opWaitMoves, child: x})
				}
			}
		}
	}
	switch {
	case n.kind == Placeholder && n.borrow != 0:
		st = append(st, step{op: OpSetpgid, group: n.borrow})
	case l.owns(n) && n.leads:
		st = append(st, step{op: OpSetsid})
	case l.owns(n):
		st = append(st, step{op: OpSetpgid})
	}
	clones(n.kids[1])
	return st
}

// usable reports whether a placeholder may join group g in this phase.
func (l *layout) usable(g uint32) bool {
	e := l.exists[g]
	if l.phase == 0 {
		return e != 0 && !l.opt.NoPids
	}
	return e != 0 && e-1 < l.phase
}

func (l *layout) act(n *node, a Action) {
	n.lastAct = l.phase
	for len(n.acts) <= l.phase {
		n.acts = append(n.acts, nil)
	}
	n.acts[l.phase] = append(n.acts[l.phase], a)
}

// emit adds n, created now, and runs its steps.
func (l *layout) emit(n *node) {
	s, p := l.s, l.p
	n.idx = len(p.Tasks)
	n.born = l.phase
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
	if n.flags&(Thread|Parent) != 0 {
		t.ExitSignal = 0 // clone3 takes none: the creator's leader's applies
	}
	shift := 1 - l.base
	if n.kind != Launcher {
		t.NS = int(n.ns) - shift
		if !l.opt.NoPids {
			t.Numbers = n.numbers
			if lc := p.NSLevel[p.Tasks[t.Creator].NS]; lc >= l.base {
				t.Expect = n.numbers[lc-l.base]
			}
		}
	}
	p.Tasks = append(p.Tasks, t)
	l.run(n)
}

// run carries on with n's steps in the current phase until one must wait.
func (l *layout) run(n *node) {
	st := n.steps
	for n.pc < len(st) {
		x := st[n.pc]
		switch x.op {
		case OpPdeathsig:
			l.act(n, Action{Op: OpPdeathsig, A: int32(syscall.SIGKILL)})
		case OpClone:
			l.act(n, Action{Op: OpClone, A: int32(len(l.p.Tasks))})
			n.pc++
			l.emit(x.child)
			if c := x.child; c.exitAt == exitNow && !c.pending && c.flags&Parent == 0 {
				// It exited at once: reap it now.
				l.act(n, Action{Op: OpReap, A: int32(c.idx)})
				c.reaped = true
			}
			continue
		case OpSetsid:
			l.act(n, Action{Op: OpSetsid})
			l.made(n.tag)
		case OpSetpgid:
			if x.group == 0 {
				l.act(n, Action{Op: OpSetpgid})
				l.made(n.tag)
				break
			}
			if !l.usable(x.group) {
				n.pending = true
				l.pending = append(l.pending, n)
				return
			}
			l.act(n, l.setpgid(n, x.group))
		case opMoveChild:
			// The parent puts its child, a namespace's init, in its
			// final group before its own setsid.
			c := x.child
			ready := !c.pending && (c.idx != 0 || c == l.launcher)
			if l.phase > 0 && ready {
				// Not while it creates, in this phase or later.
				ready = c.pc == len(c.steps) && c.lastAct < l.phase
			}
			if !l.usable(x.group) || !ready {
				n.pending = true
				l.pending = append(l.pending, n)
				return
			}
			a := l.setpgid(n, x.group)
			a.B = l.nrIn(x.child.tag, n)
			l.act(n, a)
			x.child.movedEarly = true
		case opWaitMoves:
			c := x.child
			done := c.idx != 0 || c == l.launcher
			if done {
				for _, y := range c.steps[c.pc:] {
					if y.op == opAwaitMove {
						done = false
					}
				}
			}
			if !done {
				n.pending = true
				l.pending = append(l.pending, n)
				return
			}
		case opAwaitMove:
			if e := n.moved[x.group]; e == 0 || e-1 >= l.phase {
				if e == 0 {
					l.moveReqs = append(l.moveReqs, moveReq{n, x.group})
				}
				n.pending = true
				l.pending = append(l.pending, n)
				return
			}
		}
		n.pc++
	}
}

func (l *layout) made(g uint32) {
	if l.exists[g] == 0 {
		l.exists[g] = l.phase + 1
	}
}

// setpgid is a join of group g by n: with its number, or, in a NoPids
// plan, marked with the negated tag for collectJoins.
func (l *layout) setpgid(n *node, g uint32) Action {
	if l.opt.NoPids {
		return Action{Op: OpSetpgid, A: -int32(g)}
	}
	return Action{Op: OpSetpgid, A: l.nrIn(g, n)}
}

// exitPhase is the phase in which placeholder n exits during the creation,
// or -1 when it exits after the release.
func (l *layout) exitPhase(n *node, creation int) int {
	switch n.exitAt {
	case exitNow:
		return max(n.born, len(n.acts)-1)
	case exitAfterSubreapers:
		return creation + 2*n.target.depth + 1
	}
	return -1
}

// livesThrough reports whether r runs to the end of phase e, and so can
// reap a child there: it does not exit during the creation itself.
func (l *layout) livesThrough(r *node, e, creation int) bool {
	if r.exitAt == exitNow || r.exitAt == exitAfterSubreapers {
		return false
	}
	return r.born <= e && e <= l.moveAt
}

// reapsIn are n's reaps of placeholders that exit in phase k.
func reapsIn(n *node, k int) []Action {
	var acts []Action
	for _, c := range n.reapIn[k] {
		acts = append(acts, Action{Op: OpReap, A: int32(c.idx)})
	}
	return acts
}

// finish assembles n's actions: its creation phases with their barriers,
// joins, moves, attach, the final barrier and what follows the release.
func (l *layout) finish(n *node, creation int) {
	t := &l.p.Tasks[n.idx]
	var acts []Action
	if n.exitAt == exitNow {
		// It ends in the phase of its last step.
		for k := n.born; k < len(n.acts); k++ {
			if k > n.born {
				acts = append(acts, Action{Op: OpBarrier, A: int32(k)})
			}
			acts = append(acts, n.acts[k]...)
		}
		t.Actions = append(acts, Action{Op: OpExit})
		return
	}
	for k := n.born; k < creation; k++ {
		if k < len(n.acts) {
			acts = append(acts, n.acts[k]...)
		}
		acts = append(acts, reapsIn(n, k)...)
		acts = append(acts, Action{Op: OpBarrier, A: int32(k + 1)})
	}
	if n.exitAt == exitAfterSubreapers {
		for k := creation + 1; k <= creation+2*n.target.depth+1; k++ {
			acts = append(acts, Action{Op: OpBarrier, A: int32(k)})
		}
		t.Actions = append(acts, Action{Op: OpExit})
		return
	}
	if n.kind == Restored && !n.thread && !n.leads && n.pgid != n.tag && l.visible(n.pgid, n.ns) && !l.moves(n) {
		acts = append(acts, l.setpgid(n, n.pgid))
	}
	for k := creation + 1; k <= l.moveAt; k++ {
		acts = append(acts, Action{Op: OpBarrier, A: int32(k)})
		if n.subreaper && n.depth > 0 && k == creation+2*n.depth {
			acts = append(acts, Action{Op: OpSubreaper})
		}
		acts = append(acts, reapsIn(n, k)...)
	}
	if n.subreaper && n.depth == 0 {
		// Set with the joins, after the creation barrier.
		acts = insertAfterBarrier(acts, int32(creation), Action{Op: OpSubreaper})
	}
	if l.moves(n) && l.visible(n.pgid, n.ns) {
		acts = append(acts, l.setpgid(n, n.pgid))
	}
	// Namespace inits whose parent puts them in a group they cannot name.
	for _, c := range n.movesKids {
		if c.movedEarly {
			continue
		}
		if n.sid != c.sid {
			l.err = l.notYet(c, "its parent must put it in process group %d, but is in another session by then: a parent that has exited since did (not restored yet)", l.s.Nr(c.pgid))
		}
		a := l.setpgid(n, c.pgid)
		a.B = l.nrIn(c.tag, n)
		acts = append(acts, a)
	}
	if l.opt.Attach && n.kind != Launcher {
		acts = append(acts, Action{Op: OpAttach})
	}
	if n.stopper != nil {
		t.Actions = append(acts, Action{Op: OpExitThread})
		return
	}
	acts = append(acts, Action{Op: OpBarrier, A: int32(l.moveAt + 1)})
	if n.kind == Launcher {
		if l.stops {
			acts = append(acts, Action{Op: OpBarrier, A: int32(l.moveAt + 2)})
		}
		t.Actions = acts
		return
	}
	if n.creator == l.launcher {
		acts = append(acts, Action{Op: OpPdeathsig, A: 0})
	}
	for _, c := range n.reaps {
		acts = append(acts, Action{Op: OpReap, A: int32(c.idx)})
	}
	// Stops wait until everything that exits after the release has
	// (the processes that stay meet once more, after reaping theirs): an
	// exit that orphans a group with stopped members would make the
	// kernel send it SIGHUP and SIGCONT.
	if l.stops && !slices.Contains(n.post, Action{Op: OpExit, A: exitStatus(n.post)}) {
		// Its zombie children too (waited for, not reaped).
		for _, c := range n.zombieKids {
			if l.opt.NoPids {
				break // its pid is not known here
			}
			if rp := realParent(c); rp.kind == Placeholder && rp.exitAt == exitAfterRelease {
				// Its placeholder parent exits after the release too
				// (with the kernel's restart context): whose child it
				// is when it exits is a race, so no wait (the executor
				// stops a stopped task again if an exit continues it).
				continue
			}
			acts = append(acts, Action{Op: OpWaitExit, A: int32(c.idx), B: l.nrIn(c.tag, c.parent)})
		}
		acts = append(acts, Action{Op: OpBarrier, A: int32(l.moveAt + 2)})
	}
	t.Actions = append(acts, n.post...)
}

// exitStatus is the status of the OpExit in post, if any.
func exitStatus(post []Action) int32 {
	for _, a := range post {
		if a.Op == OpExit {
			return a.A
		}
	}
	return -1
}

// realParent is the process whose child n is when it exits after the
// release: its creator, or with CLONE_PARENT its creator's parent then.
func realParent(n *node) *node {
	c := n.creator
	switch {
	case n.flags&Parent == 0:
		return c
	case c.kind == Restored:
		return c.parent // its placeholders, if any, exit first
	}
	return realParent(c)
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

// collectJoins lists the setpgid arguments a NoPids plan leaves for the
// coordinator, with the phase each runs in (a task created in creation
// phase k starts in phase k).
func collectJoins(p *Plan, nodes []*node) {
	for _, n := range nodes {
		i := n.idx
		phase := n.born
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

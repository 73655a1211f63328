package plan

import (
	"fmt"

	"github.com/ckpt-nl/ckpt-nl/go/model"
)

// Choosing creators (docs/DESIGN.md section 4). Each process is thought
// of as a timeline: it is born in its creator's session and group, in
// its birth state (stage 0) creates the children that must inherit that
// state, then makes its own session or group (its setup) and creates the
// rest (stage 1). A child must be born in its session unless it leads
// one, and in its group if it cannot name it (a group from an ancestor
// namespace). Its creator is, first that works:
//
//   - its parent, in stage 1 if the parent's final session is the
//     child's, else in stage 0 (the parent leads a session and was born
//     in the child's: the parent's own birth state is then constrained,
//     which its own creator must satisfy: needs flow bottom up);
//   - a sibling that leads the child's session, with CLONE_PARENT (a
//     ghost of a dead session leader is made a child of the parent for
//     that);
//   - when the parent is its namespace's init, a placeholder under the
//     session's leader (or the leader's ghost itself), which exits after
//     the release so that the kernel re-parents the child to the init.
//
// A child that must be born in a group its creator can name but it
// cannot (it opens a new pid namespace) is created by a placeholder that
// joins the group first, with CLONE_PARENT when the child's parent is the
// creator. Ghosts hold dead leaders' pids; group ghosts are created by a
// process of their session in their namespace.

// creators picks who creates every ghost, placeholder and task.
func (f *forest) creators() error {
	if err := f.ghosts(); err != nil {
		return err
	}
	// The root is born in the restarter's session and group.
	root := f.tasks[0]
	root.hasBS, root.bs, root.hasBG, root.bg = true, f.top.sid, true, f.top.pgid
	for _, n := range f.tasks[1:] {
		if n.thread {
			continue
		}
		if !n.leads {
			n.hasBS, n.bs = true, n.sid
		}
		if !f.visible(n.pgid, n.ns) {
			n.hasBG, n.bg = true, n.pgid
		}
	}
	if err := f.placeGroupGhosts(); err != nil {
		return err
	}
	children := make(map[*node][]*node, len(f.tasks))
	for i, n := range f.tasks {
		if i == 0 {
			continue
		}
		if n.thread {
			f.setCreator(n, f.owner[f.s.Tasks[i].Tgid], 1, Thread)
			continue
		}
		if n.parent == nil {
			return f.fail(n, "its parent is not in the image")
		}
		children[n.parent] = append(children[n.parent], n)
	}
	// Bottom up: a parent's birth state is known once its children chose.
	for i := len(f.tasks) - 1; i >= 0; i-- {
		p := f.tasks[i]
		kids := children[p]
		// Children only their parent can create choose first.
		for _, c := range kids {
			if !f.hasAlternative(p, c) && f.direct(p, c) {
				c.placed = true
			}
		}
		for _, c := range kids {
			if c.placed {
				continue
			}
			c.placed = true
			// Born in its grandparent's final session, a parent that
			// leads is best born where the child needs it.
			early := p.parent != nil && c.hasBS && p.parent.sid == c.bs && !(c.hasBG && !f.visible(c.bg, p.ns))
			if f.later(p, c) || early && f.direct(p, c) || f.sibling(p, c) || f.reaper(p, c) || f.subreaper(p, c) || f.direct(p, c) {
				continue
			}
			return f.noCreator(p, c)
		}
	}
	if root.hasBS && root.bs != f.top.sid || root.hasBG && root.bg != f.top.pgid {
		return f.fail(root, "the image root must be born in session %d and group %d, which the restart cannot give it",
			f.s.Nr(root.bs), f.s.Nr(root.bg))
	}
	// Session ghosts nobody needed as a sibling: under their namespace's init.
	for _, g := range f.nodes {
		if g.kind != Ghost || g.placed {
			continue
		}
		c := f.nsInit[g.ns]
		if c == nil {
			c = root
		}
		f.setCreator(g, c, 1, 0)
	}
	return nil
}

func (f *forest) noCreator(p, c *node) error {
	return f.fail(c, "no process can create it: its parent %s is in session %d (born in %d), and it must be born in session %d, group %d",
		p.name, f.s.Nr(p.sid), f.s.Nr(p.bs), f.s.Nr(c.bs), f.s.Nr(c.bg))
}

func (f *forest) setCreator(n, c *node, stage int, flags Flags) {
	n.creator = c
	n.stage = stage
	n.flags |= flags
	if n.ns != c.ns && !n.thread {
		n.flags |= NewPID
	}
	c.kids[stage] = append(c.kids[stage], n)
}

// ghosts adds a task for every session and group id whose owner is gone.
func (f *forest) ghosts() error {
	s := f.s
	ghost := func(tag, sid uint32, why string) error {
		p := s.Pid(tag)
		n := f.add(&node{kind: Ghost, image: -1, tag: tag, numbers: p.Numbers, ns: p.NS, sid: sid, pgid: tag,
			leads: sid == tag, exits: true, name: fmt.Sprintf("ghost %d (%s)", p.Numbers[0], why)})
		n.post = append(n.post, Action{Op: OpExit})
		if !n.leads {
			n.hasBS, n.bs = true, sid
		}
		f.owner[tag] = n
		if f.nsInit[n.ns] == nil && n.ns != 1 {
			return f.fail(n, "its pid namespace has no init in the image (a ghost in a dead namespace is not supported yet)")
		}
		return nil
	}
	for _, n := range f.tasks {
		if n.sid != model.TagRootSession && f.owner[n.sid] == nil {
			if err := ghost(n.sid, n.sid, "dead session leader"); err != nil {
				return err
			}
		}
	}
	for _, n := range f.tasks {
		if n.pgid != model.TagOutside && f.owner[n.pgid] == nil {
			if err := ghost(n.pgid, f.sessionOfGroup(n.pgid), "dead group leader"); err != nil {
				return err
			}
		}
	}
	return nil
}

// placeGroupGhosts gives each group ghost a creator in its session and
// namespace: the session's leader, another member of the session, or
// the namespace's init before its setsid.
func (f *forest) placeGroupGhosts() error {
	type key struct{ ns, sid uint32 }
	member := map[key]*node{}
	for _, n := range f.tasks {
		if !n.thread && !n.leads {
			if k := (key{n.ns, n.sid}); member[k] == nil {
				member[k] = n
			}
		}
	}
	for _, g := range f.nodes {
		if g.kind != Ghost || g.leads {
			continue
		}
		g.placed = true
		if l := f.owner[g.sid]; l != nil && l.ns == g.ns && !l.thread {
			if l.kind == Ghost && !l.placed {
				l.placed = true // created by its namespace's init, below
				c := f.nsInit[l.ns]
				if c == nil {
					c = f.tasks[0]
				}
				f.setCreator(l, c, 1, 0)
			}
			f.setCreator(g, l, 1, 0)
			continue
		}
		if m := member[key{g.ns, g.sid}]; m != nil {
			f.setCreator(g, m, 1, 0)
			continue
		}
		init := f.nsInit[g.ns]
		if init == nil || init.image < 0 && g.sid != init.sid {
			return f.fail(g, "no process of its session %d in its namespace to create it", f.s.Nr(g.sid))
		}
		if init.image < 0 || !init.leads {
			f.setCreator(g, init, 1, 0)
			continue
		}
		if init.hasBS && init.bs != g.sid {
			return f.fail(g, "it must be born in session %d from outside its namespace, whose init was born in session %d",
				f.s.Nr(g.sid), f.s.Nr(init.bs))
		}
		init.hasBS, init.bs = true, g.sid
		f.setCreator(g, init, 0, 0)
	}
	return nil
}

// hasAlternative reports whether c could be created by another process
// than its parent p (sibling or reaper), so that p's birth state is best
// left to children that have no other way.
func (f *forest) hasAlternative(p, c *node) bool {
	if !c.hasBS || c.bs == p.sid {
		return true // stage 1 of p, no constraint on p's birth
	}
	if l := f.owner[c.bs]; l != nil && l.ns == p.ns {
		if l.kind == Ghost && !l.placed || l.kind == Restored && l.parent == p {
			return true
		}
		if f.nsInit[p.ns] == p && !(c.hasBG && !f.visible(c.bg, p.ns)) {
			return true
		}
	}
	return f.subreaperHub(p, c) != nil
}

// later has p create c after its setup.
func (f *forest) later(p, c *node) bool {
	if (!c.hasBS || c.bs == p.sid) && !(c.hasBG && !f.visible(c.bg, p.ns)) {
		f.create(p, 1, c, 0)
		return true
	}
	return false
}

// direct has p create c itself, after its setup or else in its birth
// state, which then must be c's.
func (f *forest) direct(p, c *node) bool {
	if f.later(p, c) {
		return true
	}
	carried := c.hasBG && !f.visible(c.bg, p.ns)
	// Stage 0: p's birth state.
	if c.hasBS && p.hasBS && p.bs != c.bs {
		return false
	}
	if carried && p.hasBG && p.bg != c.bg {
		return false
	}
	if c.hasBS {
		p.hasBS, p.bs = true, c.bs
	}
	if carried {
		p.hasBG, p.bg = true, c.bg
	}
	f.create(p, 0, c, 0)
	return true
}

// sibling has the leader of c's session, a child of p, create c with
// CLONE_PARENT.
func (f *forest) sibling(p, c *node) bool {
	if !c.hasBS {
		return false
	}
	l := f.owner[c.bs]
	if l == nil || l.ns != p.ns || c.hasBG && !f.visible(c.bg, p.ns) {
		return false
	}
	switch {
	case l.kind == Ghost && !l.placed:
		l.placed = true
		f.setCreator(l, p, 1, 0)
	case l.kind == Ghost && l.creator == p && l.stage == 1:
	case l.kind == Restored && l.parent == p:
	default:
		return false
	}
	f.create(l, 1, c, Parent)
	return true
}

// reaper has c created under the leader of its session in the namespace
// of p, its init, by a task that exits after the release, so that the
// kernel re-parents c to p.
func (f *forest) reaper(p, c *node) bool {
	if f.nsInit[p.ns] != p || !c.hasBS || c.hasBG && !f.visible(c.bg, p.ns) {
		return false
	}
	l := f.owner[c.bs]
	if l == nil || l.ns != p.ns || l.thread || f.creates(c, l) {
		return false
	}
	if l.kind == Ghost && (!c.hasBG || c.bg == l.tag) {
		f.setCreator(c, l, 1, 0)
		return true
	}
	z := f.placeholder(l, 1, 0, "for "+c.name)
	f.create(z, 1, c, 0)
	return true
}

// creates reports whether x is c or created, directly or not, by c (as
// far as creators are chosen: c's own subtree is).
func (f *forest) creates(c, x *node) bool {
	for ; x != nil; x = x.creator {
		if x == c {
			return true
		}
	}
	return false
}

// subreaper makes p a child subreaper and has c created under the leader
// of its session, a descendant of p, by a placeholder that exits after the
// release, so that the kernel re-parents c to p (kernel/exit.c
// find_new_reaper: the nearest live subreaper among the ancestors in the
// namespace).
func (f *forest) subreaper(p, c *node) bool {
	l := f.subreaperHub(p, c)
	if l == nil {
		return false
	}
	p.subreaper = true
	z := f.placeholder(l, 1, 0, "for "+c.name)
	f.create(z, 1, c, 0)
	return true
}

// subreaperHub is the leader of c's session if it descends from p in
// p's namespace with no subreaper between them, else nil.
func (f *forest) subreaperHub(p, c *node) *node {
	if !c.hasBS || c.hasBG && !f.visible(c.bg, p.ns) {
		return nil
	}
	l := f.owner[c.bs]
	if l == nil || l.kind != Restored || l.ns != p.ns || f.creates(c, l) {
		return nil
	}
	x := l.parent
	for ; x != nil && x != p; x = x.parent {
		if x.ns != p.ns || x.subreaper || f.nsInit[x.ns] == x {
			return nil
		}
	}
	if x != p {
		return nil
	}
	return l
}

// create has x create c in stage: itself, or, when c must be born in a
// group x can name but c cannot, through a placeholder that joins the
// group first. flags is Parent when c is to be x's sibling.
func (f *forest) create(x *node, stage int, c *node, flags Flags) {
	if c.hasBG && f.visible(c.bg, x.ns) && !(stage == 1 && (x.leads || x.kind == Ghost) && x.tag == c.bg) {
		// A placeholder that is x's child (or sibling) joins the group
		// and creates c as its sibling.
		z := f.placeholder(x, stage, flags, "lends group to "+c.name)
		z.borrow = c.bg
		f.setCreator(c, z, 1, Parent)
		return
	}
	f.setCreator(c, x, stage, flags)
}

// placeholder adds a task under (or, with Parent, beside) c, created in
// c's stage, that exits after the release.
func (f *forest) placeholder(c *node, stage int, flags Flags, why string) *node {
	x := f.add(&node{kind: Placeholder, image: -1, ns: c.ns, sid: c.sid, pgid: model.TagOutside, exits: true,
		name: fmt.Sprintf("placeholder under %s (%s)", c.name, why), placed: true})
	x.post = append(x.post, Action{Op: OpExit})
	x.numbers = f.freeNumbers(c.ns)
	f.setCreator(x, c, stage, flags)
	return x
}

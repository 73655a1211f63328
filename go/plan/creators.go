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
	f.groupUsers = map[uint32]int{}
	for _, n := range f.tasks {
		if !n.thread && n.pgid != n.tag {
			f.groupUsers[n.pgid]++
		}
	}
	// The root is born in the restarter's session and group, unless the
	// tool's init is its namespace's init: then a ghost of the session it
	// was born in may create it and exit.
	root := f.tasks[0]
	if f.top.kind != Init {
		root.hasBS, root.bs, root.hasBG, root.bg = true, f.top.sid, true, f.top.pgid
	}
	for _, n := range f.tasks[1:] {
		if n.thread {
			continue
		}
		if !n.leads {
			n.hasBS, n.bs = true, n.sid
		}
		// A group it cannot name: born in it, unless its parent can put
		// it there at the end (a namespace's init).
		if !f.visible(n.pgid, n.ns) && !(f.parentMoves(n) && f.groupUsers[n.tag] > 0) {
			n.hasBG, n.bg = true, n.pgid
		}
	}
	if err := f.placeGroupGhosts(); err != nil {
		return err
	}
	children := make(map[*node][]*node, len(f.tasks))
	f.children = children
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
		for _, c := range kids {
			// A namespace's init its parent can move only before the
			// parent's setsid: born in its final group, unless its own
			// children need it born elsewhere.
			if f.parentMoves(c) && p.sid != c.sid {
				switch {
				case f.groupUsers[c.tag] > 0:
					// It makes its own group for others first; a holder
					// keeps that group once the parent moves it.
					c.earlyMove = true
				case !c.hasBG:
					c.hasBG, c.bg = true, c.pgid
				case c.bg != c.pgid:
					c.earlyMove = true
				}
			}
		}
		// Children only their parent can create choose first.
		for _, c := range kids {
			if c.earlyMove {
				ok := f.direct(p, c)
				// Created by p before its setup, or by a placeholder p
				// creates then that lends c its group.
				z := c.creator
				lent := z != nil && z.kind == Placeholder && c.flags&Parent != 0 && z.creator == p && z.stage == 0
				if !ok || !lent && (z != p || c.stage != 0) {
					return f.fail(c, "its parent must create it before its setsid and then put it in process group %d, which the parent cannot (not supported yet)", f.s.Nr(c.pgid))
				}
				c.placed = true
				continue
			}
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
	switch l := f.owner[root.bs]; {
	case (!root.hasBS || root.bs == f.top.sid) && (!root.hasBG || root.bg == f.top.pgid):
		f.setCreator(root, f.top, 1, 0)
	case f.top.kind == Init && l != nil && l.kind == Ghost && l.ns == f.top.ns && (!root.hasBG || root.bg == l.tag) && f.creates(root, l):
		// The ghost went to a task of the tree as a sibling creator: try
		// again without.
		return &retry{tag: l.tag, claimant: -1}
	case f.top.kind == Init && l != nil && l.kind == Ghost && l.ns == f.top.ns && (!root.hasBG || root.bg == l.tag):
		if !l.placed {
			l.placed = true
			f.setCreator(l, f.top, 1, 0)
		}
		f.setCreator(root, l, 1, 0)
	default:
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

// retry is a choice to undo: the ghost of session tag must not be
// claimed as a sibling creator.
type retry struct {
	tag      uint32
	claimant int
	// Or: the birth session to keep for image task birthOf (a session
	// leader that can be born in one only).
	birth   bool
	birthOf int
	bs      uint32
}

// mayClaim reports whether p may make ghost l its child to create its
// children in l's session.
func (f *forest) mayClaim(l, p *node) bool {
	who, ok := f.reserve[l.tag]
	return !ok || who == p.image
}

func (r *retry) Error() string {
	return fmt.Sprintf("plan: internal: retry without claiming ghost %d", r.tag)
}

func (f *forest) noCreator(p, c *node) error {
	if l := f.owner[c.bs]; c.hasBS && l != nil && l.claimed {
		if _, done := f.reserve[l.tag]; !done {
			// The ghost went elsewhere (maybe below c) as a sibling
			// creator, and it could have created c: try again with it
			// kept for c's parent.
			return &retry{tag: l.tag, claimant: p.image}
		}
	}
	if p.leads && p.hasBS && c.hasBS && p.bs != c.bs && p.image >= 0 {
		if _, done := f.birth[p.image]; !done {
			// Another child took p's birth session: try again with it
			// kept for c (the other may have another way).
			return &retry{birth: true, birthOf: p.image, bs: c.bs}
		}
	}
	return f.fail(c, "no process can create it: its parent %s is in session %d (born in %d), and it must be born in session %d, group %d",
		p.name, f.s.Nr(p.sid), f.s.Nr(p.bs), f.s.Nr(c.bs), f.s.Nr(c.bg))
}

func (f *forest) setCreator(n, c *node, stage int, flags Flags) {
	n.creator = c
	n.stage = stage
	n.flags |= flags
	// In place, the launcher is in the image's root namespace already.
	if n.ns != c.ns && !n.thread && !(f.opt.InPlace && c == f.launcher) {
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
	// Namespaces whose tasks are gone: a ghost whose number there is 1
	// is their init, else a placeholder is.
	f.oneGhost = map[uint32]*node{}
	for _, n := range f.nodes {
		if n.kind == Ghost && n.numbers[len(n.numbers)-1] == 1 {
			f.oneGhost[n.ns] = n
		}
	}
	for _, n := range f.nodes {
		if n.kind == Ghost && f.nsInit[n.ns] == nil && n.ns != 1 {
			f.deadInit(n.ns, n)
		}
	}
	return nil
}

// deadInit gives a namespace whose tasks are all gone, but whose pids
// name groups outside it, an init while its ghosts are needed: the ghost
// whose number there is 1, or a placeholder. It is born in the session of
// the ghosts (a namespace's groups from outside are its init's), in the
// parent namespace (which may need one too), and its exit after the
// release ends the namespace.
func (f *forest) deadInit(ns uint32, g *node) {
	if one := f.oneGhost[ns]; one != nil {
		g = one // the namespace's own init's pid
	}
	if g.ns != ns || g.numbers[len(g.numbers)-1] != 1 {
		x := f.add(&node{kind: Placeholder, image: -1, ns: ns, sid: g.sid, pgid: model.TagOutside, exits: true,
			name: fmt.Sprintf("placeholder init of a dead namespace (for %s)", g.name), hasBS: true, bs: g.sid})
		x.post = append(x.post, Action{Op: OpExit})
		if !f.opt.NoPids {
			x.numbers = append(f.freeNumbers(f.s.Namespace(ns).Parent), 1)
		}
		g = x
	}
	f.nsInit[ns] = g
	f.deadInits = append(f.deadInits, g)
	if parent := f.s.Namespace(ns).Parent; f.nsInit[parent] == nil && parent != 1 {
		f.deadInit(parent, g)
	}
}

// hub finds a process in namespace ns that is in session sid while it
// creates: the session's leader, another member, or the namespace's init
// (before its setsid if it leads another session: its birth session is
// then sid).
func (f *forest) hub(ns, sid uint32, member map[[2]uint32]*node) (*node, int, bool) {
	if l := f.owner[sid]; l != nil && l.ns == ns && !l.thread {
		if l.kind == Ghost && !l.placed {
			l.placed = true
			c := f.nsInit[l.ns]
			if c == nil {
				c = f.tasks[0]
			}
			f.setCreator(l, c, 1, 0)
		}
		return l, 1, true
	}
	if m := member[[2]uint32{ns, sid}]; m != nil {
		return m, 1, true
	}
	init := f.nsInit[ns]
	switch {
	case init == nil:
		return nil, 0, false
	case !init.leads && init.sid == sid:
		return init, 1, true
	case init.image < 0 || !init.leads || init.hasBS && init.bs != sid:
		return nil, 0, false
	}
	init.hasBS, init.bs = true, sid
	return init, 0, true
}

// placeGroupGhosts gives each group ghost (and each init of a dead
// namespace) a creator in its session and namespace.
func (f *forest) placeGroupGhosts() error {
	member := map[[2]uint32]*node{}
	f.members = map[[2]uint32][]*node{}
	f.inGroup = map[[2]uint32][]*node{}
	for _, n := range f.tasks {
		if !n.thread {
			k := [2]uint32{n.ns, n.sid}
			f.members[k] = append(f.members[k], n)
			g := [2]uint32{n.ns, n.pgid}
			f.inGroup[g] = append(f.inGroup[g], n)
			if !n.leads && member[k] == nil {
				member[k] = n
			}
		}
	}
	for i := len(f.deadInits) - 1; i >= 0; i-- {
		d := f.deadInits[i]
		d.placed = true
		ns := f.s.Namespace(d.ns).Parent
		x, stage, ok := f.hub(ns, d.sid, member)
		if !ok {
			return f.fail(d, "no process of its session %d in the parent namespace to create it", f.s.Nr(d.sid))
		}
		f.setCreator(d, x, stage, 0)
	}
	for _, g := range f.nodes {
		if g.kind != Ghost || g.leads || g.placed {
			continue
		}
		g.placed = true
		x, stage, ok := f.hub(g.ns, g.sid, member)
		if !ok {
			return f.fail(g, "no process of its session %d in its namespace to create it", f.s.Nr(g.sid))
		}
		f.setCreator(g, x, stage, 0)
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
	if bs, ok := f.birth[p.image]; ok && p.image >= 0 && c.hasBS && c.bs != bs {
		return false // kept for another child
	}
	if carried && p.hasBG && p.bg != c.bg {
		// A namespace's init can be moved by its parent to another group
		// of its session that the parent names (setpgid of a child).
		if pp := p.parent; f.opt.NoPids || pp == nil || pp.ns == p.ns || !f.visible(c.bg, pp.ns) {
			return false
		}
		c.viaMove = c.bg
	}
	if c.hasBS {
		p.hasBS, p.bs = true, c.bs
	}
	if carried && !p.hasBG {
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
	case l.kind == Ghost && !l.placed && f.mayClaim(l, p):
		l.placed, l.claimed = true, true
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
	if f.nsInit[p.ns] != p || !c.hasBS {
		return false
	}
	l := f.owner[c.bs]
	if c.hasBG && !f.visible(c.bg, p.ns) {
		// A group from outside: a process born in it that stays.
		l = nil
		for i, m := range f.inGroup[[2]uint32{p.ns, c.bg}] {
			if i == 16 {
				break
			}
			if m.sid == c.bs && f.staysIn(m, c.bg) && !f.creates(c, m) {
				l = m
				break
			}
		}
	}
	if l == nil || l.ns != p.ns || l.thread || f.creates(c, l) {
		return false
	}
	// The placeholder exits as soon as it has created c, before any
	// subreaper is set: c goes to the init.
	z := f.placeholder(l, 1, 0, "for "+c.name)
	if !f.opt.NoPids && !f.opt.Attach { // a NoPids coordinator finds tasks through their creators; kernel members attach
		z.exitAt = exitNow
	}
	if c.hasBG && f.visible(c.bg, l.ns) && c.bg != l.tag {
		z.borrow = c.bg
	}
	f.setCreator(c, z, 1, 0)
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
	if !f.opt.NoPids && !f.opt.Attach { // every kernel restart-context member attaches before the commit
		z.exitAt = exitAfterSubreapers
	}
	z.target = p
	if c.hasBG && f.visible(c.bg, l.ns) && !(l.leads && c.bg == l.tag) {
		z.borrow = c.bg
	}
	f.setCreator(c, z, 1, 0)
	return true
}

// subreaperHub is the leader of c's session (or another member) if it
// descends from p in p's namespace, else nil. Subreapers between them are
// set only after c's placeholder has exited (layout.go).
func (f *forest) subreaperHub(p, c *node) *node {
	if !c.hasBS {
		return nil
	}
	carried := c.hasBG && !f.visible(c.bg, p.ns)
	ok := func(l *node) bool {
		if l == nil || l.kind != Restored && !(l.kind == Ghost && l.placed) || l.thread || l.ns != p.ns || f.creates(c, l) {
			return false
		}
		if carried && (l.kind == Ghost || !f.staysIn(l, c.bg)) {
			return false
		}
		x := parentAfter(l)
		for ; x != nil && x != p; x = parentAfter(x) {
			if x.ns != p.ns || f.nsInit[x.ns] == x {
				return false
			}
		}
		return x == p
	}
	if l := f.owner[c.bs]; ok(l) {
		return l
	}
	// A sibling in the session, or another process of the session (a
	// bounded search).
	for _, m := range f.children[p] {
		if m != c && m.sid == c.bs && !m.leads && ok(m) {
			return m
		}
	}
	ms := f.members[[2]uint32{p.ns, c.bs}]
	if carried {
		ms = f.inGroup[[2]uint32{p.ns, c.bg}]
	}
	for i, m := range ms {
		if i == 64 {
			break
		}
		if ok(m) {
			return m
		}
	}
	return nil
}

// parentAfter is x's parent once the tree is created: an image task's
// image parent, else the process whose child it is (as far as chosen).
func parentAfter(x *node) *node {
	if x.kind == Restored {
		return x.parent
	}
	if x.creator == nil {
		return nil
	}
	return realParent(x)
}

// staysIn reports whether l is in group g, which it cannot name, all its
// life: born in it, never an owner of a group, not moved by a parent.
func (f *forest) staysIn(l *node, g uint32) bool {
	return l.pgid == g && l.hasBG && l.bg == g && f.groupUsers[l.tag] == 0 && !f.parentMoves(l)
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

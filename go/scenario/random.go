package scenario

import (
	"fmt"
	"math/rand/v2"

	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/plan"
)

// node is the generator's view of one process, to keep its steps valid.
type node struct {
	t     *plan.T
	ns    int
	depth int   // namespace level below the container's
	sess  *node // session leader (it may have exited)
	grp   *node // group leader (it may have exited)
	init  bool
}

type gen struct {
	rng      *rand.Rand
	maxDepth int
	left     int           // tasks still to create
	nsCount  int           //
	members  map[*node]int // group leader -> members alive or zombie
	all      []*node       // processes, for later steps
}

// Random is a container tree of about n tasks in up to maxDepth pid
// namespace levels below the container's. It is grown depth first, in the
// order the executor runs it, by random steps: forks, new namespaces,
// threads, setsid, setpgid into live groups of the session, exits (dead
// group and session leaders, orphans re-parented to their init), then
// zombies and stopped tasks once the tree is parked.
func Random(rng *rand.Rand, n, maxDepth int) Scenario {
	b := plan.NewBuilder(rng)
	initT := b.Launcher().ForkNS("init")
	initT.Setsid()
	root := &node{t: initT, init: true}
	root.sess, root.grp = root, root
	g := &gen{rng: rng, maxDepth: maxDepth, left: n - 1, nsCount: 1, members: map[*node]int{root: 1}}
	g.all = append(g.all, root)
	for g.left > 0 {
		g.grow(root, g.left)
	}
	// Once parked: some zombies and stopped tasks (never an init).
	for _, x := range g.all[1:] {
		if x.init {
			continue
		}
		switch rng.IntN(30) {
		case 0:
			x.t.Zombie(int32(rng.IntN(256)) << 8)
		case 1:
			x.t.Stop()
		}
	}
	return Scenario{Plan: b.Plan(), Root: initT.Index(), Mode: model.ModeContainer}
}

// grow runs process p's steps: children (each grown at once, as the
// executor runs them), group changes, threads, and maybe its exit.
// It returns whether p exited.
func (g *gen) grow(p *node, budget int) bool {
	for budget > 0 && g.left > 0 {
		name := fmt.Sprintf("r%d", g.left)
		switch r := g.rng.IntN(100); {
		case r < 6 && p.depth < g.maxDepth:
			g.nsCount++
			c := &node{ns: g.nsCount, depth: p.depth + 1, sess: p.sess, grp: p.grp, init: true}
			c.t = p.t.ForkNS(name)
			g.child(p, c, budget)
		case r < 12 && !p.init:
			p.t.Thread(name)
			g.left--
			budget--
		case r < 20 && !p.init && p.sess != p:
			g.setpgid(p)
		case r < 24 && !p.init:
			p.t.Exit(int32(g.rng.IntN(4)) << 8)
			return true
		default:
			c := &node{ns: p.ns, depth: p.depth, sess: p.sess, grp: p.grp}
			c.t = p.t.Fork(name)
			if g.rng.IntN(5) == 0 {
				c.t.Setsid()
				g.members[c.grp]--
				c.sess, c.grp = c, c
				g.members[c]++
			}
			used := g.child(p, c, budget)
			budget -= used
			continue
		}
		budget--
	}
	return false
}

// child grows a new child c of p with part of p's budget; if c exits, p
// reaps it (or not: a zombie). It returns the tasks used.
func (g *gen) child(p, c *node, budget int) int {
	before := g.left
	g.left--
	g.members[c.grp]++
	g.all = append(g.all, c)
	share := 1 + g.rng.IntN(max(1, budget/2))
	if g.grow(c, share) && g.rng.IntN(3) > 0 {
		p.t.Reap(c.t)
		g.members[c.grp]--
	}
	return before - g.left
}

// setpgid moves p to its own group or to another live group of its session
// in its namespace.
func (g *gen) setpgid(p *node) {
	var cands []*node
	for _, x := range g.all {
		if g.members[x] > 0 && x.sess == p.sess && x.ns == p.ns && x != p.grp {
			cands = append(cands, x)
		}
	}
	target := p
	if len(cands) > 0 && g.rng.IntN(2) == 0 {
		target = cands[g.rng.IntN(len(cands))]
	}
	if target == p.grp {
		return
	}
	g.members[p.grp]--
	if target == p {
		p.t.Setpgid(nil)
	} else {
		p.t.Setpgid(target.t)
	}
	p.grp = target
	g.members[target]++
}

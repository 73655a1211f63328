// Package scenario holds the process trees ckpt-nl is tested on, as plans
// the executor builds for real in a fresh pid namespace: the shapes of
// CRIU's zdtm suite and the linux-cr tests (docs/DESIGN.md section 6), and
// seeded random trees. Each tree's identity is known in advance: the
// simulator (go/sim) predicts it from the plan, with every pid chosen
// through set_tid.
package scenario

import (
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/plan"
)

// Scenario is a tree to build and what to checkpoint of it.
type Scenario struct {
	Name string
	Plan *plan.Plan
	// Root is the plan task to checkpoint, in Mode.
	Root int
	Mode model.Mode
	// Tasks is how many tasks the checkpoint should find.
	Tasks int
}

type maker struct {
	name string
	make func(rng *rand.Rand) Scenario
}

var makers []maker

func register(name string, fn func(rng *rand.Rand) Scenario) {
	makers = append(makers, maker{name, fn})
}

// Names lists the named scenarios.
func Names() []string {
	var out []string
	for _, m := range makers {
		out = append(out, m.name)
	}
	sort.Strings(out)
	return out
}

// Get returns the named scenario. Seeded names ("random", "large") use
// seed; the others ignore it.
func Get(name string, seed uint64) (Scenario, error) {
	for _, m := range makers {
		if m.name == name {
			s := m.make(rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)))
			s.Name = name
			return s, nil
		}
	}
	return Scenario{}, fmt.Errorf("scenario: unknown %q (have %v)", name, Names())
}

// container starts a plan with an init in a new pid namespace that leads
// its own session, as a container's does.
func container(rng *rand.Rand) (*plan.Builder, *plan.T) {
	b := plan.NewBuilder(rng)
	init := b.Launcher().ForkNS("init")
	init.Setsid()
	return b, init
}

func done(b *plan.Builder, root *plan.T, mode model.Mode) Scenario {
	return Scenario{Plan: b.Plan(), Root: root.Index(), Mode: mode}
}

func init() {
	register("nested-chain", func(rng *rand.Rand) Scenario {
		// A chain of four pid namespaces below the container's, each
		// init with a child and a grandchild.
		b, init := container(rng)
		cur := init
		for i := 1; i <= 4; i++ {
			ns := cur.ForkNS(fmt.Sprintf("ns%d-init", i))
			c := ns.Fork(fmt.Sprintf("ns%d-child", i))
			c.Fork(fmt.Sprintf("ns%d-grandchild", i))
			cur = ns
		}
		return done(b, init, model.ModeContainer)
	})
	register("sibling-namespaces", func(rng *rand.Rand) Scenario {
		// Two pid namespaces side by side under one parent, one of them
		// with its own child namespace: a tree of namespaces, not a chain.
		b, init := container(rng)
		p := init.Fork("parent")
		a := p.ForkNS("a-init")
		a.Fork("a-child").Setsid()
		bb := p.ForkNS("b-init")
		bb.Fork("b-child")
		bb.ForkNS("b2-init").Fork("b2-child")
		return done(b, init, model.ModeContainer)
	})
	register("dead-group-leader", func(rng *rand.Rand) Scenario {
		// pgrp00-like: a process group outlives its leader; its members
		// are the leader's children (re-parented) and a sibling.
		b, init := container(rng)
		l := init.Fork("leader")
		l.Setpgid(nil)
		l.Fork("member1")
		l.Fork("member2")
		s := init.Fork("sibling")
		s.Setpgid(l)
		l.Exit(0)
		init.Reap(l)
		return done(b, init, model.ModeContainer)
	})
	register("dead-session-leader", func(rng *rand.Rand) Scenario {
		// session00-like: a session whose leader died, with two groups.
		b, init := container(rng)
		l := init.Fork("sleader")
		l.Setsid()
		m := l.Fork("member")
		g := l.Fork("group")
		g.Setpgid(nil)
		g.Fork("group-child")
		_ = m
		l.Exit(0)
		init.Reap(l)
		return done(b, init, model.ModeContainer)
	})
	register("zombies", func(rng *rand.Rand) Scenario {
		// zombie00-like: exited children nobody reaped, one by exit
		// code, one by a signal, and a zombie session leader whose
		// session lives on in its orphaned child.
		b, init := container(rng)
		p := init.Fork("parent")
		p.Fork("z-exit").Zombie(7 << 8)
		p.Fork("z-signal").Zombie(15)
		zl := p.Fork("z-sleader")
		zl.Setsid()
		zl.Fork("z-orphan")
		zl.Zombie(0)
		return done(b, init, model.ModeContainer)
	})
	register("threads", func(rng *rand.Rand) Scenario {
		// Thread groups, one whose leader exited (pthread02-like) and
		// one whose threads fork children of their own.
		b, init := container(rng)
		mt := init.Fork("mt")
		mt.Thread("mt-t1")
		t2 := mt.Thread("mt-t2")
		t2.Fork("forked-by-thread")
		dl := init.Fork("dead-leader")
		dl.Thread("dl-t1")
		dl.Thread("dl-t2").Fork("dl-child")
		dl.ExitThread()
		return done(b, init, model.ModeContainer)
	})
	register("orphans", func(rng *rand.Rand) Scenario {
		// Orphans re-parented to the namespace's init, and to a child
		// subreaper further up their ancestry.
		b, init := container(rng)
		p := init.Fork("placeholder")
		p.Fork("orphan-of-init")
		p.Exit(0)
		init.Reap(p)
		sr := init.Fork("subreaper")
		sr.Subreaper()
		mid := sr.Fork("mid")
		p2 := mid.Fork("placeholder2")
		p2.Fork("orphan-of-subreaper").Fork("its-child")
		p2.Exit(0)
		mid.Reap(p2)
		return done(b, init, model.ModeContainer)
	})
	register("job-control", func(rng *rand.Rand) Scenario {
		// jobctl-like: a login shell leading its session, a pipeline job
		// in its own group, a stopped job, and a group leader that moved
		// to another group of its session.
		b, init := container(rng)
		sh := init.Fork("sh")
		sh.Setsid()
		j1 := sh.Fork("job1-cat")
		j1.Setpgid(nil)
		j1b := sh.Fork("job1-grep")
		j1b.Setpgid(j1)
		j2 := sh.Fork("job2-vi")
		j2.Setpgid(nil)
		j2.Stop()
		mv := sh.Fork("mover")
		mv.Setpgid(nil)
		mv.Fork("mover-child")
		mv.Setpgid(j1)
		return done(b, init, model.ModeContainer)
	})
	register("subtree", func(rng *rand.Rand) Scenario {
		// A subtree checkpoint: the root is not an init; its group and
		// session come from above it, and one child leads its own.
		b, init := container(rng)
		root := init.Fork("root")
		root.Setpgid(nil)
		root.Fork("child")
		c2 := root.Fork("leader-child")
		c2.Setsid()
		c2.Fork("grandchild")
		root.ForkNS("nested").Fork("nested-child")
		return done(b, root, model.ModeSubtree)
	})
	register("demo", func(rng *rand.Rand) Scenario {
		// The demo's default tree: a bit of everything in one container.
		b, init := container(rng)
		sh := init.Fork("sh")
		sh.Setsid()
		job := sh.Fork("make")
		job.Setpgid(nil)
		cc := job.Fork("cc")
		cc.Fork("as").Zombie(0)
		sh.Fork("vi").Setpgid(nil).Stop()
		gone := init.Fork("daemon-starter")
		gone.Setsid()
		d := gone.Fork("daemon")
		d.Thread("daemon-worker")
		gone.Exit(0)
		init.Reap(gone)
		svc := init.ForkNS("svc-init")
		svc.Setsid()
		web := svc.Fork("web")
		web.Thread("web-io")
		web.ForkNS("sandbox").Fork("sandboxed")
		svc.ForkNS("db").Fork("db-writer")
		return done(b, init, model.ModeContainer)
	})
	register("random", func(rng *rand.Rand) Scenario {
		return Random(rng, 60, 4)
	})
	register("large", func(rng *rand.Rand) Scenario {
		return Random(rng, 1000, 3)
	})
}

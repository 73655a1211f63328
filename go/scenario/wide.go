package scenario

import (
	"fmt"

	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/plan"
)

// Wide is a container tree of n tasks spread over levels pid-namespace
// levels (a chain of namespace inits below the container's), for
// benchmarks: in each namespace, sessions of 64 tasks whose leader forks
// the others, a process group per 16 of them, and a thread per 32. Pids
// are sequential, as a freshly booted container's would be.
func Wide(n, levels int) Scenario {
	b := plan.NewBuilder(nil)
	init := b.Launcher().ForkNS("init")
	init.Setsid()
	inits := []*plan.T{init}
	for l := 1; l < levels; l++ {
		in := inits[l-1].ForkNS(fmt.Sprintf("ns%d-init", l))
		in.Setsid()
		inits = append(inits, in)
	}
	made := levels
	per := (n - made + levels - 1) / levels
	for l, in := range inits {
		budget := min(per, n-made)
		var leader, grp *plan.T
		for k := 0; k < budget; k++ {
			name := fmt.Sprintf("w%d-%d", l, k)
			switch {
			case k%64 == 0:
				leader = in.Fork(name)
				leader.Setsid()
				grp = leader
			case k%32 == 31:
				leader.Thread(name)
			default:
				c := leader.Fork(name)
				if k%16 == 0 {
					c.Setpgid(nil)
					grp = c
				} else if grp != leader {
					c.Setpgid(grp)
				}
			}
			made++
		}
	}
	return Scenario{Name: fmt.Sprintf("wide-%d-%d", n, levels), Plan: b.Plan(), Root: init.Index(), Mode: model.ModeContainer}
}

// Chain is a container with a chain of depth nested pid namespaces (the
// deepest the kernel allows is 32 levels in all), each init with one child.
func Chain(depth int) Scenario {
	b := plan.NewBuilder(nil)
	init := b.Launcher().ForkNS("init")
	init.Setsid()
	cur := init
	for l := 1; l < depth; l++ {
		cur = cur.ForkNS(fmt.Sprintf("ns%d", l))
		cur.Fork(fmt.Sprintf("ns%d-child", l))
	}
	return Scenario{Name: fmt.Sprintf("chain-%d", depth), Plan: b.Plan(), Root: init.Index(), Mode: model.ModeContainer}
}

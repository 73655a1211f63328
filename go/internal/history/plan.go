package history

import (
	"fmt"
	"slices"

	"github.com/ckpt-nl/ckpt-nl/go/plan"
)

// Plan returns the executor program that makes h's calls for real, in h's
// global order: call k runs in phase k, alone, and the phase after it
// opens only once it has returned (its caller, or for an exit the parent
// that waits for the zombie, arrives at barrier k+1). Nothing is given by
// set_tid: the kernel chooses every pid, and each clone3 must return the
// number the model predicts (Task.Expect), so a disagreement on pid
// allocation stops the run at the first clone it affects.
//
// The root (task 1) is the launcher's child in a new pid namespace; the
// tree stands parked when every phase has run (executor.Run.WaitSettled).
func (h *History) Plan() (*plan.Plan, error) { return h.plan(false) }

// plan is Plan; with numbers, tasks keep the model's numbers as set_tid
// (for go/sim, which needs them).
func (h *History) plan(numbers bool) (*plan.Plan, error) {
	m, err := h.Replay()
	if err != nil {
		return nil, err
	}
	mp := m.Plan()
	p := &plan.Plan{NSParent: slices.Clone(mp.NSParent), NSLevel: slices.Clone(mp.NSLevel), Base: mp.Base}
	p.Tasks = make([]plan.Task, len(mp.Tasks))
	for i, t := range mp.Tasks {
		t.Actions = nil
		if i > 0 {
			// Where clone3 returns: the creator's own namespace.
			if lc := mp.NSLevel[m.Task(t.Creator).NS] - mp.Base; lc >= 0 && lc < len(t.Numbers) {
				t.Expect = t.Numbers[lc]
			}
			if !numbers {
				t.Numbers = nil
			}
		}
		p.Tasks[i] = t
	}
	type event struct {
		barrier int32
		act     *plan.Action
	}
	events := make([][]event, len(p.Tasks))
	at := func(task int, k int, a *plan.Action) {
		events[task] = append(events[task], event{int32(k), a})
	}
	for k0, c := range h.Calls {
		k := k0 + 1
		if c.Task == 0 {
			// The launcher makes the root before any barrier.
			if c.Op != Fork || k != 1 {
				return nil, fmt.Errorf("history: call %d: the launcher only creates the root", k)
			}
			events[0] = append(events[0], event{0, &plan.Action{Op: plan.OpClone, A: int32(c.Child)}})
			continue
		}
		done := true // the caller arrives at k+1 when its call returns
		var a plan.Action
		switch c.Op {
		case Fork:
			a = plan.Action{Op: plan.OpClone, A: int32(c.Child)}
		case Setsid:
			a = plan.Action{Op: plan.OpSetsid}
		case Setpgid:
			a = plan.Action{Op: plan.OpSetpgid, A: c.Pgid, B: c.Pid}
		case Exit:
			a = plan.Action{Op: plan.OpExit, A: c.Arg}
			done = false
			w := plan.Action{Op: plan.OpWaitExit, A: int32(c.Task), B: c.ChildPid}
			at(c.Parent, k, &w)
			at(c.Parent, k+1, nil)
		case ExitThread:
			a = plan.Action{Op: plan.OpExitThread}
			done = false
			if c.Parent > 0 {
				w := plan.Action{Op: plan.OpWaitGone, A: int32(c.Task), B: c.ChildPid}
				at(c.Parent, k, &w)
				at(c.Parent, k+1, nil)
			}
		case Reap:
			a = plan.Action{Op: plan.OpReap, A: int32(c.Child), B: c.Pid}
		case Subreaper:
			a = plan.Action{Op: plan.OpSubreaper}
		case LastPid:
			a = plan.Action{Op: plan.OpLastPid, A: c.Arg}
		case Setns:
			a = plan.Action{Op: plan.OpSetns, A: c.Pid}
		case Stop:
			a = plan.Action{Op: plan.OpStop}
			done = false
		default:
			return nil, fmt.Errorf("history: call %d: unknown op %s", k, c.Op)
		}
		at(c.Task, k, &a)
		if done {
			at(c.Task, k+1, nil)
		}
	}
	n := len(h.Calls)
	for i, evs := range events {
		slices.SortStableFunc(evs, func(a, b event) int { return int(a.barrier - b.barrier) })
		var acts []plan.Action
		last := int32(0)
		for _, e := range evs {
			if e.barrier > last && e.barrier <= int32(n) {
				acts = append(acts, plan.Action{Op: plan.OpBarrier, A: e.barrier})
				last = e.barrier
			}
			if e.act != nil {
				acts = append(acts, *e.act)
			}
		}
		p.Tasks[i].Actions = acts
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

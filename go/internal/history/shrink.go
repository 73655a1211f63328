package history

import "slices"

// Shrink returns a shortest history it can find, made of calls of h, for
// which fails still reports true (fails(h) must be true). It takes out
// runs of calls, halving their length down to one (delta debugging); a
// call whose task was never created is taken out with it, task indices
// are renumbered in creation order, and candidates the model refuses are
// skipped. The root's creation and its setsid stay.
func Shrink(h *History, fails func(*History) bool) *History {
	best := h
	for chunk := len(best.Calls) / 2; chunk >= 1; chunk /= 2 {
		for i := 2; i < len(best.Calls); {
			drop := make([]bool, len(best.Calls))
			for k := i; k < i+chunk && k < len(best.Calls); k++ {
				drop[k] = true
			}
			if c, ok := best.without(drop); ok && fails(c) {
				best = c
				continue // the same i now names the calls after the run
			}
			i += chunk
		}
	}
	return best
}

// without is h less the calls marked in drop and every call that names a
// task those calls created; ok is false when the model refuses the rest.
func (h *History) without(drop []bool) (*History, bool) {
	renum := map[int]int{0: 0}
	next := 1
	var calls []Call
	for k, c := range h.Calls {
		if drop[k] {
			continue
		}
		mapped := true
		for _, ref := range []*int{&c.Task, &c.Target, &c.Group} {
			n, ok := renum[*ref]
			mapped = mapped && ok
			*ref = n
		}
		if c.Op == Reap {
			n, ok := renum[c.Child]
			mapped = mapped && ok
			c.Child = n
		}
		if !mapped {
			continue
		}
		if c.Op == Fork {
			renum[c.Child] = next
			c.Child = next
			next++
		}
		calls = append(calls, c)
	}
	out := &History{Seed: h.Seed, Opt: h.Opt, Calls: slices.Clone(calls)}
	if _, err := out.Replay(); err != nil {
		return nil, false
	}
	return out, true
}

package plan

// Floor is the kernel's floor of a plan: the same tasks created by the
// same creators with the same clone3 flags and set_tid numbers (and the
// setns that puts a creator's children in another namespace), all parked
// at barrier 1, and nothing else: no sessions, groups, ghosts' exits,
// stops or waits. Restart time is measured against it.
func Floor(p *Plan) *Plan {
	f := *p
	f.Joins = nil
	f.Tasks = make([]Task, len(p.Tasks))
	for i, t := range p.Tasks {
		t.Actions = nil
		for _, a := range p.Tasks[i].Actions {
			if a.Op == OpClone || a.Op == OpSetns {
				t.Actions = append(t.Actions, a)
			}
		}
		t.Actions = append(t.Actions, Action{Op: OpBarrier, A: 1})
		f.Tasks[i] = t
	}
	return &f
}

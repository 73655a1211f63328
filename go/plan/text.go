package plan

import (
	"fmt"
	"io"
	"strings"
)

// WriteText prints the plan as a tree of creators: each task with why it
// exists, its clone flags and pids, then what it does in each phase.
func (p *Plan) WriteText(w io.Writer) error {
	var b strings.Builder
	kinds := map[Kind]int{}
	for _, t := range p.Tasks {
		kinds[t.Kind]++
	}
	fmt.Fprintf(&b, "plan: %d tasks (%d restored, %d ghosts, %d placeholders), %d pid namespaces, barriers up to %d\n",
		len(p.Tasks), kinds[Restored], kinds[Ghost], kinds[Placeholder], len(p.NSLevel)-1, p.Barriers())
	children := map[int][]int{}
	for i, t := range p.Tasks {
		if i > 0 {
			children[t.Creator] = append(children[t.Creator], i)
		}
	}
	var draw func(i int, prefix string)
	draw = func(i int, prefix string) {
		t := &p.Tasks[i]
		fmt.Fprintf(&b, "%s#%d %s", prefix, i, t.Name)
		if t.Kind != Restored {
			fmt.Fprintf(&b, " [%s]", t.Kind)
		}
		if len(t.Numbers) > 0 {
			nums := make([]string, len(t.Numbers))
			for k, n := range t.Numbers {
				nums[k] = fmt.Sprint(n)
			}
			fmt.Fprintf(&b, " pid %s", strings.Join(nums, "/"))
		}
		if t.Flags != 0 {
			fmt.Fprintf(&b, " %s", t.Flags)
		}
		b.WriteString("\n")
		phase := 0
		var steps []string
		flush := func() {
			if len(steps) > 0 {
				fmt.Fprintf(&b, "%s    phase %d: %s\n", prefix, phase, strings.Join(steps, ", "))
			}
			steps = nil
		}
		for _, a := range t.Actions {
			switch a.Op {
			case OpBarrier:
				flush()
				phase = int(a.A)
			case OpClone:
				steps = append(steps, fmt.Sprintf("clone #%d", a.A))
			case OpSetpgid:
				switch {
				case a.B != 0:
					steps = append(steps, fmt.Sprintf("setpgid(child %d, %d)", a.B, a.A))
				case a.A == 0:
					steps = append(steps, "setpgid(own)")
				default:
					steps = append(steps, fmt.Sprintf("setpgid(%d)", a.A))
				}
			case OpExit:
				steps = append(steps, fmt.Sprintf("exit(status %#x)", a.A))
			case OpReap:
				steps = append(steps, fmt.Sprintf("reap #%d", a.A))
			case OpPdeathsig, OpAttach:
			default:
				steps = append(steps, a.Op.String())
			}
		}
		flush()
		for _, c := range children[i] {
			draw(c, prefix+"  ")
		}
	}
	draw(0, "")
	_, err := io.WriteString(w, b.String())
	return err
}

package model

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// WriteText prints s like pstree: each process with its pid numbers per
// level (root namespace first), its process group and session, its
// threads in braces, and its children below it; then the pid objects whose
// owner is gone (the ghosts a restart creates) and the namespace tree.
func (s *Snapshot) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s snapshot: %d tasks, %d pid objects (%d numbers beyond level 0), %d pid namespaces\n",
		s.Mode, len(s.Tasks), len(s.Pids), s.NrVpids(), len(s.Namespaces))
	if m := s.Meta; m.Backend != "" || m.Kernel != "" {
		fmt.Fprintf(&b, "taken by %s backend on %s, root pid %d in the checkpointer's namespace\n", m.Backend, m.Kernel, m.RootPid)
	}
	b.WriteString("\n")

	children := map[uint32][]int{}
	threads := map[uint32][]int{}
	for i := range s.Tasks {
		t := &s.Tasks[i]
		if t.IsThread() {
			threads[t.Tgid] = append(threads[t.Tgid], i)
		} else if i > 0 {
			children[t.PPid] = append(children[t.PPid], i)
		}
	}
	var draw func(i int, prefix, branch, cont string)
	draw = func(i int, prefix, branch, cont string) {
		t := &s.Tasks[i]
		fmt.Fprintf(&b, "%s%s%s\n", prefix, branch, s.taskLine(t))
		kids := append(slices.Clone(threads[t.Tgid]), children[t.Tgid]...)
		for k, c := range kids {
			last := k == len(kids)-1
			br, co := "├─ ", "│  "
			if last {
				br, co = "└─ ", "   "
			}
			if s.Tasks[c].IsThread() {
				fmt.Fprintf(&b, "%s%s%s{%s}\n", prefix+cont, br, "", s.taskLine(&s.Tasks[c]))
				continue
			}
			draw(c, prefix+cont, br, co)
		}
	}
	if len(s.Tasks) > 0 {
		draw(0, "", "", "")
	}

	if ghosts := s.Ghosts(); len(ghosts) > 0 {
		b.WriteString("\nghosts-to-be (pids whose owner is gone; a restart recreates them):\n")
		for _, g := range ghosts {
			fmt.Fprintf(&b, "  %s: %s\n", s.numbers(s.Pid(g.Tag)), g.Why)
		}
	}
	b.WriteString("\npid namespaces:\n")
	for _, ns := range s.Namespaces {
		if ns.Parent == 0 {
			fmt.Fprintf(&b, "  ns%d: level %d, the root's\n", ns.Tag, ns.Level)
		} else {
			fmt.Fprintf(&b, "  ns%d: level %d, child of ns%d\n", ns.Tag, ns.Level, ns.Parent)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// numbers prints a pid's numbers per level: "12/3/1".
func (s *Snapshot) numbers(p *Pid) string {
	parts := make([]string, len(p.Numbers))
	for i, n := range p.Numbers {
		parts[i] = fmt.Sprint(n)
	}
	return strings.Join(parts, "/")
}

func (s *Snapshot) taskLine(t *Task) string {
	p := s.Pid(t.Pid)
	var b strings.Builder
	b.WriteString(s.numbers(p))
	if t.Comm != "" {
		fmt.Fprintf(&b, " %s", t.Comm)
	}
	if t.IsThread() {
		return b.String() + s.stateSuffix(t)
	}
	if p.Depth() > 0 {
		fmt.Fprintf(&b, " (ns%d)", p.NS)
	}
	fmt.Fprintf(&b, " pgid %s sid %s", s.label(t.Pgid), s.label(t.Sid))
	b.WriteString(s.stateSuffix(t))
	return b.String()
}

func (s *Snapshot) stateSuffix(t *Task) string {
	switch t.State {
	case Zombie:
		return fmt.Sprintf(" <zombie, status %#x>", t.ExitCode)
	case Stopped:
		return " <stopped>"
	case Dead:
		return " <dead leader>"
	}
	return ""
}

// Ghost is a pid object with no task of its own.
type Ghost struct {
	Tag uint32
	Why string
}

// Ghosts lists the pid objects no task owns, and what keeps each alive.
func (s *Snapshot) Ghosts() []Ghost {
	owned := map[uint32]bool{}
	for i := range s.Tasks {
		owned[s.Tasks[i].Pid] = true
	}
	var out []Ghost
	for i := range s.Pids {
		p := &s.Pids[i]
		if owned[p.Tag] {
			continue
		}
		var why []string
		var pg, ss []string
		for j := range s.Tasks {
			t := &s.Tasks[j]
			if t.Pgid == p.Tag {
				pg = append(pg, fmt.Sprint(s.Nr(t.Pid)))
			}
			if t.Sid == p.Tag {
				ss = append(ss, fmt.Sprint(s.Nr(t.Pid)))
			}
		}
		// In a subtree image the owner may live outside the tree.
		gone := "dead"
		if s.Mode == ModeSubtree {
			gone = "absent"
		}
		if len(ss) > 0 {
			why = append(why, gone+" session leader of "+strings.Join(ss, " "))
		}
		if len(pg) > 0 {
			why = append(why, gone+" process-group leader of "+strings.Join(pg, " "))
		}
		if len(why) == 0 {
			why = append(why, "unreferenced")
		}
		out = append(out, Ghost{Tag: p.Tag, Why: strings.Join(why, "; ")})
	}
	return out
}

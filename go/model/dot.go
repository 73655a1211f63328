package model

import (
	"fmt"
	"io"
	"strings"
)

// WriteDot draws s for Graphviz: pid namespaces as nested boxes, each
// process as a node labelled with its pid per level, process group and
// session (sessions coloured alike), its threads inside its label;
// zombies grey, stopped tasks orange, dead leaders dashed, and the pids
// whose owner is gone (the ghosts a restart recreates) as dashed ovals
// joined to their members. Edges go from parent to child.
func (s *Snapshot) WriteDot(w io.Writer) error {
	var b strings.Builder
	b.WriteString("digraph ckptnl {\n  rankdir=TB; node [shape=box, style=\"rounded,filled\", fontname=\"monospace\", fontsize=10];\n")
	fmt.Fprintf(&b, "  label=%q; labelloc=t;\n", fmt.Sprintf("%s image: %d tasks, %d pid objects, %d pid namespaces", s.Mode, len(s.Tasks), len(s.Pids), len(s.Namespaces)))
	palette := []string{"#dbe9f6", "#fde2c4", "#d5f0d5", "#f6d5d5", "#e6dcf2", "#f2e6d9", "#fbe0f0", "#e8e8e8", "#f4f4c4", "#d3f2f4"}
	color := map[uint32]string{}
	sessionColor := func(sid uint32) string {
		if c, ok := color[sid]; ok {
			return c
		}
		c := palette[len(color)%len(palette)]
		color[sid] = c
		return c
	}
	threads := map[uint32][]string{}
	for i := range s.Tasks {
		t := &s.Tasks[i]
		if t.IsThread() {
			threads[t.Tgid] = append(threads[t.Tgid], s.numbers(s.Pid(t.Pid)))
		}
	}
	// Nodes, grouped by the namespace of their pid.
	inNS := map[uint32][]string{}
	for i := range s.Tasks {
		t := &s.Tasks[i]
		if t.IsThread() {
			continue
		}
		p := s.Pid(t.Pid)
		label := fmt.Sprintf("%s %s\\npgid %s  sid %s", s.numbers(p), t.Comm, s.label(t.Pgid), s.label(t.Sid))
		if th := threads[t.Tgid]; len(th) > 0 {
			label += "\\nthreads " + strings.Join(th, " ")
		}
		attrs := fmt.Sprintf("fillcolor=%q", sessionColor(t.Sid))
		switch t.State {
		case Zombie:
			label += fmt.Sprintf("\\n<zombie %#x>", t.ExitCode)
			attrs = `fillcolor="#bbbbbb", fontcolor="#444444"`
		case Stopped:
			label += "\\n<stopped>"
			attrs += `, color="#e07000", penwidth=2`
		case Dead:
			label += "\\n<dead leader>"
			attrs += `, style="rounded,dashed,filled"`
		}
		inNS[p.NS] = append(inNS[p.NS], fmt.Sprintf("t%d [label=\"%s\", %s];", t.Pid, label, attrs))
	}
	for _, g := range s.Ghosts() {
		p := s.Pid(g.Tag)
		inNS[p.NS] = append(inNS[p.NS], fmt.Sprintf("t%d [label=\"%s\\nghost: %s\", shape=oval, style=dashed];",
			g.Tag, s.numbers(p), strings.ReplaceAll(strings.ReplaceAll(g.Why, "\"", "'"), "; ", "\\n")))
	}
	children := map[uint32][]uint32{}
	for _, ns := range s.Namespaces {
		children[ns.Parent] = append(children[ns.Parent], ns.Tag)
	}
	var cluster func(ns uint32, indent string)
	cluster = func(ns uint32, indent string) {
		fmt.Fprintf(&b, "%ssubgraph cluster_ns%d {\n%s  label=\"pid namespace ns%d (level %d)\"; style=rounded; color=\"#888888\";\n",
			indent, ns, indent, ns, s.Namespace(ns).Level)
		for _, n := range inNS[ns] {
			fmt.Fprintf(&b, "%s  %s\n", indent, n)
		}
		for _, c := range children[ns] {
			cluster(c, indent+"  ")
		}
		fmt.Fprintf(&b, "%s}\n", indent)
	}
	for _, root := range children[0] {
		cluster(root, "  ")
	}
	for i := range s.Tasks {
		t := &s.Tasks[i]
		if i > 0 && !t.IsThread() {
			fmt.Fprintf(&b, "  t%d -> t%d;\n", t.PPid, t.Pid)
		}
	}
	for _, g := range s.Ghosts() {
		for i := range s.Tasks {
			t := &s.Tasks[i]
			if !t.IsThread() && (t.Pgid == g.Tag || t.Sid == g.Tag) && t.Pid != g.Tag {
				fmt.Fprintf(&b, "  t%d -> t%d [style=dotted, arrowhead=none, color=\"#888888\"];\n", g.Tag, t.Pid)
			}
		}
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

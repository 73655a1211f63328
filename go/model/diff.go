package model

import (
	"fmt"
	"slices"
)

// Diff lists every difference in identity between a and b, in terms of pid
// numbers at level 0 (the root namespace's): the mode, the namespace tree,
// each pid object's numbers and namespaces, and each task's parent, thread
// group, process group, session, depth and state. Display metadata (comm,
// argv, backend, time) is not identity and is ignored. An empty result
// means a and b describe the same identity.
func Diff(a, b *Snapshot) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }

	if a.Mode != b.Mode {
		add("mode: %s vs %s", a.Mode, b.Mode)
	}
	if len(a.Namespaces) != len(b.Namespaces) {
		add("pid namespaces: %d vs %d", len(a.Namespaces), len(b.Namespaces))
	}
	for i := 0; i < min(len(a.Namespaces), len(b.Namespaces)); i++ {
		na, nb := a.Namespaces[i], b.Namespaces[i]
		if na.Level != nb.Level || na.Parent != nb.Parent {
			add("pid namespace %d: level %d under %d vs level %d under %d", na.Tag, na.Level, na.Parent, nb.Level, nb.Parent)
		}
	}

	pa, pb := pidsByNr(a), pidsByNr(b)
	for _, nr := range sortedKeys(pa) {
		p := pa[nr]
		q, ok := pb[nr]
		if !ok {
			add("pid %d: only in the first (%s)", nr, a.pidWhat(p))
			continue
		}
		if !slices.Equal(p.Numbers, q.Numbers) {
			add("pid %d: numbers per level %v vs %v", nr, p.Numbers, q.Numbers)
		}
		for level := 0; level < min(len(p.Numbers), len(q.Numbers)); level++ {
			if x, y := a.NamespaceAt(p, level), b.NamespaceAt(q, level); x != y {
				add("pid %d: namespace at level %d: %d vs %d", nr, level, x, y)
				break
			}
		}
	}
	for _, nr := range sortedKeys(pb) {
		if _, ok := pa[nr]; !ok {
			add("pid %d: only in the second (%s)", nr, b.pidWhat(pb[nr]))
		}
	}

	ta, tb := tasksByNr(a), tasksByNr(b)
	for _, nr := range sortedKeys(ta) {
		t := ta[nr]
		u, ok := tb[nr]
		if !ok {
			add("task %d: only in the first", nr)
			continue
		}
		field := func(name string, x, y string) {
			if x != y {
				add("task %d: %s %s vs %s", nr, name, x, y)
			}
		}
		field("parent", a.label(t.PPid), b.label(u.PPid))
		field("tgid", a.label(t.Tgid), b.label(u.Tgid))
		field("pgid", a.label(t.Pgid), b.label(u.Pgid))
		field("sid", a.label(t.Sid), b.label(u.Sid))
		field("depth", fmt.Sprint(t.Depth), fmt.Sprint(u.Depth))
		field("state", t.State.String(), u.State.String())
		if t.State == Zombie && u.State == Zombie {
			field("exit status", fmt.Sprintf("%#x", t.ExitCode), fmt.Sprintf("%#x", u.ExitCode))
		}
	}
	for _, nr := range sortedKeys(tb) {
		if _, ok := ta[nr]; !ok {
			add("task %d: only in the second", nr)
		}
	}
	return out
}

// label names a tag's pid for people.
func (s *Snapshot) label(tag uint32) string {
	switch tag {
	case TagOutside:
		return "outside"
	case TagRootSession:
		return "root-session"
	}
	if p := s.Pid(tag); p != nil {
		return fmt.Sprint(p.Numbers[0])
	}
	return fmt.Sprintf("tag%d?", tag)
}

// pidWhat says what a pid object is used as.
func (s *Snapshot) pidWhat(p *Pid) string {
	var uses []string
	for i := range s.Tasks {
		t := &s.Tasks[i]
		switch p.Tag {
		case t.Pid:
			uses = append(uses, "pid")
		case t.Pgid:
			uses = append(uses, "pgid")
		case t.Sid:
			uses = append(uses, "sid")
		}
	}
	slices.Sort(uses)
	uses = slices.Compact(uses)
	if len(uses) == 0 {
		return "unused"
	}
	return fmt.Sprint(uses)
}

func pidsByNr(s *Snapshot) map[int32]*Pid {
	m := make(map[int32]*Pid, len(s.Pids))
	for i := range s.Pids {
		m[s.Pids[i].Numbers[0]] = &s.Pids[i]
	}
	return m
}

func tasksByNr(s *Snapshot) map[int32]*Task {
	m := make(map[int32]*Task, len(s.Tasks))
	for i := range s.Tasks {
		m[s.Nr(s.Tasks[i].Pid)] = &s.Tasks[i]
	}
	return m
}

func sortedKeys[V any](m map[int32]V) []int32 {
	keys := make([]int32, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

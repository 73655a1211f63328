package model

import "fmt"

// MaxPidNr bounds pid numbers (the kernel's PID_MAX_LIMIT on 64-bit).
const MaxPidNr = 4 * 1024 * 1024

// Validate checks that s is a canonical, self-consistent snapshot: what a
// decoder demands of an image and a planner relies on. Errors name the
// section, the entry and the rule.
func (s *Snapshot) Validate() error {
	if s.Mode != ModeContainer && s.Mode != ModeSubtree {
		return fmt.Errorf("mode %d is neither container nor subtree", s.Mode)
	}
	if err := s.validateNamespaces(); err != nil {
		return err
	}
	if err := s.validatePids(); err != nil {
		return err
	}
	return s.validateTasks()
}

func (s *Snapshot) validateNamespaces() error {
	if len(s.Pids) > 0 && len(s.Namespaces) == 0 {
		return fmt.Errorf("namespace section: empty, but there are pid objects")
	}
	for i := range s.Namespaces {
		ns := &s.Namespaces[i]
		if ns.Tag != uint32(i+1) {
			return fmt.Errorf("namespace section: entry %d: tag %d, want %d", i, ns.Tag, i+1)
		}
		if i == 0 {
			if ns.Parent != 0 || ns.Level != 0 {
				return fmt.Errorf("namespace section: entry 0: the root namespace has parent %d and level %d, want 0 and 0", ns.Parent, ns.Level)
			}
			continue
		}
		if ns.Parent == 0 || ns.Parent >= ns.Tag {
			return fmt.Errorf("namespace section: entry %d: parent %d is not an earlier namespace", i, ns.Parent)
		}
		if want := s.Namespaces[ns.Parent-1].Level + 1; ns.Level != want {
			return fmt.Errorf("namespace section: entry %d: level %d, but its parent is at level %d", i, ns.Level, want-1)
		}
		if ns.Level >= MaxDepth {
			return fmt.Errorf("namespace section: entry %d: level %d exceeds %d", i, ns.Level, MaxDepth-1)
		}
	}
	return nil
}

func (s *Snapshot) validatePids() error {
	type nsNr struct {
		ns uint32
		nr int32
	}
	seen := make(map[nsNr]uint32, len(s.Pids))
	for i := range s.Pids {
		p := &s.Pids[i]
		if p.Tag != uint32(i+1) {
			return fmt.Errorf("pid section: entry %d: tag %d, want %d", i, p.Tag, i+1)
		}
		if len(p.Numbers) == 0 {
			return fmt.Errorf("pid section: entry %d: no numbers", i)
		}
		if p.Depth() >= MaxDepth {
			return fmt.Errorf("pid section: entry %d: depth %d exceeds %d", i, p.Depth(), MaxDepth-1)
		}
		ns := s.Namespace(p.NS)
		if ns == nil {
			return fmt.Errorf("pid section: entry %d: namespace %d does not exist", i, p.NS)
		}
		if ns.Level != p.Depth() {
			return fmt.Errorf("pid section: entry %d: depth %d, but its namespace %d is at level %d", i, p.Depth(), p.NS, ns.Level)
		}
		for level, nr := range p.Numbers {
			if nr <= 0 || nr >= MaxPidNr {
				return fmt.Errorf("pid section: entry %d: number %d at level %d is out of range", i, nr, level)
			}
			k := nsNr{s.NamespaceAt(p, level), nr}
			if other, dup := seen[k]; dup {
				return fmt.Errorf("pid section: entry %d: number %d at level %d is also pid object %d's in namespace %d", i, nr, level, other, k.ns)
			}
			seen[k] = p.Tag
		}
	}
	return nil
}

func (s *Snapshot) validateTasks() error {
	if len(s.Tasks) == 0 {
		return fmt.Errorf("task section: no tasks")
	}
	owner := make(map[uint32]int, len(s.Tasks))   // pid tag -> task index
	leaders := make(map[uint32]int, len(s.Tasks)) // tgid tag -> leader index
	liveThreads := map[uint32]int{}
	for i := range s.Tasks {
		t := &s.Tasks[i]
		bad := func(format string, args ...any) error {
			return fmt.Errorf("task section: entry %d (pid %d): %s", i, s.Nr(t.Pid), fmt.Sprintf(format, args...))
		}
		for _, f := range []struct {
			name string
			tag  uint32
		}{{"pid", t.Pid}, {"tgid", t.Tgid}} {
			if s.Pid(f.tag) == nil {
				return bad("%s tag %d does not exist", f.name, f.tag)
			}
		}
		if o, dup := owner[t.Pid]; dup {
			return bad("pid tag %d is also task entry %d's", t.Pid, o)
		}
		owner[t.Pid] = i
		if d := s.Pid(t.Pid).Depth(); t.Depth != d {
			return bad("depth %d, but its pid object has depth %d", t.Depth, d)
		}
		if s.Pid(t.Tgid).Depth() != t.Depth {
			return bad("its tgid %d is in another namespace than its pid", s.Nr(t.Tgid))
		}
		if t.Pgid == TagRootSession {
			return bad("the root-session tag is not a process group")
		}
		if t.Pgid != TagOutside && s.Pid(t.Pgid) == nil {
			return bad("pgid tag %d does not exist", t.Pgid)
		}
		if t.Sid != TagOutside && t.Sid != TagRootSession && s.Pid(t.Sid) == nil {
			return bad("sid tag %d does not exist", t.Sid)
		}
		if s.Mode == ModeContainer && (t.Pgid == TagOutside || t.Sid == TagOutside || t.Sid == TagRootSession) {
			return bad("a container image refers to a pid outside its namespace")
		}
		switch t.State {
		case Alive, Stopped, Zombie, Dead:
		default:
			return bad("unknown state %d", t.State)
		}
		if t.State != Zombie && t.ExitCode != 0 {
			return bad("exit code %d on a task that is not a zombie", t.ExitCode)
		}
		if i == 0 {
			if t.IsThread() {
				return bad("the root is a thread")
			}
			if t.PPid != TagOutside {
				return bad("the root's parent must be outside the image (tag 0), not %d", t.PPid)
			}
			if s.Mode == ModeContainer && s.Pid(t.Pid).Numbers[0] != 1 {
				return bad("the root of a container image must be pid 1 of its namespace")
			}
		}
		if t.IsThread() {
			li, ok := leaders[t.Tgid]
			if !ok {
				return bad("thread of group %d comes before (or without) its leader", s.Nr(t.Tgid))
			}
			l := &s.Tasks[li]
			if t.PPid != l.PPid || t.Pgid != l.Pgid || t.Sid != l.Sid {
				return bad("thread's parent, group or session differ from its leader %d's", s.Nr(l.Pid))
			}
			switch t.State {
			case Zombie:
				return bad("a thread that is not the leader cannot be a zombie")
			case Dead:
				return bad("only a thread-group leader can be a dead leader")
			}
			liveThreads[t.Tgid]++
		} else {
			leaders[t.Tgid] = i
			if i > 0 {
				pi, ok := leaders[t.PPid]
				if !ok || t.PPid == TagOutside {
					return bad("parent %d is not a process earlier in the image", s.Nr(t.PPid))
				}
				if p := &s.Tasks[pi]; p.State == Zombie {
					return bad("parent %d is a zombie; a zombie has no children", s.Nr(p.Pid))
				}
			}
		}
	}
	// Group and session rules that need the whole table.
	pgrpSession := map[uint32]uint32{}
	for i := range s.Tasks {
		t := &s.Tasks[i]
		if t.State == Dead && liveThreads[t.Tgid] == 0 {
			return fmt.Errorf("task section: entry %d (pid %d): dead leader without live threads (it would be a zombie)", i, s.Nr(t.Pid))
		}
		if t.Pgid == TagOutside {
			continue
		}
		if sid, ok := pgrpSession[t.Pgid]; ok && sid != t.Sid {
			return fmt.Errorf("task section: entry %d (pid %d): process group %d spans two sessions", i, s.Nr(t.Pid), s.Nr(t.Pgid))
		}
		pgrpSession[t.Pgid] = t.Sid
		// A session leader never leaves its session. (A group leader may
		// leave its group for another of the session: no such rule there.)
		if o, ok := owner[t.Sid]; ok && t.Sid != TagRootSession && s.Tasks[o].Sid != t.Sid {
			return fmt.Errorf("task section: entry %d (pid %d): session %d's owner is in another session", i, s.Nr(t.Pid), s.Nr(t.Sid))
		}
	}
	return nil
}

package plan

import (
	"fmt"

	"github.com/ckpt-nl/ckpt-nl/go/model"
)

// The refusals: images that contradict themselves in a way no history of
// fork, clone, setsid, setpgid and exit can produce. Each names the tasks
// and the kernel rule, before anything is created.

// claims refuses two tasks that claim one pid (one pid object, or one
// number in one namespace).
func claims(s *model.Snapshot) error {
	type key struct {
		ns uint32
		nr int32
	}
	byTag := make(map[uint32]int, len(s.Tasks))
	byNr := make(map[key]int, len(s.Tasks))
	for i := range s.Tasks {
		t := &s.Tasks[i]
		p := s.Pid(t.Pid)
		if p == nil {
			continue // Validate says what is wrong
		}
		if o, dup := byTag[t.Pid]; dup {
			return &PlanError{Task: i, Nr: p.Numbers[0], Why: fmt.Sprintf("it and task entry %d claim one pid: a pid belongs to one task", o)}
		}
		byTag[t.Pid] = i
		for l, nr := range p.Numbers {
			k := key{s.NamespaceAt(p, l), nr}
			if o, dup := byNr[k]; dup && k.ns != 0 {
				return &PlanError{Task: i, Nr: p.Numbers[0], Why: fmt.Sprintf("it and task %d (entry %d) both claim pid %d at namespace level %d: a pid number names one task in its namespace",
					s.Nr(s.Tasks[o].Pid), o, nr, l)}
			}
			byNr[k] = i
		}
	}
	return nil
}

// inside reports whether namespace a is b or a descendant of it (0, the
// launcher's, contains everything).
func (f *forest) inside(a, b uint32) bool {
	if b == 0 {
		return true
	}
	for a != 0 {
		if a == b {
			return true
		}
		a = f.s.Namespace(a).Parent
	}
	return false
}

// nsOfTag is the namespace a pid tag was allocated in (0: outside).
func (f *forest) nsOfTag(tag uint32) uint32 {
	if p := f.s.Pid(tag); p != nil && tag != model.TagRootSession {
		return p.NS
	}
	return 0
}

// check refuses what no history can produce, and records for each
// namespace the session and group from outside it that its tasks are in.
func (f *forest) check() error {
	s := f.s
	groupMembers := make(map[uint32]int, len(s.Tasks))
	for _, n := range f.tasks {
		if !n.thread && n.pgid != model.TagOutside {
			groupMembers[n.pgid]++
		}
	}
	outTask := map[uint32]*node{} // namespace -> the task that set outSid
	for _, n := range f.tasks {
		if n.thread {
			continue
		}
		if n.leads && n.pgid != n.tag {
			return f.fail(n, "it leads session %d but is in process group %d: setsid makes a process the leader of its own group, and setpgid refuses a session leader (EPERM)",
				f.s.Nr(n.sid), f.s.Nr(n.pgid))
		}
		// A session's members descend, by creation, from its leader: clone
		// creates in the creator's namespace or a new child of it.
		if ns := f.nsOfTag(n.sid); !f.inside(n.ns, ns) {
			return f.fail(n, "it is in session %d, whose leader's namespace does not contain its own: a process inherits its session from its creator, and clone creates only in the creator's namespace or a new child of it",
				f.s.Nr(n.sid))
		}
		if n.parent != nil && n.parent.ns != n.ns && (f.level(n.ns) != f.level(n.parent.ns)+1 || f.s.Namespace(n.ns).Parent != n.parent.ns) {
			return f.fail(n, "its pid namespace is neither its parent's nor a child of it: clone creates in the creator's namespace or a new child of it, and re-parenting stays in the namespace of the exiting parent")
		}
		if n.parent != nil && n.parent.ns != n.ns && f.nsInit[n.ns] != n {
			return f.notYet(n, "it is one namespace below its parent but is not that namespace's init: it entered the namespace with setns (nsenter -p), which restarts do not recreate yet")
		}
		if f.nsInit[n.ns] == nil && n.ns != 1 {
			return f.fail(n, "its pid namespace has no init in the image: when a namespace's init exits the kernel kills every process in it")
		}
		// What comes from outside n's namespace came through its init.
		if !f.visible(n.sid, n.ns) {
			if o, ok := f.outSid[n.ns]; ok && o != n.sid {
				return f.fail(n, "it and %s are in sessions %d and %d, both from outside their pid namespace: every process of a namespace descends from its init, which was born in one session",
					outTask[n.ns].name, f.s.Nr(n.sid), f.s.Nr(o))
			}
			f.outSid[n.ns], outTask[n.ns] = n.sid, n
		}
		// A group others are in was made by its owner, in the owner's
		// session, and its owner can never go back to a group it
		// cannot name.
		if n.pgid != n.tag && groupMembers[n.tag] > 0 {
			if gs := f.sessionOfGroup(n.tag); gs != n.sid {
				return f.fail(n, "process group %d (its pid) is in session %d and it in %d: a process makes its group in its own session, and setsid fails while a group with its pid exists (EPERM)",
					f.s.Nr(n.tag), f.s.Nr(gs), f.s.Nr(n.sid))
			}
			if !f.visible(n.pgid, n.ns) && !f.parentMoves(n) && n.parent != nil && n.parent.ns != n.ns {
				return f.notYet(n, "others are in process group %d (its pid) while it, a namespace's init, is in group %d, which it cannot name and its parent cannot put it in: a parent that has exited did (not restored yet)",
					f.s.Nr(n.tag), f.s.Nr(n.pgid))
			}
			if !f.visible(n.pgid, n.ns) && !f.parentMoves(n) {
				return f.fail(n, "others are in process group %d (its pid) while it is in group %d, which it cannot name: a process can only be born in such a group, and setpgid cannot bring it back",
					f.s.Nr(n.tag), f.s.Nr(n.pgid))
			}
		}
	}
	for ns, init := range f.nsInit {
		if init.image < 0 || init.leads {
			continue
		}
		// An init that never called setsid is in the session it was born
		// in, from outside its namespace: so are its tasks that are not
		// in a session made inside.
		if f.visible(init.sid, ns) {
			return f.fail(init, "it is the init of its namespace and in session %d, made inside the namespace after it was born, but never called setsid",
				f.s.Nr(init.sid))
		}
		if o, ok := f.outSid[ns]; ok && o != init.sid {
			return f.fail(init, "it is the init of its namespace and in session %d, but %s of its namespace is in session %d from outside it: the init never called setsid, so that session came from nowhere",
				f.s.Nr(init.sid), outTask[ns].name, f.s.Nr(o))
		}
	}
	return nil
}

// sessionOfGroup is the session of the tasks in group g (0 if none).
func (f *forest) sessionOfGroup(g uint32) uint32 {
	if f.groupSession == nil {
		f.groupSession = make(map[uint32]uint32, len(f.tasks))
		for _, n := range f.tasks {
			if !n.thread && n.pgid != model.TagOutside {
				f.groupSession[n.pgid] = n.sid
			}
		}
	}
	return f.groupSession[g]
}

// parentMoves reports whether n, the init of a namespace, ends in a group
// it cannot name that its parent puts it in (setpgid of a child: the
// parent names the group, and shares n's session then: its final one, or
// the one it was born in before its setsid).
func (f *forest) parentMoves(n *node) bool {
	p := n.parent
	return !f.opt.NoPids && p != nil && p.ns != n.ns && !n.leads && !f.visible(n.pgid, n.ns) && f.visible(n.pgid, p.ns) && (p.sid == n.sid || p.leads)
}

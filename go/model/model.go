// Package model is the snapshot of a process tree's identity: pid
// namespaces, pid objects and task records, as in the linux-cr pids-objects
// design (docs/DESIGN.md sections 1-2).
//
// A pid object is one kernel struct pid: a tag, and its numbers at every
// pid-namespace level from the checkpoint root's namespace (index 0) down to
// the namespace it was allocated in. Task records refer to pid objects by
// tag, never by number, so one object can be a pid, a thread-group id, a
// process-group id and a session id at once, and a pid whose owner is gone
// (a dead group or session leader) is still described.
//
// Snapshots are canonical: tasks in parent-before-child order (a process,
// its threads, then its children, each ordered by pid number), tags 1, 2, 3
// ... in order of first reference, so two snapshots of the same tree are
// equal whatever backend produced them and in whatever order it found the
// tasks. Backends build snapshots with Build from raw records.
package model

import "fmt"

// Reserved tags.
const (
	// TagOutside refers to a pid outside the image's root namespace (a
	// subtree checkpoint's process group or session inherited from an
	// ancestor namespace), or to the root task's parent.
	TagOutside uint32 = 0
	// TagRootSession is the session the root task inherited from outside
	// the tree (subtree checkpoints): a restart reuses the restarter's.
	TagRootSession uint32 = 0xffffffff
)

// MaxDepth is the number of pid-namespace levels an image may describe
// below and including its root's namespace (the kernel's MAX_PID_NS_LEVEL).
const MaxDepth = 32

// Mode says what the root of a snapshot is.
type Mode uint8

const (
	// ModeContainer: the root is the init of its pid namespace and every
	// pid referenced is inside that namespace.
	ModeContainer Mode = 1
	// ModeSubtree: any root; pids from ancestor namespaces are TagOutside
	// and the root's inherited session is TagRootSession.
	ModeSubtree Mode = 2
)

func (m Mode) String() string {
	switch m {
	case ModeContainer:
		return "container"
	case ModeSubtree:
		return "subtree"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// ParseMode is the inverse of Mode.String.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "container":
		return ModeContainer, nil
	case "subtree":
		return ModeSubtree, nil
	}
	return 0, fmt.Errorf("unknown mode %q (want container or subtree)", s)
}

// State is what a task is doing, as far as its identity is concerned.
type State uint8

const (
	// Alive: running or sleeping.
	Alive State = 1
	// Stopped by a group stop (SIGSTOP and friends).
	Stopped State = 2
	// Zombie: exited, not yet reaped; ExitCode holds its wait status.
	Zombie State = 3
	// Dead: a thread-group leader that exited while other threads of its
	// group live on; it holds the group's tgid until they end.
	Dead State = 4
	// Traced: in a tracing stop (ptrace). Backends report it and Build
	// refuses it (ErrTraced): the tracer is not part of any image.
	Traced State = 5
)

func (s State) String() string {
	switch s {
	case Alive:
		return "alive"
	case Stopped:
		return "stopped"
	case Zombie:
		return "zombie"
	case Dead:
		return "dead-leader"
	case Traced:
		return "traced"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Namespace is one pid namespace of the image, as a shared object.
type Namespace struct {
	Tag    uint32 `json:"tag"`
	Parent uint32 `json:"parent"` // 0 for the root's namespace
	Level  int    `json:"level"`  // 0 for the root's namespace
}

// Pid is one pid object (struct pid).
type Pid struct {
	Tag uint32 `json:"tag"`
	// NS is the namespace the pid was allocated in, its deepest level.
	// The namespace at each shallower level is NS's ancestor there.
	NS uint32 `json:"ns"`
	// Numbers[i] is the pid's number in its namespace at level i, from the
	// root's namespace (i = 0) down to NS (i = Depth()).
	Numbers []int32 `json:"numbers"`
}

// Depth is the number of levels below the root's namespace.
func (p *Pid) Depth() int { return len(p.Numbers) - 1 }

// Task is one task (thread) record.
type Task struct {
	Pid      uint32 `json:"pid"`
	PPid     uint32 `json:"ppid"` // the parent's tgid; TagOutside for the root
	Tgid     uint32 `json:"tgid"`
	Pgid     uint32 `json:"pgid"`
	Sid      uint32 `json:"sid"`
	Depth    int    `json:"depth"`
	State    State  `json:"state"`
	ExitCode int32  `json:"exit_code,omitempty"` // wait status, for zombies
	// Display only; not part of the identity (Diff ignores them).
	Comm string   `json:"comm,omitempty"`
	Argv []string `json:"argv,omitempty"`
}

// IsThread reports whether the task is not its thread group's leader.
func (t *Task) IsThread() bool { return t.Pid != t.Tgid }

// Meta describes how and where a snapshot was taken. Not identity.
type Meta struct {
	Backend string `json:"backend,omitempty"`
	Kernel  string `json:"kernel,omitempty"`
	Created int64  `json:"created,omitempty"`  // Unix seconds
	RootPid int32  `json:"root_pid,omitempty"` // in the checkpointer's namespace
}

// Snapshot is a process tree's identity.
type Snapshot struct {
	Mode       Mode        `json:"mode"`
	Namespaces []Namespace `json:"namespaces"`
	Pids       []Pid       `json:"pids"`
	Tasks      []Task      `json:"tasks"`
	Meta       Meta        `json:"meta"`
}

// NrVpids is the sum of the pid objects' depths (the seed's nr_vpids): the
// number of pid numbers beyond one per object.
func (s *Snapshot) NrVpids() int {
	n := 0
	for i := range s.Pids {
		n += s.Pids[i].Depth()
	}
	return n
}

// Pid returns the pid object with the tag, or nil.
func (s *Snapshot) Pid(tag uint32) *Pid {
	if tag == 0 || int(tag) > len(s.Pids) {
		return nil
	}
	return &s.Pids[tag-1]
}

// Namespace returns the namespace with the tag, or nil.
func (s *Snapshot) Namespace(tag uint32) *Namespace {
	if tag == 0 || int(tag) > len(s.Namespaces) {
		return nil
	}
	return &s.Namespaces[tag-1]
}

// NamespaceAt returns the tag of p's namespace at level (0 = the root's).
func (s *Snapshot) NamespaceAt(p *Pid, level int) uint32 {
	ns := s.Namespace(p.NS)
	for ns != nil && ns.Level > level {
		ns = s.Namespace(ns.Parent)
	}
	if ns == nil || ns.Level != level {
		return 0
	}
	return ns.Tag
}

// Nr is the number of the pid object tag at level 0, or 0 for the reserved
// tags: how people name a pid.
func (s *Snapshot) Nr(tag uint32) int32 {
	if p := s.Pid(tag); p != nil {
		return p.Numbers[0]
	}
	return 0
}

// Root returns the root task (the first), or nil for an empty snapshot.
func (s *Snapshot) Root() *Task {
	if len(s.Tasks) == 0 {
		return nil
	}
	return &s.Tasks[0]
}

// Owner returns the task whose pid is the object tag, or nil when the
// object's owner is gone (a ghost-to-be).
func (s *Snapshot) Owner(tag uint32) *Task {
	for i := range s.Tasks {
		if s.Tasks[i].Pid == tag {
			return &s.Tasks[i]
		}
	}
	return nil
}

package model

import (
	"errors"
	"fmt"
	"slices"
	"syscall"
)

// RawPid is a pid object as a backend found it.
type RawPid struct {
	// Numbers from the root's namespace (index 0) down to the object's own.
	Numbers []int32
	// NS identifies the namespace at each level (the namespace's inode
	// number); same length as Numbers.
	NS []uint64
}

// RawTask is a task as a backend found it. Pid objects are named by the
// backend's own keys (a kernel pointer, or the number in the root's
// namespace): keys into Raw.Pids, or 0 for "outside the image".
type RawTask struct {
	Pid, Tgid, Pgid, Sid uint64
	PPid                 uint64 // key of the parent's tgid; ignored for the root
	State                State  // Alive, Stopped, Zombie or Traced: Build derives Dead
	ExitCode             int32
	Comm                 string
	Argv                 []string
}

// Raw is an uncanonical snapshot from a backend.
type Raw struct {
	Mode Mode
	// RootPid is the key of the root task's pid.
	RootPid uint64
	Pids    map[uint64]*RawPid
	Tasks   []RawTask
	Meta    Meta
}

// Build makes the canonical snapshot of the tree under r's root: the root
// and its descendants by parentage. Tasks of r that are not in that tree
// are ignored, so a backend may hand over every task it saw. It applies the
// mode's rules (the root session, pids outside the root namespace) and
// returns the errors a container checkpoint must refuse.
func Build(r *Raw) (*Snapshot, error) {
	b := &builder{raw: r, pidTag: make(map[uint64]uint32, len(r.Pids)), nsTag: map[uint64]uint32{}}
	return b.build()
}

type builder struct {
	raw    *Raw
	s      Snapshot
	pidTag map[uint64]uint32
	nsTag  map[uint64]uint32
}

// OutsideError is a container checkpoint's refusal: a task refers to a pid
// outside the root's namespace.
type OutsideError struct {
	Comm  string
	Nr    int32 // the task's pid number at level 0
	Field string
}

func (e *OutsideError) Error() string {
	return fmt.Sprintf("task %d (%s): %s is outside the container's pid namespace (checkpoint it with --mode subtree)", e.Nr, e.Comm, e.Field)
}

// Unwrap makes errors.Is(err, syscall.EBUSY) hold, as it does for the
// module's refusal.
func (e *OutsideError) Unwrap() error { return syscall.EBUSY }

// ErrTraced is matched (errors.Is) by the refusal of a tree with a task in
// a tracing stop.
var ErrTraced = errors.New("a task of the tree is traced")

// TracedError is a checkpoint's refusal of a task in a tracing stop: its
// tracer (a debugger, strace) holds it stopped, and no image can hold the
// tracer, so a restart could only bring it back running or group-stopped,
// which is another state.
type TracedError struct {
	Comm string
	Nr   int32 // the task's pid number at level 0
}

func (e *TracedError) Error() string {
	return fmt.Sprintf("task %d (%s) is in a tracing stop (ptrace): a checkpoint cannot hold its tracer; detach the tracer and retry", e.Nr, e.Comm)
}

// Is makes errors.Is(err, ErrTraced) hold.
func (e *TracedError) Is(target error) bool { return target == ErrTraced }

func (b *builder) build() (*Snapshot, error) {
	r := b.raw
	b.s.Mode = r.Mode
	b.s.Meta = r.Meta
	if r.Mode != ModeContainer && r.Mode != ModeSubtree {
		return nil, fmt.Errorf("snapshot: bad mode %d", r.Mode)
	}
	root := -1
	for i := range r.Tasks {
		if r.Tasks[i].Pid == r.RootPid {
			root = i
			break
		}
	}
	if root < 0 {
		return nil, fmt.Errorf("snapshot: the root task is not among the tasks found")
	}
	rt := &r.Tasks[root]
	if rt.Pid != rt.Tgid {
		return nil, fmt.Errorf("snapshot: the root %d is a thread, not a process", b.nr(rt.Pid))
	}
	if r.Mode == ModeContainer && b.nr(rt.Pid) != 1 {
		return nil, fmt.Errorf("snapshot: container mode needs the init of a pid namespace as root; %d is not (use --mode subtree)", b.nr(rt.Pid))
	}

	// Index processes and threads; every key a task uses must be known.
	threads := make(map[uint64][]int, len(r.Tasks))  // tgid key -> task indexes, leader first
	children := make(map[uint64][]int, len(r.Tasks)) // parent tgid key -> leaders
	nrs := make([]int32, len(r.Tasks))               // each task's number at level 0
	for i := range r.Tasks {
		nrs[i] = b.nr(r.Tasks[i].Pid)
	}
	for i := range r.Tasks {
		t := &r.Tasks[i]
		for _, k := range []uint64{t.Pid, t.Tgid} {
			if k == 0 || r.Pids[k] == nil {
				return nil, fmt.Errorf("snapshot: task %d refers to an unknown pid object %#x", b.nr(t.Pid), k)
			}
		}
		threads[t.Tgid] = append(threads[t.Tgid], i)
		if t.Pid == t.Tgid && i != root {
			children[t.PPid] = append(children[t.PPid], i)
		}
	}
	byNr := func(idx []int) {
		slices.SortFunc(idx, func(a, c int) int {
			ta, tc := &r.Tasks[a], &r.Tasks[c]
			la, lc := ta.Pid == ta.Tgid, tc.Pid == tc.Tgid
			if la != lc { // the leader first
				if la {
					return -1
				}
				return 1
			}
			return int(nrs[a]) - int(nrs[c])
		})
	}
	for _, v := range threads {
		byNr(v)
	}
	for _, v := range children {
		byNr(v)
	}

	// Depth-first, parent before child: a process, its threads, then the
	// children of the group.
	// A thread group reached twice is a process listed twice (a cycle
	// through it would never end).
	order := make([]int, 0, len(r.Tasks))
	visited := make(map[uint64]bool, len(children))
	twice := -1
	var visit func(leader int)
	visit = func(leader int) {
		tgid := r.Tasks[leader].Tgid
		if visited[tgid] {
			twice = leader
			return
		}
		visited[tgid] = true
		order = append(order, threads[tgid]...)
		for _, c := range children[tgid] {
			visit(c)
		}
	}
	visit(root)
	if twice >= 0 {
		return nil, fmt.Errorf("snapshot: inconsistent tree: process %d is listed twice", nrs[twice])
	}

	// A subtree root's inherited session, visible or not, is the root
	// session (any outside session in the tree can only be that one).
	hasRootSession := r.Mode == ModeSubtree && rt.Sid != rt.Pid
	rootSession := rt.Sid
	liveThreads := make(map[uint64]int, len(threads))
	for _, i := range order {
		t := &r.Tasks[i]
		if t.Pid != t.Tgid && t.State != Zombie {
			liveThreads[t.Tgid]++
		}
	}

	b.s.Tasks = make([]Task, 0, len(order))
	b.s.Pids = make([]Pid, 0, len(r.Pids))
	for n, i := range order {
		t := &r.Tasks[i]
		if t.State == Traced {
			return nil, &TracedError{Comm: t.Comm, Nr: b.nr(t.Pid)}
		}
		rec := Task{State: t.State, ExitCode: t.ExitCode, Comm: t.Comm, Argv: t.Argv}
		var err error
		if rec.Pid, err = b.tag(t, "pid", t.Pid); err != nil {
			return nil, err
		}
		if rec.Tgid, err = b.tag(t, "tgid", t.Tgid); err != nil {
			return nil, err
		}
		if rec.Pgid, err = b.tag(t, "process group", t.Pgid); err != nil {
			return nil, err
		}
		if hasRootSession && t.Sid == rootSession {
			rec.Sid = TagRootSession
		} else if rec.Sid, err = b.tag(t, "session", t.Sid); err != nil {
			return nil, err
		}
		if n > 0 && t.Tgid != rt.Tgid { // the root's threads share its outside parent
			rec.PPid = b.pidTag[t.PPid]
		}
		rec.Depth = len(r.Pids[t.Pid].Numbers) - 1
		if rec.State == Zombie && !rec.IsThread() && liveThreads[t.Tgid] > 0 {
			rec.State, rec.ExitCode = Dead, 0
		}
		if rec.State != Zombie {
			rec.ExitCode = 0
		}
		b.s.Tasks = append(b.s.Tasks, rec)
	}
	if err := b.s.Validate(); err != nil {
		return nil, fmt.Errorf("snapshot: inconsistent tree (was it changing?): %w", err)
	}
	return &b.s, nil
}

func (b *builder) nr(key uint64) int32 {
	if p := b.raw.Pids[key]; p != nil && len(p.Numbers) > 0 {
		return p.Numbers[0]
	}
	return 0
}

// tag returns the tag of pid object key, adding it (and its namespaces)
// on first use.
func (b *builder) tag(t *RawTask, field string, key uint64) (uint32, error) {
	p := b.raw.Pids[key]
	if key == 0 || p == nil || len(p.Numbers) == 0 || p.Numbers[0] == 0 {
		if b.raw.Mode == ModeContainer {
			return 0, &OutsideError{Comm: t.Comm, Nr: b.nr(t.Pid), Field: field}
		}
		return TagOutside, nil
	}
	if tag, ok := b.pidTag[key]; ok {
		return tag, nil
	}
	if len(p.Numbers) > MaxDepth {
		return 0, fmt.Errorf("snapshot: pid %d has %d levels, more than %d", p.Numbers[0], len(p.Numbers), MaxDepth)
	}
	if len(p.NS) != len(p.Numbers) {
		return 0, fmt.Errorf("snapshot: pid %d: %d numbers but %d namespaces", p.Numbers[0], len(p.Numbers), len(p.NS))
	}
	var parent uint32
	for level, id := range p.NS {
		nt, ok := b.nsTag[id]
		if ok {
			if ns := &b.s.Namespaces[nt-1]; ns.Level != level || ns.Parent != parent {
				return 0, fmt.Errorf("snapshot: pid %d: namespace %d seen at level %d under ns %d, and before at level %d under ns %d",
					p.Numbers[0], id, level, parent, ns.Level, ns.Parent)
			}
		} else {
			nt = uint32(len(b.s.Namespaces) + 1)
			b.nsTag[id] = nt
			b.s.Namespaces = append(b.s.Namespaces, Namespace{Tag: nt, Parent: parent, Level: level})
		}
		parent = nt
	}
	tag := uint32(len(b.s.Pids) + 1)
	b.pidTag[key] = tag
	b.s.Pids = append(b.s.Pids, Pid{Tag: tag, NS: parent, Numbers: slices.Clone(p.Numbers)})
	return tag, nil
}

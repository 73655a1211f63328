package plan

import (
	"errors"
	"fmt"

	"github.com/ckpt-nl/ckpt-nl/go/model"
)

// MakeForest works in three steps, one file each:
//   - check.go refuses, before anything is created, an image no history of
//     system calls can produce, naming the tasks and the kernel rule;
//   - creators.go chooses who creates each task, in which of its
//     creator's states (docs/DESIGN.md section 4), adding ghosts for dead
//     leaders and placeholders for dead creators;
//   - layout.go lays that forest out as the executor's program: phases
//     separated by barriers, each task's clones, setsid and setpgid calls,
//     and what ends, stops or exits after the release.

// BarrierCreated is the first barrier of a restore plan: every task
// created depth first has parked. Later creation phases (tasks that wait
// for a process group to exist), the joins of groups and the moves of
// group owners each end at the next barrier; the last barrier
// (Plan.Barriers) is where the tree is validated and released.
const BarrierCreated = 1

// Options of MakeForest.
type Options struct {
	// InPlace restores a subtree image into the launcher's own pid
	// namespace (its numbers must be free there) instead of under an init
	// the plan provides.
	InPlace bool
	// NoPids asks for no pid numbers: the kernel chooses, and the
	// coordinator fills in setpgid arguments (Plan.Joins) once the tree
	// exists.
	NoPids bool
	// Attach makes every task attach to the kernel's restart context
	// (whose id the coordinator puts in the plan's memory) before the
	// final barrier.
	Attach bool
}

// PlanError is a snapshot MakeForest cannot restore, and why.
type PlanError struct {
	Task int // image task index, or -1
	Nr   int32
	Why  string
	// NotYet marks a valid tree of a kind the planner does not restore
	// yet (docs/DESIGN.md 4.4 lists them); it matches ErrNotYet.
	NotYet bool
}

// ErrNotYet is matched (errors.Is) by the refusal of a tree that some
// history of system calls does build but that MakeForest cannot plan yet:
// a task that entered its namespace with setns, or a namespace's init put
// in its group by a parent that has exited since.
var ErrNotYet = errors.New("plan: a kind of tree not restored yet")

// Is makes errors.Is(err, ErrNotYet) hold for a NotYet refusal.
func (e *PlanError) Is(target error) bool { return target == ErrNotYet && e.NotYet }

func (e *PlanError) Error() string {
	if e.Task < 0 {
		return "plan: " + e.Why
	}
	return fmt.Sprintf("plan: task %d (image entry %d): %s", e.Nr, e.Task, e.Why)
}

// When a placeholder exits.
const (
	exitAfterRelease    = iota // with the ghosts
	exitNow                    // once it has created its child (re-parented to the init)
	exitAfterSubreapers        // once subreapers are set (re-parented to one)
)

// node is one task of the forest being built: an image task, a ghost, a
// placeholder, the launcher or the tool's init.
type node struct {
	kind    Kind
	image   int    // image task index, or -1
	tag     uint32 // pid object (own pid for tasks and ghosts), 0 for placeholders
	numbers []int32
	ns      uint32 // namespace tag (0: the launcher's)
	// Final session and group (session tags normalised: outside is the
	// root session).
	sid, pgid uint32
	leads     bool // calls setsid
	thread    bool
	parent    *node // the image parent process (image tasks)
	name      string

	// The state it must be born in (set while choosing creators): its
	// session (unless it leads one) and a group it cannot name, for itself
	// or for the children it creates before its setsid or first setpgid.
	bs, bg       uint32
	hasBS, hasBG bool

	creator *node
	flags   Flags
	stage   int        // 0: created in the creator's birth state; 1: after its setup
	kids    [2][]*node // what it creates, per stage
	borrow  uint32     // a placeholder's group to join before it creates
	owner   bool       // others join its group: it makes it at setup
	holder  bool       // a placeholder that keeps its creator's group alive
	exits   bool       // ends after the release (ghost, placeholder, zombie)
	post    []Action
	placed  bool // a ghost whose creator is chosen
	claimed bool // a ghost made a child of a parent to create its siblings
	// subreaper: orphans created under it by placeholders come back to it.
	subreaper  bool
	exitAt     int             // a placeholder's exit: exitAfterRelease, exitNow, exitAfterSubreapers
	reaped     bool            // reaped by its creator during the creation
	target     *node           // exitAfterSubreapers: the subreaper it leaves its child to
	depth      int             // a subreaper's: how many subreapers above it in its namespace
	movesKids  []*node         // namespace inits it puts in their final group (setpgid of a child)
	movedEarly bool            // its parent put it in its final group right after creating it
	earlyMove  bool            // its parent puts it in its final group before the parent's setsid
	lastAct    int             // the creation phase of its last action
	steps      []step          // layout: what it does while the tree is created
	pc         int             // layout: its next step
	zombieKids []*node         // restored zombies whose exit it waits for before stops
	reapIn     map[int][]*node // placeholders it reaps in the phase they exit in
	viaMove    uint32          // a birth-state child born once its creator's parent moved it to this group
	moved      map[uint32]int  // groups its parent moved it to -> 1 + the phase
	// stopper is the thread that stops the group of a dead leader, which
	// then ends its thread before the final barrier.
	stopper *node

	// layout
	idx     int
	born    int        // creation phase
	acts    [][]Action // per creation phase
	pending bool       // a placeholder waiting for its group to exist
	reaps   []*node    // helpers whose parent it is when they exit
}

type forest struct {
	s        *model.Snapshot
	opt      Options
	tasks    []*node          // by image index
	owner    map[uint32]*node // pid tag -> process whose pid it is (tasks and ghosts)
	nsInit   map[uint32]*node // namespace tag -> its init
	launcher *node
	top      *node // creator of the image root: launcher or tool init
	base     int   // plan level of the image's level 0
	nodes    []*node
	used     map[[2]int64]bool // (ns tag, number) in use
	next     map[uint32]int32  // namespace tag -> next free number to try
	// The session from outside each namespace its tasks are in
	// (check.go): the one its init was born in.
	outSid       map[uint32]uint32
	groupSession map[uint32]uint32
	oneGhost     map[uint32]*node      // namespace -> the ghost whose number there is 1
	deadInits    []*node               // inits of namespaces whose tasks are gone
	birth        map[int]uint32        // image task -> the birth session kept for it on a retry
	reserve      map[uint32]int        // session ghost -> the only image task that may claim it as a sibling creator (-1: none)
	children     map[*node][]*node     // image children of each process
	members      map[[2]uint32][]*node // (namespace, session) -> its processes
	inGroup      map[[2]uint32][]*node // (namespace, group) -> its processes
	groupUsers   map[uint32]int        // group tag -> processes in it but its owner
}

// MakeForest computes the plan that restores snapshot s: creators, clone
// flags and pids for every task, ghosts for dead session and group
// leaders, placeholders for dead creators, the setsid and setpgid order,
// and what ends, stops or exits after the release.
func MakeForest(s *model.Snapshot, opt Options) (*Plan, error) {
	if err := claims(s); err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, &PlanError{Task: -1, Why: "invalid snapshot: " + err.Error()}
	}
	if opt.InPlace && s.Mode == model.ModeContainer {
		return nil, &PlanError{Task: -1, Why: "a container image restores into a new pid namespace, not in place"}
	}
	reserve := map[uint32]int{}
	birth := map[int]uint32{}
	for {
		f, err := newForest(s, opt, reserve, birth)
		var r *retry
		if errors.As(err, &r) {
			if _, done := birth[r.birthOf]; r.birth && !done {
				birth[r.birthOf] = r.bs
				continue
			}
			if _, done := reserve[r.tag]; !r.birth && !done {
				reserve[r.tag] = r.claimant
				continue
			}
		}
		if err != nil {
			return nil, err
		}
		return f.layout()
	}
}

func newForest(s *model.Snapshot, opt Options, reserve map[uint32]int, birth map[int]uint32) (*forest, error) {
	f := &forest{s: s, opt: opt, owner: make(map[uint32]*node, len(s.Tasks)), nsInit: map[uint32]*node{},
		used: make(map[[2]int64]bool, len(s.Pids)), next: map[uint32]int32{},
		outSid: map[uint32]uint32{}, reserve: reserve, birth: birth}
	for i := range s.Pids {
		p := &s.Pids[i]
		for l, nr := range p.Numbers {
			f.used[[2]int64{int64(s.NamespaceAt(p, l)), int64(nr)}] = true
		}
	}
	if err := f.nodesForTasks(); err != nil {
		return nil, err
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	if err := f.creators(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *forest) add(n *node) *node {
	f.nodes = append(f.nodes, n)
	return n
}

func (f *forest) level(ns uint32) int {
	if ns == 0 {
		return -1
	}
	return f.s.Namespace(ns).Level
}

// session normalises a session tag: a session from outside the image is
// the root session.
func session(sid uint32) uint32 {
	if sid == model.TagOutside {
		return model.TagRootSession
	}
	return sid
}

func (f *forest) nodesForTasks() error {
	s := f.s
	f.launcher = f.add(&node{kind: Launcher, image: -1, name: "launcher", sid: model.TagRootSession, pgid: model.TagOutside})
	f.base = 1
	if f.opt.InPlace {
		f.base = 0
	}
	for i := range s.Tasks {
		t := &s.Tasks[i]
		p := s.Pid(t.Pid)
		n := f.add(&node{kind: Restored, image: i, tag: t.Pid, numbers: p.Numbers, ns: p.NS,
			sid: session(t.Sid), pgid: t.Pgid, leads: t.Sid == t.Pid, thread: t.IsThread(),
			name: fmt.Sprintf("task %d", p.Numbers[0])})
		if t.Comm != "" {
			n.name = fmt.Sprintf("task %d (%s)", p.Numbers[0], t.Comm)
		}
		f.tasks = append(f.tasks, n)
		if !n.thread {
			f.owner[t.Pid] = n
		}
		if i > 0 && !n.thread {
			n.parent = f.owner[t.PPid]
		}
		if p.Numbers[len(p.Numbers)-1] == 1 && !n.thread {
			f.nsInit[p.NS] = n
		}
		// The group's state is the leader's to restore: a stop takes
		// every thread with it (threads are never zombies).
		switch {
		case n.thread && t.State == model.Stopped:
			// A stopped group whose leader is dead: a live thread
			// stops it, once the leader's thread has ended.
			if l := f.owner[t.Tgid]; l.stopper == nil && s.Tasks[l.image].State == model.Dead {
				l.stopper = n
				n.post = append(n.post, Action{Op: OpStop})
			}
		case n.thread:
		case t.State == model.Zombie:
			n.exits = true
			n.post = append(n.post, Action{Op: OpExit, A: t.ExitCode})
		case t.State == model.Dead:
			n.post = append(n.post, Action{Op: OpExitThread})
		case t.State == model.Stopped:
			n.post = append(n.post, Action{Op: OpStop})
		}
	}
	root := f.tasks[0]
	switch {
	case s.Mode == model.ModeContainer:
		f.top = f.launcher
		root.flags = NewPID
	case f.opt.InPlace:
		f.top = f.launcher
	default:
		if f.used[[2]int64{1, 1}] {
			return &PlanError{Task: -1, Why: "the image uses pid 1 in its root namespace, where the tool's init must go; restore it with --in-place"}
		}
		f.top = f.add(&node{kind: Init, image: -1, ns: 1, numbers: []int32{1}, creator: f.launcher,
			flags: NewPID, stage: 1, name: "init (ckpt-nl)", pgid: model.TagOutside, sid: model.TagRootSession})
		f.top.post = append(f.top.post, Action{Op: OpReapAll})
		f.launcher.kids[1] = append(f.launcher.kids[1], f.top)
		f.nsInit[1] = f.top
	}
	return nil
}

// notYet is fail for a kind of valid tree not restored yet.
func (f *forest) notYet(n *node, format string, args ...any) error {
	err := f.fail(n, format, args...)
	err.(*PlanError).NotYet = true
	return err
}

func (f *forest) fail(n *node, format string, args ...any) error {
	if n.image < 0 {
		return &PlanError{Task: -1, Why: n.name + ": " + fmt.Sprintf(format, args...)}
	}
	return &PlanError{Task: n.image, Nr: n.numbers[0], Why: fmt.Sprintf(format, args...)}
}

// nrIn is the number of pid object tag in n's namespace, or 0.
func (f *forest) nrIn(tag uint32, n *node) int32 {
	return f.nrInNS(tag, n.ns)
}

func (f *forest) nrInNS(tag uint32, ns uint32) int32 {
	pid := f.s.Pid(tag)
	lv := f.level(ns)
	if pid == nil || lv < 0 || lv >= len(pid.Numbers) || f.s.NamespaceAt(pid, lv) != ns {
		return 0
	}
	return pid.Numbers[lv]
}

// visible reports whether a process in namespace ns can name pid tag.
func (f *forest) visible(tag uint32, ns uint32) bool {
	return tag != model.TagOutside && tag != model.TagRootSession && f.nrInNS(tag, ns) != 0
}

// freeNumbers picks a pid the image does not use at every level of ns.
func (f *forest) freeNumbers(ns uint32) []int32 {
	if f.opt.NoPids {
		return nil
	}
	lv := f.level(ns)
	out := make([]int32, lv+1)
	for l := lv; l >= 0; l-- {
		at := ns
		for f.level(at) > l {
			at = f.s.Namespace(at).Parent
		}
		nr := max(f.next[at], 2)
		for f.used[[2]int64{int64(at), int64(nr)}] {
			nr++
		}
		f.used[[2]int64{int64(at), int64(nr)}] = true
		f.next[at] = nr + 1
		out[l] = nr
	}
	return out
}

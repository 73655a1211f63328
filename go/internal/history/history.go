// Package history generates random histories of process-tree system calls
// and turns them into trees: simulated (go/sim's Machine) and real (an
// executor plan that makes the same calls, in the same global order, in a
// fresh pid namespace).
//
// A history is what builds the trees users checkpoint: fork, clone with
// CLONE_NEWPID, CLONE_THREAD or CLONE_PARENT, setsid, setpgid (of itself or
// of a child), exit (zombies), thread exit (dead group leaders), wait4,
// prctl(PR_SET_CHILD_SUBREAPER), writes to ns_last_pid (a child with a
// lower pid than its parent, as after pid wrap-around), setns into a
// nested pid namespace (the way nsenter -p, runc exec and kubectl exec
// enter a container), and SIGSTOP; each applied to a random live task, in
// a random global order. Unlike a generator that grows a tree depth first,
// a history crosses sessions and groups over namespace boundaries and
// leaves dead leaders wherever the calls put them.
//
// The generator keeps only calls the model accepts; the kernel run checks
// the model: a call the kernel refuses fails the run, and the tree it
// builds must equal the model's.
package history

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"

	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/plan"
	"github.com/ckpt-nl/ckpt-nl/go/sim"
)

// Op is a call of a history.
type Op uint8

const (
	Fork       Op = iota // Task clones Child with Flags
	Setsid               // Task calls setsid
	Setpgid              // Task calls setpgid(Pid, Pgid)
	Exit                 // Task's process exits with wait status Arg
	ExitThread           // Task's thread exits, its group lives on
	Reap                 // Task reaps its zombie child Child (number Pid)
	Subreaper            // Task becomes a child subreaper
	LastPid              // Task writes Arg to ns_last_pid
	Setns                // Task's children go to the namespace of pid Pid
	Stop                 // Task's process stops (SIGSTOP)
)

var opNames = [...]string{"fork", "setsid", "setpgid", "exit", "exit-thread", "reap", "subreaper", "last-pid", "setns", "stop"}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Call is one system call of a history. Tasks are named by their index in
// the order the history creates them: 0 is the launcher (outside), 1 the
// root, the init of a fresh pid namespace. A call names the tasks it
// refers to; the numbers it passes (as Task sees them) are derived from
// those when it runs (resolve), so a history stays valid when calls are
// taken out of it (Shrink).
type Call struct {
	Op    Op
	Task  int
	Child int        // Fork: the new task; Reap: the child reaped
	Flags plan.Flags // Fork
	// Target is, for Setpgid, the task whose group changes (0: Task's own
	// process); Group the task whose current group it joins (0: its own).
	// For Setns, Target is the task whose namespace Task's children go to.
	Target, Group int
	Arg           int32 // Exit: wait status; LastPid: the value written

	// Derived when the call runs:
	Pid  int32 // Setpgid: the target (0: itself); Reap, Setns: a pid
	Pgid int32 // Setpgid: the group (0: the target's own)
	// Parent is, for Exit, a live thread of the exiting process's parent:
	// it waits for the zombie before the next call runs. For ExitThread of
	// a thread that does not lead its group, another live thread of the
	// group that waits until the thread's pid is free; otherwise -1.
	Parent int
	// ChildPid is the exiting process's or thread's pid as Parent sees it.
	ChildPid int32
}

func (c Call) String() string {
	switch c.Op {
	case Fork:
		f := c.Flags.String()
		if f == "" {
			f = "fork"
		}
		return fmt.Sprintf("%d: %s -> %d", c.Task, f, c.Child)
	case Setpgid:
		return fmt.Sprintf("%d: setpgid(%d, %d)", c.Task, c.Pid, c.Pgid)
	case Exit:
		return fmt.Sprintf("%d: exit(%#x)", c.Task, c.Arg)
	case Reap:
		return fmt.Sprintf("%d: wait4(%d) [task %d]", c.Task, c.Pid, c.Child)
	case LastPid:
		return fmt.Sprintf("%d: ns_last_pid=%d", c.Task, c.Arg)
	case Setns:
		return fmt.Sprintf("%d: setns(pid %d)", c.Task, c.Pid)
	}
	return fmt.Sprintf("%d: %s", c.Task, c.Op)
}

// Options shape the histories Generate makes.
type Options struct {
	// Tasks is how many tasks the history creates (the root included);
	// some of them exit and are reaped along the way.
	Tasks int
	// MaxLevel bounds pid-namespace nesting below the root's namespace.
	MaxLevel int
	// Wrap allows writes to ns_last_pid, so that pids are reused and
	// children get lower pids than their parents.
	Wrap bool
	// Setns allows tasks to send their children into nested namespaces.
	Setns bool
	// Stops allows stopped tasks (at the end of the history: a stop
	// before an exit could orphan a stopped group, and the kernel's
	// SIGHUP/SIGCONT for it is outside this model).
	Stops bool
}

// History is a sequence of calls and what the model says it builds.
type History struct {
	Seed  uint64
	Opt   Options
	Calls []Call
}

func (h *History) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "history seed %d (%d calls, %d tasks, max level %d):\n", h.Seed, len(h.Calls), h.Opt.Tasks, h.Opt.MaxLevel)
	for k, c := range h.Calls {
		fmt.Fprintf(&b, "  %3d  %s\n", k+1, c)
	}
	return b.String()
}

// Generate makes the history of seed.
func Generate(seed uint64, opt Options) *History {
	if opt.Tasks < 1 {
		opt.Tasks = 1
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	g := &gen{rng: rng, opt: opt, m: sim.NewMachine(), h: &History{Seed: seed, Opt: opt}}
	g.run()
	return g.h
}

type gen struct {
	rng   *rand.Rand
	opt   Options
	m     *sim.Machine
	h     *History
	live  []int // candidate callers (some may have died since)
	made  int
	inits []int // namespace inits, for setns
}

func (g *gen) record(c Call) { g.h.Calls = append(g.h.Calls, c) }

func (g *gen) run() {
	// A container's init leads its own session (a container checkpoint
	// refuses a session from outside); nested namespaces need not.
	if !g.try(Call{Op: Fork, Task: 0, Flags: plan.NewPID}) || !g.try(Call{Op: Setsid, Task: 1}) {
		panic("history: a new machine refuses to create its root")
	}
	root := 1
	g.made = 1
	g.live = []int{root}
	g.inits = []int{root}
	for steps := 0; g.made < g.opt.Tasks && steps < 20*g.opt.Tasks+100; steps++ {
		t, ok := g.pick()
		if !ok {
			break
		}
		g.step(t)
	}
	if g.opt.Stops {
		for i := 2; i < g.m.Len(); i++ {
			if ts := g.m.Task(i); ts.Live && !ts.Thread && !ts.Init && g.rng.IntN(12) == 0 {
				g.try(Call{Op: Stop, Task: i})
			}
		}
	}
}

// pick returns a random task that can still call.
func (g *gen) pick() (int, bool) {
	for len(g.live) > 0 {
		k := g.rng.IntN(len(g.live))
		t := g.live[k]
		if g.m.Task(t).Live {
			return t, true
		}
		g.live[k] = g.live[len(g.live)-1]
		g.live = g.live[:len(g.live)-1]
	}
	return 0, false
}

// any returns a random task index that exists, or 0.
func (g *gen) any() int {
	for range 4 {
		i := 1 + g.rng.IntN(g.m.Len()-1)
		if g.m.Task(i).Exists {
			return i
		}
	}
	return 0
}

func (g *gen) level(ns int) int { return g.m.Plan().NSLevel[ns] - g.m.Plan().Base }

func (g *gen) step(t int) {
	ts := g.m.Task(t)
	r := g.rng.IntN(100)
	switch {
	case r < 34: // fork: plain, a new namespace, a thread, a sibling
		var flags plan.Flags
		switch x := g.rng.IntN(20); {
		case x < 3 && g.level(ts.NSKids) < g.opt.MaxLevel:
			flags = plan.NewPID
		case x < 6 && ts.NSKids == ts.NS:
			flags = plan.Thread
		case x < 8:
			flags = plan.Parent
		}
		c := Call{Op: Fork, Task: t, Flags: flags}
		if !g.try(c) {
			return
		}
		child := g.h.Calls[len(g.h.Calls)-1].Child
		g.made++
		g.live = append(g.live, child)
		if flags&plan.NewPID != 0 {
			g.inits = append(g.inits, child)
		}
	case r < 44:
		g.try(Call{Op: Setsid, Task: t})
	case r < 60: // setpgid of itself or a child, into its own or another group
		c := Call{Op: Setpgid, Task: t}
		if kids := g.m.Children(t); len(kids) > 0 && g.rng.IntN(3) == 0 {
			c.Target = kids[g.rng.IntN(len(kids))]
		}
		if g.rng.IntN(4) != 0 {
			c.Group = g.any()
		}
		if c.Target == 0 && c.Group == 0 && g.rng.IntN(2) == 0 {
			return
		}
		g.try(c)
	case r < 72:
		if ts.Init {
			return
		}
		if ts.Threads > 1 && g.rng.IntN(3) == 0 {
			g.try(Call{Op: ExitThread, Task: t})
			return
		}
		status := int32(g.rng.IntN(256)) << 8
		if !g.m.Task(ts.Leader).Live {
			// Its leader has exited already: /proc reports the
			// leader's own exit code (0) on Linux 6.1 and the group's
			// on 6.18, so keep them equal.
			status = 0
		}
		g.try(Call{Op: Exit, Task: t, Arg: status})
	case r < 84:
		for _, c := range g.m.Children(t) {
			if g.m.Task(c).Zombie {
				g.try(Call{Op: Reap, Task: t, Child: c})
				return
			}
		}
	case r < 87:
		g.try(Call{Op: Subreaper, Task: t})
	case r < 93:
		if !g.opt.Wrap {
			return
		}
		// A low value: the next pids of this namespace reuse freed
		// numbers below those in use.
		hi := int32(g.m.Len()) + 4
		g.try(Call{Op: LastPid, Task: t, Arg: int32(g.rng.IntN(int(hi)))})
	default:
		if !g.opt.Setns || ts.Thread || ts.Threads > 1 {
			return
		}
		g.try(Call{Op: Setns, Task: t, Target: g.inits[g.rng.IntN(len(g.inits))]})
	}
}

// initJoinsInside reports whether setpgid(pid, pgid) by t would put a
// namespace's init into a group led from inside its own namespace. The
// kernel allows it, but such an init never finishes exiting: when its
// namespace dies, zap_pid_ns_processes (kernel/pid_namespace.c) waits
// until the init's pid is the only one allocated in it, and the group's
// pid stays allocated as long as the init itself is in the group. The
// tree hangs unkillable, so histories run by tests must not make it.
func initJoinsInside(m *sim.Machine, c *Call) bool {
	target := c.Task
	if c.Target != 0 {
		target = c.Target
	}
	if !m.Task(target).Init || c.Group == 0 || c.Pgid == m.Nr(sim.PidOf, target, c.Task) {
		return false
	}
	return m.Nr(sim.PgidOf, c.Group, target) != 0
}

// ErrRefused is matched by Replay's error when the model refuses a call:
// the history does not hold together (a shrunk history can do this).
var ErrRefused = errors.New("history: the model refuses a call")

// try runs c on the generator's machine and records it if the model
// accepts it.
func (g *gen) try(c Call) bool {
	if err := apply(g.m, &c); err != nil {
		return false
	}
	g.record(c)
	return true
}

// apply resolves c's numbers against m's state and runs it on m.
func apply(m *sim.Machine, c *Call) error {
	if err := resolve(m, c); err != nil {
		return err
	}
	var err error
	switch c.Op {
	case Fork:
		var i int
		if i, err = m.Clone(c.Task, c.Flags, fmt.Sprintf("t%d", m.Len())); err == nil {
			c.Child = i
		}
	case Setsid:
		err = m.Setsid(c.Task)
	case Setpgid:
		if initJoinsInside(m, c) {
			return fmt.Errorf("%w: it would put an init into a group led from inside its namespace", syscall.EPERM)
		}
		err = m.Setpgid(c.Task, c.Pid, c.Pgid)
	case Exit:
		err = m.Exit(c.Task, c.Arg)
	case ExitThread:
		err = m.ExitThread(c.Task)
	case Reap:
		err = m.Reap(c.Task, c.Child)
	case Subreaper:
		err = m.Subreaper(c.Task)
	case LastPid:
		err = m.SetLastPid(c.Task, c.Arg)
	case Setns:
		err = m.Setns(c.Task, c.Pid)
	case Stop:
		err = m.Stop(c.Task)
	default:
		err = syscall.EINVAL
	}
	return err
}

// resolve derives the numbers c passes from the tasks it names, as they
// stand on m (and who waits for an exit to complete).
func resolve(m *sim.Machine, c *Call) error {
	valid := func(i int) bool { return i >= 0 && i < m.Len() }
	if !valid(c.Task) || !valid(c.Target) || !valid(c.Group) {
		return fmt.Errorf("%w: no such task", syscall.ESRCH)
	}
	c.Pid, c.Pgid, c.Parent, c.ChildPid = 0, 0, -1, 0
	switch c.Op {
	case Setpgid:
		if c.Target != 0 {
			if c.Pid = m.Nr(sim.PidOf, c.Target, c.Task); c.Pid == 0 {
				return fmt.Errorf("%w: task %d is not visible to task %d", syscall.ESRCH, c.Target, c.Task)
			}
		}
		if c.Group != 0 {
			if c.Pgid = m.Nr(sim.PgidOf, c.Group, c.Task); c.Pgid == 0 {
				return fmt.Errorf("%w: the group of task %d is not visible to task %d", syscall.EPERM, c.Group, c.Task)
			}
		}
	case Reap:
		if !valid(c.Child) {
			return fmt.Errorf("%w: no such task", syscall.ECHILD)
		}
		c.Pid = m.Nr(sim.PidOf, c.Child, c.Task)
	case Setns:
		if c.Target == 0 || !m.Task(c.Target).Live {
			return fmt.Errorf("%w: task %d has no live namespace to enter", syscall.ESRCH, c.Target)
		}
		if c.Pid = m.Nr(sim.PidOf, c.Target, c.Task); c.Pid == 0 {
			return fmt.Errorf("%w: task %d is not visible to task %d", syscall.ESRCH, c.Target, c.Task)
		}
	case Exit:
		ts := m.Task(c.Task)
		if !ts.Exists {
			return fmt.Errorf("%w: task %d", syscall.ESRCH, c.Task)
		}
		c.Parent = liveThread(m, m.Task(ts.Leader).Parent)
		if c.Parent < 0 {
			return fmt.Errorf("%w: no live parent to wait for the exit of task %d", syscall.EINVAL, c.Task)
		}
		c.ChildPid = m.Nr(sim.PidOf, ts.Leader, c.Parent)
	case ExitThread:
		// Another live thread waits until a non-leader's pid is free:
		// the kernel releases it after exit() returns.
		ts := m.Task(c.Task)
		if !ts.Exists || !ts.Thread {
			return nil
		}
		for j := 1; j < m.Len(); j++ {
			if js := m.Task(j); j != c.Task && js.Leader == ts.Leader && js.Live {
				c.Parent, c.ChildPid = j, m.Nr(sim.PidOf, c.Task, j)
				break
			}
		}
	}
	return nil
}

// liveThread returns a live thread of task i's group, or -1.
func liveThread(m *sim.Machine, i int) int {
	if i < 0 {
		return -1
	}
	if i == 0 || m.Task(i).Live {
		return i
	}
	for j := 1; j < m.Len(); j++ {
		if ts := m.Task(j); ts.Leader == m.Task(i).Leader && ts.Live {
			return j
		}
	}
	return -1
}

// Replay runs h on a fresh machine, deriving each call's numbers again.
func (h *History) Replay() (*sim.Machine, error) {
	m := sim.NewMachine()
	for k := range h.Calls {
		c := h.Calls[k]
		child := c.Child
		if err := apply(m, &c); err != nil {
			return nil, fmt.Errorf("%w: call %d (%s): %w", ErrRefused, k+1, h.Calls[k], err)
		}
		if c.Op == Fork && c.Child != child {
			return nil, fmt.Errorf("%w: call %d (%s) created task %d", ErrRefused, k+1, h.Calls[k], c.Child)
		}
		h.Calls[k] = c
	}
	return m, nil
}

// Snapshot is the tree the model says h builds, under the root, as a
// container checkpoint sees it.
func (h *History) Snapshot() (*model.Snapshot, error) {
	m, err := h.Replay()
	if err != nil {
		return nil, err
	}
	return m.Result().Snapshot(1, model.ModeContainer)
}

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
// root, the init of a fresh pid namespace. Numbers are as Task sees them.
type Call struct {
	Op    Op
	Task  int
	Child int        // Fork: the new task; Reap: the child reaped
	Flags plan.Flags // Fork
	Pid   int32      // Setpgid: the target (0: itself); Reap, Setns: a pid
	Pgid  int32      // Setpgid: the group (0: the target's own)
	Arg   int32      // Exit: wait status; LastPid: the value written
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
	root, err := g.m.Clone(0, plan.NewPID, "init")
	if err != nil {
		panic(err) // the first clone of a new machine cannot fail
	}
	g.record(Call{Op: Fork, Task: 0, Child: root, Flags: plan.NewPID})
	// A container's init leads its own session (a container checkpoint
	// refuses a session from outside); nested namespaces need not.
	if err := g.m.Setsid(root); err != nil {
		panic(err)
	}
	g.record(Call{Op: Setsid, Task: root})
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
				if g.m.Stop(i) == nil {
					g.record(Call{Op: Stop, Task: i})
				}
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
		c, err := g.m.Clone(t, flags, fmt.Sprintf("t%d", g.m.Len()))
		if err != nil {
			return
		}
		g.record(Call{Op: Fork, Task: t, Child: c, Flags: flags})
		g.made++
		g.live = append(g.live, c)
		if flags&plan.NewPID != 0 {
			g.inits = append(g.inits, c)
		}
	case r < 44:
		if g.m.Setsid(t) == nil {
			g.record(Call{Op: Setsid, Task: t})
		}
	case r < 60: // setpgid of itself or a child, into its own or another group
		var pid int32
		if kids := g.m.Children(t); len(kids) > 0 && g.rng.IntN(3) == 0 {
			pid = g.m.Nr(sim.PidOf, kids[g.rng.IntN(len(kids))], t)
		}
		var pgid int32
		if g.rng.IntN(4) != 0 {
			if j := g.any(); j != 0 {
				pgid = g.m.Nr(sim.PgidOf, j, t)
			}
		}
		if pid == 0 && pgid == 0 && g.rng.IntN(2) == 0 {
			return
		}
		if g.initJoinsInside(t, pid, pgid) {
			return
		}
		if g.m.Setpgid(t, pid, pgid) == nil {
			g.record(Call{Op: Setpgid, Task: t, Pid: pid, Pgid: pgid})
		}
	case r < 72:
		if ts.Init {
			return
		}
		if ts.Threads > 1 && g.rng.IntN(3) == 0 {
			// Another live thread waits until a non-leader's pid is
			// free: the kernel releases it after exit() returns.
			w, tid := -1, int32(0)
			if ts.Thread {
				for j := 1; j < g.m.Len(); j++ {
					if js := g.m.Task(j); j != t && js.Leader == ts.Leader && js.Live {
						w, tid = j, g.m.Nr(sim.PidOf, t, j)
						break
					}
				}
			}
			if g.m.ExitThread(t) == nil {
				g.record(Call{Op: ExitThread, Task: t, Parent: w, ChildPid: tid})
			}
			return
		}
		lt := g.m.Task(ts.Leader)
		parent := g.liveThread(lt.Parent)
		if parent < 0 {
			return
		}
		childPid := g.m.Nr(sim.PidOf, ts.Leader, parent)
		status := int32(g.rng.IntN(256)) << 8
		if !lt.Live {
			// Its leader has exited already: /proc reports the
			// leader's own exit code (0) on Linux 6.1 and the group's
			// on 6.18, so keep them equal.
			status = 0
		}
		if g.m.Exit(t, status) == nil {
			g.record(Call{Op: Exit, Task: t, Arg: status, Parent: parent, ChildPid: childPid})
		}
	case r < 84:
		for _, c := range g.m.Children(t) {
			if g.m.Task(c).Zombie {
				pid := g.m.Nr(sim.PidOf, c, t)
				if g.m.Reap(t, c) == nil {
					g.record(Call{Op: Reap, Task: t, Child: c, Pid: pid})
				}
				return
			}
		}
	case r < 87:
		if g.m.Subreaper(t) == nil {
			g.record(Call{Op: Subreaper, Task: t})
		}
	case r < 93:
		if !g.opt.Wrap {
			return
		}
		// A low value: the next pids of this namespace reuse freed
		// numbers below those in use.
		hi := int32(g.m.Len()) + 4
		v := int32(g.rng.IntN(int(hi)))
		if g.m.SetLastPid(t, v) == nil {
			g.record(Call{Op: LastPid, Task: t, Arg: v})
		}
	default:
		if !g.opt.Setns || ts.Thread || ts.Threads > 1 {
			return
		}
		in := g.inits[g.rng.IntN(len(g.inits))]
		if !g.m.Task(in).Live {
			return
		}
		nr := g.m.Nr(sim.PidOf, in, t)
		if nr == 0 {
			return
		}
		if g.m.Setns(t, nr) == nil {
			g.record(Call{Op: Setns, Task: t, Pid: nr})
		}
	}
}

// initJoinsInside reports whether setpgid(pid, pgid) by t would put a
// namespace's init into a group led from inside its own namespace. The
// kernel allows it, but such an init never finishes exiting: when its
// namespace dies, zap_pid_ns_processes (kernel/pid_namespace.c) waits
// until the init's pid is the only one allocated in it, and the group's
// pid stays allocated as long as the init itself is in the group. The
// tree hangs unkillable, so histories run by tests must not make it.
func (g *gen) initJoinsInside(t int, pid, pgid int32) bool {
	target := t
	if pid != 0 {
		target = -1
		for _, c := range g.m.Children(t) {
			if g.m.Nr(sim.PidOf, c, t) == pid {
				target = c
			}
		}
		if target < 0 {
			return false // the call fails anyway
		}
	}
	if !g.m.Task(target).Init || pgid == 0 || pgid == g.m.Nr(sim.PidOf, target, t) {
		return false
	}
	for j := 1; j < g.m.Len(); j++ {
		if ts := g.m.Task(j); ts.Exists && g.m.Nr(sim.PgidOf, j, t) == pgid {
			return g.m.Nr(sim.PgidOf, j, target) != 0
		}
	}
	return false
}

// liveThread returns a live thread of task i's group, or -1.
func (g *gen) liveThread(i int) int {
	if i < 0 {
		return -1
	}
	if g.m.Task(i).Live {
		return i
	}
	if i == 0 {
		return 0
	}
	for j := 1; j < g.m.Len(); j++ {
		if ts := g.m.Task(j); ts.Leader == g.m.Task(i).Leader && ts.Live {
			return j
		}
	}
	return -1
}

// ErrRefused is matched by Replay's error when the model refuses a call:
// the history does not hold together (a shrunk history can do this).
var ErrRefused = errors.New("history: the model refuses a call")

// Replay runs h on a fresh machine.
func (h *History) Replay() (*sim.Machine, error) {
	m := sim.NewMachine()
	for k, c := range h.Calls {
		var err error
		switch c.Op {
		case Fork:
			var i int
			if i, err = m.Clone(c.Task, c.Flags, fmt.Sprintf("t%d", m.Len())); err == nil && i != c.Child {
				err = fmt.Errorf("created task %d, the history says %d", i, c.Child)
			}
		case Setsid:
			err = m.Setsid(c.Task)
		case Setpgid:
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
		if err != nil {
			return nil, fmt.Errorf("%w: call %d (%s): %w", ErrRefused, k+1, c, err)
		}
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

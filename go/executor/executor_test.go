package executor

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/plan"
	"github.com/ckpt-nl/ckpt-nl/go/scenario"
	"github.com/ckpt-nl/ckpt-nl/go/sim"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot/procfs"
	"github.com/ckpt-nl/ckpt-nl/go/testenv"
)

// TestLayout holds the Go mirrors of plan.h's structs, and plan's op and
// flag values, to the header.
func TestLayout(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"cr_header", unsafe.Sizeof(header{}), HeaderSize},
		{"cr_task", unsafe.Sizeof(task{}), TaskSize},
		{"cr_action", unsafe.Sizeof(action{}), ActionSize},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, plan.h says %d", c.name, c.got, c.want)
		}
	}
	ops := map[plan.Op]int{
		plan.OpNone: OpNone, plan.OpClone: OpClone, plan.OpSetsid: OpSetsid, plan.OpSetpgid: OpSetpgid,
		plan.OpSubreaper: OpSubreaper, plan.OpBarrier: OpBarrier, plan.OpExit: OpExit,
		plan.OpExitThread: OpExitThread, plan.OpStop: OpStop, plan.OpReap: OpReap,
		plan.OpReapAll: OpReapAll, plan.OpAttach: OpAttach, plan.OpPdeathsig: OpPdeathsig,
	}
	for op, want := range ops {
		if int(op) != want {
			t.Errorf("plan.%s = %d, plan.h says %d", op, op, want)
		}
	}
	for f, want := range map[plan.Flags]int{plan.Thread: FlagThread, plan.Parent: FlagParent, plan.NewPID: FlagNewpid} {
		if int(f) != want {
			t.Errorf("plan flag %s = %d, plan.h says %d", f, f, want)
		}
	}
}

func build(t *testing.T, sc scenario.Scenario) *Run {
	t.Helper()
	r, err := Start(sc.Plan, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Kill)
	if err := r.WaitBarrier(1, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	r.Open(1)
	if err := r.WaitSettled(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestBuildMatchesSimulation builds scenario trees for real and checks the
// kernel's view (through /proc) against the simulator's prediction.
func TestBuildMatchesSimulation(t *testing.T) {
	testenv.NeedRoot(t)
	for _, name := range []string{"dead-group-leader", "threads", "zombies", "orphans", "job-control", "sibling-namespaces"} {
		t.Run(name, func(t *testing.T) {
			sc, err := scenario.Get(name, 1)
			if err != nil {
				t.Fatal(err)
			}
			res, err := sim.Run(sc.Plan, sim.Forward)
			if err != nil {
				t.Fatal(err)
			}
			want, err := res.Snapshot(sc.Root, sc.Mode)
			if err != nil {
				t.Fatal(err)
			}
			r := build(t, sc)
			// A task settles just before its exit or stop lands: read
			// until the last one has (as restore does), for a second.
			var d []string
			for try := 0; try < 50; try++ {
				got, err := procfs.Backend{}.Snapshot(snapshot.Request{Pid: r.Pid(sc.Root), Mode: sc.Mode})
				if err != nil {
					t.Fatal(err)
				}
				if d = model.Diff(want, got); len(d) == 0 {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if len(d) != 0 {
				t.Errorf("the kernel's tree differs from the simulation:\n%q", d)
			}
		})
	}
}

// TestPidTaken: asking for a pid that is in use fails the clone with
// EEXIST, names the task, and leaves nothing behind.
func TestPidTaken(t *testing.T) {
	testenv.NeedRoot(t)
	b := plan.NewBuilder(nil)
	init := b.Launcher().ForkNS("init")
	a := init.Fork("a")
	c := init.Fork("b")
	p := b.Plan()
	p.Tasks[c.Index()].Numbers = append([]int32(nil), p.Tasks[a.Index()].Numbers...)
	p.Tasks[c.Index()].Expect = p.Tasks[c.Index()].Numbers[0]
	r, err := Start(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Kill()
	err = r.WaitBarrier(1, 10*time.Second)
	var te *TaskError
	if !errors.As(err, &te) || te.Errno != syscall.EEXIST || te.Task != init.Index() {
		t.Fatalf("WaitBarrier() = %v, want EEXIST from the init cloning b", err)
	}
	want := fmt.Sprintf("pid %d at level 1 is in use by task %d (a) of this plan", p.Tasks[a.Index()].Numbers[0], a.Index())
	if te.Taken != want {
		t.Errorf("Taken = %q, want %q", te.Taken, want)
	}
}

// TestTaskKilled: a task killed from outside while the plan still needs
// it fails the wait at once (the kernel marks its robust futex), not at
// the timeout, naming the task.
func TestTaskKilled(t *testing.T) {
	testenv.NeedRoot(t)
	b := plan.NewBuilder(nil)
	init := b.Launcher().ForkNS("init")
	a := init.Fork("a")
	victim := a.Fork("victim")
	victim.Stop() // something to do after barrier 1
	r, err := Start(b.Plan(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Kill()
	if err := r.WaitBarrier(1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	kids, err := procfs.Children(r.Pid(init.Index()))
	if err != nil || len(kids) != 1 {
		t.Fatalf("children of init: %v, %v", kids, err)
	}
	grand, err := procfs.Children(kids[0])
	if err != nil || len(grand) != 1 {
		t.Fatalf("children of a: %v, %v", grand, err)
	}
	if err := syscall.Kill(grand[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r.Open(1)
	err = r.WaitSettled(30 * time.Second)
	took := time.Since(start)
	var de *DiedError
	if !errors.Is(err, ErrTaskDied) || !errors.As(err, &de) || de.Task != victim.Index() {
		t.Fatalf("WaitSettled() = %v, want the victim's death", err)
	}
	if took > time.Second {
		t.Errorf("the death was noticed after %v, want under a second", took)
	}
	t.Logf("%v after %v", err, took)
}

// TestDeepChains: chains of 10,000 processes, each the child of the
// previous, started from the main thread and from a thread (64 KiB of
// stack), and 10,000 threads in one process: every new process starts at
// the top of its stack, so depth costs nothing (before, a chain grew each
// child's stack by its creator's frames and overflowed a thread's stack).
func TestDeepChains(t *testing.T) {
	testenv.NeedRoot(t)
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("CHAIN_N")); err == nil {
		n = v
	}
	if testing.Short() || testenv.InVM() {
		n = 1000
	}
	for _, tc := range []struct {
		name string
		grow func(init *plan.T)
	}{
		{"chain", func(init *plan.T) {
			x := init
			for i := 0; i < n; i++ {
				x = x.Fork(fmt.Sprintf("c%d", i))
			}
		}},
		{"chain-under-a-thread", func(init *plan.T) {
			x := init.Fork("p").Thread("t")
			for i := 0; i < n; i++ {
				x = x.Fork(fmt.Sprintf("c%d", i))
			}
		}},
		{"threads", func(init *plan.T) {
			p := init.Fork("p")
			for i := 0; i < n; i++ {
				p.Thread(fmt.Sprintf("t%d", i))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := plan.NewBuilder(nil)
			init := b.Launcher().ForkNS("init")
			tc.grow(init)
			start := time.Now()
			r, err := Start(b.Plan(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Kill()
			if err := r.WaitBarrier(1, 2*time.Minute); err != nil {
				t.Fatal(err)
			}
			r.Open(1)
			if err := r.WaitSettled(time.Minute); err != nil {
				t.Fatal(err)
			}
			t.Logf("%d tasks in %v", n, time.Since(start))
		})
	}
}

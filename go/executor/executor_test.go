package executor

import (
	"errors"
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
			got, err := procfs.Backend{}.Snapshot(snapshot.Request{Pid: r.Pid(sc.Root), Mode: sc.Mode})
			if err != nil {
				t.Fatal(err)
			}
			if d := model.Diff(want, got); len(d) != 0 {
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
}

package integration

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/plan"
	"github.com/ckpt-nl/ckpt-nl/go/scenario"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot/bpfsnap"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot/procfs"
)

// TestBackendsAgree builds every scenario for real and checkpoints it
// with every backend: each snapshot must equal the builder's prediction,
// numbers at every level included, and the backends must agree on the
// display names too.
func TestBackendsAgree(t *testing.T) {
	names := scenario.Names()
	for _, name := range names {
		seeds := []uint64{1}
		if name == "random" {
			seeds = []uint64{1, 2, 3, 4, 5}
		}
		for _, seed := range seeds {
			t.Run(fmt.Sprintf("%s/%d", name, seed), func(t *testing.T) {
				b := build(t, name, seed)
				var first *model.Snapshot
				for _, be := range backends(t) {
					start := time.Now()
					got, err := be.Snapshot(snapshot.Request{Pid: b.root, Mode: b.sc.Mode})
					if err != nil {
						t.Fatalf("%s: %v", be.Name(), err)
					}
					t.Logf("%s: %d tasks, %d pid objects in %v", be.Name(), len(got.Tasks), len(got.Pids), time.Since(start))
					if d := model.Diff(b.want, got); len(d) != 0 {
						t.Errorf("%s differs from what was built:\n%s", be.Name(), lines(d))
					}
					if first == nil {
						first = got
						continue
					}
					if diff := cmp.Diff(comms(first), comms(got)); diff != "" {
						t.Errorf("%s and %s disagree on comm/argv (-%s +%s):\n%s",
							first.Meta.Backend, be.Name(), first.Meta.Backend, be.Name(), diff)
					}
				}
			})
		}
	}
}

func lines(d []string) string {
	if len(d) > 20 {
		d = append(d[:20], fmt.Sprintf("... and %d more", len(d)-20))
	}
	out := ""
	for _, l := range d {
		out += "  " + l + "\n"
	}
	return out
}

func comms(s *model.Snapshot) map[int32]string {
	m := map[int32]string{}
	for i := range s.Tasks {
		m[s.Nr(s.Tasks[i].Pid)] = fmt.Sprintf("%s %q", s.Tasks[i].Comm, s.Tasks[i].Argv)
	}
	return m
}

// TestContainerRefusesOutsidePids: an init that did not start its own
// session refers to its parent's session, outside its namespace: every
// backend refuses a container checkpoint with EBUSY naming the task, and a
// subtree checkpoint of the same tree succeeds.
func TestContainerRefusesOutsidePids(t *testing.T) {
	b := plan.NewBuilder(nil)
	init := b.Launcher().ForkNS("leaky-init")
	init.Fork("child")
	sc := scenario.Scenario{Plan: b.Plan(), Root: init.Index(), Mode: model.ModeContainer}
	r := start(t, sc)
	for _, be := range backends(t) {
		_, err := be.Snapshot(snapshot.Request{Pid: r.Pid(init.Index()), Mode: model.ModeContainer})
		if !errors.Is(err, syscall.EBUSY) {
			t.Errorf("%s: container checkpoint = %v, want EBUSY", be.Name(), err)
		} else if !containsAny(err.Error(), "leaky-init", "child") {
			t.Errorf("%s: error %q does not name the task", be.Name(), err)
		}
		s, err := be.Snapshot(snapshot.Request{Pid: r.Pid(init.Index()), Mode: model.ModeSubtree})
		if err != nil {
			t.Errorf("%s: subtree checkpoint: %v", be.Name(), err)
			continue
		}
		if got := s.Tasks[0].Sid; got != model.TagRootSession {
			t.Errorf("%s: the root's inherited session has tag %d, want the root-session tag", be.Name(), got)
		}
	}
}

// TestNoSuchProcess: a root that does not exist is ESRCH from every backend.
func TestNoSuchProcess(t *testing.T) {
	for _, be := range backends(t) {
		_, err := be.Snapshot(snapshot.Request{Pid: 1 << 22, Mode: model.ModeSubtree})
		if !errors.Is(err, snapshot.ErrNoTask) {
			t.Errorf("%s: %v, want ErrNoTask", be.Name(), err)
		}
	}
}

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if len(x) > 0 && len(s) >= len(x) {
			for i := 0; i+len(x) <= len(s); i++ {
				if s[i:i+len(x)] == x {
					return true
				}
			}
		}
	}
	return false
}

// TestTracedRefused: a task in a tracing stop (a debugger attached) is
// refused by every backend with ErrTraced naming it: no image can hold its
// tracer, and a restart could only bring it back in another state.
func TestTracedRefused(t *testing.T) {
	b := build(t, "demo", 21)
	kids, err := procfs.Children(b.root)
	if err != nil || len(kids) == 0 {
		t.Fatalf("children of the root: %v, %v", kids, err)
	}
	victim := kids[0]
	runtime.LockOSThread() // ptrace requests come from the tracer thread
	defer runtime.UnlockOSThread()
	if err := syscall.PtraceAttach(victim); err != nil {
		t.Fatalf("PTRACE_ATTACH %d: %v", victim, err)
	}
	defer syscall.PtraceDetach(victim)
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(victim, &ws, syscall.WALL, nil); err != nil || !ws.Stopped() {
		t.Fatalf("waiting for the tracing stop of %d: %v (%v)", victim, err, ws)
	}
	for _, be := range []snapshot.Backend{procfs.Backend{}, bpfsnap.Backend{}} {
		if be.Name() == "bpf" {
			if ok, _ := bpfsnap.Available(); !ok {
				continue
			}
		}
		_, err := be.Snapshot(snapshot.Request{Pid: b.root, Mode: b.sc.Mode})
		var te *model.TracedError
		if !errors.Is(err, model.ErrTraced) || !errors.As(err, &te) {
			t.Errorf("%s: checkpoint with a traced task = %v, want ErrTraced", be.Name(), err)
			continue
		}
		t.Logf("%s: %v", be.Name(), err)
	}
}

package integration

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ckpt-nl/ckpt-nl/go/executor"
	"github.com/ckpt-nl/ckpt-nl/go/kmod"
	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/plan"
	"github.com/ckpt-nl/ckpt-nl/go/restore"
	"github.com/ckpt-nl/ckpt-nl/go/restore/kctx"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot/kmodsnap"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot/procfs"
	"github.com/ckpt-nl/ckpt-nl/go/testenv"
)

func needKmod(t *testing.T) {
	t.Helper()
	testenv.NeedRoot(t)
	ok, why := kmodsnap.Available()
	testenv.Need(t, "kmod", ok, why)
}

// lying validates a restore against another snapshot than the one the
// plan restores: the kernel must refuse it.
type lying struct {
	*kctx.Validator
	other *model.Snapshot
}

func (l lying) Prepare(s *model.Snapshot, po *plan.Options, eo *executor.Options) error {
	return l.Validator.Prepare(l.other, po, eo)
}

// TestKernelRefusesWrongTree: a context expecting another process group
// for one task fails the commit with a message naming the member and the
// tag, and nothing of the restore survives.
func TestKernelRefusesWrongTree(t *testing.T) {
	needKmod(t)
	s := b2s(t, "job-control", 7)
	other := *s
	other.Tasks = append([]model.Task(nil), s.Tasks...)
	for i := range other.Tasks {
		if other.Tasks[i].Comm == "job1-grep" {
			other.Tasks[i].Pgid = other.Tasks[i].Sid // claims the shell's group
		}
	}
	v, err := kctx.New()
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	before := countTasks(t)
	_, err = restore.Restore(s, restore.Options{Reader: procfs.Backend{}, Validator: lying{v, &other}})
	var ke *kmod.Error
	if !errors.As(err, &ke) || ke.Errno != syscall.EINVAL || !strings.Contains(ke.Message, "process group") {
		t.Fatalf("restore = %v, want the kernel's EINVAL naming the process group", err)
	}
	t.Logf("kernel said: %s", ke.Message)
	waitCount(t, before)
}

// TestAttachFromOutside: a task that does not descend from the restart's
// launcher cannot attach to its context.
func TestAttachFromOutside(t *testing.T) {
	needKmod(t)
	c, err := kmod.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Only a child of the caller can be a launcher.
	if _, err := c.CreateContext(1, 1, []kmod.ContextPid{{Numbers: []int32{1}, NS: []uint32{1}}},
		[]kmod.Member{{Tag: 1, Kind: 1, Parent: 0xffffffff}}); !errors.Is(err, syscall.EPERM) {
		t.Fatalf("context with init as launcher = %v, want EPERM", err)
	}
	// A context whose launcher is a sleeping child of ours: this test
	// does not descend from it.
	sleeper := startSleeper(t)
	id, err := c.CreateContext(1, sleeper, []kmod.ContextPid{{Numbers: []int32{1}, NS: []uint32{1}}},
		[]kmod.Member{{Tag: 1, Kind: 1, Parent: 0xffffffff}})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Attach(id, 0)
	var ke *kmod.Error
	if !errors.As(err, &ke) || ke.Errno != syscall.EPERM || !strings.Contains(ke.Message, "not part of restart context") {
		t.Fatalf("attach from outside = %v, want EPERM with a message", err)
	}
	if err := c.AbortContext(id); err != nil {
		t.Fatal(err)
	}
	if err := c.AbortContext(id); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("second abort = %v, want ENOENT", err)
	}
}

// TestSocketCloseKills: the coordinator's socket closing before commit
// kills the restart.
func TestSocketCloseKills(t *testing.T) {
	needKmod(t)
	s := b2s(t, "demo", 8)
	before := countTasks(t)
	v, err := kctx.New()
	if err != nil {
		t.Fatal(err)
	}
	po := plan.Options{}
	var eo executor.Options
	if err := v.Prepare(s, &po, &eo); err != nil {
		t.Fatal(err)
	}
	p, err := plan.MakeForest(s, po)
	if err != nil {
		t.Fatal(err)
	}
	r, err := executor.Start(p, eo)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Started(r); err != nil {
		t.Fatal(err)
	}
	for k := 1; k <= 3; k++ {
		if err := r.WaitBarrier(k, time.Minute); err != nil {
			t.Fatal(err)
		}
		r.Open(k)
	}
	if err := r.WaitBarrier(4, time.Minute); err != nil {
		t.Fatal(err)
	}
	v.Close() // the coordinator "dies" before committing
	// The kernel kills every member; the launcher is ours to reap.
	deadline := time.Now().Add(10 * time.Second)
	for countTasks(t) > before+1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	r.Kill()
	waitCount(t, before)
}

// TestUnloadWithLiveContext: the module cannot be unloaded while a
// restart context lives (it holds a reference on itself), and can be
// once the context is gone.
func TestUnloadWithLiveContext(t *testing.T) {
	needKmod(t)
	for i := 0; i < trials(); i++ {
		c, err := kmod.Dial()
		if err != nil {
			t.Fatal(err)
		}
		sleeper := startSleeper(t)
		id, err := c.CreateContext(1, sleeper, []kmod.ContextPid{{Numbers: []int32{1}, NS: []uint32{1}}},
			[]kmod.Member{{Tag: 1, Kind: 1, Parent: 0xffffffff}})
		if err != nil {
			t.Fatal(err)
		}
		err = kmod.Unload()
		if !errors.Is(err, syscall.EBUSY) && !errors.Is(err, syscall.EAGAIN) {
			t.Fatalf("unload with a live context = %v, want EBUSY", err)
		}
		if err := c.AbortContext(id); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
}

package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ckpt-nl/ckpt-nl/go/executor"
	"github.com/ckpt-nl/ckpt-nl/go/image"
	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/restore"
	"github.com/ckpt-nl/ckpt-nl/go/restore/kctx"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot/kmodsnap"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot/procfs"
)

// TestFaultPidTaken: restoring a subtree in place while its pids are in
// use fails with EEXIST naming the task, and leaves nothing behind.
func TestFaultPidTaken(t *testing.T) {
	b := build(t, "subtree", 11)
	s, err := procfs.Backend{}.Snapshot(snapshot.Request{Pid: b.root, Mode: model.ModeSubtree})
	if err != nil {
		t.Fatal(err)
	}
	// Restore the image of a subtree of the container ... in the
	// container's namespace: impossible from here; restore it in a new
	// namespace under its own init twice instead: the second is fine
	// (new namespace). In place, the root's pid is ours and taken.
	before := countTasks(t)
	mine, err := procfs.Backend{}.Snapshot(snapshot.Request{Pid: os.Getpid(), Mode: model.ModeSubtree})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < trials(); i++ {
		start := time.Now()
		_, err = restore.Restore(mine, restore.Options{InPlace: true, Reader: procfs.Backend{}})
		took := time.Since(start)
		var te *executor.TaskError
		if !errors.Is(err, syscall.EEXIST) || !errors.As(err, &te) ||
			!strings.HasPrefix(te.Taken, fmt.Sprintf("pid %d at level 0 is in use by process %d (", os.Getpid(), os.Getpid())) {
			t.Fatalf("in-place restore of a live tree = %v, want EEXIST naming our own pid %d", err, os.Getpid())
		}
		if took > time.Second {
			t.Errorf("the taken pid failed the restore after %v, want under a second", took)
		}
		t.Logf("%v after %v", err, took)
		waitCount(t, before)
	}
	_ = s
}

// trials is how often each fault is injected (CKPT_NL_TRIALS; 100 in
// make reliability).
func trials() int {
	if v, err := strconv.Atoi(os.Getenv("CKPT_NL_TRIALS")); err == nil {
		return v
	}
	return 2
}

// TestFaultTaskKilled: a task killed while the restore runs ends it with
// an error, and every task of the restore is gone.
func TestFaultTaskKilled(t *testing.T) {
	s := b2s(t, "demo", 12)
	for i := 0; i < trials(); i++ {
		faultTaskKilled(t, s)
	}
}

func faultTaskKilled(t *testing.T, s *model.Snapshot) {
	before := countTasks(t)
	killed := false
	var killedAt time.Time
	opt := restore.Options{Reader: procfs.Backend{},
		Progress: func(stage string, _, _ int) {
			if stage != "groups" || killed {
				return
			}
			// Kill a grandchild of ours: a task of the restored tree.
			children := func(pid int) []int { k, _ := procfs.Children(pid); return k }
			for _, kid := range children(os.Getpid()) {
				for _, gk := range children(kid) {
					for _, ggk := range children(gk) {
						syscall.Kill(ggk, syscall.SIGKILL)
						killed, killedAt = true, time.Now()
						return
					}
				}
			}
		}}
	if ok, _ := kmodsnap.Available(); ok {
		v, err := kctx.New()
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		opt.Validator = v
	}
	_, err := restore.Restore(s, opt)
	if !killed {
		t.Fatal("found no task to kill")
	}
	if err == nil {
		t.Fatal("restore succeeded with a task killed")
	}
	took := time.Since(killedAt)
	if !errors.Is(err, executor.ErrTaskDied) {
		t.Errorf("restore = %v, want an error saying which task died", err)
	}
	if took > time.Second {
		t.Errorf("the killed task failed the restore after %v, want under a second", took)
	}
	t.Logf("restore failed as it should, %v after the kill: %v", took, err)
	waitCount(t, before)
}

// TestFaultCoordinatorKilled: SIGKILL to ckpt-nl restart at any moment
// leaves no task of the restore alive. (A restore that completed before
// the kill printed its root's pid: that tree is the user's, killed here.)
func TestFaultCoordinatorKilled(t *testing.T) {
	s := b2s(t, "large", 13)
	img := filepath.Join(t.TempDir(), "large.img")
	if err := image.WriteFile(img, s, image.Options{}); err != nil {
		t.Fatal(err)
	}
	bin := binary(t)
	before := countTasks(t)
	delays := []time.Duration{2 * time.Millisecond, 20 * time.Millisecond, 80 * time.Millisecond, 200 * time.Millisecond}
	for i := 0; i < trials()*len(delays)/2; i++ {
		after := delays[i%len(delays)]
		var out strings.Builder
		cmd := exec.Command(bin, "restart", "--reader", "procfs", img)
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(after)
		cmd.Process.Kill()
		cmd.Wait()
		if f := strings.Fields(out.String()); len(f) > 0 {
			if root, err := strconv.Atoi(f[len(f)-1]); err == nil {
				t.Logf("killed after %v: the restore had completed (root %d)", after, root)
				syscall.Kill(root, syscall.SIGKILL)
			}
		}
		waitCount(t, before)
	}
}

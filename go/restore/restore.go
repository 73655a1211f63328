// Package restore drives a restart: it plans the creation forest of an
// image (plan.MakeForest), runs it with the executor, steps it through its
// barriers (filling in setpgid arguments when the kernel chose the pids),
// lets the validator check the tree before the release, and checks the
// tree that stands afterwards against the image.
//
// On any failure every task of the restore is killed before Restore
// returns: nothing is left behind.
package restore

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ckpt-nl/ckpt-nl/go/executor"
	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/plan"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot/procfs"
)

// Validator checks a restored tree while it is parked at the final
// barrier, before the release. The kernel's restart context is one.
type Validator interface {
	// Prepare is called before the tree is started; it may change the
	// plan options (to make tasks attach) and executor options.
	Prepare(s *model.Snapshot, po *plan.Options, eo *executor.Options) error
	// Started is called once the launcher runs, before any task attaches.
	Started(r *executor.Run) error
	// Validate is called with every task parked at the final barrier;
	// an error aborts the restore.
	Validate(r *executor.Run) error
	// Name says how the tree was validated, for the user.
	Name() string
	Close() error
}

// Options of Restore.
type Options struct {
	// NoPids lets the kernel choose every pid; the result maps old
	// numbers to new ones.
	NoPids bool
	// InPlace restores a subtree image in the caller's pid namespace.
	InPlace bool
	// Reader checkpoints the restored tree: to learn the new pids
	// (NoPids) and to check the result against the image.
	Reader snapshot.Backend
	// Validator, if not nil, checks the parked tree before the release.
	Validator Validator
	// Timeout bounds each stage (default: 30 s plus 5 ms per task).
	Timeout time.Duration
	// Progress, if not nil, is told each stage as it begins.
	Progress func(stage string, done, total int)
}

// Mapping is one task's pids before and after a NoPids restore, from the
// root's namespace down.
type Mapping struct {
	Comm string
	Old  []int32
	New  []int32
}

// Result is a restored tree.
type Result struct {
	// Root is the restored root's pid in the caller's pid namespace.
	Root int
	// Top is the init of the pid namespace holding the whole restored
	// tree (the root itself for a container), 0 for an in-place restore.
	Top int
	// Tree is the restored tree as read back.
	Tree *model.Snapshot
	// Map has old and new pids of every task (NoPids only).
	Map []Mapping
	// Stages times each stage.
	Stages []Stage
	// Validation says how the tree was checked.
	Validation string
	Plan       *plan.Plan
}

// Stage is a timed step of a restore.
type Stage struct {
	Name string
	Took time.Duration
}

// Restore brings s back.
func Restore(s *model.Snapshot, opt Options) (*Result, error) {
	if opt.Reader == nil {
		return nil, errors.New("restore: no reader to check the restored tree with")
	}
	res := &Result{}
	stage := func(name string, start time.Time) {
		res.Stages = append(res.Stages, Stage{Name: name, Took: time.Since(start)})
	}
	progress := func(name string, done, total int) {
		if opt.Progress != nil {
			opt.Progress(name, done, total)
		}
	}
	timeout := opt.Timeout
	if timeout == 0 {
		timeout = 30*time.Second + time.Duration(len(s.Tasks))*5*time.Millisecond
	}

	t0 := time.Now()
	po := plan.Options{NoPids: opt.NoPids, InPlace: opt.InPlace}
	var eo executor.Options
	if opt.Validator != nil {
		if err := opt.Validator.Prepare(s, &po, &eo); err != nil {
			return nil, err
		}
	}
	p, err := plan.MakeForest(s, po)
	if err != nil {
		return nil, err
	}
	res.Plan = p
	stage("plan", t0)

	progress("creating tasks", 0, len(p.Tasks))
	t0 = time.Now()
	run, err := executor.Start(p, eo)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			run.Kill()
		}
	}()
	if opt.Validator != nil {
		if err := opt.Validator.Started(run); err != nil {
			return nil, err
		}
	}
	rootIdx, topIdx := roots(p)
	final := p.ReleaseBarrier()
	for k := plan.BarrierCreated; k <= final; k++ {
		stop := make(chan struct{})
		if opt.Progress != nil && k == plan.BarrierCreated {
			go func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
						done, total := run.Arrived(k)
						opt.Progress("creating tasks", int(done), int(total))
					}
				}
			}()
		}
		err := run.WaitBarrier(k, timeout)
		close(stop)
		if err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		if k == plan.BarrierCreated {
			stage("create", t0)
			progress("groups", 0, len(p.Tasks))
			t0 = time.Now()
		}
		if k == final {
			stage("groups", t0)
			break
		}
		if err := fillJoins(p, run, opt.Reader, topIdx, k+0); err != nil {
			return nil, err
		}
		run.Open(k)
	}

	var rn *renumbering
	if opt.NoPids {
		if rn, err = renumber(s, p, run, opt.Reader, topIdx); err != nil {
			return nil, err
		}
		res.Map = rn.maps
	}
	if opt.Validator != nil {
		progress("validating", 0, len(p.Tasks))
		t0 = time.Now()
		if err := opt.Validator.Validate(run); err != nil {
			return nil, err
		}
		stage("validate", t0)
	}
	progress("releasing", 0, len(p.Tasks))
	t0 = time.Now()
	run.Open(final)
	// Barriers after the release order what follows it (stops after
	// the exits).
	for k := final + 1; k <= p.Barriers(); k++ {
		if err := run.WaitBarrier(k, timeout); err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		run.Open(k)
	}
	if err := run.WaitSettled(timeout); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	stage("release", t0)

	// Read the tree back and hold it to the image.
	t0 = time.Now()
	root := run.Pid(rootIdx)
	if topIdx != rootIdx {
		if root, err = onlyChild(run.Pid(topIdx)); err != nil {
			return nil, fmt.Errorf("restore: finding the restored root: %w", err)
		}
	}
	// A task settles just before its exit or stop takes effect: read
	// until the last of them has landed (or give up after a second).
	var d []string
	for try := 0; ; try++ {
		got, err := opt.Reader.Snapshot(snapshot.Request{Pid: root, Mode: s.Mode})
		if err != nil {
			return nil, fmt.Errorf("restore: reading the restored tree back: %w", err)
		}
		res.Tree = got
		if rn != nil {
			if got, err = rn.back(s, got); err != nil {
				return nil, err
			}
		}
		if d = model.Diff(s, got); len(d) == 0 || try == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(d) > 0 {
		if len(d) > 10 {
			d = append(d[:10], fmt.Sprintf("and %d more", len(d)-10))
		}
		return nil, fmt.Errorf("restore: the restored tree differs from the image:\n  %s", strings.Join(d, "\n  "))
	}
	stage("check ("+opt.Reader.Name()+")", t0)
	res.Validation = "read back with the " + opt.Reader.Name() + " backend after the release (not atomic)"
	if opt.Validator != nil {
		res.Validation = "validated atomically by the " + opt.Validator.Name() + ", then " + res.Validation
	}
	res.Root = root
	if p.Base == 1 {
		res.Top = run.Pid(topIdx)
	}
	ok = true
	run.Detach()
	return res, nil
}

// roots returns the plan indexes of the image's root and of the task
// whose subtree holds every task of the restore (the root, or the init
// the plan provides).
func roots(p *plan.Plan) (root, top int) {
	for i, t := range p.Tasks {
		if t.Image == 0 {
			root = i
		}
	}
	top = root
	if c := p.Tasks[root].Creator; p.Tasks[c].Kind == plan.Init {
		top = c
	}
	return root, top
}

// onlyChild is the one child process of pid (the tool's init keeps only
// the image's root once ghosts and placeholders are reaped).
func onlyChild(pid int) (int, error) {
	kids, err := procfs.Children(pid)
	if err != nil {
		return 0, err
	}
	if len(kids) != 1 {
		return 0, fmt.Errorf("init %d has %d children, want 1", pid, len(kids))
	}
	return kids[0], nil
}

// Kill ends a restored tree: its namespace's init (which takes the
// namespace along), or, in place, every task of it.
func (r *Result) Kill() error {
	if r.Top != 0 {
		return unix.Kill(r.Top, unix.SIGKILL)
	}
	var first error
	for i := range r.Tree.Pids {
		if err := unix.Kill(int(r.Tree.Pids[i].Numbers[0]), unix.SIGKILL); err != nil && first == nil && err != unix.ESRCH {
			first = err
		}
	}
	return first
}

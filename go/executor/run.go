package executor

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ckpt-nl/ckpt-nl/go/plan"
)

//go:embed executor.bin
var binary []byte

// header, task and action mirror struct cr_header, cr_task and cr_action
// of executor/plan.h; TestLayout checks their sizes.
type header struct {
	Magic, Version, NrTasks, NrActions uint32
	Phase, Failed, Done                uint32
	GenlFamily, Reserved               uint16
	Context                            uint32
	NrBarriers                         uint32
	StackBase                          uint64
	Released                           uint32
	Pad                                [19]uint32
}

type task struct {
	State, FirstAction, NrActions, Flags uint32
	Expect, Pid, Err                     int32
	FailedAction, SetTIDSize             uint32
	ExitSignal                           int32
	Group, GroupNext                     uint32
	SetTID                               [MaxLevels]int32
	Comm                                 [16]byte
	Alive, Reserved                      uint32
	RobustHead                           [3]uint64
	RobustEntry                          uint64
	Pad                                  [6]uint32
}

// futexOwnerDied is the bit the kernel sets in a robust futex whose
// holder ended (linux/futex.h FUTEX_OWNER_DIED).
const futexOwnerDied = 0x40000000

type action struct {
	Op   uint32
	A, B int32
	Res  uint32
}

// Run is one execution of a plan.
type Run struct {
	plan    *plan.Plan
	mem     []byte
	hdr     *header
	tasks   []task
	actions []action
	arrived []uint32 // futex per barrier: the coordinator waits on it
	gates   []uint32 // futex per barrier: its tasks wait on it
	expect  []uint32 // how many tasks meet at each barrier
	opened  int      // the highest barrier opened
	pids    []int32  // once unmapped
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the launcher has been reaped
	waitErr error
	killed  bool
	scanned time.Time // last look for tasks that died unexpectedly
}

var (
	exeOnce sync.Once
	exeFile *os.File
	exeErr  error
)

// executable returns a sealed memfd holding the executor binary.
func executable() (*os.File, error) {
	exeOnce.Do(func() {
		const mfdExec = 0x10 // MFD_EXEC, Linux 6.3
		fd, err := unix.MemfdCreate("ckpt-nl-executor", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|mfdExec)
		if errors.Is(err, unix.EINVAL) {
			fd, err = unix.MemfdCreate("ckpt-nl-executor", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		}
		if err != nil {
			exeErr = fmt.Errorf("executor: memfd: %w", err)
			return
		}
		// The child execs /proc/self/fd/N after os/exec has installed
		// the plan at fd 3: keep N well clear of the low numbers.
		high, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 100)
		unix.Close(fd)
		if err != nil {
			exeErr = fmt.Errorf("executor: memfd: %w", err)
			return
		}
		fd = high
		f := os.NewFile(uintptr(fd), "ckpt-nl-executor")
		if _, err := f.Write(binary); err != nil {
			f.Close()
			exeErr = fmt.Errorf("executor: write memfd: %w", err)
			return
		}
		seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
			f.Close()
			exeErr = fmt.Errorf("executor: seal memfd: %w", err)
			return
		}
		exeFile = f
	})
	return exeFile, exeErr
}

// Options for Start.
type Options struct {
	// GenlFamily is the ckpt_pids family id, for plans that attach tasks
	// to a kernel restart context.
	GenlFamily uint16
	// ExecutorPath, when set, runs the executor from this regular file
	// (see WriteExecutable) instead of from a memfd: for trees handed to
	// tools that cannot restore a memfd-backed executable, such as
	// Debian 12's CRIU 3.17.
	ExecutorPath string
}

// WriteExecutable writes the executor binary to path, mode 0755, for
// Options.ExecutorPath. path must not exist yet.
func WriteExecutable(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return fmt.Errorf("executor: %w", err)
	}
	if _, err := f.Write(binary); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("executor: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("executor: write %s: %w", path, err)
	}
	return nil
}

// Start lays the plan out in shared memory and starts the launcher, which
// begins creating the tree at once. Call Kill to end everything.
func Start(p *plan.Plan, opt Options) (*Run, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	exePath := opt.ExecutorPath
	if exePath == "" {
		exe, err := executable()
		if err != nil {
			return nil, err
		}
		exePath = "/proc/self/fd/" + strconv.Itoa(int(exe.Fd()))
	}
	nActions := 0
	for i := range p.Tasks {
		nActions += len(p.Tasks[i].Actions)
	}
	expect := p.Expected()
	size := HeaderSize + len(p.Tasks)*TaskSize + nActions*ActionSize + 2*4*len(expect)
	fd, err := unix.MemfdCreate("ckpt-nl-plan", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("executor: memfd: %w", err)
	}
	memfd := os.NewFile(uintptr(fd), "ckpt-nl-plan")
	defer memfd.Close()
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		return nil, fmt.Errorf("executor: size plan memory: %w", err)
	}
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("executor: map plan memory: %w", err)
	}
	r := &Run{plan: p, mem: mem, exited: make(chan struct{}), expect: expect}
	r.hdr = (*header)(unsafe.Pointer(&mem[0]))
	r.tasks = unsafe.Slice((*task)(unsafe.Pointer(&mem[HeaderSize])), len(p.Tasks))
	off := HeaderSize + len(p.Tasks)*TaskSize
	r.actions = unsafe.Slice((*action)(unsafe.Pointer(&mem[off])), nActions)
	off += nActions * ActionSize
	r.arrived = unsafe.Slice((*uint32)(unsafe.Pointer(&mem[off])), len(expect))
	off += 4 * len(expect)
	r.gates = unsafe.Slice((*uint32)(unsafe.Pointer(&mem[off])), len(expect))
	if err := r.layout(r.actions, opt); err != nil {
		unix.Munmap(mem)
		return nil, err
	}

	cmd := exec.Command(exePath)
	cmd.Args = []string{"ckpt-nl-executor"}
	cmd.ExtraFiles = []*os.File{memfd} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		unix.Munmap(mem)
		return nil, fmt.Errorf("executor: start: %w", err)
	}
	r.cmd = cmd
	go func() {
		r.waitErr = cmd.Wait()
		close(r.exited)
	}()
	return r, nil
}

func (r *Run) layout(actions []action, opt Options) error {
	p := r.plan
	h := r.hdr
	h.Magic, h.Version = Magic, Version
	h.NrTasks, h.NrActions = uint32(len(p.Tasks)), uint32(len(actions))
	h.GenlFamily = opt.GenlFamily
	h.NrBarriers = uint32(len(r.expect))
	// Thread groups: each task's leader, and a list through the group.
	last := map[int]int{}
	next := 0
	for i := range p.Tasks {
		pt := &p.Tasks[i]
		t := &r.tasks[i]
		leader := i
		if pt.Flags&plan.Thread != 0 {
			leader = int(r.tasks[pt.Creator].Group)
		}
		t.Group = uint32(leader)
		if prev, ok := last[leader]; ok {
			r.tasks[prev].GroupNext = uint32(i)
		}
		last[leader] = i
		t.Flags = uint32(pt.Flags)
		t.Expect = pt.Expect
		t.ExitSignal = pt.ExitSignal
		tid := pt.SetTID()
		if len(tid) > MaxLevels {
			return fmt.Errorf("executor: task %d: %d pid levels", i, len(tid))
		}
		t.SetTIDSize = uint32(len(tid))
		copy(t.SetTID[:], tid)
		copy(t.Comm[:15], pt.Comm)
		t.FirstAction = uint32(next)
		t.NrActions = uint32(len(pt.Actions))
		for _, a := range pt.Actions {
			actions[next] = action{Op: uint32(a.Op), A: a.A, B: a.B}
			next++
		}
	}
	return nil
}

func (r *Run) word(p *uint32) uint32 { return atomic.LoadUint32(p) }

// Futex operations on shared (not process-private) words.
const (
	futexWaitOp = 0
	futexWakeOp = 1
)

// futexWait waits until *p != val or d passes.
func futexWait(p *uint32, val uint32, d time.Duration) {
	ts := unix.NsecToTimespec(d.Nanoseconds())
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(p)), futexWaitOp, uintptr(val),
		uintptr(unsafe.Pointer(&ts)), 0, 0)
}

func futexWake(p *uint32) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(p)), futexWakeOp, 1<<30, 0, 0, 0)
}

// waitFor waits until word *p reaches want, a task fails, the launcher
// dies, or timeout passes.
func (r *Run) waitFor(p *uint32, want uint32, what string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		v := r.word(p)
		if v >= want {
			return nil
		}
		if err := r.Failure(); err != nil {
			return err
		}
		if time.Since(r.scanned) >= 20*time.Millisecond {
			r.scanned = time.Now()
			if err := r.Died(); err != nil {
				return err
			}
		}
		select {
		case <-r.exited:
			if err := r.Failure(); err != nil {
				return err
			}
			return fmt.Errorf("executor: the launcher ended (%v) while %s (%d of %d)", r.waitErr, what, v, want)
		default:
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("executor: timed out after %v while %s (%d of %d; still running: %s)",
				timeout, what, v, want, r.unsettled())
		}
		futexWait(p, v, min(left, 50*time.Millisecond))
	}
}

// WaitBarrier waits until every task of barrier k has arrived.
// A barrier the plan does not use has no tasks to wait for.
func (r *Run) WaitBarrier(k int, timeout time.Duration) error {
	if k <= 0 || k >= len(r.expect) {
		return nil
	}
	return r.waitFor(&r.arrived[k], r.expect[k], fmt.Sprintf("waiting for barrier %d", k), timeout)
}

// Arrived is how many tasks have reached barrier k so far, of how many.
func (r *Run) Arrived(k int) (uint32, uint32) {
	if k <= 0 || k >= len(r.expect) {
		return 0, 0
	}
	return r.word(&r.arrived[k]), r.expect[k]
}

// Open lets the tasks waiting at barrier k (and any before it) go on.
func (r *Run) Open(k int) {
	atomic.StoreUint32(&r.hdr.Phase, uint32(k))
	futexWake(&r.hdr.Phase)
	for ; r.opened < k && r.opened+1 < len(r.gates); r.opened++ {
		atomic.StoreUint32(&r.gates[r.opened+1], 1)
		futexWake(&r.gates[r.opened+1])
	}
}

// WaitSettled waits until every task has run out of actions (or exited,
// stopped, or ended with its thread group). The done counter only wakes
// it: a thread killed by its group's exit between settling and counting
// would leave the count one short, so the states themselves decide.
func (r *Run) WaitSettled(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if r.unsettled() == "" {
			return nil
		}
		v := r.word(&r.hdr.Done)
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("executor: timed out after %v waiting for the tasks to settle (%d of %d; still running: %s)",
				timeout, v, r.hdr.NrTasks, r.unsettled())
		}
		if err := r.waitFor(&r.hdr.Done, v+1, "waiting for the tasks to settle", min(left, 50*time.Millisecond)); err != nil &&
			!strings.Contains(err.Error(), "timed out") {
			return err
		}
	}
}

// unsettled names up to five tasks that have not settled, with their
// state and next action.
func (r *Run) unsettled() string {
	var out []string
	for i := range r.tasks {
		st := r.word(&r.tasks[i].State)
		if st == StateExited || st == StateDone || st == StateKilled {
			continue
		}
		pt := &r.plan.Tasks[i]
		out = append(out, fmt.Sprintf("task %d (%s) state %d", i, pt.Name, st))
		if len(out) == 5 {
			break
		}
	}
	return strings.Join(out, ", ")
}

// Pid is the pid clone3 returned to task i's creator (0 before it exists;
// the launcher's own pid for task 0).
func (r *Run) Pid(i int) int {
	if i == 0 {
		return r.cmd.Process.Pid
	}
	if r.pids != nil {
		return int(r.pids[i])
	}
	return int(atomic.LoadInt32(&r.tasks[i].Pid))
}

// unmap drops the shared memory, keeping what Pid answers.
func (r *Run) unmap() {
	if r.pids != nil {
		return
	}
	r.pids = make([]int32, len(r.tasks))
	for i := range r.tasks {
		r.pids[i] = atomic.LoadInt32(&r.tasks[i].Pid)
	}
	r.tasks, r.actions, r.hdr = nil, nil, nil
	unix.Munmap(r.mem)
}

// Failure describes the tasks that failed, root causes first, or nil.
func (r *Run) Failure() error {
	if r.word(&r.hdr.Failed) == 0 {
		return nil
	}
	var first error
	for i := range r.tasks {
		t := &r.tasks[i]
		if r.word(&t.State) != StateFailed {
			continue
		}
		errno := syscall.Errno(t.Err)
		if errno == syscall.ECANCELED && first != nil {
			continue
		}
		pt := &r.plan.Tasks[i]
		ai := int(t.FailedAction) - int(t.FirstAction)
		what := "start"
		if ai >= 0 && ai < len(pt.Actions) {
			a := pt.Actions[ai]
			what = fmt.Sprintf("%s %d", a.Op, a.A)
			if a.Op == plan.OpClone {
				c := &r.plan.Tasks[a.A]
				what = fmt.Sprintf("clone of task %d (%s) with pids %v", a.A, c.Name, c.Numbers)
			}
		}
		err := &TaskError{Task: i, Name: pt.Name, Action: what, Errno: errno}
		if ai >= 0 && ai < len(pt.Actions) && pt.Actions[ai].Op == plan.OpClone && errno == syscall.EEXIST {
			err.Taken = r.taken(int(pt.Actions[ai].A))
		}
		if errno != syscall.ECANCELED {
			return err
		}
		first = err
	}
	if first == nil {
		return errors.New("executor: a task failed")
	}
	return first
}

// Died reports the first task that ended without the plan saying so (a
// SIGKILL from outside, say), as a *DiedError, or nil. The kernel marks a
// task's alive word when it ends, however it ends (executor/plan.h).
func (r *Run) Died() error {
	for i := range r.tasks {
		t := &r.tasks[i]
		if r.word(&t.Alive)&futexOwnerDied == 0 {
			continue
		}
		if st := r.word(&t.State); st < StateExited {
			pt := &r.plan.Tasks[i]
			return &DiedError{Task: i, Name: pt.Name, Numbers: pt.Numbers, Parked: st == StateParked}
		}
	}
	return nil
}

// DiedError is a task that ended while the plan still needed it. It
// matches ErrTaskDied.
type DiedError struct {
	Task    int
	Name    string
	Numbers []int32 // its pid from the plan's base level down (nil: any)
	Parked  bool    // it had reached a barrier
}

// ErrTaskDied is matched (errors.Is) by a DiedError.
var ErrTaskDied = errors.New("a task of the restore ended unexpectedly")

func (e *DiedError) Error() string {
	where := "before it was ready"
	if e.Parked {
		where = "while it waited at a barrier"
	}
	pids := ""
	if len(e.Numbers) > 0 {
		pids = " (pid " + pidPath(e.Numbers) + ")"
	}
	return fmt.Sprintf("executor: task %d (%s)%s ended %s: killed from outside?", e.Task, e.Name, pids, where)
}

func (e *DiedError) Is(target error) bool { return target == ErrTaskDied }

// pidPath prints numbers from the outermost level down, as 12/3/1.
func pidPath(nums []int32) string {
	parts := make([]string, len(nums))
	for i, n := range nums {
		parts[i] = strconv.Itoa(int(n))
	}
	return strings.Join(parts, "/")
}

// taken names the first pid of task c that is in use: in the launcher's
// own namespace (where the coordinator runs, so /proc tells the holder),
// or in a namespace of the plan by another task of the plan.
func (r *Run) taken(c int) string {
	p := r.plan
	ct := &p.Tasks[c]
	for l, nr := range ct.Numbers {
		level := p.Base + l
		ns := p.NSAt(ct.NS, level)
		if level == 0 {
			if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", nr)); err == nil {
				return fmt.Sprintf("pid %d at level %d is in use by process %d (%s)", nr, level, nr, strings.TrimSpace(string(comm)))
			}
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", nr)); err == nil {
				return fmt.Sprintf("pid %d at level %d is in use by another process", nr, level)
			}
			continue
		}
		for j := range p.Tasks {
			o := &p.Tasks[j]
			if j == c || l >= len(o.Numbers) || o.Numbers[l] != nr || p.NSAt(o.NS, level) != ns {
				continue
			}
			if r.word(&r.tasks[j].State) != StateNew {
				return fmt.Sprintf("pid %d at level %d is in use by task %d (%s) of this plan", nr, level, j, o.Name)
			}
		}
	}
	return ""
}

// TaskError is a plan step that failed in a task.
type TaskError struct {
	Task   int
	Name   string
	Action string
	Errno  syscall.Errno
	// Taken says, for a clone that failed with EEXIST, which of the pids
	// asked for is in use and by whom, when the coordinator can tell.
	Taken string
}

func (e *TaskError) Error() string {
	msg := e.Errno.Error()
	switch {
	case e.Errno == syscall.ECANCELED:
		msg = "a task it created failed"
	case e.Errno == syscall.EEXIST && e.Action != "":
		msg = "pid already taken (EEXIST)"
		if e.Taken != "" {
			msg += ": " + e.Taken
		}
	}
	return fmt.Sprintf("executor: task %d (%s): %s: %s", e.Task, e.Name, e.Action, msg)
}

func (e *TaskError) Unwrap() error { return e.Errno }

// SetArg sets the argument of action k of task i, before the phase it
// runs in is opened (the fills of a NoPids plan).
func (r *Run) SetArg(i, k int, v int32) {
	a := &r.actions[int(r.tasks[i].FirstAction)+k]
	atomic.StoreInt32(&a.A, v)
}

// SetContext tells the tasks which kernel restart context to attach to;
// call it before the phase in which they attach is opened.
func (r *Run) SetContext(id uint32) { atomic.StoreUint32(&r.hdr.Context, id) }

// Plan is the plan being run.
func (r *Run) Plan() *plan.Plan { return r.plan }

// Launcher is the launcher's process.
func (r *Run) Launcher() *os.Process { return r.cmd.Process }

// Kill ends the run: it kills the launcher and every task whose pid it
// knows in the launcher's namespace (the roots of new pid namespaces take
// their namespaces with them), then reaps the launcher.
func (r *Run) Kill() {
	if !r.killed {
		r.killed = true
		for i := len(r.tasks) - 1; i >= 1; i-- {
			pt := &r.plan.Tasks[i]
			if r.plan.NSLevel[r.plan.Tasks[pt.Creator].NS] != 0 {
				continue // its pid is in another namespace
			}
			if pid := r.Pid(i); pid > 0 {
				unix.Kill(pid, unix.SIGKILL)
			}
		}
		r.cmd.Process.Kill()
	}
	<-r.exited
	r.unmap()
}

// Release leaves the tree running without the run: the memory is unmapped
// and the launcher is reaped once it exits.
func (r *Run) Release() {
	r.released()
	go func() {
		<-r.exited
	}()
	r.unmap()
}

// released tells the tasks that the coordinator lets the tree go: a
// stopped task continued from now on stays continued (executor.c
// stop_until_released).
func (r *Run) released() {
	if r.hdr != nil {
		atomic.StoreUint32(&r.hdr.Released, 1)
	}
}

// Detach leaves a settled tree running on its own: the launcher, its
// parent, is killed and reaped (the tree's root no longer dies with it)
// and the plan's memory is unmapped.
func (r *Run) Detach() {
	r.released()
	r.killed = true
	r.cmd.Process.Kill()
	<-r.exited
	r.unmap()
}

// Package procfs is the portable snapshot backend: it reads the tree from
// /proc (NSpid, NStgid, NSpgid, NSsid, PPid and State of every
// /proc/PID/task/TID/status, the children files, and pid-namespace links).
// It is the reference the other backends are tested against and the
// baseline they are measured against.
//
// It cannot read a tree atomically, so it reads it until two consecutive
// reads describe the same identity, or fails with snapshot.ErrChanged.
package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot"
)

// Backend reads /proc.
type Backend struct{}

// Name is "procfs".
func (Backend) Name() string { return "procfs" }

// Snapshot reads the tree under req.Pid until two reads agree.
func (Backend) Snapshot(req snapshot.Request) (*model.Snapshot, error) {
	if err := checkProc(); err != nil {
		return nil, err
	}
	prev, err := read(req)
	for i := 0; i < max(req.Attempts, snapshot.DefaultAttempts); i++ {
		if err != nil && !snapshot.IsChanged(err) {
			return nil, err
		}
		cur, cerr := read(req)
		if err == nil && cerr == nil && len(model.Diff(prev, cur)) == 0 {
			return cur, nil
		}
		prev, err = cur, cerr
		time.Sleep(time.Duration(i+1) * time.Millisecond)
	}
	if err != nil && !snapshot.IsChanged(err) {
		return nil, err
	}
	return nil, fmt.Errorf("procfs: %w", snapshot.ErrChanged)
}

// checkProc makes sure /proc shows pids of our own namespace.
func checkProc() error {
	self, err := os.Readlink("/proc/self")
	if err != nil {
		return fmt.Errorf("procfs: /proc is not mounted: %w", err)
	}
	if self != strconv.Itoa(os.Getpid()) {
		return fmt.Errorf("procfs: /proc belongs to another pid namespace (/proc/self is %s, we are %d): mount a /proc for this namespace", self, os.Getpid())
	}
	return nil
}

// status is what one status file says.
type status struct {
	name                  string
	state                 byte
	ppid                  int
	nspid, nstgid, nspgid []int32
	nssid                 []int32
}

type walker struct {
	req       snapshot.Request
	rootLevel int // index of the root's namespace in NS* fields
	rootNS    uint64
	raw       *model.Raw
	chains    map[uint64][]uint64 // namespace inode -> inodes from the root's down
	tgidKeys  map[int]uint64      // process (our pid) -> its key
}

// read takes one snapshot, without consistency checks across reads.
func read(req snapshot.Request) (*model.Snapshot, error) {
	w := &walker{req: req, chains: map[uint64][]uint64{}, tgidKeys: map[int]uint64{}}
	w.raw = &model.Raw{Mode: req.Mode, Pids: map[uint64]*model.RawPid{}}
	w.raw.Meta = model.Meta{Backend: "procfs", Kernel: snapshot.KernelRelease(), Created: time.Now().Unix(), RootPid: int32(req.Pid)}

	root := strconv.Itoa(req.Pid)
	st, err := readStatus("/proc/" + root + "/status")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("procfs: pid %d: %w", req.Pid, snapshot.ErrNoTask)
		}
		return nil, fmt.Errorf("procfs: %w", err)
	}
	if len(st.nstgid) == 0 || st.nstgid[0] != int32(req.Pid) {
		return nil, fmt.Errorf("procfs: %d is a thread, not a process; give its thread group's pid", req.Pid)
	}
	w.rootLevel = len(st.nspid) - 1
	if w.rootNS, err = nsInode("/proc/" + root + "/ns/pid"); err != nil {
		return nil, fmt.Errorf("procfs: %w", err)
	}
	w.chains[w.rootNS] = []uint64{w.rootNS}
	w.raw.RootPid = uint64(st.nspid[w.rootLevel])

	queue := []int{req.Pid}
	parents := map[int]int{req.Pid: 0} // our pid -> its parent's
	for len(queue) > 0 {
		tgid := queue[0]
		queue = queue[1:]
		kids, err := w.process(tgid, parents[tgid])
		if err != nil {
			return nil, err
		}
		for _, k := range kids {
			if _, dup := parents[k]; dup {
				return nil, &snapshot.Changed{Why: fmt.Sprintf("process %d listed twice", k)}
			}
			parents[k] = tgid
			queue = append(queue, k)
		}
	}
	return model.Build(w.raw)
}

// vanished turns a missing file into a change of the tree.
func vanished(err error, what string) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
		return &snapshot.Changed{Why: what + " vanished"}
	}
	return fmt.Errorf("procfs: %w", err)
}

// process reads every thread of process tgid and returns its children.
func (w *walker) process(tgid, parent int) ([]int, error) {
	dir := "/proc/" + strconv.Itoa(tgid) + "/task/"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, vanished(err, fmt.Sprintf("process %d", tgid))
	}
	var kids []int
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		tdir := dir + e.Name() + "/"
		st, err := readStatus(tdir + "status")
		if err != nil {
			return nil, vanished(err, fmt.Sprintf("task %d", tid))
		}
		if parent != 0 && st.ppid != parent {
			return nil, &snapshot.Changed{Why: fmt.Sprintf("task %d moved from parent %d to %d", tid, parent, st.ppid)}
		}
		t, err := w.task(tgid, tid, tdir, st, w.tgidKeys[parent])
		if err != nil {
			return nil, err
		}
		w.raw.Tasks = append(w.raw.Tasks, t)
		if st.state == 'Z' || st.state == 'X' {
			continue
		}
		b, err := os.ReadFile(tdir + "children")
		if err != nil {
			return nil, vanished(err, fmt.Sprintf("task %d", tid))
		}
		for _, f := range strings.Fields(string(b)) {
			k, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("procfs: %schildren: %q", tdir, f)
			}
			kids = append(kids, k)
		}
	}
	return kids, nil
}

func (w *walker) task(tgid, tid int, tdir string, st *status, parentKey uint64) (model.RawTask, error) {
	var t model.RawTask
	lv := w.rootLevel
	if len(st.nspid) <= lv || len(st.nstgid) != len(st.nspid) || len(st.nspgid) != len(st.nspid) || len(st.nssid) != len(st.nspid) {
		return t, fmt.Errorf("procfs: task %d: NSpid has %d levels, the root's namespace is level %d", tid, len(st.nspid), lv)
	}
	chain, err := w.chain(tdir+"ns/pid", len(st.nspid)-lv)
	if err != nil {
		return t, err
	}
	t.Pid = w.object(st.nspid[lv:], chain)
	t.Tgid = w.object(st.nstgid[lv:], chain)
	t.Pgid = w.object(st.nspgid[lv:], chain)
	t.Sid = w.object(st.nssid[lv:], chain)
	if t.Pid == 0 || t.Tgid == 0 {
		return t, fmt.Errorf("procfs: task %d has no pid in the root's namespace", tid)
	}
	if tid == tgid {
		w.tgidKeys[tgid] = t.Pid
		if w.req.Argv {
			t.Argv = snapshot.Argv(tgid)
		}
	}
	t.PPid = parentKey
	t.Comm = st.name
	switch st.state {
	case 'T':
		t.State = model.Stopped
	case 't':
		t.State = model.Traced
	case 'Z':
		t.State = model.Zombie
		code, err := exitCode(tdir + "stat")
		if err != nil {
			return t, vanished(err, fmt.Sprintf("task %d", tid))
		}
		t.ExitCode = code
	default:
		t.State = model.Alive
	}
	return t, nil
}

// object records the pid object with these numbers (from the root's
// namespace down, possibly padded with zeros where it is not visible) and
// returns its key, or 0 when it is outside the root's namespace.
func (w *walker) object(nums []int32, chain []uint64) uint64 {
	n := len(nums)
	for n > 0 && nums[n-1] == 0 {
		n--
	}
	if n == 0 {
		return 0
	}
	key := uint64(nums[0])
	if p := w.raw.Pids[key]; p != nil && len(p.Numbers) >= n {
		return key
	}
	w.raw.Pids[key] = &model.RawPid{Numbers: append([]int32(nil), nums[:n]...), NS: chain[:n]}
	return key
}

// chain returns the namespace inodes from the root's namespace down to the
// one of the ns/pid link at path, which is levels deep (1 = the root's).
func (w *walker) chain(path string, levels int) ([]uint64, error) {
	ino, err := nsInode(path)
	if err != nil {
		return nil, vanished(err, path)
	}
	if c, ok := w.chains[ino]; ok {
		return c, nil
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, vanished(err, path)
	}
	c := make([]uint64, levels)
	c[levels-1] = ino
	for l := levels - 2; l >= 0; l-- {
		parent, err := unix.IoctlRetInt(fd, unix.NS_GET_PARENT)
		unix.Close(fd)
		if err != nil {
			return nil, fmt.Errorf("procfs: parent namespace of %s: %w", path, err)
		}
		fd = parent
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("procfs: %w", err)
		}
		c[l] = st.Ino
	}
	unix.Close(fd)
	if c[0] != w.rootNS {
		return nil, fmt.Errorf("procfs: %s is not below the root's pid namespace", path)
	}
	w.chains[ino] = c
	return c, nil
}

func nsInode(path string) (uint64, error) {
	link, err := os.Readlink(path)
	if err != nil {
		return 0, err
	}
	// "pid:[4026531836]"
	i, j := strings.IndexByte(link, '['), strings.IndexByte(link, ']')
	if i < 0 || j < i {
		return 0, fmt.Errorf("unexpected namespace link %q at %s", link, path)
	}
	return strconv.ParseUint(link[i+1:j], 10, 64)
}

// readStatus parses the fields of a status file the backend needs.
func readStatus(path string) (*status, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseStatus(b)
}

func parseStatus(b []byte) (*status, error) {
	st := &status{ppid: -1}
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		var err error
		switch string(k) {
		case "Name":
			st.name = unescape(string(v))
		case "State":
			if len(v) > 0 {
				st.state = v[0]
			}
		case "PPid":
			st.ppid, err = strconv.Atoi(string(v))
		case "NSpid":
			st.nspid, err = ints(v)
		case "NStgid":
			st.nstgid, err = ints(v)
		case "NSpgid":
			st.nspgid, err = ints(v)
		case "NSsid":
			st.nssid, err = ints(v)
		}
		if err != nil {
			return nil, fmt.Errorf("status field %s: %w", k, err)
		}
	}
	if st.nspid == nil || st.state == 0 {
		return nil, fmt.Errorf("status lacks NSpid or State (kernel older than 4.1?)")
	}
	return st, nil
}

func ints(v []byte) ([]int32, error) {
	f := bytes.Fields(v)
	out := make([]int32, len(f))
	for i, s := range f {
		n, err := strconv.ParseInt(string(s), 10, 32)
		if err != nil {
			return nil, err
		}
		out[i] = int32(n)
	}
	return out, nil
}

// unescape undoes the kernel's escaping of comm in status ("\n" and "\\").
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case 'n':
				b.WriteByte('\n')
				i++
				continue
			case '\\':
				b.WriteByte('\\')
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// exitCode reads field 52 (exit_code) of a stat file.
func exitCode(path string) (int32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%s: no comm", path)
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3
	if len(f) < 50 {
		return 0, fmt.Errorf("%s: %d fields, no exit_code", path, len(f)+2)
	}
	n, err := strconv.ParseInt(string(f[49]), 10, 32)
	return int32(n), err
}

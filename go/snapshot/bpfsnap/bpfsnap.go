// Package bpfsnap is the BPF snapshot backend: a CO-RE task iterator
// (bpf/snapshot.bpf.c) reads every task's struct pid objects, with their
// numbers and namespaces from the root's down, and a fork/exit/exec/
// setsid/setpgid counter (bpf/changes.bpf.c) tells whether the tree
// changed while it was read. It works where the module cannot be loaded,
// on any kernel with BTF and task iterators (5.8 and later).
package bpfsnap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ckpt-nl/ckpt-nl/go/bpfprog"
	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot"
)

// Backend takes snapshots with BPF.
type Backend struct{}

// Name is "bpf".
func (Backend) Name() string { return "bpf" }

// Snapshot reads the tree under req.Pid, retrying while it changes.
func (Backend) Snapshot(req snapshot.Request) (*model.Snapshot, error) {
	sess, err := Open(req)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	return sess.Snapshot()
}

// Session keeps the programs for one tree loaded, for repeated snapshots
// without paying the load (and verification) each time.
type Session struct {
	req snapshot.Request
	it  *bpfprog.Snapshotter
	cc  *bpfprog.ChangeCounter
}

// Open loads the programs for the tree under req.Pid.
func Open(req snapshot.Request) (*Session, error) {
	rootNS, err := nsInode(fmt.Sprintf("/proc/%d/ns/pid", req.Pid))
	if errors.Is(err, unix.ENOENT) {
		return nil, fmt.Errorf("bpf: pid %d: %w", req.Pid, snapshot.ErrNoTask)
	} else if err != nil {
		return nil, fmt.Errorf("bpf: pid %d: its pid namespace: %w", req.Pid, err)
	}
	callerNS, err := nsInode("/proc/self/ns/pid")
	if err != nil {
		return nil, fmt.Errorf("bpf: %w", err)
	}
	it, err := bpfprog.NewSnapshotter(uint32(rootNS), uint32(callerNS))
	if err != nil {
		return nil, err
	}
	cc, err := bpfprog.NewChangeCounter(uint32(rootNS))
	if err != nil {
		it.Close()
		return nil, err
	}
	return &Session{req: req, it: it, cc: cc}, nil
}

// Snapshot reads the tree, retrying while it changes.
func (s *Session) Snapshot() (*model.Snapshot, error) {
	req := s.req
	return snapshot.Retry(req, func() (*model.Snapshot, error) {
		g0, err := s.cc.Generation()
		if err != nil {
			return nil, err
		}
		data, err := s.it.Read()
		if err != nil {
			return nil, err
		}
		g1, err := s.cc.Generation()
		if err != nil {
			return nil, err
		}
		if g0 != g1 {
			return nil, &snapshot.Changed{Why: fmt.Sprintf("%d fork/exit/setsid/setpgid events during the walk", g1-g0)}
		}
		raw, err := Parse(data, req)
		if err != nil {
			return nil, err
		}
		return model.Build(raw)
	}, snapshot.IsChanged)
}

// Close unloads the programs.
func (s *Session) Close() {
	s.it.Close()
	s.cc.Close()
}

// Available reports whether this kernel and this process can run the BPF
// backend, and why not.
func Available() (bool, string) {
	ns, err := nsInode("/proc/self/ns/pid")
	if err != nil {
		return false, err.Error()
	}
	it, err := bpfprog.NewSnapshotter(uint32(ns), uint32(ns))
	if err != nil {
		return false, err.Error()
	}
	it.Close()
	cc, err := bpfprog.NewChangeCounter(uint32(ns))
	if err != nil {
		return false, err.Error()
	}
	cc.Close()
	return true, ""
}

func nsInode(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// Kernel task state bits.
const (
	taskStopped = 0x4  // __TASK_STOPPED
	taskTraced  = 0x8  // __TASK_TRACED
	exitDead    = 0x10 // EXIT_DEAD
	exitZombie  = 0x20 // EXIT_ZOMBIE
)

// Parse decodes the iterator's records into a raw snapshot whose root is
// req.Pid (as the reader's namespace numbers it).
func Parse(b []byte, req snapshot.Request) (*model.Raw, error) {
	raw := &model.Raw{Mode: req.Mode, Pids: map[uint64]*model.RawPid{}}
	raw.Meta = model.Meta{Backend: "bpf", Kernel: snapshot.KernelRelease(), Created: time.Now().Unix(), RootPid: int32(req.Pid)}
	outside := map[uint64]bool{}
	le := binary.NativeEndian
	key := func(k uint64) uint64 {
		if outside[k] {
			return 0
		}
		return k
	}
	for off := 0; off < len(b); {
		if len(b)-off < 8 {
			return nil, fmt.Errorf("bpf: record at %d: truncated header", off)
		}
		typ, size := le.Uint32(b[off:]), int(le.Uint32(b[off+4:]))
		if size < 8 || size > len(b)-off {
			return nil, fmt.Errorf("bpf: record at %d: size %d out of bounds", off, size)
		}
		r := b[off : off+size]
		off += size
		switch typ {
		case bpfprog.RecPid:
			if size < bpfprog.RecPidSize {
				return nil, fmt.Errorf("bpf: pid record of %d bytes", size)
			}
			k := le.Uint64(r[8:])
			depth := int32(le.Uint32(r[16:]))
			if depth < 0 {
				outside[k] = true
				continue
			}
			if depth >= model.MaxDepth || size != bpfprog.RecPidSize+int(depth+1)*bpfprog.RecLevel {
				return nil, fmt.Errorf("bpf: pid record: depth %d in %d bytes", depth, size)
			}
			p := &model.RawPid{Numbers: make([]int32, depth+1), NS: make([]uint64, depth+1)}
			for l := range p.Numbers {
				lv := r[bpfprog.RecPidSize+l*bpfprog.RecLevel:]
				p.Numbers[l] = int32(le.Uint32(lv))
				p.NS[l] = uint64(le.Uint32(lv[4:]))
			}
			raw.Pids[k] = p
		case bpfprog.RecTask:
			if size != bpfprog.RecTaskSize {
				return nil, fmt.Errorf("bpf: task record of %d bytes", size)
			}
			t := model.RawTask{
				Pid:  key(le.Uint64(r[8:])),
				Tgid: key(le.Uint64(r[16:])),
				Pgid: key(le.Uint64(r[24:])),
				Sid:  key(le.Uint64(r[32:])),
				PPid: key(le.Uint64(r[40:])),
			}
			state, exitState := le.Uint32(r[48:]), le.Uint32(r[52:])
			exitCode, callerNr := int32(le.Uint32(r[56:])), int32(le.Uint32(r[60:]))
			comm := r[64:80]
			if i := bytes.IndexByte(comm, 0); i >= 0 {
				comm = comm[:i]
			}
			t.Comm = string(comm)
			switch {
			case exitState&exitDead != 0:
				continue // being reaped: gone
			case exitState&exitZombie != 0:
				t.State, t.ExitCode = model.Zombie, exitCode
			case state&taskTraced != 0:
				t.State = model.Traced
			case state&taskStopped != 0:
				t.State = model.Stopped
			default:
				t.State = model.Alive
			}
			if t.Pid == 0 {
				continue
			}
			if t.Pid == t.Tgid && callerNr > 0 {
				if int(callerNr) == req.Pid {
					raw.RootPid = t.Pid
				}
				if t.State != model.Zombie && req.Argv {
					t.Argv = snapshot.Argv(int(callerNr))
				}
			}
			raw.Tasks = append(raw.Tasks, t)
		default:
			return nil, fmt.Errorf("bpf: unknown record type %d", typ)
		}
	}
	if raw.RootPid == 0 {
		if _, err := os.Stat("/proc/" + strconv.Itoa(req.Pid)); err != nil {
			return nil, fmt.Errorf("bpf: pid %d: %w", req.Pid, snapshot.ErrNoTask)
		}
		return nil, fmt.Errorf("bpf: pid %d is not a process of its namespace (a thread?)", req.Pid)
	}
	return raw, nil
}

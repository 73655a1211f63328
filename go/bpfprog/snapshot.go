package bpfprog

import (
	"fmt"
	"io"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// Record types and layouts written by bpf/snapshot.bpf.c.
const (
	RecTask     = 1
	RecPid      = 2
	RecTaskSize = 80
	RecPidSize  = 24
	RecLevel    = 8
)

// Snapshotter is a loaded snapshot iterator for one root namespace.
type Snapshotter struct {
	objs snapshotObjects
	link *link.Iter
	hint int // size of the last read, to size the next one's buffer
}

// NewSnapshotter loads the iterator for tasks in the pid namespace with
// inode rootNS, reporting tids as the namespace callerNS sees them.
func NewSnapshotter(rootNS, callerNS uint32) (*Snapshotter, error) {
	spec, err := loadSnapshot()
	if err != nil {
		return nil, fmt.Errorf("bpf: snapshot spec: %w", err)
	}
	if err := spec.Variables["root_ns_inum"].Set(rootNS); err != nil {
		return nil, fmt.Errorf("bpf: %w", err)
	}
	if err := spec.Variables["caller_ns_inum"].Set(callerNS); err != nil {
		return nil, fmt.Errorf("bpf: %w", err)
	}
	var s Snapshotter
	if err := spec.LoadAndAssign(&s.objs, nil); err != nil {
		return nil, loadError("load snapshot iterator", err)
	}
	l, err := link.AttachIter(link.IterOptions{Program: s.objs.SnapshotTasks})
	if err != nil {
		s.objs.Close()
		return nil, fmt.Errorf("bpf: attach snapshot iterator: %w", err)
	}
	s.link = l
	return &s, nil
}

// Read walks every task once and returns the records.
func (s *Snapshotter) Read() ([]byte, error) {
	r, err := s.link.Open()
	if err != nil {
		return nil, fmt.Errorf("bpf: open snapshot iterator: %w", err)
	}
	defer r.Close()
	// Large reads: each read(2) restarts the iterator at the next task
	// and the kernel fills at most the buffer it is given.
	b := make([]byte, 0, s.hint)
	for {
		if cap(b)-len(b) < 1<<20 {
			b = append(b, make([]byte, 1<<20)...)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF || (err == nil && n == 0) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("bpf: read snapshot iterator: %w", err)
		}
	}
	s.hint = max(s.hint, len(b)+len(b)/8)
	return b, nil
}

// Close unloads the iterator.
func (s *Snapshotter) Close() error {
	err := s.link.Close()
	if cerr := s.objs.Close(); err == nil {
		err = cerr
	}
	return err
}

// ChangeCounter counts the events that change a tree's identity in one
// pid namespace and below: fork, exit, exec, setsid, setpgid.
type ChangeCounter struct {
	objs  changesObjects
	links []link.Link
}

// NewChangeCounter loads and attaches the counter for the pid namespace
// with inode ns (0: every namespace).
func NewChangeCounter(ns uint32) (*ChangeCounter, error) {
	spec, err := loadChanges()
	if err != nil {
		return nil, fmt.Errorf("bpf: change counter spec: %w", err)
	}
	if err := spec.Variables["watch_ns_inum"].Set(ns); err != nil {
		return nil, fmt.Errorf("bpf: %w", err)
	}
	var c ChangeCounter
	if err := spec.LoadAndAssign(&c.objs, nil); err != nil {
		return nil, loadError("load change counter", err)
	}
	for _, p := range []*ebpf.Program{c.objs.OnFork, c.objs.OnSwitch, c.objs.OnExec, c.objs.OnSysExit} {
		l, err := link.AttachTracing(link.TracingOptions{Program: p})
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("bpf: attach %s: %w", p, err)
		}
		c.links = append(c.links, l)
	}
	return &c, nil
}

// Generation returns the count of changes so far.
func (c *ChangeCounter) Generation() (uint64, error) {
	var g uint64
	if err := c.objs.Generation.Get(&g); err != nil {
		return 0, fmt.Errorf("bpf: read change counter: %w", err)
	}
	return g, nil
}

// Close detaches and unloads the counter.
func (c *ChangeCounter) Close() error {
	var err error
	for _, l := range c.links {
		if cerr := l.Close(); err == nil {
			err = cerr
		}
	}
	if cerr := c.objs.Close(); err == nil {
		err = cerr
	}
	return err
}

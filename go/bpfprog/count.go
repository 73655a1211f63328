package bpfprog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Counter is a loaded task-counting iterator: the bare kernel walk.
type Counter struct {
	objs countObjects
	link *link.Iter
}

// NewCounter loads and attaches the counting iterator. It fails on kernels
// without BTF or BPF task iterators; the error then matches
// ebpf.ErrNotSupported where the library could tell.
func NewCounter() (*Counter, error) {
	var c Counter
	if err := loadCountObjects(&c.objs, nil); err != nil {
		return nil, loadError("load task counter", err)
	}
	l, err := link.AttachIter(link.IterOptions{Program: c.objs.CountTasks})
	if err != nil {
		c.objs.Close()
		return nil, fmt.Errorf("bpf: attach task iterator: %w", err)
	}
	c.link = l
	return &c, nil
}

// Count walks every task (thread) of the system once and returns how many
// it saw.
func (c *Counter) Count() (uint64, error) {
	r, err := c.link.Open()
	if err != nil {
		return 0, fmt.Errorf("bpf: open task iterator: %w", err)
	}
	defer r.Close()
	var buf [8]byte
	if _, err := io.ReadFull(r, buf[:]); err != nil {
		return 0, fmt.Errorf("bpf: read task iterator: %w", err)
	}
	return binary.NativeEndian.Uint64(buf[:]), nil
}

// Close detaches and unloads the iterator.
func (c *Counter) Close() error {
	err := c.link.Close()
	if cerr := c.objs.Close(); err == nil {
		err = cerr
	}
	return err
}

// loadError wraps a failure to load programs, saying what is missing when
// the kernel refused for lack of privilege (the library's own hint about
// RLIMIT_MEMLOCK does not apply to kernels that account BPF memory to the
// cgroup, 5.11 and later).
func loadError(what string, err error) error {
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("bpf: %s: %w; loading BPF programs needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN) in the initial user namespace: run as root, or use --backend procfs", what, err)
	}
	return fmt.Errorf("bpf: %s: %w", what, err)
}

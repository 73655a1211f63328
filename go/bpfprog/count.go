package bpfprog

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/cilium/ebpf/link"
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
		return nil, fmt.Errorf("bpf: load task counter: %w", err)
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

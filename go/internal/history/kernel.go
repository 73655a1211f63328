package history

import (
	"fmt"
	"time"

	"github.com/ckpt-nl/ckpt-nl/go/executor"
)

// Build makes h's calls for real with the executor (it needs root, and
// the kernel's clone3): the tree stands parked under the returned run,
// whose task 1 is the root, in a new pid namespace. The caller ends it
// with Kill. timeout bounds each call.
func (h *History) Build(timeout time.Duration) (*executor.Run, error) {
	p, err := h.Plan()
	if err != nil {
		return nil, err
	}
	r, err := executor.Start(p, executor.Options{})
	if err != nil {
		return nil, err
	}
	for k := 1; k <= p.Barriers(); k++ {
		if err := r.WaitBarrier(k, timeout); err != nil {
			r.Kill()
			return nil, fmt.Errorf("history seed %d: before call %d (%s): %w", h.Seed, k, h.Calls[k-1], err)
		}
		r.Open(k)
	}
	if err := r.WaitSettled(timeout); err != nil {
		r.Kill()
		return nil, fmt.Errorf("history seed %d: after the last call: %w", h.Seed, err)
	}
	return r, nil
}

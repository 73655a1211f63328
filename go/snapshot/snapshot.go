// Package snapshot is what the checkpoint backends share: the request, the
// Backend interface, the consistency contract and its error, and the
// display metadata read from /proc.
//
// The backends live in subpackages (kmodsnap, bpfsnap, procfs); each
// depends on this package and on the model, never on another backend. Only
// the command chooses among them.
package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ckpt-nl/ckpt-nl/go/model"
)

// Request names the tree to snapshot.
type Request struct {
	// Pid is the root task, as a pid in the caller's pid namespace.
	Pid  int
	Mode model.Mode
	// Attempts bounds how often a backend that detects change retries
	// before it fails with ErrChanged (0: DefaultAttempts).
	Attempts int
	// Argv asks for every process's arguments (display metadata read
	// from /proc/PID/cmdline, one file per process: it costs more than
	// the identity itself).
	Argv bool
}

// DefaultAttempts is the retry bound when Request.Attempts is 0.
const DefaultAttempts = 8

// Backend takes snapshots.
type Backend interface {
	// Name is what --backend calls it.
	Name() string
	// Snapshot returns a consistent snapshot of the tree, or an error:
	// never a torn one.
	Snapshot(Request) (*model.Snapshot, error)
}

// ErrChanged is matched (with errors.Is) by the error of a snapshot that
// failed because the tree kept changing while it was read. It wraps EBUSY.
var ErrChanged = fmt.Errorf("the tree kept changing while it was read; freeze it (cgroup freezer or SIGSTOP) and retry: %w", unix.EBUSY)

// ErrNoTask is matched by the error for a root pid that does not exist:
// it is ESRCH.
var ErrNoTask error = unix.ESRCH

// Attempts returns r.Attempts or the default.
func (r Request) attempts() int {
	if r.Attempts > 0 {
		return r.Attempts
	}
	return DefaultAttempts
}

// Retry calls take until it returns something other than a change error
// (errChange reports whether an error is one), at most r's attempts
// times, with a short growing pause between attempts.
func Retry(r Request, take func() (*model.Snapshot, error), errChange func(error) bool) (*model.Snapshot, error) {
	var err error
	for i := 0; i < r.attempts(); i++ {
		var s *model.Snapshot
		s, err = take()
		if err == nil || !errChange(err) {
			return s, err
		}
		time.Sleep(time.Duration(i+1) * time.Millisecond)
	}
	return nil, fmt.Errorf("%w (after %d attempts; last: %v)", ErrChanged, r.attempts(), err)
}

// Changed is the error a backend's single attempt returns when it saw the
// tree change; Retry retries on it.
type Changed struct{ Why string }

func (c *Changed) Error() string { return "tree changed: " + c.Why }

// IsChanged reports whether err is a *Changed.
func IsChanged(err error) bool {
	var c *Changed
	return errors.As(err, &c)
}

// Argv reads a process's arguments from /proc (display metadata; empty for
// zombies and kernel threads).
func Argv(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(b) == 0 {
		return nil
	}
	b = bytes.TrimSuffix(b, []byte{0})
	var out []string
	for _, a := range bytes.Split(b, []byte{0}) {
		out = append(out, string(a))
	}
	return out
}

// KernelRelease is uname -r, for the snapshot's metadata.
func KernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

package integration

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ckpt-nl/ckpt-nl/go/image"
	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot"
	"github.com/ckpt-nl/ckpt-nl/go/testenv"
)

// churn, run as a child (CKPT_NL_CHURN=1) in a new pid namespace, forks
// and reaps children as fast as it can, some of which setsid or setpgid
// first and linger a moment: a tree that never stands still.
func churn() {
	self, _ := os.Executable()
	for i := 0; ; i++ {
		cmd := exec.Command(self, "-test.run=^$")
		cmd.Env = append(os.Environ(), "CKPT_NL_CHURN=", "CKPT_NL_EXIT=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: i%3 == 0, Setpgid: i%3 == 1}
		cmd.Run()
	}
}

// TestRaceCheckpoints: checkpoints taken while the tree forks and exits
// as fast as it can either succeed with a consistent snapshot (Build
// validates every invariant, and it must survive an image round trip) or
// fail with the documented ErrChanged (EBUSY). CKPT_NL_RACES sets the
// attempts per backend (default 100; 1,000 in make reliability).
func TestRaceCheckpoints(t *testing.T) {
	testenv.NeedRoot(t)
	attempts := 100
	if testing.Short() {
		attempts = 30
	}
	if v, err := strconv.Atoi(os.Getenv("CKPT_NL_RACES")); err == nil {
		attempts = v
	}
	self, _ := os.Executable()
	var churners []*exec.Cmd
	for i := 0; i < 2; i++ {
		c := exec.Command(self, "-test.run=^$")
		c.Env = append(os.Environ(), "CKPT_NL_CHURN=1")
		c.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID, Setsid: true}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		churners = append(churners, c)
	}
	defer func() {
		for _, c := range churners {
			c.Process.Kill()
			c.Wait()
		}
	}()
	time.Sleep(100 * time.Millisecond)
	only := os.Getenv("CKPT_NL_RACE_BACKENDS") // e.g. "kmod": the slow ones skip
	for _, be := range backends(t) {
		if only != "" && !strings.Contains(only, be.Name()) {
			continue
		}
		ok, changed := 0, 0
		for i := 0; i < attempts; i++ {
			s, err := be.Snapshot(snapshot.Request{Pid: churners[i%2].Process.Pid, Mode: model.ModeContainer, Attempts: 3})
			switch {
			case err == nil:
				b, err := image.Encode(s, image.Options{})
				if err != nil {
					t.Fatalf("%s attempt %d: a snapshot that does not encode: %v", be.Name(), i, err)
				}
				if _, err := image.Decode(b); err != nil {
					t.Fatalf("%s attempt %d: an image that does not decode: %v", be.Name(), i, err)
				}
				ok++
			case errors.Is(err, snapshot.ErrChanged) || errors.Is(err, syscall.EBUSY):
				changed++
			default:
				t.Fatalf("%s attempt %d: neither a snapshot nor the documented error: %v", be.Name(), i, err)
			}
		}
		t.Logf("%s: %d attempts, %d consistent snapshots, %d refused as changing, 0 torn", be.Name(), attempts, ok, changed)
	}
}
